//! The layer stack of one release in one environment: which files, in which order,
//! read (and decrypted) and merged.

use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

use super::merge::merge_into;
use super::parse::parse_values;
use super::tree::{Node, Value};
use crate::names;
use crate::secrets::Decryptor;

/// Name of the optional file, at the theme directory or any parent up to the repository
/// root or the home directory, that replaces the default layer patterns.
///
/// ```yaml
/// # .helm-layered.yaml
/// layers:          # plain layers, lowest precedence first
///   - values/common.yaml
///   - values/{{env}}.yaml
///   - values/{{release}}/common.yaml
///   - values/{{release}}/{{env}}.yaml
/// secrets:         # sops-encrypted layers, merged after the plain ones
///   - values/{{release}}/common.secrets.yaml
///   - values/{{release}}/{{env}}.secrets.yaml
/// ```
/// Patterns are handlebars templates with `release`, `env`, `namespace` and `theme`
/// (the theme directory's name), relative to the theme directory.
pub const CONFIG_FILE: &str = ".helm-layered.yaml";

const DEFAULT_PLAIN: [&str; 4] = [
    "values/common.yaml",
    "values/{{env}}.yaml",
    "values/{{release}}/common.yaml",
    "values/{{release}}/{{env}}.yaml",
];
const DEFAULT_SECRETS: [&str; 2] = [
    "values/{{release}}/common.secrets.yaml",
    "values/{{release}}/{{env}}.secrets.yaml",
];

/// Everything that can go wrong building a stack; each message names the file (and
/// line) at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A release or environment name that cannot be used in a path.
    #[error(transparent)]
    InvalidName(#[from] names::NameError),
    /// The layer configuration file is malformed.
    #[error("{path}:{line}: {message}")]
    Config {
        /// The configuration file.
        path: String,
        /// 1-based line.
        line: u32,
        /// What is wrong and what to do.
        message: String,
    },
    /// A layer pattern does not render.
    #[error("layer pattern `{pattern}` ({source_file}): {message}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        source_file: String,
        /// The template engine's complaint.
        message: String,
    },
    /// A layer file exists but cannot be read.
    #[error("{path}: cannot read the layer: {source}")]
    Read {
        /// The layer file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A layer file is not text.
    #[error("{path}: the layer is not UTF-8 text; values files must be UTF-8 YAML")]
    NotUtf8 {
        /// The layer file.
        path: String,
    },
    /// A layer file is not valid YAML or not a map.
    #[error("{path}:{line}:{col}: {message}")]
    Yaml {
        /// The layer file.
        path: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// What is wrong.
        message: String,
    },
    /// A secrets layer could not be decrypted.
    #[error("{path}: cannot decrypt the secrets layer: {message}")]
    Decrypt {
        /// The layer file.
        path: String,
        /// The decryptor's message (never secret material).
        message: String,
    },
}

/// Plain or sops-encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// A plain YAML values file.
    Plain,
    /// A sops-encrypted YAML values file, decrypted in memory.
    Secret,
}

/// One file of a stack.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// The path as shown to people (relative to the theme directory when possible).
    pub display: String,
    /// The path to read.
    #[serde(skip)]
    pub path: PathBuf,
    /// Plain or secret.
    pub kind: LayerKind,
    /// Whether the file exists; a missing layer is skipped.
    pub exists: bool,
    /// Whether the path depends on the environment (used to warn about unknown envs).
    #[serde(skip)]
    pub env_specific: bool,
}

/// The layer patterns in force and where they came from.
#[derive(Debug, Clone)]
pub struct LayerConfig {
    /// Plain layer patterns, lowest precedence first.
    pub values: Vec<String>,
    /// Secrets layer patterns, merged after every plain layer.
    pub secrets: Vec<String>,
    /// The configuration file, or `None` for the built-in default.
    pub source: Option<PathBuf>,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            values: DEFAULT_PLAIN.iter().map(|s| s.to_string()).collect(),
            secrets: DEFAULT_SECRETS.iter().map(|s| s.to_string()).collect(),
            source: None,
        }
    }
}

impl LayerConfig {
    /// Finds [`CONFIG_FILE`] in `theme_dir` or its parents up to the repository root
    /// (the first directory holding `.git`) or the home directory, whichever comes
    /// first ([`hfkit_sops::config::find_upward`]); the default patterns when there is
    /// none. [`LayerConfig::source`] says which file was used.
    pub fn discover(theme_dir: &Path) -> Result<LayerConfig, StackError> {
        let start = theme_dir
            .canonicalize()
            .unwrap_or_else(|_| theme_dir.to_path_buf());
        match hfkit_sops::config::find_upward(&start, CONFIG_FILE) {
            Some(found) => LayerConfig::from_file(&found),
            None => Ok(LayerConfig::default()),
        }
    }

    /// Reads a layer configuration file.
    pub fn from_file(path: &Path) -> Result<LayerConfig, StackError> {
        let shown = path.display().to_string();
        let text = hfkit_sops::limits::read_text(path).map_err(|source| StackError::Read {
            path: shown.clone(),
            source,
        })?;
        let config_error = |line: u32, message: String| StackError::Config {
            path: shown.clone(),
            line,
            message,
        };
        let doc = parse_values(&text, 0).map_err(|e| config_error(e.line, e.message))?;
        let mut config = LayerConfig {
            values: Vec::new(),
            secrets: Vec::new(),
            source: Some(path.to_path_buf()),
        };
        for (key, value) in doc.as_map().into_iter().flatten() {
            let target = match key.as_str() {
                "layers" => &mut config.values,
                "secrets" => &mut config.secrets,
                other => {
                    return Err(config_error(
                        value.origin.line,
                        format!("unknown key `{other}`; expected `layers` and `secrets`"),
                    ))
                }
            };
            let Node::List(items) = &value.node else {
                return Err(config_error(
                    value.origin.line,
                    format!("`{key}` must be a list of path patterns"),
                ));
            };
            for item in items {
                match item.as_scalar() {
                    Some(s) if !s.text.is_empty() => target.push(s.text.clone()),
                    _ => {
                        return Err(config_error(
                            item.origin.line,
                            format!("each entry of `{key}` must be a path pattern string"),
                        ))
                    }
                }
            }
        }
        Ok(config)
    }
}

/// Which release, in which environment, the stack is for.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRequest {
    /// The release name (validated as helm validates it).
    pub release: String,
    /// The environment name.
    pub env: String,
    /// The target namespace, if known (available to patterns as `namespace`).
    pub namespace: Option<String>,
}

/// The ordered files of one release's stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The files, lowest precedence first.
    pub layers: Vec<Layer>,
    /// Warn when no environment-specific layer exists (an environment was named, so
    /// a typo is likely); off for helmfile's implicit `default` environment.
    pub warn_unknown_env: bool,
}

/// The merged result of a stack.
#[derive(Debug, Clone)]
pub struct MergedValues {
    /// The merged tree; each node's origin indexes `layers`.
    pub value: Value,
    /// Every layer of the stack, present or missing.
    pub layers: Vec<Layer>,
    /// Each present layer's own tree (index = layer index), for explanations.
    pub layer_values: Vec<Option<Value>>,
    /// Things a person should know (an environment with no layer files, ...).
    pub warnings: Vec<String>,
}

impl Stack {
    /// Renders the configured patterns for `request`, relative to `theme_dir`.
    pub fn resolve(
        theme_dir: &Path,
        config: &LayerConfig,
        request: &LayerRequest,
    ) -> Result<Stack, StackError> {
        names::validate_release(&request.release)?;
        names::validate_env(&request.env)?;
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        let theme = theme_dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let data = |env: &str| {
            serde_json::json!({
                "release": request.release,
                "env": env,
                "namespace": request.namespace.clone().unwrap_or_default(),
                "theme": theme,
            })
        };
        let real = data(&request.env);
        // Rendering once more with another environment tells which layers are per env.
        let probe = data("\u{1}probe");
        let source_file = config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in default".into());
        let render = |pattern: &str, data: &serde_json::Value| {
            hb.render_template(pattern, data)
                .map_err(|e| StackError::Pattern {
                    pattern: pattern.to_string(),
                    source_file: source_file.clone(),
                    message: e.reason().to_string(),
                })
        };
        let mut layers = Vec::new();
        let kinds = config
            .values
            .iter()
            .map(|p| (p, LayerKind::Plain))
            .chain(config.secrets.iter().map(|p| (p, LayerKind::Secret)));
        for (pattern, kind) in kinds {
            let rel = render(pattern, &real)?;
            let env_specific = render(pattern, &probe)? != rel;
            layers.push(Stack::layer(theme_dir, &rel, kind, env_specific));
        }
        Ok(Stack {
            layers,
            warn_unknown_env: request.env != "default",
        })
    }

    /// A stack of explicit files (helmfile's `values:` and `secrets:` lists), relative
    /// to `theme_dir`.
    pub fn from_files(theme_dir: &Path, values: &[String], secrets: &[String]) -> Stack {
        let layers = values
            .iter()
            .map(|p| Stack::layer(theme_dir, p, LayerKind::Plain, false))
            .chain(
                secrets
                    .iter()
                    .map(|p| Stack::layer(theme_dir, p, LayerKind::Secret, false)),
            )
            .collect();
        Stack {
            layers,
            warn_unknown_env: false,
        }
    }

    fn layer(theme_dir: &Path, rel: &str, kind: LayerKind, env_specific: bool) -> Layer {
        let path = theme_dir.join(rel);
        let display = if theme_dir == Path::new(".") || theme_dir.as_os_str().is_empty() {
            rel.to_string()
        } else {
            path.display().to_string()
        };
        // `exists` follows symlinks and is false for a dangling one: such a layer is
        // missing, not an error.
        let exists = path.exists();
        Layer {
            display,
            path,
            kind,
            exists,
            env_specific,
        }
    }

    /// Reads, decrypts and merges every present layer.
    pub fn load(&self, decryptor: &dyn Decryptor) -> Result<MergedValues, StackError> {
        let mut merged = Value::empty_map();
        let mut layer_values = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            if !layer.exists {
                layer_values.push(None);
                continue;
            }
            // A decrypted layer's text is wiped once parsed (the value tree itself is
            // not: see docs/keys.md).
            let text = zeroize::Zeroizing::new(read_layer(layer, decryptor)?);
            let tree = parse_values(&text, index as u32).map_err(|e| StackError::Yaml {
                path: layer.display.clone(),
                line: e.line,
                col: e.col,
                message: e.message,
            })?;
            merge_into(&mut merged, tree.clone());
            layer_values.push(Some(tree));
        }
        let mut warnings = Vec::new();
        let env_layers: Vec<&Layer> = self.layers.iter().filter(|l| l.env_specific).collect();
        if self.warn_unknown_env && !env_layers.is_empty() && env_layers.iter().all(|l| !l.exists) {
            let names: Vec<&str> = env_layers.iter().map(|l| l.display.as_str()).collect();
            warnings.push(format!(
                "no layer file exists for this environment ({}); check --env",
                names.join(", ")
            ));
        }
        if self.layers.iter().all(|l| !l.exists) {
            warnings.push(
                "no layer file exists at all: the chart's defaults are used unchanged; check \
                 --dir and the release name"
                    .to_string(),
            );
        }
        Ok(MergedValues {
            value: merged,
            layers: self.layers.clone(),
            layer_values,
            warnings,
        })
    }
}

fn read_layer(layer: &Layer, decryptor: &dyn Decryptor) -> Result<String, StackError> {
    if layer.kind == LayerKind::Secret {
        return decryptor
            .decrypt_file(&layer.path)
            .map_err(|message| StackError::Decrypt {
                path: layer.display.clone(),
                message,
            });
    }
    // Bounded: a layer that is a symlink to /dev/zero must not be read whole.
    let bytes =
        hfkit_sops::limits::read_limited(&layer.path, hfkit_sops::limits::MAX_DOCUMENT_BYTES)
            .map_err(|source| StackError::Read {
                path: layer.display.clone(),
                source,
            })?;
    String::from_utf8(bytes).map_err(|_| StackError::NotUtf8 {
        path: layer.display.clone(),
    })
}

impl MergedValues {
    /// Whether a node's value came from a secrets layer.
    pub fn is_secret(&self, value: &Value) -> bool {
        self.layers
            .get(value.origin.layer as usize)
            .is_some_and(|l| l.kind == LayerKind::Secret)
    }

    /// The merged values as YAML, secret values replaced by `(redacted)` unless
    /// `show_secrets`.
    pub fn to_yaml(&self, show_secrets: bool) -> String {
        if show_secrets {
            return super::to_yaml(&self.value);
        }
        super::to_yaml_redacted(&self.value, &|v| {
            let leaf = !matches!(&v.node, Node::Map(m) if !m.is_empty());
            (leaf && self.is_secret(v)).then_some("(redacted)")
        })
    }

    /// Layers that were not found (skipped).
    pub fn missing(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(|l| !l.exists)
    }
}
