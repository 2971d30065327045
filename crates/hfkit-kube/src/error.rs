//! The crate's error type: every message says what to do next.

use std::path::PathBuf;

/// Errors of reading manifests and talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {error}; check the path given with -f")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A manifest file could not be parsed or decrypted.
    #[error("{path}: {error}")]
    Sops {
        /// The file.
        path: PathBuf,
        /// What hfkit-sops reported (its message names the next step).
        error: hfkit_sops::Error,
    },
    /// A file named as a secret (`*.secret.*`, `*.secrets.*`) that is not
    /// sops-encrypted: it would be applied in clear, and is probably committed so.
    #[error("{} is named as a secret (`*.secret.*` / `*.secrets.*`) but is not sops-encrypted; refusing to apply it in clear: encrypt it with `kubectl sopsraw encrypt -i {}` (or rename it if it holds no secret)", path.display(), path.display())]
    PlainSecret {
        /// The file.
        path: PathBuf,
    },
    /// A document is not a Kubernetes object.
    #[error(
        "{path}, document {doc}: {detail}; every document needs apiVersion, kind and metadata.name"
    )]
    Manifest {
        /// The file.
        path: PathBuf,
        /// 1-based index of the document in the file.
        doc: usize,
        /// What is wrong.
        detail: String,
    },
    /// A directory holds no file for the phase.
    #[error("no manifest files in {path}{phase}; files in a directory are picked by name: `*.pre.yaml`, `*.secrets.pre.yaml` (--phase pre), `*.post.yaml` (--phase post), any `*.yaml`/`*.yml`/`*.json` without --phase")]
    NoFiles {
        /// The directory.
        path: PathBuf,
        /// ` for phase X`, or empty.
        phase: String,
    },
    /// The same object is declared twice.
    #[error("{0} is declared twice in the manifests; keep one declaration")]
    Duplicate(String),
    /// The kubeconfig could not be loaded.
    #[error("kubeconfig: {0}; pass --kubeconfig FILE, set KUBECONFIG or check --context")]
    Kubeconfig(String),
    /// The API server does not serve a kind.
    #[error("the server does not serve {api_version} {kind} ({detail}); is its CRD installed? put the CRD in the same apply or an earlier phase, or check `kubectl api-resources`")]
    UnknownKind {
        /// apiVersion of the object.
        api_version: String,
        /// kind of the object.
        kind: String,
        /// What discovery answered.
        detail: String,
    },
    /// A namespaced object has no namespace and no default is known.
    #[error("{0} is namespaced but has no metadata.namespace and no default namespace is known; pass -n NAMESPACE or set a namespace in the kubeconfig context")]
    NoNamespace(String),
    /// An API request failed.
    #[error("{action} {object}: {}{hint}", api_message(error))]
    Api {
        /// What was being done (`apply`, `get`, `delete`...).
        action: &'static str,
        /// The object (`kind/namespace/name`).
        object: String,
        /// The client error.
        error: Box<kube::Error>,
        /// A hint on the next step, starting with `; `, or empty.
        hint: String,
    },
    /// A CRD did not become Established in time.
    #[error("CRD {name} is not Established after {secs}s; check `kubectl get crd {name} -o yaml` (conditions)")]
    CrdTimeout {
        /// The CRD's name.
        name: String,
        /// Seconds waited.
        secs: u64,
    },
    /// The inventory of a set is unreadable.
    #[error("inventory {name} in namespace {namespace}: {detail}; delete the ConfigMap to start the set afresh (nothing will be pruned then)")]
    Inventory {
        /// Namespace of the inventory ConfigMap.
        namespace: String,
        /// Name of the inventory ConfigMap.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A kind given to `--allow-prune-kind` is not one of the protected kinds.
    #[error("`{0}` is not a protected kind: --allow-prune-kind takes Namespace, CustomResourceDefinition or PersistentVolume (comma separated); other kinds are pruned without it")]
    NotProtected(String),
    /// A set name is invalid.
    #[error(
        "invalid set name `{0}`: use `NAME` or `NAMESPACE/NAME` (letters, digits, `-`, `_`, `.`)"
    )]
    BadSetName(String),
}

impl Error {
    /// Wraps a client error, adding a hint for the common causes.
    pub fn api(action: &'static str, object: impl Into<String>, e: kube::Error) -> Error {
        let hint = match &e {
            kube::Error::Api(s) if s.code == 409 && action == "apply" => {
                "; another field manager owns these fields: pass --force-conflicts to take them over".to_string()
            }
            kube::Error::Api(s) if s.code == 403 => {
                "; your kubeconfig user lacks RBAC permission for this (check `kubectl auth can-i`)".to_string()
            }
            kube::Error::Api(s) if s.code == 404 && action == "apply" => {
                "; does its namespace exist? declare the Namespace in the same apply or create it first".to_string()
            }
            kube::Error::Api(s) if s.code == 422 || s.code == 400 => {
                "; fix the manifest (the server rejected it as invalid)".to_string()
            }
            kube::Error::Api(_) => String::new(),
            _ => "; is the API server reachable? check --kubeconfig/--context".to_string(),
        };
        Error::Api {
            action,
            object: object.into(),
            error: Box::new(e),
            hint,
        }
    }
}

/// The server's message for API errors (with its HTTP code), else the client error.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} (HTTP {})", s.message, s.code)
        }
        other => other.to_string(),
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
