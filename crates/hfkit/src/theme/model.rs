//! The helmfile model: files, themes and the repository, read with our own YAML
//! parser so that every error names file:line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::keys::{KeyStatus, Place};
use super::selector::Selector;
use super::template::{self, TemplateContext, SUPPORTED};
use super::ThemeError;
use crate::helm_settings::{HelmSettings, SetKind, SetValue};
use crate::names;
use crate::values::{parse_documents, LayerConfig, LayerRequest, Node, Stack, Value};

/// The file names a theme directory's helmfile may have, in the order looked for.
const HELMFILE_NAMES: [&str; 2] = ["helmfile.yaml", "helmfile.yaml.gotmpl"];

/// A chart repository (`repositories:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The name charts are referred by (`bitnami/plex`).
    pub name: String,
    /// The repository URL (an OCI registry host when `oci`).
    pub url: String,
    /// An OCI registry rather than an index.yaml repository.
    pub oci: bool,
    /// 1-based line of the entry.
    pub line: u32,
}

/// One entry of a release's `values:`.
#[derive(Debug, Clone, PartialEq)]
pub enum ValuesEntry {
    /// A values file, relative to the theme directory (templates evaluated).
    File(String),
    /// Values written inline in the helmfile (templates evaluated in its strings).
    Inline(Value),
}

/// A release as declared in a helmfile, with templates evaluated for the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The release name.
    pub name: String,
    /// The target namespace, when set.
    pub namespace: Option<String>,
    /// The chart reference (`repo/chart`, `oci://...` or a path relative to the theme).
    pub chart: String,
    /// The chart version or constraint, when set.
    pub version: Option<String>,
    /// Labels for selectors (`commonLabels` included).
    pub labels: BTreeMap<String, String>,
    /// `needs:` as written: `name`, `namespace/name` or `kubecontext/namespace/name`.
    pub needs: Vec<String>,
    /// False to delete the release (`installed: false`); default true.
    pub installed: bool,
    /// helm settings: the release's own over `helmDefaults` (`createNamespace`
    /// included).
    pub helm: HelmSettings,
    /// `hooks:`, in definition order.
    pub hooks: Vec<Hook>,
    /// `kubeContext:`, when set.
    pub kube_context: Option<String>,
    /// `values:` entries in order.
    pub values: Vec<ValuesEntry>,
    /// `secrets:` files (sops-encrypted), relative to the theme directory.
    pub secrets: Vec<String>,
    /// `missingFileHandler:` (`Error`, `Warn`, `Info`, `Debug`), when set.
    pub missing_file_handler: Option<String>,
    /// 1-based line where the release is declared.
    pub line: u32,
}

/// A sub-helmfile entry of `helmfiles:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubHelmfile {
    /// The path or glob, relative to the listing file's directory.
    pub path: String,
    /// `selectors:` given to the sub-helmfile; `Some(vec![])` (written `selectors: []`)
    /// selects every release, `None` leaves the command line's selectors in force.
    pub selectors: Option<Vec<String>>,
    /// `selectorsInherited:`.
    pub selectors_inherited: bool,
    /// 1-based line of the entry.
    pub line: u32,
}

/// One helmfile, all of its documents merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Helmfile {
    /// The file, as shown in messages (relative to the repository root when loaded
    /// through [`Repo::load`]).
    pub path: PathBuf,
    /// `repositories:`.
    pub repositories: Vec<Repository>,
    /// The names under `environments:`, in order.
    pub environments: Vec<String>,
    /// `releases:`, in declaration order.
    pub releases: Vec<Release>,
    /// `helmfiles:`.
    pub helmfiles: Vec<SubHelmfile>,
    /// Top-level `missingFileHandler:`, when set.
    pub missing_file_handler: Option<String>,
    /// `helmDefaults.kubeContext`, when set: the kube context of releases without
    /// their own.
    pub default_kube_context: Option<String>,
    /// `helmDefaults:` helm settings (already applied under each release's own).
    pub helm_defaults: HelmSettings,
    /// Top-level `hooks:`: run once for the file on `prepare` and `cleanup`.
    pub hooks: Vec<Hook>,
    /// Keys accepted where hfapply differs from helmfile, for `lint` to say so.
    pub notes: Vec<KeyNote>,
}

/// A key accepted where hfapply differs from helmfile (see [`super::keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNote {
    /// 1-based line of the key.
    pub line: u32,
    /// The key path (`releases[0].disableValidation`).
    pub key: String,
    /// How hfapply differs.
    pub text: &'static str,
}

/// A helmfile hook (`hooks:` of a release or of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `name:`, or the command when unset (as helmfile names it).
    pub name: String,
    /// `events:`, matched case-sensitively.
    pub events: Vec<String>,
    /// `command:` after the file pass; `.Event`, `.Release` and `.Environment` are
    /// evaluated when it runs.
    pub command: String,
    /// `args:` after the file pass, evaluated as `command`.
    pub args: Vec<String>,
    /// `showlogs:`.
    pub showlogs: bool,
    /// 1-based line of the hook.
    pub line: u32,
}

/// The events a hook may name, as helmfile 1.7 fires them.
pub const HOOK_EVENTS: [&str; 7] = [
    "prepare",
    "preapply",
    "presync",
    "postsync",
    "preuninstall",
    "postuninstall",
    "cleanup",
];

/// A theme: one `helmfiles/<theme>/helmfile.yaml` and its directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The directory's name (`media`), or `.` for the master helmfile's own releases.
    pub name: String,
    /// The theme directory, which values paths are relative to.
    pub dir: PathBuf,
    /// The theme's helmfile.
    pub helmfile: Helmfile,
    /// `selectors:` of the `helmfiles:` entry that listed it, which replace the
    /// command line's for this theme (see [`select_in_themes`](super::select_in_themes)).
    pub selectors: Option<Vec<Selector>>,
}

/// A theme left out of a run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTheme {
    /// The sub-helmfile path as listed.
    pub path: String,
    /// Why (environment not declared, file missing).
    pub reason: String,
}

/// A repository: the master helmfile and its themes in the master's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    /// The repository root (the master helmfile's directory).
    pub root: PathBuf,
    /// The master helmfile.
    pub master: Helmfile,
    /// Themes in the order the master lists them (a theme's own sub-helmfiles come
    /// before it, as helmfile runs them); the master's own releases, if any, last.
    pub themes: Vec<Theme>,
    /// Listed themes left out: environment not declared there, or file missing.
    pub skipped: Vec<SkippedTheme>,
}

/// A release's values stack and its inline `values:` entries.
#[derive(Debug, Clone)]
pub struct ReleaseStack {
    /// The files, lowest precedence first.
    pub stack: Stack,
    /// Inline values maps, each to be merged after the given number of plain layers
    /// of `stack` (helmfile passes each `values:` entry as one `-f`, in order).
    pub inline: Vec<InlineValues>,
}

/// An inline `values:` map and its place in the stack.
#[derive(Debug, Clone)]
pub struct InlineValues {
    /// How many layers of the stack precede it.
    pub after_layers: usize,
    /// The values.
    pub value: Value,
}

impl Release {
    /// The values stack for `env`: the release's `values:`/`secrets:` files when it
    /// has any, otherwise the layer patterns of `config`.
    pub fn stack(
        &self,
        theme_dir: &Path,
        env: &str,
        config: &LayerConfig,
    ) -> Result<ReleaseStack, ThemeError> {
        if self.values.is_empty() && self.secrets.is_empty() {
            let request = LayerRequest {
                release: self.name.clone(),
                env: env.to_string(),
                namespace: self.namespace.clone(),
            };
            let stack = Stack::resolve(theme_dir, config, &request)?;
            return Ok(ReleaseStack {
                stack,
                inline: Vec::new(),
            });
        }
        let mut files = Vec::new();
        let mut inline = Vec::new();
        for entry in &self.values {
            match entry {
                ValuesEntry::File(f) => files.push(f.clone()),
                ValuesEntry::Inline(v) => inline.push(InlineValues {
                    after_layers: files.len(),
                    value: v.clone(),
                }),
            }
        }
        Ok(ReleaseStack {
            stack: Stack::from_files(theme_dir, &files, &self.secrets),
            inline,
        })
    }
}

impl Helmfile {
    /// Reads a helmfile for `env`; `shown` is the path used in messages.
    pub fn load(path: &Path, shown: &Path, env: &str) -> Result<Helmfile, ThemeError> {
        let text = crate::limits::read_text(path).map_err(|source| ThemeError::Read {
            path: shown.display().to_string(),
            source,
        })?;
        Helmfile::parse(&text, shown, env)
    }

    /// Parses a helmfile's text for `env`; `path` is used in messages.
    pub fn parse(text: &str, path: &Path, env: &str) -> Result<Helmfile, ThemeError> {
        let mut reader = Reader {
            path: path.display().to_string(),
            env,
            pre_rendered: false,
        };
        let docs = reader.documents(text)?;
        let mut hf = Helmfile {
            path: path.to_path_buf(),
            repositories: Vec::new(),
            environments: Vec::new(),
            releases: Vec::new(),
            helmfiles: Vec::new(),
            missing_file_handler: None,
            default_kube_context: None,
            helm_defaults: HelmSettings::default(),
            hooks: Vec::new(),
            notes: Vec::new(),
        };
        // helmfile 1.x renders only `*.gotmpl` files as templates; 0.x (which the seed
        // was written for) rendered every helmfile.yaml. We render both, and say where
        // helmfile 1.x would pass the escaped form on literally.
        let is_gotmpl = path.extension().is_some_and(|e| e == "gotmpl");
        if let (false, Some(at)) = (is_gotmpl, text.find("{{`")) {
            hf.notes.push(KeyNote {
                line: 1 + text[..at].matches('\n').count() as u32,
                key: "{{`...`}}".into(),
                text: "hfapply renders this file as helmfile 0.x did; helmfile 1.x renders only \
                       *.gotmpl files and would pass the escaped form on literally (rename \
                       the file to helmfile.yaml.gotmpl to run it with helmfile 1.x)",
            });
        }
        let mut override_namespace = None;
        let mut override_kube_context = None;
        let mut release_items = Vec::new();
        let mut common_labels = BTreeMap::new();
        for doc in docs.into_iter().flatten() {
            let map = match &doc.node {
                Node::Map(m) => m,
                Node::Scalar(s) if s.is_null() => continue,
                _ => return Err(reader.at(
                    doc.origin.line,
                    "the top level must be a map of helmfile keys (releases, environments, ...)",
                )),
            };
            for (key, value) in map {
                let line = value.origin.line;
                let status = reader.status(Place::TopLevel, key, key, line)?;
                if let KeyStatus::Different(text) = status {
                    hf.notes.push(KeyNote {
                        line,
                        key: key.clone(),
                        text,
                    });
                }
                match key.as_str() {
                    // Noted above; nothing of them changes what is applied.
                    "values" | "missingFileHandlerConfig" | "lockFilePath" | "llm" => {}
                    "repositories" => reader.repositories(value, &mut hf.repositories)?,
                    "environments" => {
                        reader.environments(value, &mut hf.environments, &mut hf.notes)?
                    }
                    // Releases are read after the whole file: helmDefaults may follow them.
                    "releases" => {
                        release_items.extend(reader.list(value, "releases")?.iter().cloned())
                    }
                    "helmfiles" => reader.helmfiles(value, &mut hf.helmfiles, &mut hf.notes)?,
                    "templates" => {
                        // Used through anchors; only its shape is checked.
                        if !is_null(value) && value.as_map().is_none() {
                            return Err(reader
                                .at(line, "templates must be a map of named release templates"));
                        }
                    }
                    "commonLabels" => {
                        common_labels.extend(reader.string_map(value, "commonLabels", false)?)
                    }
                    "missingFileHandler" => {
                        hf.missing_file_handler = super::missing::validate(
                            reader.opt_string(value, "missingFileHandler", false)?,
                            "missingFileHandler",
                        )
                        .map_err(|m| reader.at(value.origin.line, &m))?
                    }
                    "helmDefaults" => {
                        for (k, v) in reader.map(value, "helmDefaults")?.into_iter().flatten() {
                            let what = format!("helmDefaults.{k}");
                            let status =
                                reader.status(Place::HelmDefaults, k, &what, v.origin.line)?;
                            if let KeyStatus::Different(text) = status {
                                hf.notes.push(KeyNote {
                                    line: v.origin.line,
                                    key: what,
                                    text,
                                });
                                continue;
                            }
                            if k == "kubeContext" {
                                hf.default_kube_context = reader.opt_string(v, &what, false)?;
                            } else if !reader.setting(k, v, &what, None, &mut hf.helm_defaults)? {
                                return Err(reader.at(
                                    v.origin.line,
                                    &format!(
                                        "{what} is not read by hfapply (a bug: please report it)"
                                    ),
                                ));
                            }
                        }
                    }
                    "apiVersions" | "kubeVersion" => {
                        reader.setting(key, value, key, None, &mut hf.helm_defaults)?;
                    }
                    "hooks" => hf.hooks = reader.hooks(value, "hooks", &mut hf.notes)?,
                    "namespace" => override_namespace = reader.opt_string(value, key, false)?,
                    "kubeContext" => {
                        override_kube_context = reader.opt_string(value, key, false)?
                    }
                    other => {
                        return Err(reader.at(
                            line,
                            &format!("{other} is not read by hfapply (a bug: please report it)"),
                        ))
                    }
                }
            }
        }
        for (i, item) in release_items.iter().enumerate() {
            let mut release = reader.release(item, i, &hf.helm_defaults, &mut hf.notes)?;
            if let Some(ns) = &override_namespace {
                release.namespace = Some(ns.clone());
            }
            if let Some(kc) = &override_kube_context {
                release.kube_context = Some(kc.clone());
            }
            hf.releases.push(release);
        }
        for release in &mut hf.releases {
            // As helmfile: commonLabels override the release's own labels.
            release
                .labels
                .extend(common_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            if release.kube_context.is_none() {
                release.kube_context.clone_from(&hf.default_kube_context);
            }
        }
        Ok(hf)
    }

    /// Whether `env` can be used with this file: `default`, or declared.
    pub fn defines_env(&self, env: &str) -> bool {
        env == "default" || self.environments.iter().any(|e| e == env)
    }

    fn check_env(&self, env: &str) -> Result<(), ThemeError> {
        if self.defines_env(env) {
            return Ok(());
        }
        Err(ThemeError::UndefinedEnvironment {
            path: self.path.display().to_string(),
            env: env.to_string(),
            known: if self.environments.is_empty() {
                "none".to_string()
            } else {
                self.environments.join(", ")
            },
        })
    }
}

impl Theme {
    /// Reads the theme in `dir` (its `helmfile.yaml`) for `env`; fails when `env` is
    /// not declared there.
    pub fn load(dir: &Path, env: &str) -> Result<Theme, ThemeError> {
        names::validate_env(env)?;
        let file = helmfile_in(dir);
        Theme::load_file(&file, &file, env)
    }

    fn load_file(file: &Path, shown: &Path, env: &str) -> Result<Theme, ThemeError> {
        let helmfile = Helmfile::load(file, shown, env)?;
        helmfile.check_env(env)?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| ".".to_string());
        Ok(Theme {
            name,
            dir,
            helmfile,
            selectors: None,
        })
    }
}

impl Repo {
    /// Reads the master helmfile in `root` and every theme it lists, for `env`.
    /// Themes that do not declare `env` are skipped (as helmfile skips them); it is an
    /// error when none does.
    pub fn load(root: &Path, env: &str) -> Result<Repo, ThemeError> {
        names::validate_env(env)?;
        let file = helmfile_in(root);
        let shown = PathBuf::from(file.file_name().unwrap_or_default());
        let master = Helmfile::load(&file, &shown, env)?;
        let mut repo = Repo {
            root: root.to_path_buf(),
            master: master.clone(),
            themes: Vec::new(),
            skipped: Vec::new(),
        };
        let mut visiting = HashSet::new();
        visiting.insert(file.canonicalize().unwrap_or(file.clone()));
        repo.visit(&master, Path::new(""), env, &mut visiting)?;
        if let (true, Some(hook)) = (master.releases.is_empty(), master.hooks.first()) {
            return Err(ThemeError::At {
                path: shown.display().to_string(),
                line: hook.line,
                message: "hooks: in a helmfile without releases are not run by hfapply yet; \
                          move them into the helmfiles it lists"
                    .to_string(),
            });
        }
        if !master.releases.is_empty() {
            master.check_env(env)?;
            repo.themes.push(Theme {
                name: ".".to_string(),
                dir: root.to_path_buf(),
                helmfile: master.clone(),
                selectors: None,
            });
        }
        if repo.themes.is_empty() && !repo.skipped.is_empty() {
            return Err(ThemeError::NoTheme {
                path: shown.display().to_string(),
                env: env.to_string(),
            });
        }
        Ok(repo)
    }

    /// Loads the sub-helmfiles of `parent` (whose directory is `rel_dir` under the
    /// root), depth first.
    fn visit(
        &mut self,
        parent: &Helmfile,
        rel_dir: &Path,
        env: &str,
        visiting: &mut HashSet<PathBuf>,
    ) -> Result<(), ThemeError> {
        let strict_missing = parent.missing_file_handler.as_deref() == Some("Error");
        for sub in &parent.helmfiles {
            let at = |message: String| ThemeError::At {
                path: parent.path.display().to_string(),
                line: sub.line,
                message,
            };
            if sub.path.contains("::") || sub.path.contains("://") {
                return Err(at(format!(
                    "remote sub-helmfile `{}` is not supported; check it out locally",
                    sub.path
                )));
            }
            let matches = expand(&self.root, &rel_dir.join(&sub.path));
            if matches.is_empty() {
                if strict_missing {
                    return Err(at(format!("sub-helmfile `{}` does not exist", sub.path)));
                }
                self.skipped.push(SkippedTheme {
                    path: sub.path.clone(),
                    reason: "no such file".to_string(),
                });
                continue;
            }
            for rel in matches {
                let rel = normalize(&rel);
                let rel = if self.root.join(&rel).is_dir() {
                    let found = helmfile_in(&self.root.join(&rel));
                    rel.join(found.file_name().unwrap_or_default())
                } else {
                    rel
                };
                let file = self.root.join(&rel);
                let key = file.canonicalize().unwrap_or(file.clone());
                if !visiting.insert(key.clone()) {
                    return Err(at(format!(
                        "sub-helmfile `{}` includes itself (a cycle of helmfiles:)",
                        rel.display()
                    )));
                }
                match Theme::load_file(&file, &rel, env) {
                    Ok(mut theme) => {
                        let sub_dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
                        let nested = theme.helmfile.clone();
                        self.visit(&nested, &sub_dir, env, visiting)?;
                        theme.selectors = match &sub.selectors {
                            None => None,
                            Some(list) => Some(
                                list.iter()
                                    .map(|s| Selector::parse(s))
                                    .collect::<Result<_, _>>()
                                    .map_err(|e| at(e.to_string()))?,
                            ),
                        };
                        theme.name = sub_dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or(theme.name);
                        self.themes.push(theme);
                    }
                    Err(e @ ThemeError::UndefinedEnvironment { .. }) => {
                        self.skipped.push(SkippedTheme {
                            path: rel.display().to_string(),
                            reason: e.to_string(),
                        })
                    }
                    Err(e) => return Err(e),
                }
                visiting.remove(&key);
            }
        }
        Ok(())
    }

    /// Every release of the repository with its theme, in theme then declaration
    /// order.
    pub fn releases(&self) -> impl Iterator<Item = (&Theme, &Release)> {
        self.themes
            .iter()
            .flat_map(|t| t.helmfile.releases.iter().map(move |r| (t, r)))
    }
}

/// The helmfile of a directory: `helmfile.yaml`, else `helmfile.yaml.gotmpl`.
fn helmfile_in(dir: &Path) -> PathBuf {
    HELMFILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join(HELMFILE_NAMES[0]))
}

/// Expands `*` and `?` in the components of `rel` (relative to `root`), sorted;
/// a path without wildcards is returned when it exists.
fn expand(root: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in rel.components() {
        let part = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &current {
            if part.contains(['*', '?']) {
                let Ok(entries) = std::fs::read_dir(root.join(base)) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') && wildcard(&part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(&part));
            }
        }
        current = next;
    }
    current.retain(|p| root.join(p).exists());
    current
}

/// `a/./b/../c` as `a/c`, so messages show the path a person would write; a `..`
/// that climbs above the start is kept.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn is_null(v: &Value) -> bool {
    v.as_scalar().is_some_and(|s| s.is_null())
}

/// Reads one file's nodes, evaluating templates and turning shape errors into
/// file:line messages.
struct Reader<'a> {
    path: String,
    env: &'a str,
    /// The whole text went through the file pass already (it did not parse as
    /// YAML without it); scalars then only get the release pass.
    pre_rendered: bool,
}

impl Reader<'_> {
    fn at(&self, line: u32, message: &str) -> ThemeError {
        ThemeError::At {
            path: self.path.clone(),
            line,
            message: message.to_string(),
        }
    }

    fn documents(&mut self, text: &str) -> Result<Vec<Option<Value>>, ThemeError> {
        let first = match parse_documents(text, 0) {
            Ok(docs) => return Ok(docs),
            Err(e) => e,
        };
        if !text.contains("{{") {
            return Err(self.at(first.line, &first.message));
        }
        // The file may use supported actions outside string values (helmfile renders
        // the text before parsing it): render those and try again.
        let ctx = TemplateContext {
            env: self.env,
            release: None,
            event: None,
            defer_release: true,
        };
        let rendered = template::render(text, &ctx).map_err(|e| {
            self.at(
                1 + e.line_offset,
                &format!("{e} (template logic outside string values is not supported either)"),
            )
        })?;
        match parse_documents(&rendered, 0) {
            Ok(docs) => {
                self.pre_rendered = true;
                Ok(docs)
            }
            Err(_) => Err(self.at(
                first.line,
                &format!(
                    "{} (this file uses `{{{{ ... }}}}` template logic outside string values, \
                     which is not supported: {SUPPORTED})",
                    first.message
                ),
            )),
        }
    }

    /// Evaluates the file pass (and, inside a release, the release pass).
    fn render(
        &self,
        text: &str,
        line: u32,
        release: Option<(&str, &str)>,
        in_release: bool,
    ) -> Result<String, ThemeError> {
        let fail = |e: template::TemplateError| self.at(line, &e.to_string());
        let mut out = text.to_string();
        if !self.pre_rendered {
            let file_pass = TemplateContext {
                env: self.env,
                release: None,
                event: None,
                defer_release: in_release,
            };
            out = template::render(&out, &file_pass).map_err(fail)?;
        }
        if in_release {
            let release_pass = TemplateContext {
                env: self.env,
                release,
                event: None,
                defer_release: false,
            };
            out = template::render(&out, &release_pass).map_err(fail)?;
        }
        Ok(out)
    }

    fn list<'v>(&self, value: &'v Value, what: &str) -> Result<&'v [Value], ThemeError> {
        match &value.node {
            Node::List(items) => Ok(items),
            Node::Scalar(s) if s.is_null() => Ok(&[]),
            _ => Err(self.at(value.origin.line, &format!("{what} must be a list"))),
        }
    }

    fn map<'v>(
        &self,
        value: &'v Value,
        what: &str,
    ) -> Result<Option<&'v IndexMap<String, Value>>, ThemeError> {
        match &value.node {
            Node::Map(m) => Ok(Some(m)),
            Node::Scalar(s) if s.is_null() => Ok(None),
            _ => Err(self.at(value.origin.line, &format!("{what} must be a map"))),
        }
    }

    /// A scalar's text with templates evaluated; `None` for null.
    fn opt_string(
        &self,
        value: &Value,
        what: &str,
        in_release: bool,
    ) -> Result<Option<String>, ThemeError> {
        self.opt_string_in(value, what, None, in_release)
    }

    fn opt_string_in(
        &self,
        value: &Value,
        what: &str,
        release: Option<(&str, &str)>,
        in_release: bool,
    ) -> Result<Option<String>, ThemeError> {
        match &value.node {
            Node::Scalar(s) if s.is_null() => Ok(None),
            Node::Scalar(s) => Ok(Some(self.render(
                &s.text,
                value.origin.line,
                release,
                in_release,
            )?)),
            _ => Err(self.at(value.origin.line, &format!("{what} must be a string"))),
        }
    }

    fn string_in(
        &self,
        value: &Value,
        what: &str,
        release: Option<(&str, &str)>,
    ) -> Result<String, ThemeError> {
        self.opt_string_in(value, what, release, true)?
            .ok_or_else(|| self.at(value.origin.line, &format!("{what} must be a string")))
    }

    fn bool_in(
        &self,
        value: &Value,
        what: &str,
        release: Option<(&str, &str)>,
    ) -> Result<Option<bool>, ThemeError> {
        let Some(text) = self.opt_string_in(value, what, release, true)? else {
            return Ok(None);
        };
        match text.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "on" | "On" => Ok(Some(true)),
            "false" | "False" | "FALSE" | "no" | "No" | "off" | "Off" => Ok(Some(false)),
            _ => Err(self.at(
                value.origin.line,
                &format!("{what} must be true or false, not `{text}`"),
            )),
        }
    }

    fn string_map(
        &self,
        value: &Value,
        what: &str,
        in_release: bool,
    ) -> Result<BTreeMap<String, String>, ThemeError> {
        self.string_map_in(value, what, None, in_release)
    }

    fn string_map_in(
        &self,
        value: &Value,
        what: &str,
        release: Option<(&str, &str)>,
        in_release: bool,
    ) -> Result<BTreeMap<String, String>, ThemeError> {
        let mut out = BTreeMap::new();
        for (k, v) in self.map(value, what)?.into_iter().flatten() {
            let text = self
                .opt_string_in(v, &format!("{what}.{k}"), release, in_release)?
                .unwrap_or_default();
            out.insert(k.clone(), text);
        }
        Ok(out)
    }

    fn repositories(&self, value: &Value, out: &mut Vec<Repository>) -> Result<(), ThemeError> {
        for (i, item) in self.list(value, "repositories")?.iter().enumerate() {
            let what = format!("repositories[{i}]");
            let Some(map) = self.map(item, &what)? else {
                return Err(self.at(item.origin.line, &format!("{what} must be a map")));
            };
            for (k, v) in map {
                self.status(Place::Repository, k, &format!("{what}.{k}"), v.origin.line)?;
            }
            let field = |key: &str| -> Result<Option<String>, ThemeError> {
                match map.get(key) {
                    Some(v) => self.opt_string(v, &format!("{what}.{key}"), false),
                    None => Ok(None),
                }
            };
            let name = field("name")?
                .ok_or_else(|| self.at(item.origin.line, &format!("{what}.name is missing")))?;
            let url = field("url")?
                .ok_or_else(|| self.at(item.origin.line, &format!("{what}.url is missing")))?;
            let oci = match map.get("oci") {
                Some(v) => self
                    .bool_in(v, &format!("{what}.oci"), None)?
                    .unwrap_or(false),
                None => false,
            };
            out.push(Repository {
                name,
                url,
                oci,
                line: item.origin.line,
            });
        }
        Ok(())
    }

    /// A hook's text after the file pass only (actions on `.Release` and `.Event`
    /// kept for when it runs).
    fn file_pass(&self, value: &Value, what: &str) -> Result<String, ThemeError> {
        let text = match &value.node {
            Node::Scalar(s) if s.is_null() => return Ok(String::new()),
            Node::Scalar(s) => s.text.clone(),
            _ => return Err(self.at(value.origin.line, &format!("{what} must be a string"))),
        };
        if self.pre_rendered {
            return Ok(text);
        }
        let file_pass = TemplateContext {
            env: self.env,
            release: None,
            event: None,
            defer_release: true,
        };
        template::render(&text, &file_pass).map_err(|e| self.at(value.origin.line, &e.to_string()))
    }

    fn environments(
        &self,
        value: &Value,
        out: &mut Vec<String>,
        notes: &mut Vec<KeyNote>,
    ) -> Result<(), ThemeError> {
        let Some(map) = self.map(value, "environments")? else {
            return Ok(());
        };
        for (name, spec) in map {
            if !is_null(spec) && spec.as_map().is_none() {
                return Err(self.at(
                    spec.origin.line,
                    &format!("environments.{name} must be a map (values, secrets, ...)"),
                ));
            }
            for (k, v) in spec.as_map().into_iter().flatten() {
                let what = format!("environments.{name}.{k}");
                if let KeyStatus::Different(text) =
                    self.status(Place::Environment, k, &what, v.origin.line)?
                {
                    notes.push(KeyNote {
                        line: v.origin.line,
                        key: what,
                        text,
                    });
                }
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(())
    }

    fn helmfiles(
        &self,
        value: &Value,
        out: &mut Vec<SubHelmfile>,
        notes: &mut Vec<KeyNote>,
    ) -> Result<(), ThemeError> {
        for (i, item) in self.list(value, "helmfiles")?.iter().enumerate() {
            let what = format!("helmfiles[{i}]");
            let line = item.origin.line;
            let sub = match &item.node {
                Node::Scalar(_) => SubHelmfile {
                    path: self.opt_string(item, &what, false)?.unwrap_or_default(),
                    selectors: None,
                    selectors_inherited: false,
                    line,
                },
                Node::Map(map) => {
                    for (k, v) in map {
                        let key_what = format!("{what}.{k}");
                        if let KeyStatus::Different(text) =
                            self.status(Place::SubHelmfile, k, &key_what, v.origin.line)?
                        {
                            notes.push(KeyNote {
                                line: v.origin.line,
                                key: key_what,
                                text,
                            });
                        }
                    }
                    let path = match map.get("path") {
                        Some(v) => self.opt_string(v, &format!("{what}.path"), false)?,
                        None => None,
                    }
                    .ok_or_else(|| self.at(line, &format!("{what}.path is missing")))?;
                    let mut selectors = None;
                    if let Some(v) = map.get("selectors") {
                        let selectors = selectors.insert(Vec::new());
                        for (j, s) in self
                            .list(v, &format!("{what}.selectors"))?
                            .iter()
                            .enumerate()
                        {
                            selectors.extend(self.opt_string(
                                s,
                                &format!("{what}.selectors[{j}]"),
                                false,
                            )?);
                        }
                    }
                    let selectors_inherited = match map.get("selectorsInherited") {
                        Some(v) => self
                            .bool_in(v, &format!("{what}.selectorsInherited"), None)?
                            .unwrap_or(false),
                        None => false,
                    };
                    if selectors.is_some() && selectors_inherited {
                        return Err(self.at(
                            line,
                            &format!(
                                "{what} sets both selectors and selectorsInherited; helmfile \
                                 refuses that too, keep one"
                            ),
                        ));
                    }
                    SubHelmfile {
                        path,
                        selectors,
                        selectors_inherited,
                        line,
                    }
                }
                Node::List(_) => {
                    return Err(self.at(
                        line,
                        &format!("{what} must be a path or a map with `path:`"),
                    ))
                }
            };
            if sub.path.is_empty() {
                return Err(self.at(line, &format!("{what} has an empty path")));
            }
            out.push(sub);
        }
        Ok(())
    }

    /// Looks `key` up in `place`'s table: an unknown key (with the nearest known one)
    /// and a refused key are errors at `line`.
    fn status(
        &self,
        place: Place,
        key: &str,
        what: &str,
        line: u32,
    ) -> Result<KeyStatus, ThemeError> {
        match place.lookup(key) {
            Ok(k) => match k.status {
                KeyStatus::Refused(why) => {
                    Err(self.at(line, &format!("{what} is not supported by hfapply: {why}")))
                }
                status => Ok(status),
            },
            Err(nearest) => Err(self.at(
                line,
                &format!(
                    "unknown key `{key}` in {}{}; helmfile 1.7 has no such key either \
                     (docs/migrating-from-helmfile.md lists every key)",
                    place.title(),
                    nearest
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// Reads a helm setting (`wait`, `timeout`, ...) into `out`; false when `key` is
    /// not one.
    fn setting(
        &self,
        key: &str,
        value: &Value,
        what: &str,
        ctx: Option<(&str, &str)>,
        out: &mut HelmSettings,
    ) -> Result<bool, ThemeError> {
        let b = || self.bool_in(value, what, ctx);
        let s = || self.opt_string_in(value, what, ctx, ctx.is_some());
        let n = || self.number(value, what, ctx);
        let list = || self.string_list(value, what, ctx);
        match key {
            "wait" => out.wait = b()?,
            "waitForJobs" => out.wait_for_jobs = b()?,
            "timeout" => out.timeout = n()?,
            "recreatePods" => out.recreate_pods = b()?,
            "force" => out.force = b()?,
            "forceConflicts" => out.force_conflicts = b()?,
            "atomic" => out.atomic = b()?,
            "rollbackOnFailure" => out.rollback_on_failure = b()?,
            "cleanupOnFail" => out.cleanup_on_fail = b()?,
            "createNamespace" => out.create_namespace = b()?,
            "disableOpenAPIValidation" => out.disable_openapi_validation = b()?,
            "skipSchemaValidation" => out.skip_schema_validation = b()?,
            "historyMax" => out.history_max = n()?,
            "devel" => out.devel = b()?,
            "verify" => out.verify = b()?,
            "keyring" => out.keyring = s()?,
            "enableDNS" => out.enable_dns = b()?,
            "reuseValues" => out.reuse_values = b()?,
            "skipCRDs" => out.skip_crds = b()?,
            "postRenderer" => out.post_renderer = s()?,
            "postRendererArgs" => out.post_renderer_args = Some(list()?),
            "cascade" => {
                out.cascade = s()?;
                if let Some(c) = &out.cascade {
                    if !["background", "orphan", "foreground"].contains(&c.as_str()) {
                        return Err(self.at(
                            value.origin.line,
                            &format!("{what} must be background, orphan or foreground, not `{c}`"),
                        ));
                    }
                }
            }
            "deleteWait" => out.delete_wait = b()?,
            "deleteTimeout" => out.delete_timeout = n()?,
            "takeOwnership" => out.take_ownership = b()?,
            "insecureSkipTLSVerify" => out.insecure_skip_tls_verify = b()?,
            "plainHttp" => out.plain_http = b()?,
            "description" => out.description = s()?,
            "apiVersions" => out.api_versions = Some(list()?),
            "kubeVersion" => out.kube_version = s()?,
            "args" => out.args = self.args_list(value, what)?,
            "syncArgs" => out.sync_args = self.args_list(value, what)?,
            "templateArgs" => out.template_args = self.args_list(value, what)?,
            "set" | "setString" => {
                for (j, item) in self.list(value, what)?.iter().enumerate() {
                    out.set.extend(self.set_value(
                        item,
                        &format!("{what}[{j}]"),
                        key == "setString",
                        ctx,
                    )?);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `args:`-like lists: helmfile joins the entries with spaces and splits them
    /// again on whitespace (`argparser.CollectArgs`), so `- --set a=b` is two args.
    fn args_list(&self, value: &Value, what: &str) -> Result<Vec<String>, ThemeError> {
        Ok(self
            .string_list(value, what, None)?
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect())
    }

    fn string_list(
        &self,
        value: &Value,
        what: &str,
        ctx: Option<(&str, &str)>,
    ) -> Result<Vec<String>, ThemeError> {
        let mut out = Vec::new();
        for (j, item) in self.list(value, what)?.iter().enumerate() {
            let item_what = format!("{what}[{j}]");
            out.push(
                self.opt_string_in(item, &item_what, ctx, ctx.is_some())?
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }

    fn number(
        &self,
        value: &Value,
        what: &str,
        ctx: Option<(&str, &str)>,
    ) -> Result<Option<u64>, ThemeError> {
        let Some(text) = self.opt_string_in(value, what, ctx, ctx.is_some())? else {
            return Ok(None);
        };
        text.trim().parse::<u64>().map(Some).map_err(|_| {
            self.at(
                value.origin.line,
                &format!("{what} must be a whole number of seconds or a count, not `{text}`"),
            )
        })
    }

    fn set_value(
        &self,
        item: &Value,
        what: &str,
        string: bool,
        ctx: Option<(&str, &str)>,
    ) -> Result<Option<SetValue>, ThemeError> {
        let Some(map) = self.map(item, what)? else {
            return Err(self.at(
                item.origin.line,
                &format!("{what} must be a map (name, value)"),
            ));
        };
        let field = |k: &str| map.get(k);
        let name = match field("name") {
            Some(v) => self.opt_string_in(v, &format!("{what}.name"), ctx, ctx.is_some())?,
            None => None,
        }
        .filter(|n| !n.is_empty())
        .ok_or_else(|| self.at(item.origin.line, &format!("{what}.name is missing")))?;
        for k in map.keys() {
            if !["name", "value", "values", "file"].contains(&k.as_str()) {
                return Err(self.at(
                    item.origin.line,
                    &format!("unknown key `{k}` in {what}; a set entry has name and value, values or file"),
                ));
            }
        }
        let value = if let Some(v) = field("value") {
            let text = match &v.node {
                Node::Scalar(_) => self
                    .opt_string_in(v, &format!("{what}.value"), ctx, ctx.is_some())?
                    .unwrap_or_default(),
                _ => {
                    return Err(self.at(
                        v.origin.line,
                        &format!("{what}.value must be plain text; use values: for a list"),
                    ))
                }
            };
            if text.starts_with("ref+") {
                return Err(self.at(
                    v.origin.line,
                    &format!("{what}.value is a vals reference, which hfapply does not resolve; put the secret in a sops secrets file"),
                ));
            }
            if text.is_empty() {
                // helmfile passes no flag for an empty value.
                return Ok(None);
            }
            SetKind::Value(text)
        } else if let Some(v) = field("values") {
            SetKind::Values(self.string_list(v, &format!("{what}.values"), ctx)?)
        } else if let Some(v) = field("file") {
            if string {
                return Err(self.at(
                    v.origin.line,
                    &format!("{what}.file is only for set:, not setString:"),
                ));
            }
            let f = self
                .opt_string_in(v, &format!("{what}.file"), ctx, ctx.is_some())?
                .unwrap_or_default();
            SetKind::File(f)
        } else {
            return Err(self.at(
                item.origin.line,
                &format!("{what} needs value, values or file"),
            ));
        };
        Ok(Some(SetValue {
            name,
            value,
            string,
        }))
    }

    /// `hooks:` of a release (`ctx` set) or of the file.
    fn hooks(
        &self,
        value: &Value,
        what: &str,
        notes: &mut Vec<KeyNote>,
    ) -> Result<Vec<Hook>, ThemeError> {
        let mut out = Vec::new();
        for (j, item) in self.list(value, what)?.iter().enumerate() {
            let hook_what = format!("{what}[{j}]");
            let line = item.origin.line;
            let Some(map) = self.map(item, &hook_what)? else {
                return Err(self.at(
                    line,
                    &format!("{hook_what} must be a map (events, command, args)"),
                ));
            };
            let mut hook = Hook {
                name: String::new(),
                events: Vec::new(),
                command: String::new(),
                args: Vec::new(),
                showlogs: false,
                line,
            };
            for (k, v) in map {
                let key_what = format!("{hook_what}.{k}");
                if let KeyStatus::Different(text) =
                    self.status(Place::Hook, k, &key_what, v.origin.line)?
                {
                    notes.push(KeyNote {
                        line: v.origin.line,
                        key: key_what,
                        text,
                    });
                    continue;
                }
                // The file pass only: `.Event`, `.Release` are evaluated when it runs.
                let text = |v: &Value, w: &str| self.file_pass(v, w);
                match k.as_str() {
                    "name" => hook.name = text(v, &key_what)?,
                    "command" => hook.command = text(v, &key_what)?,
                    "showlogs" => {
                        hook.showlogs = self.bool_in(v, &key_what, None)?.unwrap_or(false)
                    }
                    "events" => {
                        for (e, ev) in self.list(v, &key_what)?.iter().enumerate() {
                            let event = text(ev, &format!("{key_what}[{e}]"))?;
                            if !HOOK_EVENTS.contains(&event.as_str()) {
                                return Err(self.at(
                                    ev.origin.line,
                                    &format!(
                                        "{key_what}[{e}] `{event}` is not an event hfapply fires; use one of {} (case matters)",
                                        HOOK_EVENTS.join(", ")
                                    ),
                                ));
                            }
                            hook.events.push(event);
                        }
                    }
                    "args" => {
                        for (a, arg) in self.list(v, &key_what)?.iter().enumerate() {
                            hook.args.push(text(arg, &format!("{key_what}[{a}]"))?);
                        }
                    }
                    _ => unreachable!("every honoured hook key is matched"),
                }
            }
            if hook.command.is_empty() {
                return Err(self.at(line, &format!("{hook_what}.command is missing")));
            }
            if hook.name.is_empty() {
                hook.name = hook.command.clone();
            }
            out.push(hook);
        }
        Ok(out)
    }

    fn release(
        &self,
        item: &Value,
        index: usize,
        defaults: &HelmSettings,
        notes: &mut Vec<KeyNote>,
    ) -> Result<Release, ThemeError> {
        let what = format!("releases[{index}]");
        let line = item.origin.line;
        let Some(map) = self.map(item, &what)? else {
            return Err(self.at(line, &format!("{what} must be a map")));
        };
        // The name and namespace come first: the other fields may refer to them.
        let name_value = map
            .get("name")
            .ok_or_else(|| self.at(line, &format!("{what}.name is missing")))?;
        let name = self.render_plain(name_value, &format!("{what}.name"))?;
        names::validate_release(&name)
            .map_err(|e| self.at(name_value.origin.line, &e.to_string()))?;
        let namespace = match map.get("namespace") {
            Some(v) if !is_null(v) => Some(self.render_plain(v, &format!("{what}.namespace"))?),
            _ => None,
        };
        let ctx = Some((name.as_str(), namespace.as_deref().unwrap_or("")));
        let mut release = Release {
            name: name.clone(),
            namespace: namespace.clone(),
            chart: String::new(),
            version: None,
            labels: BTreeMap::new(),
            needs: Vec::new(),
            installed: true,
            helm: HelmSettings::default(),
            hooks: Vec::new(),
            kube_context: None,
            values: Vec::new(),
            secrets: Vec::new(),
            missing_file_handler: None,
            line,
        };
        let mut own = HelmSettings::default();
        for (key, value) in map {
            let key_what = format!("{what}.{key}");
            if let KeyStatus::Different(text) =
                self.status(Place::Release, key, &key_what, value.origin.line)?
            {
                notes.push(KeyNote {
                    line: value.origin.line,
                    key: key_what,
                    text,
                });
                continue;
            }
            match key.as_str() {
                "name" | "namespace" => {}
                // helmfile trims the rendered chart and version.
                "chart" | "directory" => {
                    release.chart = self
                        .opt_string_in(value, &key_what, ctx, true)?
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                }
                "version" => {
                    release.version = self
                        .opt_string_in(value, &key_what, ctx, true)?
                        .map(|v| v.trim().to_string())
                }
                "kubeContext" => {
                    release.kube_context = self.opt_string_in(value, &key_what, ctx, true)?
                }
                "missingFileHandler" => {
                    release.missing_file_handler = super::missing::validate(
                        self.opt_string_in(value, &key_what, ctx, true)?,
                        &key_what,
                    )
                    .map_err(|m| self.at(value.origin.line, &m))?
                }
                "labels" => release.labels = self.string_map_in(value, &key_what, ctx, true)?,
                "installed" => {
                    release.installed = self.bool_in(value, &key_what, ctx)?.unwrap_or(true)
                }
                "hooks" => release.hooks = self.hooks(value, &key_what, notes)?,
                "needs" => release.needs = self.needs(value, &key_what, ctx)?,
                "values" => {
                    let items = self.list(value, &key_what).map_err(|_| {
                        self.at(
                            value.origin.line,
                            &format!("{key_what} must be a list of files or maps of values"),
                        )
                    })?;
                    for (j, entry) in items.iter().enumerate() {
                        let entry_what = format!("{key_what}[{j}]");
                        release.values.push(match &entry.node {
                            Node::Map(_) => ValuesEntry::Inline(self.render_tree(entry)?),
                            Node::Scalar(_) => {
                                ValuesEntry::File(self.file_path(entry, &entry_what, ctx)?)
                            }
                            Node::List(_) => {
                                return Err(self.at(
                                    entry.origin.line,
                                    &format!("{entry_what} must be a file path or a map of values"),
                                ))
                            }
                        });
                    }
                }
                "secrets" => {
                    let items = self.list(value, &key_what).map_err(|_| {
                        self.at(
                            value.origin.line,
                            &format!("{key_what} must be a list of files"),
                        )
                    })?;
                    for (j, entry) in items.iter().enumerate() {
                        let entry_what = format!("{key_what}[{j}]");
                        release
                            .secrets
                            .push(self.file_path(entry, &entry_what, ctx)?);
                    }
                }
                k => {
                    if !self.setting(k, value, &key_what, ctx, &mut own)? {
                        return Err(self.at(
                            value.origin.line,
                            &format!("{key_what} is not read by hfapply (a bug: please report it)"),
                        ));
                    }
                }
            }
        }
        if release.chart.is_empty() {
            return Err(self.at(line, &format!("{what}.chart is missing")));
        }
        release.helm = own.over(defaults);
        let on = |v: Option<bool>| v.unwrap_or(false);
        let h = &release.helm;
        for (a, b, an, bn) in [
            (h.force, h.force_conflicts, "force", "forceConflicts"),
            (
                h.atomic,
                h.rollback_on_failure,
                "atomic",
                "rollbackOnFailure",
            ),
        ] {
            if on(a) && on(b) {
                return Err(self.at(
                    line,
                    &format!(
                        "{what} sets both {an} and {bn} (itself or through helmDefaults); \
                         helmfile refuses that too, keep one"
                    ),
                ));
            }
        }
        Ok(release)
    }

    /// A release's name or namespace: both passes, without `.Release` in scope.
    fn render_plain(&self, value: &Value, what: &str) -> Result<String, ThemeError> {
        let text = self
            .opt_string_in(value, what, None, false)?
            .unwrap_or_default();
        if text.is_empty() {
            return Err(self.at(value.origin.line, &format!("{what} must not be empty")));
        }
        let release_pass = TemplateContext {
            env: self.env,
            release: None,
            event: None,
            defer_release: false,
        };
        template::render(&text, &release_pass)
            .map(|t| t.trim().to_string())
            .map_err(|e| self.at(value.origin.line, &e.to_string()))
    }

    fn file_path(
        &self,
        value: &Value,
        what: &str,
        ctx: Option<(&str, &str)>,
    ) -> Result<String, ThemeError> {
        let path = self
            .string_in(value, what, ctx)
            .map_err(|_| self.at(value.origin.line, &format!("{what} must be a file path")))?;
        if path.ends_with(".gotmpl") {
            return Err(self.at(
                value.origin.line,
                &format!(
                    "{what}: values templates (`{path}`) are not supported; use plain YAML files"
                ),
            ));
        }
        Ok(path)
    }

    fn needs(
        &self,
        value: &Value,
        what: &str,
        ctx: Option<(&str, &str)>,
    ) -> Result<Vec<String>, ThemeError> {
        let items = match &value.node {
            Node::List(items) => items.as_slice(),
            Node::Scalar(s) if s.is_null() => &[],
            _ => {
                return Err(self.at(
                    value.origin.line,
                    &format!("{what} must be a list of release names"),
                ))
            }
        };
        let mut out = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let bad = || {
                self.at(
                    item.origin.line,
                    &format!(
                        "{what}[{j}] must be a release name: `name`, `namespace/name` or \
                         `kubecontext/namespace/name`"
                    ),
                )
            };
            let need = match &item.node {
                Node::Scalar(s) if !s.is_null() => self.string_in(item, what, ctx)?,
                _ => return Err(bad()),
            };
            let parts: Vec<&str> = need.split('/').collect();
            // `kubecontext//name` is helmfile's spelling for "no namespace".
            let empty_ok = |i: usize| parts.len() == 3 && i == 1;
            if parts.len() > 3
                || parts
                    .iter()
                    .enumerate()
                    .any(|(i, p)| p.is_empty() && !empty_ok(i))
            {
                return Err(bad());
            }
            out.push(need);
        }
        Ok(out)
    }

    /// Inline values with the file pass evaluated in every string scalar; helmfile
    /// does not render inline values again per release, so a raw string there reaches
    /// the chart as written (for charts that `tpl` their values).
    fn render_tree(&self, value: &Value) -> Result<Value, ThemeError> {
        let node = match &value.node {
            Node::Map(m) => {
                let mut out = IndexMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), self.render_tree(v)?);
                }
                Node::Map(out)
            }
            Node::List(items) => Node::List(
                items
                    .iter()
                    .map(|v| self.render_tree(v))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Scalar(s) => {
                let mut s = s.clone();
                s.text = self.render(&s.text, value.origin.line, None, false)?;
                Node::Scalar(s)
            }
        };
        Ok(Value {
            node,
            origin: value.origin,
        })
    }
}
