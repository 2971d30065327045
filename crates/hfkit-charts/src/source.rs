//! Fetching versions from chart repositories: classic HTTP repositories (their
//! `index.yaml`) and OCI registries (the distribution API's
//! `/v2/<name>/tags/list`, paginated through `Link` headers, with anonymous, basic
//! and bearer-token authentication including the `WWW-Authenticate` token dance).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

use crate::index::{ChartIndex, ChartVersion, IndexError};

/// Where a chart's versions come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A classic repository: the base URL its `index.yaml` is under.
    Http(String),
    /// An OCI registry repository: `host[:port]` and the repository name
    /// (`charts/plex`).
    Oci {
        /// `host[:port]`.
        host: String,
        /// The repository path in the registry, chart name included.
        name: String,
    },
}

impl Source {
    /// The source as shown in messages (`https://charts.example/`, `oci://host/name`).
    pub fn display(&self) -> String {
        match self {
            Source::Http(u) => u.clone(),
            Source::Oci { host, name } => format!("oci://{host}/{name}"),
        }
    }

    /// An OCI source from `oci://host/name` or `host/name`.
    pub fn oci(reference: &str) -> Option<Source> {
        let r = reference.strip_prefix("oci://").unwrap_or(reference);
        let r = r.trim_end_matches('/');
        let (host, name) = r.split_once('/')?;
        if host.is_empty() || name.is_empty() {
            return None;
        }
        Some(Source::Oci {
            host: host.to_string(),
            name: name.to_string(),
        })
    }
}

/// Credentials by host (`registry.example.com:5000`): basic auth for OCI registries
/// (and their token services) and for classic repositories' `index.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    hosts: BTreeMap<String, (String, String)>,
}

impl Credentials {
    /// No credentials: anonymous access everywhere.
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// Adds a username and password (or token) for `host`.
    pub fn insert(&mut self, host: &str, username: &str, password: &str) {
        self.hosts.insert(
            host.to_string(),
            (username.to_string(), password.to_string()),
        );
    }

    /// The credentials for `host`, if any.
    pub fn get(&self, host: &str) -> Option<(&str, &str)> {
        self.hosts.get(host).map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Reads the `auths` of a docker-style `config.json` (helm's registry config has
    /// the same shape): `{"auths": {"host": {"auth": base64("user:pass")}}}` or
    /// `username`/`password` fields. Entries already present win.
    pub fn add_config_json(&mut self, json: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            return;
        };
        let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
            return;
        };
        for (host, entry) in auths {
            let host = host
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            let pair = if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
                base64::engine::general_purpose::STANDARD
                    .decode(a)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
            } else {
                match (
                    entry.get("username").and_then(|u| u.as_str()),
                    entry.get("password").and_then(|p| p.as_str()),
                ) {
                    (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
                    _ => None,
                }
            };
            if let Some(pair) = pair {
                self.hosts.entry(host).or_insert(pair);
            }
        }
    }

    /// Credentials from the environment and the usual files, first found wins:
    /// `HFAPPLY_REGISTRY_HOST` + `HFAPPLY_REGISTRY_USERNAME` + `HFAPPLY_REGISTRY_PASSWORD`,
    /// helm's registry config (`$HELM_REGISTRY_CONFIG`, else
    /// `~/.config/helm/registry/config.json`), then `~/.docker/config.json`
    /// (`$DOCKER_CONFIG/config.json`). Credential helpers are not run.
    pub fn from_environment() -> Credentials {
        let mut c = Credentials::new();
        if let (Ok(h), Ok(u), Ok(p)) = (
            std::env::var("HFAPPLY_REGISTRY_HOST"),
            std::env::var("HFAPPLY_REGISTRY_USERNAME"),
            std::env::var("HFAPPLY_REGISTRY_PASSWORD"),
        ) {
            c.insert(&h, &u, &p);
        }
        let home = std::env::var("HOME").unwrap_or_default();
        let helm = std::env::var("HELM_REGISTRY_CONFIG")
            .unwrap_or_else(|_| format!("{home}/.config/helm/registry/config.json"));
        let docker = std::env::var("DOCKER_CONFIG")
            .map(|d| format!("{d}/config.json"))
            .unwrap_or_else(|_| format!("{home}/.docker/config.json"));
        for f in [helm, docker] {
            if let Ok(text) = std::fs::read_to_string(&f) {
                c.add_config_json(&text);
            }
        }
        c
    }
}

/// How repositories are reached.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Timeout of each request, whole (connect, headers and body).
    pub timeout: Duration,
    /// Talk to OCI registries over plain HTTP instead of HTTPS (helm's `--plain-http`).
    pub plain_http: bool,
    /// Registry credentials.
    pub credentials: Credentials,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30),
            plain_http: false,
            credentials: Credentials::new(),
        }
    }
}

/// A repository that could not be read; one line naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The request failed (connection refused, timeout, TLS, ...).
    #[error("{url}: {message}")]
    Transport {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}{hint}")]
    Status {
        /// The URL asked for.
        url: String,
        /// The status code.
        status: u16,
        /// What to do, when known.
        hint: String,
    },
    /// The index cannot be read.
    #[error("{url}: {error}")]
    Index {
        /// The index URL.
        url: String,
        /// What is wrong.
        error: IndexError,
    },
    /// A registry answer cannot be read.
    #[error("{url}: {message}")]
    Registry {
        /// The URL asked for.
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// What one source holds.
#[derive(Debug, Clone)]
pub enum Listing {
    /// A classic repository's index.
    Index(ChartIndex),
    /// An OCI repository's versions (tags that are versions, `_` read as `+`).
    Tags(OciTags),
}

/// The versions of an OCI repository and the authorisation that listed them (reused
/// to read manifests without another token dance).
#[derive(Clone)]
pub struct OciTags {
    /// The versions.
    pub versions: Vec<ChartVersion>,
    auth: Option<String>,
}

impl std::fmt::Debug for OciTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciTags")
            .field("versions", &self.versions)
            .field("auth", &self.auth.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

fn agent(opts: &FetchOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .user_agent("hfkit-charts (kubectl hfapply)")
        .build()
        .into()
}

fn transport(url: &str, e: ureq::Error) -> SourceError {
    SourceError::Transport {
        url: url.to_string(),
        message: e.to_string(),
    }
}

fn json_body(resp: &mut ureq::http::Response<ureq::Body>) -> Result<serde_json::Value, String> {
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// `host[:port]` of a URL.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    host.rsplit('@').next().unwrap_or(host).to_string()
}

/// Largest index accepted (the biggest public ones are ~30 MB).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// Fetches the listing of one source.
pub fn fetch(source: &Source, opts: &FetchOptions) -> Result<Listing, SourceError> {
    match source {
        Source::Http(base) => fetch_index(base, opts).map(Listing::Index),
        Source::Oci { host, name } => {
            let mut client = OciClient::new(host, name, opts);
            let versions = client.tags()?;
            Ok(Listing::Tags(OciTags {
                versions,
                auth: client.auth,
            }))
        }
    }
}

/// Fetches and parses `<base>/index.yaml`.
pub fn fetch_index(base: &str, opts: &FetchOptions) -> Result<ChartIndex, SourceError> {
    let url = format!("{}/index.yaml", base.trim_end_matches('/'));
    let mut req = agent(opts).get(&url);
    if let Some((u, p)) = opts.credentials.get(&url_host(&url)) {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req = req.header("Authorization", &format!("Basic {basic}"));
    }
    let mut resp = req.call().map_err(|e| transport(&url, e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(SourceError::Status {
            url,
            status,
            hint: match status {
                401 | 403 => {
                    " (not authorised: set HFAPPLY_REGISTRY_HOST/USERNAME/PASSWORD for this host)"
                        .into()
                }
                404 => " (no index.yaml there: check the repository url)".into(),
                _ => String::new(),
            },
        });
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| transport(&url, e))?;
    ChartIndex::parse(&body).map_err(|error| SourceError::Index { url, error })
}

/// A client for one OCI repository, keeping the token it obtained.
pub struct OciClient<'a> {
    agent: ureq::Agent,
    base: String,
    host: String,
    name: String,
    opts: &'a FetchOptions,
    auth: Option<String>,
}

impl<'a> OciClient<'a> {
    /// A client for `host`/`name`.
    pub fn new(host: &str, name: &str, opts: &'a FetchOptions) -> OciClient<'a> {
        let scheme = if opts.plain_http { "http" } else { "https" };
        OciClient {
            agent: agent(opts),
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            name: name.to_string(),
            opts,
            auth: None,
        }
    }

    /// A client reusing the authorisation obtained while listing `tags`.
    pub fn reusing(
        host: &str,
        name: &str,
        opts: &'a FetchOptions,
        tags: &OciTags,
    ) -> OciClient<'a> {
        let mut c = OciClient::new(host, name, opts);
        c.auth.clone_from(&tags.auth);
        c
    }

    fn get(
        &mut self,
        url: &str,
        accept: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, SourceError> {
        let mut tried_auth = false;
        loop {
            let mut req = self.agent.get(url).header("Accept", accept);
            if let Some(a) = &self.auth {
                req = req.header("Authorization", a);
            }
            let resp = req.call().map_err(|e| transport(url, e))?;
            let status = resp.status().as_u16();
            if status != 401 || tried_auth {
                if status != 200 {
                    return Err(SourceError::Status {
                        url: url.to_string(),
                        status,
                        hint: match status {
                            401 | 403 => format!(
                                " (not authorised: log in with `helm registry login {}` or set \
                                 HFAPPLY_REGISTRY_HOST/USERNAME/PASSWORD)",
                                self.host
                            ),
                            404 => " (no such repository in the registry)".into(),
                            _ => String::new(),
                        },
                    });
                }
                return Ok(resp);
            }
            tried_auth = true;
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            self.authenticate(url, &challenge)?;
        }
    }

    fn basic(&self) -> Option<String> {
        self.opts.credentials.get(&self.host).map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    /// Answers a `401` challenge: basic credentials, or a bearer token from the realm.
    fn authenticate(&mut self, url: &str, challenge: &str) -> Result<(), SourceError> {
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            self.auth = self.basic();
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(SourceError::Registry {
                url: url.to_string(),
                message: format!("unsupported authentication challenge `{challenge}`"),
            });
        }
        let realm = params
            .get("realm")
            .cloned()
            .ok_or_else(|| SourceError::Registry {
                url: url.to_string(),
                message: "bearer challenge without a realm".into(),
            })?;
        let mut query = Vec::new();
        if let Some(s) = params.get("service") {
            query.push(format!("service={}", encode(s)));
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", self.name));
        query.push(format!("scope={}", encode(&scope)));
        let sep = if realm.contains('?') { '&' } else { '?' };
        let token_url = format!("{realm}{sep}{}", query.join("&"));
        let mut req = self.agent.get(&token_url);
        if let Some(b) = self.basic() {
            req = req.header("Authorization", &b);
        }
        let mut resp = req.call().map_err(|e| transport(&token_url, e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SourceError::Status {
                url: token_url,
                status,
                hint: " (the registry's token service refused us: check the credentials)".into(),
            });
        }
        let body = json_body(&mut resp).map_err(|message| SourceError::Registry {
            url: token_url.clone(),
            message,
        })?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| SourceError::Registry {
                url: token_url.clone(),
                message: "token answer without `token` or `access_token`".into(),
            })?;
        self.auth = Some(format!("Bearer {token}"));
        Ok(())
    }

    /// Every tag that reads as a version, following `Link: <...>; rel="next"`.
    pub fn tags(&mut self) -> Result<Vec<ChartVersion>, SourceError> {
        let mut url = format!("{}/v2/{}/tags/list?n=1000", self.base, self.name);
        let mut out = Vec::new();
        for _page in 0..1000 {
            let mut resp = self.get(&url, "application/json")?;
            let next = resp
                .headers()
                .get("link")
                .and_then(|h| h.to_str().ok())
                .and_then(next_link);
            let body = json_body(&mut resp).map_err(|e| SourceError::Registry {
                url: url.clone(),
                message: format!("tags list is not JSON: {e}"),
            })?;
            let tags = body.get("tags").ok_or_else(|| SourceError::Registry {
                url: url.clone(),
                message: "tags list without `tags`".into(),
            })?;
            for t in tags.as_array().into_iter().flatten() {
                if let Some(t) = t.as_str() {
                    // helm pushes `1.0.0+build` as the tag `1.0.0_build`.
                    let v = t.replace('_', "+");
                    if crate::version::parse_version(&v).is_some() {
                        out.push(ChartVersion {
                            version: v,
                            ..Default::default()
                        });
                    }
                }
            }
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base),
                Some(n) => url = n,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Fills `created`, `digest`, `home` and `sources` of a version from its
    /// manifest's OCI annotations (`org.opencontainers.image.created`, `.source`,
    /// `.url`), as helm writes them.
    pub fn describe(&mut self, v: &mut ChartVersion) -> Result<(), SourceError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base,
            self.name,
            v.version.replace('+', "_")
        );
        let mut resp = self.get(
            &url,
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )?;
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
        {
            v.digest = Some(d.to_string());
        }
        let body = json_body(&mut resp).map_err(|e| SourceError::Registry {
            url: url.clone(),
            message: format!("manifest is not JSON: {e}"),
        })?;
        let ann = body.get("annotations");
        let get = |k: &str| -> Option<String> {
            ann.and_then(|a| a.get(k))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        };
        if let Some(c) = get("org.opencontainers.image.created") {
            v.created = crate::time::parse_rfc3339(&c);
        }
        if let Some(s) = get("org.opencontainers.image.source") {
            v.sources = vec![s];
        }
        v.home = get("org.opencontainers.image.url");
        if let Some(c) = get("artifacthub.io/changes") {
            v.changes = crate::index::parse_changes(&c);
        }
        Ok(())
    }
}

/// `Bearer realm="x",service="y"` to its scheme and parameters.
fn parse_challenge(h: &str) -> (String, BTreeMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, remaining) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(k, v.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

/// The target of `rel="next"` in a `Link` header.
fn next_link(h: &str) -> Option<String> {
    h.split(',').find_map(|part| {
        let (target, attrs) = part.split_once(';')?;
        if attrs.replace(' ', "").contains("rel=\"next\"") || attrs.contains("rel=next") {
            Some(
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string(),
            )
        } else {
            None
        }
    })
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_links() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["scope"], "repository:a/b:pull");
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=x")
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }

    #[test]
    fn config_json() {
        let mut c = Credentials::new();
        c.add_config_json(r#"{"auths":{"https://reg.example:5000":{"auth":"dTpwOnE="}}}"#);
        assert_eq!(c.get("reg.example:5000"), Some(("u", "p:q")));
    }
}
