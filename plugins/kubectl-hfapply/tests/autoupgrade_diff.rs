//! `kubectl hfapply autoupgrade` then `kubectl hfapply diff`, against the real control
//! plane and the real helm 3, with a classic chart repository served over HTTP on
//! loopback from this test: the diff shows exactly the upgraded releases.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hfkit_testcluster::{peer, ControlPlane};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kubectl-hfapply")
}

/// helm's own directories for this test, so that `helm repo add` touches nothing else.
struct HelmHome {
    cache: PathBuf,
    config: PathBuf,
    data: PathBuf,
}

impl HelmHome {
    fn new(dir: &Path) -> HelmHome {
        let home = HelmHome {
            cache: dir.join("cache"),
            config: dir.join("config"),
            data: dir.join("data"),
        };
        for d in [&home.cache, &home.config, &home.data] {
            std::fs::create_dir_all(d).unwrap();
        }
        home
    }

    fn apply_to(&self, c: &mut Command) {
        c.env("HELM_BIN", peer("helm3"))
            .env("HELM_CACHE_HOME", &self.cache)
            .env("HELM_CONFIG_HOME", &self.config)
            .env("HELM_DATA_HOME", &self.data)
            .env_remove("HELM_REPOSITORY_CONFIG")
            .env_remove("HELM_REPOSITORY_CACHE")
            .env_remove("HFAPPLY_ENV");
    }
}

fn run(mut c: Command) -> Output {
    let out = c.output().unwrap();
    eprintln!(
        "{:?}\nexit {:?}\nstdout:\n{}\nstderr:\n{}",
        c.get_args().collect::<Vec<_>>(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Version `version` of the chart `app`: one ConfigMap whose `flavour` differs between
/// versions. Packaged with the real helm into `into`.
fn package_chart(work: &Path, into: &Path, version: &str, flavour: &str, home: &HelmHome) {
    let chart = work.join(format!("app-{version}"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: app\nversion: {version}\nappVersion: \"{version}\"\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), format!("flavour: {flavour}\n")).unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  flavour: {{ .Values.flavour | quote }}\n",
    )
    .unwrap();
    let mut c = Command::new(peer("helm3"));
    c.arg("package").arg(&chart).arg("--destination").arg(into);
    home.apply_to(&mut c);
    let out = run(c);
    assert!(out.status.success(), "helm package {version} failed");
    assert!(into.join(format!("app-{version}.tgz")).is_file());
}

/// Requests served so far, as `GET /path`.
type RequestLog = Arc<Mutex<Vec<String>>>;

/// Files served, by path without the leading `/`; the test can publish more while the
/// server runs.
type Served = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// Serves the files `files(port)` returns on 127.0.0.1 from a thread, one thread per
/// connection, for as many requests as come; returns the port, the served files (to
/// change them later) and the log of requests.
fn serve(files: impl FnOnce(u16) -> BTreeMap<String, Vec<u8>>) -> (u16, Served, RequestLog) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files: Served = Arc::new(Mutex::new(files(port)));
    let served = files.clone();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (files, log) = (files.clone(), log2.clone());
            std::thread::spawn(move || answer(stream, &files, &log));
        }
    });
    (port, served, log)
}

fn answer(
    mut stream: TcpStream,
    files: &Mutex<BTreeMap<String, Vec<u8>>>,
    log: &Mutex<Vec<String>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    log.lock().unwrap().push(format!("{method} /{path}"));
    let found = files.lock().unwrap().get(path).cloned();
    let (status, body): (&str, Vec<u8>) = match found {
        Some(b) if method == "GET" || method == "HEAD" => ("200 OK", b),
        _ => ("404 Not Found", b"not found\n".to_vec()),
    };
    let kind = if path.ends_with(".tgz") {
        "application/gzip"
    } else {
        "text/plain"
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(&body);
    }
    let _ = stream.write_all(&resp);
    let _ = stream.flush();
}

/// A classic repository index listing `versions` of the two below, published long ago
/// (so that no `--min-age` could hold them back).
fn index_yaml(port: u16, versions: &[&str]) -> String {
    let mut out = String::from("apiVersion: v1\nentries:\n  app:\n");
    for (version, created) in [
        ("1.1.0", "2024-02-01T10:00:00Z"),
        ("1.0.0", "2024-01-01T10:00:00Z"),
    ]
    .into_iter()
    .filter(|(v, _)| versions.contains(v))
    {
        out.push_str(&format!(
            "  - apiVersion: v2\n    name: app\n    version: {version}\n    appVersion: \"{version}\"\n    created: \"{created}\"\n    urls:\n    - http://127.0.0.1:{port}/app-{version}.tgz\n"
        ));
    }
    out.push_str("generated: \"2024-02-01T10:00:00Z\"\n");
    out
}

fn theme_helmfile(port: u16, ns: &str, pinned_version: &str, version: &str) -> String {
    format!(
        "repositories:
  - name: demo
    url: http://127.0.0.1:{port}

releases:
  - name: alpha
    namespace: {ns}
    chart: demo/app
    version: {version}
  - name: beta
    namespace: {ns}
    chart: demo/app
    version: {pinned_version} # hfapply: pin
  - name: gamma
    namespace: {ns}
    chart: demo/app
    version: {version}
"
    )
}

/// `kubectl-hfapply ARGS` with the connection flags (after ARGS: a subcommand first).
fn hfapply(cp: &ControlPlane, home: &HelmHome, root: &Path, state: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .arg("--state-namespace")
        .arg(state)
        .arg("-C")
        .arg(root);
    home.apply_to(&mut c);
    c
}

/// `(release, outcome)` of an apply's JSON report.
fn outcomes(o: &Output) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["release"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The `flavour` of the ConfigMap release `release` deployed.
fn flavour(cp: &ControlPlane, ns: &str, release: &str) -> String {
    let path = format!("/api/v1/namespaces/{ns}/configmaps/{release}-cm");
    let (code, body) = cp.request("GET", &path, None).unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["flavour"].as_str().unwrap().to_string()
}

#[test]
fn autoupgrade_then_diff_shows_exactly_the_upgraded_releases() {
    let start = Instant::now();
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfa-autoup");
    let state = cp.new_namespace("hfa-autoup-state");
    let tmp = tempfile::tempdir().unwrap();
    let home = HelmHome::new(&tmp.path().join("helm"));

    // The chart repository: two versions of `app`, packaged by helm, served on loopback.
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    package_chart(&tmp.path().join("src"), &served, "1.0.0", "vanilla", &home);
    package_chart(
        &tmp.path().join("src"),
        &served,
        "1.1.0",
        "chocolate",
        &home,
    );
    // At first only 1.0.0 is published; 1.1.0 comes out after the first apply, as in
    // life: diff must then refresh helm's copy of the index itself.
    let (port, files, requests) = serve(|port| {
        let mut files = BTreeMap::new();
        files.insert(
            "index.yaml".to_string(),
            index_yaml(port, &["1.0.0"]).into_bytes(),
        );
        let name = "app-1.0.0.tgz".to_string();
        files.insert(name.clone(), std::fs::read(served.join(&name)).unwrap());
        files
    });
    let publish_1_1_0 = || {
        let mut f = files.lock().unwrap();
        f.insert(
            "index.yaml".into(),
            index_yaml(port, &["1.0.0", "1.1.0"]).into_bytes(),
        );
        f.insert(
            "app-1.1.0.tgz".into(),
            std::fs::read(served.join("app-1.1.0.tgz")).unwrap(),
        );
    };

    // The repository: a master helmfile listing one theme with three releases of
    // demo/app at 1.0.0, `beta` pinned by a comment.
    let root = tmp.path().join("repo");
    let theme = root.join("helmfiles/apps");
    std::fs::create_dir_all(&theme).unwrap();
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n  - path: helmfiles/apps/helmfile.yaml\n",
    )
    .unwrap();
    let helmfile = theme.join("helmfile.yaml");
    std::fs::write(&helmfile, theme_helmfile(port, &ns, "1.0.0", "1.0.0")).unwrap();

    // First apply: the three releases installed at 1.0.0.
    let out = run(hfapply(cp, &home, &root, &state, &["--all", "-o", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        outcomes(&out),
        pairs(&[
            ("alpha", "installed"),
            ("beta", "installed"),
            ("gamma", "installed")
        ])
    );
    for r in ["alpha", "beta", "gamma"] {
        assert_eq!(flavour(cp, &ns, r), "vanilla", "{r}");
    }

    // Nothing to diff after the apply.
    let out = run(hfapply(
        cp,
        &home,
        &root,
        &state,
        &["diff", "--all", "--detailed-exitcode"],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff after apply is not empty: {}",
        stdout(&out)
    );
    assert_eq!(
        stdout(&out),
        format!(
            "apps/alpha (namespace {ns}): no changes\napps/beta (namespace {ns}): no changes\napps/gamma (namespace {ns}): no changes\n"
        )
    );

    // The chart's 1.1.0 is published now, after this machine's helm last read the index.
    publish_1_1_0();

    // autoupgrade: exit 3, exactly the two unpinned version lines changed.
    let mut c = Command::new(bin());
    c.args(["autoupgrade", "--all", "-C"]).arg(&root);
    home.apply_to(&mut c);
    let out = run(c);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&helmfile).unwrap(),
        theme_helmfile(port, &ns, "1.0.0", "1.1.0")
    );
    let report = stdout(&out);
    let line = |prefix: &str| {
        report
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    for name in ["alpha", "gamma"] {
        let l = line(&format!("upgraded   apps/{name}  demo/app  "));
        assert!(
            l.as_deref()
                .is_some_and(|l| l.contains("1.0.0") && l.contains("1.1.0")),
            "{name}: {report}"
        );
    }
    assert!(
        line("skipped    apps/beta  ").is_some_and(|l| l.contains("pin")),
        "{report}"
    );
    assert!(
        requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r == "GET /index.yaml"),
        "autoupgrade never asked the repository: {:?}",
        requests.lock().unwrap()
    );

    // diff: exit 2; alpha and gamma changed (their ConfigMap, nothing else), beta not.
    let out = run(hfapply(
        cp,
        &home,
        &root,
        &state,
        &["diff", "--all", "--detailed-exitcode", "-o", "json"],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let releases = json["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 3, "{json}");
    for r in releases {
        let name = r["release"].as_str().unwrap();
        assert_eq!(r["theme"], "apps", "{r}");
        assert_eq!(r["namespace"], ns.as_str(), "{r}");
        assert_eq!(r["deployed"], true, "{r}");
        assert!(r["error"].is_null(), "{r}");
        assert_eq!(r["uninstall"], false, "{r}");
        assert_eq!(r["raw"], serde_json::json!([]), "{r}");
        assert_eq!(r["volatile"], serde_json::json!([]), "{r}");
        assert_eq!(r["ignored"], serde_json::json!([]), "{r}");
        let chart = r["chart"].as_array().unwrap();
        match name {
            "alpha" | "gamma" => {
                assert_eq!(chart.len(), 1, "{name}: {r}");
                let d = &chart[0];
                assert_eq!(d["change"], "modified", "{name}: {d}");
                assert_eq!(d["key"]["kind"], "ConfigMap", "{name}: {d}");
                assert_eq!(d["key"]["name"], format!("{name}-cm"), "{name}: {d}");
                let unified = d["unified"].as_str().unwrap();
                let changed = |sign: &str| -> Vec<&str> {
                    unified
                        .lines()
                        .filter(|l| l.starts_with(sign) && !l.starts_with(&sign.repeat(3)))
                        .collect()
                };
                assert_eq!(
                    changed("-"),
                    ["-  flavour: \"vanilla\""],
                    "{name}: {unified}"
                );
                assert_eq!(
                    changed("+"),
                    ["+  flavour: \"chocolate\""],
                    "{name}: {unified}"
                );
            }
            "beta" => assert!(chart.is_empty(), "the pinned release changed: {r}"),
            other => panic!("unexpected release {other}: {json}"),
        }
    }
    // The text form says the same: two changed releases, beta unchanged.
    let out = run(hfapply(
        cp,
        &home,
        &root,
        &state,
        &["diff", "--all", "--detailed-exitcode"],
    ));
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("=== apps/alpha (namespace {ns})\n"))
            && text.contains(&format!("=== apps/gamma (namespace {ns})\n"))
            && text.contains(&format!("apps/beta (namespace {ns}): no changes\n")),
        "{text}"
    );
    assert_eq!(text.matches("=== ").count(), 2, "{text}");

    // Apply again: exactly the two upgraded, then the diff is empty.
    let out = run(hfapply(cp, &home, &root, &state, &["--all", "-o", "json"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        outcomes(&out),
        pairs(&[
            ("alpha", "upgraded"),
            ("beta", "unchanged"),
            ("gamma", "upgraded")
        ])
    );
    assert_eq!(flavour(cp, &ns, "alpha"), "chocolate");
    assert_eq!(flavour(cp, &ns, "beta"), "vanilla");
    assert_eq!(flavour(cp, &ns, "gamma"), "chocolate");
    let out = run(hfapply(
        cp,
        &home,
        &root,
        &state,
        &["diff", "--all", "--detailed-exitcode"],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff after the second apply is not empty: {}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).matches(": no changes\n").count(), 3);
    // And nothing more to upgrade.
    let mut c = Command::new(bin());
    c.args(["autoupgrade", "--all", "-C"]).arg(&root);
    home.apply_to(&mut c);
    assert_eq!(run(c).status.code(), Some(0));
    eprintln!("autoupgrade then diff: {:?}", start.elapsed());
}
