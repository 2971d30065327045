//! helmfile.yaml as hfapply reads it: the template subset (file pass, then each release's
//! fields), environments, templates, `<<` merges, releases, labels, `needs:`, and the
//! label selectors.
//!
//! The first byte picks the environment; the rest is the helmfile text. Invariants: text
//! without `{{` renders unchanged; every release read has a name and a 1-based line;
//! a release's label is matched by the selector `key=value` and not by `key!=value`.
#![no_main]

use std::path::Path;

use hfkit::theme::{matches_any, render, Helmfile, Selector, TemplateContext};
use hfkit_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&env_byte, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = text(rest) else { return };
    let env = ["default", "production", "staging"][env_byte as usize % 3];
    for ctx in [
        TemplateContext {
            env,
            release: None,
            event: None,
            defer_release: true,
        },
        TemplateContext {
            env,
            release: Some(("plex", "media")),
            event: Some("presync"),
            defer_release: false,
        },
    ] {
        let out = render(text, &ctx);
        if !text.contains("{{") {
            assert_eq!(
                out.as_deref(),
                Ok(text),
                "render changed text without actions"
            );
        }
    }
    let Ok(hf) = Helmfile::parse(text, Path::new("helmfile.yaml"), env) else {
        return;
    };
    let selectors: Vec<Selector> = ["tier=media", "name!=plex", "a=b,c!=d"]
        .iter()
        .map(|s| Selector::parse(s).expect("a valid selector"))
        .collect();
    for r in &hf.releases {
        assert!(!r.name.is_empty(), "a release without a name was read");
        assert!(r.line >= 1, "release `{}` has line {}", r.name, r.line);
        let _ = matches_any(&selectors, r);
        // A label is matched by the selector naming it (when it can be written as one).
        for (k, v) in &r.labels {
            // (The implicit labels shadow real ones; separators would split the term.)
            if matches!(k.as_str(), "name" | "namespace" | "chart")
                || k.contains([',', '=', '!'])
                || v.contains([',', '=', '!'])
            {
                continue;
            }
            if let Ok(s) = Selector::parse(&format!("{k}={v}")) {
                assert!(
                    s.matches(r),
                    "`{}` does not match release `{}`",
                    s.text,
                    r.name
                );
            }
            if let Ok(s) = Selector::parse(&format!("{k}!={v}")) {
                assert!(!s.matches(r), "`{}` matches release `{}`", s.text, r.name);
            }
        }
    }
});
