//! Prune keeps what is still wanted, against the real kube-apiserver (hfkit-testcluster):
//! an object moved to another version of its API group is the same member of its set;
//! inventories written before identities were group-based still read; Namespaces, CRDs
//! and PersistentVolumes leaving a set are kept unless explicitly allowed; `diff` shows
//! what a prune would delete, and only that.

use std::path::Path;

use hfkit_kube::{apply, connect, diff, Action, ApplyOptions, Change, DiffOptions, KubeOptions};
use hfkit_sops::Keyring;
use hfkit_testcluster::ControlPlane;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn parse(text: &str) -> Vec<hfkit_kube::Manifest> {
    hfkit_kube::manifests::parse_manifests(Path::new("test.yaml"), text, &Keyring::new()).unwrap()
}

fn kube_opts(cp: &ControlPlane, ns: &str) -> KubeOptions {
    KubeOptions {
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        context: None,
        namespace: Some(ns.to_string()),
    }
}

/// `(HTTP code, metadata.uid)` of the object at `path`.
fn uid(cp: &ControlPlane, path: &str) -> (u16, String) {
    let (code, body) = cp.request("GET", path, None).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    (
        code,
        v["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn set_opts(set: &str, prune: bool) -> ApplyOptions {
    ApplyOptions {
        set: Some(set.to_string()),
        prune,
        ..Default::default()
    }
}

fn pruned(r: &hfkit_kube::ApplyReport) -> Vec<String> {
    r.outcomes
        .iter()
        .filter(|o| o.action == Action::Pruned)
        .map(|o| o.object.to_string())
        .collect()
}

/// A CRD serving `v1beta1` and `v1` (storage `v1`, conversion `None`): a custom
/// resource moved from one to the other must not be deleted by the prune that follows
/// its apply (as `policy/v1beta1` → `policy/v1` did).
#[test]
fn object_moved_to_another_version_of_its_group_is_not_pruned() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfkit-kube-gv");
    // CRDs are cluster-wide: a group of this test's own.
    let group = format!("{ns}.hfkit.test");
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\n\
         spec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}\n\
         \x20 conversion: {{strategy: None}}\n  versions:\n\
         \x20 - name: v1beta1\n    served: true\n    storage: false\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n\
         \x20 - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    );
    let widget = |version: &str| {
        parse(&format!(
            "apiVersion: {group}/{version}\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"
        ))
    };
    let set = format!("{ns}/gv");
    let path = format!("/apis/{group}/v1/namespaces/{ns}/widgets/w");
    rt().block_on(async {
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        apply(&conn, &parse(&crd), &ApplyOptions::default())
            .await
            .unwrap();
        let r = apply(&conn, &widget("v1beta1"), &set_opts(&set, true))
            .await
            .unwrap();
        assert!(
            r.outcomes.iter().all(|o| o.action == Action::Created),
            "{r}"
        );
    });
    let (code, before) = uid(cp, &path);
    assert_eq!(code, 200);
    rt().block_on(async {
        // A new connection, as the next run would have.
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        let d = diff(
            &conn,
            &widget("v1"),
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(
            d.entries.iter().all(|e| e.change != Change::Delete),
            "diff shows a delete of an object still declared:\n{d}"
        );
        let r = apply(&conn, &widget("v1"), &set_opts(&set, true))
            .await
            .unwrap();
        assert!(pruned(&r).is_empty(), "{r}");
    });
    let (code, after) = uid(cp, &path);
    assert_eq!(code, 200, "the widget was deleted after its version move");
    assert_eq!(before, after, "the widget was deleted and re-created");
    // The set still knows it: removing it from the files prunes it.
    rt().block_on(async {
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        let only_other: Vec<_> = widget("v1")
            .into_iter()
            .filter(|m| m.kind() == "ConfigMap")
            .collect();
        let r = apply(&conn, &only_other, &set_opts(&set, true))
            .await
            .unwrap();
        assert_eq!(pruned(&r), [format!("widget.{group}/w -n {ns}")], "{r}");
    });
    assert_eq!(uid(cp, &path).0, 404);
}

/// HorizontalPodAutoscaler `autoscaling/v1` → `autoscaling/v2` (both served), starting
/// from an inventory in the format written before identities were group-based: every
/// member with its `apiVersion`, the same object listed under both versions (what an
/// apply without prune after the move recorded).
#[test]
fn hpa_moved_from_autoscaling_v1_to_v2_is_not_pruned_old_inventory_reads() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfkit-kube-hpa");
    let hpa = |version: &str| {
        let spec = if version == "v1" {
            "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 80\n"
        } else {
            "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 4\n"
        };
        parse(&format!(
            "apiVersion: autoscaling/{version}\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n{spec}"
        ))
    };
    let set = format!("{ns}/hpa");
    let path = format!("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web");
    rt().block_on(async {
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        apply(&conn, &hpa("v1"), &set_opts(&set, true))
            .await
            .unwrap();
    });
    let (code, before) = uid(cp, &path);
    assert_eq!(code, 200);
    // The inventory as an earlier hfkit wrote it after an apply without prune.
    let set_ref = hfkit_kube::SetRef::new(&set, &ns).unwrap();
    let members = format!(
        "[{{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"HorizontalPodAutoscaler\",\"namespace\":\"{ns}\",\"name\":\"web\"}},\
          {{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"namespace\":\"{ns}\",\"name\":\"web\"}}]"
    );
    let cm_path = format!(
        "/api/v1/namespaces/{ns}/configmaps/{}",
        set_ref.inventory_name
    );
    let (c, cm) = cp.request("GET", &cm_path, None).unwrap();
    assert_eq!(c, 200, "{cm}");
    let mut cm: serde_json::Value = serde_json::from_str(&cm).unwrap();
    cm["data"]["members"] = members.into();
    let (c, b) = cp.request("PUT", &cm_path, Some(&cm.to_string())).unwrap();
    assert_eq!(c, 200, "{b}");
    rt().block_on(async {
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        let old = hfkit_kube::inventory::read(&conn.client, &set_ref)
            .await
            .unwrap();
        assert_eq!(
            old.len(),
            1,
            "one object, listed under two versions: {old:?}"
        );
        let d = diff(
            &conn,
            &hpa("v2"),
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(
            d.entries.iter().all(|e| e.change != Change::Delete),
            "diff shows a delete of an object still declared:\n{d}"
        );
        let r = apply(&conn, &hpa("v2"), &set_opts(&set, true))
            .await
            .unwrap();
        assert!(pruned(&r).is_empty(), "{r}");
        assert_eq!(r.outcomes.len(), 1, "{r}");
    });
    let (code, after) = uid(cp, &path);
    assert_eq!(code, 200, "the HPA was deleted after its version move");
    assert_eq!(before, after, "the HPA was deleted and re-created");
    let (_, body) = cp.request("GET", &path, None).unwrap();
    assert!(body.contains("\"maxReplicas\":4"), "{body}");
}

/// Namespaces, CRDs and PersistentVolumes that leave a set are not deleted by a plain
/// `--prune`; diff does not show them as deletions; the ConfigMap that left with them
/// is pruned (and shown as a deletion first).
#[test]
fn protected_kinds_leaving_a_set_are_not_pruned_by_default() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfkit-kube-prot");
    let group = format!("{ns}.hfkit.test");
    let all = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}-extra\n\
         ---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\n\
         spec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: gadgets, singular: gadget, kind: Gadget}}\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n\
         ---\napiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {ns}-pv\n\
         spec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: /tmp/{ns}}}\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stays\n"
    );
    let set = format!("{ns}/prot");
    let stays = parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stays\n");
    let paths = [
        format!("/api/v1/namespaces/{ns}-extra"),
        format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}"),
        format!("/api/v1/persistentvolumes/{ns}-pv"),
    ];
    rt().block_on(async {
        let conn = connect(&kube_opts(cp, &ns)).await.unwrap();
        apply(&conn, &parse(&all), &set_opts(&set, true))
            .await
            .unwrap();
        let d = diff(
            &conn,
            &stays,
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let deleted: Vec<String> = d
            .entries
            .iter()
            .filter(|e| e.change == Change::Delete)
            .map(|e| e.object.to_string())
            .collect();
        assert_eq!(deleted, [format!("configmap/gone -n {ns}")], "{d}");
        let r = apply(&conn, &stays, &set_opts(&set, true)).await.unwrap();
        assert_eq!(pruned(&r), [format!("configmap/gone -n {ns}")], "{r}");
    });
    for p in &paths {
        let (code, body) = cp.request("GET", p, None).unwrap();
        assert_eq!(code, 200, "{p}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["metadata"]["deletionTimestamp"].is_null(),
            "{p} is being deleted: {body}"
        );
    }
}
