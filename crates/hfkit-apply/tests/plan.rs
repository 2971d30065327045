//! Planning: selectors, --include-needs, --all, apply-last and removal phases.

mod common;

use common::*;
use hfkit_apply::plan;

fn names(planned: &plan::Planned, waves: &[Vec<usize>]) -> Vec<Vec<String>> {
    waves
        .iter()
        .map(|w| {
            w.iter()
                .map(|&n| planned.graph.nodes()[n].release.name.clone())
                .collect()
        })
        .collect()
}

#[test]
fn selectors_and_include_needs() {
    let repo = TestRepo::new("basic", "plan-ns");
    let mut t = repo.target(&["apps"]);
    t.selectors = vec!["name=web".into()];
    let p = plan::load(&t).unwrap();
    assert_eq!(names(&p, &p.plan.waves), [["web"]]);
    t.include_needs = true;
    let p = plan::load(&t).unwrap();
    assert_eq!(names(&p, &p.plan.waves), [["base"], ["web"]]);
    // A theme directory names the theme too.
    let p = plan::load(&repo.target(&["helmfiles/apps"])).unwrap();
    assert_eq!(p.plan.len(), 2);
    let e = plan::load(&repo.target(&[])).unwrap_err().to_string();
    assert_eq!(e, "name at least one theme, or pass --all");
}

#[test]
fn apply_last_and_removals_have_their_own_phases() {
    let repo = TestRepo::new("basic", "plan-ns");
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        "releases:
- name: runner
  chart: ../../charts/simple
  labels: {hfapply.io/apply-last: \"true\"}
- name: after-runner
  chart: ../../charts/simple
  needs: [runner]
- name: app
  chart: ../../charts/simple
- name: old
  chart: ../../charts/simple
  installed: false
- name: older
  chart: ../../charts/simple
  installed: false
  needs: [old]
",
    );
    let mut t = repo.target(&[]);
    t.all = true;
    let p = plan::load(&t).unwrap();
    assert_eq!(names(&p, &p.removals.waves), [["older"], ["old"]]);
    assert_eq!(names(&p, &p.plan.waves), [["app"]]);
    assert_eq!(names(&p, &p.last.waves), [["runner"], ["after-runner"]]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("after-runner needs an apply-last release")),
        "{:?}",
        p.warnings
    );
    let order: Vec<String> = p.nodes().map(|n| p.label(n)).collect();
    assert_eq!(
        order,
        [
            "apps/older",
            "apps/old",
            "apps/app",
            "apps/runner",
            "apps/after-runner"
        ]
    );
}
