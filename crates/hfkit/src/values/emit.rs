//! A [`Value`] tree back to YAML text that helm reads as the same values.
//!
//! Plain scalars are written with their source text (so helm types them as it typed the
//! source), every other string double-quoted; maps and lists in block style.

use hfkit_sops::limits::is_yaml_printable;

use super::tree::{Node, Scalar, ScalarStyle, Value};

/// What to write in place of a value: the value itself, or a redaction marker.
pub type Redactor<'a> = &'a dyn Fn(&Value) -> Option<&'static str>;

/// Writes a values tree as YAML (block style, two-space indentation).
pub fn to_yaml(value: &Value) -> String {
    to_yaml_redacted(value, &|_| None)
}

/// Writes a values tree as YAML, replacing each node for which `redact` returns a
/// marker with that marker as a string (keys are kept).
pub fn to_yaml_redacted(value: &Value, redact: Redactor<'_>) -> String {
    let mut out = String::new();
    match &value.node {
        Node::Map(m) if m.is_empty() => out.push_str("{}\n"),
        Node::Map(_) => write_map(&mut out, value, 0, false, redact),
        Node::List(l) if l.is_empty() => out.push_str("[]\n"),
        Node::List(_) => write_list(&mut out, value, 0, redact),
        Node::Scalar(s) => {
            out.push_str(&scalar_text(s));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes `value` (a non-empty map) with keys at `level` spaces; when `inline_first`
/// the first key continues the current line (after a list's `- `).
fn write_map(
    out: &mut String,
    value: &Value,
    level: usize,
    inline_first: bool,
    redact: Redactor<'_>,
) {
    let Node::Map(map) = &value.node else { return };
    for (i, (key, child)) in map.iter().enumerate() {
        if !(i == 0 && inline_first) {
            indent(out, level);
        }
        let key = key_text(key);
        // YAML limits an implicit key to 1024 characters (yaml-rust2 and go-yaml enforce
        // it); a longer one is written as an explicit `? key` / `: value` pair.
        if key.chars().count() > 1000 {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            indent(out, level);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        write_child(out, child, level, redact);
    }
}

/// Writes what follows `key:` or `- `: an inline scalar / empty collection, or a
/// nested block.
fn write_child(out: &mut String, child: &Value, level: usize, redact: Redactor<'_>) {
    if let Some(marker) = redact(child) {
        out.push(' ');
        out.push_str(&quote(marker));
        out.push('\n');
        return;
    }
    match &child.node {
        Node::Scalar(s) => {
            out.push(' ');
            out.push_str(&scalar_text(s));
            out.push('\n');
        }
        Node::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Node::List(l) if l.is_empty() => out.push_str(" []\n"),
        Node::Map(_) => {
            out.push('\n');
            write_map(out, child, level + 2, false, redact);
        }
        Node::List(_) => {
            out.push('\n');
            write_list(out, child, level + 2, redact);
        }
    }
}

fn write_list(out: &mut String, value: &Value, level: usize, redact: Redactor<'_>) {
    let Node::List(items) = &value.node else {
        return;
    };
    for item in items {
        indent(out, level);
        out.push('-');
        match &item.node {
            Node::Map(m) if !m.is_empty() && redact(item).is_none() => {
                out.push(' ');
                write_map(out, item, level + 2, true, redact);
            }
            Node::List(l) if !l.is_empty() && redact(item).is_none() => {
                out.push('\n');
                write_list(out, item, level + 2, redact);
            }
            _ => write_child(out, item, level, redact),
        }
    }
}

/// A key as YAML: bare when it cannot be read as anything but this string.
fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !is_special_plain(key);
    if bare {
        key.to_string()
    } else {
        quote(key)
    }
}

/// Words a YAML 1.1 or 1.2 reader types as something other than a string.
fn is_special_plain(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | ".inf" | ".nan"
    )
}

fn scalar_text(s: &Scalar) -> String {
    let body = match s.style {
        // An empty tagged scalar (`! `, `!!str `) is written as the bare tag, so it reads
        // back as the same plain, tagged, empty scalar.
        ScalarStyle::Plain if s.text.is_empty() => match &s.tag {
            Some(tag) => return tag.clone(),
            None => "null".to_string(),
        },
        // Text that cannot be written plain (see [`writable_plain`]) was a string anyway.
        ScalarStyle::Plain if writable_plain(&s.text) => s.text.clone(),
        _ => quote(&s.text),
    };
    match &s.tag {
        Some(tag) => format!("{tag} {body}"),
        None => body,
    }
}

/// Whether `text` reads back as the same plain scalar when written bare after `key: ` or
/// `- `. Plain text that does not (a multi-line fold, a leading indicator such as `|`,
/// `: ` or ` #` inside, edge spaces) is never a bool, number or null, so it is a string
/// and is written quoted; the parser marks such scalars quoted for the same reason.
pub(crate) fn writable_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let second_is_space = text.chars().nth(1).is_none_or(|c| c == ' ' || c == '\t');
    let bad_start = match first {
        '-' | '?' | ':' => second_is_space,
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => true,
        _ => false,
    };
    !bad_start
        && !text.starts_with([' ', '\t'])
        && !text.ends_with([' ', '\t', ':'])
        && !text.contains(": ")
        && !text.contains(":\t")
        && !text.contains(" #")
        && !text.contains("\t#")
        && !text.chars().any(|c| {
            (c < ' ' && c != '\t')
                || matches!(
                    c,
                    '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                )
        })
}

/// A double-quoted YAML string with the escapes every YAML reader knows.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // What go-yaml may not read raw (controls, BOM, non-characters), and the
            // line breaks and no-break space a reader would not see as such.
            c if (c as u32) < 0x80 && !is_yaml_printable(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{85}' | '\u{a0}' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if !is_yaml_printable(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_values;
    use super::*;

    fn roundtrip(src: &str) -> String {
        to_yaml(&parse_values(src, 0).unwrap())
    }

    #[test]
    fn writes_block_style_with_source_scalars() {
        let out = roundtrip("a: 1\nb: 'x: y'\nc:\n  d: [1, {e: f}]\nempty: {}\nnone:\n");
        assert_eq!(
            out,
            "a: 1\nb: \"x: y\"\nc:\n  d:\n    - 1\n    - e: f\nempty: {}\nnone: null\n"
        );
    }

    #[test]
    fn reparses_to_the_same_tree() {
        let src =
            "k: |\n  line1\n  line2\nq: \"tab\\there\"\nt: !!str 123\nl:\n- - 1\n  - 2\n- []\n";
        let once = parse_values(src, 0).unwrap();
        let again = parse_values(&to_yaml(&once), 0).unwrap();
        assert!(once.same_content(&again), "{}", to_yaml(&once));
    }

    #[test]
    fn plain_text_that_cannot_be_written_plain_round_trips() {
        // Found by the values_merge fuzz target: plain scalars from flow collections and
        // folds whose text would read back as something else if written bare.
        for src in [
            "a: [b: \n |  text\n]\n",
            "a: [\"x\", -y, \"-\"]\n",
            "a: [b:\n  c #d\n]\n",
            "a: x\n\n  y\n",
            "a: [x:\n  y]\n",
            "a:\n\n !<2epos~~~!:nnfst:suse]>\n",
            "a: !<x> 1\nb: !<tag:yaml.org,2002:str> 2\n",
            "%TAG !e! tag:example.com,2000:\n---\na: !e!t 3\n",
            "a: !ree222%2222222:\nb: !<x%3E%20y> 1\n",
        ] {
            let once = parse_values(src, 0).unwrap();
            let emitted = to_yaml(&once);
            let again =
                parse_values(&emitted, 0).unwrap_or_else(|e| panic!("{src:?}: {e}\n{emitted}"));
            assert!(once.same_content(&again), "{src:?}:\n{emitted}");
        }
        // A key over YAML's 1024-character limit for implicit keys (here after quoting:
        // each tab becomes `\t`), at the top, nested, and first in a list item.
        let long = "k\t".repeat(400);
        for src in [
            format!("{long}: 1\n"),
            format!("a:\n  {long}:\n    b: 1\n"),
            format!("l:\n  - {long}: [1]\n    x: 2\n"),
        ] {
            let once = parse_values(&src, 0).unwrap();
            let emitted = to_yaml(&once);
            let again = parse_values(&emitted, 0).unwrap_or_else(|e| panic!("{e}\n{emitted}"));
            assert!(once.same_content(&again), "{emitted}");
        }
        // Escapes for characters YAML may not hold raw are written back as escapes.
        let src = "a: \"\\x90\\u0085\\uFFFE\\u2028 \\x7f\"\n";
        let once = parse_values(src, 0).unwrap();
        let again = parse_values(&to_yaml(&once), 0).unwrap();
        assert!(once.same_content(&again), "{}", to_yaml(&once));
        let e = parse_values("do: !%cc%aa\n", 0).unwrap_err();
        assert!(e.message.contains("non-ASCII"), "{e}");
        assert!(writable_plain("1") && writable_plain("-1") && writable_plain("a#b"));
        for bad in [
            "|x", "-", "- x", "a: b", "a #b", " a", "a ", "a:", "@x", "\u{85}",
        ] {
            assert!(!writable_plain(bad), "{bad:?}");
        }
    }

    #[test]
    fn odd_keys_are_quoted() {
        assert_eq!(
            roundtrip("\"a.b/c\": 1\n\"true\": 2\n\"\": 3\n"),
            "a.b/c: 1\n\"true\": 2\n\"\": 3\n"
        );
    }
}
