//! Applying releases: one release (`apply_release`) and a whole plan
//! ([`apply_all`]), wave by wave, in parallel within a wave.
//!
//! One release, when its fingerprint differs from its record (or `--force`):
//! 1. the record is written with `state: applying` and the new fingerprint, so an
//!    interrupted apply is seen as unfinished by the next run;
//! 2. a helm release left `pending-*` by an interrupted helm is recovered (`helm
//!    rollback`, or `helm uninstall` of a pending first install);
//! 3. pre raw manifests are server-side applied under the set
//!    `<state-ns>/<theme>.<namespace>.<release>.pre` (inventory in the state namespace,
//!    which exists before the release's own), pruning what is no longer declared;
//! 4. `helm upgrade --install` with the merged values on standard input;
//! 5. post raw manifests, set `<state-ns>/<theme>.<namespace>.<release>.post`;
//! 6. the record is written with `state: applied` and helm's new revision.
//!
//! `installed: false`: `helm uninstall` if helm has the release, both raw sets
//! pruned, record deleted.
//!
//! helm runs in its own process group: a Ctrl-C or a SIGTERM to the job's process
//! group (a CI runner being replaced, the apply-last case) does not kill helm half way
//! through writing a release; the next run converges from what it finds.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hfkit::helm::{with_stdin_values, Helm};
use hfkit_kube::{Connection, Desired, KubeOptions, ProtectedKind};
use serde::Serialize;

use crate::cluster::{self, Record};
use crate::fingerprint::fingerprint;
use crate::hooks::{self, HookRun};
use crate::lock::LockGuard;
use crate::plan::{Planned, Prepared};
use crate::Result;

/// How to run an apply.
#[derive(Clone)]
pub struct RunOptions {
    /// Connection flags.
    pub kube: KubeOptions,
    /// The helm binary.
    pub helm: Helm,
    /// Releases applied at once within a wave (at least 1).
    pub concurrency: usize,
    /// `--dry-run=server`: helm and raw manifests dry-run on the server; nothing is
    /// recorded and no lock is taken.
    pub dry_run: bool,
    /// Apply even unchanged releases.
    pub force: bool,
    /// Stop starting releases after the first failure (the rest are skipped).
    pub fail_fast: bool,
    /// `--recover-pending`: a helm release left `pending-*` by an interrupted helm is
    /// rolled back (a first install: uninstalled) before the upgrade; without it, such a
    /// release fails with its status, age and this flag named.
    pub recover_pending: bool,
    /// How long to wait for the cluster lock.
    pub lock_timeout: Duration,
    /// Namespace of hfapply's state.
    pub state_namespace: String,
    /// Called with each progress line (`media/plex: upgraded (2.1s)`).
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    /// Set (by a Ctrl-C handler, say) to start no further release; running ones
    /// finish and the report lists the rest as skipped.
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
    /// Protected kinds (Namespace, CRD, PersistentVolume) that pruning a release's raw
    /// sets may delete (`--allow-prune-kind`).
    pub allow_prune: BTreeSet<ProtectedKind>,
}

impl RunOptions {
    /// Defaults: concurrency 4, lock timeout 5 minutes, progress lines on stderr.
    pub fn new(kube: KubeOptions, helm: Helm) -> RunOptions {
        RunOptions {
            kube,
            helm,
            concurrency: 4,
            dry_run: false,
            force: false,
            fail_fast: false,
            recover_pending: false,
            lock_timeout: Duration::from_secs(300),
            state_namespace: cluster::STATE_NAMESPACE.into(),
            progress: Arc::new(|line| eprintln!("{line}")),
            interrupted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            allow_prune: BTreeSet::new(),
        }
    }
}

/// What happened to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Fingerprint unchanged: nothing run.
    Unchanged,
    /// helm upgraded an existing release.
    Upgraded,
    /// helm installed it.
    Installed,
    /// `installed: false` and it was present: uninstalled.
    Uninstalled,
    /// Failed (see the detail).
    Failed,
    /// Not attempted: a release it needs failed, or `--fail-fast`.
    Skipped,
}

impl Outcome {
    /// Lower-case name, as in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Upgraded => "upgraded",
            Outcome::Installed => "installed",
            Outcome::Uninstalled => "uninstalled",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    /// Whether the cluster changed (or would, in a dry run).
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Outcome::Upgraded | Outcome::Installed | Outcome::Uninstalled
        )
    }
}

/// One row of the final report.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseResult {
    /// Theme.
    pub theme: String,
    /// Release.
    pub release: String,
    /// Namespace.
    pub namespace: String,
    /// What happened.
    pub outcome: Outcome,
    /// Wall time of this release.
    pub duration_ms: u64,
    /// Why it failed or was skipped; the helm revision when applied.
    pub detail: Option<String>,
    /// Raw manifest objects created, changed or pruned.
    pub raw_changes: usize,
    /// The hooks that ran, with their output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRun>,
}

/// The result of [`apply_all`].
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// One row per planned release, in plan order.
    pub results: Vec<ReleaseResult>,
    /// `--dry-run=server`.
    pub dry_run: bool,
    /// Wall time of the apply (lock included).
    pub duration_ms: u64,
}

impl RunReport {
    /// Whether any release failed.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome == Outcome::Failed)
    }

    /// The releases that changed the cluster.
    pub fn changed(&self) -> impl Iterator<Item = &ReleaseResult> {
        self.results.iter().filter(|r| r.outcome.is_change())
    }
}

/// Shared by the tasks of one run.
struct Ctx {
    conn: Connection,
    opts: RunOptions,
    key: Option<Vec<u8>>,
    repos_added: Mutex<HashSet<String>>,
    /// helm's major version, asked once and only when a release is synced (a no-op
    /// run starts no helm).
    helm_major: tokio::sync::OnceCell<u32>,
    /// Every raw object declared by a release of this run: pruning one raw set never
    /// deletes what another set of the run applies (a Namespace moved from a release's
    /// pre manifests to its post ones, or to another release).
    desired: Desired,
}

/// Applies every prepared release of `planned` (see the module docs); takes the
/// cluster lock unless dry-running. Release failures are rows of the report; only
/// failures before any release starts (connection, lock) are errors.
pub async fn apply_all(
    planned: &Planned,
    prepared: Vec<Prepared>,
    opts: &RunOptions,
) -> Result<RunReport> {
    let started = Instant::now();
    let conn = hfkit_kube::connect(&crate::plan::kube_for(&opts.kube, &prepared)?).await?;
    let lock = if opts.dry_run {
        None
    } else {
        let progress = opts.progress.clone();
        Some(
            crate::lock::acquire(
                &conn.client,
                &opts.state_namespace,
                opts.lock_timeout,
                &move |holder| {
                    progress(&format!(
                        "waiting for the cluster lock held by {holder} (--lock-timeout)"
                    ))
                },
            )
            .await?,
        )
    };
    let guard = lock.as_ref().map(|l| l.guard());
    // File-level hooks (dry runs too: helmfile fires prepare and cleanup for diff).
    let dirs = crate::hooks::theme_dirs(&prepared);
    let kubeconfig = opts.kube.kubeconfig.clone();
    let progress = opts.progress.clone();
    let file_hooks = |event: &str| {
        crate::hooks::fire_file_hooks(planned, &dirs, event, kubeconfig.as_deref(), &|l| {
            progress(l)
        })
    };
    let result = match file_hooks("prepare") {
        Err(e) => Err(crate::Error::Other(e)),
        Ok(_) => {
            let result = run_locked(planned, prepared, opts, conn, guard).await;
            if let Err(e) = file_hooks("cleanup") {
                (opts.progress)(&format!("warning: {e}"));
            }
            result
        }
    };
    if let Some(lock) = lock {
        lock.release().await?;
    }
    let mut report = result?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

async fn run_locked(
    planned: &Planned,
    prepared: Vec<Prepared>,
    opts: &RunOptions,
    conn: Connection,
    guard: Option<LockGuard>,
) -> Result<RunReport> {
    let key = cluster::fingerprint_key(&conn.client, &opts.state_namespace, !opts.dry_run).await?;
    let desired = desired_by_run(&conn, &prepared);
    let ctx = Arc::new(Ctx {
        conn,
        opts: opts.clone(),
        key,
        repos_added: Mutex::new(HashSet::new()),
        helm_major: tokio::sync::OnceCell::new(),
        desired,
    });
    let mut by_node: BTreeMap<usize, Arc<Prepared>> = prepared
        .into_iter()
        .map(|p| (p.node, Arc::new(p)))
        .collect();
    let mut results: BTreeMap<usize, ReleaseResult> = BTreeMap::new();
    let mut not_ok: BTreeSet<usize> = BTreeSet::new();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let phases = [
        (&planned.removals, false),
        (&planned.plan, false),
        (&planned.last, true),
    ];
    for (plan, last_phase) in phases {
        if last_phase && !plan.is_empty() {
            // Everything else is recorded by now: if applying these kills the runner
            // we run on, the next run finds only these to do.
            (opts.progress)(&format!(
                "applying {} apply-last release(s); every other release is done and recorded",
                plan.len()
            ));
        }
        for wave in &plan.waves {
            let mut tasks = tokio::task::JoinSet::new();
            // Set when the lock is found lost: no further release starts, those under
            // way finish, then the run stops with the error.
            let mut lost: Option<crate::Error> = None;
            for &node in wave {
                if let Some(g) = &guard {
                    if let Err(e) = g.check().await {
                        lost = Some(e);
                        break;
                    }
                }
                let Some(p) = by_node.remove(&node) else {
                    continue;
                };
                let gnode = &planned.graph.nodes()[node];
                let failed_need = gnode.needs.iter().find(|n| not_ok.contains(n));
                let skip = if let Some(&need) = failed_need {
                    Some(format!("needs {} which did not apply", planned.label(need)))
                } else if opts.fail_fast && results.values().any(|r| r.outcome == Outcome::Failed) {
                    Some("--fail-fast: an earlier release failed".to_string())
                } else {
                    None
                };
                if let Some(why) = skip {
                    (opts.progress)(&format!("{}: skipped ({why})", p.label()));
                    not_ok.insert(node);
                    results.insert(node, skipped(&ctx.conn, &p, why));
                    continue;
                }
                let ctx = ctx.clone();
                let sem = semaphore.clone();
                let guard = guard.clone();
                tasks.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    // Waiting for a slot may outlast the lock.
                    if let Some(Err(e)) = match &guard {
                        Some(g) => Some(g.check().await),
                        None => None,
                    } {
                        let why = format!("not started: {e}");
                        (ctx.opts.progress)(&format!("{}: skipped ({why})", p.label()));
                        return (node, skipped(&ctx.conn, &p, why));
                    }
                    // Waiting for a slot may outlast an interruption.
                    if ctx
                        .opts
                        .interrupted
                        .load(std::sync::atomic::Ordering::SeqCst)
                    {
                        let why = "interrupted before it started".to_string();
                        (ctx.opts.progress)(&format!("{}: skipped ({why})", p.label()));
                        return (node, skipped(&ctx.conn, &p, why));
                    }
                    (node, apply_release(&ctx, &p).await)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let (node, r) = joined
                    .map_err(|e| crate::Error::Other(format!("a release task panicked: {e}")))?;
                if matches!(r.outcome, Outcome::Failed | Outcome::Skipped) {
                    not_ok.insert(node);
                }
                results.insert(node, r);
            }
            if let Some(e) = lost {
                return Err(e);
            }
            if let Some(g) = &guard {
                // A release of this wave may have found the lock lost.
                g.check().await?;
            }
        }
    }
    let order: Vec<usize> = planned.nodes().collect();
    Ok(RunReport {
        results: order
            .into_iter()
            .filter_map(|n| results.remove(&n))
            .collect(),
        dry_run: opts.dry_run,
        duration_ms: 0,
    })
}

/// The raw objects the installed releases of `prepared` declare (pre and post).
pub fn desired_by_run(conn: &Connection, prepared: &[Prepared]) -> Desired {
    let mut d = Desired::new();
    for p in prepared.iter().filter(|p| p.installed) {
        let ns = namespace_of(conn, p);
        d.add(&p.pre, &ns);
        d.add(&p.post, &ns);
    }
    d
}

fn skipped(conn: &Connection, p: &Prepared, why: String) -> ReleaseResult {
    ReleaseResult {
        theme: p.theme.clone(),
        release: p.name.clone(),
        namespace: namespace_of(conn, p),
        outcome: Outcome::Skipped,
        duration_ms: 0,
        detail: Some(why),
        raw_changes: 0,
        hooks: Vec::new(),
    }
}

fn namespace_of(conn: &Connection, p: &Prepared) -> String {
    p.namespace
        .clone()
        .unwrap_or_else(|| conn.default_namespace.clone())
}

/// Applies one release (see the module docs); never fails: a failure is a row.
///
/// Hooks: `prepare` first, for every release of the run (helmfile fires it for every
/// command, so an unchanged release runs its prepare hooks too); then, only when the
/// release is synced, `preapply`, `presync`, the sync, and `postsync` (also after a
/// failed sync, as helmfile); `preuninstall`/`postuninstall` around `helm
/// uninstall`; `cleanup` last, whatever happened (its failure is a warning).
async fn apply_release(ctx: &Ctx, p: &Prepared) -> ReleaseResult {
    let started = Instant::now();
    let namespace = namespace_of(&ctx.conn, p);
    let mut ran = Vec::new();
    let result = match fire(ctx, p, "prepare", &mut ran).await {
        Err(e) => Err(e),
        Ok(()) if p.installed => install(ctx, p, &namespace, &mut ran).await,
        Ok(()) => uninstall(ctx, p, &namespace, &mut ran).await,
    };
    if let Err(e) = fire(ctx, p, "cleanup", &mut ran).await {
        (ctx.opts.progress)(&format!("{}: warning: {e}", p.label()));
    }
    let (outcome, detail, raw_changes) = match result {
        Ok(x) => x,
        Err(e) => (Outcome::Failed, Some(e), 0),
    };
    let took = started.elapsed();
    let suffix = if ctx.opts.dry_run && outcome.is_change() {
        " (server dry run)"
    } else {
        ""
    };
    let line = match &detail {
        Some(d) if matches!(outcome, Outcome::Failed) => {
            format!("{}: failed: {d}", p.label())
        }
        _ => format!(
            "{}: {}{suffix} ({:.1}s)",
            p.label(),
            outcome.as_str(),
            took.as_secs_f64()
        ),
    };
    (ctx.opts.progress)(&line);
    ReleaseResult {
        theme: p.theme.clone(),
        release: p.name.clone(),
        namespace,
        outcome,
        duration_ms: took.as_millis() as u64,
        detail,
        raw_changes,
        hooks: ran,
    }
}

/// Runs `p`'s hooks for `event` (none in a dry run but `prepare` and `cleanup`, which
/// helmfile fires for diff too); output lines go to progress, prefixed with the
/// release.
async fn fire(
    ctx: &Ctx,
    p: &Prepared,
    event: &'static str,
    ran: &mut Vec<HookRun>,
) -> std::result::Result<(), String> {
    if ctx.opts.dry_run && !matches!(event, "prepare" | "cleanup") {
        return Ok(());
    }
    let kubeconfig = ctx.opts.kube.kubeconfig.as_deref();
    hooks::fire_for(p, event, kubeconfig, ctx.opts.progress.clone(), ran).await
}

/// helm's major version, asked once per run.
async fn helm_major(ctx: &Ctx) -> std::result::Result<u32, String> {
    ctx.helm_major
        .get_or_try_init(|| async {
            let helm = ctx.opts.helm.clone();
            tokio::task::spawn_blocking(move || helm.major_version())
                .await
                .map_err(|e| format!("helm task: {e}"))?
                .map_err(|e| e.to_string())
        })
        .await
        .copied()
}

type Step = std::result::Result<(Outcome, Option<String>, usize), String>;

/// The fingerprint of a prepared release under this run's key.
fn fingerprint_of(ctx: &Ctx, p: &Prepared) -> Option<String> {
    ctx.key.as_ref().map(|k| fingerprint(k, &p.material))
}

/// Whether the record and helm's latest revision say the release is as its inputs.
async fn unchanged(ctx: &Ctx, p: &Prepared, ns: &str, fp: Option<&str>) -> Result<bool> {
    let Some(fp) = fp else { return Ok(false) };
    let client = &ctx.conn.client;
    let Some(record) = cluster::read_record(client, &ctx.opts.state_namespace, ns, &p.name).await?
    else {
        return Ok(false);
    };
    if record.state != "applied" || record.fingerprint != fp {
        return Ok(false);
    }
    let latest = cluster::helm_latest(client, ns, &p.name).await?;
    Ok(matches!(latest, Some((rev, status)) if rev == record.helm_revision && status == "deployed"))
}

async fn install(ctx: &Ctx, p: &Prepared, ns: &str, ran: &mut Vec<HookRun>) -> Step {
    let fp = fingerprint_of(ctx, p);
    if !ctx.opts.force
        && unchanged(ctx, p, ns, fp.as_deref())
            .await
            .map_err(|e| e.to_string())?
    {
        return Ok((Outcome::Unchanged, None, 0));
    }
    // Refused setting combinations fail before anything changes.
    let major = if p.helm.depends_on_helm_version() {
        helm_major(ctx).await?
    } else {
        3
    };
    let settings = p
        .helm
        .upgrade_flags(major, p.oci)
        .map_err(|e| e.to_string())?;
    fire(ctx, p, "preapply", ran).await?;
    // As helmfile: a failed presync skips the sync, and postsync runs either way.
    let synced = match fire(ctx, p, "presync", ran).await {
        Ok(()) => sync(ctx, p, ns, settings, fp).await,
        Err(e) => Err(e),
    };
    let posted = fire(ctx, p, "postsync", ran).await;
    let step = synced?;
    posted?;
    Ok(step)
}

/// Steps 1 to 6 of the module docs for a changed release.
async fn sync(
    ctx: &Ctx,
    p: &Prepared,
    ns: &str,
    settings: Vec<String>,
    fp: Option<String>,
) -> Step {
    let client = &ctx.conn.client;
    let state_ns = &ctx.opts.state_namespace;
    let mut record = Record {
        theme: p.theme.clone(),
        release: p.name.clone(),
        namespace: ns.to_string(),
        chart: p.chart_arg.clone(),
        version: p.version.clone().unwrap_or_default(),
        fingerprint: fp.clone().unwrap_or_default(),
        state: "applying".into(),
        helm_revision: 0,
        applied_at: cluster::now_rfc3339(),
        tool: crate::TOOL_VERSION.into(),
    };
    if !ctx.opts.dry_run {
        cluster::write_record(client, state_ns, &record)
            .await
            .map_err(|e| e.to_string())?;
    }
    let before = cluster::helm_latest(client, ns, &p.name)
        .await
        .map_err(|e| e.to_string())?;
    if let Some((_, status)) = &before {
        if status.starts_with("pending-") && !ctx.opts.dry_run {
            if !ctx.opts.recover_pending {
                let age = cluster::helm_latest_age(client, ns, &p.name)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|a| format!(" for {a}"))
                    .unwrap_or_default();
                return Err(format!(
                    "helm release {ns}/{} is {status}{age}, left by a helm that was \
                     interrupted (this apply holds the cluster lock, so no other apply is \
                     running it); rerun with --recover-pending to {} and retry",
                    p.name,
                    if status == "pending-install" {
                        "uninstall the unfinished first install"
                    } else {
                        "roll it back to its last revision"
                    }
                ));
            }
            recover_pending(ctx, p, ns, status).await?;
        }
    }
    let before = cluster::helm_latest(client, ns, &p.name)
        .await
        .map_err(|e| e.to_string())?;
    let mut raw_changes = 0;
    if !p.pre.is_empty() && p.helm.creates_namespace() && !ctx.opts.dry_run {
        // Pre manifests may live in the release namespace helm would create later.
        cluster::ensure_namespace(client, ns)
            .await
            .map_err(|e| e.to_string())?;
    }
    raw_changes += raw(ctx, p, ns, "pre").await?;
    if let Some((name, url)) = &p.repository {
        add_repo(ctx, name, url).await?;
    }
    let mut extra: Vec<String> = vec!["--namespace".into(), ns.into()];
    if let Some(v) = &p.version {
        extra.push("--version".into());
        extra.push(v.clone());
    }
    extra.extend(settings);
    if ctx.opts.dry_run {
        extra.push("--dry-run=server".into());
    }
    extra.extend(connection_flags(ctx, p));
    let args = with_stdin_values(&["upgrade", "--install"], &[&p.name, &p.chart_arg], &extra);
    run_helm(ctx, args, Some(p.values_yaml.clone())).await?;
    raw_changes += raw(ctx, p, ns, "post").await?;
    let outcome = if before.is_some_and(|(_, s)| s != "uninstalled") {
        Outcome::Upgraded
    } else {
        Outcome::Installed
    };
    if ctx.opts.dry_run {
        return Ok((outcome, None, raw_changes));
    }
    let after = cluster::helm_latest(client, ns, &p.name)
        .await
        .map_err(|e| e.to_string())?;
    record.helm_revision = after.map(|(r, _)| r).unwrap_or(0);
    record.state = "applied".into();
    record.applied_at = cluster::now_rfc3339();
    cluster::write_record(client, state_ns, &record)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        outcome,
        Some(format!("revision {}", record.helm_revision)),
        raw_changes,
    ))
}

async fn uninstall(ctx: &Ctx, p: &Prepared, ns: &str, ran: &mut Vec<HookRun>) -> Step {
    let client = &ctx.conn.client;
    let present = cluster::helm_latest(client, ns, &p.name)
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    let mut raw_changes = 0;
    if present {
        let mut args: Vec<OsString> = vec![
            "uninstall".into(),
            p.name.clone().into(),
            "--namespace".into(),
            ns.into(),
        ];
        args.extend(p.helm.uninstall_flags().into_iter().map(OsString::from));
        if ctx.opts.dry_run {
            args.push("--dry-run".into());
        }
        args.extend(connection_flags(ctx, p).into_iter().map(OsString::from));
        // As helmfile syncs a deleted release: preapply, presync, preuninstall, the
        // uninstall, postuninstall, then postsync whatever happened.
        fire(ctx, p, "preapply", ran).await?;
        let removed = match fire(ctx, p, "presync", ran).await {
            Ok(()) => match fire(ctx, p, "preuninstall", ran).await {
                Ok(()) => match run_helm(ctx, args, None).await {
                    Ok(_) => fire(ctx, p, "postuninstall", ran).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let posted = fire(ctx, p, "postsync", ran).await;
        removed?;
        posted?;
    }
    // Raw sets of a release that was installed before are pruned with it.
    for phase in ["post", "pre"] {
        raw_changes += raw_with(ctx, p, ns, phase, &[]).await?;
    }
    if !ctx.opts.dry_run {
        cluster::delete_record(client, &ctx.opts.state_namespace, ns, &p.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((
        if present || raw_changes > 0 {
            Outcome::Uninstalled
        } else {
            Outcome::Unchanged
        },
        None,
        raw_changes,
    ))
}

/// The raw set of a release's phase.
pub fn raw_set(state_ns: &str, theme: &str, namespace: &str, release: &str, phase: &str) -> String {
    let theme: String = theme
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{state_ns}/{theme}.{namespace}.{release}.{phase}")
}

async fn raw(ctx: &Ctx, p: &Prepared, ns: &str, phase: &str) -> std::result::Result<usize, String> {
    let manifests = if phase == "pre" { &p.pre } else { &p.post };
    raw_with(ctx, p, ns, phase, manifests).await
}

async fn raw_with(
    ctx: &Ctx,
    p: &Prepared,
    ns: &str,
    phase: &str,
    manifests: &[hfkit_kube::Manifest],
) -> std::result::Result<usize, String> {
    let set = raw_set(&ctx.opts.state_namespace, &p.theme, ns, &p.name, phase);
    if manifests.is_empty() {
        // Nothing declared: only a set applied before has anything to prune.
        let set_ref = hfkit_kube::SetRef::new(&set, ns).map_err(|e| e.to_string())?;
        let members = hfkit_kube::inventory::read(&ctx.conn.client, &set_ref)
            .await
            .map_err(|e| e.to_string())?;
        if members.is_empty() {
            return Ok(0);
        }
    }
    let conn = Connection {
        client: ctx.conn.client.clone(),
        default_namespace: ns.to_string(),
    };
    let opts = hfkit_kube::ApplyOptions {
        field_manager: cluster::FIELD_MANAGER.into(),
        force_conflicts: true,
        dry_run: ctx.opts.dry_run,
        set: Some(set),
        prune: true,
        allow_prune: ctx.opts.allow_prune.clone(),
        declared_elsewhere: ctx.desired.clone(),
        ..Default::default()
    };
    let report = hfkit_kube::apply(&conn, manifests, &opts)
        .await
        .map_err(|e| format!("{phase} raw manifests: {e}"))?;
    for o in &report.outcomes {
        // Left behind on purpose (a protected kind, or moved to another set): say so,
        // with the flag that would delete it.
        if let hfkit_kube::Action::Kept(why) = &o.action {
            (ctx.opts.progress)(&format!(
                "{}: {phase} raw manifests: kept {}: {why}",
                p.label(),
                o.object
            ));
        }
    }
    Ok(report
        .outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                hfkit_kube::Action::Created
                    | hfkit_kube::Action::Configured
                    | hfkit_kube::Action::Pruned
            )
        })
        .count())
}

/// helm's connection flags for a release.
fn connection_flags(ctx: &Ctx, p: &Prepared) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = &ctx.opts.kube.kubeconfig {
        out.push("--kubeconfig".into());
        out.push(k.display().to_string());
    }
    if let Some(c) = p.kube_context.as_ref().or(ctx.opts.kube.context.as_ref()) {
        out.push("--kube-context".into());
        out.push(c.clone());
    }
    out
}

async fn recover_pending(
    ctx: &Ctx,
    p: &Prepared,
    ns: &str,
    status: &str,
) -> std::result::Result<(), String> {
    let verb = if status == "pending-install" {
        "uninstall"
    } else {
        "rollback"
    };
    (ctx.opts.progress)(&format!(
        "{}: helm release is {status} (an interrupted helm); --recover-pending: helm {verb} {} -n {ns}, then the upgrade",
        p.label(),
        p.name
    ));
    let mut args: Vec<OsString> = vec![
        verb.into(),
        p.name.clone().into(),
        "--namespace".into(),
        ns.into(),
    ];
    args.extend(connection_flags(ctx, p).into_iter().map(OsString::from));
    run_helm(ctx, args, None).await.map(|_| ())
}

async fn add_repo(ctx: &Ctx, name: &str, url: &str) -> std::result::Result<(), String> {
    if !ctx
        .repos_added
        .lock()
        .map(|mut s| s.insert(name.to_string()))
        .unwrap_or(true)
    {
        return Ok(());
    }
    run_helm(ctx, hfkit::helm::repo_add_args(name, url), None)
        .await
        .map(|_| ())
}

/// Runs helm in its own process group (see the module docs), values on stdin;
/// a failure is helm's last stderr lines.
async fn run_helm(
    ctx: &Ctx,
    args: Vec<OsString>,
    values: Option<String>,
) -> std::result::Result<String, String> {
    helm_async(ctx.opts.helm.clone(), args, values).await
}

/// [`helm_output`] on the blocking pool, so waiting for helm never stalls the
/// runtime's workers (and the API calls of other releases).
pub async fn helm_async(
    helm: Helm,
    args: Vec<OsString>,
    values: Option<String>,
) -> std::result::Result<String, String> {
    tokio::task::spawn_blocking(move || helm_output(&helm, &args, values.as_deref()))
        .await
        .map_err(|e| format!("helm task: {e}"))?
}

/// Runs `helm ARGS` with optional values on stdin in its own process group.
pub fn helm_output(
    helm: &Helm,
    args: &[OsString],
    values: Option<&str>,
) -> std::result::Result<String, String> {
    match helm.clone().in_own_process_group().output(args, values) {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        // A short message: the subcommand and release, helm's last two lines.
        Err(hfkit::helm::HelmError::Failed { status, stderr, .. }) => {
            let shown: Vec<String> = args
                .iter()
                .take(3)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = last[last.len().saturating_sub(2)..].join(" ");
            Err(format!(
                "helm {} failed ({status}): {tail}",
                shown.join(" ")
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}
