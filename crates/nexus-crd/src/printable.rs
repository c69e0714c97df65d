//! Text the operator sends to the Kubernetes API server stays inside YAML's printable set.
//!
//! The API server reads server-side apply bodies (`application/apply-patch+yaml`, JSON
//! included) with a YAML reader that refuses, in the raw stream, any character outside YAML
//! 1.1's printable set: `#x9 | #xA | #xD | [#x20-#x7E] | #x85 | [#xA0-#xD7FF] |
//! [#xE000-#xFFFD] | [#x10000-#x10FFFF]` (`yaml: control characters are not allowed`, a 400).
//! One such character in a condition message quoting Auth0 or a user would make every status
//! write of the object fail. [`printable`] escapes, where outside text enters what the operator
//! composes (condition messages, event notes, annotation values copied into a status), the
//! characters YAML refuses, and also U+0085, U+2028 and U+2029, which it accepts but reads as
//! line breaks (so they would not survive unchanged).

use std::borrow::Cow;

/// Whether YAML 1.1 accepts `c` in a stream (the API server's reader refuses the others).
pub fn is_yaml_printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}'
        | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// Whether [`printable`] escapes `c`.
fn escaped(c: char) -> bool {
    !is_yaml_printable(c) || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `text` with every character YAML refuses (and U+0085, U+2028, U+2029) written as a Rust
/// escape such as `\u{fffe}`; borrowed when there is nothing to escape. Tabs and line breaks are
/// kept. The result is deterministic, so a value stored escaped compares equal to the same
/// value escaped again.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_exactly_what_yaml_refuses_or_rewrites() {
        assert!(matches!(
            printable("Auth0 says: ok é 😀\ttab\nline"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            printable(
                "a\u{fffe}b\u{ffff}c\u{0}d\u{1b}e\u{7f}f\u{80}g\u{9f}h\u{85}i\u{2028}j\u{2029}k"
            ),
            "a\\u{fffe}b\\u{ffff}c\\u{0}d\\u{1b}e\\u{7f}f\\u{80}g\\u{9f}h\\u{85}i\\u{2028}j\\u{2029}k"
        );
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let text = c.to_string();
            let shown = printable(&text);
            assert!(shown.chars().all(is_yaml_printable), "{c:?}");
            assert!(!shown.contains(['\u{85}', '\u{2028}', '\u{2029}']), "{c:?}");
            assert_eq!(printable(&shown), shown, "stable: {c:?}");
        }
    }
}
