//! Object-by-object diffs of two rendered manifests, Secret values redacted.

use std::collections::BTreeMap;

use serde::Serialize;
use similar::TextDiff;

use crate::manifest::{split_manifest, ManifestError, ObjectKey};
use crate::values::{to_yaml, Node, Scalar, Value};

/// How an object changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the new manifest.
    Added,
    /// Only in the old manifest.
    Removed,
    /// In both, with different content.
    Modified,
}

/// The diff of one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    /// The object.
    pub key: ObjectKey,
    /// Added, removed or modified.
    pub change: Change,
    /// A unified diff of the object's YAML (Secret values redacted).
    pub unified: String,
}

/// Compares an old manifest (deployed) with a new one (about to be applied).
/// Unchanged objects are left out; the result is sorted by object.
pub fn diff_manifests(
    old: &str,
    new: &str,
    context: usize,
) -> Result<Vec<ObjectDiff>, ManifestError> {
    let index = |text: &str| -> Result<BTreeMap<ObjectKey, Value>, ManifestError> {
        Ok(split_manifest(text)?
            .into_iter()
            .map(|o| (o.key, o.value))
            .collect())
    };
    let old = index(old)?;
    let new = index(new)?;
    let mut diffs = Vec::new();
    let keys: std::collections::BTreeSet<&ObjectKey> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (before, after) = redacted_pair(key, old.get(key), new.get(key));
        if before == after {
            continue;
        }
        let change = match (old.contains_key(key), new.contains_key(key)) {
            (false, _) => Change::Added,
            (_, false) => Change::Removed,
            _ => Change::Modified,
        };
        let name = key.to_string();
        let unified = TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(context)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string();
        diffs.push(ObjectDiff {
            key: key.clone(),
            change,
            unified,
        });
    }
    Ok(diffs)
}

/// The YAML of both sides; for a Secret, `data`/`stringData` values are replaced by
/// markers that say whether each value changed and its length, never the value.
fn redacted_pair(key: &ObjectKey, old: Option<&Value>, new: Option<&Value>) -> (String, String) {
    let render = |v: Option<&Value>| v.map(to_yaml).unwrap_or_default();
    if key.kind != "Secret" || !key.group.is_empty() {
        return (render(old), render(new));
    }
    let mut old = old.cloned();
    let mut new = new.cloned();
    for field in ["data", "stringData"] {
        let old_map = old.as_ref().and_then(|v| secret_values(v, field));
        // Only the new side says `changed`: the two sides must differ whenever a value
        // does, even when old and new have the same length.
        if let Some(v) = old.as_mut() {
            redact_field(v, field, None, field == "data");
        }
        if let Some(v) = new.as_mut() {
            redact_field(
                v,
                field,
                Some(old_map.as_ref().unwrap_or(&BTreeMap::new())),
                field == "data",
            );
        }
    }
    (render(old.as_ref()), render(new.as_ref()))
}

fn secret_values(v: &Value, field: &str) -> Option<BTreeMap<String, String>> {
    let map = v.as_map()?.get(field)?.as_map()?;
    Some(
        map.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_scalar()?.text.clone())))
            .collect(),
    )
}

/// Replaces each value of `value[field]` by `(redacted, N bytes)`, adding `, changed`
/// when `old` (the deployed side, if this is the new one) holds a different value or
/// none for the key.
fn redact_field(
    value: &mut Value,
    field: &str,
    old: Option<&BTreeMap<String, String>>,
    base64: bool,
) {
    let Node::Map(top) = &mut value.node else {
        return;
    };
    let Some(Value {
        node: Node::Map(entries),
        ..
    }) = top.get_mut(field)
    else {
        return;
    };
    for (k, v) in entries.iter_mut() {
        let Node::Scalar(s) = &v.node else {
            v.node = Node::Scalar(Scalar::string("(redacted)"));
            continue;
        };
        let len = if base64 {
            decoded_len(&s.text)
        } else {
            s.text.len()
        };
        let changed = old.is_some_and(|o| o.get(k) != Some(&s.text));
        let marker = format!(
            "(redacted, {len} bytes{})",
            if changed { ", changed" } else { "" }
        );
        v.node = Node::Scalar(Scalar::string(marker));
    }
}

/// Length of base64-decoded data, without decoding it.
fn decoded_len(text: &str) -> usize {
    let t = text.trim();
    let pad = t.bytes().rev().take_while(|b| *b == b'=').count();
    (t.len() / 4 * 3).saturating_sub(pad)
}

/// Renders diffs as text: a header per object then its unified diff, coloured with ANSI
/// escapes when `color`.
pub fn render_text(diffs: &[ObjectDiff], color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    for d in diffs {
        let verb = match d.change {
            Change::Added => "will be added",
            Change::Removed => "will be removed",
            Change::Modified => "has changed",
        };
        out.push_str(&paint("1;33", &format!("{} {verb}:", d.key)));
        out.push('\n');
        for line in d.unified.lines() {
            let painted = if line.starts_with("+++") || line.starts_with("---") {
                paint("1", line)
            } else if line.starts_with('+') {
                paint("32", line)
            } else if line.starts_with('-') {
                paint("31", line)
            } else if line.starts_with("@@") {
                paint("36", line)
            } else {
                line.to_string()
            };
            out.push_str(&painted);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: aHVudGVyMg==\n  same: eA==\nstringData:\n  token: abc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n";
    const NEW: &str = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: c3dvcmRmaXNo\n  same: eA==\nstringData:\n  token: abc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n";

    #[test]
    fn secret_values_never_appear_but_changes_do() {
        let diffs = diff_manifests(OLD, NEW, 3).unwrap();
        let text = render_text(&diffs, false);
        for secret in ["aHVudGVyMg==", "c3dvcmRmaXNo", "abc", "eA=="] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(
            text.contains("-  password: \"(redacted, 7 bytes)\""),
            "{text}"
        );
        assert!(
            text.contains("+  password: \"(redacted, 9 bytes, changed)\""),
            "{text}"
        );
        assert!(!text.contains("+  same:"), "{text}");
        assert_eq!(diffs.len(), 2, "{text}");
        let added = diffs.iter().find(|d| d.key.name == "d").unwrap();
        assert_eq!(added.change, Change::Added);
    }

    #[test]
    fn a_secret_change_of_the_same_length_is_a_change() {
        let old = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: aaaa\n";
        let new = old.replace("aaaa", "bbbb");
        let diffs = diff_manifests(old, &new, 3).unwrap();
        assert_eq!(diffs.len(), 1);
        let text = render_text(&diffs, false);
        assert!(
            text.contains(
                "-  pw: \"(redacted, 4 bytes)\"\n+  pw: \"(redacted, 4 bytes, changed)\""
            ),
            "{text}"
        );
        assert!(!text.contains("aaaa") && !text.contains("bbbb"), "{text}");
    }

    #[test]
    fn identical_manifests_have_no_diff() {
        assert!(diff_manifests(NEW, NEW, 3).unwrap().is_empty());
    }
}
