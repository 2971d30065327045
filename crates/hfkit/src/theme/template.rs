//! The subset of helmfile's Go templates that hfapply evaluates.
//!
//! helmfile renders a whole `helmfile.yaml` as a Go template, then renders each
//! release's fields again with `.Release` in scope. We do not embed a Go template
//! engine: inside string values we evaluate exactly
//!
//! - `{{ .Environment.Name }}`;
//! - `{{ .Release.Name }}` and `{{ .Release.Namespace }}` (inside `releases:` only);
//! - `` {{`...`}} ``, a Go raw-string literal whose text is output as is by the file
//!   pass and then evaluated by the release pass (the escaped form that lets a
//!   `templates:` entry refer to the release it is merged into);
//!
//! with any spacing and the `{{-` / `-}}` trim markers; a comment action
//! `{{/* ... */}}` renders nothing. Every other action
//! (`{{ .Values.x }}`, `{{ requiredEnv "X" }}`, `{{ if ... }}`, pipelines) is refused
//! with a [`TemplateError`].

/// The supported subset, as shown in error messages.
pub const SUPPORTED: &str = "hfapply evaluates only {{ .Environment.Name }}, \
    {{ .Release.Name }}, {{ .Release.Namespace }}, {{ .Event.Name }} (in hooks) and the \
    escaped form {{`...`}}";

/// An action outside the supported subset, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template expression `{expr}` is not supported{}; {SUPPORTED}", self.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
pub struct TemplateError {
    /// The action as written, `{{ ... }}` included.
    pub expr: String,
    /// Why it is refused, when it is more than "not in the subset".
    pub reason: Option<String>,
    /// 0-based line offset of the action inside the rendered text (for multi-line
    /// texts such as a whole file).
    pub line_offset: u32,
}

/// What the expressions can see.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    /// `.Environment.Name`.
    pub env: &'a str,
    /// `.Release.Name` and `.Release.Namespace` (empty when unset), when rendering a
    /// release's field.
    pub release: Option<(&'a str, &'a str)>,
    /// `.Event.Name`, when running a hook.
    pub event: Option<&'a str>,
    /// The file pass inside `releases:`: `.Release.*` actions are kept as written so
    /// the release pass evaluates them.
    pub defer_release: bool,
}

/// Renders `text` once (one Go template pass) with `ctx`.
pub fn render(text: &str, ctx: &TemplateContext<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut line = 0u32;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        line += rest[..start].matches('\n').count() as u32;
        let action = &rest[start..];
        let (len, trim_left, trim_right, body) = split_action(action).map_err(|reason| {
            let end = action.find('\n').unwrap_or(action.len());
            TemplateError {
                expr: action[..end].to_string(),
                reason: Some(reason),
                line_offset: line,
            }
        })?;
        let expr = &action[..len];
        if trim_left {
            out.truncate(out.trim_end().len());
        }
        let fail = |reason: Option<&str>| TemplateError {
            expr: expr.to_string(),
            reason: reason.map(str::to_string),
            line_offset: line,
        };
        match body {
            Body::Raw(raw) => out.push_str(raw),
            Body::Expr(e) if e.starts_with("/*") && e.ends_with("*/") => {}
            Body::Expr(e) => match e {
                ".Environment.Name" => out.push_str(ctx.env),
                ".Release.Name" | ".Release.Namespace" => match ctx.release {
                    Some((name, namespace)) => out.push_str(if e == ".Release.Name" {
                        name
                    } else {
                        namespace
                    }),
                    None if ctx.defer_release => out.push_str(expr),
                    None => {
                        return Err(fail(Some(
                            "`.Release` is only available in the fields of a release",
                        )))
                    }
                },
                ".Event.Name" => match ctx.event {
                    Some(event) => out.push_str(event),
                    None if ctx.defer_release => out.push_str(expr),
                    None => {
                        return Err(fail(Some(
                            "`.Event` is only available in a hook's command and args",
                        )))
                    }
                },
                _ => return Err(fail(None)),
            },
        }
        line += expr.matches('\n').count() as u32;
        rest = &action[len..];
        if trim_right {
            let trimmed = rest.trim_start();
            line += rest[..rest.len() - trimmed.len()].matches('\n').count() as u32;
            rest = trimmed;
        }
    }
    out.push_str(rest);
    Ok(out)
}

enum Body<'a> {
    /// A raw-string literal's content.
    Raw(&'a str),
    /// Anything else, trimmed.
    Expr(&'a str),
}

/// Splits the action at the start of `text` into (length, `{{-`, `-}}`, body).
fn split_action(text: &str) -> Result<(usize, bool, bool, Body<'_>), String> {
    let mut i = 2;
    // Go requires a space after `{{-` for it to be a trim marker.
    let trim_left = text[i..].starts_with("- ") || text[i..].starts_with("-\t");
    if trim_left {
        i += 1;
    }
    let after_ws = |i: usize| i + (text[i..].len() - text[i..].trim_start().len());
    i = after_ws(i);
    let close = |i: usize| -> Result<(usize, bool), String> {
        let j = after_ws(i);
        let rest = &text[j..];
        if rest.starts_with("-}}") && j > i {
            Ok((j + 3, true))
        } else if rest.starts_with("}}") {
            Ok((j + 2, false))
        } else {
            Err("a raw string `{{`...`}}` must be the whole action".to_string())
        }
    };
    if text[i..].starts_with('`') {
        let content_start = i + 1;
        let end = text[content_start..]
            .find('`')
            .ok_or_else(|| "unterminated raw string (missing closing backquote)".to_string())?;
        let (len, trim_right) = close(content_start + end + 1)?;
        return Ok((
            len,
            trim_left,
            trim_right,
            Body::Raw(&text[content_start..content_start + end]),
        ));
    }
    let end = text[i..]
        .find("}}")
        .ok_or_else(|| "unterminated action (missing `}}`)".to_string())?;
    let mut body = text[i..i + end].trim_end();
    let mut trim_right = false;
    if let Some(b) = body.strip_suffix(" -").or(body.strip_suffix("\t-")) {
        body = b.trim_end();
        trim_right = true;
    }
    Ok((i + end + 2, trim_left, trim_right, Body::Expr(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(env: &str) -> TemplateContext<'_> {
        TemplateContext {
            env,
            release: None,
            event: None,
            defer_release: true,
        }
    }

    #[test]
    fn file_pass_keeps_release_actions_and_unescapes_raw_strings() {
        let out = render(
            "values/{{`{{ .Release.Name }}`}}/{{ .Environment.Name }}-{{ .Release.Name }}",
            &file("prod"),
        )
        .unwrap();
        assert_eq!(out, "values/{{ .Release.Name }}/prod-{{ .Release.Name }}");
        let ctx = TemplateContext {
            env: "prod",
            release: Some(("plex", "media")),
            event: None,
            defer_release: false,
        };
        assert_eq!(render(&out, &ctx).unwrap(), "values/plex/prod-plex");
    }

    #[test]
    fn spacing_and_trim_markers() {
        let ctx = TemplateContext {
            env: "e",
            release: Some(("r", "ns")),
            event: None,
            defer_release: false,
        };
        assert_eq!(
            render("a {{- .Release.Namespace -}} b {{.Environment.Name}}", &ctx).unwrap(),
            "ansb e"
        );
        assert_eq!(render("{{- `x` -}}", &ctx).unwrap(), "x");
        assert_eq!(
            render("a{{/* why */}}b {{- /* trimmed */ -}} c", &ctx).unwrap(),
            "abc"
        );
    }

    #[test]
    fn other_actions_are_refused() {
        for bad in [
            "{{ .Values.x }}",
            "{{ requiredEnv \"X\" }}",
            "{{ if eq .Environment.Name \"p\" }}",
            "{{ .Environment.Name | upper }}",
            "{{ .Release.Name",
        ] {
            let e = render(bad, &file("p")).unwrap_err();
            assert!(e.to_string().contains("not supported"), "{e}");
        }
        let ctx = TemplateContext {
            env: "e",
            release: None,
            event: None,
            defer_release: false,
        };
        assert!(render("{{ .Release.Name }}", &ctx).is_err());
    }
}
