//! The character rule of the YAML reader the real API server decodes with (go-yaml's
//! `yaml_parser_update_buffer`, used by `sigs.k8s.io/yaml` for `application/apply-patch+yaml`
//! bodies and by kube-openapi when it turns the OpenAPI v2 document into protobuf).
//!
//! The reader checks the raw input stream, before any YAML (or JSON) escape is decoded: the
//! UTF-8 must be well formed and every character must be in YAML 1.1's printable set
//! (`#x9 | #xA | #xD | [#x20-#x7E] | #x85 | [#xA0-#xD7FF] | [#xE000-#xFFFD] |
//! [#x10000-#x10FFFF]`). So a JSON body carrying U+FFFE as raw bytes is refused, while the same
//! character written as the JSON escape `\uFFFE` passes (the scanner decodes it later and does
//! not check it again). Bodies starting with a UTF-16 byte order mark are out of scope (no
//! client of this project sends them); a UTF-8 one is skipped as go-yaml does.

/// Whether YAML 1.1 (and go-yaml's reader) accepts `c` in a stream.
pub fn is_printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}'
        | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// The reader's verdict on a raw stream: `Err` carries go-yaml's problem text (`control
/// characters are not allowed`, `invalid leading UTF-8 octet`, ...), which the API server
/// prints after `yaml: `.
pub fn check(raw: &[u8]) -> Result<(), &'static str> {
    let raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
    let mut at = 0;
    while at < raw.len() {
        let lead = raw[at];
        let width = match lead {
            _ if lead & 0x80 == 0x00 => 1,
            _ if lead & 0xe0 == 0xc0 => 2,
            _ if lead & 0xf0 == 0xe0 => 3,
            _ if lead & 0xf8 == 0xf0 => 4,
            _ => return Err("invalid leading UTF-8 octet"),
        };
        if at + width > raw.len() {
            return Err("incomplete UTF-8 octet sequence");
        }
        let mut value = u32::from(match width {
            1 => lead & 0x7f,
            2 => lead & 0x1f,
            3 => lead & 0x0f,
            _ => lead & 0x07,
        });
        for &octet in &raw[at + 1..at + width] {
            if octet & 0xc0 != 0x80 {
                return Err("invalid trailing UTF-8 octet");
            }
            value = (value << 6) + u32::from(octet & 0x3f);
        }
        let shortest = match width {
            1 => true,
            2 => value >= 0x80,
            3 => value >= 0x800,
            _ => value >= 0x10000,
        };
        if !shortest {
            return Err("invalid length of a UTF-8 sequence");
        }
        let Some(c) = char::from_u32(value) else {
            return Err("invalid Unicode character");
        };
        if !is_printable(c) {
            return Err("control characters are not allowed");
        }
        at += width;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_set_is_yaml_1_1() {
        for c in [
            '\t', '\n', '\r', ' ', '~', '\u{85}', '\u{a0}', '\u{2028}', '\u{1680}',
        ] {
            assert!(is_printable(c), "{c:?}");
        }
        for c in [
            '\0', '\u{8}', '\u{1b}', '\u{7f}', '\u{80}', '\u{9f}', '\u{fffe}', '\u{ffff}',
        ] {
            assert!(!is_printable(c), "{c:?}");
        }
        assert!(is_printable('\u{fffd}') && is_printable('\u{10000}') && is_printable('\u{feff}'));
    }

    #[test]
    fn the_raw_stream_is_checked_not_the_escapes() {
        assert_eq!(
            check("{\"a\":\"\u{fffe}\"}".as_bytes()),
            Err("control characters are not allowed")
        );
        assert_eq!(check(b"{\"a\":\"\\uFFFE\"}"), Ok(()));
        assert_eq!(check("a: \u{2028}\u{85}é😀".as_bytes()), Ok(()));
        assert_eq!(check("\u{feff}a: b".as_bytes()), Ok(()));
        assert_eq!(check(b"\x7f"), Err("control characters are not allowed"));
        assert_eq!(check(b"\xff"), Err("invalid leading UTF-8 octet"));
        assert_eq!(check(b"\xc3"), Err("incomplete UTF-8 octet sequence"));
        assert_eq!(check(b"\xc3A"), Err("invalid trailing UTF-8 octet"));
        assert_eq!(
            check(b"\xc0\x80"),
            Err("invalid length of a UTF-8 sequence")
        );
        assert_eq!(check(b"\xed\xa0\x80"), Err("invalid Unicode character"));
    }
}
