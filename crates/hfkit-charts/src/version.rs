//! Chart versions, constraints and the choice of the version to upgrade to.
//!
//! # The rule
//!
//! The candidate is the highest version (semver order) of the chart that
//! - is newer than the current pin;
//! - is stable, unless the current pin is itself a prerelease and the candidate is a
//!   prerelease of the same `major.minor.patch` (Renovate's rule: `1.2.0-rc.1` may go
//!   to `1.2.0-rc.2` or `1.2.0`, never to `1.3.0-beta.1`);
//! - satisfies the release's constraint, if any ([`Constraint`]);
//! - is at least `min_age` old according to the index's `created` date (a version
//!   without a date is not held back).
//!
//! Versions are read leniently as helm reads them: a leading `v` is dropped and a
//! missing minor or patch is `0` (`v1.2` is `1.2.0`).

use std::cmp::Ordering;

use semver::{Version, VersionReq};

use crate::index::ChartVersion;

/// Reads a chart version leniently (`v1.2` is `1.2.0`); `None` when it is not one.
pub fn parse_version(text: &str) -> Option<Version> {
    let t = text.trim();
    let t = t
        .strip_prefix('v')
        .or_else(|| t.strip_prefix('V'))
        .unwrap_or(t);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    let split = t.find(['-', '+']).unwrap_or(t.len());
    let (core, rest) = t.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    Version::parse(&format!("{padded}{rest}")).ok()
}

/// A semver constraint as helm and helmfile write them: comparators separated by
/// commas or spaces (all must hold), alternatives separated by `||`; `~1.4`, `^1.2`,
/// `<2.0.0`, `>= 1.0, < 2`, `1.4.x`. A bare version (`1.4`) means `=1.4` (any `1.4.x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    text: String,
    alternatives: Vec<VersionReq>,
}

/// A constraint that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version constraint `{text}` cannot be read: {message}")]
pub struct ConstraintError {
    /// The constraint as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

impl Constraint {
    /// Parses a constraint.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let err = |message: String| ConstraintError {
            text: text.to_string(),
            message,
        };
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut comparators: Vec<String> = Vec::new();
            let mut pending_op = String::new();
            for token in alt.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
                if token.chars().all(|c| "<>=~^!".contains(c)) {
                    pending_op.push_str(token);
                    continue;
                }
                let mut c = std::mem::take(&mut pending_op);
                c.push_str(token);
                let body = c.trim_start_matches(|ch: char| "<>=~^".contains(ch));
                let op = &c[..c.len() - body.len()];
                let body = body.strip_prefix('v').unwrap_or(body);
                let op = if op.is_empty() && body != "*" && !body.is_empty() {
                    "="
                } else {
                    op
                };
                comparators.push(format!("{op}{body}"));
            }
            if !pending_op.is_empty() {
                return Err(err(format!("`{pending_op}` has no version after it")));
            }
            if comparators.is_empty() {
                return Err(err("empty constraint".into()));
            }
            let req = VersionReq::parse(&comparators.join(", ")).map_err(|e| err(e.to_string()))?;
            alternatives.push(req);
        }
        Ok(Constraint {
            text: text.trim().to_string(),
            alternatives,
        })
    }

    /// The constraint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `v` satisfies the constraint. A prerelease is compared as its release
    /// would be (`2.0.0-rc.1` satisfies `<3`, as in helm).
    pub fn matches(&self, v: &Version) -> bool {
        let mut stripped = v.clone();
        stripped.pre = semver::Prerelease::EMPTY;
        self.alternatives.iter().any(|r| {
            r.matches(v)
                || (!v.pre.is_empty()
                    && r.matches(&stripped)
                    && r.comparators.iter().all(|c| {
                        !(c.op == semver::Op::Less && cmp_core(c, &stripped) == Ordering::Equal)
                    }))
        })
    }
}

fn cmp_core(c: &semver::Comparator, v: &Version) -> Ordering {
    (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)).cmp(&(v.major, v.minor, v.patch))
}

/// What decides a release's next version.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The release's constraints; a candidate must satisfy all of them.
    pub constraints: Vec<Constraint>,
    /// Versions published less than this many seconds before `now` are held back.
    pub min_age_secs: Option<u64>,
    /// The current time, in seconds since the Unix epoch.
    pub now: i64,
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Upgrade to the candidate at this index of the candidates given.
    Upgrade {
        /// Index into the candidates.
        index: usize,
        /// Why newer versions were passed over (constraint, min-age), for the report.
        notes: Vec<String>,
    },
    /// Nothing newer is allowed.
    UpToDate {
        /// Why newer versions were passed over, if any exist.
        notes: Vec<String>,
    },
    /// The current pin is not a version (a range such as `~1.4`, a template).
    NotAVersion(String),
}

/// Chooses the version to upgrade `current` (`None`: the release has no pin) to
/// among `candidates`, by the rule in the [module docs](self).
pub fn choose(current: Option<&str>, candidates: &[ChartVersion], policy: &Policy) -> Decision {
    let current_v = match current {
        None => None,
        Some(c) => match parse_version(c) {
            Some(v) => Some(v),
            None => {
                return Decision::NotAVersion(format!(
                    "the pinned version `{c}` is not a single version (a range or template); \
                     helm resolves it at install time, so it is left alone"
                ))
            }
        },
    };
    let mut parsed: Vec<(usize, Version)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| parse_version(&c.version).map(|v| (i, v)))
        .collect();
    // Build metadata does not count in semver precedence.
    parsed.sort_by(|a, b| b.1.cmp_precedence(&a.1));
    let mut notes = Vec::new();
    let mut blocked_by_constraint: Option<(String, String)> = None;
    for (i, v) in &parsed {
        if let Some(cur) = &current_v {
            if v.cmp_precedence(cur) != Ordering::Greater {
                break;
            }
        }
        if !v.pre.is_empty() {
            let same_core = current_v.as_ref().is_some_and(|c| {
                !c.pre.is_empty() && (c.major, c.minor, c.patch) == (v.major, v.minor, v.patch)
            });
            if !same_core {
                continue;
            }
        }
        if let Some(con) = policy.constraints.iter().find(|c| !c.matches(v)) {
            {
                if blocked_by_constraint.is_none() {
                    blocked_by_constraint =
                        Some((candidates[*i].version.clone(), con.as_str().to_string()));
                }
                continue;
            }
        }
        if let (Some(min), Some(created)) = (policy.min_age_secs, candidates[*i].created) {
            let age = policy.now - created;
            if age < min as i64 {
                notes.push(format!(
                    "{} held back: published {} ago, younger than the minimum age {}",
                    candidates[*i].version,
                    crate::time::format_duration(age.max(0) as u64),
                    crate::time::format_duration(min)
                ));
                continue;
            }
        }
        if let Some((b, c)) = blocked_by_constraint {
            notes.insert(
                0,
                format!("{b} is available but outside the constraint `{c}`"),
            );
        }
        return Decision::Upgrade { index: *i, notes };
    }
    if let Some((b, c)) = blocked_by_constraint {
        notes.insert(
            0,
            format!("{b} is available but outside the constraint `{c}`"),
        );
    }
    Decision::UpToDate { notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_versions() {
        assert_eq!(parse_version("v1.2").unwrap(), Version::new(1, 2, 0));
        assert_eq!(parse_version("3").unwrap(), Version::new(3, 0, 0));
        assert_eq!(parse_version("1.2-rc.1").unwrap().pre.as_str(), "rc.1");
        assert!(parse_version("~1.4").is_none());
        assert!(parse_version("{{ .Values.v }}").is_none());
    }

    #[test]
    fn constraints() {
        let c = Constraint::parse(">= 1.0, < 2").unwrap();
        assert!(c.matches(&Version::new(1, 9, 9)));
        assert!(!c.matches(&Version::new(2, 0, 0)));
        let c = Constraint::parse("~1.4").unwrap();
        assert!(c.matches(&Version::new(1, 4, 9)));
        assert!(!c.matches(&Version::new(1, 5, 0)));
        let c = Constraint::parse("1.4").unwrap();
        assert!(c.matches(&Version::new(1, 4, 3)));
        assert!(!c.matches(&Version::new(1, 5, 0)));
        let c = Constraint::parse("<2.0.0 || >=3").unwrap();
        assert!(c.matches(&Version::new(3, 1, 0)));
        assert!(!c.matches(&Version::new(2, 1, 0)));
        assert!(!c.matches(&parse_version("2.0.0-rc.1").unwrap()));
        assert!(Constraint::parse(">=").is_err());
        assert!(Constraint::parse("banana").is_err());
    }
}
