//! What the fuzz targets share: the committed test age key.

use std::sync::OnceLock;

use hfkit_sops::Keyring;

/// The age identity file made by the real `age-keygen` for fuzzing only (a test key: it
/// protects nothing; the seed corpus files are encrypted to it by the real sops 3.13.2).
pub const AGE_KEY_FILE: &str = include_str!("../keys/fuzz-age-key.txt");

/// The public key of [`AGE_KEY_FILE`].
pub fn age_recipient() -> &'static str {
    AGE_KEY_FILE
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("the key file has its public key comment")
        .trim()
}

/// A keyring holding only the test age identity (no gpg, no environment).
pub fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| {
        Keyring::new()
            .with_gpg_fallback(false)
            .with_age_identities(AGE_KEY_FILE)
            .expect("the test age identity parses")
    })
}

/// The input as UTF-8 text, or `None` (every parser here takes text).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
