//! Loading a private key makes the process non-dumpable (PR_SET_DUMPABLE 0). Its own
//! binary: nothing else in it may have loaded a key first.

use hfkit_sops::Keyring;

#[test]
fn loading_a_key_makes_the_process_non_dumpable() {
    let dir = tempfile::tempdir().unwrap();
    let key = hfkit_testcluster::age_keygen(dir.path(), "age.txt");
    let id = key.identity.as_str();
    assert_eq!(
        rustix::process::dumpable_behavior().unwrap(),
        rustix::process::DumpableBehavior::Dumpable,
        "the test process starts dumpable"
    );
    let keys = Keyring::new().with_age_identities(id).unwrap();
    assert_eq!(keys.age_recipients().len(), 1);
    assert_eq!(
        rustix::process::dumpable_behavior().unwrap(),
        rustix::process::DumpableBehavior::NotDumpable
    );
}
