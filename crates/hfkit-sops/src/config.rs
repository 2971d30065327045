//! `.sops.yaml` creation rules and the options used to encrypt a new file.

use std::path::{Path, PathBuf};

use crate::keys::{age_encrypt, Keyring};
use crate::metadata::{AgeEntry, KeyGroup, Metadata, PgpEntry};
use crate::tree::{get, Branch, Value};
use crate::{shamir, Error};

/// Recipients of one key group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecipientGroup {
    /// PGP fingerprints.
    pub pgp: Vec<String>,
    /// age recipients (`age1…`).
    pub age: Vec<String>,
}

/// How to encrypt a new file: recipients and which values to encrypt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncryptOptions {
    /// Key groups; more than one means Shamir secret sharing of the data key.
    pub key_groups: Vec<RecipientGroup>,
    /// Groups needed to recover the data key (default: all groups).
    pub shamir_threshold: usize,
    /// Values under keys with this suffix stay in clear (sops default `_unencrypted`).
    pub unencrypted_suffix: Option<String>,
    /// Only values under keys with this suffix are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Values under keys matching this regex stay in clear.
    pub unencrypted_regex: Option<String>,
    /// Only values under keys matching this regex are encrypted.
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this regex stay in clear.
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this regex are encrypted.
    pub encrypted_comment_regex: Option<String>,
    /// Only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
}

impl EncryptOptions {
    /// Options encrypting everything for one group of PGP fingerprints and age recipients.
    pub fn for_recipients(pgp: &[&str], age: &[&str]) -> EncryptOptions {
        EncryptOptions {
            key_groups: vec![RecipientGroup {
                pgp: pgp.iter().map(|s| s.to_string()).collect(),
                age: age.iter().map(|s| s.to_string()).collect(),
            }],
            ..Default::default()
        }
    }

    /// Builds the metadata (data key wrapped for every recipient).
    pub(crate) fn metadata(&self, keys: &Keyring, data_key: &[u8]) -> Result<Metadata, Error> {
        let groups: Vec<&RecipientGroup> = self
            .key_groups
            .iter()
            .filter(|g| !g.pgp.is_empty() || !g.age.is_empty())
            .collect();
        if groups.is_empty() {
            return Err(Error::Encrypt("no recipients: give PGP fingerprints or age recipients (creation_rules pgp/age/key_groups)".into()));
        }
        let parts: Vec<Vec<u8>> = if groups.len() > 1 {
            let threshold = if self.shamir_threshold == 0 {
                groups.len()
            } else {
                self.shamir_threshold
            };
            let mut fill = |b: &mut [u8]| {
                use aes_gcm::aead::rand_core::RngCore;
                aes_gcm::aead::OsRng.fill_bytes(b)
            };
            shamir::split(data_key, groups.len(), threshold, &mut fill).map_err(Error::Encrypt)?
        } else {
            vec![data_key.to_vec()]
        };
        let now = crate::metadata::now_rfc3339();
        let mut m = Metadata {
            uses_key_groups: groups.len() > 1,
            shamir_threshold: if groups.len() > 1 {
                if self.shamir_threshold == 0 {
                    groups.len()
                } else {
                    self.shamir_threshold
                }
            } else {
                0
            },
            unencrypted_suffix: self.unencrypted_suffix.clone().unwrap_or_default(),
            encrypted_suffix: self.encrypted_suffix.clone().unwrap_or_default(),
            unencrypted_regex: self.unencrypted_regex.clone().unwrap_or_default(),
            encrypted_regex: self.encrypted_regex.clone().unwrap_or_default(),
            unencrypted_comment_regex: self.unencrypted_comment_regex.clone().unwrap_or_default(),
            encrypted_comment_regex: self.encrypted_comment_regex.clone().unwrap_or_default(),
            mac_only_encrypted: self.mac_only_encrypted,
            ..Default::default()
        };
        let rules = [
            &m.unencrypted_suffix,
            &m.encrypted_suffix,
            &m.unencrypted_regex,
            &m.encrypted_regex,
            &m.unencrypted_comment_regex,
            &m.encrypted_comment_regex,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .count();
        if rules > 1 {
            return Err(Error::Encrypt("use at most one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex".into()));
        }
        if rules == 0 {
            m.unencrypted_suffix = "_unencrypted".into();
        }
        for (g, part) in groups.iter().zip(parts.iter()) {
            let mut kg = KeyGroup::default();
            for r in &g.age {
                kg.age.push(AgeEntry {
                    recipient: r.clone(),
                    enc: age_encrypt(r, part)?,
                });
            }
            for fp in &g.pgp {
                kg.pgp.push(PgpEntry {
                    fp: fp.clone(),
                    enc: keys.pgp_encrypt(fp, part)?,
                    created_at: now.clone(),
                });
            }
            m.key_groups.push(kg);
        }
        Ok(m)
    }
}

/// Finds `.sops.yaml` in the file's directory or its parents, up to the repository root
/// or the home directory (see [`find_upward`]).
pub fn find_config(file: &Path) -> Option<PathBuf> {
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(file)
    };
    find_upward(abs.parent()?, ".sops.yaml")
}

/// Finds the file `name` in `start` or one of its parents, stopping at the repository
/// root (the first directory holding `.git`, a directory or a worktree's `.git` file) or
/// at the user's home directory (`$HOME`), whichever comes first, and never above:
/// a file in a shared directory further up (`/tmp`, `/home`, a CI runner's work
/// directory) must not choose the recipients of a new secret or the layers of a stack.
/// Outside any repository and home, the search goes up to `/`, as sops searches.
pub fn find_upward(start: &Path, name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    // `start` may be written with or without symlinks resolved: match both forms.
    let home_real = home.as_deref().and_then(|h| h.canonicalize().ok());
    for dir in start.ancestors() {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
        let at_home = home.as_deref() == Some(dir)
            || (home_real.is_some() && dir.canonicalize().ok() == home_real);
        if at_home || dir.join(".git").exists() {
            break;
        }
    }
    None
}

fn split_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Str(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::Str(s) => Some(s.trim().to_string()),
                Value::Map(m) => match (get(m, "fp"), get(m, "recipient")) {
                    (Some(Value::Str(s)), _) | (_, Some(Value::Str(s))) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn opt_str(b: &Branch, k: &str) -> Option<String> {
    match get(b, k) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Options from a parsed creation rule.
pub fn options_from_rule(rule: &Branch) -> EncryptOptions {
    let mut groups = Vec::new();
    if let Some(Value::Seq(gs)) = get(rule, "key_groups") {
        for g in gs.iter().filter_map(Value::as_map) {
            groups.push(RecipientGroup {
                pgp: split_list(get(g, "pgp")),
                age: split_list(get(g, "age")),
            });
        }
    } else {
        groups.push(RecipientGroup {
            pgp: split_list(get(rule, "pgp")),
            age: split_list(get(rule, "age")),
        });
    }
    EncryptOptions {
        key_groups: groups,
        shamir_threshold: match get(rule, "shamir_threshold") {
            Some(Value::Int(i)) => (*i).max(0) as usize,
            _ => 0,
        },
        unencrypted_suffix: opt_str(rule, "unencrypted_suffix"),
        encrypted_suffix: opt_str(rule, "encrypted_suffix"),
        unencrypted_regex: opt_str(rule, "unencrypted_regex"),
        encrypted_regex: opt_str(rule, "encrypted_regex"),
        unencrypted_comment_regex: opt_str(rule, "unencrypted_comment_regex"),
        encrypted_comment_regex: opt_str(rule, "encrypted_comment_regex"),
        mac_only_encrypted: matches!(get(rule, "mac_only_encrypted"), Some(Value::Bool(true))),
    }
}

/// Picks the first creation rule of `config_text` whose `path_regex` matches `file`
/// (relative to `config_dir` when possible; a rule without path_regex matches all).
pub fn options_for_text(
    config_text: &str,
    config_dir: &Path,
    file: &Path,
    config_path: &Path,
) -> Result<EncryptOptions, Error> {
    let cerr = |detail: String| Error::Config {
        path: config_path.to_path_buf(),
        detail,
    };
    let docs = crate::yaml::parse(config_text).map_err(|e| cerr(e.to_string()))?;
    let root = docs.first().ok_or_else(|| cerr("empty config".into()))?;
    let Some(Value::Seq(rules)) = get(root, "creation_rules") else {
        return Err(cerr("no creation_rules list".into()));
    };
    let rel = file
        .strip_prefix(config_dir)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/");
    let full = file.to_string_lossy().replace('\\', "/");
    for rule in rules.iter().filter_map(Value::as_map) {
        let matched = match get(rule, "path_regex") {
            Some(Value::Str(re)) if !re.is_empty() => {
                let r = regex::Regex::new(re)
                    .map_err(|e| cerr(format!("invalid path_regex {re:?}: {e}")))?;
                r.is_match(&rel) || r.is_match(&full)
            }
            _ => true,
        };
        if matched {
            return Ok(options_from_rule(rule));
        }
    }
    Err(cerr(format!(
        "no creation rule matches {rel}; add a rule whose path_regex matches it"
    )))
}

/// Reads `.sops.yaml` and picks the creation rule for `file`.
pub fn options_for(config_path: &Path, file: &Path) -> Result<EncryptOptions, Error> {
    let text = crate::limits::read_text(config_path).map_err(|e| Error::Io {
        path: config_path.to_path_buf(),
        source: e,
    })?;
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(file))
            .unwrap_or_else(|_| file.to_path_buf())
    };
    let absdir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    };
    options_for_text(&text, &absdir, &abs, config_path)
}
