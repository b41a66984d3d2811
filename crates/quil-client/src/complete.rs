//! Shell completion scripts and the man page, both generated from the CLI definition
//! ([`crate::cli::Cli`]), and the words `quil __complete` offers them from the running daemon.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use quil_proto::WorkspaceInfo;

/// Subcommands whose first argument is a tab (id, 1-based index or name).
const TAB_COMMANDS: &[&str] = &["select-tab", "kill-tab", "rename-tab"];
/// Subcommands whose first argument is a pane id.
const PANE_COMMANDS: &[&str] = &["kill-pane"];

/// The completion script for `shell`: clap's static script, plus pane and tab ids completed by
/// `quil __complete panes|tabs` where the shell allows it.
pub fn script(shell: Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "quil", &mut buf);
    let s = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => bash(s),
        Shell::Zsh => zsh(s),
        Shell::Fish => fish(s),
        _ => s,
    }
}

fn bash(s: String) -> String {
    let tabs = TAB_COMMANDS.join("|");
    let panes = PANE_COMMANDS.join("|");
    let dynamic = format!(
        r#"
# Pane and tab ids from the running daemon (`quil __complete`), then clap's completion.
_quil_dynamic() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local quil="${{COMP_WORDS[0]}}"
    if [[ "$prev" == "--pane" || "$prev" == "--with" || "$prev" == "--to" ]]; then
        COMPREPLY=( $(compgen -W "$("$quil" __complete panes 2>/dev/null)" -- "$cur") )
        return 0
    fi
    if [[ $COMP_CWORD -eq 2 ]]; then
        case "${{COMP_WORDS[1]}}" in
            {tabs})
                COMPREPLY=( $(compgen -W "$("$quil" __complete tabs 2>/dev/null)" -- "$cur") )
                return 0 ;;
            {panes})
                COMPREPLY=( $(compgen -W "$("$quil" __complete panes 2>/dev/null)" -- "$cur") )
                return 0 ;;
        esac
    fi
    _quil "$@"
}}
"#
    );
    // clap registers `_quil`; register the wrapper instead, with the same options.
    let mut out = dynamic.trim_start().to_string();
    for line in s.lines() {
        if line.trim_start().starts_with("complete -F _quil ") {
            out.push_str(&line.replacen("-F _quil ", "-F _quil_dynamic ", 1));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn zsh(s: String) -> String {
    let helpers = "\n_quil_panes() { compadd -- ${(f)\"$(quil __complete panes 2>/dev/null)\"} }\n\
                   _quil_tabs() { compadd -- ${(f)\"$(quil __complete tabs 2>/dev/null)\"} }\n";
    let mut s = s
        .replace(":PANE:_default", ":PANE:_quil_panes")
        .replace(":WITH:_default", ":WITH:_quil_panes")
        .replace(":TO:_default", ":TO:_quil_panes")
        .replace("':pane:_default'", "':pane:_quil_panes'")
        .replace("':tab:_default'", "':tab:_quil_tabs'");
    // After the `#compdef` line, which must stay first.
    let at = s.find('\n').map_or(0, |i| i + 1);
    s.insert_str(at, helpers);
    s
}

fn fish(mut s: String) -> String {
    s.push_str("\n# Pane and tab ids from the running daemon.\n");
    s.push_str(
        "complete -c quil -l pane -l with -l to -x -a '(quil __complete panes 2>/dev/null)'\n",
    );
    s.push_str(&format!(
        "complete -c quil -n '__fish_seen_subcommand_from {}' -x -a '(quil __complete tabs 2>/dev/null)'\n",
        TAB_COMMANDS.join(" ")
    ));
    s.push_str(&format!(
        "complete -c quil -n '__fish_seen_subcommand_from {}' -x -a '(quil __complete panes 2>/dev/null)'\n",
        PANE_COMMANDS.join(" ")
    ));
    s
}

/// The man page (roff), generated from the CLI definition.
pub fn man_page() -> anyhow::Result<String> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// What `quil __complete WHAT` prints: `panes` (pane ids) or `tabs` (tab ids, and the names
/// that are one word).
pub fn words(ws: &WorkspaceInfo, what: &str) -> Vec<String> {
    match what {
        "panes" => ws.panes.iter().map(|p| p.id.to_string()).collect(),
        "tabs" => ws
            .tabs
            .iter()
            .map(|t| t.id.to_string())
            .chain(
                ws.tabs
                    .iter()
                    .filter(|t| !t.name.is_empty() && !t.name.contains(char::is_whitespace))
                    .map(|t| t.name.clone()),
            )
            .collect(),
        _ => Vec::new(),
    }
}
