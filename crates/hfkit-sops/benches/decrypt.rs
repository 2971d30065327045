//! Decrypting a 1,000-key YAML file (encrypted in setup with our encrypt to the public sops
//! functional-test PGP key) — data key recovery via rpgp, 1,000 AES-GCM values and the MAC.

use criterion::{criterion_group, criterion_main, Criterion};
use hfkit_sops::{decrypt_str, encrypt_str, DecryptOptions, EncryptOptions, Format, Keyring};

fn thousand_keys() -> String {
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&format!(
            "key_{i:04}: value number {i} with some padding text\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let armored = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sops_functional_tests_key.asc"
    ))
    .expect("fixture key");
    let keys = Keyring::new()
        .with_gpg_fallback(false)
        .with_pgp_armored(&armored, None)
        .expect("key");
    let opts = EncryptOptions::for_recipients(&["FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"], &[]);
    let enc = encrypt_str(&thousand_keys(), Format::Yaml, &keys, &opts).expect("encrypt");
    let dopts = DecryptOptions::default();
    assert_eq!(
        decrypt_str(&enc, Format::Yaml, &keys, &dopts).expect("decrypt"),
        thousand_keys()
    );
    c.bench_function("decrypt_yaml_1000_keys", |b| {
        b.iter(|| decrypt_str(&enc, Format::Yaml, &keys, &dopts).expect("decrypt"))
    });
    let json_enc = encrypt_str(
        &hfkit_sops::emit(
            &hfkit_sops::parse(&thousand_keys(), Format::Yaml).expect("parse"),
            Format::Json,
        ),
        Format::Json,
        &keys,
        &opts,
    )
    .expect("encrypt json");
    c.bench_function("decrypt_json_1000_keys", |b| {
        b.iter(|| decrypt_str(&json_enc, Format::Json, &keys, &dopts).expect("decrypt"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
