//! Decrypts a sops file to stdout with keys from the environment (like `sops -d FILE`).
//!
//! Usage: `cargo run --release -p hfkit-sops --example sops-decrypt -- FILE [--ignore-mac]`

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sops-decrypt FILE [--ignore-mac]");
        std::process::exit(2);
    };
    let ignore_mac = args.any(|a| a == "--ignore-mac");
    let result = hfkit_sops::Keyring::from_env().and_then(|keys| {
        hfkit_sops::decrypt_file(&path, &keys, &hfkit_sops::DecryptOptions { ignore_mac })
    });
    match result {
        Ok(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
        Err(e) => {
            eprintln!("sops-decrypt: {e}");
            std::process::exit(1);
        }
    }
}
