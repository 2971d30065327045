//! The decrypted kubeconfig lives in a sealed memory file that no child inherits
//! unless it is handed over (helm, see kubectl-hfapply's cli tests). The file is
//! encrypted by the real sops to a key from the real age-keygen.

use std::io::Write;
use std::process::Command;

const PLAIN: &str = "apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: u\n  user:\n    token: kubeconfig-token-secret\n";

#[test]
fn decrypted_kubeconfig_is_sealed_and_not_inherited() {
    let dir = tempfile::tempdir().unwrap();
    let hfkit_testcluster::AgeKey {
        file: key,
        recipient,
        ..
    } = hfkit_testcluster::age_keygen(dir.path(), "keys.txt");
    let path = dir.path().join("kubeconfig.sops.yaml");
    std::fs::write(&path, PLAIN).unwrap();
    let out = Command::new(hfkit_testcluster::peer("sops"))
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::env::set_var("SOPS_AGE_KEY_FILE", &key);
    std::env::set_var("HFKIT_SOPS_NO_GPG", "1");

    let access = hfkit_apply::kubeconfig::open(hfkit_kube::KubeOptions {
        kubeconfig: Some(path),
        context: None,
        namespace: None,
    })
    .unwrap();
    let mem = access.kube.kubeconfig.clone().unwrap();
    assert!(mem.starts_with("/proc/self/fd/"), "{}", mem.display());
    let plain = std::fs::read_to_string(&mem).unwrap();
    assert!(plain.contains("token: kubeconfig-token-secret"), "{plain}");

    // Sealed: not even we can change what helm will read.
    let mut w = std::fs::OpenOptions::new().write(true).open(&mem).unwrap();
    assert!(
        w.write_all(b"x").is_err(),
        "the decrypted kubeconfig is writable"
    );
    assert_eq!(std::fs::read_to_string(&mem).unwrap(), plain);

    // An unrelated child (here started by plain std, as any library might) does not
    // have the descriptor.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("cat {} 2>/dev/null; true", mem.display()))
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("kubeconfig-token-secret"),
        "a child inherited the decrypted kubeconfig"
    );

    // The binary store (`sops -e kubeconfig`, no extension), recognised by content: the
    // memory holds exactly the kubeconfig's bytes, not a `data:` wrapper.
    let binary = dir.path().join("kubeconfig");
    std::fs::write(&binary, PLAIN).unwrap();
    let out = Command::new(hfkit_testcluster::peer("sops"))
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .arg(&binary)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read_to_string(&binary)
        .unwrap()
        .starts_with("{\n\t\"data\": \"ENC["));
    let access = hfkit_apply::kubeconfig::open(hfkit_kube::KubeOptions {
        kubeconfig: Some(binary.clone()),
        context: None,
        namespace: None,
    })
    .unwrap();
    let mem = access.kube.kubeconfig.clone().unwrap();
    assert!(mem.starts_with("/proc/self/fd/"), "{}", mem.display());
    assert_eq!(std::fs::read(&mem).unwrap(), PLAIN.as_bytes());
    // Also under a name that says YAML: the envelope's content decides.
    let renamed = dir.path().join("kubeconfig.sops.yaml");
    std::fs::copy(&binary, &renamed).unwrap();
    let access = hfkit_apply::kubeconfig::open(hfkit_kube::KubeOptions {
        kubeconfig: Some(renamed),
        context: None,
        namespace: None,
    })
    .unwrap();
    let mem = access.kube.kubeconfig.clone().unwrap();
    assert_eq!(std::fs::read(&mem).unwrap(), PLAIN.as_bytes());
}
