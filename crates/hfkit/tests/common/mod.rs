//! Random values trees for property tests, written as YAML in varied styles.
#![allow(dead_code)]

use proptest::prelude::*;
use std::collections::BTreeMap;

/// A generated values tree; leaves are YAML scalar texts exactly as written.
#[derive(Debug, Clone)]
pub enum Gen {
    Map(BTreeMap<String, Gen>),
    List(Vec<Gen>),
    Leaf(&'static str),
}

/// Scalars of every kind helm's reader distinguishes: numbers, YAML 1.1 booleans,
/// nulls (which must survive the merge), quoted strings that look like other types.
const LEAVES: &[&str] = &[
    "1",
    "-7",
    "3.25",
    "1e3",
    "0x1F",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "~",
    "null",
    "",
    "word",
    "two words",
    "'quoted: x'",
    "\"dq #1\"",
    "'007'",
    "\"\"",
    "'true'",
    "{}",
    "[]",
    "\"tab\\there\"",
    "'ünïcødé'",
];

/// Keys from a small pool, so that layers collide often.
const KEYS: &[&str] = &["a", "b", "c", "d", "e", "f", "replicas"];

pub fn leaf() -> impl Strategy<Value = Gen> {
    prop::sample::select(LEAVES).prop_map(Gen::Leaf)
}

pub fn tree() -> impl Strategy<Value = Gen> {
    leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Gen::List),
            prop::collection::btree_map(
                prop::sample::select(KEYS).prop_map(String::from),
                inner,
                0..5
            )
            .prop_map(Gen::Map),
        ]
    })
}

/// A top-level map (what a values file holds).
pub fn layer() -> impl Strategy<Value = Gen> {
    prop::collection::btree_map(
        prop::sample::select(KEYS).prop_map(String::from),
        tree(),
        0..6,
    )
    .prop_map(Gen::Map)
}

/// Writes a generated top-level map as a YAML document.
pub fn to_yaml(g: &Gen) -> String {
    let mut out = String::new();
    if let Gen::Map(m) = g {
        if m.is_empty() {
            return "{}\n".into();
        }
        write_map(&mut out, m, 0);
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.push_str(&" ".repeat(n));
}

fn write_map(out: &mut String, m: &BTreeMap<String, Gen>, indent: usize) {
    for (k, v) in m {
        pad(out, indent);
        out.push_str(k);
        out.push(':');
        write_value(out, v, indent);
    }
}

fn write_value(out: &mut String, v: &Gen, indent: usize) {
    match v {
        Gen::Leaf(text) => {
            if !text.is_empty() {
                out.push(' ');
                out.push_str(text);
            }
            out.push('\n');
        }
        Gen::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Gen::List(l) if l.is_empty() => out.push_str(" []\n"),
        Gen::Map(m) => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Gen::List(l) => {
            out.push('\n');
            for item in l {
                pad(out, indent + 2);
                out.push('-');
                match item {
                    Gen::Map(m) if !m.is_empty() => {
                        out.push('\n');
                        write_map(out, m, indent + 4);
                    }
                    other => write_value(out, other, indent + 2),
                }
            }
        }
    }
}
