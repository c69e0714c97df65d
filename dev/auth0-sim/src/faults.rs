//! Fault injection: latency, a share of 5xx answers, a share of dropped connections and
//! "fail the next N requests matching method + path".

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Added latency before a request is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    /// No added latency.
    #[default]
    None,
    /// Always this long.
    Fixed(Duration),
    /// Uniformly random between `min` and `max` (inclusive).
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
}

/// Which requests faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultScope {
    /// Only the Management API (`/api/v2/...`). The default.
    #[default]
    ManagementApi,
    /// Every route, including `/oauth/token` and `/.well-known/...` (never `/__sim/...`).
    All,
}

/// What a matching [`FailNext`] rule does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Answer with this status and an Auth0-shaped body, without touching state.
    Status(u16),
    /// Close the connection without answering, without touching state.
    Drop,
    /// Handle the request normally (state changes happen), then close the connection instead
    /// of answering: the "the server did it but the client never heard" crash case.
    DropAfterProcessing,
}

/// Fails the next `count` requests whose method and path match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailNext {
    /// HTTP method, case-insensitive (`"POST"`).
    pub method: String,
    /// Either the route template (`/api/v2/clients/{id}`) or a concrete path.
    pub path: String,
    /// How many more requests to fail.
    pub count: u32,
    /// What to do to them.
    pub action: FailAction,
}

impl FailNext {
    /// A rule failing the next `count` requests matching `method` and `path`.
    pub fn new(
        method: impl Into<String>,
        path: impl Into<String>,
        count: u32,
        action: FailAction,
    ) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            count,
            action,
        }
    }

    fn matches(&self, method: &str, template: &str, path: &str) -> bool {
        self.count > 0
            && self.method.eq_ignore_ascii_case(method)
            && (self.path == template || self.path == path)
    }
}

/// The fault configuration. `Faults::default()` injects nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Added latency.
    pub latency: Latency,
    /// Share (`0.0..=1.0`) of requests answered `503` with an Auth0-shaped body.
    pub error_rate: f64,
    /// Share (`0.0..=1.0`) of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// One-shot rules, checked before the random shares, first match wins.
    pub fail_next: Vec<FailNext>,
    /// Which routes the faults apply to.
    pub scope: FaultScope,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Checks that shares are within `0.0..=1.0` and latency ranges are ordered.
    pub fn validate(&self) -> Result<(), String> {
        for (name, share) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be within 0.0..=1.0, got {share}"));
            }
        }
        if let Latency::Uniform { min, max } = self.latency
            && min > max
        {
            return Err(format!("latency range is empty: min {min:?} > max {max:?}"));
        }
        Ok(())
    }
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Answer with this status.
    Status(u16),
    /// Close the connection without answering.
    Drop,
    /// Handle normally, then close the connection instead of answering.
    DropAfterProcessing,
}

/// The live fault configuration and its random source.
#[derive(Debug)]
pub struct FaultEngine {
    faults: Faults,
    rng: StdRng,
}

impl FaultEngine {
    /// An engine; a `seed` makes the random choices reproducible.
    pub fn new(faults: Faults, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self { faults, rng }
    }

    /// Replaces the configuration (keeps the random source).
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Adds a one-shot rule.
    pub fn push_fail_next(&mut self, rule: FailNext) {
        self.faults.fail_next.push(rule);
    }

    /// The current configuration.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Which routes faults apply to.
    pub fn scope(&self) -> FaultScope {
        self.faults.scope
    }

    /// The latency to add to one request.
    pub fn latency(&mut self) -> Duration {
        match self.faults.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } if min >= max => min,
            Latency::Uniform { min, max } => self.rng.gen_range(min..=max),
        }
    }

    /// Decides the fault for one request (and consumes a matching one-shot rule).
    pub fn decide(&mut self, method: &str, template: &str, path: &str) -> Option<Injected> {
        if let Some(i) = self
            .faults
            .fail_next
            .iter()
            .position(|r| r.matches(method, template, path))
        {
            let rule = &mut self.faults.fail_next[i];
            rule.count -= 1;
            let action = rule.action;
            if rule.count == 0 {
                self.faults.fail_next.remove(i);
            }
            return Some(match action {
                FailAction::Status(s) => Injected::Status(s),
                FailAction::Drop => Injected::Drop,
                FailAction::DropAfterProcessing => Injected::DropAfterProcessing,
            });
        }
        if self.faults.drop_rate > 0.0 && self.rng.gen_bool(self.faults.drop_rate) {
            return Some(Injected::Drop);
        }
        if self.faults.error_rate > 0.0 && self.rng.gen_bool(self.faults.error_rate) {
            return Some(Injected::Status(503));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        let mut e = FaultEngine::new(Faults::none(), Some(1));
        for _ in 0..100 {
            assert_eq!(e.decide("GET", "/api/v2/clients", "/api/v2/clients"), None);
        }
        assert_eq!(e.latency(), Duration::ZERO);
    }

    #[test]
    fn fail_next_matches_template_or_path_and_runs_out() {
        let mut e = FaultEngine::new(Faults::none(), Some(1));
        e.push_fail_next(FailNext::new(
            "post",
            "/api/v2/clients",
            2,
            FailAction::Status(500),
        ));
        e.push_fail_next(FailNext::new(
            "DELETE",
            "/api/v2/clients/abc",
            1,
            FailAction::Drop,
        ));
        assert_eq!(e.decide("GET", "/api/v2/clients", "/api/v2/clients"), None);
        assert_eq!(
            e.decide("POST", "/api/v2/clients", "/api/v2/clients"),
            Some(Injected::Status(500))
        );
        assert_eq!(
            e.decide("POST", "/api/v2/clients", "/api/v2/clients"),
            Some(Injected::Status(500))
        );
        assert_eq!(e.decide("POST", "/api/v2/clients", "/api/v2/clients"), None);
        assert_eq!(
            e.decide("DELETE", "/api/v2/clients/{id}", "/api/v2/clients/xyz"),
            None
        );
        assert_eq!(
            e.decide("DELETE", "/api/v2/clients/{id}", "/api/v2/clients/abc"),
            Some(Injected::Drop)
        );
        assert!(e.faults().fail_next.is_empty());
    }

    #[test]
    fn shares_are_plausible() {
        let faults = Faults {
            error_rate: 0.3,
            ..Faults::default()
        };
        let mut e = FaultEngine::new(faults, Some(7));
        let n = 2000;
        let errors = (0..n)
            .filter(|_| e.decide("GET", "/x", "/x") == Some(Injected::Status(503)))
            .count();
        assert!((450..750).contains(&errors), "{errors}");
        e.set(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(e.decide("GET", "/x", "/x"), Some(Injected::Drop));
    }

    #[test]
    fn latency_ranges() {
        let min = Duration::from_millis(10);
        let max = Duration::from_millis(20);
        let mut e = FaultEngine::new(
            Faults {
                latency: Latency::Uniform { min, max },
                ..Faults::default()
            },
            Some(3),
        );
        for _ in 0..100 {
            let l = e.latency();
            assert!(l >= min && l <= max);
        }
        e.set(Faults {
            latency: Latency::Fixed(min),
            ..Faults::default()
        });
        assert_eq!(e.latency(), min);
    }

    #[test]
    fn validation() {
        assert!(Faults::none().validate().is_ok());
        assert!(
            Faults {
                error_rate: 1.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Faults {
                drop_rate: -0.1,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Faults {
                latency: Latency::Uniform {
                    min: Duration::from_secs(2),
                    max: Duration::from_secs(1)
                },
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }
}
