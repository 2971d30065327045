//! Bad inputs: one line naming the cause, and nothing applied (planning and preparing
//! fail before any connection is made).

mod common;

use common::*;
use hfkit_apply::plan;

fn error_of(repo: &TestRepo) -> String {
    let target = repo.target(&["apps"]);
    let e = match plan::load(&target) {
        Err(e) => e,
        Ok(planned) => plan::prepare(&planned).expect_err("prepare should fail"),
    };
    let msg = e.to_string();
    eprintln!("bad input: {msg}");
    assert_eq!(msg.lines().count(), 1, "not one line: {msg}");
    msg
}

fn repo_with(helmfile: &str) -> TestRepo {
    let repo = TestRepo::new("basic", "bad-inputs");
    repo.write("helmfiles/apps/helmfile.yaml", helmfile);
    repo
}

#[test]
fn cyclic_needs() {
    let repo = repo_with("releases:\n- name: a\n  chart: ../../charts/simple\n  needs: [b]\n- name: b\n  chart: ../../charts/simple\n  needs: [a]\n");
    let msg = error_of(&repo);
    assert!(msg.contains("needs cycle"), "{msg}");
}

#[test]
fn missing_chart() {
    let repo = repo_with("releases:\n- name: a\n  namespace: x\n  chart: ../../charts/nope\n");
    let msg = error_of(&repo);
    assert!(
        msg.contains("release `apps/a`")
            && msg.contains("charts/nope")
            && msg.contains("not found"),
        "{msg}"
    );
}

#[test]
fn undeclared_repository() {
    let repo = repo_with("releases:\n- name: a\n  chart: bitnami/nginx\n");
    let msg = error_of(&repo);
    assert!(
        msg.contains("repository `bitnami` is not declared"),
        "{msg}"
    );
}

#[test]
fn malformed_helmfile() {
    let repo = repo_with("releases:\n- name: a\n  chart: [unclosed\n");
    let msg = error_of(&repo);
    assert!(msg.contains("helmfile.yaml"), "{msg}");
}

#[test]
fn unknown_template_expression() {
    let repo = repo_with("releases:\n- name: a\n  chart: ../../charts/simple\n  namespace: '{{ requiredEnv \"X\" }}'\n");
    let msg = error_of(&repo);
    assert!(msg.contains("requiredEnv"), "{msg}");
}

#[test]
fn undecryptable_secret_layer() {
    let repo = TestRepo::new("basic", "bad-inputs");
    std::env::set_var("SOPS_AGE_KEY_FILE", demo_key());
    // Encrypted to a fresh key the demo key cannot open.
    let keygen = std::process::Command::new(hfkit_testcluster::peer("age-keygen"))
        .output()
        .unwrap();
    let key = String::from_utf8_lossy(&keygen.stdout).into_owned();
    let recipient = String::from_utf8_lossy(&keygen.stderr)
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert!(recipient.starts_with("age1"), "{recipient} {key}");
    let out = std::process::Command::new(hfkit_testcluster::peer("sops"))
        .args([
            "--encrypt",
            "--age",
            &recipient,
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "/dev/stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"password: x\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    std::fs::write(
        repo.path("helmfiles/apps/values/web/common.secrets.yaml"),
        &out.stdout,
    )
    .unwrap();
    let msg = error_of(&repo);
    assert!(
        msg.contains("release `apps/web`") && msg.contains("common.secrets.yaml"),
        "{msg}"
    );
    // A layer that is not encrypted at all is refused too.
    repo.write(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: plain\n",
    );
    let msg = error_of(&repo);
    assert!(msg.contains("not sops-encrypted"), "{msg}");
}

#[test]
fn unknown_theme() {
    let repo = TestRepo::new("basic", "bad-inputs");
    let e = plan::load(&repo.target(&["nope"])).unwrap_err().to_string();
    assert_eq!(e, "theme `nope` not found (themes: apps)");
}

#[test]
fn releases_of_several_kube_contexts_are_refused() {
    let repo = repo_with("releases:\n- name: a\n  chart: ../../charts/simple\n  kubeContext: one\n- name: b\n  chart: ../../charts/simple\n  kubeContext: two\n");
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    let prepared = plan::prepare(&planned).unwrap();
    let e = plan::kube_for(&Default::default(), &prepared)
        .unwrap_err()
        .to_string();
    assert!(e.contains("kube context(s) one, two"), "{e}");
    // One context: it is the connection's, unless --context says another.
    let one = &prepared[..1];
    assert_eq!(
        plan::kube_for(&Default::default(), one)
            .unwrap()
            .context
            .as_deref(),
        Some("one")
    );
    let other = hfkit_kube::KubeOptions {
        context: Some("zzz".into()),
        ..Default::default()
    };
    assert!(plan::kube_for(&other, one).is_err());
}

#[test]
fn plain_raw_manifest_named_as_a_secret_is_refused() {
    let repo = TestRepo::new("basic", "bad-inputs");
    std::env::set_var("SOPS_AGE_KEY_FILE", demo_key());
    repo.write(
        "helmfiles/apps/values/web/raw/token.secrets.pre.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: in-clear-123\n",
    );
    let msg = error_of(&repo);
    assert!(
        msg.contains("release `apps/web`")
            && msg.contains("token.secrets.pre.yaml")
            && msg.contains("not sops-encrypted")
            && msg.contains("kubectl sopsraw encrypt -i"),
        "{msg}"
    );
    assert!(!msg.contains("in-clear-123"), "{msg}");
}
