//! Waiting on a pane: for a regex on its screen, or for its agent to be in an attention state.
//! `quil wait` and `quil mcp` both wait this way.

use crate::conn::{Client, ClientError};
use quil_model::STARTING;
use quil_proto::{Attention, EventKind, PaneId, Reply, Request, ServerMsg, WorkspaceInfo};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("timed out after {}s waiting for /{text}/ in {pane}", .timeout.as_secs_f64())]
    TextTimeout {
        timeout: Duration,
        text: String,
        pane: PaneId,
    },
    #[error("timed out after {}s waiting for {pane} to be {states}", .timeout.as_secs_f64())]
    StateTimeout {
        timeout: Duration,
        pane: PaneId,
        states: String,
    },
    #[error("unknown pane {0}")]
    UnknownPane(PaneId),
    #[error("pane {pane} has exited; it will never be {states}")]
    AlreadyExited { pane: PaneId, states: String },
    #[error("pane {pane} exited with status {status} before it was {states}")]
    Exited {
        pane: PaneId,
        status: i32,
        states: String,
    },
    #[error("pane {pane} was closed before it was {states}")]
    Closed { pane: PaneId, states: String },
    #[error("pane {pane} ({kind}) reports no attention state: only agent panes and pane types with idle or error handlers do; wait for text on its screen instead")]
    NoState { pane: PaneId, kind: String },
    #[error("unexpected reply from the daemon: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The pane's screen, one string per line.
pub fn screen(c: &mut Client, pane: PaneId, scrollback: u32) -> Result<Vec<String>, WaitError> {
    capture(c, pane, scrollback, false)
}

/// [`screen`] without the lines of the agent CLI's own interface (its type's `chrome`).
pub fn content(c: &mut Client, pane: PaneId, scrollback: u32) -> Result<Vec<String>, WaitError> {
    capture(c, pane, scrollback, true)
}

fn capture(
    c: &mut Client,
    pane: PaneId,
    scrollback: u32,
    without_chrome: bool,
) -> Result<Vec<String>, WaitError> {
    match c.request(Request::Capture {
        pane,
        scrollback,
        ansi: false,
        without_chrome,
    })? {
        Reply::Text(lines) => Ok(lines),
        other => Err(WaitError::Unexpected(format!("{other:?}"))),
    }
}

/// How long a screen must stay unchanged to count as settled after a turn, and the most
/// `settled_content` waits for that.
const SETTLE_QUIET: Duration = Duration::from_millis(400);
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// The pane's screen once it has stopped changing. An agent reports the end of its turn from
/// its engine, which can be ahead of what its TUI has drawn (opencode's server says `idle`
/// while the TUI still shows the spinner), so a turn's text is read only once the screen is
/// quiet for `SETTLE_QUIET`, or after `SETTLE_MAX` whatever it shows. Without the CLI's
/// own interface (see [`content`]).
pub fn settled_content(
    c: &mut Client,
    pane: PaneId,
    scrollback: u32,
) -> Result<Vec<String>, WaitError> {
    let start = Instant::now();
    let mut quiet = Quiet::new(start);
    loop {
        let lines = content(c, pane, scrollback)?;
        let now = Instant::now();
        if quiet.settled(&lines, now) || now.duration_since(start) >= SETTLE_MAX {
            return Ok(lines);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Tells when a sequence of screens has stopped changing for `SETTLE_QUIET`.
struct Quiet {
    last: Option<Vec<String>>,
    since: Instant,
}

impl Quiet {
    fn new(now: Instant) -> Self {
        Quiet {
            last: None,
            since: now,
        }
    }

    fn settled(&mut self, lines: &[String], now: Instant) -> bool {
        if self.last.as_deref() != Some(lines) {
            self.last = Some(lines.to_vec());
            self.since = now;
            return false;
        }
        now.duration_since(self.since) >= SETTLE_QUIET
    }
}

pub fn list(c: &mut Client) -> Result<WorkspaceInfo, WaitError> {
    match c.request(Request::List)? {
        Reply::List(ws) => Ok(ws),
        other => Err(WaitError::Unexpected(format!("{other:?}"))),
    }
}

/// Polls the screen until `re` matches it (joined with newlines; build `re` multi-line so `^`
/// and `$` anchor at screen lines). Returns the matching screen.
pub fn text(
    c: &mut Client,
    pane: PaneId,
    re: &regex::Regex,
    timeout: Duration,
) -> Result<Vec<String>, WaitError> {
    let deadline = Instant::now() + timeout;
    start(c, pane)?;
    loop {
        let lines = screen(c, pane, 0)?;
        if re.is_match(&lines.join("\n")) {
            return Ok(lines);
        }
        if Instant::now() >= deadline {
            return Err(WaitError::TextTimeout {
                timeout,
                text: re.as_str().to_string(),
                pane,
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `waiting or done`, for messages.
/// What is waited on must run: a restored pane not started yet (lazy restore) starts now.
/// The daemon's refusal (an unknown pane) is left to what follows to report, in its words.
fn start(c: &mut Client, pane: PaneId) -> Result<(), WaitError> {
    match c.request(Request::Start { pane }) {
        Ok(_) | Err(ClientError::Daemon(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub fn state_names(states: &[Attention]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The event types a state wait listens to: the state, and the pane going away.
fn state_event_types() -> Vec<String> {
    vec!["state".into(), "pane_exited".into(), "pane_closed".into()]
}

/// Waits on the event stream until the pane is in one of `states` (at once if it already is);
/// fails when it exits or closes first, or on timeout. Returns the state. The connection stays
/// subscribed to the pane's events.
pub fn state(
    c: &mut Client,
    pane: PaneId,
    states: &[Attention],
    timeout: Duration,
) -> Result<Attention, WaitError> {
    let deadline = Instant::now() + timeout;
    let names = state_names(states);
    start(c, pane)?;
    // Subscribed before looking, so no change falls between the two.
    c.request(Request::Events {
        panes: vec![pane],
        types: state_event_types(),
    })?;
    let ws = list(c)?;
    let info = ws
        .panes
        .iter()
        .find(|p| p.id == pane)
        .ok_or(WaitError::UnknownPane(pane))?;
    if let Some(s) = info.state.filter(|s| states.contains(s)) {
        return Ok(s);
    }
    if !info.alive {
        return Err(WaitError::AlreadyExited {
            pane,
            states: names,
        });
    }
    // The daemon gives a pane its tracker as it starts: none means its type reports none.
    if info.state.is_none() {
        return Err(WaitError::NoState {
            pane,
            kind: info.kind.clone(),
        });
    }
    let timed_out = || WaitError::StateTimeout {
        timeout,
        pane,
        states: state_names(states),
    };
    state_events(c, pane, states, deadline, timed_out, |_, _| true)
}

/// Reads the pane's events (after a `Request::Events` subscription with `state_event_types`)
/// until a state in `states` that `accept` takes; fails when the pane exits or closes, and with
/// `timed_out()` at the deadline. `accept` sees every state event first.
fn state_events(
    c: &mut Client,
    pane: PaneId,
    states: &[Attention],
    deadline: Instant,
    timed_out: impl Fn() -> WaitError,
    mut accept: impl FnMut(Option<Attention>, Option<&str>) -> bool,
) -> Result<Attention, WaitError> {
    loop {
        let Some(msg) = c.recv_until(deadline)? else {
            return Err(timed_out());
        };
        let ServerMsg::Event(ev) = msg else { continue };
        if ev.pane != Some(pane) {
            continue;
        }
        match ev.kind {
            EventKind::State { state, detail, .. } => {
                let taken = accept(state, detail.as_deref());
                if let Some(s) = state.filter(|s| taken && states.contains(s)) {
                    return Ok(s);
                }
            }
            EventKind::PaneExited { status } => {
                return Err(WaitError::Exited {
                    pane,
                    status,
                    states: state_names(states),
                })
            }
            EventKind::PaneClosed => {
                return Err(WaitError::Closed {
                    pane,
                    states: state_names(states),
                })
            }
            _ => {}
        }
    }
}

/// Sends one turn to an agent pane (`Request::Prompt`: the daemon types it as the TUI needs
/// it, text then Enter, with nothing between). With `until`, then waits for the turn to start
/// (`working`) and end in one of those states, and returns it.
pub fn prompt(
    c: &mut Client,
    pane: PaneId,
    text: &str,
    until: Option<(&[Attention], Duration)>,
) -> Result<Option<Attention>, WaitError> {
    if until.is_some() {
        // A pane waiting to start has no state yet: started first, it has one.
        start(c, pane)?;
        // Subscribed before typing, so the turn's first state change is seen.
        c.request(Request::Events {
            panes: vec![pane],
            types: state_event_types(),
        })?;
        let ws = list(c)?;
        let info = ws
            .panes
            .iter()
            .find(|p| p.id == pane)
            .ok_or(WaitError::UnknownPane(pane))?;
        if info.state.is_none() {
            return Err(WaitError::NoState {
                pane,
                kind: info.kind.clone(),
            });
        }
    }
    let started = Instant::now();
    c.request(Request::Prompt {
        pane,
        text: text.to_string(),
    })?;
    let Some((states, timeout)) = until else {
        return Ok(None);
    };

    // A state event from before the turn began (a `done` seen by a client becoming `idle`, a
    // CLI that was starting becoming ready) must not end the wait: only states after the
    // turn's `working` count.
    let mut working = false;
    let timed_out = || WaitError::StateTimeout {
        timeout,
        pane,
        states: state_names(states),
    };
    state_events(
        c,
        pane,
        states,
        started + timeout,
        timed_out,
        |s, detail| {
            working |= s == Some(Attention::Working) && detail != Some(STARTING);
            working && s != Some(Attention::Working)
        },
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn a_screen_is_settled_only_after_a_quiet_period_without_change() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut q = Quiet::new(t0);
        assert!(!q.settled(&lines("Build · m ⠋"), ms(0)), "the first look");
        assert!(
            !q.settled(&lines("Build · m ⠋"), ms(300)),
            "not quiet long enough"
        );
        assert!(
            !q.settled(&lines("Build · m ⠙"), ms(350)),
            "a change restarts the clock"
        );
        assert!(!q.settled(&lines("Build · m ⠙"), ms(700)));
        assert!(
            q.settled(&lines("Build · m ⠙"), ms(750)),
            "400 ms unchanged"
        );
    }
}
