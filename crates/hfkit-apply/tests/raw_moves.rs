//! Raw manifests moved between the sets of one run are not pruned: a Namespace and a
//! ConfigMap moved from a release's pre manifests to its post ones (real control plane,
//! real helm 3). Protected kinds leaving the raw manifests are kept and reported unless
//! `allow_prune` names them; diff shows only what an apply would delete.

mod common;

use common::*;
use hfkit_apply::diff::{diff_all, DiffOptions, DiffReport};
use hfkit_apply::run::RunOptions;

/// `(HTTP code, uid, status.phase, deletionTimestamp set)` of an object.
fn state(cp: &hfkit_testcluster::ControlPlane, path: &str) -> (u16, String, String, bool) {
    let (code, body) = cp.request("GET", path, None).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    (
        code,
        v["metadata"]["uid"].as_str().unwrap_or_default().into(),
        v["status"]["phase"].as_str().unwrap_or_default().into(),
        !v["metadata"]["deletionTimestamp"].is_null(),
    )
}

fn diff(target: &hfkit_apply::plan::Target, opts: &RunOptions) -> DiffReport {
    let planned = hfkit_apply::plan::load(target).unwrap();
    let prepared = hfkit_apply::plan::prepare(&planned).unwrap();
    runtime()
        .block_on(diff_all(
            &planned,
            prepared,
            &DiffOptions {
                kube: opts.kube.clone(),
                helm: opts.helm.clone(),
                state_namespace: opts.state_namespace.clone(),
                context: 3,
                concurrency: 2,
                allow_prune: opts.allow_prune.clone(),
            },
        ))
        .unwrap()
}

fn deletions(d: &DiffReport) -> Vec<String> {
    d.releases
        .iter()
        .flat_map(|r| r.raw.iter())
        .filter(|c| c.change == "delete")
        .map(|c| c.object.clone())
        .collect()
}

#[test]
fn namespace_and_configmap_moved_from_pre_to_post_are_not_deleted() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-move");
    let repo = TestRepo::new("basic", &ns);
    let extra = format!("{ns}-x");
    let objects = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: moving\n  namespace: {extra}\ndata:\n  k: v\n"
    );
    repo.write("helmfiles/apps/values/base/raw/moving.pre.yaml", &objects);
    let helm = CountingHelm::new();
    let opts = options(cp, helm.helm(), &format!("{ns}-state"));
    let target = repo.target(&["apps"]);
    apply(&target, &opts);
    let ns_path = format!("/api/v1/namespaces/{extra}");
    let cm_path = format!("/api/v1/namespaces/{extra}/configmaps/moving");
    let (code, ns_uid, phase, _) = state(cp, &ns_path);
    assert_eq!((code, phase.as_str()), (200, "Active"));
    let (code, cm_uid, _, _) = state(cp, &cm_path);
    assert_eq!(code, 200);

    // Moved to the post manifests of the same release.
    std::fs::remove_file(repo.path("helmfiles/apps/values/base/raw/moving.pre.yaml")).unwrap();
    repo.write("helmfiles/apps/values/base/raw/moving.post.yaml", &objects);
    let d = diff(&target, &opts);
    assert!(
        deletions(&d).is_empty(),
        "diff shows deletions of moved objects:\n{}",
        hfkit_apply::diff::text(&d, false)
    );
    // The fingerprint does not see a file move from pre to post (same bytes): force.
    let mut forced = opts.clone();
    forced.force = true;
    let r = apply(&target, &forced);
    assert_eq!(
        outcomes(&r)[0],
        ("base".into(), "upgraded"),
        "{:?}",
        r.results
    );
    let (code, uid, phase, deleting) = state(cp, &ns_path);
    assert_eq!(
        (code, phase.as_str(), deleting),
        (200, "Active", false),
        "the moved Namespace was deleted"
    );
    assert_eq!(uid, ns_uid, "the moved Namespace was re-created");
    let (code, uid, _, _) = state(cp, &cm_path);
    assert_eq!(code, 200, "the moved ConfigMap is gone");
    assert_eq!(
        uid, cm_uid,
        "the moved ConfigMap was deleted and re-created"
    );

    // The next run is a no-op, and a diff shows nothing.
    let r = apply(&target, &opts);
    assert!(r.results.iter().all(|r| r.outcome.as_str() == "unchanged"));
    let d = diff(&target, &opts);
    assert!(!d.has_changes(), "{}", hfkit_apply::diff::text(&d, false));

    // Removed for good: the ConfigMap is pruned, the Namespace kept and reported ...
    std::fs::remove_file(repo.path("helmfiles/apps/values/base/raw/moving.post.yaml")).unwrap();
    let d = diff(&target, &opts);
    assert_eq!(deletions(&d), [format!("configmap/moving -n {extra}")]);
    let text = hfkit_apply::diff::text(&d, false);
    assert!(
        text.contains(&format!("kept namespace/{extra}"))
            && text.contains("--allow-prune-kind Namespace"),
        "{text}"
    );
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut o = opts.clone();
    let sink = lines.clone();
    o.progress = std::sync::Arc::new(move |l| sink.lock().unwrap().push(l.to_string()));
    apply(&target, &o);
    assert_eq!(state(cp, &cm_path).0, 404);
    let (code, _, phase, _) = state(cp, &ns_path);
    assert_eq!((code, phase.as_str()), (200, "Active"));
    let said = lines.lock().unwrap().join("\n");
    assert!(
        said.contains(&format!(
            "kept namespace/{extra}: removed from the set but not pruned"
        )) && said.contains("--allow-prune-kind Namespace"),
        "{said}"
    );
    // ... until allowed: still a member, so the next apply with the flag deletes it.
    let mut allowed = opts.clone();
    allowed.allow_prune = [hfkit_kube::ProtectedKind::Namespace].into();
    allowed.force = true;
    let d = diff(&target, &allowed);
    assert_eq!(deletions(&d), [format!("namespace/{extra}")]);
    apply(&target, &allowed);
    let (code, _, _, deleting) = state(cp, &ns_path);
    // No namespace controller in the test cluster: deleted means Terminating.
    assert!(code == 404 || deleting, "the Namespace was not deleted");
}
