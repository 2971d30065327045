//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value cipher: AES-256-GCM with a 32-byte
//! IV and the key path as additional authenticated data.

use aes_gcm::aead::generic_array::typenum::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::tree::{go_format_float_f, Comment, Value};

type Cipher = AesGcm<Aes256, U32>;

/// Size of the IV sops uses.
pub const IV_SIZE: usize = 32;

/// The parts of an `ENC[...]` string.
#[derive(Debug, Clone, PartialEq)]
pub struct EncValue {
    /// Ciphertext without the tag.
    pub data: Vec<u8>,
    /// The 32-byte IV.
    pub iv: Vec<u8>,
    /// The 16-byte GCM tag.
    pub tag: Vec<u8>,
    /// Datatype: `str`, `int`, `float`, `bool`, `bytes`, `time` or `comment`.
    pub datatype: String,
}

/// Whether a string looks like an `ENC[AES256_GCM,...]` value.
pub fn is_enc(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Parses an `ENC[...]` string (same rules as sops's regex: prefix match, greedy fields).
pub fn parse(value: &str) -> Result<EncValue, String> {
    let rest = value
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or("value does not match sops' ENC[AES256_GCM,...] format")?;
    // sops's regex is greedy: the last `,iv:`, `,tag:` and `,type:` win.
    let type_pos = rest.rfind(",type:").ok_or("missing type field")?;
    let (head, ty) = rest.split_at(type_pos);
    let ty = &ty[",type:".len()..];
    let end = ty.rfind(']').ok_or("missing closing bracket")?;
    let datatype = &ty[..end];
    let tag_pos = head.rfind(",tag:").ok_or("missing tag field")?;
    let (head, tag) = head.split_at(tag_pos);
    let tag = &tag[",tag:".len()..];
    let iv_pos = head.rfind(",iv:").ok_or("missing iv field")?;
    let (data, iv) = head.split_at(iv_pos);
    let iv = &iv[",iv:".len()..];
    if data.is_empty() || iv.is_empty() || tag.is_empty() || datatype.is_empty() {
        return Err("empty field".into());
    }
    let dec = |what: &str, s: &str| {
        B64.decode(s)
            .map_err(|e| format!("cannot base64-decode {what}: {e}"))
    };
    Ok(EncValue {
        data: dec("data", data)?,
        iv: dec("iv", iv)?,
        tag: dec("tag", tag)?,
        datatype: datatype.to_string(),
    })
}

fn cipher(key: &[u8]) -> Result<Cipher, String> {
    if key.len() != 32 {
        return Err(format!("data key has {} bytes, expected 32", key.len()));
    }
    Ok(Cipher::new(GenericArray::from_slice(key)))
}

/// Decrypts raw bytes of an `ENC[...]` string; returns `(plaintext, datatype)`.
pub fn decrypt_bytes(value: &str, key: &[u8], aad: &str) -> Result<(Vec<u8>, String), String> {
    let ev = parse(value)?;
    if ev.iv.len() != IV_SIZE {
        return Err(format!("IV has {} bytes, expected {IV_SIZE}", ev.iv.len()));
    }
    if ev.tag.len() != 16 {
        return Err(format!("tag has {} bytes, expected 16", ev.tag.len()));
    }
    let c = cipher(key)?;
    let mut msg = ev.data.clone();
    msg.extend_from_slice(&ev.tag);
    let plain = c
        .decrypt(
            GenericArray::from_slice(&ev.iv),
            Payload {
                msg: &msg,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            "AES-GCM authentication failed (wrong key, or tampered data, IV, tag or key path)"
                .to_string()
        })?;
    Ok((plain, ev.datatype))
}

/// Decrypts an `ENC[...]` string into a typed value. The empty string decrypts to itself.
pub fn decrypt(value: &str, key: &[u8], aad: &str) -> Result<Value, String> {
    if value.is_empty() {
        return Ok(Value::Str(String::new()));
    }
    let (plain, ty) = decrypt_bytes(value, key, aad)?;
    let text = String::from_utf8(plain).map_err(|_| "decrypted value is not UTF-8".to_string());
    Ok(match ty.as_str() {
        "str" => Value::Str(text?),
        // sops never writes it (its Encrypt has no bytes case) and 3.13.2 panics reading it.
        "bytes" => {
            return Err(
                "type `bytes` is not written by sops (sops 3.13 cannot read it either)".into(),
            )
        }
        "time" => Value::Time(text?),
        "int" => {
            let t = text?;
            Value::Int(
                t.parse()
                    .map_err(|_| "decrypted int is malformed".to_string())?,
            )
        }
        "float" => {
            let t = text?;
            Value::Float(parse_go_float(&t).ok_or("decrypted float is malformed")?)
        }
        "bool" => {
            Value::Bool(crate::tree::go_parse_bool(&text?).ok_or("decrypted bool is malformed")?)
        }
        "comment" => Value::Comment(Comment {
            text: text?,
            inline: false,
        }),
        other => return Err(format!("unknown datatype {other:?}")),
    })
}

/// Parses a float as Go's `strconv.ParseFloat` would for sops-written values.
pub fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// The bytes sops encrypts (and feeds to the MAC) for a leaf value (`ToBytes`).
pub fn to_bytes(v: &Value) -> Option<Vec<u8>> {
    Some(match v {
        Value::Str(s) | Value::Time(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => go_format_float_f(*f).into_bytes(),
        Value::Bool(b) => if *b { "True" } else { "False" }.as_bytes().to_vec(),
        Value::Comment(c) => c.text.as_bytes().to_vec(),
        _ => return None,
    })
}

/// The `type:` sops writes for a leaf and the bytes it seals; `None` for non-leaves.
pub fn type_and_bytes(v: &Value) -> Option<(&'static str, Vec<u8>)> {
    let ty = match v {
        Value::Str(_) => "str",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Bool(_) => "bool",
        Value::Time(_) => "time",
        Value::Comment(_) => "comment",
        _ => return None,
    };
    Some((ty, to_bytes(v)?))
}

/// Formats the parts of an encrypted value as sops writes them.
pub fn format(data: &[u8], iv: &[u8], tag: &[u8], datatype: &str) -> String {
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(data),
        B64.encode(iv),
        B64.encode(tag),
        datatype
    )
}

/// Encrypts a leaf value under `iv`, which must never have sealed anything else with this
/// data key (see [`crate::crypt::fresh_iv`]). Empty strings and empty comments stay empty,
/// as in sops.
pub fn encrypt(v: &Value, key: &[u8], aad: &str, iv: &[u8; IV_SIZE]) -> Result<String, String> {
    match v {
        Value::Str(s) if s.is_empty() => return Ok(String::new()),
        Value::Comment(c) if c.text.is_empty() => return Ok(String::new()),
        _ => {}
    }
    let (ty, bytes) =
        type_and_bytes(v).ok_or_else(|| "value to encrypt has unsupported type".to_string())?;
    encrypt_raw(&bytes, ty, key, aad, iv)
}

/// Seals `plain` as a value of type `datatype` under `iv` (same rule as [`encrypt`]: the
/// IV must be fresh). The binary store seals a file's bytes, text or not, as a `str`.
pub fn encrypt_raw(
    plain: &[u8],
    datatype: &str,
    key: &[u8],
    aad: &str,
    iv: &[u8; IV_SIZE],
) -> Result<String, String> {
    let c = cipher(key)?;
    let out = c
        .encrypt(
            GenericArray::from_slice(iv),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| "AES-GCM encryption failed".to_string())?;
    let (data, tag) = out.split_at(out.len() - 16);
    Ok(format(data, iv, tag, datatype))
}

/// Fresh random IV.
pub fn random_iv() -> [u8; IV_SIZE] {
    use aes_gcm::aead::rand_core::RngCore;
    let mut iv = [0u8; IV_SIZE];
    aes_gcm::aead::OsRng.fill_bytes(&mut iv);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let key = [7u8; 32];
        let iv = random_iv();
        for v in [
            Value::Str("héllo".into()),
            Value::Int(-42),
            Value::Float(1.5),
            Value::Bool(true),
        ] {
            let e = encrypt(&v, &key, "a:b:", &iv).unwrap();
            assert_eq!(decrypt(&e, &key, "a:b:").unwrap(), v);
            assert!(decrypt(&e, &key, "a:c:").is_err());
        }
        assert_eq!(
            encrypt(&Value::Str(String::new()), &key, "", &iv).unwrap(),
            ""
        );
    }
}
