//! Resolving `apiVersion` + `kind` to an API resource (built-in kinds, aggregated APIs and
//! CRDs alike), with a per-run cache; a miss is asked again, so kinds whose CRD was just
//! applied resolve once it is Established.

use std::collections::HashMap;
use std::fmt;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Api, Client};

use crate::error::{Error, Result};

/// An object: `apiVersion`, `kind`, namespace (`None` when cluster-scoped) and name.
///
/// Equality, ordering and hashing use the object's *identity*: API group, kind,
/// namespace and name, not the version. The API server serves one object under every
/// version of its group (`autoscaling/v1` and `autoscaling/v2` HorizontalPodAutoscaler
/// `web` are the same object), so a manifest moved to another version is still the
/// same member of its set and is not pruned. `api_version` says which version to talk
/// to; in a set, keep the one last applied (see [`crate::inventory`]).
#[derive(Debug, Clone)]
pub struct ObjectRef {
    /// `apiVersion` (`v1`, `apps/v1`...): how to reach the object, not part of its
    /// identity.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// Group, kind, namespace and name: what equality and ordering compare.
    pub fn identity(&self) -> (&str, &str, Option<&str>, &str) {
        (
            self.group(),
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }
}

impl PartialEq for ObjectRef {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for ObjectRef {}

impl PartialOrd for ObjectRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ObjectRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl std::hash::Hash for ObjectRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state)
    }
}

impl fmt::Display for ObjectRef {
    /// `kind.group/name` or `kind.group/name -n namespace`, lowercased kind like kubectl.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.to_lowercase();
        match self.group() {
            "" => write!(f, "{kind}/{}", self.name)?,
            g => write!(f, "{kind}.{g}/{}", self.name)?,
        }
        if let Some(ns) = &self.namespace {
            write!(f, " -n {ns}")?;
        }
        Ok(())
    }
}

/// A resolved kind.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The API resource (plural, group, version).
    pub resource: ApiResource,
    /// Whether objects of the kind live in namespaces.
    pub namespaced: bool,
}

/// Resolves kinds through API discovery, caching answers.
pub struct Resolver {
    client: Client,
    cache: HashMap<(String, String), Resolved>,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(client: Client) -> Resolver {
        Resolver {
            client,
            cache: HashMap::new(),
        }
    }

    /// Resolves `apiVersion` + `kind`; [`Error::UnknownKind`] when the server does not
    /// serve it (yet).
    pub async fn resolve(&mut self, api_version: &str, kind: &str) -> Result<Resolved> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(r) = self.cache.get(&key) {
            return Ok(r.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let unknown = |detail: String| Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            detail,
        };
        let (resource, caps): (ApiResource, ApiCapabilities) =
            match kube::discovery::pinned_kind(&self.client, &gvk).await {
                Ok(x) => x,
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return Err(unknown("group/version not served".into()))
                }
                Err(kube::Error::Discovery(e)) => return Err(unknown(e.to_string())),
                Err(e) => return Err(Error::api("discover", format!("{api_version} {kind}"), e)),
            };
        let r = Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.cache.insert(key, r.clone());
        Ok(r)
    }

    /// Like [`Resolver::resolve`], but when the group no longer serves that version (a
    /// set member recorded under `v1beta1` whose group now serves only `v1`), the
    /// group's preferred version that serves `kind`: the object itself is reachable
    /// under any served version of its group.
    pub async fn resolve_any_version(&mut self, api_version: &str, kind: &str) -> Result<Resolved> {
        let first = match self.resolve(api_version, kind).await {
            Err(e @ Error::UnknownKind { .. }) => e,
            other => return other,
        };
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let found = match kube::discovery::group(&self.client, group).await {
            Ok(g) => g.recommended_kind(kind),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => return Err(Error::api("discover", format!("{group} {kind}"), e)),
        };
        match found {
            Some((resource, caps)) => Ok(Resolved {
                resource,
                namespaced: caps.scope == Scope::Namespaced,
            }),
            None => Err(first),
        }
    }

    /// Forgets every cached answer.
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// A dynamic API handle for objects of `r` in `namespace` (ignored when
    /// cluster-scoped).
    pub fn api(&self, r: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match (r.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            _ => Api::all_with(self.client.clone(), &r.resource),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
