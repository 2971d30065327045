//! JSON store: order-preserving parser and a writer matching sops's output (Go
//! `encoding/json` escaping and number formatting, tab indentation).

use crate::limits::{LimitError, MAX_DEPTH, MAX_DOCUMENT_BYTES};
use crate::tree::{go_json_float, Branch, Item, Key, Value};
use crate::Error;

struct P<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

fn line_of(p: &P) -> usize {
    p.s[..p.i.min(p.s.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn err(p: &P, msg: &str) -> Error {
    Error::parse("JSON", format!("{msg} at line {}", line_of(p)))
}

/// A document past one of the shared limits ([`crate::limits`]).
fn limit(p: &P, limit: LimitError) -> Error {
    Error::Limit {
        format: "JSON",
        line: line_of(p),
        limit,
    }
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        // The same depth bound as YAML: the tree is walked recursively afterwards.
        if matches!(self.s.get(self.i), Some(b'{' | b'[')) && self.depth >= MAX_DEPTH {
            return Err(limit(self, LimitError::TooDeep { limit: MAX_DEPTH }));
        }
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                self.depth += 1;
                let m = self.object_body()?;
                self.depth -= 1;
                Ok(Value::Map(m))
            }
            Some(b'[') => {
                self.i += 1;
                self.depth += 1;
                let mut v = Vec::new();
                if !self.eat(b']') {
                    loop {
                        v.push(self.value()?);
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b']') {
                            break;
                        }
                        return Err(err(self, "expected , or ]"));
                    }
                }
                self.depth -= 1;
                Ok(Value::Seq(v))
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Value::Null)
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(err(self, "unexpected character")),
        }
    }
    fn object_body(&mut self) -> Result<Branch, Error> {
        let mut m = Vec::new();
        if self.eat(b'}') {
            return Ok(m);
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(err(self, "expected object key"));
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return Err(err(self, "expected :"));
            }
            let v = self.value()?;
            m.push(Item {
                key: Key::Str(k),
                value: v,
            });
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(m);
            }
            return Err(err(self, "expected , or }"));
        }
    }
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.i += 1;
        }
        let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| err(self, "bad number"))?;
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        t.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| err(self, "bad number"))
    }
    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| err(self, "bad escape"))?;
        let h = std::str::from_utf8(h).map_err(|_| err(self, "bad escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| err(self, "bad escape"))?;
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self
                .s
                .get(self.i)
                .ok_or_else(|| err(self, "unterminated string"))?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or_else(|| err(self, "bad escape"))?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\x08',
                        b'f' => '\x0c',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u) && self.s[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.i = save;
                                }
                            }
                            char::from_u32(u).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(err(self, "bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(err(self, "control character in string")),
                c => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Parses a JSON document whose top level is an object.
pub fn parse(src: &str) -> Result<Branch, Error> {
    let mut p = P {
        s: src.as_bytes(),
        i: 0,
        // The top-level object is the first level.
        depth: 1,
    };
    if src.len() > MAX_DOCUMENT_BYTES {
        return Err(limit(
            &p,
            LimitError::TooLarge {
                limit: MAX_DOCUMENT_BYTES,
            },
        ));
    }
    if !p.eat(b'{') {
        return Err(err(
            &p,
            "sops only supports JSON files with a top-level object (starting with '{')",
        ));
    }
    let m = p.object_body()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(err(&p, "trailing data after the top-level object"));
    }
    Ok(m)
}

/// Go `json.Marshal` string escaping.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn emit_value(out: &mut String, v: &Value, level: usize) {
    let nl = |out: &mut String, l: usize| {
        out.push('\n');
        for _ in 0..l {
            out.push('\t');
        }
    };
    match v {
        Value::Map(m) => {
            let items: Vec<_> = m
                .iter()
                .filter_map(|it| match &it.key {
                    Key::Str(k) => Some((k, &it.value)),
                    Key::Comment(_) => None,
                })
                .collect();
            if items.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                out.push_str(&quote(k));
                out.push_str(": ");
                emit_value(out, v, level + 1);
            }
            nl(out, level);
            out.push('}');
        }
        Value::Seq(s) => {
            let items: Vec<_> = s
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                emit_value(out, v, level + 1);
            }
            nl(out, level);
            out.push(']');
        }
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f)),
        Value::Str(s) | Value::Time(s) => out.push_str(&quote(s)),
        Value::Comment(_) => {}
    }
}

/// Emits a branch as sops does (tab-indented, trailing newline).
pub fn emit(b: &Branch) -> String {
    let mut out = String::new();
    emit_value(&mut out, &Value::Map(b.clone()), 0);
    out.push('\n');
    out
}
