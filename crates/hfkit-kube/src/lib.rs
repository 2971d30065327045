//! Server-side apply, diff and prune of Kubernetes manifests through the API (the `kube`
//! crate), for `kubectl sopsraw` and `kubectl hfapply`. Manifests may be plain or
//! sops-encrypted multi-document YAML; encrypted files are decrypted in memory only.
//!
//! ```no_run
//! # async fn f() -> Result<(), hfkit_kube::Error> {
//! use hfkit_kube::{apply, connect, load, ApplyOptions, KubeOptions, Phase};
//! let keys = hfkit_sops::Keyring::from_env().map_err(|e| hfkit_kube::Error::Sops {
//!     path: "keys".into(), error: e })?;
//! let manifests = load(&["values/plex/raw".into()], Some(Phase::Pre), &keys)?;
//! let conn = connect(&KubeOptions::default()).await?;
//! let opts = ApplyOptions { set: Some("media/plex".into()), prune: true, ..Default::default() };
//! print!("{}", apply(&conn, &manifests, &opts).await?);
//! # Ok(()) }
//! ```
//!
//! - [`manifests`]: files and directories, phase selection (`*.pre.yaml`,
//!   `*.secrets.pre.yaml`, `*.post.yaml`...), decryption, validation.
//! - [`kubeconfig`]: `--kubeconfig`, multi-path `KUBECONFIG`, `--context`, `-n`.
//! - [`discovery`]: `apiVersion` + `kind` to API resource, CRDs included.
//! - [`apply`]: server-side apply (field manager `sopsraw`), Namespaces and CRDs first,
//!   CRDs waited for until Established.
//! - [`inventory`] and [`prune`]: set membership (label, annotation and inventory
//!   ConfigMap) and deletion of members no longer declared.
//! - [`diff`]: dry-run apply versus live, noise stripped, Secrets redacted ([`redact`]).

#![warn(missing_docs)]

pub mod apply;
pub mod convert;
pub mod diff;
pub mod discovery;
pub mod error;
pub mod inventory;
pub mod kubeconfig;
pub mod manifests;
pub mod prune;
pub mod redact;

pub use apply::{apply, Action, ApplyOptions, ApplyReport, Outcome};
pub use diff::{diff, Change, DiffEntry, DiffOptions, DiffReport};
pub use discovery::{ObjectRef, Resolver};
pub use error::{Error, Result};
pub use inventory::SetRef;
pub use kubeconfig::{connect, Connection, KubeOptions};
pub use manifests::{load, Manifest, Phase};
pub use prune::{Desired, ProtectedKind};
