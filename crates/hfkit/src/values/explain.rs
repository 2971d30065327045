//! Which file set each key of a merged stack.

use serde::Serialize;

use super::emit::quote;
use super::stack::MergedValues;
use super::tree::{KeyPath, Node, ScalarStyle, Value};

/// Where one key of the merged values was set.
#[derive(Debug, Clone, Serialize)]
pub struct KeyOrigin {
    /// The key path, dotted.
    pub key: String,
    /// The value as one line of YAML (`(redacted)` for a secret unless shown).
    pub value: String,
    /// The layer file that set it.
    pub file: String,
    /// 1-based line in that file.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// Whether the value came from a secrets layer.
    pub secret: bool,
    /// Lower layers that also set this key and were overridden, as `file:line`.
    pub overrides: Vec<String>,
}

/// The provenance of a stack's keys, and the layers that were missing.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// One entry per leaf key (scalar, list or empty map), in merged order.
    pub keys: Vec<KeyOrigin>,
    /// Layers that were read, lowest first.
    pub present: Vec<String>,
    /// Layers that do not exist and were skipped.
    pub missing: Vec<String>,
}

/// Explains every leaf under `filter` (all keys when `None`).
pub fn explain(merged: &MergedValues, filter: Option<&KeyPath>, show_secrets: bool) -> Explanation {
    let mut keys = Vec::new();
    merged.value.for_each_leaf(&mut |path, value| {
        if let Some(prefix) = filter {
            if !path.starts_with(prefix) {
                return;
            }
        }
        let secret = merged.is_secret(value);
        let layer = value.origin.layer as usize;
        let overrides = merged.layer_values[..layer.min(merged.layer_values.len())]
            .iter()
            .enumerate()
            .filter_map(|(i, tree)| {
                let node = tree.as_ref()?.get_path(path)?;
                Some(format!("{}:{}", merged.layers[i].display, node.origin.line))
            })
            .rev()
            .collect();
        keys.push(KeyOrigin {
            key: path.to_string(),
            value: if secret && !show_secrets {
                "(redacted)".into()
            } else {
                one_line(value)
            },
            file: merged
                .layers
                .get(layer)
                .map(|l| l.display.clone())
                .unwrap_or_default(),
            line: value.origin.line,
            col: value.origin.col,
            secret,
            overrides,
        });
    });
    Explanation {
        keys,
        present: merged
            .layers
            .iter()
            .filter(|l| l.exists)
            .map(|l| l.display.clone())
            .collect(),
        missing: merged.missing().map(|l| l.display.clone()).collect(),
    }
}

fn one_line(value: &Value) -> String {
    match &value.node {
        Node::Scalar(s) if s.style == ScalarStyle::Plain && !s.text.contains('\n') => {
            if s.text.is_empty() {
                "null".into()
            } else {
                s.text.clone()
            }
        }
        Node::Scalar(s) => quote(&s.text),
        Node::List(items) => format!(
            "[{} item{}]",
            items.len(),
            if items.len() == 1 { "" } else { "s" }
        ),
        Node::Map(_) => "{}".into(),
    }
}
