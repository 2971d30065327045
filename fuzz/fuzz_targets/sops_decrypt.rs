//! sops files through the parsers, the metadata reader, the data key recovery (a real age
//! identity, `keys/`), the per-value AES-GCM decryption, the MAC check and the typed
//! value parsing; and our encryptor's output back through all of that.
//!
//! The first byte picks the mode and the options, the rest is text:
//! - bit 0 clear, "file": the text is a sops file (the seeds were encrypted by the real
//!   sops 3.13.2 to the test key; mutations keep most values decryptable). Invariants:
//!   what decrypts under the MAC decrypts the same with `ignore_mac`, re-parses, and
//!   re-encrypted with its own data key (`edit_str`) decrypts to the same plaintext.
//! - bit 0 set, "plaintext": the text is a plaintext document, encrypted by us for the
//!   test key (bits 1-3: unencrypted suffix / encrypted regex / MAC over encrypted values
//!   only; bit 4: two key groups, Shamir threshold from bit 5). It must decrypt to what
//!   was encrypted; then one byte of the encrypted text is changed (position and value
//!   from the input's last two bytes): whatever still passes the MAC must give the same
//!   plaintext, or the MAC would let a forgery through.
//!
//! Bit 6 picks JSON instead of YAML.
#![no_main]

use hfkit_fuzz::{age_recipient, keyring, text};
use hfkit_sops::tree::{Branch, Item, Key, Value};
use hfkit_sops::{
    decrypt_str, edit_str, emit, encrypt_str, parse, DecryptOptions, EncryptOptions, Format,
    RecipientGroup,
};
use libfuzzer_sys::fuzz_target;

const CHECKED: DecryptOptions = DecryptOptions { ignore_mac: false };
const UNCHECKED: DecryptOptions = DecryptOptions { ignore_mac: true };

fn file_mode(text: &str, format: Format) {
    let _ = hfkit_sops::is_sops_encrypted(text, format);
    let unchecked = decrypt_str(text, format, keyring(), &UNCHECKED);
    let Ok(plain) = decrypt_str(text, format, keyring(), &CHECKED) else {
        return;
    };
    assert_eq!(
        unchecked.as_deref().ok(),
        Some(plain.as_str()),
        "decrypts under the MAC but not (or differently) without it"
    );
    let docs = parse(&plain, format).expect("the decrypted text re-parses");
    assert_eq!(
        emit(&docs, format),
        plain,
        "emit of the decrypted text is stable"
    );
    // Same data key, same metadata: the edited file must open to what was written.
    if let Ok(again) = edit_str(text, &plain, format, keyring()) {
        let back = decrypt_str(&again, format, keyring(), &CHECKED)
            .expect("a file we re-encrypted decrypts under its MAC");
        assert_eq!(back, plain, "re-encryption changed the plaintext");
    }
}

fn options(flags: u8) -> EncryptOptions {
    let mut o = EncryptOptions::for_recipients(&[], &[age_recipient()]);
    if flags & 0x02 != 0 {
        o.unencrypted_suffix = Some("_unencrypted".into());
    }
    if flags & 0x04 != 0 {
        o.encrypted_regex = Some("^(data|stringData|pass.*)$".into());
    }
    o.mac_only_encrypted = flags & 0x08 != 0;
    if flags & 0x10 != 0 {
        let g = RecipientGroup {
            pgp: Vec::new(),
            age: vec![age_recipient().to_string()],
        };
        o.key_groups = vec![g.clone(), g];
        o.shamir_threshold = if flags & 0x20 != 0 { 1 } else { 2 };
    }
    o
}

/// The part of a document the format authenticates: sops encrypts only scalars, so keys
/// holding `null`, `{}` or `[]` (and null list items) are in no AAD and no MAC input, and
/// renaming, adding or removing them passes sops 3.13 too (docs/sops-tamper.md).
fn authenticated(docs: Vec<Branch>) -> Vec<Branch> {
    fn value(v: Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Map(m) => Some(Value::Map(branch(m))).filter(|v| !is_empty_container(v)),
            Value::Seq(items) => Some(Value::Seq(items.into_iter().filter_map(value).collect()))
                .filter(|v| !is_empty_container(v)),
            other => Some(other),
        }
    }
    fn branch(b: Branch) -> Branch {
        b.into_iter()
            .filter_map(|item| match item.key {
                Key::Comment(_) => Some(item),
                Key::Str(_) => value(item.value).map(|value| Item { value, ..item }),
            })
            .collect()
    }
    docs.into_iter().map(branch).collect()
}

fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Map(m) if m.is_empty()) || matches!(v, Value::Seq(s) if s.is_empty())
}

fn plaintext_mode(text: &str, format: Format, flags: u8, flip: Option<(u8, u8)>) {
    let Ok(docs) = parse(text, format) else {
        return;
    };
    let expected = emit(&docs, format);
    // Open finding (fuzz/README.md, fuzz/known/sops_decrypt-comment-before-long-key): a
    // comment in a map with a key over 128 bytes (written as `? key`, as yaml.v3 does) is
    // sealed under one key path and read back under another.
    // The same for comments in or beside a block sequence (known/sops_decrypt-comment-in-
    // list), where sops 3.13.2 cannot read back its own output either.
    let in_list = |l: &str| {
        let t = l.trim_start();
        t == "-" || t.starts_with("- ") || t.starts_with("-\t")
    };
    if text.contains('#')
        && text
            .split(['\n', '\r'])
            .any(|l| l.len() > 128 || in_list(l))
    {
        return;
    }
    let Ok(enc) = encrypt_str(text, format, keyring(), &options(flags)) else {
        return;
    };
    let back = decrypt_str(&enc, format, keyring(), &CHECKED)
        .unwrap_or_else(|e| panic!("our own encryption does not decrypt: {e}\n{enc}"));
    // A comment after a value comes back on its own line above the key, as with sops
    // 3.13 (crates/hfkit-sops/tests/interop.rs): compared only without `#`.
    if !text.contains('#') {
        assert_eq!(back, expected, "encrypt then decrypt changed the document");
    }
    let Some((pos, xor)) = flip else { return };
    // Only where the MAC covers every value: with an unencrypted suffix or the MAC over
    // encrypted values only, sops too lets those values change.
    // Comments are outside the MAC, in sops too (a changed `#ENC[...]` comment comes
    // through as text): only documents without comments are checked.
    if flags & 0x0e != 0 || xor == 0 || text.contains('#') {
        return;
    }
    let mut bytes = enc.into_bytes();
    let i = (pos as usize * bytes.len()) / 256;
    bytes[i] ^= xor;
    let Ok(forged) = String::from_utf8(bytes) else {
        return;
    };
    if let Ok(out) = decrypt_str(&forged, format, keyring(), &CHECKED) {
        let view = |t: &str| {
            parse(t, format)
                .map(|d| emit(&authenticated(d), format))
                .ok()
        };
        assert_eq!(
            view(&out),
            view(&expected),
            "a changed file passed the MAC with other content"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let format = if flags & 0x40 != 0 {
        Format::Json
    } else {
        Format::Yaml
    };
    if flags & 0x01 == 0 {
        if let Some(t) = text(rest) {
            file_mode(t, format);
        }
    } else {
        // The last two bytes drive the flip, when there are enough.
        let (body, flip) = match rest {
            [body @ .., p, x] if body.len() > 2 => (body, Some((*p, *x))),
            _ => (rest, None),
        };
        if let Some(t) = text(body) {
            plaintext_mode(t, format, flags, flip);
        }
    }
});
