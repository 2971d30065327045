//! The `kubectl-hfapply` binary against the real control plane and the real helm 3:
//! the bundled example, exit codes, two concurrent applies, an apply killed half way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hfkit_testcluster::{peer, ControlPlane};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kubectl-hfapply")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A helm wrapper logging its arguments to `log`, running `extra` shell first.
fn helm_wrapper(dir: &Path, extra: &str) -> PathBuf {
    let script = dir.join("helm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n{extra}\nexec '{}' \"$@\"\n",
            dir.join("log").display(),
            peer("helm3").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("log"), "").unwrap();
    script
}

fn helm_calls(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("log"))
        .unwrap()
        .lines()
        .count()
}

/// `kubectl-hfapply ARGS` plus the connection flags (after ARGS: a subcommand comes
/// first).
fn cmd(cp: &ControlPlane, helm: &Path, root: &Path, state: &str, args: &[&str]) -> Command {
    cmd_with(cp.kubeconfig_path(), helm, root, state, args)
}

fn cmd_with(kubeconfig: &Path, helm: &Path, root: &Path, state: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    c.env("HELM_BIN", helm)
        .env(
            "SOPS_AGE_KEY_FILE",
            workspace().join("examples/cluster-repo/demo-keys/age-demo-key.txt"),
        )
        .env_remove("HFAPPLY_ENV")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--state-namespace")
        .arg(state)
        .arg("-C")
        .arg(root);
    c
}

fn run(mut c: Command) -> Output {
    let out = c.output().unwrap();
    eprintln!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small repository: `first` and `second` (needs first) and, apply-last, `runner`.
fn write_repo(root: &Path, ns: &str) {
    let chart = root.join("charts/simple");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: simple\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  v: {{ .Values.v | default \"1\" | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n  - path: helmfiles/ci/helmfile.yaml\n",
    )
    .unwrap();
    let theme = root.join("helmfiles/ci");
    std::fs::create_dir_all(theme.join("values")).unwrap();
    std::fs::write(
        theme.join("helmfile.yaml"),
        format!(
            "releases:\n- name: first\n  namespace: {ns}\n  chart: ../../charts/simple\n- name: second\n  namespace: {ns}\n  chart: ../../charts/simple\n  needs: [first]\n- name: runner\n  namespace: {ns}\n  chart: ../../charts/simple\n  labels:\n    hfapply.io/apply-last: \"true\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn example_repo_applies_then_noop_runs_no_helm_and_diff_is_empty() {
    // The bundled example: three themes, needs across themes, plain and encrypted
    // layers, plain pre and encrypted post raw manifests.
    let cp = ControlPlane::shared();
    let state = cp.new_namespace("hfa-example-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "");
    let root = workspace().join("examples/cluster-repo");
    let out = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &["--all", "--env", "production"],
    ));
    assert_eq!(out.status.code(), Some(0));
    let table = stdout(&out);
    assert!(table.starts_with("RELEASE"), "{table}");
    for release in ["ingress", "grafana", "plex", "transmission"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(release) && l.contains("installed")),
            "{release}: {table}"
        );
    }
    assert_eq!(helm_calls(tmp.path()), 4);
    // needs order: ingress before what needs it.
    let pos = |r: &str| table.find(&format!("\n{r} ")).unwrap_or(usize::MAX);
    assert!(
        pos("ingress") < pos("grafana") && pos("ingress") < pos("plex"),
        "{table}"
    );
    assert!(pos("plex") < pos("transmission"), "{table}");
    // Raw manifests: the plain pre one and the decrypted post Secret.
    for path in [
        "/api/v1/namespaces/backbone/configmaps/ingress-tls-options",
        "/api/v1/namespaces/backbone/secrets/ingress-basic-auth",
    ] {
        let (code, body) = cp.request("GET", path, None).unwrap();
        assert_eq!(code, 200, "{path}: {body}");
    }

    let start = Instant::now();
    let out = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &["--all", "--env", "production", "-o", "json"],
    ));
    eprintln!("no-op apply of the example: {:?}", start.elapsed());
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r["outcome"] == "unchanged"),
        "{json}"
    );
    assert_eq!(helm_calls(tmp.path()), 4, "the no-op ran helm");

    let out = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &[
            "diff",
            "--all",
            "--env",
            "production",
            "--detailed-exitcode",
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff after apply is not empty: {}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("no changes"));
}

#[test]
fn exit_codes_and_markdown() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-exit");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    // Changes pending: diff exits 2 with --detailed-exitcode, 0 without.
    let out = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &["diff", "ci", "--detailed-exitcode", "-o", "markdown"],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("| first | ci |"));
    assert_eq!(
        run(cmd(cp, &helm, &root, &state, &["diff", "ci"]))
            .status
            .code(),
        Some(0)
    );
    // A bad input: one line, exit 1, nothing applied.
    let bad = run(cmd(cp, &helm, &root, &state, &["nope"]));
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stderr(&bad).trim(),
        "Error: theme `nope` not found (themes: ci)"
    );
    assert_eq!(
        helm_calls(tmp.path()),
        6,
        "only the diffs ran helm (template, 3 releases x 2)"
    );
    let out = run(cmd(cp, &helm, &root, &state, &["ci", "-o", "markdown"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains(&format!("| runner | ci | {ns} | installed |")),
        "{}",
        stdout(&out)
    );
    // A release failing: exit 1, the others still reported.
    std::fs::write(
        root.join("charts/simple/templates/bad.yaml"),
        "{{ if .Values.boom }}{{ fail \"boom\" }}{{ end }}\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("helmfiles/ci/values/second")).unwrap();
    std::fs::write(
        root.join("helmfiles/ci/values/second/common.yaml"),
        "boom: true\n",
    )
    .unwrap();
    let out = run(cmd(cp, &helm, &root, &state, &["ci"]));
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(
        table.contains("failed: helm upgrade --install second failed"),
        "{table}"
    );
    assert!(
        table.contains("first") && table.contains("runner"),
        "{table}"
    );
}

#[test]
fn second_concurrent_apply_waits_or_times_out() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-lock");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    // Every helm upgrade takes 3 s: the first apply holds the lock for ~9 s.
    let helm = helm_wrapper(tmp.path(), "case \"$*\" in upgrade*) sleep 3;; esac");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let first = cmd(cp, &helm, &root, &state, &["ci", "--concurrency", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let timed_out = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &["ci", "--lock-timeout", "1s"],
    ));
    assert_eq!(timed_out.status.code(), Some(1));
    let msg = stderr(&timed_out);
    assert!(
        msg.contains("another apply holds the cluster lock") && msg.contains("pid-"),
        "{msg}"
    );
    let waited = run(cmd(
        cp,
        &helm,
        &root,
        &state,
        &["ci", "--lock-timeout", "2m"],
    ));
    assert_eq!(waited.status.code(), Some(0));
    assert!(stderr(&waited).contains("waiting for the cluster lock held by"));
    // The waiting apply saw the first one's work: all unchanged.
    assert!(
        !stdout(&waited).contains("installed"),
        "{}",
        stdout(&waited)
    );
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
}

#[test]
fn apply_killed_during_apply_last_release_resumes_and_converges() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-kill");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    // The apply-last release's helm takes 4 s: the window in which we kill the apply
    // (as a self-hosted runner upgrading itself gets killed).
    let helm = helm_wrapper(
        tmp.path(),
        "case \"$*\" in *upgrade*runner*) sleep 4;; esac",
    );
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let mut child = cmd(cp, &helm, &root, &state, &["ci"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(tmp.path().join("log"))
        .unwrap()
        .contains("runner")
    {
        assert!(Instant::now() < deadline, "runner never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    let killed = child.wait_with_output().unwrap();
    let progress = String::from_utf8_lossy(&killed.stderr);
    eprintln!("killed run:\n{progress}");
    // Everything else was done (and said so) before the apply-last release started.
    assert!(progress.contains("ci/first: installed") && progress.contains("ci/second: installed"));
    assert!(progress.contains("apply-last"));
    // Let the detached helm finish or not: either way the re-run converges.
    let again = run(cmd(cp, &helm, &root, &state, &["ci", "-o", "json"]));
    assert_eq!(again.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    let outcome = |name: &str| {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["release"] == name)
            .unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("first"), "unchanged");
    assert_eq!(outcome("second"), "unchanged");
    assert!(["installed", "upgraded"].contains(&outcome("runner").as_str()));
    let last = run(cmd(cp, &helm, &root, &state, &["ci", "-o", "json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&last)).unwrap();
    assert!(json["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["outcome"] == "unchanged"));
}

#[test]
fn sops_encrypted_kubeconfig_is_decrypted_in_memory() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-kcfg");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let encrypted = tmp.path().join("kubeconfig.sops.yaml");
    let out = Command::new(peer("sops"))
        .args([
            "--encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--age",
            "age1qgamc7jrgth9j65rmnneue3jrr46d7fv0f5jr2khzwdsyzqmq5qsfcugpw",
        ])
        .arg(cp.kubeconfig_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&encrypted, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ENC["));
    // helm (a separate process) reaches the cluster through the same decrypted copy.
    let out = run(cmd_with(&encrypted, &helm, &root, &state, &["ci"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("3 installed"), "{}", stdout(&out));
    assert!(std::fs::read_to_string(tmp.path().join("log"))
        .unwrap()
        .contains("--kubeconfig /proc/self/fd/"));
    let out = run(cmd_with(
        &encrypted,
        &helm,
        &root,
        &state,
        &["status", "ci"],
    ));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).matches("in-sync").count(),
        3,
        "{}",
        stdout(&out)
    );
    // Without the key: one line, nothing applied.
    let mut no_key = cmd_with(&encrypted, &helm, &root, &state, &["ci"]);
    no_key.env("SOPS_AGE_KEY_FILE", "/nonexistent");
    let out = run(no_key);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if meta.is_file()
            && std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_binary_store_sops_kubeconfig_named_kubeconfig_applies_and_diffs_from_memory() {
    // `sops -e kubeconfig` (no extension) writes sops's binary store:
    // {"data": "ENC[...]", "sops": {...}}, whose data is the kubeconfig itself.
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-kcfg-bin");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let encrypted = root.join("kubeconfig");
    {
        let plain_dir = tempfile::tempdir().unwrap();
        let plain = plain_dir.path().join("kubeconfig");
        std::fs::copy(cp.kubeconfig_path(), &plain).unwrap();
        let out = Command::new(peer("sops"))
            .args([
                "--encrypt",
                "--age",
                "age1qgamc7jrgth9j65rmnneue3jrr46d7fv0f5jr2khzwdsyzqmq5qsfcugpw",
            ])
            .arg(&plain)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&encrypted, &out.stdout).unwrap();
    }
    let text = std::fs::read_to_string(&encrypted).unwrap();
    assert!(
        text.starts_with("{\n\t\"data\": \"ENC[AES256_GCM,"),
        "not the binary store: {text}"
    );
    let token = cp.admin_token().as_bytes();
    assert!(files_containing(tmp.path(), token).is_empty());

    // --kubeconfig kubeconfig: apply, then an empty diff.
    let out = run(cmd_with(&encrypted, &helm, &root, &state, &["ci"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("3 installed"), "{}", stdout(&out));
    let log = std::fs::read_to_string(tmp.path().join("log")).unwrap();
    assert!(log.contains("--kubeconfig /proc/self/fd/"), "{log}");
    assert!(!log.contains(&encrypted.display().to_string()), "{log}");
    let out = run(cmd_with(
        &encrypted,
        &helm,
        &root,
        &state,
        &["diff", "ci", "--detailed-exitcode"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no changes"), "{}", stdout(&out));

    // KUBECONFIG=kubeconfig, no flag: the same file, read the same way. A changed value
    // makes the diff non-empty, which only a reachable cluster can tell.
    std::fs::write(root.join("helmfiles/ci/values/first.yaml"), "v: \"2\"\n").unwrap();
    let helmfile = root.join("helmfiles/ci/helmfile.yaml");
    let hf = std::fs::read_to_string(&helmfile).unwrap().replacen(
        "- name: first\n  namespace",
        "- name: first\n  values: [values/first.yaml]\n  namespace",
        1,
    );
    std::fs::write(&helmfile, hf).unwrap();
    let mut c = Command::new(bin());
    c.args(["diff", "ci", "--detailed-exitcode"])
        .env("HELM_BIN", &helm)
        .env(
            "SOPS_AGE_KEY_FILE",
            workspace().join("examples/cluster-repo/demo-keys/age-demo-key.txt"),
        )
        .env("KUBECONFIG", &encrypted)
        .env_remove("HFAPPLY_ENV")
        .arg("--state-namespace")
        .arg(&state)
        .arg("-C")
        .arg(&root);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("first"), "{}", stdout(&out));

    // Nothing in clear next to the sources (or anywhere in the test's directory).
    assert!(
        files_containing(tmp.path(), token).is_empty(),
        "plaintext kubeconfig written: {:?}",
        files_containing(tmp.path(), token)
    );
    assert_eq!(std::fs::read_to_string(&encrypted).unwrap(), text);
}

#[test]
fn ctrl_c_finishes_running_release_and_reports_the_rest_as_skipped() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-int");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "case \"$*\" in *upgrade*first*) sleep 3;; esac");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let child = cmd(cp, &helm, &root, &state, &["ci", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(tmp.path().join("log"))
        .unwrap()
        .contains("first")
    {
        assert!(Instant::now() < deadline, "first never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<(String, String)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["release"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("first".to_string(), "installed".to_string()),
            ("second".to_string(), "skipped".to_string()),
            ("runner".to_string(), "skipped".to_string())
        ]
    );
    let again = run(cmd(cp, &helm, &root, &state, &["ci"]));
    assert_eq!(again.status.code(), Some(0));
    assert!(
        stdout(&again).contains("1 unchanged, 2 installed"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn chart_upgrades_and_completion_are_subcommands() {
    let example = workspace().join("examples/cluster-repo");
    let out = Command::new(bin())
        .args(["autoupgrade", "--all", "--dry-run", "-C"])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("media/plex  local chart `../../charts/plex`: no repository to ask"),
        "{}",
        stdout(&out)
    );
    let out = run({
        let mut c = Command::new(bin());
        c.args(["__complete", "auto"]);
        c
    });
    assert_eq!(
        stdout(&out),
        "autoupgrade\tMove releases to their newest stable chart versions (edits helmfile.yaml files in place, keeping their formatting; never commits)\n:4\n"
    );
}

#[test]
fn a_subcommand_after_apply_flags_is_refused_not_applied() {
    // `-C DIR diff` would otherwise apply a theme named `diff` (and with --all, all).
    let out = Command::new(bin())
        .arg("-C")
        .arg(workspace().join("examples/cluster-repo"))
        .args(["diff", "--all", "--kubeconfig", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("`diff` is a subcommand, but it came after flags of the default apply"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_plain_raw_manifest_named_as_a_secret_is_refused_and_nothing_applied() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-plain-secret");
    let state = format!("{ns}-state");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path(), "");
    let root = tmp.path().join("repo");
    write_repo(&root, &ns);
    let raw = root.join("helmfiles/ci/values/second/raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(
        raw.join("token.secrets.pre.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: {ns}\nstringData:\n  token: in-clear-123\n"),
    )
    .unwrap();
    let out = run(cmd(cp, &helm, &root, &state, &["ci"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("release `ci/second`")
            && err.contains("token.secrets.pre.yaml")
            && err.contains("not sops-encrypted")
            && err.contains("kubectl sopsraw encrypt -i"),
        "{err}"
    );
    assert!(!err.contains("in-clear-123"), "{err}");
    assert_eq!(helm_calls(tmp.path()), 0, "nothing rendered or installed");
    let (code, _) = cp
        .request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/secrets/token"),
            None,
        )
        .unwrap();
    assert_eq!(code, 404);
}
