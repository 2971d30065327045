//! `kubectl hfapply`: applies the themes of a helmfile-shaped repository release by
//! release, in `needs:` order, without helmfile, helm-diff or sops. The logic lives in
//! the `hfkit-apply` library; this binary parses flags and prints.

mod chart_upgrade;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use hfkit_apply::plan::{self, Target};
use hfkit_apply::report::{self, Format};
use hfkit_apply::run::{apply_all, RunOptions};

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 a failure (bad input, cluster error, or any release failed),
2 changes found by `diff --detailed-exitcode`.

Examples:
  kubectl hfapply media --env production
  kubectl hfapply --all --env production -l tier=backend --include-needs
  kubectl hfapply diff media --env production --detailed-exitcode -o markdown";

/// Apply the themes of a helmfile-shaped repository, release by release.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl hfapply",
    bin_name = "kubectl hfapply",
    version,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    apply: ApplyArgs,
}

/// The subcommands; applying is the default (no subcommand).
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Apply (the default when no subcommand is given).
    #[command(
        after_help = "Examples:\n  kubectl hfapply apply media --env production\n  \
        kubectl hfapply apply --all --env production --changed-since origin/main -o markdown"
    )]
    Apply(ApplyArgs),
    /// What an apply would change, release by release (Secret values redacted).
    #[command(
        after_help = "Exit codes: 0 no changes (or changes without --detailed-exitcode), 1 error, 2 changes with --detailed-exitcode.\n\nExample:\n  kubectl hfapply diff media --env production --detailed-exitcode"
    )]
    Diff(DiffArgs),
    /// Per release: deployed revision, last apply, in sync with the repository or not
    /// (by fingerprint; runs no helm).
    #[command(
        after_help = "Examples:\n  kubectl hfapply status --all --env production\n  \
        kubectl hfapply status media -o json"
    )]
    Status(StatusArgs),
    /// Checks without a cluster: needs problems, hostPath volumes, stateful workloads
    /// without persistent volume claims (renders each chart with `helm template`).
    #[command(
        after_help = "Exit codes: 0 no problems, 1 problems found or error.\n\nExamples:\n  kubectl hfapply lint --all\n  kubectl hfapply lint media --env production"
    )]
    Lint(StatusArgs),
    /// Set one release's chart version in its helmfile.yaml (`--version X` or `--latest`).
    Upgrade(chart_upgrade::UpgradeArgs),
    /// Move releases to their newest stable chart versions (edits helmfile.yaml files in
    /// place, keeping their formatting; never commits).
    Autoupgrade(chart_upgrade::AutoupgradeArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(kubectl-hfapply completion bash)\n  \
        kubectl-hfapply completion zsh > \"${fpath[1]}/_kubectl-hfapply\"\n\n\
        `kubectl hfapply <TAB>` completes through krew's kubectl_complete-hfapply helper."
    )]
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: hfkit_cli::Shell,
    },
    /// kubectl's plugin completion protocol (run by kubectl_complete-hfapply).
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The words after `kubectl hfapply`, the last one being completed.
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        words: Vec<String>,
    },
}

#[derive(Args, Debug, Clone)]
struct StatusArgs {
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug, Clone)]
struct DiffArgs {
    #[command(flatten)]
    select: Select,
    /// Exit 2 when there are changes.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Lines of context around each change (`--context` is the kube context).
    #[arg(long, short = 'U', default_value_t = 3)]
    unified: usize,
    /// Releases diffed at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Show raw objects of these protected kinds leaving a release's raw manifests as
    /// deletions, as an apply with the same flag deletes them.
    #[arg(long = "allow-prune-kind", value_delimiter = ',', value_name = "KIND")]
    allow_prune_kind: Vec<hfkit_kube::ProtectedKind>,
}

/// Which releases, where.
#[derive(Args, Debug, Clone)]
struct Select {
    /// Themes to apply (`media`, or a theme directory such as `helmfiles/media`).
    #[arg(value_name = "THEME")]
    themes: Vec<String>,
    /// Every theme of the repository.
    #[arg(long)]
    all: bool,
    /// Environment.
    #[arg(long, short = 'e', env = "HFAPPLY_ENV", default_value = "default")]
    env: String,
    /// helmfile label selector (`tier=db,name!=cache`); repeat for OR.
    #[arg(long = "selector", short = 'l', value_name = "SELECTOR")]
    selectors: Vec<String>,
    /// Also apply what the selected releases need.
    #[arg(long)]
    include_needs: bool,
    /// Only releases whose files changed since this git revision.
    #[arg(long, value_name = "REF")]
    changed_since: Option<String>,
    /// Repository root (the directory of the master helmfile.yaml).
    #[arg(long, short = 'C', default_value = ".")]
    dir: PathBuf,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config); a sops-encrypted one
    /// (`kubeconfig.sops.yaml`, or `kubeconfig` in sops's binary store; also as the one
    /// file of $KUBECONFIG) or a PGP one (`.gpg`, `.asc`) is decrypted in memory.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kube context.
    #[arg(long)]
    context: Option<String>,
    /// Namespace of hfapply's state (records, fingerprint key, lock).
    #[arg(long, default_value = hfkit_apply::cluster::STATE_NAMESPACE)]
    state_namespace: String,
    /// Output format of the final report.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Which of the missing `values:`/`secrets:` files skipped under
    /// `missingFileHandler: Warn|Info|Debug` are printed, as helmfile's --log-level.
    #[arg(long, value_enum, env = "HFAPPLY_LOG_LEVEL", default_value_t = LogLevel::Info)]
    log_level: LogLevel,
}

/// helmfile's log levels, for the lines of `missingFileHandler`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LogLevel {
    /// Errors only.
    Error,
    /// Also `missingFileHandler: Warn` lines.
    Warn,
    /// Also `Info` lines (the default, as helmfile's).
    Info,
    /// Also `Debug` lines.
    Debug,
}

impl LogLevel {
    /// Whether a line of `missingFileHandler` `handler` is shown at this level.
    fn shows(self, handler: hfkit::theme::MissingFileHandler) -> bool {
        use hfkit::theme::MissingFileHandler as H;
        let needed = match handler {
            H::Error => LogLevel::Error,
            H::Warn => LogLevel::Warn,
            H::Info => LogLevel::Info,
            H::Debug => LogLevel::Debug,
        };
        needed <= self
    }
}

#[derive(Args, Debug, Clone)]
struct ApplyArgs {
    #[command(flatten)]
    select: Select,
    /// Releases applied at once within a wave.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// `server`: the API server validates everything, nothing is changed or recorded.
    #[arg(long, value_name = "MODE", value_parser = ["server"])]
    dry_run: Option<String>,
    /// Apply releases even when their fingerprint is unchanged.
    #[arg(long)]
    force: bool,
    /// Start no release after a failure.
    #[arg(long)]
    fail_fast: bool,
    /// A helm release left pending-install/-upgrade/-rollback by an interrupted helm is
    /// rolled back (a first install: uninstalled) before its upgrade; without this flag
    /// such a release fails, naming its status and age.
    #[arg(long)]
    recover_pending: bool,
    /// How long to wait for another apply's cluster lock (`90s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    lock_timeout: Duration,
    /// Let pruning of raw manifests delete objects of these protected kinds (Namespace,
    /// CustomResourceDefinition, PersistentVolume; comma separated or repeated). Without
    /// it they are kept when they leave a release's raw manifests, and reported.
    #[arg(long = "allow-prune-kind", value_delimiter = ',', value_name = "KIND")]
    allow_prune_kind: Vec<hfkit_kube::ProtectedKind>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Output {
    Text,
    Json,
    Markdown,
}

impl From<Output> for Format {
    fn from(o: Output) -> Format {
        match o {
            Output::Text => Format::Text,
            Output::Json => Format::Json,
            Output::Markdown => Format::Markdown,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected 30s, 5m or 1h"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{s}`: expected 30s, 5m or 1h")),
    };
    Ok(Duration::from_secs(n * mult))
}

/// Set by the first Ctrl-C: no further release starts.
static INTERRUPTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    // The first Ctrl-C starts no further release: helm runs in its own process group
    // and finishes what it started, and the report says what changed. A second one
    // exits at once (the next run converges from wherever this one stopped).
    let flag = INTERRUPTED
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupted: finishing the releases under way, starting no others (Ctrl-C again to exit now)");
    });
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if cli.command.is_none() {
        // `kubectl hfapply -C repo diff --all` parses as an apply of a theme named
        // `diff` (flags before a subcommand belong to the default apply): refuse rather
        // than apply when a diff was meant.
        let sub = Cli::command();
        if let Some(name) = cli
            .apply
            .select
            .themes
            .iter()
            .find(|t| sub.find_subcommand(t.as_str()).is_some())
        {
            eprintln!(
                "Error: `{name}` is a subcommand, but it came after flags of the default apply: \
                 put it first (`kubectl hfapply {name} -C DIR ...`); a theme with that name \
                 can be given as its directory (`helmfiles/{name}`)"
            );
            return ExitCode::from(1);
        }
    }
    let command = cli.command.unwrap_or(Cmd::Apply(cli.apply));
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn target(s: &Select) -> Target {
    Target {
        root: s.dir.clone(),
        env: s.env.clone(),
        themes: s.themes.clone(),
        all: s.all,
        selectors: s.selectors.clone(),
        include_needs: s.include_needs,
        changed_since: s.changed_since.clone(),
    }
}

/// The connection flags; an encrypted `--kubeconfig` is decrypted into memory, which
/// lives as long as the returned value.
fn kube_options(s: &Select) -> Result<hfkit_apply::kubeconfig::Access> {
    Ok(hfkit_apply::kubeconfig::open(hfkit_kube::KubeOptions {
        kubeconfig: s.kubeconfig.clone(),
        context: s.context.clone(),
        namespace: None,
    })?)
}

async fn run(command: Cmd) -> Result<ExitCode> {
    match command {
        Cmd::Apply(a) => apply(a).await,
        Cmd::Diff(d) => diff(d).await,
        Cmd::Status(s) => status(s).await,
        Cmd::Lint(s) => lint(s),
        Cmd::Upgrade(a) => chart_upgrade::run_upgrade(&a),
        Cmd::Autoupgrade(a) => chart_upgrade::run_autoupgrade(&a),
        Cmd::Completion { shell } => {
            let script =
                hfkit_cli::completion_script(&mut Cli::command(), shell, "kubectl-hfapply");
            print!("{script}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Complete { words } => {
            print!("{}", hfkit_cli::cobra_complete(&Cli::command(), &words));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(select: &Select) -> Result<(plan::Planned, Vec<plan::Prepared>)> {
    let planned = plan::load(&target(select))?;
    for w in &planned.warnings {
        eprintln!("warning: {w}");
    }
    let prepared = plan::prepare(&planned)?;
    for p in &prepared {
        for f in p
            .skipped_files
            .iter()
            .filter(|f| select.log_level.shows(f.level))
        {
            let level = match f.level {
                hfkit::theme::MissingFileHandler::Warn => "warning",
                hfkit::theme::MissingFileHandler::Info => "info",
                _ => "debug",
            };
            eprintln!("{level}: {}: {}", p.label(), f.message);
        }
    }
    Ok((planned, prepared))
}

async fn status(s: StatusArgs) -> Result<ExitCode> {
    let (planned, prepared) = load(&s.select)?;
    let access = kube_options(&s.select)?;
    let statuses = hfkit_apply::status::status_all(
        &planned,
        &prepared,
        &access.kube,
        &s.select.state_namespace,
    )
    .await?;
    match s.select.output {
        Output::Json => println!("{}", hfkit_apply::status::json(&statuses)),
        Output::Text => print!("{}", hfkit_apply::status::text(&statuses)),
        Output::Markdown => print!("{}", hfkit_apply::status::markdown(&statuses)),
    }
    Ok(ExitCode::SUCCESS)
}

fn lint(s: StatusArgs) -> Result<ExitCode> {
    let (planned, prepared) = load(&s.select)?;
    let findings = hfkit_apply::lint::lint(&planned, &prepared, &hfkit::helm::Helm::from_env()?);
    match s.select.output {
        Output::Json => println!("{}", hfkit_apply::lint::json(&findings)),
        Output::Text | Output::Markdown => print!("{}", hfkit_apply::lint::text(&findings)),
    }
    Ok(
        if !findings.iter().any(hfkit_apply::lint::Finding::is_error) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

async fn diff(d: DiffArgs) -> Result<ExitCode> {
    let (planned, prepared) = load(&d.select)?;
    let access = kube_options(&d.select)?;
    let opts = hfkit_apply::diff::DiffOptions {
        kube: access.kube.clone(),
        helm: access.helm(hfkit::helm::Helm::from_env()?),
        state_namespace: d.select.state_namespace.clone(),
        context: d.unified,
        concurrency: d.concurrency,
        allow_prune: d.allow_prune_kind.iter().copied().collect(),
    };
    let report = hfkit_apply::diff::diff_all(&planned, prepared, &opts).await?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match d.select.output {
        Output::Text => print!("{}", hfkit_apply::diff::text(&report, color)),
        Output::Json => println!("{}", hfkit_apply::diff::json(&report)),
        Output::Markdown => print!("{}", hfkit_apply::diff::markdown(&report)),
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else if d.detailed_exitcode && report.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn apply(a: ApplyArgs) -> Result<ExitCode> {
    let (planned, prepared) = load(&a.select)?;
    let helm = hfkit::helm::Helm::from_env()?;
    let access = kube_options(&a.select)?;
    let mut opts = RunOptions::new(access.kube.clone(), access.helm(helm));
    opts.concurrency = a.concurrency;
    opts.dry_run = a.dry_run.is_some();
    opts.force = a.force;
    opts.fail_fast = a.fail_fast;
    opts.recover_pending = a.recover_pending;
    opts.lock_timeout = a.lock_timeout;
    opts.allow_prune = a.allow_prune_kind.iter().copied().collect();
    opts.state_namespace = a.select.state_namespace.clone();
    opts.progress = Arc::new(|line| eprintln!("{line}"));
    if let Some(flag) = INTERRUPTED.get() {
        opts.interrupted = flag.clone();
    }
    let report = apply_all(&planned, prepared, &opts)
        .await
        .context("apply")?;
    print!("{}", report::render(&report, a.select.output.into()));
    let interrupted = INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst));
    Ok(if report.failed() || interrupted {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5x").is_err());
    }
}
