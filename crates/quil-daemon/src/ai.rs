//! AI panes (opencode, Claude Code) come back to *their own* conversation.
//!
//! The conversation id is recorded by the CLI itself: opencode loads quil's tracker plugin (via
//! `OPENCODE_CONFIG_CONTENT`), Claude Code runs `quil hook claude` (via `--settings`). Both
//! write `$QUIL_HOME/sessions/<kind>-<pane>.id`. The daemon also keeps the id in the pane's
//! plugin state, as a second source, and decides on restore how each pane resumes, so that one
//! conversation is never resumed by two panes (`quil_ai::plan_resumes`).

use quil_ai::{Kind, Resume};
use quil_model::PaneMeta;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub const SESSION_KEY: &str = "session_id";

/// The AI CLI a pane runs, from its argv (its program's file name: `opencode`, `claude`).
pub fn kind_of(argv: &[String]) -> Option<Kind> {
    Kind::of_program(argv.first()?)
}

/// Arguments and environment variables to add to a pane's command.
pub type Extras = (Vec<String>, Vec<(String, String)>);

/// Extra argv and environment an AI pane needs to record its conversation. `QUIL_PANE_ID` and
/// `QUIL_HOME` are in every pane's environment already (`Server::spawn_args`); opencode's
/// extras repeat them, with the same values, as `quil_ai::opencode_env` documents its whole env.
pub fn spawn_extras(home: &Path, meta: &PaneMeta, kind: Kind) -> Result<Extras, String> {
    let pane = meta.id.to_string();
    match kind {
        Kind::OpenCode => {
            let user = std::env::var("OPENCODE_CONFIG_CONTENT").ok();
            let (env, warning) =
                quil_ai::opencode_env(home, &pane, user.as_deref()).map_err(|e| e.to_string())?;
            if let Some(w) = warning {
                tracing::warn!(%pane, "{w}");
            }
            Ok((Vec::new(), env))
        }
        Kind::Claude => {
            let settings = quil_ai::claude_settings(home, &pane, &quil_binary())
                .map_err(|e| format!("cannot write Claude Code settings for {pane}: {e}"))?;
            Ok((
                vec!["--settings".into(), settings.display().to_string()],
                Vec::new(),
            ))
        }
    }
}

/// The `quil` binary the Claude hook runs: beside `quild`, else on PATH.
fn quil_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("quil")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("quil"))
}

/// The id the CLI recorded for this pane, if the file is there and sound. Problems (a
/// symlinked or oversized file, a malformed id) are logged and treated as no id.
pub fn recorded(home: &Path, meta: &PaneMeta, kind: Kind) -> Option<quil_ai::SessionRecord> {
    let path = kind.id_file(home, &meta.id.to_string());
    match quil_ai::read_session(&path, kind) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(pane = %meta.id, "ignoring {}: {e}", path.display());
            None
        }
    }
}

/// How each restored AI pane resumes. `metas` are the panes being restored (all kinds; others
/// get `None`). Sets each AI pane's session id to the decision's.
pub fn plan(
    home: &Path,
    metas: &mut [PaneMeta],
    kind: impl Fn(&PaneMeta) -> Option<Kind>,
) -> Vec<Option<Resume>> {
    let kinds: Vec<Option<Kind>> = metas.iter().map(kind).collect();
    let records: Vec<Option<quil_ai::SessionRecord>> = metas
        .iter()
        .zip(&kinds)
        .map(|(m, k)| k.and_then(|k| recorded(home, m, k)))
        .collect();
    let user_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let claude_dir =
        quil_ai::claude_config_dir(std::env::var_os("CLAUDE_CONFIG_DIR").as_deref(), &user_home);
    let mut inputs = Vec::new();
    let mut index = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        let Some(kind) = kinds[i] else { continue };
        let file_id = records[i].as_ref().map(|r| r.id.as_str());
        let saved_id = m.plugin_state.get(SESSION_KEY).map(String::as_str);
        let transcript_exists = kind == Kind::Claude
            && quil_ai::chosen_id(kind, file_id, saved_id).is_some_and(|id| {
                let recorded = records[i]
                    .as_ref()
                    .and_then(|r| r.transcript.clone())
                    .filter(|_| file_id == Some(id));
                let path = recorded
                    .unwrap_or_else(|| quil_ai::claude_transcript_path(&claude_dir, &m.cwd, id));
                path.is_file()
            });
        inputs.push(quil_ai::ResumeInput {
            kind,
            project_dir: &m.cwd,
            file_id,
            saved_id,
            transcript_exists,
            dir_had_session: false,
        });
        index.push(i);
    }
    let decisions = quil_ai::plan_resumes(&inputs, &HashSet::new());
    let mut out = vec![None; metas.len()];
    for (d, i) in decisions.into_iter().zip(index) {
        out[i] = Some(d);
    }
    for ((m, d), k) in metas.iter_mut().zip(&out).zip(&kinds) {
        if let (Some(d), Some(k)) = (d, k) {
            set_session(m, *k, d);
        }
    }
    out
}

/// Sets the pane's session id to the one `decision` gives it: the conversation it reopens, a
/// new preassigned id for a fresh Claude conversation, or none.
pub fn set_session(meta: &mut PaneMeta, kind: Kind, decision: &Resume) {
    match decision {
        Resume::Session(id) | Resume::SessionIdNew(id) => {
            meta.plugin_state.insert(SESSION_KEY.into(), id.clone());
        }
        // A new Claude conversation still starts with a preassigned id.
        Resume::Fresh if kind == Kind::Claude => {
            meta.plugin_state
                .insert(SESSION_KEY.into(), quil_plugin::new_session_id());
        }
        Resume::Fresh | Resume::Continue => {
            meta.plugin_state.remove(SESSION_KEY);
        }
    }
}

/// The attention state the CLI's hook or tracker last recorded.
pub fn recorded_state(home: &Path, meta: &PaneMeta, kind: Kind) -> Option<&'static str> {
    let path = kind.state_file(home, &meta.id.to_string());
    match quil_ai::read_state(&path) {
        Ok(a) => a.map(quil_ai::Attention::as_str),
        Err(e) => {
            tracing::debug!(pane = %meta.id, "ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Forgets a pane's recorded conversation (after "Session not found").
pub fn forget(home: &Path, meta: &PaneMeta, kind: Kind) {
    let _ = std::fs::remove_file(kind.id_file(home, &meta.id.to_string()));
}

/// The plugin mode and extra arguments that carry out a decision.
pub fn mode_for(decision: &Resume) -> (quil_plugin::Mode, Vec<String>) {
    match decision {
        Resume::Session(_) => (quil_plugin::Mode::Resume, Vec::new()),
        // A new conversation: opencode plain, Claude with its new preassigned --session-id.
        Resume::Fresh | Resume::SessionIdNew(_) => (quil_plugin::Mode::Start, Vec::new()),
        Resume::Continue => (quil_plugin::Mode::Start, vec!["--continue".into()]),
    }
}

#[cfg(test)]
mod tests {
    /// The ids quild preassigns to Claude panes are ones Claude and quil's checks accept.
    #[test]
    fn fresh_uuids_are_valid_and_distinct() {
        let a = quil_plugin::new_session_id();
        let b = quil_plugin::new_session_id();
        assert!(quil_ai::is_valid_claude_session_id(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
    }
}
