//! Tree walking as sops does it: which values are encrypted (suffix/regex/comment rules),
//! the additional data (key path) of each value, and the SHA-512 MAC over the values.

use sha2::{Digest, Sha512};

use crate::aes;
use crate::metadata::Metadata;
use crate::tree::{Branch, Key, Value};
use crate::Error;

/// Bytes the MAC starts with when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
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

    /// sops's `shouldBeEncrypted`.
    fn should_encrypt(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
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

/// How a leaf is transformed during a walk.
pub enum Mode<'a> {
    /// Decrypt values with this data key.
    Decrypt(&'a [u8]),
    /// Encrypt values with this data key; `ivs` provides IVs of unchanged values to reuse.
    Encrypt(
        &'a [u8],
        &'a dyn Fn(&str, &Value) -> Option<[u8; aes::IV_SIZE]>,
    ),
}

struct Walker<'a> {
    rules: &'a Rules,
    mode: Mode<'a>,
    hash: Sha512,
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
                        // Comments that fail to decrypt are kept as they are (sops does too).
                        let mut candidates = vec![path.to_vec()];
                        candidates.extend(alt.iter().cloned());
                        for cand in candidates {
                            if let Ok(Value::Comment(d)) = aes::decrypt(&c.text, key, &aad(&cand)) {
                                // Like sops, a decrypted comment is no longer inline.
                                *c = d;
                                break;
                            }
                        }
                    } else if let Value::Str(s) = v {
                        *v = aes::decrypt(s, key, &aad(path)).map_err(|detail| Error::Value {
                            path: aad(path),
                            detail,
                        })?;
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
            Mode::Encrypt(key, ivs) => {
                if (!self.rules.mac_only_encrypted || enc) && !is_comment {
                    self.hash.update(aes::to_bytes(v).unwrap_or_default());
                }
                if enc {
                    let a = aad(path);
                    let iv = ivs(&a, v).unwrap_or_else(aes::random_iv);
                    let e = aes::encrypt(v, key, &a, &iv).map_err(Error::Encrypt)?;
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
            self.value(&mut s[i], path, comments, &alt)?;
            if !is_comment {
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
            self.value(&mut b[i].value, path, comments, &[])?;
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

/// Walks all documents; returns the MAC (upper-case hex SHA-512) over the plaintext values.
pub fn walk(docs: &mut [Branch], rules: &Rules, mode: Mode<'_>) -> Result<String, Error> {
    let mut w = Walker {
        rules,
        mode,
        hash: Sha512::new(),
    };
    if rules.mac_only_encrypted {
        w.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for d in docs.iter_mut() {
        w.branch(d, &mut Vec::new(), &mut Vec::new())?;
    }
    let digest = w.hash.finalize();
    Ok(digest.iter().map(|b| format!("{b:02X}")).collect())
}
