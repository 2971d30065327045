//! Checks of a repository that need no cluster: `needs:` problems, and in each
//! release's rendered manifests (`helm template`), `hostPath` volumes and stateful
//! workloads without persistent volume claims.

use std::ffi::OsString;

use hfkit::helm::{with_stdin_values, Helm};
use hfkit::manifest::split_manifest;
use serde::Serialize;

use crate::plan::{Planned, Prepared};
use crate::run::helm_output;

/// One problem.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `theme/release`.
    pub release: String,
    /// `hostpath`, `no-pvc`, `needs`, `render`.
    pub check: &'static str,
    /// What is wrong and where.
    pub message: String,
}

/// Lints every prepared release (renders each chart once).
pub fn lint(planned: &Planned, prepared: &[Prepared], helm: &Helm) -> Vec<Finding> {
    let mut out = Vec::new();
    let nodes = planned.graph.nodes();
    for p in prepared {
        let node = &nodes[p.node];
        for &need in &node.needs {
            if !nodes[need].release.installed && p.installed {
                out.push(Finding {
                    release: p.label(),
                    check: "needs",
                    message: format!("needs {} which is `installed: false`", planned.label(need)),
                });
            }
        }
        if !p.installed {
            continue;
        }
        let mut extra: Vec<String> = vec![
            "--namespace".into(),
            p.namespace.clone().unwrap_or_else(|| "default".into()),
        ];
        if let Some(v) = &p.version {
            extra.push("--version".into());
            extra.push(v.clone());
        }
        let args: Vec<OsString> =
            with_stdin_values(&["template"], &[&p.name, &p.chart_arg], &extra);
        let rendered = match helm_output(helm, &args, Some(&p.values_yaml)) {
            Ok(r) => r,
            Err(e) => {
                out.push(Finding {
                    release: p.label(),
                    check: "render",
                    message: e,
                });
                continue;
            }
        };
        let objects = match split_manifest(&rendered) {
            Ok(o) => o,
            Err(e) => {
                out.push(Finding {
                    release: p.label(),
                    check: "render",
                    message: e.to_string(),
                });
                continue;
            }
        };
        for o in objects {
            let json = hfkit::values::to_json(&o.value);
            let pod = match o.key.kind.as_str() {
                "Pod" => &json["spec"],
                "CronJob" => &json["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                    &json["spec"]["template"]["spec"]
                }
                _ => continue,
            };
            let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
            for v in &volumes {
                if let Some(path) = v["hostPath"]["path"].as_str() {
                    out.push(Finding {
                        release: p.label(),
                        check: "hostpath",
                        message: format!(
                            "{} mounts hostPath {path} (volume `{}`): data is tied to one node",
                            o.key,
                            v["name"].as_str().unwrap_or("?")
                        ),
                    });
                }
            }
            let has_pvc = volumes
                .iter()
                .any(|v| v.get("persistentVolumeClaim").is_some())
                || json["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
            if o.key.kind == "StatefulSet" && !has_pvc {
                out.push(Finding {
                    release: p.label(),
                    check: "no-pvc",
                    message: format!(
                        "{} is stateful but has no persistent volume claim: its data does not survive a reschedule",
                        o.key
                    ),
                });
            }
        }
    }
    out
}

/// Findings as lines.
pub fn text(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no problems found\n".into();
    }
    findings
        .iter()
        .map(|f| format!("{}: [{}] {}\n", f.release, f.check, f.message))
        .collect()
}

/// Findings as JSON.
pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_default()
}
