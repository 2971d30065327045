//! The library in process against a real kube-apiserver (hfkit-testcluster): apply of a
//! sops-encrypted multi-document file (encrypted by `hfkit_sops::encrypt_str` for an age
//! key from the real `age-keygen`), diff, dry run, prune across fresh `Resolver`s and
//! connections. Missing peers make these tests fail, not skip.

use std::path::Path;
use std::process::Command;

use hfkit_kube::{
    apply, connect, diff, manifests, Action, ApplyOptions, Change, DiffOptions, KubeOptions,
};
use hfkit_sops::{EncryptOptions, Format, Keyring};
use hfkit_testcluster::{peer, ControlPlane};

fn keyring(dir: &Path) -> (Keyring, String) {
    let key_file = dir.join("keys.txt");
    let out = Command::new(peer("age-keygen"))
        .arg("-o")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&key_file).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .trim()
        .to_string();
    (
        Keyring::new().with_age_identities(&text).unwrap(),
        recipient,
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn encrypted_apply_diff_prune_in_process() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("hfkit-kube-api");
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keyring(dir.path());
    let plain =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: abc123\n\
                 ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  k: v\n\
                 ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\ndata:\n  k: v\n";
    let enc = hfkit_sops::encrypt_str(
        plain,
        Format::Yaml,
        &keys,
        &EncryptOptions::for_recipients(&[], &[&recipient]),
    )
    .unwrap();
    assert!(!enc.contains("abc123"));
    let file = dir.path().join("all.secrets.pre.yaml");
    std::fs::write(&file, &enc).unwrap();
    let opts = KubeOptions {
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        context: None,
        namespace: Some(ns.clone()),
    };
    let set = format!("{ns}/lib");
    let load = |keys: &Keyring| {
        hfkit_kube::load(
            std::slice::from_ref(&dir.path().to_path_buf()),
            Some(hfkit_kube::Phase::Pre),
            keys,
        )
    };
    let ms = load(&keys).unwrap();
    assert_eq!(ms.len(), 3);
    assert!(ms.iter().all(|m| m.encrypted));
    // without the key the file is refused
    let err = load(&Keyring::new()).unwrap_err().to_string();
    assert!(err.contains("all.secrets.pre.yaml"), "{err}");

    rt().block_on(async {
        let conn = connect(&opts).await.unwrap();
        let aopts = ApplyOptions {
            set: Some(set.clone()),
            ..Default::default()
        };
        let dry = ApplyOptions {
            dry_run: true,
            ..aopts.clone()
        };
        let r = apply(&conn, &ms, &dry).await.unwrap();
        assert!(
            r.outcomes.iter().all(|o| o.action == Action::Created),
            "{r}"
        );
        let d = diff(
            &conn,
            &ms,
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(d.entries.len(), 3, "{d}");
        assert!(d.entries.iter().all(|e| e.change == Change::Create));
        assert!(!d.to_string().contains("abc123"), "{d}");
        assert!(d.to_string().contains("token: (redacted, 6 bytes)"), "{d}");

        let r = apply(&conn, &ms, &aopts).await.unwrap();
        assert!(
            r.outcomes.iter().all(|o| o.action == Action::Created),
            "{r}"
        );
        let d = diff(
            &conn,
            &ms,
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!d.has_changes(), "{d}");
        assert_eq!(d.unchanged, 3);
    });

    // a second connection (as a new process would) prunes `two`
    let ms2: Vec<manifests::Manifest> = ms.into_iter().filter(|m| m.name() != "two").collect();
    rt().block_on(async {
        let conn = connect(&opts).await.unwrap();
        let d = diff(
            &conn,
            &ms2,
            &DiffOptions {
                set: Some(set.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(d.entries.len(), 1, "{d}");
        assert_eq!(d.entries[0].change, Change::Delete);
        assert_eq!(d.entries[0].object.name, "two");
        let r = apply(
            &conn,
            &ms2,
            &ApplyOptions {
                set: Some(set.clone()),
                prune: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let pruned: Vec<_> = r
            .outcomes
            .iter()
            .filter(|o| o.action == Action::Pruned)
            .map(|o| o.object.name.as_str())
            .collect();
        assert_eq!(pruned, ["two"], "{r}");
    });
    let (code, _) = cp
        .request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/configmaps/two"),
            None,
        )
        .unwrap();
    assert_eq!(code, 404);
    let (code, body) = cp
        .request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/configmaps/one"),
            None,
        )
        .unwrap();
    assert_eq!(code, 200, "{body}");
}
