//! `helm layered`: helm with a hiera-like stack of values files per release and
//! environment, sops-encrypted layers decrypted in memory.

mod args;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hfkit::diff::{diff_manifests, render_text};
use hfkit::helm::{asks_debug, reads_stdin_values, with_stdin_values, Helm, HelmError};
use hfkit::secrets::SopsDecryptor;
use hfkit::values::{explain, KeyPath, LayerConfig, LayerRequest, MergedValues, Stack};
use zeroize::Zeroizing;

const AFTER_HELP: &str = "\
Layers, lowest precedence first (relative to --dir; replace them with a .helm-layered.yaml):
  values/common.yaml, values/<env>.yaml, values/<release>/common.yaml,
  values/<release>/<env>.yaml, values/<release>/common.secrets.yaml,
  values/<release>/<env>.secrets.yaml
Missing layers are skipped. Flags this plugin does not own go to helm unchanged.

Examples:
  helm layered values plex --env production
  helm layered explain plex ingress.hosts --env production
  helm layered template plex ./charts/plex --env production
  helm layered upgrade plex bitnami/plex --env production --version 1.2.3 -n media --create-namespace
  helm layered diff plex bitnami/plex --env production --detailed-exitcode";

/// helm with layered, sops-aware values files.
#[derive(Parser, Debug)]
#[command(name = "helm layered", bin_name = "helm layered", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// What selects and shapes the stack; shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
struct StackArgs {
    /// Environment whose layers to use.
    #[arg(long, env = "HELM_LAYERED_ENV", default_value = "default")]
    env: String,
    /// Theme directory the layer patterns are relative to.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Layer configuration file (default: .helm-layered.yaml in --dir or a parent).
    #[arg(long, value_name = "FILE")]
    layers_config: Option<PathBuf>,
    /// Print the layers, where each came from, and the merged values with secrets
    /// redacted on stderr (also on with HELM_DEBUG or a helm `--debug`). helm itself
    /// never gets --debug: it would print the values decrypted.
    #[arg(long)]
    debug: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the merged values of a release (secrets redacted unless --show-secrets).
    #[command(after_help = "Example:\n  helm layered values plex --env production")]
    Values {
        /// Release name.
        release: String,
        #[command(flatten)]
        stack: StackArgs,
        /// Print decrypted secret values instead of `(redacted)`.
        #[arg(long)]
        show_secrets: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
    },
    /// Tell which file and line set each key, and which layers were missing.
    #[command(after_help = "Example:\n  helm layered explain plex ingress.hosts --env production")]
    Explain {
        /// Release name.
        release: String,
        /// Only keys under this dotted path (`ingress.hosts`, `annotations["a.b/c"]`).
        key: Option<String>,
        #[command(flatten)]
        stack: StackArgs,
        /// Print decrypted secret values instead of `(redacted)`.
        #[arg(long)]
        show_secrets: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ExplainFormat::Text)]
        output: ExplainFormat,
    },
    /// `helm template` with the stack.
    #[command(
        after_help = "Example:\n  helm layered template plex ./charts/plex --env production --namespace media"
    )]
    Template(HelmRun),
    /// `helm upgrade --install` with the stack.
    #[command(
        after_help = "Example:\n  helm layered upgrade plex bitnami/plex --env production --version 1.2.3 -n media --create-namespace"
    )]
    Upgrade(HelmRun),
    /// What an upgrade would change in the deployed release, object by object
    /// (Secret values redacted). No helm-diff plugin needed.
    #[command(
        after_help = "Example:\n  helm layered diff plex bitnami/plex --env production -n media --detailed-exitcode\n\nExit codes: 0 no changes (or changes without --detailed-exitcode), 1 error, 2 changes with --detailed-exitcode."
    )]
    Diff {
        #[command(flatten)]
        run: HelmRun,
        /// Exit 2 when there are changes (helm-diff's convention).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Lines of context around each change.
        #[arg(long, default_value_t = 3)]
        context: usize,
        /// Colour: auto (when stdout is a terminal and NO_COLOR is unset), always, never.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// Print a shell completion script for the helm-layered binary.
    #[command(after_help = "Example:\n  source <(helm-layered completion bash)")]
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: hfkit_cli::Shell,
    },
}

/// A release, its chart, the stack, and what else goes to helm.
#[derive(clap::Args, Debug)]
struct HelmRun {
    /// Release name.
    release: String,
    /// Chart reference (path, repo/chart or oci:// URL).
    chart: String,
    #[command(flatten)]
    stack: StackArgs,
    /// Flags for helm (any flag not listed here also goes to helm).
    #[arg(last = true, value_name = "HELM_FLAGS")]
    helm_args: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Yaml,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ExplainFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    // helm gets Ctrl-C from the terminal too; we wait for it to finish and report its
    // status rather than dying first. Nothing of ours is on disk to clean up: values
    // go to helm through a pipe.
    let _ = ctrlc::set_handler(|| {});
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse_from(args::split(&Cli::command(), argv));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Values {
            release,
            stack,
            show_secrets,
            output,
        } => {
            let merged = load(&release, &stack, None, false)?;
            match output {
                Format::Yaml => print!("{}", merged.to_yaml(show_secrets)),
                Format::Json => println!("{}", values_json(&merged, show_secrets)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain {
            release,
            key,
            stack,
            show_secrets,
            output,
        } => {
            let merged = load(&release, &stack, None, false)?;
            let filter = key.as_deref().map(KeyPath::parse);
            let explanation = explain(&merged, filter.as_ref(), show_secrets);
            match output {
                ExplainFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&explanation)?)
                }
                ExplainFormat::Text => print_explanation(&explanation, filter.as_ref()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Completion { shell } => {
            let script = hfkit_cli::completion_script(&mut Cli::command(), shell, "helm-layered");
            print!("{script}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Template(run) => helm_with_stack(&["template"], &run),
        Cmd::Upgrade(run) => helm_with_stack(&["upgrade", "--install"], &run),
        Cmd::Diff {
            run:
                HelmRun {
                    release,
                    chart,
                    stack,
                    helm_args,
                },
            detailed_exitcode,
            context,
            color,
        } => {
            let merged = load(
                &release,
                &stack,
                namespace_of(&helm_args),
                asks_debug(&helm_args),
            )?;
            refuse_stdin_values(&helm_args)?;
            let helm = Helm::from_env()?;
            let deployed = deployed_manifest(&helm, &release, &helm_args)?;
            let mut template_args = helm_args.clone();
            if deployed.is_some() {
                template_args.push("--is-upgrade".into());
            }
            let args = with_stdin_values(&["template"], &[&release, &chart], &template_args);
            let values = Zeroizing::new(merged.to_yaml(true));
            let rendered = helm.output(&args, Some(&values))?;
            let new = String::from_utf8_lossy(&rendered.stdout);
            let diffs = diff_manifests(deployed.as_deref().unwrap_or(""), &new, context)
                .context("reading the rendered manifests")?;
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            if deployed.is_none() {
                eprintln!("release `{release}` is not deployed: every object is new");
            }
            print!("{}", render_text(&diffs, color));
            Ok(if detailed_exitcode && !diffs.is_empty() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Builds and loads the stack of `release` as the flags say; `helm_debug` when the
/// flags for helm asked for `--debug`.
fn load(
    release: &str,
    stack: &StackArgs,
    namespace: Option<String>,
    helm_debug: bool,
) -> Result<MergedValues> {
    let config = match &stack.layers_config {
        Some(path) => LayerConfig::from_file(path)?,
        None => LayerConfig::discover(&stack.dir)?,
    };
    let request = LayerRequest {
        release: release.to_string(),
        env: stack.env.clone(),
        namespace: namespace.or_else(|| std::env::var("HELM_NAMESPACE").ok()),
    };
    let resolved = Stack::resolve(&stack.dir, &config, &request)?;
    let merged = resolved.load(&SopsDecryptor::from_env())?;
    let debug = stack.debug || helm_debug || hfkit::helm::debug_from_env();
    if debug {
        let source = config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in default patterns".into());
        eprintln!("layers for {release} in {} ({source}):", stack.env);
        for layer in &merged.layers {
            let state = if layer.exists {
                "read"
            } else {
                "missing, skipped"
            };
            eprintln!("  {} [{:?}, {state}]", layer.display, layer.kind);
        }
        // What helm --debug would print as USER-SUPPLIED VALUES, without the secrets.
        eprintln!("merged values for {release} (secrets redacted):");
        for line in merged.to_yaml(false).lines() {
            eprintln!("  {line}");
        }
    }
    for warning in &merged.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(merged)
}

fn refuse_stdin_values(helm_args: &[String]) -> Result<()> {
    if reads_stdin_values(helm_args) {
        bail!("`-f -` is taken: helm layered sends the merged stack on standard input; pass your extra values as a file");
    }
    Ok(())
}

fn helm_with_stack(subcommand: &[&str], run: &HelmRun) -> Result<ExitCode> {
    refuse_stdin_values(&run.helm_args)?;
    let merged = load(
        &run.release,
        &run.stack,
        namespace_of(&run.helm_args),
        asks_debug(&run.helm_args),
    )?;
    let helm = Helm::from_env()?;
    let args = with_stdin_values(subcommand, &[&run.release, &run.chart], &run.helm_args);
    let values = Zeroizing::new(merged.to_yaml(true));
    let status = helm.run_with_values(&args, &values)?;
    Ok(exit_code_of(status))
}

/// helm's exit status as ours (a signal death as 128 + signal, like a shell).
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitCode::from((128 + sig).clamp(0, 255) as u8);
        }
    }
    ExitCode::from(1)
}

/// The namespace given to helm as `-n NS`, `--namespace NS` or `--namespace=NS`.
fn namespace_of(helm_args: &[String]) -> Option<String> {
    let mut it = helm_args.iter();
    while let Some(a) = it.next() {
        if a == "-n" || a == "--namespace" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--namespace=").or(a.strip_prefix("-n=")) {
            return Some(v.to_string());
        }
    }
    None
}

/// helm's global flags (connection and namespace) among `helm_args`, for the
/// `helm get manifest` that reads the deployed release.
fn connection_flags(helm_args: &[String]) -> Vec<OsString> {
    const WITH_VALUE: [&str; 11] = [
        "-n",
        "--namespace",
        "--kube-context",
        "--kubeconfig",
        "--kube-apiserver",
        "--kube-token",
        "--kube-as-user",
        "--kube-as-group",
        "--kube-ca-file",
        "--kube-tls-server-name",
        "--registry-config",
    ];
    let mut out = Vec::new();
    let mut it = helm_args.iter();
    while let Some(a) = it.next() {
        let name = a.split_once('=').map(|(n, _)| n).unwrap_or(a);
        if WITH_VALUE.contains(&name) {
            out.push(a.into());
            if !a.contains('=') {
                if let Some(v) = it.next() {
                    out.push(v.into());
                }
            }
        } else if name == "--kube-insecure-skip-tls-verify" {
            out.push(a.into());
        }
    }
    out
}

/// The deployed release's manifest, or `None` when the release does not exist.
fn deployed_manifest(helm: &Helm, release: &str, helm_args: &[String]) -> Result<Option<String>> {
    let mut args: Vec<OsString> = vec!["get".into(), "manifest".into(), release.into()];
    args.extend(connection_flags(helm_args));
    match helm.output(&args, None) {
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
        Err(HelmError::Failed { stderr, .. }) if stderr.contains("not found") => Ok(None),
        Err(e) => Err(e).context("reading the deployed release (is the cluster reachable?)"),
    }
}

fn values_json(merged: &MergedValues, show_secrets: bool) -> Result<String> {
    // helm's reader types the YAML; reading our own output back keeps one definition.
    let yaml = merged.to_yaml(show_secrets);
    let tree = hfkit::values::parse_values(&yaml, 0)?;
    Ok(serde_json::to_string_pretty(&hfkit::values::to_json(
        &tree,
    ))?)
}

fn print_explanation(e: &hfkit::values::Explanation, filter: Option<&KeyPath>) {
    if e.keys.is_empty() {
        match filter {
            Some(f) => println!("no key under `{f}` is set by any layer"),
            None => println!("no key is set by any layer"),
        }
    }
    for k in &e.keys {
        print!("{} = {}    # {}:{}", k.key, k.value, k.file, k.line);
        if !k.overrides.is_empty() {
            print!(" (overrides {})", k.overrides.join(", "));
        }
        println!();
    }
    println!();
    println!(
        "layers read: {}",
        if e.present.is_empty() {
            "none".to_string()
        } else {
            e.present.join(", ")
        }
    );
    if !e.missing.is_empty() {
        println!("layers missing (skipped): {}", e.missing.join(", "));
    }
}
