//! What helm (real helm 3 and helm 4, against a real kube-apiserver) and what helm runs
//! get to see: no key variable in their environment, and no decrypted value in debug
//! output. The child that records its environment is a kubeconfig exec credential
//! plugin, which helm's client-go starts for every connection.

mod common;

use common::*;
use hfkit_testcluster::ControlPlane;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hfkit_testcluster::SOPS_KEY_VARIABLES as KEY_VARIABLES;

const SECRET: &str = "hunter2-production";

struct Theme {
    dir: tempfile::TempDir,
    key: PathBuf,
    identity: String,
}

/// A theme whose `web` release has a plain layer and a secrets layer encrypted by the
/// real sops to a key from the real age-keygen.
fn theme() -> Theme {
    let dir = tempfile::tempdir().unwrap();
    let hfkit_testcluster::AgeKey {
        file: key,
        recipient,
        identity,
    } = hfkit_testcluster::age_keygen(dir.path(), "keys.txt");
    let c = dir.path().join("charts/app");
    write(
        &c,
        "Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(&c, "values.yaml", "greeting: hello\npassword: changeme\n");
    write(
        &c,
        "templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-secret\ntype: Opaque\ndata:\n  password: {{ .Values.password | b64enc | quote }}\n  greeting: {{ .Values.greeting | b64enc | quote }}\n",
    );
    write(dir.path(), "values/web/production.yaml", "greeting: hi\n");
    let secrets = write(
        dir.path(),
        "values/web/production.secrets.yaml",
        &format!("password: {SECRET}\n"),
    );
    let out = Command::new(hfkit_testcluster::peer("sops"))
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .arg(&secrets)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "sops: {}", stderr(&out));
    Theme { dir, key, identity }
}

/// A kubeconfig for the test cluster whose credentials come from an exec plugin that
/// writes its environment to `dumps/PID.env`.
fn exec_kubeconfig(cp: &ControlPlane, dir: &Path) -> (PathBuf, PathBuf) {
    let dumps = dir.join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    let plugin = dir.join("credential-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nenv > '{}'/$$.env\nprintf '%s' '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
            dumps.display(),
            cp.admin_token()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let original = std::fs::read_to_string(cp.kubeconfig_path()).unwrap();
    let token_line = format!("    token: {}\n", cp.admin_token());
    assert!(original.contains(&token_line));
    let kc = original.replace(
        &token_line,
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
            plugin.display()
        ),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kc).unwrap();
    (path, dumps)
}

fn dumps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

fn has_var(env: &str, name: &str) -> bool {
    hfkit_testcluster::env_dump_sets(env, name)
}

fn layered_cmd(t: &Theme, major: u32, home: &Path, kc: &Path) -> Command {
    let mut cmd = command(&layered(), &helm(major), home);
    cmd.current_dir(t.dir.path())
        .env("KUBECONFIG", kc)
        .env("HFKIT_SOPS_NO_GPG", "1")
        .env_remove(hfkit_sops_keep())
        // Every way of giving a key: two that really decrypt, the rest only present.
        .env("SOPS_AGE_KEY_FILE", &t.key)
        .env("SOPS_AGE_KEY", &t.identity)
        .env("SOPS_AGE_KEY_CMD", "cat /nonexistent/key")
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "/nonexistent/id_ed25519")
        .env("SOPS_PGP_PASSPHRASE", "pgp-passphrase-secret");
    cmd
}

fn hfkit_sops_keep() -> &'static str {
    "HFKIT_CHILD_KEEP_ENV"
}

fn helm_children_get_no_key_variables(major: u32) {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace(&format!("layered-env-h{major}"));
    let t = theme();
    let home = tempfile::tempdir().unwrap();
    let (kc, dump_dir) = exec_kubeconfig(cp, home.path());
    let base = [
        "web",
        "./charts/app",
        "--env",
        "production",
        "-n",
        ns.as_str(),
    ];
    run(
        layered_cmd(&t, major, home.path(), &kc)
            .arg("upgrade")
            .args(base),
        true,
    );
    run(
        layered_cmd(&t, major, home.path(), &kc)
            .arg("diff")
            .args(base),
        true,
    );
    let seen = dumps(&dump_dir);
    assert!(!seen.is_empty(), "helm never ran the credential plugin");
    for env in &seen {
        for name in KEY_VARIABLES {
            assert!(!has_var(env, name), "helm {major}'s child inherited {name}");
        }
        assert!(!env.contains(&t.identity) && !env.contains("pgp-passphrase-secret"));
        // What helm passes to its children is still there.
        assert!(has_var(env, "KUBERNETES_EXEC_INFO"), "{env}");
    }

    // The documented opt-in keeps exactly the variables it names.
    std::fs::remove_dir_all(&dump_dir).unwrap();
    std::fs::create_dir(&dump_dir).unwrap();
    run(
        layered_cmd(&t, major, home.path(), &kc)
            .env(hfkit_sops_keep(), "SOPS_AGE_KEY_FILE")
            .arg("upgrade")
            .args(base),
        true,
    );
    let seen = dumps(&dump_dir);
    assert!(!seen.is_empty());
    for env in &seen {
        assert!(has_var(env, "SOPS_AGE_KEY_FILE"), "{env}");
        assert!(!has_var(env, "SOPS_AGE_KEY") && !env.contains(&t.identity));
    }
}

#[test]
fn helm3_children_get_no_key_variables() {
    helm_children_get_no_key_variables(3);
}

#[test]
fn helm4_children_get_no_key_variables() {
    helm_children_get_no_key_variables(4);
}

fn debug_never_prints_decrypted_values(major: u32) {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace(&format!("layered-debug-h{major}"));
    let t = theme();
    let home = tempfile::tempdir().unwrap();
    let kc = cp.kubeconfig_path();
    let base = [
        "web",
        "./charts/app",
        "--env",
        "production",
        "-n",
        ns.as_str(),
    ];
    let b64 = "aHVudGVyMi1wcm9kdWN0aW9u"; // base64 of SECRET
                                          // `helm --debug layered ...` sets HELM_DEBUG=true for the plugin; our own --debug
                                          // asks for the same. Helm flags after `--` may carry --debug too.
    let runs: [&[&str]; 3] = [
        &["upgrade", "--debug"],
        &["upgrade", "--debug", "--", "--dry-run", "--debug"],
        &["upgrade", "--debug"],
    ];
    for (i, extra) in runs.iter().enumerate() {
        let mut cmd = layered_cmd(&t, major, home.path(), kc);
        cmd.env("HELM_DEBUG", "true").arg(extra[0]).args(base);
        cmd.args(&extra[1..]);
        let out = run(&mut cmd, true);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains(SECRET),
            "helm {major} run {i} printed the decrypted secret:\n{all}"
        );
        if !extra.contains(&"--dry-run") {
            // helm prints the manifest (Secret data, base64) only for a dry run, as it
            // does without --debug.
            assert!(!all.contains(b64), "helm {major} run {i}:\n{all}");
        }
        // Debug still tells which files were read, and shows the values redacted.
        let err = stderr(&out);
        assert!(
            err.contains("values/web/production.secrets.yaml"),
            "run {i}:\n{err}"
        );
        assert!(err.contains("password: \"(redacted)\""), "run {i}:\n{err}");
        assert!(err.contains("greeting: hi"), "run {i}:\n{err}");
    }
    // The release really got the decrypted value.
    let (code, body) = cp
        .request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/secrets/web-secret"),
            None,
        )
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(b64), "{body}");
}

#[test]
fn helm3_debug_never_prints_decrypted_values() {
    debug_never_prints_decrypted_values(3);
}

#[test]
fn helm4_debug_never_prints_decrypted_values() {
    debug_never_prints_decrypted_values(4);
}
