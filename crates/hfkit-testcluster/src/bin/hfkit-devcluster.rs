//! `hfkit-devcluster --state-dir DIR`: runs the test control plane (etcd +
//! kube-apiserver) in the foreground for people, until SIGTERM/SIGINT/SIGHUP.
//! `scripts/dev-cluster.sh` runs it in the background.
//!
//! Writes `DIR/run/kubeconfig` once the apiserver is ready, then `DIR/ready` (holding the
//! kubeconfig path); on a signal stops the peers and removes `DIR/run`.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut state: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state-dir" => state = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: hfkit-devcluster --state-dir DIR");
                return;
            }
            other => {
                eprintln!("hfkit-devcluster: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(state) = state else {
        eprintln!("usage: hfkit-devcluster --state-dir DIR");
        std::process::exit(2);
    };

    // Block the stop signals before any thread exists (threads inherit the mask), then
    // wait for one with sigwait. The peers unblock them in their pre_exec.
    // SAFETY: sigset_t is a plain C bitmask for which all-zero is a valid value, and
    // sigemptyset initialises it properly before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is a live local; pthread_sigmask with a null old-set pointer
    // writes nothing else. Tested by tests/devcluster.rs (SIGTERM stops it cleanly).
    unsafe {
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }

    let ready = state.join("ready");
    let _ = std::fs::remove_file(&ready);
    let cp = match hfkit_testcluster::ControlPlane::start_in(&state.join("run")) {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("hfkit-devcluster: {e}");
            std::process::exit(1);
        }
    };
    let kubeconfig = cp.kubeconfig_path().display().to_string();
    std::fs::write(&ready, format!("{kubeconfig}\n")).expect("writing the ready file");
    eprintln!(
        "hfkit-devcluster: ready at {} (etcd {}); export KUBECONFIG={kubeconfig}",
        cp.server_url(),
        cp.etcd_url()
    );

    let mut sig = 0;
    // SAFETY: `set` and `sig` are live locals for the duration of the call.
    unsafe { libc::sigwait(&set, &mut sig) };
    eprintln!("hfkit-devcluster: signal {sig}, stopping");
    let _ = std::fs::remove_file(&ready);
    cp.stop();
}
