//! Normalising objects for comparison (server-filled noise stripped) and redacting Secret
//! values: each `data`/`stringData` value becomes `(redacted, N bytes)` (decoded length),
//! with `, changed` on the new side when it differs from the old one. Values are never
//! shown.

use base64::Engine;

/// Annotations removed before comparing (the last-applied one holds a full copy of the
/// object, Secret values included).
pub const NOISE_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// Removes what the server fills in: `status`, `metadata.managedFields`,
/// `resourceVersion`, `uid`, `creationTimestamp`, `generation`, `selfLink`, the
/// [`NOISE_ANNOTATIONS`] (and `annotations` when it becomes empty).
pub fn strip_noise(obj: &mut serde_json::Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    o.remove("status");
    if let Some(meta) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            for k in NOISE_ANNOTATIONS {
                a.remove(*k);
            }
        }
        if meta
            .get("annotations")
            .and_then(|a| a.as_object())
            .is_some_and(|a| a.is_empty())
        {
            meta.remove("annotations");
        }
    }
}

fn is_secret(obj: &serde_json::Value) -> bool {
    obj["kind"] == "Secret" && obj["apiVersion"] == "v1"
}

/// Decoded bytes of a Secret value (`data` is base64, `stringData` is text).
fn secret_bytes(field: &str, v: &serde_json::Value) -> Vec<u8> {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    if field == "data" {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .unwrap_or_else(|_| s.into_bytes())
    } else {
        s.into_bytes()
    }
}

/// All values of a Secret by key, `stringData` winning over `data` as the server does.
fn secret_values(obj: &serde_json::Value) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for field in ["data", "stringData"] {
        if let Some(m) = obj[field].as_object() {
            for (k, v) in m {
                out.insert(k.clone(), secret_bytes(field, v));
            }
        }
    }
    out
}

fn redact_with(
    obj: &mut serde_json::Value,
    old: Option<&std::collections::BTreeMap<String, Vec<u8>>>,
) {
    if !is_secret(obj) {
        return;
    }
    let values = secret_values(obj);
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    if values.is_empty() {
        o.remove("stringData");
        return;
    }
    o.remove("stringData");
    let mut data = serde_json::Map::new();
    for (k, v) in &values {
        let changed = old.is_some_and(|old| old.get(k).is_some_and(|ov| ov != v));
        let text = format!(
            "(redacted, {} bytes{})",
            v.len(),
            if changed { ", changed" } else { "" }
        );
        data.insert(k.clone(), text.into());
    }
    o.insert("data".into(), serde_json::Value::Object(data));
}

/// Redacts one object's Secret values (no-op for other kinds).
pub fn redact(obj: &mut serde_json::Value) {
    redact_with(obj, None);
}

/// Redacts a pair (live, new) of the same Secret: the new side marks changed values.
pub fn redact_pair(old: &mut serde_json::Value, new: &mut serde_json::Value) {
    let old_values = is_secret(old).then(|| secret_values(old));
    redact_with(old, None);
    redact_with(new, old_values.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_never_shown() {
        let mut old = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "aGVsbG8=", "b": "eA=="}});
        let mut new = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "aGVsbG8="}, "stringData": {"b": "y", "c": "secret!"}});
        redact_pair(&mut old, &mut new);
        let all = format!("{old}{new}");
        for v in ["aGVsbG8", "eA==", "secret!", "\"y\""] {
            assert!(!all.contains(v), "{all}");
        }
        assert_eq!(new["data"]["a"], "(redacted, 5 bytes)");
        assert_eq!(new["data"]["b"], "(redacted, 1 bytes, changed)");
        assert_eq!(new["data"]["c"], "(redacted, 7 bytes)");
        assert!(new.get("stringData").is_none());
    }

    #[test]
    fn noise_is_stripped() {
        let mut o = json!({"metadata": {"name": "x", "uid": "u", "resourceVersion": "1",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "status": {}});
        strip_noise(&mut o);
        assert_eq!(o, json!({"metadata": {"name": "x"}}));
    }
}
