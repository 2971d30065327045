//! `helm layered` end to end with the real helm 3 and helm 4 (no cluster needed).

mod common;

use common::*;
use std::path::Path;

/// A theme with the four plain default layers for release `plex`.
fn theme(dir: &Path) {
    write(
        dir,
        "values/common.yaml",
        "global:\n  domain: example.org\nreplicas: 1\nb: from-common\n",
    );
    write(dir, "values/production.yaml", "replicas: 2\n");
    write(
        dir,
        "values/plex/common.yaml",
        "image:\n  tag: \"1.0\"\n  pullPolicy: IfNotPresent\ningress:\n  hosts: [a.example.org, b.example.org]\n",
    );
    write(
        dir,
        "values/plex/production.yaml",
        "# production overrides\ningress:\n  hosts:\n    - plex.example.org\na:\n  b: null\nd:\n  e: {a: 2}\n",
    );
}

#[test]
fn template_renders_byte_for_byte_what_helm_renders_with_four_f_files() {
    for major in [3, 4] {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        theme(dir.path());
        values_chart(dir.path());
        let helm = helm(major);
        let ours = run(
            command(&layered(), &helm, home.path())
                .current_dir(dir.path())
                .args([
                    "template",
                    "plex",
                    "./charts/echo",
                    "--env",
                    "production",
                    "-n",
                    "media",
                ]),
            true,
        );
        let theirs = run(
            command(&helm, &helm, home.path())
                .current_dir(dir.path())
                .args([
                    "template",
                    "plex",
                    "./charts/echo",
                    "-n",
                    "media",
                    "-f",
                    "values/common.yaml",
                    "-f",
                    "values/production.yaml",
                    "-f",
                    "values/plex/common.yaml",
                    "-f",
                    "values/plex/production.yaml",
                ]),
            true,
        );
        assert_eq!(stdout(&ours), stdout(&theirs), "helm {major}");
        // The stack did something: the release-environment layer won.
        assert!(stdout(&ours).contains("plex.example.org"), "helm {major}");
        assert!(!stdout(&ours).contains("a.example.org"), "helm {major}");
    }
}

#[test]
fn user_flags_still_override_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    values_chart(dir.path());
    write(dir.path(), "extra.yaml", "replicas: 9\n");
    let out = layered_in(
        dir.path(),
        home.path(),
        &[
            "template",
            "plex",
            "./charts/echo",
            "--env",
            "production",
            "-f",
            "extra.yaml",
            "--set",
            "b=cli",
        ],
        true,
    );
    let text = stdout(&out);
    assert!(text.contains("replicas: 9"), "{text}");
    assert!(text.contains("b: cli"), "{text}");
}

#[test]
fn values_and_explain_show_the_stack_and_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "production"],
        true,
    );
    assert_eq!(
        stdout(&out),
        "global:\n  domain: example.org\nreplicas: 2\nb: from-common\nimage:\n  tag: \"1.0\"\n  pullPolicy: IfNotPresent\ningress:\n  hosts:\n    - plex.example.org\na:\n  b: null\nd:\n  e:\n    a: 2\n"
    );
    let out = layered_in(
        dir.path(),
        home.path(),
        &["explain", "plex", "ingress.hosts", "--env", "production"],
        true,
    );
    let text = stdout(&out);
    assert!(
        text.contains("ingress.hosts = [1 item]    # values/plex/production.yaml:3 (overrides values/plex/common.yaml:5)"),
        "{text}"
    );
    assert!(text.contains("layers missing (skipped): values/plex/common.secrets.yaml, values/plex/production.secrets.yaml"), "{text}");
    assert!(!text.contains("replicas"), "filter ignored:\n{text}");

    let out = layered_in(
        dir.path(),
        home.path(),
        &["explain", "plex", "--env", "production", "-o", "json"],
        true,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let replicas = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "replicas")
        .unwrap();
    assert_eq!(replicas["file"], "values/production.yaml");
    assert_eq!(replicas["overrides"][0], "values/common.yaml:3");
}

#[test]
fn invalid_yaml_layer_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    write(
        dir.path(),
        "values/plex/common.yaml",
        "image:\n  tag: [1.0\nother: x\n",
    );
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "production"],
        false,
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("Error: values/plex/common.yaml:3:"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_layer_that_is_a_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    write(dir.path(), "values/production.yaml", "- replicas: 2\n");
    let out = layered_in(
        dir.path(),
        home.path(),
        &["template", "plex", "./charts/echo", "--env", "production"],
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("values/production.yaml:1:1: the top level is a list; a values file must be a map of keys"),
        "{err}"
    );
}

#[test]
fn an_unreadable_layer_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    // Tests run as root in CI, where permissions do not stop reads: a directory in the
    // layer's place and bytes that are not UTF-8 are unreadable for anyone.
    std::fs::create_dir_all(dir.path().join("values/plex/production.yaml.d")).unwrap();
    std::fs::remove_file(dir.path().join("values/plex/production.yaml")).unwrap();
    std::fs::rename(
        dir.path().join("values/plex/production.yaml.d"),
        dir.path().join("values/plex/production.yaml"),
    )
    .unwrap();
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "production"],
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("values/plex/production.yaml: cannot read the layer:"),
        "{err}"
    );

    std::fs::remove_dir(dir.path().join("values/plex/production.yaml")).unwrap();
    std::fs::write(
        dir.path().join("values/plex/production.yaml"),
        b"a: \xff\xfe\n",
    )
    .unwrap();
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "production"],
        false,
    );
    assert!(
        stderr(&out).contains("values/plex/production.yaml: the layer is not UTF-8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_environment_warns() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "prodution"],
        true,
    );
    assert!(
        stderr(&out).contains("warning: no layer file exists for this environment (values/prodution.yaml, values/plex/prodution.yaml, values/plex/prodution.secrets.yaml); check --env"),
        "{}",
        stderr(&out)
    );
    // The common layers still apply.
    assert!(stdout(&out).contains("replicas: 1"));

    // helmfile's implicit `default` environment without files of its own is normal.
    let out = layered_in(dir.path(), home.path(), &["values", "plex"], true);
    assert_eq!(stderr(&out), "");
}

#[test]
fn release_names_with_path_characters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    for bad in ["../plex", "plex/x", "..", "Plex"] {
        let out = layered_in(
            dir.path(),
            home.path(),
            &["values", bad, "--env", "production"],
            false,
        );
        assert!(
            stderr(&out).contains(&format!("invalid release name `{bad}`")),
            "{}",
            stderr(&out)
        );
    }
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "../../etc"],
        false,
    );
    assert!(
        stderr(&out).contains("invalid environment name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_secrets_layer_is_never_silently_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    theme(dir.path());
    write(
        dir.path(),
        "values/plex/common.secrets.yaml",
        "not: really encrypted\n",
    );
    let out = layered_in(
        dir.path(),
        home.path(),
        &["values", "plex", "--env", "production"],
        false,
    );
    assert!(
        stderr(&out).contains("values/plex/common.secrets.yaml: cannot decrypt the secrets layer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn layer_patterns_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let theme_dir = dir.path().join("helmfiles/media");
    write(
        dir.path(),
        ".helm-layered.yaml",
        "layers:\n  - ../../shared/{{env}}.yaml\n  - '{{theme}}/{{release}}.yaml'\nsecrets: []\n",
    );
    write(dir.path(), "shared/prod.yaml", "a: shared\nb: shared\n");
    write(&theme_dir, "media/plex.yaml", "b: theme\n");
    let out = layered_in(
        &theme_dir,
        home.path(),
        &["values", "plex", "--env", "prod"],
        true,
    );
    assert_eq!(stdout(&out), "a: shared\nb: theme\n");

    write(
        dir.path(),
        ".helm-layered.yaml",
        "layers:\n  - values/{{nope}}.yaml\n",
    );
    let out = layered_in(
        &theme_dir,
        home.path(),
        &["values", "plex", "--env", "prod"],
        false,
    );
    assert!(
        stderr(&out).contains("layer pattern `values/{{nope}}.yaml`"),
        "{}",
        stderr(&out)
    );

    write(
        dir.path(),
        ".helm-layered.yaml",
        "layer:\n  - values/x.yaml\n",
    );
    let out = layered_in(
        &theme_dir,
        home.path(),
        &["values", "plex", "--env", "prod"],
        false,
    );
    assert!(
        stderr(&out).contains(".helm-layered.yaml:1: unknown key `layer`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn values_never_touch_the_disk() {
    // The stack goes to helm on stdin: a private TMPDIR stays empty, and a failing
    // helm leaves nothing behind either.
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    theme(dir.path());
    values_chart(dir.path());
    for (chart, ok) in [("./charts/echo", true), ("./charts/missing", false)] {
        run(
            command(&layered(), &helm(4), home.path())
                .current_dir(dir.path())
                .env("TMPDIR", tmp.path())
                .args(["template", "plex", chart, "--env", "production"]),
            ok,
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
    let out = run(
        command(&layered(), &helm(4), home.path())
            .current_dir(dir.path())
            .args(["template", "plex", "./charts/echo", "-f", "-"]),
        false,
    );
    assert!(stderr(&out).contains("`-f -` is taken"), "{}", stderr(&out));
}

#[test]
fn bash_completion_completes_subcommands() {
    let out = run(
        std::process::Command::new("bash").arg("-c").arg(format!(
            "source <({} completion bash); COMP_WORDS=(helm-layered ex); COMP_CWORD=1; \
             _helm__layered helm-layered ex helm-layered; echo \"${{COMPREPLY[@]}}\"",
            layered().display()
        )),
        true,
    );
    assert_eq!(stdout(&out), "explain\n");
}
