//! Per release: what helm has deployed, when hfapply last applied it, and whether the
//! cluster is in sync with the repository (by fingerprint; no helm process).

use hfkit_kube::KubeOptions;
use serde::Serialize;

use crate::cluster;
use crate::fingerprint::fingerprint;
use crate::plan::{Planned, Prepared};
use crate::Result;

/// Whether a release matches the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// The record's fingerprint is the inputs' and helm's revision is the recorded one.
    InSync,
    /// The inputs changed since the last apply.
    OutOfSync,
    /// helm's latest revision is not the one hfapply applied (changed by hand), or
    /// an apply did not finish.
    Drifted,
    /// Never applied by hfapply (or its record is gone).
    NotApplied,
    /// `installed: false` and absent.
    Absent,
    /// `installed: false` but still present.
    ToUninstall,
}

impl Sync {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sync::InSync => "in-sync",
            Sync::OutOfSync => "out-of-sync",
            Sync::Drifted => "drifted",
            Sync::NotApplied => "not-applied",
            Sync::Absent => "absent",
            Sync::ToUninstall => "to-uninstall",
        }
    }
}

/// One release's status.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseStatus {
    /// Theme.
    pub theme: String,
    /// Release.
    pub release: String,
    /// Namespace.
    pub namespace: String,
    /// Chart as recorded at the last apply.
    pub chart: String,
    /// Chart version as recorded at the last apply.
    pub version: String,
    /// helm's latest revision and its status (`3 deployed`).
    pub helm: Option<String>,
    /// When hfapply last applied it.
    pub last_applied: Option<String>,
    /// In sync or not.
    pub sync: Sync,
}

/// Reads the status of every prepared release (read-only).
pub async fn status_all(
    _planned: &Planned,
    prepared: &[Prepared],
    kube: &KubeOptions,
    state_ns: &str,
) -> Result<Vec<ReleaseStatus>> {
    let conn = hfkit_kube::connect(&crate::plan::kube_for(kube, prepared)?).await?;
    let key = cluster::fingerprint_key(&conn.client, state_ns, false).await?;
    let mut out = Vec::new();
    for p in prepared {
        let ns = p
            .namespace
            .clone()
            .unwrap_or_else(|| conn.default_namespace.clone());
        let record = cluster::read_record(&conn.client, state_ns, &ns, &p.name).await?;
        let latest = cluster::helm_latest(&conn.client, &ns, &p.name).await?;
        let sync = match (&record, &latest, p.installed) {
            (_, None, false) => Sync::Absent,
            (_, Some(_), false) => Sync::ToUninstall,
            (None, _, true) => Sync::NotApplied,
            (Some(r), latest, true) => {
                let fp = key.as_ref().map(|k| fingerprint(k, &p.material));
                let helm_ok =
                    matches!(latest, Some((rev, s)) if *rev == r.helm_revision && s == "deployed");
                if r.state != "applied" || !helm_ok {
                    Sync::Drifted
                } else if fp.as_deref() == Some(r.fingerprint.as_str()) {
                    Sync::InSync
                } else {
                    Sync::OutOfSync
                }
            }
        };
        out.push(ReleaseStatus {
            theme: p.theme.clone(),
            release: p.name.clone(),
            namespace: ns,
            chart: record.as_ref().map(|r| r.chart.clone()).unwrap_or_default(),
            version: record
                .as_ref()
                .map(|r| r.version.clone())
                .unwrap_or_default(),
            helm: latest.map(|(rev, s)| format!("{rev} {s}")),
            last_applied: record.map(|r| r.applied_at),
            sync,
        });
    }
    Ok(out)
}

/// The statuses as a table.
pub fn text(statuses: &[ReleaseStatus]) -> String {
    let rows: Vec<[String; 7]> = statuses
        .iter()
        .map(|s| {
            [
                s.release.clone(),
                s.theme.clone(),
                s.namespace.clone(),
                if s.version.is_empty() {
                    s.chart.clone()
                } else {
                    format!("{}@{}", s.chart, s.version)
                },
                s.helm.clone().unwrap_or_else(|| "-".into()),
                s.last_applied.clone().unwrap_or_else(|| "-".into()),
                s.sync.as_str().into(),
            ]
        })
        .collect();
    let header = [
        "RELEASE",
        "THEME",
        "NAMESPACE",
        "CHART",
        "HELM",
        "LAST APPLIED",
        "SYNC",
    ]
    .map(String::from);
    let mut width = header.clone().map(|h| h.len());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.len());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The statuses as JSON.
pub fn json(statuses: &[ReleaseStatus]) -> String {
    serde_json::to_string_pretty(statuses).unwrap_or_default()
}

/// The statuses as a Markdown table.
pub fn markdown(statuses: &[ReleaseStatus]) -> String {
    let mut out = String::from(
        "| release | theme | namespace | chart | helm | last applied | sync |\n|---|---|---|---|---|---|---|\n",
    );
    for s in statuses {
        out.push_str(&format!(
            "| {} | {} | {} | {}{} | {} | {} | {} |\n",
            s.release,
            s.theme,
            s.namespace,
            s.chart,
            if s.version.is_empty() {
                String::new()
            } else {
                format!("@{}", s.version)
            },
            s.helm.as_deref().unwrap_or("-"),
            s.last_applied.as_deref().unwrap_or("-"),
            s.sync.as_str()
        ));
    }
    out
}
