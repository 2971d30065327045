//! Smoke test of the test cluster: a real etcd + kube-apiserver (built by
//! `scripts/peers.sh`), driven with the `kube` crate, real helm 3 / helm 4 and kubectl.

use std::path::{Path, PathBuf};
use std::process::Command;

use hfkit_testcluster::{peer, ControlPlane};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hfkit-smoke-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cmd`, panics with its output unless it succeeds; returns stdout.
fn run(mut cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shown} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn apiserver_reports_its_real_version() {
    let cp = ControlPlane::shared();
    let (code, body) = cp.request("GET", "/version", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["gitVersion"], "v1.36.3", "{body}");
    assert_eq!(v["major"], "1", "{body}");
    assert_eq!(v["minor"], "36", "{body}");
}

#[test]
fn configmap_server_side_apply_round_trip_with_kube() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("smoke-kube");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(cp.kubeconfig_path()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, &ns);
        let cm = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": "smoke" },
            "data": { "greeting": "hello from hfkit" },
        });
        let applied = api
            .patch(
                "smoke",
                &PatchParams::apply("hfkit-smoke"),
                &Patch::Apply(&cm),
            )
            .await
            .unwrap();
        let managers: Vec<_> = applied
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(
            managers.contains(&"hfkit-smoke".to_string()),
            "{managers:?}"
        );
        let got = api.get("smoke").await.unwrap();
        assert_eq!(
            got.data.unwrap().get("greeting").map(String::as_str),
            Some("hello from hfkit")
        );
    });
}

fn write_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("smoke");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: smoke\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    chart
}

fn helm_round_trip(helm_peer: &str) {
    let cp = ControlPlane::shared();
    let bin = peer(helm_peer);
    let ns = cp.new_namespace(&format!("smoke-{helm_peer}"));
    let tmp = temp_dir(helm_peer);
    let chart = write_chart(&tmp);
    let helm = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args)
            .args(["--namespace", &ns])
            .env("KUBECONFIG", cp.kubeconfig_path())
            .env("HELM_CACHE_HOME", tmp.join("cache"))
            .env("HELM_CONFIG_HOME", tmp.join("config"))
            .env("HELM_DATA_HOME", tmp.join("data"))
            .env_remove("HELM_DRIVER")
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT");
        run(c)
    };
    let rel = "smoke";
    helm(&[
        "install",
        rel,
        chart.to_str().unwrap(),
        "--set",
        "greeting=hi-from-helm",
    ]);

    let manifest = helm(&["get", "manifest", rel]);
    assert!(manifest.contains("kind: ConfigMap"), "{manifest}");
    assert!(manifest.contains("name: smoke-cm"), "{manifest}");
    let list = helm(&["list", "--output", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], rel, "{list}");
    assert_eq!(list[0]["status"], "deployed", "{list}");

    let cm_path = format!("/api/v1/namespaces/{ns}/configmaps/smoke-cm");
    let (code, body) = cp.request("GET", &cm_path, None).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("hi-from-helm"), "{body}");

    helm(&["uninstall", rel]);
    let (code, body) = cp.request("GET", &cm_path, None).unwrap();
    assert_eq!(code, 404, "still there after uninstall: {body}");
    let list = helm(&["list", "--output", "json"]);
    assert_eq!(list.trim(), "[]");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn helm3_install_get_list_uninstall() {
    helm_round_trip("helm3");
}

#[test]
fn helm4_install_get_list_uninstall() {
    helm_round_trip("helm4");
}

#[test]
fn kubectl_lists_namespaces() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("smoke-kubectl");
    let mut c = Command::new("kubectl");
    c.arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .args(["get", "namespaces", "-o", "name"]);
    let out = run(c);
    assert!(out.contains(&format!("namespace/{ns}")), "{out}");
    assert!(out.contains("namespace/kube-system"), "{out}");
}

#[test]
fn namespaces_are_fresh_and_distinct() {
    let cp = ControlPlane::shared();
    let a = cp.new_namespace("Smoke_NS");
    let b = cp.new_namespace("Smoke_NS");
    assert_ne!(a, b);
    assert!(a.starts_with("smoke-ns-"), "{a}");
    let (code, body) = cp
        .request("GET", &format!("/api/v1/namespaces/{a}"), None)
        .unwrap();
    assert_eq!(code, 200, "{body}");
}
