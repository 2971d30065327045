//! `helm layered upgrade` and `helm layered diff` against a real kube-apiserver with the
//! real helm 3 and helm 4.

mod common;

use common::*;
use hfkit_testcluster::ControlPlane;
use std::path::Path;

fn chart(dir: &Path) {
    let c = dir.join("charts/app");
    write(
        &c,
        "Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(
        &c,
        "values.yaml",
        "greeting: hello\npassword: changeme\nreplicas: 1\n",
    );
    write(
        &c,
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  replicas: {{ .Values.replicas | quote }}\n",
    );
    write(
        &c,
        "templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-secret\ntype: Opaque\ndata:\n  password: {{ .Values.password | b64enc | quote }}\n  user: {{ \"admin\" | b64enc | quote }}\n",
    );
}

fn layered_in(dir: &Path, helm: &Path, home: &Path, kubeconfig: &Path) -> std::process::Command {
    let mut cmd = command(&layered(), helm, home);
    cmd.current_dir(dir).env("KUBECONFIG", kubeconfig);
    cmd
}

fn diff_then_upgrade(major: u32) {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace(&format!("layered-diff-h{major}"));
    let helm = helm(major);
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    chart(dir.path());
    write(dir.path(), "values/common.yaml", "replicas: 2\n");
    write(
        dir.path(),
        "values/web/production.yaml",
        "greeting: hi\npassword: s3cr3t-one\n",
    );
    let kc = cp.kubeconfig_path();
    let base = [
        "web",
        "./charts/app",
        "--env",
        "production",
        "-n",
        ns.as_str(),
    ];

    // Not deployed yet: everything is new, and --detailed-exitcode says so.
    let out = layered_in(dir.path(), &helm, home.path(), kc)
        .arg("diff")
        .args(base)
        .arg("--detailed-exitcode")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ConfigMap/web-cfg will be added"), "{text}");
    assert!(text.contains("Secret/web-secret will be added"), "{text}");
    assert!(
        !text.contains("s3cr3t") && !text.contains("czNjcjN0"),
        "secret leaked:\n{text}"
    );

    run(
        layered_in(dir.path(), &helm, home.path(), kc)
            .arg("upgrade")
            .args(base),
        true,
    );

    // Deployed with the same inputs: no diff at all.
    let out = layered_in(dir.path(), &helm, home.path(), kc)
        .arg("diff")
        .args(base)
        .arg("--detailed-exitcode")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");

    // One layer changes: only what it touches shows, secrets as redacted markers.
    write(
        dir.path(),
        "values/web/production.yaml",
        "greeting: hi\npassword: s3cr3t-two!\n",
    );
    write(dir.path(), "values/common.yaml", "replicas: 3\n");
    let out = layered_in(dir.path(), &helm, home.path(), kc)
        .arg("diff")
        .args(base)
        .arg("--detailed-exitcode")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("has changed"), "{text}");
    assert!(
        text.contains("-  replicas: \"2\"\n+  replicas: \"3\""),
        "{text}"
    );
    assert!(
        text.contains("-  password: \"(redacted, 10 bytes)\""),
        "{text}"
    );
    assert!(
        text.contains("+  password: \"(redacted, 11 bytes, changed)\""),
        "{text}"
    );
    assert!(
        text.contains("\n   user: \"(redacted, 5 bytes)\"\n"),
        "unchanged key as context:\n{text}"
    );
    assert!(
        !text.contains("s3cr3t") && !text.contains("czNjcjN0"),
        "secret leaked:\n{text}"
    );

    // Without --detailed-exitcode changes are not an error.
    let out = layered_in(dir.path(), &helm, home.path(), kc)
        .arg("diff")
        .args(base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    run(
        layered_in(dir.path(), &helm, home.path(), kc)
            .arg("upgrade")
            .args(base),
        true,
    );
    let out = layered_in(dir.path(), &helm, home.path(), kc)
        .arg("diff")
        .args(base)
        .arg("--detailed-exitcode")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // helm sees the release as upgraded once.
    let out = run(
        command(&helm, &helm, home.path())
            .env("KUBECONFIG", kc)
            .args(["history", "web", "-n", &ns, "-o", "json"]),
        true,
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
}

#[test]
fn diff_and_upgrade_with_helm3() {
    diff_then_upgrade(3);
}

#[test]
fn diff_and_upgrade_with_helm4() {
    diff_then_upgrade(4);
}

#[test]
fn diff_reports_an_unreachable_cluster_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    chart(dir.path());
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: x\n",
    )
    .unwrap();
    let out = run(
        layered_in(dir.path(), &helm(3), home.path(), &kc).args(["diff", "web", "./charts/app"]),
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reading the deployed release (is the cluster reachable?)"),
        "{}",
        stderr(&out)
    );
}
