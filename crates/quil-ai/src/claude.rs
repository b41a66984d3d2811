//! Claude Code panes: quil's hooks and where the conversations are.
//!
//! quild spawns every Claude pane with `--settings $QUIL_HOME/sessions/claude-<pane>.settings.json`
//! ([`claude_settings`]), which registers `<quil> hook claude --pane <pane>` for every event in
//! [`HOOK_EVENTS`] (merged with the user's own hooks; docs/agent-events.md has what each
//! carries). Claude runs the command through a shell with the event as JSON on stdin;
//! `quil hook claude` hands it to [`handle_claude_hook`], which records the session id (and
//! every rotation: `/clear` starts a new id) and the pane's attention state.
//!
//! The hook command must print nothing on stdout (a `SessionStart` hook's stdout is added to the
//! conversation's context) and must exit 0 (exit 2 from `UserPromptSubmit` would block the
//! prompt).

use crate::fsutil::write_regenerated_if_changed;
use crate::hooks::hook_command_of;
pub use crate::hooks::{hook_log_path, shell_quote, HOOK_LOG_CAP};
use crate::store::StateRecord;
use crate::{ids, sessions_dir, AiError, Kind};
use quil_model::Attention;
use serde_json::{json, Value};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The hook events quil registers: the session's id, and every event that moves its
/// attention state (docs/agent-events.md).
pub const HOOK_EVENTS: [&str; 9] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Notification",
    "Stop",
    "StopFailure",
    "SessionEnd",
];

/// Seconds Claude gives a hook before killing it.
pub const HOOK_TIMEOUT_SECS: u64 = 10;

/// `$QUIL_HOME/sessions/claude-<pane>.settings.json`.
pub fn settings_path(home: &Path, pane_id: &str) -> PathBuf {
    sessions_dir(home).join(format!("claude-{pane_id}.settings.json"))
}

/// Writes the pane's settings file registering `<quil_bin> hook claude --pane <pane>` for every
/// event in [`HOOK_EVENTS`], and returns its path. `quil_bin` is made absolute.
pub fn claude_settings(home: &Path, pane_id: &str, quil_bin: &Path) -> io::Result<PathBuf> {
    let bin = std::path::absolute(quil_bin)?;
    let bin = bin.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not valid UTF-8", bin.display()),
        )
    })?;
    claude_settings_with_hook(home, pane_id, &[bin, "hook", "claude", "--pane", pane_id])
}

/// Like [`claude_settings`] with any hook command (argv, each word quoted for the shell).
pub fn claude_settings_with_hook(
    home: &Path,
    pane_id: &str,
    hook_argv: &[&str],
) -> io::Result<PathBuf> {
    if !ids::is_valid_pane_id(pane_id) {
        return Err(AiError::InvalidPaneId(pane_id.to_string()).into());
    }
    let home = crate::absolute_home(home)?;
    let command = hook_command_of(hook_argv)?;
    let entry = json!([{ "hooks": [{
        "type": "command",
        "command": command,
        "timeout": HOOK_TIMEOUT_SECS,
    }]}]);
    let hooks: serde_json::Map<String, Value> = HOOK_EVENTS
        .iter()
        .map(|e| (e.to_string(), entry.clone()))
        .collect();
    let settings = json!({ "hooks": hooks });
    let mut text = serde_json::to_string_pretty(&settings).map_err(io::Error::other)?;
    text.push('\n');
    let path = settings_path(&home, pane_id);
    write_regenerated_if_changed(&path, text.as_bytes())?;
    Ok(path)
}

/// Handles one Claude hook event for `pane_id`; see [`crate::hooks::handle_hook`].
/// `SessionStart` and `UserPromptSubmit` (in case a start was missed) record the session;
/// `SessionEnd` keeps the id (`/clear` ends the old session just before starting the new one;
/// an exit keeps the conversation resumable).
pub fn handle_claude_hook(home: &Path, pane_id: &str, stdin_json: &str) -> Result<(), AiError> {
    crate::hooks::handle_hook(Kind::Claude, home, pane_id, stdin_json)
}

pub(crate) const RULES: crate::hooks::Rules = crate::hooks::Rules {
    id_events: &["SessionStart", "UserPromptSubmit"],
    state_of,
};

/// The attention state a hook event means, or `None` for events that change nothing.
///
/// - `UserPromptSubmit`, `PreToolUse`, `PostToolUse` (a permission granted, a question
///   answered): working;
/// - `PermissionRequest`: waiting, with what for (a question, a plan to approve, a tool);
///   `Notification` of a permission prompt says the same, later (a backup);
/// - `Stop`: idle, unless background tasks (subagents) still run; `StopFailure`: error, with
///   the API's status;
/// - `Notification` of an idle prompt (60 s after the turn): idle, which also ends a turn
///   that was interrupted or refused (those fire no hook of their own);
/// - `SessionStart`, `SessionEnd`: idle.
fn state_of(event: &str, v: &Value) -> Option<StateRecord> {
    let at = |state, detail: Option<String>| Some(StateRecord::new(state, detail));
    match event {
        "SessionStart" | "SessionEnd" => at(Attention::Idle, None),
        "UserPromptSubmit" | "PreToolUse" | "PostToolUse" => at(Attention::Working, None),
        "PermissionRequest" => at(Attention::Waiting, Some(waiting_for(v))),
        "Notification" => match v["notification_type"].as_str() {
            Some("permission_prompt") => at(Attention::Waiting, Some("permission".into())),
            Some("idle_prompt") => at(Attention::Idle, None),
            _ => None,
        },
        "Stop" => {
            let busy = v["background_tasks"]
                .as_array()
                .is_some_and(|t| !t.is_empty());
            if busy {
                at(Attention::Working, Some("background agents".into()))
            } else {
                at(Attention::Idle, None)
            }
        }
        "StopFailure" => at(Attention::Error, Some(api_error(v))),
        _ => None,
    }
}

/// What a `PermissionRequest` waits for.
fn waiting_for(v: &Value) -> String {
    match v["tool_name"].as_str().unwrap_or("") {
        "AskUserQuestion" => "question".into(),
        "ExitPlanMode" => "plan approval".into(),
        _ => crate::hooks::permission_detail(v),
    }
}

/// `api error: 529 server_error`: the status is only in the message text (`API Error: 529
/// ...` or `API Error: Request rejected (429) ...`).
fn api_error(v: &Value) -> String {
    let kind = v["error"].as_str().unwrap_or("unknown");
    let text = v["last_assistant_message"].as_str().unwrap_or("");
    let status = text.strip_prefix("API Error: ").and_then(|rest| {
        let digits = |s: &str| -> Option<String> {
            let d: String = s.chars().take_while(char::is_ascii_digit).collect();
            (d.len() == 3).then_some(d)
        };
        digits(rest).or_else(|| {
            let head = rest.split('·').next().unwrap_or(rest);
            head.split_once('(').and_then(|(_, r)| digits(r))
        })
    });
    match status {
        Some(s) => format!("api error: {s} {kind}"),
        None => format!("api error: {kind}"),
    }
}

/// The body of a `quil hook claude --pane P` command; see [`crate::hooks::run_hook_command`].
pub fn run_hook_command(home: Option<&Path>, pane_id: &str, stdin: impl Read) -> i32 {
    crate::hooks::run_hook_command(Kind::Claude, home, pane_id, stdin)
}

/// Claude's config dir: `$CLAUDE_CONFIG_DIR` when set and non-empty, else `<user home>/.claude`.
pub fn claude_config_dir(
    claude_config_dir_env: Option<&std::ffi::OsStr>,
    user_home: &Path,
) -> PathBuf {
    match claude_config_dir_env {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => user_home.join(".claude"),
    }
}

/// The project directory name Claude uses for `cwd`: every character that is not an ASCII
/// letter or digit becomes `-` (one per UTF-16 code unit, as Claude's JavaScript replace does).
/// Very long names may be shortened by Claude; prefer the transcript path the hook recorded.
pub fn claude_project_dir_name(cwd: &Path) -> String {
    let s = cwd.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('-');
            }
        }
    }
    out
}

/// `<config dir>/projects/<cwd mangled>/<id>.jsonl`: where Claude keeps a conversation's
/// transcript; `--resume <id>` works only once it exists (the first prompt creates it).
pub fn claude_transcript_path(config_dir: &Path, cwd: &Path, session_id: &str) -> PathBuf {
    config_dir
        .join("projects")
        .join(claude_project_dir_name(cwd))
        .join(format!("{session_id}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{read_session, read_state};
    use std::fs;

    const PANE: &str = "pane-1a2b3c4d";
    const ID1: &str = "f35e1f56-d5c4-48c8-ad89-6831c5784b88";
    const ID2: &str = "fd4d059d-3327-4420-b543-454672948eae";

    fn ev(event: &str, id: &str, extra: Value) -> String {
        let mut v = json!({
            "session_id": id,
            "transcript_path": format!("/c/projects/-w/{id}.jsonl"),
            "cwd": "/w",
            "hook_event_name": event,
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v.to_string()
    }

    #[test]
    fn settings_register_every_hook_with_a_quoted_command() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let bin = d.path().join("it's a dir/quil");
        let p = claude_settings(&home, PANE, &bin).expect("settings");
        assert_eq!(p, home.join("sessions/claude-pane-1a2b3c4d.settings.json"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let v: Value = serde_json::from_str(&fs::read_to_string(&p).expect("read")).expect("json");
        let expected = format!(
            "{} hook claude --pane {PANE}",
            shell_quote(bin.to_str().expect("utf8"))
        );
        assert!(
            expected.starts_with('\'') && expected.contains(r"it'\''s"),
            "{expected}"
        );
        for e in HOOK_EVENTS {
            let h = &v["hooks"][e][0]["hooks"][0];
            assert_eq!(h["type"], "command");
            assert_eq!(h["command"], expected.as_str(), "{e}");
            assert_eq!(h["timeout"], HOOK_TIMEOUT_SECS);
        }
        // The quoting survives a real shell.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\n' {}", shell_quote("a 'b' $c \"d\"")))
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a 'b' $c \"d\"\n");
        assert!(claude_settings(&home, "bad", &bin).is_err());
    }

    #[test]
    fn session_start_records_and_rotations_are_tracked() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let idf = Kind::Claude.id_file(&home, PANE);
        handle_claude_hook(
            &home,
            PANE,
            &ev("SessionStart", ID1, json!({"source": "startup"})),
        )
        .expect("start");
        assert_eq!(
            fs::read_to_string(&idf).expect("id"),
            format!("{ID1}\n/c/projects/-w/{ID1}.jsonl\n")
        );
        let state = || {
            read_state(&Kind::Claude.state_file(&home, PANE))
                .expect("state")
                .map(|r| r.state)
        };
        assert_eq!(state(), Some(Attention::Idle));
        handle_claude_hook(
            &home,
            PANE,
            &ev("UserPromptSubmit", ID1, json!({"prompt": "x"})),
        )
        .expect("prompt");
        assert_eq!(state(), Some(Attention::Working));
        handle_claude_hook(&home, PANE, &ev("Stop", ID1, json!({}))).expect("stop");
        assert_eq!(state(), Some(Attention::Idle));
        // /clear: SessionEnd for the old id (which keeps the file), SessionStart for a new one.
        handle_claude_hook(
            &home,
            PANE,
            &ev("SessionEnd", ID1, json!({"reason": "clear"})),
        )
        .expect("end");
        assert!(fs::read_to_string(&idf).expect("id").starts_with(ID1));
        handle_claude_hook(
            &home,
            PANE,
            &ev("SessionStart", ID2, json!({"source": "clear"})),
        )
        .expect("start 2");
        let r = read_session(&idf, Kind::Claude)
            .expect("read")
            .expect("some");
        assert_eq!(r.id, ID2);
        let log = fs::read_to_string(hook_log_path(&home)).expect("log");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 5, "{log}");
        assert!(
            lines[0].contains("SessionStart") && lines[0].contains("recorded"),
            "{log}"
        );
        assert!(lines[0].contains("source=startup"));
        assert!(lines[3].contains("reason=clear"), "{log}");
        assert!(
            lines[4].contains(&format!("{ID2} rotated from {ID1}")),
            "{log}"
        );
    }

    /// Claude does not wait for its `SessionStart` hooks: one that lands after the first
    /// prompt (or one fired by a compaction mid-turn) must not end the turn.
    #[test]
    fn a_late_session_start_does_not_end_a_turn() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let state = |event: &str, extra: Value| {
            handle_claude_hook(&home, PANE, &ev(event, ID1, extra)).expect("hook");
            read_state(&Kind::Claude.state_file(&home, PANE))
                .expect("state")
                .map(|r| (r.state, r.turn))
        };
        assert_eq!(
            state("UserPromptSubmit", json!({"prompt": "x"})),
            Some((Attention::Working, 1))
        );
        assert_eq!(
            state("SessionStart", json!({"source": "startup"})),
            Some((Attention::Working, 1))
        );
        assert_eq!(state("Stop", json!({})), Some((Attention::Idle, 1)));
        assert_eq!(
            state("SessionStart", json!({"source": "clear"})),
            Some((Attention::Idle, 1)),
            "between turns a start is idle"
        );
    }

    /// Each event's state and detail, as checked with the real CLI (docs/agent-events.md).
    #[test]
    fn events_drive_exact_states() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let after = |event: &str, extra: Value| {
            handle_claude_hook(&home, PANE, &ev(event, ID1, extra)).expect("hook");
            let r = read_state(&Kind::Claude.state_file(&home, PANE))
                .expect("state")
                .expect("some");
            (r.state.as_str(), r.detail.unwrap_or_default())
        };
        assert_eq!(
            after("UserPromptSubmit", json!({})),
            ("working", String::new())
        );
        let bash = json!({"tool_name": "Bash", "tool_input": {"command": "mkdir x"}});
        assert_eq!(
            after("PreToolUse", bash.clone()),
            ("working", String::new())
        );
        assert_eq!(
            after("PermissionRequest", bash.clone()),
            ("waiting", "permission: Bash (mkdir x)".into())
        );
        assert_eq!(after("PostToolUse", bash), ("working", String::new()));
        let q = json!({"tool_name": "AskUserQuestion"});
        assert_eq!(
            after("PermissionRequest", q),
            ("waiting", "question".into())
        );
        let plan = json!({"tool_name": "ExitPlanMode"});
        assert_eq!(
            after("PermissionRequest", plan),
            ("waiting", "plan approval".into())
        );
        // The backup notification of the same prompt keeps what the request said...
        let n = json!({"notification_type": "permission_prompt", "message": "m"});
        assert_eq!(
            after("Notification", n.clone()),
            ("waiting", "plan approval".into())
        );
        // ...and stands on its own when the request was missed.
        after("UserPromptSubmit", json!({}));
        assert_eq!(after("Notification", n), ("waiting", "permission".into()));
        let bg = json!({"background_tasks": [{"id": "a", "type": "subagent"}]});
        assert_eq!(after("Stop", bg), ("working", "background agents".into()));
        assert_eq!(
            after("Stop", json!({"background_tasks": []})),
            ("idle", String::new())
        );
        let idle = json!({"notification_type": "idle_prompt"});
        assert_eq!(after("Notification", idle), ("idle", String::new()));
        for (text, err, want) in [
            (
                "API Error: 529 Overloaded. This is a server-side issue (127.0.0.1:9)",
                "server_error",
                "api error: 529 server_error",
            ),
            (
                "API Error: Request rejected (429) · slow down",
                "rate_limit",
                "api error: 429 rate_limit",
            ),
            ("API Error: 400 bad", "unknown", "api error: 400 unknown"),
            ("something else", "overloaded", "api error: overloaded"),
        ] {
            let f = json!({"error": err, "last_assistant_message": text});
            assert_eq!(
                after("StopFailure", f),
                ("error", want.to_string()),
                "{text}"
            );
        }
        // Other notifications change nothing.
        let other = json!({"notification_type": "auth_success"});
        assert_eq!(after("Notification", other).0, "error");
    }

    #[test]
    fn bad_hook_input() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        assert!(matches!(
            handle_claude_hook(&home, PANE, "not json"),
            Err(AiError::BadHookInput(_))
        ));
        assert!(matches!(
            handle_claude_hook(&home, PANE, &ev("SessionStart", "--help", json!({}))),
            Err(AiError::BadHookInput(_))
        ));
        assert!(!Kind::Claude.id_file(&home, PANE).exists());
        assert!(matches!(
            handle_claude_hook(&home, "pane-../x", &ev("Stop", ID1, json!({}))),
            Err(AiError::InvalidPaneId(_))
        ));
        // A transcript path that is not absolute or has a newline is left out.
        let mut v: Value = serde_json::from_str(&ev("SessionStart", ID1, json!({}))).expect("j");
        v["transcript_path"] = json!("/x\n--evil");
        handle_claude_hook(&home, PANE, &v.to_string()).expect("ok");
        assert_eq!(
            fs::read_to_string(Kind::Claude.id_file(&home, PANE)).expect("id"),
            format!("{ID1}\n")
        );
        // Unknown events are only logged.
        handle_claude_hook(&home, PANE, &ev("PreCompact", ID1, json!({}))).expect("ignored");
        assert!(fs::read_to_string(hook_log_path(&home))
            .expect("log")
            .contains("PreCompact"));
        // The command wrapper always exits 0.
        assert_eq!(run_hook_command(None, PANE, "{}".as_bytes()), 0);
        assert_eq!(run_hook_command(Some(&home), PANE, "garbage".as_bytes()), 0);
    }

    #[test]
    fn transcript_paths() {
        assert_eq!(
            claude_project_dir_name(Path::new("/tmp/exp/cproj")),
            "-tmp-exp-cproj"
        );
        assert_eq!(
            claude_project_dir_name(Path::new("/home/a.b/my_proj é😀")),
            "-home-a-b-my-proj----"
        );
        let cfg = claude_config_dir(None, Path::new("/home/u"));
        assert_eq!(cfg, Path::new("/home/u/.claude"));
        let cfg = claude_config_dir(Some("/cc".as_ref()), Path::new("/home/u"));
        assert_eq!(
            claude_transcript_path(&cfg, Path::new("/w/p"), ID1),
            PathBuf::from(format!("/cc/projects/-w-p/{ID1}.jsonl"))
        );
        assert_eq!(
            claude_config_dir(Some("".as_ref()), Path::new("/h")),
            Path::new("/h/.claude")
        );
    }
}
