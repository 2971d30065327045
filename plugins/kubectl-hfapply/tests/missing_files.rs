//! helmfile's `missingFileHandler` for files named in a release's `values:`/`secrets:`,
//! through `kubectl hfapply lint` (no cluster: a local chart rendered by the real
//! helm 3): `Error` by default, naming the file and the release; `Warn` one line per
//! missing file; `Info` at the default log level, `Debug` only with `--log-level
//! debug`; the release's setting over the top level one, which does not cover
//! `secrets:` (as in helmfile 1.7); an invalid value is a file:line error.

use std::path::Path;
use std::process::{Command, Output};

use hfkit_testcluster::peer;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-hfapply");

/// A repository with one theme `ci` whose release `app` names a present values file,
/// a missing one and a missing secrets file. `top` and `release` are the
/// `missingFileHandler` lines (empty for none).
fn repo(root: &Path, top: &str, release: &str) {
    let theme = root.join("helmfiles/ci");
    std::fs::create_dir_all(theme.join("charts/x/templates")).unwrap();
    std::fs::create_dir_all(theme.join("values")).unwrap();
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n  - path: helmfiles/ci/helmfile.yaml\n",
    )
    .unwrap();
    std::fs::write(
        theme.join("charts/x/Chart.yaml"),
        "apiVersion: v2\nname: x\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        theme.join("charts/x/templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.a | quote }}\n",
    )
    .unwrap();
    std::fs::write(theme.join("values/common.yaml"), "a: one\n").unwrap();
    let release = if release.is_empty() {
        String::new()
    } else {
        format!("  {release}\n")
    };
    std::fs::write(
        theme.join("helmfile.yaml"),
        format!(
            "{top}\nreleases:\n- name: app\n  namespace: ci\n  chart: ./charts/x\n{release}  \
             values:\n  - values/common.yaml\n  - values/missing-a.yaml\n  secrets:\n  - \
             values/missing.secrets.yaml\n"
        ),
    )
    .unwrap();
}

fn lint(root: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["lint", "--all", "-C"])
        .arg(root)
        .args(extra)
        .env("HELM_BIN", peer("helm3"))
        .env_remove("HFAPPLY_ENV")
        .env_remove("HFAPPLY_LOG_LEVEL")
        .env_remove("KUBECONFIG")
        .output()
        .expect("spawn kubectl-hfapply")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn failed(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[track_caller]
fn ok_lines(o: &Output) -> Vec<String> {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{err}{}",
        String::from_utf8_lossy(&o.stdout)
    );
    err.lines().map(String::from).collect()
}

#[test]
fn error_is_the_default_and_names_the_file_and_the_release() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), "", "");
    let err = failed(&lint(dir.path(), &[]));
    assert!(
        err.contains("release `ci/app` (helmfiles/ci/helmfile.yaml:3)")
            && err.contains("values/missing-a.yaml does not exist")
            && err.contains("missingFileHandler: Error, helmfile's default")
            && err.contains("missingFileHandler: Warn"),
        "{err}"
    );
}

#[test]
fn warn_prints_one_line_per_missing_file_and_proceeds() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), "", "missingFileHandler: Warn");
    let lines = ok_lines(&lint(dir.path(), &[]));
    let warnings: Vec<&String> = lines.iter().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{lines:?}");
    assert!(
        warnings[0].starts_with("warning: ci/app: skipping missing values file ")
            && warnings[0].ends_with("values/missing-a.yaml (missingFileHandler: Warn)"),
        "{lines:?}"
    );
    assert!(
        warnings[1].starts_with("warning: ci/app: skipping missing secrets file ")
            && warnings[1].ends_with("values/missing.secrets.yaml (missingFileHandler: Warn)"),
        "{lines:?}"
    );
    // `--log-level error` silences them.
    let lines = ok_lines(&lint(dir.path(), &["--log-level", "error"]));
    assert!(lines.iter().all(|l| !l.contains("skipping")), "{lines:?}");
}

#[test]
fn info_and_debug_follow_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), "", "missingFileHandler: Info");
    let skipped = |o: &Output| {
        ok_lines(o)
            .into_iter()
            .filter(|l| l.contains("skipping missing"))
            .collect::<Vec<_>>()
    };
    let lines = skipped(&lint(dir.path(), &[]));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("info: ci/app: "), "{lines:?}");
    assert!(skipped(&lint(dir.path(), &["--log-level", "warn"])).is_empty());

    repo(dir.path(), "", "missingFileHandler: Debug");
    assert!(skipped(&lint(dir.path(), &[])).is_empty());
    let lines = skipped(&lint(dir.path(), &["--log-level", "debug"]));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("debug: ci/app: "), "{lines:?}");
}

#[test]
fn top_level_handler_covers_values_but_not_secrets_and_release_wins() {
    let dir = tempfile::tempdir().unwrap();
    // Top level Warn: the values file is skipped, the secrets file is still an error
    // (helmfile 1.7 reads only the release's handler for secrets).
    repo(dir.path(), "missingFileHandler: Warn", "");
    let err = failed(&lint(dir.path(), &[]));
    assert!(
        err.contains("secrets file ")
            && err.contains("values/missing.secrets.yaml does not exist")
            && err.contains("the release's"),
        "{err}"
    );
    // The release's Error wins over the top level Warn.
    repo(
        dir.path(),
        "missingFileHandler: Warn",
        "missingFileHandler: Error",
    );
    let err = failed(&lint(dir.path(), &[]));
    assert!(
        err.contains("values/missing-a.yaml does not exist"),
        "{err}"
    );
    // The release's Warn over the top level Error.
    repo(
        dir.path(),
        "missingFileHandler: Error",
        "missingFileHandler: Warn",
    );
    let lines = ok_lines(&lint(dir.path(), &[]));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("warning:")).count(),
        2,
        "{lines:?}"
    );
}

#[test]
fn an_invalid_handler_is_a_file_line_error() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), "", "missingFileHandler: warn");
    let err = failed(&lint(dir.path(), &[]));
    assert!(
        err.contains("helmfiles/ci/helmfile.yaml:6: releases[0].missingFileHandler: `warn` is not a missing file handler; use one of Error, Warn, Info, Debug"),
        "{err}"
    );
    repo(dir.path(), "missingFileHandler: Skip", "");
    let err = failed(&lint(dir.path(), &[]));
    assert!(
        err.contains("helmfiles/ci/helmfile.yaml:1: missingFileHandler: `Skip`"),
        "{err}"
    );
}

/// The same inputs through the real helmfile 1.7.4 (`helmfile template` on the theme):
/// the same files fail or are skipped.
#[test]
fn real_helmfile_agrees() {
    let helmfile = peer("helmfile");
    let run = |root: &Path| {
        Command::new(&helmfile)
            .arg("--helm-binary")
            .arg(peer("helm3"))
            .arg("-f")
            .arg(root.join("helmfiles/ci/helmfile.yaml"))
            .arg("template")
            .env_remove("KUBECONFIG")
            .output()
            .expect("spawn helmfile")
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, Option<&str>); 5] = [
        // (top, release, the file helmfile fails on; None: both skipped with a warning)
        (
            "",
            "",
            Some("values file matching \"values/missing-a.yaml\" does not exist"),
        ),
        ("", "missingFileHandler: Warn", None),
        (
            "missingFileHandler: Warn",
            "",
            Some("secrets file matching \"values/missing.secrets.yaml\" does not exist"),
        ),
        (
            "missingFileHandler: Warn",
            "missingFileHandler: Error",
            Some("values file matching \"values/missing-a.yaml\" does not exist"),
        ),
        (
            "missingFileHandler: Error",
            "missingFileHandler: Warn",
            None,
        ),
    ];
    for (top, release, fails_on) in cases {
        repo(dir.path(), top, release);
        let theirs = run(dir.path());
        let their_err = stderr(&theirs);
        let ours = lint(dir.path(), &[]);
        match fails_on {
            Some(msg) => {
                assert!(!theirs.status.success(), "{top}/{release}: {their_err}");
                assert!(their_err.contains(msg), "{top}/{release}: {their_err}");
                assert_eq!(ours.status.code(), Some(1), "{top}/{release}");
            }
            None => {
                assert!(theirs.status.success(), "{top}/{release}: {their_err}");
                for f in [
                    "values file matching \"values/missing-a.yaml\"",
                    "secrets file matching \"values/missing.secrets.yaml\"",
                ] {
                    assert!(
                        their_err.contains(&format!("skipping missing {f}")),
                        "{top}/{release}: {their_err}"
                    );
                }
                assert_eq!(
                    ok_lines(&ours)
                        .iter()
                        .filter(|l| l.starts_with("warning:"))
                        .count(),
                    2
                );
            }
        }
    }
}
