//! The pipeline workflows in docs/workflows parse, and every `kubectl hfapply` command
//! they run is accepted by the real binary's argument parser.

use std::process::Command;

use hfkit::values::{parse_documents, Node, Value};
use hfkit_dist_tests::{bin_dir, repo_root};

fn map_get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?.get(key)
}

/// Every `run:` script of every step of every job.
fn run_scripts(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let jobs = map_get(doc, "jobs").and_then(|j| j.as_map()).expect("jobs");
    for (name, job) in jobs {
        let Some(Value {
            node: Node::List(steps),
            ..
        }) = map_get(job, "steps")
        else {
            panic!("job {name} has no steps");
        };
        for step in steps {
            if let Some(run) = map_get(step, "run").and_then(|r| r.as_scalar()) {
                out.push(run.text.clone());
            }
        }
    }
    out
}

#[test]
fn workflows_parse_and_call_real_commands() {
    let dir = repo_root().join("docs/workflows");
    let mut checked = 0;
    for name in ["diff.yaml", "apply.yaml", "autoupgrade.yaml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let docs = parse_documents(&text, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = docs.into_iter().flatten().next().expect("a document");
        // GitHub reads `on:` as a string key; a YAML 1.1 reader (ours, like helm's)
        // reads it as `true`.
        assert!(
            map_get(&doc, "true").or(map_get(&doc, "on")).is_some(),
            "{name}: no trigger"
        );
        for script in run_scripts(&doc) {
            for line in script.lines() {
                let line = line.trim();
                let Some(rest) = line.strip_prefix("kubectl hfapply") else {
                    continue;
                };
                // Up to the first redirection: the rest is shell.
                let args: Vec<&str> = rest
                    .split_whitespace()
                    .take_while(|w| !w.starts_with('>') && !w.starts_with('|'))
                    .collect();
                let out = Command::new(bin_dir().join("kubectl-hfapply"))
                    .args(&args)
                    .arg("--help")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{name}: `kubectl hfapply {}` is refused: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3, "one hfapply command per workflow");
}
