//! Shared by the integration tests: a copy of a fixture repository per test, the real
//! control plane, a counting wrapper around the real helm.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hfkit::helm::Helm;
use hfkit_apply::plan::{self, Target};
use hfkit_apply::run::{apply_all, RunOptions, RunReport};
use hfkit_testcluster::{peer, ControlPlane};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn demo_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/cluster-repo/demo-keys/age-demo-key.txt")
}

pub const DEMO_RECIPIENT: &str = "age1qgamc7jrgth9j65rmnneue3jrr46d7fv0f5jr2khzwdsyzqmq5qsfcugpw";

/// The control plane, with the demo key as the sops key of this process.
pub fn cluster() -> &'static ControlPlane {
    std::env::set_var("SOPS_AGE_KEY_FILE", demo_key());
    ControlPlane::shared()
}

/// A copy of fixture `name` with `NAMESPACE` replaced by `ns` in every YAML file.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub ns: String,
}

impl TestRepo {
    pub fn new(name: &str, ns: &str) -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        copy(&fixture(name), dir.path(), ns);
        TestRepo {
            dir,
            ns: ns.to_string(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text.replace("NAMESPACE", &self.ns)).unwrap();
    }

    /// Writes `plain` sops-encrypted to the demo key at `rel`, with the real sops.
    pub fn write_encrypted(&self, rel: &str, plain: &str) {
        let out = std::process::Command::new(peer("sops"))
            .args([
                "--encrypt",
                "--age",
                DEMO_RECIPIENT,
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "/dev/stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(plain.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "sops: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, out.stdout).unwrap();
    }

    pub fn target(&self, themes: &[&str]) -> Target {
        Target {
            root: self.root().to_path_buf(),
            env: "default".into(),
            themes: themes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
}

fn copy(from: &Path, to: &Path, ns: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy(&e.path(), &dst, ns);
        } else {
            let text = std::fs::read_to_string(e.path()).unwrap();
            std::fs::write(dst, text.replace("NAMESPACE", ns)).unwrap();
        }
    }
}

/// A wrapper around the real helm 3 that counts its invocations in a file.
pub struct CountingHelm {
    pub dir: tempfile::TempDir,
}

impl CountingHelm {
    pub fn new() -> CountingHelm {
        Self::with_script("")
    }

    /// `extra` is shell run before helm (e.g. a sleep to widen a window).
    pub fn with_script(extra: &str) -> CountingHelm {
        Self::of_peer("helm3", extra)
    }

    /// A wrapper around the peer `helm` (`helm3` or `helm4`).
    pub fn of_peer(helm: &str, extra: &str) -> CountingHelm {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        std::fs::write(&count, "").unwrap();
        let script = dir.path().join("helm");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n{extra}\nexec '{}' \"$@\"\n",
                count.display(),
                peer(helm).display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        CountingHelm { dir }
    }

    pub fn helm(&self) -> Helm {
        Helm::at(self.dir.path().join("helm"))
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("helm")
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("count"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn reset(&self) {
        std::fs::write(self.dir.path().join("count"), "").unwrap();
    }
}

pub fn options(cp: &ControlPlane, helm: Helm, state_ns: &str) -> RunOptions {
    let mut o = RunOptions::new(
        hfkit_kube::KubeOptions {
            kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
            ..Default::default()
        },
        helm,
    );
    o.state_namespace = state_ns.to_string();
    o.lock_timeout = Duration::from_secs(60);
    o.progress = Arc::new(|l| eprintln!("progress: {l}"));
    o
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Plans, prepares and applies.
pub fn apply(target: &Target, opts: &RunOptions) -> RunReport {
    let planned = plan::load(target).expect("plan");
    let prepared = plan::prepare(&planned).expect("prepare");
    runtime()
        .block_on(apply_all(&planned, prepared, opts))
        .expect("apply")
}

pub fn outcomes(r: &RunReport) -> Vec<(String, &'static str)> {
    r.results
        .iter()
        .map(|x| (x.release.clone(), x.outcome.as_str()))
        .collect()
}

/// A client; call inside the runtime that uses it.
pub async fn client(cp: &ControlPlane) -> kube::Client {
    hfkit_kube::connect(&hfkit_kube::KubeOptions {
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap()
    .client
}

/// A ConfigMap's data key, or None.
pub fn configmap(cp: &ControlPlane, ns: &str, name: &str, key: &str) -> Option<String> {
    runtime().block_on(async {
        let client = client(cp).await;
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, ns);
        api.get_opt(name)
            .await
            .unwrap()
            .and_then(|c| c.data)
            .and_then(|d| d.get(key).cloned())
    })
}

/// A Secret's data key, decoded, or None.
pub fn secret(cp: &ControlPlane, ns: &str, name: &str, key: &str) -> Option<String> {
    runtime().block_on(async {
        let client = client(cp).await;
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, ns);
        api.get_opt(name)
            .await
            .unwrap()
            .and_then(|c| c.data)
            .and_then(|d| d.get(key).cloned())
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    })
}
