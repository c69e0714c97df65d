//! Names: Kubernetes object names and label values, slugs, hex digests, shortened display.

use nexus_crd::validation::shown;

/// Lowercase alphanumerics and single dashes, at most `max` characters, never empty.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "client".to_owned()
    } else {
        out
    }
}

/// A Kubernetes object name (DNS subdomain: lowercase alphanumerics, `-` and `.`).
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

pub(crate) fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && value
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && value
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

pub(crate) fn shorten(text: &str) -> String {
    shown(&text.chars().take(64).collect::<String>())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_names() {
        assert_eq!(slug("My Billing App!", 40), "my-billing-app");
        assert_eq!(slug("<<>>", 40), "client");
        assert_eq!(slug(&"a".repeat(80), 40).len(), 40);
        assert_eq!(slug("ab--cd__", 40), "ab-cd");
        assert!(is_object_name("t1.example"));
        assert!(!is_object_name("T1"));
        assert!(!is_object_name("a/b"));
        assert!(!is_object_name("-a"));
    }
}
