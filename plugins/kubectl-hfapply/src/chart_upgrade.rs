//! `kubectl hfapply upgrade` and `kubectl hfapply autoupgrade`: chart version
//! upgrades for pipelines. Thin flag parsing over the `hfkit-charts` library, which
//! holds the logic and the rendering.
//!
//! Exit codes: 0 nothing to do, 3 versions changed (or would, with `--dry-run`),
//! 4 some release failed (e.g. a repository unreachable; the others were upgraded and
//! written), 1 an error before anything was written (bad input, unknown theme or
//! release, unreadable helmfile). Nothing is ever committed or pushed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgGroup, Args, ValueEnum};
use hfkit_charts::source::{Credentials, FetchOptions};
use hfkit_charts::upgrade::{self, Report, Request, Scope, Target};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per release.
    Text,
    /// JSON, for scripts.
    Json,
    /// A ready pull-request or commit body.
    Markdown,
}

/// Flags shared by both subcommands.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Environment the helmfiles are read for.
    #[arg(long, short = 'e', env = "HFAPPLY_ENV", default_value = "default")]
    pub env: String,
    /// Repository root (the directory of the master helmfile.yaml).
    #[arg(long, short = 'C', default_value = ".")]
    pub dir: PathBuf,
    /// Timeout of each request to a chart repository, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Talk to OCI registries over plain HTTP (helm's --plain-http).
    #[arg(long)]
    pub plain_http: bool,
}

const UPGRADE_HELP: &str = "\
Exit codes: 0 nothing to do, 3 changed, 4 failed (repository unreachable, version not
found, edit refused), 1 bad input (nothing written).

Examples:
  kubectl hfapply upgrade media plex --version 1.4.2
  kubectl hfapply upgrade media plex --latest --dry-run -o markdown";

/// Set one release's chart version.
#[derive(Args, Debug, Clone)]
#[command(after_help = UPGRADE_HELP, group(ArgGroup::new("to").required(true).args(["version", "latest"])))]
pub struct UpgradeArgs {
    /// The theme (`media`, or its directory `helmfiles/media`).
    pub theme: String,
    /// The release.
    pub release: String,
    /// Set exactly this version.
    #[arg(long)]
    pub version: Option<String>,
    /// The newest stable version allowed by the release's constraints.
    #[arg(long)]
    pub latest: bool,
    /// With --version: do not check that the repository has it.
    #[arg(long)]
    pub no_verify: bool,
    /// With --latest: hold back versions published less than this long ago.
    #[arg(long, value_name = "AGE", conflicts_with = "version")]
    pub min_age: Option<String>,
    /// Shared flags.
    #[command(flatten)]
    pub common: Common,
}

const AUTOUPGRADE_HELP: &str = "\
Opt out per release with the label `hfapply.io/autoupgrade: \"false\"` or a comment
`# hfapply: pin` on its version line; constrain with the label
`hfapply.io/version-constraint: \"~1.4\"` or a comment `# hfapply: <2.0.0`.

Exit codes: 0 nothing to do, 3 changed, 4 some release failed (the others were
upgraded), 1 bad input (nothing written).

Examples:
  kubectl hfapply autoupgrade --all --min-age 3d -o markdown
  kubectl hfapply autoupgrade media monitoring --dry-run -l tier=backend";

/// Upgrade releases to their newest stable chart versions.
#[derive(Args, Debug, Clone)]
#[command(after_help = AUTOUPGRADE_HELP, group(ArgGroup::new("which").required(true).args(["themes", "all"])))]
pub struct AutoupgradeArgs {
    /// Themes to upgrade.
    #[arg(value_name = "THEME")]
    pub themes: Vec<String>,
    /// Every theme of the repository.
    #[arg(long, conflicts_with = "themes")]
    pub all: bool,
    /// Hold back versions published less than this long ago (`3d`, `12h`, `1w`).
    #[arg(long, value_name = "AGE")]
    pub min_age: Option<String>,
    /// helmfile label selector (`tier=db,name!=cache`); repeat for OR.
    #[arg(long = "selector", short = 'l', value_name = "SELECTOR")]
    pub selectors: Vec<String>,
    /// Shared flags.
    #[command(flatten)]
    pub common: Common,
}

/// `helmfiles/media/` and `media` both name the theme `media`.
fn theme_name(arg: &str) -> String {
    let t = arg.trim_end_matches('/');
    let t = t.strip_suffix("/helmfile.yaml").unwrap_or(t);
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn request(common: &Common, scope: Scope) -> Request {
    let mut req = Request::new(&common.dir, scope);
    req.env = common.env.clone();
    req.dry_run = common.dry_run;
    req.fetch = FetchOptions {
        timeout: Duration::from_secs(common.timeout.max(1)),
        plain_http: common.plain_http,
        credentials: Credentials::from_environment(),
    };
    req
}

fn print(report: &Report, output: Output) -> ExitCode {
    let text = match output {
        Output::Text => hfkit_charts::render::text(report),
        Output::Json => hfkit_charts::render::json(report),
        Output::Markdown => hfkit_charts::render::markdown(report),
    };
    print!("{text}");
    ExitCode::from(report.exit_code())
}

/// Runs `kubectl hfapply upgrade`.
pub fn run_upgrade(args: &UpgradeArgs) -> Result<ExitCode> {
    let mut req = request(
        &args.common,
        Scope::Release {
            theme: theme_name(&args.theme),
            release: args.release.clone(),
        },
    );
    req.honour_opt_out = false;
    req.verify = !args.no_verify;
    req.target = match (&args.version, args.latest) {
        (Some(v), false) => Target::Exact(v.clone()),
        (None, true) => Target::Latest,
        _ => bail!("give either --version X or --latest"),
    };
    req.min_age_secs = min_age(args.min_age.as_deref())?;
    let report = upgrade::run(&req)?;
    Ok(print(&report, args.common.output))
}

fn min_age(arg: Option<&str>) -> Result<Option<u64>> {
    match arg {
        None => Ok(None),
        Some(a) => match hfkit_charts::time::parse_duration(a) {
            Some(s) => Ok(Some(s)),
            None => bail!("--min-age `{a}`: expected a duration such as 3d, 12h, 1w"),
        },
    }
}

/// Runs `kubectl hfapply autoupgrade`.
pub fn run_autoupgrade(args: &AutoupgradeArgs) -> Result<ExitCode> {
    let scope = if args.all {
        Scope::All
    } else if args.themes.is_empty() {
        bail!("name the themes to upgrade, or --all");
    } else {
        Scope::Themes(args.themes.iter().map(|t| theme_name(t)).collect())
    };
    let mut req = request(&args.common, scope);
    req.selectors = args.selectors.clone();
    req.min_age_secs = min_age(args.min_age.as_deref())?;
    let report = upgrade::run(&req)?;
    Ok(print(&report, args.common.output))
}
