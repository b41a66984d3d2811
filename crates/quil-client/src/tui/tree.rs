//! The tree picker (tmux's choose-tree): every tab and its panes, one row each, with a live
//! preview of the chosen pane. Rows are built from the workspace when drawn, so they follow
//! changes while the picker is open.

use crossterm::event::{KeyCode, KeyEvent};
use quil_proto::{PaneId, TabId, WorkspaceInfo};

/// One row of the picker.
#[derive(Debug, Clone, PartialEq)]
pub enum TreeRow {
    Tab {
        id: TabId,
        /// 1-based, as the tab bar shows it.
        number: usize,
        name: String,
        panes: usize,
        /// The pane the tab shows active (its preview).
        active: PaneId,
    },
    Pane {
        id: PaneId,
        name: String,
        kind: String,
        cwd: String,
        /// `waiting`, `exited 1`, ...: what the pane's state says, if anything.
        note: String,
        /// The active pane of its tab.
        active: bool,
    },
}

impl TreeRow {
    /// The pane previewed for this row: the pane, or the tab's active pane.
    pub fn preview(&self) -> PaneId {
        match self {
            TreeRow::Tab { active, .. } => *active,
            TreeRow::Pane { id, .. } => *id,
        }
    }
}

/// Every tab, each followed by its panes in layout order.
pub fn rows(ws: &WorkspaceInfo) -> Vec<TreeRow> {
    let mut out = Vec::new();
    for (i, t) in ws.tabs.iter().enumerate() {
        out.push(TreeRow::Tab {
            id: t.id,
            number: i + 1,
            name: t.name.clone(),
            panes: t.panes.len(),
            active: t.active_pane,
        });
        for p in &t.panes {
            let Some(info) = ws.panes.iter().find(|x| x.id == *p) else {
                continue;
            };
            let note = match (info.alive, info.exit_status, info.state) {
                (false, Some(s), _) => format!("exited {s}"),
                (false, None, _) => "exited".into(),
                (true, _, Some(s)) => s.as_str().to_string(),
                (true, _, None) => String::new(),
            };
            out.push(TreeRow::Pane {
                id: info.id,
                name: info.name.clone(),
                kind: info.kind.clone(),
                cwd: info.cwd.clone(),
                note,
                active: *p == t.active_pane,
            });
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeView {
    pub selected: usize,
}

pub enum TreeOutcome {
    Stay,
    Close,
    Tab(TabId),
    Pane(PaneId),
}

impl TreeView {
    /// Starts on the row of `pane` (the active one), else the first.
    pub fn at(rows: &[TreeRow], pane: Option<PaneId>) -> TreeView {
        let selected = rows
            .iter()
            .position(|r| matches!(r, TreeRow::Pane { id, .. } if Some(*id) == pane))
            .unwrap_or(0);
        TreeView { selected }
    }

    /// The selected row, kept within `rows`.
    pub fn row<'a>(&self, rows: &'a [TreeRow]) -> Option<&'a TreeRow> {
        rows.get(self.selected.min(rows.len().saturating_sub(1)))
    }

    pub fn key(&mut self, ev: &KeyEvent, rows: &[TreeRow]) -> TreeOutcome {
        let last = rows.len().saturating_sub(1);
        self.selected = self.selected.min(last);
        match ev.code {
            KeyCode::Esc | KeyCode::Char('q') => return TreeOutcome::Close,
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            KeyCode::Enter => {
                return match rows.get(self.selected) {
                    Some(TreeRow::Tab { id, .. }) => TreeOutcome::Tab(*id),
                    Some(TreeRow::Pane { id, .. }) => TreeOutcome::Pane(*id),
                    None => TreeOutcome::Close,
                }
            }
            _ => {}
        }
        TreeOutcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn rows_move_and_choose() {
        let rows = vec![
            TreeRow::Tab {
                id: TabId(1),
                number: 1,
                name: "main".into(),
                panes: 1,
                active: PaneId(1),
            },
            TreeRow::Pane {
                id: PaneId(1),
                name: "sh".into(),
                kind: "terminal".into(),
                cwd: "/".into(),
                note: String::new(),
                active: true,
            },
        ];
        let mut v = TreeView::at(&rows, Some(PaneId(1)));
        assert_eq!(v.selected, 1);
        assert_eq!(v.row(&rows).map(TreeRow::preview), Some(PaneId(1)));
        assert!(matches!(
            v.key(&key(KeyCode::Down), &rows),
            TreeOutcome::Stay
        ));
        assert_eq!(v.selected, 1, "stays on the last row");
        v.key(&key(KeyCode::Up), &rows);
        assert!(matches!(
            v.key(&key(KeyCode::Enter), &rows),
            TreeOutcome::Tab(TabId(1))
        ));
        assert!(matches!(
            v.key(&key(KeyCode::Esc), &rows),
            TreeOutcome::Close
        ));
    }
}
