//! Rendered Kubernetes manifests (helm's output) split into identified objects.

use serde::Serialize;

use crate::values::{parse_documents, Node, Value, YamlError};

/// What identifies an object in a release: API group, kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    /// API group (`apps`; empty for the core group).
    pub group: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Namespace, empty when the manifest sets none.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

/// One object of a manifest.
#[derive(Debug, Clone)]
pub struct ManifestObject {
    /// Its identity.
    pub key: ObjectKey,
    /// Its parsed content.
    pub value: Value,
    /// The template it came from (helm's `# Source:` comment), if any.
    pub source: Option<String>,
}

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A document is not valid YAML.
    #[error("document {index} of the manifest{}: {error}", source_suffix(.source_file))]
    Yaml {
        /// 1-based document index.
        index: usize,
        /// helm's `# Source:` for the document.
        source_file: Option<String>,
        /// The parser's error.
        error: YamlError,
    },
    /// A document lacks `kind` or `metadata.name`.
    #[error("document {index} of the manifest{}: not a Kubernetes object (no kind or metadata.name)", source_suffix(.source_file))]
    NotAnObject {
        /// 1-based document index.
        index: usize,
        /// helm's `# Source:` for the document.
        source_file: Option<String>,
    },
}

fn source_suffix(source: &Option<String>) -> String {
    source
        .as_ref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// Splits a multi-document manifest; empty documents are dropped, and so are helm
/// hooks (`helm.sh/hook` annotation), which `helm get manifest` never includes either.
pub fn split_manifest(text: &str) -> Result<Vec<ManifestObject>, ManifestError> {
    let mut objects = Vec::new();
    for (i, chunk) in split_documents(text).into_iter().enumerate() {
        let index = i + 1;
        let source = chunk
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(str::to_string);
        let docs = parse_documents(chunk, 0).map_err(|error| ManifestError::Yaml {
            index,
            source_file: source.clone(),
            error,
        })?;
        for value in docs.into_iter().flatten() {
            if value.as_scalar().is_some_and(|s| s.is_null()) {
                continue;
            }
            let key = object_key(&value).ok_or(ManifestError::NotAnObject {
                index,
                source_file: source.clone(),
            })?;
            if is_hook(&value) {
                continue;
            }
            objects.push(ManifestObject {
                key,
                value,
                source: source.clone(),
            });
        }
    }
    Ok(objects)
}

/// Splits on `---` separator lines, keeping each document's text.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let is_separator =
            line.starts_with("---") && line[3..].chars().next().is_none_or(|c| c.is_whitespace());
        if is_separator {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.as_map()?.get(*k)?;
    }
    cur.as_scalar().map(|s| s.text.as_str())
}

fn object_key(v: &Value) -> Option<ObjectKey> {
    let kind = str_at(v, &["kind"])?.to_string();
    let name = str_at(v, &["metadata", "name"])?.to_string();
    let api_version = str_at(v, &["apiVersion"]).unwrap_or("");
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let namespace = str_at(v, &["metadata", "namespace"])
        .unwrap_or("")
        .to_string();
    Some(ObjectKey {
        group,
        kind,
        namespace,
        name,
    })
}

fn is_hook(v: &Value) -> bool {
    let annotations = v
        .as_map()
        .and_then(|m| m.get("metadata"))
        .and_then(|m| m.as_map())
        .and_then(|m| m.get("annotations"));
    matches!(annotations.map(|a| &a.node), Some(Node::Map(m)) if m.contains_key("helm.sh/hook"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_identifies_objects() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: media\n---\n# empty\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: test\n  annotations:\n    helm.sh/hook: test\n";
        let objs = split_manifest(text).unwrap();
        let keys: Vec<String> = objs.iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, vec!["Deployment.apps media/web", "ConfigMap/cfg"]);
        assert_eq!(objs[0].source.as_deref(), Some("c/templates/a.yaml"));
    }

    #[test]
    fn a_document_without_kind_is_an_error() {
        let e = split_manifest("---\n# Source: c/t.yaml\nfoo: bar\n").unwrap_err();
        assert!(e.to_string().contains("(c/t.yaml)"), "{e}");
    }
}
