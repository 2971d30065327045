//! Layered helm values: reading layer files, merging them exactly as helm merges `-f`
//! files, writing the result, and telling which file set each key.

mod emit;
mod explain;
mod json;
mod merge;
mod parse;
mod stack;
mod tree;

pub use emit::{quote, to_yaml, to_yaml_redacted};
pub use explain::{explain, Explanation, KeyOrigin};
pub use json::to_json;
pub use merge::{merge_all, merge_into};
pub use parse::{
    parse_documents, parse_documents_limited, parse_values, parse_values_limited, YamlError,
};
pub use stack::{
    Layer, LayerConfig, LayerKind, LayerRequest, MergedValues, Stack, StackError, CONFIG_FILE,
};
pub use tree::{KeyPath, Node, Origin, Scalar, ScalarStyle, Value};
