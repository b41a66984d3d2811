//! A private quil daemon (its own `QUIL_HOME` in the run's temp dir) and a minimal protocol
//! client with read timeouts (the stock blocking client has none, and the harness must never
//! hang).

use crate::cleanup::Guard;
use crate::proc;
use anyhow::{anyhow, bail, Context, Result};
use quil_proto::codec::{write_msg, FrameDecoder, MAX_FRAME};
use quil_proto::{decode, ClientMsg, Hello, HelloReply, PaneId, Reply, Request, ServerMsg};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Bins {
    pub quil: PathBuf,
    pub quild: PathBuf,
}

pub struct Quil {
    pub home: PathBuf,
    pub bins: Bins,
    pub pid: u32,
    _guard: Guard,
}

const CLI_TIMEOUT: Duration = Duration::from_secs(20);

impl Quil {
    /// Starts a daemon in `home` (created by the daemon) with `quil daemon start`.
    pub fn start(home: &Path, bins: &Bins) -> Result<Quil> {
        let home = home.to_path_buf();
        // Registered before starting, so even a half-started daemon is stopped.
        let (h, b) = (home.clone(), bins.clone());
        let guard = Guard::new(move || stop_daemon(&h, &b));
        let q = Quil {
            home,
            bins: bins.clone(),
            pid: 0,
            _guard: guard,
        };
        proc::run_ok(q.cli(&["daemon", "start"]), CLI_TIMEOUT).context("quil daemon start")?;
        let status = proc::run_ok(q.cli(&["daemon", "status", "--json"]), CLI_TIMEOUT)?;
        let v: serde_json::Value =
            serde_json::from_str(status.trim()).context("quil daemon status --json")?;
        let pid = v["pid"]
            .as_u64()
            .ok_or_else(|| anyhow!("no pid in `quil daemon status --json`: {status}"))?
            as u32;
        Ok(Quil { pid, ..q })
    }

    /// A `quil` command for this daemon.
    pub fn cli(&self, args: &[&str]) -> Command {
        cli_cmd(&self.home, &self.bins, args)
    }

    /// `quil new-tab -- sh -c SCRIPT`; returns the pane id as printed.
    pub fn new_tab_sh(&self, script: &str) -> Result<String> {
        let out = proc::run_ok(
            self.cli(&["new-tab", "--", "sh", "-c", script]),
            CLI_TIMEOUT,
        )?;
        let id = out.trim().to_string();
        if id.is_empty() {
            bail!("quil new-tab printed no pane id");
        }
        Ok(id)
    }

    pub fn connect(&self) -> Result<Proto> {
        Proto::connect(&self.home)
    }
}

fn cli_cmd(home: &Path, bins: &Bins, args: &[&str]) -> Command {
    let mut c = Command::new(&bins.quil);
    c.args(args)
        .env("QUIL_HOME", home)
        .env("QUIL_DAEMON_BIN", &bins.quild)
        .env_remove("QUIL_PANE_ID");
    c
}

fn stop_daemon(home: &Path, bins: &Bins) {
    let pid = std::fs::read_to_string(quil_proto::paths::pid_path(home))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let _ = proc::run_timeout(
        cli_cmd(home, bins, &["daemon", "stop"]),
        Duration::from_secs(15),
    );
    if let Some(pid) = pid {
        if proc::alive(pid) {
            proc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Pane id as the protocol knows it, from the text `quil new-tab` prints (`pane-1a2b3c4d`).
pub fn parse_pane(id: &str) -> Result<PaneId> {
    id.trim().parse::<PaneId>().map_err(|e| anyhow!("{e}"))
}

/// A protocol connection with timeouts.
pub struct Proto {
    stream: UnixStream,
    dec: FrameDecoder,
    buf: Vec<u8>,
    next_id: u32,
    pub bytes_in: u64,
}

impl Proto {
    pub fn connect(home: &Path) -> Result<Proto> {
        let path = quil_proto::paths::socket_path(home);
        let mut stream =
            UnixStream::connect(&path).with_context(|| format!("connect {}", path.display()))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(&Hello::CURRENT.frame())?;
        let mut p = Proto {
            stream,
            dec: FrameDecoder::new(MAX_FRAME),
            buf: vec![0; 256 * 1024],
            next_id: 1,
            bytes_in: 0,
        };
        let body = p
            .next_body(Duration::from_secs(10))?
            .ok_or_else(|| anyhow!("no handshake reply"))?;
        match HelloReply::decode(&body)? {
            HelloReply::Accepted { .. } => Ok(p),
            HelloReply::Refused { reason, .. } => bail!("daemon refused: {reason}"),
        }
    }

    /// A connection attached as a client and viewing `pane`, so its updates stream in.
    pub fn viewing(home: &Path, pane: PaneId) -> Result<Proto> {
        let mut p = Proto::connect(home)?;
        p.request(Request::Attach)?;
        p.request(Request::View { panes: vec![pane] })?;
        Ok(p)
    }

    fn next_body(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(b) = self.dec.next_frame()? {
                return Ok(Some(b));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_micros(100))))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => bail!("the daemon closed the connection"),
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.dec.push(&self.buf[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next server message, or `None` after `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ServerMsg>> {
        match self.next_body(timeout)? {
            Some(b) => Ok(Some(decode(&b)?)),
            None => Ok(None),
        }
    }

    /// Sends a request without waiting for its reply.
    pub fn send(&mut self, req: Request) -> Result<u32> {
        let id = self.next_id;
        self.next_id += 1;
        write_msg(&mut self.stream, &ClientMsg::Request { id, req })?;
        Ok(id)
    }

    /// Sends a request that is answered only if it fails, as the TUI sends keystrokes.
    pub fn notify(&mut self, req: Request) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        write_msg(&mut self.stream, &ClientMsg::Notify { id, req })?;
        Ok(())
    }

    /// Sends a request and waits for its reply, dropping streamed messages meanwhile.
    pub fn request(&mut self, req: Request) -> Result<Reply> {
        let id = self.send(req)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left)? {
                Some(ServerMsg::Reply { id: r, result }) if r == id => {
                    return result.map_err(|e| anyhow!("daemon: {e}"))
                }
                Some(_) => {}
                None => bail!("no reply from the daemon within 20 s"),
            }
        }
    }

    pub fn list(&mut self) -> Result<quil_proto::WorkspaceInfo> {
        match self.request(Request::List)? {
            Reply::List(ws) => Ok(ws),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    pub fn clients(&mut self) -> Result<u32> {
        match self.request(Request::Status)? {
            Reply::Status(s) => Ok(s.clients),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    pub fn capture(&mut self, pane: PaneId) -> Result<Vec<String>> {
        match self.request(Request::Capture {
            pane,
            scrollback: 0,
            ansi: false,
            without_chrome: false,
        })? {
            Reply::Text(t) => Ok(t),
            other => bail!("unexpected reply {other:?}"),
        }
    }
}
