//! The `needs:` graph between releases and the waves a run applies them in.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::model::{Release, Theme};
use super::ThemeError;

/// A release's identity as helmfile writes it in `needs:`:
/// `[kubecontext/][namespace/]name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseId {
    /// The kube context, when set.
    pub kube_context: Option<String>,
    /// The namespace, when set.
    pub namespace: Option<String>,
    /// The release name.
    pub name: String,
}

impl ReleaseId {
    /// The identity of a declared release.
    pub fn of(release: &Release) -> ReleaseId {
        ReleaseId {
            kube_context: release.kube_context.clone(),
            namespace: release.namespace.clone(),
            name: release.name.clone(),
        }
    }

    /// Resolves a `needs:` entry of `from`: a bare `name` is in `from`'s namespace
    /// and kube context, `namespace/name` in its kube context, as helmfile resolves
    /// them. `None` when the entry is malformed.
    pub fn parse_need(need: &str, from: &Release) -> Option<ReleaseId> {
        let parts: Vec<&str> = need.split('/').collect();
        let (kube_context, namespace, name) = match parts.as_slice() {
            [name] => (from.kube_context.clone(), from.namespace.clone(), *name),
            [ns, name] if !ns.is_empty() => {
                (from.kube_context.clone(), Some(ns.to_string()), *name)
            }
            // `kubecontext//name`: no namespace.
            [kc, ns, name] if !kc.is_empty() => (
                Some(kc.to_string()),
                Some(ns.to_string()).filter(|n| !n.is_empty()),
                *name,
            ),
            _ => return None,
        };
        if name.is_empty() {
            return None;
        }
        Some(ReleaseId {
            kube_context,
            namespace,
            name: name.to_string(),
        })
    }
}

/// helmfile's spelling: `name`, `namespace/name`, `kubecontext/namespace/name`, and
/// `kubecontext//name` when there is a context but no namespace.
impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kube_context, &self.namespace) {
            (Some(kc), Some(ns)) => write!(f, "{kc}/{ns}/{}", self.name),
            (Some(kc), None) => write!(f, "{kc}//{}", self.name),
            (None, Some(ns)) => write!(f, "{ns}/{}", self.name),
            (None, None) => f.write_str(&self.name),
        }
    }
}

/// Where a release is declared: its theme's index and its index in that theme's
/// `releases:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseRef {
    /// Index of the theme in the slice the graph was built from.
    pub theme: usize,
    /// Index of the release in the theme's helmfile.
    pub release: usize,
}

/// One release of a [`Graph`].
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// Where it is declared.
    pub at: ReleaseRef,
    /// Its identity.
    pub id: ReleaseId,
    /// The release.
    pub release: Release,
    /// The helmfile declaring it, as shown in messages.
    pub file: String,
    /// Indices (in [`Graph::nodes`]) of the releases it needs, in `needs:` order.
    pub needs: Vec<usize>,
}

/// The releases of one or several themes and their `needs:`, checked: every need
/// exists, no release is declared twice, there is no cycle.
#[derive(Debug, Clone)]
pub struct Graph {
    nodes: Vec<GraphNode>,
}

/// Releases grouped in waves: every release's needs are in earlier waves, so the
/// releases of one wave can run in parallel. Each wave keeps declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indices into [`Graph::nodes`], wave by wave.
    pub waves: Vec<Vec<usize>>,
}

impl Graph {
    /// Builds the graph of every release of `themes` (one theme, or all of them for
    /// `--all`); unknown needs, duplicate releases and cycles are errors naming the
    /// release and its file:line.
    pub fn build(themes: &[Theme]) -> Result<Graph, ThemeError> {
        let mut nodes = Vec::new();
        let mut by_id: HashMap<ReleaseId, usize> = HashMap::new();
        for (t, theme) in themes.iter().enumerate() {
            for (r, release) in theme.helmfile.releases.iter().enumerate() {
                let id = ReleaseId::of(release);
                let file = theme.helmfile.path.display().to_string();
                if let Some(&first) = by_id.get(&id) {
                    let first: &GraphNode = &nodes[first];
                    return Err(ThemeError::At {
                        path: file,
                        line: release.line,
                        message: format!(
                            "release `{id}` is declared twice (first at {}:{}); helmfile \
                             refuses duplicates too",
                            first.file, first.release.line
                        ),
                    });
                }
                by_id.insert(id.clone(), nodes.len());
                nodes.push(GraphNode {
                    at: ReleaseRef {
                        theme: t,
                        release: r,
                    },
                    id,
                    release: release.clone(),
                    file,
                    needs: Vec::new(),
                });
            }
        }
        let mut resolved = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let mut needs = Vec::new();
            for need in &node.release.needs {
                let at = |message: String| ThemeError::At {
                    path: node.file.clone(),
                    line: node.release.line,
                    message,
                };
                let id = ReleaseId::parse_need(need, &node.release).ok_or_else(|| {
                    at(format!(
                        "release `{}` needs `{need}`, which is not `name`, `namespace/name` or \
                         `kubecontext/namespace/name`",
                        node.id
                    ))
                })?;
                let Some(&target) = by_id.get(&id) else {
                    let mut elsewhere: Vec<String> = by_id
                        .keys()
                        .filter(|k| k.name == id.name)
                        .map(|k| format!("`{k}`"))
                        .collect();
                    elsewhere.sort();
                    let hint = if elsewhere.is_empty() {
                        String::new()
                    } else {
                        format!(" (did you mean {}?)", elsewhere.join(" or "))
                    };
                    return Err(at(format!(
                        "release `{}` needs `{id}`, which is not declared{hint}",
                        node.id
                    )));
                };
                if target == i {
                    return Err(at(format!("release `{}` needs itself", node.id)));
                }
                if !needs.contains(&target) {
                    needs.push(target);
                }
            }
            resolved.push(needs);
        }
        for (node, needs) in nodes.iter_mut().zip(resolved) {
            node.needs = needs;
        }
        let graph = Graph { nodes };
        graph.check_cycles()?;
        Ok(graph)
    }

    /// The releases, in theme then declaration order.
    pub fn nodes(&self) -> &[GraphNode] {
        &self.nodes
    }

    /// The index of the release with this identity.
    pub fn find(&self, id: &ReleaseId) -> Option<usize> {
        self.nodes.iter().position(|n| &n.id == id)
    }

    /// Every release the given ones need, directly or not, and themselves.
    pub fn with_needs(&self, selected: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut out = selected.clone();
        let mut todo: Vec<usize> = selected.iter().copied().collect();
        while let Some(i) = todo.pop() {
            for &n in &self.nodes[i].needs {
                if out.insert(n) {
                    todo.push(n);
                }
            }
        }
        out
    }

    /// Waves of every release.
    pub fn plan_all(&self) -> Plan {
        self.plan(&(0..self.nodes.len()).collect())
    }

    /// Waves of the `selected` releases; needs on releases not selected count as
    /// satisfied (helmfile's default `--skip-needs`).
    pub fn plan(&self, selected: &BTreeSet<usize>) -> Plan {
        let mut wave_of: HashMap<usize, usize> = HashMap::new();
        let mut waves: Vec<Vec<usize>> = Vec::new();
        let mut remaining: Vec<usize> = selected.iter().copied().collect();
        // The graph is acyclic (checked in `build`), so every round places at least
        // one release.
        while !remaining.is_empty() {
            let wave = waves.len();
            let ready: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|&i| {
                    self.nodes[i]
                        .needs
                        .iter()
                        .all(|n| !selected.contains(n) || wave_of.get(n).is_some_and(|&w| w < wave))
                })
                .collect();
            for &i in &ready {
                wave_of.insert(i, wave);
            }
            remaining.retain(|i| !wave_of.contains_key(i));
            waves.push(ready);
        }
        Plan { waves }
    }

    fn check_cycles(&self) -> Result<(), ThemeError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; self.nodes.len()];
        let mut path = Vec::new();
        for start in 0..self.nodes.len() {
            if mark[start] != Mark::New {
                continue;
            }
            // Iterative depth-first search: (node, next need to look at).
            let mut stack = vec![(start, 0usize)];
            mark[start] = Mark::Open;
            path.push(start);
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&need) = self.nodes[node].needs.get(*next) {
                    *next += 1;
                    match mark[need] {
                        Mark::New => {
                            mark[need] = Mark::Open;
                            path.push(need);
                            stack.push((need, 0));
                        }
                        Mark::Open => {
                            let from = path.iter().position(|&p| p == need).unwrap_or(0);
                            let mut names: Vec<String> = path[from..]
                                .iter()
                                .map(|&p| self.nodes[p].id.to_string())
                                .collect();
                            names.push(self.nodes[need].id.to_string());
                            let first = &self.nodes[need];
                            return Err(ThemeError::At {
                                path: first.file.clone(),
                                line: first.release.line,
                                message: format!(
                                    "release `{}` is part of a needs cycle: {}",
                                    first.id,
                                    names.join(" -> ")
                                ),
                            });
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    path.pop();
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// The waves cut into batches of at most `bound` releases (at least 1), for a
    /// runner that starts one batch at a time.
    pub fn batches(&self, bound: usize) -> Vec<Vec<usize>> {
        let bound = bound.max(1);
        self.waves
            .iter()
            .flat_map(|w| w.chunks(bound).map(<[usize]>::to_vec))
            .collect()
    }

    /// The waves in reverse order: deleting releases (`installed: false`, destroy)
    /// goes from dependents to what they need.
    pub fn reversed(&self) -> Plan {
        Plan {
            waves: self.waves.iter().rev().cloned().collect(),
        }
    }

    /// How many releases the plan holds.
    pub fn len(&self) -> usize {
        self.waves.iter().map(Vec::len).sum()
    }

    /// True when the plan holds no release.
    pub fn is_empty(&self) -> bool {
        self.waves.iter().all(Vec::is_empty)
    }
}
