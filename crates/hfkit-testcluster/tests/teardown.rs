//! Teardown robustness: the peers of a test binary must not outlive it, whether its
//! tests fail (panic) or it is killed outright, and its temp dir must go away.
//!
//! Each case re-runs this test binary as a child (`HFKIT_TESTCLUSTER_CHILD=...`) that
//! starts the shared control plane, prints its peers' pids and dir, then misbehaves.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "HFKIT_TESTCLUSTER_CHILD";

/// Not a real test: the child's body, a no-op unless run by the cases below.
#[test]
fn child_body() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cp = hfkit_testcluster::ControlPlane::shared();
    let pids: Vec<String> = cp.pids().iter().map(|(_, p)| p.to_string()).collect();
    println!("CHILD pids={} dir={}", pids.join(","), cp.dir().display());
    match mode.as_str() {
        "panic" => panic!("child test fails on purpose"),
        _ => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    }
}

struct Child {
    proc: std::process::Child,
    pids: Vec<i32>,
    dir: PathBuf,
}

fn start_child(mode: &str) -> Child {
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .env_remove("RUST_BACKTRACE")
        .args(["--exact", "child_body", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()) // its deliberate panic would read like ours
        .spawn()
        .unwrap();
    let mut err = proc.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let line = loop {
        match lines.next() {
            // libtest prints "test child_body ... " before it, on the same line
            Some(Ok(l)) if l.contains("CHILD ") => {
                break l[l.find("CHILD ").unwrap()..].to_string()
            }
            Some(Ok(_)) => continue,
            other => panic!(
                "child ended before starting its control plane ({other:?}); its stderr:\n{}",
                stderr.join().unwrap()
            ),
        }
    };
    // keep draining the child's stdout so it never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    let mut pids = Vec::new();
    let mut dir = PathBuf::new();
    for part in line.trim_start_matches("CHILD ").split(' ') {
        if let Some(p) = part.strip_prefix("pids=") {
            pids = p.split(',').map(|p| p.parse().unwrap()).collect();
        } else if let Some(d) = part.strip_prefix("dir=") {
            dir = PathBuf::from(d);
        }
    }
    assert_eq!(pids.len(), 2, "{line}");
    assert!(dir.is_dir(), "{line}");
    for &p in &pids {
        assert!(alive(p), "peer {p} not running in the child");
    }
    Child { proc, pids, dir }
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

fn wait_gone(pids: &[i32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "peers {pids:?} outlived their test binary"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn peers_stop_and_dir_is_removed_when_tests_panic() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let mut child = start_child("panic");
    let status = child.proc.wait().unwrap();
    assert!(!status.success(), "the child's test was meant to fail");
    // the atexit hook stopped them (SIGTERM, SIGKILL) before the child exited
    wait_gone(&child.pids, Duration::from_secs(1));
    assert!(!child.dir.exists(), "{} left behind", child.dir.display());
}

#[test]
fn peers_die_when_the_test_binary_is_killed() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let mut child = start_child("hang");
    child.proc.kill().unwrap(); // SIGKILL: no atexit hook runs
    child.proc.wait().unwrap();
    // PR_SET_PDEATHSIG: the kernel kills the peers
    wait_gone(&child.pids, Duration::from_secs(10));
    // the orphaned dir is swept by the next start (here: explicitly)
    assert!(child.dir.exists());
    hfkit_testcluster::remove_orphaned_dirs();
    assert!(!child.dir.exists(), "{} not swept", child.dir.display());
}
