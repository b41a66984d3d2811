//! The tools, each a thin translation of its arguments into daemon requests.
//!
//! Every call opens its own connection (starting the daemon when none runs, as every `quil`
//! subcommand does) on the blocking pool: waits and event subscriptions then belong to that
//! call alone, and concurrent calls never share a stream.

use crate::events::Events;
use quil_client::conn::{Client, ClientError};
use quil_client::launch::LaunchError;
use quil_client::remote::Target;
use quil_client::wait::{self, WaitError};
use quil_proto::{
    Attention, ErrorReply, EventKind, PaneId, Reply, Request, SpawnSpec, SplitDir, WorktreeOp,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::Deserialize;
use std::time::Duration;

/// The longest any call may wait, in seconds.
const MAX_WAIT: f64 = 3600.0;

/// Why a tool call failed; its text is the error result the model sees.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The daemon refused the request: its kind (`not_found`, `invalid`, ...) and reason.
    #[error("{}: {}", .0.kind.as_str(), .0.message)]
    Daemon(ErrorReply),
    /// An argument the daemon never sees is wrong.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("{0}")]
    Wait(WaitError),
    #[error("{0}")]
    Client(ClientError),
    #[error("{0}")]
    Launch(LaunchError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ClientError> for ToolError {
    fn from(e: ClientError) -> ToolError {
        match e {
            ClientError::Daemon(r) => ToolError::Daemon(r),
            e => ToolError::Client(e),
        }
    }
}

impl From<WaitError> for ToolError {
    fn from(e: WaitError) -> ToolError {
        match e {
            WaitError::Client(c) => c.into(),
            e => ToolError::Wait(e),
        }
    }
}

impl From<LaunchError> for ToolError {
    fn from(e: LaunchError) -> ToolError {
        match e {
            LaunchError::Client(c) => c.into(),
            e => ToolError::Launch(e),
        }
    }
}

type Out = Result<String, String>;

#[derive(Clone)]
pub struct Quil {
    target: Target,
    events: Events,
    tool_router: ToolRouter<Quil>,
}

fn pane_id(s: &str) -> Result<PaneId, ToolError> {
    s.trim()
        .parse::<PaneId>()
        .map_err(|e| ToolError::Invalid(e.to_string()))
}

/// Seconds as given by the model: a finite number from 0 up to [`MAX_WAIT`].
fn seconds(v: Option<f64>, default: f64, name: &str) -> Result<Duration, ToolError> {
    let v = v.unwrap_or(default);
    if !v.is_finite() || !(0.0..=MAX_WAIT).contains(&v) {
        return Err(ToolError::Invalid(format!(
            "{name} must be a number of seconds from 0 to {MAX_WAIT}, not {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn states(names: &[String]) -> Result<Vec<Attention>, ToolError> {
    if names.is_empty() {
        return Err(ToolError::Invalid(
            "states must name at least one state".into(),
        ));
    }
    names
        .iter()
        .map(|n| {
            Attention::parse(n).ok_or_else(|| {
                let known: Vec<&str> = Attention::ALL.iter().map(|a| a.as_str()).collect();
                ToolError::Invalid(format!("unknown state {n:?} (known: {})", known.join(", ")))
            })
        })
        .collect()
}

/// The screen as one text, without the blank rows below the last line written.
fn screen_text(lines: &[String]) -> String {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

fn unexpected(r: Reply) -> ToolError {
    ToolError::Internal(format!("unexpected reply from the daemon: {r:?}"))
}

fn new_pane(r: Reply) -> Result<String, ToolError> {
    match r {
        Reply::Pane(id) => Ok(id.to_string()),
        other => Err(unexpected(other)),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaneArgs {
    /// The pane's id, e.g. `pane-1a2b3c4d` (from `list` or `new_tab`).
    pub pane: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureArgs {
    /// The pane's id, e.g. `pane-1a2b3c4d`.
    pub pane: String,
    /// Also return up to this many lines of scrollback above the screen (default 0).
    #[serde(default)]
    pub scrollback: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendTextArgs {
    /// The pane's id.
    pub pane: String,
    /// Text typed into the pane as is.
    pub text: String,
    /// Press Enter (CR) right after the text, in the same write: right for shells. Agent TUIs
    /// take that as a paste and do not submit it: use `prompt` for them.
    #[serde(default)]
    pub enter: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendKeysArgs {
    /// The pane's id.
    pub pane: String,
    /// Named keys, pressed in order: `Enter`, `Escape`, `Tab`, `BSpace`, `Up`, `Down`, `Left`,
    /// `Right`, `Home`, `End`, `PageUp`, `PageDown`, `F1`..`F12`, `C-c` (Ctrl), `M-x` (Alt),
    /// or a single character. Any other text is typed as it is, as tmux does.
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptArgs {
    /// The agent pane's id.
    pub pane: String,
    /// The prompt. It is typed, then Enter is pressed separately 300 ms later.
    pub text: String,
    /// Wait until the agent's turn ends (its state leaves `working` for `done`, `idle`,
    /// `waiting` or `error`) and return its screen (default true).
    #[serde(default = "yes")]
    pub wait: bool,
    /// Seconds to wait for the turn to end (default 600).
    #[serde(default)]
    #[schemars(with = "f64")]
    pub timeout: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitTextArgs {
    /// The pane's id.
    pub pane: String,
    /// A regular expression (Rust syntax) over the screen; `^` and `$` match at line ends.
    pub regex: String,
    /// Seconds before giving up (default 10).
    #[serde(default)]
    #[schemars(with = "f64")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitStateArgs {
    /// The agent pane's id.
    pub pane: String,
    /// Any of `idle`, `working`, `done`, `waiting`, `error`.
    pub states: Vec<String>,
    /// Seconds before giving up (default 10).
    #[serde(default)]
    #[schemars(with = "f64")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTabArgs {
    /// The tab's name (default: from the command).
    #[serde(default)]
    #[schemars(with = "String")]
    pub name: Option<String>,
    /// Pane type, e.g. `claude-code`, `opencode`, `terminal` (see `quil plugin list`).
    #[serde(rename = "type", default)]
    #[schemars(with = "String")]
    pub kind: Option<String>,
    /// Working directory (default: this server's; relative paths are taken from there).
    #[serde(default)]
    #[schemars(with = "String")]
    pub cwd: Option<String>,
    /// Command and arguments, replacing the pane type's command.
    #[serde(default)]
    pub command: Vec<String>,
    /// Run the pane in its own new git worktree of the repository at `cwd`.
    #[serde(default)]
    pub worktree: bool,
}

/// Which way a split goes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Side by side.
    Horizontal,
    /// Top and bottom.
    Vertical,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitArgs {
    /// The pane to split.
    pub pane: String,
    /// `horizontal` (side by side) or `vertical` (top and bottom).
    pub direction: Direction,
    /// Pane type (default: a terminal).
    #[serde(rename = "type", default)]
    #[schemars(with = "String")]
    pub kind: Option<String>,
    /// Working directory (default: the split pane's).
    #[serde(default)]
    #[schemars(with = "String")]
    pub cwd: Option<String>,
    /// Command and arguments, replacing the pane type's command.
    #[serde(default)]
    pub command: Vec<String>,
    /// Run the new pane in its own new git worktree.
    #[serde(default)]
    pub worktree: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTabArgs {
    /// The tab: its id (`tab-00000001`), 1-based index or name.
    pub tab: String,
    /// The new name.
    pub name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePaneArgs {
    /// The pane's id.
    pub pane: String,
    /// The new name.
    pub name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// The worktree pane's id.
    pub pane: String,
    /// Only a summary of the changed files.
    #[serde(default)]
    pub stat: bool,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsArgs {
    /// Only events numbered after this (`next` of the previous call); default 0, all kept.
    #[serde(default)]
    pub since: u64,
    /// Only events of these panes.
    #[serde(default)]
    pub panes: Vec<String>,
    /// Only events of these types, e.g. `state`, `pane_exited`, `pane_created`.
    #[serde(default)]
    pub types: Vec<String>,
    /// At most this many events (default 100, at most 1000).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub limit: Option<u32>,
    /// Seconds to wait for a first matching event when there is none yet (default 0).
    #[serde(default)]
    #[schemars(with = "f64")]
    pub wait: Option<f64>,
}

impl Quil {
    pub fn new(target: Target, events: Events) -> Quil {
        Quil {
            target,
            events,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` on a fresh connection, on the blocking pool; errors become the text of an
    /// error result.
    async fn with_daemon<F>(&self, f: F) -> Out
    where
        F: FnOnce(&mut Client) -> Result<String, ToolError> + Send + 'static,
    {
        let target = self.target.clone();
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = target.connect_or_start()?;
            // If this call started the daemon, its events must reach the ring too. Returns as
            // soon as the watcher is subscribed; the bound only matters when it cannot be (on
            // a loaded machine 2 s was seen to be too short for a daemon just started).
            events.ensure_subscribed(Duration::from_secs(10));
            f(&mut c)
        })
        .await
        .map_err(|e| ToolError::Internal(e.to_string()))
        .and_then(|r| r)
        .map_err(|e| e.to_string())
    }
}

fn spawn_spec(
    kind: Option<String>,
    cwd: Option<String>,
    command: Vec<String>,
    worktree: bool,
    here: bool,
    remote: bool,
) -> Result<SpawnSpec, ToolError> {
    // A remote daemon's directories and environment are its host's, not this process's.
    if remote {
        return match cwd {
            Some(c) if !c.starts_with('/') => Err(ToolError::Invalid(format!(
                "cwd {c:?}: give an absolute path on the remote host"
            ))),
            cwd => Ok(SpawnSpec {
                kind,
                cwd,
                command,
                worktree,
                ..SpawnSpec::default()
            }),
        };
    }
    let cwd =
        match cwd {
            Some(c) => Some(
                std::path::absolute(&c)
                    .map_err(|e| ToolError::Invalid(format!("bad cwd {c:?}: {e}")))?,
            ),
            None if here => Some(std::env::current_dir().map_err(|e| {
                ToolError::Invalid(format!("cannot read the current directory: {e}"))
            })?),
            None => None,
        };
    if let Some(dir) = cwd.as_ref().filter(|d| !d.is_dir()) {
        return Err(ToolError::Invalid(format!(
            "directory {} does not exist",
            dir.display()
        )));
    }
    Ok(SpawnSpec {
        kind,
        cwd: cwd.map(|c| c.display().to_string()),
        command,
        worktree,
        client_env: quil_proto::env::forwarded(std::env::vars()),
        ..SpawnSpec::default()
    })
}

#[tool_router]
impl Quil {
    #[tool(
        description = "The workspace: tabs and panes (id, tab, name, type, cwd, pid, alive, \
                       exit status, size, attention state of agent panes, worktree), as JSON, \
                       the shape of `quil ls --json`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list(&self) -> Out {
        self.with_daemon(|c| {
            serde_json::to_string(&wait::list(c)?).map_err(|e| ToolError::Internal(e.to_string()))
        })
        .await
    }

    #[tool(
        description = "A pane's screen as text lines (like tmux capture-pane -p), optionally \
                       with scrollback lines above it. Blank rows at the bottom are left out.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn capture(&self, Parameters(a): Parameters<CaptureArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            Ok(screen_text(&wait::screen(c, pane, a.scrollback)?))
        })
        .await
    }

    #[tool(
        description = "Type text into a pane, optionally followed by Enter (for shells). For an \
                       agent pane (Claude Code, opencode) use `prompt`.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn send_text(&self, Parameters(a): Parameters<SendTextArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let mut data = a.text.into_bytes();
            if a.enter {
                data.push(b'\r');
            }
            let n = data.len();
            c.request(Request::Input { pane, data })?;
            Ok(format!("typed {n} bytes into {pane}"))
        })
        .await
    }

    #[tool(
        description = "Press named keys in a pane, in order: Enter, Escape, Tab, Up, C-c, M-x, F5, ...",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn send_keys(&self, Parameters(a): Parameters<SendKeysArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            if a.keys.is_empty() {
                return Err(ToolError::Invalid("keys must name at least one key".into()));
            }
            let n = a.keys.len();
            c.request(Request::SendKeys { pane, keys: a.keys })?;
            Ok(format!("pressed {n} keys in {pane}"))
        })
        .await
    }

    #[tool(
        description = "Give an agent pane (Claude Code, opencode, ...) a prompt: types the text, \
                       presses Enter separately, and by default waits until the agent's turn \
                       ends (done, idle, waiting for you, or error); returns the final state \
                       and the screen.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn prompt(&self, Parameters(a): Parameters<PromptArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let timeout = seconds(a.timeout, 600.0, "timeout")?;
            let ends = [
                Attention::Done,
                Attention::Idle,
                Attention::Waiting,
                Attention::Error,
            ];
            let until = a.wait.then_some((&ends[..], timeout));
            match wait::prompt(c, pane, &a.text, until)? {
                None => Ok(format!("sent the prompt to {pane}")),
                Some(state) => {
                    let detail = wait::list(c)?
                        .panes
                        .into_iter()
                        .find(|p| p.id == pane)
                        .and_then(|p| p.state_detail)
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    let screen = screen_text(&wait::settled_content(c, pane, 0)?);
                    Ok(format!("{pane} is {}{detail}\n{screen}", state.as_str()))
                }
            }
        })
        .await
    }

    #[tool(
        description = "Wait until a regex matches a pane's screen; returns the screen. Fails \
                       after the timeout.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_for_text(&self, Parameters(a): Parameters<WaitTextArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let timeout = seconds(a.timeout, 10.0, "timeout")?;
            let re = regex::RegexBuilder::new(&a.regex)
                .multi_line(true)
                .build()
                .map_err(|e| {
                    let e = e
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    ToolError::Invalid(format!("invalid regex: {e}"))
                })?;
            Ok(screen_text(&wait::text(c, pane, &re, timeout)?))
        })
        .await
    }

    #[tool(
        description = "Wait until an agent pane is in one of the given attention states \
                       (idle, working, done, waiting, error); at once if it already is. Fails \
                       after the timeout, if the pane exits first, or at once if the pane \
                       reports no state (a plain shell).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_for_state(&self, Parameters(a): Parameters<WaitStateArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let states = states(&a.states)?;
            let timeout = seconds(a.timeout, 10.0, "timeout")?;
            let s = wait::state(c, pane, &states, timeout)?;
            Ok(format!("{pane} is {}", s.as_str()))
        })
        .await
    }

    #[tool(
        description = "Open a new tab with one pane; returns the new pane's id. Give a pane \
                       type (e.g. claude-code, opencode) or a command; `worktree` runs it in \
                       its own git worktree.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn new_tab(&self, Parameters(a): Parameters<NewTabArgs>) -> Out {
        let remote = self.target.remote().is_some();
        self.with_daemon(move |c| {
            let spawn = spawn_spec(a.kind, a.cwd, a.command, a.worktree, true, remote)?;
            new_pane(c.request(Request::NewTab {
                name: a.name,
                spawn,
            })?)
        })
        .await
    }

    #[tool(
        description = "Split a pane; returns the new pane's id.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn split(&self, Parameters(a): Parameters<SplitArgs>) -> Out {
        let remote = self.target.remote().is_some();
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let dir = match a.direction {
                Direction::Horizontal => SplitDir::Horizontal,
                Direction::Vertical => SplitDir::Vertical,
            };
            let spawn = spawn_spec(a.kind, a.cwd, a.command, a.worktree, false, remote)?;
            new_pane(c.request(Request::Split { pane, dir, spawn })?)
        })
        .await
    }

    #[tool(
        description = "Kill a pane and its process.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn kill_pane(&self, Parameters(a): Parameters<PaneArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            c.request(Request::KillPane { pane })?;
            Ok(format!("killed {pane}"))
        })
        .await
    }

    #[tool(
        description = "Rename a tab.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn rename_tab(&self, Parameters(a): Parameters<RenameTabArgs>) -> Out {
        self.with_daemon(move |c| {
            c.request(Request::RenameTab {
                tab: a.tab.clone(),
                name: a.name,
            })?;
            Ok(format!("renamed tab {}", a.tab))
        })
        .await
    }

    #[tool(
        description = "Rename a pane (its border shows the name).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn rename_pane(&self, Parameters(a): Parameters<RenamePaneArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            c.request(Request::RenamePane { pane, name: a.name })?;
            Ok(format!("renamed {pane}"))
        })
        .await
    }

    #[tool(
        description = "What a worktree pane changed against its base commit (new files \
                       included), as a diff, or a summary with `stat`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn worktree_diff(&self, Parameters(a): Parameters<DiffArgs>) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            match c.request(Request::Worktree {
                pane,
                op: WorktreeOp::Diff { stat: a.stat },
            })? {
                Reply::Text(lines) => Ok(lines.join("\n")),
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    #[tool(
        description = "Keep what a worktree pane did: apply its changes to the main tree as a \
                       staged patch, then remove the worktree, its branch and the pane.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn worktree_keep(&self, Parameters(a): Parameters<PaneArgs>) -> Out {
        self.worktree_end(a, WorktreeOp::Keep, "kept").await
    }

    #[tool(
        description = "Discard what a worktree pane did: remove the worktree, its branch and the \
                       pane; the main tree is untouched.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn worktree_discard(&self, Parameters(a): Parameters<PaneArgs>) -> Out {
        self.worktree_end(a, WorktreeOp::Discard, "discarded").await
    }

    #[tool(
        description = "What happened in the workspace since this server started (panes and \
                       tabs created, closed, renamed; agents' attention states; worktrees), \
                       oldest first, numbered: pass the returned `next` as `since` to get only \
                       newer ones. The last 1000 are kept.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn events(&self, Parameters(a): Parameters<EventsArgs>) -> Out {
        let events = self.events.clone();
        self.with_daemon(move |_| {
            let panes = a
                .panes
                .iter()
                .map(|p| pane_id(p).map(|p| p.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(t) = a
                .types
                .iter()
                .find(|t| !EventKind::NAMES.contains(&t.as_str()))
            {
                return Err(ToolError::Invalid(format!(
                    "unknown event type {t:?} (known: {})",
                    EventKind::NAMES.join(", ")
                )));
            }
            let limit = a
                .limit
                .unwrap_or(100)
                .clamp(1, crate::events::CAPACITY as u32);
            let wait = seconds(a.wait, 0.0, "wait")?;
            // What the calls before this one did is in the ring before it is read.
            events.catch_up(Duration::from_secs(5));
            let batch = events.since(a.since, limit as usize, wait, |ev| {
                (panes.is_empty() || panes.iter().any(|p| ev["pane"] == p.as_str()))
                    && (a.types.is_empty() || a.types.iter().any(|t| ev["type"] == t.as_str()))
            });
            Ok(serde_json::json!({
                "events": batch.events,
                "next": batch.next,
                "dropped": batch.dropped,
            })
            .to_string())
        })
        .await
    }
}

impl Quil {
    async fn worktree_end(&self, a: PaneArgs, op: WorktreeOp, done: &'static str) -> Out {
        self.with_daemon(move |c| {
            let pane = pane_id(&a.pane)?;
            let lines = match c.request(Request::Worktree { pane, op })? {
                Reply::Text(lines) => lines,
                _ => Vec::new(),
            };
            let mut out = format!("{done} the worktree of {pane}");
            for l in lines {
                out.push('\n');
                out.push_str(&l);
            }
            Ok(out)
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Quil {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
        .with_server_info(rmcp::model::Implementation::new(
            "quil",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "quil is a terminal multiplexer. These tools drive its panes: open shells and \
             agents (Claude Code, opencode) in tabs and splits, type into them, read their \
             screens, give agents prompts and wait for their turns to end.",
        )
    }
}
