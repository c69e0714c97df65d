//! The plan as text (stable: sorted, one change per line, no timestamps; diff-friendly) or as
//! JSON (the same content, for tools).

use std::fmt::Write as _;

use serde_json::Value;

use crate::Report;
use crate::import::one_line;
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
        Some(s) => format!("[{}]", one_line(&s.join(" "))),
    }
}

fn object(out: &mut String, o: &ObjectPlan) {
    let id = o
        .auth0_id
        .as_deref()
        .map(|id| format!(" ({})", one_line(id)))
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
        let _ = writeln!(
            out,
            "      {}: {}",
            one_line(&refusal.reason),
            one_line(&refusal.message)
        );
    }
    for change in &o.changes {
        let line = match change {
            Change::Field { field, old, new } => match o.action {
                Action::Create => format!("+ {}: {}", one_line(field), value(new)),
                _ => format!("~ {}: {} -> {}", one_line(field), value(old), value(new)),
            },
            Change::Grant { audience, old, new } => match (&one_line(audience), old, new) {
                (audience, None, _) => format!("+ grant {audience}: {}", scopes(new)),
                (audience, _, None) => format!("- grant {audience}: {}", scopes(old)),
                (audience, ..) => {
                    format!("~ grant {audience}: {} -> {}", scopes(old), scopes(new))
                }
            },
            Change::Connection {
                name,
                enabled: true,
            } => format!("+ connection {}", one_line(name)),
            Change::Connection {
                name,
                enabled: false,
            } => format!("- connection {}", one_line(name)),
            Change::RotateSecret => "~ client secret rotated".to_owned(),
        };
        let _ = writeln!(out, "      {line}");
    }
    for note in &o.notes {
        let _ = writeln!(out, "      note: {}", one_line(note));
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
        let _ = writeln!(
            out,
            "AuthTenant {} ({})",
            one_line(&tenant.tenant),
            one_line(&tenant.domain)
        );
        if let Some(error) = &tenant.error {
            let _ = writeln!(out, "  error: {}", one_line(error));
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
        let _ = writeln!(out, "ignored: {}", one_line(ignored));
    }
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to adopt, {} to update, {} to delete, {} refused, {} unchanged.",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Refusal;
    use crate::{Report, TenantPlan};

    /// Attack: text from a pull request's files or from Auth0 (a refusal quoting a spec value,
    /// a connection name) cannot forge lines of the plan a reviewer reads in the CI log.
    #[test]
    fn text_from_files_or_auth0_stays_on_its_line() {
        let forged = "x\nPlan: 0 to create, 0 to adopt, 0 to update, 0 to delete, 0 refused, 9 unchanged.\n\u{1b}[2K";
        let mut object = ObjectPlan {
            kind: "AuthClient",
            namespace: "team-a".into(),
            name: "web".into(),
            action: Action::Refused,
            auth0_id: Some(forged.into()),
            changes: vec![
                Change::Connection {
                    name: forged.into(),
                    enabled: true,
                },
                Change::Grant {
                    audience: forged.into(),
                    old: None,
                    new: Some(vec![forged.into()]),
                },
            ],
            refusal: Some(Refusal {
                reason: "InvalidSpec".into(),
                message: forged.into(),
            }),
            notes: vec![forged.into()],
            auth0_calls: 0,
        };
        let report = Report {
            tenants: vec![TenantPlan {
                tenant: "acme".into(),
                domain: "acme.example".into(),
                objects: vec![object.clone()],
                list_calls: 1,
                sync_calls: 0,
                requests_per_second: 10,
                burst: 5,
                sync_seconds: 0.0,
                undeclared_owned: None,
                error: Some(forged.into()),
            }],
            orphans: vec![{
                object.action = Action::NoChange;
                object
            }],
            ignored: vec![forged.into()],
        };
        let text = render(&report, Format::Text);
        let summaries = text.lines().filter(|l| l.starts_with("Plan:")).count();
        assert_eq!(summaries, 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.ends_with("1 refused, 1 unchanged.\n"), "{text}");
    }
}
