//! OCI registries served on loopback: tags list with pagination, anonymous, basic
//! and bearer-token authentication, manifests for dates and links.

mod support;

use std::sync::{Arc, OnceLock};

use base64::Engine;
use hfkit_charts::source::{Credentials, FetchOptions, OciClient};
use hfkit_charts::upgrade::{Scope, Status, EXIT_CHANGED, EXIT_PARTIAL};
use hfkit_charts::{render, run, Request};
use support::*;

#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Anonymous,
    Basic,
    Bearer,
}

const PAGE: usize = 40;
const TOKEN: &str = "tok-3f9a";

/// A registry holding `charts/plex` (and `charts/jellyfin`) with the versions of
/// `many_versions(2)` plus non-version tags, 40 tags a page.
fn registry(auth: Auth) -> Server {
    let addr = Arc::new(OnceLock::<String>::new());
    let a2 = addr.clone();
    let mut tags: Vec<String> = many_versions(2)
        .into_iter()
        .map(|v| v.version)
        .chain([
            "latest".into(),
            "2.12.3_build.7".into(),
            "sha256-0a1b.sig".into(),
        ])
        .collect();
    tags.sort();
    let mut created: std::collections::BTreeMap<String, String> = many_versions(2)
        .into_iter()
        .map(|v| (v.version, v.created))
        .collect();
    created.insert("2.12.3_build.7".into(), created["2.12.3"].clone());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("robot:s3cret")
    );
    let server = Server::start(move |req| {
        let host = a2.get().unwrap();
        let authorised = match auth {
            Auth::Anonymous => true,
            Auth::Basic => req.header("authorization") == Some(basic.as_str()),
            Auth::Bearer => req.header("authorization") == Some(format!("Bearer {TOKEN}").as_str()),
        };
        if req.path() == "/token" {
            if req.header("authorization") != Some(basic.as_str()) {
                return Resp::status(401);
            }
            if req.query("service").as_deref() != Some("test-registry")
                || req.query("scope").as_deref() != Some("repository%3Acharts%2Fplex%3Apull")
            {
                return Resp::status(400);
            }
            return Resp::ok(format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#));
        }
        if !authorised {
            let challenge = match auth {
                Auth::Basic => r#"Basic realm="test-registry""#.to_string(),
                _ => format!(
                    r#"Bearer realm="http://{host}/token",service="test-registry",scope="repository:charts/plex:pull""#
                ),
            };
            return Resp::status(401).header("WWW-Authenticate", &challenge);
        }
        let path = req.path();
        if path == "/v2/charts/plex/tags/list" || path == "/v2/charts/jellyfin/tags/list" {
            let start = match req.query("last") {
                Some(last) => tags
                    .iter()
                    .position(|t| *t == last)
                    .map(|p| p + 1)
                    .unwrap_or(tags.len()),
                None => 0,
            };
            let page: Vec<&String> = tags.iter().skip(start).take(PAGE).collect();
            let name = path
                .trim_start_matches("/v2/")
                .trim_end_matches("/tags/list");
            let mut resp = Resp::ok(serde_json::json!({"name": name, "tags": page}).to_string())
                .header("Content-Type", "application/json");
            if start + PAGE < tags.len() {
                resp = resp.header(
                    "Link",
                    &format!(
                        "</v2/{name}/tags/list?n={PAGE}&last={}>; rel=\"next\"",
                        page.last().unwrap()
                    ),
                );
            }
            return resp;
        }
        if let Some((chart, tag)) = path
            .strip_prefix("/v2/charts/")
            .and_then(|p| p.split_once("/manifests/"))
        {
            let Some(c) = created.get(tag) else {
                return Resp::status(404);
            };
            let body = serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:aa", "size": 10},
                "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "sha256:bb", "size": 1000}],
                "annotations": {
                    "org.opencontainers.image.created": c,
                    "org.opencontainers.image.title": chart,
                    "org.opencontainers.image.version": tag,
                    "org.opencontainers.image.source": format!("https://github.com/example/{chart}/tree/{tag}"),
                    "org.opencontainers.image.url": "https://example.org/plex",
                }
            });
            return Resp::ok(body.to_string())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .header("Docker-Content-Digest", "sha256:0123abcd");
        }
        Resp::status(404)
    });
    addr.set(server.addr.clone()).unwrap();
    server
}

fn opts(with_creds: bool) -> FetchOptions {
    let mut credentials = Credentials::new();
    FetchOptions {
        plain_http: true,
        credentials: {
            if with_creds {
                credentials.insert("127.0.0.1", "unused", "unused");
            }
            credentials
        },
        ..Default::default()
    }
}

fn creds_for(server: &Server) -> FetchOptions {
    let mut o = opts(false);
    o.credentials.insert(&server.addr, "robot", "s3cret");
    o
}

#[test]
fn tags_are_listed_across_pages() {
    for auth in [Auth::Anonymous, Auth::Basic, Auth::Bearer] {
        let server = registry(auth);
        let o = if auth == Auth::Anonymous {
            opts(true)
        } else {
            creds_for(&server)
        };
        let mut client = OciClient::new(&server.addr, "charts/plex", &o);
        let tags = client.tags().unwrap();
        // 3 majors x 13 minors x 6 versions, plus the build tag; not `latest`, not `.sig`.
        assert_eq!(tags.len(), 3 * 13 * 6 + 1);
        assert!(tags.iter().any(|t| t.version == "2.12.3+build.7"));
        let pages = server
            .requests()
            .iter()
            .filter(|r| {
                r.path() == "/v2/charts/plex/tags/list"
                    && (auth == Auth::Anonymous || r.header("authorization").is_some())
            })
            .count();
        assert_eq!(
            pages,
            (3usize * 13 * 6 + 3).div_ceil(PAGE),
            "auth mode pages"
        );
    }
}

#[test]
fn bearer_token_dance_needs_the_right_credentials() {
    let server = registry(Auth::Bearer);
    let mut wrong = opts(false);
    wrong.credentials.insert(&server.addr, "robot", "nope");
    let e = OciClient::new(&server.addr, "charts/plex", &wrong)
        .tags()
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "/token?service=test-registry&scope=repository%3Acharts%2Fplex%3Apull: HTTP 401"
        ),
        "{e}"
    );
    let o = creds_for(&server);
    assert!(OciClient::new(&server.addr, "charts/plex", &o)
        .tags()
        .is_ok());
    // Anonymous against a registry that wants basic auth: a clear 401.
    let server = registry(Auth::Basic);
    let e = OciClient::new(&server.addr, "charts/plex", &opts(false))
        .tags()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("HTTP 401 (not authorised: log in with `helm registry login"),
        "{e}"
    );
}

fn helmfile(server: &Server) -> String {
    format!(
        r#"repositories:
  - name: registry
    url: {addr}/charts
    oci: true
releases:
  - name: plex
    chart: registry/plex
    version: 1.3.0    # from the registry
  - name: jellyfin
    chart: oci://{addr}/charts/jellyfin
    version: "2.0.0-rc.1"
"#,
        addr = server.addr
    )
}

fn request(repo: &TestRepo, server: &Server) -> Request {
    let mut r = Request::new(repo.root(), Scope::All);
    r.fetch = creds_for(server);
    r.now = epoch(400);
    r
}

#[test]
fn oci_releases_upgrade_with_token_auth() {
    let server = registry(Auth::Bearer);
    let text = helmfile(&server);
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, &server)).unwrap();
    assert_eq!(
        report.exit_code(),
        EXIT_CHANGED,
        "{}",
        render::text(&report)
    );
    assert_eq!(
        repo.read("media"),
        text.replace("version: 1.3.0    #", "version: 2.12.3    #")
            .replace("\"2.0.0-rc.1\"", "\"2.12.3\"")
    );
    let plex = &report.entries[0];
    let d = plex.to_details.as_ref().unwrap();
    assert_eq!(
        d.sources,
        vec!["https://github.com/example/plex/tree/2.12.3"]
    );
    assert_eq!(d.digest.as_deref(), Some("sha256:0123abcd"));
    assert_eq!(
        plex.source.as_deref(),
        Some(format!("oci://{}/charts/plex", server.addr).as_str())
    );
}

#[test]
fn oci_min_age_reads_manifest_dates() {
    let server = registry(Auth::Bearer);
    let repo = TestRepo::new(&[("media", &helmfile(&server))]);
    let mut req = request(&repo, &server);
    // many_versions(2): 2.12.3 is day 233, 2.12.0 day 230.
    req.now = epoch(233) + 60;
    req.min_age_secs = Some(3 * 86_400);
    let report = run(&req).unwrap();
    assert_eq!(
        report.entries[0].to.as_deref(),
        Some("2.12.0"),
        "{}",
        render::text(&report)
    );
    let manifests = server
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/v2/charts/plex/manifests/"))
        .count();
    // 2.12.3, 2.12.3+build.7, 2.12.2, 2.12.1 are too young; 2.12.0 is old enough.
    assert_eq!(
        manifests,
        5,
        "{:?}",
        server
            .requests()
            .iter()
            .map(|r| r.target.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn registry_down_is_reported_per_release() {
    let server = registry(Auth::Bearer);
    let port = dead_port();
    let text = helmfile(&server).replace(
        &format!("oci://{}/charts/jellyfin", server.addr),
        &format!("oci://127.0.0.1:{port}/charts/jellyfin"),
    );
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, &server)).unwrap();
    assert_eq!(
        report.exit_code(),
        EXIT_PARTIAL,
        "{}",
        render::text(&report)
    );
    assert_eq!(report.entries[0].status, Status::Upgraded);
    assert_eq!(report.entries[1].status, Status::Failed);
    assert!(report.entries[1].notes[0].starts_with("repository unavailable: http://127.0.0.1:"));
    assert_eq!(
        repo.read("media"),
        text.replace("version: 1.3.0    #", "version: 2.12.3    #")
    );
}
