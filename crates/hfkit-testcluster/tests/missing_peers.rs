//! Without the peers, starting a control plane must fail loudly, naming the setup command
//! (never pass silently). Its own test binary: it changes HFKIT_PEERS_BIN.

#[test]
fn missing_peers_panic_naming_the_setup_command() {
    let empty = std::env::temp_dir().join(format!("hfkit-no-peers-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("HFKIT_PEERS_BIN", &empty);
    let err = std::panic::catch_unwind(hfkit_testcluster::ControlPlane::start)
        .err()
        .expect("starting without peers must panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("scripts/peers.sh"), "{msg}");
    assert!(msg.contains("etcd"), "{msg}");
    let _ = std::fs::remove_dir_all(&empty);
}
