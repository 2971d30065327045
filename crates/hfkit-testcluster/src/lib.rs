//! Test support shared by the workspace's integration tests: where the real peers
//! (helm 3, helm 4, sops, age, etcd, kube-apiserver) built by `scripts/peers.sh` live,
//! and a real control plane (etcd + kube-apiserver, no nodes, no controller-manager)
//! started from them.
//!
//! ```no_run
//! use hfkit_testcluster::ControlPlane;
//! let cp = ControlPlane::shared(); // started once per test binary, on first use
//! let ns = cp.new_namespace("my-test"); // a fresh namespace for this test
//! std::process::Command::new(hfkit_testcluster::peer("helm3"))
//!     .env("KUBECONFIG", cp.kubeconfig_path())
//!     .args(["list", "-n", &ns]);
//! ```
//!
//! Teardown: every peer runs in its own session/process group and is killed with SIGTERM,
//! then SIGKILL, by an `atexit` hook when the test binary exits (also after failed
//! tests); if the test binary is killed outright, the kernel kills the peers
//! (`PR_SET_PDEATHSIG`) and the next start removes the orphaned temp dirs.
//!
//! Environment: `HFKIT_PEERS_BIN` / `HFKIT_CACHE` (where the peers are, see
//! [`peers_bin_dir`]), `HFKIT_TESTCLUSTER_TIMEOUT_SECS` (startup timeout, default 180),
//! `HFKIT_TESTCLUSTER_TMP` (parent of the temp dirs, default `$TMPDIR/hfkit-testcluster`),
//! `HFKIT_TESTCLUSTER_KEEP=1` (keep each temp dir, with the peers' logs, after stopping,
//! and do not sweep orphaned ones).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The command that builds every peer; named in every "peer missing" message.
pub const SETUP_COMMAND: &str = "scripts/peers.sh";

/// Folder holding one executable (or symlink) per peer: `$HFKIT_PEERS_BIN`, else
/// `$HFKIT_CACHE/peers/bin`, else `~/.cache/hfkit/peers/bin`.
pub fn peers_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HFKIT_PEERS_BIN") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("HFKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/hfkit")
        });
    cache.join("peers/bin")
}

/// The environment variables that carry sops key material (or a path or command that
/// yields it), as sops 3.13 (`age/keysource.go`) and hfkit read them: what no child of
/// ours may inherit. Kept apart from `hfkit_sops::process::KEY_VARIABLES` on purpose, so
/// that a name dropped from that list fails the tests.
pub const SOPS_KEY_VARIABLES: &[&str] = &[
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
    "SOPS_PGP_KEY",
    "SOPS_PGP_KEY_FILE",
    "SOPS_PGP_PASSPHRASE",
];

/// Whether an `env`-style dump (`NAME=value` lines) sets `name`.
pub fn env_dump_sets(dump: &str, name: &str) -> bool {
    dump.lines()
        .any(|l| l.split_once('=').is_some_and(|(n, _)| n == name))
}

/// Nine levels of nine aliases, the classic "billion laughs" (9^9 strings if expanded):
/// hostile input every YAML reader of ours must refuse without growing.
pub fn billion_laughs() -> String {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, cur) in ('a'..='h').zip('b'..='i') {
        let items = vec![format!("*{prev}"); 9].join(", ");
        s.push_str(&format!("{cur}: &{cur} [{items}]\n"));
    }
    s
}

/// A fresh age key made by the real `age-keygen`: a test key that protects nothing.
#[derive(Debug, Clone)]
pub struct AgeKey {
    /// The identity file `age-keygen -o` wrote (what `SOPS_AGE_KEY_FILE` names).
    pub file: PathBuf,
    /// Its public key, `age1...`.
    pub recipient: String,
    /// Its `AGE-SECRET-KEY-1...` line (what `SOPS_AGE_KEY` holds).
    pub identity: String,
}

/// Runs the real `age-keygen -o DIR/NAME` and reads the key back.
pub fn age_keygen(dir: &Path, name: &str) -> AgeKey {
    let file = dir.join(name);
    let out = Command::new(peer("age-keygen"))
        .arg("-o")
        .arg(&file)
        .output()
        .expect("running age-keygen");
    assert!(out.status.success(), "age-keygen: {out:?}");
    let text = std::fs::read_to_string(&file).expect("reading the age-keygen output");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen wrote a public key comment")
        .trim()
        .to_string();
    let identity = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("age-keygen wrote an identity")
        .to_string();
    AgeKey {
        file,
        recipient,
        identity,
    }
}

/// Path of a peer binary such as `"helm3"`, `"helm4"` or `"sops"`.
///
/// Panics with the setup command when the peer has not been built: a test that needs a
/// real peer must fail loudly rather than pass without it.
pub fn peer(name: &str) -> PathBuf {
    let path = peers_bin_dir().join(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => path,
        _ => panic!(
            "peer `{name}` not found at {}: run `{SETUP_COMMAND}` first (it builds the real \
             helm, sops, etcd and kube-apiserver binaries the tests run against)",
            path.display()
        ),
    }
}

/// How long to wait for etcd and kube-apiserver to become ready:
/// `$HFKIT_TESTCLUSTER_TIMEOUT_SECS`, default 180 s.
fn start_timeout() -> Duration {
    let secs = std::env::var("HFKIT_TESTCLUSTER_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(secs)
}

/// Folder under which each control plane gets its own temp dir:
/// `$HFKIT_TESTCLUSTER_TMP`, else `$TMPDIR/hfkit-testcluster`.
pub fn temp_root() -> PathBuf {
    std::env::var_os("HFKIT_TESTCLUSTER_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("hfkit-testcluster"))
}

/// A running etcd + kube-apiserver pair.
///
/// Get the shared one of a test binary with [`ControlPlane::shared`]; [`ControlPlane::start`]
/// starts a private one (stopped when dropped, or at exit).
pub struct ControlPlane {
    id: u64,
    dir: PathBuf,
    kubeconfig: PathBuf,
    ca_path: PathBuf,
    server_url: String,
    api_addr: SocketAddr,
    etcd_url: String,
    token: String,
    tls: Arc<rustls::ClientConfig>,
    pids: Vec<(&'static str, i32)>,
    ns_counter: AtomicU64,
}

impl ControlPlane {
    /// The control plane shared by every test of this test binary, started on first use
    /// and stopped when the binary exits. Panics (in every test that asks) when it cannot
    /// start, e.g. when the peers are missing (run `scripts/peers.sh`).
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        match SHARED.get_or_init(ControlPlane::start) {
            Ok(cp) => cp,
            Err(e) => panic!("hfkit-testcluster: control plane did not start: {e}"),
        }
    }

    /// Starts a private control plane in a fresh temp dir under [`temp_root`].
    pub fn start() -> Result<ControlPlane, String> {
        let root = temp_root();
        sweep_orphans(&root);
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let dir = root.join(format!(
                "cp-{}-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed),
                nanos() % 1_000_000
            ));
            match Self::start_in(&dir) {
                // the free ports we picked were taken before the peers bound them
                Err(e) if attempt < 2 && e.contains("address already in use") => attempt += 1,
                other => return other,
            }
        }
    }

    /// Starts a control plane whose state (certs, etcd data, logs, kubeconfig) lives in
    /// `dir`, which is created and, on [`stop`](Self::stop), removed.
    pub fn start_in(dir: &Path) -> Result<ControlPlane, String> {
        // Resolve the peers first: a missing peer panics naming scripts/peers.sh.
        let etcd_bin = peer("etcd");
        let apiserver_bin = peer("kube-apiserver");
        install_exit_hook();
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let id = register(dir.clone());
        match Self::boot(id, &dir, &etcd_bin, &apiserver_bin) {
            Ok(cp) => Ok(cp),
            Err(e) => {
                stop_instance(id);
                Err(e)
            }
        }
    }

    fn boot(id: u64, dir: &Path, etcd_bin: &Path, apiserver_bin: &Path) -> Result<Self, String> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e: io::Error| format!("{what}: {e}")
        };
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).map_err(io("creating pki dir"))?;
        let (ports, listeners): (Vec<u16>, Vec<TcpListener>) = (0..3)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").map_err(io("choosing a free port"))?;
                Ok((l.local_addr().map_err(io("local_addr"))?.port(), l))
            })
            .collect::<Result<Vec<_>, String>>()?
            .into_iter()
            .unzip();
        drop(listeners);
        let (etcd_client, etcd_peer, api_port) = (ports[0], ports[1], ports[2]);

        // --- certificates and keys
        let certs = make_certs().map_err(|e| format!("generating certificates: {e}"))?;
        let ca_path = pki.join("ca.crt");
        let write = |p: &Path, s: &str| std::fs::write(p, s).map_err(io(&p.display().to_string()));
        write(&ca_path, &certs.ca_pem)?;
        write(&pki.join("apiserver.crt"), &certs.serving_pem)?;
        write(&pki.join("apiserver.key"), &certs.serving_key_pem)?;
        write(&pki.join("sa.key"), &certs.sa_key_pem)?;
        let token = format!("hfkit-admin-{:016x}{:016x}", nanos() as u64, rand64());
        write(
            &pki.join("tokens.csv"),
            &format!("{token},hfkit-admin,hfkit-admin,system:masters\n"),
        )?;

        // --- etcd
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        let mut etcd = Command::new(etcd_bin);
        etcd.args(["--name", "hfkit"])
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=hfkit={peer_url}"))
            .args(["--unsafe-no-fsync", "--log-level=warn"]);
        let etcd_log = dir.join("etcd.log");
        let etcd_pid = spawn_peer(etcd, &etcd_log).map_err(io("starting etcd"))?;
        add_pid(id, "etcd", etcd_pid);
        let deadline = Instant::now() + start_timeout();
        wait_until(deadline, etcd_pid, "etcd", &etcd_log, || {
            let (code, body) = http_get_plain(etcd_client, "/health")?;
            Ok(code == 200 && body.contains("\"health\":\"true\""))
        })?;

        // --- kube-apiserver
        let mut api = Command::new(apiserver_bin);
        let p = |f: &str| pki.join(f).display().to_string();
        api.arg(format!("--etcd-servers={etcd_url}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--cert-dir={}", pki.display()))
            .arg(format!("--tls-cert-file={}", p("apiserver.crt")))
            .arg(format!("--tls-private-key-file={}", p("apiserver.key")))
            .arg(format!("--service-account-key-file={}", p("sa.key")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                p("sa.key")
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!("--token-auth-file={}", p("tokens.csv")))
            .args([
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                // no nodes: the `kubernetes` service gets no endpoints
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ]);
        let api_log = dir.join("kube-apiserver.log");
        let api_pid = spawn_peer(api, &api_log).map_err(io("starting kube-apiserver"))?;
        add_pid(id, "kube-apiserver", api_pid);

        let api_addr = SocketAddr::from(([127, 0, 0, 1], api_port));
        let tls = tls_config(&certs.ca_der).map_err(|e| format!("TLS config: {e}"))?;
        let server_url = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = dir.join("kubeconfig");
        write(
            &kubeconfig,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: hfkit-test\n  cluster:\n    \
                 server: {server_url}\n    certificate-authority: {ca}\nusers:\n- name: \
                 hfkit-admin\n  user:\n    token: {token}\ncontexts:\n- name: hfkit-test\n  \
                 context:\n    cluster: hfkit-test\n    user: hfkit-admin\n    namespace: \
                 default\ncurrent-context: hfkit-test\n",
                ca = ca_path.display()
            ),
        )?;
        let cp = ControlPlane {
            id,
            dir: dir.to_path_buf(),
            kubeconfig,
            ca_path,
            server_url,
            api_addr,
            etcd_url,
            token,
            tls,
            pids: vec![("etcd", etcd_pid), ("kube-apiserver", api_pid)],
            ns_counter: AtomicU64::new(0),
        };
        wait_until(deadline, api_pid, "kube-apiserver", &api_log, || {
            let (code, _) = cp.request("GET", "/readyz", None)?;
            Ok(code == 200)
        })?;
        Ok(cp)
    }

    /// Path of a kubeconfig (token auth, CA = the cluster's CA) for this control plane.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Bearer token of an admin user (group `system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// PEM file of the CA that signed the apiserver's serving certificate.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_path
    }

    /// etcd's client URL (`http://127.0.0.1:<port>`).
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The folder holding this control plane's state and the peers' logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process ids of the peers (`("etcd", pid)`, `("kube-apiserver", pid)`).
    pub fn pids(&self) -> &[(&'static str, i32)] {
        &self.pids
    }

    /// Creates a fresh namespace named `<prefix>-<suffix>` through the API and returns its
    /// name. Namespaces are never deleted (there is no controller-manager to finish it).
    pub fn new_namespace(&self, prefix: &str) -> String {
        let mut base: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        base.truncate(40);
        let base = base.trim_matches('-');
        let base = if base.is_empty() { "test" } else { base };
        for _ in 0..5 {
            let n = self.ns_counter.fetch_add(1, Ordering::Relaxed);
            let name = format!("{base}-{n}-{:05x}", rand64() & 0xfffff);
            let body = format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{name}\"}}}}"
            );
            match self.request("POST", "/api/v1/namespaces", Some(&body)) {
                Ok((201, _)) => return name,
                Ok((409, _)) => continue,
                Ok((code, body)) => panic!("creating namespace {name}: HTTP {code}: {body}"),
                Err(e) => panic!("creating namespace {name}: {e}"),
            }
        }
        panic!("creating a namespace with prefix {prefix}: names kept colliding")
    }

    /// A raw API request as the admin user: returns the HTTP status and the body.
    /// `body`, when given, is sent as `application/json`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> io::Result<(u16, String)> {
        let server = rustls::pki_types::ServerName::IpAddress(self.api_addr.ip().into());
        let conn =
            rustls::ClientConnection::new(self.tls.clone(), server).map_err(io::Error::other)?;
        let sock = TcpStream::connect_timeout(&self.api_addr, Duration::from_secs(5))?;
        sock.set_read_timeout(Some(Duration::from_secs(30)))?;
        sock.set_write_timeout(Some(Duration::from_secs(30)))?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Accept: application/json\r\nUser-Agent: hfkit-testcluster\r\nConnection: close\r\n",
            self.api_addr, self.token
        );
        let body = body.unwrap_or("");
        if !body.is_empty() || method != "GET" {
            let _ = write!(
                req,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        req.push_str("\r\n");
        req.push_str(body);
        tls.write_all(req.as_bytes())?;
        tls.flush()?;
        parse_response(read_all(&mut tls)?)
    }

    /// Stops the peers (SIGTERM, then SIGKILL) and removes the state dir. Idempotent;
    /// also done at exit for every control plane still running.
    pub fn stop(&self) {
        stop_instance(self.id);
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------- processes & teardown

struct Instance {
    id: u64,
    dir: PathBuf,
    pids: Vec<(&'static str, i32)>,
}

fn registry() -> &'static Mutex<Vec<Instance>> {
    static R: OnceLock<Mutex<Vec<Instance>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

fn lock_registry() -> std::sync::MutexGuard<'static, Vec<Instance>> {
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

fn register(dir: PathBuf) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    lock_registry().push(Instance {
        id,
        dir,
        pids: Vec::new(),
    });
    id
}

fn add_pid(id: u64, name: &'static str, pid: i32) {
    if let Some(i) = lock_registry().iter_mut().find(|i| i.id == id) {
        i.pids.push((name, pid));
    }
}

fn stop_instance(id: u64) {
    let inst = {
        let mut r = lock_registry();
        match r.iter().position(|i| i.id == id) {
            Some(pos) => r.remove(pos),
            None => return,
        }
    };
    // kube-apiserver first (it was started last), then etcd.
    for &(_, pid) in inst.pids.iter().rev() {
        terminate(pid, Duration::from_secs(5));
    }
    if keep_dirs() {
        eprintln!(
            "hfkit-testcluster: kept {} (HFKIT_TESTCLUSTER_KEEP)",
            inst.dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&inst.dir);
    }
}

/// Stops every control plane this process started (the atexit hook).
pub fn stop_all() {
    let ids: Vec<u64> = lock_registry().iter().map(|i| i.id).collect();
    for id in ids {
        stop_instance(id);
    }
}

extern "C" fn at_exit() {
    stop_all();
}

fn install_exit_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: `at_exit` is an `extern "C" fn()` that lives for the whole program and
    // does not unwind (stop_all only kills and reaps our own children); registered once.
    ONCE.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
}

/// SIGTERM to the process group of `pid`, SIGKILL after `grace`, then reaps it.
fn terminate(pid: i32, grace: Duration) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid` is a
    // child we spawned in its own session, so `-pid` is its own process group.
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        if reaped(pid) {
            break;
        }
        if Instant::now() >= deadline {
            // SAFETY: as above; waitpid with a null status pointer writes nothing.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // anything left in its group (the peers do not fork, but be thorough)
    // SAFETY: kill(2) on our child's own process group; no memory involved.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Whether `pid` (our child) has exited; reaps it if so.
fn reaped(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: `status` is a live, writable c_int for the duration of the call.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    r == pid || (r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Spawns a peer in its own session (so its own process group), with stdout and stderr
/// appended to `log`, and asks the kernel to SIGKILL it when this process dies.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, so every peer
/// is forked from one dedicated thread that lives as long as the process.
fn spawn_peer(mut cmd: Command, log: &Path) -> io::Result<i32> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: getpid(2) cannot fail and touches no memory.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: setsid, sigemptyset/sigprocmask on a local
    // set, prctl, getppid and _exit are; it allocates nothing and takes no lock.
    // Tested by tests/teardown.rs (peers die with a killed parent: PDEATHSIG).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            // a signal mask blocked by the parent (e.g. the dev-cluster binary's sigwait)
            // would be inherited: start from an empty one
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1); // the parent died before prctl took effect
                }
            }
            let _ = parent;
            Ok(())
        });
    }
    type Req = (Command, mpsc::Sender<io::Result<i32>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Req>>> = OnceLock::new();
    let tx = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Req>();
            std::thread::Builder::new()
                .name("hfkit-testcluster-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn().map(|c| c.id() as i32));
                    }
                    // the senders live in a static: never reached, the thread lives on
                    loop {
                        std::thread::park();
                    }
                })
                .expect("spawning the hfkit-testcluster spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))?
}

/// `HFKIT_TESTCLUSTER_KEEP` set (not empty, not 0): keep temp dirs for debugging.
fn keep_dirs() -> bool {
    std::env::var_os("HFKIT_TESTCLUSTER_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Removes the temp dirs (under [`temp_root`]) of control planes whose process is gone,
/// killed before its exit hook could run. Every start does this.
pub fn remove_orphaned_dirs() {
    sweep_orphans(&temp_root());
}

/// Removes temp dirs of control planes whose process is gone (killed before its exit
/// hook could run). Dir names are `cp-<pid>-...`.
fn sweep_orphans(root: &Path) {
    if keep_dirs() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cp-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that `pid` exists; no memory involved.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Polls `ready` every 200 ms until it returns true; fails with the log tail when the
/// process exits or the deadline passes.
fn wait_until(
    deadline: Instant,
    pid: i32,
    name: &str,
    log: &Path,
    mut ready: impl FnMut() -> io::Result<bool>,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let last_err = match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => "not ready yet".to_string(),
            Err(e) => e.to_string(),
        };
        let mut status = 0;
        // SAFETY: `status` is a live, writable c_int for the duration of the call.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Err(format!(
                "{name} exited ({}) during startup; last lines of {}:\n{}",
                describe_status(status),
                log.display(),
                log_tail(log, 40)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{name} not ready after {:?} ({last_err}); raise HFKIT_TESTCLUSTER_TIMEOUT_SECS \
                 if the machine is slow; last lines of {}:\n{}",
                start.elapsed(),
                log.display(),
                log_tail(log, 40)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}

/// The last `n` lines of a log file.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned());
    match text {
        Ok(t) => {
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

// ---------------------------------------------------------------- HTTP

fn read_all(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match r.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        // peers may close without a TLS close_notify; we asked for Connection: close
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(e),
    }
}

fn parse_response(raw: Vec<u8>) -> io::Result<(u16, String)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("HTTP response without a header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| io::Error::other(format!("bad HTTP response: {head:.200}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let bad = || io::Error::other("malformed chunked HTTP body");
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_field = std::str::from_utf8(&data[..eol]).map_err(|_| bad())?;
        let size_hex = size_field.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad())?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err(bad());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}

fn http_get_plain(port: u16, path: &str) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    parse_response(read_all(&mut s)?)
}

fn tls_config(ca_der: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| e.to_string())?;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}

// ---------------------------------------------------------------- certificates

struct Certs {
    ca_pem: String,
    ca_der: Vec<u8>,
    serving_pem: String,
    serving_key_pem: String,
    sa_key_pem: String,
}

/// A CA, a serving certificate it signs (127.0.0.1, localhost, kubernetes.default.svc...)
/// and an ECDSA P-256 service-account signing key.
fn make_certs() -> Result<Certs, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "hfkit-testcluster-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "10.0.0.1".to_string(),
    ])?;
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&key, &issuer)?;
    let sa_key = KeyPair::generate()?;
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        serving_pem: serving_cert.pem(),
        serving_key_pem: key.serialize_pem(),
        // One file for both --service-account-key-file (reads the PUBLIC KEY block: it
        // does not parse PKCS#8 EC private keys) and --service-account-signing-key-file
        // (reads the PKCS#8 PRIVATE KEY block); each skips the other block.
        sa_key_pem: format!("{}{}", sa_key.serialize_pem(), sa_key.public_key_pem()),
    })
}

// ---------------------------------------------------------------- small helpers

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Not cryptographic: enough to make names and tokens unpredictable across runs.
fn rand64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos());
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        assert_eq!(parse_response(plain).unwrap(), (201, "{}".to_string()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                        5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n"
            .to_vec();
        assert_eq!(
            parse_response(chunked).unwrap(),
            (200, "hello, world".to_string())
        );
        assert!(parse_response(b"garbage".to_vec()).is_err());
    }

    #[test]
    fn certificates_chain_to_the_ca() {
        let c = make_certs().unwrap();
        assert!(c.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.sa_key_pem.contains("PRIVATE KEY") && c.sa_key_pem.contains("PUBLIC KEY"));
        // the rustls config accepts the CA as a root
        tls_config(&c.ca_der).unwrap();
    }
}
