//! helmfile's label selectors: `-l key=value,key2!=value` (a comma is AND, several
//! `-l` are OR), with `name`, `namespace` and `chart` as implicit labels.

use std::collections::BTreeSet;

use super::graph::Graph;
use super::model::{Release, Theme};
use super::ThemeError;

/// One `-l` selector: every term must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The text as given, for messages.
    pub text: String,
    /// `(key, value, negated)`.
    pub terms: Vec<(String, String, bool)>,
}

fn label_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '+' | '-'))
}

impl Selector {
    /// Parses `key=value,key2!=value2`.
    pub fn parse(text: &str) -> Result<Selector, ThemeError> {
        let mut terms = Vec::new();
        for term in text.split(',') {
            let (key, value, negated) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, v, false)
            } else {
                ("", "", false)
            };
            if !label_chars(key) || !label_chars(value) {
                return Err(ThemeError::Selector {
                    selector: text.to_string(),
                    message: format!(
                        "malformed term `{term}`: expected key=value or key!=value \
                         (letters, digits, `_`, `.`, `/`, `+`, `-`)"
                    ),
                });
            }
            terms.push((key.to_string(), value.to_string(), negated));
        }
        Ok(Selector {
            text: text.to_string(),
            terms,
        })
    }

    /// Whether `release` matches every term. `name`, `namespace` and `chart` are
    /// the release's own fields; `key!=value` also matches when the label is absent.
    pub fn matches(&self, release: &Release) -> bool {
        self.terms.iter().all(|(key, value, negated)| {
            let actual = match key.as_str() {
                "name" => Some(release.name.as_str()),
                "namespace" => Some(release.namespace.as_deref().unwrap_or("")),
                "chart" => Some(release.chart.as_str()),
                _ => release.labels.get(key).map(String::as_str),
            };
            if *negated {
                actual != Some(value.as_str())
            } else {
                actual == Some(value.as_str())
            }
        })
    }
}

/// Whether `release` matches any of `selectors` (OR); true when there are none.
pub fn matches_any(selectors: &[Selector], release: &Release) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(release))
}

/// The releases of `graph` the selectors pick, plus (with `include_needs`) every
/// release they need, directly or not.
pub fn select(graph: &Graph, selectors: &[Selector], include_needs: bool) -> BTreeSet<usize> {
    let picked: BTreeSet<usize> = graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| matches_any(selectors, &n.release))
        .map(|(i, _)| i)
        .collect();
    if include_needs {
        graph.with_needs(&picked)
    } else {
        picked
    }
}

/// Like [`select`], with each theme's own `selectors:` (from the `helmfiles:` entry
/// that listed it) replacing `cli` for its releases, as helmfile does; `themes` is
/// the slice `graph` was built from.
pub fn select_in_themes(
    graph: &Graph,
    themes: &[Theme],
    cli: &[Selector],
    include_needs: bool,
) -> BTreeSet<usize> {
    let picked: BTreeSet<usize> = graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let own = themes.get(n.at.theme).and_then(|t| t.selectors.as_deref());
            matches_any(own.unwrap_or(cli), &n.release)
        })
        .map(|(i, _)| i)
        .collect();
    if include_needs {
        graph.with_needs(&picked)
    } else {
        picked
    }
}
