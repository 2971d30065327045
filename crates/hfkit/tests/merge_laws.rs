//! Algebraic laws of the merge, on random trees.

mod common;

use common::{layer, to_yaml, Gen};
use hfkit::values::{merge_all, merge_into, parse_values, KeyPath, Node, Value};
use proptest::prelude::*;

fn parse(g: &Gen, layer: u32) -> Value {
    parse_values(&to_yaml(g), layer).unwrap()
}

fn merge2(a: &Value, b: &Value) -> Value {
    let mut out = a.clone();
    merge_into(&mut out, b.clone());
    out
}

fn leaves(v: &Value) -> Vec<(KeyPath, Value)> {
    let mut out = Vec::new();
    v.for_each_leaf(&mut |p, l| out.push((p.clone(), l.clone())));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn folding_left_is_merge_all(layers in prop::collection::vec(layer(), 0..5)) {
        let trees: Vec<Value> = layers.iter().enumerate().map(|(i, l)| parse(l, i as u32)).collect();
        let mut folded = Value::empty_map();
        for t in &trees {
            folded = merge2(&folded, t);
        }
        prop_assert!(merge_all(trees).same_content(&folded));
    }

    #[test]
    fn associative_when_maps_never_replace_other_values(a in layer(), b in layer(), c in layer()) {
        // helm's merge is associative except where a map replaces a list or scalar
        // (see `not_associative_in_general`); checked on stacks without that case.
        let (a, b, c) = (parse(&a, 0), parse(&b, 1), parse(&c, 2));
        prop_assume!(!map_replaces_non_map(&a, &b) && !map_replaces_non_map(&b, &c) && !map_replaces_non_map(&a, &c));
        let left = merge2(&merge2(&a, &b), &c);
        let right = merge2(&a, &merge2(&b, &c));
        prop_assert!(left.same_content(&right));
    }

    #[test]
    fn empty_map_is_identity(a in layer()) {
        let a = parse(&a, 0);
        prop_assert!(merge2(&a, &Value::empty_map()).same_content(&a));
        prop_assert!(merge2(&Value::empty_map(), &a).same_content(&a));
    }

    #[test]
    fn idempotent(a in layer()) {
        let a = parse(&a, 0);
        prop_assert!(merge2(&a, &a).same_content(&a));
    }

    #[test]
    fn emit_then_parse_is_identity(layers in prop::collection::vec(layer(), 1..5)) {
        let merged = merge_all(layers.iter().enumerate().map(|(i, l)| parse(l, i as u32)));
        let again = parse_values(&hfkit::values::to_yaml(&merged), 0).unwrap();
        prop_assert!(merged.same_content(&again), "{}", hfkit::values::to_yaml(&merged));
    }

    #[test]
    fn overlay_leaves_win_and_are_attributed(a in layer(), b in layer()) {
        let (a, b) = (parse(&a, 0), parse(&b, 1));
        let merged = merge2(&a, &b);
        for (path, leaf) in leaves(&b) {
            // An empty map is no value of its own: it merges into a map already there.
            if matches!(leaf.node, Node::Map(_)) {
                continue;
            }
            let got = merged.get_path(&path).expect("overlay leaf present");
            prop_assert!(got.same_content(&leaf), "{}", path);
            prop_assert_eq!(got.origin.layer, 1);
        }
    }

    #[test]
    fn base_leaves_survive_unless_overridden(a in layer(), b in layer()) {
        let (a, b) = (parse(&a, 0), parse(&b, 1));
        let merged = merge2(&a, &b);
        for (path, leaf) in leaves(&a) {
            // Overridden when the overlay holds this path, or a non-map at a prefix.
            let overridden = (0..=path.0.len()).any(|n| {
                let prefix = KeyPath(path.0[..n].to_vec());
                match b.get_path(&prefix) {
                    Some(v) => n == path.0.len() || !matches!(v.node, Node::Map(_)),
                    None => false,
                }
            });
            if !overridden {
                let got = merged.get_path(&path).expect("base leaf present");
                prop_assert!(got.same_content(&leaf), "{}", path);
            }
        }
    }
}

/// Whether `over` holds a map where `base` holds something else, at any path.
fn map_replaces_non_map(base: &Value, over: &Value) -> bool {
    match (&base.node, &over.node) {
        (Node::Map(b), Node::Map(o)) => o
            .iter()
            .any(|(k, ov)| b.get(k).is_some_and(|bv| map_replaces_non_map(bv, ov))),
        (_, Node::Map(_)) => true,
        _ => false,
    }
}

#[test]
fn not_associative_in_general() {
    // helm folds `-f` files left to right; a later map replaces an earlier list, but the
    // same map merges into an even earlier map. Order matters, as with helm.
    let a = parse_values("c: {a: 1}\n", 0).unwrap();
    let b = parse_values("c: []\n", 1).unwrap();
    let c = parse_values("c: {}\n", 2).unwrap();
    let left = merge2(&merge2(&a, &b), &c);
    let right = merge2(&a, &merge2(&b, &c));
    assert_eq!(hfkit::values::to_yaml(&left), "c: {}\n");
    assert_eq!(hfkit::values::to_yaml(&right), "c:\n  a: 1\n");
}
