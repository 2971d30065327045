//! Command-line helpers shared by the hfkit plugins.
//!
//! - [`completion_script`]: `completion bash|zsh|fish` scripts (clap_complete).
//! - [`cobra_complete`]: the protocol kubectl (1.26 and later) speaks to a plugin's
//!   `kubectl_complete-<plugin>` helper, which runs `kubectl-<plugin> __complete ARGS`:
//!   one candidate per line (`value<TAB>description`), then `:<directive>`.

use clap::{Arg, Command};
pub use clap_complete::Shell;

/// cobra's directive: complete file names as usual.
const DEFAULT: u8 = 0;
/// cobra's directive: no file completion.
const NO_FILE_COMP: u8 = 4;

/// The completion script of `cmd` for `shell`, completing the command `bin_name`.
pub fn completion_script(cmd: &mut Command, shell: Shell, bin_name: &str) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, bin_name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers a cobra `__complete` request: `words` are the arguments after the plugin's
/// name, the last being the word under the cursor (possibly empty).
pub fn cobra_complete(cmd: &Command, words: &[String]) -> String {
    let (cur, done) = match words.split_last() {
        Some((cur, done)) => (cur.as_str(), done),
        None => ("", &[][..]),
    };
    let mut command = cmd;
    let mut positionals = 0usize;
    let mut pending_value: Option<&Arg> = None;
    for word in done {
        if pending_value.take().is_some() {
            continue;
        }
        if word == "--" {
            positionals += 1;
            continue;
        }
        if let Some(arg) = flag(command, word) {
            if arg.get_action().takes_values() && !word.contains('=') {
                pending_value = Some(arg);
            }
            continue;
        }
        if positionals == 0 {
            if let Some(sub) = command.find_subcommand(word) {
                command = sub;
                continue;
            }
        }
        positionals += 1;
    }

    let mut lines = Vec::new();
    let directive;
    if let Some(arg) = pending_value {
        let values = possible_values(arg);
        directive = if values.is_empty() {
            DEFAULT
        } else {
            NO_FILE_COMP
        };
        lines.extend(values.into_iter().filter(|v| v.starts_with(cur)));
    } else if cur.starts_with('-') {
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                if flag.starts_with(cur) {
                    lines.push(with_help(flag, arg.get_help().map(|h| h.to_string())));
                }
            }
        }
        directive = NO_FILE_COMP;
    } else if positionals == 0 && command.has_subcommands() {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name().starts_with(cur) && sub.get_name() != "help" {
                lines.push(with_help(
                    sub.get_name().to_string(),
                    sub.get_about().map(|a| a.to_string()),
                ));
            }
        }
        directive = NO_FILE_COMP;
    } else {
        directive = DEFAULT;
    }
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

fn flag<'a>(command: &'a Command, word: &str) -> Option<&'a Arg> {
    let name = word.split_once('=').map(|(n, _)| n).unwrap_or(word);
    if let Some(long) = name.strip_prefix("--") {
        return command.get_arguments().find(|a| a.get_long() == Some(long));
    }
    let short = name.strip_prefix('-')?;
    let mut chars = short.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    command.get_arguments().find(|a| a.get_short() == Some(c))
}

fn possible_values(arg: &Arg) -> Vec<String> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect()
}

fn with_help(value: String, help: Option<String>) -> String {
    match help {
        Some(h) => format!("{value}\t{}", h.lines().next().unwrap_or_default()),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("kubectl-demo")
            .subcommand(
                Command::new("apply")
                    .about("Apply things")
                    .arg(
                        Arg::new("file")
                            .short('f')
                            .long("filename")
                            .action(ArgAction::Append),
                    )
                    .arg(
                        Arg::new("output")
                            .short('o')
                            .long("output")
                            .value_parser(["text", "json"]),
                    )
                    .arg(Arg::new("prune").long("prune").action(ArgAction::SetTrue)),
            )
            .subcommand(Command::new("diff").about("Diff things"))
    }

    fn complete(words: &[&str]) -> String {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        cobra_complete(&cli(), &words)
    }

    #[test]
    fn subcommands_then_flags_then_values() {
        assert_eq!(
            complete(&[""]),
            "apply\tApply things\ndiff\tDiff things\n:4\n"
        );
        assert_eq!(complete(&["ap"]), "apply\tApply things\n:4\n");
        assert_eq!(complete(&["apply", "--p"]), "--prune\n:4\n");
        assert_eq!(complete(&["apply", "-o", ""]), "text\njson\n:4\n");
        assert_eq!(complete(&["apply", "--output", "j"]), "json\n:4\n");
        // A flag's value that is a path: the shell completes files.
        assert_eq!(complete(&["apply", "-f", ""]), ":0\n");
        assert_eq!(complete(&["apply", "--prune", "x"]), ":0\n");
    }

    #[test]
    fn scripts_name_the_binary() {
        let script = completion_script(&mut cli(), Shell::Bash, "kubectl-demo");
        assert!(script.contains("kubectl-demo"));
    }
}
