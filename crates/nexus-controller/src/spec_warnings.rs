//! Warnings about a spec Auth0 accepts but that is most likely a mistake (a name of white
//! space only, an API token lifetime of 0): never a refusal (the rule "never stricter than
//! Auth0", issue 18), so the object still becomes Ready; a `Warning` event with reason
//! [`EventReason::SpecWarning`] names the fields, once per generation.

use kube::Resource;
use kube::runtime::events::EventType;
use nexus_crd::validation::{FieldError, summarize_under};

use crate::context::Context;
use crate::pass::{EventAction, EventReason};

/// The event note for `warnings` (paths relative to `prefix`, e.g. `spec.`), or None when
/// there is nothing to say or `observed_generation` shows this generation was already
/// handled (its warnings published then).
pub fn note(
    generation: Option<i64>,
    observed_generation: Option<i64>,
    prefix: &str,
    warnings: &[FieldError],
) -> Option<String> {
    if warnings.is_empty() || (generation.is_some() && generation == observed_generation) {
        return None;
    }
    Some(format!(
        "accepted, as Auth0 accepts it, but probably a mistake: {}",
        summarize_under(prefix, warnings)
    ))
}

/// Publishes the warning event of [`note`], if any.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    observed_generation: Option<i64>,
    prefix: &str,
    warnings: &[FieldError],
) {
    if let Some(message) = note(obj.meta().generation, observed_generation, prefix, warnings) {
        ctx.event(
            obj,
            EventType::Warning,
            EventReason::SpecWarning.as_str(),
            EventAction::Validate.as_str(),
            message,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_once_per_generation_and_only_with_warnings() {
        let warning = [FieldError {
            path: "client.name".into(),
            message: "is only white space".into(),
        }];
        let note_of = |generation, observed| note(generation, observed, "spec.", &warning);
        assert_eq!(
            note_of(Some(2), Some(1)).as_deref(),
            Some(
                "accepted, as Auth0 accepts it, but probably a mistake: spec.client.name: is only white space"
            )
        );
        assert!(note_of(Some(1), None).is_some());
        assert_eq!(note_of(Some(2), Some(2)), None);
        assert_eq!(note(Some(2), Some(1), "spec.", &[]), None);
    }
}
