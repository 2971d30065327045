//! sops's binary store against the real sops 3.13.2: a file named `kubeconfig` (no
//! extension) that sops encrypts we decrypt to exactly its bytes, and what we encrypt sops
//! decrypts to exactly the bytes we gave; tampered files are refused by both.

mod common;

use std::path::{Path, PathBuf};

use common::{text, Env};
use hfkit_sops::{binary, DecryptOptions, EncryptOptions, Error, Format};

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: kubeconfig-token-secret\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";

/// Files of every kind the binary store holds: text, a file without a final newline,
/// JSON/YAML-looking text (kept verbatim, not parsed), non-UTF-8 bytes, NUL, empty.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("kubeconfig", KUBECONFIG.as_bytes().to_vec()),
        ("no-newline", b"token: abc".to_vec()),
        ("json-looking", b"{\"a\": 1,  \"b\": [ ]}\n".to_vec()),
        (
            "unicode",
            "caf\u{e9} <&> \u{2028} \t\r\n".as_bytes().to_vec(),
        ),
        ("not-utf8", vec![0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3]),
        ("empty", Vec::new()),
    ]
}

fn write(env: &Env, name: &str, bytes: &[u8]) -> PathBuf {
    let p = env.dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `sops -e --age <recipient> [extra] <path>`: the encrypted text.
fn sops_encrypt(env: &Env, path: &Path, extra: &[&str]) -> String {
    let out = env
        .sops()
        .args(["-e", "--age", &env.recipient])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops -e: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `sops -d <name>` of `enc`: its raw output.
fn sops_decrypt(env: &Env, name: &str, enc: &str) -> std::process::Output {
    let p = write(env, name, enc.as_bytes());
    env.sops().arg("-d").arg(p).output().unwrap()
}

fn strict() -> DecryptOptions {
    DecryptOptions::default()
}

#[test]
fn from_path_picks_the_store_sops_picks() {
    let f = |p: &str| Format::from_path(Path::new(p));
    for (name, want) in [
        ("kubeconfig", Format::Binary),
        ("dir.yaml/config", Format::Binary),
        ("cert.pem", Format::Binary),
        ("a.txt", Format::Binary),
        ("values.yaml.gotmpl", Format::Binary),
        // sops's suffixes are case-sensitive.
        ("a.JSON", Format::Binary),
        ("a.yaml", Format::Yaml),
        ("a.sops.yml", Format::Yaml),
        ("a.json", Format::Json),
    ] {
        assert_eq!(f(name).unwrap(), want, "{name}");
    }
    for (name, store) in [("app.env", "dotenv"), ("app.ini", "INI")] {
        let e = f(name).unwrap_err().to_string();
        assert!(e.starts_with(name) && e.contains(store), "{e}");
        assert!(e.contains("not support"), "{e}");
    }
    // Values layers and manifests stay YAML whatever the name (helm reads them so).
    assert_eq!(
        Format::yaml_or_json(Path::new("values.yaml.gotmpl")),
        Format::Yaml
    );
    assert_eq!(Format::yaml_or_json(Path::new("a.JSON")), Format::Json);
}

#[test]
fn sops_encrypts_a_binary_file_we_decrypt_its_exact_bytes() {
    let env = Env::new();
    for (name, bytes) in samples() {
        let p = write(&env, name, &bytes);
        let enc = sops_encrypt(&env, &p, &[]);
        assert!(binary::is_envelope(&enc), "{name}: {enc}");
        assert!(
            hfkit_sops::is_sops_encrypted(&enc, Format::Binary),
            "{name}"
        );
        // sops's own round trip, so the comparison below means something.
        let theirs = sops_decrypt(&env, name, &enc);
        assert!(theirs.status.success(), "{}", text(&theirs.stderr));
        assert_eq!(theirs.stdout, bytes, "{name}: sops -d");
        let ours = binary::decrypt(&enc, &env.keys(), &strict()).unwrap();
        assert_eq!(ours.as_slice(), bytes.as_slice(), "{name}");
        // By name, through the file API (`kubeconfig` has no extension: binary store).
        let f = write(&env, name, enc.as_bytes());
        let ours = hfkit_sops::decrypt_file_bytes(&f, &env.keys(), &strict()).unwrap();
        assert_eq!(ours.as_slice(), bytes.as_slice(), "{name}");
        // Text API: the data itself, not a `data: |` wrapper; non-text refused by name.
        match std::str::from_utf8(&bytes) {
            Ok(t) => assert_eq!(
                hfkit_sops::decrypt_file(&f, &env.keys(), &strict()).unwrap(),
                t
            ),
            Err(_) => {
                let e = hfkit_sops::decrypt_file(&f, &env.keys(), &strict()).unwrap_err();
                assert!(e.to_string().contains("not UTF-8"), "{e}");
            }
        }
    }
}

#[test]
fn we_encrypt_a_binary_file_sops_decrypts_its_exact_bytes() {
    let env = Env::new();
    let opts = EncryptOptions::for_recipients(&[], &[&env.recipient]);
    for (name, bytes) in samples() {
        let enc = binary::encrypt(&bytes, &env.keys(), &opts).unwrap();
        assert!(binary::is_envelope(&enc), "{name}: {enc}");
        // Laid out as sops writes it: `data` first, tab-indented, closing newline.
        assert!(enc.starts_with("{\n\t\"data\": \""), "{enc}");
        assert!(enc.ends_with("\n}\n"), "{enc}");
        let out = sops_decrypt(&env, name, &enc);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(out.stdout, bytes, "{name}");
        assert_eq!(
            binary::decrypt(&enc, &env.keys(), &strict())
                .unwrap()
                .as_slice(),
            bytes.as_slice()
        );
    }
    // The same layout as sops's own file, key for key (values differ: fresh keys, IVs).
    let p = write(&env, "kubeconfig", KUBECONFIG.as_bytes());
    let theirs = sops_encrypt(&env, &p, &[]);
    let ours = binary::encrypt(KUBECONFIG.as_bytes(), &env.keys(), &opts).unwrap();
    let keys_of = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys_of(&ours), keys_of(&theirs));
}

#[test]
fn encrypt_file_writes_the_binary_store_for_a_file_of_unknown_extension() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", env.recipient),
    )
    .unwrap();
    let bytes = [KUBECONFIG.as_bytes(), &[0xff, 0x00]].concat();
    let p = write(&env, "kubeconfig", &bytes);
    let enc = hfkit_sops::encrypt_file(&p, &env.keys()).unwrap();
    assert!(binary::is_envelope(&enc), "{enc}");
    assert!(!enc.contains("kubeconfig-token-secret"));
    let out = sops_decrypt(&env, "kubeconfig.enc", &enc);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, bytes);
    // A `.env` file is refused by name, before anything is read.
    let e = hfkit_sops::encrypt_file(&write(&env, "app.env", b"A=1\n"), &env.keys())
        .unwrap_err()
        .to_string();
    assert!(e.contains("app.env") && e.contains("dotenv"), "{e}");
}

#[test]
fn rules_are_ignored_when_encrypting_and_honoured_when_decrypting() {
    let env = Env::new();
    // sops ignores (with a warning) every encryption rule and mac_only_encrypted for a
    // single-value store: `data` is always encrypted and no rule is written. So do we.
    let flags: &[&str] = &["--encrypted-regex", "^password$", "--mac-only-encrypted"];
    let opts = EncryptOptions {
        encrypted_regex: Some("^password$".into()),
        mac_only_encrypted: true,
        ..EncryptOptions::for_recipients(&[], &[&env.recipient])
    };
    let p = write(&env, "kubeconfig", KUBECONFIG.as_bytes());
    let theirs = sops_encrypt(&env, &p, flags);
    let ours = binary::encrypt(KUBECONFIG.as_bytes(), &env.keys(), &opts).unwrap();
    for enc in [&theirs, &ours] {
        assert!(!enc.contains("kubeconfig-token-secret"), "{enc}");
        assert!(
            !enc.contains("encrypted_regex") && !enc.contains("mac_only"),
            "{enc}"
        );
        let out = sops_decrypt(&env, "kubeconfig", enc);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(out.stdout, KUBECONFIG.as_bytes());
        assert_eq!(
            binary::decrypt(enc, &env.keys(), &strict())
                .unwrap()
                .as_slice(),
            KUBECONFIG.as_bytes()
        );
    }
    // A file whose own rules leave `data` in clear, or keep it out of the MAC (written
    // in the JSON store, which honours them): sops reads it as a binary file by those
    // rules, and so do we.
    for opts in [
        EncryptOptions {
            encrypted_regex: Some("^password$".into()),
            ..EncryptOptions::for_recipients(&[], &[&env.recipient])
        },
        EncryptOptions {
            encrypted_regex: Some("^password$".into()),
            mac_only_encrypted: true,
            ..EncryptOptions::for_recipients(&[], &[&env.recipient])
        },
        EncryptOptions {
            mac_only_encrypted: true,
            ..EncryptOptions::for_recipients(&[], &[&env.recipient])
        },
    ] {
        let json = format!("{{\"data\": {}}}", hfkit_sops::json::quote(KUBECONFIG));
        let enc = hfkit_sops::encrypt_str(&json, Format::Json, &env.keys(), &opts).unwrap();
        assert!(binary::is_envelope(&enc), "{enc}");
        let out = sops_decrypt(&env, "kubeconfig", &enc);
        assert!(out.status.success(), "{opts:?}: {}", text(&out.stderr));
        assert_eq!(out.stdout, KUBECONFIG.as_bytes());
        assert_eq!(
            binary::decrypt(&enc, &env.keys(), &strict())
                .unwrap()
                .as_slice(),
            KUBECONFIG.as_bytes(),
            "{opts:?}"
        );
        // Re-encrypting keeps the file's rules (as sops's edit does).
        let changed = KUBECONFIG.replace("token-secret", "rotated");
        let edited = binary::edit(&enc, changed.as_bytes(), &env.keys()).unwrap();
        let out = sops_decrypt(&env, "kubeconfig", &edited);
        assert!(out.status.success(), "{opts:?}: {}", text(&out.stderr));
        assert_eq!(out.stdout, changed.as_bytes());
    }
}

#[test]
fn edit_keeps_the_data_key_and_an_unchanged_ciphertext() {
    let env = Env::new();
    let p = write(&env, "kubeconfig", KUBECONFIG.as_bytes());
    let enc = sops_encrypt(&env, &p, &[]);
    let data = |t: &str| t.lines().nth(1).unwrap().to_string();
    let same = binary::edit(&enc, KUBECONFIG.as_bytes(), &env.keys()).unwrap();
    assert_eq!(data(&same), data(&enc));
    assert_ne!(same, enc, "lastmodified and the MAC are renewed");
    let out = sops_decrypt(&env, "kubeconfig", &same);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, KUBECONFIG.as_bytes());
    let changed = KUBECONFIG.replace("kubeconfig-token-secret", "rotated");
    let edited = hfkit_sops::edit_str(&enc, &changed, Format::Binary, &env.keys()).unwrap();
    assert_ne!(data(&edited), data(&enc));
    let out = sops_decrypt(&env, "kubeconfig", &edited);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, changed.as_bytes());
    // The data key (and so the recipients' entries) is kept.
    let age_enc = |t: &str| {
        t.lines()
            .find(|l| l.contains("\"enc\""))
            .unwrap()
            .to_string()
    };
    assert_eq!(age_enc(&edited), age_enc(&enc));
    // No IV twice in the written file.
    let ivs = common::ivs(&edited);
    let mut unique = ivs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ivs.len(), unique.len());
}

/// Replaces the base64 text of `field` (`data` or `iv`...) of the `ENC[...]` on the line
/// holding `key`, flipping its first character.
fn flip(enc: &str, key: &str) -> String {
    let line = enc.lines().find(|l| l.contains(key)).unwrap();
    let start = line.find("ENC[AES256_GCM,data:").unwrap() + "ENC[AES256_GCM,data:".len();
    let mut new = line.to_string();
    let c = &line[start..start + 1];
    let swapped = if c == "A" { "B" } else { "A" };
    new.replace_range(start..start + 1, swapped);
    enc.replacen(line, &new, 1)
}

#[test]
fn a_tampered_binary_file_is_refused_by_us_and_by_sops() {
    let env = Env::new();
    let p = write(&env, "kubeconfig", KUBECONFIG.as_bytes());
    let enc = sops_encrypt(&env, &p, &[]);
    let refused = |tampered: &str, ours_says: &str| {
        assert_ne!(tampered, enc);
        let out = sops_decrypt(&env, "kubeconfig", tampered);
        assert!(
            !out.status.success(),
            "sops accepted it: {}",
            text(&out.stdout)
        );
        let e = binary::decrypt(tampered, &env.keys(), &strict()).unwrap_err();
        assert!(e.to_string().contains(ours_says), "{e}");
        assert!(!e.to_string().contains("kubeconfig-token-secret"), "{e}");
        e
    };
    // The data ciphertext.
    let e = refused(&flip(&enc, "\"data\""), "AES-GCM authentication failed");
    assert!(matches!(e, Error::Value { .. }), "{e:?}");
    // The MAC.
    let e = refused(&flip(&enc, "\"mac\""), "MAC");
    assert!(matches!(e, Error::MacMismatch { .. }), "{e:?}");
    // The data swapped for another file's, sealed under the same key path and data key:
    // AES-GCM passes it, the MAC does not.
    let other = binary::edit(&enc, b"other: file\n", &env.keys()).unwrap();
    let other_data = other.lines().nth(1).unwrap();
    let swapped = enc.replacen(enc.lines().nth(1).unwrap(), other_data, 1);
    let e = refused(&swapped, "MAC");
    assert!(matches!(e, Error::MacMismatch { .. }), "{e:?}");
    // With the MAC check off (like `sops --ignore-mac`), the swapped data is read.
    let loose = DecryptOptions { ignore_mac: true };
    assert_eq!(
        binary::decrypt(&swapped, &env.keys(), &loose)
            .unwrap()
            .as_slice(),
        b"other: file\n"
    );
    // A key added next to `data`: a value the file's rules say is encrypted, in clear.
    let added = enc.replacen("\t\"data\"", "\t\"extra\": \"x\",\n\t\"data\"", 1);
    let e = refused(&added, "does not match sops' ENC");
    assert!(matches!(e, Error::Value { .. }), "{e:?}");
    // ... or sealed under its own key path: it is in the MAC, as sops covers it.
    let sealed = binary::edit(&enc, KUBECONFIG.as_bytes(), &env.keys()).unwrap();
    let other_value = other_data.replacen("\"data\"", "\"extra\"", 1);
    let added = sealed.replacen("\t\"data\"", &format!("{other_value}\n\t\"data\""), 1);
    let e = refused(&added, "");
    assert!(
        matches!(e, Error::Value { .. } | Error::MacMismatch { .. }),
        "{e:?}"
    );
    // `type:str` changed (not authenticated): sops cannot emit a non-string, we refuse it.
    let retyped = enc.replacen("type:str]\",\n\t\"sops\"", "type:int]\",\n\t\"sops\"", 1);
    refused(&retyped, "type:int");
}

#[test]
fn the_tree_and_the_byte_path_agree() {
    // A binary file's envelope is a JSON-store file: read as a tree it gives the same
    // `data` and passes the same MAC, so both paths implement one format.
    let env = Env::new();
    let p = write(&env, "kubeconfig", KUBECONFIG.as_bytes());
    let enc = sops_encrypt(&env, &p, &[]);
    let docs = hfkit_sops::parse(&enc, Format::Binary).unwrap();
    let d = hfkit_sops::decrypt_docs(docs, &env.keys(), &strict()).unwrap();
    assert_eq!(
        hfkit_sops::tree::get(&d.docs[0], "data"),
        Some(&hfkit_sops::tree::Value::Str(KUBECONFIG.into()))
    );
    // A file with a plain key besides `data` (sops reads it; it is in the MAC): the
    // tree path reads it.
    let opts = EncryptOptions {
        encrypted_regex: Some("^data$".into()),
        ..EncryptOptions::for_recipients(&[], &[&env.recipient])
    };
    let json = format!(
        "{{\"note\": \"kept\", \"data\": {}}}",
        hfkit_sops::json::quote(KUBECONFIG)
    );
    let enc = hfkit_sops::encrypt_str(&json, Format::Json, &env.keys(), &opts).unwrap();
    assert!(binary::is_encrypted(&enc) && !binary::is_envelope(&enc));
    let out = sops_decrypt(&env, "kubeconfig", &enc);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, KUBECONFIG.as_bytes());
    assert_eq!(
        binary::decrypt(&enc, &env.keys(), &strict())
            .unwrap()
            .as_slice(),
        KUBECONFIG.as_bytes()
    );
}
