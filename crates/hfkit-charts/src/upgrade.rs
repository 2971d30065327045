//! A run of `upgrade` / `autoupgrade`: which releases, which versions, the edits, the
//! report.
//!
//! # Opting out and constraints
//!
//! Per release, in the helmfile (labels are helmfile labels, not Kubernetes ones, so
//! any text is allowed):
//!
//! | where | written | effect |
//! |---|---|---|
//! | label | `hfapply.io/autoupgrade: "false"` | `autoupgrade` skips the release (reported as skipped) |
//! | comment on the `version:` line (or the `chart:` line) | `# hfapply: pin` | same, kept next to the pin |
//! | label | `hfapply.io/version-constraint: "~1.4"` | candidates must satisfy it |
//! | comment on the `version:` line (or the `chart:` line) | `# hfapply: <2.0.0` | same; with a label too, both must hold |
//!
//! `upgrade --latest` ignores the opt-outs (it names the release) but honours the
//! constraints; `upgrade --version X` sets exactly `X` (checked to exist in the
//! repository unless [`Request::verify`] is false). A version pinned as a range
//! (`version: ~1.4`) is left alone: helm resolves it at install time.
//!
//! # Failures
//!
//! Reading the repository, an unknown theme or release: [`UpgradeError`], nothing
//! written. A repository that cannot be reached or read, a chart missing from it, an
//! edit that is refused ([`crate::edit`]): that release is [`Status::Failed`], the
//! others go on, and [`Report::exit_code`] says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hfkit::theme::{Helmfile, Release, Repo, Selector, Theme, ThemeError};

use crate::edit::{self, TextEdit};
use crate::index::ChartVersion;
use crate::source::{self, FetchOptions, Listing, OciClient, Source, SourceError};
use crate::version::{self, Constraint, Decision, Policy};

/// Label that opts a release out of `autoupgrade` when `"false"`.
pub const LABEL_AUTOUPGRADE: &str = "hfapply.io/autoupgrade";
/// Label holding a semver constraint candidates must satisfy.
pub const LABEL_CONSTRAINT: &str = "hfapply.io/version-constraint";
/// The comment marker that opts a release out: `# hfapply: pin`.
pub const MARKER_PIN: &str = "pin";

/// Which releases a run looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One release of one theme (`upgrade THEME RELEASE`).
    Release {
        /// The theme name (`media`; `.` for the master helmfile's own releases).
        theme: String,
        /// The release name.
        release: String,
    },
    /// Every release of these themes.
    Themes(Vec<String>),
    /// Every release of the repository.
    All,
}

/// Which version to go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The newest allowed version (see [`crate::version`]).
    Latest,
    /// Exactly this version.
    Exact(String),
}

/// A run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The repository root (where the master `helmfile.yaml` is).
    pub root: PathBuf,
    /// The environment the helmfiles are read for (`default`).
    pub env: String,
    /// Which releases.
    pub scope: Scope,
    /// Label selectors (`tier=media`); a release must match one of them when given.
    pub selectors: Vec<String>,
    /// Which version.
    pub target: Target,
    /// Versions younger than this (seconds) are held back.
    pub min_age_secs: Option<u64>,
    /// Report what would change without writing anything.
    pub dry_run: bool,
    /// With [`Target::Exact`], check that the repository has the version.
    pub verify: bool,
    /// How repositories are reached.
    pub fetch: FetchOptions,
    /// Now, in seconds since the Unix epoch (for the minimum age).
    pub now: i64,
    /// Honour the opt-outs (label, `# hfapply: pin`); true for `autoupgrade`.
    pub honour_opt_out: bool,
}

impl Request {
    /// A request with defaults: environment `default`, no selectors, latest
    /// versions, no minimum age, writing, opt-outs honoured.
    pub fn new(root: impl Into<PathBuf>, scope: Scope) -> Request {
        Request {
            root: root.into(),
            env: "default".into(),
            scope,
            selectors: Vec::new(),
            target: Target::Latest,
            min_age_secs: None,
            dry_run: false,
            verify: true,
            fetch: FetchOptions::default(),
            now: crate::time::now(),
            honour_opt_out: true,
        }
    }
}

/// A run that could not start; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The repository cannot be read.
    #[error(transparent)]
    Theme(#[from] ThemeError),
    /// No such theme.
    #[error("no theme `{name}` in this repository (themes: {known})")]
    UnknownTheme {
        /// The name asked for.
        name: String,
        /// The themes there are.
        known: String,
    },
    /// No such release in the theme.
    #[error("theme `{theme}` has no release `{release}` (releases: {known})")]
    UnknownRelease {
        /// The theme.
        theme: String,
        /// The name asked for.
        release: String,
        /// The releases there are.
        known: String,
    },
    /// A version given on the command line that is not one.
    #[error("`{0}` is not a chart version (expected semver such as 1.4.2)")]
    BadVersion(String),
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What happened to one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Its version was changed (or would be, in a dry run).
    Upgraded,
    /// Nothing newer is allowed.
    UpToDate,
    /// Not looked at: local chart, opted out, version range.
    Skipped,
    /// Something went wrong for this release (see the reason).
    Failed,
}

/// One release's line of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// The theme.
    pub theme: String,
    /// The release.
    pub release: String,
    /// The helmfile, relative to the repository root.
    pub file: String,
    /// The chart reference as written.
    pub chart: String,
    /// The repository the versions came from.
    pub source: Option<String>,
    /// The version before.
    pub from: Option<String>,
    /// The version after (upgraded only).
    pub to: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why (skipped, failed), and what was passed over (constraint, min-age).
    pub notes: Vec<String>,
    /// The index's data of the version before, when known.
    pub from_details: Option<ChartVersion>,
    /// The index's data of the version after, when known.
    pub to_details: Option<ChartVersion>,
    /// The release got its own `version:` line (none before, or from a template).
    pub inserted: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// One entry per release looked at, in repository order.
    pub entries: Vec<Entry>,
    /// Repositories that could not be read, one line each.
    pub repository_errors: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
    /// Files changed (or that would be).
    pub files: Vec<String>,
}

/// Exit code: nothing to do.
pub const EXIT_NOTHING: u8 = 0;
/// Exit code: a run that could not start (bad input, unreadable helmfile); nothing
/// written.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: versions changed (or would, with `--dry-run`), no failure.
pub const EXIT_CHANGED: u8 = 3;
/// Exit code: some release failed (repository down, refused edit, ...); the others
/// were upgraded as far as possible.
pub const EXIT_PARTIAL: u8 = 4;

impl Report {
    /// [`EXIT_PARTIAL`] if anything failed, else [`EXIT_CHANGED`] if anything
    /// changed, else [`EXIT_NOTHING`].
    pub fn exit_code(&self) -> u8 {
        if self.entries.iter().any(|e| e.status == Status::Failed)
            || !self.repository_errors.is_empty()
        {
            EXIT_PARTIAL
        } else if self.entries.iter().any(|e| e.status == Status::Upgraded) {
            EXIT_CHANGED
        } else {
            EXIT_NOTHING
        }
    }

    /// The entries with this status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.status == status)
    }
}

/// How a release's chart is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRef {
    /// A chart in a repository: where to list it and its name there.
    Remote {
        /// Where its versions are.
        source: Source,
        /// The chart's name in an index (unused for OCI).
        chart: String,
    },
    /// A chart directory or archive in the repository.
    Local,
}

/// Resolves a release's `chart:` against the `repositories:` of its helmfile (and
/// the master's): `repo/chart`, `oci://host/path/chart`, or a local path.
pub fn resolve_chart(chart: &str, repos: &[&hfkit::theme::Repository]) -> Result<ChartRef, String> {
    if chart.starts_with("oci://") {
        return Source::oci(chart)
            .map(|source| ChartRef::Remote {
                source,
                chart: chart.rsplit('/').next().unwrap_or("").to_string(),
            })
            .ok_or_else(|| format!("`{chart}` is not an OCI reference oci://host/name"));
    }
    if chart.starts_with('.') || chart.starts_with('/') || !chart.contains('/') {
        return Ok(ChartRef::Local);
    }
    let (repo, name) = chart.split_once('/').unwrap_or((chart, ""));
    match repos.iter().find(|r| r.name == repo) {
        Some(r) if r.oci || r.url.starts_with("oci://") => {
            Source::oci(&format!("{}/{name}", r.url.trim_end_matches('/')))
                .map(|source| ChartRef::Remote {
                    source,
                    chart: name.to_string(),
                })
                .ok_or_else(|| format!("repository `{repo}` has no usable OCI url `{}`", r.url))
        }
        Some(r) => Ok(ChartRef::Remote {
            source: Source::Http(r.url.clone()),
            chart: name.to_string(),
        }),
        None => {
            if Path::new(chart).exists() {
                Ok(ChartRef::Local)
            } else {
                Err(format!(
                    "repository `{repo}` is not declared under `repositories:` of this helmfile"
                ))
            }
        }
    }
}

struct Work<'a> {
    theme: &'a Theme,
    release: &'a Release,
    entry: Entry,
    site: Option<edit::ReleaseSite>,
    chart: Option<(Source, String)>,
    constraints: Vec<Constraint>,
}

fn pick_targets<'a>(
    repo: &'a Repo,
    req: &Request,
) -> Result<Vec<(&'a Theme, &'a Release)>, UpgradeError> {
    let theme_names = || {
        repo.themes
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find_theme = |name: &str| {
        repo.themes
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| UpgradeError::UnknownTheme {
                name: name.to_string(),
                known: theme_names(),
            })
    };
    let selectors = req
        .selectors
        .iter()
        .map(|s| Selector::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let selected = |r: &Release| selectors.is_empty() || hfkit::theme::matches_any(&selectors, r);
    Ok(match &req.scope {
        Scope::Release { theme, release } => {
            let t = find_theme(theme)?;
            let r = t
                .helmfile
                .releases
                .iter()
                .find(|r| &r.name == release)
                .ok_or_else(|| UpgradeError::UnknownRelease {
                    theme: theme.clone(),
                    release: release.clone(),
                    known: t
                        .helmfile
                        .releases
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            vec![(t, r)]
        }
        Scope::Themes(names) => {
            let mut out = Vec::new();
            for n in names {
                let t = find_theme(n)?;
                out.extend(
                    t.helmfile
                        .releases
                        .iter()
                        .filter(|r| selected(r))
                        .map(|r| (t, r)),
                );
            }
            out
        }
        Scope::All => repo.releases().filter(|(_, r)| selected(r)).collect(),
    })
}

/// Runs an upgrade: reads the repository, asks the repositories, edits the files
/// (unless [`Request::dry_run`]) and reports.
pub fn run(req: &Request) -> Result<Report, UpgradeError> {
    if let Target::Exact(v) = &req.target {
        if version::parse_version(v).is_none() {
            return Err(UpgradeError::BadVersion(v.clone()));
        }
    }
    let repo = Repo::load(&req.root, &req.env)?;
    let targets = pick_targets(&repo, req)?;

    let mut texts: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut work = Vec::new();
    for (theme, release) in targets {
        let file = repo.root.join(&theme.helmfile.path);
        let shown = theme.helmfile.path.display().to_string();
        if !texts.contains_key(&file) {
            let t = hfkit::limits::read_text(&file).map_err(|source| UpgradeError::Io {
                path: shown.clone(),
                source,
            })?;
            texts.insert(file.clone(), t);
        }
        let mut w = Work {
            theme,
            release,
            entry: Entry {
                theme: theme.name.clone(),
                release: release.name.clone(),
                file: shown.clone(),
                chart: release.chart.clone(),
                source: None,
                from: release.version.clone(),
                to: None,
                status: Status::Skipped,
                notes: Vec::new(),
                from_details: None,
                to_details: None,
                inserted: false,
            },
            site: None,
            chart: None,
            constraints: Vec::new(),
        };
        prepare(&mut w, &texts[&file], &repo, req);
        work.push(w);
    }

    // Every source once, in parallel.
    let sources: BTreeSet<Source> = work
        .iter()
        .filter(|w| w.entry.status == Status::UpToDate)
        .filter_map(|w| w.chart.as_ref().map(|c| c.0.clone()))
        .collect();
    let listings = fetch_all(&sources, &req.fetch);
    let repository_errors: Vec<String> = listings
        .values()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();

    let mut edits: BTreeMap<PathBuf, Vec<(usize, TextEdit)>> = BTreeMap::new();
    for (i, w) in work.iter_mut().enumerate() {
        if let Some(edit) = decide(w, &listings, req) {
            let file = repo.root.join(&w.theme.helmfile.path);
            edits.entry(file).or_default().push((i, edit));
        }
    }

    // Apply per file; check the result reads back with the new versions.
    let mut files = Vec::new();
    for (file, list) in edits {
        let before = &texts[&file];
        let only: Vec<TextEdit> = list.iter().map(|(_, e)| e.clone()).collect();
        let after = edit::apply(before, &only);
        let shown = work[list[0].0].entry.file.clone();
        let check = Helmfile::parse(&after, Path::new(&shown), &req.env);
        let bad = match &check {
            Err(e) => Some(format!("the edited file would not read back ({e}); nothing written")),
            Ok(hf) => list.iter().find_map(|(i, _)| {
                let w = &work[*i];
                let got = hf
                    .releases
                    .iter()
                    .find(|r| r.name == w.release.name && r.kube_context == w.release.kube_context && r.namespace == w.release.namespace)
                    .and_then(|r| r.version.clone());
                (got != w.entry.to).then(|| {
                    format!(
                        "after the edit release `{}` would read version {:?}, not {:?}; nothing written",
                        w.release.name, got, w.entry.to
                    )
                })
            }),
        };
        if let Some(message) = bad {
            for (i, _) in &list {
                let e = &mut work[*i].entry;
                e.status = Status::Failed;
                e.notes.push(message.clone());
            }
            continue;
        }
        if !req.dry_run {
            write_atomically(&file, &after).map_err(|source| UpgradeError::Io {
                path: shown.clone(),
                source,
            })?;
        }
        files.push(shown);
    }

    Ok(Report {
        entries: work.into_iter().map(|w| w.entry).collect(),
        repository_errors,
        dry_run: req.dry_run,
        files,
    })
}

/// At most this many repositories are asked at once.
const PARALLEL_FETCHES: usize = 8;

/// Fetches every source once, [`PARALLEL_FETCHES`] at a time.
fn fetch_all(
    sources: &BTreeSet<Source>,
    opts: &FetchOptions,
) -> BTreeMap<Source, Result<Listing, SourceError>> {
    let list: Vec<&Source> = sources.iter().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_FETCHES.min(list.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(src) = list.get(i) else { break };
                let r = source::fetch(src, opts);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((*src).clone(), r);
            });
        }
    });
    let mut out = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for src in sources {
        out.entry(src.clone()).or_insert_with(|| {
            Err(SourceError::Transport {
                url: src.display(),
                message: "the fetching thread stopped unexpectedly".into(),
            })
        });
    }
    out
}

/// Replaces `file` with `text`: a new file created exclusively (random name, `O_EXCL`)
/// in the same directory, given the original's mode, synced, then renamed over it. A
/// predictable name beside the helmfile could be a planted symlink that redirects the
/// write; an exclusive create never follows one.
fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    // Write through a symlinked helmfile to the file it points to.
    let file = &file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".hfapply-tmp")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    // Keep the original's mode (a 0640 helmfile stays 0640; the temp file is 0600).
    let meta = std::fs::metadata(file)?;
    tmp.as_file().set_permissions(meta.permissions())?;
    tmp.as_file().sync_all()?;
    // On error the temp file is removed when `tmp` (inside the error) drops.
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// Reads the release's site, markers, labels and chart; marks it skipped or failed
/// when there is nothing to fetch.
fn prepare(w: &mut Work<'_>, text: &str, repo: &Repo, req: &Request) {
    let fail = |e: &mut Entry, m: String| {
        e.status = Status::Failed;
        e.notes.push(m);
    };
    let skip = |e: &mut Entry, m: String| {
        e.status = Status::Skipped;
        e.notes.push(m);
    };
    let mut repos: Vec<&hfkit::theme::Repository> = w.theme.helmfile.repositories.iter().collect();
    repos.extend(repo.master.repositories.iter());
    let chart = match resolve_chart(&w.release.chart, &repos) {
        Ok(ChartRef::Local) => {
            return skip(
                &mut w.entry,
                format!("local chart `{}`: no repository to ask", w.release.chart),
            )
        }
        Ok(ChartRef::Remote { source, chart }) => (source, chart),
        Err(m) => return fail(&mut w.entry, m),
    };
    w.entry.source = Some(chart.0.display());
    w.chart = Some(chart);
    let site = match edit::locate(text, &w.entry.file, &w.release.name, w.release.line) {
        Ok(s) => s,
        Err(e) => return fail(&mut w.entry, e.to_string()),
    };
    let explicit = matches!(req.target, Target::Exact(_));
    if req.honour_opt_out && !explicit {
        if w.release
            .labels
            .get(LABEL_AUTOUPGRADE)
            .map(|v| v.trim().eq_ignore_ascii_case("false"))
            == Some(true)
        {
            return skip(
                &mut w.entry,
                format!("opted out: label {LABEL_AUTOUPGRADE}: \"false\""),
            );
        }
        if site.marker.as_deref() == Some(MARKER_PIN) {
            return skip(&mut w.entry, "pinned: `# hfapply: pin`".into());
        }
    }
    if !explicit {
        let mut texts = Vec::new();
        if let Some(c) = w.release.labels.get(LABEL_CONSTRAINT) {
            texts.push(c.clone());
        }
        if let Some(m) = site.marker.as_deref().filter(|m| *m != MARKER_PIN) {
            texts.push(m.to_string());
        }
        for t in texts {
            match Constraint::parse(&t) {
                Ok(c) => w.constraints.push(c),
                Err(e) => return fail(&mut w.entry, e.to_string()),
            }
        }
    }
    w.site = Some(site);
    w.entry.status = Status::UpToDate;
}

/// Chooses the version for a prepared release and returns its edit, if any.
fn decide(
    w: &mut Work<'_>,
    listings: &BTreeMap<Source, Result<Listing, SourceError>>,
    req: &Request,
) -> Option<TextEdit> {
    if w.entry.status != Status::UpToDate {
        return None;
    }
    let e = &mut w.entry;
    let (source, chart) = w.chart.clone()?;
    let fail = |e: &mut Entry, m: String| {
        e.status = Status::Failed;
        e.notes.push(m);
        None
    };
    let mut versions: Vec<ChartVersion> = match listings.get(&source) {
        Some(Ok(Listing::Index(index))) => match index.entries.get(&chart) {
            Some(v) => v.clone(),
            None => {
                return fail(
                    e,
                    format!("chart `{chart}` is not in repository {}", source.display()),
                )
            }
        },
        Some(Ok(Listing::Tags(t))) => t.versions.clone(),
        Some(Err(err)) => {
            let explicit_unverified = matches!(req.target, Target::Exact(_)) && !req.verify;
            if !explicit_unverified {
                return fail(e, format!("repository unavailable: {err}"));
            }
            Vec::new()
        }
        None => Vec::new(),
    };
    let current = w.release.version.clone();
    let same = |a: &str, b: &str| {
        a == b
            || matches!((version::parse_version(a), version::parse_version(b)), (Some(x), Some(y)) if x == y)
    };
    e.from_details = current
        .as_deref()
        .and_then(|c| versions.iter().find(|v| same(&v.version, c)).cloned());
    let to_index = match &req.target {
        Target::Exact(v) => {
            let found = versions.iter().position(|c| same(&c.version, v));
            if found.is_none() && req.verify {
                return fail(
                    e,
                    format!("version {v} of `{chart}` is not in {}", source.display()),
                );
            }
            if current.as_deref().is_some_and(|c| c == v) {
                return None;
            }
            e.to = Some(v.clone());
            found
        }
        Target::Latest => {
            let policy = Policy {
                constraints: w.constraints.clone(),
                min_age_secs: req.min_age_secs,
                now: req.now,
            };
            let mut client = match (&source, listings.get(&source)) {
                (Source::Oci { host, name }, Some(Ok(Listing::Tags(t)))) => {
                    Some(OciClient::reusing(host, name, &req.fetch, t))
                }
                (Source::Oci { host, name }, _) => Some(OciClient::new(host, name, &req.fetch)),
                _ => None,
            };
            let mut described = BTreeSet::new();
            loop {
                match version::choose(current.as_deref(), &versions, &policy) {
                    Decision::NotAVersion(m) => {
                        e.status = Status::Skipped;
                        e.notes.push(m);
                        return None;
                    }
                    Decision::UpToDate { notes } => {
                        e.notes.extend(notes);
                        return None;
                    }
                    Decision::Upgrade { index, notes } => {
                        // OCI tags carry no date: read the chosen one's manifest.
                        if let Some(c) = client.as_mut() {
                            if described.insert(index) {
                                if let Err(err) = c.describe(&mut versions[index]) {
                                    return fail(
                                        e,
                                        format!(
                                            "cannot read the manifest of {}: {err}",
                                            versions[index].version
                                        ),
                                    );
                                }
                                if req.min_age_secs.is_some() && versions[index].created.is_some() {
                                    continue;
                                }
                            }
                        }
                        e.notes.extend(notes);
                        e.to = Some(versions[index].version.clone());
                        break Some(index);
                    }
                }
            }
        }
    };
    e.to_details = to_index.map(|i| versions[i].clone());
    let to = e.to.clone()?;
    let site = w.site.as_ref()?;
    match site.edit(&to) {
        Ok(edit) => {
            e.status = Status::Upgraded;
            e.inserted = site.version.is_none() || site.inherited;
            if site.inherited {
                e.notes.push(
                    "the version came from a template; the release now has its own `version:`"
                        .into(),
                );
            }
            Some(edit)
        }
        Err(err) => {
            e.to = None;
            fail(e, err.to_string())
        }
    }
}
