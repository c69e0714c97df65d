//! Label and field selectors.

use serde_json::Value;

use super::error::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (requirements are ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

/// One requirement of a field selector: a dotted path compared with `=`/`==` or `!=`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldReq {
    path: Vec<String>,
    value: String,
    negated: bool,
}

/// A parsed field selector (requirements are ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<FieldReq>);

/// Split on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(s: &str, selector: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: invalid label selector {selector:?}"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_label_req(req: &str, selector: &str) -> Result<LabelReq, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "unable to parse requirement: invalid label selector {selector:?}"
        ))
    };
    if let Some(key) = req.strip_prefix('!') {
        return Ok(LabelReq::NotExists(key.trim().to_string()));
    }
    if let Some((k, v)) = req.split_once("!=") {
        return Ok(LabelReq::NotEq(k.trim().to_string(), v.trim().to_string()));
    }
    if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
        return Ok(LabelReq::Eq(k.trim().to_string(), v.trim().to_string()));
    }
    let words: Vec<&str> = req.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] if !key.contains('(') => Ok(LabelReq::Exists(key.to_string())),
        [key, rest] => {
            let rest = rest.trim();
            if let Some(set) = rest.strip_prefix("notin") {
                Ok(LabelReq::NotIn(key.to_string(), parse_set(set, selector)?))
            } else if let Some(set) = rest.strip_prefix("in") {
                Ok(LabelReq::In(key.to_string(), parse_set(set, selector)?))
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

impl LabelSelector {
    /// Whether the selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse `k=v,k!=v,k in (a,b),!k,...`.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        split_top_level(selector)
            .into_iter()
            .map(|req| parse_label_req(req, selector))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, set) => get(k).is_some_and(|x| set.iter().any(|s| s == x)),
            LabelReq::NotIn(k, set) => get(k).is_none_or(|x| set.iter().all(|s| s != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

impl FieldSelector {
    /// Whether the selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse `metadata.name=x,metadata.namespace!=y`.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        split_top_level(selector)
            .into_iter()
            .map(|req| {
                let (path, value, negated) = if let Some((k, v)) = req.split_once("!=") {
                    (k, v, true)
                } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                    (k, v, false)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid field selector: {selector:?}"
                    )));
                };
                Ok(FieldReq {
                    path: path.trim().split('.').map(str::to_string).collect(),
                    value: value.trim().to_string(),
                    negated,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether the object satisfies every requirement (missing fields compare as `""`).
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|req| {
            let actual = req
                .path
                .iter()
                .try_fold(object, |v, seg| v.get(seg))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (actual == req.value) != req.negated
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selector_operators() {
        let o = obj(json!({"app": "x", "tier": "web"}));
        let m = |s: &str| LabelSelector::parse(s).expect("parse").matches(&o);
        assert!(m("app=x"));
        assert!(m("app==x,tier"));
        assert!(!m("app!=x"));
        assert!(m("app in (x, y),tier notin (db)"));
        assert!(!m("app notin (x)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m(""));
        assert!(LabelSelector::parse("app in x").is_err());
    }

    #[test]
    fn field_selector_name_and_namespace() {
        let o = obj(json!({}));
        let m = |s: &str| FieldSelector::parse(s).expect("parse").matches(&o);
        assert!(m("metadata.name=a"));
        assert!(m("metadata.namespace==ns,metadata.name!=b"));
        assert!(!m("metadata.name=b"));
    }
}
