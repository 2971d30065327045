//! The in-memory document tree, mirroring sops's `TreeBranch` model: ordered maps whose
//! entries may be comments, sequences, and scalar leaves.

/// A comment line (text after the `#`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Text after the `#`, leading space included.
    pub text: String,
    /// Whether the comment was at the end of a value's line (`key: value # comment`).
    pub inline: bool,
}

/// A key of a map entry: a string key or a comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A normal string key.
    Str(String),
    /// A comment entry.
    Comment(Comment),
}

/// A map entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Key or comment.
    pub key: Key,
    /// The value (`Value::Null` for comments).
    pub value: Value,
}

/// An ordered map.
pub type Branch = Vec<Item>;

/// A value in the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` / `~` / empty.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A YAML timestamp, kept as Go's RFC 3339 (nano) text, e.g. `2024-01-02T00:00:00Z`.
    Time(String),
    /// A nested ordered map.
    Map(Branch),
    /// A sequence (may hold comment entries).
    Seq(Vec<Value>),
    /// A comment inside a sequence.
    Comment(Comment),
}

impl Value {
    /// Returns the map, if this is one.
    pub fn as_map(&self) -> Option<&Branch> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// Looks up a string key in a branch.
pub fn get<'a>(branch: &'a Branch, key: &str) -> Option<&'a Value> {
    branch.iter().find_map(|it| match &it.key {
        Key::Str(k) if k == key => Some(&it.value),
        _ => None,
    })
}

/// Go's `strconv.ParseBool`: how sops types a decrypted bool and how helm reads
/// `HELM_DEBUG` and `--debug=VALUE`.
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust's Display prints the shortest round-tripping digits without exponent.
        let s = format!("{f}");
        if s == "-0" {
            "-0".into()
        } else {
            s
        }
    }
}

/// Shortest digits and decimal exponent of a finite, non-zero float: `(negative, digits, dp)`
/// where the value is `0.DIGITS * 10^dp`.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".into()
    } else {
        digits
    };
    (f.is_sign_negative(), digits, exp + 1)
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'g', -1, 64)` (as yaml.v3 emits floats).
pub fn go_format_float_g(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        return go_format_float_f(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (neg, digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return out;
    }
    out.push_str(&go_format_float_f(f.abs()));
    out
}

/// Formats a float like Go's `encoding/json` does.
pub fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, dp) = shortest_digits(f);
        let exp = dp - 1;
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&exp.abs().to_string());
        out
    } else {
        go_format_float_f(f)
    }
}
