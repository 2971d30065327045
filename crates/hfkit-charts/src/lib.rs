//! hfkit-charts: chart version upgrades for helmfile-shaped repositories, the library
//! behind `kubectl hfapply upgrade` and `kubectl hfapply autoupgrade`.
//!
//! - [`source`]: listing versions from classic HTTP chart repositories (`index.yaml`)
//!   and OCI registries (tags list with token authentication);
//! - [`index`]: reading `index.yaml`;
//! - [`version`]: lenient chart versions, constraints, and the choice of the newest
//!   stable version (prereleases, minimum age);
//! - [`edit`]: source-preserving edits of a release's `version:` in a helmfile;
//! - [`upgrade`]: a whole run over a repository, and its [`Report`];
//! - [`render`]: the report as text, JSON or a Markdown PR body;
//! - [`time`]: dates and durations.

#![deny(missing_docs)]

pub mod edit;
pub mod index;
pub mod render;
pub mod source;
pub mod time;
pub mod upgrade;
pub mod version;

pub use upgrade::{run, Report, Request, Scope, Status, Target, UpgradeError};
