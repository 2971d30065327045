//! Tree walking as sops does it: which values are encrypted (suffix/regex/comment rules),
//! the additional data (key path) of each value, and the SHA-512 MAC over the values.
//!
//! Re-encryption never reuses an IV: a value keeps its old ciphertext only when it sits at
//! the same position with the same plaintext and type in a file whose MAC was verified
//! (see [`Reuse`]); everything else, comments included, is sealed under a fresh random IV,
//! and no IV appears twice in one written file.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha512};

use crate::aes;
use crate::metadata::Metadata;
use crate::tree::{Branch, Key, Value};
use crate::Error;

/// Bytes the MAC starts with when `mac_only_encrypted` is set.
pub(crate) const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Compiled encryption rules of a file.
pub struct Rules {
    meta_unenc_suffix: String,
    meta_enc_suffix: String,
    unenc_re: Option<regex::Regex>,
    enc_re: Option<regex::Regex>,
    unenc_comment_re: Option<regex::Regex>,
    enc_comment_re: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

fn re(s: &str, what: &str) -> Result<Option<regex::Regex>, Error> {
    if s.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(s)
        .map(Some)
        .map_err(|e| Error::Metadata(format!("invalid {what} {s:?}: {e}")))
}

impl Rules {
    /// Compiles the rules in `m`.
    pub fn new(m: &Metadata) -> Result<Rules, Error> {
        Ok(Rules {
            meta_unenc_suffix: m.unencrypted_suffix.clone(),
            meta_enc_suffix: m.encrypted_suffix.clone(),
            unenc_re: re(&m.unencrypted_regex, "unencrypted_regex")?,
            enc_re: re(&m.encrypted_regex, "encrypted_regex")?,
            unenc_comment_re: re(&m.unencrypted_comment_regex, "unencrypted_comment_regex")?,
            enc_comment_re: re(&m.encrypted_comment_regex, "encrypted_comment_regex")?,
            mac_only_encrypted: m.mac_only_encrypted,
        })
    }

    /// sops's `shouldBeEncrypted`: `comments` holds, per enclosing map or sequence, the
    /// comments seen before the value.
    pub(crate) fn should_encrypt(
        &self,
        path: &[String],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let mut enc = true;
        if !self.meta_unenc_suffix.is_empty()
            && path.iter().any(|p| p.ends_with(&self.meta_unenc_suffix))
        {
            enc = false;
        }
        if !self.meta_enc_suffix.is_empty() {
            enc = path.iter().any(|p| p.ends_with(&self.meta_enc_suffix));
        }
        if let Some(r) = &self.unenc_re {
            if path.iter().any(|p| r.is_match(p)) {
                enc = false;
            }
        }
        if let Some(r) = &self.enc_re {
            enc = path.iter().any(|p| r.is_match(p));
        }
        if let Some(r) = &self.unenc_comment_re {
            if comments.iter().flatten().any(|c| r.is_match(c)) {
                enc = false;
            }
        }
        if let Some(r) = &self.enc_comment_re {
            enc = false;
            let last = comments.len().saturating_sub(1);
            let last_len = comments.last().map(Vec::len).unwrap_or(0);
            'outer: for (i, cs) in comments.iter().enumerate() {
                for (j, c) in cs.iter().enumerate() {
                    if is_comment && i == last && j + 1 == last_len {
                        continue;
                    }
                    if r.is_match(c) {
                        enc = true;
                        break 'outer;
                    }
                }
            }
        }
        enc
    }
}

/// One step of a value's position in a document: a map key or the index of a sequence item
/// (comment items not counted, so adding a comment does not shift the values after it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(String),
    Index(usize),
}

/// A value's position: document index and steps from the document root.
type Position = (usize, Vec<Step>);

/// An encrypted value of a verified file, as decrypted.
#[derive(Clone)]
struct Kept {
    datatype: &'static str,
    plain: Vec<u8>,
    enc: aes::EncValue,
}

/// Ciphertexts of a decrypted file by position, which re-encryption may copy for values left
/// unchanged so that git diffs stay small.
///
/// Only values (never comments, which the MAC does not cover) are kept, and only from a file
/// whose MAC was verified: the caller drops the set otherwise.
#[derive(Clone, Default)]
pub struct Reuse {
    by_pos: HashMap<Position, Kept>,
}

impl Reuse {
    /// Number of ciphertexts that may be copied.
    pub fn len(&self) -> usize {
        self.by_pos.len()
    }

    /// Whether nothing may be copied.
    pub fn is_empty(&self) -> bool {
        self.by_pos.is_empty()
    }
}

/// How a leaf is transformed during a walk.
pub enum Mode<'a> {
    /// Decrypt values with this data key.
    Decrypt(&'a [u8]),
    /// Encrypt values with this data key; unchanged values at the same position keep the
    /// ciphertext recorded in the [`Reuse`] set.
    Encrypt(&'a [u8], &'a Reuse),
}

struct Walker<'a> {
    rules: &'a Rules,
    mode: Mode<'a>,
    hash: Sha512,
    /// Position of the value being visited.
    pos: Position,
    /// Ciphertexts seen while decrypting.
    kept: Reuse,
    /// IVs already used in the output while encrypting.
    used_ivs: HashSet<[u8; aes::IV_SIZE]>,
}

/// A random IV not yet used in this file (a collision is astronomically unlikely; checking
/// makes "no IV twice" a guarantee rather than a probability).
pub fn fresh_iv(used: &mut HashSet<[u8; aes::IV_SIZE]>) -> [u8; aes::IV_SIZE] {
    loop {
        let iv = aes::random_iv();
        if used.insert(iv) {
            return iv;
        }
    }
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

impl Walker<'_> {
    fn leaf(
        &mut self,
        v: &mut Value,
        path: &[String],
        comments: &[Vec<String>],
        alt: &[Vec<String>],
    ) -> Result<(), Error> {
        let is_comment = matches!(v, Value::Comment(_));
        let enc = self.rules.should_encrypt(path, comments, is_comment);
        match self.mode {
            Mode::Decrypt(key) => {
                if enc {
                    if let Value::Comment(c) = v {
                        // A plain comment is kept as it is (sops does too: hand-added comments
                        // and files from old sops versions). One that looks encrypted must
                        // authenticate as a comment: sops would show it garbled instead.
                        let mut candidates = vec![path.to_vec()];
                        candidates.extend(alt.iter().cloned());
                        let mut done = !aes::is_enc(&c.text);
                        for cand in candidates {
                            if done {
                                break;
                            }
                            if let Ok(Value::Comment(d)) = aes::decrypt(&c.text, key, &aad(&cand)) {
                                // Like sops, a decrypted comment is no longer inline.
                                *c = d;
                                done = true;
                            }
                        }
                        if !done {
                            return Err(Error::Value {
                                path: aad(path),
                                detail: "an encrypted comment here does not authenticate as a `type:comment` value (tampered or damaged; the MAC does not cover comments)".into(),
                            });
                        }
                    } else if let Value::Str(s) = v {
                        let plain =
                            aes::decrypt(s, key, &aad(path)).map_err(|detail| Error::Value {
                                path: aad(path),
                                detail,
                            })?;
                        if matches!(plain, Value::Comment(_)) {
                            // sops would turn the value into a comment: it vanishes from the
                            // output while the MAC still matches, as `type` is not authenticated.
                            return Err(Error::Value {
                                path: aad(path),
                                detail: "a value is marked `type:comment` (only comments are; the type field is not authenticated, so the file was tampered with)".into(),
                            });
                        }
                        if !s.is_empty() {
                            if let (Ok(enc), Some((datatype, plain_bytes))) =
                                (aes::parse(s), aes::type_and_bytes(&plain))
                            {
                                self.kept.by_pos.insert(
                                    self.pos.clone(),
                                    Kept {
                                        datatype,
                                        plain: plain_bytes,
                                        enc,
                                    },
                                );
                            }
                        }
                        *v = plain;
                    } else {
                        return Err(Error::Value {
                            path: aad(path),
                            detail: "expected an encrypted string, found a plain non-string value"
                                .into(),
                        });
                    }
                }
                if (!self.rules.mac_only_encrypted || enc) && !is_comment {
                    self.hash.update(aes::to_bytes(v).unwrap_or_default());
                }
            }
            Mode::Encrypt(key, reuse) => {
                if (!self.rules.mac_only_encrypted || enc) && !is_comment {
                    self.hash.update(aes::to_bytes(v).unwrap_or_default());
                }
                if enc {
                    let a = aad(path);
                    let kept = if is_comment {
                        None
                    } else {
                        reuse.by_pos.get(&self.pos).and_then(|k| {
                            let (datatype, plain) = aes::type_and_bytes(v)?;
                            let iv = <[u8; aes::IV_SIZE]>::try_from(k.enc.iv.as_slice()).ok()?;
                            // Same position means same key path, hence same AAD: the old
                            // ciphertext is exactly this value sealed under that IV.
                            (k.datatype == datatype && k.plain == plain && self.used_ivs.insert(iv))
                                .then(|| aes::format(&k.enc.data, &iv, &k.enc.tag, datatype))
                        })
                    };
                    let e = match kept {
                        Some(e) => e,
                        None => {
                            let iv = fresh_iv(&mut self.used_ivs);
                            aes::encrypt(v, key, &a, &iv).map_err(Error::Encrypt)?
                        }
                    };
                    if let Value::Comment(c) = v {
                        if let Some(r) = &self.rules.unenc_comment_re {
                            if r.is_match(&e) {
                                return Err(Error::Encrypt(
                                    "an encrypted comment matches unencrypted_comment_regex".into(),
                                ));
                            }
                        }
                        c.text = e;
                    } else {
                        *v = Value::Str(e);
                    }
                }
            }
        }
        Ok(())
    }

    fn value(
        &mut self,
        v: &mut Value,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
        alt: &[Vec<String>],
    ) -> Result<(), Error> {
        match v {
            Value::Null => Ok(()),
            Value::Map(b) => self.branch(b, path, comments),
            Value::Seq(s) => self.seq(s, path, comments),
            _ => self.leaf(v, path, comments, alt),
        }
    }

    fn seq(
        &mut self,
        s: &mut [Value],
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<(), Error> {
        comments.push(Vec::new());
        let mut index = 0;
        for i in 0..s.len() {
            let is_comment = matches!(s[i], Value::Comment(_));
            if let Value::Comment(c) = &s[i] {
                comments.last_mut().expect("pushed").push(c.text.clone());
            }
            let alt = if is_comment {
                alternatives(path, s.get(..i).unwrap_or(&[]).last())
            } else {
                Vec::new()
            };
            self.pos.1.push(Step::Index(index));
            self.value(&mut s[i], path, comments, &alt)?;
            self.pos.1.pop();
            if !is_comment {
                index += 1;
                comments.last_mut().expect("pushed").clear();
            }
        }
        comments.pop();
        Ok(())
    }

    fn branch(
        &mut self,
        b: &mut Branch,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<(), Error> {
        comments.push(Vec::new());
        for i in 0..b.len() {
            if let Key::Comment(c) = &b[i].key {
                comments.last_mut().expect("pushed").push(c.text.clone());
                let prev = b[..i].iter().rev().find(|it| matches!(it.key, Key::Str(_)));
                let alt = match prev {
                    Some(p) => {
                        let Key::Str(k) = &p.key else { unreachable!() };
                        let mut sub = path.clone();
                        sub.push(k.clone());
                        let mut a = vec![sub.clone()];
                        a.extend(alternatives(&sub, Some(&p.value)));
                        a.extend(parents(path));
                        a
                    }
                    None => parents(path),
                };
                let Key::Comment(c) = &mut b[i].key else {
                    unreachable!()
                };
                let mut v = Value::Comment(c.clone());
                self.leaf(&mut v, path, comments, &alt)?;
                if let Value::Comment(nc) = v {
                    *c = nc;
                }
                continue;
            }
            let Key::Str(k) = &b[i].key else {
                unreachable!()
            };
            path.push(k.clone());
            self.pos.1.push(Step::Key(k.clone()));
            self.value(&mut b[i].value, path, comments, &[])?;
            self.pos.1.pop();
            path.pop();
            comments.last_mut().expect("pushed").clear();
        }
        comments.pop();
        Ok(())
    }
}

fn parents(path: &[String]) -> Vec<Vec<String>> {
    (0..path.len()).rev().map(|n| path[..n].to_vec()).collect()
}

/// Paths a comment placed after `prev` may have been encrypted with by sops (yaml.v3 may
/// attach a comment as the foot comment of the previous, deeper entry).
fn alternatives(path: &[String], prev: Option<&Value>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = path.to_vec();
    let mut v = prev;
    while let Some(val) = v {
        match val {
            Value::Map(m) => {
                let last = m.iter().rev().find(|it| matches!(it.key, Key::Str(_)));
                match last {
                    Some(it) => {
                        let Key::Str(k) = &it.key else { unreachable!() };
                        cur.push(k.clone());
                        out.push(cur.clone());
                        v = Some(&it.value);
                    }
                    None => break,
                }
            }
            Value::Seq(s) => v = s.iter().rev().find(|x| !matches!(x, Value::Comment(_))),
            _ => break,
        }
    }
    out.extend(parents(path));
    out
}

/// What a walk produced besides the transformed documents.
pub struct Walked {
    /// The MAC (upper-case hex SHA-512) over the plaintext values.
    pub mac: String,
    /// Decrypting: the ciphertexts seen, for [`Mode::Encrypt`] to copy once the MAC is
    /// verified. Empty when encrypting.
    pub reuse: Reuse,
    /// Encrypting: the IVs used in the output (the MAC's own IV must be none of them).
    pub used_ivs: HashSet<[u8; aes::IV_SIZE]>,
}

/// Walks all documents, decrypting or encrypting their values.
pub fn walk(docs: &mut [Branch], rules: &Rules, mode: Mode<'_>) -> Result<Walked, Error> {
    let mut w = Walker {
        rules,
        mode,
        hash: Sha512::new(),
        pos: (0, Vec::new()),
        kept: Reuse::default(),
        used_ivs: HashSet::new(),
    };
    if rules.mac_only_encrypted {
        w.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for (i, d) in docs.iter_mut().enumerate() {
        w.pos = (i, Vec::new());
        w.branch(d, &mut Vec::new(), &mut Vec::new())?;
    }
    let digest = w.hash.finalize();
    Ok(Walked {
        mac: digest.iter().map(|b| format!("{b:02X}")).collect(),
        reuse: w.kept,
        used_ivs: w.used_ivs,
    })
}
