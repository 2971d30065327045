//! hfkit: the library behind `helm layered`, `kubectl sopsraw` and `kubectl hfapply`.
//!
//! Each module owns one concern:
//! - [`values`]: layer stacks, helm-compatible merge, provenance of every key;
//! - [`secrets`]: how a stack decrypts its sops layers;
//! - [`helm`]: running the real helm with a values stack on its standard input;
//! - [`manifest`]: splitting rendered manifests into objects;
//! - [`diff`]: object-by-object diffs of manifests, with Secret data redacted;
//! - [`names`]: validation of release and environment names;
//! - [`theme`]: helmfile-shaped repositories read unchanged: themes, releases, `needs:`
//!   waves and label selectors (the library part of `kubectl hfapply`);
//! - [`limits`]: the bounds every YAML reader enforces on hostile input (size, nesting,
//!   alias expansion), shared with the sops reader.

pub mod diff;
pub mod helm;
pub mod helm_settings;
pub mod manifest;
pub mod names;
pub mod secrets;
pub mod theme;
pub mod values;

pub use hfkit_sops::limits;
