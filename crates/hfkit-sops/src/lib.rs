//! Native sops: decrypt and encrypt sops files (YAML and JSON) in process, byte-compatible
//! with getsops/sops 3.13.
//!
//! ```no_run
//! use hfkit_sops::{decrypt_file, DecryptOptions, Keyring};
//! let keys = Keyring::from_env()?;
//! let plain = decrypt_file("secrets.yaml".as_ref(), &keys, &DecryptOptions::default())?;
//! # Ok::<(), hfkit_sops::Error>(())
//! ```
//!
//! Decrypted material stays in memory: it is never written to disk, put on a command line
//! or logged. See [`keys`] for the environment variables [`Keyring::from_env`] reads.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aes;
pub mod config;
pub mod crypt;
mod error;
pub mod json;
pub mod keys;
pub mod limits;
pub mod metadata;
pub mod shamir;
pub mod tree;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use config::{EncryptOptions, RecipientGroup};
pub use error::Error;
pub use keys::Keyring;
pub use metadata::Metadata;

use crate::tree::{Branch, Key, Value};

/// File formats supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml` and anything not JSON).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// Picks the format from a file extension: `.json` is JSON, everything else YAML.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Options for decryption.
#[derive(Debug, Clone, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (like `sops --ignore-mac`). Values are still authenticated
    /// one by one by AES-GCM, but removed/reordered/added values go unnoticed.
    pub ignore_mac: bool,
}

/// Parses a document into branches (one per YAML document).
pub fn parse(input: &str, format: Format) -> Result<Vec<Branch>, Error> {
    match format {
        Format::Yaml => yaml::parse(input),
        Format::Json => Ok(vec![json::parse(input)?]),
    }
}

/// Emits branches in the given format, as sops writes them.
pub fn emit(docs: &[Branch], format: Format) -> String {
    match format {
        Format::Yaml => yaml::emit(docs),
        Format::Json => json::emit(docs.first().unwrap_or(&Vec::new())),
    }
}

/// Splits the `sops` block off every document; returns the first document's.
fn extract_sops(docs: &mut [Branch]) -> Result<Option<Branch>, Error> {
    let mut meta = None;
    for (i, d) in docs.iter_mut().enumerate() {
        let mut found = 0;
        let mut j = 0;
        while j < d.len() {
            if matches!(&d[j].key, Key::Str(k) if k == "sops") {
                let it = d.remove(j);
                found += 1;
                if i == 0 {
                    if found > 1 {
                        return Err(Error::Metadata("duplicate `sops` entry".into()));
                    }
                    match it.value {
                        Value::Map(m) => meta = Some(m),
                        _ => return Err(Error::Metadata("`sops` entry is not a mapping".into())),
                    }
                }
            } else {
                j += 1;
            }
        }
    }
    Ok(meta)
}

/// Whether the input has a top-level `sops` metadata block holding a `mac` or a `version`.
pub fn is_sops_encrypted(input: &str, format: Format) -> bool {
    let Ok(mut docs) = parse(input, format) else {
        return false;
    };
    match extract_sops(&mut docs) {
        Ok(Some(m)) => tree::get(&m, "mac").is_some() || tree::get(&m, "version").is_some(),
        _ => false,
    }
}

/// A decrypted document with what is needed to re-encrypt it.
pub struct Decrypted {
    /// Plaintext documents.
    pub docs: Vec<Branch>,
    /// The file's metadata.
    pub metadata: Metadata,
    /// The data key.
    pub data_key: zeroize::Zeroizing<Vec<u8>>,
    /// IVs of the encrypted values by (key path, plaintext bytes), to keep unchanged values
    /// byte-identical when re-encrypting.
    ivs: HashMap<(String, Vec<u8>), [u8; aes::IV_SIZE]>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

fn collect_ivs(
    enc: &[Branch],
    plain: &[Branch],
    out: &mut HashMap<(String, Vec<u8>), [u8; aes::IV_SIZE]>,
) {
    fn walk_v(
        e: &Value,
        p: &Value,
        path: &mut Vec<String>,
        out: &mut HashMap<(String, Vec<u8>), [u8; aes::IV_SIZE]>,
    ) {
        match (e, p) {
            (Value::Map(a), Value::Map(b)) => walk_b(a, b, path, out),
            (Value::Seq(a), Value::Seq(b)) => {
                for (x, y) in a.iter().zip(b) {
                    walk_v(x, y, path, out);
                }
            }
            (Value::Str(s), v) | (Value::Comment(tree::Comment { text: s, .. }), v) => {
                if let (Ok(ev), Some(bytes)) = (aes::parse(s), aes::to_bytes(v)) {
                    if let Ok(iv) = <[u8; aes::IV_SIZE]>::try_from(ev.iv.as_slice()) {
                        out.insert((format!("{}:", path.join(":")), bytes), iv);
                    }
                }
            }
            _ => {}
        }
    }
    fn walk_b(
        a: &Branch,
        b: &Branch,
        path: &mut Vec<String>,
        out: &mut HashMap<(String, Vec<u8>), [u8; aes::IV_SIZE]>,
    ) {
        for (x, y) in a.iter().zip(b) {
            match (&x.key, &y.key) {
                (Key::Str(k), _) => {
                    path.push(k.clone());
                    walk_v(&x.value, &y.value, path, out);
                    path.pop();
                }
                (Key::Comment(c), Key::Comment(pc)) => walk_v(
                    &Value::Comment(c.clone()),
                    &Value::Comment(pc.clone()),
                    path,
                    out,
                ),
                _ => {}
            }
        }
    }
    for (a, b) in enc.iter().zip(plain) {
        walk_b(a, b, &mut Vec::new(), out);
    }
}

/// Decrypts a parsed document tree, verifying the MAC unless told not to.
pub fn decrypt_docs(
    mut docs: Vec<Branch>,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    let meta = extract_sops(&mut docs)?.ok_or(Error::NotEncrypted)?;
    if tree::get(&meta, "mac").is_none() && tree::get(&meta, "version").is_none() {
        return Err(Error::NotEncrypted);
    }
    let metadata = Metadata::from_branch(&meta)?;
    let data_key = keys.data_key(&metadata)?;
    let rules = crypt::Rules::new(&metadata)?;
    let enc_docs = docs.clone();
    let computed = crypt::walk(&mut docs, &rules, crypt::Mode::Decrypt(&data_key))?;
    if !opts.ignore_mac {
        let file_mac =
            aes::decrypt(&metadata.mac, &data_key, &metadata.mac_aad()).map_err(|e| {
                Error::MacMismatch {
                    detail: format!(
                        "cannot decrypt the MAC ({e}; lastmodified {:?})",
                        metadata.lastmodified
                    ),
                }
            })?;
        match file_mac {
            Value::Str(s) if s.is_empty() => {
                return Err(Error::MacMismatch {
                    detail: "the file has no MAC".into(),
                })
            }
            Value::Str(s) if s == computed => {}
            _ => {
                return Err(Error::MacMismatch {
                    detail: "the stored MAC differs from the one computed over the values".into(),
                })
            }
        }
    }
    let mut ivs = HashMap::new();
    collect_ivs(&enc_docs, &docs, &mut ivs);
    Ok(Decrypted {
        docs,
        metadata,
        data_key,
        ivs,
    })
}

/// Decrypts a sops document and returns the plaintext in the same format (sops's layout,
/// `sops` block removed).
pub fn decrypt_str(
    input: &str,
    format: Format,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<String, Error> {
    let docs = parse(input, format)?;
    let d = decrypt_docs(docs, keys, opts)?;
    Ok(emit(&d.docs, format))
}

fn read(path: &Path) -> Result<String, Error> {
    limits::read_text(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Decrypts a sops file (format from its extension). Errors carry the path.
pub fn decrypt_file(path: &Path, keys: &Keyring, opts: &DecryptOptions) -> Result<String, Error> {
    let input = read(path)?;
    decrypt_str(&input, Format::from_path(path), keys, opts).map_err(|e| e.in_file(path))
}

fn encrypt_docs(
    mut docs: Vec<Branch>,
    metadata: &mut Metadata,
    data_key: &[u8],
    ivs: &HashMap<(String, Vec<u8>), [u8; aes::IV_SIZE]>,
) -> Result<Vec<Branch>, Error> {
    for d in &docs {
        if tree::get(d, "sops").is_some() {
            return Err(Error::Encrypt(
                "the document already has a `sops` key (is it already encrypted?)".into(),
            ));
        }
    }
    let rules = crypt::Rules::new(metadata)?;
    let lookup = |aad: &str, v: &Value| {
        aes::to_bytes(v).and_then(|b| ivs.get(&(aad.to_string(), b)).copied())
    };
    let mac = crypt::walk(&mut docs, &rules, crypt::Mode::Encrypt(data_key, &lookup))?;
    metadata.lastmodified = metadata::now_rfc3339();
    metadata.version = "3.13.2".into();
    let iv = aes::random_iv();
    metadata.mac = aes::encrypt(&Value::Str(mac), data_key, &metadata.mac_aad(), &iv)
        .map_err(Error::Encrypt)?;
    let sops = metadata.to_branch();
    for d in docs.iter_mut() {
        d.push(tree::Item {
            key: Key::Str("sops".into()),
            value: Value::Map(sops.clone()),
        });
    }
    Ok(docs)
}

/// Encrypts a plaintext document for the recipients in `opts` with a fresh data key.
pub fn encrypt_str(
    input: &str,
    format: Format,
    keys: &Keyring,
    opts: &EncryptOptions,
) -> Result<String, Error> {
    let docs = parse(input, format)?;
    let mut key = zeroize::Zeroizing::new(vec![0u8; 32]);
    {
        use aes_gcm::aead::rand_core::RngCore;
        aes_gcm::aead::OsRng.fill_bytes(&mut key);
    }
    let mut metadata = opts.metadata(keys, &key)?;
    let out = encrypt_docs(docs, &mut metadata, &key, &HashMap::new())?;
    Ok(emit(&out, format))
}

/// Re-encrypts an edited plaintext with an existing encrypted file's data key and
/// metadata: unchanged values keep their ciphertext, changed ones get fresh IVs, and
/// lastmodified and the MAC are updated.
pub fn edit_str(
    encrypted: &str,
    new_plaintext: &str,
    format: Format,
    keys: &Keyring,
) -> Result<String, Error> {
    let old = decrypt_docs(parse(encrypted, format)?, keys, &DecryptOptions::default())?;
    let docs = parse(new_plaintext, format)?;
    let mut metadata = old.metadata.clone();
    let out = encrypt_docs(docs, &mut metadata, &old.data_key, &old.ivs)?;
    Ok(emit(&out, format))
}

/// Encrypts a file following the creation rules of the nearest `.sops.yaml` (searched from
/// the file's directory upwards); returns the encrypted text (the file is not modified).
pub fn encrypt_file(path: &Path, keys: &Keyring) -> Result<String, Error> {
    encrypt_file_config(path, keys).map(|(text, _)| text)
}

/// [`encrypt_file`], also returning the `.sops.yaml` whose creation rule was used, so
/// that callers can tell the user (the search stops at the repository root or the home
/// directory: [`config::find_upward`]).
pub fn encrypt_file_config(path: &Path, keys: &Keyring) -> Result<(String, PathBuf), Error> {
    let input = read(path)?;
    let cfg = config::find_config(path).ok_or_else(|| {
        Error::Config {
            path: path.to_path_buf(),
            detail: "no .sops.yaml found in this directory or a parent up to the repository root (.git) or your home directory; create one there with creation_rules".into(),
        }
        .in_file(path)
    })?;
    let opts = config::options_for(&cfg, path).map_err(|e| e.in_file(path))?;
    let text =
        encrypt_str(&input, Format::from_path(path), keys, &opts).map_err(|e| e.in_file(path))?;
    Ok((text, cfg))
}
