//! Bounds on hostile YAML and JSON: document size, nesting depth and alias expansion.
//!
//! Every YAML and JSON reader of the workspace (values layers, helmfiles, raw manifests,
//! sops files, `.sops.yaml`, chart indexes) counts what it decodes with one [`Budget`],
//! so that a 500-byte "billion laughs" document is refused after a few thousand nodes
//! instead of growing to gigabytes, and a deeply nested one is refused before any
//! recursive code can overflow the stack. This crate is the lowest one that parses
//! YAML (`hfkit` depends on it), which is why the bounds live here.
//!
//! The limits, chosen so that no real repository comes near them:
//!
//! * size: [`MAX_DOCUMENT_BYTES`] (32 MiB) per file; a chart repository index may be
//!   larger and is read with [`YamlLimits::index`].
//! * depth: [`MAX_DEPTH`] (255) maps and lists inside each other; the YAML scanner
//!   refuses flow nesting (`[[[`, `{{{`) deeper than that anyway.
//! * aliases: the rule of go-yaml (which helm and sops use) — once a document has more
//!   than 1,000 nodes and 100 of them come from aliases, at most 99 % of its nodes may
//!   come from aliases, falling linearly to 10 % between 400,000 and 4,000,000 nodes.
//!   A document helm and sops accept is accepted here, and what they refuse as
//!   "document contains excessive aliasing" is refused here too.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Whether go-yaml's reader takes `c` raw (`yaml_reader.go`; anything else is refused
/// with "control characters are not allowed"). helm, kubectl and sops read YAML with it,
/// so every YAML reader of the workspace refuses the same characters.
pub fn is_yaml_input_char(c: char) -> bool {
    c == '\t' || c == '\r' || is_yaml_printable(c) || c == '\u{feff}'
}

/// go-yaml's `is_printable`: what may stand unescaped in a scalar it writes (a writer
/// escapes everything else, and the BOM).
pub fn is_yaml_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

/// Largest YAML or JSON document read, in bytes (32 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// Deepest nesting of maps and lists accepted.
pub const MAX_DEPTH: usize = 255;

/// Largest chart repository index read, in bytes (256 MiB, as much as is downloaded).
pub const MAX_INDEX_BYTES: usize = 256 * 1024 * 1024;

/// go-yaml's bounds on alias expansion: below `LOW` decoded nodes 99 % may come from
/// aliases, above `HIGH` 10 %, linear in between.
const ALIAS_RATIO_LOW: u64 = 400_000;
const ALIAS_RATIO_HIGH: u64 = 4_000_000;

/// The limits a reader enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of maps and lists.
    pub max_depth: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_bytes: MAX_DOCUMENT_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

impl YamlLimits {
    /// The limits for a chart repository's `index.yaml`, which for large repositories
    /// is bigger than any values file.
    pub fn index() -> Self {
        YamlLimits {
            max_bytes: MAX_INDEX_BYTES,
            ..YamlLimits::default()
        }
    }
}

/// A document that exceeds one of the limits. The message names the limit and what to
/// do; the reader adds the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The document is larger than [`YamlLimits::max_bytes`].
    #[error("the document is over the limit of {limit} bytes; split it into smaller files")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Maps and lists are nested deeper than [`YamlLimits::max_depth`].
    #[error("maps and lists are nested more than {limit} levels deep, over the limit of {limit}; flatten the document")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Aliases expand to more of the document than go-yaml allows.
    #[error("document contains excessive aliasing: aliases expand to {aliased} of {decoded} nodes, over the limit helm and sops apply too (at most 99% of the nodes from aliases, 10% past 4,000,000 nodes); write the repeated parts out or alias less")]
    Aliasing {
        /// Nodes produced through aliases so far.
        aliased: u64,
        /// All nodes decoded so far.
        decoded: u64,
    },
}

/// Where a container started in the count, to measure its size when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Mark(u64);

/// Counts what a reader decodes from one YAML stream and refuses it as soon as it
/// exceeds a limit. Readers call [`Budget::scalar`], [`Budget::open`] /
/// [`Budget::close`] and [`Budget::alias`] as they build nodes; an alias is charged the
/// full size of the node it copies before the copy is made.
#[derive(Debug)]
pub struct Budget {
    limits: YamlLimits,
    depth: usize,
    decoded: u64,
    aliased: u64,
    /// Expanded size (in nodes) of each anchored node, by the parser's anchor id.
    anchors: HashMap<usize, u64>,
}

impl Budget {
    /// A budget for one stream.
    pub fn new(limits: YamlLimits) -> Self {
        Budget {
            limits,
            depth: 0,
            decoded: 0,
            aliased: 0,
            anchors: HashMap::new(),
        }
    }

    /// Refuses input longer than the size limit (call before parsing).
    pub fn check_size(&self, len: usize) -> Result<(), LimitError> {
        if len > self.limits.max_bytes {
            return Err(LimitError::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    /// A new document begins: go-yaml decodes each document on its own, and anchors do
    /// not cross documents.
    pub fn start_document(&mut self) {
        self.depth = 0;
        self.decoded = 0;
        self.aliased = 0;
        self.anchors.clear();
    }

    /// A scalar was read, with its anchor id (0 for none).
    pub fn scalar(&mut self, anchor: usize) {
        self.decoded += 1;
        if anchor > 0 {
            self.anchors.insert(anchor, 1);
        }
    }

    /// A map or list begins; refused when it is nested too deep.
    pub fn open(&mut self) -> Result<Mark, LimitError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(LimitError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        let mark = Mark(self.decoded);
        self.decoded += 1;
        Ok(mark)
    }

    /// The map or list opened at `mark` ends, with its anchor id (0 for none).
    pub fn close(&mut self, mark: Mark, anchor: usize) {
        self.depth = self.depth.saturating_sub(1);
        if anchor > 0 {
            self.anchors.insert(anchor, self.decoded - mark.0);
        }
    }

    /// An alias to `anchor` is about to be expanded: charges its expanded size and
    /// refuses the document when aliases now make up too much of it. An unknown anchor
    /// costs nothing (the reader reports it).
    pub fn alias(&mut self, anchor: usize) -> Result<(), LimitError> {
        let size = self.anchors.get(&anchor).copied().unwrap_or(0);
        // go-yaml counts the alias node itself, then every node of the copy.
        self.decoded += 1 + size;
        self.aliased += size;
        if self.aliased > 100
            && self.decoded > 1000
            && self.aliased as f64 / self.decoded as f64 > allowed_alias_ratio(self.decoded)
        {
            return Err(LimitError::Aliasing {
                aliased: self.aliased,
                decoded: self.decoded,
            });
        }
        Ok(())
    }

    /// The depth limit, for readers that map the scanner's own flow-nesting error.
    pub fn max_depth(&self) -> usize {
        self.limits.max_depth
    }
}

/// Reads at most `max_bytes` of a file: a larger one (or a symlink to `/dev/zero`) is
/// refused after `max_bytes + 1` bytes, with [`std::io::ErrorKind::FileTooLarge`] and a
/// [`LimitError::TooLarge`] message, instead of being read into memory whole.
pub fn read_limited(path: &Path, max_bytes: usize) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            LimitError::TooLarge { limit: max_bytes },
        ));
    }
    Ok(bytes)
}

/// [`read_limited`] to [`MAX_DOCUMENT_BYTES`], as UTF-8 text.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_limited(path, MAX_DOCUMENT_BYTES)?).map_err(|_| {
        // std's wording, as `read_to_string` says it.
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// go-yaml's share of a document's nodes that may come from aliases.
fn allowed_alias_ratio(decoded: u64) -> f64 {
    if decoded <= ALIAS_RATIO_LOW {
        0.99
    } else if decoded >= ALIAS_RATIO_HIGH {
        0.10
    } else {
        let range = (ALIAS_RATIO_HIGH - ALIAS_RATIO_LOW) as f64;
        0.99 - 0.89 * ((decoded - ALIAS_RATIO_LOW) as f64 / range)
    }
}

/// Whether a yaml-rust2 scan error is its flow-nesting limit (which is below
/// [`MAX_DEPTH`]+1 levels), so readers can report it as [`LimitError::TooDeep`].
pub fn is_scanner_depth_error(info: &str) -> bool {
    info == "recursion limit exceeded"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nine levels of nine aliases: 9^9 nodes if expanded.
    fn laughs(budget: &mut Budget) -> Result<(), LimitError> {
        budget.start_document();
        let m = budget.open()?;
        for _ in 0..9 {
            budget.scalar(0);
        }
        budget.close(m, 1);
        for level in 2..=9 {
            let m = budget.open()?;
            for _ in 0..9 {
                budget.alias(level - 1)?;
            }
            budget.close(m, level);
        }
        Ok(())
    }

    #[test]
    fn billion_laughs_is_refused_early() {
        let mut b = Budget::new(YamlLimits::default());
        let e = laughs(&mut b).unwrap_err();
        let LimitError::Aliasing { decoded, .. } = e else {
            panic!("{e:?}")
        };
        assert!(decoded < 100_000, "refused only after {decoded} nodes");
    }

    #[test]
    fn ordinary_aliasing_is_accepted() {
        // One anchored map of 50 entries reused 20 times: 99% is not reached.
        let mut b = Budget::new(YamlLimits::default());
        b.start_document();
        let root = b.open().unwrap();
        let m = b.open().unwrap();
        for _ in 0..100 {
            b.scalar(0);
        }
        b.close(m, 7);
        for _ in 0..20 {
            b.scalar(0);
            b.alias(7).unwrap();
        }
        b.close(root, 0);
    }

    #[test]
    fn ratio_matches_go_yaml_at_the_ends_and_middle() {
        assert_eq!(allowed_alias_ratio(1), 0.99);
        assert_eq!(allowed_alias_ratio(ALIAS_RATIO_HIGH), 0.10);
        let mid = allowed_alias_ratio(2_200_000);
        assert!((mid - 0.545).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn reads_stop_at_the_limit() {
        let dir = tempfile_dir();
        let f = dir.join("f");
        std::fs::write(&f, "12345").unwrap();
        assert_eq!(read_limited(&f, 5).unwrap(), b"12345");
        let e = read_limited(&f, 4).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("over the limit of 4 bytes"), "{e}");
        // An endless file is cut off, not read whole.
        let e = read_limited(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hfkit-limits-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut b = Budget::new(YamlLimits::default());
        for _ in 0..MAX_DEPTH {
            b.open().unwrap();
        }
        assert_eq!(
            b.open().unwrap_err(),
            LimitError::TooDeep { limit: MAX_DEPTH }
        );
        assert!(b.check_size(MAX_DOCUMENT_BYTES).is_ok());
        assert!(matches!(
            b.check_size(MAX_DOCUMENT_BYTES + 1),
            Err(LimitError::TooLarge { .. })
        ));
    }
}
