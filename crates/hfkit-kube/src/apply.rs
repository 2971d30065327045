//! Server-side apply of manifests: Namespaces and CRDs first, waiting for each CRD to be
//! Established before the objects after it; namespaces defaulted; set membership recorded
//! (see [`crate::inventory`]); optional prune.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::Api;

use crate::discovery::{ObjectRef, Resolved, Resolver};
use crate::error::{Error, Result};
use crate::inventory::{self, SetRef};
use crate::kubeconfig::Connection;
use crate::manifests::Manifest;
use crate::prune::{self, Desired, ProtectedKind, Rules};

/// The field manager used by default.
pub const FIELD_MANAGER: &str = "sopsraw";

/// Options of [`apply`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Field manager of the server-side apply (default [`FIELD_MANAGER`]).
    pub field_manager: String,
    /// Take over fields owned by other managers instead of failing on conflicts.
    pub force_conflicts: bool,
    /// Server-side dry run: the server validates and reports, nothing is persisted
    /// (inventory included).
    pub dry_run: bool,
    /// The set the objects belong to (`NAME` or `NAMESPACE/NAME`).
    pub set: Option<String>,
    /// Delete members of the set that are no longer in the manifests (needs `set`).
    pub prune: bool,
    /// Protected kinds ([`ProtectedKind`]) a prune may delete; others of these kinds
    /// leaving the set are kept (and stay members, so a later run with the kind allowed
    /// deletes them).
    pub allow_prune: BTreeSet<ProtectedKind>,
    /// Objects declared by other sets of the same run: never pruned from this one.
    pub declared_elsewhere: Desired,
    /// How long to wait for a CRD to become Established.
    pub crd_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            field_manager: FIELD_MANAGER.into(),
            force_conflicts: false,
            dry_run: false,
            set: None,
            prune: false,
            allow_prune: BTreeSet::new(),
            declared_elsewhere: Desired::new(),
            crd_timeout: Duration::from_secs(60),
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It changed.
    Configured,
    /// Applying changed nothing.
    Unchanged,
    /// Pruned (deleted).
    Pruned,
    /// No longer declared but not pruned, with the reason; still a member of the set.
    Kept(String),
    /// Not applied or not pruned, with the reason.
    Skipped(String),
}

/// One line of an [`ApplyReport`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The object.
    pub object: ObjectRef,
    /// What happened.
    pub action: Action,
}

/// The result of [`apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// One entry per applied object in apply order, then one per pruned object.
    pub outcomes: Vec<Outcome>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl fmt::Display for ApplyReport {
    /// kubectl-style lines: `configmap/a -n ns created (server dry run)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.dry_run {
            " (server dry run)"
        } else {
            ""
        };
        for o in &self.outcomes {
            let what = match &o.action {
                Action::Created => "created".to_string(),
                Action::Configured => "configured".to_string(),
                Action::Unchanged => "unchanged".to_string(),
                Action::Pruned => "pruned".to_string(),
                Action::Kept(why) => format!("kept: {why}"),
                Action::Skipped(why) => format!("skipped: {why}"),
            };
            writeln!(f, "{} {what}{suffix}", o.object)?;
        }
        Ok(())
    }
}

/// An object ready to be sent: kind resolved (when the server knows it), namespace
/// defaulted, set label added.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Identity.
    pub object: ObjectRef,
    /// The body to apply.
    pub body: serde_json::Value,
    /// Where it came from.
    pub source: String,
}

/// 0 for Namespaces, 1 for CRDs, 2 for the rest: the apply order.
pub fn kind_rank(kind: &str, api_version: &str) -> u8 {
    match (kind, api_version) {
        ("Namespace", "v1") => 0,
        ("CustomResourceDefinition", v) if v.starts_with("apiextensions.k8s.io/") => 1,
        _ => 2,
    }
}

/// Whether a kind is defined by a CRD among `bodies`.
pub(crate) fn defined_by_batch(bodies: &[Prepared], api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    bodies.iter().any(|p| {
        kind_rank(&p.object.kind, &p.object.api_version) == 1
            && p.body["spec"]["group"].as_str() == Some(group)
            && p.body["spec"]["names"]["kind"].as_str() == Some(kind)
    })
}

/// Orders manifests (stable: Namespaces, CRDs, the rest), resolves scopes, defaults
/// namespaces, adds the set label, refuses duplicates. Kinds unknown to the server are
/// accepted only when a CRD in the same batch defines them (taken as
/// namespaced unless the CRD says `scope: Cluster`).
pub async fn prepare(
    resolver: &mut Resolver,
    manifests: &[Manifest],
    default_namespace: &str,
    set: Option<&SetRef>,
) -> Result<Vec<Prepared>> {
    let mut sorted: Vec<&Manifest> = manifests.iter().collect();
    sorted.sort_by_key(|m| kind_rank(m.kind(), m.api_version()));
    let mut out: Vec<Prepared> = Vec::new();
    let mut seen = BTreeSet::new();
    for m in sorted {
        let mut body = m.object.clone();
        let source = format!("{} (document {})", m.source.display(), m.doc);
        let namespaced = match resolver.resolve(m.api_version(), m.kind()).await {
            Ok(r) => r.namespaced,
            Err(e @ Error::UnknownKind { .. }) => {
                let crd = out
                    .iter()
                    .find(|p| defined_by_batch(std::slice::from_ref(p), m.api_version(), m.kind()));
                match crd {
                    Some(c) => c.body["spec"]["scope"].as_str() != Some("Cluster"),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let namespace = if namespaced {
            let ns = m.namespace().unwrap_or(default_namespace).to_string();
            if ns.is_empty() {
                return Err(Error::NoNamespace(source));
            }
            body["metadata"]["namespace"] = ns.clone().into();
            Some(ns)
        } else {
            if let Some(meta) = body["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            None
        };
        let object = ObjectRef {
            api_version: m.api_version().to_string(),
            kind: m.kind().to_string(),
            namespace,
            name: m.name().to_string(),
        };
        if !seen.insert(object.clone()) {
            return Err(Error::Duplicate(format!("{object} ({source})")));
        }
        if let Some(s) = set {
            s.mark(&mut body);
        }
        out.push(Prepared {
            object,
            body,
            source,
        });
    }
    Ok(out)
}

/// Resolves a kind, waiting (up to `timeout`) when a CRD of the batch defines it and the
/// server does not serve it yet.
pub(crate) async fn resolve_waiting(
    resolver: &mut Resolver,
    batch: &[Prepared],
    object: &ObjectRef,
    wait: Option<Duration>,
) -> Result<Option<Resolved>> {
    let start = Instant::now();
    loop {
        match resolver.resolve(&object.api_version, &object.kind).await {
            Ok(r) => return Ok(Some(r)),
            Err(e @ Error::UnknownKind { .. }) => {
                if !defined_by_batch(batch, &object.api_version, &object.kind) {
                    return Err(e);
                }
                match wait {
                    Some(t) if start.elapsed() < t => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Some(_) => return Err(e),
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits until a CRD has the condition `Established=True`.
pub async fn wait_crd_established(
    client: &kube::Client,
    name: &str,
    timeout: Duration,
) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let crd = api
            .get_opt(name)
            .await
            .map_err(|e| Error::api("get", format!("customresourcedefinition/{name}"), e))?;
        let ok = crd
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if ok {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::CrdTimeout {
                name: name.to_string(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether an apply changed nothing: same resourceVersion, or for a dry run (which
/// keeps the resourceVersion) the same content once server noise is stripped.
fn unchanged(before: &DynamicObject, after: &DynamicObject, dry_run: bool) -> bool {
    if !dry_run {
        return before.metadata.resource_version == after.metadata.resource_version;
    }
    let norm = |o: &DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        crate::redact::strip_noise(&mut v);
        v
    };
    norm(before) == norm(after)
}

/// The dynamic API of a prepared object.
pub(crate) fn api_for(resolver: &Resolver, r: &Resolved, o: &ObjectRef) -> Api<DynamicObject> {
    resolver.api(r, o.namespace.as_deref())
}

/// The set named `set` (if any), a resolver, and `manifests` prepared against the
/// cluster: what both [`apply`] and [`crate::diff()`] start from.
pub async fn open_batch(
    conn: &Connection,
    manifests: &[Manifest],
    set: Option<&str>,
) -> Result<(Option<SetRef>, Resolver, Vec<Prepared>)> {
    let set = set
        .map(|s| SetRef::new(s, &conn.default_namespace))
        .transpose()?;
    let mut resolver = Resolver::new(conn.client.clone());
    let batch = prepare(
        &mut resolver,
        manifests,
        &conn.default_namespace,
        set.as_ref(),
    )
    .await?;
    Ok((set, resolver, batch))
}

/// Server-side applies `manifests` (see the module docs), records set membership and,
/// with `prune`, deletes the set's members that are no longer declared.
pub async fn apply(
    conn: &Connection,
    manifests: &[Manifest],
    opts: &ApplyOptions,
) -> Result<ApplyReport> {
    let (set, mut resolver, batch) = open_batch(conn, manifests, opts.set.as_deref()).await?;
    let old_members = match &set {
        Some(s) => inventory::read(&conn.client, s).await?,
        None => BTreeSet::new(),
    };
    let mut report = ApplyReport {
        outcomes: Vec::new(),
        dry_run: opts.dry_run,
    };
    let mut pp = PatchParams::apply(&opts.field_manager);
    pp.force = opts.force_conflicts;
    pp.dry_run = opts.dry_run;
    let new_namespaces: BTreeSet<String> = batch
        .iter()
        .filter(|p| kind_rank(&p.object.kind, &p.object.api_version) == 0)
        .map(|p| p.object.name.clone())
        .collect();
    let mut applied = BTreeSet::new();
    let mut pending_crds: Vec<String> = Vec::new();
    let result: Result<()> = async {
        for p in &batch {
            let rank = kind_rank(&p.object.kind, &p.object.api_version);
            if rank == 2 && !opts.dry_run {
                for name in pending_crds.drain(..) {
                    wait_crd_established(&conn.client, &name, opts.crd_timeout).await?;
                }
            }
            let wait = (!opts.dry_run).then_some(opts.crd_timeout);
            let Some(r) = resolve_waiting(&mut resolver, &batch, &p.object, wait).await? else {
                report.outcomes.push(Outcome {
                    object: p.object.clone(),
                    action: Action::Skipped("its CRD is created by this apply".into()),
                });
                continue;
            };
            let api = api_for(&resolver, &r, &p.object);
            let before = api
                .get_opt(&p.object.name)
                .await
                .map_err(|e| Error::api("get", p.object.to_string(), e))?;
            let res = api.patch(&p.object.name, &pp, &Patch::Apply(&p.body)).await;
            let after = match res {
                Ok(a) => a,
                Err(kube::Error::Api(s))
                    if opts.dry_run
                        && s.code == 404
                        && p.object
                            .namespace
                            .as_ref()
                            .is_some_and(|n| new_namespaces.contains(n)) =>
                {
                    report.outcomes.push(Outcome {
                        object: p.object.clone(),
                        action: Action::Created,
                    });
                    continue;
                }
                Err(e) => return Err(Error::api("apply", p.object.to_string(), e)),
            };
            let action = match before {
                None => Action::Created,
                Some(b) if unchanged(&b, &after, opts.dry_run) => Action::Unchanged,
                Some(_) => Action::Configured,
            };
            if rank == 1 {
                pending_crds.push(p.object.name.clone());
            }
            applied.insert(p.object.clone());
            report.outcomes.push(Outcome {
                object: p.object.clone(),
                action,
            });
        }
        if !opts.dry_run {
            for name in pending_crds.drain(..) {
                wait_crd_established(&conn.client, &name, opts.crd_timeout).await?;
            }
        }
        Ok(())
    }
    .await;
    let Some(set) = set else {
        return result.map(|_| report);
    };
    // Members are compared by identity (group, kind, namespace, name); `applied` comes
    // first so each member keeps the version it was last applied with.
    let mut members = applied;
    if result.is_err() || !opts.prune {
        if !opts.dry_run {
            members.extend(old_members);
            inventory::write(&conn.client, &set, &members, &opts.field_manager).await?;
        }
        return result.map(|_| report);
    }
    let declared: BTreeSet<ObjectRef> = batch.iter().map(|p| p.object.clone()).collect();
    let stale: Vec<ObjectRef> = old_members.difference(&declared).cloned().collect();
    let rules = Rules {
        allow: &opts.allow_prune,
        elsewhere: &opts.declared_elsewhere,
    };
    let pruned = prune::prune(&mut resolver, &set, &stale, rules, opts.dry_run).await;
    for o in &pruned {
        if let Action::Kept(_) = &o.action {
            members.insert(o.object.clone());
        }
    }
    report.outcomes.extend(pruned);
    if !opts.dry_run {
        inventory::write(&conn.client, &set, &members, &opts.field_manager).await?;
    }
    Ok(report)
}
