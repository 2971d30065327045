//! Conversions between hfkit-sops document trees and JSON values.

use hfkit_sops::tree::{Branch, Item, Key, Value};

/// Converts a parsed (decrypted) YAML document to JSON; comments are dropped.
pub fn branch_to_json(b: &Branch) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for it in b {
        if let Key::Str(k) = &it.key {
            if let Some(v) = value_to_json(&it.value) {
                m.insert(k.clone(), v);
            }
        }
    }
    serde_json::Value::Object(m)
}

fn value_to_json(v: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) | Value::Time(s) => J::String(s.clone()),
        Value::Map(m) => branch_to_json(m),
        Value::Seq(s) => J::Array(s.iter().filter_map(value_to_json).collect()),
        Value::Comment(_) => return None,
    })
}

/// Renders a JSON value as YAML (block style, keys in their JSON order).
pub fn json_to_yaml(v: &serde_json::Value) -> String {
    match json_to_value(v) {
        Value::Map(b) => hfkit_sops::emit(&[b], hfkit_sops::Format::Yaml),
        other => hfkit_sops::emit(
            &[vec![Item {
                key: Key::Str("value".into()),
                value: other,
            }]],
            hfkit_sops::Format::Yaml,
        ),
    }
}

fn json_to_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::Seq(a.iter().map(json_to_value).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| Item {
                    key: Key::Str(k.clone()),
                    value: json_to_value(v),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_yaml() {
        let docs = hfkit_sops::parse(
            "a: 1\nb: [x, 'y']\nc:\n  d: true # note\n  e: 1.5\n",
            hfkit_sops::Format::Yaml,
        )
        .unwrap();
        let j = branch_to_json(&docs[0]);
        assert_eq!(
            j,
            serde_json::json!({"a": 1, "b": ["x", "y"], "c": {"d": true, "e": 1.5}})
        );
        let y = json_to_yaml(&j);
        let back = hfkit_sops::parse(&y, hfkit_sops::Format::Yaml).unwrap();
        assert_eq!(branch_to_json(&back[0]), j);
    }
}
