//! A values tree as JSON, typed the way helm's YAML reader types plain scalars.

use serde_json::{Map, Number, Value as Json};

use super::tree::{Node, Scalar, ScalarStyle, Value};

/// Converts a tree to JSON: plain scalars are typed with YAML 1.1 rules (as helm's
/// reader does: `yes` is `true`, `0x10` is 16), quoted ones stay strings.
pub fn to_json(value: &Value) -> Json {
    match &value.node {
        Node::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Node::List(l) => Json::Array(l.iter().map(to_json).collect()),
        Node::Scalar(s) => scalar_json(s),
    }
}

fn scalar_json(s: &Scalar) -> Json {
    match s.tag.as_deref() {
        Some("!!str") | Some("!!binary") => return Json::String(s.text.clone()),
        Some("!!null") => return Json::Null,
        _ => {}
    }
    if s.style == ScalarStyle::Quoted {
        return Json::String(s.text.clone());
    }
    if s.is_null() {
        return Json::Null;
    }
    match s.text.as_str() {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Json::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Json::Bool(false)
        }
        _ => {}
    }
    if let Some(i) = super::parse::yaml11_int(&s.text) {
        return Json::Number(i.into());
    }
    let looks_numeric = s
        .text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E' | b'_'))
        && s.text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Some(n) = s
            .text
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
        {
            return Json::Number(n);
        }
    }
    Json::String(s.text.clone())
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_values;
    use super::*;

    #[test]
    fn types_plain_scalars_like_helm() {
        let v = parse_values(
            "a: yes\nb: '1'\nc: 0x10\nd: 1.5\ne: ~\nf: x\ng: !!str 2\n",
            0,
        )
        .unwrap();
        assert_eq!(
            to_json(&v),
            serde_json::json!({"a": true, "b": "1", "c": 16, "d": 1.5, "e": null, "f": "x", "g": "2"})
        );
    }
}
