//! Hostile input for `kubectl sopsraw`: alias bombs and deep nesting in a sops file are
//! refused like the real sops 3.13 refuses them (under a memory cap, so a regression
//! fails the test instead of exhausting the machine), and a `.sops.yaml` above the
//! repository root or the home directory never chooses the recipients of a new secret.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hfkit_testcluster::{billion_laughs, peer};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-sopsraw");

/// Address-space cap for the binaries under test (KiB).
const CAP_KIB: u64 = 2 * 1024 * 1024;

struct Keys {
    dir: tempfile::TempDir,
    key_file: PathBuf,
    recipient: String,
}

fn keys() -> Keys {
    let dir = tempfile::Builder::new()
        .prefix("sopsraw-hostile-")
        .tempdir()
        .unwrap();
    let key = hfkit_testcluster::age_keygen(dir.path(), "keys.txt");
    let (key_file, recipient) = (key.file, key.recipient);
    Keys {
        dir,
        key_file,
        recipient,
    }
}

/// `program args` under `ulimit -v`, with the age key and no cluster.
fn capped(program: &Path, args: &[&str], keys: &Keys, home: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$@\""))
        .arg("sh")
        .arg(program)
        .args(args)
        .env("SOPS_AGE_KEY_FILE", &keys.key_file)
        .env("HFKIT_SOPS_NO_GPG", "1")
        .env("HOME", home)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("KUBECONFIG")
        .output()
        .expect("spawn sh")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small file encrypted by the real sops, with `extra` appended as more top-level
/// keys (an attacker edits the file in the repository; parsing comes before the MAC).
fn encrypted_with(k: &Keys, extra: &str) -> PathBuf {
    let path = k.dir.path().join("secret.yaml");
    std::fs::write(&path, "password: hunter2\n").unwrap();
    let out = Command::new(peer("sops"))
        .args(["--encrypt", "--age", &k.recipient, "--in-place"])
        .arg(&path)
        .env("SOPS_AGE_KEY_FILE", &k.key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops --encrypt: {out:?}");
    let mut enc = std::fs::read_to_string(&path).unwrap();
    enc.push_str(extra);
    std::fs::write(&path, enc).unwrap();
    path
}

/// Our decrypt and the real sops's on the same file: both refuse it, ours cleanly in one
/// line naming the file and the limit.
fn both_refuse(k: &Keys, file: &Path, sops_says: &str, we_say: &str) {
    let f = file.to_str().unwrap();
    let home = k.dir.path();
    let sops = capped(&peer("sops"), &["--decrypt", f], k, home);
    assert!(!sops.status.success(), "real sops accepted it");
    assert!(
        text(&sops.stderr).contains(sops_says),
        "real sops: {}",
        text(&sops.stderr)
    );
    let ours = capped(Path::new(BIN), &["decrypt", f], k, home);
    let err = text(&ours.stderr);
    assert_eq!(ours.status.code(), Some(1), "{:?}\n{err}", ours.status);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(f), "{err}");
    assert!(err.contains(we_say), "{err}");
    assert!(ours.stdout.is_empty());
}

#[test]
fn a_billion_laughs_sops_file_is_refused_like_real_sops() {
    let k = keys();
    let file = encrypted_with(&k, &billion_laughs());
    both_refuse(
        &k,
        &file,
        "excessive aliasing",
        "document contains excessive aliasing",
    );
}

#[test]
fn deeply_nested_sops_files_are_refused_like_real_sops() {
    let k = keys();
    let deep = 100_000;
    for (extra, sops_says) in [
        (format!("deep: {}\n", "[".repeat(deep)), "max depth"),
        (format!("deep:\n{}x\n", "- ".repeat(deep)), "max depth"),
    ] {
        let file = encrypted_with(&k, &extra);
        both_refuse(&k, &file, sops_says, "nested more than 255 levels deep");
    }
}

#[test]
fn deeply_nested_json_is_refused_naming_the_limit() {
    let k = keys();
    let path = k.dir.path().join("deep.json");
    std::fs::write(&path, format!("{{\"a\": {}}}", "[".repeat(100_000))).unwrap();
    let f = path.to_str().unwrap();
    let ours = capped(Path::new(BIN), &["decrypt", f], &k, k.dir.path());
    let err = text(&ours.stderr);
    assert_eq!(ours.status.code(), Some(1), "{err}");
    assert!(
        err.contains(f) && err.contains("nested more than 255 levels deep"),
        "{err}"
    );
}

fn encrypt(k: &Keys, file: &Path, home: &Path) -> Output {
    Command::new(BIN)
        .arg("encrypt")
        .arg(file)
        .env("SOPS_AGE_KEY_FILE", &k.key_file)
        .env("HFKIT_SOPS_NO_GPG", "1")
        .env("HOME", home)
        .env_remove("SOPS_AGE_KEY")
        .output()
        .unwrap()
}

#[test]
fn a_sops_yaml_above_the_repository_root_is_not_used() {
    // parent/.sops.yaml (a shared directory), parent/repo/.git, parent/repo/secret.yaml.
    let k = keys();
    let attacker = keys();
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(
        parent.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", attacker.recipient),
    )
    .unwrap();
    let repo = parent.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let secret = repo.join("secret.yaml");
    std::fs::write(&secret, "password: hunter2\n").unwrap();
    let out = encrypt(&k, &secret, k.dir.path());
    let err = text(&out.stderr);
    assert!(!out.status.success(), "encrypted for {}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(&attacker.recipient));
    assert!(err.contains("no .sops.yaml found"), "{err}");
    assert!(err.contains("repository root"), "{err}");

    // A worktree's `.git` is a file: it marks the root too.
    std::fs::remove_dir(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".git"), "gitdir: /elsewhere\n").unwrap();
    let out = encrypt(&k, &secret, k.dir.path());
    assert!(!out.status.success(), "encrypted for {}", text(&out.stdout));

    // The repository's own .sops.yaml is used, and named.
    std::fs::write(
        repo.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", k.recipient),
    )
    .unwrap();
    let out = encrypt(&k, &secret, k.dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&k.recipient));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("using {}", repo.join(".sops.yaml").display())
    );
}

#[test]
fn a_sops_yaml_above_the_home_directory_is_not_used() {
    // No repository: the search stops at $HOME.
    let k = keys();
    let attacker = keys();
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(
        parent.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", attacker.recipient),
    )
    .unwrap();
    let home = parent.path().join("home");
    std::fs::create_dir_all(home.join("secrets")).unwrap();
    let secret = home.join("secrets/secret.yaml");
    std::fs::write(&secret, "password: hunter2\n").unwrap();
    let out = encrypt(&k, &secret, &home);
    assert!(!out.status.success(), "encrypted for {}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(&attacker.recipient));
}

#[test]
fn endless_inputs_are_cut_off_at_the_limit() {
    // A file (or a .sops.yaml) that is a symlink to /dev/zero is refused after 32 MiB,
    // not read until memory runs out.
    let k = keys();
    let endless = k.dir.path().join("endless.yaml");
    std::os::unix::fs::symlink("/dev/zero", &endless).unwrap();
    let f = endless.to_str().unwrap();
    for args in [["decrypt", f], ["encrypt", f]] {
        let out = capped(Path::new(BIN), &args, &k, k.dir.path());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("over the limit of 33554432 bytes"),
            "{args:?}: {err}"
        );
    }
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.path().join(".sops.yaml")).unwrap();
    let secret = repo.path().join("s.yaml");
    std::fs::write(&secret, "a: 1\n").unwrap();
    let out = capped(
        Path::new(BIN),
        &["encrypt", secret.to_str().unwrap()],
        &k,
        k.dir.path(),
    );
    // Not a regular file: never read, as if absent.
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no .sops.yaml found"), "{err}");
    assert_eq!(
        err.matches("no .sops.yaml found").count(),
        1,
        "said twice: {err}"
    );
}
