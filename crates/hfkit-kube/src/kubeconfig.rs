//! Connecting as kubectl does: `--kubeconfig`, else every file of a `:`-separated
//! `KUBECONFIG` merged (the first file to set a value wins), else `~/.kube/config`;
//! `--context` picks the context; the default namespace is `-n`, else the context's,
//! else `default`.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// The standard kubectl plugin connection flags.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// `--kubeconfig`: one file, read instead of `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: the context to use instead of the current one.
    pub context: Option<String>,
    /// `-n/--namespace`: the default namespace for objects without one.
    pub namespace: Option<String>,
}

/// A client and the namespace objects without one go to.
#[derive(Clone)]
pub struct Connection {
    /// The API client.
    pub client: kube::Client,
    /// `-n`, else the context's namespace, else `default`.
    pub default_namespace: String,
}

/// Reads the kubeconfig as kubectl would (see the module docs).
pub fn load_kubeconfig(opts: &KubeOptions) -> Result<Kubeconfig> {
    if let Some(p) = &opts.kubeconfig {
        return Kubeconfig::read_from(p)
            .map_err(|e| Error::Kubeconfig(format!("{}: {e}", p.display())));
    }
    Kubeconfig::read().map_err(|e| Error::Kubeconfig(e.to_string()))
}

/// Keeps the sops key variables from credential plugins (`users[].user.exec`, such as
/// `aws eks get-token`): kube-rs starts them with our environment, and they have no more
/// use for a private key than helm's children do. The same opt-in applies
/// ([`hfkit_sops::process::KEEP_ENV_VARIABLE`]).
pub fn scrub_exec_plugins(kc: &mut Kubeconfig) {
    let keep = hfkit_sops::process::kept_by_opt_in();
    for named in &mut kc.auth_infos {
        if let Some(exec) = named.auth_info.as_mut().and_then(|a| a.exec.as_mut()) {
            exec.drop_env
                .get_or_insert_with(Vec::new)
                .extend(hfkit_sops::process::removed_variables(&keep).map(String::from));
        }
    }
}

/// Connects to the API server (no request is made yet).
pub async fn connect(opts: &KubeOptions) -> Result<Connection> {
    let mut kc = load_kubeconfig(opts)?;
    scrub_exec_plugins(&mut kc);
    let kopts = KubeConfigOptions {
        context: opts.context.clone(),
        cluster: None,
        user: None,
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &kopts)
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let default_namespace = opts
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok(Connection {
        client,
        default_namespace,
    })
}
