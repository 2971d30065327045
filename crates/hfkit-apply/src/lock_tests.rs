//! The lock against the real kube-apiserver (hfkit-testcluster), and the expiry rule on
//! its own: it decides by the time it is given (the server's), never the local clock.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::Api;

use super::*;

/// A lease renewed at `renewed` for 30 s, by a holder with no process record.
fn lease_renewed_at(renewed: Timestamp) -> Lease {
    Lease {
        spec: Some(LeaseSpec {
            holder_identity: Some("elsewhere/pid-1/x".into()),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Expiry is judged by the `now` passed in (the API server's Date), whatever the local
/// clock says: a lease renewed in 2001 is fresh 5 s later and expired an hour later.
#[test]
fn expiry_is_judged_by_the_time_given_not_the_local_clock() {
    let t: Timestamp = "2001-02-03T04:05:06Z".parse().unwrap();
    let l = lease_renewed_at(t);
    assert!(!expired(&l, t + SignedDuration::from_secs(5)));
    assert!(!expired(&l, t + SignedDuration::from_secs(30)));
    assert!(expired(&l, t + SignedDuration::from_secs(3600)));
    // Local time is 25 years past the renewal; given the renewal's own time, still held.
    assert!(!expired(&l, t));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client(cp: &hfkit_testcluster::ControlPlane) -> kube::Client {
    hfkit_kube::connect(&hfkit_kube::KubeOptions {
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap()
    .client
}

/// Another holder's Lease, renewed `age` ago by the real (server) clock.
async fn foreign_lease(client: &kube::Client, ns: &str, holder: &str, age: SignedDuration) {
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    let renewed = Timestamp::now() - age;
    let l = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(LEASE_NAME.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }),
    };
    api.create(&PostParams::default(), &l).await.unwrap();
}

/// A lease renewed 2 s ago (server time) is held.
#[test]
fn fresh_lease_is_not_taken_over() {
    let cp = hfkit_testcluster::ControlPlane::shared();
    let ns = cp.new_namespace("hfa-lock-fast");
    rt().block_on(async {
        let c = client(cp).await;
        foreign_lease(&c, &ns, "elsewhere/pid-1/x", SignedDuration::from_secs(2)).await;
        let r = acquire(&c, &ns, Duration::from_secs(2), &|_| {}).await;
        match r {
            Err(crate::Error::Locked { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("took over a lease renewed 2 s ago"),
        }
    });
}

/// A lease whose holder stopped renewing 90 s ago (server time) is taken over; the
/// renewTime we write is the server's time.
#[test]
fn expired_lease_is_taken_over_and_renew_time_is_servers() {
    let cp = hfkit_testcluster::ControlPlane::shared();
    let ns = cp.new_namespace("hfa-lock-slow");
    rt().block_on(async {
        let c = client(cp).await;
        foreign_lease(&c, &ns, "elsewhere/pid-1/x", SignedDuration::from_secs(90)).await;
        let r = acquire(&c, &ns, Duration::from_secs(3), &|_| {}).await;
        let lock = r.expect("an expired lease (by server time) was not taken over");
        let api: Api<Lease> = Api::namespaced(c.clone(), &ns);
        let l = api.get(LEASE_NAME).await.unwrap();
        let renewed = l.spec.unwrap().renew_time.unwrap().0;
        let off = renewed.duration_since(Timestamp::now()).as_secs().abs();
        assert!(
            off < 10,
            "renewTime {renewed} is {off} s off the server's clock"
        );
        lock.release().await.unwrap();
    });
}
