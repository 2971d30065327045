//! Change detection without helm-diff.
//!
//! A release's fingerprint is `v1:` + the hex HMAC-SHA256 of its inputs, keyed with a
//! per-cluster random key. The inputs ([`crate::plan::Prepared::material`]) are the
//! tool version, the release's identity (name, namespace, kube context,
//! `createNamespace`, `installed`), the chart reference and version (plus the
//! repository URL, or the SHA-256 of every file of a local chart directory), the
//! merged values with decrypted secrets, and every raw manifest object (decrypted).
//!
//! Why keyed: the fingerprint is stored on the cluster where many can read it; a plain
//! hash of inputs containing a short secret would let anyone test guesses offline.
//! With the key (32 random bytes in the Secret [`crate::cluster::KEY_SECRET`], readable
//! only by those who may read Secrets of the state namespace) the fingerprint reveals
//! nothing about the values.

use sha2::{Digest, Sha256};

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= block[i];
        opad[i] ^= block[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The fingerprint of `material` under `key`.
pub fn fingerprint(key: &[u8], material: &[u8]) -> String {
    let mac = hmac_sha256(key, material);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn fingerprint_depends_on_key_and_material() {
        let a = fingerprint(b"k1", b"m");
        assert_ne!(a, fingerprint(b"k2", b"m"));
        assert_ne!(a, fingerprint(b"k1", b"n"));
        assert_eq!(a, fingerprint(b"k1", b"m"));
    }
}
