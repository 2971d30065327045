//! Laws of the needs graph on random acyclic graphs: every release lands in exactly
//! one wave, after everything it needs, waves keep declaration order, and selection
//! with needs is closed under `needs:`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use hfkit::theme::{select, Graph, Helmfile, Release, Selector, Theme};
use proptest::prelude::*;

fn release(i: usize, needs: &[usize]) -> Release {
    Release {
        name: format!("r{i}"),
        namespace: Some(if i.is_multiple_of(2) { "even" } else { "odd" }.to_string()),
        chart: "c/x".into(),
        version: None,
        labels: BTreeMap::from([("mod3".to_string(), (i % 3).to_string())]),
        needs: needs
            .iter()
            .map(|n| format!("{}/r{n}", if n.is_multiple_of(2) { "even" } else { "odd" }))
            .collect(),
        installed: true,
        helm: Default::default(),
        hooks: Vec::new(),
        kube_context: None,
        values: Vec::new(),
        secrets: Vec::new(),
        missing_file_handler: None,
        line: i as u32 + 1,
    }
}

/// Release `i` may need any release `j < i`: acyclic by construction.
fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..14).prop_flat_map(|n| {
        (0..n)
            .map(|i| prop::collection::btree_set(0..i.max(1), 0..=i.min(3)))
            .collect::<Vec<_>>()
            .prop_map(|sets| {
                sets.into_iter()
                    .enumerate()
                    .map(|(i, s)| s.into_iter().filter(|&j| j < i).collect())
                    .collect()
            })
    })
}

fn themes(needs: &[Vec<usize>]) -> Vec<Theme> {
    // Two themes, so needs cross theme boundaries.
    let split = needs.len() / 2;
    let mk = |name: &str, range: std::ops::Range<usize>| Theme {
        name: name.into(),
        dir: PathBuf::from(name),
        helmfile: Helmfile {
            path: PathBuf::from(format!("{name}/helmfile.yaml")),
            repositories: Vec::new(),
            environments: Vec::new(),
            releases: range.map(|i| release(i, &needs[i])).collect(),
            helmfiles: Vec::new(),
            missing_file_handler: None,
            default_kube_context: None,
            helm_defaults: Default::default(),
            hooks: Vec::new(),
            notes: Vec::new(),
        },
        selectors: None,
    };
    vec![mk("a", 0..split), mk("b", split..needs.len())]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn waves_respect_needs_and_order(needs in dag()) {
        let themes = themes(&needs);
        let graph = Graph::build(&themes).unwrap();
        let plan = graph.plan_all();
        let mut wave_of = BTreeMap::new();
        for (w, wave) in plan.waves.iter().enumerate() {
            prop_assert!(!wave.is_empty());
            prop_assert!(wave.windows(2).all(|p| p[0] < p[1]));
            for &i in wave {
                prop_assert!(wave_of.insert(i, w).is_none());
            }
        }
        prop_assert_eq!(wave_of.len(), needs.len());
        for (i, node) in graph.nodes().iter().enumerate() {
            for &n in &node.needs {
                prop_assert!(wave_of[&n] < wave_of[&i]);
            }
            // Each release is as early as its needs allow.
            let earliest = node.needs.iter().map(|n| wave_of[n] + 1).max().unwrap_or(0);
            prop_assert_eq!(wave_of[&i], earliest);
        }
        let batches = plan.batches(2);
        prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 2));
        prop_assert_eq!(batches.concat(), plan.waves.concat());
    }

    #[test]
    fn include_needs_is_closed(needs in dag(), m in 0usize..3) {
        let themes = themes(&needs);
        let graph = Graph::build(&themes).unwrap();
        let sel = [Selector::parse(&format!("mod3={m}")).unwrap()];
        let direct = select(&graph, &sel, false);
        let closed = select(&graph, &sel, true);
        prop_assert!(direct.is_subset(&closed));
        for &i in &closed {
            for n in &graph.nodes()[i].needs {
                prop_assert!(closed.contains(n));
            }
        }
        // A selection's plan holds exactly the selection.
        let planned: BTreeSet<usize> = graph.plan(&direct).waves.concat().into_iter().collect();
        prop_assert_eq!(planned, direct);
    }

    #[test]
    fn a_back_edge_is_a_cycle(needs in dag()) {
        prop_assume!(needs.iter().any(|n| !n.is_empty()));
        let (i, j) = needs
            .iter()
            .enumerate()
            .find_map(|(i, n)| n.iter().next().map(|&j| (i, j)))
            .unwrap();
        let mut needs = needs.clone();
        needs[j].push(i);
        let e = Graph::build(&themes(&needs)).unwrap_err().to_string();
        prop_assert!(e.contains("is part of a needs cycle"), "{}", e);
    }
}
