//! `tests/rbac/api-calls.txt` (every permission, annotated with its scope and its users) and
//! what it grants in each RBAC mode of the chart, as `kube_fake` policies. hack/chart-check.py
//! expands the same file the same way for the rendered chart; the file's header is the
//! specification of both.

use kube_fake::rbac::{Attributes, PolicyRule, RbacPolicy};

/// The annotated file.
pub const API_CALLS: &str = include_str!("api-calls.txt");

/// Where a call goes (the file's first column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Cluster,
    Served,
    ServedNamespaces,
    Credentials,
    FacadeCredentials,
    Release,
    Lease,
}

impl Scope {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "cluster" => Self::Cluster,
            "served" => Self::Served,
            "served-namespaces" => Self::ServedNamespaces,
            "credentials" => Self::Credentials,
            "facade-credentials" => Self::FacadeCredentials,
            "release" => Self::Release,
            "lease" => Self::Lease,
            _ => return None,
        })
    }
}

/// Who makes a call (the file's last column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum User {
    Controller,
    Facade,
}

impl User {
    pub const ALL: [User; 2] = [User::Controller, User::Facade];

    pub fn name(self) -> &'static str {
        match self {
            Self::Controller => "controller",
            Self::Facade => "facade",
        }
    }
}

/// One line of the file.
#[derive(Clone, Debug)]
pub struct Line {
    pub number: usize,
    pub scope: Scope,
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub users: Vec<User>,
    pub text: String,
}

/// Every line of the file. Panics (fails the test) on a malformed line.
pub fn lines() -> Vec<Line> {
    let mut lines = Vec::new();
    for (index, raw) in API_CALLS.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [scope, group, resource, verb, users] = fields.as_slice() else {
            panic!(
                "api-calls.txt:{}: expected `scope apiGroup resource verb users`, got {raw:?}",
                index + 1
            );
        };
        let scope = Scope::parse(scope)
            .unwrap_or_else(|| panic!("api-calls.txt:{}: unknown scope {scope:?}", index + 1));
        let users = users
            .split(',')
            .map(|u| match u {
                "controller" => User::Controller,
                "facade" => User::Facade,
                other => panic!("api-calls.txt:{}: unknown user {other:?}", index + 1),
            })
            .collect();
        lines.push(Line {
            number: index + 1,
            scope,
            group: (*group).to_owned(),
            resource: (*resource).to_owned(),
            verb: (*verb).to_owned(),
            users,
            text: fields[..4].join(" "),
        });
    }
    lines
}

/// The chart's two RBAC modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `watchNamespaces` empty: a ClusterRole.
    ClusterWide,
    /// `watchNamespaces` set: Roles in the served and credentials namespaces.
    Namespaced,
}

/// The values of an install that the grants depend on.
#[derive(Clone, Debug)]
pub struct Install {
    pub mode: Mode,
    /// `watchNamespaces`.
    pub served: Vec<String>,
    /// `credentialsSecrets` (namespace, name).
    pub credentials: Vec<(String, String)>,
    /// The release namespace.
    pub release: String,
    /// The Lease's name.
    pub lease: String,
    /// `facade.credentialsSecret` (in the release namespace).
    pub facade_credentials: String,
}

/// A rule and where it is bound (None: cluster-wide).
pub type Grant = (Option<String>, PolicyRule);

impl Line {
    fn rule(&self, names: &[&str]) -> PolicyRule {
        let group = if self.group == "core" {
            ""
        } else {
            &self.group
        };
        PolicyRule::new(&[group], &[&self.resource], &[&self.verb]).named(names)
    }

    /// What the line grants in `install`.
    pub fn grants(&self, install: &Install) -> Vec<Grant> {
        let cluster_wide = install.mode == Mode::ClusterWide;
        match self.scope {
            Scope::Cluster => vec![(None, self.rule(&[]))],
            Scope::Served
            | Scope::ServedNamespaces
            | Scope::Credentials
            | Scope::FacadeCredentials
                if cluster_wide =>
            {
                vec![(None, self.rule(&[]))]
            }
            Scope::Served => install
                .served
                .iter()
                .map(|ns| (Some(ns.clone()), self.rule(&[])))
                .collect(),
            Scope::ServedNamespaces => {
                let names: Vec<&str> = install.served.iter().map(String::as_str).collect();
                vec![(None, self.rule(&names))]
            }
            Scope::Credentials => {
                let mut namespaces: Vec<&str> = install
                    .credentials
                    .iter()
                    .map(|(ns, _)| ns.as_str())
                    .collect();
                namespaces.sort_unstable();
                namespaces.dedup();
                namespaces
                    .into_iter()
                    .map(|ns| {
                        let names: Vec<&str> = install
                            .credentials
                            .iter()
                            .filter(|(n, _)| n == ns)
                            .map(|(_, name)| name.as_str())
                            .collect();
                        (Some(ns.to_owned()), self.rule(&names))
                    })
                    .collect()
            }
            Scope::FacadeCredentials => vec![(
                Some(install.release.clone()),
                self.rule(&[&install.facade_credentials]),
            )],
            Scope::Release => vec![(Some(install.release.clone()), self.rule(&[]))],
            Scope::Lease => vec![(Some(install.release.clone()), self.rule(&[&install.lease]))],
        }
    }

    /// Whether the line's grants in `install` allow `request`.
    pub fn allows(&self, install: &Install, request: &Attributes) -> bool {
        policy(self.grants(install)).allows(request)
    }
}

fn policy(grants: impl IntoIterator<Item = Grant>) -> RbacPolicy {
    grants.into_iter().fold(
        RbacPolicy::new(),
        |policy, (namespace, rule)| match namespace {
            Some(ns) => policy.namespaced(&ns, rule),
            None => policy.cluster(rule),
        },
    )
}

impl Install {
    /// Everything `user` is granted in this install (the lines it uses).
    pub fn policy(&self, user: User) -> RbacPolicy {
        policy(
            lines()
                .iter()
                .filter(|line| line.users.contains(&user))
                .flat_map(|line| line.grants(self)),
        )
    }
}
