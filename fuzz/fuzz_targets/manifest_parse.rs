//! Manifests: raw manifest files as `kubectl sopsraw apply` and `kubectl hfapply` read
//! them (multi-document YAML or JSON, `kind: List`, sops-encrypted ones decrypted with
//! the test age key, the plain-secret refusal), and helm's rendered manifests as the
//! diff splits them.
//!
//! The first byte picks the file name (plain / named as a secret, YAML / JSON); the rest
//! is the file text. Invariants: every object read has apiVersion, kind and name and
//! comes from a document that exists; a file named as a secret yields only decrypted
//! objects.
#![no_main]

use std::path::Path;

use hfkit_fuzz::{keyring, text};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "app.pre.yaml",
    "db.secrets.pre.yaml",
    "app.post.json",
    "token.secret.json",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = text(rest) else { return };
    let name = NAMES[pick as usize % NAMES.len()];
    let secret_name = hfkit_kube::manifests::is_secret_file_name(name);
    if let Ok(objects) = hfkit_kube::manifests::parse_manifests(Path::new(name), text, keyring()) {
        let encrypted =
            hfkit_sops::is_sops_encrypted(text, hfkit_sops::Format::yaml_or_json(name.as_ref()));
        for m in &objects {
            assert!(!m.api_version().is_empty() && !m.kind().is_empty() && !m.name().is_empty());
            assert!(m.doc >= 1);
            assert_eq!(m.encrypted, encrypted);
            assert!(
                !secret_name || m.encrypted,
                "{name}: a plain secret file was read"
            );
        }
    }
    if let Ok(objects) = hfkit::manifest::split_manifest(text) {
        for o in &objects {
            let _ = o.key.to_string();
        }
    }
});
