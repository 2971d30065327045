//! `apply` and `diff`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use hfkit_kube::{ApplyOptions, DiffOptions, KubeOptions, ProtectedKind};

use crate::{KubeFlags, PhaseArg};

pub const APPLY_HELP: &str = "\
Examples:
  kubectl sopsraw apply -f values/plex/raw --phase pre --set media/plex
  kubectl sopsraw apply -f values/plex/raw --phase post --set media/plex --prune
  kubectl sopsraw apply -f ns.yaml -f app.secrets.yaml --dry-run=server -n media

Objects are applied with field manager `sopsraw` (server-side apply): Namespaces first,
then CRDs (waited for until Established), then everything else in file order.

Sets and prune: with --set NAME (or NAMESPACE/NAME), every applied object gets the label
sopsraw.hfkit.io/set=<sha256(NAME), 40 hex digits> and the annotation
sopsraw.hfkit.io/set-name=NAME, and the ConfigMap sopsraw-inventory-<16 hex digits>
(in NAMESPACE, else the default namespace) lists the set's members. --prune deletes the
members no longer in the files, only if they still carry the set's label. Members are
identified by API group, kind, namespace and name: an object moved to another version of
its group (policy/v1beta1 to policy/v1) stays a member. Namespaces, CRDs and
PersistentVolumes are never pruned unless named by --allow-prune-kind: they are reported
as `kept` and stay members until then.";

pub const DIFF_HELP: &str = "\
Examples:
  kubectl sopsraw diff -f values/plex/raw --phase post --set media/plex
  kubectl sopsraw diff -f values/plex/raw --phase pre --detailed-exitcode || echo changes

Each object is applied with a server-side dry run and compared with the live object;
managedFields, status, resourceVersion, uid, creationTimestamp, generation and the
last-applied annotation are left out. Secret data/stringData values are never shown:
each is `(redacted, N bytes)`, with `, changed` when it differs. With --set, the members
an apply --prune would delete are shown too (protected kinds only with the same
--allow-prune-kind; the others are listed as `# kept` lines).

Exit codes: 0 no changes (or changes without --detailed-exitcode), 1 error, 2 changes
with --detailed-exitcode.";

/// The manifests to read.
#[derive(Args, Debug)]
pub struct Sources {
    /// Manifest file or directory (repeatable). Files may hold several YAML documents,
    /// plain or sops-encrypted.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Phase: which files of a directory are read (`*.pre.yaml` + `*.secrets.pre.yaml`, or
    /// `*.post.yaml` ...). Without it, every *.yaml/*.yml/*.json of a directory.
    #[arg(long, value_enum)]
    phase: Option<PhaseArg>,
    /// Set the objects belong to (NAME or NAMESPACE/NAME); needed by --prune.
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Field manager of the server-side apply.
    #[arg(long, default_value = hfkit_kube::apply::FIELD_MANAGER, value_name = "NAME")]
    field_manager: String,
    /// Let --prune delete objects of these protected kinds (Namespace,
    /// CustomResourceDefinition, PersistentVolume; comma separated or repeated). Without
    /// it they are kept when they leave the set, and stay members.
    #[arg(long = "allow-prune-kind", value_delimiter = ',', value_name = "KIND")]
    allow_prune_kind: Vec<ProtectedKind>,
}

/// `--dry-run`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Apply for real.
    None,
    /// The server validates and reports; nothing is persisted.
    Server,
}

/// `apply` arguments.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    src: Sources,
    /// Delete the set's members that are no longer in the files.
    #[arg(long, requires = "set")]
    prune: bool,
    /// `server`: the API server validates everything and persists nothing.
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1,
          default_missing_value = "server", require_equals = true)]
    dry_run: DryRun,
    /// Take over fields owned by other field managers instead of failing.
    #[arg(long)]
    force_conflicts: bool,
    /// How long to wait for a CRD to become Established, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    crd_timeout: u64,
}

/// `diff` arguments.
#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    src: Sources,
    /// Exit with 2 when there are changes.
    #[arg(long)]
    detailed_exitcode: bool,
}

fn kube_options(k: &KubeFlags) -> KubeOptions {
    KubeOptions {
        kubeconfig: k.kubeconfig.clone(),
        context: k.context.clone(),
        namespace: k.namespace.clone(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load(src: &Sources) -> anyhow::Result<Vec<hfkit_kube::Manifest>> {
    let keys = crate::sops_cmds::keyring()?;
    let m = hfkit_kube::load(&src.files, src.phase.map(Into::into), &keys)?;
    Ok(m)
}

pub fn apply(k: &KubeFlags, a: &ApplyArgs) -> anyhow::Result<()> {
    let manifests = load(&a.src)?;
    let opts = ApplyOptions {
        field_manager: a.src.field_manager.clone(),
        force_conflicts: a.force_conflicts,
        dry_run: a.dry_run == DryRun::Server,
        set: a.src.set.clone(),
        prune: a.prune,
        allow_prune: a.src.allow_prune_kind.iter().copied().collect(),
        declared_elsewhere: Default::default(),
        crd_timeout: std::time::Duration::from_secs(a.crd_timeout),
    };
    let report = runtime()?.block_on(async {
        let conn = hfkit_kube::connect(&kube_options(k)).await?;
        hfkit_kube::apply(&conn, &manifests, &opts).await
    })?;
    print!("{report}");
    Ok(())
}

pub fn diff(k: &KubeFlags, a: &DiffArgs) -> anyhow::Result<ExitCode> {
    let manifests = load(&a.src)?;
    let opts = DiffOptions {
        field_manager: a.src.field_manager.clone(),
        set: a.src.set.clone(),
        allow_prune: a.src.allow_prune_kind.iter().copied().collect(),
        declared_elsewhere: Default::default(),
    };
    let report = runtime()?.block_on(async {
        let conn = hfkit_kube::connect(&kube_options(k)).await?;
        hfkit_kube::diff(&conn, &manifests, &opts).await
    })?;
    print!("{report}");
    Ok(if report.has_changes() && a.detailed_exitcode {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
