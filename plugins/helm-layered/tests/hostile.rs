//! Hostile input for `helm layered`: alias bombs and deep nesting in a values layer are
//! refused with a one-line error naming the file and the limit, under a memory cap so
//! that a regression fails the test instead of exhausting the machine; and a layer
//! configuration above the home directory is never used.

mod common;

use common::*;
use hfkit_testcluster::billion_laughs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// Address-space cap for the binary under test (KiB): far above what a values run
/// needs, far below what an expanded alias bomb takes.
const CAP_KIB: u64 = 1024 * 1024;

/// Runs `cmd` through `sh -c 'ulimit -v CAP; exec ...'`, keeping its environment and
/// directory.
fn capped(cmd: &Command) -> Output {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$@\""))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    sh.output().expect("spawn sh")
}

fn values_capped(dir: &Path, home: &Path) -> Output {
    let mut cmd = command(&layered(), &helm(3), home);
    cmd.current_dir(dir)
        .args(["values", "plex", "--env", "production"]);
    capped(&cmd)
}

/// Asserts a clean, one-line refusal (exit 1, not a crash or the memory cap).
#[track_caller]
fn refused(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{:?}\n{err}", out.status);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[test]
fn a_billion_laughs_layer_is_refused_naming_file_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let bomb = billion_laughs();
    assert!(bomb.len() < 500, "{} bytes", bomb.len());
    write(dir.path(), "values/common.yaml", &bomb);
    write(dir.path(), "values/plex/common.yaml", "replicas: 1\n");
    let started = Instant::now();
    let out = values_capped(dir.path(), home.path());
    let err = refused(&out);
    eprintln!(
        "{}-byte bomb refused in {:?}: {err}",
        bomb.len(),
        started.elapsed()
    );
    assert!(err.starts_with("Error: values/common.yaml:"), "{err}");
    assert!(err.contains("excessive aliasing"), "{err}");
    assert!(err.contains("alias less"), "{err}");
}

#[test]
fn a_merge_key_bomb_is_refused_too() {
    // `<<` copies a map's entries: the same expansion through merge keys.
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut bomb = String::from("l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n");
    for level in 1..12 {
        bomb.push_str(&format!(
            "l{level}: &l{level} {{x: [*l{p}, *l{p}, *l{p}, *l{p}], <<: *l{p}}}\n",
            p = level - 1
        ));
    }
    write(dir.path(), "values/production.yaml", &bomb);
    let out = values_capped(dir.path(), home.path());
    let err = refused(&out);
    assert!(err.starts_with("Error: values/production.yaml:"), "{err}");
    assert!(err.contains("excessive aliasing"), "{err}");
}

#[test]
fn deeply_nested_layers_are_refused_naming_the_limit() {
    let deep = 100_000;
    let cases = [
        // Flow nesting: `[[[[...`.
        format!("a: {}\n", "[".repeat(deep)),
        // Block nesting: a list in a list in a list..., one line.
        format!("a:\n{}x\n", "- ".repeat(deep)),
        // Flow maps.
        format!("a: {}\n", "{b: ".repeat(deep)),
    ];
    for text in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        write(dir.path(), "values/plex/common.yaml", &text);
        let out = values_capped(dir.path(), home.path());
        let err = refused(&out);
        assert!(err.starts_with("Error: values/plex/common.yaml:"), "{err}");
        assert!(
            err.contains("nested more than 255 levels deep") && err.contains("flatten"),
            "{err}"
        );
    }
}

#[test]
fn an_oversized_layer_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let big = format!("a: \"{}\"\n", "x".repeat(33 * 1024 * 1024));
    write(dir.path(), "values/common.yaml", &big);
    let out = values_capped(dir.path(), home.path());
    let err = refused(&out);
    assert!(err.starts_with("Error: values/common.yaml:"), "{err}");
    assert!(err.contains("over the limit of 33554432 bytes"), "{err}");
}

#[test]
fn an_endless_layer_is_cut_off_at_the_limit() {
    // A layer that is a symlink to /dev/zero is refused after 32 MiB, not read forever.
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("values")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("values/common.yaml")).unwrap();
    let out = values_capped(dir.path(), home.path());
    let err = refused(&out);
    assert!(err.starts_with("Error: values/common.yaml:"), "{err}");
    assert!(err.contains("over the limit of 33554432 bytes"), "{err}");
}

#[test]
fn a_layer_config_above_the_home_directory_is_not_used() {
    // parent/.helm-layered.yaml is in a shared directory above $HOME (no repository in
    // between): it must not decide which files make up the stack.
    let parent = tempfile::tempdir().unwrap();
    let helm_home = tempfile::tempdir().unwrap();
    write(
        parent.path(),
        ".helm-layered.yaml",
        "layers:\n  - /etc/hostname\n  - planted.yaml\n",
    );
    let user_home = parent.path().join("home");
    let theme = user_home.join("theme");
    write(&theme, "planted.yaml", "planted: true\n");
    write(&theme, "values/common.yaml", "replicas: 1\n");
    let mut cmd = command(&layered(), &helm(3), helm_home.path());
    cmd.current_dir(&theme).env("HOME", &user_home).args([
        "values",
        "plex",
        "--env",
        "production",
        "--debug",
    ]);
    let out = run(&mut cmd, true);
    assert_eq!(stdout(&out), "replicas: 1\n");
    assert!(
        stderr(&out).contains("(built-in default patterns)"),
        "{}",
        stderr(&out)
    );

    // The same file in the home directory itself is used, and named.
    std::fs::rename(
        parent.path().join(".helm-layered.yaml"),
        user_home.join(".helm-layered.yaml"),
    )
    .unwrap();
    write(
        &user_home,
        ".helm-layered.yaml",
        "layers:\n  - planted.yaml\n",
    );
    let out = run(&mut cmd, true);
    assert_eq!(stdout(&out), "planted: true\n");
    let used = user_home.canonicalize().unwrap().join(".helm-layered.yaml");
    assert!(
        stderr(&out).contains(&format!("({})", used.display())),
        "{}",
        stderr(&out)
    );
}

/// `fan` aliases per level over `levels` levels.
fn bomb(levels: usize, fan: usize) -> String {
    let mut s = format!("l0: &l0 [{}]\n", vec!["x"; fan].join(", "));
    for l in 1..levels {
        let items = vec![format!("*l{}", l - 1); fan].join(", ");
        s.push_str(&format!("l{l}: &l{l} [{items}]\n"));
    }
    s
}

/// A 1,000-item list aliased `times` times: 99% of the nodes come from aliases at
/// about 110 copies.
fn edge(times: usize) -> String {
    format!(
        "base: &b [{}]\nl: [{}]\n",
        vec!["x"; 1000].join(", "),
        vec!["*b"; times].join(", ")
    )
}

#[test]
fn the_alias_limit_is_where_helm_3_and_4_put_it() {
    let cases = [
        (billion_laughs(), false),
        (bomb(7, 5), false),
        (bomb(3, 5), true),
        (edge(105), true),
        (edge(116), false),
    ];
    for (text, accepted) in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        values_chart(dir.path());
        write(dir.path(), "values/common.yaml", &text);
        for major in [3, 4] {
            let mut helm_cmd = Command::new(helm(major));
            helm_cmd
                .current_dir(dir.path())
                .args(["template", "r", "./charts/echo", "-f", "values/common.yaml"])
                .env("HELM_CACHE_HOME", home.path().join("cache"))
                .env("HELM_CONFIG_HOME", home.path().join("config"))
                .env("HELM_DATA_HOME", home.path().join("data"));
            let helm_out = capped(&helm_cmd);
            assert_eq!(
                helm_out.status.success(),
                accepted,
                "helm {major} on {} bytes: {}",
                text.len(),
                stderr(&helm_out)
            );
            if !accepted {
                assert!(stderr(&helm_out).contains("excessive aliasing"));
            }
        }
        let ours = values_capped(dir.path(), home.path());
        assert_eq!(
            ours.status.success(),
            accepted,
            "helm layered on {} bytes: {}",
            text.len(),
            stderr(&ours)
        );
        if !accepted {
            assert!(refused(&ours).contains("excessive aliasing"));
        }
    }
}
