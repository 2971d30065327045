//! `decrypt`, `encrypt` and `edit`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use clap::Args;
use hfkit_sops::{DecryptOptions, Format, Keyring};

/// `decrypt` arguments.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The sops-encrypted file.
    file: PathBuf,
    /// Write the plaintext to this file instead of stdout: always mode 0600 (an existing
    /// file is replaced, a symbolic link refused).
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "in_place")]
    output: Option<PathBuf>,
    /// Replace the file with its plaintext (mode 0600).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Do not check the MAC (a tampered file is then read anyway).
    #[arg(long)]
    ignore_mac: bool,
}

/// `encrypt` arguments.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// The plaintext file; the nearest .sops.yaml (this or a parent directory) gives the
    /// recipients.
    file: PathBuf,
    /// Write the encrypted text to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "in_place")]
    output: Option<PathBuf>,
    /// Replace the file with its encrypted text.
    #[arg(short = 'i', long)]
    in_place: bool,
}

/// `edit` arguments.
#[derive(Args, Debug)]
pub struct EditArgs {
    /// The sops-encrypted file.
    file: PathBuf,
}

/// The keyring from the sops environment variables.
pub fn keyring() -> anyhow::Result<Keyring> {
    Keyring::from_env()
        .context("cannot load the sops keys (SOPS_AGE_KEY_FILE, SOPS_PGP_KEY_FILE...)")
}

fn read(path: &Path) -> anyhow::Result<String> {
    hfkit_sops::limits::read_text(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The mode a written file gets.
#[derive(Clone, Copy)]
enum Mode {
    /// Plaintext: always 0600, whatever the file had, umask-independent; a symlink at
    /// the path is refused (the plaintext would otherwise land where it points, or the
    /// link the user meant to keep would be replaced).
    Private,
    /// Ciphertext: keep an existing file's mode, else this one.
    KeepOr(u32),
}

/// Writes `text` to `path` through a temp file created exclusively in the same
/// directory and a rename (never through whatever `path` points to).
fn write_atomic(path: &Path, text: &[u8], mode: Mode) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = match mode {
        Mode::Private => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                bail!(
                    "{} is a symbolic link; refusing to write plaintext through it or over it: \
                     remove the link or choose another path",
                    path.display()
                );
            }
            0o600
        }
        Mode::KeepOr(mode) => std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(mode),
    };
    // tempfile creates it with O_EXCL, mode 0600 (less under a strict umask): private
    // while the bytes land; the final mode is set explicitly, so the umask has no say.
    let mut tmp = tempfile::Builder::new()
        .prefix(".sopsraw-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    tmp.write_all(text)
        .and_then(|_| tmp.as_file().sync_all())
        .and_then(|_| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn emit(
    text: &[u8],
    output: Option<&Path>,
    in_place: Option<&Path>,
    mode: Mode,
) -> anyhow::Result<()> {
    match (output, in_place) {
        (Some(o), _) => write_atomic(o, text, mode),
        (None, Some(p)) => write_atomic(p, text, mode),
        (None, None) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text)
                .and_then(|_| out.flush())
                .context("cannot write to stdout")
        }
    }
}

/// `decrypt`: the plaintext goes to stdout, or to a 0600 file (`-o`, `-i`). A file in
/// sops's binary store (any name but .yaml/.yml/.json) gives exactly its bytes.
pub fn decrypt(a: &DecryptArgs) -> anyhow::Result<()> {
    let keys = keyring()?;
    let opts = DecryptOptions {
        ignore_mac: a.ignore_mac,
    };
    let plain = hfkit_sops::decrypt_file_bytes(&a.file, &keys, &opts)?;
    let in_place = a.in_place.then_some(a.file.as_path());
    emit(&plain, a.output.as_deref(), in_place, Mode::Private)
}

/// `encrypt`: in the store sops picks for the name; a file of another name than
/// .yaml/.yml/.json (text or not) is written in the binary store.
pub fn encrypt(a: &EncryptArgs) -> anyhow::Result<()> {
    let format = Format::from_path(&a.file)?;
    let bytes = hfkit_sops::limits::read_limited(&a.file, hfkit_sops::limits::MAX_DOCUMENT_BYTES)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    if hfkit_sops::is_sops_encrypted(&String::from_utf8_lossy(&bytes), format) {
        bail!(
            "{} is already encrypted; use `kubectl sopsraw edit {}` to change it",
            a.file.display(),
            a.file.display()
        );
    }
    let keys = keyring()?;
    let (enc, config) = hfkit_sops::encrypt_file_config(&a.file, &keys)?;
    // Which creation rules chose the recipients (the search stops at the repository root).
    eprintln!("using {}", config.display());
    let in_place = a.in_place.then_some(a.file.as_path());
    emit(
        enc.as_bytes(),
        a.output.as_deref(),
        in_place,
        Mode::KeepOr(0o644),
    )
}

/// The private directory holding plaintext while the editor runs, removed by the
/// signal handler if we are interrupted.
static EDIT_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn install_signal_cleanup() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        let dir = EDIT_DIR.lock().ok().and_then(|mut d| d.take());
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(&dir);
            eprintln!("interrupted: plaintext removed, the encrypted file left unchanged");
        }
        std::process::exit(130);
    })
    .context("cannot install the Ctrl-C handler")
}

/// Removes the private directory when dropped (error and panic paths).
struct Private(tempfile::TempDir);

impl Drop for Private {
    fn drop(&mut self) {
        if let Ok(mut d) = EDIT_DIR.lock() {
            d.take();
        }
        let _ = std::fs::remove_dir_all(self.0.path());
    }
}

fn editor() -> String {
    ["SOPS_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "vi".into())
}

/// `edit`: the plaintext (for the binary store, the file's bytes) in a private temp file.
pub fn edit(a: &EditArgs) -> anyhow::Result<()> {
    let format = Format::from_path(&a.file)?;
    let encrypted = read(&a.file)?;
    if !hfkit_sops::is_sops_encrypted(&encrypted, format) {
        bail!(
            "{} is not sops-encrypted; encrypt it first with `kubectl sopsraw encrypt {} --in-place`",
            a.file.display(),
            a.file.display()
        );
    }
    let keys = keyring()?;
    let plain = hfkit_sops::decrypt_bytes(&encrypted, format, &keys, &DecryptOptions::default())
        .with_context(|| a.file.display().to_string())?;
    install_signal_cleanup()?;
    let dir = tempfile::Builder::new()
        .prefix("sopsraw-edit-")
        .tempdir()
        .context("cannot create a private temp directory (check TMPDIR)")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .context("cannot make the temp directory private")?;
    *EDIT_DIR
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))? = Some(dir.path().into());
    let private = Private(dir);
    let name = a
        .file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "file.yaml".into());
    let tmp = private.0.path().join(name);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .context("cannot create the temp file")?;
        f.write_all(&plain).context("cannot write the temp file")?;
    }
    let ed = editor();
    // The editor sees the plaintext it edits, never the keys.
    let status = hfkit_sops::process::command("sh")
        .arg("-c")
        .arg(format!("{ed} \"$1\""))
        .arg("sh")
        .arg(&tmp)
        .status()
        .with_context(|| format!("cannot run the editor `{ed}`; set EDITOR"))?;
    if !status.success() {
        bail!(
            "the editor `{ed}` failed ({status}); {} left unchanged",
            a.file.display()
        );
    }
    let edited = zeroize::Zeroizing::new(
        hfkit_sops::limits::read_limited(&tmp, hfkit_sops::limits::MAX_DOCUMENT_BYTES)
            .context("cannot read back the edited file")?,
    );
    drop(private);
    if edited == plain {
        eprintln!("{}: no changes", a.file.display());
        return Ok(());
    }
    let out = match format {
        Format::Binary => hfkit_sops::binary::edit(&encrypted, &edited, &keys),
        _ => match std::str::from_utf8(&edited) {
            Ok(text) => hfkit_sops::edit_str(&encrypted, text, format, &keys),
            Err(_) => Err(hfkit_sops::Error::Encrypt(
                "the edited file is not UTF-8 text".into(),
            )),
        },
    }
    .with_context(|| {
        format!(
            "cannot re-encrypt your edits (discarded; {} left unchanged); run edit again",
            a.file.display()
        )
    })?;
    write_atomic(&a.file, out.as_bytes(), Mode::KeepOr(0o644))?;
    eprintln!("{}: re-encrypted", a.file.display());
    Ok(())
}
