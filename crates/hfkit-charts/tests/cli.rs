//! The CLI module (`plugins/kubectl-hfapply/src/chart_upgrade.rs`) through the
//! example binary that includes it: flags, output formats, exit codes.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples")
        .join(format!("hfapply-charts{}", std::env::consts::EXE_SUFFIX))
}

fn server() -> Server {
    let index = index_yaml("http://x", &[("plex", many_versions(2))]);
    Server::start(move |req| match req.path() {
        "/stable/index.yaml" => Resp::ok(index.clone()),
        _ => Resp::status(404),
    })
}

fn helmfile(url: &str) -> String {
    format!(
        "repositories:\n- name: stable\n  url: {url}/stable\nreleases:\n- name: plex   # media server\n  chart: stable/plex\n  version: 1.0.0\n"
    )
}

fn hfapply(root: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("-C")
        .arg(root)
        .env_remove("HFAPPLY_ENV")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn autoupgrade_exit_codes_and_markdown() {
    let s = server();
    let repo = TestRepo::new(&[("media", &helmfile(&s.url()))]);
    let before = repo.read("media");
    let (code, out, err) = hfapply(
        repo.root(),
        &["autoupgrade", "--all", "--dry-run", "-o", "markdown"],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.starts_with("## Upgrade media/plex to 2.12.3\n"),
        "{out}"
    );
    assert_eq!(repo.read("media"), before);

    let (code, out, _) = hfapply(repo.root(), &["autoupgrade", "media", "--min-age", "1d"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("upgraded   media/plex  stable/plex  1.0.0 → 2.12.3"),
        "{out}"
    );
    assert_eq!(repo.read("media"), before.replace("1.0.0", "2.12.3"));

    let (code, out, _) = hfapply(repo.root(), &["autoupgrade", "--all", "-o", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entries"][0]["status"], "up-to-date");
}

#[test]
fn upgrade_one_release_and_bad_input() {
    let s = server();
    let repo = TestRepo::new(&[("media", &helmfile(&s.url()))]);
    let before = repo.read("media");
    let (code, out, err) = hfapply(
        repo.root(),
        &["upgrade", "helmfiles/media/", "plex", "--version", "1.4.2"],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(repo.read("media"), before.replace("1.0.0", "1.4.2"));

    let (code, out, err) = hfapply(
        repo.root(),
        &["upgrade", "media", "plex", "--version", "7.0.0"],
    );
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains("FAILED     media/plex  version 7.0.0 of `plex` is not in"),
        "{out}"
    );

    let (code, _, err) = hfapply(repo.root(), &["upgrade", "media", "plexx", "--latest"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "error: theme `media` has no release `plexx` (releases: plex)"
    );
    let (code, _, err) = hfapply(repo.root(), &["autoupgrade", "--all", "--min-age", "soon"]);
    assert_eq!(code, 1);
    assert!(err.contains("--min-age `soon`"), "{err}");
    let (code, _, err) = hfapply(repo.root(), &["upgrade", "media", "plex"]);
    assert_eq!(code, 2, "clap usage error: {err}");
    let (code, _, _) = hfapply(repo.root(), &["autoupgrade"]);
    assert_eq!(code, 2);
    assert_eq!(repo.read("media"), before.replace("1.0.0", "1.4.2"));
}
