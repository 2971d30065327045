//! `scripts/package.sh` output, checked by the real tools that consume it: krew's
//! manifest validator, `kubectl krew install`, and `helm plugin install` of helm 3
//! (from an HTTP URL, the only archive source helm 3 takes) and helm 4 (local archive).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hfkit_dist_tests::{bin_dir, repo_root, run};
use hfkit_testcluster::peer;

/// Builds the plugins (debug, in this test's own target directory) and packages them
/// once per test binary.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        // Beside the binaries, replaced on every run (package.sh empties it first), so
        // repeated runs do not pile up archives in the temp directory.
        let dist = bin_dir().join("hfkit-dist");
        run(Command::new(repo_root().join("scripts/package.sh"))
            .env("DIST", &dist)
            .arg("--bin-dir")
            .arg(bin_dir()));
        dist
    })
}

fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

#[test]
fn krew_manifests_pass_krews_validator() {
    for plugin in ["hfapply", "sopsraw"] {
        let manifest = dist().join(format!("krew/{plugin}.yaml"));
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(
            !text.contains('@'),
            "unfilled token in {plugin}.yaml:\n{text}"
        );
        run(Command::new(peer("validate-krew-manifest"))
            .arg("-manifest")
            .arg(&manifest)
            .arg("-skip-install"));
    }
}

#[test]
fn krew_manifest_templates_list_every_platform() {
    for plugin in ["hfapply", "sopsraw"] {
        let text =
            std::fs::read_to_string(repo_root().join(format!("krew/{plugin}.yaml"))).unwrap();
        for (os, arch, archive, bin) in [
            ("linux", "amd64", "tar.gz", ""),
            ("linux", "arm64", "tar.gz", ""),
            ("darwin", "amd64", "tar.gz", ""),
            ("darwin", "arm64", "tar.gz", ""),
            ("windows", "amd64", "zip", ".exe"),
        ] {
            assert!(
                text.contains(&format!("        os: {os}\n        arch: {arch}\n")),
                "{plugin} {os}/{arch}"
            );
            assert!(text.contains(&format!("kubectl-{plugin}_@VERSION@_{os}_{arch}.{archive}\n    sha256: \"@SHA256_{os}_{arch}@\"\n    bin: kubectl-{plugin}{bin}\n")), "{plugin} {os}/{arch}");
        }
    }
}

#[test]
fn krew_installs_working_plugins_that_kubectl_runs() {
    let root = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    // `kubectl krew` is krew found on PATH as kubectl-krew.
    std::os::unix::fs::symlink(peer("krew"), bin.path().join("kubectl-krew")).unwrap();
    let path = format!(
        "{}:{}:{}",
        root.path().join("bin").display(),
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    for plugin in ["hfapply", "sopsraw"] {
        let archive = dist().join(format!("kubectl-{plugin}_{}_linux_amd64.tar.gz", version()));
        run(Command::new("kubectl")
            .env("KREW_ROOT", root.path())
            .env("PATH", &path)
            .args(["krew", "install"])
            .arg(format!(
                "--manifest={}",
                dist().join(format!("krew/{plugin}.yaml")).display()
            ))
            .arg(format!("--archive={}", archive.display())));
        let out = run(Command::new("kubectl")
            .env("PATH", &path)
            .args([plugin, "--help"]));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(&format!("kubectl {plugin}")), "{help}");
    }
    for plugin in ["hfapply", "sopsraw"] {
        assert!(
            root.path()
                .join(format!("receipts/{plugin}.yaml"))
                .is_file(),
            "no krew receipt for {plugin}"
        );
    }
    // kubectl (1.26+) completes `kubectl <plugin> ...` through kubectl_complete-<plugin>,
    // shipped in the archive (krew links only the plugin itself into its bin/).
    for plugin in ["hfapply", "sopsraw"] {
        let store = root.path().join(format!("store/{plugin}/{}", version()));
        let out = run(Command::new("kubectl")
            .env("PATH", format!("{}:{path}", store.display()))
            .args(["__complete", plugin, "ap"]));
        let completions = String::from_utf8_lossy(&out.stdout);
        assert!(
            completions.starts_with("apply\t"),
            "{plugin}: {completions}"
        );
    }
}

/// Serves one file over HTTP on loopback, for as many requests as come.
fn serve(file: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = std::fs::read(&file).unwrap();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn helm_env<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("HELM_PLUGINS")
}

fn layered_values_works(helm: &Path, home: &Path) {
    let theme = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(theme.path().join("values/app")).unwrap();
    std::fs::write(theme.path().join("values/common.yaml"), "a: 1\nb: 1\n").unwrap();
    std::fs::write(theme.path().join("values/app/common.yaml"), "b: 2\n").unwrap();
    let out = run(helm_env(&mut Command::new(helm), home)
        .current_dir(theme.path())
        .args(["layered", "values", "app"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a: 1\nb: 2\n");
}

#[test]
fn helm3_installs_the_plugin_archive_from_a_url() {
    let home = tempfile::tempdir().unwrap();
    let name = format!("helm-layered_{}_linux_amd64.tgz", version());
    let url = format!("{}/{name}", serve(dist().join(&name)));
    let helm = peer("helm3");
    run(helm_env(&mut Command::new(&helm), home.path()).args(["plugin", "install", &url]));
    layered_values_works(&helm, home.path());
}

#[test]
fn helm4_installs_the_plugin_archive() {
    let home = tempfile::tempdir().unwrap();
    let helm = peer("helm4");
    let archive = dist().join(format!(
        "helm4/linux_amd64/layered-{}.tgz",
        env!("CARGO_PKG_VERSION")
    ));
    // helm 4 verifies signatures by default: an unsigned archive is refused unless
    // --verify=false (README documents signing with `helm plugin package --sign`).
    let out = helm_env(&mut Command::new(&helm), home.path())
        .args(["plugin", "install"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(!out.status.success());
    run(helm_env(&mut Command::new(&helm), home.path())
        .args(["plugin", "install", "--verify=false"])
        .arg(&archive));
    layered_values_works(&helm, home.path());
}

#[test]
fn helm4_verifies_a_signed_plugin_package_and_refuses_a_tampered_one() {
    let work = tempfile::tempdir().unwrap();
    let gnupg = work.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--passphrase", ""])
            .args(args))
    };
    gpg(&[
        "--quick-gen-key",
        "hfkit test release <release@hfkit.invalid>",
        "rsa3072",
        "sign",
        "never",
    ]);
    std::fs::write(
        work.path().join("secring.gpg"),
        gpg(&["--export-secret-keys"]).stdout,
    )
    .unwrap();
    std::fs::write(work.path().join("pubring.gpg"), gpg(&["--export"]).stdout).unwrap();

    let plugin = work.path().join("src/layered");
    std::fs::create_dir_all(plugin.join("bin")).unwrap();
    std::fs::copy(
        repo_root().join("plugins/helm-layered/helm4/plugin.yaml"),
        plugin.join("plugin.yaml"),
    )
    .unwrap();
    std::fs::copy(
        bin_dir().join("helm-layered"),
        plugin.join("bin/helm-layered"),
    )
    .unwrap();
    let out_dir = work.path().join("out");
    let helm = peer("helm4");
    let home = tempfile::tempdir().unwrap();
    run(helm_env(&mut Command::new(&helm), home.path())
        .env("GNUPGHOME", &gnupg)
        .args([
            "plugin",
            "package",
            "--sign",
            "--key",
            "hfkit test release",
            "--keyring",
        ])
        .arg(work.path().join("secring.gpg"))
        .arg("-d")
        .arg(&out_dir)
        .arg(&plugin));
    let archive = out_dir.join(format!("layered-{}.tgz", env!("CARGO_PKG_VERSION")));
    assert!(archive.with_extension("tgz.prov").is_file());

    // A tampered archive fails verification.
    let tampered_dir = work.path().join("tampered");
    std::fs::create_dir(&tampered_dir).unwrap();
    let tampered = tampered_dir.join(archive.file_name().unwrap());
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    std::fs::copy(
        archive.with_extension("tgz.prov"),
        tampered.with_extension("tgz.prov"),
    )
    .unwrap();
    let out = helm_env(&mut Command::new(&helm), home.path())
        .args(["plugin", "install", "--keyring"])
        .arg(work.path().join("pubring.gpg"))
        .arg(&tampered)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a tampered archive installed");

    let out = run(helm_env(&mut Command::new(&helm), home.path())
        .args(["plugin", "install", "--keyring"])
        .arg(work.path().join("pubring.gpg"))
        .arg(&archive));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signed by: hfkit test release"));
    layered_values_works(&helm, home.path());
}
