//! `apply_all` against the real control plane and the real helm 3.

mod common;

use std::time::Instant;

use common::*;

#[test]
fn installs_in_needs_order_then_noop_costs_no_helm() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-basic");
    let repo = TestRepo::new("basic", &ns);
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: s3cr3t-web\n",
    );
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);

    let first = apply(&target, &opts);
    assert_eq!(
        outcomes(&first),
        vec![("base".into(), "installed"), ("web".into(), "installed")]
    );
    assert_eq!(
        configmap(cp, &ns, "web-settings", "greeting").as_deref(),
        Some("hello-web")
    );
    assert_eq!(
        configmap(cp, &ns, "base-settings", "greeting").as_deref(),
        Some("hello")
    );
    assert_eq!(
        secret(cp, &ns, "web-secret", "password").as_deref(),
        Some("s3cr3t-web")
    );
    // The pre raw manifest went to the release namespace.
    assert_eq!(
        configmap(cp, &ns, "base-pre", "phase").as_deref(),
        Some("pre")
    );
    // helm was called exactly once per release.
    assert_eq!(helm.calls().len(), 2, "{:?}", helm.calls());

    // No-op: no helm process at all.
    helm.reset();
    let t = Instant::now();
    let second = apply(&target, &opts);
    let noop = t.elapsed();
    eprintln!("no-op apply of 2 releases: {noop:?}");
    assert_eq!(
        outcomes(&second),
        vec![("base".into(), "unchanged"), ("web".into(), "unchanged")]
    );
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());

    // Another checkout of the same repository (CI clones elsewhere) is unchanged too.
    let moved = tempfile::tempdir().unwrap();
    let cp_out = std::process::Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", repo.root().display()))
        .arg(moved.path())
        .status()
        .unwrap();
    assert!(cp_out.success());
    let mut elsewhere = target.clone();
    elsewhere.root = moved.path().to_path_buf();
    let moved_run = apply(&elsewhere, &opts);
    assert!(moved_run
        .results
        .iter()
        .all(|r| r.outcome.as_str() == "unchanged"));
    assert!(helm.calls().is_empty());

    // A change of a secret value re-applies only that release.
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: rotated\n",
    );
    let third = apply(&target, &opts);
    assert_eq!(
        outcomes(&third),
        vec![("base".into(), "unchanged"), ("web".into(), "upgraded")]
    );
    assert_eq!(
        secret(cp, &ns, "web-secret", "password").as_deref(),
        Some("rotated")
    );

    // --force re-applies everything.
    helm.reset();
    let mut forced = opts.clone();
    forced.force = true;
    let fourth = apply(&target, &forced);
    assert_eq!(
        outcomes(&fourth),
        vec![("base".into(), "upgraded"), ("web".into(), "upgraded")]
    );
    assert_eq!(helm.calls().len(), 2);
}

#[test]
fn failure_skips_dependents_reports_others_and_rerun_converges() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-fail");
    let repo = TestRepo::new("basic", &ns);
    // A third, independent release; `base` is broken by a value its chart rejects.
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        "releases:\n- name: base\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n- name: web\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  needs: [base]\n- name: other\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n",
    );
    repo.write(
        "charts/simple/templates/fail.yaml",
        "{{ if .Values.boom }}{{ fail \"boom requested\" }}{{ end }}\n",
    );
    repo.write("helmfiles/apps/values/base/common.yaml", "boom: true\n");
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);
    let first = apply(&target, &opts);
    assert_eq!(
        outcomes(&first),
        vec![
            ("base".into(), "failed"),
            ("other".into(), "installed"),
            ("web".into(), "skipped")
        ]
    );
    assert!(first.failed());
    let base = &first.results[0];
    assert!(
        base.detail.as_deref().unwrap().contains("boom requested"),
        "{base:?}"
    );
    assert!(first.results[2]
        .detail
        .as_deref()
        .unwrap()
        .contains("apps/base"));
    let changed: Vec<&str> = first.changed().map(|r| r.release.as_str()).collect();
    assert_eq!(changed, ["other"]);
    let table = hfkit_apply::report::text(&first);
    assert!(
        table.contains("failed: helm upgrade --install base failed"),
        "{table}"
    );

    // Fixed: the re-run applies what is left and leaves `other` alone.
    repo.write("helmfiles/apps/values/base/common.yaml", "boom: false\n");
    let second = apply(&target, &opts);
    assert_eq!(
        outcomes(&second),
        vec![
            ("base".into(), "installed"),
            ("other".into(), "unchanged"),
            ("web".into(), "installed")
        ]
    );
    let third = apply(&target, &opts);
    assert!(third
        .results
        .iter()
        .all(|r| r.outcome.as_str() == "unchanged"));
}

#[test]
fn installed_false_uninstalls_and_raw_manifests_are_pruned() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-uninst");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);
    apply(&target, &opts);
    assert!(configmap(cp, &ns, "base-pre", "phase").is_some());

    // A raw manifest removed from the repository is pruned on the next apply.
    std::fs::remove_file(repo.path("helmfiles/apps/values/base/raw/extra.pre.yaml")).unwrap();
    let r = apply(&target, &opts);
    assert_eq!(outcomes(&r)[0], ("base".into(), "upgraded"));
    assert_eq!(r.results[0].raw_changes, 1);
    assert!(configmap(cp, &ns, "base-pre", "phase").is_none());

    repo.write(
        "helmfiles/apps/helmfile.yaml",
        "releases:\n- name: base\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  installed: false\n- name: web\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  needs: [base]\n  installed: false\n",
    );
    // Dependents first.
    let r = apply(&target, &opts);
    assert_eq!(
        outcomes(&r),
        vec![
            ("web".into(), "uninstalled"),
            ("base".into(), "uninstalled")
        ]
    );
    assert!(configmap(cp, &ns, "base-settings", "greeting").is_none());
    assert!(configmap(cp, &ns, "web-settings", "greeting").is_none());
    helm.reset();
    let r = apply(&target, &opts);
    assert_eq!(
        outcomes(&r),
        vec![("web".into(), "unchanged"), ("base".into(), "unchanged")]
    );
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());
}

#[test]
fn dry_run_changes_and_records_nothing() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-dry");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::new();
    let mut opts = options(cp, helm.helm(), &format!("{ns}-state"));
    opts.dry_run = true;
    let target = repo.target(&["apps"]);
    let r = apply(&target, &opts);
    assert_eq!(
        outcomes(&r),
        vec![("base".into(), "installed"), ("web".into(), "installed")]
    );
    assert!(r.dry_run);
    assert!(helm.calls().iter().all(|c| c.contains("--dry-run=server")));
    assert!(configmap(cp, &ns, "base-settings", "greeting").is_none());
    assert!(configmap(cp, &ns, "base-pre", "phase").is_none());
    // A real apply afterwards still installs.
    opts.dry_run = false;
    let r = apply(&target, &opts);
    assert_eq!(outcomes(&r)[0], ("base".into(), "installed"));
}

#[test]
fn report_formats_list_every_release() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-report");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let r = apply(&repo.target(&["apps"]), &opts);
    let json: serde_json::Value = serde_json::from_str(&hfkit_apply::report::json(&r)).unwrap();
    assert_eq!(json["results"][1]["release"], "web");
    assert_eq!(json["results"][1]["outcome"], "installed");
    assert_eq!(json["results"][1]["namespace"], ns.as_str());
    let md = hfkit_apply::report::markdown(&r);
    assert!(md.starts_with("| release | theme | namespace | result | duration | raw |"));
    assert!(
        md.contains(&format!("| web | apps | {ns} | installed |")),
        "{md}"
    );
    let text = hfkit_apply::report::text(&r);
    assert!(text.lines().next().unwrap().starts_with("RELEASE"));
    assert!(text.contains("2 release(s): 2 installed"), "{text}");
    assert!(text.contains("changed: apps/base, apps/web"), "{text}");
}

/// A generated repository of 5 themes x 10 releases (each needing the previous one,
/// one in five with an encrypted layer and a raw manifest): first apply, then a no-op
/// that runs no helm at all.
#[test]
fn generated_repo_of_50_releases_noop_runs_no_helm() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-gen");
    let repo = TestRepo::new("basic", &ns);
    let mut master = String::from("helmfiles:\n");
    for t in 0..5 {
        master.push_str(&format!("  - path: helmfiles/t{t}/helmfile.yaml\n"));
        let mut hf = String::from("releases:\n");
        for r in 0..10 {
            hf.push_str(&format!(
                "- name: t{t}r{r}\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n"
            ));
            if r > 0 {
                hf.push_str(&format!("  needs: [t{t}r{}]\n", r - 1));
            }
            repo.write(
                &format!("helmfiles/t{t}/values/t{t}r{r}/common.yaml"),
                &format!("greeting: hello-{t}-{r}\n"),
            );
            if r % 5 == 0 {
                repo.write_encrypted(
                    &format!("helmfiles/t{t}/values/t{t}r{r}/common.secrets.yaml"),
                    &format!("password: p-{t}-{r}\n"),
                );
                repo.write(
                    &format!("helmfiles/t{t}/values/t{t}r{r}/raw/cm.post.yaml"),
                    &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw-t{t}r{r}\n"),
                );
            }
        }
        repo.write(&format!("helmfiles/t{t}/helmfile.yaml"), &hf);
    }
    repo.write("helmfile.yaml", &master);
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let mut target = repo.target(&[]);
    target.all = true;
    let t = Instant::now();
    let first = apply(&target, &opts);
    eprintln!("first apply of 50 releases: {:?}", t.elapsed());
    assert!(first
        .results
        .iter()
        .all(|r| r.outcome.as_str() == "installed"));
    assert_eq!(first.results.len(), 50);
    assert_eq!(helm.calls().len(), 50);
    helm.reset();
    let t = Instant::now();
    let second = apply(&target, &opts);
    let noop = t.elapsed();
    eprintln!("no-op apply of 50 releases (plan, decrypt, fingerprint, 2 reads each): {noop:?}");
    assert!(second
        .results
        .iter()
        .all(|r| r.outcome.as_str() == "unchanged"));
    assert!(helm.calls().is_empty());

    let planned = hfkit_apply::plan::load(&target).unwrap();
    let prepared = hfkit_apply::plan::prepare(&planned).unwrap();
    let t = Instant::now();
    let d = runtime()
        .block_on(hfkit_apply::diff::diff_all(
            &planned,
            prepared,
            &hfkit_apply::diff::DiffOptions {
                kube: opts.kube.clone(),
                helm: helm.helm(),
                state_namespace: opts.state_namespace.clone(),
                context: 3,
                concurrency: 4,
                allow_prune: Default::default(),
            },
        ))
        .unwrap();
    eprintln!("diff of 50 releases after apply: {:?}", t.elapsed());
    assert!(!d.has_changes(), "{}", hfkit_apply::diff::text(&d, false));
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-ff");
    let repo = TestRepo::new("basic", &ns);
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        "releases:\n- name: base\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n- name: other\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  needs: [base]\n- name: web\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n",
    );
    repo.write(
        "charts/simple/templates/fail.yaml",
        "{{ if .Values.boom }}{{ fail \"boom\" }}{{ end }}\n",
    );
    repo.write("helmfiles/apps/values/web/common.yaml", "boom: true\n");
    let helm = CountingHelm::new();
    let mut opts = options(cp, helm.helm(), &format!("{ns}-state"));
    opts.fail_fast = true;
    let r = apply(&repo.target(&["apps"]), &opts);
    assert_eq!(
        outcomes(&r),
        vec![
            ("base".into(), "installed"),
            ("web".into(), "failed"),
            ("other".into(), "skipped")
        ]
    );
    assert!(r.results[2]
        .detail
        .as_deref()
        .unwrap()
        .contains("--fail-fast"));
}

/// A helm killed while upgrading leaves its release `pending-upgrade`, which plain
/// helm refuses to upgrade again; the next apply says so and names the flag, and with
/// `--recover-pending` rolls it back and upgrades.
#[test]
fn release_left_pending_by_a_killed_helm_is_recovered() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-pending");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    repo.write(
        "charts/simple/templates/deploy.yaml",
        "{{ if .Values.deploy }}apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-d\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: x}]\n{{ end }}\n",
    );
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &state);
    let target = repo.target(&["apps"]);
    apply(&target, &opts);
    // No nodes: the Deployment never becomes ready, so `--wait` keeps helm pending.
    let mut stuck = std::process::Command::new(hfkit_testcluster::peer("helm3"))
        .env("KUBECONFIG", cp.kubeconfig_path())
        .args([
            "upgrade",
            "base",
            repo.path("charts/simple").to_str().unwrap(),
        ])
        .args([
            "-n",
            &ns,
            "--set",
            "deploy=true",
            "--wait",
            "--timeout",
            "5m",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = || {
        runtime().block_on(async {
            hfkit_apply::cluster::helm_latest(&client(cp).await, &ns, "base")
                .await
                .unwrap()
        })
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while latest().map(|(_, s)| s) != Some("pending-upgrade".into()) {
        assert!(Instant::now() < deadline, "helm never went pending");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    stuck.kill().unwrap();
    stuck.wait().unwrap();
    assert_eq!(latest().unwrap().1, "pending-upgrade");
    helm.reset();
    let refused = apply(&target, &opts);
    assert_eq!(outcomes(&refused)[0], ("base".into(), "failed"));
    let why = refused.results[0].detail.clone().unwrap_or_default();
    assert!(
        why.starts_with(&format!("helm release {ns}/base is pending-upgrade for "))
            && why.contains("rerun with --recover-pending to roll it back"),
        "{why}"
    );
    assert!(helm.calls().is_empty(), "nothing run: {:?}", helm.calls());
    assert_eq!(latest().unwrap().1, "pending-upgrade");
    let mut opts = opts;
    opts.recover_pending = true;
    let r = apply(&target, &opts);
    assert!(
        helm.calls().iter().any(|c| c.starts_with("rollback base")),
        "{:?}",
        helm.calls()
    );
    assert_eq!(
        outcomes(&r)[0],
        ("base".into(), "upgraded"),
        "{:?}",
        r.results[0]
    );
    assert_eq!(latest().unwrap().1, "deployed");
    let r = apply(&target, &opts);
    assert_eq!(outcomes(&r)[0], ("base".into(), "unchanged"));
}

/// Releases of one wave run in parallel up to the concurrency.
#[test]
fn releases_of_a_wave_run_in_parallel() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-par");
    let repo = TestRepo::new("basic", &ns);
    let mut hf = String::from("releases:\n");
    for i in 0..4 {
        hf.push_str(&format!(
            "- name: p{i}\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n"
        ));
    }
    repo.write("helmfiles/apps/helmfile.yaml", &hf);
    let helm = CountingHelm::with_script("case \"$*\" in upgrade*) sleep 2;; esac");
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let t = Instant::now();
    let r = apply(&repo.target(&["apps"]), &opts);
    let took = t.elapsed();
    eprintln!("4 releases of 2 s each, concurrency 4: {took:?}");
    assert!(r.results.iter().all(|r| r.outcome.as_str() == "installed"));
    assert!(took.as_secs_f64() < 6.0, "not parallel: {took:?}");
}

/// The same cycle with helm 4: install, no-op without helm, change, diff empty after.
#[test]
fn helm4_installs_noops_and_diffs_empty() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-helm4");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    let helm = CountingHelm::of_peer("helm4", "");
    let opts = options(cp, helm.helm(), &state);
    let target = repo.target(&["apps"]);
    let r = apply(&target, &opts);
    assert_eq!(
        outcomes(&r),
        vec![("base".into(), "installed"), ("web".into(), "installed")]
    );
    helm.reset();
    let r = apply(&target, &opts);
    assert!(r.results.iter().all(|r| r.outcome.as_str() == "unchanged"));
    assert!(helm.calls().is_empty());
    repo.write("helmfiles/apps/values/web/common.yaml", "greeting: four\n");
    let r = apply(&target, &opts);
    assert_eq!(outcomes(&r)[1], ("web".into(), "upgraded"));
    assert_eq!(
        configmap(cp, &ns, "web-settings", "greeting").as_deref(),
        Some("four")
    );
    let planned = hfkit_apply::plan::load(&target).unwrap();
    let prepared = hfkit_apply::plan::prepare(&planned).unwrap();
    let d = runtime()
        .block_on(hfkit_apply::diff::diff_all(
            &planned,
            prepared,
            &hfkit_apply::diff::DiffOptions {
                kube: opts.kube.clone(),
                helm: helm.helm(),
                state_namespace: state.clone(),
                context: 3,
                concurrency: 4,
                allow_prune: Default::default(),
            },
        ))
        .unwrap();
    assert!(!d.has_changes(), "{}", hfkit_apply::diff::text(&d, false));
}
