//! sops's binary store (`BinaryStore` in sops's `stores/json`): the store sops 3.13 uses
//! for a file whose name is not `.yaml`, `.yml`, `.json`, `.env` or `.ini` — a
//! `kubeconfig`, a `.pem`, a `.p12`. The whole file is one string, the `data` key of a
//! JSON object:
//!
//! ```text
//! {
//!     "data": "ENC[AES256_GCM,data:...,iv:...,tag:...,type:str]",
//!     "sops": { ... }
//! }
//! ```
//!
//! Encrypted, it is the JSON store's file of that one-key tree: the value is sealed with
//! `data:` as its key path, the MAC is the SHA-512 of the plaintext bytes, and the file is
//! written tab-indented (shown with spaces above). Decrypted, it is exactly the bytes of `data` — not a JSON or YAML
//! wrapper. The bytes need not be UTF-8 (sops's Go strings hold any bytes), so this module
//! works on bytes rather than on the [`crate::tree`] (whose strings are UTF-8).

use std::collections::HashSet;

use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::tree::{Branch, Item, Key, Value};
use crate::{aes, crypt, json, tree, DecryptOptions, EncryptOptions, Error, Keyring, Metadata};

/// The one key of the tree, and its key path as sealed (sops joins the path with `:`).
const DATA: &str = "data";
const DATA_AAD: &str = "data:";

/// Whether `input` is a sops binary-store file: a JSON object with a `sops` block holding
/// a `mac` or a `version`, and a `data` key (other keys are allowed, as sops reads them;
/// [`is_envelope`] is the strict form).
pub fn is_encrypted(input: &str) -> bool {
    let Ok(doc) = json::parse(input) else {
        return false;
    };
    has_sops(&doc) && tree::get(&doc, DATA).is_some()
}

/// Whether `input` is exactly what sops writes in the binary store: a JSON object with
/// only a `data` string and a `sops` block. Whatever a file's name, this content can only
/// be a binary-store file (a YAML or JSON store file would have its own keys), so callers
/// that read a file by its content (an encrypted kubeconfig) can trust it over the name.
pub fn is_envelope(input: &str) -> bool {
    let Ok(doc) = json::parse(input) else {
        return false;
    };
    has_sops(&doc) && doc.len() == 2 && matches!(tree::get(&doc, DATA), Some(Value::Str(_)))
}

fn has_sops(doc: &Branch) -> bool {
    match tree::get(doc, "sops") {
        Some(Value::Map(m)) => tree::get(m, "mac").is_some() || tree::get(m, "version").is_some(),
        _ => false,
    }
}

/// A decrypted binary-store file, with what re-encryption needs.
struct Opened {
    plain: Zeroizing<Vec<u8>>,
    metadata: Metadata,
    data_key: Zeroizing<Vec<u8>>,
    /// The `data` ciphertext as in the file, when the MAC vouches for it: an unchanged edit
    /// keeps it (same key path, same plaintext, so the same sealed value).
    kept: Option<String>,
}

/// Decrypts a binary-store file: returns exactly the bytes of its `data`, as `sops
/// --decrypt` prints them. The MAC is checked unless `opts` says not to; a `data` whose
/// `type` is not `str` is refused (sops writes only `str` here, and the type is not
/// authenticated).
pub fn decrypt(
    input: &str,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    open(input, keys, opts).map(|o| o.plain)
}

fn open(input: &str, keys: &Keyring, opts: &DecryptOptions) -> Result<Opened, Error> {
    let mut docs = vec![json::parse(input)?];
    let meta = crate::extract_sops(&mut docs)?.ok_or(Error::NotEncrypted)?;
    if tree::get(&meta, "mac").is_none() && tree::get(&meta, "version").is_none() {
        return Err(Error::NotEncrypted);
    }
    let data = match docs[0].as_slice() {
        [Item {
            key: Key::Str(k),
            value: Value::Str(s),
        }] if k == DATA => s.clone(),
        // Keys besides `data` (added by hand): sops still reads `data` and covers them
        // all with the MAC, which the tree walk does too; the text must then be UTF-8.
        _ => return open_tree(docs, meta, keys, opts),
    };
    let metadata = Metadata::from_branch(&meta)?;
    let data_key = keys.data_key(&metadata)?;
    let rules = crypt::Rules::new(&metadata)?;
    let encrypted = rules.should_encrypt(&[DATA.to_string()], &[Vec::new()], false);
    let plain = if encrypted && !data.is_empty() {
        let (plain, datatype) =
            aes::decrypt_bytes(&data, &data_key, DATA_AAD).map_err(|detail| Error::Value {
                path: DATA_AAD.into(),
                detail,
            })?;
        let plain = Zeroizing::new(plain);
        if datatype != "str" {
            return Err(not_str(&datatype));
        }
        plain
    } else {
        // Empty, or left in clear by the file's rules (encrypted_regex and the like).
        Zeroizing::new(data.as_bytes().to_vec())
    };
    crate::check_mac(
        &metadata,
        &data_key,
        &mac(&plain, encrypted, metadata.mac_only_encrypted),
        opts,
    )?;
    let kept = (encrypted && !data.is_empty() && !opts.ignore_mac).then_some(data);
    Ok(Opened {
        plain,
        metadata,
        data_key,
        kept,
    })
}

fn not_str(datatype: &str) -> Error {
    Error::Value {
        path: DATA_AAD.into(),
        detail: format!(
            "`data` is marked `type:{datatype}`, but sops seals a binary file as `str` (the type \
             is not authenticated, so the file was tampered with)"
        ),
    }
}

/// sops's MAC of the one-value tree: SHA-512 over the plaintext (after the fixed prefix
/// when `mac_only_encrypted`, and then only if the value is encrypted), upper-case hex.
fn mac(plain: &[u8], encrypted: bool, mac_only_encrypted: bool) -> String {
    let mut h = Sha512::new();
    if mac_only_encrypted {
        h.update(crypt::MAC_ONLY_ENCRYPTED_INIT);
    }
    if !mac_only_encrypted || encrypted {
        h.update(plain);
    }
    h.finalize().iter().map(|b| format!("{b:02X}")).collect()
}

/// A binary-store file with keys besides `data`: decrypted as a tree, `data` taken out.
fn open_tree(
    mut docs: Vec<Branch>,
    meta: Branch,
    keys: &Keyring,
    opts: &DecryptOptions,
) -> Result<Opened, Error> {
    docs[0].push(Item {
        key: Key::Str("sops".into()),
        value: Value::Map(meta),
    });
    let d = crate::decrypt_docs(docs, keys, opts)?;
    let plain = match tree::get(&d.docs[0], DATA) {
        Some(Value::Str(s)) => Zeroizing::new(s.as_bytes().to_vec()),
        Some(_) => {
            return Err(Error::Binary(
                "its `data` is not a string; the file was damaged or not written by sops".into(),
            ))
        }
        None => {
            return Err(Error::Binary(
                "it has no `data` key; sops writes a file named other than .yaml/.yml/.json \
                 as {\"data\": ..., \"sops\": ...}: if this is a YAML or JSON file, give it \
                 that extension"
                    .into(),
            ))
        }
    };
    Ok(Opened {
        plain,
        metadata: d.metadata.clone(),
        data_key: d.data_key.clone(),
        kept: None,
    })
}

/// Encrypts any bytes (a whole file) for the recipients in `opts` with a fresh data key,
/// as sops writes a file of unknown extension: `{"data": "ENC[...]", "sops": {...}}`.
///
/// Only the recipients of `opts` are used: as sops 3.13 does for its single-value stores,
/// the suffix, regex and comment rules and `mac_only_encrypted` are ignored (the one
/// value is always encrypted and in the MAC) and none is written.
pub fn encrypt(plain: &[u8], keys: &Keyring, opts: &EncryptOptions) -> Result<String, Error> {
    let opts = EncryptOptions {
        key_groups: opts.key_groups.clone(),
        shamir_threshold: opts.shamir_threshold,
        ..EncryptOptions::default()
    };
    let key = crate::new_data_key();
    let mut metadata = opts.metadata(keys, &key)?;
    // Not even the default `unencrypted_suffix` other stores get.
    metadata.unencrypted_suffix.clear();
    seal(plain, &mut metadata, &key, None)
}

/// Re-encrypts `new_plain` with an encrypted file's data key and metadata (its MAC is
/// verified first); `lastmodified` and the MAC are updated. Unchanged bytes keep their
/// exact ciphertext, so the git diff is the `sops` block alone.
pub fn edit(encrypted: &str, new_plain: &[u8], keys: &Keyring) -> Result<String, Error> {
    let old = open(encrypted, keys, &DecryptOptions::default())?;
    let kept = old.kept.filter(|_| old.plain.as_slice() == new_plain);
    let mut metadata = old.metadata;
    seal(new_plain, &mut metadata, &old.data_key, kept)
}

fn seal(
    plain: &[u8],
    metadata: &mut Metadata,
    data_key: &[u8],
    kept: Option<String>,
) -> Result<String, Error> {
    let rules = crypt::Rules::new(metadata)?;
    let encrypted = rules.should_encrypt(&[DATA.to_string()], &[Vec::new()], false);
    let mut used_ivs = HashSet::new();
    let data = if !encrypted {
        // Only an edit of a file whose own rules leave `data` in clear gets here. A JSON
        // string holds text only (Go's encoder would replace invalid UTF-8).
        String::from_utf8(plain.to_vec()).map_err(|_| {
            Error::Encrypt(
                "the new content is not UTF-8 text and the file's rules (encrypted_regex, \
                 unencrypted_suffix...) leave `data` unencrypted, so it cannot be stored; \
                 encrypt the file anew"
                    .into(),
            )
        })?
    } else if plain.is_empty() {
        // sops leaves an empty value empty.
        String::new()
    } else if let Some(k) = kept.and_then(|k| {
        let iv = <[u8; aes::IV_SIZE]>::try_from(aes::parse(&k).ok()?.iv.as_slice()).ok()?;
        used_ivs.insert(iv).then_some(k)
    }) {
        k
    } else {
        let iv = crypt::fresh_iv(&mut used_ivs);
        aes::encrypt_raw(plain, "str", data_key, DATA_AAD, &iv).map_err(Error::Encrypt)?
    };
    let mac = mac(plain, encrypted, metadata.mac_only_encrypted);
    crate::seal_mac(metadata, data_key, mac, &mut used_ivs)?;
    let doc = vec![
        Item {
            key: Key::Str(DATA.into()),
            value: Value::Str(data),
        },
        Item {
            key: Key::Str("sops".into()),
            value: Value::Map(metadata.to_branch()),
        },
    ];
    Ok(json::emit(&doc))
}

/// The decrypted bytes as text, for callers that need a `String` ([`crate::decrypt_str`]).
pub(crate) fn to_text(plain: Zeroizing<Vec<u8>>) -> Result<String, Error> {
    // One copy, into the returned String; the bytes are zeroed on every path.
    std::str::from_utf8(&plain)
        .map(str::to_string)
        .map_err(|_| {
            Error::Binary(
                "its data is not UTF-8 text; read it as bytes (hfkit_sops::decrypt_bytes, as \
             `kubectl sopsraw decrypt` does)"
                    .into(),
            )
        })
}
