//! Test support: a real HTTP/1.1 server on loopback, realistic chart repository
//! indexes, and throw-away helmfile repositories.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    }
}

/// A response.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn ok(body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn status(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A server on 127.0.0.1; stops when dropped. Every request is logged.
pub struct Server {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, l) = (handler.clone(), log2.clone());
                std::thread::spawn(move || serve(conn, h, l));
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Req>>>) {
    // One request per connection (`Connection: close`).
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let req = Req {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut buf = vec![0; len];
        let _ = reader.read_exact(&mut buf);
    }
    log.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    let mut out = conn;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&resp.body);
    let _ = out.flush();
}

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One version of a generated index.
pub struct V {
    pub version: String,
    pub app: String,
    pub created: String,
}

/// The date `days` after 2023-01-01 at 10:00 UTC, as helm writes `created`.
pub fn date(days: u32) -> String {
    // 2023-01-01 is day 19358 since the epoch.
    let secs = (19_358u64 + days as u64) * 86_400 + 36_000;
    let d = secs / 86_400;
    // civil from days (Howard Hinnant)
    let z = d as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{day:02}T10:00:00.{:09}Z",
        days * 7919 % 1_000_000_000
    )
}

/// Seconds since the epoch of [`date`]`(days)`.
pub fn epoch(days: u32) -> i64 {
    ((19_358u64 + days as u64) * 86_400 + 36_000) as i64
}

/// Many versions of a chart, like a busy repository: majors 0..=`max_major`, minors
/// 0..=12, patches 0..=3, an `-rc.1` and `-beta.2` before each minor, one day apart
/// in semver order, newest first (as helm writes them).
pub fn many_versions(max_major: u64) -> Vec<V> {
    let mut out = Vec::new();
    let mut day = 0;
    for ma in 0..=max_major {
        for mi in 0..=12 {
            for pre in ["beta.2", "rc.1"] {
                out.push(V {
                    version: format!("{ma}.{mi}.0-{pre}"),
                    app: format!("1.{}.0", ma * 100 + mi),
                    created: date(day),
                });
                day += 1;
            }
            for pa in 0..=3 {
                out.push(V {
                    version: format!("{ma}.{mi}.{pa}"),
                    app: format!("1.{}.{pa}", ma * 100 + mi),
                    created: date(day),
                });
                day += 1;
            }
        }
    }
    out.reverse();
    out
}

/// A helm `index.yaml` with these charts.
pub fn index_yaml(host: &str, charts: &[(&str, Vec<V>)]) -> String {
    let mut s = String::from("apiVersion: v1\nentries:\n");
    for (name, versions) in charts {
        s.push_str(&format!("  {name}:\n"));
        for v in versions {
            let digest: String = format!("{:x}", md5ish(&format!("{name}{}", v.version)));
            s.push_str(&format!(
                "  - annotations:\n      artifacthub.io/changes: |\n        - kind: changed\n          description: Update {name} to {app}\n        - kind: fixed\n          description: \"Probe timeouts (#{n})\"\n      artifacthub.io/links: |\n        - name: Changelog\n          url: https://github.com/example/{name}/releases/tag/{name}-{ver}\n        - name: support\n          url: https://github.com/example/{name}/issues\n    apiVersion: v2\n    appVersion: {app}\n    created: \"{created}\"\n    dependencies:\n    - name: common\n      repository: oci://registry.example/charts\n      tags:\n      - common\n      version: 2.x.x\n    description: A chart for {name}\n    digest: {digest}{digest}\n    home: https://example.org/{name}\n    icon: https://example.org/{name}.png\n    keywords:\n    - media\n    maintainers:\n    - email: maintainers@example.org\n      name: Example\n    name: {name}\n    sources:\n    - https://github.com/example/{name}\n    type: application\n    urls:\n    - {host}/charts/{name}-{ver}.tgz\n    version: {ver}\n",
                app = v.app,
                created = v.created,
                ver = v.version,
                n = v.version.len(),
            ));
        }
    }
    s.push_str("generated: \"2025-11-01T00:00:00Z\"\n");
    s
}

fn md5ish(s: &str) -> u128 {
    s.bytes().fold(0xcbf29ce484222325u128, |h, b| {
        (h ^ b as u128).wrapping_mul(0x100000001b3)
    })
}

/// A repository in a temporary directory: the master helmfile and themes.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

impl TestRepo {
    /// `themes`: (name, helmfile text).
    pub fn new(themes: &[(&str, &str)]) -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let mut master = String::from("# master\nhelmfiles:\n");
        for (name, text) in themes {
            let d = dir.path().join("helmfiles").join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("helmfile.yaml"), text).unwrap();
            master.push_str(&format!("  - path: helmfiles/{name}/helmfile.yaml\n"));
        }
        std::fs::write(dir.path().join("helmfile.yaml"), master).unwrap();
        TestRepo { dir }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn file(&self, theme: &str) -> PathBuf {
        self.dir
            .path()
            .join("helmfiles")
            .join(theme)
            .join("helmfile.yaml")
    }
    pub fn read(&self, theme: &str) -> String {
        std::fs::read_to_string(self.file(theme)).unwrap()
    }
}
