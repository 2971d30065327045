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
