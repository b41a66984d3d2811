//! Panes: a process (or none) and its terminal state, behind one trait.
//!
//! [`Pane`] is the seam the rest of the daemon sees, in the role wezterm's `Pane` trait plays:
//! the workspace logic holds `Arc<dyn Pane>` and never knows whether a PTY is behind it. The
//! terminal side ([`PaneShared`]: the emulator, the versioned screen snapshot, liveness and
//! input flags) is the same code for every pane; only the process side differs:
//!
//! - [`pty`]: a real process on a PTY, started by [`PtySpawner`];
//! - [`Placeholder`]: a pane whose command could not start; it shows why and waits for
//!   `quil respawn`;
//! - `fake` (tests): an in-memory pane whose output a test feeds and whose input it reads, so
//!   workspace operations are tested without processes.
//!
//! Clients never see the raw byte stream: [`Pane::update_since`] turns the terminal's screen
//! into versioned rows, so each client gets exactly the rows changed since the version it has.

#[cfg(test)]
pub mod fake;
pub mod pty;

pub use pty::PtySpawner;

use crate::journal::{self, Journal, SnapError, Snapshotter};
use crate::persist::{JournalMark, SavedBuffer};
use quil_proto::{Line, PaneId, PaneUpdate};
use quil_term::Terminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant};

/// Input bytes a pane may have queued before further input is refused.
pub const MAX_QUEUED_INPUT: usize = 1024 * 1024;
/// A write stuck this long means the program is not reading its input.
pub const INPUT_STALL: Duration = Duration::from_millis(1000);
/// Between a prompt's text and its Enter: long enough for an agent's TUI to take the text.
pub const PROMPT_PAUSE: Duration = Duration::from_millis(300);

/// Signals from panes to the server.
pub trait PaneEvents: Send + Sync + 'static {
    /// The screen changed (called once per clean→dirty transition).
    fn screen_dirty(&self);
    /// The program printed (called on every read, so it must be cheap).
    fn output(&self) {}
    /// Title, cwd, input state or liveness changed.
    fn meta_changed(&self);
    /// The pane's process exited with this status.
    fn exited(&self, pane: PaneId, status: i32);
    /// The program asked to set the clipboard (OSC 52).
    fn clipboard(&self, text: String);
    /// The program rang the bell (at most once per [`BELL_EVERY`] per pane).
    fn bell(&self, pane: PaneId);
    /// The program asked for a desktop notification (OSC 9 / 777 / 99), as (title, body); at
    /// most once per [`BELL_EVERY`] per pane.
    fn notification(&self, pane: PaneId, title: String, body: String);
    /// The pane's output cannot be saved, and why (`None`: it is saved again).
    fn persist_failed(&self, pane: PaneId, why: Option<String>);
}

/// A pane's bells (and notifications) pass on at most this often, however many it sends.
pub const BELL_EVERY: Duration = Duration::from_secs(1);

/// Why a pane refused input or a resize.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaneError {
    #[error("pane {0} has no process; retry with `quil respawn --pane {0}`")]
    NoProcess(PaneId),
    #[error("pane {0} has exited")]
    Exited(PaneId),
    #[error("pane {0} is not accepting input (its input queue is full)")]
    Full(PaneId),
    #[error("cannot resize pane {0}: {1}")]
    Resize(PaneId, String),
}

/// A capture over its byte budget ([`PaneShared::capture`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// How many lines of history (above the screen) would have fitted.
    pub history_lines: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start {program}: {reason}")]
    Start { program: String, reason: String },
    #[error("cannot open a pty: {0}")]
    Pty(String),
    /// A running process could not be taken over from its holder.
    #[error("cannot take over the running process: {0}")]
    Adopt(String),
}

/// Everything needed to start a pane's process.
#[derive(Debug, Clone)]
pub struct SpawnArgs {
    pub id: PaneId,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub cols: u16,
    pub rows: u16,
    pub scrollback_bytes: usize,
    /// Shown before the process starts: restored content.
    pub preamble: crate::restore::Preamble,
    /// Where the pane's content is saved (`None`: it is not).
    pub persist: Option<Persist>,
}

/// Where and how a pane's content is saved: its snapshot and its output journal.
#[derive(Debug, Clone)]
pub struct Persist {
    pub home: PathBuf,
    /// `persist_scrollback_bytes`: the most a snapshot keeps.
    pub budget: usize,
    /// Arbitrates the pane's files between its instances.
    pub slot: Arc<journal::Slot>,
    pub fsync_every: Duration,
    /// Journal bytes past which a snapshot supersedes it.
    pub bound: u64,
}

/// Starts panes: the one place the daemon creates processes.
pub trait Spawner: Send + Sync {
    fn spawn(
        &self,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError>;
    /// Takes over the process still running under the holder `name` (after a restart):
    /// `args` say how the pane is shown, not what runs.
    fn adopt(
        &self,
        name: &str,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        let _ = (args, events);
        Err(SpawnError::Adopt(format!("no holder {name} here")))
    }
}

/// A pane, whatever runs in it.
pub trait Pane: Send + Sync {
    fn id(&self) -> PaneId;
    /// The terminal state and flags shared with the pane's output reader.
    fn shared(&self) -> &PaneShared;
    /// Exactly what the process was started with.
    fn argv(&self) -> &[String];
    fn pid(&self) -> Option<u32>;
    fn started(&self) -> Instant;
    /// Why the command could not start (the pane waits for `quil respawn`).
    fn error(&self) -> Option<&str> {
        None
    }
    /// The holder keeping the process through daemon restarts, if any ([`crate::holder`]).
    fn holder(&self) -> Option<&str> {
        None
    }
    /// Queues input; order is preserved. Refused when the queue is full.
    fn write_input(&self, data: Vec<u8>) -> Result<(), PaneError>;
    /// Writes `parts` in order, pausing after each as long as it says, with no other input
    /// between them (a prompt: its text, a pause for the program to take it, then Enter).
    fn write_parts(&self, parts: Vec<(Vec<u8>, Duration)>) -> Result<(), PaneError> {
        for (data, _) in parts {
            self.write_input(data)?;
        }
        Ok(())
    }
    /// Tells the process its terminal has a new size.
    fn resize_process(&self, cols: u16, rows: u16) -> Result<(), PaneError>;
    /// Asks the process to end (SIGHUP to its process group).
    fn hangup(&self);
    fn force_kill(&self);

    /// Resizes the terminal (and then the process); clamps to sane bounds.
    fn resize(&self, cols: u16, rows: u16) -> Result<(), PaneError> {
        let (cols, rows) = (cols.clamp(2, 1000), rows.clamp(1, 500));
        if self.shared().resize(cols, rows) {
            self.resize_process(cols, rows)?;
        }
        Ok(())
    }
    fn is_alive(&self) -> bool {
        self.shared().alive.load(Ordering::SeqCst)
    }
    fn exit_status(&self) -> Option<i32> {
        *self
            .shared()
            .exit_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
    fn output_gen(&self) -> u64 {
        self.shared().output_gen.load(Ordering::Relaxed)
    }
    /// Types `text` as a prompt: a bracketed paste when the program asked for one (with any
    /// paste terminator inside taken out), then Enter on its own after a pause, because agent
    /// TUIs take text and a carriage return written together as a paste and do not submit it.
    fn prompt(&self, text: &str) -> Result<(), PaneError> {
        let text = text.replace("\x1b[201~", "");
        let paste = self.shared().modes() & quil_proto::modes::BRACKETED_PASTE != 0;
        let body = if paste {
            format!("\x1b[200~{text}\x1b[201~")
        } else {
            text
        };
        self.write_parts(vec![
            (body.into_bytes(), PROMPT_PAUSE),
            (b"\r".to_vec(), Duration::ZERO),
        ])
    }
    /// Screen rows changed since `since` (0 = never sent: full), or `None` when the client
    /// is current.
    fn update_since(&self, since: u64) -> Option<PaneUpdate> {
        self.shared().update_since(self.id(), since)
    }
}

/// The next pane instance's version base, in units of 2^32 versions.
static NEXT_BASE: AtomicU64 = AtomicU64::new(0);

/// Screen rows as last sent, with the version at which each row last changed.
struct Snapshot {
    lines: Vec<Line>,
    row_version: Vec<u64>,
    version: u64,
    /// Version at which the size changed; a client older than this gets a full update.
    full_version: u64,
    cursor: quil_proto::Cursor,
    modes: u32,
    title: String,
}

pub struct TermState {
    pub term: Terminal,
    snap: Snapshot,
}

/// What [`PaneShared::feed`] leaves its caller to do.
pub struct Fed {
    /// The replies the emulator owes the program (cursor position reports and the like),
    /// which go back the same ordered way as keystrokes.
    pub replies: Vec<u8>,
    /// The journals' clock, when this output armed it (see [`journal::Tick`]).
    pub tick: Option<journal::Tick>,
}

/// A pane's terminal side: the same for every kind of pane.
pub struct PaneShared {
    state: Mutex<TermState>,
    dirty: AtomicBool,
    pub alive: AtomicBool,
    pub exit_status: Mutex<Option<i32>>,
    queued_input: AtomicUsize,
    /// Millis since `epoch` at which the current PTY write began; 0 when idle.
    write_started: AtomicU64,
    epoch: Instant,
    pub input_blocked: AtomicBool,
    /// Bumped on every read of output; the snapshot saver compares it to what it saved.
    pub output_gen: AtomicU64,
    /// Millis since `epoch` of the last bell passed on; 0 for never.
    last_bell: AtomicU64,
    /// The same for desktop notifications.
    last_note: AtomicU64,
    /// Where output is journaled, once started ([`PaneShared::start_journal`]).
    journal: OnceLock<Arc<Journal>>,
}

impl Drop for PaneShared {
    fn drop(&mut self) {
        if let Some(j) = self.journal.get() {
            j.close();
        }
    }
}

impl PaneShared {
    /// A terminal of this size that shows `preamble` (restored content).
    pub fn new(
        cols: u16,
        rows: u16,
        scrollback_bytes: usize,
        preamble: crate::restore::Preamble,
    ) -> PaneShared {
        let term = preamble.terminal(cols, rows, scrollback_bytes);
        let rows = term.size().1 as usize;
        // Each pane instance counts from a base above every earlier one's: when a pane is
        // replaced in place (a restore, a lazy start, a respawn), a client holding the old
        // one's version gets the new screen whole.
        let base = (NEXT_BASE.fetch_add(1, Ordering::Relaxed) << 32) + 1;
        let snap = Snapshot {
            lines: vec![Line::default(); rows],
            row_version: vec![0; rows],
            version: base,
            full_version: base,
            cursor: Default::default(),
            modes: 0,
            title: String::new(),
        };
        PaneShared {
            state: Mutex::new(TermState { term, snap }),
            dirty: AtomicBool::new(true),
            alive: AtomicBool::new(true),
            exit_status: Mutex::new(None),
            queued_input: AtomicUsize::new(0),
            write_started: AtomicU64::new(0),
            epoch: Instant::now(),
            input_blocked: AtomicBool::new(false),
            output_gen: AtomicU64::new(1),
            last_bell: AtomicU64::new(0),
            last_note: AtomicU64::new(0),
            journal: OnceLock::new(),
        }
    }

    /// A pane's terminal of this size showing `preamble`, journaling its output from now on
    /// when `args` say its content is saved.
    pub fn for_pane(
        cols: u16,
        rows: u16,
        args: &SpawnArgs,
        preamble: crate::restore::Preamble,
        events: Arc<dyn PaneEvents>,
    ) -> Arc<PaneShared> {
        // What the instance begins with, for its first journal: encoded before the terminal
        // takes it, which costs no pass over the terminal.
        let start = args.persist.as_ref().and_then(|_| {
            crate::persist::encode_start((cols, rows), &preamble.history, &preamble.bytes).ok()
        });
        let shared = Arc::new(PaneShared::new(cols, rows, args.scrollback_bytes, preamble));
        if let Some(p) = &args.persist {
            shared.start_journal(args.id, p, start, events);
        }
        shared
    }

    /// Journals this pane's output from now on (its snapshot, written first, holds what the
    /// terminal has so far). When the journals cannot run, the pane is saved the old way, by
    /// the periodic save.
    fn start_journal(
        self: &Arc<Self>,
        pane: PaneId,
        persist: &Persist,
        start: Option<Vec<u8>>,
        events: Arc<dyn PaneEvents>,
    ) {
        let gen = persist.slot.register();
        let spec = journal::Spec {
            path: crate::persist::journal_path(&persist.home, pane),
            slot: persist.slot.clone(),
            gen,
            fsync_every: persist.fsync_every,
            bound: persist.bound,
            soft: persist.budget as u64,
            name: pane.to_string(),
        };
        let snap = Arc::new(PaneSnapshots {
            pane: Arc::downgrade(self),
            id: pane,
            home: persist.home.clone(),
            budget: persist.budget,
            slot: persist.slot.clone(),
            gen,
        });
        let report = Box::new(move |why| events.persist_failed(pane, why));
        let j = self.journal.get_or_init(Journal::new);
        if let Err(e) = j.start(spec, start, snap, report) {
            tracing::error!(%pane, "cannot start the output journal: {e}");
        }
    }

    /// Whether output is journaled (and the journal's writer saves the pane's snapshots).
    pub fn journaled(&self) -> bool {
        self.journal.get().is_some_and(|j| !j.is_closed())
    }

    /// A clean stop: the journal records nothing more, and puts what it has on disk. See
    /// [`PaneShared::wait_journal`].
    pub fn finish_journal(&self) {
        if let Some(j) = self.journal.get() {
            j.begin_finish();
        }
    }

    /// Waits (until `deadline`) for a finish asked for; why it failed, if it did.
    pub fn wait_journal(&self, deadline: Instant) -> Result<(), String> {
        match self.journal.get() {
            Some(j) => j.wait_finished(deadline),
            None => Ok(()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, TermState> {
        // A panic while holding the lock must not take the whole daemon down with poison.
        match self.state.try_lock() {
            Ok(st) => st,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            // Held, maybe for long (a capture of a long history, a resize that reflows it): a
            // worker that waited on it would hold up every task queued behind it, other panes'
            // output included, and output read late is output a kill -9 may lose. So it
            // waits off its core.
            Err(TryLockError::WouldBlock) => {
                crate::blocking(|| self.state.lock().unwrap_or_else(|e| e.into_inner()))
            }
        }
    }

    /// Feeds one read of output to the terminal and tells whoever needs to know.
    pub fn feed(&self, pane: PaneId, bytes: &[u8], events: &dyn PaneEvents) -> Fed {
        let (responses, tick, clip, meta, bell, notes) = {
            let mut st = self.lock();
            st.term.feed(bytes);
            // Under the terminal's lock: a snapshot's position in the journal matches its state.
            let tick = self.journal.get().and_then(|j| j.push(bytes));
            let meta = st.term.take_meta_changed();
            let bell = st.term.take_bell();
            let notes = st.term.take_notifications();
            let clip = st.term.take_clipboard();
            (st.term.take_responses(), tick, clip, meta, bell, notes)
        };
        if bell && self.may_pass_on(&self.last_bell) {
            events.bell(pane);
        }
        // The newest of a burst is the one worth showing.
        if let Some((title, body)) = notes.into_iter().last() {
            if self.may_pass_on(&self.last_note) {
                events.notification(pane, title, body);
            }
        }
        if let Some(text) = clip {
            events.clipboard(text);
        }
        if meta {
            events.meta_changed();
        }
        self.output_gen.fetch_add(1, Ordering::Relaxed);
        events.output();
        if !self.dirty.swap(true, Ordering::SeqCst) {
            events.screen_dirty();
        }
        Fed {
            replies: responses,
            tick,
        }
    }

    /// Whether something last passed on at `last` may pass on again now ([`BELL_EVERY`]); if
    /// so, notes the time.
    fn may_pass_on(&self, last: &AtomicU64) -> bool {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        let then = last.load(Ordering::Relaxed);
        if then != 0 && now.saturating_sub(then) < BELL_EVERY.as_millis() as u64 {
            return false;
        }
        last.store(now, Ordering::Relaxed);
        true
    }

    /// The process ended with `status`.
    pub fn set_exited(&self, status: i32) {
        *self.exit_status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        self.alive.store(false, Ordering::SeqCst);
    }

    /// Resizes the terminal; true when the size changed.
    pub(crate) fn resize(&self, cols: u16, rows: u16) -> bool {
        {
            let mut st = self.lock();
            if st.term.size() == (cols, rows) {
                return false;
            }
            st.term.resize(cols, rows);
            if let Some(j) = self.journal.get() {
                j.resized(cols, rows);
            }
            st.snap.version += 1;
            st.snap.full_version = st.snap.version;
            st.snap.lines = vec![Line::default(); rows as usize];
            st.snap.row_version = vec![st.snap.version; rows as usize];
        }
        self.dirty.store(true, Ordering::SeqCst);
        true
    }

    pub fn size(&self) -> (u16, u16) {
        self.lock().term.size()
    }

    /// Whether the periodic checks still have something to watch here: input the program has
    /// not taken (or was blocked on), or a synchronized update that may time out.
    pub fn needs_checks(&self) -> bool {
        self.write_started.load(Ordering::SeqCst) != 0
            || self.input_blocked.load(Ordering::SeqCst)
            || self.lock().term.sync_pending()
    }

    /// Re-evaluates whether the program is reading its input; true if the state flipped.
    pub fn check_input_stall(&self) -> bool {
        let started = self.write_started.load(Ordering::SeqCst);
        let stalled = started != 0
            && self.epoch.elapsed().as_millis() as u64 - started >= INPUT_STALL.as_millis() as u64;
        let full = self.queued_input.load(Ordering::SeqCst) >= MAX_QUEUED_INPUT / 2;
        let blocked = stalled || full;
        self.input_blocked.swap(blocked, Ordering::SeqCst) != blocked
    }

    /// The pane's content for persisting, oldest first: up to `max_history` history lines,
    /// then the screen down to its last non-blank row. A program on the alternate screen
    /// contributes only the normal-screen history.
    pub fn export_lines(&self, max_history: usize) -> Vec<Line> {
        let st = self.lock();
        let n = st.term.scrollback_len().min(max_history);
        let mut lines = st.term.scrollback(0, n);
        lines.extend(saved_screen(&st.term));
        lines
    }

    /// What a snapshot saves: the newest lines (screen, then history) whose saved form fits in
    /// `max_bytes`, oldest first (what `persist::fit_newest` keeps), with the size, cursor and
    /// the journal position it includes. Lines are decoded newest first and only as far as the
    /// budget reaches, so saving after a flood neither decodes nor holds the whole history (and
    /// the pane's output waits on the lock only that long).
    pub fn export_saved(&self, max_bytes: usize) -> SavedBuffer {
        // Under the lock, only copies: decoding the history line by line is done after it (a
        // flooding pane's took 100-400 ms in a debug build, and its output waited meanwhile).
        let (saved, screen, history) = {
            let st = self.lock();
            let journal = self.journal.get().map(|j| JournalMark {
                epoch: j.epoch(),
                upto: j.position(),
            });
            let screen = saved_screen(&st.term);
            let saved = SavedBuffer {
                journal,
                ..saved_frame(&st.term, screen.len())
            };
            (saved, screen, st.term.history_copy())
        };
        SavedBuffer {
            lines: saved_lines(screen, history.newest_first(), &[], max_bytes),
            ..saved
        }
    }

    /// The cwd the pane's shell last reported (OSC 7), if any.
    pub fn reported_cwd(&self) -> Option<PathBuf> {
        self.lock().term.cwd().map(PathBuf::from)
    }

    /// The visible screen as plain text, one line per row.
    pub fn screen_text(&self) -> String {
        let lines: Vec<String> = self.lock().term.lines().iter().map(|l| l.text()).collect();
        lines.join("\n")
    }

    /// The screen as lines (text, or with SGR when `ansi`), after up to `scrollback` lines of
    /// history. [`TooLarge`] when they would take more than `budget` bytes: the lines are
    /// rendered newest first and given up on at the budget, so an oversized capture costs no
    /// more memory than one that fits, and says how much would have fitted.
    pub fn capture(
        &self,
        scrollback: usize,
        ansi: bool,
        budget: usize,
    ) -> Result<Vec<String>, TooLarge> {
        let st = self.lock();
        let render = |l: &Line| if ansi { l.ansi() } else { l.text() };
        let mut used = 0usize;
        let mut within = |s: &String| {
            // Each line also costs its length prefix in the reply.
            used += s.len() + 8;
            used <= budget
        };
        let mut screen = Vec::new();
        for line in st.term.lines() {
            let s = render(&line);
            if !within(&s) {
                return Err(TooLarge { history_lines: 0 });
            }
            screen.push(s);
        }
        let mut lines = Vec::new();
        for (n, line) in st
            .term
            .scrollback_newest_first()
            .take(scrollback)
            .enumerate()
        {
            let s = render(&line);
            if !within(&s) {
                return Err(TooLarge { history_lines: n });
            }
            lines.push(s);
        }
        lines.reverse();
        lines.extend(screen);
        Ok(lines)
    }

    /// `count` history lines ending `offset` lines above the screen, and the history's length.
    pub fn scrollback(&self, offset: usize, count: usize) -> (Vec<Line>, usize) {
        let st = self.lock();
        (st.term.scrollback(offset, count), st.term.scrollback_len())
    }

    /// Size, title and reported cwd, read under one lock.
    pub fn info(&self) -> (u16, u16, String, Option<String>) {
        let st = self.lock();
        let (c, r) = st.term.size();
        (
            c,
            r,
            st.term.title().to_string(),
            st.term.cwd().map(str::to_string),
        )
    }

    pub fn modes(&self) -> u32 {
        self.lock().term.modes()
    }

    /// Folds pending terminal changes into the versioned snapshot, then returns the rows
    /// changed since `since`.
    fn update_since(&self, pane: PaneId, since: u64) -> Option<PaneUpdate> {
        let mut st = self.lock();
        if self.dirty.swap(false, Ordering::SeqCst) {
            refresh(&mut st);
        }
        let snap = &st.snap;
        if since >= snap.version {
            return None;
        }
        let full = since < snap.full_version;
        let lines = snap
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| full || snap.row_version[*i] > since)
            .map(|(i, l)| (i as u16, l.clone()))
            .collect();
        let (cols, rows) = st.term.size();
        Some(PaneUpdate {
            pane,
            version: snap.version,
            cols,
            rows,
            full,
            lines,
            cursor: snap.cursor,
            modes: snap.modes,
            title: snap.title.clone(),
        })
    }

    /// Packs the screen while the pane is idle ([`quil_term::Terminal::pack`]); whether it is
    /// packed.
    pub fn pack(&self) -> bool {
        self.lock().term.pack()
    }

    /// Ends a timed-out synchronized update so its content shows.
    pub fn flush_sync(&self, events: &dyn PaneEvents) {
        let flushed = self.lock().term.flush_sync_if_expired();
        if flushed && !self.dirty.swap(true, Ordering::SeqCst) {
            events.screen_dirty();
        }
    }
}

/// A pane with no process: one whose command could not start (its screen shows the restored
/// content, if any, and the reason, and it waits for `quil respawn`), or a restored pane not
/// started yet (its restored content alone).
pub struct Placeholder {
    id: PaneId,
    shared: Arc<PaneShared>,
    argv: Vec<String>,
    started: Instant,
    error: Option<String>,
}

impl Placeholder {
    /// A restored pane waiting to start (the server starts it: lazy restore).
    pub fn unstarted(args: SpawnArgs, events: Arc<dyn PaneEvents>) -> Arc<dyn Pane> {
        Self::make(args.preamble.clone(), args, None, events)
    }

    pub fn showing(args: SpawnArgs, reason: &str, events: Arc<dyn PaneEvents>) -> Arc<dyn Pane> {
        let mut pre = args.preamble.clone();
        pre.bytes.extend_from_slice(
            format!(
                "\x1b[0;1;31mquil: cannot start {}: {reason}\x1b[0m\r\n\x1b[2mRetry with: quil respawn --pane {}\x1b[0m\r\n",
                args.argv.join(" "),
                args.id
            )
            .as_bytes(),
        );
        Self::make(pre, args, Some(reason.to_string()), events)
    }

    fn make(
        pre: crate::restore::Preamble,
        args: SpawnArgs,
        error: Option<String>,
        events: Arc<dyn PaneEvents>,
    ) -> Arc<dyn Pane> {
        let shared = PaneShared::for_pane(args.cols.max(2), args.rows.max(1), &args, pre, events);
        shared.alive.store(false, Ordering::SeqCst);
        Arc::new(Placeholder {
            id: args.id,
            shared,
            argv: args.argv,
            started: Instant::now(),
            error,
        })
    }
}

impl Pane for Placeholder {
    fn id(&self) -> PaneId {
        self.id
    }
    fn shared(&self) -> &PaneShared {
        &self.shared
    }
    fn argv(&self) -> &[String] {
        &self.argv
    }
    fn pid(&self) -> Option<u32> {
        None
    }
    fn started(&self) -> Instant {
        self.started
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn write_input(&self, _data: Vec<u8>) -> Result<(), PaneError> {
        Err(PaneError::NoProcess(self.id))
    }
    fn resize_process(&self, _cols: u16, _rows: u16) -> Result<(), PaneError> {
        Ok(())
    }
    fn hangup(&self) {}
    fn force_kill(&self) {}
}

/// The newest lines of `term` (its saved screen, then its history, then `older`, oldest
/// first, above that) whose saved form fits in `max_bytes`, oldest first.
pub fn recent_lines(term: &Terminal, older: &[Line], max_bytes: usize) -> Vec<Line> {
    let history = term.scrollback_newest_first();
    saved_lines(saved_screen(term), history, older, max_bytes)
}

/// The newest of a saved `screen`, the `history` above it (newest first) and `older` (oldest
/// first) above that, whose saved form fits in `max_bytes`, oldest first.
fn saved_lines(
    screen: Vec<Line>,
    history: impl Iterator<Item = Line>,
    older: &[Line],
    max_bytes: usize,
) -> Vec<Line> {
    let newest_first = screen
        .into_iter()
        .rev()
        .chain(history)
        .chain(older.iter().rev().cloned());
    crate::persist::fit_newest(newest_first, max_bytes)
}

/// Writes a pane's snapshots for its journal.
struct PaneSnapshots {
    pane: Weak<PaneShared>,
    id: PaneId,
    home: PathBuf,
    budget: usize,
    slot: Arc<journal::Slot>,
    gen: u64,
}

impl Snapshotter for PaneSnapshots {
    fn snapshot(&self) -> Result<u64, SnapError> {
        let shared = self.pane.upgrade().ok_or(SnapError::Gone)?;
        let saved = shared.export_saved(self.budget);
        drop(shared);
        let upto = saved.journal.map_or(0, |m| m.upto);
        self.slot.with(self.gen, || {
            crate::persist::write_buffer(&self.home, self.id, &saved)
        })?;
        Ok(upto)
    }
}

/// `term` as a saved buffer (with no journal): its newest lines within `max_bytes`, with
/// `older` (oldest first) above its own history.
pub fn saved_of(term: &Terminal, older: &[Line], max_bytes: usize) -> SavedBuffer {
    let screen = saved_screen(term);
    let rows = screen.len();
    let history = term.scrollback_newest_first();
    SavedBuffer {
        lines: saved_lines(screen, history, older, max_bytes),
        ..saved_frame(term, rows)
    }
}

/// `term` as a saved buffer without its lines, whose screen part is `screen_rows` long.
fn saved_frame(term: &Terminal, screen_rows: usize) -> SavedBuffer {
    let (cols, rows) = term.size();
    let cursor = term.cursor();
    SavedBuffer {
        journal: None,
        cols,
        rows,
        cursor: (cursor.x, cursor.y),
        pen: term.pen(),
        alt_screen: term.is_alt_screen(),
        screen_rows: screen_rows as u16,
        lines: Vec::new(),
        title: term.title().to_string(),
    }
}

/// The part of the screen a pane's saved content keeps: its rows down to the last non-blank
/// one, or nothing while a program is on the alternate screen.
fn saved_screen(term: &Terminal) -> Vec<Line> {
    if term.is_alt_screen() {
        return Vec::new();
    }
    let mut screen = term.lines();
    while screen.last().is_some_and(|l| l.text().is_empty()) {
        screen.pop();
    }
    screen
}

/// Re-reads the terminal's visible rows and bumps versions of those that changed.
fn refresh(st: &mut TermState) {
    let TermState { term, snap } = st;
    let next = snap.version + 1;
    let mut changed = false;
    let rows = term.size().1 as usize;
    // Only the rows the terminal says may have changed are converted and compared: a key's
    // echo touches one row, and converting all of them cost ~30 us per frame.
    let damaged = term.take_damage();
    if snap.lines.len() != rows {
        snap.lines.resize(rows, Line::default());
        snap.row_version.resize(rows, next);
        snap.full_version = next;
        changed = true;
    }
    let all: Vec<u16>;
    let to_check = match &damaged {
        Some(list) if !changed => list.as_slice(),
        _ => {
            all = (0..rows as u16).collect();
            all.as_slice()
        }
    };
    for &row in to_check {
        let row = row as usize;
        let line = term.line(row as u16);
        if line != snap.lines[row] {
            snap.lines[row] = line;
            snap.row_version[row] = next;
            changed = true;
        }
    }
    let cursor = term.cursor();
    let modes = term.modes();
    if cursor != snap.cursor || modes != snap.modes || term.title() != snap.title {
        snap.cursor = cursor;
        snap.modes = modes;
        snap.title = term.title().to_string();
        changed = true;
    }
    if changed {
        snap.version = next;
    }
}

#[cfg(test)]
pub(crate) mod tests;
