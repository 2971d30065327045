//! A stand-in for `kubectl hfapply upgrade|autoupgrade`, built from the same CLI
//! module (`plugins/kubectl-hfapply/src/chart_upgrade.rs`) so it can be tested here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "../../../plugins/kubectl-hfapply/src/chart_upgrade.rs"]
mod chart_upgrade;

/// Chart upgrades.
#[derive(Parser, Debug)]
#[command(name = "hfapply-charts")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Set one release's chart version.
    Upgrade(chart_upgrade::UpgradeArgs),
    /// Upgrade releases to their newest stable chart versions.
    Autoupgrade(chart_upgrade::AutoupgradeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Cmd::Upgrade(a) => chart_upgrade::run_upgrade(a),
        Cmd::Autoupgrade(a) => chart_upgrade::run_autoupgrade(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
