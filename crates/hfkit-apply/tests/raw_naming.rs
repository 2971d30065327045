//! The seed's raw manifest names, applied through a real apply (real control plane,
//! real helm 3, files encrypted by the real sops): `common`/environment scopes, both
//! orders of the secret marker, the seed's encrypted
//! `workers-secrets.default.post.secret.yaml`, files of another environment left out,
//! and refusals (a plain file named as a secret, a misnamed file, a theme-level `raw/`).

mod common;

use common::*;
use hfkit_apply::plan;

const RAW: &str = "helmfiles/apps/values/base/raw";

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n")
}

/// The apps theme declaring `staging` too, so that `.staging.` is an environment part.
fn with_staging(repo: &TestRepo) {
    let hf = repo.path("helmfiles/apps/helmfile.yaml");
    let text = std::fs::read_to_string(&hf).unwrap();
    std::fs::write(
        &hf,
        format!("environments:\n  default: {{}}\n  staging: {{}}\n---\n{text}"),
    )
    .unwrap();
}

fn names(manifests: &[hfkit_kube::Manifest]) -> Vec<String> {
    manifests.iter().map(|m| m.name().to_string()).collect()
}

fn prepare_error(repo: &TestRepo) -> String {
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    let e = plan::prepare(&planned).unwrap_err().to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn seed_names_are_applied_per_environment_and_decrypted() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-rawname");
    let repo = TestRepo::new("basic", &ns);
    with_staging(&repo);
    // Both orders of the secret marker (and `.yml`), encrypted by the real sops.
    repo.write_encrypted(
        &format!("{RAW}/order-a.secrets.pre.yaml"),
        &cm("order-a", "secret-a"),
    );
    repo.write_encrypted(
        &format!("{RAW}/order-b.pre.secret.yml"),
        &cm("order-b", "secret-b"),
    );
    // The seed's hook conventions: common, then the environment's.
    repo.write(
        &format!("{RAW}/zz-common.common.pre.yaml"),
        &cm("zz-common", "c"),
    );
    repo.write(
        &format!("{RAW}/aa-env.default.pre.yaml"),
        &cm("aa-env", "d"),
    );
    // Another declared environment: not applied in `default`.
    repo.write(
        &format!("{RAW}/staging-only.staging.pre.yaml"),
        &cm("staging-only", "s"),
    );
    // Not a declared environment: part of the name, applied everywhere.
    repo.write(&format!("{RAW}/a.b.post.yaml"), &cm("a-b", "ab"));
    // The seed's file: `<name>.default.post.secret.yaml`, sops-encrypted.
    repo.write_encrypted(
        &format!("{RAW}/workers-secrets.default.post.secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: workers-secrets\nstringData:\n  ca.crt: seed-ca-123\n",
    );
    // Encrypted without saying so in its name: decrypted anyway.
    repo.write_encrypted(&format!("{RAW}/quiet.post.yaml"), &cm("quiet", "q"));
    // Not manifests: left alone.
    repo.write(&format!("{RAW}/old.pre.yml.bak"), "not: [yaml");
    repo.write(&format!("{RAW}/README.txt"), "notes");

    let target = repo.target(&["apps"]);
    let planned = plan::load(&target).unwrap();
    let prepared = plan::prepare(&planned).unwrap();
    let base = prepared.iter().find(|p| p.name == "base").unwrap();
    // Unscoped and common files first, then the environment's, each by file name.
    assert_eq!(
        names(&base.pre),
        ["base-pre", "order-a", "order-b", "zz-common", "aa-env"]
    );
    assert_eq!(names(&base.post), ["a-b", "quiet", "workers-secrets"]);

    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let r = apply(&target, &opts);
    assert!(
        r.results.iter().all(|x| x.outcome.as_str() == "installed"),
        "{:?}",
        r.results
    );
    for (name, value) in [
        ("order-a", "secret-a"),
        ("order-b", "secret-b"),
        ("zz-common", "c"),
        ("aa-env", "d"),
        ("a-b", "ab"),
        ("quiet", "q"),
    ] {
        // Applied into the release's namespace (the files name none).
        assert_eq!(
            configmap(cp, &ns, name, "k").as_deref(),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(configmap(cp, &ns, "staging-only", "k"), None);
    assert_eq!(
        secret(cp, &ns, "workers-secrets", "ca.crt").as_deref(),
        Some("seed-ca-123")
    );
}

#[test]
fn plain_file_named_secret_misnamed_files_and_theme_raw_are_refused() {
    // Refused while preparing: no cluster needed.
    std::env::set_var("SOPS_AGE_KEY_FILE", demo_key());
    let repo = TestRepo::new("basic", "raw-refusals");
    // The seed's singular `.secret.yaml` ending, but in clear.
    repo.write(
        &format!("{RAW}/workers.default.post.secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: w\nstringData:\n  k: in-clear-456\n",
    );
    let e = prepare_error(&repo);
    assert!(
        e.contains("release `apps/base`")
            && e.contains("workers.default.post.secret.yaml")
            && e.contains("not sops-encrypted")
            && e.contains("kubectl sopsraw encrypt -i")
            && !e.contains("in-clear-456"),
        "{e}"
    );
    std::fs::remove_file(repo.path(&format!("{RAW}/workers.default.post.secret.yaml"))).unwrap();

    for bad in ["x.prepare.yaml", "x.yaml", "x.pre.post.yaml"] {
        repo.write(&format!("{RAW}/{bad}"), &cm("x", "x"));
        let e = prepare_error(&repo);
        assert!(
            e.contains(&format!("{RAW}/{bad}: not a raw manifest name"))
                && e.contains("x.pre.yaml"),
            "{bad}: {e}"
        );
        std::fs::remove_file(repo.path(&format!("{RAW}/{bad}"))).unwrap();
    }

    // A theme-level raw/ directory: refused, not dropped.
    repo.write("helmfiles/apps/raw/cluster.pre.yaml", &cm("cluster", "c"));
    let e = prepare_error(&repo);
    assert!(
        e.contains("helmfiles/apps/raw/cluster.pre.yaml")
            && e.contains("theme-level raw manifests")
            && e.contains("values/<release>/raw/"),
        "{e}"
    );
    std::fs::remove_file(repo.path("helmfiles/apps/raw/cluster.pre.yaml")).unwrap();
    // Other files there are not manifests: fine.
    repo.write("helmfiles/apps/raw/notes.md", "notes");
    let planned = plan::load(&repo.target(&["apps"])).unwrap();
    plan::prepare(&planned).unwrap();
}
