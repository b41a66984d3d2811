//! The full-screen TUI: attaches to the daemon and draws the screen state it streams.
//!
//! One thread waits on the terminal and the daemon's socket together (`poll`), owns all state
//! ([`app::App`]) and redraws only when something changed, so an idle client uses no CPU.

pub mod agents;
pub mod app;
pub mod config;
pub mod dialog;
pub mod display;
pub mod domains;
pub mod input;
pub mod keys;
pub mod mouse;
pub mod pane;
pub mod picker;
pub mod popup;
pub mod predict;
pub mod recent;
pub mod render;
pub mod scrollback;
pub mod setup;
pub mod tree;

use crate::conn::Client;
use crate::remote::Attempt;
use anyhow::Context;
use app::{App, Quit};
use crossterm::cursor::{SetCursorStyle, Show};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{execute, queue};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use quil_proto::{CursorShape, Request, ServerMsg};
use std::io::{stdout, IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// A config file other than `$QUIL_HOME/config.toml`.
    pub config: Option<PathBuf>,
    /// Other daemons whose tabs show beside the first one's (`quil attach --also`).
    pub also: Vec<crate::remote::Target>,
}

/// Set while the kitty keyboard flags are pushed, so restoring pops them only then.
static KITTY_PUSHED: AtomicBool = AtomicBool::new(false);
/// Set while the outer terminal is in our modes.
static TERM_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Puts the outer terminal back as it was. Safe to call twice (from the panic hook and Drop).
fn restore_terminal() {
    if !TERM_ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = stdout();
    if KITTY_PUSHED.swap(false, Ordering::SeqCst) {
        let _ = queue!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        SetCursorStyle::DefaultUserShape,
        Show,
        LeaveAlternateScreen
    );
    let _ = disable_raw_mode();
}

/// Owns the outer terminal's modes for the TUI's lifetime.
struct TermGuard;

impl TermGuard {
    fn enter() -> anyhow::Result<(TermGuard, bool)> {
        enable_raw_mode().context("cannot put the terminal in raw mode")?;
        TERM_ACTIVE.store(true, Ordering::SeqCst);
        let guard = TermGuard;
        // Asked before the event thread starts: the answer comes back as terminal input.
        let kitty = crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false);
        let mut out = stdout();
        execute!(
            out,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        )?;
        if kitty {
            // Only disambiguation: key releases and alternate keys would change what programs
            // in panes receive for plain typing.
            execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )?;
            KITTY_PUSHED.store(true, Ordering::SeqCst);
        }
        Ok((guard, kitty))
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// OSC 52: the outer terminal puts `text` on the system clipboard.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn cursor_style(shape: Option<CursorShape>) -> SetCursorStyle {
    match shape {
        None => SetCursorStyle::DefaultUserShape,
        Some(CursorShape::Block) => SetCursorStyle::SteadyBlock,
        Some(CursorShape::Underline) => SetCursorStyle::SteadyUnderScore,
        Some(CursorShape::Beam) => SetCursorStyle::SteadyBar,
        Some(CursorShape::BlinkBlock) => SetCursorStyle::BlinkingBlock,
        Some(CursorShape::BlinkUnderline) => SetCursorStyle::BlinkingUnderScore,
        Some(CursorShape::BlinkBeam) => SetCursorStyle::BlinkingBar,
    }
}

/// A connection attached as a viewer: its two halves, and the workspace as it was then.
struct Attached {
    reader: crate::conn::Reader,
    writer: crate::conn::Writer,
    initial: Option<quil_proto::WorkspaceInfo>,
    /// Problems with config.toml to show once attached.
    problems: Vec<String>,
}

/// Lists the workspace, then attaches `client` as a viewer.
fn attach(mut client: Client) -> anyhow::Result<Attached> {
    // The workspace as of now, so the first frame does not wait for the daemon's next change.
    // Listed before attaching: once attached the daemon streams, and a streamed message that
    // arrives before a reply must not be waited on here (`Client::request` keeps it queued).
    let initial = match client
        .request(Request::List)
        .context("listing the workspace")?
    {
        quil_proto::Reply::List(ws) => Some(ws),
        _ => None,
    };
    // The daemon's problems with config.toml, to show on screen rather than only in its log.
    let problems = match client.request(Request::ReloadConfig { apply: false }) {
        Ok(quil_proto::Reply::Text(p)) => p,
        _ => Vec::new(),
    };
    client
        .request(Request::Attach)
        .context("attaching to the daemon")?;
    let writer = client.writer()?;
    Ok(Attached {
        reader: client.into_reader(),
        writer,
        initial,
        problems,
    })
}

/// Attaches a full-screen client over `client`, a fresh connection to the daemon of `target`.
/// `home` is this machine's `$QUIL_HOME`, whose config.toml the client reads.
pub fn run(
    client: Client,
    target: &crate::remote::Target,
    home: &Path,
    opts: TuiOptions,
) -> anyhow::Result<()> {
    // Everything that can fail for a plain reason fails before the screen is taken over. A
    // wrong entry in config.toml is not one: it keeps its default, and the screen says so.
    let (cfg, problems) = config::Config::load_lenient(home, opts.config.as_deref())?;
    let mut conn = attach(client)?;
    // Ours first, then the daemon's (asked for by `attach`).
    let mut all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    all.append(&mut conn.problems);
    conn.problems = all;
    let mut others = Vec::new();
    for t in &opts.also {
        let c = t
            .connect_or_start()
            .with_context(|| format!("cannot attach to {} too", t.label()))?;
        let a = attach(c).with_context(|| format!("cannot attach to {} too", t.label()))?;
        others.push((t.clone(), a));
    }

    install_panic_hook();
    let (guard, kitty) = TermGuard::enter()?;
    let recent_file = match target.remote() {
        None => recent::path(home),
        Some(r) => recent::remote_path(home, &r.label),
    };
    let result = event_loop(
        conn,
        others,
        target,
        home,
        opts.config.as_deref(),
        cfg,
        kitty,
        &recent_file,
    );
    drop(guard);
    match result? {
        Quit::Detach => {
            let again = match target.remote() {
                Some(r) => format!("quil -r {}", r.label),
                None => "quil".into(),
            };
            println!("[detached; the panes keep running — `{again}` attaches again]")
        }
        Quit::Message(m) => println!("[quil: {m}]"),
        Quit::Error(e) => anyhow::bail!("{e}"),
    }
    Ok(())
}

/// One daemon's connection, split for the event loop.
struct Link {
    reader: crate::conn::Reader,
    writer: crate::conn::Writer,
}

/// What a background reconnection to a daemon other than the first came to (`None`: it said
/// goodbye and none came back).
type Reattached = (usize, Option<Attached>);

/// Connects again to daemon `d` (not the first: its tabs stay shown and usable meanwhile),
/// with back-off, on a thread of its own; says how it went on `tx` and wakes the loop.
fn reconnect_in_background(
    d: usize,
    target: &crate::remote::Target,
    said_bye: bool,
    tx: std::sync::mpsc::Sender<Reattached>,
    mut wake: UnixStream,
) {
    let target = target.unattended();
    std::thread::spawn(move || {
        let since = Instant::now();
        let mut wait = RECONNECT_FIRST;
        let result = loop {
            match target.reconnect_attempt(said_bye, since.elapsed(), BYE_GRACE) {
                Attempt::Connected(c) => {
                    if let Ok(a) = attach(c) {
                        break Some(a);
                    }
                }
                Attempt::Failed(_) => {}
                Attempt::Gone => break None,
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(RECONNECT_MAX);
        };
        let _ = tx.send((d, result));
        let _ = wake.write_all(&[1]);
    });
}

/// Hands a message from daemon `d` to the app, as one workspace of all daemons.
fn deliver(app: &mut App, domains: &mut domains::Domains, d: usize, msg: ServerMsg) {
    if let Some(m) = domains.on_msg(d, msg) {
        if matches!(m, ServerMsg::Workspace(_)) {
            app.tab_domains = domains.tab_labels();
        }
        app.on_server(m);
    }
}

/// The first wait between reconnection attempts; it doubles up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// After the daemon said goodbye (a stop or a restart), how long to wait for one to come back
/// before giving up. A daemon that vanished without a word (a crash) is started again at once.
const BYE_GRACE: Duration = Duration::from_secs(5);

/// Connects again after the connection was lost: with back-off, starting the daemon when none
/// runs (unless it said goodbye, then only after waiting [`BYE_GRACE`] for a restart to bring
/// one back). Each attempt runs on a thread of its own, because over ssh one can take as long
/// as ssh's own timeout: keys stay live meanwhile (detach works at once), and the last screens
/// stay drawn under a status line that says what is going on.
fn reconnect<W: Write>(
    app: &mut App,
    display: &mut display::Display<ratatui::backend::CrosstermBackend<display::FrameOut<W>>>,
    target: &crate::remote::Target,
    tty: BorrowedFd<'_>,
    why: &str,
) -> anyhow::Result<Option<Attached>> {
    // Behind the full screen, nobody can answer ssh's questions.
    let target = target.unattended();
    let bye = app.bye.take();
    let since = Instant::now();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    // The attempt's thread writes a byte here when it is done, to wake the `poll` below.
    let (wake_rx, wake_tx) = UnixStream::pair().context("cannot make a socket pair")?;
    wake_rx.set_nonblocking(true)?;
    let mut wait = RECONNECT_FIRST;
    let mut next_at = Some(Instant::now());
    let mut attempt = 0u32;
    // Why the last attempt failed: the first loss's reason soon stops being the news.
    let mut last_failure: Option<String> = None;
    loop {
        if next_at.is_some_and(|t| Instant::now() >= t) {
            next_at = None;
            attempt += 1;
            let text = match (&bye, &last_failure) {
                (Some(reason), _) => format!("reconnecting… ({reason})"),
                (None, None) => format!("reconnecting… (lost the daemon: {why})"),
                (None, Some(last)) => {
                    format!("reconnecting… (attempt {} failed: {last})", attempt - 1)
                }
            };
            app.disconnected(text);
            display.draw(app)?;
            let (target, tx, mut wake) = (target.clone(), done_tx.clone(), wake_tx.try_clone()?);
            let (said_bye, lost_for) = (bye.is_some(), since.elapsed());
            std::thread::spawn(move || {
                let result = match target.reconnect_attempt(said_bye, lost_for, BYE_GRACE) {
                    Attempt::Connected(c) => match attach(c) {
                        Ok(a) => Attempt::Connected(a),
                        Err(e) => Attempt::Failed(format!("{e:#}")),
                    },
                    Attempt::Failed(why) => Attempt::Failed(why),
                    Attempt::Gone => Attempt::Gone,
                };
                // The loop may have given up (a detach) and gone: nobody to tell then.
                let _ = tx.send(result);
                let _ = wake.write_all(&[1]);
            });
        }
        let mut fds = [
            PollFd::new(tty, PollFlags::POLLIN),
            PollFd::new(wake_rx.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, timeout_until(next_at));
        let mut buf = [0u8; 16];
        while matches!((&wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while crossterm::event::poll(Duration::ZERO).unwrap_or(false) {
            if let Ok(ev) = crossterm::event::read() {
                on_term_event(app, display, ev)?;
            }
        }
        // Nothing can be sent: drop what the keys asked for, and say so (a key that vanished
        // silently would be worse than one not typed).
        let mut dropped_keys = false;
        for out in app.take_outbox() {
            if let Request::Input { pane, .. } = out.req {
                app.predict.forget(pane);
                dropped_keys = true;
            }
        }
        if dropped_keys {
            app.set_status("reconnecting; what was typed was not sent", true);
        }
        if app.quit.is_some() {
            return Ok(None);
        }
        display.draw(app)?;
        match done_rx.try_recv() {
            Ok(Attempt::Connected(attached)) => return Ok(Some(attached)),
            Ok(Attempt::Gone) => return Ok(None),
            Ok(Attempt::Failed(why)) => {
                last_failure = Some(why);
                next_at = Some(Instant::now() + wait);
                wait = (wait * 2).min(RECONNECT_MAX);
            }
            Err(_) => {}
        }
    }
}

/// Wakes the event loop's `poll` on SIGWINCH (crossterm turns the signal into a resize event,
/// but only when asked, and it cannot be asked while the loop waits on the socket too).
struct WinchPipe {
    rx: UnixStream,
    id: signal_hook::SigId,
}

impl WinchPipe {
    fn new() -> std::io::Result<WinchPipe> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        let id = signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, tx)?;
        Ok(WinchPipe { rx, id })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for WinchPipe {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

/// Whether `fd` has input now.
fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// `seq` wrapped for tmux to pass on to the terminal it runs in (`ESC P tmux; ... ESC \`, each
/// ESC doubled); tmux drops OSC 9 and OSC 777 otherwise. Needs tmux's `allow-passthrough`.
fn tmux_passthrough(seq: &str) -> String {
    format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
}

/// `poll`'s timeout for waking at `deadline`, rounded up to whole milliseconds.
fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// At most this many terminal events are handled before drawing.
const EVENT_BATCH: usize = 512;

/// One thread: `poll` waits on the terminal, the daemons' sockets and SIGWINCH together, so a
/// key goes from the terminal to its daemon, and an update from a daemon to the screen,
/// without a hop between threads.
#[allow(clippy::too_many_arguments)]
fn event_loop(
    conn: Attached,
    others: Vec<(crate::remote::Target, Attached)>,
    target: &crate::remote::Target,
    home: &Path,
    config_file: Option<&Path>,
    cfg: config::Config,
    kitty: bool,
    recent_file: &Path,
) -> anyhow::Result<Quit> {
    // The terminal crossterm reads events from: stdin when it is one, else /dev/tty.
    let stdin = std::io::stdin();
    let dev_tty;
    let tty = if stdin.is_terminal() {
        stdin.as_fd()
    } else {
        dev_tty = std::fs::File::open("/dev/tty").context("cannot open /dev/tty")?;
        dev_tty.as_fd()
    };
    let winch = WinchPipe::new().context("cannot watch for terminal resizes")?;
    // Inside tmux, a notification reaches the real terminal only through passthrough.
    let in_tmux = std::env::var_os("TMUX").is_some();

    // The alternate screen was cleared on entry. The size is asked once and then followed
    // through resize events (asking per frame costs a /dev/tty open and ioctl).
    let (w, h) = crossterm::terminal::size()?;
    let mut display = display::Display::new(stdout(), w, h);
    let mut app = App::new(cfg.keys, kitty, (w, h));
    // This shell's home, environment and directory are those of the panes it opens on this
    // machine; a remote daemon's panes get their own host's.
    let targets: Vec<crate::remote::Target> = std::iter::once(target.clone())
        .chain(others.iter().map(|(t, _)| t.clone()))
        .collect();
    if target.remote().is_none() {
        app.home_dir = std::env::var("HOME").ok();
        app.launch_dir = std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string());
    }
    if targets.iter().any(|t| t.remote().is_none()) {
        app.client_env = quil_proto::env::forwarded(std::env::vars());
    }
    app.recent_dirs = recent::load(recent_file);
    let mut domains = domains::Domains::new(
        targets
            .iter()
            .map(|t| domains::Domain::new(t.label(), t.remote().is_some()))
            .collect(),
    );
    if domains.several() {
        app.daemons = domains.list.iter().map(|d| d.label.clone()).collect();
    } else if let Some(r) = target.remote() {
        app.sole_remote = Some(r.label.clone());
    }
    let mut links: Vec<Option<Link>> = Vec::new();
    let mut problems = Vec::new();
    for (d, a) in std::iter::once(conn)
        .chain(others.into_iter().map(|(_, a)| a))
        .enumerate()
    {
        links.push(Some(Link {
            reader: a.reader,
            writer: a.writer,
        }));
        if let Some(ws) = a.initial {
            deliver(&mut app, &mut domains, d, ServerMsg::Workspace(ws));
        }
        if d == 0 {
            problems = a.problems;
        }
    }
    app.config_loaded(None, &problems, false);
    // Reconnections to the other daemons report here, and wake the loop through `woken`.
    let (again_tx, again_rx) = std::sync::mpsc::channel::<Reattached>();
    let (woken, wake) = UnixStream::pair().context("cannot make a socket pair")?;
    woken.set_nonblocking(true)?;
    let mut said_bye = vec![false; links.len()];
    let mut shape = None;
    // crossterm may hold events already (read while asking about the keyboard protocol).
    let mut term_pending = true;
    // The terminal is readable but crossterm has nothing new: its reader is edge-triggered and
    // left input unread (a burst over its 1 KiB buffer). Waiting on the terminal would then
    // return at once, forever; it is asked again every few milliseconds instead, until
    // the terminal has nothing left.
    let mut term_stalled = false;
    // Why a connection was lost, and which.
    let mut lost: Vec<(usize, String)> = Vec::new();
    loop {
        for (d, why) in std::mem::take(&mut lost) {
            if links[d].take().is_none() {
                continue;
            }
            if d != 0 {
                domains.lost(d);
                app.tab_domains = domains.tab_labels();
                app.dirty = true;
                app.set_status(
                    format!("{}: reconnecting… ({why})", domains.list[d].label),
                    true,
                );
                let wake = wake.try_clone()?;
                reconnect_in_background(d, &targets[d], said_bye[d], again_tx.clone(), wake);
                continue;
            }
            match reconnect(&mut app, &mut display, target, tty, &why)? {
                Some(a) => {
                    links[0] = Some(Link {
                        reader: a.reader,
                        writer: a.writer,
                    });
                    app.reconnected();
                    if let Some(view) = domains.reattached(0) {
                        domains.outbox.push((0, view));
                    }
                    if let Some(ws) = a.initial {
                        deliver(&mut app, &mut domains, 0, ServerMsg::Workspace(ws));
                    }
                }
                None => {
                    return Ok(app.quit.take().unwrap_or_else(|| {
                        Quit::Message("the daemon stopped and did not come back".into())
                    }))
                }
            }
        }
        while let Ok((d, result)) = again_rx.try_recv() {
            let label = domains.list[d].label.clone();
            said_bye[d] = false;
            match result {
                Some(a) => {
                    links[d] = Some(Link {
                        reader: a.reader,
                        writer: a.writer,
                    });
                    if let Some(view) = domains.reattached(d) {
                        domains.outbox.push((d, view));
                    }
                    app.tab_domains = domains.tab_labels();
                    app.dirty = true;
                    if let Some(ws) = a.initial {
                        deliver(&mut app, &mut domains, d, ServerMsg::Workspace(ws));
                    }
                    app.set_status(format!("{label}: reconnected"), false);
                }
                // Said goodbye and none came back: its tabs go.
                None => {
                    let gone = domains.remove_tabs(d);
                    deliver(&mut app, &mut domains, d, gone);
                    app.set_status(format!("{label}: the daemon stopped"), true);
                }
            }
        }
        if let Err(e) = send_outbox(&mut app, &mut domains, &mut links) {
            lost.push(e);
            continue;
        }
        if !app.clipboard.is_empty() || !app.terminal_out.is_empty() {
            let mut o = stdout();
            for text in app.clipboard.drain(..) {
                o.write_all(osc52(&text).as_bytes())?;
            }
            for seq in app.terminal_out.drain(..) {
                match in_tmux {
                    true => o.write_all(tmux_passthrough(&seq).as_bytes())?,
                    false => o.write_all(seq.as_bytes())?,
                }
            }
            o.flush()?;
        }
        for dir in std::mem::take(&mut app.recent_record) {
            // Only a convenience: a failure to save it is not worth interrupting anyone.
            if let Ok(list) = recent::record(recent_file, &dir) {
                app.recent_dirs = list;
            }
        }
        if let Some(q) = app.quit.take() {
            return Ok(q);
        }
        if app.dirty || !app.damage.is_empty() {
            display.draw(&mut app)?;
            let want = render::cursor_shape(&app);
            if want != shape {
                shape = want;
                execute!(stdout(), cursor_style(shape))?;
            }
        }

        let mut ready_daemons: Vec<usize> = Vec::new();
        let mut resized = false;
        let mut woke = false;
        if !term_pending {
            let mut timeout = timeout_until(app.next_deadline());
            let stall_retry = PollTimeout::from(10u8);
            if term_stalled && (timeout == PollTimeout::NONE || timeout > stall_retry) {
                timeout = stall_retry;
            }
            let up: Vec<usize> = (0..links.len()).filter(|d| links[*d].is_some()).collect();
            let mut fds: Vec<PollFd> = up
                .iter()
                .filter_map(|d| links[*d].as_ref())
                .map(|l| PollFd::new(l.reader.fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(winch.rx.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(woken.as_fd(), PollFlags::POLLIN));
            if !term_stalled {
                fds.push(PollFd::new(tty, PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(anyhow::anyhow!("poll: {e}")),
            }
            // Errors and hang-ups count as ready: the read that follows reports them.
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            ready_daemons = up
                .iter()
                .zip(&fds)
                .filter(|(_, f)| ready(f))
                .map(|(d, _)| *d)
                .collect();
            resized = ready(&fds[up.len()]);
            woke = ready(&fds[up.len() + 1]);
            let tty_ready = !term_stalled && ready(&fds[up.len() + 2]);
            term_pending = term_stalled || resized || tty_ready;
        }
        // Only when woken: a read that finds nothing costs every key and update a system call.
        let mut buf = [0u8; 16];
        while woke && matches!((&woken).read(&mut buf), Ok(n) if n > 0) {}

        for d in ready_daemons {
            if let Some(l) = links[d].as_mut() {
                if let Err(e) = l.reader.fill() {
                    lost.push((d, e.to_string()));
                }
            }
        }
        // Everything received, before drawing once.
        for d in 0..links.len() {
            while let Some(l) = links[d].as_mut() {
                match l.reader.next_msg() {
                    Ok(Some(m)) => {
                        if d != 0 && matches!(m, ServerMsg::Bye(_)) {
                            said_bye[d] = true;
                        }
                        deliver(&mut app, &mut domains, d, m);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if !lost.iter().any(|(x, _)| *x == d) {
                            lost.push((d, e.to_string()));
                        }
                        break;
                    }
                }
            }
        }
        if !lost.is_empty() {
            continue;
        }
        if let Some(daemon_problems) = app.config_reload.take() {
            // The daemon applied the file: read our own tables of it too.
            let (keys, mut problems) = match config::Config::load_lenient(home, config_file) {
                Ok((c, p)) => (Some(c.keys), p.iter().map(ToString::to_string).collect()),
                Err(e) => (None, vec![e.to_string()]),
            };
            problems.extend(daemon_problems);
            app.config_loaded(keys, &problems, true);
        }

        if term_pending {
            if resized {
                winch.drain();
            }
            let mut handled = 0;
            while handled < EVENT_BATCH {
                let ev = match crossterm::event::poll(Duration::ZERO) {
                    Ok(true) => crossterm::event::read(),
                    Ok(false) => break,
                    Err(e) => Err(e),
                };
                match ev {
                    Ok(ev) => {
                        on_term_event(&mut app, &mut display, ev)?;
                        // A key for the pane leaves now, not after asking the terminal for
                        // more: that round trip would add to every keystroke's echo.
                        if let Err(e) = send_outbox(&mut app, &mut domains, &mut links) {
                            lost.push(e);
                            break;
                        }
                    }
                    Err(e) => {
                        app.quit = Some(Quit::Error(format!("cannot read the terminal: {e}")));
                        break;
                    }
                }
                handled += 1;
            }
            // A full batch: handle the rest after drawing, before waiting.
            term_pending = handled == EVENT_BATCH;
            term_stalled = handled == 0 && readable(tty);
        }
        app.tick(Instant::now());
    }
}

/// Sends every queued request to the daemon it concerns, remembering which replies to route;
/// and the client's own requests (`domains.outbox`). Requests whose reply only matters when
/// they fail (keystrokes, mostly) go as notifications: no reply, no extra wake. Fails with the
/// daemon whose connection broke.
fn send_outbox(
    app: &mut App,
    domains: &mut domains::Domains,
    links: &mut [Option<Link>],
) -> Result<(), (usize, String)> {
    let lost = |d: usize| move |e: crate::conn::ClientError| (d, format!("lost the daemon: {e}"));
    for (d, req) in std::mem::take(&mut domains.outbox) {
        if let Some(l) = links.get_mut(d).and_then(Option::as_mut) {
            l.writer.notify(req).map_err(lost(d))?;
        }
    }
    for out in app.take_outbox() {
        let plain = out.pending == app::Pending::Plain;
        let mut registered = false;
        for (d, req) in domains.route(out.req, app.tab, out.daemon) {
            let Some(l) = links.get_mut(d).and_then(Option::as_mut) else {
                // Reconnecting: say so, rather than leave the request unanswered.
                if let Request::Input { pane, .. } = &req {
                    app.predict.forget(*pane);
                }
                if plain {
                    app.set_status(
                        format!("{} is reconnecting; not sent", domains.list[d].label),
                        true,
                    );
                } else if !registered {
                    let id = domains.sent(d, 0);
                    app.register(id, out.pending.clone());
                    app.on_server(domains.unreachable(d, id));
                    registered = true;
                }
                continue;
            };
            if plain {
                l.writer.notify(req).map_err(lost(d))?;
            } else {
                let conn_id = l.writer.send(req).map_err(lost(d))?;
                let id = domains.sent(d, conn_id);
                if !registered {
                    app.register(id, out.pending.clone());
                    registered = true;
                }
            }
        }
    }
    Ok(())
}

fn on_term_event<W: Write>(
    app: &mut App,
    display: &mut display::Display<ratatui::backend::CrosstermBackend<display::FrameOut<W>>>,
    ev: Event,
) -> std::io::Result<()> {
    match ev {
        Event::Key(k) => app.on_key(k),
        Event::Mouse(m) => app.on_mouse(m),
        Event::Paste(p) => app.on_paste(p),
        Event::Resize(w, h) => {
            display.resize(w, h)?;
            app.on_resize(w, h);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_osc52() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }

    #[test]
    fn tmux_passthrough_doubles_every_escape() {
        assert_eq!(
            tmux_passthrough("\x1b]9;quil: done\x07"),
            "\x1bPtmux;\x1b\x1b]9;quil: done\x07\x1b\\"
        );
        assert_eq!(tmux_passthrough("\x07"), "\x1bPtmux;\x07\x1b\\");
    }
}
