//! Field documentation as `kubectl explain` shows it: doc comments are wrapped at ~100 columns
//! in the source, and those line breaks would appear mid-sentence in `kubectl explain`. The CRDs
//! are generated through [`reflow_schema`], which joins the wrapped lines of every
//! `description` into paragraphs.

use serde_json::Value;

/// Joins wrapped lines into paragraphs. Blank lines separate paragraphs; a line that starts a
/// list item (`- `, `* `, `1. `) starts a new line; fenced code blocks (```` ``` ````) and lines
/// indented by four spaces are kept as they are.
pub fn reflow(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    // Whether the last line of `out` is prose that the next prose line continues.
    let mut open = false;
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            fenced = !fenced;
            out.push(line.trim_end().to_owned());
            open = false;
            continue;
        }
        if fenced || line.starts_with("    ") {
            out.push(line.trim_end().to_owned());
            open = false;
            continue;
        }
        if trimmed.is_empty() {
            out.push(String::new());
            open = false;
            continue;
        }
        match out.last_mut() {
            Some(last) if open && !starts_list_item(trimmed) => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => out.push(trimmed.to_owned()),
        }
        open = true;
    }
    let mut text = out.join("\n");
    text.truncate(text.trim_end().len());
    text
}

fn starts_list_item(line: &str) -> bool {
    if line.starts_with("- ") || line.starts_with("* ") {
        return true;
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && line[digits..].starts_with(". ")
}

/// Reflows every `description` of a JSON schema and of its subschemas (`properties`,
/// `additionalProperties`, `items`, `allOf`/`anyOf`/`oneOf`, `not`); `default`, `example` and
/// `enum` values are data and stay untouched.
pub fn reflow_schema(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("description", Value::String(text)) => *text = reflow(text),
            ("properties", Value::Object(properties)) => {
                properties.values_mut().for_each(reflow_schema);
            }
            ("allOf" | "anyOf" | "oneOf", Value::Array(schemas)) => {
                schemas.iter_mut().for_each(reflow_schema);
            }
            ("items", Value::Array(schemas)) => schemas.iter_mut().for_each(reflow_schema),
            ("items" | "additionalProperties" | "not", sub @ Value::Object(_)) => {
                reflow_schema(sub);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrapped_lines_become_one_paragraph() {
        let doc = "When `client.id` names an existing client: `IfUnowned` (default) adopts it only if no\nother AuthClient or cluster has tagged it, `TakeOver` adopts it regardless.";
        assert_eq!(
            reflow(doc),
            "When `client.id` names an existing client: `IfUnowned` (default) adopts it only if no other AuthClient or cluster has tagged it, `TakeOver` adopts it regardless."
        );
    }

    #[test]
    fn paragraphs_lists_and_code_survive() {
        let doc = "First paragraph\ncontinues here.\n\nSecond:\n- item one\n  wraps\n- item two\n1. numbered\n\n```\nkeep  this\nas is\n```\n    indented code\nlast\nline";
        assert_eq!(
            reflow(doc),
            "First paragraph continues here.\n\nSecond:\n- item one wraps\n- item two\n1. numbered\n\n```\nkeep  this\nas is\n```\n    indented code\nlast line"
        );
    }

    #[test]
    fn every_description_in_a_schema_is_reflowed_but_defaults_are_not() {
        let mut schema = json!({
            "description": "a\nb",
            "properties": {
                "x": {"description": "c\nd", "default": {"description": "keep\nme"}},
                "description": {"description": "i\nj", "type": "string"},
                "list": {"items": {"description": "e\nf"}},
            },
            "allOf": [{"description": "g\nh"}],
        });
        reflow_schema(&mut schema);
        assert_eq!(schema["description"], "a b");
        assert_eq!(schema["properties"]["x"]["description"], "c d");
        assert_eq!(
            schema["properties"]["x"]["default"]["description"],
            "keep\nme"
        );
        assert_eq!(schema["properties"]["list"]["items"]["description"], "e f");
        assert_eq!(schema["allOf"][0]["description"], "g h");
        assert_eq!(
            schema["properties"]["description"]["description"], "i j",
            "a property named `description` is a schema"
        );
    }
}
