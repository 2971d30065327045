//! Encrypted kubeconfigs, decrypted in memory: `--kubeconfig kubeconfig.sops.yaml`
//! (sops, with the keys of the environment, natively) or a PGP-encrypted
//! `kubeconfig.gpg` / `kubeconfig.asc` (through `gpg --decrypt`, as hfkit-sops has no
//! public API for bare PGP messages).
//!
//! The plaintext goes into an anonymous memory file (`memfd_create`), never to disk.
//! Its path `/proc/self/fd/N` works for us and for every helm we start, which inherits
//! the descriptor: each opener gets its own read position.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use hfkit_kube::KubeOptions;

use crate::{Error, Result};

/// Connection flags whose kubeconfig may point at decrypted memory; keep it alive
/// while the kubeconfig is in use.
pub struct Access {
    /// The flags to use (kubeconfig replaced when it was decrypted).
    pub kube: KubeOptions,
    /// The memory file holding the plaintext, if any.
    _memory: Option<File>,
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
        return Ok(Access {
            kube,
            _memory: None,
        });
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::Other(format!("--kubeconfig {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let plain = match encryption(&path, &text) {
        None => {
            return Ok(Access {
                kube,
                _memory: None,
            })
        }
        Some("sops") => {
            let keys = hfkit_sops::Keyring::from_env().map_err(|e| {
                Error::Other(format!("--kubeconfig {}: sops keys: {e}", path.display()))
            })?;
            hfkit_sops::decrypt_str(
                &text,
                hfkit_sops::Format::from_path(&path),
                &keys,
                &hfkit_sops::DecryptOptions::default(),
            )
            .map_err(|e| Error::Other(format!("--kubeconfig {}: {e}", path.display())))?
        }
        Some(_) => gpg_decrypt(&path)?,
    };
    let memory = memory_file(plain.as_bytes())?;
    let mut kube = kube;
    kube.kubeconfig = Some(PathBuf::from(format!(
        "/proc/self/fd/{}",
        memory.as_raw_fd()
    )));
    Ok(Access {
        kube,
        _memory: Some(memory),
    })
}

fn gpg_decrypt(path: &Path) -> Result<String> {
    let out = std::process::Command::new("gpg")
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
    String::from_utf8(out.stdout)
        .map_err(|_| Error::Other(format!("--kubeconfig {}: not UTF-8", path.display())))
}

/// An anonymous memory file holding `data`, inherited by child processes.
fn memory_file(data: &[u8]) -> Result<File> {
    let name = c"hfapply-kubeconfig";
    // SAFETY: `name` is a valid NUL-terminated string; flags 0 (no CLOEXEC: helm
    // must inherit it).
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if fd < 0 {
        return Err(Error::Other(format!(
            "memfd_create: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(data)
        .map_err(|e| Error::Other(format!("writing the decrypted kubeconfig to memory: {e}")))?;
    Ok(file)
}
