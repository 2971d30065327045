//! The `sops:` metadata block: key groups, encryption rules, MAC and lastmodified.

use crate::tree::{get, go_format_float_f, Branch, Item, Key, Value};
use crate::Error;

/// A PGP master key entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PgpEntry {
    /// Fingerprint of the recipient key.
    pub fp: String,
    /// Armored PGP message holding the data key (or Shamir share).
    pub enc: String,
    /// RFC 3339 creation date.
    pub created_at: String,
}

/// An age master key entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeEntry {
    /// `age1…` recipient.
    pub recipient: String,
    /// Armored age file holding the data key (or Shamir share).
    pub enc: String,
}

/// A key group: every key in it encrypts the same data key part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyGroup {
    /// PGP keys.
    pub pgp: Vec<PgpEntry>,
    /// age keys.
    pub age: Vec<AgeEntry>,
    /// Other key types (KMS, Vault, ...) we cannot use, by kind.
    pub other: Vec<String>,
}

/// Parsed sops metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// Key groups (one unless Shamir is used).
    pub key_groups: Vec<KeyGroup>,
    /// Whether `key_groups:` was used (instead of top-level key lists).
    pub uses_key_groups: bool,
    /// Shamir threshold.
    pub shamir_threshold: usize,
    /// `lastmodified` as stored.
    pub lastmodified: String,
    /// Encrypted MAC.
    pub mac: String,
    /// Suffix rules and regexes.
    pub unencrypted_suffix: String,
    /// See sops docs.
    pub encrypted_suffix: String,
    /// See sops docs.
    pub unencrypted_regex: String,
    /// See sops docs.
    pub encrypted_regex: String,
    /// See sops docs.
    pub unencrypted_comment_regex: String,
    /// See sops docs.
    pub encrypted_comment_regex: String,
    /// Only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
    /// sops version that wrote the file.
    pub version: String,
}

fn as_string(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Time(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_format_float_f(*f),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn str_field(b: &Branch, k: &str) -> String {
    get(b, k).map(as_string).unwrap_or_default()
}

fn list<'a>(b: &'a Branch, k: &str) -> Vec<&'a Branch> {
    match get(b, k) {
        Some(Value::Seq(s)) => s.iter().filter_map(Value::as_map).collect(),
        _ => Vec::new(),
    }
}

const OTHER_KINDS: [&str; 5] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

fn group_from(b: &Branch) -> KeyGroup {
    let mut g = KeyGroup {
        pgp: list(b, "pgp")
            .into_iter()
            .map(|e| PgpEntry {
                fp: str_field(e, "fp"),
                enc: str_field(e, "enc"),
                created_at: str_field(e, "created_at"),
            })
            .collect(),
        age: list(b, "age")
            .into_iter()
            .map(|e| AgeEntry {
                recipient: str_field(e, "recipient"),
                enc: str_field(e, "enc"),
            })
            .collect(),
        other: Vec::new(),
    };
    for kind in OTHER_KINDS {
        for _ in list(b, kind) {
            g.other.push(kind.to_string());
        }
    }
    g
}

impl KeyGroup {
    fn is_empty(&self) -> bool {
        self.pgp.is_empty() && self.age.is_empty() && self.other.is_empty()
    }
}

impl Metadata {
    /// Reads metadata from the `sops` branch.
    pub fn from_branch(b: &Branch) -> Result<Metadata, Error> {
        let mut m = Metadata {
            lastmodified: str_field(b, "lastmodified"),
            mac: str_field(b, "mac"),
            unencrypted_suffix: str_field(b, "unencrypted_suffix"),
            encrypted_suffix: str_field(b, "encrypted_suffix"),
            unencrypted_regex: str_field(b, "unencrypted_regex"),
            encrypted_regex: str_field(b, "encrypted_regex"),
            unencrypted_comment_regex: str_field(b, "unencrypted_comment_regex"),
            encrypted_comment_regex: str_field(b, "encrypted_comment_regex"),
            version: str_field(b, "version"),
            mac_only_encrypted: matches!(get(b, "mac_only_encrypted"), Some(Value::Bool(true)))
                || matches!(get(b, "mac_only_encrypted"), Some(Value::Str(s)) if s == "true"),
            shamir_threshold: match get(b, "shamir_threshold") {
                Some(Value::Int(i)) => (*i).max(0) as usize,
                Some(Value::Str(s)) => s.parse().unwrap_or(0),
                _ => 0,
            },
            ..Default::default()
        };
        let top = group_from(b);
        if !top.is_empty() {
            m.key_groups.push(top);
        } else {
            for g in list(b, "key_groups") {
                m.key_groups.push(group_from(g));
            }
            m.uses_key_groups = true;
        }
        if m.key_groups.is_empty() {
            return Err(Error::Metadata("no keys found in file".into()));
        }
        if m.lastmodified.is_empty() {
            return Err(Error::Metadata("missing lastmodified".into()));
        }
        normalize_rfc3339(&m.lastmodified).ok_or_else(|| {
            Error::Metadata(format!("lastmodified {:?} is not RFC 3339", m.lastmodified))
        })?;
        check_version(&m.version)?;
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
            return Err(Error::Metadata("cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex or unencrypted_comment_regex".into()));
        }
        if rules == 0 {
            m.unencrypted_suffix = "_unencrypted".into();
        }
        Ok(m)
    }

    /// The additional data the MAC is encrypted with: lastmodified re-formatted as Go's
    /// `time.RFC3339` would.
    pub fn mac_aad(&self) -> String {
        normalize_rfc3339(&self.lastmodified).unwrap_or_default()
    }

    /// Serializes metadata as sops does (keys sorted, empty optional fields omitted).
    pub fn to_branch(&self) -> Branch {
        let mut items: Vec<(String, Value)> = Vec::new();
        let s = |v: &str| Value::Str(v.to_string());
        let pgp_list = |g: &KeyGroup| {
            Value::Seq(
                g.pgp
                    .iter()
                    .map(|p| {
                        Value::Map(vec![
                            item("created_at", s(&p.created_at)),
                            item("enc", s(&p.enc)),
                            item("fp", s(&p.fp)),
                        ])
                    })
                    .collect(),
            )
        };
        let age_list = |g: &KeyGroup| {
            Value::Seq(
                g.age
                    .iter()
                    .map(|a| {
                        Value::Map(vec![
                            item("enc", s(&a.enc)),
                            item("recipient", s(&a.recipient)),
                        ])
                    })
                    .collect(),
            )
        };
        if self.key_groups.len() == 1 && !self.uses_key_groups {
            let g = &self.key_groups[0];
            if !g.age.is_empty() {
                items.push(("age".into(), age_list(g)));
            }
            if !g.pgp.is_empty() {
                items.push(("pgp".into(), pgp_list(g)));
            }
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut b: Branch = Vec::new();
                    b.push(item("age", age_list(g)));
                    b.push(item("hc_vault", Value::Seq(Vec::new())));
                    if !g.pgp.is_empty() {
                        b.push(item("pgp", pgp_list(g)));
                    }
                    Value::Map(b)
                })
                .collect();
            items.push(("key_groups".into(), Value::Seq(groups)));
        }
        items.push(("lastmodified".into(), s(&self.lastmodified)));
        items.push(("mac".into(), s(&self.mac)));
        if self.mac_only_encrypted {
            items.push(("mac_only_encrypted".into(), Value::Bool(true)));
        }
        if self.shamir_threshold > 0 {
            items.push((
                "shamir_threshold".into(),
                Value::Int(self.shamir_threshold as i64),
            ));
        }
        for (k, v) in [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ] {
            if !v.is_empty() {
                items.push((k.into(), s(v)));
            }
        }
        items.push(("version".into(), s(&self.version)));
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.into_iter().map(|(k, v)| item(&k, v)).collect()
    }
}

fn item(k: &str, v: Value) -> Item {
    Item {
        key: Key::Str(k.to_string()),
        value: v,
    }
}

/// Refuses a `version` sops 3.13 refuses: sops parses it as a semantic version (after an
/// optional `v`; `1.x` files from sops 1 pass as they are) before decrypting.
fn check_version(v: &str) -> Result<(), Error> {
    if v.starts_with("1.") || is_semver(v.strip_prefix('v').unwrap_or(v)) {
        return Ok(());
    }
    Err(Error::Metadata(format!(
        "version {v:?} is not a semantic version (sops refuses it too)"
    )))
}

/// `MAJOR.MINOR.PATCH[-PRE][+BUILD]` as semver 2.0 spells it.
fn is_semver(v: &str) -> bool {
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    let num = |s: &str| {
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| num(p))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|i| ident(i) && (!i.bytes().all(|c| c.is_ascii_digit()) || num(i)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

/// Parses an RFC 3339 timestamp and re-formats it as Go's `Format(time.RFC3339)` does
/// (fractional seconds dropped, zero offset written `Z`). `None` if it does not parse.
pub fn normalize_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let date_ok = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    let time_ok = matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !(date_ok && time_ok) {
        return None;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let zone = &s[i..];
    let zone = match zone {
        "Z" | "z" => "Z".to_string(),
        z if z.len() == 6
            && matches!(z.as_bytes()[0], b'+' | b'-')
            && z.as_bytes()[3] == b':'
            && z[1..3].bytes().all(|c| c.is_ascii_digit())
            && z[4..6].bytes().all(|c| c.is_ascii_digit()) =>
        {
            if &z[1..] == "00:00" {
                "Z".to_string()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    Some(format!("{}T{}{}", &s[..10], &s[11..19], zone))
}

/// Current UTC time formatted as RFC 3339 (seconds precision).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(
            normalize_rfc3339("2020-01-01T00:00:00Z").unwrap(),
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2020-01-01T00:00:00.123+00:00").unwrap(),
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2020-01-01T00:00:00+02:00").unwrap(),
            "2020-01-01T00:00:00+02:00"
        );
        assert!(normalize_rfc3339("2020-01-01").is_none());
        assert_eq!(now_rfc3339().len(), 20);
    }

    #[test]
    fn versions() {
        for ok in ["3.13.2", "v3.7.3", "1.15", "3.0.0-rc.1+b.2", "0.0.0"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "3.13", "03.1.0", "3.1.0-", "garbage", "3.1.0-01"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
