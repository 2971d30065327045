//! helm values: parsing (anchors, aliases, merge keys, tags), helm's merge of several
//! `-f` layers, the YAML we hand helm, and its JSON form.
//!
//! The input is up to four layers separated by NUL bytes. Invariants (as in
//! crates/hfkit/tests/merge_laws.rs, here on arbitrary text): what we emit parses back
//! to the same values, for each layer and for the merge; the empty map is an identity;
//! merging a layer with itself changes nothing; the last layer's leaves win.
#![no_main]

use hfkit::values::{merge_all, merge_into, parse_values, to_json, to_yaml, Node, Value};
use hfkit_fuzz::text;
use libfuzzer_sys::fuzz_target;

fn merge2(a: &Value, b: &Value) -> Value {
    let mut out = a.clone();
    merge_into(&mut out, b.clone());
    out
}

#[track_caller]
fn round_trips(v: &Value) {
    let yaml = to_yaml(v);
    let again = parse_values(&yaml, 0)
        .unwrap_or_else(|e| panic!("emitted values do not parse: {e}\n{yaml}"));
    assert!(
        v.same_content(&again),
        "emit then parse changed the values:\n{yaml}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let layers: Vec<Value> = text
        .split('\0')
        .take(4)
        .enumerate()
        .filter_map(|(i, t)| parse_values(t, i as u32).ok())
        .collect();
    for l in &layers {
        round_trips(l);
        assert!(merge2(l, &Value::empty_map()).same_content(l));
        assert!(merge2(&Value::empty_map(), l).same_content(l));
        assert!(merge2(l, l).same_content(l), "merging a layer with itself");
    }
    let merged = merge_all(layers.clone());
    round_trips(&merged);
    let _ = to_json(&merged);
    if let Some(last) = layers.last() {
        last.for_each_leaf(&mut |path, leaf| {
            // An empty map merges into a map without replacing it.
            if matches!(&leaf.node, Node::Map(m) if m.is_empty()) {
                return;
            }
            let got = merged.get_path(path);
            assert!(
                got.is_some_and(|g| g.same_content(leaf)),
                "the last layer's `{path}` did not win"
            );
        });
    }
});
