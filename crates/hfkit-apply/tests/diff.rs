//! `diff_all` against the real control plane and the real helm 3.

mod common;

use common::*;
use hfkit_apply::diff::{diff_all, DiffOptions};
use hfkit_apply::plan;

fn diff(repo: &TestRepo, helm: &CountingHelm, state: &str) -> hfkit_apply::diff::DiffReport {
    let cp = cluster();
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    let prepared = plan::prepare(&planned).unwrap();
    let opts = DiffOptions {
        kube: hfkit_kube::KubeOptions {
            kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
            ..Default::default()
        },
        helm: helm.helm(),
        state_namespace: state.into(),
        context: 3,
        concurrency: 4,
        allow_prune: Default::default(),
    };
    runtime()
        .block_on(diff_all(&planned, prepared, &opts))
        .unwrap()
}

const HELMFILE: &str = "releases:
- name: web
  namespace: NAMESPACE
  chart: ../../charts/simple
  labels:
    tier: web
- name: gen
  namespace: NAMESPACE
  chart: ../../charts/random
  labels:
    hfapply.io/diff-ignore: ConfigMap/gen-stable
";

#[test]
fn diff_after_apply_is_empty_and_random_secrets_are_one_line() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-diff");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    repo.write("helmfiles/apps/helmfile.yaml", HELMFILE);
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: first-password\n",
    );
    let helm = CountingHelm::new();

    let before = diff(&repo, &helm, &state);
    assert!(before.has_changes());
    assert!(before.releases.iter().all(|r| !r.deployed));

    let opts = options(cp, helm.helm(), &state);
    apply(&repo.target(&["apps"]), &opts);

    let after = diff(&repo, &helm, &state);
    let text = hfkit_apply::diff::text(&after, false);
    eprintln!("{text}");
    assert!(!after.has_changes(), "{text}");
    assert!(text.contains("apps/web (namespace"), "{text}");
    assert!(
        text.contains("Secret/gen-generated: changes on every render"),
        "{text}"
    );

    // A real change shows; secret values never do.
    repo.write(
        "helmfiles/apps/values/web/common.yaml",
        "greeting: changed\n",
    );
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: second-password\n",
    );
    // An ignored object's change is a line, not a diff.
    repo.write("helmfiles/apps/values/gen/common.yaml", "k: other\n");
    let changed = diff(&repo, &helm, &state);
    let text = hfkit_apply::diff::text(&changed, false);
    eprintln!("{text}");
    assert!(changed.has_changes());
    assert!(text.contains("+  greeting: \"changed\""), "{text}");
    assert!(text.contains("redacted"), "{text}");
    assert!(!text.contains("first-password") && !text.contains("second-password"));
    assert!(
        text.contains("ConfigMap/gen-stable: changed, ignored (hfapply.io/diff-ignore)"),
        "{text}"
    );
    let gen = changed
        .releases
        .iter()
        .find(|r| r.release == "gen")
        .unwrap();
    assert!(!gen.has_changes());
    let json = hfkit_apply::diff::json(&changed);
    assert!(!json.contains("second-password"));
    let md = hfkit_apply::diff::markdown(&changed);
    assert!(
        md.contains("| web | apps |") && md.contains("```diff"),
        "{md}"
    );
}

#[test]
fn diff_shows_raw_manifest_changes_and_prunes() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-diffraw");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::new();
    apply(&repo.target(&["apps"]), &options(cp, helm.helm(), &state));
    assert!(!diff(&repo, &helm, &state).has_changes());
    std::fs::remove_file(repo.path("helmfiles/apps/values/base/raw/extra.pre.yaml")).unwrap();
    let d = diff(&repo, &helm, &state);
    let base = &d.releases[0];
    assert_eq!(base.raw.len(), 1, "{base:?}");
    assert_eq!(base.raw[0].change, "delete");
}
