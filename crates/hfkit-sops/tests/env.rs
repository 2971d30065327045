//! `Keyring::from_env`: every variable it reads. One test function, since it changes the
//! process environment.

use std::path::Path;

use hfkit_sops::{decrypt_str, DecryptOptions, EncryptOptions, Format, Keyring};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

const VARS: [&str; 7] = [
    "SOPS_PGP_KEY_FILE",
    "SOPS_PGP_KEY",
    "SOPS_PGP_PASSPHRASE",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "XDG_CONFIG_HOME",
    "HFKIT_SOPS_NO_GPG",
];

fn clear() {
    for v in VARS {
        // SAFETY-free on edition 2021: single-threaded test binary with one test.
        std::env::remove_var(v);
    }
    std::env::set_var("HFKIT_SOPS_NO_GPG", "1");
}

#[test]
fn from_env_reads_all_sources() {
    let dir = tempfile::tempdir().unwrap();
    let key_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops_functional_tests_key.asc");
    let enc = fixture("example.yaml");
    let want = fixture("example.sops-d.yaml");
    let opts = DecryptOptions::default();

    // Nothing configured: the error names the file's recipients.
    clear();
    std::env::set_var("XDG_CONFIG_HOME", dir.path());
    let err = decrypt_str(&enc, Format::Yaml, &Keyring::from_env().unwrap(), &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
        "{err}"
    );
    assert!(err.to_string().contains("no keys were available"), "{err}");

    // SOPS_PGP_KEY_FILE
    clear();
    std::env::set_var("SOPS_PGP_KEY_FILE", &key_path);
    assert_eq!(
        decrypt_str(&enc, Format::Yaml, &Keyring::from_env().unwrap(), &opts).unwrap(),
        want
    );

    // SOPS_PGP_KEY
    clear();
    std::env::set_var("SOPS_PGP_KEY", fixture("sops_functional_tests_key.asc"));
    assert_eq!(
        decrypt_str(&enc, Format::Yaml, &Keyring::from_env().unwrap(), &opts).unwrap(),
        want
    );

    // A bad key file is reported with its path.
    clear();
    let bad = dir.path().join("bad.asc");
    std::fs::write(&bad, "not a key").unwrap();
    std::env::set_var("SOPS_PGP_KEY_FILE", &bad);
    let err = Keyring::from_env().unwrap_err();
    assert!(err.to_string().contains("bad.asc"), "{err}");

    // age: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default keys.txt.
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let secret = {
        use age::secrecy::ExposeSecret;
        id.to_string().expose_secret().to_string()
    };
    clear();
    let keys = Keyring::new().with_gpg_fallback(false);
    let age_enc = hfkit_sops::encrypt_str(
        "a: b\n",
        Format::Yaml,
        &keys,
        &EncryptOptions::for_recipients(&[], &[&recipient]),
    )
    .unwrap();
    std::env::set_var("SOPS_AGE_KEY", format!("# comment\n{secret}\n"));
    assert_eq!(
        decrypt_str(&age_enc, Format::Yaml, &Keyring::from_env().unwrap(), &opts).unwrap(),
        "a: b\n"
    );

    clear();
    let file = dir.path().join("ids.txt");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    std::env::set_var("SOPS_AGE_KEY_FILE", &file);
    assert_eq!(
        decrypt_str(&age_enc, Format::Yaml, &Keyring::from_env().unwrap(), &opts).unwrap(),
        "a: b\n"
    );

    clear();
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("sops/age")).unwrap();
    std::fs::write(xdg.join("sops/age/keys.txt"), format!("{secret}\n")).unwrap();
    std::env::set_var("XDG_CONFIG_HOME", &xdg);
    let k = Keyring::from_env().unwrap();
    assert_eq!(k.age_recipients(), vec![recipient.clone()]);
    assert_eq!(
        decrypt_str(&age_enc, Format::Yaml, &k, &opts).unwrap(),
        "a: b\n"
    );
    // The Debug form shows recipients only, never secrets.
    assert!(!format!("{k:?}").contains("AGE-SECRET-KEY"));
    clear();
}
