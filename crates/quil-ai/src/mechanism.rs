//! The built-in integration mechanisms behind one interface that names no CLI: what quild calls
//! for a pane whose type selects `[integration] mechanism = "..."`. Everything else quild knows
//! of an agent comes from the plugin file.

use crate::store::{read_session, read_state, SessionRecord, StateRecord};
use crate::{AiError, Kind};
use quil_plugin::Mechanism;
use std::path::{Path, PathBuf};

impl From<Mechanism> for Kind {
    fn from(m: Mechanism) -> Kind {
        match m {
            Mechanism::ClaudeHooks => Kind::Claude,
            Mechanism::OpencodeTracker => Kind::OpenCode,
            Mechanism::CodexHooks => Kind::Codex,
            Mechanism::GeminiHooks => Kind::Gemini,
        }
    }
}

/// What a pane's command needs added so its CLI reports to quil.
#[derive(Debug, Default)]
pub struct SpawnExtras {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Something the user should know (logged by the daemon), e.g. their own config had to be
    /// set aside.
    pub warning: Option<String>,
}

/// Writes the files every mechanism needs once per daemon start (the tracker plugin). On
/// failure, returns the path that could not be written.
pub fn install(home: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    crate::opencode::write_tracker(home)
        .map(drop)
        .map_err(|e| (crate::opencode::tracker_path(home), e))
}

/// The arguments and environment that make the pane's CLI report to quil. `quil_bin` is the
/// `quil` executable a hook runs; `user_env` reads the daemon's environment (the user's own
/// settings that must be merged, not replaced).
pub fn spawn_extras(
    m: Mechanism,
    home: &Path,
    pane_id: &str,
    quil_bin: &Path,
    user_env: impl Fn(&str) -> Option<String>,
) -> Result<SpawnExtras, AiError> {
    // What an earlier run of the CLI reported (a turn a crash cut off, say) is not this
    // run's state: the pane has none until the new process reports.
    let state = Kind::from(m).state_file(home, pane_id);
    if let Err(e) = std::fs::remove_file(&state) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(AiError::io(&state, e));
        }
    }
    match m {
        Mechanism::OpencodeTracker => {
            let user = user_env(crate::opencode::CONFIG_CONTENT_VAR);
            let (env, warning) = crate::opencode_env(home, pane_id, user.as_deref())?;
            Ok(SpawnExtras {
                args: Vec::new(),
                env,
                warning,
            })
        }
        Mechanism::ClaudeHooks => {
            let settings = crate::claude_settings(home, pane_id, quil_bin)
                .map_err(|e| AiError::io(&crate::claude::settings_path(home, pane_id), e))?;
            Ok(SpawnExtras {
                args: vec!["--settings".into(), settings.display().to_string()],
                env: Vec::new(),
                warning: None,
            })
        }
        Mechanism::CodexHooks => Ok(SpawnExtras {
            args: crate::codex::codex_args(pane_id, quil_bin)?,
            env: Vec::new(),
            warning: None,
        }),
        Mechanism::GeminiHooks => crate::gemini::gemini_env(pane_id, quil_bin, user_env),
    }
}

/// The conversation the CLI reported for the pane, if the file is there and sound.
pub fn recorded(
    m: Mechanism,
    home: &Path,
    pane_id: &str,
) -> Result<Option<SessionRecord>, AiError> {
    let kind = Kind::from(m);
    read_session(&kind.id_file(home, pane_id), kind)
}

/// The attention state (and its detail) the CLI last reported for the pane.
///
/// Codex reports no API error through a hook: a turn that failed leaves the pane `working`,
/// and only its rollout says how the turn ended. So while a Codex pane is `working`, the end
/// of its rollout (the transcript its hook reported) is checked too.
pub fn recorded_state(
    m: Mechanism,
    home: &Path,
    pane_id: &str,
) -> Result<Option<StateRecord>, AiError> {
    let kind = Kind::from(m);
    let state = read_state(&kind.state_file(home, pane_id))?;
    if m == Mechanism::CodexHooks {
        if let Some(StateRecord {
            state: quil_model::Attention::Working,
            ..
        }) = state
        {
            let failed = read_session(&kind.id_file(home, pane_id), kind)?
                .and_then(|r| r.transcript)
                .and_then(|t| crate::codex::transcript_error(&t));
            if let (Some(detail), Some(working)) = (failed, &state) {
                return Ok(Some(StateRecord {
                    state: quil_model::Attention::Error,
                    detail: Some(detail),
                    turn: working.turn,
                }));
            }
        }
    }
    Ok(state)
}

/// Forgets the pane's reported conversation (it no longer exists).
pub fn forget(m: Mechanism, home: &Path, pane_id: &str) {
    let _ = std::fs::remove_file(Kind::from(m).id_file(home, pane_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_process_starts_without_the_old_ones_state() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let pane = "pane-1a2b3c4d";
        let state = Kind::Claude.state_file(&home, pane);
        std::fs::create_dir_all(state.parent().expect("dir")).expect("mkdir");
        std::fs::write(&state, "working\n\n3\n").expect("write");
        spawn_extras(
            Mechanism::ClaudeHooks,
            &home,
            pane,
            Path::new("/bin/quil"),
            |_| None,
        )
        .expect("extras");
        assert!(!state.exists(), "the crashed run's `working` is gone");
        spawn_extras(
            Mechanism::ClaudeHooks,
            &home,
            pane,
            Path::new("/bin/quil"),
            |_| None,
        )
        .expect("no state file is fine");
    }
}
