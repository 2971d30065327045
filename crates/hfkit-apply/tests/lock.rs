//! The cluster lock as the orchestrator uses it, against the real control plane and
//! real helm 3: a lock lost while applying (the Lease taken over by another holder)
//! stops the run before the next release, with an error naming the lease and the cause.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::coordination::v1::Lease;

#[test]
fn lease_taken_over_while_applying_stops_the_run_before_the_next_release() {
    let cp = cluster();
    let ns = cp.new_namespace("hfa-lost");
    let state = format!("{ns}-state");
    let repo = TestRepo::new("basic", &ns);
    // `base` (which `web` needs) takes 4 s in helm: the window in which the lease is
    // stolen.
    let helm = CountingHelm::with_script("case \"$*\" in upgrade*) sleep 4;; esac");
    let opts = options(cp, helm.helm(), &state);
    let target = repo.target(&["apps"]);
    let planned = hfkit_apply::plan::load(&target).unwrap();
    let prepared = hfkit_apply::plan::prepare(&planned).unwrap();
    let run = std::thread::spawn(move || {
        runtime().block_on(hfkit_apply::run::apply_all(&planned, prepared, &opts))
    });
    runtime().block_on(async {
        let api: kube::Api<Lease> = kube::Api::namespaced(client(cp).await, &state);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Until base's helm runs (the lease exists and helm was called).
        loop {
            let held = api.get_opt("hfapply-lock").await.unwrap().is_some();
            if held && helm.calls().iter().any(|c| c.starts_with("upgrade")) {
                break;
            }
            assert!(Instant::now() < deadline, "the apply never started base");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Another holder overwrites the Lease, as a second apply that judged it
        // expired would.
        let mut l = api.get("hfapply-lock").await.unwrap();
        l.spec.as_mut().unwrap().holder_identity = Some("thief/pid-7/0123abcd".into());
        api.replace("hfapply-lock", &Default::default(), &l)
            .await
            .unwrap();
    });
    let result = run.join().unwrap();
    let err = match result {
        Ok(r) => panic!("the run went on without the lock: {:?}", outcomes(&r)),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("lease {state}/hfapply-lock"))
            && err.contains("taken over by thief/pid-7/0123abcd"),
        "{err}"
    );
    let upgrades = helm
        .calls()
        .iter()
        .filter(|c| c.starts_with("upgrade"))
        .count();
    assert_eq!(upgrades, 1, "{:?}", helm.calls());
    assert!(configmap(cp, &ns, "web-settings", "greeting").is_none());
    // The thief's lease is left alone.
    let holder = runtime().block_on(async {
        let api: kube::Api<Lease> = kube::Api::namespaced(client(cp).await, &state);
        api.get("hfapply-lock")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
    });
    assert_eq!(holder.as_deref(), Some("thief/pid-7/0123abcd"));
}
