//! Gemini CLI panes: quil's hooks in a per-pane system settings file, and what Gemini's events
//! mean.
//!
//! Gemini reads hooks from its settings files (the `hooks` key, in Claude's shape, timeouts in
//! milliseconds). quild points `GEMINI_CLI_SYSTEM_SETTINGS_PATH` at
//! `$QUIL_HOME/sessions/gemini-<pane>.settings.json` ([`gemini_env`]), which registers
//! `<quil> hook gemini --pane <pane>` for every event in [`HOOK_EVENTS`]. User and project
//! settings still load; the system settings that variable would otherwise name
//! (`/etc/gemini-cli/settings.json`, or the variable's own value in quild's environment) are
//! copied into the pane's file with quil's hooks added, so an administrator's settings keep
//! applying. Hooks from that file need no trust.
//!
//! Gemini fires `SessionStart` at launch, and takes a preassigned id (`--session-id`).
//! docs/codex-gemini.md has the facts, checked with Gemini CLI 0.61.0.

use crate::fsutil::{read_nofollow, read_tail, write_atomic_if_changed};
use crate::hooks::hook_command;
use crate::store::StateRecord;
use crate::{sessions_dir, AiError, Kind, SpawnExtras};
use quil_model::Attention;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The variable that names Gemini's system settings file.
pub const SYSTEM_SETTINGS_VAR: &str = "GEMINI_CLI_SYSTEM_SETTINGS_PATH";

/// Where Gemini reads system settings when the variable is not set (Linux).
pub const DEFAULT_SYSTEM_SETTINGS: &str = "/etc/gemini-cli/settings.json";

/// The largest system settings file merged.
const MAX_SETTINGS: u64 = 1024 * 1024;

/// The hook events quil registers: the session id, and every event that moves the pane's
/// state. (`SessionEnd` is left out: the pane's exit says it.)
pub const HOOK_EVENTS: [&str; 6] = [
    "SessionStart",
    "BeforeAgent",
    "BeforeTool",
    "AfterTool",
    "Notification",
    "AfterAgent",
];

/// Milliseconds Gemini gives a hook.
pub const HOOK_TIMEOUT_MS: u64 = 10_000;

/// What `AfterAgent` reports as the response of a turn that ended on an API error.
pub const NO_RESPONSE: &str = "[no response text]";

/// `$QUIL_HOME/sessions/gemini-<pane>.settings.json`.
pub fn settings_path(home: &Path, pane_id: &str) -> PathBuf {
    sessions_dir(home).join(format!("gemini-{pane_id}.settings.json"))
}

/// The pane's settings: `system` (the system settings Gemini would otherwise read, if any)
/// with quil's hook `command` added to each event in [`HOOK_EVENTS`], after the ones already
/// there. `None` when `system` is not a JSON object with an object (or no) `hooks`.
pub fn settings_with_hooks(system: Option<&str>, command: &str) -> Option<Value> {
    let mut root = match system {
        Some(text) => serde_json::from_str::<Value>(text).ok()?,
        None => json!({}),
    };
    let obj = root.as_object_mut()?;
    let hooks = obj
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    let entry = json!({"hooks": [{
        "type": "command",
        "command": command,
        "timeout": HOOK_TIMEOUT_MS,
    }]});
    for event in HOOK_EVENTS {
        match hooks.get_mut(event) {
            Some(Value::Array(list)) => list.push(entry.clone()),
            _ => {
                hooks.insert(event.to_string(), json!([entry.clone()]));
            }
        }
    }
    Some(root)
}

/// Writes the pane's settings file and returns the environment that makes Gemini read it (or
/// a warning to log). `user_env` reads quild's environment (for the variable's own
/// value).
///
/// When the system settings exist but cannot be merged (not JSON: Gemini also accepts
/// comments), they are left in place rather than dropped, and the pane gets no hooks: its id
/// is still known (quil preassigns it), but not its state.
pub fn gemini_env(
    home: &Path,
    pane_id: &str,
    quil_bin: &Path,
    user_env: impl Fn(&str) -> Option<String>,
) -> Result<SpawnExtras, AiError> {
    let command = hook_command(Kind::Gemini, pane_id, quil_bin)?;
    let home = crate::absolute_home(home)?;
    let system_path = user_env(SYSTEM_SETTINGS_VAR)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_SYSTEM_SETTINGS.to_string());
    let system = match read_nofollow(Path::new(&system_path), MAX_SETTINGS) {
        Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            return Ok(SpawnExtras {
                warning: Some(format!(
                    "Gemini hooks are off for this pane: cannot merge the system settings: {e}"
                )),
                ..SpawnExtras::default()
            })
        }
    };
    let Some(settings) = settings_with_hooks(system.as_deref(), &command) else {
        return Ok(SpawnExtras {
            warning: Some(format!(
                "Gemini hooks are off for this pane: {system_path} is not a JSON object quil can \
                 add its hooks to (it is left as it is)"
            )),
            ..SpawnExtras::default()
        });
    };
    let path = settings_path(&home, pane_id);
    let mut text = serde_json::to_string_pretty(&settings)
        .map_err(|e| AiError::io(&path, std::io::Error::other(e)))?;
    text.push('\n');
    write_atomic_if_changed(&path, text.as_bytes()).map_err(|e| AiError::io(&path, e))?;
    Ok(SpawnExtras {
        args: Vec::new(),
        env: vec![(SYSTEM_SETTINGS_VAR.to_string(), path.display().to_string())],
        warning: insecure_parent(&path).map(|dir| {
            format!(
                "Gemini will skip {} (so report no state): its parent {} is writable by group \
                 or others; move QUIL_HOME, or tighten that directory",
                path.display(),
                dir.display()
            )
        }),
    })
}

/// The first parent directory of `path` that group or others can write to: Gemini skips a
/// system settings file below one (seen with 0.61.0 under `/tmp`, sticky bit or not).
pub fn insecure_parent(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().skip(1).find_map(|dir| {
        let mode = std::fs::metadata(dir).ok()?.permissions().mode();
        (mode & 0o022 != 0).then(|| dir.to_path_buf())
    })
}

pub(crate) const RULES: crate::hooks::Rules = crate::hooks::Rules {
    id_events: &["SessionStart", "BeforeAgent"],
    state_of,
};

/// The attention state a Gemini hook event means (docs/codex-gemini.md):
///
/// - `BeforeAgent` (a prompt sent), `BeforeTool`, `AfterTool` (a tool approved and run):
///   working;
/// - `Notification` of type `ToolPermission` (the approval box): waiting;
/// - `AfterAgent`: idle, or error when the turn produced no response (`[no response text]`,
///   what an API error leaves), with the error from the transcript when it is there;
/// - `SessionStart`, `SessionEnd`: idle.
fn state_of(event: &str, v: &Value) -> Option<StateRecord> {
    let at = |state, detail: Option<String>| Some(StateRecord::new(state, detail));
    match event {
        "SessionStart" | "SessionEnd" => at(Attention::Idle, None),
        "BeforeAgent" | "BeforeTool" | "AfterTool" => at(Attention::Working, None),
        "Notification" => match v["notification_type"].as_str() {
            Some("ToolPermission") => {
                let what = v["details"]["rootCommand"]
                    .as_str()
                    .or_else(|| v["details"]["title"].as_str())
                    .filter(|s| !s.is_empty());
                at(
                    Attention::Waiting,
                    Some(match what {
                        Some(w) => format!("permission: {w}"),
                        None => "permission".into(),
                    }),
                )
            }
            _ => None,
        },
        "AfterAgent" => {
            if v["prompt_response"].as_str() == Some(NO_RESPONSE) {
                let detail = v["transcript_path"]
                    .as_str()
                    .and_then(|p| transcript_error(Path::new(p)))
                    .unwrap_or_else(|| "no response".into());
                at(Attention::Error, Some(detail))
            } else {
                at(Attention::Idle, None)
            }
        }
        _ => None,
    }
}

/// The error the transcript's last turn ended with (`api error: ...`), if its last message is
/// an `error` one (`{"type":"error","content":"[API Error: ...]"}`).
pub fn transcript_error(transcript: &Path) -> Option<String> {
    let tail = read_tail(transcript, 64 * 1024)?;
    for line in tail.lines().rev() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v["type"].as_str() {
            Some("error") => {
                let text = v["content"].as_str().unwrap_or("").trim();
                let text = text.strip_prefix("[API Error: ").unwrap_or(text);
                let text = text.strip_suffix(']').unwrap_or(text);
                return Some(crate::hooks::api_error_detail(text));
            }
            Some("user" | "gemini") => return None,
            _ => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::handle_hook;
    use crate::store::{read_session, read_state};
    use std::fs;

    const PANE: &str = "pane-1a2b3c4d";
    const ID: &str = "3f6c3a56-2a8e-4b4f-9a3d-1c2b3a4d5e6f";

    #[test]
    fn settings_add_hooks_to_the_system_ones() {
        let ours = settings_with_hooks(None, "/q/quil hook gemini --pane p").expect("ours");
        for e in HOOK_EVENTS {
            let h = &ours["hooks"][e][0]["hooks"][0];
            assert_eq!(h["type"], "command");
            assert_eq!(h["command"], "/q/quil hook gemini --pane p");
            assert_eq!(h["timeout"], HOOK_TIMEOUT_MS);
        }
        let admin = r#"{"security": {"auth": {"enforcedType": "gemini-api-key"}},
            "hooks": {"BeforeTool": [{"matcher": "x", "hooks": [{"type": "command", "command": "audit"}]}]}}"#;
        let merged = settings_with_hooks(Some(admin), "q").expect("merged");
        assert_eq!(merged["security"]["auth"]["enforcedType"], "gemini-api-key");
        assert_eq!(
            merged["hooks"]["BeforeTool"][0]["hooks"][0]["command"],
            "audit"
        );
        assert_eq!(merged["hooks"]["BeforeTool"][1]["hooks"][0]["command"], "q");
        assert!(settings_with_hooks(Some("// a comment\n{}"), "q").is_none());
        assert!(settings_with_hooks(Some(r#"{"hooks": 1}"#), "q").is_none());
    }

    #[test]
    fn env_points_at_the_panes_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let none = d.path().join("absent.json");
        let none = none.to_str().expect("utf-8").to_string();
        let x = gemini_env(&home, PANE, Path::new("/opt/quil"), |k| {
            (k == SYSTEM_SETTINGS_VAR).then(|| none.clone())
        })
        .expect("env");
        // Under a world-writable directory (the tempdir is under /tmp) Gemini would skip the
        // file: quil says so.
        assert!(
            x.warning
                .as_deref()
                .is_some_and(|w| w.contains("Gemini will skip")),
            "{:?}",
            x.warning
        );
        assert_eq!(insecure_parent(Path::new("/")), None);
        let file = settings_path(&home, PANE);
        assert_eq!(
            x.env,
            [(SYSTEM_SETTINGS_VAR.to_string(), file.display().to_string())]
        );
        let v: Value = serde_json::from_str(&fs::read_to_string(&file).expect("read")).expect("j");
        assert_eq!(
            v["hooks"]["AfterAgent"][0]["hooks"][0]["command"],
            "/opt/quil hook gemini --pane pane-1a2b3c4d"
        );
        // A system file quil cannot merge is left alone, and the pane gets no hooks.
        let bad = d.path().join("sys.json");
        fs::write(&bad, "{ // comment\n}").expect("write");
        let bad = bad.to_str().expect("utf-8").to_string();
        let x =
            gemini_env(&home, PANE, Path::new("/opt/quil"), |_| Some(bad.clone())).expect("env");
        assert!(x.env.is_empty());
        assert!(x.warning.is_some_and(|w| w.contains("hooks are off")));
    }

    fn ev(event: &str, extra: Value) -> String {
        let mut v = json!({
            "session_id": ID,
            "transcript_path": format!("/g/tmp/p/chats/session-2026-12-04T18-43-3f6c3a56.jsonl"),
            "cwd": "/w",
            "hook_event_name": event,
            "timestamp": "2026-12-04T18:43:10.000Z",
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v.to_string()
    }

    /// The payloads as Gemini CLI 0.61.0 sent them (docs/codex-gemini.md).
    #[test]
    fn events_drive_states_and_record_the_id() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let after = |event: &str, extra: Value| {
            handle_hook(Kind::Gemini, &home, PANE, &ev(event, extra)).expect("hook");
            let r = read_state(&Kind::Gemini.state_file(&home, PANE))
                .expect("state")
                .expect("some");
            (r.state.as_str(), r.detail.unwrap_or_default())
        };
        assert_eq!(
            after("SessionStart", json!({"source": "startup"})),
            ("idle", String::new())
        );
        let r = read_session(&Kind::Gemini.id_file(&home, PANE), Kind::Gemini)
            .expect("read")
            .expect("id");
        assert_eq!(r.id, ID);
        assert!(r.transcript.is_some());
        assert_eq!(
            after("BeforeAgent", json!({"prompt": "hi"})),
            ("working", String::new())
        );
        let shell = json!({"tool_name": "run_shell_command", "tool_input": {"command": "mkdir x"}});
        assert_eq!(after("BeforeTool", shell), ("working", String::new()));
        let ask = json!({"notification_type": "ToolPermission", "message": "m",
            "details": {"type": "exec", "title": "Confirm Shell Command", "command": "mkdir x", "rootCommand": "mkdir"}});
        assert_eq!(
            after("Notification", ask),
            ("waiting", "permission: mkdir".into())
        );
        assert_eq!(after("AfterTool", json!({})), ("working", String::new()));
        // Other notifications change nothing, and PreCompress (every turn against a mock) too.
        assert_eq!(
            after("Notification", json!({"notification_type": "Other"})).0,
            "working"
        );
        assert_eq!(
            after("PreCompress", json!({"trigger": "auto"})).0,
            "working"
        );
        let done =
            json!({"prompt": "hi", "prompt_response": "MOCK-REPLY: hi", "stop_hook_active": false});
        assert_eq!(after("AfterAgent", done), ("idle", String::new()));
        let failed =
            json!({"prompt": "hi", "prompt_response": NO_RESPONSE, "stop_hook_active": false});
        assert_eq!(after("AfterAgent", failed), ("error", "no response".into()));
    }

    #[test]
    fn the_error_comes_from_the_transcript() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("session.jsonl");
        fs::write(
            &f,
            concat!(
                r#"{"sessionId":"x","kind":"main"}"#,
                "\n",
                r#"{"id":"1","type":"user","content":[{"text":"hi"}]}"#,
                "\n",
                r#"{"id":"2","type":"error","content":"[API Error: 400 bad request]"}"#,
                "\n",
                r#"{"$set":{"lastUpdated":"t"}}"#,
                "\n"
            ),
        )
        .expect("write");
        assert_eq!(
            transcript_error(&f).as_deref(),
            Some("api error: 400 bad request")
        );
        // As Gemini 0.61.0 recorded a 400 from quil-mockllm.
        fs::write(
            &f,
            r#"{"id":"2","type":"error","content":"[API Error: {\"error\":{\"code\":400,\"message\":\"quil-mockllm: scripted error 400\",\"status\":\"INVALID_ARGUMENT\"}}]"}"#,
        )
        .expect("write");
        assert_eq!(
            transcript_error(&f).as_deref(),
            Some("api error: 400 quil-mockllm: scripted error 400")
        );
        fs::write(&f, r#"{"id":"1","type":"user","content":"x"}"#).expect("write");
        assert_eq!(transcript_error(&f), None);
    }
}
