//! The TUI's state and everything that changes it: messages from the daemon, keys, mouse and
//! pastes. No I/O happens here: requests are queued in an outbox the main loop sends, so the
//! whole update logic can be driven by tests.

use super::agents::{AgentRow, AgentsOutcome, AgentsView};
use super::config::Keymap;
use super::dialog::{Choice, CloseWorktree};
use super::input::{encode_key, encode_mouse, encode_paste, wants_mouse, MouseKind};
use super::keys::{Action, Chord};
use super::mouse::{hit_test, pane_area, pane_rects, Geometry, Hit};
use super::pane::{join_selection, PaneScreen};
use super::picker::{Picker, PickerOutcome, Target};
use super::scrollback::{Outcome, Scrollback};
use super::setup::{needs_form, Setup, SetupOutcome};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use quil_model::{Attention, Direction, Layout, Rect};
use quil_proto::{
    modes, ErrorReply, PaneId, PaneInfo, PaneTypeInfo, Reply, Request, ServerMsg, SpawnSpec,
    SplitDir, TabId, TabInfo, WorkspaceInfo, WorktreeOp,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a status message stays.
pub const STATUS_TTL: Duration = Duration::from_secs(5);
/// A client counts as "the active one" for this long after its last input (see `sync_sizes`).
const ACTIVE_WINDOW: Duration = Duration::from_secs(2);
/// A Resize we sent is assumed in flight for this long before we send it again.
const RESIZE_RETRY: Duration = Duration::from_secs(1);
/// Cells a resize key moves a divider by.
const RESIZE_STEP: i32 = 2;
/// Lines per wheel step.
const WHEEL_LINES: u32 = 3;
/// The agents view redraws this often, so the ages in it stay true.
const AGES_REFRESH: Duration = Duration::from_secs(1);

/// The wall clock in unix seconds, the unit of `PaneInfo::state_since`.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `v` as an offset into `start..start + len`, pinned to its ends (0 when empty).
fn clamp_into(v: u16, start: u16, len: u16) -> u16 {
    v.saturating_sub(start).min(len.saturating_sub(1))
}

/// What a request's reply is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// Only an error matters (shown in the status bar).
    Plain,
    Scrollback(PaneId),
    PaneTypes,
    /// The pane types of another daemon, for the picker (see [`Out::daemon`]).
    DaemonTypes(usize),
    /// A new pane (tab or split): follow it when it appears.
    Created,
    /// A new pane asked for by the new-pane form: close the form, or show why not. `dir` is
    /// remembered as a recent directory once the pane exists.
    FormCreated {
        dir: Option<String>,
    },
    /// The diff stat shown in the close-worktree dialog.
    WorktreeStat(PaneId),
    /// Keep or discard from the close-worktree dialog.
    WorktreeOp(PaneId, Choice),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub req: Request,
    pub pending: Pending,
    /// The daemon it goes to, by index, when not the one its ids name (or the active tab's).
    pub daemon: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Quit {
    Detach,
    /// Leave and print this (the daemon's goodbye, or why there is nothing to show).
    Message(String),
    /// The connection broke.
    Error(String),
}

#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// The prefix key was pressed; the next key is looked up in the prefix table.
    Prefix,
    /// Waiting for y/n before closing a pane.
    Confirm(PaneId),
    /// Typing a new name for the tab, or for `pane` when set.
    Rename {
        tab: TabId,
        pane: Option<PaneId>,
        buf: String,
    },
    Picker(Picker),
    /// The new-pane form, after the picker.
    Setup(Box<Setup>),
    /// Closing a pane that has a git worktree.
    CloseWorktree(Box<CloseWorktree>),
    Scroll(Box<Scrollback>),
    /// The agents view over the panes.
    Agents(AgentsView),
    /// The help overlay, scrolled down this many lines.
    Help(u16),
    /// The tree of tabs and panes.
    Tree(super::tree::TreeView),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub since: Instant,
}

/// A mouse selection on a pane's screen, in its cell coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    pub pane: PaneId,
    pub anchor: (u16, u16),
    pub head: (u16, u16),
}

impl Selection {
    /// Start and end in reading order.
    pub fn ordered(&self) -> ((u16, u16), (u16, u16)) {
        let (a, b) = (self.anchor, self.head);
        if (a.1, a.0) <= (b.1, b.0) {
            (a, b)
        } else {
            (b, a)
        }
    }

    /// Selected columns `[from, to)` on `row`.
    pub fn cols_on(&self, row: u16, width: u16) -> Option<(u16, u16)> {
        let (a, b) = self.ordered();
        if row < a.1 || row > b.1 {
            return None;
        }
        let from = if row == a.1 { a.0 } else { 0 };
        let to = if row == b.1 { b.0 + 1 } else { width };
        Some((from, to))
    }
}

#[derive(Debug, Clone)]
enum Drag {
    Divider {
        tab: TabId,
        path: Vec<bool>,
        area: Rect,
        dir: SplitDir,
        pos: u16,
        moved: bool,
    },
    Select {
        pane: PaneId,
    },
    Forward {
        pane: PaneId,
    },
    ScrollSelect,
}

pub struct App {
    pub keys: Keymap,
    /// The daemon said it is shutting down, with this reason.
    pub bye: Option<String>,
    /// `config.toml` was reloaded: the daemon's problems with it. Taken by the main loop.
    pub config_reload: Option<Vec<String>>,
    /// This client's forwarded environment, sent with every new tab and split.
    pub client_env: Vec<String>,
    /// The outer terminal reports keys with the kitty protocol.
    pub kitty_outer: bool,
    /// `$HOME`, to show cwds as `~/...`.
    pub home_dir: Option<String>,
    /// The directory `quil` was started in: where the first tab of a fresh daemon opens.
    pub launch_dir: Option<String>,
    pub ws: WorkspaceInfo,
    /// Where each tab lives, when the client holds tabs of several daemons (`domains`).
    /// Each tab's daemon: its index in [`App::daemons`], and how the tab bar names it.
    pub tab_domains: HashMap<TabId, (usize, String)>,
    /// Attached to one daemon, on another machine (`quil -r box`): every tab is there, and
    /// the tab bar says so.
    pub sole_remote: Option<String>,
    /// Those daemons' names, in the order [`Out::daemon`] counts them (empty with one).
    pub daemons: Vec<String>,
    have_ws: bool,
    had_tabs: bool,
    asked_first_tab: bool,
    /// This client's tab; each client has its own.
    pub tab: Option<TabId>,
    last_tab_index: usize,
    /// The tab shown before this one, for `last-tab`.
    previous_tab: Option<TabId>,
    pub screens: HashMap<PaneId, PaneScreen>,
    /// Predictive echo of keys typed on a slow link (see `predict`).
    pub predict: super::predict::Predictor,
    pub size: (u16, u16),
    pub mode: Mode,
    pub status: Option<Status>,
    outbox: Vec<Out>,
    pending: HashMap<u32, Pending>,
    /// Text for the system clipboard (OSC 52), taken by the main loop.
    pub clipboard: Vec<String>,
    /// Escape sequences for the outer terminal (desktop notifications), written by the main
    /// loop.
    pub terminal_out: Vec<String>,
    pub quit: Option<Quit>,
    /// A layout being changed by a divider drag, shown until the daemon confirms it.
    layout_override: Option<(TabId, Layout)>,
    drag: Option<Drag>,
    pub selection: Option<Selection>,
    viewed: Vec<PaneId>,
    resize_sent: HashMap<PaneId, (u16, u16, Instant)>,
    last_input: Option<Instant>,
    follow: Option<PaneId>,
    pane_types: Option<Vec<PaneTypeInfo>>,
    /// Directories chosen in the new-pane form, newest first (`$QUIL_HOME/recent-dirs`).
    pub recent_dirs: Vec<String>,
    /// Directories to add to that file, taken by the main loop (which does the I/O).
    pub recent_record: Vec<String>,
    /// Panes the user typed in since attaching: their "restored" tag is no longer news.
    pub touched: HashSet<PaneId>,
    /// Something visible changed since the last draw: the next frame is drawn whole.
    pub dirty: bool,
    /// Rows of pane screens changed since the last draw, and nothing else did (unless
    /// `dirty`): the next frame only redraws these (see `display`).
    pub damage: HashMap<PaneId, Vec<u16>>,
    /// Unix seconds now; tests put a fixed clock here.
    pub clock: fn() -> u64,
    /// When the agents view last redrew for its ages.
    ages_drawn: Instant,
    /// When each pane was last focused here (a counter): directional focus goes back to the
    /// pane you came from.
    used: HashMap<PaneId, u64>,
}

impl App {
    pub fn new(keys: Keymap, kitty_outer: bool, size: (u16, u16)) -> App {
        App {
            keys,
            kitty_outer,
            client_env: Vec::new(),
            bye: None,
            config_reload: None,
            home_dir: None,
            launch_dir: None,
            ws: WorkspaceInfo::default(),
            tab_domains: HashMap::new(),
            sole_remote: None,
            daemons: Vec::new(),
            have_ws: false,
            had_tabs: false,
            asked_first_tab: false,
            tab: None,
            last_tab_index: 0,
            previous_tab: None,
            screens: HashMap::new(),
            predict: Default::default(),
            size,
            mode: Mode::Normal,
            status: None,
            outbox: Vec::new(),
            pending: HashMap::new(),
            clipboard: Vec::new(),
            terminal_out: Vec::new(),
            quit: None,
            layout_override: None,
            drag: None,
            selection: None,
            viewed: Vec::new(),
            resize_sent: HashMap::new(),
            last_input: None,
            follow: None,
            pane_types: None,
            recent_dirs: Vec::new(),
            recent_record: Vec::new(),
            touched: HashSet::new(),
            dirty: true,
            damage: HashMap::new(),
            clock: unix_now,
            ages_drawn: Instant::now(),
            used: HashMap::new(),
        }
    }

    // ----- outbox -----

    /// `config.toml` was read (at start, or again): `keys` are used from now on (`None` keeps
    /// the current ones), and the problems found in it, the client's and the daemon's, are
    /// shown: the first, and how many there are.
    pub fn config_loaded(&mut self, keys: Option<Keymap>, problems: &[String], reload: bool) {
        if let Some(k) = keys {
            self.keys = k;
        }
        match problems {
            [] if reload => self.set_status("config reloaded", false),
            [] => {}
            [one] => self.set_status(format!("{one} (quil config check)"), true),
            [first, rest @ ..] => self.set_status(
                format!(
                    "{first}, and {} more (quil config check lists them)",
                    rest.len()
                ),
                true,
            ),
        }
    }

    /// The connection to the daemon is gone: say so, and forget what was asked of it.
    pub fn disconnected(&mut self, text: String) {
        self.pending.clear();
        self.outbox.clear();
        self.set_status(text, true);
    }

    /// Attached again, to a daemon that knows nothing of this client: views and sizes are
    /// asked for again. The screens last seen stay drawn until the daemon's first update of
    /// each replaces it whole, so a reconnection never flashes blank panes.
    pub fn reconnected(&mut self) {
        self.bye = None;
        self.viewed.clear();
        self.resize_sent.clear();
        for screen in self.screens.values_mut() {
            screen.stale = true;
        }
        self.damage.clear();
        self.dirty = true;
        self.set_status("reconnected to the daemon", false);
    }

    fn send(&mut self, req: Request, pending: Pending) {
        self.send_on(None, req, pending);
    }

    /// Sends `req` to daemon `daemon` (see [`Out::daemon`]).
    fn send_on(&mut self, daemon: Option<usize>, mut req: Request, pending: Pending) {
        // New panes see this client's PATH, locale, agent socket... (quil_proto::env).
        if let Request::NewTab { spawn, .. } | Request::Split { spawn, .. } = &mut req {
            if spawn.client_env.is_empty() {
                spawn.client_env = self.client_env.clone();
            }
        }
        self.outbox.push(Out {
            req,
            pending,
            daemon,
        });
    }

    /// The index in [`App::daemons`] of the active tab's daemon.
    fn here(&self) -> usize {
        self.tab
            .and_then(|t| self.tab_domains.get(&t))
            .map_or(0, |(d, _)| *d)
    }

    pub fn take_outbox(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.outbox)
    }

    /// Records the id a queued request was sent with, to route its reply.
    pub fn register(&mut self, id: u32, pending: Pending) {
        // Unknown ids are plain requests: only their errors matter, so they are not stored.
        if pending != Pending::Plain {
            self.pending.insert(id, pending);
        }
    }

    pub fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            since: Instant::now(),
        });
        self.dirty = true;
    }

    /// When the next timed change (a status message expiring, the agents view's ages) is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let status = self.status.as_ref().map(|s| s.since + STATUS_TTL);
        let ages = matches!(self.mode, Mode::Agents(_)).then(|| self.ages_drawn + AGES_REFRESH);
        status.into_iter().chain(ages).min()
    }

    pub fn tick(&mut self, now: Instant) {
        if self
            .status
            .as_ref()
            .is_some_and(|s| now >= s.since + STATUS_TTL)
        {
            self.status = None;
            self.dirty = true;
        }
        if matches!(self.mode, Mode::Agents(_)) && now >= self.ages_drawn + AGES_REFRESH {
            self.ages_drawn = now;
            self.dirty = true;
        }
    }

    // ----- lookups -----

    pub fn tab_index(&self) -> Option<usize> {
        let id = self.tab?;
        self.ws.tabs.iter().position(|t| t.id == id)
    }

    pub fn current_tab(&self) -> Option<&TabInfo> {
        self.tab_index().map(|i| &self.ws.tabs[i])
    }

    pub fn active_pane(&self) -> Option<PaneId> {
        self.current_tab().map(|t| t.active_pane)
    }

    pub fn pane_info(&self, pane: PaneId) -> Option<&PaneInfo> {
        self.ws.panes.iter().find(|p| p.id == pane)
    }

    fn pane_modes(&self, pane: PaneId) -> u32 {
        self.screens.get(&pane).map_or(0, |s| s.modes)
    }

    /// The pane's terminal size as last reported.
    fn pane_size(&self, pane: PaneId) -> Option<(u16, u16)> {
        match self.screens.get(&pane) {
            Some(s) if s.rows > 0 => Some((s.cols, s.rows)),
            _ => self.pane_info(pane).map(|p| (p.cols, p.rows)),
        }
    }

    fn layout_of<'a>(&'a self, tab: &'a TabInfo) -> &'a Layout {
        match &self.layout_override {
            Some((id, l)) if *id == tab.id => l,
            _ => &tab.layout,
        }
    }

    /// Tab bar labels: ` 1:name ` (` 1:name@where ` with several daemons, or one on another
    /// machine) plus a mark for the most urgent attention state in the tab.
    pub fn tab_labels(&self) -> Vec<String> {
        self.ws
            .tabs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let at = self
                    .tab_domains
                    .get(&t.id)
                    .map(|(_, d)| d)
                    .or(self.sole_remote.as_ref())
                    .map(|d| format!("@{d}"))
                    .unwrap_or_default();
                format!(" {}:{}{at}{} ", i + 1, t.name, self.tab_mark(i))
            })
            .collect()
    }

    /// The mark for the most urgent attention state among tab `i`'s panes (`""` for none):
    /// The mark of the most urgent pane of tab `i`: ` ✗` error, ` !` waiting, ` ✓` done,
    /// ` …` working.
    pub fn tab_mark(&self, i: usize) -> &'static str {
        let Some(t) = self.ws.tabs.get(i) else {
            return "";
        };
        let most = t
            .panes
            .iter()
            .filter_map(|p| self.pane_info(*p))
            // A pane that could not start needs you as much as one that failed later.
            .filter_map(|p| p.error.as_ref().map(|_| Attention::Error).or(p.state))
            .max();
        match most {
            Some(Attention::Error) => " ✗",
            Some(Attention::Waiting) => " !",
            Some(Attention::Done) => " ✓",
            Some(Attention::Working) => " …",
            Some(Attention::Idle) | None => "",
        }
    }

    /// The agents view's rows, most urgent first (see [`super::agents::ordered`]).
    pub fn agent_rows(&self) -> Vec<AgentRow> {
        super::agents::rows(&self.ws, &self.screens, (self.clock)())
    }

    /// How many panes are waiting for the user.
    pub fn waiting_count(&self) -> usize {
        self.ws
            .panes
            .iter()
            .filter(|p| p.state == Some(Attention::Waiting))
            .count()
    }

    pub fn geometry(&self) -> Geometry {
        let labels = self.tab_labels();
        let active = self.tab_index().unwrap_or(0);
        match self.current_tab() {
            Some(tab) => {
                let zoomed = tab.zoomed.then_some(tab.active_pane);
                Geometry::new(
                    self.size.0,
                    self.size.1,
                    Some(self.layout_of(tab)),
                    zoomed,
                    &labels,
                    active,
                )
            }
            None => Geometry::new(self.size.0, self.size.1, None, None, &labels, active),
        }
    }

    /// The visible panes and their rects, as in [`App::geometry`], without laying out the tab
    /// bar: what the per-key paths (sizing, the view, mouse reports) need.
    fn pane_rects(&self) -> Vec<(PaneId, Rect)> {
        let Some(tab) = self.current_tab() else {
            return Vec::new();
        };
        let area = pane_area(self.size.0, self.size.1);
        pane_rects(
            area,
            Some(self.layout_of(tab)),
            tab.zoomed.then_some(tab.active_pane),
        )
    }

    fn pane_rect(&self, pane: PaneId) -> Option<Rect> {
        self.pane_rects()
            .into_iter()
            .find(|(p, _)| *p == pane)
            .map(|(_, r)| r)
    }

    fn visible_panes(&self) -> Vec<PaneId> {
        let mut v: Vec<PaneId> = self.pane_rects().into_iter().map(|(p, _)| p).collect();
        // The tree's preview is live: the daemon streams that pane too.
        if let Mode::Tree(t) = &self.mode {
            if let Some(p) = t.row(&super::tree::rows(&self.ws)).map(|r| r.preview()) {
                if !v.contains(&p) {
                    v.push(p);
                }
            }
        }
        v
    }

    // ----- view and size policy -----

    /// Tells the daemon which panes to stream when that changed.
    fn sync_view(&mut self) {
        let visible = self.visible_panes();
        if visible != self.viewed {
            self.viewed = visible.clone();
            self.send(Request::View { panes: visible }, Pending::Plain);
        }
    }

    /// Latest-active client wins: a client that just had input (or started, or was resized)
    /// sizes the visible panes to its own layout. A client that is only watching never resizes
    /// on its own, so two clients of different sizes do not fight; it draws panes clipped or
    /// padded until its user types or clicks.
    fn sync_sizes(&mut self, user: bool) {
        let now = Instant::now();
        let active = user
            || self
                .last_input
                .is_some_and(|t| now.duration_since(t) < ACTIVE_WINDOW);
        if !active {
            return;
        }
        for (pane, rect) in self.pane_rects() {
            let inner = rect.inner();
            let want = (inner.w, inner.h);
            if want.0 == 0 || want.1 == 0 || self.pane_size(pane) == Some(want) {
                continue;
            }
            if let Some((c, r, t)) = self.resize_sent.get(&pane) {
                if (*c, *r) == want && now.duration_since(*t) < RESIZE_RETRY {
                    continue;
                }
            }
            self.resize_sent.insert(pane, (want.0, want.1, now));
            self.send(
                Request::Resize {
                    pane,
                    cols: want.0,
                    rows: want.1,
                },
                Pending::Plain,
            );
        }
    }

    fn user_input(&mut self) {
        self.last_input = Some(Instant::now());
    }

    pub fn on_resize(&mut self, w: u16, h: u16) {
        self.size = (w, h);
        self.dirty = true;
        self.sync_view();
        self.sync_sizes(true);
        self.refresh_scroll_view();
    }

    // ----- daemon messages -----

    pub fn on_server(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Workspace(ws) => self.on_workspace(ws),
            ServerMsg::PaneUpdate(u) => {
                let screen = self.screens.entry(u.pane).or_default();
                // The size and title are drawn on the border: only an update that keeps them
                // (and the pane had a screen) leaves everything but its rows as drawn.
                let rows_only = !screen.stale
                    && screen.rows > 0
                    && (screen.cols, screen.rows) == (u.cols, u.rows)
                    && screen.title == u.title;
                if !rows_only {
                    self.dirty = true;
                } else if !self.dirty {
                    let rows = self.damage.entry(u.pane).or_default();
                    if u.full {
                        rows.extend(0..u.rows);
                    } else {
                        rows.extend(u.lines.iter().map(|(r, _)| *r));
                    }
                }
                let pane = u.pane;
                screen.apply(u);
                if self.predict.on_screen(pane, screen, Instant::now()) {
                    self.dirty = true;
                }
            }
            ServerMsg::Reply { id, result } => self.on_reply(id, result),
            ServerMsg::Clipboard(text) => self.clipboard.push(text),
            ServerMsg::Notify(n) => self.terminal_out.push(n.escape()),
            ServerMsg::Focus(pane) => self.follow_focus(pane),
            // The TUI does not subscribe to the event stream.
            ServerMsg::Event(_) => {}
            // The daemon is going away on purpose (`quil restart`, `quil daemon stop`): the
            // loop waits a moment for it to come back before giving up (see `bye`).
            ServerMsg::Bye(reason) => self.bye = Some(reason),
            // The main loop reads the file again (this does no I/O) and calls `config_loaded`.
            ServerMsg::ConfigReloaded(problems) => self.config_reload = Some(problems),
        }
    }

    /// A script focused `pane`: show its tab, with it active.
    fn follow_focus(&mut self, pane: PaneId) {
        let Some(ti) = self.ws.tabs.iter().position(|t| t.panes.contains(&pane)) else {
            return;
        };
        self.ws.tabs[ti].active_pane = pane;
        let id = self.ws.tabs[ti].id;
        self.set_tab(id);
    }

    /// The shape of the tab this client shows: its id, layout and zoom.
    fn shown_shape(&self) -> Option<(TabId, Layout, bool)> {
        let t = self
            .tab
            .and_then(|id| self.ws.tabs.iter().find(|t| t.id == id))?;
        Some((t.id, t.layout.clone(), t.zoomed))
    }

    fn on_workspace(&mut self, ws: WorkspaceInfo) {
        let first = !self.have_ws;
        self.have_ws = true;
        let shape_before = self.shown_shape();
        self.ws = ws;
        self.dirty = true;
        if let Some(why) = self.ws.restore_problem.as_ref().filter(|_| first) {
            self.set_status(
                format!("the saved workspace was not restored as saved: {why}"),
                true,
            );
        }
        if self.drag.is_none() {
            self.layout_override = None;
        }
        if self.ws.tabs.is_empty() {
            if self.had_tabs {
                self.quit = Some(Quit::Message("all panes are closed".into()));
            } else if !self.asked_first_tab {
                // A fresh daemon has nothing to show yet: start with a shell where `quil` was
                // started, as tmux does.
                self.asked_first_tab = true;
                let spawn = SpawnSpec {
                    cwd: self.launch_dir.clone(),
                    ..SpawnSpec::default()
                };
                // On the first daemon, whichever tab is active by the time it is sent (with
                // `--also`, another daemon's tabs may arrive first).
                self.send_on(
                    Some(0),
                    Request::NewTab { name: None, spawn },
                    Pending::Created,
                );
            }
            return;
        }
        self.had_tabs = true;
        // A pane this client asked for: sizing it is part of that request, even when the
        // user has not typed since (the first tab of a fresh daemon).
        let mut sized_by_us = first;
        if let Some(p) = self.follow {
            if let Some(t) = self.ws.tabs.iter().find(|t| t.panes.contains(&p)) {
                self.tab = Some(t.id);
                self.follow = None;
                sized_by_us = true;
            }
        }
        if self.tab_index().is_none() {
            // Start on the daemon's active tab; when our tab was closed, take its neighbour.
            let i = if first {
                self.ws.active_tab as usize
            } else {
                self.last_tab_index
            };
            let i = i.min(self.ws.tabs.len() - 1);
            self.tab = Some(self.ws.tabs[i].id);
        }
        self.last_tab_index = self.tab_index().unwrap_or(0);
        let ws = &self.ws;
        self.screens
            .retain(|id, _| ws.panes.iter().any(|p| p.id == *id));
        self.predict
            .retain(|id| ws.panes.iter().any(|p| p.id == id));
        self.resize_sent
            .retain(|id, _| ws.panes.iter().any(|p| p.id == *id));
        self.touched
            .retain(|id| ws.panes.iter().any(|p| p.id == *id));
        match &self.mode {
            Mode::Confirm(p) if self.pane_info(*p).is_none() => self.mode = Mode::Normal,
            Mode::CloseWorktree(d) if self.pane_info(d.pane).is_none() => self.mode = Mode::Normal,
            Mode::Scroll(sb) if self.pane_info(sb.pane).is_none() => self.mode = Mode::Normal,
            Mode::Rename { tab, .. } if !self.ws.tabs.iter().any(|t| t.id == *tab) => {
                self.mode = Mode::Normal
            }
            _ => {}
        }
        if self
            .selection
            .is_some_and(|s| self.pane_info(s.pane).is_none())
        {
            self.selection = None;
        }
        // The layout shown here changed (a split, a kill, a zoom from the CLI or another
        // client): its panes get their new size now, not at the next key.
        if self.shown_shape() != shape_before {
            sized_by_us = true;
        }
        self.sync_view();
        self.sync_sizes(sized_by_us);
    }

    fn on_reply(&mut self, id: u32, result: Result<Reply, ErrorReply>) {
        let result = result.map_err(|e| e.message);
        let pending = self.pending.remove(&id).unwrap_or(Pending::Plain);
        match (pending, result) {
            (Pending::Scrollback(_), Err(e)) => {
                if matches!(self.mode, Mode::Scroll(_)) {
                    self.mode = Mode::Normal;
                }
                self.set_status(format!("scrollback: {e}"), true);
            }
            (Pending::PaneTypes | Pending::DaemonTypes(_), Err(e)) => {
                if let Mode::Picker(p) = &mut self.mode {
                    p.error = Some(e.clone());
                }
                self.set_status(e, true);
            }
            (Pending::FormCreated { .. }, Err(e)) => match &mut self.mode {
                // The form stays open with the reason, so it can be fixed and sent again.
                Mode::Setup(s) if s.busy => {
                    s.busy = false;
                    s.error = Some(e);
                    self.dirty = true;
                }
                // The form was left meanwhile.
                _ => self.set_status(e, true),
            },
            (Pending::WorktreeStat(pane), result) => {
                if let Mode::CloseWorktree(d) = &mut self.mode {
                    if d.pane == pane {
                        d.stat = Some(match result {
                            Ok(Reply::Text(lines)) => Ok(lines),
                            Ok(_) => Ok(Vec::new()),
                            Err(e) => Err(e),
                        });
                        self.dirty = true;
                    }
                }
            }
            (Pending::WorktreeOp(pane, _), Err(e)) => {
                // A failed keep changes nothing: the pane stays, and so does the dialog. The
                // daemon's reason names the worktree and says what went wrong.
                if let Mode::CloseWorktree(d) = &mut self.mode {
                    if d.pane == pane {
                        d.busy = None;
                        d.error = Some(e.clone());
                    }
                }
                self.set_status(e, true);
            }
            (Pending::WorktreeOp(_, choice), Ok(_)) => {
                let text = match choice {
                    Choice::Keep => "kept: the changes are staged in the main tree",
                    _ => "discarded the worktree and its branch",
                };
                self.set_status(text, false);
            }
            (_, Err(e)) => self.set_status(e, true),
            (Pending::Scrollback(pane), Ok(Reply::Scrollback { lines, total })) => {
                if let Mode::Scroll(sb) = &mut self.mode {
                    if sb.pane == pane {
                        sb.on_reply(lines, total);
                        self.dirty = true;
                        self.flush_scroll_requests();
                    }
                }
            }
            (Pending::PaneTypes, Ok(Reply::PaneTypes(types))) => {
                self.pane_types = Some(types.clone());
                if let Mode::Picker(p) = &mut self.mode {
                    if p.daemon().is_none() {
                        p.set_types(types);
                        self.dirty = true;
                    }
                }
            }
            (Pending::DaemonTypes(d), Ok(Reply::PaneTypes(types))) => {
                if let Mode::Picker(p) = &mut self.mode {
                    if p.daemon() == Some(d) {
                        p.set_types(types);
                        self.dirty = true;
                    }
                }
            }
            (pending @ (Pending::Created | Pending::FormCreated { .. }), Ok(Reply::Pane(pane))) => {
                if let Pending::FormCreated { dir } = pending {
                    self.recent_record.extend(dir);
                    if matches!(&self.mode, Mode::Setup(s) if s.busy) {
                        self.mode = Mode::Normal;
                    }
                }
                self.follow = Some(pane);
                if let Some(t) = self.ws.tabs.iter().find(|t| t.panes.contains(&pane)) {
                    let id = t.id;
                    self.follow = None;
                    self.set_tab(id);
                }
            }
            _ => {}
        }
    }

    // ----- actions -----

    fn set_tab(&mut self, id: TabId) {
        if self.tab != Some(id) {
            self.previous_tab = self.tab;
            self.tab = Some(id);
            self.selection = None;
            if matches!(self.mode, Mode::Scroll(_)) {
                self.mode = Mode::Normal;
            }
        }
        self.last_tab_index = self.tab_index().unwrap_or(0);
        self.dirty = true;
        self.sync_view();
        self.sync_sizes(true);
    }

    /// Switches to tab `i` (0-based) and tells the daemon, so the next attach starts there.
    fn switch_tab(&mut self, i: usize) {
        let Some(t) = self.ws.tabs.get(i) else {
            self.set_status(format!("there is no tab {}", i + 1), true);
            return;
        };
        let (id, pane) = (t.id, t.active_pane);
        self.set_tab(id);
        self.send(Request::Focus { pane }, Pending::Plain);
    }

    /// Makes `pane` the active pane of the current tab (optimistically; the daemon confirms).
    pub fn focus(&mut self, pane: PaneId) {
        let Some(ti) = self.tab_index() else { return };
        let old = self.ws.tabs[ti].active_pane;
        if old == pane || !self.ws.tabs[ti].panes.contains(&pane) {
            return;
        }
        if self.ws.tabs[ti].zoomed {
            // Moving away from a zoomed pane shows the others again, as in tmux.
            self.ws.tabs[ti].zoomed = false;
            let tab = self.ws.tabs[ti].id;
            self.send(Request::ToggleZoom { tab }, Pending::Plain);
        }
        self.ws.tabs[ti].active_pane = pane;
        let n = self.used.values().max().copied().unwrap_or(0);
        self.used.insert(old, n + 1);
        self.used.insert(pane, n + 2);
        self.send(Request::Focus { pane }, Pending::Plain);
        // Programs that asked for focus events (vim, agents) learn they lost or gained focus.
        if self.pane_modes(old) & modes::FOCUS_EVENTS != 0 {
            self.send(
                Request::Input {
                    pane: old,
                    data: b"\x1b[O".to_vec(),
                },
                Pending::Plain,
            );
        }
        if self.pane_modes(pane) & modes::FOCUS_EVENTS != 0 {
            self.send(
                Request::Input {
                    pane,
                    data: b"\x1b[I".to_vec(),
                },
                Pending::Plain,
            );
        }
        self.dirty = true;
        self.sync_view();
        self.sync_sizes(true);
    }

    /// Shows `pane` wherever it is: its tab, with it active (tells the daemon, as a tab switch
    /// does, so the next attach starts there).
    fn go_to(&mut self, pane: PaneId) {
        let Some(ti) = self.ws.tabs.iter().position(|t| t.panes.contains(&pane)) else {
            self.set_status("that pane is gone", true);
            return;
        };
        let id = self.ws.tabs[ti].id;
        let moved = self.tab != Some(id);
        self.set_tab(id);
        if self.ws.tabs[ti].active_pane != pane {
            self.focus(pane);
        } else if moved {
            self.send(Request::Focus { pane }, Pending::Plain);
        }
    }

    /// The pane waiting longest, as `quil next` picks it; else the oldest error, else the
    /// oldest finished turn.
    fn next_waiting(&mut self) {
        let next = [Attention::Waiting, Attention::Error, Attention::Done]
            .into_iter()
            .find_map(|s| crate::cli::longest_in(&self.ws, &[s]));
        match next {
            Some(pane) => self.go_to(pane),
            None => self.set_status("no pane is waiting, in error or done", false),
        }
    }

    fn active_cwd(&self) -> Option<String> {
        let p = self.pane_info(self.active_pane()?)?;
        (!p.cwd.is_empty()).then(|| p.cwd.clone())
    }

    fn new_tab(&mut self, spawn: SpawnSpec, pending: Pending) {
        let spawn = SpawnSpec {
            cwd: spawn.cwd.or_else(|| self.active_cwd()),
            ..spawn
        };
        self.send(Request::NewTab { name: None, spawn }, pending);
    }

    /// Asks daemon `on` (`None`: the active tab's) for its pane types, looked for on this
    /// client's PATH, as the panes it opens will be (a remote daemon's own: see
    /// `Domains::route`).
    fn ask_pane_types(&mut self, on: Option<usize>) {
        let path = self
            .client_env
            .iter()
            .find_map(|kv| kv.strip_prefix("PATH="))
            .map(str::to_string);
        let pending = on.map_or(Pending::PaneTypes, Pending::DaemonTypes);
        self.send_on(on, Request::PaneTypes { path }, pending);
    }

    /// A new tab on daemon `d`, which is not the active tab's: none of this tab's directories.
    fn new_tab_on(&mut self, d: usize, spawn: SpawnSpec, pending: Pending) {
        self.send_on(Some(d), Request::NewTab { name: None, spawn }, pending);
    }

    /// Splits the active pane; `dir` None picks the pane's longer side (cells are about twice
    /// as tall as wide) and falls back to a new tab when the pane is too small either way.
    /// Errs, sending nothing, when the pane is too small to split the way asked.
    fn split(
        &mut self,
        dir: Option<SplitDir>,
        spawn: SpawnSpec,
        pending: Pending,
    ) -> Result<(), String> {
        let Some(tab) = self.current_tab() else {
            return Err("there is no pane to split".into());
        };
        let pane = tab.active_pane;
        let layout = self.layout_of(tab);
        let area = pane_area(self.size.0, self.size.1);
        let rect = layout
            .rects(area)
            .into_iter()
            .find(|(p, _)| *p == pane)
            .map(|(_, r)| r);
        let fits = |d| layout.can_split(pane, d, area);
        let chosen = match dir {
            Some(d) if fits(d) => Some(d),
            Some(_) => return Err("the pane is too small to split that way".into()),
            None => {
                let wide = rect.is_some_and(|r| r.w >= r.h.saturating_mul(2));
                let (a, b) = if wide {
                    (SplitDir::Horizontal, SplitDir::Vertical)
                } else {
                    (SplitDir::Vertical, SplitDir::Horizontal)
                };
                [a, b].into_iter().find(|d| fits(*d))
            }
        };
        match chosen {
            Some(dir) => self.send(Request::Split { pane, dir, spawn }, pending),
            None => self.new_tab(spawn, pending),
        }
        Ok(())
    }

    /// Opens a new pane where the picker said.
    fn spawn_at(
        &mut self,
        target: Target,
        spawn: SpawnSpec,
        pending: Pending,
    ) -> Result<(), String> {
        match target {
            Target::Split => self.split(None, spawn, pending),
            Target::SplitRight => self.split(Some(SplitDir::Horizontal), spawn, pending),
            Target::SplitDown => self.split(Some(SplitDir::Vertical), spawn, pending),
            Target::NewTab => {
                self.new_tab(spawn, pending);
                Ok(())
            }
            Target::NewTabOn(d, _) => {
                self.new_tab_on(d, spawn, pending);
                Ok(())
            }
        }
    }

    /// Directories to offer in the new-pane form: those chosen before (newest first), then
    /// where the panes of this tab and the others are.
    fn recent_for_form(&self) -> Vec<String> {
        let tab = self.tab;
        let mut panes: Vec<&PaneInfo> = self.ws.panes.iter().collect();
        panes.sort_by_key(|p| Some(p.tab_id) != tab);
        super::recent::dedup(
            self.recent_dirs
                .iter()
                .cloned()
                .chain(panes.into_iter().map(|p| p.cwd.clone())),
            super::recent::CAP,
        )
    }

    /// After the picker: the form when the type needs choices, else the pane at once.
    fn open_type(&mut self, ty: PaneTypeInfo, target: Target, worktree: bool) {
        if needs_form(&ty) || worktree {
            // Another daemon's directories are not this tab's (it may be another machine).
            let (cwd, recent) = match target {
                Target::NewTabOn(..) => (None, Vec::new()),
                _ => (self.active_cwd(), self.recent_for_form()),
            };
            let setup = Setup::new(ty, target, worktree, cwd, recent, self.home_dir.clone());
            self.mode = Mode::Setup(Box::new(setup));
            return;
        }
        let spawn = SpawnSpec {
            kind: Some(ty.name),
            ..SpawnSpec::default()
        };
        if let Err(e) = self.spawn_at(target, spawn, Pending::Created) {
            self.set_status(e, true);
        }
    }

    /// Ctrl+W: a pane with a worktree asks what to do with it; a running one asks first.
    fn close_pane(&mut self, pane: PaneId) {
        let Some(info) = self.pane_info(pane) else {
            return;
        };
        if let Some(wt) = info.worktree.clone() {
            let dialog = CloseWorktree::new(pane, info.name.clone(), wt);
            self.mode = Mode::CloseWorktree(Box::new(dialog));
            self.send(
                Request::Worktree {
                    pane,
                    op: WorktreeOp::Diff { stat: true },
                },
                Pending::WorktreeStat(pane),
            );
        } else if info.alive || !info.started {
            // A pane waiting to start (lazy restore) has a program to lose all the same.
            self.mode = Mode::Confirm(pane);
        } else {
            self.send(Request::KillPane { pane }, Pending::Plain);
        }
    }

    fn close_worktree_choice(&mut self, mut d: Box<CloseWorktree>, choice: Choice) {
        let pane = d.pane;
        match choice {
            Choice::Cancel => {}
            Choice::Leave => {
                self.send(Request::KillPane { pane }, Pending::Plain);
                let path = d.worktree.path.display().to_string();
                let path = super::setup::shorten(&path, self.home_dir.as_deref());
                self.set_status(format!("the worktree stays in {path}"), false);
            }
            Choice::Keep | Choice::Discard => {
                let op = if choice == Choice::Keep {
                    WorktreeOp::Keep
                } else {
                    WorktreeOp::Discard
                };
                self.send(
                    Request::Worktree { pane, op },
                    Pending::WorktreeOp(pane, choice),
                );
                d.busy = Some(choice);
                d.error = None;
                self.mode = Mode::CloseWorktree(d);
            }
        }
    }

    fn focus_dir(&mut self, d: Direction) {
        let Some(tab) = self.current_tab() else {
            return;
        };
        let area = pane_area(self.size.0, self.size.1);
        let used = |p: PaneId| self.used.get(&p).copied().unwrap_or(0);
        if let Some(p) = self.layout_of(tab).neighbor(tab.active_pane, d, area, used) {
            self.focus(p);
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::NewPane => {
                let mut p = Picker::loading();
                if let Some(types) = self.pane_types.clone() {
                    p.set_types(types);
                }
                p.daemons = self.daemons.clone();
                p.here = self.here();
                self.mode = Mode::Picker(p);
                // Always ask again: plugins may have been added since.
                self.ask_pane_types(None);
            }
            Action::NewTab => self.new_tab(SpawnSpec::default(), Pending::Created),
            Action::ClosePane => {
                if let Some(pane) = self.active_pane() {
                    self.close_pane(pane);
                }
            }
            Action::SplitRight | Action::SplitDown => {
                let dir = if action == Action::SplitRight {
                    SplitDir::Horizontal
                } else {
                    SplitDir::Vertical
                };
                if let Err(e) = self.split(Some(dir), SpawnSpec::default(), Pending::Created) {
                    self.set_status(e, true);
                }
            }
            Action::FocusLeft => self.focus_dir(Direction::Left),
            Action::FocusRight => self.focus_dir(Direction::Right),
            Action::FocusUp => self.focus_dir(Direction::Up),
            Action::FocusDown => self.focus_dir(Direction::Down),
            Action::FocusNext => {
                if let Some(tab) = self.current_tab() {
                    let panes = self.layout_of(tab).panes();
                    let i = panes
                        .iter()
                        .position(|p| *p == tab.active_pane)
                        .unwrap_or(0);
                    if let Some(next) = panes.get((i + 1) % panes.len().max(1)).copied() {
                        self.focus(next);
                    }
                }
            }
            Action::LastPane => {
                if let Some(tab) = self.current_tab() {
                    let last = tab
                        .panes
                        .iter()
                        .filter(|p| **p != tab.active_pane)
                        .filter_map(|p| self.used.get(p).map(|n| (*n, *p)))
                        .max();
                    match last {
                        Some((_, pane)) => self.focus(pane),
                        None => self.set_status("no pane was focused before this one", true),
                    }
                }
            }
            Action::LastTab => {
                let last = self
                    .previous_tab
                    .and_then(|id| self.ws.tabs.iter().position(|t| t.id == id));
                match last {
                    Some(i) => self.switch_tab(i),
                    None => self.set_status("no tab was shown before this one", true),
                }
            }
            Action::Zoom => {
                if let Some(tab) = self.current_tab() {
                    let tab = tab.id;
                    self.send(Request::ToggleZoom { tab }, Pending::Plain);
                }
            }
            Action::Tab(n) => self.switch_tab(usize::from(n) - 1),
            Action::NextTab | Action::PrevTab => {
                let n = self.ws.tabs.len();
                if n > 0 {
                    let i = self.tab_index().unwrap_or(0);
                    let j = if action == Action::NextTab {
                        (i + 1) % n
                    } else {
                        (i + n - 1) % n
                    };
                    self.switch_tab(j);
                }
            }
            Action::RenameTab => {
                if let Some(t) = self.current_tab() {
                    self.mode = Mode::Rename {
                        tab: t.id,
                        pane: None,
                        buf: t.name.clone(),
                    };
                }
            }
            Action::ToggleEager => {
                if let Some(p) = self.active_pane() {
                    let eager = !self.pane_info(p).is_some_and(|i| i.eager);
                    self.send(Request::SetEager { pane: p, eager }, Pending::Plain);
                    let when = if eager {
                        "at once after a restart"
                    } else {
                        "when first shown after a restart"
                    };
                    self.set_status(format!("{p} starts {when}"), false);
                }
            }
            Action::RenamePane => {
                if let (Some(t), Some(p)) = (self.current_tab(), self.active_pane()) {
                    let tab = t.id;
                    let buf = self
                        .pane_info(p)
                        .map(|i| i.name.clone())
                        .unwrap_or_default();
                    self.mode = Mode::Rename {
                        tab,
                        pane: Some(p),
                        buf,
                    };
                }
            }
            Action::SwapPrev | Action::SwapNext => {
                if let Some(tab) = self.current_tab() {
                    let panes = self.layout_of(tab).panes();
                    let n = panes.len();
                    let i = panes
                        .iter()
                        .position(|p| *p == tab.active_pane)
                        .unwrap_or(0);
                    let j = if action == Action::SwapNext {
                        (i + 1) % n.max(1)
                    } else {
                        (i + n - 1) % n.max(1)
                    };
                    if let (Some(&x), Some(&y)) = (panes.get(i), panes.get(j)) {
                        if x != y {
                            self.send(Request::SwapPane { a: x, b: y }, Pending::Plain);
                        }
                    }
                }
            }
            Action::BreakPane => {
                if let Some(p) = self.active_pane() {
                    // The client moves to the new tab, as tmux's break-pane does.
                    self.follow = Some(p);
                    self.send(
                        Request::MovePane {
                            pane: p,
                            to: quil_proto::MoveTo::NewTab { name: None },
                        },
                        Pending::Plain,
                    );
                }
            }
            Action::ResizeLeft | Action::ResizeRight | Action::ResizeUp | Action::ResizeDown => {
                if let (Some(tab), Some(p)) = (self.current_tab(), self.active_pane()) {
                    let dir = match action {
                        Action::ResizeLeft | Action::ResizeRight => SplitDir::Horizontal,
                        _ => SplitDir::Vertical,
                    };
                    // The divider moves that way. Which side grows is the daemon's to say: this
                    // layout may be a swap behind (keys pressed faster than a round trip).
                    if self.layout_of(tab).in_first(p, dir).is_some() {
                        let toward_end = matches!(action, Action::ResizeRight | Action::ResizeDown);
                        let n = if toward_end {
                            RESIZE_STEP
                        } else {
                            -RESIZE_STEP
                        };
                        self.send(
                            Request::ResizeSplit {
                                pane: p,
                                dir: Some(dir),
                                size: quil_proto::SplitSize::Divider(n),
                            },
                            Pending::Plain,
                        );
                    }
                }
            }
            Action::ScrollUp => {
                if let Some(p) = self.active_pane() {
                    let page = self
                        .pane_rect(p)
                        .map_or(10, |r| u32::from(r.inner().h.saturating_sub(1)));
                    self.enter_scroll(p, page.max(1));
                }
            }
            Action::ScrollDown => {}
            Action::CopyMode => {
                if let Some(p) = self.active_pane() {
                    self.enter_scroll(p, 0);
                }
            }
            Action::Detach => self.quit = Some(Quit::Detach),
            Action::Agents => {
                // Start on the pane that needs you most.
                let selected = self.agent_rows().first().map(|r| r.pane);
                self.mode = Mode::Agents(AgentsView { selected });
                self.ages_drawn = Instant::now();
            }
            Action::NextWaiting => self.next_waiting(),
            Action::Help => self.mode = Mode::Help(0),
            Action::ChooseTree => {
                let rows = super::tree::rows(&self.ws);
                self.mode = Mode::Tree(super::tree::TreeView::at(&rows, self.active_pane()));
                self.sync_view();
            }
            Action::SendPrefix => {
                if let Some(prefix) = self.keys.prefix {
                    self.send_key_to_pane(&KeyEvent::new(prefix.code, prefix.mods));
                }
            }
            Action::Unbound => {}
        }
        self.dirty = true;
    }

    fn send_key_to_pane(&mut self, ev: &KeyEvent) {
        let Some(pane) = self.active_pane() else {
            return;
        };
        if let Some(info) = self.pane_info(pane) {
            // A pane waiting to start (lazy restore) takes keys: the daemon starts it first.
            if !info.alive && info.started {
                // Nothing reads keys in a dead pane: r or Enter starts its command again.
                if matches!(ev.code, KeyCode::Char('r') | KeyCode::Enter)
                    && !ev
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                {
                    self.touched.insert(pane);
                    self.send(Request::Respawn { pane }, Pending::Plain);
                    return;
                }
                let close = self
                    .keys
                    .key_for(Action::ClosePane)
                    .unwrap_or_else(|| "close-pane".into());
                let what = if info.error.is_some() {
                    "this pane's program could not start"
                } else {
                    "this pane's program has exited"
                };
                self.set_status(format!("{what}; r restarts it, {close} closes it"), false);
                return;
            }
        }
        self.touched.insert(pane);
        if let Some(data) = encode_key(ev, self.pane_modes(pane), self.kitty_outer) {
            let ch = match ev.code {
                KeyCode::Char(c) if (ev.modifiers - KeyModifiers::SHIFT).is_empty() => Some(c),
                _ => None,
            };
            self.predict_input(pane, ch);
            self.send(Request::Input { pane, data }, Pending::Plain);
        }
    }

    /// Input going to `pane`, typing `ch` when it is a plain character: predictive echo.
    fn predict_input(&mut self, pane: PaneId, ch: Option<char>) {
        if let Some(screen) = self.screens.get(&pane) {
            if self.predict.typed(pane, screen, ch, Instant::now()) {
                self.dirty = true;
            }
        }
    }

    // ----- scrollback -----

    fn enter_scroll(&mut self, pane: PaneId, up: u32) {
        let Some(rect) = self.pane_rect(pane) else {
            return;
        };
        let inner = rect.inner();
        let (lines, cursor) = match self.screens.get(&pane) {
            Some(s) => (s.lines.clone(), (s.cursor.x, s.cursor.y)),
            None => (Vec::new(), (0, 0)),
        };
        self.selection = None;
        self.mode = Mode::Scroll(Box::new(Scrollback::new(
            pane, lines, cursor, inner.w, inner.h, up,
        )));
        self.flush_scroll_requests();
        self.dirty = true;
    }

    fn flush_scroll_requests(&mut self) {
        if let Mode::Scroll(sb) = &mut self.mode {
            let pane = sb.pane;
            for req in sb.take_requests() {
                self.outbox.push(Out {
                    req,
                    pending: Pending::Scrollback(pane),
                    daemon: None,
                });
            }
        }
    }

    /// Keeps the scrollback view's size in step with its pane's rect.
    fn refresh_scroll_view(&mut self) {
        let rect = match &self.mode {
            Mode::Scroll(sb) => self.pane_rect(sb.pane),
            _ => None,
        };
        if let Mode::Scroll(sb) = &mut self.mode {
            match rect {
                Some(r) => sb.set_view(r.inner().w, r.inner().h),
                None => self.mode = Mode::Normal,
            }
        }
        self.flush_scroll_requests();
    }

    fn copy(&mut self, text: String) {
        let n = text.chars().count();
        if n > 0 {
            self.clipboard.push(text);
            self.set_status(format!("copied {n} characters"), false);
        }
    }

    // ----- keys -----

    pub fn on_key(&mut self, ev: KeyEvent) {
        if ev.kind == KeyEventKind::Release {
            return;
        }
        self.user_input();
        let had_selection = self.selection.take().is_some();
        let chord = Chord::from_event(&ev);
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        // A key that only goes to the pane changes nothing on screen until its echo arrives;
        // redrawing now would only delay drawing that echo. Everything else redraws.
        if !matches!(mode, Mode::Normal)
            || had_selection
            || self.keys.prefix == Some(chord)
            || self.keys.direct.contains_key(&chord)
        {
            self.dirty = true;
        }
        match mode {
            Mode::Normal => {
                if self.keys.prefix == Some(chord) {
                    self.mode = Mode::Prefix;
                } else if let Some(a) = self.keys.direct.get(&chord).copied() {
                    self.act(a);
                } else {
                    let touched = self.touched.len();
                    self.send_key_to_pane(&ev);
                    // The first key in a pane clears its "restored" tag.
                    self.dirty |= self.touched.len() != touched;
                }
            }
            Mode::Prefix => {
                // Unbound keys after the prefix are dropped, as in tmux.
                if let Some(a) = self.keys.prefixed.get(&chord).copied() {
                    self.act(a);
                }
            }
            Mode::Confirm(pane) => {
                if matches!(
                    ev.code,
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
                ) {
                    self.send(Request::KillPane { pane }, Pending::Plain);
                }
            }
            Mode::Rename { tab, pane, mut buf } => match ev.code {
                KeyCode::Enter => {
                    let name = buf.trim().to_string();
                    if !name.is_empty() {
                        let req = match pane {
                            Some(pane) => Request::RenamePane { pane, name },
                            None => Request::RenameTab {
                                tab: tab.to_string(),
                                name,
                            },
                        };
                        self.send(req, Pending::Plain);
                    }
                }
                KeyCode::Esc => {}
                KeyCode::Backspace => {
                    buf.pop();
                    self.mode = Mode::Rename { tab, pane, buf };
                }
                KeyCode::Char('u') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.mode = Mode::Rename {
                        tab,
                        pane,
                        buf: String::new(),
                    };
                }
                KeyCode::Char(c)
                    if !ev
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    buf.push(c);
                    self.mode = Mode::Rename { tab, pane, buf };
                }
                _ => self.mode = Mode::Rename { tab, pane, buf },
            },
            Mode::Picker(mut p) => match p.key(&ev) {
                PickerOutcome::Stay => self.mode = Mode::Picker(p),
                PickerOutcome::Daemon(d) => {
                    match d {
                        Some(d) => self.ask_pane_types(Some(d)),
                        None => {
                            if let Some(types) = self.pane_types.clone() {
                                p.set_types(types);
                            }
                            self.ask_pane_types(None);
                        }
                    }
                    self.mode = Mode::Picker(p);
                }
                PickerOutcome::Cancel => {}
                PickerOutcome::Open {
                    ty,
                    target,
                    worktree,
                } => self.open_type(*ty, target, worktree),
            },
            Mode::Setup(mut s) => match s.key(&ev) {
                SetupOutcome::Stay => self.mode = Mode::Setup(s),
                SetupOutcome::Cancel => {}
                SetupOutcome::Open { spawn, dir } => {
                    let target = s.target.clone();
                    // Stays open until the daemon answers, so an error can be fixed in place.
                    s.busy = true;
                    self.mode = Mode::Setup(s);
                    if let Err(e) = self.spawn_at(target, *spawn, Pending::FormCreated { dir }) {
                        if let Mode::Setup(s) = &mut self.mode {
                            s.busy = false;
                            s.error = Some(e);
                        }
                    }
                }
            },
            Mode::CloseWorktree(mut d) => match d.key(&ev) {
                Some(choice) => self.close_worktree_choice(d, choice),
                None => self.mode = Mode::CloseWorktree(d),
            },
            Mode::Agents(mut v) => {
                let rows = self.agent_rows();
                let outcome = match self.keys.direct.get(&chord).copied() {
                    // Its own key closes it again; the other agent key and detach still work.
                    Some(Action::Agents) => AgentsOutcome::Close,
                    Some(a @ (Action::NextWaiting | Action::Detach)) => {
                        self.act(a);
                        AgentsOutcome::Close
                    }
                    _ => v.key(&ev, &rows),
                };
                match outcome {
                    AgentsOutcome::Stay => self.mode = Mode::Agents(v),
                    AgentsOutcome::Close => {}
                    AgentsOutcome::Go(pane) => self.go_to(pane),
                }
            }
            Mode::Tree(mut t) => {
                use super::tree::TreeOutcome;
                let rows = super::tree::rows(&self.ws);
                let outcome = match self.keys.direct.get(&chord).copied() {
                    Some(Action::ChooseTree) => TreeOutcome::Close,
                    Some(Action::Detach) => {
                        self.quit = Some(Quit::Detach);
                        TreeOutcome::Close
                    }
                    _ => t.key(&ev, &rows),
                };
                match outcome {
                    TreeOutcome::Stay => self.mode = Mode::Tree(t),
                    TreeOutcome::Close => {}
                    TreeOutcome::Tab(id) => {
                        if let Some(i) = self.ws.tabs.iter().position(|x| x.id == id) {
                            self.switch_tab(i);
                        }
                    }
                    TreeOutcome::Pane(p) => self.go_to(p),
                }
                self.sync_view();
            }
            Mode::Help(top) => {
                // Its own key, Esc, q or Enter close it; arrows scroll; detach still works.
                let lines = self.keys.bindings().len() as u16;
                match (self.keys.direct.get(&chord).copied(), ev.code) {
                    (Some(Action::Help), _) => {}
                    (Some(Action::Detach), _) => self.quit = Some(Quit::Detach),
                    (_, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?')) => {}
                    (_, KeyCode::Down | KeyCode::Char('j')) => {
                        self.mode = Mode::Help((top + 1).min(lines.saturating_sub(1)))
                    }
                    (_, KeyCode::Up | KeyCode::Char('k')) => {
                        self.mode = Mode::Help(top.saturating_sub(1))
                    }
                    (_, KeyCode::PageDown | KeyCode::Char(' ')) => {
                        self.mode = Mode::Help((top + 10).min(lines.saturating_sub(1)))
                    }
                    (_, KeyCode::PageUp) => self.mode = Mode::Help(top.saturating_sub(10)),
                    _ => self.mode = Mode::Help(top),
                }
            }
            Mode::Scroll(mut sb) => {
                let bound = self.keys.direct.get(&chord).copied();
                let outcome = match bound {
                    Some(Action::ScrollUp) => {
                        sb.scroll(-i64::from(sb.height.saturating_sub(1).max(1)));
                        Outcome::Stay
                    }
                    Some(Action::ScrollDown) => {
                        let at_bottom = sb.offset_from_bottom() == 0;
                        sb.scroll(i64::from(sb.height.saturating_sub(1).max(1)));
                        if at_bottom {
                            Outcome::Exit
                        } else {
                            Outcome::Stay
                        }
                    }
                    Some(Action::Detach) => {
                        self.quit = Some(Quit::Detach);
                        Outcome::Exit
                    }
                    _ => sb.key(&ev),
                };
                match outcome {
                    Outcome::Stay => self.mode = Mode::Scroll(sb),
                    Outcome::Exit => {}
                    Outcome::Copy(text) => self.copy(text),
                }
                self.flush_scroll_requests();
            }
        }
        self.sync_sizes(true);
    }

    pub fn on_paste(&mut self, text: String) {
        self.user_input();
        self.dirty = true;
        match &mut self.mode {
            Mode::Rename { buf, .. } => buf.push_str(&text.replace(['\n', '\r'], " ")),
            Mode::Scroll(sb) => {
                if let Some((_, q)) = &mut sb.prompt {
                    q.push_str(&text.replace(['\n', '\r'], " "));
                }
            }
            Mode::Setup(s) => s.paste(&text),
            Mode::Picker(_)
            | Mode::Confirm(_)
            | Mode::CloseWorktree(_)
            | Mode::Agents(_)
            | Mode::Help(_)
            | Mode::Tree(_) => {}
            Mode::Normal | Mode::Prefix => {
                self.mode = Mode::Normal;
                if let Some(pane) = self.active_pane() {
                    self.touched.insert(pane);
                    let data = encode_paste(&text, self.pane_modes(pane));
                    self.predict_input(pane, None);
                    self.send(Request::Input { pane, data }, Pending::Plain);
                }
            }
        }
        self.sync_sizes(true);
    }

    // ----- mouse -----

    fn forward_mouse(
        &mut self,
        pane: PaneId,
        kind: MouseKind,
        x: u16,
        y: u16,
        mods: KeyModifiers,
    ) -> bool {
        let Some(rect) = self.pane_rect(pane) else {
            return false;
        };
        let inner = rect.inner();
        // Drags may leave the pane; report them at its edge.
        let cx = clamp_into(x, inner.x, inner.w);
        let cy = clamp_into(y, inner.y, inner.h);
        match encode_mouse(kind, cx, cy, mods, self.pane_modes(pane)) {
            Some(data) => {
                self.touched.insert(pane);
                self.send(Request::Input { pane, data }, Pending::Plain);
                true
            }
            None => false,
        }
    }

    /// The pane under (x, y) ignoring dividers (for clicks that turned out not to be drags).
    fn pane_at(&self, g: &Geometry, x: u16, y: u16) -> Option<PaneId> {
        g.panes
            .iter()
            .find(|(_, r)| r.contains(x, y))
            .map(|(p, _)| *p)
    }

    pub fn on_mouse(&mut self, ev: MouseEvent) {
        self.user_input();
        let g = self.geometry();
        let (x, y, mods) = (ev.column, ev.row, ev.modifiers);
        // Shift bypasses a program's mouse mode, so text can always be selected.
        let app_mouse = |app: &App, pane: PaneId| {
            !mods.contains(KeyModifiers::SHIFT) && wants_mouse(app.pane_modes(pane))
        };
        match ev.kind {
            MouseEventKind::Down(btn) => {
                self.dirty = true;
                self.selection = None;
                if matches!(
                    self.mode,
                    Mode::Picker(_)
                        | Mode::Setup(_)
                        | Mode::CloseWorktree(_)
                        | Mode::Agents(_)
                        | Mode::Help(_)
                        | Mode::Tree(_)
                        | Mode::Confirm(_)
                        | Mode::Rename { .. }
                        | Mode::Prefix
                ) {
                    // A click elsewhere dismisses a prompt.
                    self.mode = Mode::Normal;
                }
                match hit_test(&g, x, y) {
                    Hit::Tab(i) if btn == MouseButton::Left => self.switch_tab(i),
                    Hit::Divider(i) if btn == MouseButton::Left => {
                        if let (Some(d), Some(tab)) = (g.dividers.get(i), self.tab) {
                            self.drag = Some(Drag::Divider {
                                tab,
                                path: d.path.clone(),
                                area: d.area,
                                dir: d.dir,
                                pos: d.pos,
                                moved: false,
                            });
                        }
                    }
                    Hit::Pane { pane, inner } => {
                        if let Mode::Scroll(sb) = &mut self.mode {
                            if sb.pane == pane {
                                if let Some((cx, cy)) = inner {
                                    sb.click(cx, cy, false);
                                    self.drag = Some(Drag::ScrollSelect);
                                }
                                return;
                            }
                            self.mode = Mode::Normal;
                        }
                        self.focus(pane);
                        if let Some((cx, cy)) = inner {
                            if app_mouse(self, pane) {
                                if self.forward_mouse(pane, MouseKind::Press(btn), x, y, mods) {
                                    self.drag = Some(Drag::Forward { pane });
                                }
                            } else if btn == MouseButton::Left {
                                self.selection = Some(Selection {
                                    pane,
                                    anchor: (cx, cy),
                                    head: (cx, cy),
                                });
                                self.drag = Some(Drag::Select { pane });
                            }
                        }
                    }
                    _ => {}
                }
            }
            MouseEventKind::Drag(btn) => match self.drag.clone() {
                Some(Drag::Divider {
                    tab,
                    path,
                    area,
                    dir,
                    ..
                }) => {
                    let pos = if dir == SplitDir::Horizontal { x } else { y };
                    if let Some(t) = self.ws.tabs.iter().find(|t| t.id == tab) {
                        let mut layout = self.layout_of(t).clone();
                        layout.set_divider(&path, area, pos);
                        self.layout_override = Some((tab, layout));
                        self.drag = Some(Drag::Divider {
                            tab,
                            path,
                            area,
                            dir,
                            pos,
                            moved: true,
                        });
                        self.dirty = true;
                        self.refresh_scroll_view();
                    }
                }
                Some(Drag::Select { pane }) => {
                    if let (Some(r), Some(sel)) = (g.rect_of(pane), self.selection.as_mut()) {
                        let inner = r.inner();
                        let cx = clamp_into(x, inner.x, inner.w);
                        let cy = clamp_into(y, inner.y, inner.h);
                        sel.head = (cx, cy);
                        self.dirty = true;
                    }
                }
                Some(Drag::Forward { pane }) => {
                    self.forward_mouse(pane, MouseKind::Drag(btn), x, y, mods);
                }
                Some(Drag::ScrollSelect) => {
                    if let Mode::Scroll(sb) = &mut self.mode {
                        if let Some(r) = g.rect_of(sb.pane) {
                            let inner = r.inner();
                            // Dragging past the edge scrolls, as in tmux.
                            if y < inner.y {
                                sb.scroll(-1);
                            } else if y >= inner.bottom() {
                                sb.scroll(1);
                            }
                            let cx = clamp_into(x, inner.x, inner.w);
                            let cy = clamp_into(y, inner.y, inner.h);
                            sb.click(cx, cy, true);
                            self.dirty = true;
                        }
                    }
                    self.flush_scroll_requests();
                }
                None => {}
            },
            MouseEventKind::Up(btn) => match self.drag.take() {
                Some(Drag::Divider {
                    tab,
                    path,
                    area,
                    pos,
                    moved: true,
                    ..
                }) => {
                    // PTYs are resized once, on release; the drag itself only redraws.
                    self.send(
                        Request::SetDivider {
                            tab,
                            path,
                            area,
                            pos,
                        },
                        Pending::Plain,
                    );
                    self.sync_sizes(true);
                    self.refresh_scroll_view();
                }
                Some(Drag::Divider { moved: false, .. }) => {
                    if let Some(p) = self.pane_at(&g, x, y) {
                        self.focus(p);
                    }
                }
                Some(Drag::Select { pane }) => {
                    if let Some(sel) = self.selection.take() {
                        if sel.anchor != sel.head {
                            let text = self.selection_text(&sel, pane);
                            self.copy(text);
                        }
                    }
                    self.dirty = true;
                }
                Some(Drag::Forward { pane }) => {
                    self.forward_mouse(pane, MouseKind::Release(btn), x, y, mods);
                }
                Some(Drag::ScrollSelect) => {
                    if let Mode::Scroll(sb) = &mut self.mode {
                        if sb.anchor.is_some() {
                            if let Some(text) = sb.selection_text() {
                                self.mode = Mode::Normal;
                                self.copy(text);
                            }
                        }
                    }
                    self.dirty = true;
                }
                None => {}
            },
            MouseEventKind::Moved => {
                if let Hit::Pane {
                    pane,
                    inner: Some(_),
                } = hit_test(&g, x, y)
                {
                    if app_mouse(self, pane) && self.pane_modes(pane) & modes::MOUSE_MOTION != 0 {
                        self.forward_mouse(pane, MouseKind::Move, x, y, mods);
                    }
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = ev.kind == MouseEventKind::ScrollUp;
                let Some(pane) = self.pane_at(&g, x, y) else {
                    return;
                };
                self.dirty = true;
                if let Mode::Scroll(sb) = &mut self.mode {
                    if sb.pane == pane {
                        if !up && sb.offset_from_bottom() == 0 {
                            // Wheeling down past the bottom leaves, as in tmux.
                            self.mode = Mode::Normal;
                        } else {
                            sb.scroll(if up {
                                -i64::from(WHEEL_LINES)
                            } else {
                                i64::from(WHEEL_LINES)
                            });
                        }
                        self.flush_scroll_requests();
                        return;
                    }
                }
                let pmodes = self.pane_modes(pane);
                if app_mouse(self, pane) {
                    let kind = if up {
                        MouseKind::WheelUp
                    } else {
                        MouseKind::WheelDown
                    };
                    self.forward_mouse(pane, kind, x, y, mods);
                } else if pmodes & modes::ALT_SCREEN != 0 {
                    // Full-screen programs without mouse mode (less, man) get arrow keys, the
                    // xterm "alternate scroll" behaviour; there is no scrollback to show anyway.
                    if pmodes & modes::ALTERNATE_SCROLL != 0 {
                        let key = KeyEvent::new(
                            if up { KeyCode::Up } else { KeyCode::Down },
                            KeyModifiers::NONE,
                        );
                        if let Some(b) = encode_key(&key, pmodes, false) {
                            let data = b.repeat(WHEEL_LINES as usize);
                            self.send(Request::Input { pane, data }, Pending::Plain);
                        }
                    }
                } else if up {
                    self.mode = Mode::Normal;
                    self.focus(pane);
                    self.enter_scroll(pane, WHEEL_LINES);
                }
            }
            _ => {}
        }
        if matches!(ev.kind, MouseEventKind::Down(_) | MouseEventKind::Up(_)) {
            self.sync_sizes(true);
        }
    }

    /// The text of a mouse selection on a pane's screen.
    pub fn selection_text(&self, sel: &Selection, pane: PaneId) -> String {
        let Some(screen) = self.screens.get(&pane) else {
            return String::new();
        };
        let (a, b) = sel.ordered();
        let parts = (a.1..=b.1).filter_map(|row| {
            let line = screen.lines.get(usize::from(row))?;
            let (from, to) = sel.cols_on(row, u16::MAX)?;
            Some((line, from, to))
        });
        join_selection(parts)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tui::config::Config;
    use quil_proto::{Cursor, Line, PaneUpdate};

    pub(crate) fn pane_info(id: u32, tab: u32, name: &str) -> PaneInfo {
        PaneInfo {
            id: PaneId(id),
            tab_id: TabId(tab),
            name: name.into(),
            kind: "terminal".into(),
            cwd: "/home/me/src/quil".into(),
            pid: Some(100 + id),
            argv: vec!["bash".into()],
            alive: true,
            exit_status: None,
            cols: 0,
            rows: 0,
            title: String::new(),
            input_blocked: false,
            state: None,
            state_detail: None,
            state_since: None,
            error: None,
            restored: false,
            worktree: None,
            last_line: None,
            started: true,
            restoring: false,
            eager: false,
        }
    }

    pub(crate) fn tab(id: u32, name: &str, layout: Layout) -> TabInfo {
        let panes = layout.panes();
        TabInfo {
            id: TabId(id),
            name: name.into(),
            active_pane: panes[0],
            panes,
            layout,
            zoomed: false,
        }
    }

    /// Two tabs: tab 1 = [1 | 2] side by side, tab 2 = [3].
    pub(crate) fn two_tabs() -> WorkspaceInfo {
        let mut l = Layout::Pane(PaneId(1));
        l.split(PaneId(1), SplitDir::Horizontal, PaneId(2))
            .expect("split");
        WorkspaceInfo {
            tabs: vec![tab(1, "main", l), tab(2, "logs", Layout::Pane(PaneId(3)))],
            panes: vec![
                pane_info(1, 1, "shell"),
                pane_info(2, 1, "agent"),
                pane_info(3, 2, "tail"),
            ],
            active_tab: 0,
            persist_error: None,
            restore_problem: None,
        }
    }

    /// The clock of [`agents_ws`]: every `state_since` there is before it.
    pub(crate) const AGENTS_NOW: u64 = 10_000;

    /// Agents in every state across four tabs (`AGENTS_NOW` is 10 000):
    /// 1. main: shell (no state) | claude, waiting 10s on "permission: Bash"
    /// 2. logs: opencode, waiting 16m on "question"
    /// 3. build: codex, error 8m ("rate limited") | review, done 1m
    /// 4. bg: tests, working 1s | notes, idle 1h
    pub(crate) fn agents_ws() -> WorkspaceInfo {
        let pair = |a: u32, b: u32| {
            let mut l = Layout::Pane(PaneId(a));
            l.split(PaneId(a), SplitDir::Horizontal, PaneId(b))
                .expect("split");
            l
        };
        let mut panes = vec![pane_info(1, 1, "shell")];
        for (id, tab, name, state, since, detail) in [
            (
                2,
                1,
                "claude",
                Attention::Waiting,
                9_990,
                Some("permission: Bash"),
            ),
            (
                3,
                2,
                "opencode",
                Attention::Waiting,
                9_000,
                Some("question"),
            ),
            (4, 3, "codex", Attention::Error, 9_500, Some("rate limited")),
            (5, 3, "review", Attention::Done, 9_940, None),
            (6, 4, "tests", Attention::Working, 9_999, None),
            (7, 4, "notes", Attention::Idle, 3_000, None),
        ] {
            let mut p = pane_info(id, tab, name);
            p.kind = "claude-code".into();
            p.state = Some(state);
            p.state_since = Some(since);
            p.state_detail = detail.map(String::from);
            // A pane this client does not show: its last line is the daemon's.
            if id == 4 {
                p.last_line = Some("stream error: 429 Too Many Requests".into());
            }
            panes.push(p);
        }
        WorkspaceInfo {
            tabs: vec![
                tab(1, "main", pair(1, 2)),
                tab(2, "logs", Layout::Pane(PaneId(3))),
                tab(3, "build", pair(4, 5)),
                tab(4, "bg", pair(6, 7)),
            ],
            panes,
            active_tab: 0,
            persist_error: None,
            restore_problem: None,
        }
    }

    /// The classic keymap's direct keys keep these behaviour tests short; the default
    /// preset's own keys are tested in `default_keys_go_through_the_prefix`.
    pub(crate) fn classic() -> Keymap {
        Keymap::preset("quil-classic").expect("preset")
    }

    pub(crate) fn app_with(ws: WorkspaceInfo, size: (u16, u16)) -> App {
        let mut app = App::new(classic(), false, size);
        app.on_server(ServerMsg::Workspace(ws));
        app
    }

    fn reqs(app: &mut App) -> Vec<Request> {
        app.take_outbox().into_iter().map(|o| o.req).collect()
    }

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn resize_keys_ask_to_move_the_divider_whichever_side_the_pane_is_on() {
        // The daemon decides which side grows: this client's layout may be a swap behind.
        let mut app = app_with(two_tabs(), (100, 30));
        let divider = |app: &mut App, action| {
            reqs(app);
            app.act(action);
            reqs(app)
        };
        let moved = |pane, n| {
            vec![Request::ResizeSplit {
                pane: PaneId(pane),
                dir: Some(SplitDir::Horizontal),
                size: quil_proto::SplitSize::Divider(n),
            }]
        };
        for pane in [1, 2] {
            app.act(if pane == 1 {
                Action::FocusLeft
            } else {
                Action::FocusRight
            });
            assert_eq!(app.active_pane(), Some(PaneId(pane)));
            assert_eq!(
                divider(&mut app, Action::ResizeLeft),
                moved(pane, -RESIZE_STEP)
            );
            assert_eq!(
                divider(&mut app, Action::ResizeRight),
                moved(pane, RESIZE_STEP)
            );
        }
        // Top/bottom: no such split holds the pane, so nothing is asked.
        assert_eq!(divider(&mut app, Action::ResizeUp), vec![]);
    }

    fn update(pane: u32, cols: u16, rows: u16, full: bool, lines: Vec<(u16, &str)>) -> ServerMsg {
        ServerMsg::PaneUpdate(PaneUpdate {
            pane: PaneId(pane),
            version: 1,
            cols,
            rows,
            full,
            lines: lines
                .into_iter()
                .map(|(r, t)| (r, Line::plain(t)))
                .collect(),
            cursor: Cursor {
                x: 0,
                y: 0,
                visible: true,
                ..Default::default()
            },
            modes: 0,
            title: String::new(),
        })
    }

    #[test]
    fn attach_views_and_sizes_the_visible_panes() {
        let mut app = app_with(two_tabs(), (100, 30));
        // Pane area 100x28 at y=1: two 50x28 rects, so 48x26 terminals.
        assert_eq!(
            reqs(&mut app),
            vec![
                Request::View {
                    panes: vec![PaneId(1), PaneId(2)]
                },
                Request::Resize {
                    pane: PaneId(1),
                    cols: 48,
                    rows: 26
                },
                Request::Resize {
                    pane: PaneId(2),
                    cols: 48,
                    rows: 26
                },
            ]
        );
        // Once the panes report that size, input does not resend it.
        app.on_server(update(1, 48, 26, true, vec![]));
        app.on_server(update(2, 48, 26, true, vec![]));
        app.on_key(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Input {
                pane: PaneId(1),
                data: b"x".to_vec()
            }]
        );
    }

    #[test]
    fn another_clients_resize_is_only_undone_by_our_input() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.last_input = None;
        app.resize_sent.clear();
        reqs(&mut app);
        // Another client made pane 1 smaller: watching does not fight back.
        app.on_server(update(1, 30, 10, true, vec![]));
        app.on_server(update(2, 48, 26, true, vec![]));
        let mut ws = two_tabs();
        ws.panes[0].cols = 30;
        app.on_server(ServerMsg::Workspace(ws));
        assert_eq!(reqs(&mut app), vec![]);
        // Our user types: this client becomes the active one.
        app.on_key(key(KeyCode::Char('a'), KeyModifiers::NONE));
        let r = reqs(&mut app);
        assert!(
            r.contains(&Request::Resize {
                pane: PaneId(1),
                cols: 48,
                rows: 26
            }),
            "{r:?}"
        );
        assert!(!r.iter().any(|q| matches!(
            q,
            Request::Resize {
                pane: PaneId(2),
                ..
            }
        )));
    }

    #[test]
    fn pane_updates_apply_full_and_incremental() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(update(1, 48, 3, true, vec![(0, "one"), (1, "two")]));
        app.on_server(update(1, 48, 3, false, vec![(2, "three")]));
        let s = &app.screens[&PaneId(1)];
        assert_eq!(
            s.lines.iter().map(Line::text).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        app.on_server(update(1, 48, 3, true, vec![(1, "x")]));
        let s = &app.screens[&PaneId(1)];
        assert_eq!(
            s.lines.iter().map(Line::text).collect::<Vec<_>>(),
            ["", "x", ""]
        );
    }

    #[test]
    fn a_reconnection_keeps_the_last_screens_until_each_is_replaced_whole() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(update(
            1,
            48,
            3,
            true,
            vec![(0, "one"), (1, "two"), (2, "old")],
        ));
        reqs(&mut app);
        app.reconnected();
        // Still drawn while the new connection has sent nothing.
        let text = |app: &App| {
            app.screens[&PaneId(1)]
                .lines
                .iter()
                .map(Line::text)
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&app), ["one", "two", "old"]);
        assert!(app.dirty);
        // The view is asked for again.
        app.sync_view();
        assert!(reqs(&mut app)
            .iter()
            .any(|r| matches!(r, Request::View { panes } if panes.contains(&PaneId(1)))));
        // The first update after it lists only rows ever written: the rest are blank now.
        app.on_server(update(1, 48, 3, false, vec![(0, "new")]));
        assert_eq!(text(&app), ["new", "", ""]);
        // Later updates patch as usual.
        app.on_server(update(1, 48, 3, false, vec![(2, "three")]));
        assert_eq!(text(&app), ["new", "", "three"]);
    }

    /// Left then right goes back to the pane you came from, not the top one, as in tmux.
    #[test]
    fn directional_focus_returns_to_the_pane_last_used() {
        let mut l = Layout::Pane(PaneId(1));
        l.split(PaneId(1), SplitDir::Horizontal, PaneId(2))
            .expect("split");
        l.split(PaneId(2), SplitDir::Vertical, PaneId(3))
            .expect("split");
        let ws = WorkspaceInfo {
            tabs: vec![tab(1, "main", l)],
            panes: (1..=3).map(|i| pane_info(i, 1, "sh")).collect(),
            active_tab: 0,
            persist_error: None,
            restore_problem: None,
        };
        let mut app = app_with(ws, (100, 30));
        app.focus_dir(Direction::Right);
        assert_eq!(
            app.active_pane(),
            Some(PaneId(2)),
            "never used: the top one"
        );
        app.focus_dir(Direction::Down);
        app.focus_dir(Direction::Left);
        assert_eq!(app.active_pane(), Some(PaneId(1)));
        app.focus_dir(Direction::Right);
        assert_eq!(
            app.active_pane(),
            Some(PaneId(3)),
            "back where it came from"
        );
    }

    #[test]
    fn toggle_eager_flips_the_active_panes_flag() {
        let mut ws = two_tabs();
        let mut app = app_with(ws.clone(), (100, 30));
        reqs(&mut app);
        app.act(Action::ToggleEager);
        assert_eq!(
            reqs(&mut app),
            [Request::SetEager {
                pane: PaneId(1),
                eager: true
            }]
        );
        assert!(app
            .status
            .as_ref()
            .is_some_and(|s| s.text.contains("at once")));
        ws.panes[0].eager = true;
        app.on_server(ServerMsg::Workspace(ws));
        app.act(Action::ToggleEager);
        assert_eq!(
            reqs(&mut app),
            [Request::SetEager {
                pane: PaneId(1),
                eager: false
            }]
        );
    }

    /// tmux's `;` and `l`: back to the pane, and the tab, used before, and back again.
    #[test]
    fn last_pane_and_last_tab_go_back_and_forth() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.act(Action::LastPane);
        assert_eq!(app.active_pane(), Some(PaneId(1)), "nothing focused before");
        assert!(app.status.as_ref().is_some_and(|s| s.error));
        app.focus(PaneId(2));
        app.act(Action::LastPane);
        assert_eq!(app.active_pane(), Some(PaneId(1)));
        app.act(Action::LastPane);
        assert_eq!(app.active_pane(), Some(PaneId(2)));

        app.act(Action::LastTab);
        assert_eq!(app.tab_index(), Some(0), "no tab shown before");
        app.act(Action::Tab(2));
        assert_eq!(app.tab_index(), Some(1));
        app.act(Action::LastTab);
        assert_eq!(app.tab_index(), Some(0));
        assert!(
            reqs(&mut app).contains(&Request::Focus { pane: PaneId(2) }),
            "the daemon learns the tab's active pane, as with any tab switch"
        );
        app.act(Action::LastTab);
        assert_eq!(app.tab_index(), Some(1));
    }

    #[test]
    fn bindings_act_and_other_keys_reach_the_pane() {
        let mut app = app_with(two_tabs(), (100, 30));
        reqs(&mut app);
        app.on_key(key(
            KeyCode::Char('H'),
            KeyModifiers::ALT | KeyModifiers::SHIFT,
        ));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Split {
                pane: PaneId(1),
                dir: SplitDir::Horizontal,
                spawn: SpawnSpec::default()
            }]
        );
        app.on_key(key(KeyCode::Right, KeyModifiers::ALT));
        let r = reqs(&mut app);
        assert_eq!(r[0], Request::Focus { pane: PaneId(2) });
        assert_eq!(app.active_pane(), Some(PaneId(2)));
        for (ev, bytes) in [
            (key(KeyCode::Tab, KeyModifiers::NONE), &b"\t"[..]),
            (key(KeyCode::BackTab, KeyModifiers::SHIFT), b"\x1b[Z"),
            (key(KeyCode::Left, KeyModifiers::CONTROL), b"\x1b[1;5D"),
            (key(KeyCode::Char('x'), KeyModifiers::ALT), b"\x1bx"),
        ] {
            app.on_key(ev);
            assert_eq!(
                reqs(&mut app),
                vec![Request::Input {
                    pane: PaneId(2),
                    data: bytes.to_vec()
                }],
                "{ev:?}"
            );
        }
        app.on_key(key(KeyCode::Char('2'), KeyModifiers::ALT));
        let r = reqs(&mut app);
        assert_eq!(app.tab, Some(TabId(2)));
        assert!(
            r.contains(&Request::View {
                panes: vec![PaneId(3)]
            }),
            "{r:?}"
        );
        assert!(r.contains(&Request::Focus { pane: PaneId(3) }));
        app.on_key(key(KeyCode::Char('q'), KeyModifiers::CONTROL));
        assert_eq!(app.quit, Some(Quit::Detach));
    }

    #[test]
    fn default_keys_go_through_the_prefix() {
        let mut app = App::new(Config::default().keys, false, (100, 30));
        app.on_server(ServerMsg::Workspace(two_tabs()));
        reqs(&mut app);
        let alt = KeyModifiers::ALT;
        // Ctrl+W, Ctrl+E, Ctrl+T, Ctrl+N and Ctrl+Q are the programs' own.
        for c in ['w', 'e', 't', 'n', 'q'] {
            app.on_key(key(KeyCode::Char(c), KeyModifiers::CONTROL));
            assert!(matches!(app.mode, Mode::Normal), "Ctrl+{c}");
        }
        let typed: Vec<u8> = reqs(&mut app)
            .into_iter()
            .flat_map(|r| match r {
                Request::Input { data, .. } => data,
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(typed, [0x17, 0x05, 0x14, 0x0e, 0x11]);
        // Alt+W ? opens the help; Esc closes it.
        app.on_key(key(KeyCode::Char('w'), alt));
        assert!(matches!(app.mode, Mode::Prefix));
        app.on_key(key(KeyCode::Char('?'), KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Help(0)));
        app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Help(1)));
        app.on_key(key(KeyCode::Esc, KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Normal));
        // Alt+W Alt+W types Alt+W (ESC w) into the pane.
        app.on_key(key(KeyCode::Char('w'), alt));
        app.on_key(key(KeyCode::Char('w'), alt));
        assert!(reqs(&mut app)
            .iter()
            .any(|r| matches!(r, Request::Input { data, .. } if data == b"\x1bw")));
        // Alt+W v splits; Alt+W d detaches.
        app.on_key(key(KeyCode::Char('w'), alt));
        app.on_key(key(KeyCode::Char('v'), KeyModifiers::NONE));
        assert!(reqs(&mut app).iter().any(|r| matches!(
            r,
            Request::Split {
                dir: SplitDir::Horizontal,
                ..
            }
        )));
        app.on_key(key(KeyCode::Char('w'), alt));
        app.on_key(key(KeyCode::Char('d'), KeyModifiers::NONE));
        assert_eq!(app.quit, Some(Quit::Detach));
    }

    #[test]
    fn tmux_prefix_table() {
        let cfg = Config::parse(
            "[keys]\npreset = \"tmux\"\n",
            std::path::Path::new("c.toml"),
        )
        .expect("config");
        let mut app = App::new(cfg.keys, false, (100, 30));
        app.on_server(ServerMsg::Workspace(two_tabs()));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert!(matches!(app.mode, Mode::Prefix));
        app.on_key(key(KeyCode::Char('"'), KeyModifiers::NONE));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Split {
                pane: PaneId(1),
                dir: SplitDir::Vertical,
                spawn: SpawnSpec::default()
            }]
        );
        // Prefix twice sends the prefix itself.
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Input {
                pane: PaneId(1),
                data: vec![2]
            }]
        );
        // Without the prefix, keys go to the pane.
        app.on_key(key(KeyCode::Char('c'), KeyModifiers::NONE));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Input {
                pane: PaneId(1),
                data: b"c".to_vec()
            }]
        );
    }

    #[test]
    fn close_asks_first_and_new_panes_are_followed() {
        let mut app = app_with(two_tabs(), (100, 30));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert!(matches!(app.mode, Mode::Confirm(PaneId(1))));
        assert_eq!(reqs(&mut app), vec![]);
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![], "n cancels");
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('y'), KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![Request::KillPane { pane: PaneId(1) }]);

        app.on_key(key(KeyCode::Char('t'), KeyModifiers::CONTROL));
        let out = app.take_outbox();
        assert_eq!(out[0].pending, Pending::Created);
        assert!(
            matches!(&out[0].req, Request::NewTab { spawn, .. } if spawn.cwd.as_deref() == Some("/home/me/src/quil"))
        );
        app.register(7, Pending::Created);
        app.on_server(ServerMsg::Reply {
            id: 7,
            result: Ok(Reply::Pane(PaneId(9))),
        });
        assert_eq!(app.tab, Some(TabId(1)), "not there yet");
        let mut ws = two_tabs();
        ws.tabs.push(tab(3, "new", Layout::Pane(PaneId(9))));
        ws.panes.push(pane_info(9, 3, "bash"));
        app.on_server(ServerMsg::Workspace(ws));
        assert_eq!(app.tab, Some(TabId(3)));
    }

    #[test]
    fn errors_show_in_the_status_bar_and_bye_quits() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(ServerMsg::Reply {
            id: 99,
            result: Err(quil_proto::ErrorReply::new(
                quil_proto::ErrorKind::Failed,
                "unknown pane pane-00000009",
            )),
        });
        assert_eq!(
            app.status.as_ref().map(|s| (s.text.as_str(), s.error)),
            Some(("unknown pane pane-00000009", true))
        );
        app.on_server(ServerMsg::Bye("the daemon is shutting down".into()));
        assert_eq!(app.bye.as_deref(), Some("the daemon is shutting down"));
        assert_eq!(
            app.quit, None,
            "the loop decides, once the connection closes"
        );
    }

    #[test]
    fn empty_workspace_opens_a_first_tab_and_closing_everything_quits() {
        let mut app = app_with(WorkspaceInfo::default(), (80, 24));
        assert!(matches!(
            reqs(&mut app).as_slice(),
            [Request::NewTab { .. }]
        ));
        app.on_server(ServerMsg::Workspace(two_tabs()));
        assert_eq!(app.tab, Some(TabId(1)));
        app.on_server(ServerMsg::Workspace(WorkspaceInfo::default()));
        assert!(matches!(app.quit, Some(Quit::Message(_))));
    }

    #[test]
    fn a_workspace_not_restored_as_saved_is_said_once_on_attach() {
        let why = "workspace.json has 10000 panes; started with an empty workspace";
        let ws = WorkspaceInfo {
            restore_problem: Some(why.into()),
            ..WorkspaceInfo::default()
        };
        let mut app = app_with(ws.clone(), (80, 24));
        let status = app.status.take().expect("a status");
        assert!(
            status.error && status.text.ends_with(why),
            "{}",
            status.text
        );
        // Said once: later updates of the workspace do not repeat it.
        app.on_server(ServerMsg::Workspace(ws));
        assert!(app.status.is_none());
    }

    #[test]
    fn first_tab_opens_where_quil_was_started() {
        let mut app = App::new(classic(), false, (80, 24));
        app.launch_dir = Some("/work/proj".into());
        app.on_server(ServerMsg::Workspace(WorkspaceInfo::default()));
        let out = reqs(&mut app);
        assert!(
            matches!(out.as_slice(), [Request::NewTab { spawn, .. }] if spawn.cwd.as_deref() == Some("/work/proj")),
            "{out:?}"
        );
    }

    #[test]
    fn closing_our_tab_moves_to_its_neighbour() {
        let mut app = app_with(two_tabs(), (80, 24));
        app.on_key(key(KeyCode::Char('2'), KeyModifiers::ALT));
        let mut ws = two_tabs();
        ws.tabs.truncate(1);
        ws.panes.truncate(2);
        app.on_server(ServerMsg::Workspace(ws));
        assert_eq!(app.tab, Some(TabId(1)));
    }

    #[test]
    fn paste_is_bracketed_when_asked() {
        let mut app = app_with(two_tabs(), (100, 30));
        reqs(&mut app);
        app.on_paste("a\nb".into());
        assert_eq!(
            reqs(&mut app),
            vec![Request::Input {
                pane: PaneId(1),
                data: b"a\rb".to_vec()
            }]
        );
        if let ServerMsg::PaneUpdate(mut u) = update(1, 48, 26, true, vec![]) {
            u.modes = modes::BRACKETED_PASTE;
            app.on_server(ServerMsg::PaneUpdate(u));
        }
        app.on_paste("x".into());
        assert_eq!(
            reqs(&mut app),
            vec![Request::Input {
                pane: PaneId(1),
                data: b"\x1b[200~x\x1b[201~".to_vec()
            }]
        );
    }

    fn mouse(kind: MouseEventKind, x: u16, y: u16) -> MouseEvent {
        MouseEvent {
            kind,
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        }
    }

    #[test]
    fn mouse_clicks_focus_switch_tabs_and_drag_dividers() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(update(1, 48, 26, true, vec![(0, "hello world")]));
        app.on_server(update(2, 48, 26, true, vec![]));
        reqs(&mut app);
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 70, 10));
        app.on_mouse(mouse(MouseEventKind::Up(MouseButton::Left), 70, 10));
        assert_eq!(app.active_pane(), Some(PaneId(2)));
        assert_eq!(reqs(&mut app), vec![Request::Focus { pane: PaneId(2) }]);

        // Drag the divider (x = 49/50) to x = 60; the PTYs are resized on release only.
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 50, 10));
        app.on_mouse(mouse(MouseEventKind::Drag(MouseButton::Left), 55, 10));
        app.on_mouse(mouse(MouseEventKind::Drag(MouseButton::Left), 60, 10));
        assert_eq!(reqs(&mut app), vec![]);
        assert_eq!(
            app.geometry().rect_of(PaneId(1)).map(|r| r.w),
            Some(60),
            "drawn at the new size"
        );
        app.on_mouse(mouse(MouseEventKind::Up(MouseButton::Left), 60, 10));
        let area = Rect::new(0, 1, 100, 28);
        assert_eq!(
            reqs(&mut app),
            vec![
                Request::SetDivider {
                    tab: TabId(1),
                    path: vec![],
                    area,
                    pos: 60
                },
                Request::Resize {
                    pane: PaneId(1),
                    cols: 58,
                    rows: 26
                },
                Request::Resize {
                    pane: PaneId(2),
                    cols: 38,
                    rows: 26
                },
            ]
        );

        // Click the second tab in the tab bar: " 1:main " is 8 wide.
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 9, 0));
        assert_eq!(app.tab, Some(TabId(2)));
    }

    #[test]
    fn drag_select_copies_and_app_mouse_gets_forwarded() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(update(1, 48, 26, true, vec![(0, "hello world")]));
        reqs(&mut app);
        // Inner area of pane 1 starts at (1, 2).
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 7, 2));
        app.on_mouse(mouse(MouseEventKind::Drag(MouseButton::Left), 11, 2));
        assert_eq!(app.selection.map(|s| s.head), Some((10, 0)));
        app.on_mouse(mouse(MouseEventKind::Up(MouseButton::Left), 11, 2));
        assert_eq!(app.clipboard, vec!["world".to_string()]);

        if let ServerMsg::PaneUpdate(mut u) = update(1, 48, 26, true, vec![]) {
            u.modes = modes::MOUSE_CLICK | modes::MOUSE_SGR;
            app.on_server(ServerMsg::PaneUpdate(u));
        }
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 7, 2));
        app.on_mouse(mouse(MouseEventKind::Up(MouseButton::Left), 7, 2));
        app.on_mouse(mouse(MouseEventKind::ScrollUp, 7, 2));
        assert_eq!(
            reqs(&mut app),
            vec![
                Request::Input {
                    pane: PaneId(1),
                    data: b"\x1b[<0;7;1M".to_vec()
                },
                Request::Input {
                    pane: PaneId(1),
                    data: b"\x1b[<0;7;1m".to_vec()
                },
                Request::Input {
                    pane: PaneId(1),
                    data: b"\x1b[<64;7;1M".to_vec()
                },
            ]
        );
    }

    #[test]
    fn wheel_enters_scrollback_and_leaves_at_the_bottom() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_server(update(1, 48, 26, true, vec![(0, "$ ls")]));
        reqs(&mut app);
        app.on_mouse(mouse(MouseEventKind::ScrollUp, 10, 10));
        let out = app.take_outbox();
        assert_eq!(
            out.last().map(|o| &o.pending),
            Some(&Pending::Scrollback(PaneId(1)))
        );
        app.register(5, Pending::Scrollback(PaneId(1)));
        let hist: Vec<Line> = (0..5).map(|i| Line::plain(&format!("old {i}"))).collect();
        app.on_server(ServerMsg::Reply {
            id: 5,
            result: Ok(Reply::Scrollback {
                lines: hist,
                total: 5,
            }),
        });
        match &app.mode {
            Mode::Scroll(sb) => assert_eq!(sb.offset_from_bottom(), 3),
            other => panic!("expected scrollback, got {other:?}"),
        }
        for _ in 0..2 {
            app.on_mouse(mouse(MouseEventKind::ScrollDown, 10, 10));
        }
        assert!(matches!(app.mode, Mode::Normal));
    }

    fn pane_types_reply(app: &mut App, types: Vec<PaneTypeInfo>) {
        let out = app.take_outbox();
        assert!(
            out.iter().any(|o| o.pending == Pending::PaneTypes),
            "{out:?}"
        );
        app.register(40, Pending::PaneTypes);
        app.on_server(ServerMsg::Reply {
            id: 40,
            result: Ok(Reply::PaneTypes(types)),
        });
    }

    fn types_with_agent() -> Vec<PaneTypeInfo> {
        let mut t = crate::tui::picker::sample_types();
        t.push(crate::tui::setup::sample_agent());
        t
    }

    #[test]
    fn picker_opens_plain_types_at_once_and_explains_missing_ones() {
        let mut app = app_with(two_tabs(), (100, 30));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        // Terminal is selected first and has no choices: Enter splits at once.
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        let out = app.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].pending, Pending::Created);
        assert!(matches!(
            &out[0].req,
            Request::Split { pane: PaneId(1), spawn, .. } if spawn.kind.as_deref() == Some("terminal")
        ));
        assert!(matches!(app.mode, Mode::Normal));

        // Codex is not installed: Enter says why, and nothing is sent.
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        for _ in 0..3 {
            app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        }
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        match &app.mode {
            Mode::Picker(p) => assert!(p.notice.as_deref().is_some_and(|n| n.contains("codex"))),
            other => panic!("expected the picker, got {other:?}"),
        }
        assert_eq!(reqs(&mut app), vec![]);
    }

    #[test]
    fn a_fresh_first_daemon_gets_its_shell_whatever_tab_shows_first() {
        let mut app = app_with(WorkspaceInfo::default(), (100, 30));
        let out = app.take_outbox();
        assert!(
            matches!(
                out.as_slice(),
                [Out {
                    req: Request::NewTab { .. },
                    daemon: Some(0),
                    ..
                }]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn picker_opens_a_new_tab_on_another_daemon_with_its_own_types() {
        let mut app = app_with(two_tabs(), (100, 30));
        // Tab 1 lives here, tab 2 on "box" (`quil --also box`).
        app.daemons = vec!["local".into(), "box".into()];
        app.tab_domains = [
            (TabId(1), (0, "local".to_string())),
            (TabId(2), (1, "box".to_string())),
        ]
        .into();
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        // Tab: split, side by side, top/bottom, new tab (here), then a new tab on box.
        for _ in 0..3 {
            app.on_key(key(KeyCode::Tab, KeyModifiers::NONE));
            assert_eq!(reqs(&mut app), vec![]);
        }
        app.on_key(key(KeyCode::Tab, KeyModifiers::NONE));
        let Mode::Picker(p) = &app.mode else {
            panic!("expected the picker, got {:?}", app.mode);
        };
        assert_eq!(p.target.label(), "new tab on box");
        assert!(p.types.is_none(), "this daemon's types are not box's");
        // Box's types, asked of box, on box's own PATH.
        let out = app.take_outbox();
        assert!(
            matches!(
                out.as_slice(),
                [Out {
                    req: Request::PaneTypes { path: None },
                    pending: Pending::DaemonTypes(1),
                    daemon: Some(1)
                }]
            ),
            "{out:?}"
        );
        // A late answer from this daemon is not box's.
        app.register(41, Pending::PaneTypes);
        app.on_server(ServerMsg::Reply {
            id: 41,
            result: Ok(Reply::PaneTypes(types_with_agent())),
        });
        assert!(matches!(&app.mode, Mode::Picker(p) if p.types.is_none()));
        app.register(42, Pending::DaemonTypes(1));
        app.on_server(ServerMsg::Reply {
            id: 42,
            result: Ok(Reply::PaneTypes(crate::tui::picker::sample_types())),
        });
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        let out = app.take_outbox();
        match out.as_slice() {
            [Out {
                req: Request::NewTab { spawn, .. },
                daemon: Some(1),
                ..
            }] => assert_eq!(spawn.cwd, None, "this tab's directory is not box's"),
            other => panic!("expected a new tab on box: {other:?}"),
        }
        // Tab once more comes back to splitting here, with this daemon's types.
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        for _ in 0..5 {
            app.on_key(key(KeyCode::Tab, KeyModifiers::NONE));
        }
        let Mode::Picker(p) = &app.mode else {
            panic!("expected the picker");
        };
        assert_eq!(p.target, Target::Split);
        assert!(p.types.is_some());
        assert!(app
            .take_outbox()
            .iter()
            .any(|o| o.pending == Pending::PaneTypes && o.daemon.is_none()));
    }

    #[test]
    fn form_sends_the_choices_and_stays_open_on_errors() {
        let mut app = app_with(two_tabs(), (100, 30));
        app.recent_dirs = vec!["/srv/app".into()];
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        // Terminal, Claude Code (sample), Claude Code (agent): the agent sorts after.
        app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Char('t'), KeyModifiers::NONE));
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        let Mode::Setup(s) = &app.mode else {
            panic!("expected the form, got {:?}", app.mode);
        };
        assert_eq!(s.ty.name, "claude-code");
        assert_eq!(s.dir.as_deref(), Some("/home/me/src/quil"));
        assert_eq!(
            s.recent,
            ["/srv/app", "/home/me/src/quil"],
            "history, then panes"
        );
        for c in "me@host".chars() {
            app.on_key(key(KeyCode::Char(c), KeyModifiers::NONE));
        }
        app.on_paste("\n".into());
        // Up twice: the first recent directory; Enter there opens in it.
        app.on_key(key(KeyCode::Up, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Up, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        let out = app.take_outbox();
        let Some(Out {
            req: Request::NewTab { spawn, .. },
            pending,
            ..
        }) = out.first()
        else {
            panic!("expected a new tab: {out:?}");
        };
        assert_eq!(spawn.cwd.as_deref(), Some("/srv/app"));
        assert_eq!(
            spawn.fields,
            [("target".to_string(), "me@host".to_string())]
        );
        assert_eq!(
            *pending,
            Pending::FormCreated {
                dir: Some("/srv/app".into())
            }
        );
        assert!(matches!(&app.mode, Mode::Setup(s) if s.busy));
        // The daemon refuses: the form shows why and can be sent again.
        app.register(41, pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 41,
            result: Err(quil_proto::ErrorReply::new(
                quil_proto::ErrorKind::Failed,
                "/srv/app is not in a git repository",
            )),
        });
        match &app.mode {
            Mode::Setup(s) => {
                assert!(!s.busy);
                assert_eq!(
                    s.error.as_deref(),
                    Some("/srv/app is not in a git repository")
                );
            }
            other => panic!("expected the form, got {other:?}"),
        }
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        let out = app.take_outbox();
        app.register(42, out[0].pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 42,
            result: Ok(Reply::Pane(PaneId(9))),
        });
        assert!(matches!(app.mode, Mode::Normal));
        assert_eq!(app.recent_record, ["/srv/app"]);
    }

    #[test]
    fn w_in_the_picker_asks_for_a_worktree() {
        let mut app = app_with(two_tabs(), (100, 30));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('n'), KeyModifiers::CONTROL));
        pane_types_reply(&mut app, types_with_agent());
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::NONE));
        let Mode::Setup(s) = &app.mode else {
            panic!("expected the form, got {:?}", app.mode);
        };
        assert!(
            s.worktree && s.dir.is_some(),
            "terminal with a directory row"
        );
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(matches!(
            reqs(&mut app).as_slice(),
            [Request::Split { spawn, .. }] if spawn.worktree && spawn.cwd.as_deref() == Some("/home/me/src/quil")
        ));
    }

    fn worktree_ws() -> WorkspaceInfo {
        let mut ws = two_tabs();
        ws.panes[0].worktree = Some(crate::tui::dialog::sample_worktree());
        ws
    }

    #[test]
    fn closing_a_worktree_pane_asks_keep_discard_or_leave() {
        let mut app = app_with(worktree_ws(), (100, 30));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        let out = app.take_outbox();
        assert_eq!(
            out[0].req,
            Request::Worktree {
                pane: PaneId(1),
                op: WorktreeOp::Diff { stat: true }
            }
        );
        app.register(50, out[0].pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 50,
            result: Ok(Reply::Text(vec![" a.txt | 1 +".into()])),
        });
        assert!(
            matches!(&app.mode, Mode::CloseWorktree(d) if d.stat == Some(Ok(vec![" a.txt | 1 +".into()])))
        );

        // Keep fails with git's reason: the dialog and the pane stay.
        app.on_key(key(KeyCode::Char('k'), KeyModifiers::NONE));
        let out = app.take_outbox();
        assert_eq!(
            out[0].req,
            Request::Worktree {
                pane: PaneId(1),
                op: WorktreeOp::Keep
            }
        );
        app.register(51, out[0].pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 51,
            result: Err(quil_proto::ErrorReply::new(
                quil_proto::ErrorKind::Failed,
                "error: patch failed: a.txt:1",
            )),
        });
        match &app.mode {
            Mode::CloseWorktree(d) => {
                assert_eq!(d.busy, None);
                assert_eq!(d.error.as_deref(), Some("error: patch failed: a.txt:1"));
            }
            other => panic!("expected the dialog, got {other:?}"),
        }

        // Discard: the pane goes away, and so does the dialog.
        app.on_key(key(KeyCode::Char('d'), KeyModifiers::NONE));
        assert_eq!(
            reqs(&mut app),
            vec![Request::Worktree {
                pane: PaneId(1),
                op: WorktreeOp::Discard
            }]
        );
        let mut ws = two_tabs();
        ws.tabs[0] = tab(1, "main", Layout::Pane(PaneId(2)));
        ws.panes.remove(0);
        app.on_server(ServerMsg::Workspace(ws));
        assert!(matches!(app.mode, Mode::Normal));

        // Leave: a plain close; the worktree stays on disk.
        let mut app = app_with(worktree_ws(), (100, 30));
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('l'), KeyModifiers::NONE));
        let r = reqs(&mut app);
        assert_eq!(r.last(), Some(&Request::KillPane { pane: PaneId(1) }));
        assert!(app
            .status
            .as_ref()
            .is_some_and(|s| s.text.contains(".worktrees/claude-code")));
        // Cancel sends nothing more.
        app.on_key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        reqs(&mut app);
        app.on_key(key(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![]);
        assert!(matches!(app.mode, Mode::Normal));
    }

    #[test]
    fn tmux_close_asks_about_the_worktree_too() {
        let cfg = Config::parse(
            "[keys]\npreset = \"tmux\"\n",
            std::path::Path::new("c.toml"),
        )
        .expect("config");
        let mut app = App::new(cfg.keys, false, (100, 30));
        app.on_server(ServerMsg::Workspace(worktree_ws()));
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::CloseWorktree(_)));
    }

    #[test]
    fn dead_panes_restart_with_r_and_restored_tags_end_with_typing() {
        let mut ws = two_tabs();
        ws.panes[0].alive = false;
        ws.panes[0].error = Some("cannot start claude: not found".into());
        ws.panes[1].restored = true;
        let mut app = app_with(ws, (100, 30));
        reqs(&mut app);
        app.on_key(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![]);
        assert!(app
            .status
            .as_ref()
            .is_some_and(|s| s.text.contains("could not start; r restarts it")));
        app.on_key(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![Request::Respawn { pane: PaneId(1) }]);
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![Request::Respawn { pane: PaneId(1) }]);

        assert!(!app.touched.contains(&PaneId(2)));
        app.focus(PaneId(2));
        app.on_key(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert!(app.touched.contains(&PaneId(2)));
    }

    #[test]
    fn tab_marks_put_errors_first() {
        let mut ws = two_tabs();
        ws.panes[0].state = Some(Attention::Waiting);
        ws.panes[1].error = Some("boom".into());
        ws.panes[2].state = Some(Attention::Done);
        let mut app = app_with(ws, (100, 30));
        assert_eq!(app.tab_labels(), [" 1:main ✗ ", " 2:logs ✓ "]);
        // `quil -r box`: every tab says where it lives.
        app.sole_remote = Some("box".into());
        assert_eq!(app.tab_labels(), [" 1:main@box ✗ ", " 2:logs@box ✓ "]);
    }

    /// Alt+Shift+letter as a legacy terminal reports it (ESC + capital).
    fn alt_shift(c: char) -> KeyEvent {
        key(
            KeyCode::Char(c.to_ascii_uppercase()),
            KeyModifiers::ALT | KeyModifiers::SHIFT,
        )
    }

    fn agents_app() -> App {
        let mut app = app_with(agents_ws(), (100, 30));
        app.clock = || AGENTS_NOW;
        app
    }

    #[test]
    fn agents_view_lists_states_newest_waiting_first() {
        let mut app = agents_app();
        // Only panes this client views have a screen: their last line is shown, no others.
        app.on_server(update(
            2,
            48,
            26,
            true,
            vec![(0, "Run ls?"), (1, "  1. Yes  "), (2, "   ")],
        ));
        let rows = app.agent_rows();
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.pane.0,
                    r.state,
                    r.age.as_str(),
                    r.tab.as_str(),
                    r.name.as_str(),
                    r.detail.as_str(),
                    r.last.as_deref(),
                )
            })
            .collect();
        use Attention::*;
        assert_eq!(
            got,
            [
                (
                    2,
                    Waiting,
                    "10s",
                    "main",
                    "claude",
                    "permission: Bash",
                    Some("1. Yes")
                ),
                (3, Waiting, "16m", "logs", "opencode", "question", None),
                (
                    4,
                    Error,
                    "8m",
                    "build",
                    "codex",
                    "rate limited",
                    Some("stream error: 429 Too Many Requests")
                ),
                (5, Done, "1m", "build", "review", "", None),
                (6, Working, "1s", "bg", "tests", "", None),
                (7, Idle, "1h", "bg", "notes", "", None),
            ]
        );
        app.on_key(alt_shift('i'));
        assert!(
            matches!(&app.mode, Mode::Agents(v) if v.selected == Some(PaneId(2))),
            "starts on the most urgent: {:?}",
            app.mode
        );
        assert!(app.next_deadline().is_some(), "ages are redrawn");
        // Esc closes; its own key closes it too.
        app.on_key(key(KeyCode::Esc, KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Normal));
        app.on_key(alt_shift('i'));
        app.on_key(alt_shift('i'));
        assert!(matches!(app.mode, Mode::Normal));
    }

    #[test]
    fn enter_in_the_agents_view_goes_to_the_pane() {
        let mut app = agents_app();
        reqs(&mut app);
        app.on_key(alt_shift('i'));
        // Down, j, k, Down: the third row (codex, the active pane of tab 3).
        for c in [
            KeyCode::Down,
            KeyCode::Char('j'),
            KeyCode::Char('k'),
            KeyCode::Down,
        ] {
            app.on_key(key(c, KeyModifiers::NONE));
        }
        assert_eq!(reqs(&mut app), vec![], "moving sends nothing");
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Normal));
        assert_eq!(app.tab, Some(TabId(3)));
        assert_eq!(app.active_pane(), Some(PaneId(4)));
        let r = reqs(&mut app);
        assert!(
            r.contains(&Request::View {
                panes: vec![PaneId(4), PaneId(5)]
            }),
            "{r:?}"
        );
        assert!(r.contains(&Request::Focus { pane: PaneId(4) }), "{r:?}");

        // A pane that is not its tab's active one is focused there (review, in tab 3).
        app.on_key(alt_shift('i'));
        for _ in 0..3 {
            app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        }
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.active_pane(), Some(PaneId(5)));
        assert_eq!(
            reqs(&mut app)
                .into_iter()
                .filter(|q| matches!(q, Request::Focus { .. }))
                .collect::<Vec<_>>(),
            [Request::Focus { pane: PaneId(5) }]
        );

        // Up from the first row wraps to the last: notes, in tab 4.
        app.on_key(alt_shift('i'));
        app.on_key(key(KeyCode::Up, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(
            (app.tab, app.active_pane()),
            (Some(TabId(4)), Some(PaneId(7)))
        );
    }

    #[test]
    fn agents_view_selection_follows_its_pane() {
        let mut app = agents_app();
        app.on_key(alt_shift('i'));
        app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        // opencode (second row) is answered: it is working now, and further down the list.
        let mut ws = agents_ws();
        ws.panes[2].state = Some(Attention::Working);
        ws.panes[2].state_since = Some(AGENTS_NOW);
        app.on_server(ServerMsg::Workspace(ws));
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.active_pane(), Some(PaneId(3)));

        // No agents: the view is empty and Enter does nothing.
        let mut app = app_with(two_tabs(), (100, 30));
        app.on_key(alt_shift('i'));
        assert!(app.agent_rows().is_empty());
        reqs(&mut app);
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(reqs(&mut app), vec![]);
    }

    #[test]
    fn next_waiting_goes_to_the_longest_waiting_then_errors_then_done() {
        let mut app = agents_app();
        reqs(&mut app);
        app.on_key(alt_shift('j'));
        // opencode has waited 16m, claude 10s.
        assert_eq!(
            (app.tab, app.active_pane()),
            (Some(TabId(2)), Some(PaneId(3)))
        );
        assert!(reqs(&mut app).contains(&Request::Focus { pane: PaneId(3) }));

        // Nobody waits: the error; then the finished turn.
        let mut ws = agents_ws();
        for p in &mut ws.panes[1..3] {
            p.state = Some(Attention::Working);
        }
        app.on_server(ServerMsg::Workspace(ws.clone()));
        app.on_key(alt_shift('j'));
        assert_eq!(app.active_pane(), Some(PaneId(4)));
        ws.panes[3].state = Some(Attention::Idle);
        app.on_server(ServerMsg::Workspace(ws.clone()));
        app.on_key(alt_shift('j'));
        assert_eq!(app.active_pane(), Some(PaneId(5)));

        // Nothing needs you: say so, go nowhere.
        ws.panes[4].state = Some(Attention::Idle);
        app.on_server(ServerMsg::Workspace(ws));
        reqs(&mut app);
        app.on_key(alt_shift('j'));
        assert_eq!(reqs(&mut app), vec![]);
        assert!(app
            .status
            .as_ref()
            .is_some_and(|s| s.text == "no pane is waiting, in error or done" && !s.error));
    }

    #[test]
    fn tmux_prefix_a_and_shift_n() {
        let cfg = Config::parse(
            "[keys]\npreset = \"tmux\"\n",
            std::path::Path::new("c.toml"),
        )
        .expect("config");
        let mut app = App::new(cfg.keys, false, (100, 30));
        app.clock = || AGENTS_NOW;
        app.on_server(ServerMsg::Workspace(agents_ws()));
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('a'), KeyModifiers::NONE));
        assert!(matches!(app.mode, Mode::Agents(_)));
        app.on_key(key(KeyCode::Esc, KeyModifiers::NONE));
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('N'), KeyModifiers::SHIFT));
        assert_eq!(app.active_pane(), Some(PaneId(3)));
    }
}
