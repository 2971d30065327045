//! Validation of the names that end up in file paths and helm commands.

/// A release or environment name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name `{name}`: {reason}")]
pub struct NameError {
    /// `release` or `environment`.
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// Why it is refused and what is allowed.
    pub reason: &'static str,
}

/// Helm's rule for release names (lowercase DNS-1123 labels joined by dots, at most
/// 53 characters); this also keeps `/`, `\` and `..` out of layer paths.
pub fn validate_release(name: &str) -> Result<(), NameError> {
    let err = |reason| {
        Err(NameError {
            what: "release",
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 53 {
        return err("a release name has 1 to 53 characters");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return err(
            "use lowercase letters, digits, `-` and `.` (no path characters), starting and \
             ending with a letter or digit, as helm requires",
        );
    }
    Ok(())
}

/// Environment names: letters, digits, `-`, `_` and `.`, not starting with `.` (they
/// are used in file names such as `values/<env>.yaml`).
pub fn validate_env(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            what: "environment",
            name: name.to_string(),
            reason: "use letters, digits, `-`, `_` and `.` (no path characters), at most 63",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_follow_helm() {
        for ok in ["plex", "my-app", "a.b", "x1"] {
            assert!(validate_release(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "A",
            "-a",
            "a-",
            "a..b",
            "a\\b",
            &"a".repeat(54),
        ] {
            assert!(validate_release(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names_exclude_paths() {
        assert!(validate_env("production").is_ok());
        for bad in ["", "..", "../x", "a/b", ".hidden"] {
            assert!(validate_env(bad).is_err(), "{bad}");
        }
    }
}
