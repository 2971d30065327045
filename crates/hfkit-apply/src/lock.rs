//! One apply at a time per cluster: a `coordination.k8s.io/v1` Lease [`LEASE_NAME`] in
//! the state namespace.
//!
//! Taking it: create the Lease (holder = `host/pid/start time`); when it exists and
//! its `renewTime + leaseDurationSeconds` has passed (the holder died), take it over
//! with an update conditioned on its `resourceVersion`, so that of two waiting applies
//! only one wins. Otherwise poll every second until `--lock-timeout`, then fail naming
//! the holder. A holder on this host whose process is gone counts as expired at once.
//! While held, a background task renews it every [`RENEW_EVERY`]; a
//! killed apply's lock expires after [`LEASE_SECONDS`]. Releasing deletes it (only if
//! still ours).

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

/// A held lock; [`ClusterLock::release`] gives it back (dropping it stops renewing,
/// and the Lease expires).
pub struct ClusterLock {
    api: Api<Lease>,
    holder: String,
    renew: tokio::task::JoinHandle<()>,
}

fn lease(holder: &str, acquired: Timestamp) -> Lease {
    Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(LEASE_NAME.into()),
            labels: Some([(MANAGED_BY_LABEL.to_string(), "hfapply".to_string())].into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(local_now())),
            ..Default::default()
        }),
    }
}

fn expired(l: &Lease) -> bool {
    let Some(spec) = &l.spec else { return true };
    if spec.holder_identity.as_deref().is_some_and(holder_is_dead) {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
    renewed.0 + SignedDuration::from_secs(secs) < local_now()
}

fn holder_of(l: &Lease) -> String {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether `holder` is a process of this host that no longer exists (a killed apply
/// on the same machine need not wait for its lease to expire).
fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.split('/');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Some(pid) = pid.strip_prefix("pid-") else {
        return false;
    };
    host == hostname() && !std::path::Path::new("/proc").join(pid).exists()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Who we are, for the Lease's holder.
pub fn identity() -> String {
    let host = hostname();
    format!(
        "{host}/pid-{}/{}",
        std::process::id(),
        Timestamp::now().as_millisecond()
    )
}

/// Takes the cluster lock, waiting up to `timeout`; `on_wait` is called once with the
/// holder when we have to wait.
pub async fn acquire(
    client: &kube::Client,
    state_ns: &str,
    timeout: Duration,
    on_wait: &(dyn Fn(&str) + Sync),
) -> Result<ClusterLock> {
    ensure_namespace(client, state_ns).await?;
    let api: Api<Lease> = Api::namespaced(client.clone(), state_ns);
    let holder = identity();
    let start = Instant::now();
    let mut told = false;
    loop {
        let now = local_now();
        match api.get_opt(LEASE_NAME).await {
            Ok(None) => match api
                .create(&PostParams::default(), &lease(&holder, now))
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(Error::api("creating the lock lease", e)),
            },
            Ok(Some(current)) if expired(&current) => {
                let mut l = lease(&holder, now);
                l.metadata.resource_version = current.metadata.resource_version.clone();
                match api.replace(LEASE_NAME, &PostParams::default(), &l).await {
                    Ok(_) => break,
                    // Someone else took it over first.
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(Error::api("taking over the expired lock lease", e)),
                }
            }
            Ok(Some(current)) => {
                let who = holder_of(&current);
                if start.elapsed() >= timeout {
                    return Err(Error::Locked {
                        namespace: state_ns.into(),
                        name: LEASE_NAME.into(),
                        holder: who,
                        waited_secs: start.elapsed().as_secs(),
                    });
                }
                if !told {
                    on_wait(&who);
                    told = true;
                }
            }
            Err(e) => return Err(Error::api("reading the lock lease", e)),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let renew = {
        let api = api.clone();
        let holder = holder.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                // A failed renewal is retried at the next tick; the lease outlives a
                // couple of misses.
                if let Ok(mut l) = api.get(LEASE_NAME).await {
                    if holder_of(&l) != holder {
                        return;
                    }
                    if let Some(spec) = l.spec.as_mut() {
                        spec.renew_time = Some(MicroTime(local_now()));
                    }
                    let _ = api.replace(LEASE_NAME, &PostParams::default(), &l).await;
                }
            }
        })
    };
    Ok(ClusterLock { api, holder, renew })
}

impl ClusterLock {
    /// Gives the lock back (deletes the Lease if it is still ours).
    pub async fn release(self) -> Result<()> {
        self.renew.abort();
        if let Ok(Some(l)) = self.api.get_opt(LEASE_NAME).await {
            if holder_of(&l) == self.holder {
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

/// The local clock (shifted by the tests' FAKE skew in test builds).
fn local_now() -> Timestamp {
    #[cfg(test)]
    let skew = tests::SKEW_SECS.with(|s| s.get());
    #[cfg(not(test))]
    let skew = 0;
    Timestamp::now() + SignedDuration::from_secs(skew)
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
