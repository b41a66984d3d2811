//! A pane's disposable worktree: diff, keep (as a staged patch) and discard.

use super::Server;
use crate::error::{Error, Result};
use crate::pane::Pane;
use quil_proto::{EventKind, PaneId, Reply, WorktreeOp};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Server {
    pub(super) fn worktree(&self, id: PaneId, op: WorktreeOp) -> Result<Reply> {
        let wt = self
            .lock()
            .meta(id)?
            .worktree
            .clone()
            .ok_or(Error::NoWorktree(id))?;
        if !matches!(op, WorktreeOp::Diff { .. }) {
            let panes = self.panes_inside(&wt.path, id);
            if !panes.is_empty() {
                return Err(Error::WorktreeBusy {
                    panes,
                    path: wt.path.clone(),
                });
            }
        }
        match op {
            WorktreeOp::Diff { stat } => {
                let text = quil_worktree::diff(&wt, stat)?;
                Ok(Reply::Text(text.lines().map(str::to_string).collect()))
            }
            WorktreeOp::Keep => {
                // Keep first: if the patch does not apply, nothing changes, the pane included.
                quil_worktree::keep(&wt)?;
                self.emit_pane(&self.lock(), id, EventKind::WorktreeKept);
                self.close_pane(id);
                Ok(Reply::Ok)
            }
            WorktreeOp::Discard => {
                // Stop the pane first, so nothing writes into the tree being removed.
                let tab = self.lock().tab_of(id);
                self.close_pane(id);
                quil_worktree::discard(&wt)?;
                self.emit(Some(id), tab, EventKind::WorktreeDiscarded);
                Ok(Reply::Ok)
            }
        }
    }

    /// Running panes other than `except` whose program is in `dir` or below it: by the cwd its
    /// shell reports and its process's own cwd, or, when neither is known, the one it started
    /// in. (An exited pane writes nothing; respawned there, it would say the directory is gone.)
    fn panes_inside(&self, dir: &Path, except: PaneId) -> Vec<PaneId> {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        // Collected first: reading /proc is I/O, never done under the state lock.
        let candidates: Vec<(PaneId, PathBuf, Arc<dyn Pane>)> = {
            let st = self.lock();
            st.ws
                .panes
                .iter()
                .filter(|m| m.id != except)
                .filter_map(|m| Some((m.id, m.cwd.clone(), st.panes.get(&m.id)?.pane.clone())))
                .filter(|(_, _, p)| p.is_alive())
                .collect()
        };
        candidates
            .into_iter()
            .filter(|(_, started_in, pane)| {
                let reported = pane.shared().reported_cwd();
                let process = pane
                    .pid()
                    .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok());
                let inside = |c: &PathBuf| c.starts_with(dir) || c.starts_with(&real);
                match (reported, process) {
                    (None, None) => inside(started_in),
                    (r, p) => r.iter().chain(&p).any(inside),
                }
            })
            .map(|(id, _, _)| id)
            .collect()
    }
}
