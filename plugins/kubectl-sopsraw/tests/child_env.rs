//! `kubectl sopsraw edit` runs `$EDITOR` without the key variables: the editor sees
//! the plaintext it edits, never the keys. The file is encrypted by the real sops with a
//! key from the real age-keygen.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use hfkit_testcluster::{age_keygen, env_dump_sets, peer, AgeKey};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-sopsraw");

use hfkit_testcluster::SOPS_KEY_VARIABLES as KEY_VARIABLES;

#[test]
fn editor_gets_no_key_variables() {
    let dir = tempfile::tempdir().unwrap();
    let AgeKey {
        file: key,
        recipient,
        identity,
    } = age_keygen(dir.path(), "keys.txt");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "password: s3cr3t\n").unwrap();
    let out = Command::new(peer("sops"))
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .arg(&file)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let dump = dir.path().join("editor.env");
    let editor = dir.path().join("editor");
    std::fs::write(&editor, format!("#!/bin/sh\nenv > '{}'\n", dump.display())).unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = Command::new(BIN)
        .arg("edit")
        .arg(&file)
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .env_remove("SOPS_EDITOR")
        .env("TMPDIR", &tmp)
        .env("HFKIT_SOPS_NO_GPG", "1")
        // Every way of giving a key: two that really decrypt, the rest only present.
        .env("SOPS_AGE_KEY_FILE", &key)
        .env("SOPS_AGE_KEY", &identity)
        .env("SOPS_AGE_KEY_CMD", "cat /nonexistent/key")
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "/nonexistent/id_ed25519")
        .env("SOPS_PGP_PASSPHRASE", "pgp-passphrase-secret")
        // Even the opt-in for helm does not reach the editor.
        .env("HFKIT_CHILD_KEEP_ENV", "SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let env = std::fs::read_to_string(&dump).expect("the editor ran");
    for name in KEY_VARIABLES {
        assert!(!env_dump_sets(&env, name), "the editor inherited {name}");
    }
    assert!(!env.contains(&identity) && !env.contains("pgp-passphrase-secret"));
    // The editor itself is configured through the environment: that still works.
    assert!(env.contains("TMPDIR="));
}

/// kube-rs starts a kubeconfig's `exec:` credential plugin (`aws eks get-token` and the
/// like) itself, with our environment: the key variables are dropped from it too.
#[test]
fn exec_credential_plugin_gets_no_key_variables() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("plugin.env");
    let plugin = dir.path().join("get-token");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nenv > '{}'\n\
             echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"t\"}}}}'\n",
            dump.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Nothing listens on port 1: the request fails after the plugin gave its token.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             clusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true}}}}]\n\
             users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, \
             command: '{}', interactiveMode: Never}}}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n",
            plugin.display()
        ),
    )
    .unwrap();
    let manifest = dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\ndata: {a: b}\n",
    )
    .unwrap();
    let AgeKey {
        file: key,
        identity,
        ..
    } = age_keygen(dir.path(), "keys.txt");
    let run = |keep: Option<&str>| {
        let _ = std::fs::remove_file(&dump);
        let mut cmd = Command::new(BIN);
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["diff", "-f"])
            .arg(&manifest)
            .env("SOPS_AGE_KEY", &identity)
            .env("SOPS_AGE_KEY_FILE", &key)
            .env("SOPS_PGP_PASSPHRASE", "pgp-passphrase-secret")
            .env("HFKIT_SOPS_NO_GPG", "1")
            .env_remove("HFKIT_CHILD_KEEP_ENV");
        if let Some(k) = keep {
            cmd.env("HFKIT_CHILD_KEEP_ENV", k);
        }
        let out = cmd.output().unwrap();
        let env = std::fs::read_to_string(&dump).unwrap_or_else(|_| {
            panic!(
                "the credential plugin did not run: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        env
    };
    let env = run(None);
    for name in KEY_VARIABLES {
        assert!(
            !env_dump_sets(&env, name),
            "the credential plugin inherited {name}"
        );
    }
    assert!(!env.contains(&identity) && !env.contains("pgp-passphrase-secret"));
    assert!(
        env.contains("KUBERNETES_EXEC_INFO="),
        "not the plugin's env:\n{env}"
    );
    // The documented opt-in hands on exactly what it names.
    let env = run(Some("SOPS_AGE_KEY_FILE"));
    assert!(env.contains(&format!("SOPS_AGE_KEY_FILE={}", key.display())));
    assert!(!env_dump_sets(&env, "SOPS_AGE_KEY"));
}
