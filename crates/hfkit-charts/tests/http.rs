//! Whole runs against chart repositories served on loopback: HTTP `index.yaml`
//! repositories, source-preserving edits, failures.

mod support;

use hfkit_charts::upgrade::{Scope, Status, Target, EXIT_CHANGED, EXIT_NOTHING, EXIT_PARTIAL};
use hfkit_charts::{render, run, Request, UpgradeError};
use support::*;

/// A server with repositories `stable` (plex, jellyfin, radarr: hundreds of versions),
/// `other` (sonarr) and `broken` (a malformed index.yaml).
fn repos() -> Server {
    let stable = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let s2 = stable.clone();
    let server = Server::start(move |req| match req.path() {
        "/stable/index.yaml" => Resp::ok(s2.get().unwrap().clone()),
        "/other/index.yaml" => Resp::ok(index_yaml(
            "http://x/other",
            &[(
                "sonarr",
                ["1.0.0-rc.1", "0.4.0", "0.3.0"]
                    .iter()
                    .enumerate()
                    .map(|(i, v)| V {
                        version: v.to_string(),
                        app: "4.0".into(),
                        created: date(100 - i as u32),
                    })
                    .collect(),
            )],
        )),
        "/broken/index.yaml" => {
            Resp::ok("apiVersion: v1\nentries:\n  plex:\n  - version: 1.0.0\n   bad indent: [\n")
        }
        _ => Resp::status(404),
    });
    let url = server.url();
    stable
        .set(index_yaml(
            &url,
            &[
                ("plex", many_versions(3)),
                ("jellyfin", many_versions(3)),
                ("radarr", many_versions(3)),
            ],
        ))
        .unwrap();
    server
}

fn request(repo: &TestRepo, scope: Scope) -> Request {
    let mut r = Request::new(repo.root(), scope);
    r.now = epoch(400);
    r
}

const MEDIA: &str = r#"# Media theme: managed by hand and by the autoupgrade pipeline.
repositories:
    -   name: stable            # the main repository
        url: URL/stable
    -   name: other
        url: URL/other/

environments:
  default: {}
  production:

templates:
  default: &default
    namespace: media
    createNamespace: true
    values:
    - values/{{`{{ .Release.Name }}`}}/common.yaml

releases:
    # Plex: watched closely
    -   name: plex
        <<: *default
        chart: stable/plex      # from the stable repository
        version: "1.4.2"        # bumped by the pipeline
        labels:
            tier: media
    -   name: emby
        <<: *default
        chart: ../../charts/emby
        version: 0.1.0
    - name: jellyfin
      chart: 'stable/jellyfin'
      version: '2.0.1'   # hfapply: <3.0.0
      labels: {tier: media}
    - {name: sonarr, chart: other/sonarr, version: 0.3.0}   # flow style
    - name: radarr
      chart: stable/radarr
      labels:
        hfapply.io/autoupgrade: "false"
      version: 1.0.0
"#;

#[test]
fn upgrades_keep_the_file_as_written() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let before = repo.read("media");
    let report = run(&request(&repo, Scope::All)).unwrap();
    let after = repo.read("media");
    let expected = before
        .replace(
            r#"version: "1.4.2"        #"#,
            r#"version: "3.12.3"        #"#,
        )
        .replace("version: '2.0.1'   #", "version: '2.12.3'   #")
        .replace("version: 0.3.0}", "version: 0.4.0}");
    assert_eq!(after, expected);
    assert_eq!(
        report.exit_code(),
        EXIT_CHANGED,
        "{}",
        render::text(&report)
    );

    let by = |n: &str| report.entries.iter().find(|e| e.release == n).unwrap();
    assert_eq!(by("plex").status, Status::Upgraded);
    assert_eq!(by("plex").from.as_deref(), Some("1.4.2"));
    assert_eq!(by("plex").to.as_deref(), Some("3.12.3"));
    let d = by("plex").to_details.as_ref().unwrap();
    assert_eq!(d.app_version.as_deref(), Some("1.312.3"));
    assert_eq!(
        d.changelog.as_deref(),
        Some("https://github.com/example/plex/releases/tag/plex-3.12.3")
    );
    assert_eq!(d.changes[0], "changed: Update plex to 1.312.3");
    assert_eq!(by("emby").status, Status::Skipped);
    assert!(by("emby").notes[0].contains("local chart"));
    assert_eq!(by("jellyfin").to.as_deref(), Some("2.12.3"));
    assert!(by("jellyfin").notes[0].contains("outside the constraint `<3.0.0`"));
    assert_eq!(by("radarr").status, Status::Skipped);
    assert!(by("radarr").notes[0].contains("opted out"));

    // One index.yaml request per repository.
    let asked: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        asked.iter().filter(|t| *t == "/stable/index.yaml").count(),
        1,
        "{asked:?}"
    );
    assert_eq!(
        asked.iter().filter(|t| *t == "/other/index.yaml").count(),
        1,
        "{asked:?}"
    );

    let md = render::markdown(&report);
    assert!(md.starts_with("## Upgrade 3 charts\n"), "{md}");
    assert!(
        md.contains("| media | plex | `stable/plex` | 1.4.2 | 3.12.3 | 1.104.2 → 1.312.3 |"),
        "{md}"
    );
    assert!(md.contains("- changed: Update plex to 1.312.3"), "{md}");
    assert!(
        md.contains("https://github.com/example/plex/releases/tag/plex-3.12.3"),
        "{md}"
    );
    assert!(md.contains("- media/emby skipped: local chart"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["entries"][0]["to"], "3.12.3");

    // A second run: nothing to do.
    let again = run(&request(&repo, Scope::All)).unwrap();
    assert_eq!(again.exit_code(), EXIT_NOTHING, "{}", render::text(&again));
    assert_eq!(repo.read("media"), expected);
}

#[test]
fn dry_run_writes_nothing() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let before = repo.read("media");
    let mut req = request(&repo, Scope::Themes(vec!["media".into()]));
    req.dry_run = true;
    let report = run(&req).unwrap();
    assert_eq!(report.exit_code(), EXIT_CHANGED);
    assert_eq!(report.files, vec!["helmfiles/media/helmfile.yaml"]);
    assert_eq!(repo.read("media"), before);
    assert!(render::text(&report).contains("(dry run: nothing written)"));
}

#[test]
fn selectors_pick_releases() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let mut req = request(&repo, Scope::All);
    req.selectors = vec!["tier=media".into()];
    let report = run(&req).unwrap();
    let names: Vec<&str> = report.entries.iter().map(|e| e.release.as_str()).collect();
    assert_eq!(names, vec!["plex", "jellyfin"]);
}

#[test]
fn min_age_uses_the_index_dates() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let mut req = request(
        &repo,
        Scope::Release {
            theme: "media".into(),
            release: "plex".into(),
        },
    );
    req.honour_opt_out = false;
    // 3.12.3 was published on day 311: an hour ago; 3.12.0 on day 308.
    req.now = epoch(311) + 3600;
    req.min_age_secs = Some(3 * 86_400);
    let report = run(&req).unwrap();
    assert_eq!(
        report.entries[0].to.as_deref(),
        Some("3.12.0"),
        "{}",
        render::text(&report)
    );
    assert!(report.entries[0]
        .notes
        .iter()
        .any(|n| n.starts_with("3.12.3 held back: published 1h 0m ago")));
    assert!(repo
        .read("media")
        .contains(r#"version: "3.12.0"        # bumped"#));
}

#[test]
fn exact_version_and_latest_for_one_release() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let before = repo.read("media");
    let mut req = request(
        &repo,
        Scope::Release {
            theme: "media".into(),
            release: "radarr".into(),
        },
    );
    req.honour_opt_out = false;
    req.target = Target::Exact("1.4.2".into());
    let report = run(&req).unwrap();
    assert_eq!(report.exit_code(), EXIT_CHANGED);
    assert_eq!(
        repo.read("media"),
        before.replace("      version: 1.0.0\n", "      version: 1.4.2\n")
    );

    // A version the repository does not have: failure, file untouched.
    req.target = Target::Exact("9.9.9".into());
    let before = repo.read("media");
    let report = run(&req).unwrap();
    assert_eq!(report.exit_code(), EXIT_PARTIAL);
    assert!(
        report.entries[0].notes[0].contains("9.9.9 of `radarr` is not in"),
        "{:?}",
        report.entries[0]
    );
    assert_eq!(repo.read("media"), before);

    // --latest names the release: the opt-out label does not apply to it.
    req.target = Target::Latest;
    let report = run(&req).unwrap();
    assert_eq!(report.entries[0].to.as_deref(), Some("3.12.3"));

    // Not a version at all.
    req.target = Target::Exact("latest".into());
    assert!(matches!(run(&req), Err(UpgradeError::BadVersion(_))));
}

#[test]
fn a_release_without_version_gets_one_after_chart() {
    let server = repos();
    let text = format!(
        "repositories:\n- name: stable\n  url: {}/stable\n\nreleases:\n  - name: radarr\n    chart: stable/radarr   # no version yet\n    namespace: media\n  - name: plex\n    chart: stable/plex\n    version: '3.0.0'\n",
        server.url()
    );
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, Scope::All)).unwrap();
    assert_eq!(report.exit_code(), EXIT_CHANGED);
    assert_eq!(
        repo.read("media"),
        text.replace(
            "    chart: stable/radarr   # no version yet\n",
            "    chart: stable/radarr   # no version yet\n    version: '3.12.3'\n"
        )
        .replace("version: '3.0.0'", "version: '3.12.3'")
    );
    assert!(report.entries[0].inserted);
    assert_eq!(report.entries[0].from, None);
}

#[test]
fn template_versions_are_overridden_in_the_release_and_shared_anchors_refused() {
    let server = repos();
    let text = format!(
        r#"repositories:
- name: stable
  url: {url}/stable
templates:
  pinned: &pinned
    chart: stable/plex
    version: 1.0.0
releases:
- name: a
  <<: *pinned
- name: b
  <<: *pinned
  version: 1.2.0
- &shared
  name: c
  chart: stable/jellyfin
  version: 2.0.0
- <<: *shared
  name: d
- name: e
  chart: stable/radarr
  version: &v 1.0.0
- name: f
  chart: stable/radarr
  version: *v
- name: g
  chart: stable/radarr
  version: &alone 1.0.0
"#,
        url = server.url()
    );
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, Scope::All)).unwrap();
    let by = |n: &str| report.entries.iter().find(|e| e.release == n).unwrap();
    assert_eq!(by("a").status, Status::Upgraded);
    assert!(by("a")
        .notes
        .iter()
        .any(|n| n.contains("came from a template")));
    assert_eq!(by("b").status, Status::Upgraded);
    for n in ["c", "d"] {
        assert_eq!(by(n).status, Status::Failed, "{n}");
        assert!(
            by(n).notes[0].contains("shared through an anchor"),
            "{:?}",
            by(n)
        );
    }
    for n in ["e", "f"] {
        assert_eq!(by(n).status, Status::Failed, "{n}");
    }
    assert!(
        by("g").notes[0].contains("carries the anchor `&alone`"),
        "{:?}",
        by("g")
    );
    assert_eq!(report.exit_code(), EXIT_PARTIAL);
    // The template is untouched; `a` has its own version now, `b` is edited.
    assert_eq!(
        repo.read("media"),
        text.replace("- name: a\n", "- name: a\n  version: 3.12.3\n")
            .replace("  version: 1.2.0\n", "  version: 3.12.3\n")
    );
}

#[test]
fn one_repository_down_does_not_stop_the_others() {
    let server = repos();
    let text = format!(
        "repositories:\n- name: stable\n  url: {}/stable\n- name: gone\n  url: http://127.0.0.1:{}/charts\n- name: broken\n  url: {}/broken\nreleases:\n- name: plex\n  chart: stable/plex\n  version: 3.0.0\n- name: lost\n  chart: gone/lost\n  version: 1.0.0\n- name: odd\n  chart: broken/plex\n  version: 1.0.0\n- name: missing\n  chart: stable/nope\n  version: 1.0.0\n",
        server.url(),
        dead_port(),
        server.url()
    );
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, Scope::All)).unwrap();
    let out = render::text(&report);
    assert_eq!(report.exit_code(), EXIT_PARTIAL, "{out}");
    assert_eq!(
        repo.read("media"),
        text.replace("version: 3.0.0", "version: 3.12.3")
    );
    let by = |n: &str| report.entries.iter().find(|e| e.release == n).unwrap();
    assert_eq!(by("plex").status, Status::Upgraded);
    assert_eq!(by("lost").status, Status::Failed);
    assert!(
        by("lost").notes[0].starts_with("repository unavailable: http://127.0.0.1:"),
        "{out}"
    );
    assert!(by("odd").notes[0].contains("malformed index.yaml"), "{out}");
    assert!(
        by("missing").notes[0].contains("chart `nope` is not in repository"),
        "{out}"
    );
    assert_eq!(report.repository_errors.len(), 2, "{out}");
    assert!(out.contains("error: repository: "), "{out}");
    assert!(render::markdown(&report).contains("- media/lost **failed**: repository unavailable"));
}

#[test]
fn bad_input_is_a_clear_error_and_touches_nothing() {
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let before = repo.read("media");
    let e = run(&request(&repo, Scope::Themes(vec!["medai".into()]))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no theme `medai` in this repository (themes: media)"
    );
    let e = run(&request(
        &repo,
        Scope::Release {
            theme: "media".into(),
            release: "plexx".into(),
        },
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "theme `media` has no release `plexx` (releases: plex, emby, jellyfin, sonarr, radarr)"
    );
    assert_eq!(repo.read("media"), before);
    assert!(server.requests().is_empty());

    // A constraint that cannot be read fails that release only.
    let text = MEDIA
        .replace("URL", &server.url())
        .replace("# hfapply: <3.0.0", "# hfapply: <<3");
    std::fs::write(repo.file("media"), &text).unwrap();
    let report = run(&request(&repo, Scope::All)).unwrap();
    let j = report
        .entries
        .iter()
        .find(|e| e.release == "jellyfin")
        .unwrap();
    assert_eq!(j.status, Status::Failed);
    assert!(
        j.notes[0].contains("version constraint `<<3` cannot be read"),
        "{j:?}"
    );
}

#[test]
fn repositories_are_fetched_in_parallel_with_a_timeout_and_credentials() {
    use std::time::{Duration, Instant};
    let index = index_yaml("http://x", &[("plex", many_versions(1))]);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "ci:pw")
    );
    let server = Server::start(move |req| match req.path() {
        "/slow1/index.yaml" | "/slow2/index.yaml" | "/slow3/index.yaml" => {
            std::thread::sleep(Duration::from_millis(700));
            Resp::ok(index.clone())
        }
        "/hang/index.yaml" => {
            std::thread::sleep(Duration::from_secs(5));
            Resp::ok(index.clone())
        }
        "/private/index.yaml" if req.header("authorization") == Some(basic.as_str()) => {
            Resp::ok(index.clone())
        }
        "/private/index.yaml" => Resp::status(401),
        _ => Resp::status(404),
    });
    let mut text = String::from("repositories:\n");
    for r in ["slow1", "slow2", "slow3", "hang", "private"] {
        text.push_str(&format!("- name: {r}\n  url: {}/{r}\n", server.url()));
    }
    text.push_str("releases:\n");
    for r in ["slow1", "slow2", "slow3", "hang", "private"] {
        text.push_str(&format!(
            "- name: {r}\n  chart: {r}/plex\n  version: 1.0.0\n"
        ));
    }
    let repo = TestRepo::new(&[("media", &text)]);
    let mut req = request(&repo, Scope::All);
    req.fetch.timeout = Duration::from_millis(1500);
    let t = Instant::now();
    let report = run(&req).unwrap();
    let took = t.elapsed();
    // Three 0.7 s repositories and a hanging one: in parallel, bounded by the timeout.
    // One after the other they would take at least 3.6 s.
    assert!(took < Duration::from_millis(3200), "{took:?}");
    let out = render::text(&report);
    let by = |n: &str| report.entries.iter().find(|e| e.release == n).unwrap();
    for n in ["slow1", "slow2", "slow3"] {
        assert_eq!(by(n).to.as_deref(), Some("1.12.3"), "{out}");
    }
    assert_eq!(by("hang").status, Status::Failed, "{out}");
    assert!(
        by("hang").notes[0].to_lowercase().contains("timeout"),
        "{out}"
    );
    assert!(
        by("private").notes[0].contains("HTTP 401 (not authorised"),
        "{out}"
    );
    assert_eq!(report.exit_code(), EXIT_PARTIAL);

    // With credentials for the host, the private repository answers.
    let mut req = request(
        &repo,
        Scope::Release {
            theme: "media".into(),
            release: "private".into(),
        },
    );
    req.fetch.credentials.insert(&server.addr, "ci", "pw");
    let report = run(&req).unwrap();
    assert_eq!(
        report.entries[0].to.as_deref(),
        Some("1.12.3"),
        "{}",
        render::text(&report)
    );
}

#[test]
fn the_bundled_example_has_only_a_local_chart() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster-repo");
    let mut req = Request::new(&root, Scope::All);
    req.dry_run = true;
    let report = run(&req).unwrap();
    assert_eq!(report.exit_code(), EXIT_NOTHING);
    assert_eq!(report.entries.len(), 4);
    assert!(report.entries.iter().all(|e| e.status == Status::Skipped));
    let plex = report.entries.iter().find(|e| e.release == "plex").unwrap();
    assert!(plex.notes[0].contains("local chart `../../charts/plex`"));
}

#[test]
fn label_constraints_and_pin_markers() {
    let server = repos();
    let text = format!(
        "repositories:\n- name: stable\n  url: {}/stable\ncommonLabels:\n  team: media\nreleases:\n- name: plex\n  chart: stable/plex\n  version: 2.0.1\n  labels:\n    hfapply.io/version-constraint: \"~2.0 || ~2.1\"\n- name: jellyfin\n  chart: stable/jellyfin\n  version: 1.0.0 # hfapply: pin\n- name: radarr\n  chart: stable/radarr   # hfapply: ^1\n",
        server.url()
    );
    let repo = TestRepo::new(&[("media", &text)]);
    let report = run(&request(&repo, Scope::All)).unwrap();
    let by = |n: &str| report.entries.iter().find(|e| e.release == n).unwrap();
    assert_eq!(by("plex").to.as_deref(), Some("2.1.3"));
    assert!(by("plex").notes[0].contains("outside the constraint `~2.0 || ~2.1`"));
    assert_eq!(by("jellyfin").status, Status::Skipped);
    assert_eq!(by("jellyfin").notes[0], "pinned: `# hfapply: pin`");
    assert_eq!(by("radarr").to.as_deref(), Some("1.12.3"));
    assert_eq!(
        repo.read("media"),
        text.replace("version: 2.0.1", "version: 2.1.3").replace(
            "  chart: stable/radarr   # hfapply: ^1\n",
            "  chart: stable/radarr   # hfapply: ^1\n  version: 1.12.3\n"
        )
    );
    // `upgrade --latest` names the release: the pin does not apply, constraints do.
    let mut req = request(
        &repo,
        Scope::Release {
            theme: "media".into(),
            release: "jellyfin".into(),
        },
    );
    req.honour_opt_out = false;
    let report = run(&req).unwrap();
    assert_eq!(report.entries[0].to.as_deref(), Some("3.12.3"));
    assert!(repo
        .read("media")
        .contains("  version: 3.12.3 # hfapply: pin\n"));
}

#[test]
fn the_write_follows_no_planted_symlink_and_keeps_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let server = repos();
    let repo = TestRepo::new(&[("media", &MEDIA.replace("URL", &server.url()))]);
    let file = repo.file("media");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Someone who can write the directory plants a link at the temporary name an
    // earlier version used; a victim file must not be overwritten through it.
    let victim = repo.root().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let dir = file.parent().unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("helmfile.yaml.hfapply-tmp")).unwrap();
    let before = repo.read("media");
    let report = run(&request(&repo, Scope::All)).unwrap();
    assert_eq!(
        report.exit_code(),
        EXIT_CHANGED,
        "{}",
        render::text(&report)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let after = repo.read("media");
    assert_ne!(after, before);
    assert!(after.contains(r#"version: "3.12.3""#), "{after}");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    // Nothing of ours is left beside the helmfile (the planted links are theirs).
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["helmfile.yaml", "helmfile.yaml.hfapply-tmp"]);
}
