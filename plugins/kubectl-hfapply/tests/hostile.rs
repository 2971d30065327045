//! Hostile input for `kubectl hfapply`: alias bombs and deep nesting in a theme's
//! helmfile are refused by `lint` with a one-line error naming the file and the limit,
//! under a memory cap so that a regression fails the test instead of exhausting the
//! machine. No cluster is needed: the file is refused while the repository is read.

use std::path::Path;
use std::process::{Command, Output};

use hfkit_testcluster::{billion_laughs, peer};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-hfapply");

/// Address-space cap for the binary under test (KiB).
const CAP_KIB: u64 = 1024 * 1024;

/// A repository whose only theme's helmfile is `theme_helmfile`.
fn repo(root: &Path, theme_helmfile: &str) {
    std::fs::create_dir_all(root.join("helmfiles/ci")).unwrap();
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n  - path: helmfiles/ci/helmfile.yaml\n",
    )
    .unwrap();
    std::fs::write(root.join("helmfiles/ci/helmfile.yaml"), theme_helmfile).unwrap();
}

fn lint_capped(root: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$@\""))
        .arg("sh")
        .arg(BIN)
        .args(["lint", "--all", "-C"])
        .arg(root)
        .env("HELM_BIN", peer("helm3"))
        .env_remove("HFAPPLY_ENV")
        .env_remove("KUBECONFIG")
        .output()
        .expect("spawn sh")
}

#[track_caller]
fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{:?}\n{err}", out.status);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("helmfiles/ci/helmfile.yaml:"), "{err}");
    err
}

#[test]
fn lint_refuses_a_billion_laughs_helmfile() {
    let dir = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        &format!(
            "{}releases:\n- name: first\n  namespace: ci\n  chart: ./charts/x\n",
            billion_laughs()
        ),
    );
    let err = refused(&lint_capped(dir.path()));
    assert!(err.contains("excessive aliasing"), "{err}");
    assert!(err.contains("alias less"), "{err}");
}

#[test]
fn lint_refuses_deeply_nested_helmfiles() {
    let deep = 100_000;
    for theme in [
        format!("releases: {}\n", "[".repeat(deep)),
        format!("releases:\n{}x\n", "- ".repeat(deep)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        repo(dir.path(), &theme);
        let err = refused(&lint_capped(dir.path()));
        assert!(err.contains("nested more than 255 levels deep"), "{err}");
    }
}
