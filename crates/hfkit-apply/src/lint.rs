//! Checks of a repository that need no cluster: `needs:` problems, and in each
//! release's rendered manifests (`helm template`), `hostPath` volumes and stateful
//! workloads without persistent volume claims. helmfile keys where hfapply differs
//! from helmfile are listed as notes (they do not fail lint). As `helmfile lint`,
//! lint registers the chart repositories and runs each release's `prepare` (then
//! `cleanup`) hooks.

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
    /// `hostpath`, `no-pvc`, `needs`, `render`, `hook`, `differs`.
    pub check: &'static str,
    /// What is wrong and where.
    pub message: String,
    /// `error` (lint fails) or `note` (a difference from helmfile, for information).
    pub severity: &'static str,
}

impl Finding {
    fn error(release: String, check: &'static str, message: String) -> Finding {
        Finding {
            release,
            check,
            message,
            severity: "error",
        }
    }

    /// Whether it fails lint.
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// Lints every prepared release (renders each chart once).
pub fn lint(planned: &Planned, prepared: &[Prepared], helm: &Helm) -> Vec<Finding> {
    let mut out: Vec<Finding> = planned
        .master_notes
        .iter()
        .map(|n| Finding {
            release: ".".into(),
            check: "differs",
            message: n.clone(),
            severity: "note",
        })
        .collect();
    for theme in &planned.themes {
        for note in &theme.helmfile.notes {
            out.push(Finding {
                release: theme.name.clone(),
                check: "differs",
                message: format!(
                    "{}:{}: {}: {}",
                    theme.helmfile.path.display(),
                    note.line,
                    note.key,
                    note.text
                ),
                severity: "note",
            });
        }
    }
    let mut repo_errors = std::collections::BTreeMap::new();
    for (name, url) in &crate::plan::repositories(prepared.iter().filter(|p| p.installed)) {
        let args = hfkit::helm::repo_add_args(name, url);
        if let Err(e) = helm_output(helm, &args, None) {
            repo_errors.insert(name.clone(), format!("repository `{name}` ({url}): {e}"));
        }
    }
    let dirs = crate::hooks::theme_dirs(prepared);
    let show = |line: &str| eprintln!("{line}");
    if let Err(e) = crate::hooks::fire_file_hooks(planned, &dirs, "prepare", None, &show) {
        out.push(Finding::error(".".into(), "hook", e));
        return out;
    }
    let nodes = planned.graph.nodes();
    for p in prepared {
        let hooks = crate::hooks::ReleaseHooks::of(p);
        for h in &p.hooks {
            if crate::hooks::redoes_raw_manifests(h, &p.theme_dir) {
                out.push(Finding {
                    release: p.label(),
                    check: "hook-redundant",
                    message: format!(
                        "hook `{}` applies values/<release>/raw/ manifests with kubectl, which \
                         hfapply does natively (pre before helm, post after, secrets decrypted \
                         in memory); once its raw files follow the naming in \
                         docs/migrating-from-helmfile.md, delete the hook",
                        h.name
                    ),
                    severity: "note",
                });
            }
        }
        if let Err((_, e)) = hooks.fire("prepare", None, &show) {
            out.push(Finding::error(p.label(), "hook", e));
            continue;
        }
        lint_release(planned, nodes, p, helm, &repo_errors, &mut out);
        if let Err((_, e)) = hooks.fire("cleanup", None, &show) {
            out.push(Finding::error(p.label(), "hook", e));
        }
    }
    if let Err(e) = crate::hooks::fire_file_hooks(planned, &dirs, "cleanup", None, &show) {
        out.push(Finding::error(".".into(), "hook", e));
    }
    out
}

fn lint_release(
    planned: &Planned,
    nodes: &[hfkit::theme::GraphNode],
    p: &Prepared,
    helm: &Helm,
    repo_errors: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<Finding>,
) {
    let node = &nodes[p.node];
    for &need in &node.needs {
        if !nodes[need].release.installed && p.installed {
            out.push(Finding::error(
                p.label(),
                "needs",
                format!("needs {} which is `installed: false`", planned.label(need)),
            ));
        }
    }
    if !p.installed {
        return;
    }
    if let Some(e) = p.repository.as_ref().and_then(|(n, _)| repo_errors.get(n)) {
        out.push(Finding::error(p.label(), "render", e.clone()));
        return;
    }
    let mut extra: Vec<String> = vec![
        "--namespace".into(),
        p.namespace.clone().unwrap_or_else(|| "default".into()),
    ];
    if let Some(v) = &p.version {
        extra.push("--version".into());
        extra.push(v.clone());
    }
    extra.extend(p.helm.template_flags());
    let args: Vec<OsString> = with_stdin_values(&["template"], &[&p.name, &p.chart_arg], &extra);
    let rendered = match helm_output(helm, &args, Some(&p.values_yaml)) {
        Ok(r) => r,
        Err(e) => {
            out.push(Finding::error(p.label(), "render", e));
            return;
        }
    };
    let objects = match split_manifest(&rendered) {
        Ok(o) => o,
        Err(e) => {
            out.push(Finding::error(p.label(), "render", e.to_string()));
            return;
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
                out.push(Finding::error(
                    p.label(),
                    "hostpath",
                    format!(
                        "{} mounts hostPath {path} (volume `{}`): data is tied to one node",
                        o.key,
                        v["name"].as_str().unwrap_or("?")
                    ),
                ));
            }
        }
        let has_pvc = volumes
            .iter()
            .any(|v| v.get("persistentVolumeClaim").is_some())
            || json["spec"]["volumeClaimTemplates"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        if o.key.kind == "StatefulSet" && !has_pvc {
            out.push(Finding::error(
                    p.label(),
                    "no-pvc",
                    format!(
                        "{} is stateful but has no persistent volume claim: its data does not survive a reschedule",
                        o.key
                    ),
                ));
        }
    }
}

/// Findings as lines.
pub fn text(findings: &[Finding]) -> String {
    let mut text: String = findings
        .iter()
        .map(|f| {
            let note = if f.is_error() { "" } else { "note: " };
            format!("{}: {note}[{}] {}\n", f.release, f.check, f.message)
        })
        .collect();
    if !findings.iter().any(Finding::is_error) {
        text.push_str("no problems found\n");
    }
    text
}

/// Findings as JSON.
pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_default()
}
