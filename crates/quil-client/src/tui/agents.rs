//! The agents view: one row per pane that reports an attention state, across every tab, the
//! ones that need you first. Rows are built from the workspace when drawn, so they follow state
//! changes while the view is open; the selection follows its pane, not its position.

use super::pane::PaneScreen;
use crossterm::event::{KeyCode, KeyEvent};
use quil_model::Attention;
use quil_proto::{PaneId, PaneInfo, WorkspaceInfo};
use std::collections::HashMap;

/// One row of the view, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub pane: PaneId,
    pub state: Attention,
    /// How long it has been in that state (`12s`, `3m`, `2h`), empty when unknown.
    pub age: String,
    pub tab: String,
    pub name: String,
    pub detail: String,
    /// The last line of its output, without the CLI's own interface.
    pub last: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentsView {
    pub selected: Option<PaneId>,
}

pub enum AgentsOutcome {
    Stay,
    Close,
    Go(PaneId),
}

/// The order of the groups: a question blocks an agent, an error stopped it, a finished turn
/// waits to be read; working and idle ones need nothing.
fn group(s: Attention) -> u8 {
    match s {
        Attention::Waiting => 0,
        Attention::Error => 1,
        Attention::Done => 2,
        Attention::Working => 3,
        Attention::Idle => 4,
    }
}

/// `12s`, `3m`, `2h`, `5d`: one unit, rounded down, as a glance needs.
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `text` on one line: control characters (a newline in a hook's detail) become spaces, so
/// they can neither break the row nor reach the outer terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The last line with something on it, trimmed.
pub fn last_line(screen: &PaneScreen) -> Option<String> {
    screen
        .lines
        .iter()
        .rev()
        .map(|l| one_line(&l.text()))
        .find(|t| !t.is_empty())
}

/// Panes with a state, by group, and within one the newest change first (a pane without a
/// time last), then in workspace order.
pub fn ordered(ws: &WorkspaceInfo) -> Vec<&PaneInfo> {
    let mut panes: Vec<(usize, &PaneInfo)> = ws
        .panes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.state.is_some())
        .collect();
    panes.sort_by_key(|(i, p)| {
        (
            p.state.map_or(u8::MAX, group),
            std::cmp::Reverse(p.state_since.unwrap_or(0)),
            *i,
        )
    });
    panes.into_iter().map(|(_, p)| p).collect()
}

pub fn rows(ws: &WorkspaceInfo, screens: &HashMap<PaneId, PaneScreen>, now: u64) -> Vec<AgentRow> {
    ordered(ws)
        .into_iter()
        .filter_map(|p| {
            let state = p.state?;
            let tab = ws
                .tabs
                .iter()
                .find(|t| t.id == p.tab_id)
                .map_or_else(String::new, |t| t.name.clone());
            Some(AgentRow {
                pane: p.id,
                state,
                age: p
                    .state_since
                    .map_or_else(String::new, |t| age(now.saturating_sub(t))),
                tab,
                name: one_line(&p.name),
                detail: p.state_detail.as_deref().map(one_line).unwrap_or_default(),
                // The daemon's, which leaves out the CLI's chrome and knows every pane; this
                // client's own screen for a daemon that sends none.
                last: p
                    .last_line
                    .as_deref()
                    .map(one_line)
                    .or_else(|| screens.get(&p.id).and_then(last_line)),
            })
        })
        .collect()
}

impl AgentsView {
    /// The selected row's index in `rows`: the selected pane's, else the first.
    pub fn index(&self, rows: &[AgentRow]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        Some(
            self.selected
                .and_then(|p| rows.iter().position(|r| r.pane == p))
                .unwrap_or(0),
        )
    }

    pub fn key(&mut self, ev: &KeyEvent, rows: &[AgentRow]) -> AgentsOutcome {
        let n = rows.len();
        let at = self.index(rows);
        let step = |d: usize| at.map(|i| rows[(i + d) % n].pane);
        match ev.code {
            KeyCode::Esc | KeyCode::Char('q') => return AgentsOutcome::Close,
            KeyCode::Up | KeyCode::Char('k') => self.selected = step(n.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.selected = step(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = rows.first().map(|r| r.pane),
            KeyCode::End | KeyCode::Char('G') => self.selected = rows.last().map(|r| r.pane),
            KeyCode::Enter => {
                if let Some(i) = at {
                    return AgentsOutcome::Go(rows[i].pane);
                }
            }
            _ => {}
        }
        AgentsOutcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_one_unit() {
        for (secs, want) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (86_399, "23h"),
            (86_400 * 3, "3d"),
        ] {
            assert_eq!(age(secs), want, "{secs}");
        }
    }

    #[test]
    fn last_line_skips_blank_rows_and_control_characters() {
        let mut s = PaneScreen::default();
        assert_eq!(last_line(&s), None);
        s.lines = ["  build ok ", "\tdone\x07", "   ", ""]
            .iter()
            .map(|t| quil_proto::Line::plain(t))
            .collect();
        assert_eq!(last_line(&s).as_deref(), Some("done"));
        assert_eq!(one_line("permission:\nBash\r"), "permission: Bash");
    }
}
