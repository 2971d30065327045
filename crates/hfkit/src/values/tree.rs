//! The value tree shared by every values operation: maps keep their source order, each
//! node remembers where it came from, and scalars keep their source text so that helm
//! reads our merged file exactly as it would have read the original layers.

use indexmap::IndexMap;

/// Where a node was written: the layer's index in its [`Stack`](super::Stack) (or the
/// file's index for a lone document), and its 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// Index of the source file in the stack that produced the tree.
    pub layer: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// How a scalar was written in the source; helm's YAML reader types a plain scalar by
/// its text (`1` is a number, `true` a bool) and a quoted or block one as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// Unquoted: typed by its text.
    Plain,
    /// Single- or double-quoted, literal (`|`) or folded (`>`): always a string.
    Quoted,
}

/// A scalar as written: its (unescaped) text, style and explicit tag if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// The scalar's content after unescaping and folding.
    pub text: String,
    /// Plain or quoted.
    pub style: ScalarStyle,
    /// An explicit tag such as `!!str` or `!!binary`, written as in the source.
    pub tag: Option<String>,
}

impl Scalar {
    /// A plain scalar (typed by its text).
    pub fn plain(text: impl Into<String>) -> Self {
        Scalar {
            text: text.into(),
            style: ScalarStyle::Plain,
            tag: None,
        }
    }

    /// A string scalar.
    pub fn string(text: impl Into<String>) -> Self {
        Scalar {
            text: text.into(),
            style: ScalarStyle::Quoted,
            tag: None,
        }
    }

    /// True for a YAML null: a plain `null`, `Null`, `NULL`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        match &self.tag {
            Some(t) => t == "!!null" || t == "tag:yaml.org,2002:null",
            None => {
                self.style == ScalarStyle::Plain
                    && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
        }
    }
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A mapping with string keys in source order.
    Map(IndexMap<String, Value>),
    /// A sequence; helm replaces lists whole, never merges them.
    List(Vec<Value>),
    /// A scalar (including null).
    Scalar(Scalar),
}

/// A node and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The content.
    pub node: Node,
    /// Where this node was written (for a merged map: where it was first written).
    pub origin: Origin,
}

impl Value {
    /// An empty map with a default origin: the identity of [`merge`](super::merge).
    pub fn empty_map() -> Self {
        Value {
            node: Node::Map(IndexMap::new()),
            origin: Origin::default(),
        }
    }

    /// The map's entries, if this is a map.
    pub fn as_map(&self) -> Option<&IndexMap<String, Value>> {
        match &self.node {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.node {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The node at a dotted key path (`ingress.hosts`), looking through maps only.
    pub fn get_path(&self, path: &KeyPath) -> Option<&Value> {
        let mut cur = self;
        for key in &path.0 {
            cur = cur.as_map()?.get(key)?;
        }
        Some(cur)
    }

    /// Equality of content, ignoring origins (all spellings of null are equal).
    pub fn same_content(&self, other: &Value) -> bool {
        match (&self.node, &other.node) {
            (Node::Scalar(a), Node::Scalar(b)) => a == b || (a.is_null() && b.is_null()),
            (Node::List(a), Node::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_content(y))
            }
            (Node::Map(a), Node::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same_content(vb))
            }
            _ => false,
        }
    }

    /// Calls `f` on every leaf (scalar, list, or empty map) with its key path.
    pub fn for_each_leaf<'a>(&'a self, f: &mut dyn FnMut(&KeyPath, &'a Value)) {
        fn walk<'a>(v: &'a Value, path: &mut KeyPath, f: &mut dyn FnMut(&KeyPath, &'a Value)) {
            match &v.node {
                Node::Map(m) if !m.is_empty() => {
                    for (k, child) in m {
                        path.0.push(k.clone());
                        walk(child, path, f);
                        path.0.pop();
                    }
                }
                _ => f(path, v),
            }
        }
        walk(self, &mut KeyPath::default(), f)
    }
}

/// A path of map keys from the root, shown dotted (`ingress.hosts`); a key that itself
/// contains a dot or is empty is shown in brackets and quotes (`annotations["a.b/c"]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyPath(pub Vec<String>);

impl KeyPath {
    /// Parses a dotted path; `a["b.c"].d` selects a key containing dots.
    pub fn parse(text: &str) -> KeyPath {
        let mut keys = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    if !cur.is_empty() {
                        keys.push(std::mem::take(&mut cur));
                    }
                }
                '[' if chars.peek() == Some(&'"') => {
                    if !cur.is_empty() {
                        keys.push(std::mem::take(&mut cur));
                    }
                    chars.next();
                    let mut quoted = String::new();
                    for q in chars.by_ref() {
                        if q == '"' {
                            break;
                        }
                        quoted.push(q);
                    }
                    if chars.peek() == Some(&']') {
                        chars.next();
                    }
                    keys.push(quoted);
                }
                _ => cur.push(c),
            }
        }
        if !cur.is_empty() {
            keys.push(cur);
        }
        KeyPath(keys)
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &KeyPath) -> bool {
        self.0.len() >= other.0.len() && self.0[..other.0.len()] == other.0[..]
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (i, k) in self.0.iter().enumerate() {
            if k.is_empty() || k.contains(['.', '[', ']', '"']) {
                write!(f, "[\"{}\"]", k.replace('"', "\\\""))?;
            } else {
                if i > 0 {
                    f.write_str(".")?;
                }
                f.write_str(k)?;
            }
        }
        Ok(())
    }
}
