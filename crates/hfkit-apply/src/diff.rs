//! What an apply would change, release by release, without helm-diff.
//!
//! - Raw manifests: [`hfkit_kube::diff()`] (server-side dry-run apply against the live
//!   objects, Secret values redacted), with the release's raw sets so that objects an
//!   apply would prune are listed.
//! - The chart: `helm template` (with `--is-upgrade` when deployed) against `helm get
//!   manifest`, object by object ([`hfkit::diff::diff_manifests`], Secret values
//!   redacted). When objects differ, the chart is rendered a second time: an object
//!   that differs between two renders of the same inputs (a `randAlphaNum` password)
//!   is shown as one line, "changes on every render", not as a change. So are the
//!   objects listed in the release label [`DIFF_IGNORE_LABEL`] (`Kind/name`, comma
//!   separated), for objects whose changes are known noise.
//!
//! After an apply, a diff of the same inputs is therefore empty.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use hfkit::diff::{diff_manifests, render_text, Change, ObjectDiff};
use hfkit::helm::{with_stdin_values, Helm};
use hfkit_kube::{Connection, KubeOptions};
use serde::Serialize;

use crate::cluster;
use crate::plan::{Planned, Prepared, DIFF_IGNORE_LABEL};
use crate::run::{helm_async, raw_set};
use crate::Result;

/// How to diff.
#[derive(Clone)]
pub struct DiffOptions {
    /// Connection flags.
    pub kube: KubeOptions,
    /// The helm binary.
    pub helm: Helm,
    /// Namespace of hfapply's state (raw sets' inventories live there).
    pub state_namespace: String,
    /// Lines of context around each change.
    pub context: usize,
    /// Releases diffed at once (each runs up to three helm processes).
    pub concurrency: usize,
    /// As [`crate::run::RunOptions::allow_prune`]: protected kinds shown as deletions.
    pub allow_prune: BTreeSet<hfkit_kube::ProtectedKind>,
}

/// A raw manifest object that would change.
#[derive(Debug, Clone, Serialize)]
pub struct RawChange {
    /// `kind/name -n ns`.
    pub object: String,
    /// `create`, `update` or `delete`.
    pub change: &'static str,
    /// Unified diff (Secret values redacted).
    pub diff: String,
}

/// The diff of one release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDiff {
    /// Theme.
    pub theme: String,
    /// Release.
    pub release: String,
    /// Namespace.
    pub namespace: String,
    /// Whether helm has the release deployed now.
    pub deployed: bool,
    /// `installed: false` and deployed: an apply uninstalls it.
    pub uninstall: bool,
    /// Raw manifest changes (pre then post).
    pub raw: Vec<RawChange>,
    /// Chart object changes.
    pub chart: Vec<ObjectDiff>,
    /// Objects that differ on every render of the same inputs.
    pub volatile: Vec<String>,
    /// Changed objects ignored by the release's [`DIFF_IGNORE_LABEL`].
    pub ignored: Vec<String>,
    /// Raw objects no longer declared that an apply would keep (a protected kind without
    /// `--allow-prune-kind`, or declared by another release), with the reason.
    pub kept: Vec<String>,
    /// Why the diff could not be computed.
    pub error: Option<String>,
    /// The `prepare` and `cleanup` hooks that ran (helmfile fires them for diff).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::hooks::HookRun>,
}

impl ReleaseDiff {
    /// Whether an apply would change something (an error counts as unknown, not a
    /// change).
    pub fn has_changes(&self) -> bool {
        self.uninstall || !self.raw.is_empty() || !self.chart.is_empty()
    }
}

/// The diff of every planned release.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// In plan order.
    pub releases: Vec<ReleaseDiff>,
}

impl DiffReport {
    /// Whether any release would change.
    pub fn has_changes(&self) -> bool {
        self.releases.iter().any(ReleaseDiff::has_changes)
    }

    /// Whether any release could not be diffed.
    pub fn failed(&self) -> bool {
        self.releases.iter().any(|r| r.error.is_some())
    }
}

/// Diffs every prepared release (read-only: no lock, nothing written).
pub async fn diff_all(
    planned: &Planned,
    prepared: Vec<Prepared>,
    opts: &DiffOptions,
) -> Result<DiffReport> {
    let conn = hfkit_kube::connect(&crate::plan::kube_for(&opts.kube, &prepared)?).await?;
    // File-level hooks: helmfile fires prepare and cleanup for diff too.
    let dirs = crate::hooks::theme_dirs(&prepared);
    let kubeconfig = opts.kube.kubeconfig.clone();
    let file_hooks = |event: &str| {
        crate::hooks::fire_file_hooks(planned, &dirs, event, kubeconfig.as_deref(), &|_| {})
            .map_err(crate::Error::Other)
    };
    file_hooks("prepare")?;
    let report = diff_releases(prepared, opts, conn).await;
    file_hooks("cleanup")?;
    report
}

async fn diff_releases(
    prepared: Vec<Prepared>,
    opts: &DiffOptions,
    conn: Connection,
) -> Result<DiffReport> {
    // `helm template repo/chart --version V` reads helm's local copy of the repository
    // index: refresh each repository once first, or a version published since this
    // machine last looked (what autoupgrade just chose) would not be found.
    let mut repo_errors: BTreeMap<String, String> = BTreeMap::new();
    for (name, url) in &crate::plan::repositories(&prepared) {
        let args = hfkit::helm::repo_add_args(name, url);
        if let Err(e) = helm_async(opts.helm.clone(), args, None).await {
            repo_errors.insert(name.clone(), format!("repository `{name}` ({url}): {e}"));
        }
    }
    let desired = std::sync::Arc::new(crate::run::desired_by_run(&conn, &prepared));
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let count = prepared.len();
    for (i, p) in prepared.into_iter().enumerate() {
        let (conn, opts, sem) = (conn.clone(), opts.clone(), semaphore.clone());
        let desired = desired.clone();
        let repo_error = p
            .repository
            .as_ref()
            .and_then(|(name, _)| repo_errors.get(name).cloned());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let mut diff = diff_release(&conn, &opts, &p, &desired).await;
            if let (Some(e), None) = (repo_error, &diff.error) {
                diff.error = Some(e);
            }
            (i, diff)
        });
    }
    let mut releases: Vec<Option<ReleaseDiff>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        let (i, d) =
            joined.map_err(|e| crate::Error::Other(format!("a diff task panicked: {e}")))?;
        releases[i] = Some(d);
    }
    Ok(DiffReport {
        releases: releases.into_iter().flatten().collect(),
    })
}

async fn diff_release(
    conn: &Connection,
    opts: &DiffOptions,
    p: &Prepared,
    desired: &hfkit_kube::Desired,
) -> ReleaseDiff {
    let namespace = p
        .namespace
        .clone()
        .unwrap_or_else(|| conn.default_namespace.clone());
    let mut out = ReleaseDiff {
        theme: p.theme.clone(),
        release: p.name.clone(),
        namespace: namespace.clone(),
        deployed: false,
        uninstall: false,
        raw: Vec::new(),
        chart: Vec::new(),
        volatile: Vec::new(),
        ignored: Vec::new(),
        kept: Vec::new(),
        error: None,
        hooks: Vec::new(),
    };
    let prepared = match hook(opts, p, "prepare", &mut out.hooks).await {
        Ok(()) => fill(conn, opts, p, desired, &mut out).await,
        Err(e) => Err(e),
    };
    if let Err(e) = prepared {
        out.error = Some(e);
    }
    if let Err(e) = hook(opts, p, "cleanup", &mut out.hooks).await {
        out.error.get_or_insert(e);
    }
    out
}

/// Runs `p`'s hooks for `event` on the blocking pool; output lines are kept in the
/// report only.
async fn hook(
    opts: &DiffOptions,
    p: &Prepared,
    event: &'static str,
    ran: &mut Vec<crate::hooks::HookRun>,
) -> std::result::Result<(), String> {
    let kubeconfig = opts.kube.kubeconfig.as_deref();
    crate::hooks::fire_for(p, event, kubeconfig, std::sync::Arc::new(|_| {}), ran).await
}

async fn fill(
    conn: &Connection,
    opts: &DiffOptions,
    p: &Prepared,
    desired: &hfkit_kube::Desired,
    out: &mut ReleaseDiff,
) -> std::result::Result<(), String> {
    let ns = out.namespace.clone();
    let latest = cluster::helm_latest(&conn.client, &ns, &p.name)
        .await
        .map_err(|e| e.to_string())?;
    out.deployed = latest.as_ref().is_some_and(|(_, s)| s == "deployed");
    let conn_ns = Connection {
        client: conn.client.clone(),
        default_namespace: ns.clone(),
    };
    for (phase, manifests) in [("pre", &p.pre), ("post", &p.post)] {
        let manifests: &[hfkit_kube::Manifest] = if p.installed { manifests } else { &[] };
        let set = raw_set(&opts.state_namespace, &p.theme, &ns, &p.name, phase);
        if manifests.is_empty() {
            let set_ref = hfkit_kube::SetRef::new(&set, &ns).map_err(|e| e.to_string())?;
            let members = hfkit_kube::inventory::read(&conn.client, &set_ref)
                .await
                .map_err(|e| e.to_string())?;
            if members.is_empty() {
                continue;
            }
        }
        let dopts = hfkit_kube::DiffOptions {
            field_manager: cluster::FIELD_MANAGER.into(),
            set: Some(set),
            allow_prune: opts.allow_prune.clone(),
            declared_elsewhere: desired.clone(),
        };
        let report = hfkit_kube::diff(&conn_ns, manifests, &dopts)
            .await
            .map_err(|e| format!("{phase} raw manifests: {e}"))?;
        out.kept.extend(
            report
                .kept
                .into_iter()
                .map(|(o, why)| format!("{o} ({phase} raw manifests): {why}")),
        );
        out.raw
            .extend(report.entries.into_iter().map(|e| RawChange {
                object: e.object.to_string(),
                change: match e.change {
                    hfkit_kube::Change::Create => "create",
                    hfkit_kube::Change::Update => "update",
                    hfkit_kube::Change::Delete => "delete",
                },
                diff: e.diff,
            }));
    }
    if !p.installed {
        out.uninstall = latest.is_some();
        return Ok(());
    }
    let deployed = if out.deployed {
        let mut args: Vec<OsString> = vec![
            "get".into(),
            "manifest".into(),
            p.name.clone().into(),
            "--namespace".into(),
            ns.clone().into(),
        ];
        args.extend(kube_flags(opts, p).into_iter().map(OsString::from));
        helm_async(opts.helm.clone(), args, None).await?
    } else {
        String::new()
    };
    let template_args = || {
        let mut extra: Vec<String> = vec!["--namespace".into(), ns.clone()];
        if let Some(v) = &p.version {
            extra.push("--version".into());
            extra.push(v.clone());
        }
        if out.deployed {
            extra.push("--is-upgrade".into());
        }
        extra.extend(p.helm.template_flags());
        with_stdin_values(&["template"], &[&p.name, &p.chart_arg], &extra)
    };
    let render = || {
        helm_async(
            opts.helm.clone(),
            template_args(),
            Some(p.values_yaml.clone()),
        )
    };
    let first = render().await?;
    let diffs = diff_manifests(&deployed, &first, opts.context).map_err(|e| e.to_string())?;
    let ignored: BTreeSet<String> = p
        .labels
        .get(DIFF_IGNORE_LABEL)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut volatile: BTreeSet<String> = BTreeSet::new();
    if diffs.iter().any(|d| d.change == Change::Modified) {
        // Same inputs rendered again: whatever differs now is not a real change.
        let second = render().await?;
        let again = diff_manifests(&first, &second, 0).map_err(|e| e.to_string())?;
        for d in again {
            volatile.insert(d.key.to_string());
        }
    }
    for d in diffs {
        let short = format!("{}/{}", d.key.kind, d.key.name).to_lowercase();
        if d.change == Change::Modified && volatile.contains(&d.key.to_string()) {
            out.volatile.push(d.key.to_string());
        } else if d.change == Change::Modified && ignored.contains(&short) {
            out.ignored.push(d.key.to_string());
        } else {
            out.chart.push(d);
        }
    }
    Ok(())
}

fn kube_flags(opts: &DiffOptions, p: &Prepared) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = &opts.kube.kubeconfig {
        out.push("--kubeconfig".into());
        out.push(k.display().to_string());
    }
    if let Some(c) = p.kube_context.as_ref().or(opts.kube.context.as_ref()) {
        out.push("--kube-context".into());
        out.push(c.clone());
    }
    out
}

/// The diff as text: per release a header, raw then chart diffs, one line per
/// volatile object.
pub fn text(report: &DiffReport, color: bool) -> String {
    let mut out = String::new();
    for r in &report.releases {
        let head = format!("{}/{} (namespace {})", r.theme, r.release, r.namespace);
        if let Some(e) = &r.error {
            out.push_str(&format!("{head}: error: {e}\n"));
            continue;
        }
        if !r.has_changes() {
            out.push_str(&format!("{head}: no changes\n"));
        } else {
            out.push_str(&format!("=== {head}\n"));
            if r.uninstall {
                out.push_str("release will be uninstalled (installed: false)\n");
            }
            for c in &r.raw {
                out.push_str(&format!("raw {} ({}):\n{}", c.object, c.change, c.diff));
            }
            if !r.deployed && !r.uninstall {
                out.push_str("release is not deployed: every chart object is new\n");
            }
            out.push_str(&render_text(&r.chart, color));
        }
        for v in &r.volatile {
            out.push_str(&format!("  {v}: changes on every render (not shown)\n"));
        }
        for v in &r.ignored {
            out.push_str(&format!("  {v}: changed, ignored ({DIFF_IGNORE_LABEL})\n"));
        }
        for k in &r.kept {
            out.push_str(&format!("  kept {k}\n"));
        }
    }
    out
}

/// The diff as JSON.
pub fn json(report: &DiffReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The diff as Markdown (a pull-request comment): a summary table, then a collapsed
/// diff per changed release.
pub fn markdown(report: &DiffReport) -> String {
    let mut out = String::from("| release | theme | namespace | changes |\n|---|---|---|---|\n");
    for r in &report.releases {
        let what = match &r.error {
            Some(e) => format!("error: {}", e.replace('|', "\\|")),
            None if !r.has_changes() => "none".into(),
            None if r.uninstall => "uninstall".into(),
            None => format!("{} chart, {} raw", r.chart.len(), r.raw.len()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {what} |\n",
            r.release, r.theme, r.namespace
        ));
    }
    for r in report.releases.iter().filter(|r| r.has_changes()) {
        out.push_str(&format!(
            "\n<details><summary>{}/{}</summary>\n\n```diff\n",
            r.theme, r.release
        ));
        for c in &r.raw {
            out.push_str(&c.diff);
        }
        out.push_str(&render_text(&r.chart, false));
        out.push_str("```\n</details>\n");
    }
    out
}
