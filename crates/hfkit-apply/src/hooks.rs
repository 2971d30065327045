//! helmfile hooks (`hooks:` of a release or of a file), run with helmfile v1.7.4's
//! rules (`pkg/event/bus.go`):
//!
//! - a hook runs for an event when its `events:` lists the event (case-sensitive); the
//!   hooks of one event run in definition order, each after the previous finished;
//! - `command` and `args` are evaluated with `.Event.Name`, `.Environment.Name` and
//!   `.Release.Name`/`.Release.Namespace`; the command runs without a shell, in the
//!   helmfile's directory (a relative command path is relative to it too);
//! - a hook that fails (cannot start, or exits non-zero) fails what it hooks, with
//!   `hook[NAME]: command `CMD` failed`; its output is shown when `showlogs: true`, and
//!   always when it fails.
//!
//! When hfapply fires which event is in `run.rs` and `docs/migrating-from-helmfile.md`.
//! Hooks get the environment without sops key variables (as helm does, see
//! `hfkit_sops::process`, `HFKIT_CHILD_KEEP_ENV` not honoured), plus `KUBECONFIG` when
//! `--kubeconfig` names a plain file; a kubeconfig decrypted to memory is not handed to
//! hooks (they get [`NO_KUBECONFIG`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use hfkit::theme::{render, Hook, TemplateContext};
use serde::Serialize;

/// One hook that ran.
#[derive(Debug, Clone, Serialize)]
pub struct HookRun {
    /// The event.
    pub event: String,
    /// The hook's name (its command when unnamed).
    pub name: String,
    /// Exit status (`None`: killed by a signal or not started).
    pub exit: Option<i32>,
    /// Its standard output then its standard error (the last 64 KiB), kept when
    /// `showlogs` is set or it failed; empty otherwise.
    pub output: String,
}

/// Where and for what a hook runs.
#[derive(Debug, Clone)]
pub struct HookScope<'a> {
    /// The helmfile's directory.
    pub dir: &'a Path,
    /// The environment name.
    pub env: &'a str,
    /// `(name, namespace)` of the release; `None` for a file's own hooks.
    pub release: Option<(&'a str, &'a str)>,
    /// `KUBECONFIG` for the hook, when the run was given a kubeconfig file.
    pub kubeconfig: Option<&'a Path>,
}

/// Runs the hooks of `hooks` that list `event`, in order; stops at the first that
/// fails. `show` gets each output line of a `showlogs` hook (and of a failing one).
pub fn run(
    hooks: &[Hook],
    event: &str,
    scope: &HookScope<'_>,
    show: &dyn Fn(&str),
) -> Result<Vec<HookRun>, (Vec<HookRun>, String)> {
    let mut ran = Vec::new();
    // Absolute: a relative command is resolved against it here, not against the
    // child's directory.
    let dir = scope
        .dir
        .canonicalize()
        .unwrap_or_else(|_| scope.dir.to_path_buf());
    for hook in hooks.iter().filter(|h| h.events.iter().any(|e| e == event)) {
        let ctx = TemplateContext {
            env: scope.env,
            release: scope.release,
            event: Some(event),
            defer_release: false,
        };
        let eval = |text: &str| render(text, &ctx).map_err(|e| format!("hook[{}]: {e}", hook.name));
        let command = match eval(&hook.command) {
            Ok(c) => c,
            Err(e) => return Err((ran, e)),
        };
        let mut args = Vec::new();
        for a in &hook.args {
            match eval(a) {
                Ok(a) => args.push(a),
                Err(e) => return Err((ran, e)),
            }
        }
        let program = program_path(&dir, &command);
        // Every sops key variable is removed: HFKIT_CHILD_KEEP_ENV is for helm's plugins,
        // not for the repository's scripts.
        let mut cmd = hfkit_sops::process::command(&program);
        cmd.args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A kubeconfig decrypted to our own memory (`/proc/self/fd/N`) means nothing
        // in another process, and the inherited KUBECONFIG may name the encrypted file or
        // another cluster: such a hook gets a KUBECONFIG that connects nowhere, so a
        // kubectl in it fails instead of changing the wrong cluster.
        match scope.kubeconfig {
            Some(k) if k.starts_with("/proc/self/") => {
                cmd.env("KUBECONFIG", NO_KUBECONFIG);
            }
            Some(k) => {
                // The hook runs elsewhere: a relative path would not name the file.
                cmd.env(
                    "KUBECONFIG",
                    k.canonicalize().unwrap_or_else(|_| k.to_path_buf()),
                );
            }
            None => {}
        }
        let result = cmd.output();
        let (exit, output, failure) = match result {
            Ok(out) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                keep_tail(&mut text, MAX_OUTPUT);
                let failure = (!out.status.success()).then(|| {
                    format!(
                        "hook[{}]: command `{command}` failed: {}",
                        hook.name, out.status
                    )
                });
                (out.status.code(), text, failure)
            }
            Err(e) => (
                None,
                String::new(),
                Some(format!(
                    "hook[{}]: command `{command}` cannot start: {e} (it runs without a shell, from {})",
                    hook.name,
                    scope.dir.display()
                )),
            ),
        };
        if hook.showlogs || failure.is_some() {
            for line in output.lines() {
                show(&format!("hook[{event}] logs | {line}"));
            }
        }
        ran.push(HookRun {
            event: event.to_string(),
            name: hook.name.clone(),
            exit,
            // As helmfile shows it: only with showlogs, or when it failed.
            output: if hook.showlogs || failure.is_some() {
                output
            } else {
                String::new()
            },
        });
        if let Some(f) = failure {
            return Err((ran, f));
        }
    }
    Ok(ran)
}

/// The `KUBECONFIG` of a hook when the run's kubeconfig was decrypted to memory: a path
/// that does not exist, so kubectl finds no cluster rather than another one.
pub const NO_KUBECONFIG: &str = "/nonexistent/hfapply-kubeconfig-was-decrypted-in-memory";

const MAX_OUTPUT: usize = 64 << 10;

/// Keeps the last `max` bytes of `text` (at a char boundary), marking the cut.
fn keep_tail(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    *text = format!("[... {cut} bytes left out ...]\n{}", &text[cut..]);
}

/// Whether any hook of `hooks` runs on `event`.
pub fn any_for(hooks: &[Hook], event: &str) -> bool {
    hooks.iter().any(|h| h.events.iter().any(|e| e == event))
}

/// The program to start: a command with a `/` is a path relative to the helmfile's
/// directory (as Go's exec resolves it against the child's directory); a bare name is
/// looked up on PATH.
pub fn program_path(dir: &Path, command: &str) -> PathBuf {
    let p = Path::new(command);
    if command.contains('/') && p.is_relative() {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// Fingerprint material of `hooks`: every hook's events, command and args as written
/// (after the file pass), and the content of a command that is a file under `dir`.
pub fn material(hooks: &[Hook], dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for h in hooks {
        let text = format!("{:?}|{}|{:?}\n", h.events, h.command, h.args);
        out.extend_from_slice(text.as_bytes());
        // The command may still hold `{{ .Event.Name }}` and the like; a path without
        // actions is read as a file.
        if !h.command.contains("{{") {
            let path = program_path(dir, &h.command);
            if path.is_file() {
                if let Ok(bytes) = hfkit::limits::read_limited(&path, 64 << 20) {
                    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                    out.extend_from_slice(&bytes);
                }
            }
        }
    }
    out
}

/// What a release's hooks need, apart from its decrypted values: cheap to move to
/// the blocking pool.
#[derive(Debug, Clone)]
pub struct ReleaseHooks {
    /// The hooks.
    pub hooks: Vec<Hook>,
    /// The theme directory.
    pub dir: PathBuf,
    /// The environment.
    pub env: String,
    /// The release name.
    pub name: String,
    /// `namespace:` as declared (empty when unset), helmfile's `.Release.Namespace`.
    pub namespace: String,
    /// `theme/release`, the prefix of shown lines.
    pub label: String,
}

impl ReleaseHooks {
    /// The hooks of `p`.
    pub fn of(p: &crate::plan::Prepared) -> ReleaseHooks {
        ReleaseHooks {
            hooks: p.hooks.clone(),
            dir: p.theme_dir.clone(),
            env: p.env.clone(),
            name: p.name.clone(),
            namespace: p.namespace.clone().unwrap_or_default(),
            label: p.label(),
        }
    }

    /// Runs the hooks for `event` (see [`run`]); the lines shown go to `show` prefixed
    /// with the release.
    pub fn fire(
        &self,
        event: &str,
        kubeconfig: Option<&Path>,
        show: &dyn Fn(&str),
    ) -> Result<Vec<HookRun>, (Vec<HookRun>, String)> {
        if !any_for(&self.hooks, event) {
            return Ok(Vec::new());
        }
        let scope = HookScope {
            dir: &self.dir,
            env: &self.env,
            release: Some((&self.name, &self.namespace)),
            kubeconfig,
        };
        run(&self.hooks, event, &scope, &|line| {
            show(&format!("{}: {line}", self.label))
        })
    }
}

/// The theme directories `prepared` has releases in (whose file-level hooks run).
pub fn theme_dirs(prepared: &[crate::plan::Prepared]) -> std::collections::BTreeSet<PathBuf> {
    prepared.iter().map(|p| p.theme_dir.clone()).collect()
}

/// Runs the file-level `hooks:` (top of a helmfile) for `event`, once per helmfile whose
/// directory is in `dirs` (see [`theme_dirs`]), in theme order: helmfile fires
/// `prepare` for a file before its releases and `cleanup` after them. `.Release` is not
/// in scope there.
pub fn fire_file_hooks(
    planned: &crate::plan::Planned,
    dirs: &std::collections::BTreeSet<PathBuf>,
    event: &str,
    kubeconfig: Option<&Path>,
    show: &dyn Fn(&str),
) -> Result<Vec<HookRun>, String> {
    let mut ran = Vec::new();
    for theme in &planned.themes {
        if !any_for(&theme.helmfile.hooks, event) || !dirs.contains(&theme.dir) {
            continue;
        }
        let scope = HookScope {
            dir: &theme.dir,
            env: &planned.env,
            release: None,
            kubeconfig,
        };
        let file = theme.helmfile.path.display().to_string();
        match run(&theme.helmfile.hooks, event, &scope, &|line| {
            show(&format!("{file}: {line}"))
        }) {
            Ok(r) => ran.extend(r),
            Err((_, e)) => return Err(format!("{file}: {e}")),
        }
    }
    Ok(ran)
}

/// Whether `hook` is a script that applies `raw/` manifests with kubectl (the seed
/// repository's `.hook.sh`), which hfapply does natively: read as text, it mentions
/// `raw` and `kubectl apply`.
pub fn redoes_raw_manifests(hook: &Hook, dir: &Path) -> bool {
    if hook.command.contains("{{") {
        return false;
    }
    let path = program_path(dir, &hook.command);
    let Ok(bytes) = hfkit::limits::read_limited(&path, 1 << 20) else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    text.contains("/raw") && text.contains("kubectl apply")
}

/// [`ReleaseHooks::fire`] for `p` on tokio's blocking pool (a hook may run for
/// minutes); what ran is appended to `ran`, also when a hook failed.
pub async fn fire_for(
    p: &crate::plan::Prepared,
    event: &'static str,
    kubeconfig: Option<&Path>,
    show: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
    ran: &mut Vec<HookRun>,
) -> Result<(), String> {
    if !any_for(&p.hooks, event) {
        return Ok(());
    }
    let target = ReleaseHooks::of(p);
    let kubeconfig = kubeconfig.map(Path::to_path_buf);
    let result = tokio::task::spawn_blocking(move || {
        target.fire(event, kubeconfig.as_deref(), &|l| show(l))
    })
    .await
    .map_err(|e| format!("hook task: {e}"))?;
    let (r, outcome) = match result {
        Ok(r) => (r, Ok(())),
        Err((r, e)) => (r, Err(e)),
    };
    ran.extend(r);
    outcome
}
