//! Pane holders: one small process per pane that owns the pane's PTY and process, so that both
//! outlive the daemon (a crash, `quil restart`, `quil daemon upgrade`).
//!
//! The daemon starts a holder (`quil-holder <socket>`, installed beside `quild`) with the pane's
//! command on a socket pair. The
//! holder forks away from the daemon (it is init's child, not the daemon's), opens the PTY,
//! starts the command, and passes the PTY master to the daemon (`SCM_RIGHTS`) with the
//! process id. From then on the daemon reads and writes the PTY itself: the holder is not on
//! the path of a byte, so it costs neither throughput nor key echo. The holder only
//!
//! - keeps the master open, so the process keeps its terminal while no daemon runs;
//! - waits for the process and tells the daemon its exit status;
//! - listens on `$QUIL_HOME/holders/<name>`, where the next daemon asks for the master again.
//!
//! On the connection, the holder sends a hello (a 4-byte little-endian length, then [`Hello`]
//! as JSON, the master fd riding on its first byte), then `exit S` lines. The daemon sends
//! `done` (it has the status: the holder leaves) or `end` (the pane is closed for good: hang the
//! process up, and leave once it is gone without waiting for a daemon).
//!
//! The protocol is kept small and versioned ([`Hello::v`]) because a new daemon talks to the
//! holders an older one started.

use portable_pty::{CommandBuilder, PtySize};
use serde::{Deserialize, Serialize};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The holder protocol's version.
pub const VERSION: u32 = 1;
/// The holder's executable, installed beside `quild`.
pub const EXE: &str = "quil-holder";
/// Where holders listen, under `$QUIL_HOME`.
pub const DIR: &str = "holders";
/// How long an ended pane's process gets between SIGHUP and SIGKILL.
const END_GRACE: Duration = Duration::from_secs(3);
/// The longest hello accepted.
const MAX_HELLO: usize = 1 << 20;

/// What a holder starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Variables not passed on from the daemon's environment.
    pub env_remove: Vec<String>,
    pub cols: u16,
    pub rows: u16,
    /// The socket to listen on.
    pub socket: PathBuf,
}

/// What a holder says first, to each daemon that connects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub v: u32,
    pub pid: u32,
    /// The process's exit status, when it ended before this daemon connected.
    pub exited: Option<i32>,
    /// What the process was started with.
    pub argv: Vec<String>,
}

/// A pane's process as a holder hands it over.
#[derive(Debug)]
pub struct Held {
    pub master: OwnedFd,
    pub hello: Hello,
    pub conn: UnixStream,
    /// The holder's socket, a file name in [`DIR`].
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("cannot start a holder: {0}")]
    Launch(io::Error),
    /// The command did not start; the holder's reason.
    #[error("{0}")]
    Start(String),
    /// The holder could not do its own part (listen for the next daemon); its reason.
    #[error("the holder failed: {0}")]
    Failed(String),
    #[error("no holder is listening at {0}")]
    Gone(PathBuf),
    #[error("the holder at {path} runs as uid {uid}, not as us")]
    Foreign { path: PathBuf, uid: u32 },
    #[error("the holder at {path} speaks version {v} (this quild speaks {VERSION})")]
    Version { path: PathBuf, v: u32 },
    #[error("the holder at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// A fresh socket name for a pane's holder.
pub fn fresh_name(pane: quil_proto::PaneId) -> String {
    format!("{pane}-{:08x}", crate::home::random_u64() as u32)
}

/// Starts `spec` under a new holder (`exe SOCKET`) and takes the PTY from it.
pub fn launch(exe: &Path, spec: &Spec, name: String) -> Result<Held, HolderError> {
    let (ours, theirs) = UnixStream::pair().map_err(HolderError::Launch)?;
    // The socket in its arguments says, in `ps`, which pane of which home it holds.
    let mut first = std::process::Command::new(exe)
        .arg(&spec.socket)
        .stdin(OwnedFd::from(theirs))
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(HolderError::Launch)?;
    let sent = serde_json::to_vec(spec)
        .map_err(io::Error::other)
        .and_then(|mut line| {
            line.push(b'\n');
            (&ours).write_all(&line)
        });
    // The first process only forks the holder away and exits.
    let _ = first.wait();
    let io = |source| HolderError::Io {
        path: spec.socket.clone(),
        source,
    };
    sent.map_err(io)?;
    // Starting a command can take a while on a loaded machine; a holder that says nothing for
    // this long is broken.
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let (hello, master) = receive(&ours, &spec.socket)?;
    ours.set_read_timeout(None).map_err(io)?;
    Ok(Held {
        master,
        hello,
        conn: ours,
        name,
    })
}

/// Connects to the holder listening at `path` and takes its pane's PTY.
pub fn adopt(path: &Path) -> Result<Held, HolderError> {
    let conn = UnixStream::connect(path).map_err(|_| HolderError::Gone(path.to_path_buf()))?;
    let uid = peer_uid(&conn).map_err(|source| HolderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if uid != nix::unistd::getuid().as_raw() {
        return Err(HolderError::Foreign {
            path: path.to_path_buf(),
            uid,
        });
    }
    let io = |source| HolderError::Io {
        path: path.to_path_buf(),
        source,
    };
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let (hello, master) = receive(&conn, path)?;
    conn.set_read_timeout(None).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Held {
        master,
        hello,
        conn,
        name,
    })
}

/// Reads a hello and the master fd that rides on it.
fn receive(conn: &UnixStream, path: &Path) -> Result<(Hello, OwnedFd), HolderError> {
    let io = |source| HolderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut len = [0u8; 4];
    let (n, fd) = recv_with_fd(conn, &mut len).map_err(io)?;
    if n == 0 {
        return Err(HolderError::Io {
            path: path.to_path_buf(),
            source: io::ErrorKind::UnexpectedEof.into(),
        });
    }
    (&*conn).read_exact(&mut len[n..]).map_err(io)?;
    // "erro": the holder failed (`error start WHY`: the command did not start).
    if &len == b"erro" {
        let mut why = String::new();
        let _ = conn.take(4096).read_to_string(&mut why);
        let why = why.trim_start_matches("r ").trim_end();
        return Err(match why.strip_prefix("start ") {
            Some(why) => HolderError::Start(why.to_string()),
            None => HolderError::Failed(why.to_string()),
        });
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HELLO {
        return Err(io(io::Error::other(format!("a hello of {len} bytes"))));
    }
    let mut body = vec![0u8; len];
    (&*conn).read_exact(&mut body).map_err(io)?;
    let hello: Hello = serde_json::from_slice(&body).map_err(|e| io(io::Error::other(e)))?;
    if hello.v != VERSION {
        return Err(HolderError::Version {
            path: path.to_path_buf(),
            v: hello.v,
        });
    }
    let fd = fd.ok_or_else(|| io(io::Error::other("the hello carried no PTY")))?;
    Ok((hello, fd))
}

fn recv_with_fd(conn: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut got = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just gave us this fd; nobody else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                got.get_or_insert(fd);
            }
        }
    }
    Ok((msg.bytes, got))
}

fn peer_uid(conn: &UnixStream) -> io::Result<u32> {
    nix::sys::socket::getsockopt(conn, nix::sys::socket::sockopt::PeerCredentials)
        .map(|c| c.uid())
        .map_err(io::Error::from)
}

/// Tells a holder the status arrived: it can leave.
pub fn done(conn: &UnixStream) {
    let _ = (&*conn).write_all(b"done\n");
}

/// Tells a holder its pane is closed for good.
pub fn end(conn: &UnixStream) {
    let _ = (&*conn).write_all(b"end\n");
}

/// Parses an `exit S` line.
pub fn exit_status(line: &str) -> Option<i32> {
    line.trim().strip_prefix("exit ")?.parse().ok()
}

/// The exit status as a shell reports it: the code, or 128 + the signal.
pub fn status_of(s: &portable_pty::ExitStatus) -> i32 {
    match s.signal() {
        Some(sig) => 128 + signal_number(sig),
        None => s.exit_code() as i32,
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

// ---- the holder process ----

/// `quil-holder`: reads a [`Spec`] on stdin (a socket pair with the daemon), starts it and
/// holds it until the process has ended and a daemon has its status.
pub fn main() -> i32 {
    // SAFETY: called first thing in a freshly exec'd holder, which has no other thread yet.
    match unsafe { nix::unistd::fork() } {
        // The daemon waits for this first process only; the holder becomes init's child, so
        // it is neither the daemon's zombie nor ended with it.
        Ok(nix::unistd::ForkResult::Parent { .. }) => return 0,
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => {
            eprintln!("quil-holder: cannot fork: {e}");
            return 1;
        }
    }
    // A session of its own: the signals of the daemon's terminal or group are not its own.
    let _ = nix::unistd::setsid();
    // SAFETY: fd 0 is the socket pair the daemon passed as stdin; it is ours from here on.
    let first = unsafe { UnixStream::from_raw_fd(0) };
    match hold(first) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("quil-holder: {e}");
            1
        }
    }
}

fn hold(first: UnixStream) -> io::Result<()> {
    let spec: Spec = {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        // Byte by byte: nothing after the line may be taken from the socket.
        while (&first).read(&mut byte)? == 1 && byte[0] != b'\n' {
            if line.len() > MAX_HELLO {
                return Err(io::Error::other("the spec is too long"));
            }
            line.push(byte[0]);
        }
        serde_json::from_slice(&line).map_err(io::Error::other)?
    };
    let refuse = |why: String| {
        let _ = (&first).write_all(format!("error {}\n", why.replace('\n', " ")).as_bytes());
        io::Error::other(why)
    };
    let listener = listen(&spec.socket)
        .map_err(|e| refuse(format!("cannot listen at {}: {e}", spec.socket.display())))?;
    let refuse = |why: String| refuse(format!("start {why}"));
    let started = start(&spec);
    let (master, mut child) = match started {
        Ok(s) => s,
        Err(why) => {
            let _ = std::fs::remove_file(&spec.socket);
            return Err(refuse(why));
        }
    };
    let pid = child.process_id().unwrap_or(0);
    // The process's end arrives as a status on a socket, so one poll waits for everything.
    let (status_rx, status_tx) = UnixStream::pair()?;
    std::thread::spawn(move || {
        let status = child.wait().map(|s| status_of(&s)).unwrap_or(-1);
        let _ = (&status_tx).write_all(&status.to_le_bytes());
    });
    let master_fd = master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("the PTY has no fd"))?;
    let mut h = Holder {
        master_fd,
        hello: Hello {
            v: VERSION,
            pid,
            exited: None,
            argv: spec.argv.clone(),
        },
        conn: None,
        ended: None,
        lines: Vec::new(),
        listener: Some(listener),
        socket: spec.socket.clone(),
    };
    h.greet(first);
    h.run(&status_rx);
    h.stop_listening();
    drop(master);
    Ok(())
}

type Started = (
    Box<dyn portable_pty::MasterPty + Send>,
    Box<dyn portable_pty::Child + Send + Sync>,
);

fn start(spec: &Spec) -> Result<Started, String> {
    let pair = portable_pty::native_pty_system()
        .openpty(PtySize {
            rows: spec.rows.max(1),
            cols: spec.cols.max(2),
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| format!("cannot open a pty: {e}"))?;
    let mut cmd = CommandBuilder::from_argv(spec.argv.iter().map(Into::into).collect());
    cmd.cwd(&spec.cwd);
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let child = pair.slave.spawn_command(cmd).map_err(|e| e.to_string())?;
    drop(pair.slave);
    Ok((pair.master, child))
}

/// Binds `path` for the owner alone (the home is the user's, and so is this).
fn listen(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // SAFETY: umask(2) only changes this process's file creation mask.
    let old = unsafe { libc::umask(0o077) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    bound
}

struct Holder {
    master_fd: RawFd,
    hello: Hello,
    /// The daemon now holding the pane.
    conn: Option<UnixStream>,
    /// When the pane was ended (`end`): the process is killed if still there after the grace.
    ended: Option<Instant>,
    /// What the daemon sent that is not a whole line yet.
    lines: Vec<u8>,
    /// Where the next daemon finds this holder; closed once the pane is ended.
    listener: Option<UnixListener>,
    socket: PathBuf,
}

impl Holder {
    /// Hands the PTY to a daemon, which from now on is the one told of the exit.
    fn greet(&mut self, conn: UnixStream) {
        let Ok(body) = serde_json::to_vec(&self.hello) else {
            return;
        };
        let mut msg = (body.len() as u32).to_le_bytes().to_vec();
        msg.extend_from_slice(&body);
        let fds = [self.master_fd];
        let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
        let sent = nix::sys::socket::sendmsg::<()>(
            conn.as_raw_fd(),
            &[IoSlice::new(&msg[..1])],
            &cmsg,
            nix::sys::socket::MsgFlags::empty(),
            None,
        );
        if sent.is_err() || (&conn).write_all(&msg[1..]).is_err() {
            return;
        }
        self.lines.clear();
        self.conn = Some(conn);
    }

    /// An ended pane is nobody's to take over: the next daemon must not find it.
    fn stop_listening(&mut self) {
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }

    fn run(&mut self, status: &UnixStream) {
        let mut buf = [0u8; 256];
        loop {
            let mut fds = vec![
                libc::pollfd {
                    fd: self.listener.as_ref().map_or(-1, |l| l.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
                // Once read, the status socket only says it hung up: poll ignores a negative fd.
                libc::pollfd {
                    fd: if self.hello.exited.is_none() {
                        status.as_raw_fd()
                    } else {
                        -1
                    },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if let Some(c) = &self.conn {
                fds.push(libc::pollfd {
                    fd: c.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let timeout = match self.ended {
                Some(at) if self.hello.exited.is_none() => {
                    END_GRACE.saturating_sub(at.elapsed()).as_millis() as i32
                }
                _ => -1,
            };
            // SAFETY: poll(2) on an array of pollfds we own.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if self.ended.is_some_and(|at| at.elapsed() >= END_GRACE) {
                self.signal(libc::SIGKILL);
            }
            if fds[1].revents != 0 {
                let mut s = [0u8; 4];
                let status = match (&*status).read_exact(&mut s) {
                    Ok(()) => i32::from_le_bytes(s),
                    Err(_) => -1,
                };
                self.hello.exited = Some(status);
                if let Some(c) = &self.conn {
                    let _ = (&*c).write_all(format!("exit {status}\n").as_bytes());
                }
                if self.ended.is_some() {
                    return;
                }
            }
            if fds.get(2).is_some_and(|p| p.revents != 0) {
                let got = self.conn.as_ref().map(|c| (&*c).read(&mut buf));
                match got {
                    Some(Ok(n @ 1..)) => {
                        self.lines.extend_from_slice(&buf[..n]);
                        if self.take_lines() {
                            return;
                        }
                    }
                    // The daemon went (or will not talk): wait for the next one.
                    _ => self.conn = None,
                }
            }
            if let (true, Some(listener)) = (fds[0].revents != 0, &self.listener) {
                if let Ok((c, _)) = listener.accept() {
                    if peer_uid(&c).is_ok_and(|u| u == nix::unistd::getuid().as_raw()) {
                        let _ = c.set_nonblocking(false);
                        self.greet(c);
                    }
                }
            }
        }
    }

    /// Acts on the daemon's whole lines; true when the holder's work is over.
    fn take_lines(&mut self) -> bool {
        while let Some(i) = self.lines.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.lines.drain(..=i).collect();
            match line.trim_ascii() {
                b"done" if self.hello.exited.is_some() => return true,
                b"end" => {
                    if self.hello.exited.is_some() {
                        return true;
                    }
                    self.signal(libc::SIGHUP);
                    self.ended.get_or_insert_with(Instant::now);
                    self.stop_listening();
                }
                _ => {}
            }
            if self.lines.len() > 4096 {
                self.lines.clear();
            }
        }
        false
    }

    fn signal(&self, sig: i32) {
        if self.hello.pid > 0 {
            // SAFETY: kill(2) on the process group the holder's child leads, and the child.
            unsafe {
                libc::kill(-(self.hello.pid as i32), sig);
                libc::kill(self.hello.pid as i32, sig);
            }
        }
    }
}
