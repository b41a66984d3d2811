//! AI panes: which opencode, Claude Code, Codex CLI or Gemini CLI conversation each quil pane
//! is in, so a pane can reopen *its own* conversation after any daemon restart.
//!
//! - [`ids`]: the id rules (opencode session ids, Claude session UUIDs, pane ids). One source of
//!   truth: a JSON block inside the embedded opencode tracker, `js/quil-session-tracker.js`.
//! - [`opencode`]: the tracker plugin (written to `$QUIL_HOME/opencodehook/`) and the pane
//!   environment that loads it (`OPENCODE_CONFIG_CONTENT`).
//! - [`claude`]: the per-pane `--settings` file registering quil's hooks, the hook handler behind
//!   `quil hook claude`, and transcript paths.
//! - [`codex`]: the `-c` overrides registering and trusting quil's hooks (Codex's trust hash),
//!   what Codex's events mean, and the error its transcript records.
//! - [`gemini`]: quil's Gemini extension (`~/.gemini/extensions/quil`) and the pane variable
//!   that makes it run quil's hook, and what Gemini's events mean.
//! - [`hooks`]: the hook handler the three share (`quil hook <agent>`).
//! - [`resume`]: the pure decision of how a pane reopens (`--session`, `--resume`,
//!   `--session-id`, `--continue` or fresh).
//! - [`store`]: reading the id and state files safely (`O_NOFOLLOW`, size cap, shape checks).
//!
//! Files, all under `$QUIL_HOME` (see docs/ai-panes.md):
//!
//! | file | written by |
//! |---|---|
//! | `opencodehook/quil-session-tracker.js` | [`opencode::write_tracker`] (quild) |
//! | `opencodehook/hook.log` | the tracker |
//! | `sessions/opencode-<pane>.id`, `.state` | the tracker |
//! | `sessions/claude-<pane>.settings.json` | [`claude::claude_settings`] (quild) |
//! | `sessions/claude-<pane>.id`, `.state`, `sessions/hook.log` | [`hooks::handle_hook`] |
//! | `sessions/codex-<pane>.id`, `.state` | [`hooks::handle_hook`] |
//! | `sessions/gemini-<pane>.id`, `.state` | [`hooks::handle_hook`] |
//!
//! Outside it: quil's Gemini extension, `~/.gemini/extensions/quil/` ([`gemini::write_extension`],
//! quild).

pub mod claude;
pub mod codex;
mod fsutil;
pub mod gemini;
pub mod hooks;
pub mod ids;
pub mod mechanism;
pub mod opencode;
pub mod resume;
pub mod store;

use std::path::{Path, PathBuf};

pub use claude::{
    claude_config_dir, claude_project_dir_name, claude_settings, claude_settings_with_hook,
    claude_transcript_path, handle_claude_hook,
};
pub use ids::{is_valid_claude_session_id, is_valid_opencode_session_id, is_valid_pane_id};
pub use mechanism::SpawnExtras;
pub use opencode::{opencode_env, plugin_url, tracker_path, write_tracker, TRACKER_JS};
pub use resume::{chosen_id, decide, plan_resumes, restore_argv, Resume, ResumeInput};
pub use store::{read_session, read_session_id, read_state, SessionRecord, StateRecord};

/// Which built-in mechanism recorded a pane's files (each plugin selects one by name in
/// `[integration]`; see [`mechanism`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// opencode (`opencode`).
    OpenCode,
    /// Claude Code (`claude`).
    Claude,
    /// Codex CLI (`codex`).
    Codex,
    /// Gemini CLI (`gemini`).
    Gemini,
}

impl Kind {
    /// `"opencode"`, `"claude"`, `"codex"` or `"gemini"`: the prefix of this kind's files in
    /// `$QUIL_HOME/sessions`, and the agent name of `quil hook <agent>`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::OpenCode => "opencode",
            Kind::Claude => "claude",
            Kind::Codex => "codex",
            Kind::Gemini => "gemini",
        }
    }

    /// Whether `id` has the shape of this kind's session ids.
    pub fn is_valid_session_id(self, id: &str) -> bool {
        match self {
            Kind::OpenCode => is_valid_opencode_session_id(id),
            // Codex (v7) and Gemini (v4) ids are UUIDs too: the same rule.
            Kind::Claude | Kind::Codex | Kind::Gemini => is_valid_claude_session_id(id),
        }
    }

    /// `$QUIL_HOME/sessions/<kind>-<pane>.id`.
    pub fn id_file(self, home: &Path, pane_id: &str) -> PathBuf {
        sessions_dir(home).join(format!("{}-{pane_id}.id", self.name()))
    }

    /// `$QUIL_HOME/sessions/<kind>-<pane>.state`.
    pub fn state_file(self, home: &Path, pane_id: &str) -> PathBuf {
        sessions_dir(home).join(format!("{}-{pane_id}.state", self.name()))
    }
}

/// `$QUIL_HOME/sessions`.
pub fn sessions_dir(home: &Path) -> PathBuf {
    home.join("sessions")
}

/// Everything that can go wrong here; each message names the file or value concerned.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("invalid pane id {0:?} (expected pane- and 8 lowercase hex digits)")]
    InvalidPaneId(String),
    #[error("QUIL_HOME {0:?} contains a NUL or control character")]
    BadHome(String),
    #[error("QUIL_HOME {0:?} is not valid UTF-8")]
    NonUtf8Home(PathBuf),
    #[error("the opencode tracker {0} is missing (quild writes it with write_tracker at start)")]
    TrackerMissing(PathBuf),
    #[error("refusing to read {0}: it is a symbolic link")]
    Symlink(PathBuf),
    #[error("refusing to read {0}: not a regular file")]
    NotAFile(PathBuf),
    #[error("refusing to read {path}: {size} bytes is over the {cap}-byte cap")]
    TooLarge { path: PathBuf, size: u64, cap: u64 },
    #[error("{path} does not hold a valid {kind} session id: {found:?}")]
    BadId {
        path: PathBuf,
        kind: &'static str,
        found: String,
    },
    #[error("hook input: {0}")]
    BadHookInput(String),
    #[error("the hook command is empty or has a NUL or newline")]
    BadHookCommand,
    #[error("{0} reports through no hook")]
    NoHooks(&'static str),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AiError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> AiError {
        AiError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<AiError> for std::io::Error {
    fn from(e: AiError) -> Self {
        match e {
            AiError::Io { source, .. } => source,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// `home` made absolute (relative to the current directory), refusing NUL and control
/// characters (they cannot go into an environment variable or a log line) and non-UTF-8.
pub fn absolute_home(home: &Path) -> Result<PathBuf, AiError> {
    use std::os::unix::ffi::OsStrExt;
    if home
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|&b| b < 0x20 || b == 0x7f)
    {
        return Err(AiError::BadHome(home.to_string_lossy().into_owned()));
    }
    if home.as_os_str().is_empty() {
        return Err(AiError::BadHome(String::new()));
    }
    let abs = std::path::absolute(home).map_err(|e| AiError::io(home, e))?;
    if abs.to_str().is_none() {
        return Err(AiError::NonUtf8Home(abs));
    }
    Ok(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let h = Path::new("/q");
        assert_eq!(
            Kind::OpenCode.id_file(h, "pane-1a2b3c4d"),
            Path::new("/q/sessions/opencode-pane-1a2b3c4d.id")
        );
        assert_eq!(
            Kind::Claude.state_file(h, "pane-1a2b3c4d"),
            Path::new("/q/sessions/claude-pane-1a2b3c4d.state")
        );
    }

    #[test]
    fn relative_home_is_made_absolute_and_nul_refused() {
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            absolute_home(Path::new("rel/q")).expect("ok"),
            cwd.join("rel/q")
        );
        assert_eq!(
            absolute_home(Path::new("/abs/q")).expect("ok"),
            Path::new("/abs/q")
        );
        use std::os::unix::ffi::OsStrExt;
        for bad in [&b"/tmp/a\0b"[..], b"/tmp/a\nb", b"/tmp/\x1b[31m", b""] {
            let p = Path::new(std::ffi::OsStr::from_bytes(bad));
            let err = absolute_home(p).expect_err("refused");
            assert!(err.to_string().contains("NUL or control"), "{bad:?}: {err}");
        }
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        assert!(matches!(absolute_home(p), Err(AiError::NonUtf8Home(_))));
    }
}
