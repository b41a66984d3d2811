//! What happens in the workspace, as a stream: `quil events`, `[[hooks]]` in `config.toml`,
//! and the notifications attached clients show all read these.

use crate::{Attention, PaneId, TabId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One event. On the wire it is postcard like every message; scripts get [`Event::to_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time in milliseconds.
    pub time: u64,
    pub pane: Option<PaneId>,
    pub tab: Option<TabId>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PaneCreated {
        name: String,
        pane_type: String,
    },
    /// The pane's process ended (the pane may stay, showing the status).
    PaneExited {
        status: i32,
    },
    /// The pane left the workspace.
    PaneClosed,
    PaneRenamed {
        name: String,
    },
    /// The pane became the workspace's active pane.
    PaneFocused,
    TabCreated {
        name: String,
    },
    TabClosed,
    TabRenamed {
        name: String,
    },
    /// The pane's attention state changed.
    State {
        state: Option<Attention>,
        previous: Option<Attention>,
        detail: Option<String>,
    },
    /// The pane rang the bell.
    Bell,
    /// The pane asked for a desktop notification (OSC 9 / 777 / 99), or quil made one for a
    /// state change nobody was looking at.
    Notification {
        title: String,
        body: String,
    },
    WorktreeCreated {
        path: String,
        branch: String,
    },
    WorktreeKept,
    WorktreeDiscarded,
    /// The daemon brought a saved workspace back.
    Restored {
        panes: u32,
    },
    /// This reader fell behind: `count` events were dropped for it.
    Lost {
        count: u64,
    },
}

impl EventKind {
    /// Every type name, as `quil events --type` and `[[hooks]] on` take them.
    pub const NAMES: [&'static str; 16] = [
        "pane_created",
        "pane_exited",
        "pane_closed",
        "pane_renamed",
        "pane_focused",
        "tab_created",
        "tab_closed",
        "tab_renamed",
        "state",
        "bell",
        "notification",
        "worktree_created",
        "worktree_kept",
        "worktree_discarded",
        "restored",
        "lost",
    ];

    /// The type's name (`pane_created`, `state`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PaneCreated { .. } => "pane_created",
            EventKind::PaneExited { .. } => "pane_exited",
            EventKind::PaneClosed => "pane_closed",
            EventKind::PaneRenamed { .. } => "pane_renamed",
            EventKind::PaneFocused => "pane_focused",
            EventKind::TabCreated { .. } => "tab_created",
            EventKind::TabClosed => "tab_closed",
            EventKind::TabRenamed { .. } => "tab_renamed",
            EventKind::State { .. } => "state",
            EventKind::Bell => "bell",
            EventKind::Notification { .. } => "notification",
            EventKind::WorktreeCreated { .. } => "worktree_created",
            EventKind::WorktreeKept => "worktree_kept",
            EventKind::WorktreeDiscarded => "worktree_discarded",
            EventKind::Restored { .. } => "restored",
            EventKind::Lost { .. } => "lost",
        }
    }
}

impl Event {
    /// `{"type", "time", "pane", "tab", ...the kind's own fields}`: one line of `quil events
    /// --json`, and what a hook reads on stdin.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), json!(self.kind.name()));
        obj.insert("time".into(), json!(self.time));
        obj.insert("pane".into(), json!(self.pane));
        obj.insert("tab".into(), json!(self.tab));
        // Externally tagged: `{"pane_created": {...}}`, or a bare name for fieldless kinds.
        if let Ok(Value::Object(tagged)) = serde_json::to_value(&self.kind) {
            for (_, fields) in tagged {
                if let Value::Object(fields) = fields {
                    obj.extend(fields);
                }
            }
        }
        Value::Object(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_flat_and_named() {
        let e = Event {
            time: 1700000000123,
            pane: Some(PaneId(0x1a2b3c4d)),
            tab: Some(TabId(7)),
            kind: EventKind::State {
                state: Some(Attention::Waiting),
                previous: Some(Attention::Working),
                detail: Some("permission: Bash".into()),
            },
        };
        assert_eq!(
            e.to_json(),
            json!({"type": "state", "time": 1700000000123u64, "pane": "pane-1a2b3c4d",
                   "tab": "tab-00000007", "state": "waiting", "previous": "working",
                   "detail": "permission: Bash"})
        );
        let closed = Event {
            kind: EventKind::TabClosed,
            pane: None,
            ..e
        };
        assert_eq!(
            closed.to_json(),
            json!({"type": "tab_closed", "time": 1700000000123u64, "pane": null,
                   "tab": "tab-00000007"})
        );
    }

    #[test]
    fn names_are_listed_once() {
        let mut names = EventKind::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::NAMES.len());
        assert!(names.contains(&EventKind::Lost { count: 1 }.name()));
    }
}
