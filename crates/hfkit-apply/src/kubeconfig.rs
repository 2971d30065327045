//! Encrypted kubeconfigs, decrypted in memory: `--kubeconfig kubeconfig.sops.yaml` or
//! `--kubeconfig kubeconfig` (sops, in any store, recognised by content, with the keys of
//! the environment, natively; also the one file of `KUBECONFIG`) or a PGP-encrypted
//! `kubeconfig.gpg` / `kubeconfig.asc` (through `gpg --decrypt`, as hfkit-sops has no
//! public API for bare PGP messages).
//!
//! The plaintext goes into an anonymous memory file (`memfd_create`), never to disk,
//! sealed once written and close-on-exec. Its path `/proc/self/fd/N` works for us and
//! for the helm given [`Access::helm`], which alone inherits the descriptor; `gpg`,
//! `git` or any other child does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hfkit::helm::Helm;
use hfkit_kube::KubeOptions;
use hfkit_sops::process::SealedMemory;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Connection flags whose kubeconfig may point at decrypted memory; keep it alive
/// while the kubeconfig is in use.
pub struct Access {
    /// The flags to use (kubeconfig replaced when it was decrypted).
    pub kube: KubeOptions,
    /// The memory file holding the plaintext, if any.
    memory: Option<Arc<SealedMemory>>,
}

impl Access {
    /// `helm`, handed the decrypted kubeconfig (when there is one) so that the
    /// `--kubeconfig /proc/self/fd/N` it is given opens there.
    pub fn helm(&self, helm: Helm) -> Helm {
        match &self.memory {
            Some(m) => helm.passing(Arc::clone(m)),
            None => helm,
        }
    }
}

/// How a kubeconfig is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encryption {
    /// A bare PGP message (`.gpg`, `.asc`, `.pgp`).
    Pgp,
    /// A sops file, read in this store.
    Sops(hfkit_sops::Format),
}

/// Whether `path` needs decrypting, and how. The content decides, not only the name: a
/// kubeconfig encrypted by sops under its usual name (`kubeconfig`, `config`: no
/// extension) is in sops's binary store, `{"data": ..., "sops": ...}`, whose `data` is the
/// kubeconfig; one encrypted with `--input-type yaml` under such a name is a YAML sops
/// file.
fn encryption(path: &Path, text: &str) -> Option<Encryption> {
    use hfkit_sops::{binary, is_sops_encrypted, Format};
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "gpg" | "asc" | "pgp") {
        return Some(Encryption::Pgp);
    }
    // Exactly what sops writes in the binary store: whatever the name, its `data` is the
    // kubeconfig (read in the YAML store it would be a `data:` wrapper no client reads).
    if binary::is_envelope(text) {
        return Some(Encryption::Sops(Format::Binary));
    }
    match Format::from_path(path) {
        Ok(Format::Binary) if binary::is_encrypted(text) => Some(Encryption::Sops(Format::Binary)),
        Ok(f @ (Format::Yaml | Format::Json)) => {
            is_sops_encrypted(text, f).then_some(Encryption::Sops(f))
        }
        // Another name (or `.env`/`.ini`): a YAML or JSON sops file is read as YAML,
        // which covers JSON too.
        _ => is_sops_encrypted(text, Format::Yaml).then_some(Encryption::Sops(Format::Yaml)),
    }
}

/// The one file `KUBECONFIG` names, when it is encrypted: it is then read as
/// `--kubeconfig` would be. Several files of which one is encrypted are refused: the
/// merge kubectl does of them would need every one as a path helm can read.
fn encrypted_from_env() -> Result<Option<PathBuf>> {
    let Some(list) = std::env::var_os("KUBECONFIG") else {
        return Ok(None);
    };
    let paths: Vec<PathBuf> = std::env::split_paths(&list)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    let encrypted: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| {
            // A missing or unreadable file is left to the client, as kubectl skips it.
            hfkit_sops::limits::read_limited(p, hfkit_sops::limits::MAX_DOCUMENT_BYTES)
                .is_ok_and(|b| encryption(p, &String::from_utf8_lossy(&b)).is_some())
        })
        .collect();
    match (paths.len(), encrypted.first()) {
        (_, None) => Ok(None),
        (1, Some(p)) => Ok(Some((*p).clone())),
        (_, Some(p)) => Err(Error::Other(format!(
            "KUBECONFIG names {} files and {} is encrypted; an encrypted kubeconfig must be \
             the only one: pass --kubeconfig {} or set KUBECONFIG to it alone",
            paths.len(),
            p.display(),
            p.display()
        ))),
    }
}

/// Decrypts the kubeconfig into memory when it is encrypted — `kube.kubeconfig`, else
/// the single file `KUBECONFIG` names — otherwise returns the flags unchanged.
pub fn open(kube: KubeOptions) -> Result<Access> {
    // `name` says in errors where the file came from.
    let (path, name) = match &kube.kubeconfig {
        Some(p) => (p.clone(), format!("--kubeconfig {}", p.display())),
        None => match encrypted_from_env()? {
            Some(p) => {
                let name = format!("KUBECONFIG={}", p.display());
                (p, name)
            }
            None => return Ok(Access { kube, memory: None }),
        },
    };
    let bytes = hfkit_sops::limits::read_limited(&path, hfkit_sops::limits::MAX_DOCUMENT_BYTES)
        .map_err(|e| Error::Other(format!("{name}: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let plain = match encryption(&path, &text) {
        None => return Ok(Access { kube, memory: None }),
        Some(Encryption::Sops(format)) => {
            let keys = hfkit_sops::Keyring::from_env()
                .map_err(|e| Error::Other(format!("{name}: sops keys: {e}")))?;
            hfkit_sops::decrypt_bytes(&text, format, &keys, &hfkit_sops::DecryptOptions::default())
                .map_err(|e| Error::Other(format!("{name}: {e}")))?
        }
        Some(Encryption::Pgp) => gpg_decrypt(&path, &name)?,
    };
    let memory = SealedMemory::new("hfapply-kubeconfig", &plain).map_err(|e| {
        Error::Other(format!(
            "cannot keep the decrypted kubeconfig in sealed memory (memfd_create): {e}"
        ))
    })?;
    let mut kube = kube;
    kube.kubeconfig = Some(memory.path());
    Ok(Access {
        kube,
        memory: Some(Arc::new(memory)),
    })
}

fn gpg_decrypt(path: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>> {
    let out = hfkit_sops::process::command("gpg")
        .args(["--batch", "--quiet", "--decrypt"])
        .arg(path)
        .output()
        .map_err(|e| Error::Other(format!("{name}: cannot run gpg: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Other(format!(
            "{name}: gpg cannot decrypt it: {}",
            err.lines().last().unwrap_or("").trim()
        )));
    }
    let plain = Zeroizing::new(out.stdout);
    match std::str::from_utf8(&plain) {
        Ok(_) => Ok(plain),
        Err(_) => Err(Error::Other(format!("{name}: not UTF-8"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfkit_sops::Format;

    #[test]
    fn the_content_decides_the_store() {
        let envelope = r#"{"data": "ENC[AES256_GCM,data:eA==,iv:aQ==,tag:dA==,type:str]", "sops": {"mac": "x", "version": "3.13.2"}}"#;
        let yaml = "apiVersion: v1\nsops:\n  mac: x\n  version: 3.13.2\n";
        let plain = "apiVersion: v1\nkind: Config\n";
        let e = |name: &str, text: &str| encryption(Path::new(name), text);
        assert_eq!(
            e("kubeconfig", envelope),
            Some(Encryption::Sops(Format::Binary))
        );
        // The envelope wins over a name that says YAML.
        assert_eq!(
            e("kubeconfig.sops.yaml", envelope),
            Some(Encryption::Sops(Format::Binary))
        );
        // A YAML sops file under a name sops would read as binary.
        assert_eq!(e("config", yaml), Some(Encryption::Sops(Format::Yaml)));
        assert_eq!(
            e("kubeconfig.sops.yaml", yaml),
            Some(Encryption::Sops(Format::Yaml))
        );
        assert_eq!(e("kubeconfig", plain), None);
        assert_eq!(e("kubeconfig.yaml", plain), None);
        assert_eq!(e("kubeconfig.gpg", ""), Some(Encryption::Pgp));
    }
}
