//! Key-echo latency: the time from writing one key to seeing its echo come back.
//!
//! The pane runs `stty raw -echo; exec cat`, so each key is echoed exactly once, by `cat`.
//! Keys are lowercase letters typed along one line (a carriage return, not timed, every 100
//! keys). Before each key the harness waits until the path has been quiet for `gap` (default
//! 20 ms, more than quil's 16 ms frame interval), so every sample is an isolated keystroke.
//! All paths are set up first and sampled in turn, one key each per round.

use crate::proc;
use crate::pty::{Pty, Read, Responder, Stripper};
use crate::quil::{self, Proto, Quil};
use crate::ssh::{self, Link, Over, Sshd};
use crate::stats;
use crate::throughput::{calibrate_tui, tui_cmd, wait_tui};
use crate::tmux::Tmux;
use crate::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use quil_proto::{Line, PaneId, Request, ServerMsg};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROGRAM: &str = "stty raw -echo; exec cat";
const ECHO_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sys {
    Raw,
    Floor1,
    Floor2,
    TmuxControl,
    TmuxClient,
    QuilProto,
    QuilTui,
    /// Over ssh: type on this side, wait for the char drawn on this side.
    Ssh(Over, Link),
}

/// Every path, those over ssh last.
pub fn all() -> Vec<Sys> {
    [
        Sys::Raw,
        Sys::Floor1,
        Sys::Floor2,
        Sys::TmuxControl,
        Sys::TmuxClient,
        Sys::QuilProto,
        Sys::QuilTui,
    ]
    .into_iter()
    .chain(ssh::PATHS.map(|(o, l)| Sys::Ssh(o, l)))
    .collect()
}

impl Sys {
    pub fn key(self) -> &'static str {
        match self {
            Sys::Raw => "raw",
            Sys::Floor1 => "floor-1",
            Sys::Floor2 => "floor-2",
            Sys::TmuxControl => "tmux-control",
            Sys::TmuxClient => "tmux-client",
            Sys::QuilProto => "quil-proto",
            Sys::QuilTui => "quil-tui",
            Sys::Ssh(over, link) => over.key(link),
        }
    }
    /// The link to the sshd, for the paths over ssh.
    fn link(self) -> Link {
        match self {
            Sys::Ssh(_, l) => l,
            _ => Link::Loopback,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sys::Raw => "raw PTY (write the master, read the master)",
            Sys::Floor1 => {
                "floor, one hop: a do-nothing relay process between a socket and the PTY"
            }
            Sys::Floor2 => {
                "floor, two hops: PTY → relay → socket → relay → PTY, the shape of a client and a server"
            }
            Sys::TmuxControl => "tmux control mode (`tmux -C`: `send-keys -l`, wait for `%output`)",
            Sys::TmuxClient => {
                "tmux client (`tmux attach` in a PTY: type, wait for the drawn char)"
            }
            Sys::QuilProto => {
                "quil protocol client (`Request::Input` notification, wait for the `PaneUpdate` row)"
            }
            Sys::QuilTui => "quil TUI (`quil` in a PTY: type, wait for the drawn char)",
            Sys::Ssh(over, link) => over.label(link),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub samples: usize,
    pub median_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub error: Option<String>,
}

/// One way of typing a key and seeing its echo.
trait EchoPath {
    fn send(&mut self, key: u8) -> Result<()>;
    /// Waits until `key` is shown at column `col` of the typed line.
    fn wait_echo(&mut self, key: u8, col: usize) -> Result<()>;
    /// Consumes output until none arrived for `quiet` (at most `quiet` + 2 s).
    fn settle(&mut self, quiet: Duration) -> Result<()>;
}

/// A ready path and what it runs on. Fields drop in order: the client before its server.
struct Live {
    sys: Sys,
    path: Box<dyn EchoPath>,
    _env: Option<Box<dyn std::any::Any>>,
    samples: Vec<f64>,
    error: Option<String>,
}

fn setup(ctx: &Ctx, dir: &std::path::Path, sys: Sys) -> Result<Live> {
    let live = |path: Box<dyn EchoPath>, env: Option<Box<dyn std::any::Any>>| Live {
        sys,
        path,
        _env: env,
        samples: Vec::new(),
        error: None,
    };
    match sys {
        Sys::Raw => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(PROGRAM);
            let pty = Pty::spawn(c, ctx.cols, ctx.rows)?;
            Ok(live(Box::new(PtyPath::new(pty)), None))
        }
        Sys::Floor1 => Ok(live(Box::new(SockPath::relay()?), None)),
        Sys::Floor2 => {
            let exe = std::env::current_exe()?;
            let mut c = Command::new(&exe);
            c.args(["relay", "--sock", "--"])
                .arg(&exe)
                .args(["relay", "--", "sh", "-c", PROGRAM]);
            let pty = Pty::spawn(c, ctx.cols, ctx.rows)?;
            Ok(live(Box::new(PtyPath::new(pty)), None))
        }
        Sys::TmuxControl | Sys::TmuxClient => {
            let t = Tmux::start(&ctx.tmux, &dir.join(sys.key()), "lat")?;
            let pane = t.new_window("lat", PROGRAM, true)?;
            wait_tty_raw(|| t.display(&pane, "#{pane_current_command}").ok(), "cat")?;
            let path: Box<dyn EchoPath> = if sys == Sys::TmuxControl {
                Box::new(TmuxControl::start(&t, &pane)?)
            } else {
                let pty = Pty::spawn(t.attach_cmd("lat"), ctx.cols, ctx.rows)?;
                t.wait_attached(pty.fd())?;
                Box::new(PtyPath::new(pty))
            };
            Ok(live(path, Some(Box::new(t))))
        }
        Sys::Ssh(Over::Plain, link) => {
            let sshd = Sshd::start(&dir.join(format!("sshd-{}", sys.key())), link)?;
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("stty raw -echo; printf R; {PROGRAM}"));
            let pty = Pty::spawn(sshd.wrap(&c), ctx.cols, ctx.rows)?;
            let mut path = PtyPath::new(pty);
            path.wait_echo(b'R', 0)
                .context("ssh did not start the program")?;
            Ok(live(Box::new(path), Some(Box::new(sshd))))
        }
        Sys::Ssh(Over::Tmux, link) => {
            let t = Tmux::start(&ctx.tmux, &dir.join(sys.key()), "lat")?;
            let pane = t.new_window("lat", PROGRAM, true)?;
            wait_tty_raw(|| t.display(&pane, "#{pane_current_command}").ok(), "cat")?;
            let sshd = Sshd::start(&dir.join(format!("sshd-{}", sys.key())), link)?;
            let pty = Pty::spawn(sshd.wrap(&t.attach_cmd("lat")), ctx.cols, ctx.rows)?;
            t.wait_attached(pty.fd())?;
            Ok(live(Box::new(PtyPath::new(pty)), Some(Box::new((t, sshd)))))
        }
        Sys::Ssh(Over::Quil, link) => {
            let q = Quil::start(&dir.join(sys.key()), &ctx.bins)?;
            let (cols, rows) = calibrate_tui(ctx, &q)?;
            let pane = quil::parse_pane(&q.new_tab_sh(PROGRAM)?)?;
            let mut ctl = q.connect()?;
            wait_tty_raw(|| cmd_of(pane_pid(&mut ctl, pane)?), "cat")?;
            let sshd = Sshd::start(&dir.join(format!("sshd-{}", sys.key())), link)?;
            let pty = Pty::spawn(
                remote_tui_cmd(&q, &sshd, &dir.join(format!("{}-client", sys.key())))?,
                cols,
                rows,
            )?;
            wait_tui(&mut ctl, pty.fd(), pane, (ctx.cols, ctx.rows))?;
            Ok(live(Box::new(PtyPath::new(pty)), Some(Box::new((q, sshd)))))
        }
        Sys::QuilProto | Sys::QuilTui => {
            let q = Quil::start(&dir.join(sys.key()), &ctx.bins)?;
            let tui_size = if sys == Sys::QuilTui {
                Some(calibrate_tui(ctx, &q)?)
            } else {
                None
            };
            let pane = quil::parse_pane(&q.new_tab_sh(PROGRAM)?)?;
            let mut ctl = q.connect()?;
            wait_tty_raw(|| cmd_of(pane_pid(&mut ctl, pane)?), "cat")?;
            let path: Box<dyn EchoPath> = if let Some((cols, rows)) = tui_size {
                let pty = Pty::spawn(tui_cmd(&q), cols, rows)?;
                wait_tui(&mut ctl, pty.fd(), pane, (ctx.cols, ctx.rows))?;
                Box::new(PtyPath::new(pty))
            } else {
                Box::new(ProtoPath::start(&q, pane)?)
            };
            Ok(live(path, Some(Box::new(q))))
        }
    }
}

/// `quil -r bench` from a home of its own, whose `[[remotes]]` entry reaches `q`'s daemon
/// through `sshd` (the far side's `quil` is a script that names `q`'s home).
pub fn remote_tui_cmd(q: &Quil, sshd: &Sshd, client_home: &std::path::Path) -> Result<Command> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(client_home)?;
    let far = client_home.join("far-quil");
    std::fs::write(
        &far,
        format!(
            "#!/bin/sh\nexport QUIL_HOME='{}' QUIL_DAEMON_BIN='{}'\nexec '{}' \"$@\"\n",
            q.home.display(),
            q.bins.quild.display(),
            q.bins.quil.display()
        ),
    )?;
    std::fs::set_permissions(&far, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(
        client_home.join("config.toml"),
        format!(
            "[[remotes]]\nname = \"bench\"\nhost = \"127.0.0.1:{}\"\nquil = \"{}\"\n\
             ssh = [\"ssh\", \"-F\", \"{}\"]\n",
            sshd.port,
            far.display(),
            sshd.config().display()
        ),
    )?;
    let mut c = Command::new(&q.bins.quil);
    c.args(["-r", "bench"])
        .env("QUIL_HOME", client_home)
        .env("TERM", "xterm-256color")
        .env_remove("QUIL_PANE_ID");
    Ok(c)
}

/// Sets every path up, then takes samples round-robin (one key on each path in turn), so a
/// change in machine load during the run affects all paths alike.
pub fn run(ctx: &Ctx, samples: usize, gap: Duration, systems: &[Sys]) -> Result<Vec<Row>> {
    const WARMUP: usize = 10;
    const LINE: usize = 100;
    let dir = ctx.tmp.join("latency");
    std::fs::create_dir_all(&dir)?;
    let mut failed: Vec<(Sys, String)> = Vec::new();
    let mut live: Vec<Live> = Vec::new();
    for &sys in systems {
        let ready = setup(ctx, &dir, sys).and_then(|mut l| {
            l.path.send(b'\r')?;
            l.path.settle(Duration::from_millis(300))?;
            Ok(l)
        });
        match ready {
            Ok(l) => live.push(l),
            Err(e) => {
                eprintln!("quil-bench: latency {} failed: {e:#}", sys.key());
                failed.push((sys, format!("{e:#}")));
            }
        }
    }
    let per_round: Duration = live
        .iter()
        .map(|l| gap + Duration::from_millis(20) + l.sys.link().round_trip())
        .sum();
    let deadline = Instant::now() + Duration::from_secs(60) + (samples + WARMUP) as u32 * per_round;
    for i in 0..samples + WARMUP {
        let col = i % LINE;
        let key = b'a' + (i % 26) as u8;
        for l in live.iter_mut().filter(|l| l.error.is_none()) {
            let r = (|| -> Result<f64> {
                if i > 0 && col == 0 {
                    l.path.send(b'\r')?;
                }
                l.path.settle(gap)?;
                let t0 = Instant::now();
                l.path.send(key)?;
                l.path
                    .wait_echo(key, col)
                    .with_context(|| format!("echo of key {} ({:?})", i + 1, key as char))?;
                Ok(t0.elapsed().as_secs_f64() * 1e3)
            })();
            match r {
                Ok(ms) if i >= WARMUP => l.samples.push(ms),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("quil-bench: latency {} failed: {e:#}", l.sys.key());
                    l.error = Some(format!("{e:#}"));
                }
            }
        }
        if Instant::now() > deadline {
            for l in live.iter_mut().filter(|l| l.error.is_none()) {
                l.error = Some(format!("took too long ({} samples)", l.samples.len()));
            }
            break;
        }
    }
    let mut rows = Vec::new();
    for &sys in systems {
        if let Some((_, e)) = failed.iter().find(|(s, _)| *s == sys) {
            rows.push(row(sys, &[], Some(e.clone())));
        } else if let Some(l) = live.iter().find(|l| l.sys == sys) {
            if l.error.is_none() {
                eprintln!(
                    "quil-bench: latency {:<13} median {:.3} ms, p90 {:.3} ms ({} samples)",
                    sys.key(),
                    stats::median(&l.samples).unwrap_or(f64::NAN),
                    stats::percentile(&l.samples, 90.0).unwrap_or(f64::NAN),
                    l.samples.len()
                );
            }
            // A path that failed midway keeps no samples: a partial series is not comparable.
            let v = if l.error.is_some() {
                &[][..]
            } else {
                &l.samples[..]
            };
            rows.push(row(sys, v, l.error.clone()));
        }
    }
    Ok(rows)
}

fn row(sys: Sys, v: &[f64], error: Option<String>) -> Row {
    Row {
        key: sys.key().into(),
        label: sys.label().into(),
        samples: v.len(),
        median_ms: stats::median(v),
        p90_ms: stats::percentile(v, 90.0),
        p99_ms: stats::percentile(v, 99.0),
        min_ms: stats::percentile(v, 0.0),
        error,
    }
}

fn pane_pid(p: &mut Proto, pane: PaneId) -> Option<u32> {
    p.list().ok()?.panes.into_iter().find(|x| x.id == pane)?.pid
}

fn cmd_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Waits until the pane's program became `cat` (so `stty raw -echo` has run).
fn wait_tty_raw(mut f: impl FnMut() -> Option<String>, want: &str) -> Result<()> {
    proc::wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
        (f()?.trim() == want).then_some(())
    })
    .ok_or_else(|| anyhow!("the pane's program did not become {want}"))
}

/// The raw PTY, or a full client (tmux, quil TUI) on a PTY: keys go to the master; the echo is
/// the key appearing as drawn text in the output.
struct PtyPath {
    pty: Pty,
    buf: Vec<u8>,
    strip: Stripper,
    resp: Responder,
}

impl PtyPath {
    fn new(pty: Pty) -> PtyPath {
        PtyPath {
            pty,
            buf: vec![0; 64 * 1024],
            strip: Stripper::default(),
            resp: Responder::default(),
        }
    }

    fn read(&mut self, timeout: Duration) -> Result<Option<usize>> {
        match self.pty.read(&mut self.buf, timeout)? {
            Read::Data(n) => {
                let reply = self.resp.scan(&self.buf[..n]);
                if !reply.is_empty() {
                    self.pty.write_all(&reply)?;
                }
                Ok(Some(n))
            }
            Read::Timeout => Ok(None),
            Read::Eof => bail!("the terminal closed (pid {} exited)", self.pty.pid),
        }
    }
}

impl EchoPath for PtyPath {
    fn send(&mut self, key: u8) -> Result<()> {
        self.pty.write_all(&[key])
    }
    fn wait_echo(&mut self, key: u8, _col: usize) -> Result<()> {
        let deadline = Instant::now() + ECHO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no echo within {ECHO_TIMEOUT:?}");
            }
            if let Some(n) = self.read(left)? {
                if self.strip.feed_find(&self.buf[..n], key) {
                    return Ok(());
                }
            }
        }
    }
    fn settle(&mut self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + quiet + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Some(n) = self.read(quiet)? {
                self.strip.feed_find(&self.buf[..n], 0);
            } else {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A relay process on a Unix socket (the floor under a protocol client): keys go into the
/// socket, the echo is the key coming back out of it.
struct SockPath {
    sock: std::os::unix::net::UnixStream,
    _guard: crate::cleanup::Guard,
    buf: Vec<u8>,
}

impl SockPath {
    fn relay() -> Result<SockPath> {
        let mut c = Command::new(std::env::current_exe()?);
        c.args(["relay", "--", "sh", "-c", PROGRAM])
            .stderr(Stdio::null());
        let (mine, child) = crate::relay::spawn_on_socket(c).context("start the relay")?;
        let pid = child.id();
        Ok(SockPath {
            sock: mine,
            _guard: crate::cleanup::Guard::new(move || proc::kill(pid, libc::SIGKILL)),
            buf: vec![0; 64 * 1024],
        })
    }
}

impl EchoPath for SockPath {
    fn send(&mut self, key: u8) -> Result<()> {
        (&self.sock).write_all(&[key])?;
        Ok(())
    }
    fn wait_echo(&mut self, key: u8, _col: usize) -> Result<()> {
        let deadline = Instant::now() + ECHO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no echo within {ECHO_TIMEOUT:?}");
            }
            match crate::pty::read_fd(self.sock.as_raw_fd(), &mut self.buf, left)? {
                Read::Data(n) if self.buf[..n].contains(&key) => return Ok(()),
                Read::Data(_) | Read::Timeout => {}
                Read::Eof => bail!("the relay exited"),
            }
        }
    }
    fn settle(&mut self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + quiet + Duration::from_secs(2);
        while Instant::now() < deadline {
            match crate::pty::read_fd(self.sock.as_raw_fd(), &mut self.buf, quiet)? {
                Read::Data(_) => {}
                Read::Timeout => return Ok(()),
                Read::Eof => bail!("the relay exited"),
            }
        }
        Ok(())
    }
}

/// tmux control mode over pipes: `send-keys` commands in, `%output` notifications out.
struct TmuxControl {
    child: Child,
    _guard: crate::cleanup::Guard,
    pane: String,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl TmuxControl {
    fn start(t: &Tmux, pane: &str) -> Result<TmuxControl> {
        let mut c = t.cmd(&["-C", "attach", "-t", "lat"]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = c.spawn().context("tmux -C attach")?;
        let pid = child.id();
        let guard = crate::cleanup::Guard::new(move || proc::kill(pid, libc::SIGKILL));
        let mut tc = TmuxControl {
            child,
            _guard: guard,
            pane: pane.to_string(),
            pending: Vec::new(),
            buf: vec![0; 64 * 1024],
        };
        // Give the control client a size, so the window keeps 120x40.
        tc.command("refresh-client -C 120,40")?;
        Ok(tc)
    }

    fn command(&mut self, cmd: &str) -> Result<()> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("no stdin"))?;
        stdin.write_all(cmd.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// Reads what arrives within `timeout` into `pending`; false if nothing did.
    fn fill(&mut self, timeout: Duration) -> Result<bool> {
        let fd = self
            .child
            .stdout
            .as_ref()
            .ok_or_else(|| anyhow!("no stdout"))?
            .as_raw_fd();
        match crate::pty::read_fd(fd, &mut self.buf, timeout)? {
            Read::Data(n) => {
                self.pending.extend_from_slice(&self.buf[..n]);
                Ok(true)
            }
            Read::Timeout => Ok(false),
            Read::Eof => bail!("tmux control client exited"),
        }
    }

    /// Reads what is available within `timeout`; returns complete lines.
    fn lines(&mut self, timeout: Duration) -> Result<Vec<Vec<u8>>> {
        if !self.fill(timeout)? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            out.push(self.pending.drain(..=i).collect());
        }
        Ok(out)
    }
}

impl EchoPath for TmuxControl {
    fn send(&mut self, key: u8) -> Result<()> {
        if key == b'\r' {
            self.command(&format!("send-keys -t {} Enter", self.pane))
        } else {
            self.command(&format!("send-keys -t {} -l {}", self.pane, key as char))
        }
    }
    fn wait_echo(&mut self, key: u8, _col: usize) -> Result<()> {
        let prefix = format!("%output {} ", self.pane);
        let deadline = Instant::now() + ECHO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no %output within {ECHO_TIMEOUT:?}");
            }
            for l in self.lines(left)? {
                if let Some(data) = l.strip_prefix(prefix.as_bytes()) {
                    if data.contains(&key) {
                        return Ok(());
                    }
                }
            }
        }
    }
    fn settle(&mut self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + quiet + Duration::from_secs(2);
        while Instant::now() < deadline && self.fill(quiet)? {}
        self.pending.clear();
        Ok(())
    }
}

/// A quil protocol client: `Request::Input` in, `PaneUpdate`s out, applied to a local copy of
/// the screen; the echo is the key appearing at its column on the cursor's row.
struct ProtoPath {
    p: Proto,
    pane: PaneId,
    rows: Vec<Line>,
    cursor_y: usize,
}

impl ProtoPath {
    fn start(q: &Quil, pane: PaneId) -> Result<ProtoPath> {
        Ok(ProtoPath {
            p: Proto::viewing(&q.home, pane)?,
            pane,
            rows: Vec::new(),
            cursor_y: 0,
        })
    }

    /// Applies one message; returns true if it was an update of our pane.
    fn apply(&mut self, m: ServerMsg) -> bool {
        let ServerMsg::PaneUpdate(u) = m else {
            return false;
        };
        if u.pane != self.pane {
            return false;
        }
        if u.full || self.rows.len() != u.rows as usize {
            self.rows = vec![Line::default(); u.rows as usize];
        }
        for (i, l) in u.lines {
            if let Some(r) = self.rows.get_mut(i as usize) {
                *r = l;
            }
        }
        self.cursor_y = u.cursor.y as usize;
        true
    }
}

impl EchoPath for ProtoPath {
    fn send(&mut self, key: u8) -> Result<()> {
        // As the TUI sends keys: a notification, answered only if it fails.
        self.p.notify(Request::Input {
            pane: self.pane,
            data: vec![key],
        })?;
        Ok(())
    }
    fn wait_echo(&mut self, key: u8, col: usize) -> Result<()> {
        let deadline = Instant::now() + ECHO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no PaneUpdate showing the key within {ECHO_TIMEOUT:?}");
            }
            if let Some(m) = self.p.recv(left)? {
                if self.apply(m) {
                    let shown = self
                        .rows
                        .get(self.cursor_y)
                        .and_then(|l| l.text().chars().nth(col));
                    if shown == Some(key as char) {
                        return Ok(());
                    }
                }
            }
        }
    }
    fn settle(&mut self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + quiet + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.p.recv(quiet)? {
                Some(m) => {
                    self.apply(m);
                }
                None => break,
            }
        }
        Ok(())
    }
}
