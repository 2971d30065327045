//! Rendering a [`RunReport`]: a table for people, JSON for programs, Markdown for
//! pull-request comments. Every format lists every planned release, so a partial
//! apply says exactly which releases changed.

use crate::run::{Outcome, RunReport};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Progress lines and a final table.
    Text,
    /// One JSON document.
    Json,
    /// A Markdown table.
    Markdown,
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn rows(report: &RunReport) -> Vec<[String; 6]> {
    report
        .results
        .iter()
        .map(|r| {
            let mut result = r.outcome.as_str().to_string();
            if report.dry_run && r.outcome.is_change() {
                result.push_str(" (dry run)");
            }
            if let (Some(d), Outcome::Failed | Outcome::Skipped) = (&r.detail, r.outcome) {
                result.push_str(": ");
                result.push_str(d);
            }
            [
                r.release.clone(),
                r.theme.clone(),
                r.namespace.clone(),
                result,
                secs(r.duration_ms),
                r.raw_changes.to_string(),
            ]
        })
        .collect()
}

const HEADER: [&str; 6] = ["RELEASE", "THEME", "NAMESPACE", "RESULT", "DURATION", "RAW"];

/// The report as a plain-text table and a summary line.
pub fn text(report: &RunReport) -> String {
    let rows = rows(report);
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&HEADER.map(String::from)));
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str(&summary(report));
    out.push('\n');
    let changed: Vec<String> = report
        .changed()
        .map(|r| format!("{}/{}", r.theme, r.release))
        .collect();
    if !changed.is_empty() {
        out.push_str(&format!("changed: {}\n", changed.join(", ")));
    }
    out
}

/// `3 releases: 1 upgraded, 2 unchanged in 4.2s`.
pub fn summary(report: &RunReport) -> String {
    let mut counts: Vec<(Outcome, usize)> = Vec::new();
    for r in &report.results {
        match counts.iter_mut().find(|(o, _)| *o == r.outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.outcome, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    format!(
        "{} release(s): {}{} in {}",
        report.results.len(),
        if parts.is_empty() {
            "nothing to do".to_string()
        } else {
            parts.join(", ")
        },
        if report.dry_run {
            " (server dry run)"
        } else {
            ""
        },
        secs(report.duration_ms)
    )
}

/// The report as JSON.
pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The report as a Markdown table.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::from("| release | theme | namespace | result | duration | raw |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in rows(report) {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(&format!("\n{}\n", summary(report)));
    out
}

/// The report in `format`.
pub fn render(report: &RunReport, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report) + "\n",
        Format::Markdown => markdown(report),
    }
}
