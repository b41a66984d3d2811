//! A pane's attention state: the one enum that travels from an agent's tracker or hook, through
//! the daemon, over the wire, to the TUI and `quil ls --json`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The detail of an agent pane whose CLI is `working` at starting up: it does not take a
/// prompt yet (its type's `ready` pattern is not on the screen).
pub const STARTING: &str = "starting";

/// Does this pane need the user?
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    /// Ready, and already seen (or nothing to report).
    #[default]
    Idle,
    /// A turn is running (tool calls and subagents included).
    Working,
    /// A turn finished and no client has shown the pane since.
    Done,
    /// Blocked on the user: a permission prompt, a question, a plan to approve.
    Waiting,
    /// The turn stopped on an error (API error, rate limit, a crash of the CLI).
    Error,
}

impl Attention {
    pub const ALL: [Attention; 5] = [
        Attention::Idle,
        Attention::Working,
        Attention::Done,
        Attention::Waiting,
        Attention::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Attention::Idle => "idle",
            Attention::Working => "working",
            Attention::Done => "done",
            Attention::Waiting => "waiting",
            Attention::Error => "error",
        }
    }

    /// Parses the lowercase name, ignoring surrounding white space (state files end in `\n`).
    pub fn parse(s: &str) -> Option<Attention> {
        let s = s.trim();
        Attention::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// How urgently the user is needed, for a tab's mark: an error, then a question, then a
    /// finished turn. The derived `Ord` is the same order.
    pub fn urgency(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Attention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_urgency_orders_errors_first() {
        for a in Attention::ALL {
            assert_eq!(Attention::parse(&format!(" {a}\n")), Some(a));
            assert_eq!(serde_json::to_string(&a).ok(), Some(format!("\"{a}\"")));
        }
        assert_eq!(Attention::parse("busy"), None);
        let max = Attention::ALL.into_iter().max_by_key(|a| a.urgency());
        assert_eq!(max, Some(Attention::Error));
        assert!(Attention::Waiting > Attention::Done && Attention::Done > Attention::Working);
    }
}
