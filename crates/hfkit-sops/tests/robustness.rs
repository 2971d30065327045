//! Cheap stand-in for the cargo-fuzz target (fuzz/): thousands of deterministic random
//! mutations of the vectors go through the parsers and the decryptor; nothing may panic,
//! and every mutated document that still decrypts under the MAC must equal the original.

use std::path::Path;

use hfkit_sops::{decrypt_str, DecryptOptions, Format, Keyring};

fn read(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutations_never_panic_and_never_forge() {
    let keys = Keyring::new()
        .with_gpg_fallback(false)
        .with_pgp_armored(&read("sops_functional_tests_key.asc"), None)
        .unwrap();
    let opts = DecryptOptions::default();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    const ALPHABET: &[u8] =
        b" \n\t:-#'\"{}[],|>&*!%@`?ENC[]AES256_GCMdata:iv:tag:type:str0123456789abcXYZ+/=";
    for (name, format, sentinel) in [
        ("example.yaml", Format::Yaml, "c4r1b0u"),
        ("example.json", Format::Json, "Smith"),
        ("comments.enc.yaml", Format::Yaml, "ipsum"),
    ] {
        let original = read(name);
        assert!(decrypt_str(&original, format, &keys, &opts)
            .unwrap()
            .contains(sentinel));
        for _ in 0..120 {
            let mut bytes = original.clone().into_bytes();
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[i] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, ALPHABET[rng.below(ALPHABET.len())]),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if let Ok(out) = decrypt_str(&text, format, &keys, &opts) {
                // Whatever passes the MAC still carries the original secrets (mutations
                // that survive touch formatting, comments or fields outside the MAC).
                assert!(out.contains(sentinel), "{name}: {out}");
            }
            let _ = decrypt_str(&text, format, &keys, &DecryptOptions { ignore_mac: true });
            let _ = hfkit_sops::is_sops_encrypted(&text, format);
        }
    }
}
