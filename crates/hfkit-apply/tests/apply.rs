//! `apply_all` against the real control plane and the real helm 3.

mod common;

use std::time::Instant;

use common::*;

#[test]
fn installs_in_needs_order_then_noop_costs_no_helm() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-basic");
    let repo = TestRepo::new("basic", &ns);
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: s3cr3t-web\n",
    );
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);

    let first = apply(&target, &opts);
    assert_eq!(
        outcomes(&first),
        vec![("base".into(), "installed"), ("web".into(), "installed")]
    );
    assert_eq!(
        configmap(cp, &ns, "web-settings", "greeting").as_deref(),
        Some("hello-web")
    );
    assert_eq!(
        configmap(cp, &ns, "base-settings", "greeting").as_deref(),
        Some("hello")
    );
    assert_eq!(
        secret(cp, &ns, "web-secret", "password").as_deref(),
        Some("s3cr3t-web")
    );
    // The pre raw manifest went to the release namespace.
    assert_eq!(
        configmap(cp, &ns, "base-pre", "phase").as_deref(),
        Some("pre")
    );
    // helm was called exactly once per release.
    assert_eq!(helm.calls().len(), 2, "{:?}", helm.calls());

    // No-op: no helm process at all.
    helm.reset();
    let t = Instant::now();
    let second = apply(&target, &opts);
    let noop = t.elapsed();
    eprintln!("no-op apply of 2 releases: {noop:?}");
    assert_eq!(
        outcomes(&second),
        vec![("base".into(), "unchanged"), ("web".into(), "unchanged")]
    );
    assert!(helm.calls().is_empty(), "{:?}", helm.calls());

    // A change of a secret value re-applies only that release.
    repo.write_encrypted(
        "helmfiles/apps/values/web/common.secrets.yaml",
        "password: rotated\n",
    );
    let third = apply(&target, &opts);
    assert_eq!(
        outcomes(&third),
        vec![("base".into(), "unchanged"), ("web".into(), "upgraded")]
    );
    assert_eq!(
        secret(cp, &ns, "web-secret", "password").as_deref(),
        Some("rotated")
    );

    // --force re-applies everything.
    helm.reset();
    let mut forced = opts.clone();
    forced.force = true;
    let fourth = apply(&target, &forced);
    assert_eq!(
        outcomes(&fourth),
        vec![("base".into(), "upgraded"), ("web".into(), "upgraded")]
    );
    assert_eq!(helm.calls().len(), 2);
}
