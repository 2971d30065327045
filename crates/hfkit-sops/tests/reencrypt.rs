//! Re-encryption after an edit (`edit_str`, what `kubectl sopsraw edit` runs) never reuses an
//! AES-GCM IV: unchanged values keep their exact ciphertext, everything else is sealed under
//! a fresh IV, comments are never a source of IVs. Files come from the real sops 3.13.2.

mod common;

use std::collections::{HashMap, HashSet};

use common::{ivs, leaves, Env};
use hfkit_sops::{edit_str, parse, Format};

/// Equal items in one list share their key path (the AAD), and equal values sit under
/// different keys. (No comments inside the list: sops 3.13.2 cannot read back its own file
/// then — it hashes such a comment as a value and reports a MAC mismatch.)
const PLAIN: &str = "\
# top comment
users:
    - alice
    - alice
    - bob
    - alice
# between
db:
    password: hunter2
    # a comment
    user: admin
same1: twin
same2: twin
count: 3
";

/// The edit: one value changed, one added; everything else as it was.
const EDITED: &str = "\
# top comment
users:
    - alice
    - alice
    - bob
    - alice
# between
db:
    password: changed
    # a comment
    user: admin
same1: twin
same2: twin
count: 3
new: alice
";

fn assert_distinct(what: &str, enc: &str) {
    let all = ivs(enc);
    let mut seen = HashSet::new();
    let dups: Vec<&String> = all.iter().filter(|iv| !seen.insert(*iv)).collect();
    assert!(dups.is_empty(), "{what}: IVs used twice: {dups:?}\n{enc}");
}

fn by_pos(enc: &str) -> HashMap<String, String> {
    leaves(&parse(enc, Format::Yaml).unwrap()[0])
        .into_iter()
        .collect()
}

fn iv_of(v: &str) -> String {
    ivs(v).pop().unwrap()
}

#[test]
fn edit_never_reuses_an_iv_and_keeps_unchanged_ciphertexts() {
    let env = Env::new();
    let enc = env.sops_encrypt("list.yaml", PLAIN, &[]);
    assert_distinct("sops -e output", &enc);
    assert_eq!(env.sops_decrypt("list.yaml", &enc), PLAIN);

    let out = edit_str(&enc, EDITED, Format::Yaml, &env.keys()).unwrap();
    assert_distinct("edit output", &out);
    assert_eq!(env.sops_decrypt("out.yaml", &out), EDITED);

    let (before, after) = (by_pos(&enc), by_pos(&out));
    for pos in [
        "/users/0", "/users/1", "/users/2", "/users/3", "/db/user", "/same1", "/same2", "/count",
    ] {
        assert_eq!(before[pos], after[pos], "unchanged value at {pos}");
    }
    let old_ivs: HashSet<String> = ivs(&enc).into_iter().collect();
    for pos in ["/db/password", "/new"] {
        assert!(
            !old_ivs.contains(&iv_of(&after[pos])),
            "changed/new value at {pos} reuses an IV of the old file"
        );
    }
    // Comments are re-sealed under fresh IVs: none is taken from the old file.
    let comment_ivs: Vec<String> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("#ENC[") || l.contains(" #ENC["))
        .map(iv_of)
        .collect();
    assert_eq!(comment_ivs.len(), 3, "{out}");
    for iv in &comment_ivs {
        assert!(!old_ivs.contains(iv), "a comment reuses an old IV\n{out}");
    }

    // A second edit of our own output, and one changing nothing, still hold.
    let again = edit_str(&out, EDITED, Format::Yaml, &env.keys()).unwrap();
    assert_distinct("second edit", &again);
    assert_eq!(by_pos(&again), after);
    assert_eq!(env.sops_decrypt("again.yaml", &again), EDITED);
}

/// An input that already repeats an IV (here: the same ciphertext pasted at two positions, as
/// sops's own stash or an older hfkit could write) does not propagate the repeat.
#[test]
fn edit_does_not_copy_a_repeated_iv() {
    let env = Env::new();
    let enc = env.sops_encrypt("twin.yaml", "a:\n    - x\n    - x\n", &[]);
    let p = by_pos(&enc);
    // Both items share the AAD `a:`, so item 0's ciphertext is valid at item 1 too.
    let twin = enc.replacen(&p["/a/1"], &p["/a/0"], 1);
    assert_ne!(twin, enc);
    // The MAC covers plaintexts only, so sops accepts the file.
    assert_eq!(
        env.sops_decrypt("twin.yaml", &twin),
        "a:\n    - x\n    - x\n"
    );
    let out = edit_str(
        &twin,
        "a:\n    - x\n    - x\nb: z\n",
        Format::Yaml,
        &env.keys(),
    )
    .unwrap();
    assert_distinct("edit of a file with a repeated IV", &out);
    assert_eq!(by_pos(&out)["/a/0"], p["/a/0"]);
    assert_eq!(
        env.sops_decrypt("out.yaml", &out),
        "a:\n    - x\n    - x\nb: z\n"
    );
}

/// With the MAC not verified (`ignore_mac`), nothing is copied: the ciphertexts are not
/// vouched for.
#[test]
fn nothing_copied_without_a_verified_mac() {
    let env = Env::new();
    let enc = env.sops_encrypt("m.yaml", "a: one\nb: two\n", &[]);
    let d = hfkit_sops::decrypt_docs(
        parse(&enc, Format::Yaml).unwrap(),
        &env.keys(),
        &hfkit_sops::DecryptOptions { ignore_mac: true },
    )
    .unwrap();
    assert!(d.reuse().is_empty());
    let d = hfkit_sops::decrypt_docs(
        parse(&enc, Format::Yaml).unwrap(),
        &env.keys(),
        &hfkit_sops::DecryptOptions::default(),
    )
    .unwrap();
    assert_eq!(d.reuse().len(), 2);
}
