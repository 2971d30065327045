//! Splitting our command line into the part we own and the part that goes to helm.
//!
//! `helm layered upgrade plex ./chart --env prod --version 1.2.3 -n media` mixes our
//! flags (`--env`) with helm's (`--version`, `-n`). clap cannot pass unknown flags
//! through, so we first pull out every flag the subcommand defines (asking clap's own
//! model which ones take a value), take the release and chart from the front, and hand
//! the rest to helm unchanged.

use clap::Command;

/// Rewrites `argv` as `[bin, subcommand, own flags..., positionals..., "--", helm...]`
/// for a subcommand that forwards arguments to helm; other command lines are returned
/// unchanged for clap to judge.
pub fn split(cmd: &Command, argv: Vec<String>) -> Vec<String> {
    let Some(sub_name) = argv.get(1) else {
        return argv;
    };
    let Some(sub) = cmd.find_subcommand(sub_name) else {
        return argv;
    };
    let forwards = sub.get_arguments().any(|a| a.is_last_set());
    if !forwards {
        return argv;
    }
    let positionals = sub.get_positionals().filter(|a| !a.is_last_set()).count();
    // Some(takes a separate value) for a flag of ours, None for a flag of helm's.
    let own_takes_value = |token: &str| -> Option<bool> {
        let (name, inline) = match token.split_once('=') {
            Some((n, _)) => (n, true),
            None => (token, false),
        };
        if matches!(name, "--help" | "-h") {
            return Some(false);
        }
        let arg = if let Some(long) = name.strip_prefix("--") {
            sub.get_arguments().find(|a| a.get_long() == Some(long))
        } else {
            let mut chars = name.strip_prefix('-')?.chars();
            let (c, None) = (chars.next()?, chars.next()) else {
                return None;
            };
            sub.get_arguments().find(|a| a.get_short() == Some(c))
        };
        arg.map(|a| a.get_action().takes_values() && !inline)
    };

    let mut own = Vec::new();
    let mut found_positionals = Vec::new();
    let mut helm = Vec::new();
    let mut positional_phase = true;
    let mut rest = argv[2..].iter();
    while let Some(token) = rest.next() {
        if token == "--" {
            helm.extend(rest.by_ref().cloned());
            break;
        }
        if token.starts_with('-') && token != "-" {
            match own_takes_value(token) {
                Some(takes_value) => {
                    own.push(token.clone());
                    if takes_value {
                        if let Some(v) = rest.next() {
                            own.push(v.clone());
                        }
                    }
                }
                None => {
                    positional_phase = false;
                    helm.push(token.clone());
                }
            }
        } else if positional_phase && found_positionals.len() < positionals {
            found_positionals.push(token.clone());
        } else {
            helm.push(token.clone());
        }
    }
    let mut out = vec![argv[0].clone(), sub_name.clone()];
    out.extend(own);
    out.extend(found_positionals);
    if !helm.is_empty() {
        out.push("--".into());
        out.extend(helm);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn split_line(line: &str) -> Vec<String> {
        let argv = std::iter::once("helm-layered")
            .chain(line.split_whitespace())
            .map(String::from)
            .collect();
        split(&crate::Cli::command(), argv)
    }

    #[test]
    fn own_flags_anywhere_helm_flags_after_the_separator() {
        assert_eq!(
            split_line("upgrade plex bitnami/plex --version 1.2.3 --env=prod -n media --dir x --create-namespace"),
            "helm-layered upgrade --env=prod --dir x plex bitnami/plex -- --version 1.2.3 -n media --create-namespace"
                .split(' ')
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn values_after_helm_flags_are_not_positionals() {
        // `1.2.3` belongs to `--version`; the chart must come before helm's flags.
        assert_eq!(
            split_line("template plex --version 1.2.3 chart"),
            "helm-layered template plex -- --version 1.2.3 chart"
                .split(' ')
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn commands_without_helm_flags_are_left_to_clap() {
        assert_eq!(
            split_line("values plex -o json --env prod"),
            "helm-layered values plex -o json --env prod"
                .split(' ')
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn explicit_separator_passes_everything_on() {
        assert_eq!(
            split_line("diff plex chart --detailed-exitcode -- --env x"),
            "helm-layered diff --detailed-exitcode plex chart -- --env x"
                .split(' ')
                .collect::<Vec<_>>()
        );
    }
}
