//! One pane: a process on a PTY, its terminal state, and its input queue.
//!
//! Per pane:
//! - a **reader** task on the daemon's runtime reads PTY output and feeds the pane's
//!   [`Terminal`]; it never waits on a client, so output volume cannot flood anyone. Being on
//!   the runtime (not a thread of its own) lets output wake the clients' connection tasks on
//!   the same worker: one wake per echo instead of two;
//! - a **writer** thread drains the pane's ordered input queue into the PTY. If the program
//!   stops reading its input, only this thread waits; the pane then reports `input_blocked`.
//!
//! The PTY master is non-blocking (see [`crate::ptyio`]): input that arrives while nothing is
//! queued is written at once by whoever has it, usually a client's connection task, which
//! saves a keystroke a thread hop.
//!
//! Clients never see the raw byte stream: [`Pane::update_since`] turns the terminal's screen
//! into versioned rows, so each client gets exactly the rows changed since the version it has.

use crate::ptyio;
use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize};
use quil_proto::{Line, PaneId, PaneUpdate};
use quil_term::{TermConfig, Terminal};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Input bytes a pane may have queued before further input is refused.
pub const MAX_QUEUED_INPUT: usize = 1024 * 1024;
/// A write stuck this long means the program is not reading its input.
pub const INPUT_STALL: Duration = Duration::from_millis(1000);

/// Signals from pane threads to the server.
pub trait PaneEvents: Send + Sync + 'static {
    /// The screen changed (called once per clean→dirty transition).
    fn screen_dirty(&self);
    /// Title, cwd, input state or liveness changed.
    fn meta_changed(&self);
    /// The pane's process exited with this status.
    fn exited(&self, pane: PaneId, status: i32);
    /// The program asked to set the clipboard (OSC 52).
    fn clipboard(&self, text: String);
}

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

pub struct PaneShared {
    pub state: Mutex<TermState>,
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
}

impl PaneShared {
    pub fn lock(&self) -> MutexGuard<'_, TermState> {
        // A panic while holding the lock must not take the whole daemon down with poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The process side of a running pane.
struct PaneIo {
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
    input: Arc<Input>,
}

/// Input written at once when it can be, else by the writer thread after what is queued.
const DIRECT_MAX: usize = 4096;

/// Where a pane's input goes: straight into the PTY, or into the writer thread's queue.
struct Input {
    /// Held while choosing between the two, so input keeps its order.
    order: Mutex<()>,
    fd: OwnedFd,
    queue: mpsc::Sender<Vec<u8>>,
}

enum InputError {
    Full,
    Gone,
}

impl Input {
    fn send(&self, shared: &PaneShared, mut data: Vec<u8>) -> Result<(), InputError> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        // Nothing queued or being written: this goes first anyway. Large pastes always queue,
        // so the queue's limit refuses them whole.
        if data.len() <= DIRECT_MAX && shared.queued_input.load(Ordering::SeqCst) == 0 {
            match ptyio::write(self.fd.as_fd(), &data) {
                Ok(n) if n == data.len() => return Ok(()),
                Ok(n) => drop(data.drain(..n)),
                // Full (or gone): the writer thread waits for it, or reports the end.
                Err(_) => {}
            }
        }
        let len = data.len();
        let queued = shared.queued_input.fetch_add(len, Ordering::SeqCst);
        if queued + len > MAX_QUEUED_INPUT {
            shared.queued_input.fetch_sub(len, Ordering::SeqCst);
            shared.input_blocked.store(true, Ordering::SeqCst);
            return Err(InputError::Full);
        }
        self.queue.send(data).map_err(|_| InputError::Gone)
    }
}

pub struct Pane {
    pub id: PaneId,
    pub shared: Arc<PaneShared>,
    /// `None` for a pane whose command could not start: it shows why and waits for a retry.
    io: Option<PaneIo>,
    pub pid: Option<u32>,
    pub argv: Vec<String>,
    pub started: Instant,
    /// Why the command could not start.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start {program}: {reason}")]
    Start { program: String, reason: String },
    #[error("cannot open a pty: {0}")]
    Pty(String),
}

pub struct SpawnArgs {
    pub id: PaneId,
    pub argv: Vec<String>,
    pub cwd: std::path::PathBuf,
    pub env: Vec<(String, String)>,
    pub cols: u16,
    pub rows: u16,
    pub scrollback_bytes: usize,
    /// Fed to the terminal before the process starts: restored content.
    pub preamble: Vec<u8>,
}

fn new_shared(cols: u16, rows: u16, scrollback_bytes: usize, preamble: &[u8]) -> Arc<PaneShared> {
    let mut term = Terminal::new(TermConfig {
        cols,
        rows,
        scrollback_bytes,
    });
    term.feed(preamble);
    // Replies the emulator owes to the restored bytes are not for the new process.
    let _ = term.take_responses();
    let rows = term.size().1 as usize;
    let snap = Snapshot {
        lines: vec![Line::default(); rows],
        row_version: vec![0; rows],
        version: 1,
        full_version: 1,
        cursor: Default::default(),
        modes: 0,
        title: String::new(),
    };
    Arc::new(PaneShared {
        state: Mutex::new(TermState { term, snap }),
        dirty: AtomicBool::new(true),
        alive: AtomicBool::new(true),
        exit_status: Mutex::new(None),
        queued_input: AtomicUsize::new(0),
        write_started: AtomicU64::new(0),
        epoch: Instant::now(),
        input_blocked: AtomicBool::new(false),
        output_gen: AtomicU64::new(1),
    })
}

impl Pane {
    /// A pane whose command could not start: its screen shows the restored content (if any)
    /// and the reason, and it waits for `quil respawn`.
    pub fn failed(args: SpawnArgs, reason: &str) -> Arc<Pane> {
        let mut pre = args.preamble;
        pre.extend_from_slice(
            format!(
                "\x1b[0;1;31mquil: cannot start {}: {reason}\x1b[0m\r\n\x1b[2mRetry with: quil respawn --pane {}\x1b[0m\r\n",
                args.argv.join(" "),
                args.id
            )
            .as_bytes(),
        );
        let shared = new_shared(
            args.cols.max(2),
            args.rows.max(1),
            args.scrollback_bytes,
            &pre,
        );
        shared.alive.store(false, Ordering::SeqCst);
        Arc::new(Pane {
            id: args.id,
            shared,
            io: None,
            pid: None,
            argv: args.argv,
            started: Instant::now(),
            error: Some(reason.to_string()),
        })
    }

    pub fn spawn(args: SpawnArgs, events: Arc<dyn PaneEvents>) -> Result<Arc<Pane>, SpawnError> {
        let program = args.argv.first().cloned().unwrap_or_default();
        let start_err = |reason: String| SpawnError::Start {
            program: program.clone(),
            reason,
        };
        if !args.cwd.is_dir() {
            return Err(start_err(format!(
                "working directory {} does not exist",
                args.cwd.display()
            )));
        }
        if program.is_empty() {
            return Err(start_err("empty command".into()));
        }
        let size = PtySize {
            rows: args.rows.max(1),
            cols: args.cols.max(2),
            pixel_width: 0,
            pixel_height: 0,
        };
        // The reader is a task on the daemon's runtime, not a thread: output then wakes the
        // clients' connection tasks on the same worker, with no cross-thread wake per update.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| SpawnError::Pty(format!("no runtime for the pane's reader: {e}")))?;
        let pair = portable_pty::native_pty_system()
            .openpty(size)
            .map_err(|e| SpawnError::Pty(e.to_string()))?;
        let mut cmd = CommandBuilder::from_argv(args.argv.iter().map(Into::into).collect());
        cmd.cwd(&args.cwd);
        for (k, v) in &args.env {
            cmd.env(k, v);
        }
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| start_err(e.to_string()))?;
        drop(pair.slave);
        let pid = child.process_id();
        let killer = child.clone_killer();
        let fds = pair
            .master
            .as_raw_fd()
            .ok_or_else(|| SpawnError::Pty("the PTY has no file descriptor".into()))
            .and_then(|fd| {
                let own = || ptyio::dup(fd).map_err(|e| SpawnError::Pty(e.to_string()));
                let (reader, writer, direct) = (own()?, own()?, own()?);
                // Shared by every fd of the master, portable-pty's own included: its blocking
                // reader and writer (`try_clone_reader`, `take_writer`) must not be used.
                ptyio::set_nonblocking(reader.as_fd())
                    .map_err(|e| SpawnError::Pty(e.to_string()))?;
                // SAFETY: an OwnedFd is open until dropped, and the AsyncFd owns it from here.
                let reader = unsafe { AsyncFd::register_with_interest(reader, Interest::READABLE) }
                    .map_err(|e| SpawnError::Pty(e.to_string()))?;
                Ok((reader, writer, direct))
            });
        let (reader, writer, direct) = match fds {
            Ok(f) => f,
            Err(e) => {
                let _ = child.kill();
                return Err(e);
            }
        };

        let shared = new_shared(size.cols, size.rows, args.scrollback_bytes, &args.preamble);
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let input = Arc::new(Input {
            order: Mutex::new(()),
            fd: direct,
            queue: tx,
        });
        let pane = Arc::new(Pane {
            id: args.id,
            shared: shared.clone(),
            io: Some(PaneIo {
                master: Mutex::new(pair.master),
                killer: Mutex::new(killer),
                input: input.clone(),
            }),
            pid,
            argv: args.argv,
            started: Instant::now(),
            error: None,
        });

        let id = args.id;
        let ev = events.clone();
        let sh = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name(format!("{id}-writer"))
            .spawn(move || writer_loop(writer, rx, sh, ev));
        if let Err(e) = writer_thread {
            let _ = child.kill();
            return Err(SpawnError::Pty(e.to_string()));
        }
        runtime.spawn(async move {
            read_output(reader, &shared, &events, &input).await;
            // EOF: the process is gone (or closed the terminal); collect its status.
            let _ = tokio::task::spawn_blocking(move || {
                let status = match child.wait() {
                    Ok(s) if s.signal().is_some() => 128 + signal_number(s.signal().unwrap_or("")),
                    Ok(s) => s.exit_code() as i32,
                    Err(_) => -1,
                };
                *shared.exit_status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
                shared.alive.store(false, Ordering::SeqCst);
                events.exited(id, status);
            })
            .await;
        });
        Ok(pane)
    }

    /// Queues input; order is preserved. Refused when the queue is full.
    pub fn write_input(&self, data: Vec<u8>) -> Result<(), String> {
        if data.is_empty() {
            return Ok(());
        }
        let Some(io) = &self.io else {
            return Err(format!(
                "pane {} has no process; retry with `quil respawn --pane {}`",
                self.id, self.id
            ));
        };
        if !self.shared.alive.load(Ordering::SeqCst) {
            return Err(format!("pane {} has exited", self.id));
        }
        io.input.send(&self.shared, data).map_err(|e| match e {
            InputError::Full => format!(
                "pane {} is not accepting input (its input queue is full)",
                self.id
            ),
            InputError::Gone => format!("pane {} has exited", self.id),
        })
    }

    /// Re-evaluates whether the program is reading its input; true if the state flipped.
    pub fn check_input_stall(&self) -> bool {
        let started = self.shared.write_started.load(Ordering::SeqCst);
        let stalled = started != 0
            && self.shared.epoch.elapsed().as_millis() as u64 - started
                >= INPUT_STALL.as_millis() as u64;
        let full = self.shared.queued_input.load(Ordering::SeqCst) >= MAX_QUEUED_INPUT / 2;
        let blocked = stalled || full;
        self.shared.input_blocked.swap(blocked, Ordering::SeqCst) != blocked
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), String> {
        let (cols, rows) = (cols.clamp(2, 1000), rows.clamp(1, 500));
        {
            let mut st = self.shared.lock();
            if st.term.size() == (cols, rows) {
                return Ok(());
            }
            st.term.resize(cols, rows);
            st.snap.version += 1;
            st.snap.full_version = st.snap.version;
            st.snap.lines = vec![Line::default(); rows as usize];
            st.snap.row_version = vec![st.snap.version; rows as usize];
        }
        self.shared.dirty.store(true, Ordering::SeqCst);
        let Some(io) = &self.io else { return Ok(()) };
        let master = io.master.lock().unwrap_or_else(|e| e.into_inner());
        master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| format!("cannot resize pane {}: {e}", self.id))
    }

    pub fn size(&self) -> (u16, u16) {
        self.shared.lock().term.size()
    }

    /// Sends SIGHUP to the pane's process group (the child is a session leader).
    pub fn hangup(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: plain kill(2) on a process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGHUP) };
        }
        if let Some(io) = &self.io {
            let _ = io.killer.lock().unwrap_or_else(|e| e.into_inner()).kill();
        }
    }

    pub fn force_kill(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: as above.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }

    /// The pane's content for persisting, oldest first: up to `max_history` history lines,
    /// then the screen down to its last non-blank row. A program on the alternate screen
    /// contributes only the normal-screen history.
    pub fn export_lines(&self, max_history: usize) -> Vec<Line> {
        let st = self.shared.lock();
        let n = st.term.scrollback_len().min(max_history);
        let mut lines = st.term.scrollback(0, n);
        lines.extend(saved_screen(&st.term));
        lines
    }

    /// The newest lines (screen, then history) whose saved form fits in `max_bytes`, oldest
    /// first: what `persist::fit_newest` keeps. Lines are decoded newest first and only as
    /// far as the budget reaches, so saving after a flood neither decodes nor holds the whole
    /// history (and the pane's output waits on the lock only that long).
    pub fn export_recent(&self, max_bytes: usize) -> Vec<Line> {
        let st = self.shared.lock();
        let screen = saved_screen(&st.term);
        crate::persist::fit_newest(
            screen
                .into_iter()
                .rev()
                .chain(st.term.scrollback_newest_first()),
            max_bytes,
        )
    }

    /// The cwd the pane's shell last reported (OSC 7), if any.
    pub fn reported_cwd(&self) -> Option<PathBuf> {
        self.shared.lock().term.cwd().map(PathBuf::from)
    }

    /// The visible screen as plain text, one line per row.
    pub fn screen_text(&self) -> String {
        let lines: Vec<String> = self
            .shared
            .lock()
            .term
            .lines()
            .iter()
            .map(|l| l.text())
            .collect();
        lines.join("\n")
    }

    pub fn output_gen(&self) -> u64 {
        self.shared.output_gen.load(Ordering::Relaxed)
    }

    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    pub fn exit_status(&self) -> Option<i32> {
        *self
            .shared
            .exit_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Screen rows changed since `since` (0 = never sent: full), or `None` when the client is
    /// current. Folds pending terminal changes into the versioned snapshot first.
    pub fn update_since(&self, since: u64) -> Option<PaneUpdate> {
        let mut st = self.shared.lock();
        if self.shared.dirty.swap(false, Ordering::SeqCst) {
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
            pane: self.id,
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

    /// Ends a timed-out synchronized update so its content shows.
    pub fn flush_sync(&self, events: &dyn PaneEvents) {
        let flushed = self.shared.lock().term.flush_sync_if_expired();
        if flushed && !self.shared.dirty.swap(true, Ordering::SeqCst) {
            events.screen_dirty();
        }
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

async fn read_output(
    reader: AsyncFd<OwnedFd>,
    shared: &Arc<PaneShared>,
    events: &Arc<dyn PaneEvents>,
    input: &Input,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let Ok(mut ready) = reader.readable().await else {
            return;
        };
        let n = match ready.try_io(|fd| ptyio::read_now(fd.get_ref(), &mut buf)) {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_would_block) => continue,
        };
        if n < buf.len() {
            // Drained: the next output raises a new edge. Saves a read that would only say
            // EAGAIN before every wait, as tokio's own sockets do.
            ready.clear_ready();
        }
        drop(ready);
        take_output(&buf[..n], shared, events, input);
        if n == buf.len() {
            // A flood: let this worker's other tasks (clients, other panes) run in between.
            tokio::task::yield_now().await;
        }
    }
}

/// Feeds one read of output to the terminal and tells whoever needs to know.
fn take_output(bytes: &[u8], shared: &PaneShared, events: &Arc<dyn PaneEvents>, input: &Input) {
    let (responses, clip, meta) = {
        let mut st = shared.lock();
        st.term.feed(bytes);
        let meta = st.term.take_meta_changed();
        (st.term.take_responses(), st.term.take_clipboard(), meta)
    };
    if !responses.is_empty() {
        // Replies to the program's queries (cursor position, device attributes) go the
        // same ordered way as keystrokes.
        let _ = input.send(shared, responses);
    }
    if let Some(text) = clip {
        events.clipboard(text);
    }
    if meta {
        events.meta_changed();
    }
    shared.output_gen.fetch_add(1, Ordering::Relaxed);
    if !shared.dirty.swap(true, Ordering::SeqCst) {
        events.screen_dirty();
    }
}

fn writer_loop(
    writer: OwnedFd,
    rx: mpsc::Receiver<Vec<u8>>,
    shared: Arc<PaneShared>,
    events: Arc<dyn PaneEvents>,
) {
    for data in rx {
        let now = (shared.epoch.elapsed().as_millis() as u64).max(1);
        shared.write_started.store(now, Ordering::SeqCst);
        let ok = ptyio::write_all(&writer, &data).is_ok();
        shared.write_started.store(0, Ordering::SeqCst);
        shared.queued_input.fetch_sub(data.len(), Ordering::SeqCst);
        if shared.input_blocked.load(Ordering::SeqCst)
            && shared.queued_input.load(Ordering::SeqCst) < MAX_QUEUED_INPUT / 2
        {
            shared.input_blocked.store(false, Ordering::SeqCst);
            events.meta_changed();
        }
        if !ok {
            // The PTY is gone; the reader reports the exit. Drain so senders never block.
            continue;
        }
    }
}

fn signal_number(name: &str) -> i32 {
    match name {
        "Hangup" | "SIGHUP" => 1,
        "Interrupt" | "SIGINT" => 2,
        "Quit" | "SIGQUIT" => 3,
        "Aborted" | "SIGABRT" => 6,
        "Killed" | "SIGKILL" => 9,
        "Segmentation fault" | "SIGSEGV" => 11,
        "Terminated" | "SIGTERM" => 15,
        _ => 0,
    }
}
