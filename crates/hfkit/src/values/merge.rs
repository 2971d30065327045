//! Merging value trees the way helm merges several `-f` files.
//!
//! helm (`pkg/cli/values`, `mergeMaps`) folds the files left to right: where both sides
//! hold a map the maps merge key by key; anything else — a list, a scalar, a `null` —
//! replaces what was there. A `null` is kept in the result: it is helm's coalescing
//! with the chart's defaults, later, that uses it to remove a default key.

use super::tree::{Node, Value};

/// Merges `overlay` into `base` in place; `overlay` wins.
pub fn merge_into(base: &mut Value, overlay: Value) {
    match (&mut base.node, overlay.node) {
        (Node::Map(base_map), Node::Map(over_map)) => {
            for (key, over_child) in over_map {
                match base_map.get_mut(&key) {
                    Some(base_child)
                        if matches!(base_child.node, Node::Map(_))
                            && matches!(over_child.node, Node::Map(_)) =>
                    {
                        merge_into(base_child, over_child)
                    }
                    Some(base_child) => *base_child = over_child,
                    None => {
                        base_map.insert(key, over_child);
                    }
                }
            }
        }
        (_, node) => {
            *base = Value {
                node,
                origin: overlay.origin,
            }
        }
    }
}

/// Merges a stack of trees, lowest precedence first.
pub fn merge_all(layers: impl IntoIterator<Item = Value>) -> Value {
    let mut out = Value::empty_map();
    for layer in layers {
        merge_into(&mut out, layer);
    }
    out
}
