//! Encrypted kubeconfigs, decrypted in memory: `--kubeconfig kubeconfig.sops.yaml`
//! (sops, with the keys of the environment, natively) or a PGP-encrypted
//! `kubeconfig.gpg` / `kubeconfig.asc` (through `gpg --decrypt`, as hfkit-sops has no
//! public API for bare PGP messages).
//!
//! The plaintext goes into an anonymous memory file (`memfd_create`), never to disk,
//! sealed once written and close-on-exec. Its path `/proc/self/fd/N` works for us and
//! for the helm given [`Access::helm`], which alone inherits the descriptor; `gpg`,
//! `git` or any other child does not.

use std::path::Path;
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

/// Whether `path` needs decrypting, and how.
fn encryption(path: &Path, text: &str) -> Option<&'static str> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "gpg" | "asc" | "pgp") {
        return Some("pgp");
    }
    let format = hfkit_sops::Format::from_path(path);
    hfkit_sops::is_sops_encrypted(text, format).then_some("sops")
}

/// Decrypts `kube.kubeconfig` into memory when it is encrypted; otherwise returns the
/// flags unchanged.
pub fn open(kube: KubeOptions) -> Result<Access> {
    let Some(path) = kube.kubeconfig.clone() else {
        return Ok(Access { kube, memory: None });
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::Other(format!("--kubeconfig {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let plain = match encryption(&path, &text) {
        None => return Ok(Access { kube, memory: None }),
        Some("sops") => {
            let keys = hfkit_sops::Keyring::from_env().map_err(|e| {
                Error::Other(format!("--kubeconfig {}: sops keys: {e}", path.display()))
            })?;
            Zeroizing::new(
                hfkit_sops::decrypt_str(
                    &text,
                    hfkit_sops::Format::from_path(&path),
                    &keys,
                    &hfkit_sops::DecryptOptions::default(),
                )
                .map_err(|e| Error::Other(format!("--kubeconfig {}: {e}", path.display())))?,
            )
        }
        Some(_) => gpg_decrypt(&path)?,
    };
    let memory = SealedMemory::new("hfapply-kubeconfig", plain.as_bytes()).map_err(|e| {
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

fn gpg_decrypt(path: &Path) -> Result<Zeroizing<String>> {
    let out = hfkit_sops::process::command("gpg")
        .args(["--batch", "--quiet", "--decrypt"])
        .arg(path)
        .output()
        .map_err(|e| {
            Error::Other(format!(
                "--kubeconfig {}: cannot run gpg: {e}",
                path.display()
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Other(format!(
            "--kubeconfig {}: gpg cannot decrypt it: {}",
            path.display(),
            err.lines().last().unwrap_or("").trim()
        )));
    }
    let plain = Zeroizing::new(out.stdout);
    match std::str::from_utf8(&plain) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(_) => Err(Error::Other(format!(
            "--kubeconfig {}: not UTF-8",
            path.display()
        ))),
    }
}
