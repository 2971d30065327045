//! Merging a stack of 6 layers of 10,000 keys each (the size of a large umbrella chart's
//! values), from parsed trees and from text.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hfkit::values::{merge_all, parse_values, to_yaml};

/// A layer of `keys` leaves spread over nested maps; `salt` varies the values so that
/// layers override each other, and each layer adds keys of its own.
fn layer_text(keys: usize, salt: usize) -> String {
    let mut out = String::new();
    let per_group = 100;
    for g in 0..keys / per_group {
        out.push_str(&format!("group{g}:\n"));
        for k in 0..per_group {
            if (g + k + salt).is_multiple_of(3) {
                out.push_str(&format!(
                    "  key{k}:\n    nested: \"v{salt}-{g}-{k}\"\n    n: {k}\n"
                ));
            } else if (g * k + salt).is_multiple_of(7) {
                out.push_str(&format!("  key{k}: [a{salt}, b, c]\n"));
            } else {
                out.push_str(&format!("  key{k}: value-{salt}-{g}-{k}\n"));
            }
        }
        out.push_str(&format!("  only{salt}: true\n"));
    }
    out
}

fn bench(c: &mut Criterion) {
    let texts: Vec<String> = (0..6).map(|i| layer_text(10_000, i)).collect();
    let trees: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| parse_values(t, i as u32).unwrap())
        .collect();
    c.bench_function("merge 6 layers x 10k keys (parsed)", |b| {
        // The trees are consumed by the merge: clone them outside the timed part.
        b.iter_batched(|| trees.clone(), merge_all, BatchSize::LargeInput)
    });
    c.bench_function("parse + merge + emit 6 layers x 10k keys", |b| {
        b.iter(|| {
            let merged = merge_all(
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| parse_values(t, i as u32).unwrap()),
            );
            to_yaml(&merged)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
