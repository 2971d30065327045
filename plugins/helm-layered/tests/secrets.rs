//! Secrets layers encrypted by the real sops (age keys made by the real age-keygen),
//! decrypted in process by `helm layered`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// An age identity file and its recipient.
fn age_key(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("keys.txt");
    let out = Command::new(hfkit_testcluster::peer("age-keygen"))
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (key, recipient)
}

/// Encrypts `plain` with the real sops into `dir/rel`.
fn sops_encrypt(dir: &Path, rel: &str, plain: &str, recipient: &str) {
    let path = write(dir, rel, plain);
    let out = Command::new(hfkit_testcluster::peer("sops"))
        .args(["--encrypt", "--in-place", "--age", recipient])
        .arg(&path)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("ENC[AES256_GCM"));
}

fn theme_with_secrets() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap().keep();
    let (key, recipient) = age_key(&keys);
    write(
        dir.path(),
        "values/common.yaml",
        "db:\n  host: db.local\n  password: placeholder\n",
    );
    write(dir.path(), "values/plex/common.yaml", "db:\n  user: plex\n");
    sops_encrypt(
        dir.path(),
        "values/plex/common.secrets.yaml",
        "db:\n  password: hunter2-common\napiKeys: [k1, k2]\n",
        &recipient,
    );
    sops_encrypt(
        dir.path(),
        "values/plex/production.secrets.yaml",
        "db:\n  password: hunter2-production\n",
        &recipient,
    );
    (dir, key)
}

#[test]
fn secrets_are_merged_last_and_redacted_unless_asked() {
    let (dir, key) = theme_with_secrets();
    let home = tempfile::tempdir().unwrap();
    let out = run(
        command(&layered(), &helm(3), home.path())
            .current_dir(dir.path())
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["values", "plex", "--env", "production"]),
        true,
    );
    assert_eq!(
        stdout(&out),
        "db:\n  host: db.local\n  password: \"(redacted)\"\n  user: plex\napiKeys: \"(redacted)\"\n"
    );
    let out = run(
        command(&layered(), &helm(3), home.path())
            .current_dir(dir.path())
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["values", "plex", "--env", "production", "--show-secrets"]),
        true,
    );
    assert_eq!(
        stdout(&out),
        "db:\n  host: db.local\n  password: hunter2-production\n  user: plex\napiKeys:\n  - k1\n  - k2\n"
    );

    let out = run(
        command(&layered(), &helm(3), home.path())
            .current_dir(dir.path())
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["explain", "plex", "db.password", "--env", "production"]),
        true,
    );
    let text = stdout(&out);
    assert!(
        text.contains("db.password = (redacted)    # values/plex/production.secrets.yaml:2 (overrides values/plex/common.secrets.yaml:2, values/common.yaml:3)"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn helm_receives_decrypted_values_and_nothing_lands_on_disk() {
    let (dir, key) = theme_with_secrets();
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let chart = dir.path().join("charts/db");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: db\nversion: 0.1.0\n",
    );
    write(
        &chart,
        "templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {{ .Values.db.password }}\n",
    );
    let before = snapshot(dir.path());
    for major in [3, 4] {
        let out = run(
            command(&layered(), &helm(major), home.path())
                .current_dir(dir.path())
                .env("SOPS_AGE_KEY_FILE", &key)
                .env("TMPDIR", tmp.path())
                .args(["template", "plex", "./charts/db", "--env", "production"]),
            true,
        );
        assert!(
            stdout(&out).contains("password: hunter2-production"),
            "{}",
            stdout(&out)
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "files appeared next to the sources"
    );
}

#[test]
fn a_missing_key_names_the_recipients() {
    let (dir, _key) = theme_with_secrets();
    let home = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (wrong_key, _) = age_key(other.path());
    let out = run(
        command(&layered(), &helm(3), home.path())
            .current_dir(dir.path())
            .env("SOPS_AGE_KEY_FILE", &wrong_key)
            .env("HFKIT_SOPS_NO_GPG", "1")
            .args(["values", "plex", "--env", "production"]),
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("values/plex/common.secrets.yaml: cannot decrypt the secrets layer"),
        "{err}"
    );
    assert!(err.contains("age1"), "recipients not named: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Every file under `dir` with its size.
fn snapshot(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), e.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}
