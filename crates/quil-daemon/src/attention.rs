//! Attention states: is a pane `working`, `waiting` for the user, `done` (finished while the
//! user looked elsewhere), in `error`, or `idle`? One [`Attention`] enum from the tracker to the
//! wire.
//!
//! Sources, best first: what the agent CLI reported itself (its integration's mechanism); then
//! the pane type's `error_handlers` (on output) and `idle_handlers` (once output stops) matched
//! against the screen; then output activity alone, for pane types that declare handlers.
//! Panes with none of these have no state at all.

use quil_model::{Attention, STARTING};
use std::time::{Duration, Instant};

/// Output stopped for this long: the pane is quiet.
pub const QUIET: Duration = Duration::from_millis(1500);

/// An agent CLI whose `ready` pattern has not shown after this long, and whose output has
/// gone quiet, is taken as ready: a CLI whose screen changed in a new version (or that
/// resumed into a view without the pattern) must not stay `starting` for ever.
pub const READY_LIMIT: Duration = Duration::from_secs(30);

/// A handler matched against the screen: `quiet` → the state and its title.
pub type Handlers<'a> = &'a dyn Fn(bool) -> Option<(Attention, String)>;

/// One pane's attention state and what it has seen so far.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub state: Attention,
    /// Why, in a few words (a handler's title, the CLI's reason).
    pub detail: Option<String>,
    /// When `state` was entered (unix seconds).
    pub since: u64,
    last_gen: u64,
    last_output: Instant,
    /// When the tracker began (for [`READY_LIMIT`]).
    born: Instant,
    /// The CLI's last report, to tell a new report from the same one read again.
    last_recorded: Option<Recorded>,
    /// The user answered while the pane was waiting: working until the CLI reports again.
    answered: bool,
    /// An agent CLI that has not yet shown it takes a prompt: `working`, detail
    /// [`STARTING`]. Prompts are held until it has.
    pub starting: bool,
    /// The tick has told clients of this tracker's state at least once.
    pub announced: bool,
}

impl Tracker {
    pub fn new(now: Instant, unix_now: u64) -> Tracker {
        Tracker {
            state: Attention::Idle,
            detail: None,
            since: unix_now,
            last_gen: 0,
            last_output: now,
            born: now,
            last_recorded: None,
            answered: false,
            starting: false,
            announced: false,
        }
    }

    /// The tracker of an agent CLI just started: `working` ("starting") until it is ready.
    pub fn starting(now: Instant, unix_now: u64) -> Tracker {
        Tracker {
            state: Attention::Working,
            detail: Some(STARTING.to_string()),
            starting: true,
            ..Tracker::new(now, unix_now)
        }
    }

    /// The user typed into the pane: a pane waiting for them is working again at once, not
    /// when the CLI gets round to saying so. True when the state changed.
    pub fn answered(&mut self, unix_now: u64) -> bool {
        if self.state != Attention::Waiting {
            return false;
        }
        self.state = Attention::Working;
        self.detail = None;
        self.since = unix_now;
        self.answered = true;
        true
    }
}

/// A state the CLI reported itself, with its detail and the number of turns it has started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub state: Attention,
    pub detail: Option<String>,
    pub turn: u64,
}

/// A state the tracker entered, with its detail.
pub type Step = (Attention, Option<String>);

/// What is known about a pane at one housekeeping tick.
pub struct Observation<'a> {
    pub output_gen: u64,
    /// The state the CLI reported itself, if any.
    pub recorded: Option<Recorded>,
    pub handlers: Option<Handlers<'a>>,
    /// Whether a starting CLI now takes a prompt (its type's `ready` pattern is on the
    /// screen). `None` when the type declares no pattern: then the CLI's first report, or
    /// output that has gone quiet, says so.
    pub ready: Option<&'a dyn Fn() -> bool>,
    /// A client is showing this pane.
    pub viewed: bool,
    pub now: Instant,
    pub unix_now: u64,
}

impl Tracker {
    /// Folds in one observation. Returns the states entered, in order; empty when nothing
    /// changed. A turn that started between two reads and is already past `working` (the
    /// CLI's count of turns went up, and it has finished, failed or stopped for the user) is
    /// a `working` step first, so whoever waits for a turn to end sees one.
    pub fn update(&mut self, o: &Observation<'_>) -> Vec<Step> {
        let mut steps = Vec::new();
        let missed = match (&o.recorded, &self.last_recorded) {
            (Some(r), Some(last)) => r.turn > last.turn && r.state != Attention::Working,
            _ => false,
        };
        if let Some(r) = o.recorded.as_ref().filter(|_| missed) {
            let working = Observation {
                output_gen: o.output_gen,
                recorded: Some(Recorded {
                    state: Attention::Working,
                    detail: None,
                    turn: r.turn,
                }),
                handlers: o.handlers,
                ready: o.ready,
                viewed: o.viewed,
                now: o.now,
                unix_now: o.unix_now,
            };
            if self.step(&working) {
                steps.push((self.state, self.detail.clone()));
            }
        }
        if self.step(o) {
            steps.push((self.state, self.detail.clone()));
        }
        steps
    }

    /// [`Tracker::update`] for one observation; true when the state or its detail changed.
    fn step(&mut self, o: &Observation<'_>) -> bool {
        let new_output = o.output_gen != self.last_gen;
        if new_output {
            self.last_gen = o.output_gen;
            self.last_output = o.now;
        }
        let quiet = o.now.duration_since(self.last_output) >= QUIET;
        // An answer holds until the CLI reports something new (or, for screen patterns, until
        // the program prints something).
        if o.recorded != self.last_recorded || (o.recorded.is_none() && new_output) {
            self.last_recorded = o.recorded.clone();
            self.answered = false;
        }
        if self.answered {
            return false;
        }
        let started = self.starting;
        if self.starting {
            // In a turn (so it took input), blocked on the user (a dialog at start) or failed:
            // no longer merely starting.
            let blocked = o.recorded.as_ref().is_some_and(|r| {
                matches!(
                    r.state,
                    Attention::Working | Attention::Waiting | Attention::Error
                )
            });
            let ready = match o.ready {
                Some(ready) => ready() || (quiet && o.now.duration_since(self.born) >= READY_LIMIT),
                None => o.recorded.is_some() || (self.last_gen > 0 && quiet),
            };
            self.starting = !(blocked || ready);
            if self.starting {
                return false;
            }
        }
        let (next, detail) = match (&o.recorded, o.handlers) {
            (Some(r), _) => (r.state, r.detail.clone()),
            (None, Some(h)) => match h(quiet) {
                Some((s, title)) => (s, Some(title)),
                None if quiet => (Attention::Idle, None),
                None => (Attention::Working, None),
            },
            (None, None) => (Attention::Idle, None),
        };
        // Finished (or stopped waiting) while nobody watched: say so until someone looks. A
        // CLI that has just started has finished nothing.
        let next = match (self.state, next) {
            (Attention::Working | Attention::Waiting | Attention::Done, Attention::Idle)
                if !o.viewed && !started =>
            {
                Attention::Done
            }
            _ => next,
        };
        let changed = next != self.state || detail != self.detail;
        if next != self.state {
            self.since = o.unix_now;
        }
        self.state = next;
        self.detail = detail;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Attention::*;

    fn obs<'a>(
        gen: u64,
        recorded: Option<Attention>,
        viewed: bool,
        now: Instant,
    ) -> Observation<'a> {
        Observation {
            output_gen: gen,
            recorded: recorded.map(|state| Recorded {
                state,
                detail: None,
                turn: 0,
            }),
            handlers: None,
            ready: None,
            viewed,
            now,
            unix_now: 1000 + gen,
        }
    }

    #[test]
    fn recorded_states_win_and_done_needs_an_absent_user() {
        let t0 = Instant::now();
        let mut a = Tracker::new(t0, 1000);
        assert!(!a.update(&obs(1, Some(Working), false, t0)).is_empty());
        assert_eq!((a.state, a.since), (Working, 1001));
        assert!(!a.update(&obs(2, Some(Idle), false, t0)).is_empty());
        assert_eq!(a.state, Done, "finished while nobody watched");
        assert!(a.update(&obs(2, Some(Idle), false, t0)).is_empty());
        assert_eq!(a.since, 1002, "since is when the state began");
        assert!(!a.update(&obs(2, Some(Idle), true, t0)).is_empty());
        assert_eq!(a.state, Idle, "seen: done clears");
        a.update(&obs(3, Some(Working), true, t0));
        a.update(&obs(3, Some(Idle), true, t0));
        assert_eq!(a.state, Idle, "finished in view: just idle");
        a.update(&obs(3, Some(Waiting), false, t0));
        assert_eq!(a.state, Waiting);
        a.update(&obs(4, Some(Error), false, t0));
        assert_eq!(a.state, Error, "an error is reported as is");
    }

    #[test]
    fn answering_leaves_waiting_until_the_cli_reports_again() {
        let t0 = Instant::now();
        let mut a = Tracker::new(t0, 0);
        a.update(&obs(1, Some(Waiting), false, t0));
        assert!(
            !Tracker::new(t0, 0).answered(5),
            "only a waiting pane is answered"
        );
        assert!(a.answered(7));
        assert_eq!((a.state, a.since), (Working, 7));
        assert!(
            a.update(&obs(2, Some(Waiting), false, t0)).is_empty(),
            "the old report is stale"
        );
        assert_eq!(a.state, Working);
        a.update(&obs(3, Some(Idle), false, t0));
        assert_eq!(a.state, Done, "the next report counts");
    }

    #[test]
    fn a_turn_between_two_reads_is_seen() {
        let t0 = Instant::now();
        let at = |state, turn| Observation {
            output_gen: 1,
            recorded: Some(Recorded {
                state,
                detail: None,
                turn,
            }),
            handlers: None,
            ready: None,
            viewed: true,
            now: t0,
            unix_now: 0,
        };
        let mut a = Tracker::new(t0, 0);
        a.update(&at(Idle, 4));
        assert_eq!(a.state, Idle);
        assert_eq!(
            a.update(&at(Idle, 5)),
            vec![(Working, None), (Idle, None)],
            "turn 5 went by unseen"
        );
        let mut away = at(Idle, 6);
        away.viewed = false;
        assert_eq!(a.update(&away), vec![(Working, None), (Done, None)]);
        assert!(a.update(&at(Idle, 6)).len() == 1, "seen: idle");
        a.update(&at(Waiting, 6));
        assert_eq!(
            a.update(&at(Error, 7)),
            vec![(Working, None), (Error, None)],
            "answered and failed"
        );
        assert_eq!(
            a.update(&at(Working, 8)),
            vec![(Working, None)],
            "a turn seen starting is not doubled"
        );
        assert!(a.update(&at(Idle, 8)).len() == 1);
        assert_eq!(
            a.update(&at(Waiting, 9)),
            vec![(Working, None), (Waiting, None)],
            "a turn that asked at once still began"
        );
    }

    #[test]
    fn handlers_and_activity() {
        let t0 = Instant::now();
        let waiting_when_quiet = |quiet: bool| quiet.then(|| (Waiting, "asks".to_string()));
        let mut a = Tracker::new(t0, 0);
        let mut o = Observation {
            output_gen: 1,
            recorded: None,
            handlers: Some(&waiting_when_quiet),
            ready: None,
            viewed: true,
            now: t0,
            unix_now: 0,
        };
        a.update(&o);
        assert_eq!(a.state, Working, "output is flowing");
        o.now = t0 + QUIET;
        a.update(&o);
        assert_eq!(
            (a.state, a.detail.as_deref()),
            (Waiting, Some("asks")),
            "quiet, and the idle pattern matches"
        );
        let mut plain = Tracker::new(t0, 0);
        plain.update(&obs(5, None, true, t0));
        assert_eq!(plain.state, Idle);
    }

    #[test]
    fn an_agent_is_starting_until_it_shows_it_takes_a_prompt() {
        let t0 = Instant::now();
        let shown = std::cell::Cell::new(false);
        let ready = || shown.get();
        let at = |gen: u64, recorded: Option<Attention>| Observation {
            ready: Some(&ready),
            viewed: false,
            ..obs(gen, recorded, false, t0 + QUIET * gen as u32)
        };
        let mut a = Tracker::starting(t0, 0);
        assert_eq!((a.state, a.detail.as_deref()), (Working, Some(STARTING)));
        assert!(
            a.update(&at(1, Some(Idle))).is_empty(),
            "an early report is not readiness"
        );
        assert!(a.starting);
        shown.set(true);
        assert_eq!(
            a.update(&at(2, Some(Idle))),
            vec![(Idle, None)],
            "ready: idle, not done, though nobody looks"
        );
        assert!(!a.starting);
        // A dialog the CLI reports at start ends starting too.
        let mut b = Tracker::starting(t0, 0);
        shown.set(false);
        assert_eq!(a.state, Idle);
        assert_eq!(b.update(&at(1, Some(Waiting))), vec![(Waiting, None)]);
        // Without a pattern: the first report, or output gone quiet.
        let mut c = Tracker::starting(t0, 0);
        assert!(c.update(&obs(1, None, false, t0)).is_empty(), "printing");
        assert_eq!(
            c.update(&obs(1, None, false, t0 + QUIET)),
            vec![(Idle, None)]
        );
        let mut d = Tracker::starting(t0, 0);
        assert_eq!(d.update(&obs(0, Some(Idle), false, t0)), vec![(Idle, None)]);
        // A pattern that never shows: ready once quiet past the limit, not before.
        let never = || false;
        let mut e = Tracker::starting(t0, 0);
        let late = |gen: u64, at: Duration| Observation {
            ready: Some(&never),
            ..obs(gen, None, false, t0 + at)
        };
        assert!(e.update(&late(1, READY_LIMIT - QUIET)).is_empty());
        assert!(e.update(&late(2, READY_LIMIT)).is_empty(), "still printing");
        assert_eq!(e.update(&late(2, READY_LIMIT + QUIET)), vec![(Idle, None)]);
    }
}
