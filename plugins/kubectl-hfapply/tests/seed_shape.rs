//! A repository in the shape of the seed (`szymonrychu/helmfile-cluster`): a master
//! `helmfiles:` list with one entry commented out, three themes, the `&default`
//! template with hooks calling a repository script, `helmDefaults`,
//! `missingFileHandler: Warn`, raw manifests in both naming orders (one encrypted) and a
//! binary-store sops `kubeconfig`. It goes through `lint --all`, `diff --all`, `apply
//! --all` and a no-op `apply --all` with the binary, and reaches the same helm releases
//! and hook side effects as the real `helmfile sync` on a copy of the same repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hfkit_testcluster::{peer, ControlPlane};

const RECIPIENT: &str = "age1qgamc7jrgth9j65rmnneue3jrr46d7fv0f5jr2khzwdsyzqmq5qsfcugpw";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn sops_encrypt(path: &Path, input_type: Option<&str>) -> Vec<u8> {
    let mut c = Command::new(peer("sops"));
    c.args(["--encrypt", "--age", RECIPIENT]);
    if let Some(t) = input_type {
        c.args(["--input-type", t, "--output-type", t]);
    }
    let out = c.arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const THEME_HEAD: &str = r#"repositories: []
helmDefaults:
  wait: true
  timeout: 120
templates:
  default: &default
    missingFileHandler: Warn
    timeout: 90
    hooks:
    - events:
      - prepare
      - presync
      - postsync
      showlogs: true
      command: ../../.hook.sh
      args:
      - '{{`{{ .Event.Name }}`}}'
      - '{{`{{ .Environment.Name }}`}}'
      - '{{`{{ .Release.Name }}`}}'
      - '{{`{{ .Release.Namespace }}`}}'
    values:
    - values/common.yaml
    - values/{{`{{ .Environment.Name }}`}}.yaml
    - values/{{`{{ .Release.Name }}`}}/common.yaml
    - values/{{`{{ .Release.Name }}`}}/{{`{{ .Environment.Name }}`}}.yaml
    secrets:
    - values/{{`{{ .Release.Name }}`}}/{{`{{ .Environment.Name }}`}}.secrets.yaml
releases:
"#;

/// The repository for namespace `ns`. The theme files are `helmfile.yaml.gotmpl`:
/// helmfile 1.x renders only `.gotmpl` files as templates (the seed, written for
/// helmfile 0.x, names them `helmfile.yaml`; hfapply renders both, see
/// docs/migrating-from-helmfile.md).
fn seed_shape(root: &Path, ns: &str) {
    write(
        root,
        "helmfile.yaml",
        "helmfiles:\n- path: helmfiles/backbone/helmfile.yaml.gotmpl\n# - path: helmfiles/home-automation/helmfile.yaml.gotmpl\n- path: helmfiles/media/helmfile.yaml.gotmpl\n- path: helmfiles/cicd/helmfile.yaml.gotmpl\n\nenvironments:\n  default: {}\n\nhelmDefaults:\n  force: false\n  wait: true\n",
    );
    write(
        root,
        ".hook.sh",
        "#!/bin/sh\n# Logs its call, as the seed's hook would act on it.\necho \"$1 $2 $3 $4\" >> \"$(dirname \"$0\")/hooks.log\"\necho \"hook $1 for $3\"\n",
    );
    make_executable(&root.join(".hook.sh"));
    write(
        root,
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(
        root,
        "charts/app/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  tier: {{ .Values.tier | default \"none\" | quote }}\n  size: {{ .Values.size | default 1 | quote }}\n",
    );
    let themes: [(&str, &[&str]); 3] = [
        ("backbone", &["metallb", "ingress-nginx"]),
        ("media", &["plex"]),
        ("cicd", &["gha-runner"]),
    ];
    for (theme, releases) in themes {
        let mut text = THEME_HEAD.to_string();
        for (i, r) in releases.iter().enumerate() {
            text.push_str(&format!(
                "- name: {r}\n  chart: ../../charts/app\n  namespace: {ns}\n  labels:\n    purpose: {theme}\n  <<: *default\n"
            ));
            if i > 0 {
                text.push_str(&format!("  needs:\n  - {ns}/{}\n", releases[0]));
            }
            if *r == "gha-runner" {
                text.push_str("  wait: false\n");
            }
        }
        write(
            root,
            &format!("helmfiles/{theme}/helmfile.yaml.gotmpl"),
            &text,
        );
        write(
            root,
            &format!("helmfiles/{theme}/values/common.yaml"),
            &format!("tier: {theme}\n"),
        );
    }
    write(root, "helmfiles/media/values/plex/common.yaml", "size: 3\n");
    write(
        root,
        "helmfiles/media/values/plex/default.yaml",
        "size: 4\n",
    );
    // Raw manifests in both orders, the encrypted one written at test time.
    write(
        root,
        "helmfiles/backbone/values/metallb/raw/pool.common.pre.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metallb-pool\ndata:\n  range: 10.0.0.0/24\n",
    );
    write(
        root,
        "helmfiles/backbone/values/metallb/raw/other.staging.pre.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: staging-only\ndata: {}\n",
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn helm_wrapper(dir: &Path) -> PathBuf {
    let script = dir.join("helm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            dir.join("log").display(),
            peer("helm3").display()
        ),
    )
    .unwrap();
    make_executable(&script);
    std::fs::write(dir.join("log"), "").unwrap();
    script
}

fn hfapply(root: &Path, kubeconfig: &Path, helm: &Path, state: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-hfapply"))
        .args(args)
        .env("HELM_BIN", helm)
        .env(
            "SOPS_AGE_KEY_FILE",
            workspace().join("examples/cluster-repo/demo-keys/age-demo-key.txt"),
        )
        .env_remove("HFAPPLY_ENV")
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--state-namespace")
        .arg(state)
        .arg("-C")
        .arg(root)
        .output()
        .unwrap();
    eprintln!(
        "hfapply {args:?}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `helm get values --all -o json` of every release in `ns`, by name.
fn releases(cp: &ControlPlane, ns: &str) -> BTreeMap<String, String> {
    let list = Command::new(peer("helm3"))
        .args(["list", "-q", "-n", ns, "--kubeconfig"])
        .arg(cp.kubeconfig_path())
        .output()
        .unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|name| {
            let values = Command::new(peer("helm3"))
                .args([
                    "get",
                    "values",
                    name,
                    "-a",
                    "-o",
                    "json",
                    "-n",
                    ns,
                    "--kubeconfig",
                ])
                .arg(cp.kubeconfig_path())
                .output()
                .unwrap();
            (
                name.to_string(),
                String::from_utf8_lossy(&values.stdout).into_owned(),
            )
        })
        .collect()
}

fn hook_log(root: &Path, ns: &str) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(root.join("hooks.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace(ns, "NS"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn seed_shaped_repository_runs_unchanged_and_matches_helmfile() {
    let cp = ControlPlane::shared();
    let ours = cp.new_namespace("hfa-seed");
    let theirs = cp.new_namespace("hf-seed");
    let tmp = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(tmp.path());

    let root = tmp.path().join("repo");
    seed_shape(&root, &ours);
    let secret_plain = tmp.path().join("plain.yaml");
    std::fs::write(
        &secret_plain,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: workers-secrets\nstringData:\n  token: t0ken-value\n",
    )
    .unwrap();
    write(
        &root,
        "helmfiles/media/values/plex/raw/workers-secrets.default.post.secret.yaml",
        &String::from_utf8(sops_encrypt(&secret_plain, Some("yaml"))).unwrap(),
    );
    // The kubeconfig as the seed keeps it: `sops -e kubeconfig`, the binary store.
    let plain_kubeconfig = tmp.path().join("plain-kc").join("kubeconfig");
    std::fs::create_dir_all(plain_kubeconfig.parent().unwrap()).unwrap();
    std::fs::copy(cp.kubeconfig_path(), &plain_kubeconfig).unwrap();
    let kubeconfig = root.join("kubeconfig");
    std::fs::write(&kubeconfig, sops_encrypt(&plain_kubeconfig, None)).unwrap();
    std::fs::remove_dir_all(plain_kubeconfig.parent().unwrap()).unwrap();
    let state = format!("{ours}-state");

    let lint = hfapply(&root, &kubeconfig, &helm, &state, &["lint", "--all"]);
    assert_eq!(lint.status.code(), Some(0));
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    assert!(lint_out.contains("no problems found"), "{lint_out}");
    // The commented-out theme is not one.
    assert!(!lint_out.contains("home-automation"), "{lint_out}");
    std::fs::remove_file(root.join("hooks.log")).ok();

    let diff = hfapply(&root, &kubeconfig, &helm, &state, &["diff", "--all"]);
    assert_eq!(
        diff.status.code(),
        Some(0),
        "diff without --detailed-exitcode"
    );
    std::fs::remove_file(root.join("hooks.log")).ok();

    let apply = hfapply(&root, &kubeconfig, &helm, &state, &["apply", "--all"]);
    assert_eq!(apply.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(
        stderr.contains("hook[presync] logs | hook presync for plex"),
        "{stderr}"
    );
    let applied_hooks = hook_log(&root, &ours);
    std::fs::remove_file(root.join("hooks.log")).ok();

    // The no-op: no helm process; only the prepare hooks run (docs: prepare fires for
    // every release, as helmfile fires it for every command).
    std::fs::write(tmp.path().join("log"), "").unwrap();
    let noop = hfapply(&root, &kubeconfig, &helm, &state, &["apply", "--all"]);
    assert_eq!(noop.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(tmp.path().join("log")).unwrap(), "");
    let noop_hooks = hook_log(&root, &ours);
    assert_eq!(noop_hooks.len(), 4, "{noop_hooks:?}");
    assert!(
        noop_hooks.iter().all(|l| l.starts_with("prepare ")),
        "{noop_hooks:?}"
    );

    // The same repository through the real helmfile 1.7.4 (sync: apply without
    // helm-diff) into another namespace.
    let copy = tmp.path().join("helmfile-copy");
    seed_shape(&copy, &theirs);
    let out = Command::new(peer("helmfile"))
        .arg("--helm-binary")
        .arg(peer("helm3"))
        .arg("-f")
        .arg(copy.join("helmfile.yaml"))
        .arg("sync")
        .env("KUBECONFIG", cp.kubeconfig_path())
        .current_dir(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helmfile sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let helmfile_hooks = hook_log(&copy, &theirs);
    assert_eq!(
        applied_hooks, helmfile_hooks,
        "the same hooks ran with the same args"
    );

    let ours_releases = releases(cp, &ours);
    let their_releases = releases(cp, &theirs);
    assert_eq!(
        ours_releases.keys().collect::<Vec<_>>(),
        ["gha-runner", "ingress-nginx", "metallb", "plex"]
    );
    assert_eq!(
        ours_releases, their_releases,
        "the same values reached helm"
    );
    assert!(
        ours_releases["plex"].contains("\"size\":4"),
        "{:?}",
        ours_releases
    );

    // Named helmfile.yaml, as in the seed (helmfile 0.x), the same repository lints
    // with a note that helmfile 1.x would not render it.
    let plain = tmp.path().join("plain-names");
    seed_shape(&plain, &ours);
    let hf = std::fs::read_to_string(plain.join("helmfile.yaml")).unwrap();
    std::fs::write(plain.join("helmfile.yaml"), hf.replace(".gotmpl", "")).unwrap();
    for theme in ["backbone", "media", "cicd"] {
        let dir = plain.join("helmfiles").join(theme);
        std::fs::rename(dir.join("helmfile.yaml.gotmpl"), dir.join("helmfile.yaml")).unwrap();
    }
    let lint = hfapply(&plain, &kubeconfig, &helm, &state, &["lint", "--all"]);
    assert_eq!(lint.status.code(), Some(0));
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint_out.contains("helmfiles/media/helmfile.yaml:17: {{`...`}}: hfapply renders this file as helmfile 0.x did"),
        "{lint_out}"
    );

    // After the apply, a diff of the same inputs (raw manifests included) is empty.
    let diff = hfapply(
        &root,
        &kubeconfig,
        &helm,
        &state,
        &["diff", "--all", "--detailed-exitcode"],
    );
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    let token = cp.admin_token();
    for entry in walk(&root) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "plaintext kubeconfig next to the sources: {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
