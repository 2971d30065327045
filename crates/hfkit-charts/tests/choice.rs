//! The version-choice rule: stable vs prerelease (Renovate's rule), constraints,
//! minimum age.

use hfkit_charts::index::ChartVersion;
use hfkit_charts::version::{choose, Constraint, Decision, Policy};

fn cands(list: &[&str]) -> Vec<ChartVersion> {
    list.iter()
        .map(|v| ChartVersion {
            version: v.to_string(),
            ..Default::default()
        })
        .collect()
}

fn pick(current: Option<&str>, available: &[&str], constraint: Option<&str>) -> Option<String> {
    let c = cands(available);
    let policy = Policy {
        constraints: constraint
            .map(|t| Constraint::parse(t).unwrap())
            .into_iter()
            .collect(),
        ..Default::default()
    };
    match choose(current, &c, &policy) {
        Decision::Upgrade { index, .. } => Some(c[index].version.clone()),
        Decision::UpToDate { .. } => None,
        Decision::NotAVersion(m) => Some(format!("not a version: {m}")),
    }
}

#[test]
fn stable_and_prerelease_table() {
    let all = &[
        "1.2.3",
        "1.2.4",
        "1.3.0-rc.1",
        "1.3.0-rc.2",
        "1.3.0",
        "1.3.1-beta.1",
        "2.0.0-alpha.1",
    ];
    #[rustfmt::skip]
    let table: &[(Option<&str>, &[&str], Option<&str>)] = &[
        // stable pin: prereleases are never chosen
        (Some("1.2.3"), &["1.2.4", "1.3.0-rc.1", "2.0.0-alpha.1"], Some("1.2.4")),
        (Some("1.2.3"), all, Some("1.3.0")),
        (Some("1.3.0"), &["1.3.0", "1.3.1-beta.1", "2.0.0-alpha.1"], None),
        // prerelease pin: prereleases of the same major.minor.patch, or any stable
        (Some("1.3.0-rc.1"), &["1.3.0-rc.2", "1.3.1-beta.1", "2.0.0-alpha.1"], Some("1.3.0-rc.2")),
        (Some("1.3.0-rc.1"), &["1.3.0-rc.2", "1.3.0"], Some("1.3.0")),
        (Some("1.3.0-rc.1"), &["1.3.1-beta.1", "1.4.0-rc.1"], None),
        (Some("1.3.0-rc.2"), &["1.3.0-rc.1", "1.2.9"], None),
        // no pin: newest stable
        (None, &["0.9.0", "1.0.0", "2.0.0-rc.1"], Some("1.0.0")),
        // never downgrades
        (Some("2.0.0"), &["1.9.0", "1.9.9"], None),
        // lenient spellings are compared as versions, returned as published
        (Some("v1.2"), &["v1.3", "v1.2.1"], Some("v1.3")),
        (Some("1.2.3"), &["latest", "1.2.10", "1.2.9"], Some("1.2.10")),
        // build metadata does not make a version newer
        (Some("1.0.0"), &["1.0.0+build.2"], None),
    ];
    for (current, available, expected) in table {
        assert_eq!(
            pick(*current, available, None).as_deref(),
            *expected,
            "current {current:?}, available {available:?}"
        );
    }
}

#[test]
fn ranges_are_left_alone() {
    assert!(pick(Some("~1.4"), &["1.5.0"], None)
        .unwrap()
        .starts_with("not a version"));
}

#[test]
fn constraints_block_major_bumps() {
    let avail = &["1.4.0", "1.4.7", "1.5.0", "2.0.0", "2.3.1"];
    assert_eq!(
        pick(Some("1.4.0"), avail, Some("<2.0.0")).as_deref(),
        Some("1.5.0")
    );
    assert_eq!(
        pick(Some("1.4.0"), avail, Some("~1.4")).as_deref(),
        Some("1.4.7")
    );
    assert_eq!(
        pick(Some("1.4.0"), avail, Some("^1")).as_deref(),
        Some("1.5.0")
    );
    assert_eq!(pick(Some("1.5.0"), avail, Some("< 2")), None);
    let c = cands(avail);
    let policy = Policy {
        constraints: vec![Constraint::parse("<2.0.0").unwrap()],
        ..Default::default()
    };
    match choose(Some("1.4.0"), &c, &policy) {
        Decision::Upgrade { index, notes } => {
            assert_eq!(c[index].version, "1.5.0");
            assert_eq!(
                notes,
                vec!["2.3.1 is available but outside the constraint `<2.0.0`"]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn min_age_holds_back_young_versions() {
    let day = 86_400;
    let now = 1_000 * day;
    let mut c = cands(&["1.0.0", "1.1.0", "1.2.0", "1.3.0"]);
    c[1].created = Some(now - 10 * day);
    c[2].created = Some(now - 2 * day);
    c[3].created = Some(now - 3600);
    let policy = Policy {
        min_age_secs: Some(3 * day as u64),
        now,
        ..Default::default()
    };
    match choose(Some("1.0.0"), &c, &policy) {
        Decision::Upgrade { index, notes } => {
            assert_eq!(c[index].version, "1.1.0");
            assert_eq!(notes.len(), 2, "{notes:?}");
            assert!(
                notes[0].starts_with("1.3.0 held back: published 1h 0m ago"),
                "{notes:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Everything too young: up to date, with the reason.
    c[1].created = Some(now - day);
    match choose(Some("1.0.0"), &c, &policy) {
        Decision::UpToDate { notes } => assert_eq!(notes.len(), 3),
        other => panic!("{other:?}"),
    }
    // Without a minimum age the newest wins.
    let policy = Policy {
        now,
        ..Default::default()
    };
    assert!(matches!(
        choose(Some("1.0.0"), &c, &policy),
        Decision::Upgrade { index: 3, .. }
    ));
}
