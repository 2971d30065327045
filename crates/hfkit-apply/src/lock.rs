//! One apply at a time per cluster: a `coordination.k8s.io/v1` Lease [`LEASE_NAME`] in
//! the state namespace.
//!
//! Taking it: create the Lease; when it exists and its `renewTime +
//! leaseDurationSeconds` is past *by the API server's clock* (the `Date` of its
//! responses: local clocks of CI runners disagree), take it over with an update
//! conditioned on its `resourceVersion`, so that of two waiting applies only one wins.
//! Otherwise poll until the timeout, then fail naming the holder. Every time written
//! into the Lease is the server's too.
//!
//! The holder is `HOST/pid-PID/ID` with a random 128-bit ID (two containers share
//! hostnames and pids); annotations add the start time, the pipeline run
//! (`GITHUB_RUN_ID`, `CI_JOB_URL`) and, for one shortcut, the process's boot id, pid
//! namespace and kernel start time: a holder of *this* kernel and pid namespace whose
//! process is gone counts as expired at once; any other waits for expiry.
//!
//! While held, a background task renews it every [`RENEW_EVERY`]. When the Lease is
//! deleted or taken over, or renewals fail for so long that it may have expired, the
//! lock is lost: [`LockGuard::check`] (which the orchestrator calls before starting
//! each release) then fails with [`crate::Error::LockLost`]. A killed apply's lock
//! expires after [`LEASE_SECONDS`]. Releasing deletes it (only if still ours).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::Api;

use crate::cluster::{ensure_namespace, MANAGED_BY_LABEL};
use crate::{Error, Result};

/// Name of the lock Lease.
pub const LEASE_NAME: &str = "hfapply-lock";
/// How long a lock outlives its last renewal.
pub const LEASE_SECONDS: i32 = 30;
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// Annotation: the holder's host name.
pub const HOST_ANNOTATION: &str = "hfapply.hfkit.io/holder-host";
/// Annotation: the holder's pid.
pub const PID_ANNOTATION: &str = "hfapply.hfkit.io/holder-pid";
/// Annotation: when the holder process started (RFC 3339, its local clock).
pub const STARTED_ANNOTATION: &str = "hfapply.hfkit.io/holder-started";
/// Annotation: the pipeline run holding the lock (a URL, or a run id).
pub const PIPELINE_ANNOTATION: &str = "hfapply.hfkit.io/pipeline";
/// Annotation: `BOOT_ID/PID_NAMESPACE/PID/START_TICKS` of the holder process, to tell
/// a dead holder on this machine from a live one in another container.
pub const PROCESS_ANNOTATION: &str = "hfapply.hfkit.io/holder-process";

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How long to wait for another holder.
    pub timeout: Duration,
    /// How often to renew (less than a third of [`LEASE_SECONDS`]).
    pub renew_every: Duration,
    /// The pipeline run to record ([`pipeline_from_env`] by default).
    pub pipeline: Option<String>,
}

impl LockOptions {
    /// Renewal every [`RENEW_EVERY`], pipeline from the environment.
    pub fn new(timeout: Duration) -> LockOptions {
        LockOptions {
            timeout,
            renew_every: RENEW_EVERY,
            pipeline: pipeline_from_env(),
        }
    }
}

/// The pipeline run this process belongs to, from CI variables read by `var`: GitHub
/// Actions (`GITHUB_SERVER_URL`, default `https://github.com`, + `GITHUB_REPOSITORY` +
/// `GITHUB_RUN_ID` → the run's URL; the bare id without a repository), else GitLab's
/// `CI_JOB_URL`.
pub fn pipeline_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    if let Some(run) = get("GITHUB_RUN_ID") {
        let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        return Some(match get("GITHUB_REPOSITORY") {
            Some(repo) => format!("{}/{repo}/actions/runs/{run}", server.trim_end_matches('/')),
            None => format!("GitHub Actions run {run}"),
        });
    }
    get("CI_JOB_URL")
}

/// [`pipeline_url`] of this process's environment.
pub fn pipeline_from_env() -> Option<String> {
    pipeline_url(|k| std::env::var(k).ok())
}

/// Who holds the lock, as recorded on the Lease: for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// `holderIdentity`.
    pub identity: String,
    /// `acquireTime` (RFC 3339, server time), if set.
    pub since: Option<String>,
    /// The pipeline run, if recorded.
    pub pipeline: Option<String>,
}

impl std::fmt::Display for HolderInfo {
    /// `HOST/pid-PID/ID since TIME (pipeline URL)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.identity)?;
        if let Some(s) = &self.since {
            write!(f, " since {s}")?;
        }
        match &self.pipeline {
            Some(p) => write!(f, " (pipeline {p})"),
            None => write!(f, " (no pipeline run recorded)"),
        }
    }
}

fn holder_info(l: &Lease) -> HolderInfo {
    let spec = l.spec.as_ref();
    HolderInfo {
        identity: spec
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_else(|| "unknown".into()),
        since: spec
            .and_then(|s| s.acquire_time.as_ref())
            .map(|t| t.0.to_string()),
        pipeline: annotation(l, PIPELINE_ANNOTATION).map(str::to_string),
    }
}

fn annotation<'a>(l: &'a Lease, key: &str) -> Option<&'a str> {
    l.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// This process as a lock holder.
#[derive(Debug, Clone)]
struct Me {
    identity: String,
    annotations: BTreeMap<String, String>,
}

impl Me {
    fn new(pipeline: Option<&str>) -> Me {
        let host = hostname();
        let pid = std::process::id();
        let identity = format!("{host}/pid-{pid}/{}", random_id());
        let mut annotations: BTreeMap<String, String> = [
            (HOST_ANNOTATION.to_string(), host),
            (PID_ANNOTATION.to_string(), pid.to_string()),
            (STARTED_ANNOTATION.to_string(), process_start().to_string()),
        ]
        .into();
        if let Some(p) = pipeline {
            annotations.insert(PIPELINE_ANNOTATION.into(), p.to_string());
        }
        if let Some(k) = process_key(pid) {
            annotations.insert(PROCESS_ANNOTATION.into(), k);
        }
        Me {
            identity,
            annotations,
        }
    }

    fn lease(&self, now: Timestamp) -> Lease {
        Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(LEASE_NAME.into()),
                labels: Some([(MANAGED_BY_LABEL.to_string(), "hfapply".to_string())].into()),
                annotations: Some(self.annotations.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                ..Default::default()
            }),
        }
    }
}

/// 128 random bits, hex: what makes a holder unique across containers.
fn random_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No /dev/urandom: still distinct per process and instant.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ ((std::process::id() as u128) << 64);
        b = n.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// When this process started (local clock: informative only; no decision reads it).
fn process_start() -> Timestamp {
    static START: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();
    *START.get_or_init(Timestamp::now)
}

/// `BOOT_ID/PID_NAMESPACE/PID/START_TICKS` of `pid`, as seen from this process.
fn process_key(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pidns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ticks = start_ticks(pid)?;
    Some(format!(
        "{}/{}/{pid}/{ticks}",
        boot.trim(),
        pidns.to_string_lossy()
    ))
}

/// Field 22 of `/proc/PID/stat`: the process's start time in clock ticks since boot
/// (tells a reused pid from the original process).
fn start_ticks(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the holder recorded in `l` is a process of this very kernel boot and pid
/// namespace that no longer runs (a killed apply on this machine need not wait for its
/// lease to expire). Holders elsewhere, or without the record, are never presumed dead.
fn holder_is_dead(l: &Lease) -> bool {
    let Some(key) = annotation(l, PROCESS_ANNOTATION) else {
        return false;
    };
    let parts: Vec<&str> = key.split('/').collect();
    let [boot, pidns, pid, ticks] = parts[..] else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let Some(mine) = process_key(std::process::id()) else {
        return false;
    };
    let mine: Vec<&str> = mine.split('/').collect();
    if mine.first() != Some(&boot) || mine.get(1) != Some(&pidns) {
        return false;
    }
    start_ticks(pid).as_deref() != Some(ticks)
}

/// The API server's clock: the `Date` header of a `GET /version` (one-second
/// resolution, which a 30 s lease can afford).
pub async fn server_now(client: &kube::Client) -> Result<Timestamp> {
    let req = http::Request::get("/version")
        .body(kube::client::Body::empty())
        .map_err(|e| Error::Other(format!("reading the API server's clock: {e}")))?;
    let res = client
        .send(req)
        .await
        .map_err(|e| Error::api("reading the API server's clock (GET /version)", e))?;
    let date = res
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .ok_or_else(|| {
            Error::Other(
                "the API server's response has no Date header: cannot tell whether the cluster lock expired"
                    .into(),
            )
        })?;
    k8s_openapi::jiff::fmt::rfc2822::parse(date)
        .map(|z| z.timestamp())
        .map_err(|e| {
            Error::Other(format!(
                "the API server's Date header `{date}` is not an HTTP date: {e}"
            ))
        })
}

/// Whether `l` expired by the server's clock `now` (or its holder is dead here).
fn expired(l: &Lease, now: Timestamp) -> bool {
    let Some(spec) = &l.spec else { return true };
    if holder_is_dead(l) {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
    renewed.0 + SignedDuration::from_secs(secs) < now
}

fn holder_of(l: &Lease) -> String {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// A held lock; [`ClusterLock::release`] gives it back (dropping it stops renewing,
/// and the Lease expires).
pub struct ClusterLock {
    api: Api<Lease>,
    guard: LockGuard,
    renew: tokio::task::JoinHandle<()>,
}

/// Whether the lock is still held; cheap to clone into tasks.
#[derive(Clone)]
pub struct LockGuard {
    api: Api<Lease>,
    namespace: String,
    holder: String,
    lost: Arc<Mutex<Option<String>>>,
}

impl LockGuard {
    fn lose(&self, cause: String) {
        if let Ok(mut l) = self.lost.lock() {
            l.get_or_insert(cause);
        }
    }

    fn error(&self, cause: String) -> Error {
        Error::LockLost {
            namespace: self.namespace.clone(),
            name: LEASE_NAME.into(),
            cause,
        }
    }

    /// Fails with [`Error::LockLost`] when a renewal found the lock lost, or the Lease
    /// is now gone or someone else's (read now, so a takeover since the last renewal
    /// counts). A failed read alone is left to the renewals.
    pub async fn check(&self) -> Result<()> {
        if let Some(cause) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(self.error(cause));
        }
        match self.api.get_opt(LEASE_NAME).await {
            Ok(None) => {
                let cause = "the lease was deleted".to_string();
                self.lose(cause.clone());
                Err(self.error(cause))
            }
            Ok(Some(l)) if holder_of(&l) != self.holder => {
                let cause = format!("it was taken over by {}", holder_info(&l));
                self.lose(cause.clone());
                Err(self.error(cause))
            }
            _ => Ok(()),
        }
    }
}

/// Takes the cluster lock with [`LockOptions::new`]`(timeout)`.
pub async fn acquire(
    client: &kube::Client,
    state_ns: &str,
    timeout: Duration,
    on_wait: &(dyn Fn(&str) + Sync),
) -> Result<ClusterLock> {
    acquire_with(client, state_ns, &LockOptions::new(timeout), on_wait).await
}

/// Takes the cluster lock, waiting up to `opts.timeout`; `on_wait` is called once,
/// with who holds it since when from which pipeline run, when we have to wait.
pub async fn acquire_with(
    client: &kube::Client,
    state_ns: &str,
    opts: &LockOptions,
    on_wait: &(dyn Fn(&str) + Sync),
) -> Result<ClusterLock> {
    ensure_namespace(client, state_ns).await?;
    let api: Api<Lease> = Api::namespaced(client.clone(), state_ns);
    let me = Me::new(opts.pipeline.as_deref());
    let start = Instant::now();
    let mut told = false;
    loop {
        let current = api
            .get_opt(LEASE_NAME)
            .await
            .map_err(|e| Error::api("reading the lock lease", e))?;
        let now = server_now(client).await?;
        match current {
            None => match api.create(&PostParams::default(), &me.lease(now)).await {
                Ok(_) => break,
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(Error::api("creating the lock lease", e)),
            },
            Some(current) if expired(&current, now) => {
                let mut l = me.lease(now);
                l.metadata.resource_version = current.metadata.resource_version.clone();
                match api.replace(LEASE_NAME, &PostParams::default(), &l).await {
                    Ok(_) => break,
                    // Someone else took it over first.
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(Error::api("taking over the expired lock lease", e)),
                }
            }
            Some(current) => {
                let who = holder_info(&current);
                if start.elapsed() >= opts.timeout {
                    return Err(Error::Locked {
                        namespace: state_ns.into(),
                        name: LEASE_NAME.into(),
                        holder: who.to_string(),
                        waited_secs: start.elapsed().as_secs(),
                    });
                }
                if !told {
                    on_wait(&format!("{who} (lease {state_ns}/{LEASE_NAME})"));
                    told = true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let guard = LockGuard {
        api: api.clone(),
        namespace: state_ns.into(),
        holder: me.identity.clone(),
        lost: Arc::new(Mutex::new(None)),
    };
    let renew = tokio::spawn(renew_loop(client.clone(), guard.clone(), opts.renew_every));
    Ok(ClusterLock { api, guard, renew })
}

/// Renews until the lock is lost (then records why and stops).
async fn renew_loop(client: kube::Client, guard: LockGuard, every: Duration) {
    let mut last_ok = Instant::now();
    // Past this without a renewal, the server may have let the lease expire.
    let give_up = Duration::from_secs(LEASE_SECONDS as u64).saturating_sub(every);
    loop {
        tokio::time::sleep(every).await;
        match renew_once(&client, &guard).await {
            Ok(()) => last_ok = Instant::now(),
            Err(Renewal::Lost(cause)) => return guard.lose(cause),
            Err(Renewal::Failed(cause)) if last_ok.elapsed() >= give_up => {
                return guard.lose(format!(
                    "renewals failed for {}s (last: {cause}); the lease may have expired",
                    last_ok.elapsed().as_secs()
                ))
            }
            // Retried at the next tick: the lease outlives a couple of misses.
            Err(Renewal::Failed(_)) => {}
        }
    }
}

enum Renewal {
    /// The lock is no longer ours.
    Lost(String),
    /// This attempt failed; the lock may still be ours.
    Failed(String),
}

async fn renew_once(client: &kube::Client, guard: &LockGuard) -> std::result::Result<(), Renewal> {
    for _ in 0..3 {
        let mut l = match guard.api.get_opt(LEASE_NAME).await {
            Ok(Some(l)) => l,
            Ok(None) => return Err(Renewal::Lost("the lease was deleted".into())),
            Err(e) => return Err(Renewal::Failed(e.to_string())),
        };
        if holder_of(&l) != guard.holder {
            return Err(Renewal::Lost(format!(
                "it was taken over by {}",
                holder_info(&l)
            )));
        }
        let now = server_now(client)
            .await
            .map_err(|e| Renewal::Failed(e.to_string()))?;
        if let Some(spec) = l.spec.as_mut() {
            spec.renew_time = Some(MicroTime(now));
        }
        match guard
            .api
            .replace(LEASE_NAME, &PostParams::default(), &l)
            .await
        {
            Ok(_) => return Ok(()),
            // Changed between our read and write: read again.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Renewal::Lost("the lease was deleted".into()))
            }
            Err(e) => return Err(Renewal::Failed(e.to_string())),
        }
    }
    Err(Renewal::Failed(
        "the lease kept changing under the renewal".into(),
    ))
}

impl ClusterLock {
    /// A handle that tells whether the lock is still held.
    pub fn guard(&self) -> LockGuard {
        self.guard.clone()
    }

    /// The holder identity written into the Lease.
    pub fn holder(&self) -> &str {
        &self.guard.holder
    }

    /// Gives the lock back (deletes the Lease if it is still ours).
    pub async fn release(self) -> Result<()> {
        self.renew.abort();
        if let Ok(Some(l)) = self.api.get_opt(LEASE_NAME).await {
            if holder_of(&l) == self.guard.holder {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        resource_version: l.metadata.resource_version.clone(),
                        uid: None,
                    }),
                    ..Default::default()
                };
                let _ = self.api.delete(LEASE_NAME, &dp).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;

#[cfg(test)]
mod holder_tests {
    use super::*;

    #[test]
    fn pipeline_urls() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            pipeline_url(env(&[
                ("GITHUB_RUN_ID", "42"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("CI_JOB_URL", "https://gitlab.example/j/1"),
            ]))
            .as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
        assert_eq!(
            pipeline_url(env(&[
                ("GITHUB_RUN_ID", "42"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_SERVER_URL", "https://ghe.example/"),
            ]))
            .as_deref(),
            Some("https://ghe.example/o/r/actions/runs/42")
        );
        assert_eq!(
            pipeline_url(env(&[("CI_JOB_URL", "https://gitlab.example/j/1")])).as_deref(),
            Some("https://gitlab.example/j/1")
        );
        assert_eq!(pipeline_url(env(&[("GITHUB_RUN_ID", " ")])), None);
    }

    #[test]
    fn holders_are_unique_and_this_process_is_alive() {
        let (a, b) = (Me::new(None), Me::new(None));
        assert_ne!(a.identity, b.identity);
        assert!(a
            .identity
            .contains(&format!("/pid-{}/", std::process::id())));
        let id = a.identity.rsplit('/').next().unwrap();
        assert_eq!(id.len(), 32, "{id}");
        let lease = a.lease(Timestamp::now());
        assert!(!holder_is_dead(&lease), "this process counted as dead");
        // A finished child of this process: same kernel and pid namespace, gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let key = process_key(pid).unwrap();
        child.wait().unwrap();
        let mut dead = lease.clone();
        dead.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(PROCESS_ANNOTATION.into(), key.clone());
        assert!(holder_is_dead(&dead));
        // The same pid in another pid namespace: not presumed dead.
        let other = key.replacen("pid:[", "pid:[9", 1);
        dead.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(PROCESS_ANNOTATION.into(), other);
        assert!(!holder_is_dead(&dead));
    }

    /// A waiting apply is told who holds the lock, since when, from which pipeline.
    #[test]
    fn waiting_apply_is_told_holder_since_and_pipeline() {
        let cp = hfkit_testcluster::ControlPlane::shared();
        let ns = cp.new_namespace("hfa-lock-wait");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let c = hfkit_kube::connect(&hfkit_kube::KubeOptions {
                kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
                ..Default::default()
            })
            .await
            .unwrap()
            .client;
            let mut first = LockOptions::new(Duration::from_secs(5));
            first.pipeline = Some("https://github.com/o/r/actions/runs/42".into());
            let held = acquire_with(&c, &ns, &first, &|_| {}).await.unwrap();
            let told = Mutex::new(Vec::<String>::new());
            let mut second = LockOptions::new(Duration::from_secs(1));
            second.pipeline = None;
            let err = acquire_with(&c, &ns, &second, &|m| {
                told.lock().unwrap().push(m.to_string())
            })
            .await
            .err()
            .expect("took a held lock");
            let told = told.lock().unwrap().join("\n");
            for msg in [told, err.to_string()] {
                assert!(msg.contains(held.holder()), "{msg}");
                assert!(msg.contains(" since 20"), "{msg}");
                assert!(
                    msg.contains("pipeline https://github.com/o/r/actions/runs/42"),
                    "{msg}"
                );
            }
            held.release().await.unwrap();
        });
    }
}
