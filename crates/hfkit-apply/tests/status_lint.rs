//! `status`, `lint` and `--changed-since` against the real control plane and helm 3.

mod common;

use common::*;
use hfkit_apply::plan;
use hfkit_apply::status::{status_all, Sync};

fn status(repo: &TestRepo, state: &str) -> Vec<(String, Sync)> {
    let cp = cluster();
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    let prepared = plan::prepare(&planned).unwrap();
    let kube = hfkit_kube::KubeOptions {
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        ..Default::default()
    };
    let s = runtime()
        .block_on(status_all(&planned, &prepared, &kube, state))
        .unwrap();
    eprintln!("{}", hfkit_apply::status::text(&s));
    s.into_iter().map(|s| (s.release, s.sync)).collect()
}

#[test]
fn status_follows_inputs_and_manual_helm_changes() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-status");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::new();
    assert_eq!(
        status(&repo, &state),
        vec![
            ("base".into(), Sync::NotApplied),
            ("web".into(), Sync::NotApplied)
        ]
    );
    apply(&repo.target(&["apps"]), &options(cp, helm.helm(), &state));
    helm.reset();
    assert_eq!(
        status(&repo, &state),
        vec![("base".into(), Sync::InSync), ("web".into(), Sync::InSync)]
    );
    assert!(helm.calls().is_empty(), "status ran helm");
    repo.write("helmfiles/apps/values/web/common.yaml", "greeting: new\n");
    assert_eq!(status(&repo, &state)[1], ("web".into(), Sync::OutOfSync));
    // A helm upgrade made by hand is drift, and the next apply repairs it.
    let out = std::process::Command::new(helm.bin())
        .env("KUBECONFIG", cp.kubeconfig_path())
        .args([
            "upgrade",
            "base",
            repo.path("charts/simple").to_str().unwrap(),
            "-n",
            &ns,
            "--set",
            "greeting=manual",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(&repo, &state)[0], ("base".into(), Sync::Drifted));
    let r = apply(&repo.target(&["apps"]), &options(cp, helm.helm(), &state));
    assert_eq!(
        outcomes(&r),
        vec![("base".into(), "upgraded"), ("web".into(), "upgraded")]
    );
    assert_eq!(
        configmap(cp, &ns, "base-settings", "greeting").as_deref(),
        Some("hello")
    );
}

#[test]
fn lint_finds_hostpath_stateful_without_pvc_and_needs_on_uninstalled() {
    let repo = TestRepo::new("basic", "lint-ns");
    repo.write(
        "charts/simple/templates/workloads.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-d\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: x}]\n      volumes:\n      - name: data\n        hostPath: {path: /srv/data}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}-s\nspec:\n  serviceName: s\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: x}]\n",
    );
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        "releases:\n- name: base\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  installed: false\n- name: web\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  needs: [base]\n",
    );
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    let prepared = plan::prepare(&planned).unwrap();
    let helm = CountingHelm::new();
    let findings = hfkit_apply::lint::lint(&planned, &prepared, &helm.helm());
    let text = hfkit_apply::lint::text(&findings);
    eprintln!("{text}");
    assert!(
        text.contains("apps/web: [needs] needs apps/base which is `installed: false`"),
        "{text}"
    );
    assert!(
        text.contains("[hostpath] Deployment.apps/web-d mounts hostPath /srv/data"),
        "{text}"
    );
    assert!(text.contains("[no-pvc] StatefulSet.apps/web-s"), "{text}");
    // Notes (how hfapply differs from helmfile) do not count.
    assert_eq!(
        findings.iter().filter(|f| f.is_error()).count(),
        3,
        "{text}"
    );
}

#[test]
fn changed_since_selects_releases_whose_files_changed() {
    let repo = TestRepo::new("basic", "changed-ns");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(repo.root())
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let picked = |rev: &str| -> Vec<String> {
        let mut t = repo.target(&["apps"]);
        t.changed_since = Some(rev.into());
        let planned = plan::load(&t).unwrap();
        planned
            .nodes()
            .map(|n| planned.graph.nodes()[n].release.name.clone())
            .collect()
    };
    assert!(picked("HEAD").is_empty());
    repo.write(
        "helmfiles/apps/values/web/common.yaml",
        "greeting: changed\n",
    );
    assert_eq!(picked("HEAD"), ["web"]);
    repo.write(
        "helmfiles/apps/values/base/raw/new.pre.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    assert_eq!(picked("HEAD"), ["base", "web"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "two"]);
    assert!(picked("HEAD").is_empty());
    // The shared chart changed: both releases.
    repo.write("charts/simple/values.yaml", "greeting: other\n");
    assert_eq!(picked("HEAD"), ["base", "web"]);
    let e = {
        let mut t = repo.target(&["apps"]);
        t.changed_since = Some("no-such-ref".into());
        plan::load(&t).unwrap_err().to_string()
    };
    assert!(
        e.starts_with("--changed-since:") && e.lines().count() == 1,
        "{e}"
    );
}
