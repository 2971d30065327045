//! How the values stack gets the plaintext of a sops-encrypted layer.
//!
//! The stack depends on this small trait rather than on the sops implementation, so
//! that a caller decides which keys are available and so that a stack without any
//! secrets layer never touches key material.

use std::path::Path;

/// Decrypts a sops-encrypted file to its plaintext, in memory.
pub trait Decryptor {
    /// The plaintext document, or a one-line message (never containing secret
    /// material) saying why not and what to do.
    fn decrypt_file(&self, path: &Path) -> Result<String, String>;
}

/// A decryptor for callers that have no keys: every secrets layer is an error, never
/// silently skipped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDecryptor;

impl Decryptor for NoDecryptor {
    fn decrypt_file(&self, _path: &Path) -> Result<String, String> {
        Err("no sops keys are configured for this command".into())
    }
}

/// Decrypts with the native sops implementation ([`hfkit_sops`]): no sops or gpg
/// process on the normal path. Keys come from the environment ([`Keyring::from_env`]:
/// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, `SOPS_PGP_KEY_FILE`, ...), loaded on the first
/// secrets layer only, so stacks without secrets need no keys.
///
/// [`Keyring::from_env`]: hfkit_sops::Keyring::from_env
#[derive(Default)]
pub struct SopsDecryptor {
    keyring: std::sync::OnceLock<Result<hfkit_sops::Keyring, String>>,
    options: hfkit_sops::DecryptOptions,
}

impl SopsDecryptor {
    /// A decryptor reading its keys from the environment when first needed.
    pub fn from_env() -> SopsDecryptor {
        SopsDecryptor::default()
    }

    /// A decryptor with the given keys.
    pub fn with_keyring(keyring: hfkit_sops::Keyring) -> SopsDecryptor {
        let decryptor = SopsDecryptor::default();
        let _ = decryptor.keyring.set(Ok(keyring));
        decryptor
    }
}

impl std::fmt::Debug for SopsDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SopsDecryptor").finish_non_exhaustive()
    }
}

impl Decryptor for SopsDecryptor {
    fn decrypt_file(&self, path: &Path) -> Result<String, String> {
        let keyring = self
            .keyring
            .get_or_init(|| hfkit_sops::Keyring::from_env().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)?;
        let text = hfkit_sops::limits::read_text(path).map_err(|e| e.to_string())?;
        let format = hfkit_sops::Format::yaml_or_json(path);
        if !hfkit_sops::is_sops_encrypted(&text, format) {
            return Err(
                "the file is not sops-encrypted (no `sops` metadata with a MAC); \
                        encrypt it with `kubectl sopsraw encrypt --in-place` or `sops -e -i`, \
                        or drop `.secrets` from its name"
                    .into(),
            );
        }
        hfkit_sops::decrypt_str(&text, format, keyring, &self.options).map_err(|e| e.to_string())
    }
}
