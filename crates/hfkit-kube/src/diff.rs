//! What an apply would change: a server-side dry-run apply of each object compared with
//! the live object (both normalised by [`crate::redact::strip_noise`], Secret values
//! redacted), new objects, and — under a set — the members an apply with prune would
//! delete.

use std::collections::BTreeSet;
use std::fmt;

use kube::api::{Patch, PatchParams};

use crate::apply::{api_for, open_batch, resolve_waiting, FIELD_MANAGER};
use crate::convert::json_to_yaml;
use crate::discovery::ObjectRef;
use crate::error::{Error, Result};
use crate::inventory;
use crate::kubeconfig::Connection;
use crate::manifests::Manifest;
use crate::prune::{decide, deletion_order, Decision, Desired, ProtectedKind, Rules};
use crate::redact::{redact, redact_pair, strip_noise};

/// Options of [`diff`].
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Field manager of the dry-run apply (default [`FIELD_MANAGER`]); conflicts are
    /// always forced in the dry run, as `kubectl diff --server-side` does.
    pub field_manager: String,
    /// The set (`NAME` or `NAMESPACE/NAME`): adds the set label to the compared objects,
    /// and lists the members an apply with prune would delete.
    pub set: Option<String>,
    /// As [`crate::ApplyOptions::allow_prune`]: protected kinds shown as deletions.
    pub allow_prune: BTreeSet<ProtectedKind>,
    /// As [`crate::ApplyOptions::declared_elsewhere`]: never shown as deletions.
    pub declared_elsewhere: Desired,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            field_manager: FIELD_MANAGER.into(),
            set: None,
            allow_prune: BTreeSet::new(),
            declared_elsewhere: Desired::new(),
        }
    }
}

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The object does not exist yet.
    Create,
    /// The object would change.
    Update,
    /// The object would be pruned.
    Delete,
}

/// One changed object.
#[derive(Debug, Clone)]
pub struct DiffEntry {
    /// The object.
    pub object: ObjectRef,
    /// What would happen.
    pub change: Change,
    /// A unified diff of the redacted YAML (`live` → `applied`).
    pub diff: String,
}

/// The result of [`diff`].
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    /// Changed objects in apply order, then the prunable ones.
    pub entries: Vec<DiffEntry>,
    /// How many declared objects would not change.
    pub unchanged: usize,
    /// Members no longer declared that a prune would keep, with the reason (a protected
    /// kind not allowed, declared by another set of the run...).
    pub kept: Vec<(ObjectRef, String)>,
}

impl DiffReport {
    /// Whether anything would change.
    pub fn has_changes(&self) -> bool {
        !self.entries.is_empty()
    }
}

impl fmt::Display for DiffReport {
    /// The unified diffs, one after the other, then one `# kept ...` line per member a
    /// prune would keep.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            f.write_str(&e.diff)?;
        }
        for (o, why) in &self.kept {
            writeln!(f, "# kept {o}: {why}")?;
        }
        Ok(())
    }
}

fn unified(old: &str, new: &str, object: &ObjectRef, change: Change) -> String {
    let what = match change {
        Change::Create => "new",
        Change::Update => "changed",
        Change::Delete => "pruned",
    };
    let a = format!("live: {object}");
    let b = format!("applied: {object} ({what})");
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

/// Compares `manifests` with the cluster (see the module docs).
pub async fn diff(
    conn: &Connection,
    manifests: &[Manifest],
    opts: &DiffOptions,
) -> Result<DiffReport> {
    let (set, mut resolver, batch) = open_batch(conn, manifests, opts.set.as_deref()).await?;
    let pp = PatchParams {
        field_manager: Some(opts.field_manager.clone()),
        force: true,
        dry_run: true,
        ..Default::default()
    };
    let mut report = DiffReport::default();
    for p in &batch {
        let resolved = resolve_waiting(&mut resolver, &batch, &p.object, None).await?;
        let (live, applied) = match resolved {
            None => (None, p.body.clone()),
            Some(r) => {
                let api = api_for(&resolver, &r, &p.object);
                let live = api
                    .get_opt(&p.object.name)
                    .await
                    .map_err(|e| Error::api("get", p.object.to_string(), e))?;
                match api.patch(&p.object.name, &pp, &Patch::Apply(&p.body)).await {
                    Ok(a) => (live, serde_json::to_value(&a).unwrap_or_default()),
                    // the namespace does not exist yet
                    Err(kube::Error::Api(s)) if s.code == 404 && live.is_none() => {
                        (None, p.body.clone())
                    }
                    Err(e) => {
                        return Err(Error::api("diff (dry-run apply)", p.object.to_string(), e))
                    }
                }
            }
        };
        let mut new = applied;
        strip_noise(&mut new);
        let (old_text, change) = match live {
            Some(l) => {
                let mut old = serde_json::to_value(&l).unwrap_or_default();
                strip_noise(&mut old);
                redact_pair(&mut old, &mut new);
                (json_to_yaml(&old), Change::Update)
            }
            None => {
                redact(&mut new);
                (String::new(), Change::Create)
            }
        };
        let new_text = json_to_yaml(&new);
        if old_text == new_text {
            report.unchanged += 1;
            continue;
        }
        report.entries.push(DiffEntry {
            diff: unified(&old_text, &new_text, &p.object, change),
            object: p.object.clone(),
            change,
        });
    }
    if let Some(set) = &set {
        let declared: BTreeSet<ObjectRef> = batch.iter().map(|p| p.object.clone()).collect();
        let members = inventory::read(&conn.client, set).await?;
        let stale: Vec<ObjectRef> = members.difference(&declared).cloned().collect();
        let rules = Rules {
            allow: &opts.allow_prune,
            elsewhere: &opts.declared_elsewhere,
        };
        for o in deletion_order(&stale) {
            match decide(&mut resolver, set, &o, rules).await {
                Decision::Delete(_, mut old) => {
                    strip_noise(&mut old);
                    redact(&mut old);
                    report.entries.push(DiffEntry {
                        diff: unified(&json_to_yaml(&old), "", &o, Change::Delete),
                        object: o,
                        change: Change::Delete,
                    });
                }
                Decision::Keep(why) => report.kept.push((o, why)),
                Decision::Drop(_) => {}
                // As before prune shared `decide`: a diff that could not read the cluster
                // is an error, not a quiet "no changes".
                Decision::Failed(e) => return Err(e),
            }
        }
    }
    Ok(report)
}
