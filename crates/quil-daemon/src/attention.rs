//! Attention states: is a pane `working`, `waiting` for the user, `done` (finished while the
//! user looked elsewhere), in `error`, or `idle`?
//!
//! Sources, best first: what the AI CLI's own hook or tracker recorded; then the pane type's
//! `error_handlers` (on output) and `idle_handlers` (once output stops) matched against the
//! screen; then output activity alone, for pane types that declare handlers.

use std::time::{Duration, Instant};

/// Output stopped for this long: the pane is quiet.
pub const QUIET: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct Attention {
    pub state: &'static str,
    last_gen: u64,
    last_output: Instant,
}

impl Default for Attention {
    fn default() -> Self {
        Attention {
            state: "idle",
            last_gen: 0,
            last_output: Instant::now(),
        }
    }
}

/// What is known about a pane at one housekeeping tick.
pub struct Observation<'a> {
    pub output_gen: u64,
    /// The state the CLI recorded itself (AI panes), if any.
    pub recorded: Option<&'static str>,
    /// The pane type's handlers matched against the screen: `(state, quiet)` -> match.
    pub handlers: Option<&'a dyn Fn(bool) -> Option<&'static str>>,
    /// A client is showing this pane.
    pub viewed: bool,
    pub now: Instant,
}

impl Attention {
    /// Folds in one observation; true when the state changed.
    pub fn update(&mut self, o: &Observation<'_>) -> bool {
        if o.output_gen != self.last_gen {
            self.last_gen = o.output_gen;
            self.last_output = o.now;
        }
        let quiet = o.now.duration_since(self.last_output) >= QUIET;
        let next = match (o.recorded, o.handlers) {
            (Some(s), _) => s,
            (None, Some(h)) => h(quiet).unwrap_or(if quiet { "idle" } else { "working" }),
            (None, None) => "idle",
        };
        // Finished while nobody watched: say so until someone looks.
        let next = match (self.state, next) {
            ("working", "idle") | ("done", "idle") if !o.viewed => "done",
            _ => next,
        };
        let changed = next != self.state;
        self.state = next;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs<'a>(
        gen: u64,
        recorded: Option<&'static str>,
        viewed: bool,
        now: Instant,
    ) -> Observation<'a> {
        Observation {
            output_gen: gen,
            recorded,
            handlers: None,
            viewed,
            now,
        }
    }

    #[test]
    fn recorded_states_win_and_done_needs_an_absent_user() {
        let t0 = Instant::now();
        let mut a = Attention::default();
        assert!(a.update(&obs(1, Some("working"), false, t0)));
        assert_eq!(a.state, "working");
        assert!(a.update(&obs(2, Some("idle"), false, t0)));
        assert_eq!(a.state, "done", "finished while nobody watched");
        assert!(!a.update(&obs(2, Some("idle"), false, t0)));
        assert!(a.update(&obs(2, Some("idle"), true, t0)));
        assert_eq!(a.state, "idle", "seen: done clears");
        a.update(&obs(3, Some("working"), true, t0));
        a.update(&obs(3, Some("idle"), true, t0));
        assert_eq!(a.state, "idle", "finished in view: just idle");
        a.update(&obs(3, Some("waiting"), false, t0));
        assert_eq!(a.state, "waiting");
    }

    #[test]
    fn handlers_and_activity() {
        let t0 = Instant::now();
        let waiting_when_quiet = |quiet: bool| quiet.then_some("waiting");
        let mut a = Attention::default();
        let h: &dyn Fn(bool) -> Option<&'static str> = &waiting_when_quiet;
        let mut o = Observation {
            output_gen: 1,
            recorded: None,
            handlers: Some(h),
            viewed: true,
            now: t0,
        };
        a.update(&o);
        assert_eq!(a.state, "working", "output is flowing");
        o.now = t0 + QUIET;
        a.update(&o);
        assert_eq!(a.state, "waiting", "quiet, and the idle pattern matches");
        let mut plain = Attention::default();
        plain.update(&obs(5, None, true, t0));
        assert_eq!(plain.state, "idle", "panes without handlers stay idle");
    }
}
