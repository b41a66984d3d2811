//! The hook handler shared by the CLIs that run a command for their events (Claude Code, Codex
//! CLI, Gemini CLI): `quil hook <agent> --pane P` reads one event as JSON on stdin and records
//! the pane's session id and attention state in `$QUIL_HOME/sessions/<kind>-<pane>.{id,state}`.
//!
//! The three CLIs send the same shape (`session_id`, `transcript_path`, `hook_event_name`, plus
//! the event's own fields); only which events carry the id and what each event means differ,
//! and those are per CLI ([`crate::claude`], [`crate::codex`], [`crate::gemini`]).
//!
//! The command prints nothing on stdout (a `SessionStart` hook's stdout is added to the
//! conversation) and always exits 0 (a non-zero exit can block a prompt or a tool).

use crate::fsutil::{append_log, unix_now, write_atomic_if_changed, write_regenerated_if_changed};
use crate::store::{read_session, read_state, StateRecord};
use crate::{ids, sessions_dir, AiError, Kind};
use quil_model::Attention;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Cap of `$QUIL_HOME/sessions/hook.log` (one rotation, `hook.log.1`).
pub const HOOK_LOG_CAP: u64 = 1024 * 1024;

/// `$QUIL_HOME/sessions/hook.log`.
pub fn hook_log_path(home: &Path) -> PathBuf {
    sessions_dir(home).join("hook.log")
}

/// Quotes one word for `sh`: as is when it is made of safe characters only, else in single
/// quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+=,".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The shell command a CLI runs for its hooks: `<quil_bin> hook <agent> --pane <pane>`, each
/// word quoted. `quil_bin` is made absolute (the CLI may run it from another directory).
pub fn hook_command(kind: Kind, pane_id: &str, quil_bin: &Path) -> Result<String, AiError> {
    if !ids::is_valid_pane_id(pane_id) {
        return Err(AiError::InvalidPaneId(pane_id.to_string()));
    }
    let bin = std::path::absolute(quil_bin).map_err(|e| AiError::io(quil_bin, e))?;
    let bin = bin
        .to_str()
        .ok_or_else(|| AiError::NonUtf8Home(bin.clone()))?;
    hook_command_of(&[bin, "hook", kind.name(), "--pane", pane_id])
}

/// Any hook command (argv, each word quoted for the shell); refuses NUL and newlines.
pub fn hook_command_of(argv: &[&str]) -> Result<String, AiError> {
    if argv.is_empty() || argv.iter().any(|w| w.contains(['\0', '\n', '\r'])) {
        return Err(AiError::BadHookCommand);
    }
    Ok(argv
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" "))
}

/// What differs between the CLIs' hooks.
pub(crate) struct Rules {
    /// Events that carry the session id to record (the start, and the prompt in case the start
    /// was missed).
    pub id_events: &'static [&'static str],
    /// The attention state an event means, or `None` for events that change nothing.
    pub state_of: fn(&str, &Value) -> Option<StateRecord>,
}

fn rules(kind: Kind) -> Option<Rules> {
    match kind {
        Kind::Claude => Some(crate::claude::RULES),
        Kind::Codex => Some(crate::codex::RULES),
        Kind::Gemini => Some(crate::gemini::RULES),
        Kind::OpenCode => None,
    }
}

fn valid_transcript(p: &str) -> bool {
    p.starts_with('/') && p.len() <= 4096 && !p.chars().any(char::is_control)
}

/// Handles one hook event of a `kind` CLI (the JSON it writes on the hook's stdin) for
/// `pane_id`:
///
/// - the kind's id events record the session: `sessions/<kind>-<pane>.id` = id on line 1,
///   transcript path on line 2, written atomically and only when changed; a new id (after
///   `/clear`, or a resume of another conversation) replaces the old one and is logged as a
///   rotation;
/// - the attention state (and its detail) goes to `<kind>-<pane>.state`.
///
/// Logs one line per event to `$QUIL_HOME/sessions/hook.log` (capped at 1 MB, one rotation).
/// Unknown events are logged and otherwise ignored.
pub fn handle_hook(
    kind: Kind,
    home: &Path,
    pane_id: &str,
    stdin_json: &str,
) -> Result<(), AiError> {
    let Some(rules) = rules(kind) else {
        return Err(AiError::NoHooks(kind.name()));
    };
    if !ids::is_valid_pane_id(pane_id) {
        return Err(AiError::InvalidPaneId(pane_id.to_string()));
    }
    let home = crate::absolute_home(home)?;
    let log = |line: &str| {
        append_log(
            &hook_log_path(&home),
            &format!("{} {pane_id} {} {line}", unix_now(), kind.name()),
            HOOK_LOG_CAP,
        )
    };
    let v: Value = match serde_json::from_str(stdin_json) {
        Ok(v) => v,
        Err(e) => {
            log(&format!("error: input is not JSON ({e})"));
            return Err(AiError::BadHookInput(format!("not JSON: {e}")));
        }
    };
    let event = v["hook_event_name"].as_str().unwrap_or_default();
    let raw_id = v["session_id"].as_str().unwrap_or_default();
    let id = kind.is_valid_session_id(raw_id).then_some(raw_id);
    let shown_id = id.unwrap_or("-");

    let Some(state) = (rules.state_of)(event, &v) else {
        log(&format!("{} {shown_id} ignored", printable(event)));
        return Ok(());
    };

    let mut detail = String::new();
    if rules.id_events.contains(&event) {
        let Some(id) = id else {
            log(&format!(
                "{event} error: invalid session id {:?}",
                printable(raw_id)
            ));
            return Err(AiError::BadHookInput(format!(
                "{event} without a valid session_id ({:?})",
                printable(raw_id)
            )));
        };
        let transcript = v["transcript_path"]
            .as_str()
            .filter(|p| valid_transcript(p));
        let id_file = kind.id_file(&home, pane_id);
        let previous = read_session(&id_file, kind).ok().flatten();
        let content = match transcript {
            Some(t) => format!("{id}\n{t}\n"),
            None => format!("{id}\n"),
        };
        let wrote = write_atomic_if_changed(&id_file, content.as_bytes())
            .map_err(|e| AiError::io(&id_file, e))?;
        detail = match (&previous, wrote) {
            (Some(p), _) if p.id != id => format!(" rotated from {}", p.id),
            (None, true) => " recorded".to_string(),
            _ => String::new(),
        };
    }
    if event == "SessionStart" {
        if let Some(src) = v["source"].as_str() {
            detail.push_str(&format!(" source={}", printable(src)));
        }
    }
    if event == "SessionEnd" {
        if let Some(r) = v["reason"].as_str() {
            detail.push_str(&format!(" reason={}", printable(r)));
        }
    }
    let f = kind.state_file(&home, pane_id);
    let previous = read_state(&f).ok().flatten();
    // A start never ends a turn: Claude runs its `SessionStart` hooks without waiting for
    // them, so a slow one can land after the first prompt's `UserPromptSubmit`, and it fires
    // again when a long turn is compacted. (The daemon clears the file when it starts the
    // CLI, so a turn cut off by a crash is not "under way" here.)
    let state = match previous.as_ref().map(|p| p.state) {
        Some(Attention::Working | Attention::Waiting) if event == "SessionStart" => {
            log(&format!(
                "{event} {shown_id}{detail} state kept: a turn is under way"
            ));
            return Ok(());
        }
        // The same prompt said again with less (Claude's `Notification` backup after its
        // `PermissionRequest`): the detail naming the command stays.
        Some(Attention::Waiting)
            if state.state == Attention::Waiting
                && state.detail.as_deref() == Some("permission") =>
        {
            log(&format!(
                "{event} {shown_id}{detail} state kept: already waiting"
            ));
            return Ok(());
        }
        _ => state.after(previous.as_ref()),
    };
    // Not synced: a state means nothing after a crash (the next spawn removes it), and the CLI
    // waits for this hook.
    write_regenerated_if_changed(&f, state.to_file().as_bytes()).map_err(|e| AiError::io(&f, e))?;
    detail.push_str(&format!(" state={}", state.state));
    if let Some(d) = &state.detail {
        detail.push_str(&format!(" ({})", printable(d)));
    }
    log(&format!("{event} {shown_id}{detail}"));
    Ok(())
}

/// A state detail for an API error the CLI recorded as text: `api error: <status> <message>`
/// when the text is (or ends in) the API's JSON error body (`{"error": {"code", "message"}}`,
/// as Codex and Gemini record it), else `api error: <text>`.
pub(crate) fn api_error_detail(text: &str) -> String {
    let text = text.trim();
    let body = text
        .find('{')
        .and_then(|at| serde_json::from_str::<Value>(&text[at..]).ok());
    if let Some(e) = body.as_ref().map(|b| &b["error"]).filter(|e| e.is_object()) {
        if let Some(message) = e["message"].as_str() {
            return match e["code"].as_u64() {
                Some(code) => format!("api error: {code} {message}"),
                None => format!("api error: {message}"),
            };
        }
    }
    if text.is_empty() {
        "api error".to_string()
    } else {
        format!("api error: {text}")
    }
}

/// A permission prompt's detail: the tool, and what it would act on when the tool's input
/// says (`permission: Bash (git push)`), so a user can judge it from the agents view or a
/// notification without opening the pane. Claude Code and Codex send the same input shapes.
pub(crate) fn permission_detail(v: &Value) -> String {
    let tool = v["tool_name"].as_str().unwrap_or("");
    let input = &v["tool_input"];
    let target = ["command", "file_path", "url", "pattern", "path"]
        .iter()
        .find_map(|k| input[*k].as_str())
        .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()));
    match (tool, target) {
        ("", _) => "permission".into(),
        (t, Some(what)) => format!("permission: {t} ({what})"),
        (t, None) => format!("permission: {t}"),
    }
}

/// What goes into a log line: no control characters, at most 64 chars.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(64)
        .collect()
}

/// The body of a `quil hook <agent> --pane P` command: reads the event from stdin (capped at
/// 16 MiB), handles it with `QUIL_HOME` from the environment, and returns the exit status to
/// use, always 0; problems go to stderr (the CLIs show hook stderr only in a log or transcript
/// view) and to `sessions/hook.log`.
pub fn run_hook_command(kind: Kind, home: Option<&Path>, pane_id: &str, stdin: impl Read) -> i32 {
    let name = kind.name();
    let mut input = String::new();
    if let Err(e) = stdin.take(16 * 1024 * 1024).read_to_string(&mut input) {
        eprintln!("quil hook {name}: cannot read stdin: {e}");
        return 0;
    }
    let Some(home) = home else {
        eprintln!("quil hook {name}: QUIL_HOME is not set");
        return 0;
    };
    if let Err(e) = handle_hook(kind, home, pane_id, &input) {
        eprintln!("quil hook {name}: {e}");
    }
    0
}

/// The CLIs `quil hook <agent>` serves, by the agent's name (a [`Kind::name`]).
pub fn hook_kind(agent: &str) -> Option<Kind> {
    [Kind::Claude, Kind::Codex, Kind::Gemini]
        .into_iter()
        .find(|k| k.name() == agent)
}
