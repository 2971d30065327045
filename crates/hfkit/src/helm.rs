//! Running the real helm with a values stack.
//!
//! The merged values go to helm on its standard input (`--values -`, which helm 3 and
//! helm 4 both read), so decrypted secrets never touch the disk and never appear on a
//! command line.
//!
//! Every helm starts without the sops key variables (see [`hfkit_sops::process`]; the
//! `HFKIT_CHILD_KEEP_ENV` opt-in keeps named ones for plugins that need them), and a
//! helm that is given values never runs in debug mode: `--debug` and `HELM_DEBUG` make
//! `helm upgrade`/`install` print USER-SUPPLIED and COMPUTED VALUES, decrypted secrets
//! included. Callers print the layers and the redacted values instead.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Arc;

use hfkit_sops::process::SealedMemory;
use zeroize::Zeroizing;

/// Failures to run helm (not helm's own non-zero exits, which callers see as statuses).
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// No helm binary could be found.
    #[error("helm not found: set HELM_BIN or put `helm` on PATH (helm sets HELM_BIN for plugins)")]
    NotFound,
    /// helm could not be started.
    #[error("cannot run {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Feeding values to helm or reading its output failed.
    #[error("talking to {bin}: {source}")]
    Io {
        /// The binary.
        bin: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// helm exited non-zero where its output was needed.
    #[error("`helm {args}` failed ({status}): {stderr}")]
    Failed {
        /// The helm arguments (never values).
        args: String,
        /// The exit status.
        status: ExitStatus,
        /// helm's standard error, trimmed.
        stderr: String,
    },
}

/// A helm binary.
#[derive(Debug, Clone)]
pub struct Helm {
    bin: PathBuf,
    /// Start each helm in its own process group (see [`Helm::in_own_process_group`]).
    own_group: bool,
    /// Memory files every helm inherits (see [`Helm::passing`]); no other child does.
    memory: Vec<Arc<SealedMemory>>,
}

impl Helm {
    /// The helm that runs us: `$HELM_BIN` (helm sets it for plugins), else `helm` on PATH.
    pub fn from_env() -> Result<Helm, HelmError> {
        if let Some(bin) = std::env::var_os("HELM_BIN").filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(bin);
            // HELM_BIN may be a bare name; resolve it like a shell would.
            let resolved = if bin.components().count() == 1 {
                which::which(&bin).unwrap_or(bin)
            } else {
                bin
            };
            return Ok(Helm::at(resolved));
        }
        which::which("helm")
            .map(Helm::at)
            .map_err(|_| HelmError::NotFound)
    }

    /// A specific helm binary.
    pub fn at(bin: impl Into<PathBuf>) -> Helm {
        Helm {
            bin: bin.into(),
            own_group: false,
            memory: Vec::new(),
        }
    }

    /// Starts every helm in its own process group, so that a Ctrl-C sent to ours (the
    /// terminal's process group) does not kill a helm in the middle of writing a
    /// release: the caller decides when to stop.
    pub fn in_own_process_group(mut self) -> Helm {
        self.own_group = true;
        self
    }

    /// Hands `memory` (a decrypted kubeconfig, say) to every helm this runs, at the
    /// same descriptor number, so that its `/proc/self/fd/N` path works there; it is
    /// close-on-exec for every other child.
    pub fn passing(mut self, memory: Arc<SealedMemory>) -> Helm {
        self.memory.push(memory);
        self
    }

    /// The binary's path.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// A command for this helm; the environment (HELM_NAMESPACE, HELM_KUBECONTEXT,
    /// KUBECONFIG, HELM_DEBUG, ...) is inherited, which is how helm passes its global
    /// flags to plugins, except the sops key variables
    /// ([`hfkit_sops::process::KEY_VARIABLES`], unless kept by
    /// [`hfkit_sops::process::KEEP_ENV_VARIABLE`]).
    pub fn command(&self) -> Command {
        let mut cmd = hfkit_sops::process::command_with_opt_in(&self.bin);
        for memory in &self.memory {
            pass_memory(&mut cmd, Arc::clone(memory));
        }
        #[cfg(unix)]
        if self.own_group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        cmd
    }

    /// A command for a helm that reads values: never in debug mode (see the module
    /// docs), whatever the environment or `args` say.
    fn values_command(&self, args: &[OsString]) -> Command {
        let mut cmd = self.command();
        cmd.env_remove("HELM_DEBUG").args(without_debug(args));
        cmd
    }

    /// Runs `helm ARGS` with `values` on standard input; `args` must contain `-f -`
    /// (see [`with_stdin_values`]). Output goes to our own stdout and stderr. helm
    /// runs without `--debug` (see the module docs).
    pub fn run_with_values(
        &self,
        args: &[OsString],
        values: &str,
    ) -> Result<ExitStatus, HelmError> {
        let mut cmd = self.values_command(args);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| self.spawn_error(source))?;
        let writer = feed(child.stdin.take(), Zeroizing::new(values.to_string()));
        let status = child.wait().map_err(|source| self.io_error(source))?;
        finish_feed(writer, status).map_err(|source| self.io_error(source))?;
        Ok(status)
    }

    /// Runs `helm ARGS` with optional `values` on standard input and captures its
    /// output; a non-zero exit is [`HelmError::Failed`]. With values, helm runs
    /// without `--debug` (see the module docs).
    pub fn output(&self, args: &[OsString], values: Option<&str>) -> Result<Output, HelmError> {
        let mut cmd = match values {
            Some(_) => self.values_command(args),
            None => {
                let mut cmd = self.command();
                cmd.args(args);
                cmd
            }
        };
        cmd.stdin(if values.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| self.spawn_error(source))?;
        let writer = values.map(|v| feed(child.stdin.take(), Zeroizing::new(v.to_string())));
        let out = child
            .wait_with_output()
            .map_err(|source| self.io_error(source))?;
        if let Some(w) = writer {
            finish_feed(w, out.status).map_err(|source| self.io_error(source))?;
        }
        if !out.status.success() {
            return Err(HelmError::Failed {
                args: shown_args(args),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// helm's major version (3 or 4), from `helm version --template`.
    pub fn major_version(&self) -> Result<u32, HelmError> {
        let out = self.output(
            &["version".into(), "--template".into(), "{{.Version}}".into()],
            None,
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(3))
    }

    fn spawn_error(&self, source: std::io::Error) -> HelmError {
        HelmError::Spawn {
            bin: self.bin.display().to_string(),
            source,
        }
    }

    fn io_error(&self, source: std::io::Error) -> HelmError {
        HelmError::Io {
            bin: self.bin.display().to_string(),
            source,
        }
    }
}

/// `helm repo add NAME URL --force-update`: registers (or refreshes) a chart repository,
/// as helmfile does before rendering.
pub fn repo_add_args(name: &str, url: &str) -> Vec<OsString> {
    ["repo", "add", name, url, "--force-update"]
        .iter()
        .map(OsString::from)
        .collect()
}

/// Builds `helm SUBCOMMAND POSITIONALS... --values - EXTRA...`: our stack comes first so
/// that `-f`/`--set` flags the user adds still override it, as with plain helm.
pub fn with_stdin_values<I, S>(subcommand: &[&str], positionals: &[&str], extra: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut args: Vec<OsString> = subcommand.iter().map(OsString::from).collect();
    args.extend(positionals.iter().map(OsString::from));
    args.push("--values".into());
    args.push("-".into());
    args.extend(extra.into_iter().map(|s| s.as_ref().to_os_string()));
    args
}

/// Whether user arguments already read values from standard input (`-f -`,
/// `--values=-`, ...), which would collide with ours.
pub fn reads_stdin_values(args: &[String]) -> bool {
    let mut prev_is_values_flag = false;
    for a in args {
        if prev_is_values_flag && a == "-" {
            return true;
        }
        if a == "--values=-" || a == "-f=-" || a == "-f-" {
            return true;
        }
        prev_is_values_flag = a == "-f" || a == "--values";
    }
    false
}

/// `args` without helm's `--debug` flag (`--debug`, `--debug=true`, ...).
pub fn without_debug(args: &[OsString]) -> Vec<OsString> {
    args.iter()
        .filter(|a| {
            let a = a.to_string_lossy();
            a != "--debug" && !a.starts_with("--debug=")
        })
        .cloned()
        .collect()
}

/// Whether `HELM_DEBUG` asks for debug output, as helm parses it (Go's `ParseBool`).
pub fn debug_from_env() -> bool {
    std::env::var("HELM_DEBUG").is_ok_and(|v| hfkit_sops::tree::go_parse_bool(&v) == Some(true))
}

/// Whether `args` ask helm for `--debug` (any value but false).
pub fn asks_debug(args: &[String]) -> bool {
    args.iter().any(|a| {
        a == "--debug"
            || a.strip_prefix("--debug=")
                .is_some_and(|v| hfkit_sops::tree::go_parse_bool(v) != Some(false))
    })
}

fn shown_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lets the child of `cmd` (and no other) inherit `memory`'s descriptor, at the same
/// number, by clearing close-on-exec between fork and exec; children spawned at the
/// same time from other threads never see it. `cmd` owns a reference, so the
/// descriptor stays open (and its number ours) until `cmd` is dropped.
fn pass_memory(cmd: &mut Command, memory: Arc<SealedMemory>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec; it makes one fcntl
    // system call (async-signal-safe), allocates nothing and takes no lock. The
    // descriptor is open in the parent for as long as `cmd` (which owns `memory`)
    // lives, so the child has a copy of it under the same number.
    unsafe {
        cmd.pre_exec(move || {
            rustix::io::fcntl_setfd(&*memory, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
}

type Feeder = std::thread::JoinHandle<std::io::Result<()>>;

/// Writes `data` to the child's stdin on a thread, so a large stack cannot deadlock
/// against a child that fills its stdout pipe before reading stdin. The copy is wiped
/// once written.
fn feed(stdin: Option<std::process::ChildStdin>, data: Zeroizing<String>) -> Feeder {
    std::thread::spawn(move || {
        let Some(mut stdin) = stdin else {
            return Ok(());
        };
        stdin.write_all(data.as_bytes())?;
        drop(stdin);
        Ok(())
    })
}

/// A child that failed early may not read its input: a broken pipe then is no error of
/// ours, the child's own status tells what happened.
fn finish_feed(writer: Feeder, status: ExitStatus) -> std::io::Result<()> {
    match writer.join().unwrap_or(Ok(())) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && !status.success() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory reaches the helm it is passed to (here `sh`, standing in for the
    /// binary), under its path, and no other child; also after every other owner is
    /// gone.
    #[test]
    fn passed_memory_reaches_only_that_helm() {
        let mem = Arc::new(SealedMemory::new("hfkit-helm-test", b"kube: config\n").unwrap());
        let script = format!("cat {} 2>/dev/null || echo absent", mem.path().display());
        let run = |cmd: &mut Command| {
            let out = cmd.arg("-c").arg(&script).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let helm = Helm::at("sh").passing(Arc::clone(&mem));
        assert_eq!(run(&mut helm.command()), "kube: config\n");
        assert_eq!(run(&mut Helm::at("sh").command()), "absent\n");
        assert_eq!(run(&mut hfkit_sops::process::command("sh")), "absent\n");
        let mut late = helm.command();
        drop(helm);
        drop(mem);
        assert_eq!(run(&mut late), "kube: config\n");
    }

    #[test]
    fn debug_is_dropped_from_values_commands() {
        let args: Vec<OsString> = ["upgrade", "--debug", "x", "--debug=true", "--values", "-"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(without_debug(&args), ["upgrade", "x", "--values", "-"]);
        assert!(asks_debug(&["--debug".into()]));
        assert!(!asks_debug(&["--debug=false".into()]));
    }
}
