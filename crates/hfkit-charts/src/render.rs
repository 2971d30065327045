//! A [`Report`] as text (for a terminal), JSON (for scripts) or Markdown (a
//! ready pull-request or commit body).

use std::fmt::Write;

use crate::upgrade::{Entry, Report, Status};

fn arrow(e: &Entry) -> String {
    format!(
        "{} → {}",
        e.from.as_deref().unwrap_or("(none)"),
        e.to.as_deref().unwrap_or("?")
    )
}

fn app_versions(e: &Entry) -> Option<String> {
    let to = e.to_details.as_ref()?.app_version.clone()?;
    match e.from_details.as_ref().and_then(|f| f.app_version.clone()) {
        Some(from) if from != to => Some(format!("{from} → {to}")),
        Some(_) => Some(to),
        None => Some(to),
    }
}

fn link(e: &Entry) -> Option<&str> {
    e.to_details.as_ref()?.link()
}

fn summary(r: &Report) -> String {
    let n = |s| r.with_status(s).count();
    let mut s = format!(
        "{} upgraded, {} up to date, {} skipped, {} failed",
        n(Status::Upgraded),
        n(Status::UpToDate),
        n(Status::Skipped),
        n(Status::Failed)
    );
    if r.dry_run {
        s.push_str(" (dry run: nothing written)");
    }
    s
}

/// Plain text, one line per release, repository errors, then a summary line.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    for e in &r.entries {
        let name = format!("{}/{}", e.theme, e.release);
        let _ = match e.status {
            Status::Upgraded => {
                let mut line = format!("upgraded   {name}  {}  {}", e.chart, arrow(e));
                if let Some(a) = app_versions(e) {
                    let _ = write!(line, "  (app {a})");
                }
                if let Some(l) = link(e) {
                    let _ = write!(line, "  {l}");
                }
                writeln!(out, "{line}")
            }
            Status::UpToDate => writeln!(
                out,
                "up to date {name}  {}  {}",
                e.chart,
                e.from.as_deref().unwrap_or("(none)")
            ),
            Status::Skipped => writeln!(out, "skipped    {name}  {}", e.notes.join("; ")),
            Status::Failed => writeln!(out, "FAILED     {name}  {}", e.notes.join("; ")),
        };
        if e.status != Status::Skipped && e.status != Status::Failed {
            for n in &e.notes {
                let _ = writeln!(out, "             note: {n}");
            }
        }
    }
    for err in &r.repository_errors {
        let _ = writeln!(out, "error: repository: {err}");
    }
    let _ = writeln!(out, "{}", summary(r));
    out
}

/// The report as pretty JSON (the fields of [`Report`]) plus `exit_code`.
pub fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("exit_code".into(), r.exit_code().into());
    }
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown body for a pull request or commit: a title line, a table of the
/// upgrades, each upgrade's changes, then what was not upgraded and why.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let up: Vec<&Entry> = r.with_status(Status::Upgraded).collect();
    let _ = match up.len() {
        0 => writeln!(out, "## Chart upgrades: nothing to upgrade\n"),
        1 => writeln!(
            out,
            "## Upgrade {}/{} to {}\n",
            up[0].theme,
            up[0].release,
            up[0].to.as_deref().unwrap_or("")
        ),
        n => writeln!(out, "## Upgrade {n} charts\n"),
    };
    if !up.is_empty() {
        out.push_str("| Theme | Release | Chart | From | To | App version |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for e in &up {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} |",
                md_escape(&e.theme),
                md_escape(&e.release),
                e.chart,
                e.from.as_deref().unwrap_or("(none)"),
                e.to.as_deref().unwrap_or(""),
                md_escape(&app_versions(e).unwrap_or_default())
            );
        }
        out.push('\n');
        for e in &up {
            let details = e.to_details.as_ref();
            let changes = details.map(|d| d.changes.as_slice()).unwrap_or(&[]);
            if changes.is_empty() && link(e).is_none() && e.notes.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### {}/{} {}\n", e.theme, e.release, arrow(e));
            for c in changes {
                let _ = writeln!(out, "- {c}");
            }
            if let Some(l) = link(e) {
                let what = if details.and_then(|d| d.changelog.as_deref()) == Some(l) {
                    "Changelog"
                } else {
                    "Source"
                };
                let _ = writeln!(out, "- {what}: {l}");
            }
            for n in &e.notes {
                let _ = writeln!(out, "- Note: {n}");
            }
            out.push('\n');
        }
    }
    let not: Vec<&Entry> = r
        .entries
        .iter()
        .filter(|e| matches!(e.status, Status::Skipped | Status::Failed))
        .collect();
    if !not.is_empty() || !r.repository_errors.is_empty() {
        out.push_str("### Not upgraded\n\n");
        for e in not {
            let what = if e.status == Status::Failed {
                "**failed**"
            } else {
                "skipped"
            };
            let _ = writeln!(
                out,
                "- {}/{} {what}: {}",
                e.theme,
                e.release,
                e.notes.join("; ")
            );
        }
        for err in &r.repository_errors {
            let _ = writeln!(out, "- repository error: {err}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "_{}; generated by `kubectl hfapply`._", summary(r));
    out
}
