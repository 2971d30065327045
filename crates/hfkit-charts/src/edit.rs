//! Source-preserving edits of a release's `version:` in a helmfile.
//!
//! The file is parsed only to find positions ([`hfkit::values::parse_documents`]
//! gives each scalar's 1-based line and column); the edit itself replaces the bytes of
//! one scalar in the original text, so comments, key order, quoting, indentation,
//! anchors and line endings stay as they were. Nothing is ever re-serialised.
//!
//! # Where the version is, and what we do
//!
//! - `version:` written in the release: its scalar is replaced, keeping its quotes.
//! - No version anywhere: `version: X` is inserted on the line after `chart:`, at the
//!   same indentation (in a flow map `{...}`, `, version: X` after the chart), quoted
//!   like the other versions of the file.
//! - The version comes from a template through a `<<:` merge key (helmfile's
//!   `templates:` + `<<: *default`): the template is left alone and the release gets
//!   its own `version:` inserted as above, which overrides the template for this
//!   release only (an explicit key wins over `<<`).
//! - Refused, with a message naming the lines, because changing it would silently
//!   upgrade other releases: a version that is an alias (`version: *v`), a version
//!   scalar that carries an anchor (`version: &v 1.0.0`), or a version scalar that
//!   several releases share (an anchored release merged into another). Also refused:
//!   a version written as a block scalar, or a file that is not plain YAML (template
//!   logic outside strings).
//!
//! # Markers
//!
//! A comment on the version line (or, without a version, on the chart line) of the
//! form `# hfapply: pin` or `# hfapply: <constraint>` is returned by [`locate`] as
//! [`ReleaseSite::marker`].

use hfkit::values::{parse_documents, Node, Value};

/// Why a release's version cannot be edited; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file does not parse as YAML.
    #[error("{0}: not plain YAML ({1}); edit the version by hand")]
    Parse(String, String),
    /// No release of that name at that line.
    #[error("{file}: release `{release}` not found")]
    NotFound {
        /// The file.
        file: String,
        /// The release.
        release: String,
    },
    /// Editing would change other releases, or the layout is not one we edit.
    #[error("{file}:{line}: release `{release}`: {message}")]
    Refused {
        /// The file.
        file: String,
        /// 1-based line.
        line: u32,
        /// The release.
        release: String,
        /// Why, and what to do.
        message: String,
    },
}

/// A replacement of the bytes `start..end` of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    /// First byte replaced.
    pub start: usize,
    /// Byte after the last one replaced (`start` for an insertion).
    pub end: usize,
    /// The new bytes.
    pub text: String,
}

/// How the version of a release would be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Replace {
        start: usize,
        end: usize,
        quote: Option<char>,
    },
    Insert {
        at: usize,
        prefix: String,
        suffix: String,
        quote: Option<char>,
    },
    Refuse {
        line: u32,
        message: String,
    },
}

/// Where a release's version is in a file and how it would be edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSite {
    /// The file as shown in messages.
    pub file: String,
    /// The release name.
    pub release: String,
    /// The version the release has, as parsed (from a template included).
    pub version: Option<String>,
    /// The text after `# hfapply:` on the version line (or the chart line).
    pub marker: Option<String>,
    /// True when the version comes from a template and a `version:` would be added.
    pub inherited: bool,
    plan: Plan,
}

impl ReleaseSite {
    /// The edit setting the version to `new_version`.
    pub fn edit(&self, new_version: &str) -> Result<TextEdit, EditError> {
        let q = |quote: Option<char>| match quote {
            Some('"') => format!(
                "\"{}\"",
                new_version.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            Some('\'') => format!("'{}'", new_version.replace('\'', "''")),
            _ => new_version.to_string(),
        };
        match &self.plan {
            Plan::Replace { start, end, quote } => Ok(TextEdit {
                start: *start,
                end: *end,
                text: q(*quote),
            }),
            Plan::Insert {
                at,
                prefix,
                suffix,
                quote,
            } => Ok(TextEdit {
                start: *at,
                end: *at,
                text: format!("{prefix}{}{suffix}", q(*quote)),
            }),
            Plan::Refuse { line, message } => Err(EditError::Refused {
                file: self.file.clone(),
                line: *line,
                release: self.release.clone(),
                message: message.clone(),
            }),
        }
    }

    /// Why the version cannot be edited, if it cannot.
    pub fn refusal(&self) -> Option<EditError> {
        self.edit("0.0.0").err()
    }
}

/// Applies non-overlapping edits to `text`.
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse((e.start, e.end)));
    let mut out = text.to_string();
    for e in sorted {
        out.replace_range(e.start..e.end, &e.text);
    }
    out
}

/// Byte offsets of each line's start.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }
    fn count(&self) -> u32 {
        self.starts.len() as u32
    }
    /// The text of 1-based `line` without its line ending.
    fn line(&self, line: u32) -> &'a str {
        let i = (line as usize).saturating_sub(1);
        let Some(&s) = self.starts.get(i) else {
            return "";
        };
        let e = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
        self.text[s..e]
            .trim_end_matches('\n')
            .trim_end_matches('\r')
    }
    /// Byte offset of 1-based (line, char column).
    fn offset(&self, line: u32, col: u32) -> usize {
        let s = self.starts[(line as usize - 1).min(self.starts.len() - 1)];
        let l = self.line(line);
        s + l
            .char_indices()
            .nth(col as usize - 1)
            .map(|(b, _)| b)
            .unwrap_or(l.len())
    }
    /// Byte offset just after 1-based `line`, its line ending included.
    fn after(&self, line: u32) -> usize {
        self.starts
            .get(line as usize)
            .copied()
            .unwrap_or(self.text.len())
    }
}

/// The byte length of the scalar starting at `s` (plain, `'…'` or `"…"`), and its
/// quote; `None` for a block scalar, an alias or a multi-line quoted scalar.
fn scalar_extent(s: &str) -> Option<(usize, Option<char>)> {
    let mut chars = s.char_indices();
    match chars.next()?.1 {
        '"' => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return Some((i + 1, Some('"'))),
                    _ => escaped = false,
                }
            }
            None
        }
        '\'' => {
            let b = s.as_bytes();
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Some((i + 1, Some('\'')));
                }
                i += 1;
            }
            None
        }
        '|' | '>' | '*' | '&' | '!' => None,
        _ => {
            let mut end = s.len();
            let b = s.as_bytes();
            for (i, &c) in b.iter().enumerate() {
                if c == b','
                    || c == b'}'
                    || c == b']'
                    || (c == b'#' && i > 0 && b[i - 1].is_ascii_whitespace())
                {
                    end = i;
                    break;
                }
            }
            Some((s[..end].trim_end().len(), None))
        }
    }
}

/// The text after `# hfapply:` in a line's trailing comment, from byte `from` on.
fn marker_in(line: &str, from: usize) -> Option<String> {
    let rest = line.get(from..)?;
    let hash = rest.find('#')?;
    let comment = rest[hash + 1..].trim();
    let m = comment.strip_prefix("hfapply:")?.trim();
    Some(m.to_string())
}

fn scalar_text(v: &Value) -> Option<String> {
    match &v.node {
        Node::Scalar(s) if !s.is_null() => Some(s.text.clone()),
        _ => None,
    }
}

/// The column (0-based, bytes) of `key:` on a line, after indentation and `- `.
fn key_column(line: &str, key: &str) -> Option<usize> {
    let mut i = 0;
    let b = line.as_bytes();
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'-' && b[i + 1] == b' ' {
            i += 2;
            continue;
        }
        if i < b.len() && b[i] == b'{' {
            return line[i..].find(key).map(|k| i + k);
        }
        break;
    }
    let rest = &line[i..];
    let unq = rest.trim_start_matches(['"', '\'']);
    if unq.starts_with(key)
        && unq[key.len()..]
            .trim_start_matches(['"', '\''])
            .trim_start()
            .starts_with(':')
    {
        Some(i)
    } else {
        None
    }
}

/// Finds release `release` (declared at 1-based `line`) in the helmfile text `text`
/// (`file` is used in messages) and how its version would be edited.
pub fn locate(text: &str, file: &str, release: &str, line: u32) -> Result<ReleaseSite, EditError> {
    let docs =
        parse_documents(text, 0).map_err(|e| EditError::Parse(file.to_string(), e.to_string()))?;
    let lines = Lines::new(text);
    // Every release item of the file, and the lines where something else starts
    // (top-level keys, documents), which end the last release's span.
    let mut items: Vec<&Value> = Vec::new();
    let mut boundaries: Vec<u32> = Vec::new();
    for doc in docs.iter().flatten() {
        boundaries.push(doc.origin.line);
        let Some(map) = doc.as_map() else { continue };
        for (k, v) in map {
            boundaries.push(v.origin.line);
            if k == "releases" {
                if let Node::List(list) = &v.node {
                    items.extend(list.iter());
                }
            }
        }
    }
    let not_found = || EditError::NotFound {
        file: file.to_string(),
        release: release.to_string(),
    };
    let idx = items
        .iter()
        .position(|it| it.origin.line == line)
        .or_else(|| {
            items.iter().position(|it| {
                it.as_map()
                    .and_then(|m| m.get("name"))
                    .and_then(scalar_text)
                    .as_deref()
                    == Some(release)
            })
        })
        .ok_or_else(not_found)?;
    let item = items[idx];
    let map = item.as_map().ok_or_else(not_found)?;
    let start = item.origin.line;
    let end = items
        .iter()
        .map(|i| i.origin.line)
        .chain(boundaries.iter().copied())
        .filter(|&l| l > start)
        .min()
        .map(|l| l - 1)
        .unwrap_or(lines.count());
    let in_span = |l: u32| l >= start && l <= end;
    let refuse = |l: u32, message: String| Plan::Refuse { line: l, message };

    // The quoting of the first version written in its own release.
    let style = items
        .iter()
        .enumerate()
        .find_map(|(j, it)| {
            let v = it.as_map()?.get("version")?;
            let s = items.get(j + 1).map(|n| n.origin.line).unwrap_or(u32::MAX);
            if v.origin.line >= it.origin.line && v.origin.line < s {
                let l = lines.line(v.origin.line);
                let b = lines.offset(v.origin.line, v.origin.col) - lines.offset(v.origin.line, 1);
                Some(match l[b..].chars().next() {
                    Some(c @ ('"' | '\'')) => Some(c),
                    _ => None,
                })
            } else {
                None
            }
        })
        .unwrap_or(None);

    let version = map.get("version");
    let mut site = ReleaseSite {
        file: file.to_string(),
        release: release.to_string(),
        version: version.and_then(scalar_text),
        marker: None,
        inherited: false,
        plan: refuse(start, String::new()),
    };

    // Where a version would be inserted: after the chart line (or the name line).
    let insert_plan = |site_line: u32| -> Plan {
        let anchor_key = match map.get("chart") {
            Some(c) if in_span(c.origin.line) => Some(("chart", c)),
            _ => map
                .get("name")
                .filter(|n| in_span(n.origin.line))
                .map(|n| ("name", n)),
        };
        let Some((key, node)) = anchor_key else {
            return refuse(
                site_line,
                "no `chart:` or `name:` line to put `version:` after".into(),
            );
        };
        let l = node.origin.line;
        let text_line = lines.line(l);
        let value_at = lines.offset(l, node.origin.col);
        let Some(col) = key_column(text_line, key) else {
            return refuse(
                l,
                format!("`{key}:` is not at the start of its line; add `version:` by hand"),
            );
        };
        let flow = text_line
            .trim_start()
            .trim_start_matches("- ")
            .trim_start()
            .starts_with('{');
        if flow {
            let rest = &text[value_at..];
            let Some((len, _)) = scalar_extent(rest) else {
                return refuse(l, "chart is not a plain or quoted value".into());
            };
            return Plan::Insert {
                at: value_at + len,
                prefix: ", version: ".into(),
                suffix: String::new(),
                quote: style,
            };
        }
        // A value continuing on later lines (a block scalar) is not supported.
        if scalar_extent(&text[value_at..]).is_none() {
            return refuse(
                l,
                format!("`{key}:` is not a single-line value; add `version:` by hand"),
            );
        }
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let at = lines.after(l);
        let missing_newline = at == text.len() && !text.ends_with('\n');
        Plan::Insert {
            at,
            prefix: format!(
                "{}{}version: ",
                if missing_newline { eol } else { "" },
                " ".repeat(col)
            ),
            suffix: if missing_newline {
                String::new()
            } else {
                eol.to_string()
            },
            quote: style,
        }
    };

    let chart_marker = || {
        map.get("chart")
            .filter(|c| in_span(c.origin.line))
            .and_then(|c| {
                let l = lines.line(c.origin.line);
                let from =
                    lines.offset(c.origin.line, c.origin.col) - lines.offset(c.origin.line, 1);
                let len = scalar_extent(&l[from..]).map(|e| e.0).unwrap_or(0);
                marker_in(l, from + len)
            })
    };

    match version {
        None => {
            site.marker = chart_marker();
            site.plan = insert_plan(start);
        }
        Some(v) => {
            let vl = v.origin.line;
            let shared: Vec<String> = items
                .iter()
                .enumerate()
                .filter(|(j, it)| {
                    *j != idx
                        && it
                            .as_map()
                            .and_then(|m| m.get("version"))
                            .is_some_and(|o| o.origin == v.origin)
                })
                .filter_map(|(_, it)| it.as_map()?.get("name").and_then(scalar_text))
                .collect();
            // Is a `version:` key written in the release's own lines?
            let release_col = map
                .get("name")
                .filter(|n| in_span(n.origin.line))
                .and_then(|n| key_column(lines.line(n.origin.line), "name"));
            let own_key_line = (start..=end).find(|&l| {
                let c = key_column(lines.line(l), "version");
                c.is_some() && (release_col.is_none() || c == release_col)
            });
            if !shared.is_empty() {
                site.plan = refuse(
                    vl,
                    format!(
                        "its version (line {vl}) is shared through an anchor with {}; \
                         give each release its own `version:` or edit line {vl} by hand",
                        shared.join(", ")
                    ),
                );
            } else if in_span(vl) {
                let l = lines.line(vl);
                let from = lines.offset(vl, v.origin.col) - lines.offset(vl, 1);
                let before = l[..from].trim_end();
                site.marker = marker_in(l, from);
                if let Some(anchor) = before.rsplit(' ').next().filter(|w| w.starts_with('&')) {
                    site.plan = refuse(
                        vl,
                        format!(
                            "its version carries the anchor `{anchor}`, which other places may \
                             use; remove the anchor or edit line {vl} by hand"
                        ),
                    );
                } else if !before.trim_end_matches(['"', '\'']).ends_with("version:")
                    && !before.ends_with("version\":")
                    && !before.ends_with("version':")
                {
                    site.plan = refuse(
                        vl,
                        "its version is not written as `version: X` on one line (a block or multi-line \
                         scalar, or an unusual layout); edit it by hand".into(),
                    );
                } else {
                    match scalar_extent(&l[from..]) {
                        Some((len, quote)) => {
                            let s = lines.offset(vl, v.origin.col);
                            site.plan = Plan::Replace {
                                start: s,
                                end: s + len,
                                quote,
                            };
                        }
                        None => {
                            site.plan = refuse(
                                vl,
                                "its version is a multi-line or block scalar; edit it by hand"
                                    .into(),
                            )
                        }
                    }
                }
            } else if let Some(kl) = own_key_line {
                site.plan = refuse(
                    kl,
                    format!(
                        "its version is an alias of the anchor at line {vl}, which other \
                         places may use; write the version itself on line {kl}"
                    ),
                );
            } else {
                // Inherited through `<<:` from a template: override in the release.
                site.inherited = true;
                site.marker = chart_marker();
                site.plan = insert_plan(start);
            }
        }
    }
    Ok(site)
}
