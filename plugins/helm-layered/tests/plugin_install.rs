//! The plugin installs into the real helm 3 and helm 4 from a local directory and runs
//! through helm, which passes its global flags to us as environment variables.

mod common;

use common::*;
use std::path::Path;

/// Lays out an installable plugin directory: the manifest and bin/helm-layered.
fn plugin_dir(root: &Path, manifest: &str) -> std::path::PathBuf {
    let dir = root.join("helm-layered");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
    std::fs::copy(src, dir.join("plugin.yaml")).unwrap();
    std::fs::copy(layered(), dir.join("bin/helm-layered")).unwrap();
    dir
}

fn install_and_run(major: u32, manifest: &str) {
    let helm = helm(major);
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let dir = plugin_dir(src.path(), manifest);
    let out = run(
        command(&helm, &helm, home.path()).args(["plugin", "install", dir.to_str().unwrap()]),
        true,
    );
    assert!(
        stdout(&out).contains("Installed plugin: layered"),
        "{}",
        stdout(&out)
    );
    let out = run(
        command(&helm, &helm, home.path()).args(["plugin", "list"]),
        true,
    );
    assert!(stdout(&out).contains("layered"), "{}", stdout(&out));

    let theme = tempfile::tempdir().unwrap();
    write(theme.path(), "values/common.yaml", "a: 1\nns: none\n");
    write(theme.path(), "values/{{namespace}}.yaml", "");
    write(theme.path(), "values/plex/staging.yaml", "a: 2\n");
    // helm consumes `-n` itself and hands it to the plugin as HELM_NAMESPACE: the
    // theme's config uses it in a pattern to prove it arrives.
    write(
        theme.path(),
        ".helm-layered.yaml",
        "layers:\n  - values/common.yaml\n  - values/{{release}}/{{env}}.yaml\n  - values/ns-{{namespace}}.yaml\n",
    );
    write(theme.path(), "values/ns-media.yaml", "ns: media\n");
    std::fs::create_dir(theme.path().join(".git")).unwrap();
    let out = run(
        command(&helm, &helm, home.path())
            .current_dir(theme.path())
            .env_remove("HELM_BIN")
            .args([
                "layered", "values", "plex", "--env", "staging", "-n", "media",
            ]),
        true,
    );
    assert_eq!(
        stdout(&out),
        "a: 2\nns: media\n",
        "helm {major}: {}",
        stderr(&out)
    );

    let out = run(
        command(&helm, &helm, home.path()).args(["layered", "--help"]),
        true,
    );
    assert!(
        stdout(&out).contains("helm layered upgrade plex"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn installs_and_runs_in_helm3() {
    install_and_run(3, "plugin.yaml");
}

#[test]
fn installs_and_runs_in_helm4_with_the_v1_manifest() {
    install_and_run(4, "helm4/plugin.yaml");
}

#[test]
fn helm4_also_accepts_the_legacy_manifest() {
    install_and_run(4, "plugin.yaml");
}
