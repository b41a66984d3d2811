//! Agent integrations, exactly as their plugins declare them (`[integration]`): which
//! conversation each pane is in, how it comes back to it after a restart, and the state its
//! CLI reports. Nothing here knows a CLI by name: a plugin selects a built-in mechanism
//! (`quil_ai::mechanism`) and gives the rest as data (the id's shape, the arguments that
//! resume, continue or fork, the "not found" signature).
//!
//! The conversation id is recorded twice: by the CLI itself, through its mechanism's file, and
//! by the daemon in the pane's plugin state, as a second source. On restore the daemon decides
//! how each pane resumes so that one conversation is never resumed by two panes
//! (`quil_ai::plan_resumes`).

use crate::error::{Error, Result};
use quil_ai::{Resume, SessionRecord};
use quil_model::PaneMeta;
use quil_plugin::{Mechanism, Mode, Plugin, Registry, Strategy};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The plugin state key of a pane's conversation id.
pub const SESSION_KEY: &str = "session_id";

/// The pane type whose integration `meta` uses: its own type, or for a bare command the type
/// that declares an integration for the program it runs (by its `detect` binary, else `cmd`),
/// so `quil new-tab -- <agent> ARGS` is tracked like a pane of that type.
pub fn plugin_for<'r>(reg: &'r Registry, meta: &PaneMeta) -> Option<&'r Plugin> {
    let Some(program) = meta.command.first() else {
        return reg.get(&meta.kind);
    };
    let base = Path::new(program).file_name()?;
    reg.list().into_iter().find(|p| {
        p.integration.is_declared()
            && p.detect_binary()
                .and_then(|d| Path::new(d).file_name())
                .is_some_and(|d| d == base)
    })
}

/// The mechanism of a pane's type, if it has one.
pub fn mechanism(plugin: Option<&Plugin>) -> Option<Mechanism> {
    plugin?.integration.mechanism
}

/// The pane type, when it has idle or error handlers matched against the screen: with a
/// [`mechanism`], what gives a pane an attention state.
pub fn handlers(plugin: Option<&Plugin>) -> Option<&Plugin> {
    plugin.filter(|pl| !pl.idle_handlers.is_empty() || !pl.error_handlers.is_empty())
}

/// Extra argv and environment that make the pane's CLI report to quil.
pub fn spawn_extras(home: &Path, meta: &PaneMeta, m: Mechanism) -> Result<quil_ai::SpawnExtras> {
    let pane = meta.id.to_string();
    let extras = quil_ai::mechanism::spawn_extras(m, home, &pane, &quil_binary(), |var| {
        std::env::var(var).ok()
    })
    .map_err(|e| Error::Integration {
        pane: meta.id,
        reason: e.to_string(),
    })?;
    if let Some(w) = &extras.warning {
        tracing::warn!(%pane, "{w}");
    }
    Ok(extras)
}

/// The `quil` binary a hook runs: beside `quild`, else on PATH.
fn quil_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("quil")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("quil"))
}

/// The conversation the CLI reported for this pane, if the file is there, sound, and holds an
/// id of the type's shape. Problems (a symlinked or oversized file, a malformed id) are logged
/// and treated as no id.
pub fn recorded(home: &Path, meta: &PaneMeta, plugin: &Plugin) -> Option<SessionRecord> {
    let m = plugin.integration.mechanism?;
    match quil_ai::mechanism::recorded(m, home, &meta.id.to_string()) {
        Ok(r) => r.filter(|r| plugin.integration.valid_session_id(&r.id)),
        Err(e) => {
            tracing::warn!(pane = %meta.id, "ignoring the recorded session: {e}");
            None
        }
    }
}

/// The attention state (and its detail) the CLI's mechanism last recorded.
pub fn recorded_state(
    home: &Path,
    meta: &PaneMeta,
    m: Mechanism,
) -> Option<crate::attention::Recorded> {
    match quil_ai::mechanism::recorded_state(m, home, &meta.id.to_string()) {
        Ok(r) => r.map(|r| crate::attention::Recorded {
            state: r.state,
            detail: r.detail,
            turn: r.turn,
        }),
        Err(e) => {
            tracing::debug!(pane = %meta.id, "ignoring the recorded state: {e}");
            None
        }
    }
}

/// Forgets a pane's recorded conversation (its CLI said it no longer exists).
pub fn forget(home: &Path, meta: &PaneMeta, m: Mechanism) {
    quil_ai::mechanism::forget(m, home, &meta.id.to_string());
}

/// How each restored pane resumes: `None` for panes whose type declares no integration. Sets
/// each such pane's session id to the decision's.
pub fn plan(home: &Path, metas: &mut [PaneMeta], reg: &Registry) -> Vec<Option<Resume>> {
    let plugins: Vec<Option<&Plugin>> = metas
        .iter()
        .map(|m| plugin_for(reg, m).filter(|p| p.integration.mechanism.is_some()))
        .collect();
    let records: Vec<Option<SessionRecord>> = metas
        .iter()
        .zip(&plugins)
        .map(|(m, p)| p.and_then(|p| recorded(home, m, p)))
        .collect();
    let mut inputs = Vec::new();
    let mut index = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        let Some(plugin) = plugins[i] else { continue };
        let file_id = records[i].as_ref().map(|r| r.id.as_str());
        let saved_id = m
            .plugin_state
            .get(SESSION_KEY)
            .map(String::as_str)
            .filter(|id| plugin.integration.valid_session_id(id));
        // The CLI said where the conversation's history goes: none there means it never got
        // a prompt, and resuming it would fail.
        let history_exists = records[i]
            .as_ref()
            .filter(|r| Some(r.id.as_str()) == quil_ai::chosen_id(file_id, saved_id))
            .and_then(|r| r.transcript.as_deref())
            .map(Path::is_file);
        inputs.push(quil_ai::ResumeInput {
            group: &plugin.name,
            project_dir: &m.cwd,
            file_id,
            saved_id,
            preassigned: plugin.persistence.strategy == Strategy::PreassignId,
            can_continue: !plugin.integration.continue_args.is_empty(),
            history_exists,
            dir_had_session: false,
        });
        index.push(i);
    }
    let decisions = quil_ai::plan_resumes(&inputs, &HashSet::new());
    let mut out = vec![None; metas.len()];
    for (d, i) in decisions.into_iter().zip(index) {
        out[i] = Some(d);
    }
    for ((m, d), p) in metas.iter_mut().zip(&out).zip(&plugins) {
        if let (Some(d), Some(p)) = (d, p) {
            set_session(m, p, d);
        }
    }
    out
}

/// Sets the pane's session id to the one `decision` gives it: the conversation it reopens, a
/// new preassigned id for a fresh start of a type that preassigns, or none.
pub fn set_session(meta: &mut PaneMeta, plugin: &Plugin, decision: &Resume) {
    match decision {
        Resume::Session(id) | Resume::SessionIdNew(id) => {
            meta.plugin_state.insert(SESSION_KEY.into(), id.clone());
        }
        Resume::Fresh if meta.command.is_empty() && !plugin.initial_state().is_empty() => {
            meta.plugin_state.extend(plugin.initial_state());
        }
        Resume::Fresh | Resume::Continue => {
            meta.plugin_state.remove(SESSION_KEY);
        }
    }
}

/// Rewrites a restored pane's arguments to carry out `decision`, and returns the plugin mode
/// to build its command in. The pane's own arguments that pick a conversation are dropped;
/// the type's `resume_args`, `start_args` or `continue_args` take their place.
pub fn apply(meta: &mut PaneMeta, plugin: &Plugin, decision: &Resume) -> Mode {
    let int = &plugin.integration;
    if !meta.command.is_empty() {
        // A bare command: its argv is all there is, so the arguments are added to it here.
        let expand = |args: &[String], id: &str| -> Vec<String> {
            args.iter()
                .filter_map(|a| {
                    quil_plugin::expand(a, |k| (k == SESSION_KEY).then(|| id.to_string())).ok()
                })
                .collect()
        };
        let extra = match decision {
            Resume::Session(id) => expand(&plugin.persistence.resume_args, id),
            Resume::SessionIdNew(id) => expand(&plugin.persistence.start_args, id),
            Resume::Continue => int.continue_args.clone(),
            Resume::Fresh => Vec::new(),
        };
        meta.command = quil_ai::restore_argv(&int.session_args, &meta.command, extra);
        return Mode::Start;
    }
    // `restore_argv` keeps argv[0]; extra arguments have none.
    let mut args = vec![String::new()];
    args.extend(std::mem::take(&mut meta.extra_args));
    meta.extra_args = quil_ai::restore_argv(&int.session_args, &args, Vec::new())
        .into_iter()
        .skip(1)
        .collect();
    match decision {
        Resume::Session(_) => Mode::Resume,
        Resume::Fresh | Resume::SessionIdNew(_) => Mode::Start,
        Resume::Continue => {
            meta.extra_args.extend(int.continue_args.iter().cloned());
            Mode::Start
        }
    }
}
