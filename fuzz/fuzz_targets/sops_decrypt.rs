//! Fuzzes the YAML/JSON parsers, the sops metadata reader and the decryptor (with a fixed
//! age identity and the data key recovery path), which must never panic on any input.
#![no_main]

use std::sync::OnceLock;

use hfkit_sops::{decrypt_str, is_sops_encrypted, DecryptOptions, Format, Keyring};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| {
        Keyring::new()
            .with_gpg_fallback(false)
            // A throwaway identity generated for fuzzing only.
            .with_age_identities(
                "AGE-SECRET-KEY-14GMNCY422K6QZA8702Y8RWYY60K9M0LSP9YF93T9GURSWUH5ZUTS3VYVYN",
            )
            .expect("valid age identity")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in [Format::Yaml, Format::Json] {
        let _ = is_sops_encrypted(text, format);
        for ignore_mac in [false, true] {
            let _ = decrypt_str(text, format, keys(), &DecryptOptions { ignore_mac });
        }
        if let Ok(docs) = hfkit_sops::parse(text, format) {
            let out = hfkit_sops::emit(&docs, format);
            // What we emit must parse again.
            let _ = hfkit_sops::parse(&out, format).expect("emitted document re-parses");
        }
    }
});
