//! A classic chart repository's `index.yaml`, read into the versions of each chart
//! with what the report needs (date, digest, appVersion, changelog links).

use std::collections::BTreeMap;

use hfkit::values::{parse_values_limited, Node, Value};

/// One published version of a chart.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ChartVersion {
    /// The version as published (`1.4.2`).
    pub version: String,
    /// `appVersion`, when given.
    pub app_version: Option<String>,
    /// `created`, in seconds since the Unix epoch, when given and readable.
    pub created: Option<i64>,
    /// `digest`, when given.
    pub digest: Option<String>,
    /// `home`, when given.
    pub home: Option<String>,
    /// `sources`, when given.
    pub sources: Vec<String>,
    /// The `artifacthub.io/changes` annotation, one line per change
    /// (`kind: description` for the structured form).
    pub changes: Vec<String>,
    /// The `changelog` link of `artifacthub.io/links`, when given.
    pub changelog: Option<String>,
}

impl ChartVersion {
    /// The best link to what changed: the changelog link, else the first source, else
    /// `home`.
    pub fn link(&self) -> Option<&str> {
        self.changelog
            .as_deref()
            .or(self.sources.first().map(String::as_str))
            .or(self.home.as_deref())
    }
}

/// A repository index: chart name to its versions (in index order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartIndex {
    /// The versions of each chart.
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// An `index.yaml` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed index.yaml: {0}")]
pub struct IndexError(pub String);

fn text(v: &Value) -> Option<String> {
    match &v.node {
        Node::Scalar(s) if !s.is_null() => Some(s.text.clone()),
        _ => None,
    }
}

impl ChartIndex {
    /// Parses an `index.yaml`.
    pub fn parse(yaml: &str) -> Result<ChartIndex, IndexError> {
        // Indexes of big repositories outgrow the values-file size limit.
        let root = parse_values_limited(yaml, 0, hfkit::limits::YamlLimits::index())
            .map_err(|e| IndexError(e.to_string()))?;
        let map = root
            .as_map()
            .ok_or_else(|| IndexError("not a map".into()))?;
        let entries = map
            .get("entries")
            .ok_or_else(|| IndexError("no `entries:` key (is this a chart repository?)".into()))?;
        let mut out = ChartIndex::default();
        let Some(entries) = entries.as_map() else {
            if matches!(&entries.node, Node::Scalar(s) if s.is_null()) {
                return Ok(out);
            }
            return Err(IndexError(format!(
                "line {}: `entries` must be a map of chart names",
                entries.origin.line
            )));
        };
        for (chart, list) in entries {
            let Node::List(items) = &list.node else {
                return Err(IndexError(format!(
                    "line {}: entries.{chart} must be a list of versions",
                    list.origin.line
                )));
            };
            let mut versions = Vec::with_capacity(items.len());
            for item in items {
                let Some(m) = item.as_map() else {
                    return Err(IndexError(format!(
                        "line {}: entries.{chart} has an item that is not a map",
                        item.origin.line
                    )));
                };
                let Some(version) = m.get("version").and_then(text) else {
                    return Err(IndexError(format!(
                        "line {}: entries.{chart} has an item without `version`",
                        item.origin.line
                    )));
                };
                let mut cv = ChartVersion {
                    version,
                    app_version: m.get("appVersion").and_then(text),
                    created: m
                        .get("created")
                        .and_then(text)
                        .and_then(|c| crate::time::parse_rfc3339(&c)),
                    digest: m.get("digest").and_then(text),
                    home: m.get("home").and_then(text),
                    sources: match m.get("sources").map(|s| &s.node) {
                        Some(Node::List(l)) => l.iter().filter_map(text).collect(),
                        _ => Vec::new(),
                    },
                    ..Default::default()
                };
                if let Some(ann) = m.get("annotations").and_then(Value::as_map) {
                    if let Some(c) = ann.get("artifacthub.io/changes").and_then(text) {
                        cv.changes = parse_changes(&c);
                    }
                    if let Some(l) = ann.get("artifacthub.io/links").and_then(text) {
                        cv.changelog = parse_changelog_link(&l);
                    }
                }
                versions.push(cv);
            }
            out.entries.insert(chart.clone(), versions);
        }
        Ok(out)
    }
}

/// `artifacthub.io/changes`: a YAML list of strings or of `{kind, description}`.
pub(crate) fn parse_changes(text_: &str) -> Vec<String> {
    let Ok(docs) = hfkit::values::parse_documents(text_, 0) else {
        return vec![text_.trim().to_string()];
    };
    let mut out = Vec::new();
    for doc in docs.into_iter().flatten() {
        if let Node::List(items) = doc.node {
            for item in items {
                match &item.node {
                    Node::Map(m) => {
                        let d = m.get("description").and_then(text).unwrap_or_default();
                        match m.get("kind").and_then(text) {
                            Some(k) => out.push(format!("{k}: {d}")),
                            None => out.push(d),
                        }
                    }
                    _ => out.extend(text(&item)),
                }
            }
        }
    }
    out
}

/// The URL of the entry named `changelog` in `artifacthub.io/links`.
pub(crate) fn parse_changelog_link(text_: &str) -> Option<String> {
    let docs = hfkit::values::parse_documents(text_, 0).ok()?;
    for doc in docs.into_iter().flatten() {
        if let Node::List(items) = doc.node {
            for item in items {
                let m = item.as_map()?;
                let name = m.get("name").and_then(text).unwrap_or_default();
                if name.eq_ignore_ascii_case("changelog") {
                    return m.get("url").and_then(text);
                }
            }
        }
    }
    None
}
