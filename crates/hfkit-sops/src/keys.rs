//! The keyring: PGP secret keys (in-process via rpgp, `gpg` as fallback) and age
//! identities, and recovery of a file's data key from its key groups (Shamir included).
//!
//! Environment variables read by [`Keyring::from_env`]:
//! - `SOPS_PGP_KEY_FILE`: path(s) (`:`-separated) of armored PGP secret key files (hfkit).
//! - `SOPS_PGP_KEY`: an armored PGP secret key itself (hfkit).
//! - `SOPS_PGP_PASSPHRASE`: passphrase for protected PGP keys (hfkit).
//! - `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`: age identities, as in sops.
//! - default age identities file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
//!   `~/.config/sops/age/keys.txt` (as sops does on Linux).
//! - `SOPS_GPG_EXEC`: the gpg binary used as fallback (as in sops, default `gpg`);
//!   `HFKIT_SOPS_NO_GPG=1` disables the fallback.
//!
//! None of these reaches a child process (see [`crate::process`]), and a keyring about
//! to hold a private key first makes the process non-dumpable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use pgp::composed::{Message, PublicOrSecret, SignedPublicKey, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

use crate::metadata::{KeyGroup, Metadata};
use crate::{shamir, Error};

struct PgpSecret {
    key: SignedSecretKey,
    passphrase: Option<Zeroizing<String>>,
}

/// Keys used to recover (and wrap) data keys.
pub struct Keyring {
    pgp: Vec<PgpSecret>,
    pgp_public: Vec<SignedPublicKey>,
    age: Vec<age::x25519::Identity>,
    gpg: Option<PathBuf>,
    gpg_home: Option<PathBuf>,
    sources: Vec<String>,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring::new()
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("pgp", &self.pgp_fingerprints())
            .field("age", &self.age_recipients())
            .field("gpg", &self.gpg)
            .finish()
    }
}

/// A keyring about to hold private keys makes the process non-dumpable first (see
/// [`crate::process::forbid_dumping`]); where prctl is refused, we carry on, as the
/// keys are still never written anywhere.
fn forbid_dumping() {
    let _ = crate::process::forbid_dumping();
}

fn fp_hex(fp: &pgp::types::Fingerprint) -> String {
    format!("{fp:X}")
}

fn default_gpg() -> Option<PathBuf> {
    if std::env::var_os("HFKIT_SOPS_NO_GPG").is_some_and(|v| v == "1") {
        return None;
    }
    let name = std::env::var_os("SOPS_GPG_EXEC").unwrap_or_else(|| "gpg".into());
    let p = PathBuf::from(&name);
    if p.components().count() > 1 {
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(&name))
            .find(|c| c.is_file())
    })
}

/// Default sops age identities file.
pub fn default_age_key_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/sops/age/keys.txt"))
}

impl Keyring {
    /// An empty keyring (with the `gpg` fallback enabled when a gpg binary is found).
    pub fn new() -> Keyring {
        Keyring {
            pgp: Vec::new(),
            pgp_public: Vec::new(),
            age: Vec::new(),
            gpg: default_gpg(),
            gpg_home: None,
            sources: Vec::new(),
        }
    }

    /// Builds a keyring from the environment (see the module docs for the variables).
    pub fn from_env() -> Result<Keyring, Error> {
        forbid_dumping();
        let mut k = Keyring::new();
        let pass = std::env::var("SOPS_PGP_PASSPHRASE")
            .ok()
            .map(Zeroizing::new);
        if let Some(files) = std::env::var_os("SOPS_PGP_KEY_FILE") {
            for f in std::env::split_paths(&files) {
                let text = Zeroizing::new(std::fs::read_to_string(&f).map_err(|e| Error::Io {
                    path: f.clone(),
                    source: e,
                })?);
                k.add_pgp_armored_from(
                    &text,
                    pass.as_deref().map(String::as_str),
                    &f.display().to_string(),
                )?;
            }
        }
        if let Ok(text) = std::env::var("SOPS_PGP_KEY") {
            let text = Zeroizing::new(text);
            k.add_pgp_armored_from(&text, pass.as_deref().map(String::as_str), "SOPS_PGP_KEY")?;
        }
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            let text = Zeroizing::new(text);
            k.add_age_identities_from(&text, "SOPS_AGE_KEY")?;
        }
        let mut files: Vec<PathBuf> = Vec::new();
        if let Some(f) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            files.push(f.into());
        }
        if let Some(d) = default_age_key_file() {
            if d.is_file() {
                files.push(d);
            }
        }
        for f in files {
            k.add_age_key_file(&f)?;
        }
        Ok(k)
    }

    /// Adds every key in an armored PGP block (secret keys are used to decrypt, public keys
    /// only to encrypt). `passphrase` unlocks protected secret keys.
    pub fn add_pgp_armored(
        &mut self,
        armored: &str,
        passphrase: Option<&str>,
    ) -> Result<&mut Self, Error> {
        self.add_pgp_armored_from(armored, passphrase, "armored PGP key")
    }

    /// Builder form of [`Keyring::add_pgp_armored`].
    pub fn with_pgp_armored(
        mut self,
        armored: &str,
        passphrase: Option<&str>,
    ) -> Result<Self, Error> {
        self.add_pgp_armored(armored, passphrase)?;
        Ok(self)
    }

    fn add_pgp_armored_from(
        &mut self,
        armored: &str,
        passphrase: Option<&str>,
        src: &str,
    ) -> Result<&mut Self, Error> {
        forbid_dumping();
        let bad = |detail: String| Error::BadKey {
            source_name: src.to_string(),
            detail,
        };
        let mut n = 0;
        for block in armor_blocks(armored) {
            let (iter, _) =
                PublicOrSecret::from_armor_many(std::io::Cursor::new(block.as_bytes().to_vec()))
                    .map_err(|e| bad(e.to_string()))?;
            for k in iter {
                match k.map_err(|e| bad(e.to_string()))? {
                    PublicOrSecret::Secret(s) => {
                        self.pgp_public.push(s.to_public_key());
                        self.pgp.push(PgpSecret {
                            key: s,
                            passphrase: passphrase.map(|p| Zeroizing::new(p.to_string())),
                        });
                    }
                    PublicOrSecret::Public(p) => self.pgp_public.push(p),
                }
                n += 1;
            }
        }
        if n == 0 {
            return Err(bad("no key found".into()));
        }
        self.sources.push(src.to_string());
        Ok(self)
    }

    /// Adds age identities (`AGE-SECRET-KEY-1…` lines; `#` comments and blank lines ignored).
    pub fn add_age_identities(&mut self, text: &str) -> Result<&mut Self, Error> {
        self.add_age_identities_from(text, "age identities")
    }

    /// Builder form of [`Keyring::add_age_identities`].
    pub fn with_age_identities(mut self, text: &str) -> Result<Self, Error> {
        self.add_age_identities(text)?;
        Ok(self)
    }

    /// Adds the identities of an age key file.
    pub fn add_age_key_file(&mut self, path: &Path) -> Result<&mut Self, Error> {
        forbid_dumping();
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?);
        self.add_age_identities_from(&text, &path.display().to_string())
    }

    fn add_age_identities_from(&mut self, text: &str, src: &str) -> Result<&mut Self, Error> {
        forbid_dumping();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(l).map_err(|_| Error::BadKey {
                source_name: src.to_string(),
                detail: format!("line {} is not an age identity (AGE-SECRET-KEY-1…)", i + 1),
            })?;
            self.age.push(id);
        }
        self.sources.push(src.to_string());
        Ok(self)
    }

    /// Enables or disables the `gpg` fallback (enabled by default when gpg is on PATH).
    pub fn with_gpg_fallback(mut self, enabled: bool) -> Self {
        self.gpg = if enabled { default_gpg() } else { None };
        self
    }

    /// Uses this GnuPG home directory (`GNUPGHOME`) for the `gpg` fallback.
    pub fn with_gpg_home(mut self, dir: &Path) -> Self {
        self.gpg_home = Some(dir.to_path_buf());
        self
    }

    /// gpg without our key variables (it finds its keys through its agent).
    fn gpg_command(&self, gpg: &Path) -> Command {
        let mut c = crate::process::command(gpg);
        if let Some(h) = &self.gpg_home {
            c.env("GNUPGHOME", h);
        }
        c
    }

    /// Fingerprints (upper-case hex) of the PGP secret keys and their subkeys.
    pub fn pgp_fingerprints(&self) -> Vec<String> {
        let mut v = Vec::new();
        for s in &self.pgp {
            v.push(fp_hex(&s.key.fingerprint()));
            for sk in &s.key.secret_subkeys {
                v.push(fp_hex(&sk.key.fingerprint()));
            }
        }
        v
    }

    /// age recipients of the identities.
    pub fn age_recipients(&self) -> Vec<String> {
        self.age.iter().map(|i| i.to_public().to_string()).collect()
    }

    fn tried(&self) -> String {
        let mut parts = Vec::new();
        if !self.pgp.is_empty() {
            parts.push(format!("PGP keys [{}]", self.pgp_fingerprints().join(", ")));
        }
        if !self.age.is_empty() {
            parts.push(format!(
                "age identities [{}]",
                self.age_recipients().join(", ")
            ));
        }
        if let Some(g) = &self.gpg {
            parts.push(format!("gpg ({})", g.display()));
        }
        if parts.is_empty() {
            "no keys were available".into()
        } else {
            format!("tried {}", parts.join(", "))
        }
    }

    fn pgp_decrypt(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.pgp.is_empty() {
            return Err("no PGP secret key loaded".into());
        }
        let (msg, _) = Message::from_armor(std::io::Cursor::new(armored.as_bytes()))
            .map_err(|e| format!("bad PGP message: {e}"))?;
        let pws: Vec<Password> = self
            .pgp
            .iter()
            .map(|s| match &s.passphrase {
                Some(p) => Password::from(p.as_str()),
                None => Password::empty(),
            })
            .collect();
        let keys: Vec<&SignedSecretKey> = self.pgp.iter().map(|s| &s.key).collect();
        let mut msg = msg
            .decrypt_with_keys(pws.iter().collect(), keys)
            .map_err(|e| format!("PGP decryption failed: {e}"))?;
        if msg.is_compressed() {
            msg = msg
                .decompress()
                .map_err(|e| format!("PGP decompression failed: {e}"))?;
        }
        let data = msg
            .as_data_vec()
            .map_err(|e| format!("PGP decryption failed: {e}"))?;
        Ok(Zeroizing::new(data))
    }

    fn gpg_decrypt(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let gpg = self
            .gpg
            .as_ref()
            .ok_or("gpg fallback disabled or gpg not found")?;
        let mut child = self
            .gpg_command(gpg)
            .args(["--batch", "--no-tty", "--quiet", "--decrypt"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", gpg.display()))?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let input = armored.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut out = Zeroizing::new(Vec::new());
        if let Some(mut so) = child.stdout.take() {
            let _ = so.read_to_end(&mut out);
        }
        let mut err = String::new();
        if let Some(mut se) = child.stderr.take() {
            let _ = se.read_to_string(&mut err);
        }
        let _ = writer.join();
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            let first = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return Err(format!("gpg --decrypt failed ({status}): {first}"));
        }
        Ok(out)
    }

    fn age_decrypt(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.age.is_empty() {
            return Err("no age identity loaded".into());
        }
        let reader = age::armor::ArmoredReader::new(armored.as_bytes());
        let dec = age::Decryptor::new(reader).map_err(|e| format!("bad age file: {e}"))?;
        let mut r = dec
            .decrypt(self.age.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| format!("age decryption failed: {e}"))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out)
            .map_err(|e| format!("age decryption failed: {e}"))?;
        Ok(out)
    }

    fn decrypt_group(&self, g: &KeyGroup) -> Result<Zeroizing<Vec<u8>>, Vec<String>> {
        let mut errs = Vec::new();
        for a in &g.age {
            match self.age_decrypt(&a.enc) {
                Ok(k) => return Ok(k),
                Err(e) => errs.push(format!("age {}: {e}", a.recipient)),
            }
        }
        for p in &g.pgp {
            match self.pgp_decrypt(&p.enc) {
                Ok(k) => return Ok(k),
                Err(e) => errs.push(format!("PGP {}: {e}", p.fp)),
            }
        }
        if self.gpg.is_some() {
            for p in &g.pgp {
                match self.gpg_decrypt(&p.enc) {
                    Ok(k) => return Ok(k),
                    Err(e) => errs.push(format!("gpg {}: {e}", p.fp)),
                }
            }
        }
        for o in &g.other {
            errs.push(format!("{o}: key type not supported by hfkit"));
        }
        Err(errs)
    }

    /// Recovers the data key of a file from its metadata.
    pub fn data_key(&self, m: &Metadata) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut group_errs = Vec::new();
        for (i, g) in m.key_groups.iter().enumerate() {
            match self.decrypt_group(g) {
                Ok(k) => parts.push(k.to_vec()),
                Err(e) => group_errs.push(format!(
                    "group {}: {}",
                    i + 1,
                    e.join("; ").replace('\n', " ")
                )),
            }
        }
        let recipients = describe_recipients(m);
        let key = if m.key_groups.len() > 1 {
            let need = m.shamir_threshold.max(1);
            if parts.len() < need {
                return Err(Error::NoKey {
                    detail: format!(
                        "{} of {} key groups decrypted, {need} needed; file is encrypted for {recipients}; {}; {}",
                        parts.len(),
                        m.key_groups.len(),
                        self.tried(),
                        group_errs.join(" | ")
                    ),
                });
            }
            let k = shamir::combine(&parts).map_err(|e| Error::NoKey {
                detail: format!("cannot combine Shamir parts: {e}"),
            });
            for p in parts.iter_mut() {
                zeroize::Zeroize::zeroize(p);
            }
            Zeroizing::new(k?)
        } else {
            match parts.pop() {
                Some(k) => Zeroizing::new(k),
                None => {
                    return Err(Error::NoKey {
                        detail: format!(
                            "file is encrypted for {recipients}; {}; {}",
                            self.tried(),
                            group_errs.join(" | ")
                        ),
                    })
                }
            }
        };
        if key.len() != 32 {
            return Err(Error::NoKey {
                detail: format!("recovered data key has {} bytes, expected 32", key.len()),
            });
        }
        Ok(key)
    }

    /// Finds the public key (or subkey) for a fingerprint, from the keyring or `gpg --export`.
    fn public_key_for(&self, fp: &str) -> Result<SignedPublicKey, Error> {
        let want = fp.replace(' ', "").to_uppercase();
        let matches = |k: &SignedPublicKey| {
            fp_hex(&k.fingerprint()) == want
                || k.public_subkeys
                    .iter()
                    .any(|s| fp_hex(&s.key.fingerprint()) == want)
        };
        if let Some(k) = self.pgp_public.iter().find(|k| matches(k)) {
            return Ok(k.clone());
        }
        if let Some(gpg) = &self.gpg {
            let out = self
                .gpg_command(gpg)
                .args(["--batch", "--armor", "--export", &want])
                .stderr(Stdio::null())
                .output()
                .map_err(|e| Error::Encrypt(format!("cannot run gpg: {e}")))?;
            if out.status.success() && !out.stdout.is_empty() {
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                if let Ok((iter, _)) =
                    PublicOrSecret::from_armor_many(std::io::Cursor::new(text.into_bytes()))
                {
                    for k in iter.flatten() {
                        let p = match k {
                            PublicOrSecret::Public(p) => p,
                            PublicOrSecret::Secret(s) => s.to_public_key(),
                        };
                        if matches(&p) {
                            return Ok(p);
                        }
                    }
                }
            }
        }
        Err(Error::Encrypt(format!(
            "no public PGP key for fingerprint {want}: add it to the keyring or the gpg keyring"
        )))
    }

    /// Encrypts a data key (or share) to a PGP fingerprint; returns the armored message.
    pub fn pgp_encrypt(&self, fp: &str, data: &[u8]) -> Result<String, Error> {
        use pgp::composed::{ArmorOptions, MessageBuilder};
        use pgp::crypto::sym::SymmetricKeyAlgorithm;
        let key = self.public_key_for(fp)?;
        let mut rng = rand::thread_rng();
        let mut b = MessageBuilder::from_bytes("", data.to_vec())
            .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
        let want = fp.replace(' ', "").to_uppercase();
        let sub = key
            .public_subkeys
            .iter()
            .find(|s| fp_hex(&s.key.fingerprint()) == want && s.key.algorithm().can_encrypt())
            .or_else(|| {
                key.public_subkeys
                    .iter()
                    .find(|s| s.key.algorithm().can_encrypt())
            });
        match sub {
            Some(s) => b.encrypt_to_key(&mut rng, &s.key),
            None => b.encrypt_to_key(&mut rng, &key.primary_key),
        }
        .map_err(|e| Error::Encrypt(format!("PGP encryption to {want} failed: {e}")))?;
        b.to_armored_string(&mut rng, ArmorOptions::default())
            .map_err(|e| Error::Encrypt(format!("PGP encryption to {want} failed: {e}")))
    }
}

/// Encrypts a data key (or share) to an age recipient; returns the armored age file.
pub fn age_encrypt(recipient: &str, data: &[u8]) -> Result<String, Error> {
    let r = age::x25519::Recipient::from_str(recipient)
        .map_err(|e| Error::Encrypt(format!("invalid age recipient {recipient}: {e}")))?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| Error::Encrypt(format!("age: {e}")))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| Error::Encrypt(format!("age: {e}")))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| Error::Encrypt(format!("age: {e}")))?;
    w.write_all(data)
        .map_err(|e| Error::Encrypt(format!("age: {e}")))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| Error::Encrypt(format!("age: {e}")))?;
    String::from_utf8(out).map_err(|e| Error::Encrypt(e.to_string()))
}

/// Splits text into its `-----BEGIN PGP …-----` … `-----END PGP …-----` blocks.
fn armor_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_end();
        if t.starts_with("-----BEGIN PGP ") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(t);
            c.push('\n');
        }
        if t.starts_with("-----END PGP ") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
        }
    }
    out
}

/// Human-readable list of the recipients a file is encrypted for.
pub fn describe_recipients(m: &Metadata) -> String {
    let mut v = Vec::new();
    for g in &m.key_groups {
        for p in &g.pgp {
            v.push(format!("PGP {}", p.fp));
        }
        for a in &g.age {
            v.push(format!("age {}", a.recipient));
        }
        for o in &g.other {
            v.push(o.clone());
        }
    }
    if v.is_empty() {
        "no recipients".into()
    } else {
        v.join(", ")
    }
}
