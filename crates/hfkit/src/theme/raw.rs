//! Raw manifests: plain Kubernetes files shipped with a release in
//! `values/<release>/raw/`, applied into the release's namespace before (`pre`) or
//! after (`post`) `helm upgrade --install`.
//!
//! # Naming
//!
//! A file of `raw/` is `<name>.<parts>.<ext>`: `ext` is `yaml`, `yml` or `json`, and
//! `parts` are, in any order, each at most once:
//!
//! - the phase, `pre` or `post` (required);
//! - a secret marker, `secret` or `secrets`: the file must be sops-encrypted;
//! - a scope: `common` (every environment) or an environment name, which is applied
//!   only in that environment.
//!
//! `x.pre.yaml`, `x.secrets.pre.yaml`, `x.pre.secret.yaml`, `x.common.pre.yaml` and
//! `x.default.post.secret.yaml` are all raw manifests. A part counts as a scope only
//! when it is `common`, `default` or an environment the theme's helmfile declares;
//! otherwise it belongs to the name (`a.b.pre.yaml` is the file `a.b` of every
//! environment). The first part is always the name (`common.pre.yaml` is named
//! `common`, for every environment).
//!
//! Within a phase, files without a scope and `common` files come first, then the
//! environment's files, each group sorted by file name.
//!
//! A file that carries sops metadata is decrypted whatever its name; a file whose name
//! has a `secret`/`secrets` part but is not sops-encrypted is refused when it is read.
//!
//! Hidden files (`.x`), directories and files with another extension (`x.pre.yaml.bak`,
//! `notes.txt`) are not manifests and are left alone. A YAML or JSON file whose name
//! matches no rule (`x.yaml`, `x.prepare.yaml`, `x.pre.post.yaml`) is an error naming
//! the file: nothing in `raw/` is dropped silently.

use std::path::{Path, PathBuf};

use super::model::{Release, Theme};
use super::ThemeError;

/// When a raw manifest is applied relative to `helm upgrade --install`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPhase {
    /// `*.pre.yaml`: before.
    Pre,
    /// `*.post.yaml`: after.
    Post,
}

impl RawPhase {
    /// The phase as written in file names (`pre`, `post`).
    pub fn as_str(self) -> &'static str {
        match self {
            RawPhase::Pre => "pre",
            RawPhase::Post => "post",
        }
    }
}

/// Which environments a raw manifest is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawScope {
    /// No scope part: every environment.
    Unscoped,
    /// `common`: every environment.
    Common,
    /// An environment name: that environment only.
    Env(String),
}

/// What a file name says about a raw manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawName {
    /// The name part (`workers-secrets` of `workers-secrets.default.post.secret.yaml`).
    pub name: String,
    /// The phase.
    pub phase: RawPhase,
    /// The scope.
    pub scope: RawScope,
    /// Whether the name says the file holds secrets (a `secret`/`secrets` part anywhere
    /// before the extension, any case): it must be sops-encrypted.
    pub secret: bool,
}

/// How a file of `raw/` is classified by [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawNaming {
    /// A raw manifest.
    Manifest(RawName),
    /// Not a manifest file (hidden, or another extension): left alone.
    Ignored,
    /// A YAML/JSON file whose name matches no rule; the reason, for the message.
    Invalid(String),
}

/// The extensions of manifest files.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Phase(RawPhase),
    Secret,
    Common,
    Env,
}

/// Classifies a file name of `raw/`; `environments` are the names that count as an
/// environment part (the theme's declared environments; `default` always counts).
pub fn classify(file_name: &str, environments: &[String]) -> RawNaming {
    if file_name.starts_with('.') {
        return RawNaming::Ignored;
    }
    let Some((stem, ext)) = file_name.rsplit_once('.') else {
        return RawNaming::Ignored;
    };
    if !EXTENSIONS.contains(&ext) {
        return RawNaming::Ignored;
    }
    let mut words: Vec<(Part, &str)> = vec![
        (Part::Phase(RawPhase::Pre), "pre"),
        (Part::Phase(RawPhase::Post), "post"),
        (Part::Secret, "secret"),
        (Part::Secret, "secrets"),
        (Part::Common, "common"),
        (Part::Env, "default"),
    ];
    let mut envs: Vec<&str> = environments.iter().map(String::as_str).collect();
    // The longest first: an environment may contain dots (`prod.eu` before `eu`).
    envs.sort_by_key(|e| std::cmp::Reverse(e.len()));
    words.extend(
        envs.into_iter()
            .filter(|e| *e != "default" && !e.is_empty())
            .map(|e| (Part::Env, e)),
    );
    let mut rest = stem;
    let mut phase = None;
    let mut secret_part = false;
    let mut scope = RawScope::Unscoped;
    loop {
        let found = words.iter().find(|(_, w)| {
            rest.len() > w.len() + 1
                && rest.ends_with(w)
                && rest.as_bytes()[rest.len() - w.len() - 1] == b'.'
        });
        let Some(&(part, word)) = found else { break };
        let twice = |what: &str| RawNaming::Invalid(format!("it has two {what} parts"));
        match part {
            Part::Phase(_) if phase.is_some() => return twice("phase (pre/post)"),
            Part::Phase(p) => phase = Some(p),
            Part::Secret if secret_part => return twice("secret"),
            Part::Secret => secret_part = true,
            Part::Common | Part::Env if scope != RawScope::Unscoped => {
                return twice("environment (common/<env>)")
            }
            Part::Common => scope = RawScope::Common,
            Part::Env => scope = RawScope::Env(word.to_string()),
        }
        rest = &rest[..rest.len() - word.len() - 1];
    }
    let Some(phase) = phase else {
        return RawNaming::Invalid("it has no phase (pre or post) before the extension".into());
    };
    let secret = stem
        .split('.')
        .any(|p| p.eq_ignore_ascii_case("secret") || p.eq_ignore_ascii_case("secrets"));
    RawNaming::Manifest(RawName {
        name: rest.to_string(),
        phase,
        scope,
        secret,
    })
}

/// A plain Kubernetes manifest shipped with a release (`values/<release>/raw/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    /// The file.
    pub path: PathBuf,
    /// What its name says.
    pub naming: RawName,
    /// Whether the file carries sops metadata (it is decrypted whatever its name).
    pub encrypted: bool,
}

/// How a file with a name no rule matches is reported.
fn invalid_name(path: &Path, reason: &str) -> ThemeError {
    ThemeError::Raw {
        path: path.display().to_string(),
        message: format!(
            "not a raw manifest name: {reason}; name it \
             `<name>[.common|.<env>].<pre|post>[.secret].yaml` (e.g. `x.pre.yaml`), or give \
             it another extension (`.txt`, `.bak`) to keep it out of the apply"
        ),
    }
}

impl Release {
    /// The raw manifests of `phase` for `env`: the files of `values/<release>/raw/`
    /// named as described in the [module docs](self), those of another environment
    /// left out, unscoped and `common` ones first, then by file name; none when the
    /// directory does not exist. A YAML/JSON file matching no naming rule is an error.
    pub fn raw_manifests(
        &self,
        theme: &Theme,
        env: &str,
        phase: RawPhase,
    ) -> Result<Vec<RawManifest>, ThemeError> {
        let dir = theme.dir.join("values").join(&self.name).join("raw");
        let mut environments = theme.helmfile.environments.clone();
        environments.push(env.to_string());
        let mut found = Vec::new();
        for (path, naming) in read_raw_dir(&dir, &environments)? {
            let in_env = match &naming.scope {
                RawScope::Unscoped | RawScope::Common => Some(0),
                RawScope::Env(e) if e == env => Some(1),
                RawScope::Env(_) => None,
            };
            let Some(group) = in_env.filter(|_| naming.phase == phase) else {
                continue;
            };
            let text = crate::limits::read_text(&path).map_err(|source| ThemeError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let encrypted =
                hfkit_sops::is_sops_encrypted(&text, hfkit_sops::Format::yaml_or_json(&path));
            let key = (group, path.file_name().unwrap_or_default().to_os_string());
            found.push((
                key,
                RawManifest {
                    path,
                    naming,
                    encrypted,
                },
            ));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found.into_iter().map(|(_, m)| m).collect())
    }
}

impl Theme {
    /// The manifest files (`*.yaml`, `*.yml`, `*.json`, not hidden) of the theme-level
    /// `raw/` directory next to its helmfile, sorted. hfapply applies raw manifests
    /// per release only; a caller refuses a theme that has any, so that none is
    /// dropped silently.
    pub fn theme_raw_files(&self) -> Result<Vec<PathBuf>, ThemeError> {
        let dir = self.dir.join("raw");
        let mut out: Vec<PathBuf> = list_files(&dir)?
            .into_iter()
            .filter(|(name, _)| classify(name, &[]) != RawNaming::Ignored)
            .map(|(_, p)| p)
            .collect();
        out.sort();
        Ok(out)
    }
}

/// The regular files of `dir` with their names; none when it does not exist.
fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, ThemeError> {
    let read_err = |source| ThemeError::Read {
        path: dir.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        if path.is_file() {
            out.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    Ok(out)
}

/// Every raw manifest of `dir` (all phases and scopes); the first misnamed file is
/// the error.
fn read_raw_dir(
    dir: &Path,
    environments: &[String],
) -> Result<Vec<(PathBuf, RawName)>, ThemeError> {
    let mut files = list_files(dir)?;
    files.sort();
    let mut out = Vec::new();
    for (name, path) in files {
        match classify(&name, environments) {
            RawNaming::Manifest(n) => out.push((path, n)),
            RawNaming::Ignored => {}
            RawNaming::Invalid(reason) => return Err(invalid_name(&path, &reason)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        ["default", "staging", "prod.eu"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn m(name: &str, phase: RawPhase, scope: RawScope, secret: bool) -> RawNaming {
        RawNaming::Manifest(RawName {
            name: name.into(),
            phase,
            scope,
            secret,
        })
    }

    #[test]
    fn naming_rule_table() {
        use RawPhase::{Post, Pre};
        use RawScope::{Common, Unscoped};
        let env = |e: &str| RawScope::Env(e.into());
        let table = [
            ("x.pre.yaml", m("x", Pre, Unscoped, false)),
            ("x.post.yml", m("x", Post, Unscoped, false)),
            ("x.pre.json", m("x", Pre, Unscoped, false)),
            // Both orders of the secret marker, both spellings.
            ("x.secrets.pre.yaml", m("x", Pre, Unscoped, true)),
            ("x.pre.secret.yaml", m("x", Pre, Unscoped, true)),
            ("x.pre.secrets.yml", m("x", Pre, Unscoped, true)),
            // The seed's hook conventions.
            ("pv.common.pre.yaml", m("pv", Pre, Common, false)),
            (
                "pv-pvc.default.pre.yaml",
                m("pv-pvc", Pre, env("default"), false),
            ),
            (
                "workers-secrets.default.post.secret.yaml",
                m("workers-secrets", Post, env("default"), true),
            ),
            ("db.common.pre.secrets.yaml", m("db", Pre, Common, true)),
            (
                "db.staging.secrets.post.yaml",
                m("db", Post, env("staging"), true),
            ),
            (
                "db.secrets.staging.post.yaml",
                m("db", Post, env("staging"), true),
            ),
            // An environment with a dot.
            ("db.prod.eu.pre.yaml", m("db", Pre, env("prod.eu"), false)),
            // Not a declared environment: part of the name.
            ("a.b.pre.yaml", m("a.b", Pre, Unscoped, false)),
            (
                "a.production.pre.yaml",
                m("a.production", Pre, Unscoped, false),
            ),
            // The first part is always the name.
            ("common.pre.yaml", m("common", Pre, Unscoped, false)),
            ("default.post.yaml", m("default", Post, Unscoped, false)),
            ("pre.yaml", RawNaming::Invalid(String::new())),
            ("secrets.pre.yaml", m("secrets", Pre, Unscoped, true)),
            ("x.SECRET.pre.yaml", m("x.SECRET", Pre, Unscoped, true)),
            // Left alone.
            ("x.pre.yml.bak", RawNaming::Ignored),
            ("notes.txt", RawNaming::Ignored),
            (".x.pre.yaml", RawNaming::Ignored),
            ("README", RawNaming::Ignored),
            // Misnamed: errors.
            ("x.yaml", RawNaming::Invalid(String::new())),
            ("x.prepare.yaml", RawNaming::Invalid(String::new())),
            ("x.common.yaml", RawNaming::Invalid(String::new())),
            ("x.pre.post.yaml", RawNaming::Invalid(String::new())),
            (
                "x.secret.secrets.pre.yaml",
                RawNaming::Invalid(String::new()),
            ),
            (
                "x.staging.common.pre.yaml",
                RawNaming::Invalid(String::new()),
            ),
            ("x.PRE.yaml", RawNaming::Invalid(String::new())),
        ];
        for (name, want) in table {
            let got = classify(name, &envs());
            match (&got, &want) {
                (RawNaming::Invalid(_), RawNaming::Invalid(_)) => {}
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }

    #[test]
    fn invalid_reasons_say_what_is_wrong() {
        let reason = |n: &str| match classify(n, &envs()) {
            RawNaming::Invalid(r) => r,
            other => panic!("{n}: {other:?}"),
        };
        assert!(reason("x.yaml").contains("no phase"));
        assert!(reason("x.pre.post.yaml").contains("two phase"));
        assert!(reason("x.default.common.pre.yaml").contains("two environment"));
        let e = invalid_name(Path::new("values/a/raw/x.yaml"), &reason("x.yaml")).to_string();
        assert!(
            e.starts_with("values/a/raw/x.yaml: not a raw manifest name"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
