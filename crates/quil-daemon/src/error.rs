//! Why a request failed: one typed error for the whole daemon, each variant a one-line reason
//! naming the thing, and each mapped to the [`ErrorKind`] that goes over the wire.

use quil_model::{ModelError, PaneId, TabId};
use quil_proto::{ErrorKind, ErrorReply};
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown pane {0}")]
    UnknownPane(PaneId),
    #[error("unknown tab {0}")]
    UnknownTab(TabId),
    #[error("unknown pane type {name:?} (known: {known})")]
    UnknownPaneType { name: String, known: String },
    /// The file meant to define the type failed validation: its first error, in one line.
    #[error("pane type {name:?} did not load: {error}")]
    BrokenPaneType { name: String, error: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A name, value or argument that can never work.
    #[error("{0}")]
    Invalid(String),
    #[error("directory {} does not exist", .0.display())]
    NoSuchDir(PathBuf),
    /// The pane type's program is not installed (the message says where quil looked).
    #[error("{0}")]
    NotInstalled(String),
    #[error(transparent)]
    Spawn(#[from] crate::pane::SpawnError),
    #[error(transparent)]
    Pane(#[from] crate::pane::PaneError),
    #[error("pane {0} has no worktree")]
    NoWorktree(PaneId),
    /// Panes other than the one asked about are inside a worktree about to be removed.
    #[error(
        "{} {} still in the worktree {}: close {} or cd out of it first (files written there \
         would be lost)",
        list(.panes), if .panes.len() == 1 { "is" } else { "are" }, .path.display(),
        if .panes.len() == 1 { "it" } else { "them" }
    )]
    WorktreeBusy { panes: Vec<PaneId>, path: PathBuf },
    #[error(transparent)]
    Worktree(#[from] quil_worktree::WorktreeError),
    #[error("pane {0} is still being restored")]
    Restoring(PaneId),
    #[error("pane {0} was closed meanwhile")]
    ClosedMeanwhile(PaneId),
    #[error("no split at that position in {0}")]
    NoSuchDivider(TabId),
    /// What an integration mechanism could not set up for a pane.
    #[error("cannot set up the agent integration of {pane}: {reason}")]
    Integration { pane: PaneId, reason: String },
    /// The request was carried out, but the workspace could not be saved.
    #[error("done, but not saved ({0}): a restart would undo it")]
    NotSaved(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(panes: &[PaneId]) -> String {
    panes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownPane(_)
            | Error::UnknownTab(_)
            | Error::UnknownPaneType { .. }
            | Error::BrokenPaneType { .. }
            | Error::NoWorktree(_)
            | Error::NoSuchDivider(_)
            | Error::Model(ModelError::UnknownPane(_) | ModelError::UnknownTab(_)) => {
                ErrorKind::NotFound
            }
            Error::Invalid(_) | Error::Model(_) => ErrorKind::Invalid,
            Error::Pane(crate::pane::PaneError::Resize(..)) => ErrorKind::Failed,
            Error::Pane(_)
            | Error::WorktreeBusy { .. }
            | Error::ClosedMeanwhile(_)
            | Error::Restoring(_)
            | Error::Worktree(quil_worktree::WorktreeError::DoesNotApply { .. }) => {
                ErrorKind::Conflict
            }
            Error::NoSuchDir(_) | Error::NotInstalled(_) | Error::Spawn(_) | Error::NotSaved(_) => {
                ErrorKind::Unavailable
            }
            Error::Worktree(_) | Error::Integration { .. } | Error::Internal(_) => {
                ErrorKind::Failed
            }
        }
    }
}

impl From<Error> for ErrorReply {
    fn from(e: Error) -> ErrorReply {
        ErrorReply::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_one_line_messages() {
        let p = PaneId(0x1a2b_3c4d);
        let cases = [
            (
                Error::UnknownPane(p),
                ErrorKind::NotFound,
                "unknown pane pane-1a2b3c4d",
            ),
            (
                Error::Model(ModelError::UnknownTab("x".into())),
                ErrorKind::NotFound,
                "unknown tab x",
            ),
            (
                Error::Model(ModelError::TooSmall(p)),
                ErrorKind::Invalid,
                "too small",
            ),
            (
                Error::WorktreeBusy {
                    panes: vec![p, PaneId(1)],
                    path: "/w".into(),
                },
                ErrorKind::Conflict,
                "pane-1a2b3c4d, pane-00000001 are still in the worktree /w: close them",
            ),
            (
                Error::WorktreeBusy {
                    panes: vec![p],
                    path: "/w".into(),
                },
                ErrorKind::Conflict,
                "pane-1a2b3c4d is still in the worktree /w: close it",
            ),
            (
                Error::NoSuchDir("/nope".into()),
                ErrorKind::Unavailable,
                "directory /nope does not exist",
            ),
        ];
        for (e, kind, text) in cases {
            let r = ErrorReply::from(e);
            assert_eq!(r.kind, kind, "{}", r.message);
            assert!(r.message.contains(text), "{:?} lacks {text:?}", r.message);
            assert!(!r.message.contains('\n'));
        }
    }
}
