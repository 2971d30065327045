//! Decrypts the sops 3.13.2 vectors (see fixtures/PROVENANCE.md) in process with the
//! public sops functional-test PGP key (rpgp, no gpg) and compares with `sops -d` output
//! recorded next to them; plus tamper tests.

use std::path::{Path, PathBuf};

use hfkit_sops::{
    decrypt_file, decrypt_str, is_sops_encrypted, DecryptOptions, Error, Format, Keyring,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn keys() -> Keyring {
    Keyring::new()
        .with_gpg_fallback(false)
        .with_pgp_armored(&read("sops_functional_tests_key.asc"), None)
        .unwrap()
}

fn strict() -> DecryptOptions {
    DecryptOptions::default()
}

#[test]
fn example_yaml_matches_sops() {
    let out = decrypt_file(&fixture("example.yaml"), &keys(), &strict()).unwrap();
    assert_eq!(out, read("example.sops-d.yaml"));
}

#[test]
fn example_json_matches_sops() {
    let out = decrypt_file(&fixture("example.json"), &keys(), &strict()).unwrap();
    assert_eq!(out, read("example.sops-d.json"));
}

#[test]
fn comments_match_sops() {
    let out = decrypt_file(&fixture("comments.enc.yaml"), &keys(), &strict()).unwrap();
    assert_eq!(out, read("comments.sops-d.yaml"));
    assert_eq!(out, read("comments.yaml") + "\n");
}

#[test]
fn multiple_keys_matches_sops() {
    let out = decrypt_file(&fixture("multiple_keys.yaml"), &keys(), &strict()).unwrap();
    assert_eq!(out, read("multiple_keys.sops-d.yaml"));
}

#[test]
fn no_mac_refused_unless_ignored() {
    let err = decrypt_file(&fixture("no_mac.yaml"), &keys(), &strict()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("MAC mismatch") && msg.contains("no MAC"),
        "{msg}"
    );
    assert!(msg.contains("no_mac.yaml"), "{msg}");
    let out = decrypt_file(
        &fixture("no_mac.yaml"),
        &keys(),
        &DecryptOptions { ignore_mac: true },
    )
    .unwrap();
    assert_eq!(out, read("no_mac.sops-d.yaml"));
}

#[test]
fn plainfile_not_encrypted() {
    let text = read("plainfile.yaml");
    assert!(!is_sops_encrypted(&text, Format::Yaml));
    assert!(is_sops_encrypted(&read("example.yaml"), Format::Yaml));
    assert!(is_sops_encrypted(&read("example.json"), Format::Json));
    assert!(is_sops_encrypted(&read("no_mac.yaml"), Format::Yaml));
    assert!(!is_sops_encrypted("sops: 1\n", Format::Yaml));
    assert!(!is_sops_encrypted("not: [valid", Format::Yaml));
    assert!(!is_sops_encrypted("{\"sops\": {}}", Format::Json));
    let err = decrypt_str(&text, Format::Yaml, &keys(), &strict()).unwrap_err();
    assert!(matches!(err, Error::NotEncrypted), "{err}");
}

#[test]
fn no_key_names_recipients() {
    let err = decrypt_str(
        &read("example.yaml"),
        Format::Yaml,
        &Keyring::new().with_gpg_fallback(false),
        &strict(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
        "{msg}"
    );
    assert!(
        msg.contains("D7229043384BCC60326C6FB9D8720D957C3D3074"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
}

// ---- tampering -----------------------------------------------------------------------

fn refused(text: &str, want: &str) {
    match decrypt_str(text, Format::Yaml, &keys(), &strict()) {
        Ok(_) => panic!("tampered file was accepted"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(want), "expected {want:?} in {msg}");
            assert!(!msg.contains('\n'), "one-line message: {msg}");
        }
    }
}

/// Flips one bit of the base64 payload of field `field` in the first ENC value of `line_start`.
fn flip(text: &str, line_start: &str, field: &str) -> String {
    let mut out = Vec::new();
    let mut done = false;
    for line in text.lines() {
        if !done && line.starts_with(line_start) {
            let i = line.find(field).unwrap() + field.len();
            let mut b = line.as_bytes().to_vec();
            // Replace one base64 char with a different one (one bit of the value changes).
            b[i + 1] = if b[i + 1] == b'A' { b'B' } else { b'A' };
            out.push(String::from_utf8(b).unwrap());
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    assert!(done);
    out.join("\n") + "\n"
}

#[test]
fn tamper_value_data() {
    refused(
        &flip(&read("example.yaml"), "myapp1:", "data:"),
        "cannot decrypt value at `myapp1:`",
    );
}

#[test]
fn tamper_iv() {
    refused(
        &flip(&read("example.yaml"), "myapp1:", "iv:"),
        "cannot decrypt value",
    );
}

#[test]
fn tamper_tag() {
    refused(
        &flip(&read("example.yaml"), "myapp1:", "tag:"),
        "cannot decrypt value",
    );
}

#[test]
fn tamper_mac() {
    refused(
        &flip(&read("example.yaml"), "    mac:", "data:"),
        "MAC mismatch",
    );
}

#[test]
fn tamper_lastmodified() {
    let t = read("example.yaml").replace(
        "lastmodified: \"2025-08-06T18:55:05Z\"",
        "lastmodified: \"2025-08-06T18:55:06Z\"",
    );
    assert_ne!(t, read("example.yaml"));
    refused(&t, "MAC mismatch");
}

#[test]
fn tamper_rename_key() {
    let t = read("example.yaml").replacen("myapp1:", "myapp2:", 1);
    refused(&t, "cannot decrypt value at `myapp2:`");
}

#[test]
fn tamper_reorder_keys() {
    let t = read("example.yaml");
    let lines: Vec<&str> = t.lines().collect();
    // Swap the two top-level scalar entries `myapp1` (line 0) and `number`.
    let n = lines.iter().position(|l| l.starts_with("number:")).unwrap();
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v.swap(0, n);
    let t2 = v.join("\n") + "\n";
    refused(&t2, "MAC mismatch");
}

#[test]
fn tamper_drop_value() {
    let t = read("example.yaml");
    let t2: String = t
        .lines()
        .filter(|l| !l.starts_with("myapp1:"))
        .map(|l| format!("{l}\n"))
        .collect();
    refused(&t2, "MAC mismatch");
}

#[test]
fn tamper_drop_sops_block() {
    let t = read("example.yaml");
    let cut = t.find("\nsops:").unwrap();
    refused(&t[..cut + 1], "not a sops-encrypted file");
}

#[test]
fn tamper_unencrypted_value() {
    let t = read("example.yaml").replace("remain in clear text", "remain in plain text");
    refused(&t, "MAC mismatch");
}

#[test]
fn ignore_mac_accepts_reordered() {
    let t = read("example.yaml").replace("remain in clear text", "remain in plain text");
    let out = decrypt_str(
        &t,
        Format::Yaml,
        &keys(),
        &DecryptOptions { ignore_mac: true },
    )
    .unwrap();
    assert!(out.contains("remain in plain text"));
}

#[test]
fn json_tamper_refused() {
    let t = read("example.json").replacen("\"firstName\"", "\"givenName\"", 1);
    let err = decrypt_str(&t, Format::Json, &keys(), &strict()).unwrap_err();
    assert!(err.to_string().contains("cannot decrypt value"), "{err}");
}
