//! Tampering with what the MAC does not cover: one table, each row run against the real
//! sops 3.13.2 (`sops -d`) and against our decrypt. Each row records what sops does, so
//! `docs/sops-tamper.md` stays true; we refuse everything sops refuses, and also every
//! tamper that changes what a reader gets where the format lets us see it.

mod common;

use common::{text, Env};
use hfkit_sops::{decrypt_str, DecryptOptions, Format};

const PLAIN: &str = "\
# top comment
string: hello
quoted: \"42\"
num: 42
truth: \"True\"
when: \"2024-01-02T03:04:05Z\"
float: 1.5
nested:
    # nested comment
    inner: value
list:
    - a
    - b
clear_unencrypted: visible
nothing: null
empty: {}
";

/// `--mac-only-encrypted --encrypted-regex ^secret$`: only `secret` is encrypted and in the MAC.
const PLAIN_MAC_ONLY: &str = "secret: s3cret\nclear: visible\n";

/// What a decrypter did with a tampered file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Refused, with a message containing this text.
    Refused(&'static str),
    /// Accepted; output identical to the untampered plaintext.
    Same,
    /// Accepted; output differs from the untampered plaintext.
    Changed,
}
use Outcome::*;

struct Case {
    name: &'static str,
    /// Which file: false = PLAIN (default rules), true = PLAIN_MAC_ONLY.
    mac_only: bool,
    tamper: fn(&str) -> String,
    sops: Outcome,
    ours: Outcome,
}

/// Applies `f` to the first line whose trimmed start begins with `prefix`.
fn on_line(enc: &str, prefix: &str, f: impl Fn(&str) -> String) -> String {
    let mut done = false;
    let mut out: Vec<String> = Vec::new();
    for l in enc.lines() {
        if !done && l.trim_start().starts_with(prefix) {
            out.push(f(l));
            done = true;
        } else {
            out.push(l.to_string());
        }
    }
    assert!(done, "no line starting with {prefix:?}");
    out.join("\n") + "\n"
}

fn set_type(enc: &str, prefix: &str, ty: &str) -> String {
    on_line(enc, prefix, |l| {
        let i = l.rfind(",type:").unwrap();
        format!("{},type:{ty}]", &l[..i])
    })
}

/// Swaps the first two `- ENC[...]` sequence items.
fn swap_list_items(enc: &str) -> String {
    let mut lines: Vec<String> = enc.lines().map(str::to_string).collect();
    let idx: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with("- ENC["))
        .take(2)
        .collect();
    lines.swap(idx[0], idx[1]);
    lines.join("\n") + "\n"
}

fn set_value(enc: &str, prefix: &str, v: &str) -> String {
    on_line(enc, prefix, |l| {
        let (k, _) = l.split_once(": ").unwrap();
        format!("{k}: {v}")
    })
}

/// Flips one base64 character of the `data:` of the first ENC on the line.
fn flip_data(enc: &str, prefix: &str) -> String {
    on_line(enc, prefix, |l| {
        let i = l.find("data:").unwrap() + "data:".len();
        let mut b = l.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    })
}

/// Inserts a line into the `sops:` block (right after `sops:`).
fn add_meta(enc: &str, line: &str) -> String {
    enc.replacen("\nsops:\n", &format!("\nsops:\n    {line}\n"), 1)
}

fn drop_line(enc: &str, prefix: &str) -> String {
    let mut done = false;
    let mut out = String::new();
    for l in enc.lines() {
        if !done && l.trim_start().starts_with(prefix) {
            done = true;
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    assert!(done, "no line starting with {prefix:?}");
    out
}

const MAC: &str = "MAC mismatch";
const SOPS_MAC: &str = "MAC mismatch";
const SOPS_VALUE: &str = "Could not decrypt value";

fn cases() -> Vec<Case> {
    vec![
        // ---- the `type:` inside ENC[...] (not authenticated by GCM, not in the MAC)
        Case {
            name: "type str->comment on a value",
            mac_only: false,
            tamper: |e| set_type(e, "string:", "comment"),
            sops: Changed,
            ours: Refused("type:comment"),
        },
        Case {
            name: "type str->comment on a list item",
            mac_only: false,
            tamper: |e| set_type(e, "- ENC[", "comment"),
            sops: Changed,
            ours: Refused("type:comment"),
        },
        Case {
            name: "type str->int on a quoted number",
            mac_only: false,
            tamper: |e| set_type(e, "quoted:", "int"),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "type int->str",
            mac_only: false,
            tamper: |e| set_type(e, "num:", "str"),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "type str->bool on \"True\"",
            mac_only: false,
            tamper: |e| set_type(e, "truth:", "bool"),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "type str->time on an RFC 3339 string",
            mac_only: false,
            tamper: |e| set_type(e, "when:", "time"),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "type float->int on 1.5",
            mac_only: false,
            tamper: |e| set_type(e, "float:", "int"),
            sops: Refused(SOPS_VALUE),
            ours: Refused("decrypted int is malformed"),
        },
        Case {
            name: "type str->bytes",
            mac_only: false,
            tamper: |e| set_type(e, "string:", "bytes"),
            sops: Refused("unhashable type"),
            ours: Refused("type `bytes`"),
        },
        Case {
            name: "unknown type",
            mac_only: false,
            tamper: |e| set_type(e, "string:", "xyz"),
            sops: Refused("Unknown datatype"),
            ours: Refused("unknown datatype"),
        },
        // ---- comments (never in the MAC)
        Case {
            name: "comment type comment->str",
            mac_only: false,
            tamper: |e| set_type(e, "#ENC", "str"),
            sops: Same,
            ours: Refused("encrypted comment"),
        },
        Case {
            name: "comment ciphertext flipped",
            mac_only: false,
            tamper: |e| flip_data(e, "#ENC"),
            sops: Changed,
            ours: Refused("encrypted comment"),
        },
        Case {
            name: "comment replaced by a plaintext comment",
            mac_only: false,
            tamper: |e| on_line(e, "#ENC", |_| "# run ./evil.sh first".into()),
            sops: Changed,
            ours: Changed,
        },
        // ---- values moved out of encryption
        Case {
            name: "encrypted string replaced by plaintext",
            mac_only: false,
            tamper: |e| set_value(e, "string:", "hello"),
            sops: Refused(SOPS_VALUE),
            ours: Refused("cannot decrypt value at `string:`"),
        },
        Case {
            name: "encrypted int replaced by a plaintext int",
            mac_only: false,
            tamper: |e| set_value(e, "num:", "42"),
            sops: Refused("Expected encrypted value as string"),
            ours: Refused("cannot decrypt value at `num:`"),
        },
        Case {
            name: "encrypted value replaced by \"\"",
            mac_only: false,
            tamper: |e| set_value(e, "string:", "\"\""),
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "list items swapped (same AAD)",
            mac_only: false,
            tamper: swap_list_items,
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        // ---- the sops: block
        Case {
            name: "lastmodified changed",
            mac_only: false,
            tamper: |e| {
                on_line(e, "lastmodified:", |_| {
                    "    lastmodified: \"2001-01-01T00:00:00Z\"".into()
                })
            },
            sops: Refused("Cannot decrypt MAC"),
            ours: Refused(MAC),
        },
        Case {
            name: "mac emptied",
            mac_only: false,
            tamper: |e| on_line(e, "mac:", |_| "    mac: \"\"".into()),
            sops: Refused("no MAC"),
            ours: Refused("no MAC"),
        },
        Case {
            name: "mac removed",
            mac_only: false,
            tamper: |e| drop_line(e, "mac:"),
            sops: Refused("no MAC"),
            ours: Refused("no MAC"),
        },
        Case {
            name: "mac type str->comment",
            mac_only: false,
            tamper: |e| set_type(e, "mac:", "comment"),
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "version changed",
            mac_only: false,
            tamper: |e| on_line(e, "version:", |_| "    version: 9.9.9".into()),
            sops: Same,
            ours: Same,
        },
        Case {
            name: "version removed",
            mac_only: false,
            tamper: |e| drop_line(e, "version:"),
            sops: Refused("Version string empty"),
            ours: Refused("not a semantic version"),
        },
        Case {
            name: "version not a semantic version",
            mac_only: false,
            tamper: |e| on_line(e, "version:", |_| "    version: garbage".into()),
            sops: Refused("No Major.Minor.Patch"),
            ours: Refused("not a semantic version"),
        },
        Case {
            name: "unencrypted_suffix widened (an encrypted key now counts as clear)",
            mac_only: false,
            tamper: |e| {
                on_line(e, "unencrypted_suffix:", |_| {
                    "    unencrypted_suffix: d".into()
                })
            },
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "unencrypted_suffix changed (a clear key now counts as encrypted)",
            mac_only: false,
            tamper: |e| {
                on_line(e, "unencrypted_suffix:", |_| {
                    "    unencrypted_suffix: _x".into()
                })
            },
            sops: Refused(SOPS_VALUE),
            ours: Refused("cannot decrypt value at `clear_unencrypted:`"),
        },
        Case {
            name: "second encryption rule added",
            mac_only: false,
            tamper: |e| add_meta(e, "encrypted_regex: ^string$"),
            sops: Refused("more than one"),
            ours: Refused("more than one"),
        },
        Case {
            name: "unencrypted_suffix replaced by encrypted_regex",
            mac_only: false,
            tamper: |e| {
                on_line(e, "unencrypted_suffix:", |_| {
                    "    encrypted_regex: ^string$".into()
                })
            },
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "mac_only_encrypted added",
            mac_only: false,
            tamper: |e| add_meta(e, "mac_only_encrypted: true"),
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "mac_only_encrypted removed",
            mac_only: true,
            tamper: |e| drop_line(e, "mac_only_encrypted:"),
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "mac_only_encrypted: clear value changed",
            mac_only: true,
            tamper: |e| set_value(e, "clear:", "changed"),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "mac_only_encrypted: encrypted_regex no longer matches",
            mac_only: true,
            tamper: |e| {
                on_line(e, "encrypted_regex:", |_| {
                    "    encrypted_regex: ^nomatch$".into()
                })
            },
            sops: Refused(SOPS_MAC),
            ours: Refused(MAC),
        },
        Case {
            name: "age recipient field changed",
            mac_only: false,
            tamper: |e| {
                on_line(e, "recipient:", |_| {
                    "          recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into()
                })
            },
            sops: Same,
            ours: Same,
        },
        Case {
            name: "age enc (wrapped data key) damaged",
            mac_only: false,
            tamper: |e| {
                let i = e.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
                let j = i + e[i..].find('\n').unwrap() + 1;
                let k = j + e[j..].find(|c: char| c.is_ascii_alphanumeric()).unwrap() + 10;
                let mut b = e.as_bytes().to_vec();
                b[k] = if b[k] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap()
            },
            sops: Refused("Failed to get the data key"),
            ours: Refused("cannot recover the data key"),
        },
        // ---- keys whose value sops does not encrypt (null, {}, []): in no AAD, not in
        // the MAC (found by the sops_decrypt fuzz target)
        Case {
            name: "key of a null value renamed",
            mac_only: false,
            tamper: |e| on_line(e, "nothing:", |_| "renamed: null".into()),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "key of an empty map renamed",
            mac_only: false,
            tamper: |e| on_line(e, "empty:", |_| "other: {}".into()),
            sops: Changed,
            ours: Changed,
        },
        Case {
            name: "shamir_threshold: 2 added to a one-group file",
            mac_only: false,
            tamper: |e| add_meta(e, "shamir_threshold: 2"),
            sops: Same,
            ours: Same,
        },
    ]
}

fn ours(enc: &str, plain: &str, keys: &hfkit_sops::Keyring) -> Result<Outcome, String> {
    match decrypt_str(enc, Format::Yaml, keys, &DecryptOptions::default()) {
        Ok(out) if out == plain => Ok(Same),
        Ok(_) => Ok(Changed),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn tamper_table_against_real_sops_and_us() {
    let env = Env::new();
    let keys = env.keys();
    let enc = env.sops_encrypt("t.yaml", PLAIN, &[]);
    let enc_mo = env.sops_encrypt(
        "mo.yaml",
        PLAIN_MAC_ONLY,
        &["--mac-only-encrypted", "--encrypted-regex", "^secret$"],
    );
    // Untampered: both read the same plaintext.
    for (e, p) in [(&enc, PLAIN), (&enc_mo, PLAIN_MAC_ONLY)] {
        assert_eq!(env.sops_decrypt("x.yaml", e), p);
        assert_eq!(ours(e, p, &keys), Ok(Same));
    }
    let mut failures = Vec::new();
    for c in cases() {
        let (base, plain) = if c.mac_only {
            (&enc_mo, PLAIN_MAC_ONLY)
        } else {
            (&enc, PLAIN)
        };
        let t = (c.tamper)(base);
        assert_ne!(&t, base, "{}: tamper changed nothing", c.name);
        let out = env.sops_decrypt_output("tampered.yaml", &t);
        let sops = if out.status.success() {
            if text(&out.stdout) == plain {
                Same
            } else {
                Changed
            }
        } else {
            let err = text(&out.stderr);
            match c.sops {
                Refused(want) if err.contains(want) => Refused(want),
                _ => Refused(Box::leak(err.into_boxed_str())),
            }
        };
        if sops != c.sops {
            failures.push(format!(
                "{}: sops 3.13.2 did {sops:?}, table says {:?}; stdout:\n{}",
                c.name,
                c.sops,
                text(&out.stdout)
            ));
        }
        let got = match ours(&t, plain, &keys) {
            Ok(o) => o,
            Err(msg) => {
                if msg.contains('\n') {
                    failures.push(format!("{}: error is not one line: {msg}", c.name));
                }
                match c.ours {
                    Refused(want) if msg.contains(want) => Refused(want),
                    _ => Refused(Box::leak(msg.into_boxed_str())),
                }
            }
        };
        if got != c.ours {
            failures.push(format!(
                "{}: we did {got:?}, table says {:?}",
                c.name, c.ours
            ));
        }
        // The policy itself: whatever sops refuses, we refuse.
        if matches!(c.sops, Refused(_)) && !matches!(c.ours, Refused(_)) {
            failures.push(format!(
                "{}: sops refuses, the table lets it through",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
