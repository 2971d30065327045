//! Source-preserving edits on their own: odd layouts, line endings, refusals.

use hfkit_charts::edit::{apply, locate};

/// Sets `release`'s version in `text`, finding its line as the theme reader does.
fn set(text: &str, release: &str, version: &str) -> Result<String, String> {
    let hf = hfkit::theme::Helmfile::parse(text, std::path::Path::new("helmfile.yaml"), "default")
        .map_err(|e| e.to_string())?;
    let r = hf.releases.iter().find(|r| r.name == release).unwrap();
    let site = locate(text, "helmfile.yaml", release, r.line).map_err(|e| e.to_string())?;
    let edit = site.edit(version).map_err(|e| e.to_string())?;
    Ok(apply(text, &[edit]))
}

#[test]
fn crlf_multi_document_and_no_final_newline() {
    let text = "releases:\r\n- name: a\r\n  chart: s/a\r\n  version: 1.0.0 # x\r\n---\r\nreleases:\r\n- name: b\r\n  chart: s/b";
    assert_eq!(
        set(text, "a", "1.1.0").unwrap(),
        text.replace("version: 1.0.0 # x", "version: 1.1.0 # x")
    );
    assert_eq!(
        set(text, "b", "2.0.0").unwrap(),
        format!("{text}\r\n  version: 2.0.0")
    );
}

#[test]
fn quoting_and_odd_indentation() {
    let text = "releases:\n    -     name: a\n          chart: s/a\n          version:    \"1.0.0\"\n          labels: {x: y}\n    - name: \"b\"\n      \"chart\": 's/b'\n      version: 'v1.0'   #   hfapply: ~1.0\n";
    assert_eq!(
        set(text, "a", "1.0.1").unwrap(),
        text.replace("version:    \"1.0.0\"", "version:    \"1.0.1\"")
    );
    assert_eq!(
        set(text, "b", "v1.0.5").unwrap(),
        text.replace("'v1.0'", "'v1.0.5'")
    );
    let hf = hfkit::theme::Helmfile::parse(text, std::path::Path::new("h"), "default").unwrap();
    let site = locate(text, "h", "b", hf.releases[1].line).unwrap();
    assert_eq!(site.marker.as_deref(), Some("~1.0"));
}

#[test]
fn flow_maps_get_an_inline_version() {
    let text = "releases:\n  - {name: a, chart: s/a, namespace: n}   # flow\n";
    assert_eq!(
        set(text, "a", "1.2.3").unwrap(),
        "releases:\n  - {name: a, chart: s/a, version: 1.2.3, namespace: n}   # flow\n"
    );
}

#[test]
fn block_scalars_and_aliases_are_refused() {
    let text = "releases:\n- name: a\n  chart: s/a\n  version: >-\n    1.0.0\n";
    let e = set(text, "a", "1.1.0").unwrap_err();
    assert!(
        e.contains("release `a`: its version is not written as `version: X` on one line (a block"),
        "{e}"
    );
    let text = "x: &v 1.0.0\nreleases:\n- name: a\n  chart: s/a\n  version: *v\n";
    // `x` is not a helmfile key: locate the release directly.
    let e = locate(text, "h", "a", 3)
        .unwrap()
        .edit("2.0.0")
        .unwrap_err();
    assert!(
        e.to_string().contains("alias of the anchor at line 1"),
        "{e}"
    );
}

#[test]
fn nested_version_keys_are_not_the_release_version() {
    // `values` holds a `version:` of its own; the release's comes from the template.
    let text = "templates:\n  t: &t\n    chart: s/a\n    version: 1.0.0\nreleases:\n- name: a\n  <<: *t\n  values:\n  - image:\n      version: 9.9.9\n";
    let out = set(text, "a", "1.1.0").unwrap();
    assert_eq!(
        out,
        text.replace("- name: a\n", "- name: a\n  version: 1.1.0\n")
    );
}
