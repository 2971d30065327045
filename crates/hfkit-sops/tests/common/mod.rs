//! Shared by the tests that run the real sops 3.13.2 peer: a private temp dir with an age
//! identity made by the real `age-keygen`, and helpers to walk encrypted files.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use hfkit_sops::tree::{Branch, Key, Value};
use hfkit_sops::Keyring;

/// A private directory with an age key; sops runs with only that key available.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub age_file: PathBuf,
    pub recipient: String,
    pub identity: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let key = hfkit_testcluster::age_keygen(dir.path(), "age.txt");
        let (age_file, recipient, identity) = (key.file, key.recipient, key.identity);
        Env {
            dir,
            age_file,
            recipient,
            identity,
        }
    }

    /// The real sops, seeing only this env's age key (no gpg home, no other age keys).
    pub fn sops(&self) -> Command {
        let mut c = Command::new(hfkit_testcluster::peer("sops"));
        c.env("SOPS_AGE_KEY_FILE", &self.age_file)
            .env("GNUPGHOME", self.dir.path().join("no-gnupg"))
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_PGP_FP")
            .current_dir(self.dir.path());
        c
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `sops -e --age <recipient> [extra]` of `plain`; returns the encrypted text.
    pub fn sops_encrypt(&self, name: &str, plain: &str, extra: &[&str]) -> String {
        let p = self.write(name, plain);
        let out = self
            .sops()
            .args(["-e", "--age", &self.recipient])
            .args(extra)
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success(), "sops -e: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// `sops -d` of `enc` (written to `name`); the raw output.
    pub fn sops_decrypt_output(&self, name: &str, enc: &str) -> Output {
        let p = self.write(name, enc);
        self.sops().arg("-d").arg(&p).output().unwrap()
    }

    /// `sops -d` that must succeed.
    pub fn sops_decrypt(&self, name: &str, enc: &str) -> String {
        let out = self.sops_decrypt_output(name, enc);
        assert!(out.status.success(), "sops -d: {}", text(&out.stderr));
        text(&out.stdout)
    }

    pub fn keys(&self) -> Keyring {
        Keyring::new()
            .with_gpg_fallback(false)
            .with_age_identities(&self.identity)
            .unwrap()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every `iv:` field of every `ENC[...]` in a file (values, comments and the MAC).
pub fn ivs(enc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = enc;
    while let Some(i) = rest.find("ENC[AES256_GCM,") {
        rest = &rest[i..];
        let end = rest.find(']').unwrap();
        let v = &rest[..end];
        let iv = v.split(",iv:").nth(1).unwrap().split(',').next().unwrap();
        out.push(iv.to_string());
        rest = &rest[end..];
    }
    out
}

/// Encrypted leaves by position (`key/0/key`), comments excluded.
pub fn leaves(b: &Branch) -> Vec<(String, String)> {
    fn v(val: &Value, pos: &str, out: &mut Vec<(String, String)>) {
        match val {
            Value::Map(m) => br(m, pos, out),
            Value::Seq(s) => {
                for (i, x) in s
                    .iter()
                    .filter(|x| !matches!(x, Value::Comment(_)))
                    .enumerate()
                {
                    v(x, &format!("{pos}/{i}"), out);
                }
            }
            Value::Str(s) if s.starts_with("ENC[") => out.push((pos.to_string(), s.clone())),
            _ => {}
        }
    }
    fn br(b: &Branch, pos: &str, out: &mut Vec<(String, String)>) {
        for it in b {
            if let Key::Str(k) = &it.key {
                if k != "sops" {
                    v(&it.value, &format!("{pos}/{k}"), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    br(b, "", &mut out);
    out
}
