//! `kubectl sopsraw` end to end: the real binary against a real kube-apiserver
//! (hfkit-testcluster), files encrypted by the real `sops` peer with age keys made by the
//! real `age-keygen` peer. Each `kubectl sopsraw` run is its own process, so prune is
//! tested across process restarts. Missing peers make these tests fail, not skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hfkit_testcluster::{peer, ControlPlane};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-sopsraw");

struct Env {
    dir: tempfile::TempDir,
    key_file: PathBuf,
    recipient: String,
    tmpdir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("sopsraw-cli-")
            .tempdir()
            .unwrap();
        let key_file = dir.path().join("keys.txt");
        let out = Command::new(peer("age-keygen"))
            .arg("-o")
            .arg(&key_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "age-keygen: {out:?}");
        let keys = std::fs::read_to_string(&key_file).unwrap();
        let recipient = keys
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("age-keygen wrote a public key comment")
            .trim()
            .to_string();
        let tmpdir = dir.path().join("tmp");
        std::fs::create_dir(&tmpdir).unwrap();
        Env {
            dir,
            key_file,
            recipient,
            tmpdir,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes `text` to `rel` encrypted by the real sops.
    fn write_encrypted(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.write(rel, text);
        let out = Command::new(peer("sops"))
            .args(["--encrypt", "--age", &self.recipient, "--in-place"])
            .arg(&p)
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "sops --encrypt: {out:?}");
        let enc = std::fs::read_to_string(&p).unwrap();
        assert!(enc.contains("sops:") && enc.contains("ENC["), "{enc}");
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env("TMPDIR", &self.tmpdir)
            .env("HFKIT_SOPS_NO_GPG", "1")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("KUBECONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs against the test cluster with `-n ns`.
    fn kube(&self, ns: &str, args: &[&str]) -> Output {
        let cp = ControlPlane::shared();
        let mut all: Vec<&str> = args.to_vec();
        let kc = cp.kubeconfig_path().to_str().unwrap().to_string();
        all.extend(["--kubeconfig", &kc, "-n", ns]);
        self.run(&all)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn get(path: &str) -> (u16, serde_json::Value) {
    let (code, body) = ControlPlane::shared().request("GET", path, None).unwrap();
    (code, serde_json::from_str(&body).unwrap_or_default())
}

fn configmap(ns: &str, name: &str) -> (u16, serde_json::Value) {
    get(&format!("/api/v1/namespaces/{ns}/configmaps/{name}"))
}

fn cm_doc(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: {value}\n")
}

const SECRET_A: &str = "hunter2-first-password";
const SECRET_B: &str = "second-password-xyz";

fn secrets_doc(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  \
         password: {password}\n  user: admin\n---\n{}",
        cm_doc("from-encrypted", "enc-value")
    )
}

#[test]
fn apply_diff_prune_with_plain_and_encrypted_multi_doc_files() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-apply");
    let e = Env::new();
    let set = format!("{ns}/app");
    e.write(
        "raw/app.pre.yaml",
        &format!("{}---\n{}", cm_doc("a", "one"), cm_doc("b", "two")),
    );
    e.write_encrypted("raw/db.secrets.pre.yaml", &secrets_doc(SECRET_A));
    e.write("raw/late.post.yaml", &cm_doc("late", "post"));
    let raw = e.path("raw");
    let raw = raw.to_str().unwrap();

    // dry run first: nothing is created
    let out = ok(&e.kube(
        &ns,
        &[
            "apply",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--dry-run=server",
        ],
    ));
    assert!(out.contains("configmap/a -n"), "{out}");
    assert!(out.contains("server dry run"), "{out}");
    assert_eq!(configmap(&ns, "a").0, 404);

    let out = ok(&e.kube(&ns, &["apply", "-f", raw, "--phase", "pre", "--set", &set]));
    assert!(!out.contains(SECRET_A), "{out}");
    for name in ["a", "b", "from-encrypted"] {
        let (code, cm) = configmap(&ns, name);
        assert_eq!(code, 200, "configmap {name}: {cm}");
        assert!(
            cm["metadata"]["labels"]["sopsraw.hfkit.io/set"].is_string(),
            "{cm}"
        );
        assert_eq!(
            cm["metadata"]["annotations"]["sopsraw.hfkit.io/set-name"],
            set.as_str()
        );
        let managers: Vec<_> = cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["manager"].as_str().unwrap().to_string())
            .collect();
        assert!(managers.contains(&"sopsraw".to_string()), "{managers:?}");
    }
    assert_eq!(
        configmap(&ns, "from-encrypted").1["data"]["key"],
        "enc-value"
    );
    assert_eq!(
        configmap(&ns, "late").0,
        404,
        "post phase file applied in pre"
    );
    let (code, secret) = get(&format!("/api/v1/namespaces/{ns}/secrets/db"));
    assert_eq!(code, 200);
    use base64_decode as b64;
    assert_eq!(b64(secret["data"]["password"].as_str().unwrap()), SECRET_A);

    // nothing to change
    let d = e.kube(
        &ns,
        &[
            "diff",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        d.status.code(),
        Some(0),
        "{}\n{}",
        text(&d.stdout),
        text(&d.stderr)
    );
    assert_eq!(text(&d.stdout), "");
    // re-apply: unchanged
    let out = ok(&e.kube(&ns, &["apply", "-f", raw, "--phase", "pre", "--set", &set]));
    assert!(
        out.contains("configmap/a -n") && out.contains("unchanged"),
        "{out}"
    );

    // a Secret change is shown redacted
    e.write_encrypted("raw/db.secrets.pre.yaml", &secrets_doc(SECRET_B));
    let d = e.kube(
        &ns,
        &[
            "diff",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--detailed-exitcode",
        ],
    );
    let shown = text(&d.stdout);
    assert_eq!(d.status.code(), Some(2), "{shown}\n{}", text(&d.stderr));
    assert!(shown.contains("secret/db"), "{shown}");
    assert!(
        shown.contains(&format!(
            "password: (redacted, {} bytes, changed)",
            SECRET_B.len()
        )),
        "{shown}"
    );
    assert!(
        !shown.contains("user: (redacted, 5 bytes, changed)"),
        "{shown}"
    );
    let all = format!("{shown}{}", text(&d.stderr));
    for leak in [
        SECRET_A, SECRET_B, "aHVudGVy", "c2Vjb25k", "admin", "YWRtaW4",
    ] {
        assert!(!all.contains(leak), "leaked {leak}: {all}");
    }
    // without --detailed-exitcode, changes exit 0
    assert_eq!(
        e.kube(&ns, &["diff", "-f", raw, "--phase", "pre"])
            .status
            .code(),
        Some(0)
    );

    // dry run changes nothing
    let out = ok(&e.kube(
        &ns,
        &[
            "apply",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--dry-run=server",
        ],
    ));
    assert!(
        out.contains("secret/db -n") && out.contains("configured (server dry run)"),
        "{out}"
    );
    let (_, secret) = get(&format!("/api/v1/namespaces/{ns}/secrets/db"));
    assert_eq!(b64(secret["data"]["password"].as_str().unwrap()), SECRET_A);

    // remove b from the files: diff shows the prune, apply --prune (a new process) deletes it
    e.write("raw/app.pre.yaml", &cm_doc("a", "one"));
    let d = e.kube(&ns, &["diff", "-f", raw, "--phase", "pre", "--set", &set]);
    let shown = ok(&d);
    assert!(
        shown.contains("configmap/b -n") && shown.contains("pruned"),
        "{shown}"
    );
    // without --prune nothing is deleted and b stays in the inventory
    ok(&e.kube(&ns, &["apply", "-f", raw, "--phase", "pre", "--set", &set]));
    assert_eq!(configmap(&ns, "b").0, 200);
    // dry-run prune deletes nothing
    let out = ok(&e.kube(
        &ns,
        &[
            "apply",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--prune",
            "--dry-run=server",
        ],
    ));
    assert!(
        out.contains("configmap/b -n") && out.contains("pruned (server dry run)"),
        "{out}"
    );
    assert_eq!(configmap(&ns, "b").0, 200);
    let out = ok(&e.kube(
        &ns,
        &[
            "apply", "-f", raw, "--phase", "pre", "--set", &set, "--prune",
        ],
    ));
    assert!(
        out.contains("configmap/b -n") && out.contains("pruned"),
        "{out}"
    );
    assert_eq!(configmap(&ns, "b").0, 404, "b not pruned");
    assert_eq!(configmap(&ns, "a").0, 200);
    let (_, secret) = get(&format!("/api/v1/namespaces/{ns}/secrets/db"));
    assert_eq!(b64(secret["data"]["password"].as_str().unwrap()), SECRET_B);
    let d = e.kube(
        &ns,
        &[
            "diff",
            "-f",
            raw,
            "--phase",
            "pre",
            "--set",
            &set,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stdout));

    // an object of another set, or unlabelled, is never pruned
    ok(&e.kube(
        &ns,
        &[
            "apply",
            "-f",
            e.write("other/x.yaml", &cm_doc("other", "x"))
                .to_str()
                .unwrap(),
            "--set",
            "other",
        ],
    ));
    let out = ok(&e.kube(
        &ns,
        &[
            "apply", "-f", raw, "--phase", "pre", "--set", &set, "--prune",
        ],
    ));
    assert!(!out.contains("configmap/other"), "{out}");
    assert_eq!(configmap(&ns, "other").0, 200);
}

fn base64_decode(s: &str) -> String {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = table.iter().position(|t| *t == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

const CRD_AND_WIDGET: &str = r#"apiVersion: GROUP/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.GROUP
spec:
  group: GROUP
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

#[test]
fn crd_and_custom_resource_in_one_apply() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-crd");
    let e = Env::new();
    let group = format!("{ns}.hfkit.test");
    let f = e.write("crd.yaml", &CRD_AND_WIDGET.replace("GROUP", &group));
    let f = f.to_str().unwrap();
    // the diff of a not yet installed CRD shows both as new
    let d = e.kube(&ns, &["diff", "-f", f, "--detailed-exitcode"]);
    let shown = text(&d.stdout);
    assert_eq!(d.status.code(), Some(2), "{shown}{}", text(&d.stderr));
    assert!(shown.contains(&format!("widget.{group}/w1")), "{shown}");
    let out = ok(&e.kube(&ns, &["apply", "-f", f, "--set", "widgets"]));
    let crd_pos = out.find("customresourcedefinition").unwrap();
    let w_pos = out.find(&format!("widget.{group}/w1")).unwrap();
    assert!(crd_pos < w_pos, "{out}");
    let (code, w) = get(&format!("/apis/{group}/v1/namespaces/{ns}/widgets/w1"));
    assert_eq!(code, 200, "{w}");
    assert_eq!(w["spec"]["size"], 3);
    let d = e.kube(
        &ns,
        &["diff", "-f", f, "--set", "widgets", "--detailed-exitcode"],
    );
    assert_eq!(
        d.status.code(),
        Some(0),
        "{}{}",
        text(&d.stdout),
        text(&d.stderr)
    );
}

#[test]
fn tampered_file_is_refused() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-tamper");
    let e = Env::new();
    let p = e.write_encrypted("bad.yaml", &cm_doc("tampered", "value"));
    let enc = std::fs::read_to_string(&p).unwrap();
    // swap the ciphertexts of two values: each decrypts, the MAC does not match
    let re = |key: &str| {
        let l = enc
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap();
        l.split_once(": ").unwrap().1.to_string()
    };
    let (name_v, key_v) = (re("name:"), re("key:"));
    let tampered = enc
        .replace(&key_v, "@KEY@")
        .replace(&name_v, &key_v)
        .replace("@KEY@", &name_v);
    assert_ne!(tampered, enc);
    std::fs::write(&p, tampered).unwrap();
    let f = p.to_str().unwrap();
    let out = e.kube(&ns, &["apply", "-f", f]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml") && (err.contains("MAC") || err.contains("cannot decrypt")),
        "{err}"
    );
    assert_eq!(configmap(&ns, "tampered").0, 404);
    let out = e.run(&["decrypt", f]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
}

fn editor_script(e: &Env, body: &str) -> PathBuf {
    let p = e.write("editor.sh", &format!("#!/bin/sh\nset -e\n{body}\n"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn tmp_is_empty(e: &Env) -> bool {
    std::fs::read_dir(&e.tmpdir).unwrap().next().is_none()
}

#[test]
fn decrypt_encrypt_edit_round_trips() {
    let e = Env::new();
    e.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: .*\\.yaml$\n    age: {}\n",
            e.recipient
        ),
    );
    let plain = "user: admin\npassword: s3cr3t-value\nlist:\n    - a\n    - b\n";
    let p = e.write("secrets.yaml", plain);
    let f = p.to_str().unwrap();

    // encrypt to stdout leaves the file alone; --in-place encrypts it
    let enc = ok(&e.run(&["encrypt", f]));
    assert!(
        enc.contains("ENC[") && !enc.contains("s3cr3t-value"),
        "{enc}"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), plain);
    ok(&e.run(&["encrypt", f, "--in-place"]));
    let on_disk = std::fs::read_to_string(&p).unwrap();
    assert!(!on_disk.contains("s3cr3t-value"), "{on_disk}");
    // encrypting twice is refused with the next step
    let out = e.run(&["encrypt", f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("edit"), "{}", text(&out.stderr));

    // the real sops reads what we wrote, and we read it back
    let sops = Command::new(peer("sops"))
        .args(["--decrypt"])
        .arg(&p)
        .env("SOPS_AGE_KEY_FILE", &e.key_file)
        .output()
        .unwrap();
    assert_eq!(ok(&sops), plain);
    assert_eq!(ok(&e.run(&["decrypt", f])), plain);
    let out_file = e.path("out/plain.yaml");
    ok(&e.run(&["decrypt", f, "-o", out_file.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), plain);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // edit: the editor sees the plaintext in a 0600 file in a 0700 dir under TMPDIR
    let log = e.path("editor.log");
    let script = editor_script(
        &e,
        &format!(
            "echo \"$1\" > {log}\nstat -c %a \"$1\" >> {log}\nstat -c %a \"$(dirname \"$1\")\" >> {log}\n\
             sed -i 's/s3cr3t-value/changed-value/' \"$1\"",
            log = log.display()
        ),
    );
    let mut c = e.cmd(&["edit", f]);
    c.env("EDITOR", &script)
        .env_remove("VISUAL")
        .env_remove("SOPS_EDITOR");
    ok(&c.output().unwrap());
    let logged = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert!(lines[0].starts_with(e.tmpdir.to_str().unwrap()), "{logged}");
    assert_eq!(lines[1], "600", "{logged}");
    assert_eq!(lines[2], "700", "{logged}");
    assert!(!Path::new(lines[0]).exists());
    assert!(tmp_is_empty(&e), "plaintext left in TMPDIR");
    let after = std::fs::read_to_string(&p).unwrap();
    assert!(
        !after.contains("changed-value") && !after.contains("s3cr3t"),
        "{after}"
    );
    assert_eq!(
        ok(&e.run(&["decrypt", f])),
        plain.replace("s3cr3t-value", "changed-value")
    );
    // unchanged values keep their ciphertext
    let user_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("user:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(user_line(&after), user_line(&on_disk));

    // a failing editor: file unchanged, no plaintext left
    let script = editor_script(&e, "echo junk >> \"$1\"\nexit 3");
    let mut c = e.cmd(&["edit", f]);
    c.env("EDITOR", &script);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), after);
    assert!(
        tmp_is_empty(&e),
        "plaintext left in TMPDIR after editor failure"
    );

    // Ctrl-C while the editor runs: no plaintext left, file unchanged
    let marker = e.path("started");
    let script = editor_script(
        &e,
        &format!(
            "echo \"$1\" > {}.tmp\nmv {m}.tmp {m}\nsleep 30",
            marker.display(),
            m = marker.display()
        ),
    );
    let mut c = e.cmd(&["edit", f]);
    c.env("EDITOR", &script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(start.elapsed().as_secs() < 30, "editor never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let edited = std::fs::read_to_string(&marker).unwrap();
    assert!(Path::new(edited.trim()).exists());
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!Path::new(edited.trim()).exists());
    assert!(tmp_is_empty(&e), "plaintext left in TMPDIR after Ctrl-C");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), after);
}

#[test]
fn a_kubeconfig_in_the_binary_store_decrypts_to_exactly_its_bytes() {
    // `sops -e kubeconfig` (no extension) writes sops's binary store; decrypt must print
    // the kubeconfig itself, not a `data: |` wrapper.
    let e = Env::new();
    let plain = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: kc-token-secret\n# no final newline ->\ncurrent-context: x";
    let p = e.write("kubeconfig", plain);
    let sops = Command::new(peer("sops"))
        .args(["--encrypt", "--age", &e.recipient, "--in-place"])
        .arg(&p)
        .env("SOPS_AGE_KEY_FILE", &e.key_file)
        .output()
        .unwrap();
    ok(&sops);
    let enc = std::fs::read_to_string(&p).unwrap();
    assert!(enc.starts_with("{\n\t\"data\": \"ENC["), "{enc}");
    let f = p.to_str().unwrap();
    let out = e.run(&["decrypt", f]);
    ok(&out);
    assert_eq!(out.stdout, plain.as_bytes());
    let out_file = e.path("out/kubeconfig");
    ok(&e.run(&["decrypt", f, "-o", out_file.to_str().unwrap()]));
    assert_eq!(std::fs::read(&out_file).unwrap(), plain.as_bytes());

    // encrypt of a file of unknown extension, bytes not even text: the binary store,
    // which the real sops decrypts to the same bytes; encrypting it again is refused.
    e.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", e.recipient),
    );
    let bytes = [plain.as_bytes(), &[0xff, 0x00, 0xfe]].concat();
    let q = e.path("client.p12");
    std::fs::write(&q, &bytes).unwrap();
    let g = q.to_str().unwrap();
    ok(&e.run(&["encrypt", g, "--in-place"]));
    let on_disk = std::fs::read_to_string(&q).unwrap();
    assert!(on_disk.starts_with("{\n\t\"data\": \"ENC["), "{on_disk}");
    assert!(!on_disk.contains("kc-token-secret"));
    let sops = Command::new(peer("sops"))
        .arg("--decrypt")
        .arg(&q)
        .env("SOPS_AGE_KEY_FILE", &e.key_file)
        .output()
        .unwrap();
    ok(&sops);
    assert_eq!(sops.stdout, bytes);
    let out = e.run(&["decrypt", g]);
    ok(&out);
    assert_eq!(out.stdout, bytes);
    let out = e.run(&["encrypt", g]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already encrypted"),
        "{}",
        text(&out.stderr)
    );

    // edit: the editor gets the raw bytes; the result is still the binary store.
    let script = editor_script(&e, "sed -i 's/kc-token-secret/rotated/' \"$1\"");
    let mut c = e.cmd(&["edit", f]);
    c.env("EDITOR", &script)
        .env_remove("VISUAL")
        .env_remove("SOPS_EDITOR");
    ok(&c.output().unwrap());
    assert!(tmp_is_empty(&e), "plaintext left in TMPDIR");
    let sops = Command::new(peer("sops"))
        .arg("--decrypt")
        .arg(&p)
        .env("SOPS_AGE_KEY_FILE", &e.key_file)
        .output()
        .unwrap();
    ok(&sops);
    assert_eq!(
        sops.stdout,
        plain.replace("kc-token-secret", "rotated").as_bytes()
    );

    // A .env file: refused by name, saying why.
    let env_file = e.write("app.env", "A=1\n");
    let out = e.run(&["encrypt", env_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("app.env") && err.contains("dotenv"), "{err}");
}

#[test]
fn decrypt_output_is_0600_whatever_the_umask_and_the_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new();
    let plain = "password: s3cr3t-value\n";
    let src = e.write_encrypted("app.secrets.yaml", plain);
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    // Under umask 000, through `sh` since a test cannot change its own process's umask
    // without affecting the other tests.
    let decrypt_with_umask_0 = |out: &Path| {
        let c = e.cmd(&[]);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(BIN)
            .args([
                "decrypt",
                src.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ]);
        // The same environment as `e.cmd` gives.
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.output().unwrap()
    };

    // A new file.
    let fresh = e.path("out/fresh.yaml");
    ok(&decrypt_with_umask_0(&fresh));
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), plain);
    assert_eq!(mode(&fresh), 0o600);

    // An existing world-readable file is replaced by a 0600 one.
    let existing = e.write("out/existing.yaml", "old\n");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&decrypt_with_umask_0(&existing));
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), plain);
    assert_eq!(mode(&existing), 0o600);

    // A symlink is refused: neither it nor what it points to is touched.
    let victim = e.write("victim.txt", "precious\n");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = e.path("out/link.yaml");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = decrypt_with_umask_0(&link);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("link.yaml") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    // In place: the plaintext replaces the 0644 encrypted file as a 0600 one.
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&e.run(&["decrypt", "-i", src.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&src).unwrap(), plain);
    assert_eq!(mode(&src), 0o600);
    // No temp file left anywhere.
    for d in [e.path("out/x").parent().unwrap(), e.dir.path()] {
        for entry in std::fs::read_dir(d).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".sopsraw-"),
                "{name} left in {}",
                d.display()
            );
        }
    }
}

#[test]
fn plain_files_named_as_secrets_are_refused_and_nothing_is_applied() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-plain-secret");
    let e = Env::new();
    e.write("raw/app.pre.yaml", &cm_doc("plain-ok", "one"));
    e.write("raw/db.secrets.pre.yaml", &secrets_doc(SECRET_A));
    let single = e.write("token.secret.yaml", &secrets_doc(SECRET_B));
    let raw = e.path("raw");
    for args in [
        vec!["apply", "-f", raw.to_str().unwrap(), "--phase", "pre"],
        vec!["apply", "-f", single.to_str().unwrap()],
        vec!["diff", "-f", raw.to_str().unwrap(), "--phase", "pre"],
    ] {
        let out = e.kube(&ns, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = text(&out.stderr);
        let name = if args[2].ends_with("raw") {
            "db.secrets.pre.yaml"
        } else {
            "token.secret.yaml"
        };
        assert!(
            err.contains(name)
                && err.contains("not sops-encrypted")
                && err.contains("kubectl sopsraw encrypt -i"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains(SECRET_A) && !err.contains(SECRET_B), "{err}");
    }
    // Nothing of the directory was applied, not even its plain ConfigMap.
    assert_eq!(configmap(&ns, "plain-ok").0, 404);
    assert_eq!(configmap(&ns, "from-encrypted").0, 404);
    assert_eq!(get(&format!("/api/v1/namespaces/{ns}/secrets/db")).0, 404);
    // Once encrypted by the real sops, the same file is applied.
    e.write_encrypted("raw/db.secrets.pre.yaml", &secrets_doc(SECRET_A));
    ok(&e.kube(
        &ns,
        &["apply", "-f", raw.to_str().unwrap(), "--phase", "pre"],
    ));
    assert_eq!(configmap(&ns, "plain-ok").0, 200);
    assert_eq!(get(&format!("/api/v1/namespaces/{ns}/secrets/db")).0, 200);
}

#[test]
fn help_of_every_command_has_an_example() {
    for cmd in [
        &[][..],
        &["decrypt"],
        &["encrypt"],
        &["edit"],
        &["apply"],
        &["diff"],
    ] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let out = Command::new(BIN).args(&args).output().unwrap();
        let help = ok(&out);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
        assert!(help.contains("kubectl sopsraw"), "{help}");
    }
    // --prune needs --set
    let out = Command::new(BIN)
        .args(["apply", "-f", "x", "--prune"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--set"));
}

#[test]
fn multi_path_kubeconfig_and_context_namespaces() {
    let cp = ControlPlane::shared();
    let ns_a = cp.new_namespace("sopsraw-kc-a");
    let ns_b = cp.new_namespace("sopsraw-kc-b");
    let e = Env::new();
    // the first file sets current-context and two contexts over the second file's
    // cluster and user: the merge of KUBECONFIG's files is needed to connect
    let team = e.write(
        "team.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: team\ncontexts:\n\
             - name: team\n  context:\n    cluster: hfkit-test\n    user: hfkit-admin\n    namespace: {ns_a}\n\
             - name: other\n  context:\n    cluster: hfkit-test\n    user: hfkit-admin\n    namespace: {ns_b}\n"
        ),
    );
    let kubeconfig = format!("{}:{}", team.display(), cp.kubeconfig_path().display());
    let f = e.write("cm.yaml", &cm_doc("where", "here"));
    let f = f.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut c = e.cmd(args);
        c.env("KUBECONFIG", &kubeconfig);
        ok(&c.output().unwrap())
    };
    run(&["apply", "-f", f]);
    assert_eq!(configmap(&ns_a, "where").0, 200);
    assert_eq!(configmap(&ns_b, "where").0, 404);
    run(&["apply", "-f", f, "--context", "other"]);
    assert_eq!(configmap(&ns_b, "where").0, 200);
    // -n wins over the context's namespace
    let ns_c = cp.new_namespace("sopsraw-kc-c");
    run(&["apply", "-f", f, "--context", "other", "-n", &ns_c]);
    assert_eq!(configmap(&ns_c, "where").0, 200);
    // a wrong context is an error that says what to do
    let mut c = e.cmd(&["apply", "-f", f, "--context", "nope"]);
    c.env("KUBECONFIG", &kubeconfig);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--context"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn conflicts_fail_unless_forced() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-conflict");
    let e = Env::new();
    let (code, body) = cp
        .request(
            "POST",
            &format!("/api/v1/namespaces/{ns}/configmaps?fieldManager=someone-else"),
            Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owned"},"data":{"key":"theirs"}}"#),
        )
        .unwrap();
    assert_eq!(code, 201, "{body}");
    let f = e.write("owned.yaml", &cm_doc("owned", "ours"));
    let f = f.to_str().unwrap();
    let out = e.kube(&ns, &["apply", "-f", f]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--force-conflicts") && err.contains("someone-else"),
        "{err}"
    );
    assert_eq!(configmap(&ns, "owned").1["data"]["key"], "theirs");
    ok(&e.kube(&ns, &["apply", "-f", f, "--force-conflicts"]));
    assert_eq!(configmap(&ns, "owned").1["data"]["key"], "ours");
}

/// Every `iv:` of every `ENC[...]` in a file (values, comments, the MAC).
fn all_ivs(enc: &str) -> Vec<String> {
    enc.split("ENC[AES256_GCM,")
        .skip(1)
        .map(|v| {
            v.split(",iv:")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn edit_never_repeats_an_iv() {
    let e = Env::new();
    let plain = "# users\nusers:\n    - alice\n    - alice\n    - bob\npassword: old\n";
    let p = e.write_encrypted("list.yaml", plain);
    let f = p.to_str().unwrap();
    let before = std::fs::read_to_string(&p).unwrap();
    let script = editor_script(&e, "sed -i 's/password: old/password: new/' \"$1\"");
    let mut c = e.cmd(&["edit", f]);
    c.env("EDITOR", &script)
        .env_remove("VISUAL")
        .env_remove("SOPS_EDITOR");
    ok(&c.output().unwrap());
    let after = std::fs::read_to_string(&p).unwrap();
    let ivs = all_ivs(&after);
    let distinct: std::collections::HashSet<&String> = ivs.iter().collect();
    assert_eq!(distinct.len(), ivs.len(), "an IV is used twice:\n{after}");
    // The three list items keep their exact ciphertexts (one line each).
    let items = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.trim_start().starts_with("- ENC["))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(items(&before), items(&after));
    let sops = Command::new(peer("sops"))
        .arg("--decrypt")
        .arg(&p)
        .env("SOPS_AGE_KEY_FILE", &e.key_file)
        .output()
        .unwrap();
    assert_eq!(ok(&sops), plain.replace("password: old", "password: new"));
}

/// A Namespace leaving a set is kept by `apply --prune` (and shown as kept, not as a
/// deletion, by `diff`) until `--allow-prune-kind Namespace` is given; a kind that is not
/// protected is refused by the flag.
#[test]
fn namespace_leaving_a_set_is_kept_until_allowed() {
    let cp = ControlPlane::shared();
    let ns = cp.new_namespace("sopsraw-prot");
    let e = Env::new();
    let extra = format!("{ns}-x");
    let set = format!("{ns}/prot");
    let both = e.write(
        "both.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra}\n---\n{}",
            cm_doc("a", "one")
        ),
    );
    let one = e.write("one.yaml", &cm_doc("a", "one"));
    let (both, one) = (both.to_str().unwrap(), one.to_str().unwrap());
    ok(&e.kube(&ns, &["apply", "-f", both, "--set", &set, "--prune"]));
    let d = ok(&e.kube(&ns, &["diff", "-f", one, "--set", &set]));
    assert!(
        !d.contains("(pruned)") && d.contains(&format!("# kept namespace/{extra}")),
        "{d}"
    );
    let out = ok(&e.kube(&ns, &["apply", "-f", one, "--set", &set, "--prune"]));
    assert!(
        out.contains(&format!(
            "namespace/{extra} kept: removed from the set but not pruned"
        )) && out.contains("--allow-prune-kind Namespace"),
        "{out}"
    );
    let (code, n) = get(&format!("/api/v1/namespaces/{extra}"));
    assert_eq!(code, 200);
    assert!(n["metadata"]["deletionTimestamp"].is_null(), "{n}");
    let bad = e.kube(
        &ns,
        &[
            "apply",
            "-f",
            one,
            "--set",
            &set,
            "--prune",
            "--allow-prune-kind",
            "ConfigMap",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("not a protected kind"),
        "{}",
        text(&bad.stderr)
    );
    let d = ok(&e.kube(
        &ns,
        &["diff", "-f", one, "--set", &set, "--allow-prune-kind", "ns"],
    ));
    assert!(d.contains(&format!("namespace/{extra} (pruned)")), "{d}");
    let out = ok(&e.kube(
        &ns,
        &[
            "apply",
            "-f",
            one,
            "--set",
            &set,
            "--prune",
            "--allow-prune-kind",
            "Namespace",
        ],
    ));
    assert!(out.contains(&format!("namespace/{extra} pruned")), "{out}");
    let (code, n) = get(&format!("/api/v1/namespaces/{extra}"));
    assert!(
        code == 404 || !n["metadata"]["deletionTimestamp"].is_null(),
        "{n}"
    );
}
