//! The dialog shown when closing a pane that runs in its own git worktree: keep its changes
//! (as a staged patch in the main tree), discard them, leave the worktree on disk for later,
//! or cancel. Pure state and key handling; drawing is in `popup`.

use crossterm::event::{KeyCode, KeyEvent};
use quil_model::WorktreeMeta;
use quil_proto::PaneId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Keep,
    Discard,
    Leave,
    Cancel,
}

impl Choice {
    pub const ALL: [Choice; 4] = [Choice::Keep, Choice::Discard, Choice::Leave, Choice::Cancel];

    pub fn key(self) -> char {
        match self {
            Choice::Keep => 'k',
            Choice::Discard => 'd',
            Choice::Leave => 'l',
            Choice::Cancel => 'c',
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Choice::Keep => "keep: apply the changes as a staged patch",
            Choice::Discard => "discard the changes",
            Choice::Leave => "leave the worktree for later",
            Choice::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloseWorktree {
    pub pane: PaneId,
    pub name: String,
    pub worktree: WorktreeMeta,
    /// `git diff --stat` of the worktree against its base: `None` while it is on its way.
    pub stat: Option<Result<Vec<String>, String>>,
    pub selected: Choice,
    /// A keep or discard was sent; waiting for the daemon.
    pub busy: Option<Choice>,
    /// Why the last keep or discard failed (git's one-line reason).
    pub error: Option<String>,
}

impl CloseWorktree {
    pub fn new(pane: PaneId, name: String, worktree: WorktreeMeta) -> CloseWorktree {
        CloseWorktree {
            pane,
            name,
            worktree,
            stat: None,
            // Nothing irreversible happens on a reflexive Enter.
            selected: Choice::Cancel,
            busy: None,
            error: None,
        }
    }

    /// The choice a key makes, if any (Enter takes the highlighted one).
    pub fn key(&mut self, ev: &KeyEvent) -> Option<Choice> {
        if self.busy.is_some() {
            // Keep and discard cannot be interrupted; Esc only hides the dialog.
            return (ev.code == KeyCode::Esc).then_some(Choice::Cancel);
        }
        let i = Choice::ALL
            .iter()
            .position(|c| *c == self.selected)
            .unwrap_or(0);
        match ev.code {
            KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => Some(Choice::Cancel),
            KeyCode::Enter => Some(self.selected),
            KeyCode::Up | KeyCode::BackTab => {
                self.selected = Choice::ALL[(i + Choice::ALL.len() - 1) % Choice::ALL.len()];
                None
            }
            KeyCode::Down | KeyCode::Tab => {
                self.selected = Choice::ALL[(i + 1) % Choice::ALL.len()];
                None
            }
            KeyCode::Char(c) => Choice::ALL
                .into_iter()
                .find(|x| x.key() == c.to_ascii_lowercase()),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) fn sample_worktree() -> WorktreeMeta {
    WorktreeMeta {
        repo: "/home/me/src/app".into(),
        path: "/home/me/src/app/.worktrees/claude-code-20250101T120000Z".into(),
        branch: "quil/claude-code-20250101T120000Z".into(),
        base: "0123456789abcdef0123456789abcdef01234567".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn letters_choose_and_arrows_move() {
        let mut d = CloseWorktree::new(PaneId(1), "claude".into(), sample_worktree());
        assert_eq!(d.key(&key(KeyCode::Enter)), Some(Choice::Cancel));
        assert_eq!(d.key(&key(KeyCode::Char('d'))), Some(Choice::Discard));
        assert_eq!(d.key(&key(KeyCode::Char('K'))), Some(Choice::Keep));
        assert_eq!(d.key(&key(KeyCode::Char('l'))), Some(Choice::Leave));
        assert_eq!(d.key(&key(KeyCode::Esc)), Some(Choice::Cancel));
        assert_eq!(d.key(&key(KeyCode::Down)), None);
        assert_eq!(d.selected, Choice::Keep, "wraps");
        d.key(&key(KeyCode::Down));
        d.key(&key(KeyCode::Up));
        d.key(&key(KeyCode::Up));
        assert_eq!(d.selected, Choice::Cancel);
        assert_eq!(d.key(&key(KeyCode::Char('x'))), None);
        d.busy = Some(Choice::Keep);
        assert_eq!(d.key(&key(KeyCode::Char('d'))), None, "busy");
        assert_eq!(d.key(&key(KeyCode::Esc)), Some(Choice::Cancel));
    }
}
