//! A pane's process on a real PTY, under a holder process ([`crate::holder`]) that keeps it
//! through daemon restarts, or (with no holder) as the daemon's own child. Either way the
//! daemon reads and writes the PTY master itself.
//!
//! Per pane:
//! - a **reader** task on the daemon's runtime reads PTY output and feeds the pane's terminal;
//!   it never waits on a client, so output volume cannot flood anyone. Being on the runtime
//!   (not a thread of its own) lets output wake the clients' connection tasks on the same
//!   worker: one wake per echo instead of two;
//! - a **writer** task drains the pane's ordered input queue into the PTY. If the program
//!   stops reading its input, only this task waits (on the reactor, so an idle pane costs no
//!   thread); the pane then reports `input_blocked`.
//!
//! The PTY master is non-blocking (see [`crate::fdio`]): input that arrives while nothing is
//! queued is written at once by whoever has it, usually a client's connection task, which
//! saves a keystroke a thread hop.

use super::MAX_QUEUED_INPUT;
use super::{Pane, PaneError, PaneEvents, PaneShared, SpawnArgs, SpawnError, Spawner};
use crate::{fdio, holder, journal};
use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize};
use quil_proto::PaneId;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

/// The process side of a running pane.
struct PaneIo {
    /// An fd of the PTY master, for resizes.
    master: OwnedFd,
    owner: Owner,
    input: Arc<Input>,
}

/// Who holds the pane's PTY and process.
enum Owner {
    /// The daemon itself (no holder): the process ends with the daemon.
    Own {
        killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
        _master: Mutex<Box<dyn MasterPty + Send>>,
    },
    /// A holder process ([`crate::holder`]): the process outlives the daemon.
    Held {
        conn: std::os::unix::net::UnixStream,
        name: String,
    },
}

/// Where the process's exit status comes from.
enum Exit {
    Own(Box<dyn portable_pty::Child + Send + Sync>),
    Held {
        conn: std::os::unix::net::UnixStream,
        known: Option<i32>,
    },
}

/// Longest wait for a holder's `exit` line once the PTY has closed.
const STATUS_WITHIN: Duration = Duration::from_secs(10);

impl Exit {
    /// The status, once the PTY has closed.
    async fn status(self) -> i32 {
        match self {
            Exit::Own(mut child) => tokio::task::spawn_blocking(move || {
                child.wait().map(|s| holder::status_of(&s)).unwrap_or(-1)
            })
            .await
            .unwrap_or(-1),
            Exit::Held { conn, known } => {
                let status = match known {
                    Some(s) => s,
                    None => tokio::time::timeout(STATUS_WITHIN, read_exit(&conn))
                        .await
                        .unwrap_or(-1),
                };
                holder::done(&conn);
                status
            }
        }
    }
}

/// The status in a holder's `exit S` line; -1 when the holder went without one.
async fn read_exit(conn: &std::os::unix::net::UnixStream) -> i32 {
    use tokio::io::AsyncBufReadExt;
    let Ok(clone) = conn.try_clone() else {
        return -1;
    };
    if clone.set_nonblocking(true).is_err() {
        return -1;
    }
    let Ok(stream) = tokio::net::UnixStream::from_std(clone) else {
        return -1;
    };
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(s) = holder::exit_status(&line) {
            return s;
        }
    }
    -1
}

/// Input written at once when it can be, else by the writer task after what is queued.
const DIRECT_MAX: usize = 4096;

/// Where a pane's input goes: straight into the PTY, or into the writer task's queue.
struct Input {
    /// Held while choosing between the two, so input keeps its order.
    order: Mutex<()>,
    fd: OwnedFd,
    queue: mpsc::UnboundedSender<Queued>,
}

/// Bytes for the writer task, and how long to wait after writing them.
struct Queued {
    data: Vec<u8>,
    then: Duration,
}

enum Refused {
    Full,
    Gone,
}

impl Input {
    fn send(&self, shared: &PaneShared, mut data: Vec<u8>) -> Result<(), Refused> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        // Nothing queued or being written: this goes first anyway. Large pastes always queue,
        // so the queue's limit refuses them whole.
        if data.len() <= DIRECT_MAX && shared.queued_input.load(Ordering::SeqCst) == 0 {
            match fdio::write(self.fd.as_fd(), &data) {
                Ok(n) if n == data.len() => return Ok(()),
                Ok(n) => drop(data.drain(..n)),
                // Full (or gone): the writer task waits for it, or reports the end.
                Err(_) => {}
            }
        }
        let len = data.len();
        let queued = shared.queued_input.fetch_add(len, Ordering::SeqCst);
        if queued + len > MAX_QUEUED_INPUT {
            shared.queued_input.fetch_sub(len, Ordering::SeqCst);
            shared.input_blocked.store(true, Ordering::SeqCst);
            return Err(Refused::Full);
        }
        let then = Duration::ZERO;
        self.queue
            .send(Queued { data, then })
            .map_err(|_| Refused::Gone)
    }

    /// Queues `parts` in order, each followed by its pause, with nothing else between them:
    /// input that arrives meanwhile waits behind the last part.
    fn send_parts(
        &self,
        shared: &PaneShared,
        parts: Vec<(Vec<u8>, Duration)>,
    ) -> Result<(), Refused> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let len: usize = parts.iter().map(|(d, _)| d.len()).sum();
        let queued = shared.queued_input.fetch_add(len, Ordering::SeqCst);
        if queued + len > MAX_QUEUED_INPUT {
            shared.queued_input.fetch_sub(len, Ordering::SeqCst);
            return Err(Refused::Full);
        }
        for (data, then) in parts {
            self.queue
                .send(Queued { data, then })
                .map_err(|_| Refused::Gone)?;
        }
        Ok(())
    }
}

pub struct PtyPane {
    id: PaneId,
    shared: Arc<PaneShared>,
    io: PaneIo,
    pid: Option<u32>,
    argv: Vec<String>,
    started: Instant,
}

/// Starts panes as processes on real PTYs: under holders when it has them, so they outlive
/// the daemon, else as the daemon's own children (library tests).
#[derive(Default)]
pub struct PtySpawner {
    holders: Option<Holders>,
}

/// Where holders come from and listen.
struct Holders {
    /// The `quil-holder` to run.
    exe: PathBuf,
    /// `$QUIL_HOME/holders`.
    dir: PathBuf,
}

impl PtySpawner {
    /// Panes under holders started as `exe SOCKET`, listening in `home`'s holders directory.
    pub fn with_holders(exe: PathBuf, home: &Path) -> PtySpawner {
        PtySpawner {
            holders: Some(Holders {
                exe,
                dir: home.join(holder::DIR),
            }),
        }
    }
}

impl Spawner for PtySpawner {
    fn spawn(
        &self,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        Ok(PtyPane::spawn(args, events, self.holders.as_ref())?)
    }

    fn adopt(
        &self,
        name: &str,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        let Some(holders) = &self.holders else {
            return Err(SpawnError::Adopt("this daemon runs no holders".into()));
        };
        let held =
            holder::adopt(&holders.dir.join(name)).map_err(|e| SpawnError::Adopt(e.to_string()))?;
        Ok(PtyPane::held(args, events, held)?)
    }
}

impl PtyPane {
    fn spawn(
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
        holders: Option<&Holders>,
    ) -> Result<Arc<PtyPane>, SpawnError> {
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
        let (cols, rows) = (args.cols.max(2), args.rows.max(1));
        if let Some(h) = holders {
            let name = holder::fresh_name(args.id);
            let spec = holder::Spec {
                argv: args.argv.clone(),
                cwd: args.cwd.clone(),
                env: args.env.clone(),
                env_remove: quil_proto::env::REMOVED
                    .iter()
                    .map(|k| k.to_string())
                    .collect(),
                cols,
                rows,
                socket: h.dir.join(&name),
            };
            match holder::launch(&h.exe, &spec, name) {
                Ok(held) => return PtyPane::held(args, events, held),
                Err(holder::HolderError::Start(why)) => return Err(start_err(why)),
                // No holder (say the home is read-only): the pane runs all the same, as the
                // daemon's own child, and ends with it.
                Err(e) => tracing::warn!(
                    pane = %args.id,
                    "the pane will not outlive the daemon: {e}"
                ),
            }
        }
        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| SpawnError::Pty(e.to_string()))?;
        let mut cmd = CommandBuilder::from_argv(args.argv.iter().map(Into::into).collect());
        cmd.cwd(&args.cwd);
        // Not inherited from the daemon (which a client in tmux may have started).
        for k in quil_proto::env::REMOVED {
            cmd.env_remove(k);
        }
        for (k, v) in &args.env {
            cmd.env(k, v);
        }
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| start_err(e.to_string()))?;
        drop(pair.slave);
        let pid = child.process_id();
        let master = pair
            .master
            .as_raw_fd()
            .ok_or_else(|| SpawnError::Pty("the PTY has no file descriptor".into()))
            .and_then(|fd| fdio::dup(fd).map_err(|e| SpawnError::Pty(e.to_string())));
        let master = match master {
            Ok(m) => m,
            Err(e) => {
                let _ = child.kill();
                return Err(e);
            }
        };
        let owner = Owner::Own {
            killer: Mutex::new(child.clone_killer()),
            _master: Mutex::new(pair.master),
        };
        let argv = args.argv.clone();
        PtyPane::run(args, events, master, pid, argv, owner, Exit::Own(child))
    }

    /// A pane on the PTY a holder handed over (just started, or adopted after a restart).
    fn held(
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
        held: holder::Held,
    ) -> Result<Arc<PtyPane>, SpawnError> {
        let holder::Held {
            master,
            hello,
            conn,
            name,
        } = held;
        let exit_conn = conn
            .try_clone()
            .map_err(|e| SpawnError::Pty(e.to_string()))?;
        let owner = Owner::Held { conn, name };
        let exit = Exit::Held {
            conn: exit_conn,
            known: hello.exited,
        };
        let pid = Some(hello.pid).filter(|p| *p > 0);
        PtyPane::run(args, events, master, pid, hello.argv, owner, exit)
    }

    /// The pane's reader and writer tasks on `master`, whoever holds the process.
    fn run(
        mut args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
        master: OwnedFd,
        pid: Option<u32>,
        argv: Vec<String>,
        owner: Owner,
        exit: Exit,
    ) -> Result<Arc<PtyPane>, SpawnError> {
        // The reader is a task on the daemon's runtime, not a thread: output then wakes the
        // clients' connection tasks on the same worker, with no cross-thread wake per update.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| SpawnError::Pty(format!("no runtime for the pane's reader: {e}")))?;
        let pty = |e: std::io::Error| SpawnError::Pty(e.to_string());
        let own = || fdio::dup(master.as_raw_fd()).map_err(pty);
        let (reader, writer, direct) = (own()?, own()?, own()?);
        // Shared by every fd of the master, portable-pty's own included: its blocking reader
        // and writer (`try_clone_reader`, `take_writer`) must not be used.
        fdio::set_nonblocking(reader.as_fd()).map_err(pty)?;
        // SAFETY: an OwnedFd is open until dropped, and the AsyncFd owns its own. The writer
        // is registered only while it waits (`fdio::write_all`).
        let reader = unsafe {
            AsyncFd::register_with_interest(reader, Interest::READABLE)
                .map_err(|e| SpawnError::Pty(e.to_string()))?
        };
        let (cols, rows) = (args.cols.max(2), args.rows.max(1));
        let preamble = std::mem::take(&mut args.preamble);
        let shared = PaneShared::for_pane(cols, rows, &args, preamble, events.clone());
        let (tx, rx) = mpsc::unbounded_channel::<Queued>();
        let input = Arc::new(Input {
            order: Mutex::new(()),
            fd: direct,
            queue: tx,
        });
        let pane = Arc::new(PtyPane {
            id: args.id,
            shared: shared.clone(),
            io: PaneIo {
                master,
                owner,
                input: input.clone(),
            },
            pid,
            argv,
            started: Instant::now(),
        });

        let id = args.id;
        let ev = events.clone();
        let sh = shared.clone();
        runtime.spawn(write_input(writer, rx, sh, ev));
        runtime.spawn(async move {
            read_output(id, reader, &shared, &events, &input).await;
            // EOF: the process is gone (or closed the terminal); collect its status.
            let status = exit.status().await;
            shared.set_exited(status);
            events.exited(id, status);
        });
        Ok(pane)
    }
}

impl Pane for PtyPane {
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
        self.pid
    }
    fn started(&self) -> Instant {
        self.started
    }

    fn write_input(&self, data: Vec<u8>) -> Result<(), PaneError> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.is_alive() {
            return Err(PaneError::Exited(self.id));
        }
        self.io.input.send(&self.shared, data).map_err(|e| match e {
            Refused::Full => PaneError::Full(self.id),
            Refused::Gone => PaneError::Exited(self.id),
        })
    }

    fn write_parts(&self, parts: Vec<(Vec<u8>, Duration)>) -> Result<(), PaneError> {
        if !self.is_alive() {
            return Err(PaneError::Exited(self.id));
        }
        self.io
            .input
            .send_parts(&self.shared, parts)
            .map_err(|e| match e {
                Refused::Full => PaneError::Full(self.id),
                Refused::Gone => PaneError::Exited(self.id),
            })
    }

    fn resize_process(&self, cols: u16, rows: u16) -> Result<(), PaneError> {
        fdio::set_size(self.io.master.as_fd(), cols, rows)
            .map_err(|e| PaneError::Resize(self.id, e.to_string()))
    }

    fn holder(&self) -> Option<&str> {
        match &self.io.owner {
            Owner::Held { name, .. } => Some(name),
            Owner::Own { .. } => None,
        }
    }

    /// Sends SIGHUP to the pane's process group (the child is a session leader).
    fn hangup(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: plain kill(2) on a process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGHUP) };
        }
        match &self.io.owner {
            Owner::Own { killer, .. } => {
                let _ = killer.lock().unwrap_or_else(|e| e.into_inner()).kill();
            }
            // The pane is over for good: the holder leaves once the process has.
            Owner::Held { conn, .. } => holder::end(conn),
        }
    }

    fn force_kill(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: as above.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Bytes taken from a PTY per read.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_SIZE]);
}

async fn read_output(
    pane: PaneId,
    reader: AsyncFd<OwnedFd>,
    shared: &Arc<PaneShared>,
    events: &Arc<dyn PaneEvents>,
    input: &Input,
) {
    // The journals' clock, when this pane's output armed it: kept on this task's timer, so an
    // echo wakes no other thread on its way to the clients. Dropped unfired (the pane ended),
    // it goes to the clock's own task.
    let mut kept: Option<KeptTick> = None;
    loop {
        let readable = tokio::select! {
            r = reader.readable() => r,
            () = kept_due(kept.as_mut()) => {
                if let Some(k) = kept.take() {
                    k.tick.fire();
                }
                continue;
            }
        };
        let Ok(mut ready) = readable else {
            return;
        };
        // Read and fed with no await in between, so one buffer per worker thread serves every
        // pane: a buffer per pane would cost each idle pane 64 KiB.
        let read = READ_BUF.with_borrow_mut(|buf| {
            let n = ready.try_io(|fd| fdio::read_now(fd.get_ref(), buf));
            if let Ok(Ok(n @ 1..)) = n {
                if let Some(tick) = take_output(pane, &buf[..n], shared, events, input) {
                    kept = Some(KeptTick::new(tick));
                }
            }
            n
        });
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_would_block) => continue,
        };
        if n < READ_SIZE {
            // Drained: the next output raises a new edge. Saves a read that would only say
            // EAGAIN before every wait, as tokio's own sockets do.
            ready.clear_ready();
        }
        drop(ready);
        if n == READ_SIZE {
            // A flood: let this worker's other tasks (clients, other panes) run in between.
            tokio::task::yield_now().await;
        }
    }
}

/// A journals' clock tick a reader keeps, with its timer: registered once, not again on
/// every read of a flood.
struct KeptTick {
    tick: journal::Tick,
    due: Pin<Box<tokio::time::Sleep>>,
}

impl KeptTick {
    fn new(tick: journal::Tick) -> KeptTick {
        let due = Box::pin(tokio::time::sleep_until(tick.at().into()));
        KeptTick { tick, due }
    }
}

/// Resolves at the kept tick's time; never without one.
async fn kept_due(kept: Option<&mut KeptTick>) {
    match kept {
        Some(k) => k.due.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Feeds one read of output to the terminal; replies the emulator owes the program go the
/// same ordered way as keystrokes. Returns the journals' clock if this output armed it.
fn take_output(
    pane: PaneId,
    bytes: &[u8],
    shared: &PaneShared,
    events: &Arc<dyn PaneEvents>,
    input: &Input,
) -> Option<journal::Tick> {
    let fed = shared.feed(pane, bytes, events.as_ref());
    if !fed.replies.is_empty() {
        let _ = input.send(shared, fed.replies);
    }
    fed.tick
}

/// The writer task: queued input in order, each part followed by its pause. Ends when the
/// pane (the queue's sender) is gone.
async fn write_input(
    writer: OwnedFd,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    shared: Arc<PaneShared>,
    events: Arc<dyn PaneEvents>,
) {
    while let Some(Queued { data, then }) = rx.recv().await {
        let now = (shared.epoch.elapsed().as_millis() as u64).max(1);
        shared.write_started.store(now, Ordering::SeqCst);
        let ok = fdio::write_all(writer.as_fd(), &data).await.is_ok();
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
        if !then.is_zero() {
            tokio::time::sleep(then).await;
        }
    }
}
