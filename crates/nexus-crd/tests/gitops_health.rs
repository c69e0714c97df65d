//! The Argo CD health check in docs/gitops-health.md knows every reason of the enums, and
//! classifies each as the enums do (`Degraded` = the `permanent` table).

use std::collections::BTreeSet;

use nexus_crd::{Health, ReadyReason, TenantReason};

const DOC: &str = include_str!("../../../docs/gitops-health.md");

/// The keys of `local <name> = { A = true, B = true, ... }` in `script`.
fn table(script: &str, name: &str) -> BTreeSet<String> {
    let start = script
        .find(&format!("local {name} = {{"))
        .unwrap_or_else(|| panic!("the script defines `{name}`"));
    let body = &script[start..];
    let end = body.find('}').expect("table closes");
    body[..end]
        .split_once('{')
        .map(|(_, entries)| entries)
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| entry.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.is_empty())
        .collect()
}

/// Each health script of the ConfigMap (one per kind).
fn scripts() -> Vec<(&'static str, &'static str)> {
    ["AuthClient", "AuthResourceServer", "AuthTenant"]
        .into_iter()
        .map(|kind| {
            let key = format!("resource.customizations.health.auth.nexus.dev_{kind}: |");
            let start = DOC
                .find(&key)
                .unwrap_or_else(|| panic!("docs/gitops-health.md has {key}"));
            let rest = &DOC[start + key.len()..];
            let end = rest.find("return hs\n```").map_or(rest.len(), |i| i);
            let end = rest[..end].find("resource.customizations").unwrap_or(end);
            (kind, &rest[..end])
        })
        .collect()
}

#[test]
fn the_argo_cd_health_script_knows_every_reason() {
    let mut degraded: BTreeSet<String> = BTreeSet::new();
    let mut progressing: BTreeSet<String> = BTreeSet::new();
    for reason in ReadyReason::ALL {
        match reason.health() {
            Health::Degraded => degraded.insert(reason.as_str().to_owned()),
            Health::Progressing => progressing.insert(reason.as_str().to_owned()),
        };
    }
    for reason in TenantReason::ALL {
        match reason.health() {
            Health::Degraded => degraded.insert(reason.as_str().to_owned()),
            Health::Progressing => progressing.insert(reason.as_str().to_owned()),
        };
    }
    assert!(
        degraded.is_disjoint(&progressing),
        "a reason name means the same for both kinds: {:?}",
        degraded.intersection(&progressing).collect::<Vec<_>>()
    );
    let scripts = scripts();
    assert_eq!(scripts.len(), 3);
    for (kind, script) in scripts {
        assert_eq!(table(script, "permanent"), degraded, "{kind}: permanent");
        assert_eq!(
            table(script, "progressing"),
            progressing,
            "{kind}: progressing"
        );
    }
}
