//! Reading helmfile-shaped repositories: the seed's shape, bad inputs with their
//! one-line messages, selectors and waves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hfkit::theme::{
    select, select_in_themes, Graph, Helmfile, RawPhase, ReleaseId, Repo, Selector, Theme,
    ThemeError, ValuesEntry,
};
use hfkit::values::{LayerConfig, LayerKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn repo(env: &str) -> Repo {
    Repo::load(&fixtures().join("theme-repo"), env).unwrap()
}

/// The error's message with the fixtures directory left out.
fn message(e: ThemeError) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "not one line: {text}");
    text.replace(&format!("{}/", fixtures().display()), "")
}

fn bad(case: &str) -> String {
    let dir = fixtures().join("theme-bad").join(case);
    match Theme::load(&dir, "default").and_then(|t| Graph::build(&[t])) {
        Ok(_) => panic!("{case} loaded"),
        Err(e) => message(e),
    }
}

fn names(graph: &Graph, ids: impl IntoIterator<Item = usize>) -> Vec<String> {
    ids.into_iter()
        .map(|i| graph.nodes()[i].release.name.clone())
        .collect()
}

#[test]
fn master_lists_themes_in_order_and_ignores_helm_defaults() {
    let repo = repo("production");
    let themes: Vec<&str> = repo.themes.iter().map(|t| t.name.as_str()).collect();
    // monitoring declares only default and staging: skipped, as helmfile skips it.
    assert_eq!(themes, ["backbone", "media"]);
    assert_eq!(repo.skipped.len(), 1);
    assert!(
        repo.skipped[0]
            .reason
            .contains("environment `production` is not defined"),
        "{:?}",
        repo.skipped
    );
    // helmDefaults is read now (its settings sit under every release's own).
    let noted: Vec<&str> = repo.master.notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        noted,
        ["helmfiles"],
        "only the ordering of sub-helmfiles differs"
    );
    assert_eq!(
        repo.themes[0].helmfile.path,
        Path::new("helmfiles/backbone/helmfile.yaml")
    );

    let staging = self::repo("staging");
    let themes: Vec<&str> = staging.themes.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(themes, ["monitoring"]);
    let own = staging.themes[0].selectors.as_ref().unwrap();
    assert_eq!(own[0].text, "tier=observability");
    assert_eq!(staging.master.helmfiles[1].selectors, None);

    let all = self::repo("default");
    assert_eq!(all.themes.len(), 3);
    assert!(all.skipped.is_empty());
}

#[test]
fn environment_declared_nowhere_is_an_error() {
    let e = Repo::load(&fixtures().join("theme-repo"), "qa").unwrap_err();
    assert_eq!(
        message(e),
        "helmfile.yaml: no helmfile declares environment `qa`; nothing to do"
    );
    let e = Theme::load(&fixtures().join("theme-repo/helmfiles/media"), "qa").unwrap_err();
    assert_eq!(
        message(e),
        "theme-repo/helmfiles/media/helmfile.yaml: environment `qa` is not defined \
         (defined: default, production); add it under `environments:` or choose another"
    );
}

#[test]
fn default_template_with_escaped_expressions_is_evaluated_per_release() {
    let repo = repo("production");
    let backbone = &repo.themes[0].helmfile;
    assert_eq!(backbone.environments, ["default", "production"]);
    let repos: Vec<(&str, bool)> = backbone
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.oci))
        .collect();
    assert_eq!(
        repos,
        [
            ("metallb", false),
            ("ingress-nginx", false),
            ("jetstack", true)
        ]
    );

    let nginx = &backbone.releases[1];
    assert_eq!(nginx.name, "ingress-nginx");
    assert_eq!(nginx.namespace.as_deref(), Some("backbone"));
    assert_eq!(nginx.version.as_deref(), Some("4.10.1"));
    assert_eq!(nginx.helm.create_namespace, Some(true));
    assert_eq!(nginx.missing_file_handler.as_deref(), Some("Warn"));
    assert_eq!(nginx.line, 38);
    assert_eq!(
        nginx.values,
        [
            "values/common.yaml",
            "values/production.yaml",
            "values/ingress-nginx/common.yaml",
            "values/ingress-nginx/production.yaml",
        ]
        .map(|f| ValuesEntry::File(f.to_string()))
    );
    assert_eq!(
        nginx.secrets,
        [
            "values/ingress-nginx/common.secrets.yaml",
            "values/ingress-nginx/production.secrets.yaml"
        ]
    );
    assert_eq!(nginx.labels["tier"], "backbone");
    assert_eq!(backbone.releases[0].helm.wait, Some(true));

    // Explicit keys win over the merged template; inline values see the release.
    let cert = &backbone.releases[2];
    assert_eq!(cert.labels.len(), 2);
    let ValuesEntry::Inline(inline) = &cert.values[0] else {
        panic!("{:?}", cert.values)
    };
    let inline = inline.as_map().unwrap();
    assert_eq!(
        inline["environment"].as_scalar().unwrap().text,
        "production"
    );
    let annotations = inline["podAnnotations"].as_map().unwrap();
    assert_eq!(
        annotations["release"].as_scalar().unwrap().text,
        "{{ .Release.Name }}"
    );
    assert_eq!(
        cert.values[1],
        ValuesEntry::File("values/cert-manager/production.yaml".into())
    );

    // The media theme: environments in the first document, releases in the second.
    let media = &repo.themes[1].helmfile;
    assert_eq!(media.environments, ["default", "production"]);
    let names: Vec<&str> = media.releases.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["plex", "transmission", "samba"]);
    assert!(!media.releases[1].installed);
    assert_eq!(media.releases[2].chart, "production-charts/samba");
    assert_eq!(media.releases[2].needs, ["plex", "media/transmission"]);
}

#[test]
fn stacks_come_from_values_entries_or_layer_patterns() {
    let repo = repo("production");
    let media = &repo.themes[1];
    let plex = &media.helmfile.releases[0];
    let stack = plex
        .stack(&media.dir, "production", &LayerConfig::default())
        .unwrap();
    let layers: Vec<(String, LayerKind, bool)> = stack
        .stack
        .layers
        .iter()
        .map(|l| {
            let rel = l.path.strip_prefix(&media.dir).unwrap();
            (rel.display().to_string(), l.kind, l.exists)
        })
        .collect();
    assert_eq!(
        layers,
        [
            ("values/common.yaml".into(), LayerKind::Plain, true),
            ("values/production.yaml".into(), LayerKind::Plain, true),
            ("values/plex/common.yaml".into(), LayerKind::Plain, true),
            ("values/plex/production.yaml".into(), LayerKind::Plain, true),
            (
                "values/plex/common.secrets.yaml".into(),
                LayerKind::Secret,
                false
            ),
            (
                "values/plex/production.secrets.yaml".into(),
                LayerKind::Secret,
                false
            ),
        ]
    );
    assert!(stack.inline.is_empty());

    // Inline values keep their place among the files.
    let backbone = &repo.themes[0];
    let cert = &backbone.helmfile.releases[2];
    let stack = cert
        .stack(&backbone.dir, "production", &LayerConfig::default())
        .unwrap();
    assert_eq!(stack.inline.len(), 1);
    assert_eq!(stack.inline[0].after_layers, 0);
    assert_eq!(stack.stack.layers.len(), 3);

    // No values: entries: the layer patterns.
    let staging = self::repo("staging");
    let monitoring = &staging.themes[0];
    let prometheus = &monitoring.helmfile.releases[0];
    assert_eq!(prometheus.namespace.as_deref(), Some("monitoring-staging"));
    let stack = prometheus
        .stack(&monitoring.dir, "staging", &LayerConfig::default())
        .unwrap();
    let present: Vec<String> = stack
        .stack
        .layers
        .iter()
        .filter(|l| l.exists)
        .map(|l| {
            l.path
                .strip_prefix(&monitoring.dir)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(present, ["values/common.yaml"]);
    assert_eq!(stack.stack.layers.len(), 6);
}

#[test]
fn raw_manifests_are_sorted_per_phase() {
    let repo = repo("production");
    let media = &repo.themes[1];
    let plex = &media.helmfile.releases[0];
    let shown = |phase| -> Vec<(String, bool)> {
        plex.raw_manifests(media, "production", phase)
            .unwrap()
            .into_iter()
            .map(|m| {
                let name = m.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, m.naming.secret)
            })
            .collect()
    };
    assert_eq!(
        shown(RawPhase::Pre),
        [
            ("00-namespace.pre.yaml".to_string(), false),
            ("05-token.secrets.pre.yaml".to_string(), true),
            ("10-config.pre.yaml".to_string(), false),
        ]
    );
    assert_eq!(
        shown(RawPhase::Post),
        [("20-monitor.post.yaml".to_string(), false)]
    );
    let samba = &media.helmfile.releases[2];
    assert!(samba
        .raw_manifests(media, "production", RawPhase::Pre)
        .unwrap()
        .is_empty());
}

#[test]
fn waves_follow_needs_across_themes() {
    let repo = repo("production");
    let graph = Graph::build(&repo.themes).unwrap();
    let plan = graph.plan_all();
    let waves: Vec<Vec<String>> = plan
        .waves
        .iter()
        .map(|w| names(&graph, w.clone()))
        .collect();
    assert_eq!(
        waves,
        [
            vec!["metallb", "transmission"],
            vec!["ingress-nginx"],
            vec!["cert-manager", "plex"],
            vec!["samba"],
        ]
    );
    assert_eq!(plan.len(), 6);
    let batches: Vec<Vec<String>> = plan
        .batches(1)
        .into_iter()
        .map(|b| names(&graph, b))
        .collect();
    assert_eq!(batches.len(), 6);
    assert_eq!(batches[0], ["metallb"]);
    assert_eq!(plan.reversed().waves[0], plan.waves[3]);

    // One theme alone: plex needs a release of another theme.
    let e = Graph::build(&repo.themes[1..2]).unwrap_err();
    assert_eq!(
        message(e),
        "helmfiles/media/helmfile.yaml:20: release `media/plex` needs \
         `backbone/ingress-nginx`, which is not declared"
    );
    let id = ReleaseId {
        kube_context: None,
        namespace: Some("media".into()),
        name: "samba".into(),
    };
    assert_eq!(graph.find(&id), Some(5));
}

#[test]
fn selectors_and_include_needs() {
    let repo = repo("production");
    let graph = Graph::build(&repo.themes).unwrap();
    let sel = |specs: &[&str], include_needs: bool| -> Vec<String> {
        let selectors: Vec<Selector> = specs.iter().map(|s| Selector::parse(s).unwrap()).collect();
        names(&graph, select(&graph, &selectors, include_needs))
    };
    assert_eq!(sel(&["app=plex"], false), ["plex"]);
    assert_eq!(
        sel(&["tier=backbone,name!=metallb"], false),
        ["ingress-nginx", "cert-manager"]
    );
    assert_eq!(
        sel(
            &["name=metallb", "namespace=media,app!=transmission"],
            false
        ),
        ["metallb", "plex", "samba"]
    );
    assert_eq!(sel(&["chart=metallb/metallb"], false), ["metallb"]);
    // A negated label that is absent matches.
    assert_eq!(
        sel(&["critical!=true,namespace=backbone"], false),
        ["metallb", "ingress-nginx"]
    );
    assert_eq!(
        sel(&["name=samba"], true),
        ["metallb", "ingress-nginx", "plex", "transmission", "samba"]
    );
    assert_eq!(sel(&[], false).len(), 6);

    // Waves of a selection: needs outside it count as satisfied.
    let picked: BTreeSet<usize> = select(
        &graph,
        &[Selector::parse("namespace=media").unwrap()],
        false,
    );
    let plan = graph.plan(&picked);
    let waves: Vec<Vec<String>> = plan
        .waves
        .iter()
        .map(|w| names(&graph, w.clone()))
        .collect();
    assert_eq!(waves, [vec!["plex", "transmission"], vec!["samba"]]);

    // A theme's own `selectors:` replace the command line's for its releases.
    let all = self::repo("default");
    let graph = Graph::build(&all.themes).unwrap();
    let cli = [Selector::parse("name=plex").unwrap()];
    let picked = select_in_themes(&graph, &all.themes, &cli, false);
    assert_eq!(names(&graph, picked), ["plex", "prometheus"]);
    let cli = [Selector::parse("name=nothing").unwrap()];
    let picked = select_in_themes(&graph, &all.themes, &cli, false);
    assert_eq!(names(&graph, picked), ["prometheus"]);

    for (bad, msg) in [
        (
            "app",
            "selector `app`: malformed term `app`: expected key=value or key!=value",
        ),
        ("app=plex,", "selector `app=plex,`: malformed term ``"),
        ("a b=c", "selector `a b=c`: malformed term `a b=c`"),
    ] {
        let e = Selector::parse(bad).unwrap_err().to_string();
        assert!(e.starts_with(msg), "{e}");
    }
}

#[test]
fn unquoted_supported_actions_are_rendered_before_parsing() {
    let theme = Theme::load(&fixtures().join("theme-unquoted"), "production").unwrap();
    let plex = &theme.helmfile.releases[0];
    assert_eq!(plex.namespace.as_deref(), Some("production"));
    assert_eq!(plex.values, [ValuesEntry::File("values/plex.yaml".into())]);
}

#[test]
fn bad_inputs_have_one_line_messages() {
    const SUBSET: &str = "hfapply evaluates only {{ .Environment.Name }}, {{ .Release.Name }}, \
                          {{ .Release.Namespace }}, {{ .Event.Name }} (in hooks) and the escaped form {{`...`}}";
    assert_eq!(
        bad("cycle"),
        "theme-bad/cycle/helmfile.yaml:2: release `apps/a` is part of a needs cycle: \
         apps/a -> apps/c -> apps/b -> apps/a"
    );
    assert_eq!(
        bad("unknown-need"),
        "theme-bad/unknown-need/helmfile.yaml:5: release `media/plex` needs \
         `media/ingress-nginx`, which is not declared (did you mean `backbone/ingress-nginx`?)"
    );
    assert_eq!(
        bad("malformed"),
        "theme-bad/malformed/helmfile.yaml:4: mapping values are not allowed in this context"
    );
    assert_eq!(
        bad("template-expr"),
        format!(
            "theme-bad/template-expr/helmfile.yaml:6: template expression \
             `{{{{ .Values.plexVersion }}}}` is not supported; {SUBSET}"
        )
    );
    assert_eq!(
        bad("template-logic"),
        format!(
            "theme-bad/template-logic/helmfile.yaml:2: template expression \
             `{{{{ if eq .Environment.Name \"production\" }}}}` is not supported; {SUBSET} \
             (template logic outside string values is not supported either)"
        )
    );
    assert_eq!(
        bad("wrong-type"),
        "theme-bad/wrong-type/helmfile.yaml:6: releases[1].needs must be a list of release names"
    );
    assert_eq!(
        bad("bad-needs-entry"),
        "theme-bad/bad-needs-entry/helmfile.yaml:5: releases[0].needs[0] must be a release \
         name: `name`, `namespace/name` or `kubecontext/namespace/name`"
    );
    assert!(
        bad("unknown-key").starts_with(
            "theme-bad/unknown-key/helmfile.yaml:4: unknown key `relaeses` in top level \
             (did you mean `releases`?)"
        ),
        "{}",
        bad("unknown-key")
    );
    assert!(bad("refused-key").starts_with(
        "theme-bad/refused-key/helmfile.yaml:4: releases[0].condition is not supported by hfapply"
    ));
    assert!(bad("duplicate").starts_with(
        "theme-bad/duplicate/helmfile.yaml:7: release `media/plex` is declared twice \
         (first at "
    ));
}

#[test]
fn shapes_are_checked_with_key_paths() {
    let parse = |text: &str| {
        Helmfile::parse(text, Path::new("helmfiles/media/helmfile.yaml"), "default")
            .map_err(message)
    };
    let cases = [
        ("- a\n", "helmfiles/media/helmfile.yaml:1: the top level must be a map of helmfile keys (releases, environments, ...)"),
        ("releases: {}\n", "helmfiles/media/helmfile.yaml:1: releases must be a list"),
        ("releases:\n- name: plex\n", "helmfiles/media/helmfile.yaml:2: releases[0].chart is missing"),
        ("releases:\n- chart: x\n", "helmfiles/media/helmfile.yaml:2: releases[0].name is missing"),
        ("releases:\n- name: Plex_1\n  chart: x\n", "helmfiles/media/helmfile.yaml:2: invalid release name `Plex_1`: use lowercase letters, digits, `-` and `.` (no path characters), starting and ending with a letter or digit, as helm requires"),
        ("releases:\n- name: p\n  chart: x\n  installed: maybe\n", "helmfiles/media/helmfile.yaml:4: releases[0].installed must be true or false, not `maybe`"),
        ("releases:\n- name: p\n  chart: x\n  labels: [a]\n", "helmfiles/media/helmfile.yaml:4: releases[0].labels must be a map"),
        ("releases:\n- name: p\n  chart: x\n  values: [[a]]\n", "helmfiles/media/helmfile.yaml:4: releases[0].values[0] must be a file path or a map of values"),
        ("releases:\n- name: p\n  chart: x\n  secrets:\n  - {a: 1}\n", "helmfiles/media/helmfile.yaml:5: releases[0].secrets[0] must be a file path"),
        ("releases:\n- name: p\n  chart: x\n  values: [v.yaml.gotmpl]\n", "helmfiles/media/helmfile.yaml:4: releases[0].values[0]: values templates (`v.yaml.gotmpl`) are not supported; use plain YAML files"),
        ("repositories:\n- name: r\n", "helmfiles/media/helmfile.yaml:2: repositories[0].url is missing"),
        ("helmfiles:\n- selectors: []\n", "helmfiles/media/helmfile.yaml:2: helmfiles[0].path is missing"),
        ("helmfiles:\n- path: a.yaml\n  selectors: [a=b]\n  selectorsInherited: true\n", "helmfiles/media/helmfile.yaml:2: helmfiles[0] sets both selectors and selectorsInherited; helmfile refuses that too, keep one"),
        ("environments: [a]\n", "helmfiles/media/helmfile.yaml:1: environments must be a map"),
        ("releases:\n- name: p\n  chart: x\n  values:\n  - a: \"{{ .Release.Name }}\"\n", "helmfiles/media/helmfile.yaml:5: template expression `{{ .Release.Name }}` is not supported (`.Release` is only available in the fields of a release); hfapply evaluates only {{ .Environment.Name }}, {{ .Release.Name }}, {{ .Release.Namespace }}, {{ .Event.Name }} (in hooks) and the escaped form {{`...`}}"),
        ("repositories:\n- name: r\n  url: \"{{ .Release.Name }}\"\n", "helmfiles/media/helmfile.yaml:3: template expression `{{ .Release.Name }}` is not supported (`.Release` is only available in the fields of a release); hfapply evaluates only {{ .Environment.Name }}, {{ .Release.Name }}, {{ .Release.Namespace }}, {{ .Event.Name }} (in hooks) and the escaped form {{`...`}}"),
    ];
    let hint = "(this file uses `{{ ... }}` template logic outside string values, which is \
                not supported: hfapply evaluates only";
    let e = parse("releases:\n- name: p\n  chart: x\n  values:\n  - {{ .Release.Name }}.yaml\n")
        .unwrap_err();
    assert!(e.starts_with("helmfiles/media/helmfile.yaml:5: "), "{e}");
    assert!(e.contains(hint), "{e}");
    let e = parse("releases:\n- name: p\n  chart: x\n  version: {{ .Values.v }}\n").unwrap_err();
    assert!(
        e.starts_with("helmfiles/media/helmfile.yaml:4: template expression `{{ .Values.v }}` is not supported;"),
        "{e}"
    );
    assert!(
        e.ends_with("(template logic outside string values is not supported either)"),
        "{e}"
    );
    let kc = parse(
        "helmDefaults: {kubeContext: home, wait: true}\nreleases:\n- name: p\n  chart: x\n  \
         needs: [home//q]\n- name: q\n  chart: x\n- name: r\n  chart: x\n  kubeContext: lab\n",
    )
    .unwrap();
    assert_eq!(kc.releases[0].kube_context.as_deref(), Some("home"));
    assert_eq!(kc.releases[2].kube_context.as_deref(), Some("lab"));
    let ids: Vec<String> = kc
        .releases
        .iter()
        .map(|r| ReleaseId::of(r).to_string())
        .collect();
    assert_eq!(ids, ["home//p", "home//q", "lab//r"]);
    let theme = Theme {
        name: "t".into(),
        dir: PathBuf::new(),
        helmfile: kc,
        selectors: None,
    };
    let graph = Graph::build(&[theme]).unwrap();
    assert_eq!(graph.nodes()[0].needs, [1]);
    for (text, expected) in cases {
        assert_eq!(parse(text).unwrap_err(), expected, "{text}");
    }
    let ok = parse("commonLabels: {team: media}\nreleases:\n- name: p\n  chart: x\n  labels: {team: own}\n- name: q\n  chart: x\n").unwrap();
    // As helmfile: commonLabels override the release's own.
    assert_eq!(ok.releases[0].labels["team"], "media");
    assert_eq!(ok.releases[1].labels["team"], "media");
}

#[test]
fn the_bundled_example_repository_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster-repo");
    let repo = Repo::load(&root, "production").unwrap();
    let names: Vec<&str> = repo.themes.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["backbone", "monitoring", "media"]);
    let media = &repo.themes[2];
    let plex = &media.helmfile.releases[0];
    assert_eq!(plex.name, "plex");
    assert_eq!(plex.namespace.as_deref(), Some("media"));
    assert_eq!(
        plex.secrets,
        [
            "values/plex/common.secrets.yaml",
            "values/plex/production.secrets.yaml"
        ]
    );
    let stack = plex
        .stack(&media.dir, "production", &LayerConfig::default())
        .unwrap();
    let present = stack.stack.layers.iter().filter(|l| l.exists).count();
    assert_eq!(present, 5, "{:?}", stack.stack.layers);
    // ingress (0), grafana (1) and plex (2) need ingress, transmission (3) needs plex.
    let plan = Graph::build(&repo.themes).unwrap().plan_all();
    assert_eq!(plan.waves, [vec![0], vec![1, 2], vec![3]]);
}

/// Writes `files` (path, text) under a fresh directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn sub_helmfiles_globs_nesting_missing_files_and_own_releases() {
    let release = |name: &str| format!("releases:\n- name: {name}\n  chart: c/{name}\n");
    let dir = tree(&[
        (
            "helmfile.yaml",
            "helmfiles:\n- helmfiles/*/helmfile.yaml\n- path: helmfiles/gone/helmfile.yaml\n\
             releases:\n- name: root\n  chart: c/root\n",
        ),
        ("helmfiles/b/helmfile.yaml", &release("b")),
        (
            "helmfiles/a/helmfile.yaml",
            &format!("helmfiles:\n- nested\n{}", release("a")),
        ),
        ("helmfiles/a/nested/helmfile.yaml", &release("n")),
    ]);
    let repo = Repo::load(dir.path(), "default").unwrap();
    let order: Vec<(&str, &str)> = repo
        .releases()
        .map(|(t, r)| (t.name.as_str(), r.name.as_str()))
        .collect();
    // A theme's own sub-helmfiles run before it; the master's releases last.
    assert_eq!(
        order,
        [("nested", "n"), ("a", "a"), ("b", "b"), (".", "root")]
    );
    assert_eq!(
        repo.themes[0].helmfile.path,
        Path::new("helmfiles/a/nested/helmfile.yaml")
    );
    assert_eq!(repo.skipped.len(), 1);
    assert_eq!(repo.skipped[0].path, "helmfiles/gone/helmfile.yaml");

    // With `missingFileHandler: Error` a missing sub-helmfile is an error.
    let dir = tree(&[(
        "helmfile.yaml",
        "missingFileHandler: Error\nhelmfiles:\n- path: helmfiles/gone/helmfile.yaml\n",
    )]);
    let e = Repo::load(dir.path(), "default").unwrap_err().to_string();
    assert_eq!(
        e,
        "helmfile.yaml:3: sub-helmfile `helmfiles/gone/helmfile.yaml` does not exist"
    );

    // A helmfile that lists itself.
    let dir = tree(&[
        ("helmfile.yaml", "helmfiles:\n- t/helmfile.yaml\n"),
        ("t/helmfile.yaml", "helmfiles:\n- ../t/helmfile.yaml\n"),
    ]);
    let e = Repo::load(dir.path(), "default").unwrap_err().to_string();
    assert_eq!(
        e,
        "t/helmfile.yaml:2: sub-helmfile `t/helmfile.yaml` includes itself (a cycle of helmfiles:)"
    );
    assert!(e.contains("includes itself"), "{e}");

    // Remote sub-helmfiles are refused.
    let dir = tree(&[(
        "helmfile.yaml",
        "helmfiles:\n- git::https://github.com/x/y.git@helmfile.yaml?ref=main\n",
    )]);
    let e = Repo::load(dir.path(), "default").unwrap_err().to_string();
    assert!(e.contains("remote sub-helmfile"), "{e}");

    // Environment names end up in file names: checked first.
    let e = Repo::load(dir.path(), "../x").unwrap_err().to_string();
    assert!(e.starts_with("invalid environment name `../x`"), "{e}");
}

#[test]
fn every_key_is_honoured_refused_or_noted() {
    let parse = |text: &str| {
        Helmfile::parse(text, Path::new("helmfiles/media/helmfile.yaml"), "default")
            .map_err(message)
    };
    let refused = [
        ("releases:\n- name: p\n  chart: x\n  jsonPatches: []\n", "helmfiles/media/helmfile.yaml:4: releases[0].jsonPatches is not supported by hfapply: needs chartify/kustomize"),
        ("bases: [b.yaml]\n", "helmfiles/media/helmfile.yaml:1: bases is not supported by hfapply: bases are not supported yet"),
        ("helmDefaults:\n  serverSide: 'true'\n", "helmfiles/media/helmfile.yaml:2: helmDefaults.serverSide is not supported by hfapply"),
        ("repositories:\n- name: r\n  url: https://x\n  username: u\n", "helmfiles/media/helmfile.yaml:4: repositories[0].username is not supported by hfapply"),
        ("releases:\n- name: p\n  chart: x\n  wiat: true\n", "helmfiles/media/helmfile.yaml:4: unknown key `wiat` in releases[] (did you mean `wait`?)"),
        ("helmDefaults:\n  tiemout: 3\n", "helmfiles/media/helmfile.yaml:2: unknown key `tiemout` in helmDefaults (did you mean `timeout`?)"),
        ("releases:\n- name: p\n  chart: x\n  hooks:\n  - events: [PreSync]\n    command: x\n", "helmfiles/media/helmfile.yaml:5: releases[0].hooks[0].events[0] `PreSync` is not an event hfapply fires"),
        ("releases:\n- name: p\n  chart: x\n  hooks:\n  - events: [presync]\n", "helmfiles/media/helmfile.yaml:5: releases[0].hooks[0].command is missing"),
        ("releases:\n- name: p\n  chart: x\n  timeout: soon\n", "helmfiles/media/helmfile.yaml:4: releases[0].timeout must be a whole number of seconds or a count, not `soon`"),
        ("releases:\n- name: p\n  chart: x\n  set:\n  - name: a\n    value: ref+vault://x\n", "helmfiles/media/helmfile.yaml:6: releases[0].set[0].value is a vals reference"),
    ];
    for (text, expected) in refused {
        let err = parse(text).unwrap_err();
        assert!(err.starts_with(expected), "{text}\n{err}");
    }

    let hf = parse(
        "helmDefaults: {wait: true, timeout: 300, force: true, args: ['--debug --kube-insecure-skip-tls-verify']}\n\
         values: [{a: 1}]\n\
         releases:\n\
         - name: p\n  chart: x\n  wait: false\n  timeout: 60\n  disableValidation: true\n  \
           hooks:\n  - events: [prepare, presync]\n    command: ./h.sh\n    args: ['{{`{{ .Event.Name }}`}}', '{{ .Environment.Name }}']\n",
    )
    .unwrap();
    let r = &hf.releases[0];
    assert_eq!(r.helm.wait, Some(false));
    assert_eq!(r.helm.timeout, Some(60));
    assert_eq!(r.helm.force, Some(true), "helmDefaults under the release");
    assert_eq!(r.helm.args, ["--debug", "--kube-insecure-skip-tls-verify"]);
    assert_eq!(r.hooks[0].events, ["prepare", "presync"]);
    // The file pass ran; `.Event` waits for the hook to run.
    assert_eq!(r.hooks[0].args, ["{{ .Event.Name }}", "default"]);
    let noted: Vec<&str> = hf.notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        noted,
        ["{{`...`}}", "values", "releases[0].disableValidation"]
    );
}

#[test]
fn hooks_of_a_master_without_releases_are_refused_and_its_notes_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("helmfiles/a")).unwrap();
    std::fs::write(
        root.join("helmfiles/a/helmfile.yaml"),
        "releases:\n- name: p\n  chart: x\n",
    )
    .unwrap();
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n- helmfiles/a/helmfile.yaml\nhooks:\n- events: [prepare]\n  command: ./h.sh\n",
    )
    .unwrap();
    let err = Repo::load(root, "default").unwrap_err().to_string();
    assert!(
        err.starts_with("helmfile.yaml:4: hooks: in a helmfile without releases are not run"),
        "{err}"
    );
    std::fs::write(
        root.join("helmfile.yaml"),
        "helmfiles:\n- helmfiles/a/helmfile.yaml\n",
    )
    .unwrap();
    let repo = Repo::load(root, "default").unwrap();
    let noted: Vec<&str> = repo.master.notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(noted, ["helmfiles"]);
}
