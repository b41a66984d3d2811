//! A pane's process on a real PTY.
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
//! The PTY master is non-blocking (see [`crate::ptyio`]): input that arrives while nothing is
//! queued is written at once by whoever has it, usually a client's connection task, which
//! saves a keystroke a thread hop.

use super::MAX_QUEUED_INPUT;
use super::{Pane, PaneError, PaneEvents, PaneShared, SpawnArgs, SpawnError, Spawner};
use crate::ptyio;
use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize};
use quil_proto::PaneId;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

/// The process side of a running pane.
struct PaneIo {
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
    input: Arc<Input>,
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
            match ptyio::write(self.fd.as_fd(), &data) {
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

/// Starts panes as processes on real PTYs.
pub struct PtySpawner;

impl Spawner for PtySpawner {
    fn spawn(
        &self,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        Ok(PtyPane::spawn(args, events)?)
    }
}

impl PtyPane {
    pub fn spawn(
        mut args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
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
                // SAFETY: an OwnedFd is open until dropped, and each AsyncFd owns its own.
                let (reader, writer) = unsafe {
                    (
                        AsyncFd::register_with_interest(reader, Interest::READABLE)
                            .map_err(|e| SpawnError::Pty(e.to_string()))?,
                        AsyncFd::register_with_interest(writer, Interest::WRITABLE)
                            .map_err(|e| SpawnError::Pty(e.to_string()))?,
                    )
                };
                Ok((reader, writer, direct))
            });
        let (reader, writer, direct) = match fds {
            Ok(f) => f,
            Err(e) => {
                let _ = child.kill();
                return Err(e);
            }
        };

        let preamble = std::mem::take(&mut args.preamble);
        let shared = PaneShared::for_pane(size.cols, size.rows, &args, preamble, events.clone());
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
                master: Mutex::new(pair.master),
                killer: Mutex::new(killer),
                input: input.clone(),
            },
            pid,
            argv: args.argv,
            started: Instant::now(),
        });

        let id = args.id;
        let ev = events.clone();
        let sh = shared.clone();
        runtime.spawn(write_input(writer, rx, sh, ev));
        runtime.spawn(async move {
            read_output(id, reader, &shared, &events, &input).await;
            // EOF: the process is gone (or closed the terminal); collect its status.
            let _ = tokio::task::spawn_blocking(move || {
                let status = match child.wait() {
                    Ok(s) if s.signal().is_some() => 128 + signal_number(s.signal().unwrap_or("")),
                    Ok(s) => s.exit_code() as i32,
                    Err(_) => -1,
                };
                shared.set_exited(status);
                events.exited(id, status);
            })
            .await;
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
        let master = self.io.master.lock().unwrap_or_else(|e| e.into_inner());
        master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| PaneError::Resize(self.id, e.to_string()))
    }

    /// Sends SIGHUP to the pane's process group (the child is a session leader).
    fn hangup(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: plain kill(2) on a process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGHUP) };
        }
        let _ = self
            .io
            .killer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kill();
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
    loop {
        let Ok(mut ready) = reader.readable().await else {
            return;
        };
        // Read and fed with no await in between, so one buffer per worker thread serves every
        // pane: a buffer per pane would cost each idle pane 64 KiB.
        let read = READ_BUF.with_borrow_mut(|buf| {
            let n = ready.try_io(|fd| ptyio::read_now(fd.get_ref(), buf));
            if let Ok(Ok(n @ 1..)) = n {
                take_output(pane, &buf[..n], shared, events, input);
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

/// Feeds one read of output to the terminal; replies the emulator owes the program go the
/// same ordered way as keystrokes.
fn take_output(
    pane: PaneId,
    bytes: &[u8],
    shared: &PaneShared,
    events: &Arc<dyn PaneEvents>,
    input: &Input,
) {
    let responses = shared.feed(pane, bytes, events.as_ref());
    if !responses.is_empty() {
        let _ = input.send(shared, responses);
    }
}

/// The writer task: queued input in order, each part followed by its pause. Ends when the
/// pane (the queue's sender) is gone.
async fn write_input(
    writer: AsyncFd<OwnedFd>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    shared: Arc<PaneShared>,
    events: Arc<dyn PaneEvents>,
) {
    while let Some(Queued { data, then }) = rx.recv().await {
        let now = (shared.epoch.elapsed().as_millis() as u64).max(1);
        shared.write_started.store(now, Ordering::SeqCst);
        let ok = write_all(&writer, &data).await.is_ok();
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

/// Writes all of `data`, waiting on the reactor whenever the PTY is full. Errors when the PTY
/// is gone.
async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut ready = fd.writable().await?;
        match ready.try_io(|fd| ptyio::write(fd.get_ref().as_fd(), data)) {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            // Full: readiness was cleared; wait for the next edge.
            Err(_would_block) => {}
        }
    }
    Ok(())
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
