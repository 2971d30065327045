//! helmfile's helm settings and hooks against the real helm and the real control
//! plane: what reaches helm's argv (read by a recording wrapper around the real
//! binary, which then runs), what helm then does, and which events run which hooks.

mod common;

use common::*;

const HOOK_SCRIPT: &str =
    "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/hook.log\"\necho \"ran $1\"\n";

/// A one-release theme `apps` using chart `simple`, with `release_extra` keys in the
/// release and `file_extra` top-level keys.
fn repo(ns: &str, file_extra: &str, release_extra: &str) -> TestRepo {
    let repo = TestRepo::new("basic", ns);
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        &format!(
            "{file_extra}\nreleases:\n- name: web\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n{release_extra}"
        ),
    );
    repo
}

fn hook_log(repo: &TestRepo) -> Vec<String> {
    std::fs::read_to_string(repo.path("helmfiles/apps/hook.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn upgrade_call(helm: &CountingHelm) -> String {
    let calls = helm.calls();
    calls
        .iter()
        .find(|c| c.starts_with("upgrade"))
        .cloned()
        .unwrap_or_else(|| panic!("no helm upgrade in {calls:?}"))
}

#[test]
fn helm_defaults_and_release_settings_reach_the_real_helm() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-keys");
    let repo = repo(
        &ns,
        "helmDefaults:\n  wait: true\n  timeout: 300\n  historyMax: 2\n  cleanupOnFail: true\n",
        "  timeout: 120\n  description: from-hfapply\n  set:\n  - name: greeting\n    value: a,b\n",
    );
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);
    let first = apply(&target, &opts);
    assert_eq!(outcomes(&first), vec![("web".into(), "installed")]);
    let call = upgrade_call(&helm);
    for flag in [
        "--wait",
        "--timeout 120s",
        "--cleanup-on-fail",
        "--create-namespace",
        "--description from-hfapply",
        "--set greeting=a\\,b",
        "--reset-values",
        "--history-max 2",
    ] {
        assert!(call.contains(flag), "{flag} missing in: {call}");
    }
    assert!(
        !call.contains("--timeout 300s"),
        "the release's timeout wins: {call}"
    );
    // helm acted on them: the --set value reached the chart, the description the
    // release.
    assert_eq!(
        configmap(cp, &ns, "web-settings", "greeting").as_deref(),
        Some("a,b")
    );
    let history = std::process::Command::new(hfkit_testcluster::peer("helm3"))
        .args(["history", "web", "-n", &ns, "-o", "json", "--kubeconfig"])
        .arg(cp.kubeconfig_path())
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("from-hfapply"), "{history}");

    // Changing only the timeout is a change; the same inputs again are not.
    helm.reset();
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        &std::fs::read_to_string(repo.path("helmfiles/apps/helmfile.yaml"))
            .unwrap()
            .replace("timeout: 120", "timeout: 90"),
    );
    let changed = apply(&target, &opts);
    assert_eq!(outcomes(&changed), vec![("web".into(), "upgraded")]);
    assert!(upgrade_call(&helm).contains("--timeout 90s"));
    helm.reset();
    let same = apply(&target, &opts);
    assert_eq!(outcomes(&same), vec![("web".into(), "unchanged")]);
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());
    // Two more upgrades: four revisions written, historyMax: 2 keeps two of them.
    for (from, to) in [
        ("timeout: 90", "timeout: 80"),
        ("timeout: 80", "timeout: 70"),
    ] {
        let text = std::fs::read_to_string(repo.path("helmfiles/apps/helmfile.yaml")).unwrap();
        repo.write("helmfiles/apps/helmfile.yaml", &text.replace(from, to));
        assert_eq!(
            outcomes(&apply(&target, &opts)),
            vec![("web".into(), "upgraded")]
        );
    }
    let secrets = std::process::Command::new(hfkit_testcluster::peer("helm3"))
        .args(["history", "web", "-n", &ns, "--kubeconfig"])
        .arg(cp.kubeconfig_path())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&secrets.stdout).lines().count();
    assert_eq!(lines, 3, "a header and two of the four revisions");
}

#[test]
fn helm_4_gets_its_own_spelling_of_force_and_atomic() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-keys4");
    let repo = repo(&ns, "helmDefaults:\n  force: true\n", "  atomic: true\n");
    let helm = CountingHelm::of_peer("helm4", "");
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let first = apply(&repo.target(&["apps"]), &opts);
    assert_eq!(
        outcomes(&first),
        vec![("web".into(), "installed")],
        "{first:?}"
    );
    let call = upgrade_call(&helm);
    assert!(call.contains("--force-replace"), "{call}");
    assert!(call.contains("--rollback-on-failure"), "{call}");
    assert!(!call.contains("--atomic"), "{call}");
    assert!(helm.calls().iter().any(|c| c.starts_with("version")));
}

#[test]
fn hooks_run_on_helmfiles_events_and_a_noop_runs_only_prepare_and_cleanup() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-hooks");
    let repo = repo(
        &ns,
        "",
        "  hooks:\n  - events: [prepare, presync, postsync, cleanup]\n    showlogs: true\n    command: ./hook.sh\n    args: ['{{`{{ .Event.Name }}`}}', '{{`{{ .Release.Name }}`}}', '{{`{{ .Release.Namespace }}`}}', '{{ .Environment.Name }}']\n",
    );
    repo.write("helmfiles/apps/hook.sh", HOOK_SCRIPT);
    make_executable(&repo.path("helmfiles/apps/hook.sh"));
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);
    let first = apply(&target, &opts);
    assert_eq!(outcomes(&first), vec![("web".into(), "installed")]);
    assert_eq!(
        hook_log(&repo),
        ["prepare", "presync", "postsync", "cleanup"].map(|e| format!("{e} web {ns} default"))
    );
    let events: Vec<&str> = first.results[0]
        .hooks
        .iter()
        .map(|h| h.event.as_str())
        .collect();
    assert_eq!(events, ["prepare", "presync", "postsync", "cleanup"]);
    assert_eq!(first.results[0].hooks[1].output.trim(), "ran presync");

    std::fs::remove_file(repo.path("helmfiles/apps/hook.log")).unwrap();
    helm.reset();
    let second = apply(&target, &opts);
    assert_eq!(outcomes(&second), vec![("web".into(), "unchanged")]);
    assert_eq!(
        hook_log(&repo),
        ["prepare", "cleanup"].map(|e| format!("{e} web {ns} default"))
    );
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());

    // The hook script is an input: changing it makes the release changed.
    repo.write("helmfiles/apps/hook.sh", &format!("{HOOK_SCRIPT}# v2\n"));
    let third = apply(&target, &opts);
    assert_eq!(outcomes(&third), vec![("web".into(), "upgraded")]);
}

#[test]
fn a_failing_presync_hook_fails_its_release_before_helm_runs() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-hookfail");
    let repo = repo(
        &ns,
        "",
        "  hooks:\n  - name: gate\n    events: [presync]\n    command: sh\n    args: ['-c', 'echo refusing; exit 3']\n  - name: after\n    events: [postsync]\n    showlogs: true\n    command: sh\n    args: ['-c', 'echo postsync ran key=${SOPS_AGE_KEY_FILE:-unset}']\n",
    );
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let report = apply(&repo.target(&["apps"]), &opts);
    assert_eq!(outcomes(&report), vec![("web".into(), "failed")]);
    let detail = report.results[0].detail.clone().unwrap_or_default();
    assert!(
        detail.starts_with("hook[gate]: command `sh` failed: exit status: 3"),
        "{detail}"
    );
    assert_eq!(report.results[0].hooks[0].output.trim(), "refusing");
    // As helmfile: postsync runs after a failed presync too.
    assert_eq!(report.results[0].hooks[1].event, "postsync");
    // The test process has SOPS_AGE_KEY_FILE set (common::cluster); hooks never get it.
    assert!(std::env::var_os("SOPS_AGE_KEY_FILE").is_some());
    assert_eq!(
        report.results[0].hooks[1].output.trim(),
        "postsync ran key=unset"
    );
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// One release per honoured helm key (and `helmDefaults` `args`/`syncArgs`): each
/// release's `helm upgrade` carries the flag helmfile 1.7.4 passes, and the real helm
/// accepts it (every release installs).
#[test]
fn every_honoured_helm_key_reaches_the_real_helm() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-everykey");
    let cases: &[(&str, &str, &str)] = &[
        ("k-jobs", "waitForJobs: true", "--wait-for-jobs"),
        ("k-cleanup", "cleanupOnFail: true", "--cleanup-on-fail"),
        (
            "k-openapi",
            "disableOpenAPIValidation: true",
            "--disable-openapi-validation",
        ),
        (
            "k-schema",
            "skipSchemaValidation: true",
            "--skip-schema-validation",
        ),
        ("k-owner", "takeOwnership: true", "--take-ownership"),
        ("k-dns", "enableDNS: true", "--enable-dns"),
        ("k-devel", "devel: true", "--devel"),
        ("k-reuse", "reuseValues: true", "--reuse-values"),
        ("k-history", "historyMax: 4", "--history-max 4"),
        ("k-desc", "description: hello", "--description hello"),
        ("k-nons", "createNamespace: false", "--reset-values"),
        (
            "k-setstr",
            "setString: [{name: greeting, value: '007'}]",
            "--set-string greeting=007",
        ),
        (
            "k-setlist",
            "set: [{name: list, values: [a, b]}]",
            "--set list={a,b}",
        ),
        (
            "k-setfile",
            "set: [{name: greeting, file: greeting.txt}]",
            "--set-file greeting=",
        ),
        (
            "k-post",
            "postRenderer: ./post.sh\n  postRendererArgs: [x]",
            "--post-renderer-args=x",
        ),
        ("k-timeout", "timeout: 77", "--timeout 77s"),
        ("k-wait", "wait: true", "--wait"),
    ];
    let mut releases = String::new();
    for (name, key, _) in cases {
        releases.push_str(&format!(
            "- name: {name}\n  namespace: NAMESPACE\n  chart: ../../charts/simple\n  {key}\n"
        ));
    }
    let repo = TestRepo::new("basic", &ns);
    repo.write(
        "helmfiles/apps/helmfile.yaml",
        &format!(
            "helmDefaults:\n  args: ['--burst-limit 150']\n  syncArgs: [--render-subchart-notes]\n  skipCRDs: true\nreleases:\n{releases}"
        ),
    );
    repo.write("helmfiles/apps/greeting.txt", "from-a-file");
    repo.write("helmfiles/apps/post.sh", "#!/bin/sh\ncat\n");
    make_executable(&repo.path("helmfiles/apps/post.sh"));
    let helm = CountingHelm::new();
    let mut opts = options(cp, helm.helm(), &format!("{ns}-state"));
    opts.concurrency = 8;
    let report = apply(&repo.target(&["apps"]), &opts);
    for r in &report.results {
        assert_eq!(
            r.outcome.as_str(),
            "installed",
            "{}: {:?}",
            r.release,
            r.detail
        );
    }
    let calls = helm.calls();
    for (name, _, flag) in cases {
        let call = calls
            .iter()
            .find(|c| c.starts_with(&format!("upgrade --install {name} ")))
            .unwrap_or_else(|| panic!("no upgrade of {name} in {calls:?}"));
        assert!(call.contains(flag), "{name}: {flag} missing in {call}");
        assert!(call.contains("--render-subchart-notes"), "syncArgs: {call}");
        assert!(
            call.contains("--skip-crds"),
            "helmDefaults.skipCRDs: {call}"
        );
        assert!(
            call.contains("--burst-limit 150"),
            "helmDefaults.args: {call}"
        );
    }
    let nons = calls.iter().find(|c| c.contains(" k-nons ")).unwrap();
    assert!(!nons.contains("--create-namespace"), "{nons}");
    // helm acted on them: the file's content and the string reached the chart.
    assert_eq!(
        configmap(cp, &ns, "k-setfile-settings", "greeting").as_deref(),
        Some("from-a-file")
    );
    assert_eq!(
        configmap(cp, &ns, "k-setstr-settings", "greeting").as_deref(),
        Some("007")
    );
}

/// `lint` renders as `helmfile lint`/`template` would: `kubeVersion`, `apiVersions` and
/// `helmDefaults.templateArgs` reach the real `helm template`, which honours them; the
/// keys where we differ are notes that do not fail lint.
#[test]
fn lint_renders_with_helmfiles_template_flags() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-lintkeys");
    let repo = repo(
        &ns,
        "helmDefaults:\n  templateArgs: [--include-crds]\n",
        "  kubeVersion: v1.29.4\n  apiVersions: [example.com/v1]\n  disableValidation: true\n",
    );
    repo.write(
        "charts/simple/templates/kv.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-kv\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  api: {{ .Capabilities.APIVersions.Has \"example.com/v1\" | quote }}\n",
    );
    let helm = CountingHelm::new();
    let planned = hfkit_apply::plan::load(&repo.target(&["apps"])).unwrap();
    let prepared = hfkit_apply::plan::prepare(&planned).unwrap();
    let findings = hfkit_apply::lint::lint(&planned, &prepared, &helm.helm());
    assert!(findings.iter().all(|f| !f.is_error()), "{findings:?}");
    assert!(
        findings
            .iter()
            .any(|f| f.check == "differs" && f.message.contains("releases[0].disableValidation")),
        "{findings:?}"
    );
    let calls = helm.calls();
    let template = calls.iter().find(|c| c.starts_with("template")).unwrap();
    for flag in [
        "--kube-version v1.29.4",
        "--api-versions example.com/v1",
        "--include-crds",
    ] {
        assert!(template.contains(flag), "{flag} missing in {template}");
    }
    // What helm rendered with them.
    let out = std::process::Command::new(helm.bin())
        .args(template.split(' '))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(rendered.contains("kube: \"v1.29.4\""), "{rendered}");
    assert!(rendered.contains("api: \"true\""), "{rendered}");
}
