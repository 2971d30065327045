//! YAML text to a [`Value`] tree with source positions.
//!
//! Anchors, aliases and `<<` merge keys are resolved here, as helm's YAML reader
//! resolves them, so that the merged file we hand to helm needs none of them. Size,
//! nesting and alias expansion are bounded by [`hfkit_sops::limits`], shared with the
//! sops reader, so hostile input is refused before it can exhaust memory or stack.

use hfkit_sops::limits::{is_scanner_depth_error, Budget, LimitError, Mark, YamlLimits};
use indexmap::IndexMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::tree::{Node, Origin, Scalar, ScalarStyle, Value};

/// A YAML document that could not be read, with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {col})")]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// Parses every document of a YAML stream (a manifest file); empty documents are kept
/// as `None` so callers can count them.
pub fn parse_documents(text: &str, layer: u32) -> Result<Vec<Option<Value>>, YamlError> {
    parse_documents_limited(text, layer, YamlLimits::default())
}

/// [`parse_documents`] with other limits (a chart repository index may be larger than
/// any values file).
pub fn parse_documents_limited(
    text: &str,
    layer: u32,
    limits: YamlLimits,
) -> Result<Vec<Option<Value>>, YamlError> {
    let mut builder = Builder::new(layer, limits);
    builder
        .budget
        .check_size(text.len())
        .map_err(|e| YamlError {
            message: e.to_string(),
            line: 1,
            col: 1,
        })?;
    refuse_control_characters(text)?;
    let mut parser = Parser::new_from_str(text);
    // Events one at a time, not `Parser::load`: that recurses once per nesting level and
    // overflows the stack on deep block nesting before the depth bound can stop it.
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError {
            // The scanner's own bound on `[[[`/`{{{` nesting is the same limit, said the
            // same way.
            message: if is_scanner_depth_error(e.info()) {
                LimitError::TooDeep {
                    limit: limits.max_depth,
                }
                .to_string()
            } else {
                e.info().to_string()
            },
            line: e.marker().line() as u32,
            col: e.marker().col() as u32 + 1,
        })?;
        let end = event == Event::StreamEnd;
        builder.on_event(event, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        if end {
            return Ok(builder.documents);
        }
    }
}

/// Refuses the characters go-yaml's reader refuses (helm and kubectl read YAML with it),
/// so a file helm would not take is not taken here either.
fn refuse_control_characters(text: &str) -> Result<(), YamlError> {
    let Some((at, c)) = text
        .char_indices()
        .find(|&(_, c)| !hfkit_sops::limits::is_yaml_input_char(c))
    else {
        return Ok(());
    };
    let before = &text[..at];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Err(YamlError {
        message: format!(
            "control character U+{:04X} is not allowed in YAML (helm refuses it too); \
             write it as an escape in a double-quoted string (\"\\u{:04x}\")",
            c as u32, c as u32
        ),
        line,
        col,
    })
}

/// Parses a helm values file: one document whose top level is a map (or empty).
pub fn parse_values(text: &str, layer: u32) -> Result<Value, YamlError> {
    parse_values_limited(text, layer, YamlLimits::default())
}

/// [`parse_values`] with other limits.
pub fn parse_values_limited(
    text: &str,
    layer: u32,
    limits: YamlLimits,
) -> Result<Value, YamlError> {
    let docs = parse_documents_limited(text, layer, limits)?;
    let mut found = docs.into_iter().flatten();
    let first = found.next();
    if let Some(second) = found.next() {
        return Err(YamlError {
            message: "a values file must hold one YAML document, this one has several \
                      (helm would read only the first); split or join them"
                .into(),
            line: second.origin.line,
            col: second.origin.col,
        });
    }
    match first {
        None => Ok(Value::empty_map()),
        Some(v) => match &v.node {
            Node::Map(_) => Ok(v),
            Node::Scalar(s) if s.is_null() => Ok(Value::empty_map()),
            Node::List(_) => Err(YamlError {
                message: "the top level is a list; a values file must be a map of keys".into(),
                line: v.origin.line,
                col: v.origin.col,
            }),
            Node::Scalar(_) => Err(YamlError {
                message: "the top level is a single value; a values file must be a map of keys"
                    .into(),
                line: v.origin.line,
                col: v.origin.col,
            }),
        },
    }
}

/// Converts a scalar map key to the string helm would use. helm's reader (YAML 1.1 via
/// sigs.k8s.io/yaml) turns plain keys that are booleans (`yes`, `on`, `y`, ...) into
/// `"true"`/`"false"` and integers (`0x10`, `1_000`, `010`) into their decimal text; a
/// null key is refused, as helm refuses it.
fn key_string(s: &Scalar) -> Result<String, &'static str> {
    if s.style == ScalarStyle::Quoted || s.tag.is_some() {
        return Ok(s.text.clone());
    }
    if s.is_null() {
        return Err("a map key cannot be null (helm refuses it too); quote it or remove it");
    }
    Ok(match s.text.as_str() {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            "true".into()
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            "false".into()
        }
        text => yaml11_int(text)
            .map(|i| i.to_string())
            .unwrap_or_else(|| text.to_string()),
    })
}

/// A YAML 1.1 integer as go-yaml v2 reads it (Go's `ParseInt(s, 0, 64)` without `_`).
pub(crate) fn yaml11_int(text: &str) -> Option<i64> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, &cleaned[..]),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        (2, b)
    } else if let Some(o) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        (8, o)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

enum Frame {
    Map {
        entries: IndexMap<String, Value>,
        /// Key waiting for its value, with the line it was written on.
        pending_key: Option<(String, Origin)>,
        /// True when the pending key is a `<<` merge key.
        pending_merge: bool,
        /// Values of `<<` merge keys, applied at the end (explicit keys win).
        merges: Vec<Value>,
        origin: Origin,
        anchor: usize,
        mark: Mark,
    },
    List {
        items: Vec<Value>,
        origin: Origin,
        anchor: usize,
        mark: Mark,
    },
}

struct Builder {
    layer: u32,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Value>,
    documents: Vec<Option<Value>>,
    /// The document being read has produced its root node.
    root_done: bool,
    error: Option<YamlError>,
    /// Bounds on depth and alias expansion.
    budget: Budget,
}

impl Builder {
    fn new(layer: u32, limits: YamlLimits) -> Self {
        Builder {
            budget: Budget::new(limits),
            layer,
            stack: Vec::new(),
            anchors: Default::default(),
            documents: Vec::new(),
            root_done: false,
            error: None,
        }
    }

    fn origin(&self, mark: &Marker) -> Origin {
        Origin {
            layer: self.layer,
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
        }
    }

    fn fail(&mut self, message: String, origin: Origin) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                message,
                line: origin.line,
                col: origin.col,
            });
        }
    }

    /// Hands a finished node to its parent (or makes it the document's root).
    fn complete(&mut self, value: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let mut failure = None;
        match self.stack.last_mut() {
            None => {
                self.documents.push(Some(value));
                self.root_done = true;
            }
            Some(Frame::List { items, .. }) => items.push(value),
            Some(Frame::Map {
                entries,
                pending_key,
                pending_merge,
                merges,
                ..
            }) => {
                if *pending_merge {
                    *pending_merge = false;
                    match &value.node {
                        Node::Map(_) => merges.push(value),
                        Node::List(items) if items.iter().all(|i| i.as_map().is_some()) => {
                            merges.extend(items.iter().cloned())
                        }
                        _ => {
                            failure = Some((
                                "a `<<` merge key needs a map or a list of maps".to_string(),
                                value.origin,
                            ))
                        }
                    }
                } else if let Some((key, key_origin)) = pending_key.take() {
                    // A nested map or list is reported at its key's line, where a
                    // person looks for it.
                    let mut value = value;
                    if !matches!(value.node, Node::Scalar(_)) {
                        value.origin = key_origin;
                    }
                    if let Some(first) = entries.get(&key) {
                        failure = Some((
                            format!(
                                "duplicate key `{key}` (first set on line {}); keep one of them",
                                first.origin.line
                            ),
                            value.origin,
                        ));
                    } else {
                        entries.insert(key, value);
                    }
                } else {
                    match &value.node {
                        Node::Scalar(s)
                            if s.style == ScalarStyle::Plain
                                && s.tag.is_none()
                                && s.text == "<<" =>
                        {
                            *pending_merge = true;
                        }
                        Node::Scalar(s) => match key_string(s) {
                            Ok(key) => *pending_key = Some((key, value.origin)),
                            Err(message) => failure = Some((message.to_string(), value.origin)),
                        },
                        _ => {
                            failure = Some((
                                "a map key must be a plain value, not a map or list".to_string(),
                                value.origin,
                            ))
                        }
                    }
                }
            }
        }
        if let Some((message, origin)) = failure {
            self.fail(message, origin);
        }
    }
}

/// A tag as it can be written back: `!!str`, `!local`, the non-specific `!`, else the
/// verbatim `!<...>` form (a `%TAG` handle resolved to its prefix has no short form
/// without its directive).
fn tag_text(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| match t.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", escape_tag(&t.suffix, false)),
        "!" => format!("!{}", escape_tag(&t.suffix, false)),
        "" if t.suffix == "!" => "!".to_string(),
        "" if t.suffix.starts_with("tag:yaml.org,2002:") => {
            let suffix = &t.suffix["tag:yaml.org,2002:".len()..];
            format!("!!{}", escape_tag(suffix, false))
        }
        handle => format!("!<{}>", escape_tag(&format!("{handle}{}", t.suffix), true)),
    })
}

/// The scanner has already decoded `%XX` escapes: writes them back for every ASCII
/// character that may not appear as itself in a tag shorthand (YAML's ns-tag-char) or,
/// `verbatim`, in a `!<...>` tag (ns-uri-char). (Non-ASCII text is refused by the
/// builder before it is kept.)
fn escape_tag(text: &str, verbatim: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let plain = !c.is_ascii()
            || c.is_ascii_alphanumeric()
            || "-#;/?:@&=+$_.~*'()".contains(c)
            || (verbatim && ",[]!".contains(c));
        if plain {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", c as u32));
        }
    }
    out
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let origin = self.origin(&mark);
        match ev {
            Event::DocumentStart => {
                self.root_done = false;
                self.budget.start_document();
            }
            Event::DocumentEnd => {
                if !self.root_done {
                    self.documents.push(None);
                }
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    // Plain text that cannot be written back plain (a fold over a blank
                    // line, a leading `|` in a flow collection, ...) matches no typed form
                    // (bool, int, float, null): it is a string, and is kept as one.
                    TScalarStyle::Plain
                        if text.is_empty() || super::emit::writable_plain(&text) =>
                    {
                        ScalarStyle::Plain
                    }
                    _ => ScalarStyle::Quoted,
                };
                let tag = tag_text(tag);
                if tag.as_deref().is_some_and(|t| !t.is_ascii()) {
                    // Only `%`-escapes give a tag non-ASCII text, and yaml-rust2 decodes
                    // those into other characters than go-yaml does (fuzz finding).
                    self.fail(
                        "a tag with %-escaped non-ASCII characters is not supported (it \
                         would not read as helm reads it); use an ASCII tag"
                            .into(),
                        origin,
                    );
                    return;
                }
                self.budget.scalar(anchor);
                let value = Value {
                    node: Node::Scalar(Scalar { text, style, tag }),
                    origin,
                };
                self.complete(value, anchor);
            }
            Event::Alias(id) => {
                if !self.anchors.contains_key(&id) {
                    self.fail("alias to an unknown anchor".into(), origin);
                } else if let Err(e) = self.budget.alias(id) {
                    // Charged before the copy is made: a billion-laughs document stops here.
                    self.fail(e.to_string(), origin);
                } else {
                    let v = self.anchors[&id].clone();
                    self.complete(v, 0);
                }
            }
            Event::MappingStart(anchor, _) => match self.budget.open() {
                Ok(mark) => self.stack.push(Frame::Map {
                    entries: IndexMap::new(),
                    pending_key: None,
                    pending_merge: false,
                    merges: Vec::new(),
                    origin,
                    anchor,
                    mark,
                }),
                Err(e) => self.fail(e.to_string(), origin),
            },
            Event::SequenceStart(anchor, _) => match self.budget.open() {
                Ok(mark) => self.stack.push(Frame::List {
                    items: Vec::new(),
                    origin,
                    anchor,
                    mark,
                }),
                Err(e) => self.fail(e.to_string(), origin),
            },
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut entries,
                    merges,
                    origin,
                    anchor,
                    mark,
                    ..
                }) = self.stack.pop()
                {
                    self.budget.close(mark, anchor);
                    for source in merges {
                        if let Node::Map(m) = source.node {
                            for (k, v) in m {
                                entries.entry(k).or_insert(v);
                            }
                        }
                    }
                    self.complete(
                        Value {
                            node: Node::Map(entries),
                            origin,
                        },
                        anchor,
                    );
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::List {
                    items,
                    origin,
                    anchor,
                    mark,
                }) = self.stack.pop()
                {
                    self.budget.close(mark, anchor);
                    self.complete(
                        Value {
                            node: Node::List(items),
                            origin,
                        },
                        anchor,
                    );
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let v = parse_values("a: 1\nb:\n  c: x\n", 0).unwrap();
        let b = &v.as_map().unwrap()["b"];
        let c = &b.as_map().unwrap()["c"];
        assert_eq!((c.origin.line, c.origin.col), (3, 6));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let v = parse_values(
            "base: &b {p: 1, q: 2}\nderived:\n  <<: *b\n  q: 3\nlist: [*b]\n",
            0,
        )
        .unwrap();
        let m = v.as_map().unwrap();
        let d = m["derived"].as_map().unwrap();
        assert_eq!(d["p"].as_scalar().unwrap().text, "1");
        assert_eq!(d["q"].as_scalar().unwrap().text, "3");
        assert!(matches!(&m["list"].node, Node::List(l) if l.len() == 1));
    }

    #[test]
    fn top_level_list_is_refused_with_position() {
        let e = parse_values("# c\n- a\n- b\n", 0).unwrap_err();
        assert!(e.message.contains("top level is a list"), "{e}");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = parse_values("a: 1\nb: [1, 2\nc: 3\n", 0).unwrap_err();
        assert!(e.line >= 2, "{e:?}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse_values("a: 1\nb: 2\na: 3\n", 0).unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{e}");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn empty_and_null_documents_are_empty_maps() {
        assert!(parse_values("", 0).unwrap().as_map().unwrap().is_empty());
        assert!(parse_values("# only a comment\n", 0)
            .unwrap()
            .as_map()
            .unwrap()
            .is_empty());
        assert!(parse_values("~\n", 0).unwrap().as_map().unwrap().is_empty());
    }

    /// `levels` levels of `fan` aliases each: fan^levels scalars if expanded. Small
    /// enough that a reader without bounds still returns (and the test then fails).
    fn bomb(levels: usize, fan: usize) -> String {
        let mut s = format!("l0: &l0 [{}]\n", vec!["x"; fan].join(", "));
        for l in 1..levels {
            let items = vec![format!("*l{}", l - 1); fan].join(", ");
            s.push_str(&format!("l{l}: &l{l} [{items}]\n"));
        }
        s
    }

    #[test]
    fn alias_bombs_are_refused_at_the_alias() {
        let e = parse_values(&bomb(7, 5), 0).unwrap_err();
        assert!(e.message.contains("excessive aliasing"), "{e}");
        assert!(e.line >= 4, "{e:?}");
        // Through a manifest stream too (each document counted on its own).
        let e = parse_documents(&format!("a: 1\n---\n{}", bomb(7, 5)), 0).unwrap_err();
        assert!(e.message.contains("excessive aliasing"), "{e}");
    }

    #[test]
    fn moderate_aliasing_is_accepted() {
        // 3 levels of 5: 125 scalars, 150 of 156 nodes from aliases, under 1,000 nodes.
        assert!(parse_values(&bomb(3, 5), 0).is_ok());
        // A 30-entry map merged into 40 others: 1,200 of ~2,500 nodes from aliases.
        let mut s = String::from("base: &b {");
        s.push_str(
            &(0..30)
                .map(|i| format!("k{i}: {i}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push_str("}\n");
        for i in 0..40 {
            s.push_str(&format!("r{i}:\n  <<: *b\n  own: {i}\n"));
        }
        assert!(parse_values(&s, 0).is_ok());
    }

    #[test]
    fn nesting_is_bounded_in_flow_and_block_style() {
        for text in [
            format!("a: {}", "[".repeat(10_000)),
            format!("a: {}", "{b: ".repeat(10_000)),
            format!("a:\n{}x\n", "- ".repeat(10_000)),
        ] {
            let e = parse_values(&text, 0).unwrap_err();
            assert!(
                e.message.contains("nested more than 255 levels deep"),
                "{e}"
            );
        }
        let ok = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        assert!(parse_values(&ok, 0).is_ok());
    }

    #[test]
    fn keys_are_converted_like_helm() {
        let v = parse_values(
            "on: 1\n'on': 2\nn: 3\n0x10: 4\n010: 5\n1_000: 6\n1.50: 7\n",
            0,
        )
        .unwrap();
        let keys: Vec<_> = v.as_map().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["true", "on", "false", "16", "8", "1000", "1.50"]);
        let e = parse_values("~: 1\n", 0).unwrap_err();
        assert!(e.message.contains("cannot be null"), "{e}");
    }
}
