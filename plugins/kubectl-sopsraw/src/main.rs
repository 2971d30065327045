//! `kubectl sopsraw`: sops files decrypted, encrypted and edited natively, and raw
//! manifests (plain or sops-encrypted) server-side applied, diffed and pruned through the
//! Kubernetes API. Argument parsing and printing only: the work is in `hfkit-sops` and
//! `hfkit-kube`.

mod kube_cmds;
mod sops_cmds;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  kubectl sopsraw decrypt values/plex/raw/db.secrets.pre.yaml
  kubectl sopsraw edit values/plex/raw/db.secrets.pre.yaml
  kubectl sopsraw apply -f values/plex/raw --phase pre --set media/plex --prune
  kubectl sopsraw diff -f values/plex/raw --phase post --set media/plex --detailed-exitcode

Keys: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt, SOPS_PGP_KEY_FILE,
SOPS_PGP_KEY (and a gpg keyring as fallback), as sops reads them.";

/// sops-encrypted raw manifests: decrypt, encrypt, edit; server-side apply, diff, prune.
#[derive(Parser, Debug)]
#[command(name = "kubectl sopsraw", bin_name = "kubectl sopsraw", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    kube: KubeFlags,
    #[command(subcommand)]
    command: Command,
}

/// The standard kubectl connection flags.
#[derive(Args, Debug, Clone)]
struct KubeFlags {
    /// Path to the kubeconfig file (default: every file of $KUBECONFIG merged, else
    /// ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// Namespace for namespaced objects without metadata.namespace (default: the
    /// context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    namespace: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the plaintext of a sops-encrypted file (to stdout unless -o or --in-place).
    #[command(after_help = "Examples:\n  kubectl sopsraw decrypt secrets.yaml\n  \
        kubectl sopsraw decrypt secrets.yaml -o plain.yaml   # written with mode 0600\n  \
        kubectl sopsraw decrypt secrets.yaml --in-place")]
    Decrypt(sops_cmds::DecryptArgs),
    /// Encrypt a file following the nearest .sops.yaml creation rules (to stdout unless
    /// -o or --in-place).
    #[command(
        after_help = "Examples:\n  kubectl sopsraw encrypt db.secrets.pre.yaml --in-place\n  \
        kubectl sopsraw encrypt plain.yaml -o db.secrets.pre.yaml"
    )]
    Encrypt(sops_cmds::EncryptArgs),
    /// Edit a sops-encrypted file in $EDITOR, then re-encrypt it.
    ///
    /// The plaintext is written to a 0600 file in a private 0700 directory under $TMPDIR
    /// and removed on every exit path (error, Ctrl-C, SIGTERM included). Unchanged values
    /// keep their ciphertext.
    #[command(
        after_help = "Examples:\n  kubectl sopsraw edit values/plex/raw/db.secrets.pre.yaml\n  \
        EDITOR='code --wait' kubectl sopsraw edit secrets.yaml"
    )]
    Edit(sops_cmds::EditArgs),
    /// Server-side apply manifests (plain and sops-encrypted), optionally pruning.
    #[command(after_help = kube_cmds::APPLY_HELP)]
    Apply(kube_cmds::ApplyArgs),
    /// Show what apply would change (server-side dry run versus live; Secret values
    /// redacted).
    #[command(after_help = kube_cmds::DIFF_HELP)]
    Diff(kube_cmds::DiffArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(kubectl-sopsraw completion bash)\n  \
        kubectl-sopsraw completion fish > ~/.config/fish/completions/kubectl-sopsraw.fish\n\n\
        `kubectl sopsraw <TAB>` completes through krew's kubectl_complete-sopsraw helper."
    )]
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: hfkit_cli::Shell,
    },
    /// kubectl's plugin completion protocol (run by kubectl_complete-sopsraw).
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The words after `kubectl sopsraw`, the last one being completed.
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        words: Vec<String>,
    },
}

/// `--phase`.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum PhaseArg {
    /// `*.pre.yaml` and `*.secrets.pre.yaml` files of directories.
    Pre,
    /// `*.post.yaml` and `*.secrets.post.yaml` files of directories.
    Post,
}

impl From<PhaseArg> for hfkit_kube::Phase {
    fn from(p: PhaseArg) -> Self {
        match p {
            PhaseArg::Pre => hfkit_kube::Phase::Pre,
            PhaseArg::Post => hfkit_kube::Phase::Post,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Decrypt(a) => sops_cmds::decrypt(&a).map(|_| ExitCode::SUCCESS),
        Command::Encrypt(a) => sops_cmds::encrypt(&a).map(|_| ExitCode::SUCCESS),
        Command::Edit(a) => sops_cmds::edit(&a).map(|_| ExitCode::SUCCESS),
        Command::Apply(a) => kube_cmds::apply(&cli.kube, &a).map(|_| ExitCode::SUCCESS),
        Command::Diff(a) => kube_cmds::diff(&cli.kube, &a),
        Command::Completion { shell } => {
            let script =
                hfkit_cli::completion_script(&mut Cli::command(), shell, "kubectl-sopsraw");
            print!("{script}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Complete { words } => {
            print!("{}", hfkit_cli::cobra_complete(&Cli::command(), &words));
            Ok(ExitCode::SUCCESS)
        }
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
