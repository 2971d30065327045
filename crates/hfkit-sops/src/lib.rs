//! Native sops: decrypt and encrypt sops files (YAML, JSON and the binary store) in process, byte-compatible
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
//!
//! # Tampering
//!
//! Each value is sealed by AES-GCM under its key path and the file by a MAC over the
//! plaintext values; the `type:` of a value, comments and most of the `sops:` block are
//! covered by neither. Decryption refuses everything sops 3.13.2 refuses, and also a value
//! marked `type:comment` (sops silently turns it into a comment or a map), a `type:bytes`
//! value, and an `ENC[`-looking comment that does not authenticate as a comment (sops shows
//! it garbled). These checks hold with [`DecryptOptions::ignore_mac`] too. A type change
//! between types that read the same plaintext (`"42"` as `str` or `int`) cannot be seen by
//! anyone. `docs/sops-tamper.md` lists every metadata field: what sops does, what we do.
//!
//! Re-encryption ([`edit_str`]) never reuses an IV: see [`crypt`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aes;
pub mod binary;
pub mod config;
pub mod crypt;
mod error;
pub mod json;
pub mod keys;
pub mod limits;
pub mod metadata;
pub mod process;
pub mod shamir;
pub mod tree;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use config::{EncryptOptions, RecipientGroup};
pub use error::Error;
pub use keys::Keyring;
pub use metadata::Metadata;

use crate::tree::{Branch, Key, Value};

/// The stores hfkit reads and writes: sops's YAML, JSON and binary stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// sops's binary store, for a file of any other name: the whole file is one string,
    /// kept encrypted as `{"data": "ENC[...]", "sops": {...}}` (JSON on disk). [`parse`],
    /// [`emit`] and [`decrypt_docs`] see that envelope; [`binary`] reads and writes the
    /// plaintext bytes.
    Binary,
}

impl Format {
    /// The store sops 3.13 picks for a file by its name (`FormatForPath`): a name ending
    /// in `.yaml` or `.yml` is YAML, `.json` JSON, anything else the binary store (the
    /// suffixes are case-sensitive, as in sops). sops reads `.env` and `.ini` with its
    /// dotenv and INI stores, which hfkit does not have: those are refused rather than
    /// written in a store sops would not read back.
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        let name = path.as_os_str().as_encoded_bytes();
        if name.ends_with(b".yaml") || name.ends_with(b".yml") {
            Ok(Format::Yaml)
        } else if name.ends_with(b".json") {
            Ok(Format::Json)
        } else if name.ends_with(b".env") {
            Err(Error::UnsupportedStore { store: "dotenv" }.in_file(path))
        } else if name.ends_with(b".ini") {
            Err(Error::UnsupportedStore { store: "INI" }.in_file(path))
        } else {
            Ok(Format::Binary)
        }
    }

    /// The format of a values layer or a manifest: `.json` (any case) is JSON, anything
    /// else YAML. helm and helm-secrets read such files as YAML whatever their name
    /// (`values.yaml.gotmpl`, `secrets.txt`), so the binary store never applies to them.
    pub fn yaml_or_json(path: &Path) -> Format {
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
        Format::Json | Format::Binary => Ok(vec![json::parse(input)?]),
    }
}

/// Emits branches in the given format, as sops writes them.
pub fn emit(docs: &[Branch], format: Format) -> String {
    match format {
        Format::Yaml => yaml::emit(docs),
        Format::Json | Format::Binary => json::emit(docs.first().unwrap_or(&Vec::new())),
    }
}

/// Splits the `sops` block off every document; returns the first document's.
pub(crate) fn extract_sops(docs: &mut [Branch]) -> Result<Option<Branch>, Error> {
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
///
/// For [`Format::Binary`] the envelope must also have a `data` key ([`binary::is_encrypted`]).
pub fn is_sops_encrypted(input: &str, format: Format) -> bool {
    if format == Format::Binary {
        return binary::is_encrypted(input);
    }
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
    /// Ciphertexts of the values, by position, that re-encryption may copy for values left
    /// unchanged (empty unless the MAC was verified).
    reuse: crypt::Reuse,
}

impl Decrypted {
    /// The ciphertexts re-encryption may copy for unchanged values (empty when the MAC was
    /// not verified).
    pub fn reuse(&self) -> &crypt::Reuse {
        &self.reuse
    }
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
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
    let walked = crypt::walk(&mut docs, &rules, crypt::Mode::Decrypt(&data_key))?;
    check_mac(&metadata, &data_key, &walked.mac, opts)?;
    // Ciphertexts may only be copied from a file the MAC vouches for.
    let reuse = if opts.ignore_mac {
        crypt::Reuse::default()
    } else {
        walked.reuse
    };
    Ok(Decrypted {
        docs,
        metadata,
        data_key,
        reuse,
    })
}

/// Checks the file's MAC against the one `computed` over its values, unless told not to.
pub(crate) fn check_mac(
    metadata: &Metadata,
    data_key: &[u8],
    computed: &str,
    opts: &DecryptOptions,
) -> Result<(), Error> {
    if opts.ignore_mac {
        return Ok(());
    }
    let file_mac = aes::decrypt(&metadata.mac, data_key, &metadata.mac_aad()).map_err(|e| {
        Error::MacMismatch {
            detail: format!(
                "cannot decrypt the MAC ({e}; lastmodified {:?})",
                metadata.lastmodified
            ),
        }
    })?;
    match file_mac {
        Value::Str(s) if s.is_empty() => Err(Error::MacMismatch {
            detail: "the file has no MAC".into(),
        }),
        Value::Str(s) if s == computed => Ok(()),
        _ => Err(Error::MacMismatch {
            detail: "the stored MAC differs from the one computed over the values".into(),
        }),
    }
}

/// Decrypts a sops document and returns the plaintext in the same format (sops's layout,
/// `sops` block removed). For [`Format::Binary`] it is the file's `data`, which must be
/// UTF-8 here ([`binary::decrypt`] gives any bytes).
pub fn decrypt_str(
    input: &str,
    format: Format,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<String, Error> {
    if format == Format::Binary {
        return binary::to_text(binary::decrypt(input, keys, opts)?);
    }
    let docs = parse(input, format)?;
    let d = decrypt_docs(docs, keys, opts)?;
    Ok(emit(&d.docs, format))
}

/// [`decrypt_str`] as bytes: what sops 3.13 `--decrypt` prints, for every store.
pub fn decrypt_bytes(
    input: &str,
    format: Format,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    match format {
        Format::Binary => binary::decrypt(input, keys, opts),
        _ => Ok(zeroize::Zeroizing::new(
            decrypt_str(input, format, keys, opts)?.into_bytes(),
        )),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    limits::read_text(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// A file's bytes, text or not (the binary store holds any file), within the size limit.
fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    limits::read_limited(path, limits::MAX_DOCUMENT_BYTES).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Decrypts a sops file, in the store sops picks for its name ([`Format::from_path`]).
/// Errors carry the path.
pub fn decrypt_file(path: &Path, keys: &Keyring, opts: &DecryptOptions) -> Result<String, Error> {
    let input = read(path)?;
    decrypt_str(&input, Format::from_path(path)?, keys, opts).map_err(|e| e.in_file(path))
}

/// [`decrypt_file`] as bytes: a binary-store file's `data` need not be text.
pub fn decrypt_file_bytes(
    path: &Path,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let input = read(path)?;
    decrypt_bytes(&input, Format::from_path(path)?, keys, opts).map_err(|e| e.in_file(path))
}

/// Sets `lastmodified` and `version` and seals `mac` (the MAC over the plaintext values)
/// under an IV none of the values used.
pub(crate) fn seal_mac(
    metadata: &mut Metadata,
    data_key: &[u8],
    mac: String,
    used_ivs: &mut std::collections::HashSet<[u8; aes::IV_SIZE]>,
) -> Result<(), Error> {
    metadata.lastmodified = metadata::now_rfc3339();
    metadata.version = "3.13.2".into();
    let iv = crypt::fresh_iv(used_ivs);
    metadata.mac = aes::encrypt(&Value::Str(mac), data_key, &metadata.mac_aad(), &iv)
        .map_err(Error::Encrypt)?;
    Ok(())
}

fn encrypt_docs(
    mut docs: Vec<Branch>,
    metadata: &mut Metadata,
    data_key: &[u8],
    reuse: &crypt::Reuse,
) -> Result<Vec<Branch>, Error> {
    for d in &docs {
        if tree::get(d, "sops").is_some() {
            return Err(Error::Encrypt(
                "the document already has a `sops` key (is it already encrypted?)".into(),
            ));
        }
    }
    let rules = crypt::Rules::new(metadata)?;
    let mut walked = crypt::walk(&mut docs, &rules, crypt::Mode::Encrypt(data_key, reuse))?;
    seal_mac(metadata, data_key, walked.mac, &mut walked.used_ivs)?;
    let sops = metadata.to_branch();
    for d in docs.iter_mut() {
        d.push(tree::Item {
            key: Key::Str("sops".into()),
            value: Value::Map(sops.clone()),
        });
    }
    Ok(docs)
}

/// A fresh random data key.
pub(crate) fn new_data_key() -> zeroize::Zeroizing<Vec<u8>> {
    use aes_gcm::aead::rand_core::RngCore;
    let mut key = zeroize::Zeroizing::new(vec![0u8; 32]);
    aes_gcm::aead::OsRng.fill_bytes(&mut key);
    key
}

/// Encrypts a plaintext document for the recipients in `opts` with a fresh data key.
/// For [`Format::Binary`] the whole input is the `data` ([`binary::encrypt`] takes bytes).
pub fn encrypt_str(
    input: &str,
    format: Format,
    keys: &Keyring,
    opts: &EncryptOptions,
) -> Result<String, Error> {
    if format == Format::Binary {
        return binary::encrypt(input.as_bytes(), keys, opts);
    }
    let docs = parse_plaintext(input, format)?;
    let key = new_data_key();
    let mut metadata = opts.metadata(keys, &key)?;
    let out = encrypt_docs(docs, &mut metadata, &key, &crypt::Reuse::default())?;
    Ok(emit(&out, format))
}
/// Parses a plaintext to encrypt, refusing one that holds no document: only blank lines,
/// comments or `...`. sops 3.13 refuses those too ("File cannot be completely empty",
/// "Error unmarshalling file: EOF"), and what they would give has no `sops` block to read
/// back. (`---` alone, or `{}`, is a document.)
fn parse_plaintext(input: &str, format: Format) -> Result<Vec<Branch>, Error> {
    let blank = || {
        input
            .lines()
            .map(str::trim)
            .all(|l| l.is_empty() || l.starts_with('#'))
    };
    let docs = if format == Format::Yaml && blank() {
        Vec::new()
    } else {
        parse(input, format)?
    };
    if docs.is_empty() {
        return Err(Error::Encrypt(
            "the file holds no YAML document (only blank lines, comments or `...`), which \
             sops refuses too; write `{}` for an empty map"
                .into(),
        ));
    }
    Ok(docs)
}

/// Re-encrypts an edited plaintext with an existing encrypted file's data key and
/// metadata; lastmodified and the MAC are updated.
///
/// A value whose position, key path, type and plaintext are unchanged keeps its exact
/// ciphertext (the old file's MAC is verified first), so git diffs stay small. Every other
/// value, and every comment, is sealed under a fresh random IV; no IV appears twice in the
/// output, even if the old file had duplicates.
pub fn edit_str(
    encrypted: &str,
    new_plaintext: &str,
    format: Format,
    keys: &Keyring,
) -> Result<String, Error> {
    if format == Format::Binary {
        return binary::edit(encrypted, new_plaintext.as_bytes(), keys);
    }
    let old = decrypt_docs(parse(encrypted, format)?, keys, &DecryptOptions::default())?;
    let docs = parse_plaintext(new_plaintext, format)?;
    let mut metadata = old.metadata.clone();
    let out = encrypt_docs(docs, &mut metadata, &old.data_key, &old.reuse)?;
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
    let format = Format::from_path(path)?;
    let input = read_bytes(path)?;
    let cfg = config::find_config(path).ok_or_else(|| {
        Error::Config {
            path: path.to_path_buf(),
            detail: "no .sops.yaml found in this directory or a parent up to the repository root (.git) or your home directory; create one there with creation_rules".into(),
        }
    })?;
    let opts = config::options_for(&cfg, path).map_err(|e| e.in_file(path))?;
    let text = match format {
        Format::Binary => binary::encrypt(&input, keys, &opts),
        _ => match String::from_utf8(input) {
            Ok(input) => encrypt_str(&input, format, keys, &opts),
            Err(_) => Err(Error::Encrypt(
                "the file is not UTF-8 text, which a YAML or JSON file must be".into(),
            )),
        },
    }
    .map_err(|e| e.in_file(path))?;
    Ok((text, cfg))
}
