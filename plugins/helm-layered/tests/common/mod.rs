//! Shared helpers for helm-layered's integration tests: real helm binaries, isolated
//! helm homes, and theme directories written on the fly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real helm of a major version (3 or 4), built by scripts/peers.sh.
pub fn helm(major: u32) -> PathBuf {
    hfkit_testcluster::peer(&format!("helm{major}"))
}

/// Writes `content` to `dir/rel`, creating parent directories.
pub fn write(dir: &Path, rel: &str, content: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// A tiny chart whose only template prints `.Values`, with a few defaults so that
/// coalescing (and `null` removing a default) is exercised.
pub fn values_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("charts/echo");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: echo\nversion: 0.1.0\n",
    );
    write(
        &chart,
        "values.yaml",
        "a:\n  b: 1\n  c: [1, 2]\nb: chart-default\nd:\n  e:\n    a: 1\n    f: keep\nreplicas: 1\n",
    );
    write(
        &chart,
        "templates/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  values: |\n{{ toYaml .Values | indent 4 }}\n",
    );
    chart
}

/// A command for `bin` with HOME-independent helm state in `home` (no user config or
/// plugins leak in) and HELM_BIN set to the given helm.
pub fn command(bin: &Path, helm: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("HELM_BIN", helm)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        // helm 4.3's installer ignores HELM_PLUGINS (it writes to
        // $HELM_DATA_HOME/plugins) while its loader honours it: leave it unset.
        .env_remove("HELM_PLUGINS")
        .env_remove("HELM_DEBUG")
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_LAYERED_ENV");
    cmd
}

/// Our binary.
pub fn layered() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_helm-layered"))
}

/// Runs and returns the output, panicking with stderr when `expect_ok` disagrees.
pub fn run(cmd: &mut Command, expect_ok: bool) -> Output {
    let out = cmd.output().expect("spawn");
    if out.status.success() != expect_ok {
        panic!(
            "{:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `helm-layered ARGS` (with helm 3) in `dir`, expecting success or failure.
pub fn layered_in(dir: &Path, home: &Path, args: &[&str], expect_ok: bool) -> Output {
    run(
        command(&layered(), &helm(3), home)
            .current_dir(dir)
            .args(args),
        expect_ok,
    )
}
