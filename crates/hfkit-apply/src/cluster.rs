//! State hfapply keeps on the cluster, all in one namespace ([`STATE_NAMESPACE`] by
//! default):
//!
//! - the Secret [`KEY_SECRET`] (key `key`: 32 random bytes), the fingerprint key,
//!   created by the first apply;
//! - one ConfigMap per release, `release.<namespace>.<name>` (label
//!   [`MANAGED_BY_LABEL`]), the *record*: `theme`, `release`, `namespace`, `chart`,
//!   `version`, `fingerprint`, `state` (`applying` while an apply is under way, then
//!   `applied`), `helmRevision` (the helm revision that apply produced), `appliedAt`,
//!   `tool`. It holds no values.
//!
//! A release is unchanged when its record says `applied` with the fingerprint of the
//! current inputs *and* helm's latest revision of the release (the metadata of its
//! `sh.helm.release.v1.<name>.v<N>` Secrets, listed by label) is that revision and
//! `deployed`: a helm upgrade, rollback or uninstall made by hand is noticed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;

use crate::{Error, Result};

/// Default namespace of hfapply's state (records, key, lock).
pub const STATE_NAMESPACE: &str = "hfapply-system";
/// The Secret holding the fingerprint key.
pub const KEY_SECRET: &str = "hfapply-fingerprint-key";
/// Label on every object hfapply creates for itself.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Field manager of hfapply's own writes.
pub const FIELD_MANAGER: &str = "hfapply";

/// A release's record (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    /// Theme.
    pub theme: String,
    /// Release.
    pub release: String,
    /// Namespace.
    pub namespace: String,
    /// Chart reference as written.
    pub chart: String,
    /// Chart version, if pinned.
    pub version: String,
    /// Fingerprint of the inputs of the last apply (or of the one under way).
    pub fingerprint: String,
    /// `applying` or `applied`.
    pub state: String,
    /// helm revision the last apply produced.
    pub helm_revision: u32,
    /// RFC 3339 time of the last apply.
    pub applied_at: String,
    /// Tool version of the last apply.
    pub tool: String,
}

/// Name of a release's record ConfigMap.
pub fn record_name(namespace: &str, release: &str) -> String {
    format!("release.{namespace}.{release}")
}

/// Creates the state namespace if missing.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(|e| Error::api(format!("reading namespace {name}"), e))?
        .is_some()
    {
        return Ok(());
    }
    let ns = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "hfapply"}},
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(ns),
    )
    .await
    .map_err(|e| Error::api(format!("creating namespace {name}"), e))?;
    Ok(())
}

/// The fingerprint key; created (with the namespace) when `create` and missing.
/// `None` when missing and not created: every release then counts as changed.
pub async fn fingerprint_key(
    client: &kube::Client,
    state_ns: &str,
    create: bool,
) -> Result<Option<Vec<u8>>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), state_ns);
    let read = |s: Secret| {
        s.data
            .and_then(|d| d.get("key").cloned())
            .map(|b| b.0)
            .filter(|k| k.len() >= 16)
    };
    match api.get_opt(KEY_SECRET).await {
        Ok(Some(s)) => {
            if let Some(k) = read(s) {
                return Ok(Some(k));
            }
            return Err(Error::Other(format!(
                "secret {state_ns}/{KEY_SECRET} has no usable `key`; delete it to start over"
            )));
        }
        Ok(None) => {}
        // Without the namespace there is no key yet.
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => {
            return Err(Error::api(
                format!("reading secret {state_ns}/{KEY_SECRET}"),
                e,
            ))
        }
    }
    if !create {
        return Ok(None);
    }
    ensure_namespace(client, state_ns).await?;
    let mut key = vec![0u8; 32];
    random_bytes(&mut key)?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(KEY_SECRET.into()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_string(),
                "hfapply".to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "key".to_string(),
            ByteString(key.clone()),
        )])),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(Some(key)),
        // Another apply created it first: use theirs.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api
                .get(KEY_SECRET)
                .await
                .map_err(|e| Error::api("reading the fingerprint key", e))?;
            Ok(read(s))
        }
        Err(e) => Err(Error::api("creating the fingerprint key", e)),
    }
}

fn random_bytes(buf: &mut [u8]) -> Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| Error::Other(format!("reading /dev/urandom: {e}")))
}

/// Reads a release's record.
pub async fn read_record(
    client: &kube::Client,
    state_ns: &str,
    namespace: &str,
    release: &str,
) -> Result<Option<Record>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), state_ns);
    let name = record_name(namespace, release);
    let cm = match api.get_opt(&name).await {
        Ok(cm) => cm,
        Err(kube::Error::Api(e)) if e.code == 404 => None,
        Err(e) => return Err(Error::api(format!("reading record {state_ns}/{name}"), e)),
    };
    Ok(cm.and_then(|cm| cm.data).map(|d| {
        let get = |k: &str| d.get(k).cloned().unwrap_or_default();
        Record {
            theme: get("theme"),
            release: get("release"),
            namespace: get("namespace"),
            chart: get("chart"),
            version: get("version"),
            fingerprint: get("fingerprint"),
            state: get("state"),
            helm_revision: get("helmRevision").parse().unwrap_or(0),
            applied_at: get("appliedAt"),
            tool: get("tool"),
        }
    }))
}

/// Every record of the state namespace.
pub async fn list_records(client: &kube::Client, state_ns: &str) -> Result<Vec<Record>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), state_ns);
    let list = match api
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}=hfapply")))
        .await
    {
        Ok(l) => l,
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Vec::new()),
        Err(e) => return Err(Error::api("listing records", e)),
    };
    let mut out = Vec::new();
    for cm in list {
        let (Some(name), Some(_)) = (cm.metadata.name.clone(), cm.data.as_ref()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("release.") else {
            continue;
        };
        let Some((ns, rel)) = rest.split_once('.') else {
            continue;
        };
        if let Some(r) = read_record(client, state_ns, ns, rel).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Writes a release's record (server-side apply).
pub async fn write_record(client: &kube::Client, state_ns: &str, record: &Record) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), state_ns);
    let name = record_name(&record.namespace, &record.release);
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "hfapply"}},
        "data": {
            "theme": record.theme, "release": record.release, "namespace": record.namespace,
            "chart": record.chart, "version": record.version,
            "fingerprint": record.fingerprint, "state": record.state,
            "helmRevision": record.helm_revision.to_string(),
            "appliedAt": record.applied_at, "tool": record.tool,
        },
    });
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(cm),
    )
    .await
    .map_err(|e| Error::api(format!("writing record {state_ns}/{name}"), e))?;
    Ok(())
}

/// Deletes a release's record, if any.
pub async fn delete_record(
    client: &kube::Client,
    state_ns: &str,
    namespace: &str,
    release: &str,
) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), state_ns);
    let name = record_name(namespace, release);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("deleting record {state_ns}/{name}"), e)),
    }
}

/// helm's latest revision of a release: (revision, status such as `deployed`,
/// `failed`, `pending-upgrade`).
pub async fn helm_latest(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<Option<(u32, String)>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // Metadata only: the release payload (the whole gzipped manifest) is not needed.
    let list = match api
        .list_metadata(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
    {
        Ok(l) => l,
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(None),
        Err(e) => {
            return Err(Error::api(
                format!("listing helm revisions of {namespace}/{release}"),
                e,
            ))
        }
    };
    Ok(list
        .items
        .into_iter()
        .filter_map(|s| {
            let labels = s.metadata.labels?;
            let version: u32 = labels.get("version")?.parse().ok()?;
            Some((version, labels.get("status").cloned().unwrap_or_default()))
        })
        .max_by_key(|(v, _)| *v))
}

/// How long ago helm wrote the latest revision of `release` (`3m12s`), when there is
/// one.
pub async fn helm_latest_age(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<Option<String>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list_metadata(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .map_err(|e| {
            Error::api(
                format!("listing helm revisions of {namespace}/{release}"),
                e,
            )
        })?;
    let latest = list
        .items
        .into_iter()
        .filter_map(|s| {
            let version: u32 = s.metadata.labels.as_ref()?.get("version")?.parse().ok()?;
            Some((version, s.metadata.creation_timestamp?))
        })
        .max_by_key(|(v, _)| *v);
    Ok(latest.map(|(_, created)| {
        let secs = k8s_openapi::jiff::Timestamp::now()
            .duration_since(created.0)
            .as_secs()
            .max(0);
        format!("{}m{}s", secs / 60, secs % 60)
    }))
}

/// Now, RFC 3339.
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}
