//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading, decrypting or encrypting a sops file.
///
/// Messages are one line: what failed, where, and what to do about it. They never contain
/// decrypted material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document could not be parsed as YAML or JSON.
    #[error("cannot parse {format} document: {detail}; fix the syntax of the file")]
    Parse {
        /// `YAML` or `JSON`.
        format: &'static str,
        /// Parser message (with line/column where known).
        detail: String,
    },
    /// The document exceeds a safety limit: size, nesting depth or alias expansion
    /// (see [`crate::limits`]).
    #[error("{format} document refused at line {line}: {limit}")]
    Limit {
        /// `YAML` or `JSON`.
        format: &'static str,
        /// 1-based line where the limit was crossed (1 for the size limit).
        line: usize,
        /// Which limit, and what to do.
        limit: crate::limits::LimitError,
    },
    /// The document has no `sops` metadata block (or it lacks a mac/version).
    #[error("not a sops-encrypted file: no `sops` metadata block with `mac` and `version` found; encrypt it first (or read it as plaintext)")]
    NotEncrypted,
    /// The `sops` metadata block is malformed.
    #[error("invalid sops metadata: {0}; the file was damaged or not written by sops")]
    Metadata(String),
    /// A value could not be decrypted (wrong key, tampered value, IV, tag or key path).
    #[error("cannot decrypt value at `{path}`: {detail}; the file was modified or encrypted with another data key")]
    Value {
        /// Key path of the value, joined with `:` as sops builds it.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The MAC stored in the file does not match the values.
    #[error("MAC mismatch: {detail}; the file was modified after encryption (values, keys, order or lastmodified) — re-encrypt it with sops, or use ignore_mac to read it anyway")]
    MacMismatch {
        /// Which part of the check failed.
        detail: String,
    },
    /// No key in the keyring could recover the data key.
    #[error("cannot recover the data key: {detail}; provide a matching key (SOPS_PGP_KEY_FILE / SOPS_PGP_KEY, SOPS_AGE_KEY_FILE / SOPS_AGE_KEY, ~/.config/sops/age/keys.txt or a gpg keyring)")]
    NoKey {
        /// Recipients the file is encrypted for and the keys that were tried.
        detail: String,
    },
    /// A key given to the keyring is malformed.
    #[error("invalid key {source_name}: {detail}; check the armored PGP key / age identity")]
    BadKey {
        /// Where the key came from (env var name, file path, ...).
        source_name: String,
        /// What went wrong.
        detail: String,
    },
    /// sops would read the file with a store hfkit does not have (by its name: `.env`
    /// is dotenv, `.ini` INI; see [`crate::Format::from_path`]).
    #[error("sops reads this file with its {store} store, which hfkit does not support yet; keep the secrets in a .yaml or .json file, or a file of another name (sops's binary store)")]
    UnsupportedStore {
        /// The sops store: `dotenv` or `INI`.
        store: &'static str,
    },
    /// A binary-store file ([`crate::binary`]) whose `data` cannot be given as asked.
    #[error("binary-store file: {0}")]
    Binary(String),
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
    /// The `.sops.yaml` configuration is invalid or has no matching rule.
    #[error("sops config {path}: {detail}")]
    Config {
        /// Path of the config file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// An I/O error while reading a file.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error tied to a file: wraps any other error with the file's path.
    ///
    /// The wrapped error is part of this message and deliberately not its `source()`:
    /// an `{:#}` chain would print it twice.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        error: Box<Error>,
    },
}

impl Error {
    pub(crate) fn parse(format: &'static str, detail: impl Into<String>) -> Self {
        Error::Parse {
            format,
            detail: detail.into(),
        }
    }

    /// Wraps this error with the path of the file it happened in.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        Error::File {
            path: path.to_path_buf(),
            error: Box::new(self),
        }
    }
}
