//! helmfile's `missingFileHandler`: what happens when a file named in a release's
//! `values:` or `secrets:` does not exist.
//!
//! As in helmfile 1.7 (`pkg/state/storage.go` `resolveFile`, `pkg/state/state.go`):
//!
//! - `Error` (the default): the release cannot be prepared; the message names the file.
//! - `Warn`: one warning line per missing file, which is skipped.
//! - `Info`, `Debug`: the same line at that log level (helmfile prints `Info` at its
//!   default log level, `Debug` only with `--log-level debug`).
//!
//! For `values:` files the release's `missingFileHandler` wins over the helmfile's
//! top-level one. For `secrets:` files helmfile 1.7 reads only the release's own
//! setting (a top-level `missingFileHandler` does not cover them); hfkit does the same.
//! Any other value is an error at the key's file:line (helmfile reports it only when a
//! file is missing). The layer patterns of `.helm-layered.yaml` (used for releases
//! without `values:`/`secrets:`) are optional by design and not affected.

use super::model::{Helmfile, Release, ReleaseStack};
use crate::values::LayerKind;

/// The values `missingFileHandler` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MissingFileHandler {
    /// Fail (the default).
    Error,
    /// Skip the file with a warning.
    Warn,
    /// Skip the file with an informational line.
    Info,
    /// Skip the file with a debug line.
    Debug,
}

impl MissingFileHandler {
    /// The names as helmfile spells them (case-sensitive).
    pub const NAMES: [&'static str; 4] = ["Error", "Warn", "Info", "Debug"];

    /// Parses a name as helmfile does (exact spelling).
    pub fn from_name(name: &str) -> Option<MissingFileHandler> {
        match name {
            "Error" => Some(MissingFileHandler::Error),
            "Warn" => Some(MissingFileHandler::Warn),
            "Info" => Some(MissingFileHandler::Info),
            "Debug" => Some(MissingFileHandler::Debug),
            _ => None,
        }
    }

    /// The name as written in a helmfile.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Checks a `missingFileHandler:` value read at `what`; the message is for the key's
/// file:line.
pub(super) fn validate(value: Option<String>, what: &str) -> Result<Option<String>, String> {
    match value {
        Some(v) if MissingFileHandler::from_name(&v).is_none() => Err(format!(
            "{what}: `{v}` is not a missing file handler; use one of {} (as helmfile spells \
             them)",
            MissingFileHandler::NAMES.join(", ")
        )),
        v => Ok(v),
    }
}

/// A missing `values:`/`secrets:` file that was skipped, and how loudly to say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// `Warn`, `Info` or `Debug`.
    pub level: MissingFileHandler,
    /// One line: `skipping missing values file <path> (missingFileHandler: Warn)`.
    pub message: String,
}

impl Release {
    /// The handler in force for this release's `values:` files (`secrets` false) or
    /// `secrets:` files (`secrets` true), with `helmfile` the release's own helmfile.
    pub fn effective_missing_file_handler(
        &self,
        helmfile: &Helmfile,
        secrets: bool,
    ) -> MissingFileHandler {
        let set = if secrets {
            self.missing_file_handler.as_deref()
        } else {
            self.missing_file_handler
                .as_deref()
                .or(helmfile.missing_file_handler.as_deref())
        };
        set.and_then(MissingFileHandler::from_name)
            .unwrap_or(MissingFileHandler::Error)
    }

    /// Applies `missingFileHandler` to the missing files of `stack` (built by
    /// [`Release::stack`]): the skipped files, or the one-line error for the first
    /// file that must exist. Nothing to check when the release has no
    /// `values:`/`secrets:` files (its stack is made of optional layer patterns).
    pub fn missing_files(
        &self,
        helmfile: &Helmfile,
        stack: &ReleaseStack,
    ) -> Result<Vec<SkippedFile>, String> {
        if self.values.is_empty() && self.secrets.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for layer in stack.stack.layers.iter().filter(|l| !l.exists) {
            let secrets = layer.kind == LayerKind::Secret;
            let what = if secrets { "secrets" } else { "values" };
            let handler = self.effective_missing_file_handler(helmfile, secrets);
            if handler == MissingFileHandler::Error {
                let whose = if secrets || self.missing_file_handler.is_some() {
                    "the release's"
                } else if helmfile.missing_file_handler.is_some() {
                    "the helmfile's"
                } else {
                    "helmfile's default"
                };
                return Err(format!(
                    "{what} file {} does not exist (missingFileHandler: Error, {whose}); create \
                     it, fix the path in `{what}:`, or set `missingFileHandler: Warn` on the \
                     release to skip it",
                    layer.display
                ));
            }
            out.push(SkippedFile {
                level: handler,
                message: format!(
                    "skipping missing {what} file {} (missingFileHandler: {})",
                    layer.display,
                    handler.as_str()
                ),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for n in MissingFileHandler::NAMES {
            assert_eq!(MissingFileHandler::from_name(n).unwrap().as_str(), n);
        }
        assert_eq!(MissingFileHandler::from_name("warn"), None);
        assert!(validate(Some("Warn".into()), "k").is_ok());
        assert!(validate(None, "k").is_ok());
        let e = validate(Some("Skip".into()), "releases[0].missingFileHandler").unwrap_err();
        assert!(
            e.contains("`Skip`") && e.contains("Error, Warn, Info, Debug"),
            "{e}"
        );
    }
}
