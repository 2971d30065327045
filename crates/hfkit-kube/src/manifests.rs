//! Reading manifests: files and directories, phase selection, multi-document YAML (or
//! JSON), plain and sops-encrypted alike (decrypted in memory, never written anywhere).

use std::fmt;
use std::path::{Path, PathBuf};

use hfkit_sops::{DecryptOptions, Format, Keyring};

use crate::convert::branch_to_json;
use crate::error::{Error, Result};

/// Which files of a directory are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `*.pre.yaml` (which includes `*.secrets.pre.yaml`), `.yml` and `.json` too.
    Pre,
    /// `*.post.yaml` (which includes `*.secrets.post.yaml`), `.yml` and `.json` too.
    Post,
}

impl Phase {
    /// The phase's name as written in file names (`pre`, `post`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }

    /// Whether a file name belongs to the phase.
    pub fn matches(self, file_name: &str) -> bool {
        ["yaml", "yml", "json"]
            .iter()
            .any(|ext| file_name.ends_with(&format!(".{}.{ext}", self.as_str())))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Kubernetes object read from a file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from.
    pub source: PathBuf,
    /// 1-based index of the document in the file.
    pub doc: usize,
    /// The object, decrypted when the file was sops-encrypted.
    pub object: serde_json::Value,
    /// Whether it came from a sops-encrypted file.
    pub encrypted: bool,
}

impl Manifest {
    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name` of the object.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace` of the object, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

/// Whether a file's name says it holds secrets: a dot-separated part before the
/// extension is `secret` or `secrets` (`db.secrets.pre.yaml`, `token.secret.yaml`,
/// `secrets.yaml`), as the sops and helm-secrets conventions name encrypted files.
pub fn is_secret_file_name(name: &str) -> bool {
    let mut parts: Vec<&str> = name.split('.').collect();
    parts.pop();
    parts
        .iter()
        .any(|p| p.eq_ignore_ascii_case("secret") || p.eq_ignore_ascii_case("secrets"))
}

fn is_manifest_file(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
}

/// The files designated by `paths`: a file is taken as is; a directory contributes its
/// files (not recursively, sorted by name) of the phase — every `*.yaml`/`*.yml`/`*.json`
/// without a phase.
pub fn collect_files(paths: &[PathBuf], phase: Option<Phase>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::Io {
            path: p.clone(),
            error: e,
        })?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        let rd = std::fs::read_dir(p).map_err(|e| Error::Io {
            path: p.clone(),
            error: e,
        })?;
        let mut found = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::Io {
                path: p.clone(),
                error: e,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            let take = match phase {
                Some(ph) => ph.matches(&name),
                None => is_manifest_file(&name),
            };
            if take {
                found.push(entry.path());
            }
        }
        if found.is_empty() {
            return Err(Error::NoFiles {
                path: p.clone(),
                phase: phase
                    .map(|ph| format!(" for phase {ph}"))
                    .unwrap_or_default(),
            });
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Parses one file's text (multi-document YAML, or JSON): decrypts it in memory when it
/// is sops-encrypted (MAC verified: a tampered file is refused), checks every document is
/// an object with `apiVersion`, `kind` and `metadata.name`. Empty documents are skipped;
/// a `kind: List` is expanded into its items. A file named as a secret
/// ([`is_secret_file_name`]) must be encrypted: in clear it is refused
/// ([`Error::PlainSecret`]).
pub fn parse_manifests(path: &Path, text: &str, keys: &Keyring) -> Result<Vec<Manifest>> {
    let format = Format::yaml_or_json(path);
    let sops_err = |e: hfkit_sops::Error| Error::Sops {
        path: path.to_path_buf(),
        error: e,
    };
    let encrypted = hfkit_sops::is_sops_encrypted(text, format);
    let named_secret = path
        .file_name()
        .is_some_and(|n| is_secret_file_name(&n.to_string_lossy()));
    if named_secret && !encrypted {
        return Err(Error::PlainSecret {
            path: path.to_path_buf(),
        });
    }
    let docs = hfkit_sops::parse(text, format).map_err(sops_err)?;
    let docs = if encrypted {
        hfkit_sops::decrypt_docs(docs, keys, &DecryptOptions::default())
            .map_err(sops_err)?
            .docs
    } else {
        docs
    };
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let obj = branch_to_json(d);
        if obj.as_object().is_none_or(|o| o.is_empty()) {
            continue;
        }
        let items = if obj["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && obj["items"].is_array()
        {
            obj["items"].as_array().cloned().unwrap_or_default()
        } else {
            vec![obj]
        };
        for object in items {
            let m = Manifest {
                source: path.to_path_buf(),
                doc: i + 1,
                object,
                encrypted,
            };
            let bad = |detail: &str| Error::Manifest {
                path: path.to_path_buf(),
                doc: i + 1,
                detail: detail.to_string(),
            };
            if !m.object.is_object() {
                return Err(bad("not a mapping"));
            }
            if m.api_version().is_empty() {
                return Err(bad("no apiVersion"));
            }
            if m.kind().is_empty() {
                return Err(bad("no kind"));
            }
            if m.name().is_empty() {
                return Err(bad(
                    "no metadata.name (generateName is not supported by apply)",
                ));
            }
            out.push(m);
        }
    }
    Ok(out)
}

/// Reads one file (see [`parse_manifests`]).
pub fn read_file(path: &Path, keys: &Keyring) -> Result<Vec<Manifest>> {
    let text = hfkit_sops::limits::read_text(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        error: e,
    })?;
    parse_manifests(path, &text, keys)
}

/// Reads every file designated by `paths` for `phase` (see [`collect_files`]).
pub fn load(paths: &[PathBuf], phase: Option<Phase>, keys: &Keyring) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for f in collect_files(paths, phase)? {
        out.extend(read_file(&f, keys)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_matching() {
        assert!(Phase::Pre.matches("a.pre.yaml"));
        assert!(Phase::Pre.matches("db.secrets.pre.yaml"));
        assert!(!Phase::Pre.matches("a.post.yaml"));
        assert!(Phase::Post.matches("x.post.yml"));
        assert!(!Phase::Post.matches("post.yaml"));
    }

    #[test]
    fn multi_doc_and_list() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: b\n";
        let m = parse_manifests(Path::new("x.yaml"), text, &Keyring::new()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].kind(), "Secret");
        assert_eq!(m[1].doc, 3);
    }

    #[test]
    fn secret_file_names() {
        for name in [
            "db.secrets.pre.yaml",
            "token.secret.yaml",
            "secrets.yaml",
            "a.SECRETS.post.yml",
            "x.secret.json",
        ] {
            assert!(is_secret_file_name(name), "{name}");
        }
        for name in [
            "db.pre.yaml",
            "secret",
            "my-secrets.yaml",
            "secretsauce.yaml",
            "x.yaml.secrets",
        ] {
            assert!(!is_secret_file_name(name), "{name}");
        }
    }

    #[test]
    fn a_plain_file_named_as_a_secret_is_refused() {
        let text =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  p: hunter2\n";
        for name in ["foo.secrets.pre.yaml", "foo.secret.yaml"] {
            let e = parse_manifests(Path::new(name), text, &Keyring::new()).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::PlainSecret { .. }), "{msg}");
            assert!(msg.contains(name), "{msg}");
            assert!(
                msg.contains(&format!("kubectl sopsraw encrypt -i {name}")),
                "{msg}"
            );
            assert!(!msg.contains("hunter2") && !msg.contains('\n'), "{msg}");
        }
        // The same text under a plain name is read.
        assert_eq!(
            parse_manifests(Path::new("foo.pre.yaml"), text, &Keyring::new())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn missing_name_is_refused() {
        let e = parse_manifests(
            Path::new("x.yaml"),
            "apiVersion: v1\nkind: ConfigMap\n",
            &Keyring::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("metadata.name"), "{e}");
    }
}
