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
    // Encrypted to another recipient: the demo key cannot open it.
    repo.write(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: plain-not-encrypted\n",
    );
    std::env::set_var("SOPS_AGE_KEY_FILE", demo_key());
    let msg = error_of(&repo);
    assert!(
        msg.contains("release `apps/web`") && msg.contains("common.secrets.yaml"),
        "{msg}"
    );
}

#[test]
fn unknown_theme() {
    let repo = TestRepo::new("basic", "bad-inputs");
    let e = plan::load(&repo.target(&["nope"])).unwrap_err().to_string();
    assert_eq!(e, "theme `nope` not found (themes: apps)");
}
