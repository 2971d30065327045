//! Themes of a helmfile-shaped repository, read unchanged: the master `helmfile.yaml`
//! listing `helmfiles/<theme>/helmfile.yaml`, each theme's repositories, environments
//! and releases, the `needs:` graph between releases, and helmfile's label selectors.
//! This is the library part of `kubectl hfapply`.
//!
//! # What is read
//!
//! - Several YAML documents separated by `---` in one file are merged in order
//!   (lists appended, environments united), as helmfile merges them. Anchors, aliases
//!   and `<<` merge keys resolve within a document, so `templates: {default: &default}`
//!   merged into releases with `<<: *default` works as in helmfile.
//! - Top-level keys used: `repositories`, `environments` (names only), `releases`,
//!   `helmfiles` (a path or glob, or `{path, selectors, selectorsInherited, values}`),
//!   `templates` (used through anchors), `commonLabels` (added to each release's labels,
//!   overriding them as in helmfile), `helmDefaults.kubeContext` (the kube context of
//!   releases without one, which is part of their identity for `needs:`) and
//!   `missingFileHandler` (see [`MissingFileHandler`] for `values:`/`secrets:` files;
//!   a missing sub-helmfile is skipped unless it is `Error`,
//!   helmfile's default for sub-helmfiles).
//! - Every key is looked up in [`keys`]: honoured keys are read (helm settings into
//!   [`Release::helm`], `helmDefaults` under each release's own), refused keys and
//!   unknown keys are file:line errors (an unknown key names the nearest known one),
//!   and keys where we differ from helmfile are kept in [`Helmfile::notes`] for `lint`.
//! - Raw manifests of a release (`values/<release>/raw/`): `<name>` then, in any
//!   order, a phase (`pre`/`post`), an optional `secret`/`secrets` marker and an
//!   optional scope (`common` or an environment), then `.yaml`/`.yml`/`.json`; see
//!   [`Release::raw_manifests`] and [`classify_raw`].
//! - An environment not declared in a theme's `environments:` makes [`Theme::load`]
//!   fail and [`Repo::load`] skip that theme, as helmfile skips it; `default` is always
//!   declared.
//!
//! # Templates
//!
//! helmfile renders a file as a Go template. We evaluate the subset described in
//! [`render`] inside string values: `{{ .Environment.Name }}`, `{{ .Release.Name }}`,
//! `{{ .Release.Namespace }}` and the escaped form `` {{`{{ .Release.Name }}`}} `` (the
//! file pass outputs the inner text, the release pass evaluates it), plus `{{/* */}}`
//! comments. As in helmfile, the release pass covers `name`, `namespace`, `chart`,
//! `version`, `labels`, `needs` and the `values`/`secrets` file paths, not inline
//! values maps (a raw string there reaches the chart as written). Where we are more
//! lenient than helmfile: an unescaped `{{ .Release.Name }}` in those fields is
//! evaluated (helmfile's file pass has no `.Release` and fails). Anything else (`.Values`, `requiredEnv`, `if`, `range`, pipelines) is an
//! error naming file:line and the expression. When a file does not parse as
//! YAML because of template actions outside string values, the supported actions are
//! rendered over the whole text first (so `namespace: {{ .Environment.Name }}` works
//! unquoted); anything else is reported as template logic we do not support.
//!
//! # Not read
//!
//! Environment values (`environments.<env>.values`) and sub-helmfile `values:` (they
//! only reach templates, which cannot read them yet: noted), remote sub-helmfiles
//! (`git::...`, refused), `bases:` (refused) and values templates (`*.gotmpl` values
//! files, refused).
//!
//! # Errors
//!
//! Every [`ThemeError`] is one line and names the file, its line and the key path
//! (`helmfiles/media/helmfile.yaml:12: releases[1].needs must be a list of release
//! names`).

mod graph;
pub mod keys;
mod missing;
mod model;
mod raw;
mod selector;
mod template;

pub use graph::{Graph, GraphNode, Plan, ReleaseId, ReleaseRef};
pub use missing::{MissingFileHandler, SkippedFile};
pub use model::{
    Helmfile, Hook, InlineValues, KeyNote, Release, ReleaseStack, Repo, Repository, SkippedTheme,
    SubHelmfile, Theme, ValuesEntry, HOOK_EVENTS,
};
pub use raw::{classify as classify_raw, RawManifest, RawName, RawNaming, RawPhase, RawScope};
pub use selector::{matches_any, select, select_in_themes, Selector};
pub use template::{render, TemplateContext, TemplateError, SUPPORTED};

use crate::values::StackError;

/// Everything that can go wrong reading a repository, planning or selecting; each
/// message is one line naming the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// A file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is malformed, or refers to something that does not exist.
    #[error("{path}:{line}: {message}")]
    At {
        /// The file.
        path: String,
        /// 1-based line.
        line: u32,
        /// What is wrong (with the key path) and what to do.
        message: String,
    },
    /// A file of a `raw/` directory cannot be used (misnamed, or theme-level).
    #[error("{path}: {message}")]
    Raw {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The environment is not declared in a helmfile's `environments:`.
    #[error("{path}: environment `{env}` is not defined (defined: {known}); add it under `environments:` or choose another")]
    UndefinedEnvironment {
        /// The helmfile.
        path: String,
        /// The environment asked for.
        env: String,
        /// The declared environments, comma separated.
        known: String,
    },
    /// No helmfile of the repository declares the environment.
    #[error("{path}: no helmfile declares environment `{env}`; nothing to do")]
    NoTheme {
        /// The master helmfile.
        path: String,
        /// The environment asked for.
        env: String,
    },
    /// A label selector is malformed.
    #[error("selector `{selector}`: {message}")]
    Selector {
        /// The selector as given.
        selector: String,
        /// What is wrong.
        message: String,
    },
    /// An environment name that cannot be used in file names.
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
    /// A release's layer stack cannot be built.
    #[error(transparent)]
    Stack(#[from] StackError),
}
