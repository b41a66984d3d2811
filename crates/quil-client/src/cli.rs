//! The `quil` command line: attach the TUI, or script the daemon like tmux.
//!
//! Every subcommand talks to the daemon over the socket and starts it when none runs (except
//! `daemon status` and `daemon stop`). Success exits 0; failure prints one line naming the
//! thing to stderr and exits non-zero.

use crate::conn::{Client, ClientError};
use crate::launch;
use crate::remote::{Attempt, Remote, Target};
use crate::wait;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use quil_proto::{
    Attention, PaneId, Reply, Request, ServerMsg, SpawnSpec, SplitDir, WorkspaceInfo,
};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "quil",
    version,
    about = "A terminal multiplexer for AI coding agents, shells and tools"
)]
pub struct Cli {
    // Not global: only attaching nests, so other subcommands neither take nor show it.
    /// Attach even from inside a quil pane (nesting).
    #[arg(long)]
    pub force: bool,
    /// Attach also to this daemon, its tabs beside the others' (each tab says where it
    /// lives): `local` for this machine's, or a remote as `-r` takes it. Repeatable.
    #[arg(long, value_name = "local|[USER@]HOST[:PORT]|NAME")]
    pub also: Vec<String>,
    /// Use the quil daemon on another machine, over ssh: `[user@]host[:port]`, or the name
    /// of a `[[remotes]]` entry of config.toml (see docs/remote.md).
    #[arg(
        long,
        short = 'r',
        global = true,
        value_name = "[USER@]HOST[:PORT]|NAME"
    )]
    pub remote: Option<String>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Attach the full-screen client (the default).
    #[command(visible_alias = "a")]
    Attach {
        /// Attach even from inside a quil pane (nesting).
        #[arg(long)]
        force: bool,
        /// Attach also to this daemon, its tabs beside the others' (each tab says where it
        /// lives): `local` for this machine's, or a remote as `-r` takes it. Repeatable.
        #[arg(long, value_name = "local|[USER@]HOST[:PORT]|NAME")]
        also: Vec<String>,
    },
    /// Start, stop or query the daemon.
    #[command(subcommand)]
    Daemon(DaemonCmd),
    /// List tabs and panes (in `--json`, each pane and tab names its daemon: `local` or the
    /// remote's name).
    Ls {
        #[arg(long)]
        json: bool,
        /// List this daemon's tabs and panes too, as `quil --also` shows them: `local`, or a
        /// remote as `-r` takes it. Repeatable.
        #[arg(long, value_name = "local|[USER@]HOST[:PORT]|NAME")]
        also: Vec<String>,
    },
    /// Open a new tab; prints the new pane id.
    NewTab {
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        spawn: SpawnArgs,
    },
    /// Split a pane; prints the new pane id.
    Split {
        #[arg(long)]
        pane: Option<String>,
        /// Side by side.
        #[arg(long, conflicts_with = "vertical")]
        horizontal: bool,
        /// Top and bottom.
        #[arg(long)]
        vertical: bool,
        #[command(flatten)]
        spawn: SpawnArgs,
    },
    /// Type text into a pane.
    Send {
        #[arg(long)]
        pane: Option<String>,
        /// Press Enter after the text.
        #[arg(long)]
        enter: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Type a prompt into an agent pane as the user would (the text, then Enter), with nothing
    /// else typed in between; with --wait, wait for the turn to end and print what it added.
    Prompt {
        #[arg(long)]
        pane: Option<String>,
        /// Wait until the agent's turn ends (done, idle, waiting or error) and print the lines
        /// the turn added to the screen and scrollback.
        #[arg(long)]
        wait: bool,
        /// Seconds --wait waits before giving up.
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
        /// The prompt; `-` reads it from stdin.
        #[arg(required = true, allow_hyphen_values = true, trailing_var_arg = true)]
        text: Vec<String>,
    },
    /// Open a new pane beside an agent pane, continuing a copy of its conversation.
    Fork {
        #[arg(long)]
        pane: Option<String>,
        /// Run the fork in its own new git worktree.
        #[arg(long)]
        worktree: bool,
    },
    /// Press named keys in a pane: Enter, Escape, Tab, C-c, Up, F5, ...
    SendKeys {
        #[arg(long)]
        pane: Option<String>,
        #[arg(required = true, allow_hyphen_values = true)]
        keys: Vec<String>,
    },
    /// Print a pane's screen as text lines.
    Capture {
        #[arg(long)]
        pane: Option<String>,
        /// Also print up to N lines of scrollback above the screen.
        #[arg(long, default_value_t = 0)]
        scrollback: u32,
        /// Keep colours and attributes as escape sequences.
        #[arg(long)]
        ansi: bool,
        /// Leave out the lines of the agent CLI's own interface (borders, status and footer
        /// lines: its pane type's `[integration] chrome`).
        #[arg(long)]
        no_chrome: bool,
    },
    /// Wait until a pane's screen matches a regex, or its agent is in one of the given states.
    #[command(group = clap::ArgGroup::new("until").required(true).args(["text", "state"]))]
    Wait {
        #[arg(long)]
        pane: Option<String>,
        /// A regex over the screen (`^`/`$` match at lines).
        #[arg(long)]
        text: Option<String>,
        /// Attention states, comma-separated: waiting, done, idle, error, working.
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        /// Seconds before giving up.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Stream what happens (panes and tabs created, closed, renamed; attention states;
    /// notifications; worktrees), one line per event, until interrupted.
    Events {
        /// One JSON object per line: {"type","time","pane","tab",...}.
        #[arg(long)]
        json: bool,
        /// Only events of these panes.
        #[arg(long, value_delimiter = ',')]
        pane: Vec<String>,
        /// Only events of these types (e.g. state,pane_exited).
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
    },
    /// Go to the agent pane that has waited longest: print its id and make it the active pane
    /// (attached clients show it).
    Next {
        /// Attention states to look for, comma-separated (default: waiting).
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
    },
    /// Resize a pane's terminal: COLSxROWS.
    Resize {
        #[arg(long)]
        pane: Option<String>,
        size: String,
    },
    /// Kill a pane.
    KillPane { pane: String },
    /// Start a pane's command again in place (e.g. after it could not start).
    Respawn {
        #[arg(long)]
        pane: Option<String>,
    },
    /// Start a restored pane that waits to start (after a restart, panes no client shows start
    /// when shown, given input, or after `start_hidden_after`); nothing for a running pane.
    Start {
        #[arg(long)]
        pane: Option<String>,
    },
    /// Make a pane start at once after a restart, even when no client shows it (or, with
    /// `--off`, start when first needed, as other panes do). Kept with the workspace.
    Eager {
        #[arg(long)]
        pane: Option<String>,
        #[arg(long)]
        off: bool,
    },
    /// Restart the daemon; every pane's program keeps running (its holder keeps it), and the
    /// new daemon takes it over with its screen as it was.
    ///
    /// Stops the daemon (asking, then SIGTERM, then SIGKILL), starts a new one and restores the
    /// workspace: tabs, layout, pane ids, screens and scrollback. With `--fresh`, every pane's
    /// program is ended and started again instead: shells start fresh in their directory,
    /// panes given a command run it again, and AI panes resume their conversation.
    Restart {
        /// End every pane's program and start it again instead (AI panes resume their
        /// conversation).
        #[arg(long)]
        fresh: bool,
    },
    /// Keep or discard what a pane did in its git worktree.
    #[command(subcommand)]
    Worktree(WorktreeCmd),
    /// Pane types (TOML plugins): list them, or check plugin files.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Check config.toml, or apply it now (it is also applied when it changes).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Other machines reached with `quil -r` (see docs/remote.md).
    #[command(subcommand)]
    Remote(RemoteCmd),
    /// Called by AI CLIs' hooks to record their conversation (internal).
    #[command(hide = true)]
    Hook {
        /// `claude`, `codex` or `gemini`
        agent: String,
        #[arg(long)]
        pane: String,
    },
    /// Kill a tab and its panes (id, 1-based index or name).
    KillTab { tab: String },
    /// Rename a tab (id, 1-based index or name).
    RenameTab { tab: String, name: String },
    /// Rename a pane (its border shows the name).
    RenamePane {
        #[arg(long)]
        pane: Option<String>,
        name: String,
    },
    /// Make a tab the active one (id, 1-based index or name; like tmux's select-window).
    SelectTab { tab: String },
    /// Make a pane the active one, and its tab the active tab (like tmux's select-pane).
    SelectPane {
        #[arg(long)]
        pane: Option<String>,
    },
    /// Zoom a pane to its whole tab, or unzoom it (like tmux's resize-pane -Z).
    Zoom {
        #[arg(long)]
        pane: Option<String>,
    },
    /// Swap two panes' places, in one tab or across tabs (tmux's swap-pane).
    SwapPane {
        #[arg(long)]
        pane: Option<String>,
        /// The other pane.
        #[arg(long)]
        with: String,
    },
    /// Move a pane beside another (`--to`, tmux's join-pane) or out to a tab of its own
    /// (`--new-tab`, tmux's break-pane).
    #[command(group = clap::ArgGroup::new("dest").required(true).args(["to", "new_tab"]))]
    MovePane {
        #[arg(long)]
        pane: Option<String>,
        /// The pane to split for it (it goes right of or below that pane).
        #[arg(long)]
        to: Option<String>,
        /// Below `--to` (the default is beside it).
        #[arg(long, requires = "to")]
        vertical: bool,
        /// Into a new tab of its own.
        #[arg(long)]
        new_tab: bool,
        /// The new tab's name (default: the pane's).
        #[arg(long, requires = "new_tab")]
        name: Option<String>,
    },
    /// Move a pane into a split beside another (`move-pane --to`, as tmux's join-pane).
    JoinPane {
        #[arg(long)]
        pane: Option<String>,
        #[arg(long)]
        to: String,
        /// Below `--to` (the default is beside it).
        #[arg(long)]
        vertical: bool,
    },
    /// Move a pane out to a tab of its own (`move-pane --new-tab`, as tmux's break-pane).
    BreakPane {
        #[arg(long)]
        pane: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Resize the split holding a pane: `+N`/`-N` cells for the pane's side, or `PERCENT%`.
    ResizeSplit {
        #[arg(long)]
        pane: Option<String>,
        /// The side-by-side split holding the pane (default: the one directly holding it).
        #[arg(long, conflicts_with = "vertical")]
        horizontal: bool,
        /// The top/bottom split holding the pane.
        #[arg(long)]
        vertical: bool,
        /// `+N`, `-N` (cells) or `PERCENT%`.
        #[arg(allow_hyphen_values = true)]
        size: String,
    },
    /// Join stdin and stdout to the daemon's socket, starting the daemon if needed: what
    /// `quil -r` runs on the remote host over ssh.
    Proxy {
        /// Exit with status 3 instead of starting a daemon when none runs.
        #[arg(long)]
        no_start: bool,
    },
    /// Serve the Model Context Protocol on stdin/stdout, so AI agents can drive quil with
    /// tools (see docs/mcp.md).
    Mcp,
    /// Print a completion script for a shell: `source <(quil completions bash)`. Pane and tab
    /// ids are completed from the running daemon (bash, zsh and fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, generated from this command line: `quil man | man -l -`.
    Man,
    /// Pane or tab ids of the running daemon, one per line, for completion scripts (internal).
    #[command(hide = true, name = "__complete")]
    Complete { what: String },
}

#[derive(Args, Debug, Default)]
pub struct SpawnArgs {
    /// Pane type (plugin name).
    #[arg(long = "type")]
    kind: Option<String>,
    /// Working directory (default: the current directory).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Run the pane in its own new git worktree of the repository at the cwd.
    #[arg(long)]
    worktree: bool,
    /// Turn a pane type's toggle on (`NAME`) or set it (`NAME=on|off`).
    #[arg(long = "toggle", value_name = "NAME[=on|off]")]
    toggles: Vec<String>,
    /// Fill a pane type's form field, e.g. `--field target=me@host` for ssh.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// Set an environment variable for the pane's program (repeatable; as tmux's `-e`); kept
    /// when the pane is respawned or restored after a restart.
    #[arg(short = 'e', long = "env", value_name = "VAR=VALUE")]
    env: Vec<String>,
    /// Command and arguments, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum PluginCmd {
    /// Each pane type with its source file and whether its binary is on PATH.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check plugin files (default: every file in $QUIL_HOME/plugins); exits 1 on any error.
    Validate { files: Vec<PathBuf> },
}

#[derive(Subcommand, Debug)]
pub enum RemoteCmd {
    /// Install this build of quil (`quil`, `quild`, `quil-holder`) on HOST over ssh, when HOST
    /// is the same platform; otherwise say how to build it there.
    Setup {
        /// `[user@]host[:port]`, or a `[[remotes]]` name.
        host: String,
        /// The directory on HOST (default: ~/.local/bin).
        #[arg(long)]
        dir: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// List every problem in $QUIL_HOME/config.toml (the client's tables and the daemon's),
    /// one `FILE:LINE:COL: message` each; exits 1 on any.
    Check,
    /// Make the daemon and attached clients read config.toml again now; prints its problems.
    Reload,
}

#[derive(Subcommand, Debug)]
pub enum WorktreeCmd {
    /// Everything the pane changed against its base commit, new files included.
    Diff {
        #[arg(long)]
        pane: Option<String>,
        #[arg(long)]
        stat: bool,
    },
    /// Apply the changes to the main tree as a staged patch; remove the worktree and the pane.
    Keep {
        #[arg(long)]
        pane: Option<String>,
    },
    /// Remove the worktree, its branch and the pane; the main tree is untouched.
    Discard {
        #[arg(long)]
        pane: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DaemonCmd {
    /// Start the daemon in the background.
    Start,
    /// Stop the daemon: hang up every pane, then kill what is left.
    Stop,
    /// Hand every pane over to the quild installed now (after installing a new quil): the
    /// panes' programs keep running and the new daemon takes them over.
    Upgrade,
    /// Exit 0 when the daemon runs, 1 when not.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// The daemon `--remote` names, else this `$QUIL_HOME`'s.
pub fn target(cli: &Cli, home: &Path) -> Result<Target> {
    Ok(match &cli.remote {
        Some(spec) => Target::Remote(Remote::resolve(spec, home)?),
        None => Target::Local {
            home: home.to_path_buf(),
        },
    })
}

/// Runs the CLI; returns the process exit code.
pub fn main(cli: Cli) -> Result<i32> {
    let home = quil_proto::paths::quil_home()?;
    let target = target(&cli, &home)?;
    if let Target::Remote(r) = &target {
        // What concerns the daemon's process, or files of that machine, runs there whole.
        if let Some(args) = remote_args(cli.command.as_ref()) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return Ok(r.run_there(&args)?);
        }
    }
    match cli.command {
        None => attach(&target, &home, cli.force, &cli.also),
        Some(Cmd::Attach { force, also }) => {
            let also: Vec<String> = cli.also.iter().chain(&also).cloned().collect();
            attach(&target, &home, cli.force || force, &also)
        }
        Some(Cmd::Ls { json, also }) if !also.is_empty() => ls_all(&target, &home, json, &also),
        Some(Cmd::Daemon(cmd)) => daemon(&home, cmd),
        Some(Cmd::Restart { fresh }) => restart(&home, fresh, false),
        Some(Cmd::Proxy { .. } | Cmd::Hook { .. }) if target.remote().is_some() => {
            bail!("`quil proxy` and `quil hook` work on this machine only: drop --remote")
        }
        Some(Cmd::Proxy { no_start }) => crate::proxy::run(&home, !no_start),
        Some(Cmd::Remote(_)) if target.remote().is_some() => {
            bail!("`quil remote setup` runs on this machine: drop --remote")
        }
        Some(Cmd::Remote(RemoteCmd::Setup { host, dir })) => remote_setup(&home, &host, dir),
        Some(Cmd::Events { json, pane, types }) => events(&target, json, &pane, types),
        // Agent CLIs run this for their hooks: it must print nothing on stdout (SessionStart's
        // stdout joins the conversation) and always exit 0 (non-zero can block a prompt).
        Some(Cmd::Hook { agent, pane }) => {
            let Some(kind) = quil_ai::hooks::hook_kind(&agent) else {
                eprintln!("quil hook: unknown agent {agent:?} (known: claude, codex, gemini)");
                return Ok(0);
            };
            let home = std::env::var_os(quil_proto::paths::ENV_HOME).map(PathBuf::from);
            Ok(quil_ai::hooks::run_hook_command(
                kind,
                home.as_deref(),
                &pane,
                std::io::stdin(),
            ))
        }
        // Validation reads files only: it works without (and never starts) a daemon.
        Some(Cmd::Plugin(PluginCmd::Validate { files })) => validate_plugins(&home, files),
        // The same script and page wherever the daemon is.
        Some(Cmd::Completions { shell }) => {
            crate::out!("{}", crate::complete::script(shell));
            Ok(0)
        }
        Some(Cmd::Man) => {
            crate::out!("{}", crate::complete::man_page()?);
            Ok(0)
        }
        // Never starts a daemon: completing a word must not have side effects.
        Some(Cmd::Complete { what }) => {
            let Ok(mut c) = target.unattended().connect() else {
                return Ok(0);
            };
            for word in crate::complete::words(&list(&mut c)?, &what) {
                crate::outln!("{word}");
            }
            Ok(0)
        }
        // The server lives in quil-mcp, which depends on this crate: the binary runs it.
        Some(Cmd::Mcp) => bail!("quil mcp is served by the quil binary"),
        Some(cmd) => {
            let mut client = target.connect_or_start()?;
            run(&mut client, cmd, target.remote()).map_err(|e| match target.remote() {
                // "unknown pane" alone would not say which machine's daemon does not know it.
                Some(r) if matches!(e.downcast_ref(), Some(ClientError::Daemon(_))) => {
                    e.context(format!("on {}", r.label))
                }
                _ => e,
            })
        }
    }
}

/// With `--remote`, the commands that run on the remote host as they are (with this
/// terminal): those about the daemon's process, and plugin files of that machine.
fn remote_args(cmd: Option<&Cmd>) -> Option<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    Some(match cmd? {
        Cmd::Daemon(DaemonCmd::Start) => s(&["daemon", "start"]),
        Cmd::Daemon(DaemonCmd::Stop) => s(&["daemon", "stop"]),
        Cmd::Daemon(DaemonCmd::Status { json }) => {
            let mut a = s(&["daemon", "status"]);
            if *json {
                a.push("--json".into());
            }
            a
        }
        Cmd::Restart { fresh } => {
            let mut a = s(&["restart"]);
            if *fresh {
                a.push("--fresh".into());
            }
            a
        }
        Cmd::Daemon(DaemonCmd::Upgrade) => s(&["daemon", "upgrade"]),
        Cmd::Plugin(PluginCmd::Validate { files }) => {
            let mut a = s(&["plugin", "validate", "--"]);
            a.extend(files.iter().map(|f| f.display().to_string()));
            a
        }
        _ => return None,
    })
}

/// The daemons `--also` names (`local`, or remotes as `-r` takes them).
fn also_targets(home: &Path, also: &[String]) -> Result<Vec<Target>> {
    also.iter()
        .map(|spec| match spec.as_str() {
            "local" => Ok(Target::Local {
                home: home.to_path_buf(),
            }),
            spec => Ok(Target::Remote(Remote::resolve(spec, home)?)),
        })
        .collect()
}

/// `quil ls --also ...`: the tabs and panes of several daemons, as `quil --also` shows them.
fn ls_all(target: &Target, home: &Path, json: bool, also: &[String]) -> Result<i32> {
    let mut all = Vec::new();
    for t in std::iter::once(target.clone()).chain(also_targets(home, also)?) {
        let mut c = t
            .connect_or_start()
            .with_context(|| format!("cannot list {}", t.label()))?;
        all.push((t.label(), list(&mut c)?));
    }
    if json {
        crate::outln!("{}", ls_json(&all)?);
    } else {
        for (name, ws) in &all {
            crate::outln!("[{name}]");
            crate::out!("{}", format_ls(ws));
        }
    }
    Ok(0)
}

/// `ls --json` of daemons as (name, workspace): one workspace, the first daemon's tabs first,
/// each tab and pane with `"daemon"`, its daemon's name.
fn ls_json(all: &[(String, WorkspaceInfo)]) -> Result<String> {
    use crate::tui::domains::{Domain, Domains};
    let mut domains = Domains::new(
        all.iter()
            .map(|(name, _)| Domain::new(name.clone(), name != "local"))
            .collect(),
    );
    for (d, (_, ws)) in all.iter().enumerate() {
        domains.list[d].ws = ws.clone();
    }
    let mut owner: HashMap<String, &str> = HashMap::new();
    for (name, ws) in all {
        let tabs = ws.tabs.iter().map(|t| t.id.to_string());
        owner.extend(
            tabs.chain(ws.panes.iter().map(|p| p.id.to_string()))
                .map(|id| (id, name.as_str())),
        );
    }
    let mut v = serde_json::to_value(domains.merged())?;
    for key in ["tabs", "panes"] {
        for item in v[key].as_array_mut().into_iter().flatten() {
            let name = item["id"].as_str().and_then(|id| owner.get(id).copied());
            item["daemon"] = serde_json::json!(name);
        }
    }
    Ok(serde_json::to_string(&v)?)
}

fn attach(target: &Target, home: &Path, force: bool, also: &[String]) -> Result<i32> {
    // A remote quil in a local pane is no nesting: it is ssh in a pane.
    if let (Ok(pane), None) = (
        std::env::var(quil_proto::paths::ENV_PANE_ID),
        target.remote(),
    ) {
        if !pane.is_empty() && !force {
            bail!("refusing to attach inside quil pane {pane}: nesting shows quil inside itself; use --force to do it anyway");
        }
    }
    let also = also_targets(home, also)?;
    let client = target.connect_or_start()?;
    let opts = crate::tui::TuiOptions {
        also,
        ..Default::default()
    };
    crate::tui::run(client, target, home, opts)?;
    Ok(0)
}

fn daemon(home: &Path, cmd: DaemonCmd) -> Result<i32> {
    match cmd {
        DaemonCmd::Start => {
            match launch::connect(home) {
                Ok(mut c) => {
                    // One started by another client may still be bringing its panes back.
                    let pid = status(&mut c)?.pid;
                    launch::wait_restored(c);
                    crate::outln!("quild is already running (pid {pid})");
                }
                Err(ClientError::NotRunning { .. }) => {
                    launch::start(home)?;
                    let pid = status(&mut launch::connect(home)?)?.pid;
                    crate::outln!("quild started (pid {pid})");
                }
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        DaemonCmd::Upgrade => restart(home, false, true),
        DaemonCmd::Stop => {
            let mut c = match launch::connect(home) {
                Ok(c) => c,
                Err(ClientError::NotRunning { .. }) => {
                    eprintln!("quil: no daemon is running for {}", home.display());
                    return Ok(0);
                }
                Err(e) => return Err(e.into()),
            };
            let pid = status(&mut c)?.pid as i32;
            let log_at = log_len(home);
            c.request(Request::Shutdown)?;
            // Wait for the process itself to go, so `stop && start` never races the old daemon.
            if !wait_gone(pid, Duration::from_secs(10)) {
                bail!("quild (pid {pid}) is still running 10 s after being asked to stop");
            }
            if let Some(why) = final_save_error(home, log_at) {
                bail!("quild stopped, but {why}; changes since the last good save are lost");
            }
            Ok(0)
        }
        DaemonCmd::Status { json } => match launch::connect(home) {
            Ok(mut c) => {
                let s = status(&mut c)?;
                // Not counting this command's own connection.
                let clients = s.clients.saturating_sub(1);
                if json {
                    crate::outln!(
                        "{}",
                        serde_json::json!({"running": true, "pid": s.pid, "version": s.version,
                            "protocol": s.protocol, "uptime_ms": s.uptime_ms, "panes": s.panes,
                            "clients": clients, "home": s.home, "restoring": s.restoring,
                            "adopting": s.adopting})
                    );
                } else {
                    crate::outln!(
                        "quild running: pid {}, {}, {} attached, home {}",
                        s.pid,
                        counted(s.panes as usize, "pane"),
                        counted(clients as usize, "client"),
                        s.home
                    );
                }
                Ok(0)
            }
            Err(ClientError::NotRunning { .. }) => {
                if json {
                    crate::outln!(
                        "{}",
                        serde_json::json!({"running": false, "home": home.display().to_string()})
                    );
                } else {
                    crate::outln!("quild is not running (home {})", home.display());
                }
                Ok(1)
            }
            Err(e) => Err(e.into()),
        },
    }
}

fn validate_plugins(home: &Path, files: Vec<PathBuf>) -> Result<i32> {
    let files = if files.is_empty() {
        let dir = home.join("plugins");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        v.sort();
        v
    } else {
        files
    };
    let mut errors = 0;
    for f in &files {
        match quil_plugin::parse_file(f) {
            Ok(p) => crate::outln!("{}: ok ({})", f.display(), p.name),
            Err(diags) => {
                for d in &diags {
                    errors += usize::from(d.is_error());
                    eprintln!("{d}");
                }
                if diags.iter().all(|d| !d.is_error()) {
                    crate::outln!("{}: ok", f.display());
                }
            }
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

/// Waits until `pid` is gone; false on timeout.
fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let p = nix::unistd::Pid::from_raw(pid);
    while nix::sys::signal::kill(p, None).is_ok() && !is_zombie(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Stops the daemon and starts the installed one in its place. Unless `fresh`, the old one
/// hands its panes over (the handover signal): their programs keep running under their
/// holders and the new daemon takes them over. `upgrade` says what changed.
fn restart(home: &Path, fresh: bool, upgrade: bool) -> Result<i32> {
    let log_at = log_len(home);
    let (old, old_version) = match launch::connect(home) {
        Ok(mut c) => {
            let s = status(&mut c)?;
            let pid = s.pid as i32;
            if fresh {
                // Ask first: a clean stop saves a final snapshot with every pane's scrollback.
                let _ = c.request(Request::Shutdown);
            } else {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), HANDOVER);
            }
            (Some(pid), Some(s.version))
        }
        // No daemon to ask (none running, or one that speaks another protocol, as before an
        // upgrade): the pid file names it, and a signal needs no protocol.
        Err(_) => {
            let pid = launch::daemon_pid(home);
            if let Some(pid) = pid {
                let sig = if fresh {
                    nix::sys::signal::Signal::SIGTERM
                } else {
                    HANDOVER
                };
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
            (pid, None)
        }
    };
    if let Some(pid) = old {
        let p = nix::unistd::Pid::from_raw(pid);
        if !wait_gone(pid, Duration::from_secs(5)) {
            eprintln!("quil: quild (pid {pid}) did not stop when asked; sending SIGTERM");
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
            if !wait_gone(pid, Duration::from_secs(3)) {
                eprintln!("quil: quild (pid {pid}) ignored SIGTERM; sending SIGKILL");
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
                if !wait_gone(pid, Duration::from_secs(2)) {
                    bail!("quild (pid {pid}) is still running after SIGKILL");
                }
            }
        }
    }
    let lost = final_save_error(home, log_at);
    if let Some(why) = &lost {
        eprintln!("quil: warning: the old quild stopped, but {why}; changes since the last good save are lost");
    }
    launch::start(home)?;
    let s = status(&mut launch::connect(home)?)?;
    let kept = if fresh {
        "started again"
    } else {
        "kept running"
    };
    let panes = counted(s.panes as usize, "pane");
    if upgrade {
        crate::outln!(
            "quild upgraded from {} to {} (pid {}); {panes}, their programs {kept}",
            old_version.as_deref().unwrap_or("an older version"),
            s.version,
            s.pid,
        );
    } else {
        crate::outln!(
            "quild restarted (pid {}); {panes} restored, their programs {kept}",
            s.pid,
        );
    }
    Ok(if lost.is_some() { 1 } else { 0 })
}

/// The signal that has quild hand its panes over to the next one and exit (quild's `serve`).
const HANDOVER: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGUSR1;

/// `quil remote setup HOST`: installs this build there and says how to use it.
fn remote_setup(home: &Path, host: &str, dir: Option<String>) -> Result<i32> {
    let remote = Remote::resolve(host, home)?;
    let installed = remote.setup(dir.as_deref())?;
    let quil = installed.path;
    crate::outln!(
        "installed quil {} (quil, quild, quil-holder) on {host}: {quil}",
        env!("CARGO_PKG_VERSION")
    );
    if !installed.reached {
        let bin = Path::new(&quil)
            .parent()
            .map_or(quil.clone(), |d| d.display().to_string());
        let named = crate::remote::load_remotes(home)
            .0
            .iter()
            .any(|e| e.name == host);
        let config = if named {
            format!("set quil = \"{quil}\" in the [[remotes]] entry named {host} of config.toml")
        } else {
            format!(
                "name it in config.toml: [[remotes]] name = \"...\", host = \"{host}\", \
                 quil = \"{quil}\""
            )
        };
        crate::outln!("use it with `quil -r {host}` once {bin} is on the PATH there, or {config}");
    }
    crate::outln!(
        "a daemon already running there keeps its panes with `quil -r {host} daemon upgrade`"
    );
    Ok(0)
}

/// How long `quil events` waits for the daemon to come back after losing it (a restart takes
/// well under a second), and the longest pause between its attempts.
const EVENTS_RECONNECT: Duration = Duration::from_secs(10);
const EVENTS_RETRY_MAX: Duration = Duration::from_secs(1);

/// `quil events`: the stream, following the daemon across restarts. After a lost connection it
/// connects again and says so with a `reconnected` line (what happened meanwhile is not seen);
/// it fails when no daemon is back within [`EVENTS_RECONNECT`].
fn events(target: &Target, json: bool, panes: &[String], types: Vec<String>) -> Result<i32> {
    let panes = panes
        .iter()
        .map(|p| p.parse::<PaneId>().map_err(|e| anyhow!("{e}")))
        .collect::<Result<Vec<_>>>()?;
    let subscribe = |c: &mut Client| {
        c.request(Request::Events {
            panes: panes.clone(),
            types: types.clone(),
        })
    };
    let mut c = target.connect_or_start()?;
    subscribe(&mut c)?;
    let mut out = std::io::stdout().lock();
    // A reader that went away (`| head -1`) ends the stream quietly.
    let mut emit = |v: serde_json::Value| {
        let line = if json {
            v.to_string()
        } else {
            format_event(&v)
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    let mut bye = None;
    loop {
        let lost = match c.recv() {
            Ok(ServerMsg::Event(ev)) => {
                if !emit(ev.to_json()) {
                    return Ok(0);
                }
                continue;
            }
            // The close follows: wait for a restart to bring a daemon back.
            Ok(ServerMsg::Bye(reason)) => {
                bye = Some(reason);
                continue;
            }
            Ok(_) => continue,
            Err(e) => e,
        };
        let said_bye = bye.is_some();
        let reason = bye
            .take()
            .unwrap_or_else(|| format!("lost the daemon: {lost}"));
        let since = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut last_failure: String;
        c = loop {
            match target.reconnect_attempt(said_bye, since.elapsed(), EVENTS_RECONNECT) {
                Attempt::Connected(mut c) => match subscribe(&mut c) {
                    Ok(_) => break c,
                    // The daemon refuses the filter: waiting will not change its mind.
                    Err(ClientError::Daemon(e)) => bail!("{e}"),
                    Err(e) => last_failure = e.to_string(),
                },
                Attempt::Failed(why) => last_failure = why,
                Attempt::Gone => bail!(
                    "{reason}, and no daemon came back within {} s",
                    EVENTS_RECONNECT.as_secs()
                ),
            }
            if since.elapsed() >= EVENTS_RECONNECT {
                bail!(
                    "{reason}; could not reconnect within {} s (last: {last_failure})",
                    EVENTS_RECONNECT.as_secs()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(EVENTS_RETRY_MAX);
        };
        let line = serde_json::json!({
            "type": "reconnected",
            "time": unix_ms(),
            "pane": null,
            "tab": null,
            "reason": reason,
            "down_ms": since.elapsed().as_millis() as u64,
        });
        if !emit(line) {
            return Ok(0);
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The size of the daemon's log now, to read what it writes from here on.
fn log_len(home: &Path) -> u64 {
    std::fs::metadata(quil_proto::paths::log_path(home)).map_or(0, |m| m.len())
}

/// The reason the daemon's final save failed, if it logged one after `offset`.
fn final_save_error(home: &Path, offset: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(quil_proto::paths::log_path(home)).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut tail = String::new();
    f.take(1024 * 1024).read_to_string(&mut tail).ok()?;
    let prefix = format!("quild: {}: ", quil_proto::paths::FINAL_SAVE_FAILED);
    tail.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|why| format!("{}: {why}", quil_proto::paths::FINAL_SAVE_FAILED))
}

/// A daemon we started ourselves lingers as a zombie until we exit; that counts as gone.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

fn status(c: &mut Client) -> Result<quil_proto::StatusInfo> {
    match c.request(Request::Status)? {
        Reply::Status(s) => Ok(s),
        other => Err(unexpected(&other)),
    }
}

fn list(c: &mut Client) -> Result<WorkspaceInfo> {
    Ok(wait::list(c)?)
}

fn unexpected(r: &Reply) -> anyhow::Error {
    anyhow!("unexpected reply from the daemon: {r:?}")
}

/// `--pane`, else the pane this command runs in.
fn pane_arg(p: Option<String>) -> Result<PaneId> {
    let text = match p {
        Some(p) => p,
        None => std::env::var(quil_proto::paths::ENV_PANE_ID)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("--pane is required outside a quil pane"))?,
    };
    text.parse::<PaneId>().map_err(|e| anyhow!("{e}"))
}

/// Without `--cwd`, a new tab starts in the current directory (`here`), a split where the pane
/// it splits is (`cwd: None`, resolved by the daemon). On a `remote` daemon, this shell's
/// directory and environment mean nothing: a new tab starts in the remote user's home, and
/// `--cwd` names a directory there.
fn spawn_spec(a: SpawnArgs, here: bool, remote: Option<&Remote>) -> Result<SpawnSpec> {
    let cwd = match (a.cwd, remote) {
        (Some(c), Some(r)) if !c.is_absolute() => {
            bail!(
                "--cwd {}: give an absolute path (a directory on {})",
                c.display(),
                r.label
            )
        }
        (Some(c), Some(_)) => Some(c),
        (Some(c), None) => {
            Some(std::path::absolute(&c).with_context(|| format!("bad --cwd {}", c.display()))?)
        }
        (None, None) if here => {
            Some(std::env::current_dir().context("cannot read the current directory")?)
        }
        (None, _) => None,
    };
    if let (Some(cwd), None) = (&cwd, remote) {
        if !cwd.is_dir() {
            bail!("directory {} does not exist", cwd.display());
        }
    }
    // The pane sees this shell's PATH, locale, agent socket... (docs/configuration.md); a
    // remote pane, its own host's.
    let client_env = match remote {
        None => quil_proto::env::forwarded(std::env::vars()),
        Some(_) => Vec::new(),
    };
    Ok(SpawnSpec {
        kind: a.kind,
        cwd: cwd.map(|c| c.display().to_string()),
        command: a.command,
        name: None,
        env: a
            .env
            .into_iter()
            .map(|kv| match quil_proto::env::entry_problem(&kv) {
                Some(why) => Err(anyhow!("--env {kv:?} {why}")),
                None => Ok(kv),
            })
            .collect::<Result<_>>()?,
        client_env,
        worktree: a.worktree,
        toggles: a
            .toggles
            .iter()
            .map(|t| parse_toggle(t))
            .collect::<Result<_>>()?,
        fields: a
            .fields
            .iter()
            .map(|f| {
                f.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| anyhow!("--field {f:?} is not NAME=VALUE"))
            })
            .collect::<Result<_>>()?,
    })
}

fn parse_toggle(t: &str) -> Result<(String, bool)> {
    match t.split_once('=') {
        None => Ok((t.to_string(), true)),
        Some((k, "on" | "true" | "1")) => Ok((k.to_string(), true)),
        Some((k, "off" | "false" | "0")) => Ok((k.to_string(), false)),
        Some(_) => bail!("--toggle {t:?}: expected NAME, NAME=on or NAME=off"),
    }
}

fn print_pane(reply: Reply) -> Result<i32> {
    match reply {
        Reply::Pane(id) => {
            crate::outln!("{id}");
            Ok(0)
        }
        other => Err(unexpected(&other)),
    }
}

/// Runs a scripting command over `c`; `remote` when the daemon is on another host (whose
/// directories and environment are not this shell's).
fn run(c: &mut Client, cmd: Cmd, remote: Option<&Remote>) -> Result<i32> {
    match cmd {
        Cmd::Attach { .. }
        | Cmd::Daemon(_)
        | Cmd::Restart { .. }
        | Cmd::Proxy { .. }
        | Cmd::Events { .. }
        | Cmd::Mcp
        | Cmd::Remote(_)
        | Cmd::Completions { .. }
        | Cmd::Man
        | Cmd::Complete { .. } => {
            unreachable!("handled by main")
        }
        Cmd::Plugin(PluginCmd::Validate { .. }) | Cmd::Hook { .. } => {
            unreachable!("handled by main")
        }
        Cmd::Config(cmd) => {
            let home = quil_proto::paths::quil_home()?;
            let file = home.join("config.toml");
            // The TUI's tables, checked here; the daemon's, by the daemon.
            let mut problems: Vec<String> =
                match crate::tui::config::Config::load_lenient(&home, None) {
                    Ok((_, p)) => p.iter().map(ToString::to_string).collect(),
                    Err(e) => vec![e.to_string()],
                };
            // `[[remotes]]` too: they are this machine's client's (a remote daemon has its own
            // config.toml, checked by it).
            if remote.is_none() {
                let (_, p) = crate::remote::load_remotes(&home);
                problems.extend(p.iter().map(ToString::to_string));
            }
            let apply = matches!(cmd, ConfigCmd::Reload);
            match c.request(Request::ReloadConfig { apply })? {
                Reply::Text(p) => problems.extend(p),
                other => return Err(unexpected(&other)),
            }
            for p in &problems {
                crate::outln!("{p}");
            }
            if problems.is_empty() {
                let what = if apply { "reloaded" } else { "ok" };
                crate::outln!("{}: {what}", file.display());
            }
            Ok(i32::from(!problems.is_empty()))
        }
        Cmd::Plugin(PluginCmd::List { json }) => {
            // Looked for on this shell's PATH, which its panes get; a remote's panes get theirs.
            let path = match remote {
                None => std::env::var("PATH").ok(),
                Some(_) => None,
            };
            let Reply::PaneTypes(types) = c.request(Request::PaneTypes { path })? else {
                bail!("unexpected reply")
            };
            if json {
                crate::outln!("{}", serde_json::to_string(&types)?);
            } else {
                for t in &types {
                    let avail = if t.available { "available" } else { "missing" };
                    crate::outln!(
                        "{:<14} {:<9} {:<10} {}",
                        t.name,
                        t.category,
                        avail,
                        t.source
                    );
                }
            }
            Ok(0)
        }
        Cmd::Worktree(cmd) => {
            let (pane, op) = match cmd {
                WorktreeCmd::Diff { pane, stat } => (pane, quil_proto::WorktreeOp::Diff { stat }),
                WorktreeCmd::Keep { pane } => (pane, quil_proto::WorktreeOp::Keep),
                WorktreeCmd::Discard { pane } => (pane, quil_proto::WorktreeOp::Discard),
            };
            let pane = pane_arg(pane)?;
            if let Reply::Text(lines) = c.request(Request::Worktree { pane, op })? {
                for l in lines {
                    crate::outln!("{l}");
                }
            }
            Ok(0)
        }
        Cmd::Respawn { pane } => {
            let pane = pane_arg(pane)?;
            c.request(Request::Respawn { pane })?;
            Ok(0)
        }
        Cmd::Start { pane } => {
            let pane = pane_arg(pane)?;
            c.request(Request::Start { pane })?;
            Ok(0)
        }
        Cmd::Eager { pane, off } => {
            let pane = pane_arg(pane)?;
            c.request(Request::SetEager { pane, eager: !off })?;
            Ok(0)
        }
        Cmd::Ls { json, .. } => {
            let ws = list(c)?;
            if json {
                let here = remote.map_or("local", |r| r.label.as_str());
                crate::outln!("{}", ls_json(&[(here.to_string(), ws.clone())])?);
            } else {
                crate::out!("{}", format_ls(&ws));
            }
            if let Some(why) = &ws.persist_error {
                eprintln!("quil: warning: the workspace is not being saved: {why}");
            }
            if let Some(why) = &ws.restore_problem {
                eprintln!("quil: warning: the saved workspace was not restored as saved: {why}");
            }
            Ok(0)
        }
        Cmd::NewTab { name, spawn } => {
            let spawn = spawn_spec(spawn, true, remote)?;
            print_pane(c.request(Request::NewTab { name, spawn })?)
        }
        Cmd::Split {
            pane,
            horizontal,
            vertical,
            spawn,
        } => {
            let pane = pane_arg(pane)?;
            let dir = match (horizontal, vertical) {
                (true, _) => SplitDir::Horizontal,
                (_, true) => SplitDir::Vertical,
                _ => bail!("say --horizontal (side by side) or --vertical (top and bottom)"),
            };
            let spawn = spawn_spec(spawn, false, remote)?;
            print_pane(c.request(Request::Split { pane, dir, spawn })?)
        }
        Cmd::Send { pane, enter, text } => {
            let pane = pane_arg(pane)?;
            let mut data = text.join(" ").into_bytes();
            if enter {
                data.push(b'\r');
            }
            c.request(Request::Input { pane, data })?;
            Ok(0)
        }
        Cmd::Prompt {
            pane,
            wait,
            timeout,
            text,
        } => {
            let pane = pane_arg(pane)?;
            let text = if text == ["-"] {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("cannot read the prompt from stdin")?;
                s.trim_end_matches('\n').to_string()
            } else {
                text.join(" ")
            };
            if !wait {
                c.request(Request::Prompt { pane, text })?;
                return Ok(0);
            }
            prompt_and_wait(c, pane, text, timeout)
        }
        Cmd::Fork { pane, worktree } => {
            let pane = pane_arg(pane)?;
            print_pane(c.request(Request::Fork { pane, worktree })?)
        }
        Cmd::SendKeys { pane, keys } => {
            let pane = pane_arg(pane)?;
            c.request(Request::SendKeys { pane, keys })?;
            Ok(0)
        }
        Cmd::Capture {
            pane,
            scrollback,
            ansi,
            no_chrome,
        } => {
            let pane = pane_arg(pane)?;
            let Reply::Text(lines) = c.request(Request::Capture {
                pane,
                scrollback,
                ansi,
                without_chrome: no_chrome,
            })?
            else {
                bail!("unexpected reply to capture")
            };
            let mut out = lines.join("\n");
            out.push('\n');
            crate::out!("{out}");
            Ok(0)
        }
        Cmd::Wait {
            pane,
            text,
            state,
            timeout,
        } => {
            let pane = pane_arg(pane)?;
            let timeout = Duration::try_from_secs_f64(timeout.max(0.0))
                .map_err(|_| anyhow!("invalid --timeout {timeout}"))?;
            match text {
                Some(text) => wait_text(c, pane, &text, timeout),
                None => {
                    wait::state(c, pane, &parse_states(&state)?, timeout)?;
                    Ok(0)
                }
            }
        }
        Cmd::Next { state } => {
            let states = if state.is_empty() {
                vec![Attention::Waiting]
            } else {
                parse_states(&state)?
            };
            let ws = list(c)?;
            let Some(p) = longest_in(&ws, &states) else {
                let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
                bail!("no pane is {}", names.join(" or "));
            };
            c.request(Request::Focus { pane: p })?;
            crate::outln!("{p}");
            Ok(0)
        }
        Cmd::Resize { pane, size } => {
            let pane = pane_arg(pane)?;
            let (cols, rows) = parse_size(&size)?;
            c.request(Request::Resize { pane, cols, rows })?;
            Ok(0)
        }
        Cmd::KillPane { pane } => {
            let pane = pane.parse::<PaneId>().map_err(|e| anyhow!("{e}"))?;
            c.request(Request::KillPane { pane })?;
            Ok(0)
        }
        Cmd::KillTab { tab } => {
            c.request(Request::KillTab { tab })?;
            Ok(0)
        }
        Cmd::RenameTab { tab, name } => {
            c.request(Request::RenameTab { tab, name })?;
            Ok(0)
        }
        Cmd::RenamePane { pane, name } => {
            let pane = pane_arg(pane)?;
            c.request(Request::RenamePane { pane, name })?;
            Ok(0)
        }
        Cmd::SelectTab { tab } => {
            let ws = list(c)?;
            let i = quil_model::find_tab(ws.tabs.iter().map(|t| (t.id, t.name.as_str())), &tab)
                .map_err(|e| anyhow!("{e}"))?;
            // A tab is shown by focusing its active pane, as the TUI does.
            c.request(Request::Focus {
                pane: ws.tabs[i].active_pane,
            })?;
            Ok(0)
        }
        Cmd::SelectPane { pane } => {
            let pane = pane_arg(pane)?;
            c.request(Request::Focus { pane })?;
            Ok(0)
        }
        Cmd::SwapPane { pane, with } => {
            let a = pane_arg(pane)?;
            let b = with.parse::<PaneId>().map_err(|e| anyhow!("{e}"))?;
            c.request(Request::SwapPane { a, b })?;
            Ok(0)
        }
        Cmd::MovePane {
            pane,
            to,
            vertical,
            new_tab: _,
            name,
        } => move_pane(c, pane, to, vertical, name),
        Cmd::JoinPane { pane, to, vertical } => move_pane(c, pane, Some(to), vertical, None),
        Cmd::BreakPane { pane, name } => move_pane(c, pane, None, false, name),
        Cmd::ResizeSplit {
            pane,
            horizontal,
            vertical,
            size,
        } => {
            let pane = pane_arg(pane)?;
            let dir = match (horizontal, vertical) {
                (true, _) => Some(SplitDir::Horizontal),
                (_, true) => Some(SplitDir::Vertical),
                _ => None,
            };
            let size = parse_split_size(&size)?;
            c.request(Request::ResizeSplit { pane, dir, size })?;
            Ok(0)
        }
        Cmd::Zoom { pane } => {
            let pane = pane_arg(pane)?;
            let ws = list(c)?;
            let tab = ws
                .panes
                .iter()
                .find(|p| p.id == pane)
                .map(|p| p.tab_id)
                .ok_or_else(|| anyhow!("unknown pane {pane}"))?;
            // As tmux's `resize-pane -Z -t P`: the zoomed pane is the one named.
            c.request(Request::Focus { pane })?;
            c.request(Request::ToggleZoom { tab })?;
            Ok(0)
        }
    }
}

/// `move-pane`: beside `to` (split side by side, or below with `vertical`), else to a new tab.
fn move_pane(
    c: &mut Client,
    pane: Option<String>,
    to: Option<String>,
    vertical: bool,
    name: Option<String>,
) -> Result<i32> {
    let pane = pane_arg(pane)?;
    let to = match to {
        Some(t) => quil_proto::MoveTo::Split {
            target: t.parse::<PaneId>().map_err(|e| anyhow!("{e}"))?,
            dir: if vertical {
                SplitDir::Vertical
            } else {
                SplitDir::Horizontal
            },
        },
        None => quil_proto::MoveTo::NewTab { name },
    };
    c.request(Request::MovePane { pane, to })?;
    Ok(0)
}

/// `+N`, `-N` (cells) or `PERCENT%`.
fn parse_split_size(s: &str) -> Result<quil_proto::SplitSize> {
    let bad = || anyhow!("invalid size {s:?}: expected +N or -N (cells) or PERCENT% (5% to 95%)");
    if let Some(p) = s.strip_suffix('%') {
        let p: u8 = p.parse().map_err(|_| bad())?;
        if !(5..=95).contains(&p) {
            return Err(bad());
        }
        return Ok(quil_proto::SplitSize::Percent(p));
    }
    if !s.starts_with(['+', '-']) {
        return Err(bad());
    }
    let n: i32 = s.parse().map_err(|_| bad())?;
    Ok(quil_proto::SplitSize::Cells(n))
}

/// Polls the screen until `text` matches.
fn wait_text(c: &mut Client, pane: PaneId, text: &str, timeout: Duration) -> Result<i32> {
    // Multi-line, so `^` and `$` anchor at screen lines, as in grep.
    let re = regex::RegexBuilder::new(text)
        .multi_line(true)
        .build()
        .map_err(|e| anyhow!("invalid --text regex: {}", one_line(&e.to_string())))?;
    wait::text(c, pane, &re, timeout)?;
    Ok(0)
}

/// Lines of history plus screen that `prompt --wait` compares before and after a turn.
const TURN_LINES: u32 = 5000;

/// `quil prompt --wait`: sends the prompt, waits for the turn to start and then end, and prints
/// the lines the turn added (those of the screen and recent history that were not there
/// before, in order).
fn prompt_and_wait(c: &mut Client, pane: PaneId, text: String, timeout: f64) -> Result<i32> {
    // Without the CLI's borders and status lines, which change every turn but are not in it.
    let before = wait::content(c, pane, TURN_LINES)?;
    // Its first line, as an agent echoes it (at most one screen line of it).
    let prompt_line: String = text.lines().next().unwrap_or("").chars().take(40).collect();
    let ends = [
        Attention::Done,
        Attention::Idle,
        Attention::Waiting,
        Attention::Error,
    ];
    let limit = Duration::from_secs_f64(timeout.max(0.0));
    wait::prompt(c, pane, &text, Some((&ends, limit)))?;
    c.set_read_timeout(None)?;
    let after = wait::settled_content(c, pane, TURN_LINES)?;
    // Agents redraw their whole screen: of the new lines, the turn is what follows the
    // prompt's own echo.
    let added = added_lines(&before, &after);
    let first = prompt_line.trim();
    let from = added
        .iter()
        .position(|l| !first.is_empty() && l.contains(first))
        .map_or(0, |i| i + 1);
    let mut out = std::io::stdout().lock();
    for line in &added[from..] {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(0)
}

/// The non-blank lines of `after` that `before` did not have (as many times as it did not).
fn added_lines<'a>(before: &[String], after: &'a [String]) -> Vec<&'a str> {
    let mut had: HashMap<&str, usize> = HashMap::new();
    for l in before {
        *had.entry(l.trim_end()).or_default() += 1;
    }
    after
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.trim().is_empty())
        .filter(|l| match had.get_mut(l) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

fn parse_states(names: &[String]) -> Result<Vec<Attention>> {
    names
        .iter()
        .map(|n| {
            Attention::parse(n).ok_or_else(|| {
                let known: Vec<&str> = Attention::ALL.iter().map(|a| a.as_str()).collect();
                anyhow!("unknown state {n:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// The pane in one of `states` that has been in it longest (the earliest `state_since`).
pub fn longest_in(ws: &WorkspaceInfo, states: &[Attention]) -> Option<PaneId> {
    ws.panes
        .iter()
        .filter(|p| p.state.is_some_and(|s| states.contains(&s)))
        .min_by_key(|p| p.state_since.unwrap_or(u64::MAX))
        .map(|p| p.id)
}

/// `12:03:04.120 state pane-1a2b3c4d tab-00000001 state=waiting detail=permission: Bash`.
/// One readable line for an event's JSON form: time (UTC), type, pane, tab, then its fields.
fn format_event(ev: &serde_json::Value) -> String {
    let time = ev["time"].as_u64().unwrap_or(0);
    let secs = time / 1000;
    let mut line = format!(
        "{:02}:{:02}:{:02}.{:03} {} {} {}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        time % 1000,
        ev["type"].as_str().unwrap_or("?"),
        ev["pane"].as_str().unwrap_or("-"),
        ev["tab"].as_str().unwrap_or("-"),
    );
    if let serde_json::Value::Object(fields) = ev {
        for (k, v) in fields {
            if matches!(k.as_str(), "type" | "time" | "pane" | "tab") || v.is_null() {
                continue;
            }
            match v {
                serde_json::Value::String(s) => line.push_str(&format!(" {k}={s}")),
                other => line.push_str(&format!(" {k}={other}")),
            }
        }
    }
    line
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_size(s: &str) -> Result<(u16, u16)> {
    let bad = || anyhow!("invalid size {s:?}: expected COLSxROWS, e.g. 120x40");
    let (c, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let cols: u16 = c.parse().map_err(|_| bad())?;
    let rows: u16 = r.parse().map_err(|_| bad())?;
    if cols < 2 || rows < 1 {
        return Err(bad());
    }
    Ok((cols, rows))
}

/// `quil ls` as text: one line per tab, indented lines for its panes.
pub fn format_ls(ws: &WorkspaceInfo) -> String {
    let mut out = String::new();
    for (i, t) in ws.tabs.iter().enumerate() {
        let active = if i as u32 == ws.active_tab {
            " (active)"
        } else {
            ""
        };
        let zoomed = if t.zoomed { " (zoomed)" } else { "" };
        out.push_str(&format!(
            "{}: {} [{}]{}{}\n",
            i + 1,
            t.name,
            t.id,
            active,
            zoomed
        ));
        for p in ws.panes.iter().filter(|p| p.tab_id == t.id) {
            let state = match (p.alive, p.exit_status) {
                _ if p.restoring => "restoring".into(),
                _ if !p.started => "not started".into(),
                (true, _) => format!(
                    "pid {}",
                    p.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
                ),
                (false, Some(s)) => format!("exited {s}"),
                (false, None) => "exited".into(),
            };
            let mark = if p.id == t.active_pane { "*" } else { " " };
            out.push_str(&format!(
                "  {mark}{} {} ({}) {}x{} {} {}\n",
                p.id, p.name, p.kind, p.cols, p.rows, state, p.cwd
            ));
        }
    }
    out
}

/// `n` things, in words: `1 pane`, `3 panes`.
fn counted(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_parsing() {
        assert_eq!(parse_size("120x40").unwrap(), (120, 40));
        assert_eq!(parse_size("80X24").unwrap(), (80, 24));
        for bad in ["120", "x40", "0x0", "axb", "1x1"] {
            assert!(
                parse_size(bad).unwrap_err().to_string().contains(bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_turn_adds_the_lines_it_printed() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let before = s(&["$ ask", "", "> ", "ok"]);
        let after = s(&["$ ask", "> hi", "MOCK-REPLY: hi  ", "", "> ", "ok", "ok"]);
        assert_eq!(
            added_lines(&before, &after),
            ["> hi", "MOCK-REPLY: hi", "ok"]
        );
    }

    #[test]
    fn split_sizes() {
        use quil_proto::SplitSize::{Cells, Percent};
        assert_eq!(parse_split_size("+5").unwrap(), Cells(5));
        assert_eq!(parse_split_size("-3").unwrap(), Cells(-3));
        assert_eq!(parse_split_size("30%").unwrap(), Percent(30));
        for bad in ["5", "0%", "99%", "x%", "+", "+-1"] {
            assert!(parse_split_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_attaches_as_in_tmux() {
        let cli = Cli::try_parse_from(["quil", "a"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Cmd::Attach { force: false, .. })
        ));
    }

    /// `--force` only means something to attach: it is not offered by other subcommands, and
    /// restart's help says what a restart does to the programs in panes.
    #[test]
    fn force_is_attachs_and_restart_says_programs_keep_running() {
        use clap::CommandFactory;
        for args in [
            &["quil", "--force"][..],
            &["quil", "attach", "--force"],
            &["quil", "a", "--force"],
        ] {
            let cli = Cli::try_parse_from(args).expect("parses");
            let forced = cli.force || matches!(cli.command, Some(Cmd::Attach { force: true, .. }));
            assert!(forced, "{args:?}");
        }
        for sub in ["restart", "new-tab", "split", "ls"] {
            assert!(
                Cli::try_parse_from(["quil", sub, "--force"]).is_err(),
                "{sub} takes --force"
            );
            let help = Cli::command()
                .find_subcommand_mut(sub)
                .expect("subcommand")
                .render_long_help()
                .to_string();
            assert!(!help.contains("--force"), "{sub}: {help}");
        }
        let mut cmd = Cli::command();
        let short = cmd
            .find_subcommand_mut("restart")
            .expect("restart")
            .render_help()
            .to_string();
        assert!(
            short.contains("every pane's program keeps running")
                && short.contains("End every pane's program and start it again"),
            "{short}"
        );
    }

    #[test]
    fn cli_parses_tmux_like_commands() {
        let cli = Cli::try_parse_from([
            "quil",
            "split",
            "--pane",
            "pane-00000001",
            "--horizontal",
            "--",
            "ls",
            "-la",
        ])
        .unwrap();
        match cli.command {
            Some(Cmd::Split {
                horizontal: true,
                spawn,
                ..
            }) => assert_eq!(spawn.command, vec!["ls", "-la"]),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "quil",
            "send",
            "--pane",
            "pane-00000001",
            "--enter",
            "--",
            "echo",
            "-n",
            "hi",
        ])
        .unwrap();
        match cli.command {
            Some(Cmd::Send {
                enter: true, text, ..
            }) => assert_eq!(text, vec!["echo", "-n", "hi"]),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["quil", "split", "--horizontal", "--vertical"]).is_err());
    }
}
