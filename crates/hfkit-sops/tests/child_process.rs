//! The `gpg` fallback (the real gpg, behind a wrapper that records its environment)
//! inherits no key variable. The test changes our environment, hence its own binary.

use std::path::Path;
use std::process::Command;

use hfkit_sops::{decrypt_str, DecryptOptions, Format, Keyring};

use hfkit_testcluster::SOPS_KEY_VARIABLES as KEY_VARIABLES;

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh age identity file (real age-keygen) and its identity line.
fn age_identity(dir: &Path) -> (std::path::PathBuf, String) {
    let key = hfkit_testcluster::age_keygen(dir, "age.txt");
    (key.file, key.identity)
}

/// The tests' own list of key variables (hfkit-testcluster) and the one the code scrubs
/// agree: a name dropped from the code's list fails here, not silently.
#[test]
fn every_key_variable_is_scrubbed() {
    for name in KEY_VARIABLES {
        assert!(
            hfkit_sops::process::KEY_VARIABLES.contains(name),
            "{name} is not scrubbed from children"
        );
    }
}

#[test]
fn gpg_fallback_gets_no_key_variables() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args))
    };
    gpg(&[
        "--quick-gen-key",
        "child env <env@example.invalid>",
        "default",
        "default",
        "never",
    ]);
    let list = String::from_utf8(gpg(&["--with-colons", "--list-secret-keys"])).unwrap();
    let fp = list
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_string();
    let plain = dir.path().join("s.yaml");
    std::fs::write(&plain, "k: v\n").unwrap();
    let enc = String::from_utf8(run(Command::new(hfkit_testcluster::peer("sops"))
        .env("GNUPGHOME", &home)
        .args(["-e", "--pgp", &fp])
        .arg(&plain)))
    .unwrap();

    // The real gpg, started through a wrapper that writes down what it inherited.
    let dump = dir.path().join("gpg.env");
    let wrapper = dir.path().join("gpg-wrapper");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nenv > '{}'\nexec gpg \"$@\"\n", dump.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (age_file, age_id) = age_identity(dir.path());
    std::env::set_var("SOPS_GPG_EXEC", &wrapper);
    std::env::set_var("SOPS_AGE_KEY_FILE", &age_file);
    std::env::set_var("SOPS_AGE_KEY", &age_id);
    std::env::set_var("SOPS_PGP_PASSPHRASE", "pgp-passphrase-secret");
    std::env::set_var("SOPS_AGE_KEY_CMD", "cat /some/key");
    let keys = Keyring::from_env().unwrap().with_gpg_home(&home);
    let out = decrypt_str(&enc, Format::Yaml, &keys, &DecryptOptions::default()).unwrap();
    assert_eq!(out, "k: v\n");
    let env = std::fs::read_to_string(&dump).expect("gpg ran through the wrapper");
    for name in KEY_VARIABLES {
        assert!(
            !hfkit_testcluster::env_dump_sets(&env, name),
            "gpg inherited {name}"
        );
    }
    assert!(!env.contains(&age_id) && !env.contains("pgp-passphrase-secret"));
    // gpg still finds its keys: GNUPGHOME is not scrubbed.
    assert!(env.contains(&format!("GNUPGHOME={}", home.display())));
}
