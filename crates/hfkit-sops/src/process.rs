//! Child processes that never see key material, decrypted memory handed to exactly one
//! child, and a process that cannot be dumped while it holds keys.
//!
//! Every process hfkit starts (helm and what helm runs, `gpg`, `git`, `$EDITOR`) is
//! built by [`command`] or [`command_with_opt_in`], which remove the variables listed
//! in [`KEY_VARIABLES`] from the child's environment: a helm plugin, a post-renderer
//! or an editor has no business with the keys that decrypt the secrets layers.
//!
//! Kept on purpose (see docs/keys.md):
//! - public material: `SOPS_PGP_FP`, `SOPS_AGE_RECIPIENTS`, `SOPS_KMS_ARN`, ...;
//! - `GNUPGHOME`, `GPG_AGENT_INFO`, `SOPS_GPG_EXEC`: paths, not secrets; `gpg` needs
//!   them to reach the agent that holds the keys (scrubbing them would only make gpg
//!   fall back to `~/.gnupg`);
//! - cloud credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`, `VAULT_TOKEN`): they are the
//!   user's ambient identity, which helm needs to reach a cluster (`aws eks get-token`
//!   in a kubeconfig), not sops keys.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::process::Command;

/// Environment variables that carry private key material (or a command or path that
/// yields it), removed from every child's environment.
///
/// sops 3.13 reads the `SOPS_AGE_*` ones (`age/keysource.go`); the `SOPS_PGP_KEY*` and
/// `SOPS_PGP_PASSPHRASE` ones are hfkit's own (see [`crate::keys`]).
pub const KEY_VARIABLES: &[&str] = &[
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
    "SOPS_PGP_KEY",
    "SOPS_PGP_KEY_FILE",
    "SOPS_PGP_PASSPHRASE",
];

/// `HFKIT_CHILD_KEEP_ENV=SOPS_AGE_KEY_FILE,...`: the explicit opt-in that lets helm and
/// what helm runs (plugins such as helm-secrets, post-renderers) keep the listed key
/// variables. Names not in [`KEY_VARIABLES`] are ignored (they are never removed).
pub const KEEP_ENV_VARIABLE: &str = "HFKIT_CHILD_KEEP_ENV";

/// A command for `program` whose environment lacks every [`KEY_VARIABLES`] entry, with
/// no opt-in: for `gpg`, `git` and the editor, which never need them.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &[]);
    cmd
}

/// Like [`command`], but keeps the key variables the user named in
/// [`KEEP_ENV_VARIABLE`]: for helm, whose plugins may legitimately need them.
pub fn command_with_opt_in(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &kept_by_opt_in());
    cmd
}

/// The key variables [`KEEP_ENV_VARIABLE`] asks to keep.
pub fn kept_by_opt_in() -> Vec<String> {
    std::env::var(KEEP_ENV_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| KEY_VARIABLES.contains(n))
        .map(String::from)
        .collect()
}

/// The key variables a child must not get: [`KEY_VARIABLES`] except `keep`.
pub fn removed_variables(keep: &[String]) -> impl Iterator<Item = &'static str> + '_ {
    KEY_VARIABLES
        .iter()
        .copied()
        .filter(move |name| !keep.iter().any(|k| k == name))
}

/// Removes the key variables (except `keep`) from `cmd`'s environment.
pub fn scrub(cmd: &mut Command, keep: &[String]) {
    for name in removed_variables(keep) {
        cmd.env_remove(name);
    }
}

/// Makes this process non-dumpable (`PR_SET_DUMPABLE 0`): no core file, and other
/// processes of the same user can neither ptrace it nor read its `/proc/PID/mem` or
/// `/proc/PID/environ`. Called before any key is read; a child gets the default back
/// at `execve`. Idempotent.
pub fn forbid_dumping() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Whether this process may be dumped (`PR_GET_DUMPABLE` is not 0).
pub fn is_dumpable() -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    return Ok(!matches!(
        rustix::process::dumpable_behavior()?,
        rustix::process::DumpableBehavior::NotDumpable
    ));
    #[cfg(not(target_os = "linux"))]
    Ok(true)
}

/// Decrypted bytes in an anonymous memory file: close-on-exec (no child inherits it
/// by accident) and sealed after writing (nobody, us included, can change or resize
/// it). `hfkit::helm::Helm::passing` hands one to helm, and to no other child.
#[derive(Debug)]
pub struct SealedMemory {
    file: File,
}

impl SealedMemory {
    /// Writes `data` into a new memory file named `name` (shown in `/proc/PID/fd`)
    /// and seals it.
    pub fn new(name: &str, data: &[u8]) -> std::io::Result<SealedMemory> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        let mut file = File::from(fd);
        file.write_all(data)?;
        rustix::fs::fcntl_add_seals(
            &file,
            SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
        )?;
        Ok(SealedMemory { file })
    }

    /// `/proc/self/fd/N`: opens the memory for us, and for a child that inherits the
    /// descriptor under the same number.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// The descriptor number.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Whether the write, grow, shrink and seal seals are all set.
    pub fn is_sealed(&self) -> std::io::Result<bool> {
        use rustix::fs::SealFlags;
        let all = SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL;
        Ok(rustix::fs::fcntl_get_seals(&self.file)?.contains(all))
    }
}

impl AsFd for SealedMemory {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child_env(cmd: &mut Command) -> String {
        let out = cmd.arg("-c").arg("env").output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn scrub_removes_key_variables_and_keeps_the_rest() {
        let mut cmd = Command::new("sh");
        for name in KEY_VARIABLES {
            cmd.env(name, "secret-material");
        }
        cmd.env("SOPS_PGP_FP", "ABCD").env("GNUPGHOME", "/g");
        scrub(&mut cmd, &["SOPS_AGE_KEY_FILE".to_string()]);
        let env = child_env(&mut cmd);
        for name in KEY_VARIABLES {
            let present = env.lines().any(|l| l.starts_with(&format!("{name}=")));
            assert_eq!(present, *name == "SOPS_AGE_KEY_FILE", "{name}: {env}");
        }
        assert!(env.contains("SOPS_PGP_FP=ABCD") && env.contains("GNUPGHOME=/g"));
    }

    #[test]
    fn sealed_memory_is_sealed_and_not_inherited() {
        let mem = SealedMemory::new("hfkit-test", b"plain: text\n").unwrap();
        assert!(mem.is_sealed().unwrap());
        assert_eq!(std::fs::read(mem.path()).unwrap(), b"plain: text\n");
        // Even we cannot change it.
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(mem.path())
            .unwrap();
        assert!(w.write_all(b"x").is_err());
        let script = format!(
            "cat /proc/self/fd/{} 2>/dev/null || echo absent",
            mem.raw_fd()
        );
        let child = command("sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&child.stdout), "absent\n");
    }
}
