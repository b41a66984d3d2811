//! The quil wire protocol, shared by the daemon and every client.
//!
//! Framing (see [`codec`]): every frame is a little-endian `u32` body length followed by the
//! body. The first frame each way is a fixed-layout handshake ([`handshake`]) that every
//! protocol version can read, so a mismatched client gets a readable one-line reason. All later
//! bodies are [`postcard`] encodings of [`ClientMsg`] / [`ServerMsg`]: compact binary, bytes as
//! bytes, no JSON or base64 on the hot path.
//!
//! Output reaches clients as screen state ([`PaneUpdate`]), never as the raw PTY stream.

pub mod codec;
pub mod configpos;
pub mod env;
pub mod events;
pub mod handshake;
pub mod keys;
pub mod paths;
pub mod screen;

pub use codec::{decode, encode_frame, FrameDecoder, ProtoError, MAX_FRAME};
pub use events::{Event, EventKind};
pub use handshake::{Hello, HelloReply, PROTOCOL_VERSION};
pub use quil_model::{Attention, Direction, Layout, PaneId, Rect, SplitDir, TabId};
pub use screen::{Color, Cursor, CursorShape, Line, Run, Style};

use serde::{Deserialize, Serialize};

/// How to start a pane's process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// Pane type (plugin name); `None` means the default terminal.
    pub kind: Option<String>,
    /// Working directory; `None` means the target pane's cwd (for splits) or the daemon's default.
    pub cwd: Option<String>,
    /// Explicit command and arguments, overriding the pane type's command.
    pub command: Vec<String>,
    /// Pane name; `None` picks one from the command.
    pub name: Option<String>,
    /// Extra environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// The asking client's [`env::FORWARDED`] variables, `KEY=VALUE`: the pane sees them over
    /// the daemon's own (see [`env`]).
    pub client_env: Vec<String>,
    /// Run the pane in its own new git worktree of the repository at `cwd`.
    pub worktree: bool,
    /// The pane type's toggles chosen for this pane (unset ones take their default).
    pub toggles: Vec<(String, bool)>,
    /// The pane type's form fields, e.g. `("target", "me@host")` for ssh.
    pub fields: Vec<(String, String)>,
}

/// Where [`Request::MovePane`] puts a pane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MoveTo {
    /// Beside `target`, splitting it in `dir` (the moved pane second: right or below).
    Split { target: PaneId, dir: SplitDir },
    /// In a new tab of its own, named `name` (default: the pane's name).
    NewTab { name: Option<String> },
}

/// How [`Request::ResizeSplit`] changes a split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SplitSize {
    /// The pane's side grows (positive) or shrinks (negative) by this many cells.
    Cells(i32),
    /// The pane's side takes this percentage of the split (5 to 95).
    Percent(u8),
    /// The divider moves this many cells toward the split's end (right or down; negative:
    /// left or up), whichever side the pane is on. The daemon decides which side that is, on
    /// its own layout: a client's copy may be a swap or a move behind (a key pressed right
    /// after another). Since protocol v9.
    Divider(i32),
}

/// A request from a client. Each carries an id echoed in its [`ServerMsg::Reply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Daemon pid, version, uptime, pane count.
    Status,
    /// Tabs and panes, as `quil ls` shows them.
    List,
    NewTab {
        name: Option<String>,
        spawn: SpawnSpec,
    },
    Split {
        pane: PaneId,
        dir: SplitDir,
        spawn: SpawnSpec,
    },
    /// Bytes for the pane's input queue, written in order.
    Input {
        pane: PaneId,
        data: Vec<u8>,
    },
    /// A prompt for an agent, typed as the user would: the text (as a bracketed paste when the
    /// program asked for that), a pause for it to land, then Enter; no other input comes
    /// between.
    Prompt {
        pane: PaneId,
        text: String,
    },
    /// A new pane beside `pane`, continuing a copy of its conversation (its type's
    /// `fork_args`); in a new git worktree when `worktree`.
    Fork {
        pane: PaneId,
        worktree: bool,
    },
    /// Named keys (`Enter`, `C-c`, `Up`, ...), encoded by the daemon for the pane's modes.
    SendKeys {
        pane: PaneId,
        keys: Vec<String>,
    },
    /// The pane's screen as lines, plus up to `scrollback` lines above it.
    Capture {
        pane: PaneId,
        scrollback: u32,
        ansi: bool,
        /// Leave out the lines of the CLI's own interface (its type's `[integration]
        /// chrome` patterns): what `prompt --wait` reads a turn from.
        without_chrome: bool,
    },
    Resize {
        pane: PaneId,
        cols: u16,
        rows: u16,
    },
    KillPane {
        pane: PaneId,
    },
    /// Starts the pane's command again (same id, same place), e.g. after it failed to start.
    Respawn {
        pane: PaneId,
    },
    /// Acts on a pane's git worktree.
    Worktree {
        pane: PaneId,
        op: WorktreeOp,
    },
    /// `tab` is an id, a 1-based index or a name.
    KillTab {
        tab: String,
    },
    RenameTab {
        tab: String,
        name: String,
    },
    RenamePane {
        pane: PaneId,
        name: String,
    },
    /// Focuses a pane (and its tab) in the workspace.
    Focus {
        pane: PaneId,
    },
    /// Moves the divider at `path` of `tab`'s layout (see `quil_model::Layout::set_divider`).
    SetDivider {
        tab: TabId,
        path: Vec<bool>,
        area: Rect,
        pos: u16,
    },
    ToggleZoom {
        tab: TabId,
    },
    /// Starts streaming: the daemon sends [`ServerMsg::Workspace`] and [`PaneUpdate`]s for the
    /// panes listed by [`Request::View`].
    Attach,
    /// Which panes this client shows; the daemon streams updates for exactly these.
    View {
        panes: Vec<PaneId>,
    },
    /// Lines of history above the screen: `count` lines ending `offset` lines above the top
    /// of the screen (offset 0 = the line just above the screen). Oldest first.
    Scrollback {
        pane: PaneId,
        offset: u32,
        count: u32,
    },
    /// The pane types (plugins) the daemon knows, for pickers and `quil plugin list`; each
    /// one's program is looked for on `path` (the asking client's `PATH`; the daemon's when
    /// `None`), as a pane it starts would be.
    PaneTypes {
        path: Option<String>,
    },
    /// Streams [`ServerMsg::Event`]s from now on: those of `panes` (all when empty) and of the
    /// `types` named (all when empty; see [`EventKind::NAMES`]).
    Events {
        panes: Vec<PaneId>,
        types: Vec<String>,
    },
    /// Stops the daemon: panes are hung up, then killed.
    Shutdown,
    /// Swaps two panes' places, in one tab or across tabs (tmux's swap-pane).
    SwapPane {
        a: PaneId,
        b: PaneId,
    },
    /// Moves a pane beside another (tmux's join-pane) or out to a tab of its own
    /// (break-pane). Replies [`Reply::Ok`].
    MovePane {
        pane: PaneId,
        to: MoveTo,
    },
    /// Resizes the split holding `pane` (the innermost of direction `dir`, or its parent when
    /// `None`): `pane`'s side grows by N cells, or takes a percentage.
    ResizeSplit {
        pane: PaneId,
        dir: Option<SplitDir>,
        size: SplitSize,
    },
    /// Reads `config.toml` again and checks the daemon's tables; with `apply`, uses it (and
    /// tells attached clients with [`ServerMsg::ConfigReloaded`]). The reply is
    /// [`Reply::Text`]: one `FILE:LINE:COL: message` line per problem (each problem's entry
    /// keeps its default).
    ReloadConfig {
        apply: bool,
    },
    /// Starts a restored pane that has not started yet (lazy restore); nothing for a pane that
    /// runs.
    Start {
        pane: PaneId,
    },
    /// Whether the pane starts at once after a restart, even when no client shows it.
    SetEager {
        pane: PaneId,
        eager: bool,
    },
}

impl Request {
    /// The pane the request acts on, if it names one (for a swap, the first).
    pub fn pane(&self) -> Option<PaneId> {
        match self {
            Request::Split { pane, .. }
            | Request::Input { pane, .. }
            | Request::Prompt { pane, .. }
            | Request::Fork { pane, .. }
            | Request::SendKeys { pane, .. }
            | Request::Capture { pane, .. }
            | Request::Resize { pane, .. }
            | Request::KillPane { pane }
            | Request::Respawn { pane }
            | Request::Worktree { pane, .. }
            | Request::RenamePane { pane, .. }
            | Request::Focus { pane }
            | Request::Scrollback { pane, .. }
            | Request::SwapPane { a: pane, .. }
            | Request::MovePane { pane, .. }
            | Request::ResizeSplit { pane, .. }
            | Request::Start { pane }
            | Request::SetEager { pane, .. } => Some(*pane),
            _ => None,
        }
    }

    /// Whether a success changes what a restart brings back (tabs, panes, names, layout),
    /// so the client must hear when that cannot be saved. Focus, zoom and divider drags are
    /// saved with the next periodic save and never fail a request.
    pub fn changes_workspace(&self) -> bool {
        matches!(
            self,
            Request::NewTab { .. }
                | Request::Split { .. }
                | Request::Fork { .. }
                | Request::KillPane { .. }
                | Request::KillTab { .. }
                | Request::RenameTab { .. }
                | Request::RenamePane { .. }
                | Request::SetEager { .. }
                | Request::SwapPane { .. }
                | Request::MovePane { .. }
                | Request::ResizeSplit { .. }
        )
    }
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Ok,
    Status(StatusInfo),
    List(WorkspaceInfo),
    Pane(PaneId),
    Lines(Vec<Line>),
    /// Capture as text: one string per line.
    Text(Vec<String>),
    /// Scrollback lines and the total number of history lines available.
    Scrollback {
        lines: Vec<Line>,
        total: u32,
    },
    PaneTypes(Vec<PaneTypeInfo>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorktreeOp {
    /// Everything the pane changed against its base commit (`Reply::Text`).
    Diff { stat: bool },
    /// Apply the changes to the main tree as a staged patch, then remove the worktree, its
    /// branch and the pane.
    Keep,
    /// Remove the worktree, its branch and the pane; the main tree is untouched.
    Discard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneTypeInfo {
    pub name: String,
    /// Asks for a working directory when created (AI agents work on a project).
    pub prompts_cwd: bool,
    /// (name, label, default on, radio group)
    pub toggles: Vec<(String, String, bool, Option<String>)>,
    /// (name, label, required, default)
    pub fields: Vec<(String, String, bool, Option<String>)>,
    pub display_name: String,
    /// `terminal`, `ai`, `tools` or `remote`.
    pub category: String,
    pub description: String,
    /// Its binary was found on PATH.
    pub available: bool,
    /// Where it was defined (a file path, or `embedded:<file>`).
    pub source: String,
    /// What is missing when not `available` (names the binary and the homepage).
    pub missing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Answered with a [`ServerMsg::Reply`] carrying `id`.
    Request { id: u32, req: Request },
    /// Answered only when it fails. For what a client fires and forgets, such as keystrokes:
    /// a reply per key would wake the client once more for every echo.
    Notify { id: u32, req: Request },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// `Err` says what kind of failure it was and gives a one-line reason naming the thing
    /// (e.g. the unknown pane id).
    Reply {
        id: u32,
        result: Result<Reply, ErrorReply>,
    },
    /// The workspace structure and pane metadata changed (sent to attached clients).
    Workspace(WorkspaceInfo),
    /// Screen state of one viewed pane.
    PaneUpdate(PaneUpdate),
    /// A pane asked for text to go to the clipboard (OSC 52).
    Clipboard(String),
    /// Something happened (after [`Request::Events`]).
    Event(Event),
    /// Tell the user, wherever they look (an attached client writes it to its terminal as a
    /// desktop notification): a pane no client shows needs them.
    Notify(Notification),
    /// A script focused this pane (`quil select-pane`, `quil next`): show it.
    Focus(PaneId),
    /// The daemon is going away; the text says why.
    Bye(String),
    /// `config.toml` was read again and applied: clients read their own tables from it too.
    /// The daemon's problems with it, one `FILE:LINE:COL: message` each.
    ConfigReloaded(Vec<String>),
}

/// A notification for the user's terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub pane: PaneId,
    pub title: String,
    pub body: String,
    /// How the terminal is told; `None`: only the bell, if `bell`.
    pub method: Option<NotifyMethod>,
    /// Ring the bell too.
    pub bell: bool,
}

/// The escape sequence a client writes for a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyMethod {
    /// `OSC 9 ; text BEL` (iTerm2, WezTerm, Windows Terminal, kitty, foot, ...).
    Osc9,
    /// `OSC 777 ; notify ; title ; body BEL` (urxvt, VTE terminals, WezTerm, Ghostty).
    Osc777,
}

impl Notification {
    /// The bytes a client writes to its terminal: the notification (with its text stripped of
    /// control characters and `;`-free where the format splits on it), then the bell.
    pub fn escape(&self) -> String {
        let clean = |s: &str, semi: bool| -> String {
            s.chars()
                .filter(|c| !(c.is_control() || (semi && *c == ';')))
                .take(400)
                .collect()
        };
        let mut out = match self.method {
            Some(NotifyMethod::Osc9) => format!(
                "\x1b]9;{}: {}\x07",
                clean(&self.title, false),
                clean(&self.body, false)
            ),
            Some(NotifyMethod::Osc777) => format!(
                "\x1b]777;notify;{};{}\x07",
                clean(&self.title, true),
                clean(&self.body, true)
            ),
            None => String::new(),
        };
        if self.bell {
            out.push('\x07');
        }
        out
    }
}

/// A failed request: what kind of failure, and a one-line reason naming the thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            kind,
            message: message.into(),
        }
    }
}

/// The kinds of failure a script may want to tell apart (`quil --json` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such pane, tab or pane type.
    NotFound,
    /// The request itself is wrong: a bad name, value or argument.
    Invalid,
    /// The pane cannot take it now: it has exited, its input queue is full, another pane
    /// is in the way.
    Conflict,
    /// A program, directory or file the request needs is missing or cannot be started.
    Unavailable,
    /// Something failed inside the daemon or the system (I/O, git).
    Failed,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub pid: u32,
    pub version: String,
    pub protocol: u16,
    pub uptime_ms: u64,
    pub panes: u32,
    pub clients: u32,
    pub home: String,
    /// Panes the daemon is still bringing back after it started (0 once restored).
    #[serde(default)]
    pub restoring: u32,
    /// The restore the daemon began at its start is still under way, its search for running
    /// panes the saved workspace lacks (strays, which come back as tabs of their own)
    /// included: the workspace is not whole until this is false.
    #[serde(default)]
    pub adopting: bool,
}

/// The shape of `quil ls --json`; also what attached clients lay out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    pub tabs: Vec<TabInfo>,
    pub panes: Vec<PaneInfo>,
    /// Index into `tabs`.
    pub active_tab: u32,
    /// Why the daemon could not save the workspace last time it tried (`None` when the last
    /// save worked): changes since the last good save would be lost by a restart.
    #[serde(default)]
    pub persist_error: Option<String>,
    /// Why the saved workspace was not restored as saved when this daemon started (refused
    /// and set aside, or replaced by its backup); `None` when it was, or there was none.
    #[serde(default)]
    pub restore_problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabInfo {
    pub id: TabId,
    pub name: String,
    pub panes: Vec<PaneId>,
    pub active_pane: PaneId,
    pub layout: Layout,
    pub zoomed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneInfo {
    pub id: PaneId,
    pub tab_id: TabId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub cwd: String,
    pub pid: Option<u32>,
    /// Exactly what the pane's process was started with.
    pub argv: Vec<String>,
    pub alive: bool,
    pub exit_status: Option<i32>,
    pub cols: u16,
    pub rows: u16,
    pub title: String,
    /// The pane's input queue is full: its program is not reading its input.
    pub input_blocked: bool,
    /// Attention state; `None` for panes whose type reports none (a plain shell).
    pub state: Option<Attention>,
    /// Why, in a few words: `permission: Bash`, `question`, `api error: 529 overloaded`.
    #[serde(default)]
    pub state_detail: Option<String>,
    /// When the pane entered `state` (unix seconds).
    #[serde(default)]
    pub state_since: Option<u64>,
    /// Why the pane's command could not start (it waits for `quil respawn`).
    #[serde(default)]
    pub error: Option<String>,
    /// The pane was brought back after a daemon restart.
    #[serde(default)]
    pub restored: bool,
    /// The pane runs in its own git worktree.
    #[serde(default)]
    pub worktree: Option<quil_model::WorktreeMeta>,
    /// For a pane with a state: the last line on its screen that is not the CLI's own
    /// interface (its type's `chrome`), at most [`LAST_LINE_MAX`] characters.
    #[serde(default)]
    pub last_line: Option<String>,
    /// False for a restored pane whose process has not started yet (lazy restore): it shows
    /// its restored screen and starts when shown, given input, or after its delay.
    #[serde(default = "yes")]
    pub started: bool,
    /// Still being brought back after the daemon started: listed, its screen and process not
    /// there yet (requests that need them wait).
    #[serde(default)]
    pub restoring: bool,
    /// The pane starts at once after a restart, even when no client shows it.
    #[serde(default)]
    pub eager: bool,
}

fn yes() -> bool {
    true
}

/// The most characters of [`PaneInfo::last_line`].
pub const LAST_LINE_MAX: usize = 200;

/// Bits of [`PaneUpdate::modes`]: terminal modes a client needs to forward input correctly.
pub mod modes {
    pub const ALT_SCREEN: u32 = 1;
    pub const APP_CURSOR: u32 = 1 << 1;
    pub const APP_KEYPAD: u32 = 1 << 2;
    pub const BRACKETED_PASTE: u32 = 1 << 3;
    /// Any mouse reporting (click, drag or motion).
    pub const MOUSE_CLICK: u32 = 1 << 4;
    pub const MOUSE_DRAG: u32 = 1 << 5;
    pub const MOUSE_MOTION: u32 = 1 << 6;
    pub const MOUSE_SGR: u32 = 1 << 7;
    pub const FOCUS_EVENTS: u32 = 1 << 8;
    /// The program asked for the kitty keyboard protocol.
    pub const KITTY_KEYBOARD: u32 = 1 << 9;
    pub const ALTERNATE_SCROLL: u32 = 1 << 10;
}

/// Screen state of one pane, coalesced to at most one per pane per frame interval.
///
/// Rows carry versions in the daemon: an update holds every row changed since the last version
/// this client received, so a client that skipped frames is resynced by the next update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneUpdate {
    pub pane: PaneId,
    /// The pane's screen version after this update.
    pub version: u64,
    pub cols: u16,
    pub rows: u16,
    /// When true, `lines` holds every row and the client drops what it had.
    pub full: bool,
    /// Changed rows: (row index, content).
    pub lines: Vec<(u16, Line)>,
    pub cursor: Cursor,
    pub modes: u32,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_cannot_smuggle_escapes() {
        let mut n = Notification {
            pane: PaneId(1),
            title: "quil: build".into(),
            body: "waiting\x1b]52;c;evil\x07; now".into(),
            method: Some(NotifyMethod::Osc9),
            bell: false,
        };
        assert_eq!(n.escape(), "\x1b]9;quil: build: waiting]52;c;evil; now\x07");
        n.method = Some(NotifyMethod::Osc777);
        n.bell = true;
        assert_eq!(
            n.escape(),
            "\x1b]777;notify;quil: build;waiting]52cevil now\x07\x07"
        );
        n.method = None;
        assert_eq!(n.escape(), "\x07");
    }

    #[test]
    fn request_roundtrip() {
        let msg = ClientMsg::Request {
            id: 7,
            req: Request::Input {
                pane: PaneId(3),
                data: b"echo hi\r".to_vec(),
            },
        };
        let mut buf = Vec::new();
        encode_frame(&msg, &mut buf).unwrap();
        let mut dec = FrameDecoder::new(MAX_FRAME);
        dec.push(&buf);
        let body = dec.next_frame().unwrap().unwrap();
        assert_eq!(decode::<ClientMsg>(&body).unwrap(), msg);
    }
}
