//! RFC 6902 JSON patch, with the API server's lenient `test` of `null` against a missing path.

use serde_json::{Value, json};

use super::error::ApiError;

/// Apply a JSON patch document (an array of operations) to `doc`.
/// A malformed patch is 400 BadRequest; an operation that cannot be applied (including a
/// failing `test`) is 422 Invalid, as on the real API server. On error `doc` may be partially
/// patched, so callers work on a copy.
pub(crate) fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array of operations"))?;
    for op in ops {
        if is_null_test(op) {
            check_null_test(doc, op)?;
            continue;
        }
        let single: json_patch::Patch = serde_json::from_value(json!([op])).map_err(|e| {
            ApiError::bad_request(format!("invalid JSON patch operation {op}: {e}"))
        })?;
        json_patch::patch(doc, &single).map_err(|e| {
            ApiError::invalid(format!(
                "the server rejected our request due to an error in our request: {e}"
            ))
        })?;
    }
    Ok(())
}

fn is_null_test(op: &Value) -> bool {
    op.get("op").and_then(Value::as_str) == Some("test")
        && op.get("value").is_some_and(Value::is_null)
}

/// `{"op":"test","path":p,"value":null}` passes when `p` is absent or null (Kubernetes semantics,
/// relied upon by `kube::runtime::finalizer` when adding the first finalizer).
fn check_null_test(doc: &Value, op: &Value) -> Result<(), ApiError> {
    let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
    match doc.pointer(path) {
        None | Some(Value::Null) => Ok(()),
        Some(actual) => Err(ApiError::invalid(format!(
            "the server rejected our request due to an error in our request: test failed at {path}: expected null, found {actual}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalizer_style_patches() {
        let mut doc = json!({"metadata": {"name": "x"}});
        let add = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
        ]);
        apply_json_patch(&mut doc, &add).expect("add");
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
        let again = apply_json_patch(&mut doc.clone(), &add).expect_err("second add");
        assert_eq!(again.code, 422);
        let remove = json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "f"},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]);
        apply_json_patch(&mut doc, &remove).expect("remove");
        assert_eq!(doc["metadata"]["finalizers"], json!([]));
        let wrong = json!([{"op": "test", "path": "/metadata/name", "value": "y"}]);
        assert_eq!(
            apply_json_patch(&mut doc, &wrong).expect_err("test").code,
            422
        );
        assert_eq!(
            apply_json_patch(&mut doc, &json!({"op": "add"}))
                .expect_err("shape")
                .code,
            400
        );
    }
}
