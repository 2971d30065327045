//! Deleting members of a set that are no longer declared (see [`crate::inventory`] for
//! the safety checks), and what is never deleted without being asked: objects another
//! set of the same run declares ([`Desired`]) and the protected kinds
//! ([`ProtectedKind`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use kube::api::{DeleteParams, DynamicObject, PropagationPolicy};
use kube::Api;

use crate::apply::{kind_rank, Action, Outcome};
use crate::discovery::{ObjectRef, Resolver};
use crate::error::Error;
use crate::inventory::SetRef;
use crate::manifests::Manifest;

/// Kinds whose deletion takes much more with it (a Namespace its contents, a CRD every
/// custom resource of its kind, a PersistentVolume maybe its data): a prune deletes them
/// only when allowed by name (`--allow-prune-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtectedKind {
    /// `v1` Namespace.
    Namespace,
    /// `apiextensions.k8s.io` CustomResourceDefinition.
    CustomResourceDefinition,
    /// `v1` PersistentVolume.
    PersistentVolume,
}

impl ProtectedKind {
    /// Every protected kind.
    pub const ALL: [ProtectedKind; 3] = [
        ProtectedKind::Namespace,
        ProtectedKind::CustomResourceDefinition,
        ProtectedKind::PersistentVolume,
    ];

    /// The kind's name (`Namespace`...).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectedKind::Namespace => "Namespace",
            ProtectedKind::CustomResourceDefinition => "CustomResourceDefinition",
            ProtectedKind::PersistentVolume => "PersistentVolume",
        }
    }

    /// The protected kind of an object, if it is one (by group and kind).
    pub fn of(o: &ObjectRef) -> Option<ProtectedKind> {
        match (o.group(), o.kind.as_str()) {
            ("", "Namespace") => Some(ProtectedKind::Namespace),
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                Some(ProtectedKind::CustomResourceDefinition)
            }
            ("", "PersistentVolume") => Some(ProtectedKind::PersistentVolume),
            _ => None,
        }
    }
}

impl fmt::Display for ProtectedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtectedKind {
    type Err = Error;

    /// The kind's name, plural or kubectl short name, any case (`Namespace`, `ns`,
    /// `crd`, `pv`).
    fn from_str(s: &str) -> Result<ProtectedKind, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "namespace" | "namespaces" | "ns" => Ok(ProtectedKind::Namespace),
            "customresourcedefinition" | "customresourcedefinitions" | "crd" | "crds" => {
                Ok(ProtectedKind::CustomResourceDefinition)
            }
            "persistentvolume" | "persistentvolumes" | "pv" => Ok(ProtectedKind::PersistentVolume),
            _ => Err(Error::NotProtected(s.to_string())),
        }
    }
}

/// Objects declared by the sets of one run (all releases' pre and post manifests of an
/// hfapply run): a member leaving one set but declared by another (a Namespace moved
/// from a release's pre manifests to its post ones) is not pruned, as the other set
/// applies it.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// (group, kind, name, namespace as declared or defaulted).
    objects: BTreeSet<(String, String, String, String)>,
}

impl Desired {
    /// An empty set.
    pub fn new() -> Desired {
        Desired::default()
    }

    /// Adds `manifests`, whose namespaced objects without `metadata.namespace` go to
    /// `default_namespace`.
    pub fn add(&mut self, manifests: &[Manifest], default_namespace: &str) {
        for m in manifests {
            let group = m
                .api_version()
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or("");
            self.objects.insert((
                group.to_string(),
                m.kind().to_string(),
                m.name().to_string(),
                m.namespace().unwrap_or(default_namespace).to_string(),
            ));
        }
    }

    /// Whether `o` is declared. Without resolving kinds, a manifest's scope is unknown:
    /// a cluster-scoped member (no namespace) matches by group, kind and name.
    pub fn contains(&self, o: &ObjectRef) -> bool {
        let (g, k, n) = (o.group(), o.kind.as_str(), o.name.as_str());
        match &o.namespace {
            Some(ns) => self
                .objects
                .contains(&(g.into(), k.into(), n.into(), ns.clone())),
            None => self
                .objects
                .iter()
                .any(|(og, ok, on, _)| og == g && ok == k && on == n),
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// What may be pruned besides the plain case.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Protected kinds that may be deleted.
    pub allow: &'a BTreeSet<ProtectedKind>,
    /// Objects declared by other sets of the run: never deleted.
    pub elsewhere: &'a Desired,
}

/// What to do with one stale member.
pub(crate) enum Decision {
    /// Delete it: it is ours and nothing protects it.
    Delete(Box<Api<DynamicObject>>, serde_json::Value),
    /// Leave it, and keep it in the inventory (a later run may still prune it).
    Keep(String),
    /// Leave it and drop it from the inventory (gone, or no longer ours).
    Drop(String),
    /// The cluster could not be asked (resolving the kind or reading the object failed):
    /// prune keeps it as `delete failed: ...`, diff reports the error.
    Failed(Error),
}

/// Decides about one member no longer declared by its set (see [`crate::inventory`]).
pub(crate) async fn decide(
    resolver: &mut Resolver,
    set: &SetRef,
    o: &ObjectRef,
    rules: Rules<'_>,
) -> Decision {
    let r = match resolver.resolve_any_version(&o.api_version, &o.kind).await {
        Ok(r) => r,
        Err(Error::UnknownKind { .. }) => {
            return Decision::Drop("its kind is no longer served (already gone)".into())
        }
        Err(e) => return Decision::Failed(e),
    };
    let api = resolver.api(&r, o.namespace.as_deref());
    let live = match api.get_opt(&o.name).await {
        Ok(Some(l)) => serde_json::to_value(&l).unwrap_or_default(),
        Ok(None) => return Decision::Drop("already gone".into()),
        Err(e) => return Decision::Failed(Error::api("get", o.to_string(), e)),
    };
    if !set.owns(&live) {
        let now = live["metadata"]["annotations"][crate::inventory::SET_NAME_ANNOTATION]
            .as_str()
            .filter(|_| live["metadata"]["labels"][crate::inventory::SET_LABEL].is_string());
        return Decision::Drop(match now {
            Some(other) => format!("now a member of set `{other}`, left to it"),
            None => format!(
                "no longer labelled {}={} (taken over by something else)",
                crate::inventory::SET_LABEL,
                set.hash
            ),
        });
    }
    if rules.elsewhere.contains(o) {
        return Decision::Keep(
            "removed from this set but declared by another set of this run: not pruned".into(),
        );
    }
    if let Some(k) = ProtectedKind::of(o) {
        if !rules.allow.contains(&k) {
            return Decision::Keep(format!(
                "removed from the set but not pruned ({k} is a protected kind); pass --allow-prune-kind {k} to delete it"
            ));
        }
    }
    Decision::Delete(Box::new(api), live)
}

/// Stale members in deletion order: ordinary objects, then CRDs, then Namespaces.
pub(crate) fn deletion_order(stale: &[ObjectRef]) -> Vec<ObjectRef> {
    let mut stale = stale.to_vec();
    stale.sort_by_key(|o| std::cmp::Reverse(kind_rank(&o.kind, &o.api_version)));
    stale
}

/// Deletes the `stale` members of `set` that [`Rules`] and the ownership checks allow
/// (ordinary objects first, then CRDs, then Namespaces). Never fails as a whole: each
/// object's outcome is [`Action::Pruned`], [`Action::Kept`] (still a member: not
/// allowed, or `delete failed: ...`) or [`Action::Skipped`] (no longer a member).
pub async fn prune(
    resolver: &mut Resolver,
    set: &SetRef,
    stale: &[ObjectRef],
    rules: Rules<'_>,
    dry_run: bool,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for o in deletion_order(stale) {
        let action = match decide(resolver, set, &o, rules).await {
            Decision::Drop(why) => Action::Skipped(why),
            Decision::Keep(why) => Action::Kept(why),
            Decision::Failed(e) => Action::Kept(format!("delete failed: {e}")),
            Decision::Delete(api, _) => delete(&api, &o, dry_run).await,
        };
        out.push(Outcome { object: o, action });
    }
    out
}

async fn delete(api: &Api<DynamicObject>, o: &ObjectRef, dry_run: bool) -> Action {
    let dp = DeleteParams {
        dry_run,
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(&o.name, &dp).await {
        Ok(_) => Action::Pruned,
        Err(kube::Error::Api(s)) if s.code == 404 => Action::Skipped("already gone".into()),
        Err(e) => Action::Kept(format!(
            "delete failed: {}",
            Error::api("delete", o.to_string(), e)
        )),
    }
}
