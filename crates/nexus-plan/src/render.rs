//! The plan as text (stable: sorted, one change per line, no timestamps; diff-friendly) or as
//! JSON (the same content, for tools).

use std::fmt::Write as _;

use serde_json::Value;

use crate::Report;
use crate::plan::{Action, Change, ObjectPlan};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Renders `report`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Text => text(report),
    }
}

fn value(v: &Option<Value>) -> String {
    match v {
        None => "(unset)".to_owned(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn scopes(s: &Option<Vec<String>>) -> String {
    match s {
        None => "(none)".to_owned(),
        Some(s) => format!("[{}]", s.join(" ")),
    }
}

fn object(out: &mut String, o: &ObjectPlan) {
    let id = o
        .auth0_id
        .as_deref()
        .map(|id| format!(" ({id})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {}/{}: {}{id}",
        o.kind,
        o.namespace,
        o.name,
        o.action.as_str()
    );
    if let Some(refusal) = &o.refusal {
        let _ = writeln!(out, "      {}: {}", refusal.reason, refusal.message);
    }
    for change in &o.changes {
        let line = match change {
            Change::Field { field, old, new } => match o.action {
                Action::Create => format!("+ {field}: {}", value(new)),
                _ => format!("~ {field}: {} -> {}", value(old), value(new)),
            },
            Change::Grant { audience, old, new } => match (old, new) {
                (None, _) => format!("+ grant {audience}: {}", scopes(new)),
                (_, None) => format!("- grant {audience}: {}", scopes(old)),
                _ => format!("~ grant {audience}: {} -> {}", scopes(old), scopes(new)),
            },
            Change::Connection {
                name,
                enabled: true,
            } => format!("+ connection {name}"),
            Change::Connection {
                name,
                enabled: false,
            } => format!("- connection {name}"),
            Change::RotateSecret => "~ client secret rotated".to_owned(),
        };
        let _ = writeln!(out, "      {line}");
    }
    for note in &o.notes {
        let _ = writeln!(out, "      note: {note}");
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 6];
    let mut tally = |o: &ObjectPlan| {
        let i = match o.action {
            Action::Create => 0,
            Action::Adopt => 1,
            Action::Update => 2,
            Action::Delete => 3,
            Action::Refused => 4,
            Action::NoChange => 5,
        };
        counts[i] += 1;
    };
    for tenant in &report.tenants {
        let _ = writeln!(out, "AuthTenant {} ({})", tenant.tenant, tenant.domain);
        if let Some(error) = &tenant.error {
            let _ = writeln!(out, "  error: {error}");
        }
        for o in &tenant.objects {
            object(&mut out, o);
            tally(o);
        }
        if let Some(n) = tenant.undeclared_owned {
            let _ = writeln!(
                out,
                "  {n} Auth0 client(s) owned by this cluster have no AuthClient in these files (--prune plans their deletion)"
            );
        }
        if tenant.error.is_none() {
            let _ = writeln!(
                out,
                "  read with {} list request(s); the sync costs {} Auth0 request(s), about {:.1} s at {} requests/s (burst {})",
                tenant.list_calls,
                tenant.sync_calls,
                tenant.sync_seconds,
                tenant.requests_per_second,
                tenant.burst
            );
        }
    }
    if !report.orphans.is_empty() {
        let _ = writeln!(out, "Objects of tenants not in the files");
        for o in &report.orphans {
            object(&mut out, o);
            tally(o);
        }
    }
    for ignored in &report.ignored {
        let _ = writeln!(out, "ignored: {ignored}");
    }
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to adopt, {} to update, {} to delete, {} refused, {} unchanged.",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
    );
    out
}
