//! Deleting members of a set that are no longer declared (see [`crate::inventory`] for
//! the safety checks).

use kube::api::{DeleteParams, PropagationPolicy};

use crate::apply::{kind_rank, Action, Outcome};
use crate::discovery::{ObjectRef, Resolver};
use crate::error::Error;
use crate::inventory::SetRef;

/// Deletes `stale` objects still labelled as members of `set` (ordinary objects first,
/// then CRDs, then Namespaces). Never fails as a whole: each object's outcome is
/// [`Action::Pruned`] or [`Action::Skipped`] with the reason (`delete failed: ...` when
/// the API refused).
pub async fn prune(
    resolver: &mut Resolver,
    set: &SetRef,
    stale: &[ObjectRef],
    dry_run: bool,
) -> Vec<Outcome> {
    let mut stale = stale.to_vec();
    stale.sort_by_key(|o| std::cmp::Reverse(kind_rank(&o.kind, &o.api_version)));
    let mut out = Vec::new();
    for o in stale {
        let action = prune_one(resolver, set, &o, dry_run).await;
        out.push(Outcome { object: o, action });
    }
    out
}

async fn prune_one(resolver: &mut Resolver, set: &SetRef, o: &ObjectRef, dry_run: bool) -> Action {
    let r = match resolver.resolve(&o.api_version, &o.kind).await {
        Ok(r) => r,
        Err(Error::UnknownKind { .. }) => {
            return Action::Skipped("its kind is no longer served (already gone)".into())
        }
        Err(e) => return Action::Skipped(format!("delete failed: {e}")),
    };
    let api = resolver.api(&r, o.namespace.as_deref());
    let live = match api.get_opt(&o.name).await {
        Ok(Some(l)) => l,
        Ok(None) => return Action::Skipped("already gone".into()),
        Err(e) => {
            return Action::Skipped(format!(
                "delete failed: {}",
                Error::api("get", o.to_string(), e)
            ))
        }
    };
    let live = serde_json::to_value(&live).unwrap_or_default();
    if !set.owns(&live) {
        return Action::Skipped(format!(
            "no longer labelled {}={} (taken over by something else)",
            crate::inventory::SET_LABEL,
            set.hash
        ));
    }
    let dp = DeleteParams {
        dry_run,
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(&o.name, &dp).await {
        Ok(_) => Action::Pruned,
        Err(kube::Error::Api(s)) if s.code == 404 => Action::Skipped("already gone".into()),
        Err(e) => Action::Skipped(format!(
            "delete failed: {}",
            Error::api("delete", o.to_string(), e)
        )),
    }
}
