//! The dev-cluster binary (what `scripts/dev-cluster.sh` runs): it starts a control plane,
//! writes its ready file, and on SIGTERM (blocked, then taken by `sigwait`) stops its peers
//! and removes the ready file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pids of processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn dev_cluster_stops_its_peers_on_sigterm() {
    let state = std::env::temp_dir().join(format!("hfkit-devcluster-test-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();
    let ready = state.join("ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hfkit-devcluster"))
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = state.join("run");
    wait_for("the ready file", Duration::from_secs(120), || {
        ready.exists() || child.try_wait().unwrap().is_some()
    });
    assert!(
        ready.exists(),
        "hfkit-devcluster exited before it was ready"
    );
    let kubeconfig = std::fs::read_to_string(&ready).unwrap();
    assert!(Path::new(kubeconfig.trim()).is_file(), "{kubeconfig}");
    let needle = run_dir.to_str().unwrap().to_string();
    assert!(
        !processes_mentioning(&needle).is_empty(),
        "no peer runs from {needle}"
    );

    // SAFETY: kill(2) on our own child's pid; no memory involved.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("signal 15, stopping"), "{err}");
    assert!(!ready.exists(), "ready file left behind");
    wait_for("the peers to stop", Duration::from_secs(10), || {
        processes_mentioning(&needle).is_empty()
    });
    let _ = std::fs::remove_dir_all(&state);
}
