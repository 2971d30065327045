//! YAML store: reads a YAML stream into sops trees (comments become comment entries the
//! way sops's yaml.v3-based store places them) and writes trees back the way sops's
//! emitter does (block style, 4-space indentation).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use crate::limits::{
    is_scanner_depth_error, is_yaml_input_char, is_yaml_printable, Budget, LimitError, YamlLimits,
};
use crate::tree::{go_format_float_g, Branch, Comment, Item, Key, Value};
use crate::Error;

#[derive(Debug, Clone)]
enum NodeKind {
    Scalar {
        value: String,
        style: TScalarStyle,
        tag: Option<Tag>,
    },
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    line: usize,
    col: usize,
    /// Container id for maps and sequences.
    id: usize,
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Node>,
    next_id: usize,
    /// Positions of scalars: (line, col, next event line, style).
    scalars: Vec<(usize, usize, usize, TScalarStyle, bool)>,
    pending_scalar: Option<usize>,
    /// Bounds on depth and alias expansion.
    budget: Budget,
}

fn perr(e: impl std::fmt::Display) -> Error {
    Error::parse("YAML", e.to_string())
}

/// A limit crossed at 0-based `line`.
fn limit(line: usize, limit: LimitError) -> Error {
    Error::Limit {
        format: "YAML",
        line: line + 1,
        limit,
    }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event, usize, usize), Error> {
        let (ev, mark) = self.parser.next_token().map_err(|e| {
            if is_scanner_depth_error(e.info()) {
                let max = self.budget.max_depth();
                limit(
                    e.marker().line().saturating_sub(1),
                    LimitError::TooDeep { limit: max },
                )
            } else {
                perr(e)
            }
        })?;
        let line = mark.line().saturating_sub(1);
        if let Some(i) = self.pending_scalar.take() {
            self.scalars[i].2 = line;
        }
        Ok((ev, line, mark.col()))
    }

    fn node(&mut self, ev: Event, line: usize, col: usize) -> Result<Node, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let (node, anchor) = match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let multiline = value.contains('\n')
                    || matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
                self.budget.scalar(anchor);
                self.scalars.push((line, col, line, style, multiline));
                self.pending_scalar = Some(self.scalars.len() - 1);
                (
                    Node {
                        kind: NodeKind::Scalar { value, style, tag },
                        line,
                        col,
                        id,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                let mark = self.budget.open().map_err(|e| limit(line, e))?;
                let mut entries = Vec::new();
                loop {
                    let (ev, l, c) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let k = self.node(ev, l, c)?;
                    let (ev, l, c) = self.next()?;
                    let v = self.node(ev, l, c)?;
                    entries.push((k, v));
                }
                self.budget.close(mark, anchor);
                (
                    Node {
                        kind: NodeKind::Map(entries),
                        line,
                        col,
                        id,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(anchor, _) => {
                let mark = self.budget.open().map_err(|e| limit(line, e))?;
                let mut items = Vec::new();
                loop {
                    let (ev, l, c) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, l, c)?);
                }
                self.budget.close(mark, anchor);
                (
                    Node {
                        kind: NodeKind::Seq(items),
                        line,
                        col,
                        id,
                    },
                    anchor,
                )
            }
            Event::Alias(a) => {
                // Charge the copy before making it: a billion-laughs document is refused
                // here, after a few thousand nodes.
                self.budget.alias(a).map_err(|e| limit(line, e))?;
                let n = self
                    .anchors
                    .get(&a)
                    .cloned()
                    .ok_or_else(|| perr("unknown alias"))?;
                return Ok(n);
            }
            other => return Err(perr(format!("unexpected event {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

/// Go `strconv.ParseInt(s, 0, 64)` (underscores already removed).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let mag = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

fn is_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let mant_ok = if let Some(frac) = mant.strip_prefix('.') {
        !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit())
    } else {
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        !int.is_empty()
            && int.bytes().all(|c| c.is_ascii_digit())
            && frac.bytes().all(|c| c.is_ascii_digit())
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        }
    };
    mant_ok && exp_ok
}

/// Whether a plain scalar looks like a YAML timestamp (yaml.v3 rules, approximated).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let re = timestamp_re();
    re.is_match(s)
}

fn timestamp_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))|(?: \d{1,2}:\d{1,2}:\d{1,2}(?:\.\d+)?))?$",
        )
        .expect("valid regex")
    })
}

/// Normalizes a YAML timestamp the way Go's `time.Time.MarshalText` prints it
/// (RFC 3339 with nanoseconds, trailing zeros trimmed; zero offset as `Z`).
pub fn normalize_timestamp(s: &str) -> Option<String> {
    let caps = timestamp_parts_re().captures(s)?;
    let num = |i: usize| {
        caps.get(i)
            .map(|m| m.as_str().parse::<u32>().ok())
            .unwrap_or(Some(0))
    };
    let (y, mo, d) = (num(1)?, num(2)?, num(3)?);
    let (h, mi, se) = (num(4)?, num(5)?, num(6)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let frac = caps
        .get(7)
        .map(|m| m.as_str().trim_end_matches('0').to_string())
        .unwrap_or_default();
    let zone = match caps.get(8).map(|m| m.as_str()) {
        None | Some("Z") | Some("+00:00") | Some("-00:00") => "Z".to_string(),
        Some(z) => z.to_string(),
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{}", &frac[..frac.len().min(9)])
    };
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{zone}"
    ))
}

fn timestamp_parts_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?)?$",
        )
        .expect("valid regex")
    })
}

/// Resolves a plain scalar the way yaml.v3 does when decoding into `interface{}`.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        if is_yaml_float(s) {
            if let Ok(f) = s.parse() {
                return Value::Float(f);
            }
        }
        return Value::Str(s.to_string());
    }
    if first.is_ascii_digit() || first == b'-' || first == b'+' {
        if is_timestamp(s) {
            return match normalize_timestamp(s) {
                Some(t) => Value::Time(t),
                None => Value::Str(s.to_string()),
            };
        }
        let plain = s.replace('_', "");
        if let Some(i) = go_parse_int(&plain) {
            return Value::Int(i);
        }
        if is_yaml_float(&plain) {
            if let Ok(f) = plain.parse() {
                return Value::Float(f);
            }
        }
        // Too large for i64 (uint64 or more): keep the number as a float.
        if plain.bytes().all(|c| c.is_ascii_digit()) {
            if let Ok(f) = plain.parse() {
                return Value::Float(f);
            }
        }
    }
    Value::Str(s.to_string())
}

fn scalar_value(value: &str, style: TScalarStyle, tag: &Option<Tag>) -> Value {
    if let Some(t) = tag {
        if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" {
            match t.suffix.as_str() {
                "str" | "binary" => return Value::Str(value.to_string()),
                "null" => return Value::Null,
                _ => {}
            }
        }
    }
    match style {
        TScalarStyle::Plain => resolve_plain(value),
        _ => Value::Str(value.to_string()),
    }
}

/// Where a comment gets attached: before entry `index` of container `id`.
#[derive(Default)]
struct Attach {
    before: HashMap<(usize, usize), Vec<Comment>>,
}

/// An anchor: a position where comments may attach.
struct Anchor {
    line: usize,
    col: usize,
    container: usize,
    index: usize,
}

fn collect_anchors(node: &Node, out: &mut Vec<Anchor>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push(Anchor {
                    line: k.line,
                    col: k.col,
                    container: node.id,
                    index: i,
                });
                collect_anchors(v, out);
            }
        }
        NodeKind::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                out.push(Anchor {
                    line: it.line,
                    col: it.col.saturating_sub(2),
                    container: node.id,
                    index: i,
                });
                collect_anchors(it, out);
            }
        }
        NodeKind::Scalar { .. } => {}
    }
}

/// End column of a single-line scalar starting at `col` in `line`.
fn scalar_end(line: &str, col: usize) -> usize {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let start = chars
        .iter()
        .position(|(_, _)| true)
        .map(|_| col)
        .unwrap_or(0);
    // `col` counts characters.
    let bytes_at = |ci: usize| chars.get(ci).map(|c| c.0).unwrap_or(line.len());
    let mut i = start;
    match chars.get(i).map(|c| c.1) {
        Some('"') => {
            i += 1;
            while let Some(&(_, c)) = chars.get(i) {
                if c == '\\' {
                    i += 2;
                    continue;
                }
                i += 1;
                if c == '"' {
                    break;
                }
            }
            bytes_at(i)
        }
        Some('\'') => {
            i += 1;
            while let Some(&(_, c)) = chars.get(i) {
                i += 1;
                if c == '\'' {
                    if chars.get(i).map(|c| c.1) == Some('\'') {
                        i += 1;
                        continue;
                    }
                    break;
                }
            }
            bytes_at(i)
        }
        _ => {
            let from = bytes_at(i);
            let rest = &line[from..];
            let mut prev_ws = false;
            for (off, c) in rest.char_indices() {
                if c == '#' && prev_ws {
                    return from + off;
                }
                prev_ws = c == ' ' || c == '\t';
            }
            line.len()
        }
    }
}

fn comment_after(line: &str, from: usize) -> Option<String> {
    let rest = line.get(from..)?.trim_start();
    rest.strip_prefix('#').map(|s| s.to_string())
}

/// Parses a YAML stream into one branch per document.
pub fn parse(src: &str) -> Result<Vec<Branch>, Error> {
    let budget = Budget::new(YamlLimits::default());
    budget.check_size(src.len()).map_err(|e| limit(0, e))?;
    // Refuse control characters like yaml.v3 (and so sops) does. yaml-rust2 would otherwise
    // read a NUL as the end of the input and silently drop everything after it.
    if let Some((i, c)) = src.char_indices().find(|&(_, c)| !is_yaml_input_char(c)) {
        let line = src[..i].matches('\n').count() + 1;
        return Err(perr(format!(
            "control characters are not allowed: {c:?} at byte {i} line {line}"
        )));
    }
    // YAML line breaks are `\n`, `\r\n` and a lone `\r`; the scanner folds all of them to
    // `\n` anyway. Normalize them so that our line-based comment scan sees the same lines as
    // the scanner (`str::lines` would keep a lone `\r` inside a line, e.g. in a comment).
    let normalized;
    let src = if src.contains('\r') {
        normalized = src.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        src
    };
    let mut b = Builder {
        parser: Parser::new_from_str(src),
        anchors: HashMap::new(),
        next_id: 0,
        scalars: Vec::new(),
        pending_scalar: None,
        budget,
    };
    let mut docs: Vec<(Option<Node>, usize)> = Vec::new();
    loop {
        let (ev, line, _) = b.next()?;
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                b.budget.start_document();
                let (ev, l, c) = b.next()?;
                let node = b.node(ev, l, c)?;
                docs.push((Some(node), line));
                // DocumentEnd
                loop {
                    let (ev, _, _) = b.next()?;
                    if matches!(ev, Event::DocumentEnd | Event::StreamEnd) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    let lines: Vec<&str> = src.lines().collect();
    // Lines that belong to multi-line scalars.
    let mut covered = vec![false; lines.len() + 1];
    for &(l, _c, next, style, multiline) in &b.scalars {
        if !multiline {
            continue;
        }
        let end = next.max(l + 1).min(lines.len());
        let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
        let content_indent = if block {
            lines[(l + 1).min(end)..end]
                .iter()
                .find(|s| !s.trim().is_empty())
                .map(|s| s.len() - s.trim_start().len())
                .unwrap_or(usize::MAX)
        } else {
            0
        };
        for (ln, text) in lines.iter().enumerate().take(end).skip(l + 1) {
            let indent = text.len() - text.trim_start().len();
            if block && text.trim_start().starts_with('#') && indent < content_indent {
                continue;
            }
            covered[ln] = true;
        }
    }
    // Inline comments: after scalar values and after keys of collection values.
    let mut attach = Attach::default();
    let mut inline_lines = vec![false; lines.len() + 1];
    let mut anchors = Vec::new();
    for (doc, _) in &docs {
        if let Some(n) = doc {
            collect_inline(n, &lines, &covered, &mut attach, &mut inline_lines);
            collect_anchors(n, &mut anchors);
        }
    }
    // Full-line comments.
    let mut trailing: Vec<(usize, Comment)> = Vec::new();
    for (ln, text) in lines.iter().enumerate() {
        if covered[ln] || inline_lines[ln] {
            continue;
        }
        let t = text.trim_start();
        let Some(c) = t.strip_prefix('#') else {
            continue;
        };
        let comment = Comment {
            text: c.to_string(),
            inline: false,
        };
        let col = text.len() - t.len();
        let next = anchors.iter().find(|a| a.line > ln);
        match next {
            Some(a) if a.col <= col || a.line == 0 => {
                if a.col < col {
                    // Deeper than the next entry: a foot comment of the previous container.
                    if let Some(p) = anchors.iter().rev().find(|p| p.line < ln && p.col <= col) {
                        attach
                            .before
                            .entry((p.container, usize::MAX))
                            .or_default()
                            .push(comment);
                        continue;
                    }
                }
                attach
                    .before
                    .entry((a.container, a.index))
                    .or_default()
                    .push(comment)
            }
            Some(a) => {
                let _ = a;
                match anchors.iter().rev().find(|p| p.line < ln && p.col <= col) {
                    Some(p) => attach
                        .before
                        .entry((p.container, usize::MAX))
                        .or_default()
                        .push(comment),
                    None => attach
                        .before
                        .entry((a.container, a.index))
                        .or_default()
                        .push(comment),
                }
            }
            None => trailing.push((ln, comment)),
        }
    }
    let mut out = Vec::new();
    let ndocs = docs.len();
    for (di, (doc, _start)) in docs.into_iter().enumerate() {
        let mut branch = match doc {
            Some(node) => match node.kind {
                NodeKind::Map(_) => match to_value(node, &mut attach)? {
                    Value::Map(m) => m,
                    _ => unreachable!("map node"),
                },
                NodeKind::Scalar {
                    ref value,
                    style,
                    ref tag,
                } => {
                    if matches!(scalar_value(value, style, tag), Value::Null) {
                        Vec::new()
                    } else {
                        return Err(perr("YAML documents that are values are not supported"));
                    }
                }
                NodeKind::Seq(_) => {
                    return Err(perr("YAML documents that are sequences are not supported"))
                }
            },
            None => Vec::new(),
        };
        if di + 1 == ndocs {
            for (_, c) in trailing.drain(..) {
                branch.push(Item {
                    key: Key::Comment(c),
                    value: Value::Null,
                });
            }
        }
        out.push(branch);
    }
    if out.is_empty() && !trailing.is_empty() {
        out.push(
            trailing
                .into_iter()
                .map(|(_, c)| Item {
                    key: Key::Comment(c),
                    value: Value::Null,
                })
                .collect(),
        );
    }
    Ok(out)
}

fn collect_inline(
    node: &Node,
    lines: &[&str],
    covered: &[bool],
    attach: &mut Attach,
    inline_lines: &mut [bool],
) {
    let mut check = |container: usize, index: usize, anchor: &Node, value: &Node| {
        let NodeKind::Scalar {
            style, value: v, ..
        } = &value.kind
        else {
            // key of a collection value: `key: # comment`
            if anchor.id != value.id && anchor.line < lines.len() && !covered[anchor.line] {
                let line = lines[anchor.line];
                let end = scalar_end(line, anchor.col);
                let rest = &line[end.min(line.len())..];
                let rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix(':') {
                    if let Some(c) = comment_after(r, 0) {
                        attach
                            .before
                            .entry((container, index))
                            .or_default()
                            .push(Comment {
                                text: c,
                                inline: false,
                            });
                        inline_lines[anchor.line] = true;
                    }
                }
            }
            return;
        };
        if v.contains('\n') || matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) {
            return;
        }
        if value.line >= lines.len() || covered[value.line] {
            return;
        }
        let line = lines[value.line];
        let end = scalar_end(line, value.col);
        if let Some(c) = comment_after(line, end) {
            attach
                .before
                .entry((container, index))
                .or_default()
                .push(Comment {
                    text: c,
                    inline: true,
                });
            inline_lines[value.line] = true;
        }
    };
    match &node.kind {
        NodeKind::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                check(node.id, i, k, v);
            }
            for (_, v) in entries {
                collect_inline(v, lines, covered, attach, inline_lines);
            }
        }
        NodeKind::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                check(node.id, i, it, it);
            }
            for it in items {
                collect_inline(it, lines, covered, attach, inline_lines);
            }
        }
        NodeKind::Scalar { .. } => {}
    }
}

fn to_value(node: Node, attach: &mut Attach) -> Result<Value, Error> {
    Ok(match node.kind {
        NodeKind::Scalar { value, style, tag } => scalar_value(&value, style, &tag),
        NodeKind::Map(entries) => {
            let mut branch = Vec::with_capacity(entries.len());
            // Keys seen so far: a linear scan of `branch` made large maps quadratic.
            let mut seen: std::collections::HashSet<String> =
                std::collections::HashSet::with_capacity(entries.len());
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if let Some(cs) = attach.before.remove(&(node.id, i)) {
                    // Non-inline comments first, then the inline comment of the value (sops order).
                    let (inl, head): (Vec<_>, Vec<_>) = cs.into_iter().partition(|c| c.inline);
                    for c in head.into_iter().chain(inl) {
                        branch.push(Item {
                            key: Key::Comment(c),
                            value: Value::Null,
                        });
                    }
                }
                let k_line = k.line;
                let key = match k.kind {
                    NodeKind::Scalar { value, style, tag } => match scalar_value(&value, style, &tag) {
                        Value::Str(s) => s,
                        other => {
                            return Err(perr(format!(
                                "map key {value:?} at line {} is not a string ({other:?}); only string keys are supported",
                                k.line + 1
                            )))
                        }
                    },
                    _ => return Err(perr(format!("complex map key at line {}", k.line + 1))),
                };
                if !seen.insert(key.clone()) {
                    return Err(perr(format!(
                        "mapping key {key:?} already defined (line {})",
                        k_line + 1
                    )));
                }
                branch.push(Item {
                    key: Key::Str(key),
                    value: to_value(v, attach)?,
                });
            }
            if let Some(cs) = attach.before.remove(&(node.id, usize::MAX)) {
                for c in cs {
                    branch.push(Item {
                        key: Key::Comment(c),
                        value: Value::Null,
                    });
                }
            }
            Value::Map(branch)
        }
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, it) in items.into_iter().enumerate() {
                if let Some(cs) = attach.before.remove(&(node.id, i)) {
                    let (inl, head): (Vec<_>, Vec<_>) = cs.into_iter().partition(|c| c.inline);
                    for c in head.into_iter().chain(inl) {
                        out.push(Value::Comment(c));
                    }
                }
                out.push(to_value(it, attach)?);
            }
            if let Some(cs) = attach.before.remove(&(node.id, usize::MAX)) {
                out.extend(cs.into_iter().map(Value::Comment));
            }
            Value::Seq(out)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Emitter
// ---------------------------------------------------------------------------------------

const INDENT: usize = 4;

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_yaml_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_base60_float(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("regex")
    })
    .is_match(s)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_yaml_printable(c) || c == '\u{feff}' => {
                let u = c as u32;
                if u <= 0xFF {
                    out.push_str(&format!("\\x{u:02X}"));
                } else if u <= 0xFFFF {
                    out.push_str(&format!("\\u{u:04X}"));
                } else {
                    out.push_str(&format!("\\U{u:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum Styled {
    Inline(String),
    Literal(String),
}

fn style_string(s: &str, simple_key: bool) -> Styled {
    let can_plain = matches!(resolve_plain(s), Value::Str(_))
        && !is_timestamp(s)
        && !is_base60_float(s)
        && !is_old_bool(s);
    let a = analyze(s);
    if s.contains('\n') {
        if a.block && !simple_key {
            return Styled::Literal(s.to_string());
        }
        return Styled::Inline(double_quoted(s));
    }
    if can_plain {
        if a.block_plain && !(s.is_empty() && simple_key) {
            return Styled::Inline(s.to_string());
        }
        if a.single {
            return Styled::Inline(format!("'{}'", s.replace('\'', "''")));
        }
    }
    Styled::Inline(double_quoted(s))
}

fn scalar_text(v: &Value) -> Styled {
    match v {
        Value::Null => Styled::Inline("null".into()),
        Value::Bool(b) => Styled::Inline(b.to_string()),
        Value::Int(i) => Styled::Inline(i.to_string()),
        Value::Float(f) => Styled::Inline(if f.is_nan() {
            ".nan".into()
        } else if f.is_infinite() {
            if *f > 0.0 { ".inf" } else { "-.inf" }.into()
        } else {
            go_format_float_g(*f)
        }),
        Value::Str(s) => style_string(s, false),
        Value::Time(t) => Styled::Inline(t.clone()),
        _ => Styled::Inline(String::new()),
    }
}

/// Writes a literal block scalar whose lines go at `content_indent`, inside a block
/// collection whose entries start at column `parent_indent`.
fn write_literal(out: &mut String, s: &str, parent_indent: usize, content_indent: usize) {
    out.push('|');
    let first = s.chars().next();
    if matches!(first, Some(' ')) || first.is_some_and(is_break) {
        // The indentation indicator counts from the parent collection's indentation.
        // yaml.v3 always writes its indent width (4); that is right for mapping values at
        // a multiple of 4, but in sequence items (content 2 columns after the `-`) and in
        // mappings nested in them it names the wrong column and the document no longer
        // parses (sops cannot read such output back). Write the real distance instead.
        out.push_str(&(content_indent - parent_indent).to_string());
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s[..s.len() - 1].ends_with('\n') {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(content_indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn next_indent(indent: usize) -> usize {
    INDENT * ((indent + INDENT) / INDENT)
}

/// The lines of a comment's text. A comment cannot span a line break (`\n`, `\r\n`, a
/// lone `\r`, and for yaml.v3 also NEL, LS and PS): each line is written as its own comment
/// line. Like yaml.v3, continuation lines that do not start with `#` get a `# ` prefix;
/// empty ones become a bare `#` (a blank line could change a keep-chomped block scalar).
fn comment_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_break(c) {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            lines.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    lines.push(cur);
    for l in lines.iter_mut().skip(1) {
        if !l.is_empty() && !l.starts_with('#') {
            l.insert(0, ' ');
        }
    }
    lines
}

fn write_comments(out: &mut String, cs: &[&Comment], col: usize) {
    for c in cs {
        for l in comment_lines(&c.text) {
            out.push_str(&" ".repeat(col));
            out.push('#');
            out.push_str(&l);
            out.push('\n');
        }
    }
}

/// `line_start`: whether we are at the start of a line (otherwise right after `- `).
fn emit_map(out: &mut String, m: &Branch, indent: usize, mut line_start: bool) {
    let mut head: Vec<&Comment> = Vec::new();
    let mut inline: Vec<&Comment> = Vec::new();
    for it in m {
        let k = match &it.key {
            Key::Comment(c) => {
                if c.inline {
                    inline.push(c);
                } else {
                    head.push(c);
                }
                continue;
            }
            Key::Str(k) => k,
        };
        if !head.is_empty() {
            if !line_start {
                // Comments before the first key of a mapping in a sequence item.
                out.push('\n');
                line_start = true;
            }
            write_comments(out, &head, indent);
            head.clear();
        }
        if line_start {
            out.push_str(&" ".repeat(indent));
        }
        line_start = true;
        if is_simple_key(k) {
            match style_string(k, true) {
                Styled::Inline(s) => out.push_str(&s),
                Styled::Literal(s) => out.push_str(&double_quoted(&s)),
            }
            out.push(':');
            emit_value(out, &it.value, indent, &inline);
        } else {
            emit_complex_entry(out, k, &it.value, indent, &inline);
        }
        inline.clear();
    }
    head.extend(inline);
    if !head.is_empty() {
        if !line_start {
            out.push('\n');
        }
        write_comments(out, &head, indent);
    }
}

/// Writes inline comments at the end of the current line (without the final line break);
/// lines after the first of a multi-line comment become comment lines at `indent`.
/// Whether yaml.v3 writes the key as a simple key (`key: value`): not multi-line and at
/// most 128 bytes. Longer keys would also exceed the 1024-character limit YAML puts on
/// simple keys once quoted and escaped.
fn is_simple_key(k: &str) -> bool {
    k.len() <= 128 && !k.chars().any(is_break)
}

/// Writes an entry with a complex key the way yaml.v3 does: `? key` then `: value`, with a
/// block mapping or sequence value starting on the `:` line.
fn emit_complex_entry(out: &mut String, k: &str, v: &Value, indent: usize, inline: &[&Comment]) {
    out.push_str("? ");
    match style_string(k, false) {
        Styled::Inline(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        Styled::Literal(s) => write_literal(out, &s, indent, next_indent(indent)),
    }
    out.push_str(&" ".repeat(indent));
    out.push(':');
    let inner = next_indent(indent);
    match v {
        // With a line comment the value goes below the `:` line, in the usual block form.
        _ if !inline.is_empty() => emit_value(out, v, indent, inline),
        Value::Map(m) if m.iter().any(|i| matches!(i.key, Key::Str(_))) => {
            out.push_str(&" ".repeat(inner - indent - 1));
            emit_map(out, m, inner, false);
        }
        Value::Seq(s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
            out.push_str(&" ".repeat(inner - indent - 1));
            let mut sub = String::new();
            emit_seq(&mut sub, s, inner);
            out.push_str(sub.trim_start_matches(' '));
        }
        _ => emit_value(out, v, indent, inline),
    }
}

fn line_comment(out: &mut String, inline: &[&Comment], indent: usize) {
    for c in inline {
        for (i, l) in comment_lines(&c.text).into_iter().enumerate() {
            if i == 0 {
                out.push_str(" #");
            } else {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                out.push('#');
            }
            out.push_str(&l);
        }
    }
}

/// Emits a value after `key:` (a mapping value at mapping indent `indent`).
fn emit_value(out: &mut String, v: &Value, indent: usize, inline: &[&Comment]) {
    match v {
        Value::Map(m) if m.iter().any(|i| matches!(i.key, Key::Str(_))) => {
            line_comment(out, inline, indent);
            out.push('\n');
            emit_map(out, m, next_indent(indent), true);
        }
        Value::Seq(s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
            line_comment(out, inline, indent);
            out.push('\n');
            emit_seq(out, s, next_indent(indent));
        }
        Value::Map(_) => {
            out.push_str(" {}");
            line_comment(out, inline, indent);
            out.push('\n');
        }
        Value::Seq(_) => {
            out.push_str(" []");
            line_comment(out, inline, indent);
            out.push('\n');
        }
        _ => match scalar_text(v) {
            Styled::Inline(s) => {
                out.push(' ');
                out.push_str(&s);
                line_comment(out, inline, indent);
                out.push('\n');
            }
            Styled::Literal(s) => {
                out.push(' ');
                write_literal(out, &s, indent, next_indent(indent));
            }
        },
    }
}

fn emit_seq(out: &mut String, s: &[Value], indent: usize) {
    let mut head: Vec<&Comment> = Vec::new();
    let mut inline: Vec<&Comment> = Vec::new();
    for it in s {
        if let Value::Comment(c) = it {
            if c.inline {
                inline.push(c);
            } else {
                head.push(c);
            }
            continue;
        }
        write_comments(out, &head, indent);
        head.clear();
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match it {
            Value::Map(m) if m.iter().any(|i| matches!(i.key, Key::Str(_))) => {
                out.push(' ');
                emit_map(out, m, indent + 2, false);
            }
            Value::Seq(inner) if inner.iter().any(|i| !matches!(i, Value::Comment(_))) => {
                out.push(' ');
                let mut sub = String::new();
                emit_seq(&mut sub, inner, indent + 2);
                out.push_str(sub.trim_start_matches(' '));
            }
            Value::Map(_) => {
                out.push_str(" {}");
                line_comment(out, &inline, indent);
                out.push('\n');
            }
            Value::Seq(_) => {
                out.push_str(" []");
                line_comment(out, &inline, indent);
                out.push('\n');
            }
            _ => match scalar_text(it) {
                Styled::Inline(t) => {
                    out.push(' ');
                    out.push_str(&t);
                    line_comment(out, &inline, indent);
                    out.push('\n');
                }
                Styled::Literal(t) => {
                    out.push(' ');
                    write_literal(out, &t, indent, indent + 2);
                }
            },
        }
        inline.clear();
    }
    head.extend(inline);
    write_comments(out, &head, indent);
}

/// Emits branches as a YAML stream (documents separated by `---`).
pub fn emit(docs: &[Branch]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if d.iter().any(|it| matches!(it.key, Key::Str(_))) {
            emit_map(&mut out, d, 0, true);
        } else {
            let cs: Vec<&Comment> = d
                .iter()
                .filter_map(|it| match &it.key {
                    Key::Comment(c) => Some(c),
                    _ => None,
                })
                .collect();
            write_comments(&mut out, &cs, 0);
            out.push_str("{}\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `levels` levels of `fan` aliases each: small enough that a reader without bounds
    /// still returns (and the test then fails).
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
        let e = parse(&bomb(7, 5)).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Limit {
                    limit: LimitError::Aliasing { .. },
                    line,
                    ..
                } if *line >= 4
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("excessive aliasing"), "{e}");
        assert!(parse(&bomb(3, 5)).is_ok());
    }

    #[test]
    fn nesting_is_bounded_in_flow_and_block_style() {
        for text in [
            format!("a: {}", "[".repeat(10_000)),
            format!("a:\n{}x\n", "- ".repeat(10_000)),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(
                matches!(
                    &e,
                    Error::Limit {
                        limit: LimitError::TooDeep { limit: 255 },
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(
                e.to_string().contains("nested more than 255 levels deep"),
                "{e}"
            );
        }
    }

    #[test]
    fn resolve() {
        assert_eq!(resolve_plain("12"), Value::Int(12));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("1.5"), Value::Float(1.5));
        assert_eq!(resolve_plain("yes"), Value::Str("yes".into()));
        assert_eq!(
            resolve_plain("2024-01-01"),
            Value::Time("2024-01-01T00:00:00Z".into())
        );
        assert_eq!(
            resolve_plain("2024-1-2 3:04:05.500"),
            Value::Time("2024-01-02T03:04:05.5Z".into())
        );
        assert_eq!(resolve_plain("~"), Value::Null);
    }

    #[test]
    fn duplicate_keys_refused() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err().to_string();
        assert!(e.contains("already defined") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn roundtrip_simple() {
        let src = "# head\na: 1 # inline\nb:\n    c: \"true\"\n    d:\n        - x\n        - k: z\n          w: \"\"\ne: |-\n    line1\n    line2\n";
        let docs = parse(src).unwrap();
        assert_eq!(emit(&docs), src);
    }

    /// Fuzzer regression: a lone `\r` is a YAML line break, but the comment scan kept it
    /// inside the comment, and the emitter wrote it back raw, so the text after it turned
    /// into a (here duplicate) key on re-parse.
    #[test]
    fn comment_with_carriage_return_reparses() {
        let docs = parse("a: 1 #c\rb: 2\n").unwrap();
        let out = emit(&docs);
        assert_eq!(out, "a: 1 #c\nb: 2\n");
        parse(&out).unwrap();
        // CRLF files read like LF files.
        let crlf = parse("# top\r\na: 1 # x\r\nb:\r\n    - z\r\n").unwrap();
        assert_eq!(emit(&crlf), "# top\na: 1 # x\nb:\n    - z\n");
    }

    /// Comments whose text holds line breaks (trees built by callers) are written as
    /// several comment lines, the way yaml.v3 writes them, and parse again.
    #[test]
    fn emitted_multiline_comments_reparse() {
        let c = |text: &str, inline| Item {
            key: Key::Comment(Comment {
                text: text.into(),
                inline,
            }),
            value: Value::Null,
        };
        let doc = vec![
            c(" head\rb: 1\r\n\n#x\u{2028}y", false),
            c(" in\nc: 2", true),
            Item {
                key: Key::Str("a".into()),
                value: Value::Map(vec![
                    c(" k\rd: 3", true),
                    Item {
                        key: Key::Str("k".into()),
                        value: Value::Str("v".into()),
                    },
                ]),
            },
        ];
        let out = emit(&[doc]);
        assert_eq!(
            out,
            "# head\n# b: 1\n#\n##x\n# y\na: # in\n# c: 2\n    k: v # k\n    # d: 3\n"
        );
        let back = parse(&out).unwrap();
        let keys: Vec<_> = back[0]
            .iter()
            .filter_map(|it| match &it.key {
                Key::Str(k) => Some(k.as_str()),
                Key::Comment(_) => None,
            })
            .collect();
        assert_eq!(keys, ["a"], "{back:?}");
    }

    /// Fuzzer regression: a literal block scalar that needs an indentation indicator
    /// (leading line break or space) in a sequence item, or in a mapping nested in one, got
    /// `|4` (as yaml.v3 writes it) although its content is 2 columns deeper than the
    /// collection, so the output did not parse again.
    #[test]
    fn literal_indent_indicator_in_sequences() {
        let cases = [
            // Mapping values at a multiple of 4: `|4`, byte for byte what sops writes.
            (
                "a:\n    b: |\n\n        z\n",
                "a:\n    b: |4\n\n        z\n",
            ),
            ("p:\n- |\n\n z", "p:\n    - |2\n\n      z\n"),
            ("p:\n- |2\n   z\n", "p:\n    - |2\n       z\n"),
            ("p:\n- k: |\n\n   z\n", "p:\n    - k: |2\n\n        z\n"),
            ("p:\n- - |\n\n   z\n", "p:\n    - - |2\n\n        z\n"),
        ];
        for (src, want) in cases {
            let docs = parse(src).unwrap();
            let out = emit(&docs);
            assert_eq!(out, want, "{src:?}");
            assert_eq!(parse(&out).unwrap(), docs, "{src:?}");
        }
    }

    /// Fuzzer regression: a key longer than 1024 characters was written as a simple key,
    /// which YAML does not allow, so the output did not parse again. yaml.v3 writes keys
    /// over 128 bytes and multi-line keys as complex keys (`? key` / `: value`).
    #[test]
    fn long_and_multiline_keys_are_complex_keys() {
        let long = "k".repeat(130);
        let huge = "h".repeat(1100);
        let src = format!(
            "a:\n    {long}: v # c1\n    \"x\\ny\": 1\n    {long}2:\n        n: 1\n    \
             {long}3:\n        - 1\n    {long}4: |\n        l1\n        l2\n    short: 2\n\
             l:\n- ? {huge}\n  : [x]\n- ? {huge}\n  : {{n: 1}}\n"
        );
        let docs = parse(&src).unwrap();
        let out = emit(&docs);
        // Byte for byte what sops 3.13.2 writes.
        let want = format!(
            "a:\n    ? {long}\n    : v # c1\n    ? |-\n        x\n        y\n    : 1\n    \
             ? {long}2\n    :   \"n\": 1\n    ? {long}3\n    :   - 1\n    ? {long}4\n    : |\n\
             \x20       l1\n        l2\n    short: 2\nl:\n    - ? {huge}\n      : - x\n    - ? {huge}\n      : \"n\": 1\n"
        );
        assert_eq!(out, want);
        assert_eq!(parse(&out).unwrap(), docs);
    }

    /// Like yaml.v3, control characters are refused; yaml-rust2 alone would take a NUL for
    /// the end of the input and drop the rest (the original fuzz input had one).
    #[test]
    fn control_characters_refused() {
        for src in ["a: x\0\nb: 2\n", "a: x\x7f\n", "# \x01\na: 1\n"] {
            let e = parse(src).unwrap_err().to_string();
            assert!(e.contains("control characters are not allowed"), "{e}");
        }
        parse("a: \"\\0\\x7f\\r\"\n\u{feff}b: \"\u{85}\"\n").unwrap();
    }
}
