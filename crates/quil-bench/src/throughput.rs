//! Throughput: how long `cat FILE` takes to complete in a pane.
//!
//! Every system runs the same script on a 120x40 terminal: `read _ < GO; cat FILE; echo > DONE`.
//! The harness starts the clock when it releases `GO` (so process start-up and client attach are
//! not timed) and stops it when `DONE` is written, i.e. when `cat` has pushed its last byte into
//! the PTY; what is left then is at most one PTY buffer (a few KB). For the raw PTY the harness
//! itself reads and discards the master until EOF and reaps the child.

use crate::proc::{self, Done, Go};
use crate::pty::{Pty, Read};
use crate::quil::{self, Proto, Quil};
use crate::ssh::{self, Link, Over, Sshd};
use crate::stats;
use crate::tmux::Tmux;
use crate::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use quil_proto::{PaneId, Request, ServerMsg};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sys {
    Raw,
    /// The raw PTY with every read fed to quil's terminal emulator: the floor for any design
    /// that keeps each pane's screen in its server.
    RawTerm,
    Tmux,
    TmuxAttached,
    Quil,
    QuilTui,
    QuilProto,
    /// Over ssh, the client's terminal drained on this side (for plain ssh, `cat` runs on the
    /// far side).
    Ssh(Over, Link),
}

/// Every system, those over ssh last.
pub fn all() -> Vec<Sys> {
    [
        Sys::Raw,
        Sys::RawTerm,
        Sys::Tmux,
        Sys::TmuxAttached,
        Sys::Quil,
        Sys::QuilTui,
        Sys::QuilProto,
    ]
    .into_iter()
    .chain(ssh::PATHS.map(|(o, l)| Sys::Ssh(o, l)))
    .collect()
}

impl Sys {
    pub fn key(self) -> &'static str {
        match self {
            Sys::Raw => "raw",
            Sys::RawTerm => "raw-term",
            Sys::Tmux => "tmux",
            Sys::TmuxAttached => "tmux-attached",
            Sys::Quil => "quil",
            Sys::QuilTui => "quil-tui",
            Sys::QuilProto => "quil-proto",
            Sys::Ssh(over, link) => over.key(link),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sys::Raw => "raw PTY",
            Sys::RawTerm => "raw PTY, each read fed to quil's terminal emulator (no daemon)",
            Sys::Tmux => "tmux, no client",
            Sys::TmuxAttached => "tmux + attached client (`tmux attach` in a drained PTY)",
            Sys::Quil => "quil, no client",
            Sys::QuilTui => "quil + attached TUI (`quil` in a drained PTY)",
            Sys::QuilProto => "quil + protocol client (Attach/View, decodes every update)",
            Sys::Ssh(over, link) => over.label(link),
        }
    }

    fn tmux(self) -> bool {
        matches!(
            self,
            Sys::Tmux | Sys::TmuxAttached | Sys::Ssh(Over::Tmux, _)
        )
    }

    fn quil(self) -> bool {
        matches!(
            self,
            Sys::Quil | Sys::QuilTui | Sys::QuilProto | Sys::Ssh(Over::Quil, _)
        )
    }

    fn tui(self) -> bool {
        matches!(self, Sys::QuilTui | Sys::Ssh(Over::Quil, _))
    }

    fn link(self) -> Option<Link> {
        match self {
            Sys::Ssh(_, l) => Some(l),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub runs_s: Vec<f64>,
    pub median_s: Option<f64>,
    /// Per run: until the attached client had shown the last line (the raw PTY: until the
    /// harness read it), the clock a user sees.
    #[serde(default)]
    pub shown_runs_s: Vec<f64>,
    #[serde(default)]
    pub shown_median_s: Option<f64>,
    /// Fastest run: noise on a shared machine only ever adds time.
    #[serde(default)]
    pub min_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// Median CPU seconds used by the multiplexer's server process per run.
    pub server_cpu_s: Option<f64>,
    /// Median CPU seconds used by the attached client per run.
    pub client_cpu_s: Option<f64>,
    /// Median bytes the attached client received per run.
    pub client_mb: Option<f64>,
    /// Pane size during the run (COLSxROWS).
    pub pane: Option<String>,
    pub error: Option<String>,
}

struct Sample {
    secs: f64,
    /// Until the attached client had shown the last line (the raw PTY: read it).
    shown: Option<f64>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    client_bytes: Option<u64>,
    pane: String,
}

struct Envs {
    tmux: Option<Tmux>,
    quil: Option<Quil>,
    tui_size: Option<(u16, u16)>,
    sshd: Vec<(Link, Sshd)>,
}

impl Envs {
    fn sshd(&self, link: Link) -> Result<&Sshd> {
        self.sshd
            .iter()
            .find(|(l, _)| *l == link)
            .map(|(_, s)| s)
            .ok_or_else(|| anyhow!("no sshd"))
    }
}

pub fn run(
    ctx: &Ctx,
    file: &Path,
    runs: usize,
    systems: &[Sys],
    timeout: Duration,
) -> Result<Vec<Row>> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("{}", file.display()))?
        .len();
    // Warm the page cache so no system pays for the first read from disk.
    std::io::copy(&mut std::fs::File::open(file)?, &mut std::io::sink())?;
    let dir = ctx.tmp.join("throughput");
    std::fs::create_dir_all(&dir)?;
    let mut envs = Envs {
        tmux: None,
        quil: None,
        tui_size: None,
        sshd: Vec::new(),
    };
    let mut errors: Vec<Option<String>> = vec![None; systems.len()];
    for link in [Link::Loopback, Link::Delayed] {
        if systems.iter().any(|s| s.link() == Some(link)) {
            match Sshd::start(&dir.join(format!("sshd-{link:?}")), link) {
                Ok(sshd) => envs.sshd.push((link, sshd)),
                Err(e) => mark(
                    &mut errors,
                    systems,
                    |s| s.link() == Some(link),
                    &format!("{e:#}"),
                ),
            }
        }
    }
    if systems.iter().any(|s| s.tmux()) {
        match Tmux::start(&ctx.tmux, &dir.join("tmux"), "bench") {
            Ok(t) => envs.tmux = Some(t),
            Err(e) => mark(&mut errors, systems, Sys::tmux, &format!("{e:#}")),
        }
    }
    if systems.iter().any(|s| s.quil()) {
        match Quil::start(&dir.join("quil"), &ctx.bins) {
            Ok(q) => {
                // A tab that outlives the runs, as tmux's first window does.
                if let Err(e) = q.new_tab_sh("exec sleep 100000") {
                    eprintln!("quil-bench: holder tab: {e:#}");
                }
                if systems.iter().any(|s| s.tui()) {
                    match calibrate_tui(ctx, &q) {
                        Ok(s) => envs.tui_size = Some(s),
                        Err(e) => mark(&mut errors, systems, Sys::tui, &format!("TUI: {e:#}")),
                    }
                }
                envs.quil = Some(q);
            }
            Err(e) => mark(&mut errors, systems, Sys::quil, &format!("{e:#}")),
        }
    }

    let mut samples: Vec<Vec<Sample>> = systems.iter().map(|_| Vec::new()).collect();
    let mut n = 0;
    // Interleaved (all systems in run 1, then run 2, ...) so load changes hit all alike.
    for round in 0..runs {
        for (i, &sys) in systems.iter().enumerate() {
            if errors[i].is_some() {
                continue;
            }
            n += 1;
            let run_dir = dir.join(format!("run-{n}"));
            std::fs::create_dir_all(&run_dir)?;
            let r = one(ctx, &envs, sys, file, &run_dir, timeout);
            let _ = std::fs::remove_dir_all(&run_dir);
            match r {
                Ok(s) => {
                    eprintln!(
                        "quil-bench: throughput {:<14} run {}/{}: {:.3} s ({:.0} MB/s)",
                        sys.key(),
                        round + 1,
                        runs,
                        s.secs,
                        size as f64 / 1e6 / s.secs
                    );
                    samples[i].push(s);
                }
                Err(e) => {
                    eprintln!("quil-bench: throughput {} failed: {e:#}", sys.key());
                    errors[i] = Some(format!("{e:#}"));
                }
            }
        }
    }
    drop(envs);

    Ok(systems
        .iter()
        .zip(samples)
        .zip(errors)
        .map(|((&sys, s), error)| {
            let secs: Vec<f64> = s.iter().map(|x| x.secs).collect();
            let med = |f: &dyn Fn(&Sample) -> Option<f64>| {
                let v: Vec<f64> = s.iter().filter_map(f).collect();
                stats::median(&v)
            };
            let median_s = stats::median(&secs);
            let shown: Vec<f64> = s.iter().filter_map(|x| x.shown).collect();
            Row {
                shown_median_s: stats::median(&shown),
                shown_runs_s: shown,
                key: sys.key().into(),
                label: sys.label().into(),
                median_s,
                min_s: stats::percentile(&secs, 0.0),
                mb_per_s: median_s.map(|m| size as f64 / 1e6 / m),
                server_cpu_s: med(&|x| x.server_cpu),
                client_cpu_s: med(&|x| x.client_cpu),
                client_mb: med(&|x| x.client_bytes.map(|b| b as f64 / 1e6)),
                pane: s.first().map(|x| x.pane.clone()),
                runs_s: secs,
                error,
            }
        })
        .collect())
}

fn mark(errors: &mut [Option<String>], systems: &[Sys], f: impl Fn(Sys) -> bool, msg: &str) {
    for (i, &s) in systems.iter().enumerate() {
        if f(s) && errors[i].is_none() {
            errors[i] = Some(msg.to_string());
        }
    }
}

/// The line printed after the file: made only of characters the file never has (see
/// `gen.rs`), so a client that only writes the cells that changed still writes it whole.
/// (With `#`, which the file has, a row that showed a `#` in the same column just before was
/// not written again, and about one run in ten never saw the mark.) The script prints it in
/// two halves, so a command line shown in a border or status line never contains it, and then
/// stays a moment: a pane that closes at once may never be drawn with it.
pub(crate) const END_MARK: &str = "@~@~@~@~@~@~@~@~";

fn script(go: &Path, file: &Path, done: Option<&Path>) -> String {
    let go = proc::sh_quote(&go.display().to_string());
    let file = proc::sh_quote(&file.display().to_string());
    let (a, b) = END_MARK.split_at(END_MARK.len() / 2);
    match done {
        Some(d) => format!(
            "read _ < {go}; cat {file}; printf '%s%s\\n' '{a}' '{b}'; echo > {}; sleep 2",
            proc::sh_quote(&d.display().to_string())
        ),
        None => format!("read _ < {go}; exec cat {file}"),
    }
}

/// Seconds from `t0` until the client drained by `d` wrote the end marker to its terminal,
/// waiting for it up to 30 s after the program finished.
fn shown_at(d: &crate::pty::Drained, t0: Instant) -> Result<f64> {
    let at = proc::wait_for(Duration::from_secs(30), Duration::from_millis(1), || {
        *d.seen.lock().ok()?
    })
    .ok_or_else(|| anyhow!("the client did not show the last line within 30 s"))?;
    Ok(at.duration_since(t0).as_secs_f64())
}

fn cpu_delta(pid: u32, before: Option<f64>) -> Option<f64> {
    Some(proc::cpu_s(pid)? - before?)
}

fn one(
    ctx: &Ctx,
    envs: &Envs,
    sys: Sys,
    file: &Path,
    dir: &Path,
    timeout: Duration,
) -> Result<Sample> {
    let go = dir.join("go");
    let done_path = dir.join("done");
    proc::mkfifo(&go)?;
    proc::mkfifo(&done_path)?;
    match sys {
        Sys::Raw | Sys::RawTerm => {
            // The daemon's terminal, with its default scrollback budget.
            let mut term = (sys == Sys::RawTerm).then(|| {
                quil_term::Terminal::new(quil_term::TermConfig {
                    cols: ctx.cols,
                    rows: ctx.rows,
                    scrollback_bytes: 8 * 1024 * 1024,
                })
            });
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script(&go, file, None));
            let mut pty = Pty::spawn(cmd, ctx.cols, ctx.rows)?;
            let cpu0 = proc::thread_cpu_s();
            let t0 = Go(&go).fire(Duration::from_secs(10))?;
            // Plain blocking reads (no poll per read, like a tight terminal reader); a watchdog
            // kills the command at the deadline, which ends the reads with EOF.
            let finished = Arc::new(AtomicBool::new(false));
            let timed_out = Arc::new(AtomicBool::new(false));
            let (f, to, pid) = (finished.clone(), timed_out.clone(), pty.pid);
            let watchdog = std::thread::spawn(move || {
                while !f.load(Ordering::Relaxed) {
                    if t0.elapsed() > timeout {
                        to.store(true, Ordering::Relaxed);
                        // SAFETY: kill(2) on the process group the PTY's command leads.
                        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let mut buf = vec![0u8; 64 * 1024];
            let mut bytes = 0u64;
            let result = loop {
                match crate::pty::read_blocking(pty.fd(), &mut buf) {
                    Ok(Read::Data(n)) => {
                        bytes += n as u64;
                        if let Some(t) = term.as_mut() {
                            t.feed(&buf[..n]);
                        }
                    }
                    Ok(_) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            finished.store(true, Ordering::Relaxed);
            let _ = watchdog.join();
            result?;
            if timed_out.load(Ordering::Relaxed) {
                bail!("timed out after {timeout:?}");
            }
            pty.wait(Duration::from_secs(10))?;
            let secs = t0.elapsed().as_secs_f64();
            Ok(Sample {
                secs,
                shown: Some(secs),
                server_cpu: None,
                client_cpu: Some(proc::thread_cpu_s() - cpu0),
                client_bytes: Some(bytes),
                pane: format!("{}x{}", ctx.cols, ctx.rows),
            })
        }
        Sys::Ssh(Over::Plain, link) => {
            let done = Done::open(&done_path)?;
            let mut c = Command::new("sh");
            c.arg("-c").arg(script(&go, file, Some(&done_path)));
            let pty = Pty::spawn(envs.sshd(link)?.wrap(&c), ctx.cols, ctx.rows)?;
            let pid = pty.pid;
            let d = pty.drain_watching(END_MARK.into());
            let c0 = proc::cpu_s(pid);
            // Fired once the far side's script opens the FIFO, so ssh's start is not timed.
            let t0 = Go(&go).fire(Duration::from_secs(20))?;
            done.wait(timeout)?;
            let secs = t0.elapsed().as_secs_f64();
            let shown = Some(shown_at(&d, t0)?);
            Ok(Sample {
                secs,
                shown,
                server_cpu: None,
                client_cpu: cpu_delta(pid, c0),
                client_bytes: Some(d.bytes.load(Ordering::Relaxed)),
                pane: format!("{}x{}", ctx.cols, ctx.rows),
            })
        }
        Sys::Tmux | Sys::TmuxAttached | Sys::Ssh(Over::Tmux, _) => {
            let t = envs
                .tmux
                .as_ref()
                .ok_or_else(|| anyhow!("no tmux server"))?;
            let done = Done::open(&done_path)?;
            let attached = sys != Sys::Tmux;
            let pane = t.new_window("bench", &script(&go, file, Some(&done_path)), attached)?;
            let client = if attached {
                let cmd = match sys.link() {
                    Some(link) => envs.sshd(link)?.wrap(&t.attach_cmd("bench")),
                    None => t.attach_cmd("bench"),
                };
                let pty = Pty::spawn(cmd, ctx.cols, ctx.rows)?;
                let (pid, fd) = (pty.pid, pty.fd());
                let d = pty.drain_watching(END_MARK.into());
                t.wait_attached(fd)?;
                std::thread::sleep(Duration::from_millis(200));
                Some((pid, d))
            } else {
                None
            };
            let size = t.display(&pane, "#{pane_width}x#{pane_height}")?;
            let s0 = proc::cpu_s(t.pid);
            let c0 = client.as_ref().and_then(|(pid, _)| proc::cpu_s(*pid));
            let b0 = client
                .as_ref()
                .map(|(_, d)| d.bytes.load(Ordering::Relaxed));
            let t0 = Go(&go).fire(Duration::from_secs(10))?;
            done.wait(timeout)?;
            let secs = t0.elapsed().as_secs_f64();
            let shown = match &client {
                Some((_, d)) => Some(shown_at(d, t0)?),
                None => None,
            };
            let server_cpu = cpu_delta(t.pid, s0);
            let client_cpu = client.as_ref().and_then(|(pid, _)| cpu_delta(*pid, c0));
            let client_bytes = client
                .as_ref()
                .map(|(_, d)| d.bytes.load(Ordering::Relaxed) - b0.unwrap_or(0));
            drop(client);
            Ok(Sample {
                secs,
                shown,
                server_cpu,
                client_cpu,
                client_bytes,
                pane: size,
            })
        }
        Sys::Quil | Sys::QuilTui | Sys::QuilProto | Sys::Ssh(Over::Quil, _) => {
            let q = envs
                .quil
                .as_ref()
                .ok_or_else(|| anyhow!("no quil daemon"))?;
            let done = Done::open(&done_path)?;
            let pane = quil::parse_pane(&q.new_tab_sh(&script(&go, file, Some(&done_path)))?)?;
            let mut ctl = q.connect()?;
            enum Client {
                Tui(u32, crate::pty::Drained),
                Proto(ProtoDrain),
            }
            let client = match sys {
                Sys::QuilTui | Sys::Ssh(Over::Quil, _) => {
                    let (cols, rows) = envs.tui_size.ok_or_else(|| anyhow!("TUI size unknown"))?;
                    // The TUI shows the active tab: make it this run's, as a user would.
                    ctl.request(Request::Focus { pane })?;
                    let cmd = match sys.link() {
                        Some(link) => crate::latency::remote_tui_cmd(
                            q,
                            envs.sshd(link)?,
                            &dir.join("client"),
                        )?,
                        None => tui_cmd(q),
                    };
                    let pty = Pty::spawn(cmd, cols, rows)?;
                    let (pid, fd) = (pty.pid, pty.fd());
                    let d = pty.drain_watching(END_MARK.into());
                    wait_tui(&mut ctl, fd, pane, (ctx.cols, ctx.rows))?;
                    std::thread::sleep(Duration::from_millis(200));
                    Some(Client::Tui(pid, d))
                }
                Sys::QuilProto => Some(Client::Proto(ProtoDrain::start(&q.home, pane)?)),
                _ => None,
            };
            let (c, r) =
                pane_size(&mut ctl, pane).ok_or_else(|| anyhow!("pane {pane} not listed"))?;
            drop(ctl);
            let s0 = proc::cpu_s(q.pid);
            let (c0, b0) = match &client {
                Some(Client::Tui(pid, d)) => (proc::cpu_s(*pid), d.bytes.load(Ordering::Relaxed)),
                _ => (None, 0),
            };
            let t0 = Go(&go).fire(Duration::from_secs(10))?;
            done.wait(timeout)?;
            let secs = t0.elapsed().as_secs_f64();
            let shown = match &client {
                Some(Client::Tui(_, d)) => Some(shown_at(d, t0)?),
                _ => None,
            };
            let server_cpu = cpu_delta(q.pid, s0);
            let (client_cpu, client_bytes) = match client {
                Some(Client::Tui(pid, d)) => {
                    let cpu = cpu_delta(pid, c0);
                    let bytes = d.bytes.load(Ordering::Relaxed) - b0;
                    drop(d);
                    (cpu, Some(bytes))
                }
                Some(Client::Proto(p)) => {
                    let (bytes, cpu) = p.stop()?;
                    (Some(cpu), Some(bytes))
                }
                None => (None, None),
            };
            Ok(Sample {
                secs,
                shown,
                server_cpu,
                client_cpu,
                client_bytes,
                pane: format!("{c}x{r}"),
            })
        }
    }
}

pub fn pane_size(p: &mut Proto, pane: PaneId) -> Option<(u16, u16)> {
    let ws = p.list().ok()?;
    ws.panes
        .iter()
        .find(|x| x.id == pane)
        .map(|x| (x.cols, x.rows))
}

/// The real TUI: `quil` (attach) on a terminal.
pub fn tui_cmd(q: &Quil) -> Command {
    let mut c = q.cli(&[]);
    c.env("TERM", "xterm-256color");
    c
}

/// Waits until a TUI on the PTY `fd` is attached (a second connection besides `ctl`), took the
/// terminal (raw mode) and sized `pane` to `want`.
pub fn wait_tui(ctl: &mut Proto, fd: i32, pane: PaneId, want: (u16, u16)) -> Result<()> {
    proc::wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
        (crate::pty::echo_off(fd) && ctl.clients().ok()? >= 2 && pane_size(ctl, pane)? == want)
            .then_some(())
    })
    .ok_or_else(|| {
        anyhow!(
            "the TUI did not start within 10 s (raw mode: {}, pane size {:?}, wanted {want:?})",
            crate::pty::echo_off(fd),
            pane_size(ctl, pane)
        )
    })
}

/// The outer terminal size at which the TUI gives the active pane `ctx.cols x ctx.rows` (the
/// TUI's tab bar, borders and status line take some rows and columns).
pub fn calibrate_tui(ctx: &Ctx, q: &Quil) -> Result<(u16, u16)> {
    let pane = quil::parse_pane(&q.new_tab_sh("exec sleep 100000")?)?;
    let mut ctl = q.connect()?;
    let result = (|| {
        let pty = Pty::spawn(tui_cmd(q), ctx.cols, ctx.rows)?;
        let fd = pty.fd();
        let d = pty.drain();
        let got = proc::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            let s = pane_size(&mut ctl, pane)?;
            (crate::pty::echo_off(fd) && s != (ctx.cols, ctx.rows)).then_some(s)
        });
        let raw = crate::pty::echo_off(fd);
        drop(d);
        let (c, r) = got.ok_or_else(|| {
            anyhow!("the TUI did not start and size its pane within 10 s (raw mode: {raw})")
        })?;
        if c > ctx.cols || r > ctx.rows {
            bail!(
                "the TUI made the pane {c}x{r}, larger than its {}x{} terminal",
                ctx.cols,
                ctx.rows
            );
        }
        Ok((2 * ctx.cols - c, 2 * ctx.rows - r))
    })();
    let _ = ctl.request(Request::KillPane { pane });
    result
}

/// A protocol client that views one pane and decodes every message until stopped.
pub struct ProtoDrain {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<(u64, f64)>>,
}

impl ProtoDrain {
    pub fn start(home: &Path, pane: PaneId) -> Result<ProtoDrain> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let (s, home) = (stop.clone(), home.to_path_buf());
        let handle = std::thread::Builder::new()
            .name("proto-drain".into())
            .spawn(move || {
                let setup = (|| {
                    let mut p = Proto::viewing(&home, pane)?;
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        match p.recv(Duration::from_millis(100))? {
                            Some(ServerMsg::PaneUpdate(u)) if u.pane == pane => return Ok(p),
                            _ if Instant::now() > deadline => {
                                bail!("no PaneUpdate within 10 s of View")
                            }
                            _ => {}
                        }
                    }
                })();
                let mut p = match setup {
                    Ok(p) => {
                        let _ = tx.send(Ok(()));
                        p
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:#}")));
                        return Err(e);
                    }
                };
                let (cpu0, b0) = (proc::thread_cpu_s(), p.bytes_in);
                while !s.load(Ordering::Relaxed) {
                    p.recv(Duration::from_millis(50))?;
                }
                Ok((p.bytes_in - b0, proc::thread_cpu_s() - cpu0))
            })?;
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => Ok(ProtoDrain { stop, handle }),
            Ok(Err(e)) => bail!("protocol client: {e}"),
            Err(_) => bail!("protocol client did not start"),
        }
    }

    /// Stops; returns (bytes received, CPU seconds of the client thread) since it was ready.
    pub fn stop(self) -> Result<(u64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow!("protocol client panicked"))?
    }
}
