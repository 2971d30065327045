//! Our merge equals helm's: random stacks of layers are rendered by the real helm 3 and
//! helm 4 twice — once given the layers as `-f` files, once given our merged file — and
//! the outputs (`toYaml .Values` after coalescing with chart defaults) must be equal.

mod common;

use common::{layer, to_yaml, Gen};
use hfkit::values::{merge_all, parse_values};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::Path;
use std::process::Command;

const CHART_VALUES: &str = "a:\n  b: 1\n  c: [1, 2]\n  d:\n    e: keep\nb: chart-default\nd:\n  e:\n    a: 1\n    f: keep\nreplicas: 1\nf: {}\n";

fn write_chart(dir: &Path) {
    let chart = dir.join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: echo\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), CHART_VALUES).unwrap();
    std::fs::write(
        chart.join("templates/values.yaml"),
        "{{ toYaml .Values }}\n",
    )
    .unwrap();
}

fn helm_template(helm: &Path, dir: &Path, files: &[String]) -> String {
    let mut cmd = Command::new(helm);
    cmd.current_dir(dir)
        .env("HELM_CACHE_HOME", dir.join("home/cache"))
        .env("HELM_CONFIG_HOME", dir.join("home/config"))
        .env("HELM_DATA_HOME", dir.join("home/data"))
        .args(["template", "r", "./chart"]);
    for f in files {
        cmd.args(["-f", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check_stack(helm: &Path, layers: &[Gen]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    write_chart(dir.path());
    let mut files = Vec::new();
    let mut trees = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let text = to_yaml(l);
        let name = format!("layer{i}.yaml");
        std::fs::write(dir.path().join(&name), &text).unwrap();
        trees.push(parse_values(&text, i as u32).unwrap());
        files.push(name);
    }
    let merged = hfkit::values::to_yaml(&merge_all(trees));
    std::fs::write(dir.path().join("merged.yaml"), &merged).unwrap();
    let theirs = helm_template(helm, dir.path(), &files);
    let ours = helm_template(helm, dir.path(), &["merged.yaml".to_string()]);
    prop_assert_eq!(ours, theirs, "merged file:\n{}", merged);
    Ok(())
}

fn run_for(major: u32) {
    let helm = hfkit_testcluster::peer(&format!("helm{major}"));
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(layer(), 1..6), |layers| {
            check_stack(&helm, &layers)
        })
        .unwrap();
}

#[test]
fn merge_matches_helm3() {
    run_for(3);
}

#[test]
fn merge_matches_helm4() {
    run_for(4);
}

#[test]
fn nulls_remove_chart_defaults_through_our_merged_file() {
    // The property test above compares helm with helm; this pins the behaviour that
    // matters most so the comparison cannot pass by both sides ignoring nulls.
    let helm = hfkit_testcluster::peer("helm3");
    let dir = tempfile::tempdir().unwrap();
    write_chart(dir.path());
    let base = parse_values("a:\n  b: 5\n", 0).unwrap();
    let over = parse_values("a:\n  b: null\nb: ~\n", 1).unwrap();
    let merged = hfkit::values::to_yaml(&merge_all([base, over]));
    assert_eq!(merged, "a:\n  b: null\nb: ~\n");
    std::fs::write(dir.path().join("merged.yaml"), &merged).unwrap();
    let out = helm_template(&helm, dir.path(), &["merged.yaml".to_string()]);
    assert!(!out.contains("chart-default"), "{out}");
    assert!(
        out.contains("a:\n  c:\n  - 1\n  - 2\n  d:\n    e: keep\n"),
        "{out}"
    );
}

#[test]
fn anchors_aliases_and_merge_keys_resolve_as_helm_reads_them() {
    // README claims we resolve these as helm's reader does: helm given the layers as
    // `-f` files and helm given our merged file must render the same values.
    let layers = [
        "defaults: &defaults\n  image: {tag: \"1.0\", pullPolicy: IfNotPresent}\n  replicas: 2\nweb:\n  <<: *defaults\n  replicas: 3\nhosts: &hosts [a.example, b.example]\n",
        "worker:\n  ports: &p [80, 443]\n  again: *p\n",
        "base: &b {x: 1, v: {z: 2}}\nderived:\n  <<: [*b, {w: 0, x: 9}]\n  v: {q: 3}\n",
    ];
    for major in [3, 4] {
        let helm = hfkit_testcluster::peer(&format!("helm{major}"));
        let dir = tempfile::tempdir().unwrap();
        write_chart(dir.path());
        let mut files = Vec::new();
        let mut trees = Vec::new();
        for (i, text) in layers.iter().enumerate() {
            let name = format!("layer{i}.yaml");
            std::fs::write(dir.path().join(&name), text).unwrap();
            trees.push(parse_values(text, i as u32).unwrap());
            files.push(name);
        }
        let merged = hfkit::values::to_yaml(&merge_all(trees));
        assert!(
            !merged.contains('&') && !merged.contains('*') && !merged.contains("<<"),
            "{merged}"
        );
        std::fs::write(dir.path().join("merged.yaml"), &merged).unwrap();
        let theirs = helm_template(&helm, dir.path(), &files);
        let ours = helm_template(&helm, dir.path(), &["merged.yaml".to_string()]);
        assert_eq!(ours, theirs, "helm {major}, merged file:\n{merged}");
        // The merge keys did something: explicit keys win, the first source wins.
        assert!(
            theirs.contains(
                "web:\n  image:\n    pullPolicy: IfNotPresent\n    tag: \"1.0\"\n  replicas: 3\n"
            ),
            "{theirs}"
        );
        assert!(
            theirs.contains("derived:\n  v:\n    q: 3\n  w: 0\n  x: 1\n"),
            "{theirs}"
        );
    }
}

#[test]
fn fuzz_found_scalars_reach_helm_unchanged() {
    // Inputs the values_merge fuzz target found (fuzz/regressions/values_merge/): a plain scalar folded over
    // a blank line (a string with a newline) and empty or typed scalars under the
    // non-specific tag `!`. helm given the layer and helm given our emitted file must
    // render the same values; and our emitted file reads back as the same tree.
    let layers: [&str; 4] = [
        "a:\n  b:-\n\n |\n",
        "t: !\nu: ! 1\nl: [! , ! true, ! ~]\ns: !!str\n",
        // Found as `[!]`, which go-yaml reads as the tag `!]` and refuses (yaml-rust2, by
        // YAML 1.2, ends a tag at a flow indicator): written so both accept it.
        "k:\n  GF_S{}}l: [! ]\nm: plain\n\n  folded\n",
        // A key longer than YAML's 1024-character implicit-key limit.
        &format!(
            "? \"{}\"\n: 1\nn:\n  ? {}\n  : {{x: 2}}\n",
            "k\\t".repeat(300),
            "y".repeat(1100)
        ),
    ];
    for major in [3, 4] {
        let helm = hfkit_testcluster::peer(&format!("helm{major}"));
        for (i, text) in layers.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            write_chart(dir.path());
            std::fs::write(dir.path().join("layer.yaml"), text).unwrap();
            let tree = parse_values(text, 0).unwrap();
            let emitted = hfkit::values::to_yaml(&tree);
            let again = parse_values(&emitted, 0).unwrap();
            assert!(tree.same_content(&again), "layer {i}: emitted\n{emitted}");
            std::fs::write(dir.path().join("ours.yaml"), &emitted).unwrap();
            let theirs = helm_template(&helm, dir.path(), &["layer.yaml".to_string()]);
            let ours = helm_template(&helm, dir.path(), &["ours.yaml".to_string()]);
            assert_eq!(ours, theirs, "helm {major}, layer {i}, emitted:\n{emitted}");
        }
        // The fuzz input also held a control character: helm refuses it, so do we.
        let dir = tempfile::tempdir().unwrap();
        write_chart(dir.path());
        std::fs::write(dir.path().join("ctl.yaml"), "k: a\u{5}b\n").unwrap();
        let out = Command::new(&helm)
            .current_dir(dir.path())
            .env("HELM_CACHE_HOME", dir.path().join("home/cache"))
            .env("HELM_CONFIG_HOME", dir.path().join("home/config"))
            .env("HELM_DATA_HOME", dir.path().join("home/data"))
            .args(["template", "r", "./chart", "-f", "ctl.yaml"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("control characters are not allowed"),
            "{err}"
        );
        let ours = parse_values("k: a\u{5}b\n", 0).unwrap_err();
        assert!(
            ours.message.contains("U+0005") && ours.line == 1 && ours.col == 5,
            "{ours}"
        );
    }
}
