//! The full-screen TUI: attaches to the daemon and draws the screen state it streams.
//!
//! Threads: one reads daemon messages, one reads terminal events; both feed a channel the main
//! thread drains. The main thread owns all state ([`app::App`]) and redraws only when something
//! changed, so an idle client uses no CPU.

pub mod app;
pub mod config;
pub mod dialog;
pub mod display;
pub mod input;
pub mod keys;
pub mod mouse;
pub mod pane;
pub mod picker;
pub mod popup;
pub mod recent;
pub mod render;
pub mod scrollback;
pub mod setup;

use crate::conn::Client;
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
use quil_proto::{CursorShape, Request, ServerMsg};
use std::io::{stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// A config file other than `$QUIL_HOME/config.toml`.
    pub config: Option<PathBuf>,
}

enum Ev {
    Server(ServerMsg),
    ServerGone(String),
    Term(Event),
    TermGone(String),
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

/// Attaches a full-screen client to the daemon of `home` (which must be running).
pub fn run(home: &Path, opts: TuiOptions) -> anyhow::Result<()> {
    // Everything that can fail for a plain reason fails before the screen is taken over.
    let cfg = config::Config::load(home, opts.config.as_deref())?;
    let mut client = Client::connect(home)?;
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
    client
        .request(Request::Attach)
        .context("attaching to the daemon")?;
    let mut writer = client.writer()?;

    install_panic_hook();
    let (guard, kitty) = TermGuard::enter()?;
    let recent_file = recent::path(home);
    let result = event_loop(client, &mut writer, cfg, kitty, initial, &recent_file);
    drop(guard);
    match result? {
        Quit::Detach => println!("[detached; the panes keep running — `quil` attaches again]"),
        Quit::Message(m) => println!("[quil: {m}]"),
        Quit::Error(e) => anyhow::bail!("{e}"),
    }
    Ok(())
}

fn event_loop(
    mut client: Client,
    writer: &mut crate::conn::Writer,
    cfg: config::Config,
    kitty: bool,
    initial: Option<quil_proto::WorkspaceInfo>,
    recent_file: &Path,
) -> anyhow::Result<Quit> {
    let (tx, rx) = mpsc::channel::<Ev>();
    let server_tx = tx.clone();
    std::thread::Builder::new()
        .name("quil-recv".into())
        .spawn(move || loop {
            match client.recv() {
                Ok(m) => {
                    if server_tx.send(Ev::Server(m)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = server_tx.send(Ev::ServerGone(e.to_string()));
                    return;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("quil-input".into())
        .spawn(move || loop {
            match crossterm::event::read() {
                Ok(ev) => {
                    if tx.send(Ev::Term(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Ev::TermGone(e.to_string()));
                    return;
                }
            }
        })?;

    // The alternate screen was cleared on entry. The size is asked once and then followed
    // through resize events (asking per frame costs a /dev/tty open and ioctl). Buffered, so a
    // frame leaves in one write.
    let (w, h) = crossterm::terminal::size()?;
    let mut display =
        display::Display::new(std::io::BufWriter::with_capacity(1 << 16, stdout()), w, h);
    let mut app = App::new(cfg.keys, kitty, (w, h));
    app.home_dir = std::env::var("HOME").ok();
    app.launch_dir = std::env::current_dir()
        .ok()
        .map(|d| d.display().to_string());
    app.recent_dirs = recent::load(recent_file);
    if let Some(ws) = initial {
        app.on_server(ServerMsg::Workspace(ws));
    }
    let mut shape = None;
    loop {
        for out in app.take_outbox() {
            let id = writer
                .send(out.req)
                .map_err(|e| anyhow::anyhow!("lost the daemon: {e}"))?;
            app.register(id, out.pending);
        }
        if !app.clipboard.is_empty() {
            let mut o = stdout();
            for text in app.clipboard.drain(..) {
                o.write_all(osc52(&text).as_bytes())?;
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
        let first = match app.next_deadline() {
            Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(ev) => Some(ev),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("internal: event channel closed")
                }
            },
            None => Some(rx.recv().context("internal: event channel closed")?),
        };
        // Handle everything already queued before drawing once.
        for ev in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()).take(512))
        {
            match ev {
                Ev::Server(m) => app.on_server(m),
                Ev::ServerGone(e) => {
                    app.quit.get_or_insert(Quit::Error(format!(
                        "lost the connection to the daemon: {e}"
                    )));
                }
                Ev::TermGone(e) => {
                    app.quit = Some(Quit::Error(format!("cannot read the terminal: {e}")))
                }
                Ev::Term(Event::Key(k)) => app.on_key(k),
                Ev::Term(Event::Mouse(m)) => app.on_mouse(m),
                Ev::Term(Event::Paste(p)) => app.on_paste(p),
                Ev::Term(Event::Resize(w, h)) => {
                    display.resize(w, h)?;
                    app.on_resize(w, h);
                }
                Ev::Term(_) => {}
            }
        }
        app.tick(Instant::now());
    }
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
}
