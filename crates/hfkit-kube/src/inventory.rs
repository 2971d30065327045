//! Set membership, for `--prune`.
//!
//! Applying under a set `NAME` (or `NAMESPACE/NAME`) does two things, so membership
//! survives process restarts and is checked twice before anything is deleted:
//!
//! 1. every applied object gets the label `sopsraw.hfkit.io/set=<hash>` (the first 40 hex
//!    digits of the SHA-256 of the set name, since label values are limited to 63
//!    characters) and the annotation `sopsraw.hfkit.io/set-name=<name>`;
//! 2. an inventory ConfigMap `sopsraw-inventory-<first 16 hex digits of the hash>` (label
//!    `sopsraw.hfkit.io/inventory=<hash>`) lists the members: key `set` holds the set
//!    name, key `members` a JSON array of `{group, kind, namespace, name, apiVersion}`. It lives
//!    in `NAMESPACE` for a `NAMESPACE/NAME` set, else in the default namespace (`-n` or
//!    the kubeconfig context's), and is written after the objects were applied. It holds
//!    only identities, never values.
//!
//! A member's identity is its API group, kind, namespace and name (see
//! [`ObjectRef`]): `apiVersion` is kept only as the version to reach it by, the one last
//! applied. Inventories written before `group` was recorded list `apiVersion` only, and
//! may list one object under two versions; they read as one member each.
//!
//! Without prune, the inventory becomes old members ∪ applied objects (nothing is
//! forgotten, so a later prune still finds them). With prune, each old member no longer
//! in the files is deleted only if it still exists, still carries the set label with the
//! set's hash (otherwise it is skipped and dropped from the inventory, as something else
//! took it over), is not declared by another set of the same run (see
//! [`crate::prune::Desired`]), and is not of a protected kind (Namespace,
//! CustomResourceDefinition, PersistentVolume: see [`crate::prune::ProtectedKind`])
//! unless that kind is allowed. The inventory becomes the applied objects plus the
//! members kept (not deleted for one of these reasons, or whose deletion failed), so a
//! later run can still prune them. Deletion order is the reverse of apply order:
//! ordinary objects, then CRDs, then Namespaces.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::discovery::ObjectRef;
use crate::error::{Error, Result};

/// Label put on every object applied under a set; its value is [`SetRef::hash`].
pub const SET_LABEL: &str = "sopsraw.hfkit.io/set";
/// Annotation put on every object applied under a set; its value is the set's name.
pub const SET_NAME_ANNOTATION: &str = "sopsraw.hfkit.io/set-name";
/// Label of inventory ConfigMaps; its value is [`SetRef::hash`].
pub const INVENTORY_LABEL: &str = "sopsraw.hfkit.io/inventory";

/// A named set of applied objects and where its inventory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRef {
    /// The name as given (`NAME` or `NAMESPACE/NAME`).
    pub name: String,
    /// First 40 hex digits of SHA-256(name): the value of [`SET_LABEL`].
    pub hash: String,
    /// Namespace of the inventory ConfigMap.
    pub inventory_namespace: String,
    /// Name of the inventory ConfigMap.
    pub inventory_name: String,
}

impl SetRef {
    /// Parses a set name; `default_namespace` holds the inventory of a set without a
    /// `NAMESPACE/` prefix.
    pub fn new(name: &str, default_namespace: &str) -> Result<SetRef> {
        let ok_part = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let namespace = match name.split_once('/') {
            Some((ns, rest)) if ok_part(ns) && ok_part(rest) => ns.to_string(),
            None if ok_part(name) => default_namespace.to_string(),
            _ => return Err(Error::BadSetName(name.to_string())),
        };
        let digest = Sha256::digest(name.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(SetRef {
            name: name.to_string(),
            hash: hex[..40].to_string(),
            inventory_namespace: namespace,
            inventory_name: format!("sopsraw-inventory-{}", &hex[..16]),
        })
    }

    /// Adds the set label and name annotation to an object.
    pub fn mark(&self, object: &mut serde_json::Value) {
        let meta = &mut object["metadata"];
        if !meta["labels"].is_object() {
            meta["labels"] = serde_json::json!({});
        }
        meta["labels"][SET_LABEL] = self.hash.clone().into();
        if !meta["annotations"].is_object() {
            meta["annotations"] = serde_json::json!({});
        }
        meta["annotations"][SET_NAME_ANNOTATION] = self.name.clone().into();
    }

    /// Whether a live object carries this set's label.
    pub fn owns(&self, object: &serde_json::Value) -> bool {
        object["metadata"]["labels"][SET_LABEL].as_str() == Some(self.hash.as_str())
    }

    fn api(&self, client: &Client) -> Api<ConfigMap> {
        Api::namespaced(client.clone(), &self.inventory_namespace)
    }

    fn object_name(&self) -> String {
        format!(
            "configmap/{} -n {}",
            self.inventory_name, self.inventory_namespace
        )
    }
}

fn bad(set: &SetRef, detail: String) -> Error {
    Error::Inventory {
        namespace: set.inventory_namespace.clone(),
        name: set.inventory_name.clone(),
        detail,
    }
}

/// Reads a set's members; empty when it has no inventory yet.
pub async fn read(client: &Client, set: &SetRef) -> Result<BTreeSet<ObjectRef>> {
    let cm = set
        .api(client)
        .get_opt(&set.inventory_name)
        .await
        .map_err(|e| Error::api("get", set.object_name(), e))?;
    let Some(cm) = cm else {
        return Ok(BTreeSet::new());
    };
    let data = cm.data.unwrap_or_default();
    if let Some(n) = data.get("set") {
        if n != &set.name {
            return Err(bad(
                set,
                format!(
                    "it belongs to set `{n}`, not `{}` (hash collision)",
                    set.name
                ),
            ));
        }
    }
    let members = data.get("members").map(String::as_str).unwrap_or("[]");
    let list: Vec<serde_json::Value> =
        serde_json::from_str(members).map_err(|e| bad(set, format!("bad members: {e}")))?;
    let mut out = BTreeSet::new();
    for m in list {
        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
        let r = ObjectRef {
            api_version: s("apiVersion"),
            kind: s("kind"),
            namespace: m["namespace"].as_str().map(str::to_string),
            name: s("name"),
        };
        if r.api_version.is_empty() || r.kind.is_empty() || r.name.is_empty() {
            return Err(bad(set, format!("incomplete member {m}")));
        }
        if m["group"].as_str().is_some_and(|g| g != r.group()) {
            return Err(bad(
                set,
                format!("member {m}: group and apiVersion disagree"),
            ));
        }
        // The same object under two versions (older inventories): one member, the first
        // version listed kept as the one to reach it by.
        out.insert(r);
    }
    Ok(out)
}

/// Writes a set's members (server-side apply of the inventory ConfigMap).
pub async fn write(
    client: &Client,
    set: &SetRef,
    members: &BTreeSet<ObjectRef>,
    field_manager: &str,
) -> Result<()> {
    let list: Vec<serde_json::Value> = members
        .iter()
        .map(|m| {
            serde_json::json!({
                "group": m.group(),
                "apiVersion": m.api_version,
                "kind": m.kind,
                "namespace": m.namespace,
                "name": m.name,
            })
        })
        .collect();
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": set.inventory_name,
            "namespace": set.inventory_namespace,
            "labels": { INVENTORY_LABEL: set.hash },
            "annotations": { SET_NAME_ANNOTATION: set.name },
        },
        "data": {
            "set": set.name,
            "members": serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()),
        },
    });
    set.api(client)
        .patch(
            &set.inventory_name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&cm),
        )
        .await
        .map_err(|e| Error::api("apply", set.object_name(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names() {
        let s = SetRef::new("media/plex", "default").unwrap();
        assert_eq!(s.inventory_namespace, "media");
        assert_eq!(s.hash.len(), 40);
        assert!(s.inventory_name.starts_with("sopsraw-inventory-"));
        assert_eq!(SetRef::new("plex", "ns").unwrap().inventory_namespace, "ns");
        assert!(SetRef::new("a/b/c", "ns").is_err());
        assert!(SetRef::new("", "ns").is_err());
        let mut o = serde_json::json!({"metadata": {"name": "x"}});
        s.mark(&mut o);
        assert!(s.owns(&o));
    }
}
