//! The orchestration behind `kubectl hfapply`: applies the releases of a
//! helmfile-shaped repository theme by theme, in `needs:` order, without helmfile,
//! helm-diff or a sops binary.
//!
//! - [`plan`]: which releases, in which waves ([`plan::load`]), and every release's
//!   inputs read, decrypted and checked before anything is applied ([`plan::prepare`]):
//!   a bad input is a one-line error and nothing is applied.
//! - [`fingerprint`]: change detection without helm-diff. A keyed hash of each
//!   release's inputs is stored on the cluster; an unchanged release costs no helm
//!   process.
//! - [`cluster`]: the cluster-side state: the `hfapply-system` namespace, the
//!   fingerprint key, per-release records, helm release revisions.
//! - [`lock`]: one apply at a time per cluster (a `coordination.k8s.io` Lease).
//! - [`kubeconfig`]: sops- or PGP-encrypted kubeconfigs, decrypted in memory.
//! - [`run`]: applying one release (pre raw manifests, `helm upgrade --install`, post
//!   raw manifests) and a whole plan, wave by wave.
//! - [`diff`]: what an apply would change, per release.
//! - [`status`] and [`lint`]: read-only reports.
//! - [`report`]: results as plain lines, a table, JSON or Markdown.

#![warn(missing_docs)]

pub mod cluster;
pub mod diff;
pub mod fingerprint;
pub mod hooks;
pub mod kubeconfig;
pub mod lint;
pub mod lock;
pub mod plan;
pub mod report;
pub mod run;
pub mod status;

/// The version recorded with every fingerprint: a new hfapply re-applies once, since
/// how it renders inputs may have changed.
pub const TOOL_VERSION: &str = concat!("hfapply ", env!("CARGO_PKG_VERSION"));

/// Everything that stops a command before or outside a single release's apply; every
/// message is one line saying what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository, a theme or a selector is malformed.
    #[error(transparent)]
    Theme(#[from] hfkit::theme::ThemeError),
    /// A release's input cannot be used (values, secrets, chart, raw manifests).
    #[error("release `{release}` ({file}): {message}")]
    Input {
        /// `theme/release`.
        release: String,
        /// The helmfile declaring it, with its line.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A theme named on the command line does not exist for this environment.
    #[error("theme `{name}` not found (themes: {known})")]
    UnknownTheme {
        /// The name given.
        name: String,
        /// The themes of the repository, comma separated.
        known: String,
    },
    /// Nothing to do: no theme given and no `--all`.
    #[error("name at least one theme, or pass --all")]
    NoTarget,
    /// Talking to the cluster failed.
    #[error(transparent)]
    Kube(#[from] hfkit_kube::Error),
    /// A Kubernetes API call of our own failed.
    #[error("{action}: {source}")]
    Api {
        /// What we were doing.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// helm could not be run.
    #[error(transparent)]
    Helm(#[from] hfkit::helm::HelmError),
    /// The cluster lock could not be taken in time.
    #[error("another apply holds the cluster lock (lease {namespace}/{name}): {holder}; waited {waited_secs}s (--lock-timeout)")]
    Locked {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Who holds it, since when, from which pipeline run.
        holder: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// The cluster lock was lost while applying: no further release was started.
    #[error("lost the cluster lock (lease {namespace}/{name}): {cause}; no further release was started (those under way finished). Another apply may be running: check `kubectl get lease -n {namespace} {name} -o yaml`, then re-run")]
    LockLost {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Why (deleted, taken over by whom, renewals failing).
        cause: String,
    },
    /// `git` failed for `--changed-since`.
    #[error("--changed-since: {0}")]
    Git(String),
    /// Anything else, already one line.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::Api`] with what we were doing.
    pub fn api(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Api {
            action: action.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
