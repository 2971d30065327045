//! Which releases an apply touches, in which order, and their inputs.
//!
//! [`load`] reads the repository for one environment, builds the `needs:` graph over
//! every theme (so needs across themes resolve), keeps the releases of the named
//! themes that match the selectors (plus what they need with `--include-needs`, plus
//! only those whose files changed with `--changed-since`), and cuts them into waves.
//! `installed: false` releases come first, dependents before what they need. Releases
//! labelled [`APPLY_LAST_LABEL`]`: "true"` (and whatever needs them) go into a final
//! phase after every other release.
//!
//! [`prepare`] then reads every input of every planned release — merged values with
//! decrypted secrets, raw manifests, the chart — before anything is applied, so that
//! a bad input stops the run with nothing applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hfkit::helm_settings::{HelmSettings, SetKind};
use hfkit::secrets::SopsDecryptor;
use hfkit::theme::{
    select_in_themes, Graph, Hook, Plan, RawPhase, Release, Repo, Selector, SkippedFile, Theme,
};
use hfkit::values::{merge_into, LayerConfig, Value};
use hfkit_kube::Manifest;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Release label that puts a release in the final phase (the self-hosted runner that
/// runs the apply, for instance): applied after everything else, with the progress of
/// everything else recorded first.
pub const APPLY_LAST_LABEL: &str = "hfapply.io/apply-last";

/// Release label listing objects whose rendered content may differ on every render
/// (`Secret/name,ConfigMap/other`): `diff` shows them as one line, never as a change.
pub const DIFF_IGNORE_LABEL: &str = "hfapply.io/diff-ignore";

/// What to apply: the command line's choice of releases.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Repository root (holds the master `helmfile.yaml`).
    pub root: PathBuf,
    /// Environment.
    pub env: String,
    /// Theme names (the directory name of `helmfiles/<theme>/`) or theme directories.
    pub themes: Vec<String>,
    /// Every theme.
    pub all: bool,
    /// helmfile label selectors (`-l tier=db,name!=x`); any of them matches.
    pub selectors: Vec<String>,
    /// Add what the selected releases need.
    pub include_needs: bool,
    /// Keep only releases whose files changed since this git revision.
    pub changed_since: Option<String>,
}

/// The planned releases.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Every theme of the repository for the environment.
    pub themes: Vec<Theme>,
    /// The graph of every release of `themes`.
    pub graph: Graph,
    /// Environment.
    pub env: String,
    /// Waves of `installed: false` releases, dependents first: removed before
    /// anything is installed or upgraded, as helmfile deletes them.
    pub removals: Plan,
    /// Waves of ordinary releases.
    pub plan: Plan,
    /// Waves of the final phase ([`APPLY_LAST_LABEL`]).
    pub last: Plan,
    /// Things a person should know (skipped themes, moved releases).
    pub warnings: Vec<String>,
    /// How the master helmfile (when it is no theme) differs from helmfile, as
    /// `file:line: key: text`, for `lint`.
    pub master_notes: Vec<String>,
}

impl Planned {
    /// Every planned node, ordinary waves first.
    pub fn nodes(&self) -> impl Iterator<Item = usize> + '_ {
        self.removals
            .waves
            .iter()
            .chain(self.plan.waves.iter())
            .chain(self.last.waves.iter())
            .flatten()
            .copied()
    }

    /// `theme/release` of a node.
    pub fn label(&self, node: usize) -> String {
        let n = &self.graph.nodes()[node];
        format!("{}/{}", self.themes[n.at.theme].name, n.release.name)
    }
}

/// Reads the repository and plans the releases `target` selects.
pub fn load(target: &Target) -> Result<Planned> {
    let repo = Repo::load(&target.root, &target.env)?;
    let mut warnings: Vec<String> = repo
        .skipped
        .iter()
        .map(|s| format!("theme {} skipped: {}", s.path, s.reason))
        .collect();
    // A master without releases is no theme: its notes are kept here for lint (which
    // shows the themes' own).
    let mut master_notes = Vec::new();
    if repo.master.releases.is_empty() {
        master_notes.extend(repo.master.notes.iter().map(|n| {
            format!(
                "{}:{}: {}: {}",
                repo.master.path.display(),
                n.line,
                n.key,
                n.text
            )
        }));
    }
    let themes = repo.themes;
    let graph = Graph::build(&themes)?;
    let chosen: BTreeSet<usize> = if target.all {
        (0..themes.len()).collect()
    } else if target.themes.is_empty() {
        return Err(Error::NoTarget);
    } else {
        let mut out = BTreeSet::new();
        for name in &target.themes {
            out.insert(find_theme(&themes, &target.root, name)?);
        }
        out
    };
    let selectors = target
        .selectors
        .iter()
        .map(|s| Selector::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut picked: BTreeSet<usize> = select_in_themes(&graph, &themes, &selectors, false)
        .into_iter()
        .filter(|&i| chosen.contains(&graph.nodes()[i].at.theme))
        .collect();
    if let Some(rev) = &target.changed_since {
        let changed = changed_files(&target.root, rev)?;
        picked.retain(|&i| {
            let n = &graph.nodes()[i];
            release_touched(&themes[n.at.theme], &n.release, &target.env, &changed)
        });
    }
    if target.include_needs {
        picked = graph.with_needs(&picked);
    }
    // The final phase is closed under dependents: a release needing an apply-last one
    // cannot run before it.
    let mut last: BTreeSet<usize> = picked
        .iter()
        .copied()
        .filter(|&i| is_apply_last(&graph.nodes()[i].release))
        .collect();
    loop {
        let more: Vec<usize> = picked
            .iter()
            .copied()
            .filter(|i| !last.contains(i))
            .filter(|&i| graph.nodes()[i].needs.iter().any(|n| last.contains(n)))
            .collect();
        if more.is_empty() {
            break;
        }
        for i in more {
            warnings.push(format!(
                "{} needs an apply-last release: applied in the final phase too",
                graph.nodes()[i].id
            ));
            last.insert(i);
        }
    }
    let removals: BTreeSet<usize> = picked
        .iter()
        .copied()
        .filter(|&i| !graph.nodes()[i].release.installed)
        .collect();
    last.retain(|i| !removals.contains(i));
    let first: BTreeSet<usize> = picked
        .iter()
        .copied()
        .filter(|i| !last.contains(i) && !removals.contains(i))
        .collect();
    Ok(Planned {
        removals: graph.plan(&removals).reversed(),
        plan: graph.plan(&first),
        last: graph.plan(&last),
        graph,
        themes,
        env: target.env.clone(),
        warnings,
        master_notes,
    })
}

/// Whether a release carries [`APPLY_LAST_LABEL`]`: "true"`.
pub fn is_apply_last(release: &Release) -> bool {
    release
        .labels
        .get(APPLY_LAST_LABEL)
        .is_some_and(|v| v == "true")
}

fn find_theme(themes: &[Theme], root: &Path, name: &str) -> Result<usize> {
    if let Some(i) = themes.iter().position(|t| t.name == name) {
        return Ok(i);
    }
    // A directory (`helmfiles/media`) names the theme living there.
    let as_dir = [PathBuf::from(name), root.join(name)]
        .into_iter()
        .filter_map(|p| p.canonicalize().ok())
        .find(|p| p.is_dir());
    if let Some(dir) = as_dir {
        if let Some(i) = themes
            .iter()
            .position(|t| t.dir.canonicalize().ok().as_deref() == Some(dir.as_path()))
        {
            return Ok(i);
        }
    }
    Err(Error::UnknownTheme {
        name: name.to_string(),
        known: themes
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Files changed since `rev` (committed or not), absolute.
fn changed_files(root: &Path, rev: &str) -> Result<Vec<PathBuf>> {
    let git = |args: &[&str]| -> Result<String> {
        let out = hfkit_sops::process::command("git")
            .current_dir(root)
            .args(args)
            .output()
            .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(Error::Git(
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("git failed")
                    .to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(top.trim());
    let names = git(&["diff", "--name-only", rev, "--", "."])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "--full-name"])?;
    Ok(names
        .lines()
        .chain(untracked.lines())
        .filter(|l| !l.is_empty())
        .map(|l| canon(&top.join(l)))
        .collect())
}

fn canon(p: &Path) -> PathBuf {
    // A deleted file cannot be canonicalised; its directory usually can.
    p.canonicalize()
        .unwrap_or_else(|_| match (p.parent(), p.file_name()) {
            (Some(d), Some(f)) => d.canonicalize().map(|d| d.join(f)).unwrap_or(p.into()),
            _ => p.to_path_buf(),
        })
}

/// Whether any of `changed` is an input of the release: its helmfile, a layer of its
/// stack, anything under `values/<release>/`, its local chart.
fn release_touched(theme: &Theme, release: &Release, env: &str, changed: &[PathBuf]) -> bool {
    let mut inputs: Vec<PathBuf> = vec![
        canon(&theme.helmfile_path()),
        canon(&theme.dir.join("values").join(&release.name)),
    ];
    if let Ok(config) = LayerConfig::discover(&theme.dir) {
        if let Ok(stack) = release.stack(&theme.dir, env, &config) {
            inputs.extend(stack.stack.layers.iter().map(|l| canon(&l.path)));
        }
    }
    if let ChartKind::Local(dir) = chart_kind(&theme.dir, &release.chart) {
        inputs.push(canon(&dir));
    }
    changed
        .iter()
        .any(|c| inputs.iter().any(|i| c == i || c.starts_with(i)))
}

trait HelmfilePath {
    fn helmfile_path(&self) -> PathBuf;
}

impl HelmfilePath for Theme {
    fn helmfile_path(&self) -> PathBuf {
        // `helmfile.path` is relative to the repository root for sub-helmfiles.
        let file = self.helmfile.path.file_name().unwrap_or_default();
        self.dir.join(file)
    }
}

/// Where a chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartKind {
    /// A chart directory on disk.
    Local(PathBuf),
    /// `oci://...`.
    Oci(String),
    /// `repo/chart` from a declared repository.
    Repo {
        /// Repository name.
        repo: String,
        /// Chart name.
        chart: String,
    },
}

/// Classifies a release's `chart:` relative to its theme directory.
pub fn chart_kind(theme_dir: &Path, chart: &str) -> ChartKind {
    if chart.starts_with("oci://") {
        return ChartKind::Oci(chart.to_string());
    }
    let local = chart.starts_with("./")
        || chart.starts_with("../")
        || chart.starts_with('/')
        || theme_dir.join(chart).is_dir()
        || !chart.contains('/');
    if local {
        return ChartKind::Local(theme_dir.join(chart));
    }
    let (repo, name) = chart.split_once('/').unwrap_or(("", chart));
    ChartKind::Repo {
        repo: repo.to_string(),
        chart: name.to_string(),
    }
}

/// Everything needed to apply one release, read and checked.
pub struct Prepared {
    /// Index in [`Planned::graph`].
    pub node: usize,
    /// Theme name.
    pub theme: String,
    /// Release name.
    pub name: String,
    /// `namespace:`; `None` means the connection's default namespace.
    pub namespace: Option<String>,
    /// `installed:` (false: uninstall if present).
    pub installed: bool,
    /// The chart argument for helm (an absolute directory for local charts).
    pub chart_arg: String,
    /// `version:`.
    pub version: Option<String>,
    /// `kubeContext:` of the release.
    pub kube_context: Option<String>,
    /// Repository to add before helm can use a `repo/chart` reference: (name, url).
    pub repository: Option<(String, String)>,
    /// The merged values, decrypted: only ever written to helm's standard input.
    pub values_yaml: String,
    /// The `pre` raw manifests of `values/<release>/raw/` for the environment
    /// (decrypted); see [`Release::raw_manifests`].
    pub pre: Vec<Manifest>,
    /// The `post` raw manifests, likewise.
    pub post: Vec<Manifest>,
    /// Labels of the release.
    pub labels: BTreeMap<String, String>,
    /// helm settings (`helmDefaults` under the release's own).
    pub helm: HelmSettings,
    /// The chart is an OCI reference (helmfile passes `--verify` only for others).
    pub oci: bool,
    /// The release's hooks.
    pub hooks: Vec<Hook>,
    /// The theme directory: hooks run there.
    pub theme_dir: PathBuf,
    /// The environment.
    pub env: String,
    /// The fingerprint material (secrets included): only ever fed to the keyed hash.
    pub material: Vec<u8>,
    /// Missing `values:`/`secrets:` files skipped under `missingFileHandler` `Warn`,
    /// `Info` or `Debug`, for the caller to print at that level.
    pub skipped_files: Vec<SkippedFile>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values and material hold decrypted secrets: never printed.
        f.debug_struct("Prepared")
            .field("theme", &self.theme)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// `theme/release`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.theme, self.name)
    }
}

/// Reads every input of every planned release (in plan order), decrypting secrets
/// in memory; the first bad input is the error and nothing has been applied.
pub fn prepare(planned: &Planned) -> Result<Vec<Prepared>> {
    let decryptor = SopsDecryptor::from_env();
    // Raw manifests need a keyring only when one of them is encrypted; the keyring is
    // built on first need so that repositories without secrets need no keys.
    let mut keyring: Option<hfkit_sops::Keyring> = None;
    let mut out = Vec::new();
    let mut themes_checked = BTreeSet::new();
    for node in planned.nodes() {
        let n = &planned.graph.nodes()[node];
        let theme = &planned.themes[n.at.theme];
        if themes_checked.insert(n.at.theme) {
            check_theme_raw(theme)?;
        }
        out.push(prepare_one(
            planned,
            node,
            theme,
            &n.release,
            &format!("{}:{}", n.file, n.release.line),
            &decryptor,
            &mut keyring,
        )?);
    }
    Ok(out)
}

/// A theme-level `raw/` directory (next to the theme's helmfile) is refused: hfapply
/// applies raw manifests per release, into the release's namespace and raw set, and
/// a file there would otherwise be dropped silently.
fn check_theme_raw(theme: &Theme) -> Result<()> {
    let files = theme.theme_raw_files()?;
    let Some(first) = files.first() else {
        return Ok(());
    };
    Err(Error::Theme(hfkit::theme::ThemeError::Raw {
        path: first.display().to_string(),
        message: format!(
            "theme-level raw manifests ({} file(s) in {}) are not applied by hfapply; move \
             each to `values/<release>/raw/` of the release it belongs with (applied into \
             that release's namespace, before or after it)",
            files.len(),
            theme.dir.join("raw").display()
        ),
    }))
}

fn prepare_one(
    planned: &Planned,
    node: usize,
    theme: &Theme,
    release: &Release,
    file: &str,
    decryptor: &SopsDecryptor,
    keyring: &mut Option<hfkit_sops::Keyring>,
) -> Result<Prepared> {
    let label = format!("{}/{}", theme.name, release.name);
    let bad = |message: String| Error::Input {
        release: label.clone(),
        file: file.to_string(),
        message,
    };
    let mut m = Material::default();
    m.field("tool", crate::TOOL_VERSION.as_bytes());
    m.field("name", release.name.as_bytes());
    m.field(
        "namespace",
        release.namespace.as_deref().unwrap_or("").as_bytes(),
    );
    m.field(
        "context",
        release.kube_context.as_deref().unwrap_or("").as_bytes(),
    );
    m.field("installed", &[release.installed as u8]);
    // helm settings and hooks decide what an apply does: changing one is a change.
    m.field("helm", release.helm.fingerprint_text().as_bytes());
    m.field("hooks", &crate::hooks::material(&release.hooks, &theme.dir));
    let mut prepared = Prepared {
        node,
        theme: theme.name.clone(),
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        installed: release.installed,
        chart_arg: release.chart.clone(),
        version: release.version.clone(),
        kube_context: release.kube_context.clone(),
        repository: None,
        values_yaml: String::new(),
        pre: Vec::new(),
        post: Vec::new(),
        labels: release.labels.clone(),
        helm: release.helm.clone(),
        oci: false,
        hooks: release.hooks.clone(),
        theme_dir: theme.dir.clone(),
        env: planned.env.clone(),
        material: Vec::new(),
        skipped_files: Vec::new(),
    };
    // helmfile runs helm in the helmfile's directory: paths it passes on are relative
    // to it, and a --set-file's content is an input like a values file.
    for set in &mut prepared.helm.set {
        if let SetKind::File(f) = &mut set.value {
            let path = theme.dir.join(&*f);
            let bytes = hfkit::limits::read_limited(&path, 64 << 20)
                .map_err(|e| bad(format!("set {}: file {}: {e}", set.name, path.display())))?;
            m.field("setFile", &bytes);
            *f = path.canonicalize().unwrap_or(path).display().to_string();
        }
    }
    if let Some(r) = &mut prepared.helm.post_renderer {
        if r.contains('/') && Path::new(r.as_str()).is_relative() {
            *r = theme.dir.join(&*r).display().to_string();
        }
    }
    if !release.installed {
        // Nothing of an uninstalled release is rendered: its inputs need not exist.
        prepared.material = m.finish();
        return Ok(prepared);
    }
    m.field("chart", release.chart.as_bytes());
    m.field(
        "version",
        release.version.as_deref().unwrap_or("").as_bytes(),
    );
    match chart_kind(&theme.dir, &release.chart) {
        ChartKind::Local(dir) => {
            if !dir.join("Chart.yaml").is_file() {
                return Err(bad(format!(
                    "chart `{}` not found: {} has no Chart.yaml",
                    release.chart,
                    dir.display()
                )));
            }
            let dir = dir.canonicalize().unwrap_or(dir);
            m.field("chartDigest", &dir_digest(&dir).map_err(bad)?);
            prepared.chart_arg = dir.display().to_string();
        }
        ChartKind::Oci(_) => prepared.oci = true,
        ChartKind::Repo { repo, .. } => {
            let declared = theme
                .helmfile
                .repositories
                .iter()
                .find(|r| r.name == repo)
                .ok_or_else(|| {
                    bad(format!(
                        "chart `{}`: repository `{repo}` is not declared under `repositories:` (nor is `{}` a chart directory)",
                        release.chart, release.chart
                    ))
                })?;
            m.field("repoUrl", declared.url.as_bytes());
            if declared.oci {
                prepared.oci = true;
                prepared.chart_arg = format!(
                    "oci://{}/{}",
                    declared.url.trim_end_matches('/'),
                    release.chart.split_once('/').map(|x| x.1).unwrap_or("")
                );
            } else {
                prepared.repository = Some((declared.name.clone(), declared.url.clone()));
            }
        }
    }
    let config = LayerConfig::discover(&theme.dir).map_err(|e| bad(e.to_string()))?;
    let stack = release
        .stack(&theme.dir, &planned.env, &config)
        .map_err(|e| bad(e.to_string()))?;
    prepared.skipped_files = release
        .missing_files(&theme.helmfile, &stack)
        .map_err(bad)?;
    let merged = stack
        .stack
        .load(decryptor)
        .map_err(|e| bad(e.to_string()))?;
    // Inline `values:` maps sit between the files as helmfile passes them; the stack
    // merged only the files, so merge again with the inline maps in place.
    let mut value = Value::empty_map();
    let mut inline = stack.inline.iter().peekable();
    for (i, layer) in merged.layer_values.iter().enumerate() {
        while let Some(v) = inline.next_if(|v| v.after_layers <= i) {
            merge_into(&mut value, v.value.clone());
        }
        if let Some(layer) = layer {
            merge_into(&mut value, layer.clone());
        }
    }
    for v in inline {
        merge_into(&mut value, v.value.clone());
    }
    prepared.values_yaml = hfkit::values::to_yaml(&value);
    m.field("values", prepared.values_yaml.as_bytes());
    for (phase, kube_phase) in [
        (RawPhase::Pre, hfkit_kube::Phase::Pre),
        (RawPhase::Post, hfkit_kube::Phase::Post),
    ] {
        let files = release
            .raw_manifests(theme, &planned.env, phase)
            .map_err(|e| bad(e.to_string()))?;
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let manifests = if paths.is_empty() {
            Vec::new()
        } else {
            if keyring.is_none() && files.iter().any(|f| f.encrypted) {
                *keyring = Some(
                    hfkit_sops::Keyring::from_env().map_err(|e| bad(format!("sops keys: {e}")))?,
                );
            }
            let empty = hfkit_sops::Keyring::new();
            // Explicit files: hfkit-kube takes each as it is (it refuses one named as a
            // secret that is not encrypted).
            hfkit_kube::load(&paths, Some(kube_phase), keyring.as_ref().unwrap_or(&empty))
                .map_err(|e| bad(e.to_string()))?
        };
        for mf in &manifests {
            m.field("raw", mf.object.to_string().as_bytes());
        }
        match phase {
            RawPhase::Pre => prepared.pre = manifests,
            RawPhase::Post => prepared.post = manifests,
        }
    }
    prepared.material = m.finish();
    Ok(prepared)
}

/// The chart repositories `prepared` uses (`repo/chart` references), by name, each
/// once: what must be registered with helm before rendering.
pub fn repositories<'a>(
    prepared: impl IntoIterator<Item = &'a Prepared>,
) -> BTreeMap<String, String> {
    prepared
        .into_iter()
        .filter_map(|p| p.repository.clone())
        .collect()
}

/// Length-prefixed fields, so that no two different inputs give the same bytes.
#[derive(Default)]
struct Material(Vec<u8>);

impl Material {
    fn field(&mut self, name: &str, value: &[u8]) {
        for part in [name.as_bytes(), value] {
            self.0.extend_from_slice(&(part.len() as u64).to_be_bytes());
            self.0.extend_from_slice(part);
        }
    }

    fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// SHA-256 over the relative paths and contents of every file under `dir` (sorted,
/// `.git` left out): a chart's own content, which is not secret.
fn dir_digest(dir: &Path) -> std::result::Result<Vec<u8>, String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("{}: {e}", d.display()))?;
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f);
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        h.update((rel.as_os_str().len() as u64).to_be_bytes());
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().to_vec())
}

/// The connection flags for `prepared`: releases with a `kubeContext:` (theirs or
/// `helmDefaults.kubeContext`) choose the context when `--context` is not given. The
/// state (records, raw manifests, lock) lives in one cluster per run, so releases of
/// several contexts, or of a context other than `--context`, are refused.
pub fn kube_for(
    kube: &hfkit_kube::KubeOptions,
    prepared: &[Prepared],
) -> Result<hfkit_kube::KubeOptions> {
    let contexts: BTreeSet<&str> = prepared
        .iter()
        .filter_map(|p| p.kube_context.as_deref())
        .collect();
    let mut out = kube.clone();
    match (contexts.len(), &kube.context) {
        (0, _) => {}
        (1, None) => out.context = contexts.first().map(|c| c.to_string()),
        (1, Some(c)) if contexts.contains(c.as_str()) => {}
        _ => {
            return Err(Error::Other(format!(
                "the selected releases use kube context(s) {}{}; apply one context at a time (--context and -l)",
                contexts.into_iter().collect::<Vec<_>>().join(", "),
                kube.context
                    .as_deref()
                    .map(|c| format!(", not --context {c}"))
                    .unwrap_or_default()
            )))
        }
    }
    Ok(out)
}
