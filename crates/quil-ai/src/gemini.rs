//! Gemini CLI panes: quil's hooks in a small Gemini extension, and what Gemini's events mean.
//!
//! Gemini reads hooks from its settings files and from its extensions. A per-pane system
//! settings file (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) cannot carry them: Gemini 0.61.0 skips a
//! system settings file unless the file and every directory above it are owned by root and
//! writable by no group or others, which a file of quil's is not for an ordinary user (nor
//! for root under `/tmp`). User and project settings are the user's own files.
//!
//! So quild writes an extension, `quil`, to `<GEMINI_CLI_HOME or HOME>/.gemini/extensions/quil`
//! ([`write_extension`]). Its `hooks/hooks.json` registers one fixed command for every event
//! in [`HOOK_EVENTS`], which runs what [`HOOK_VAR`] holds, and nothing when it is unset. quild
//! sets [`HOOK_VAR`] to `<quil> hook gemini --pane <pane>` in each Gemini pane
//! ([`gemini_env`]), so a `gemini` run outside quil runs no quil hook.
//!
//! Gemini fires `SessionStart` at launch, and takes a preassigned id (`--session-id`).
//! docs/codex-gemini.md has the facts, checked with Gemini CLI 0.61.0.

use crate::fsutil::{read_tail, write_regenerated_if_changed};
use crate::hooks::hook_command;
use crate::store::StateRecord;
use crate::{AiError, Kind, SpawnExtras};
use quil_model::Attention;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The extension's name (its directory under `~/.gemini/extensions`).
pub const EXTENSION_NAME: &str = "quil";

/// The pane's hook command. Gemini hands the commands it runs an environment it may redact
/// (a setting, and always under GitHub Actions); names starting with `GEMINI_CLI_` are kept.
pub const HOOK_VAR: &str = "GEMINI_CLI_QUIL_HOOK";

/// What the extension runs for each event (by `bash -c`): the pane's hook, if there is one.
/// (No `${...}`: Gemini fills those in an extension's files.)
pub const EXTENSION_COMMAND: &str =
    r#"[ -z "$GEMINI_CLI_QUIL_HOOK" ] || eval "$GEMINI_CLI_QUIL_HOOK""#;

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

/// `<gemini_home>/.gemini/extensions/quil`, where `gemini_home` is what Gemini takes for the
/// home directory: `GEMINI_CLI_HOME`, else `HOME` (read by `user_env`). `None` when neither
/// is an absolute path.
pub fn extension_dir(user_env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = ["GEMINI_CLI_HOME", "HOME"]
        .into_iter()
        .filter_map(&user_env)
        .find(|h| !h.is_empty())?;
    let home = PathBuf::from(home);
    home.is_absolute()
        .then(|| home.join(".gemini").join("extensions").join(EXTENSION_NAME))
}

/// The extension's files, relative to its directory, and their contents.
pub fn extension_files(dir: &Path) -> [(PathBuf, Value); 3] {
    let entry = json!([{"hooks": [{
        "type": "command",
        "name": EXTENSION_NAME,
        "command": EXTENSION_COMMAND,
        "timeout": HOOK_TIMEOUT_MS,
    }]}]);
    let hooks: Map<String, Value> = HOOK_EVENTS
        .iter()
        .map(|e| (e.to_string(), entry.clone()))
        .collect();
    [
        (
            "gemini-extension.json".into(),
            json!({
                "name": EXTENSION_NAME,
                "version": env!("CARGO_PKG_VERSION"),
                "description": "quil's hooks: a Gemini pane in quil reports its session and \
                                state to quil. It does nothing in a gemini run outside quil.",
            }),
        ),
        ("hooks/hooks.json".into(), json!({ "hooks": hooks })),
        // Written by quil, like a linked extension: `gemini extensions update` leaves it
        // alone, and an `allowedExtensions` policy can name its path.
        (
            ".gemini-extension-install.json".into(),
            json!({"source": dir.display().to_string(), "type": "link"}),
        ),
    ]
}

/// Writes (or refreshes) the extension in `dir`. Its directories are made private; a symlink
/// in its place is refused.
pub fn write_extension(dir: &Path) -> Result<(), AiError> {
    for (rel, value) in extension_files(dir) {
        let path = dir.join(rel);
        let mut text = serde_json::to_string_pretty(&value)
            .map_err(|e| AiError::io(&path, std::io::Error::other(e)))?;
        text.push('\n');
        write_regenerated_if_changed(&path, text.as_bytes()).map_err(|e| AiError::io(&path, e))?;
    }
    Ok(())
}

/// Makes sure the extension is in place and returns the pane's environment ([`HOOK_VAR`]),
/// or a warning to log. `user_env` reads quild's environment (Gemini's home directory).
///
/// A pane is started even when the extension cannot be written: its id is still known (quil
/// preassigns it), but not its state.
pub fn gemini_env(
    pane_id: &str,
    quil_bin: &Path,
    user_env: impl Fn(&str) -> Option<String>,
) -> Result<SpawnExtras, AiError> {
    let command = hook_command(Kind::Gemini, pane_id, quil_bin)?;
    let warning = match extension_dir(user_env) {
        None => Some(
            "Gemini hooks are off for this pane: neither GEMINI_CLI_HOME nor HOME is an \
             absolute path, so quil cannot place its Gemini extension"
                .to_string(),
        ),
        Some(dir) => write_extension(&dir)
            .err()
            .map(|e| format!("Gemini hooks may be off for this pane: {e}")),
    };
    Ok(SpawnExtras {
        args: Vec::new(),
        env: vec![(HOOK_VAR.to_string(), command)],
        warning,
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
    fn the_extension_goes_where_gemini_looks() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let ext = Path::new(".gemini/extensions/quil");
        assert_eq!(
            extension_dir(env(&[("HOME", "/h")])),
            Some(Path::new("/h").join(ext))
        );
        assert_eq!(
            extension_dir(env(&[("HOME", "/h"), ("GEMINI_CLI_HOME", "/g")])),
            Some(Path::new("/g").join(ext))
        );
        assert_eq!(
            extension_dir(env(&[("HOME", "/h"), ("GEMINI_CLI_HOME", "")])),
            Some(Path::new("/h").join(ext))
        );
        assert_eq!(extension_dir(env(&[("HOME", "rel")])), None);
        assert_eq!(extension_dir(env(&[])), None);
    }

    #[test]
    fn env_names_the_panes_hook_and_the_extension_runs_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("u");
        let home_s = home.to_str().expect("utf-8").to_string();
        let x = gemini_env(PANE, Path::new("/opt/quil"), |k| {
            (k == "HOME").then(|| home_s.clone())
        })
        .expect("env");
        assert_eq!(x.warning, None);
        assert_eq!(
            x.env,
            [(
                HOOK_VAR.to_string(),
                "/opt/quil hook gemini --pane pane-1a2b3c4d".to_string()
            )]
        );
        let dir = home.join(".gemini/extensions/quil");
        let read = |rel: &str| -> Value {
            serde_json::from_str(&fs::read_to_string(dir.join(rel)).expect("read")).expect("json")
        };
        assert_eq!(read("gemini-extension.json")["name"], "quil");
        let install = read(".gemini-extension-install.json");
        assert_eq!(install["type"], "link");
        assert_eq!(install["source"], dir.display().to_string());
        let hooks = read("hooks/hooks.json");
        for e in HOOK_EVENTS {
            let h = &hooks["hooks"][e][0]["hooks"][0];
            assert_eq!(h["type"], "command");
            assert_eq!(h["command"], EXTENSION_COMMAND);
            assert_eq!(h["timeout"], HOOK_TIMEOUT_MS);
        }
        assert_eq!(hooks["hooks"].as_object().map(|o| o.len()), Some(6));
        assert!(EXTENSION_COMMAND.contains(&format!("\"${HOOK_VAR}\"")));
        assert!(!EXTENSION_COMMAND.contains("${"));

        // The command, as Gemini runs it: the pane's hook with the event on stdin, or nothing.
        let run = |var: Option<&str>| {
            let mut c = std::process::Command::new("bash");
            c.args(["-c", EXTENSION_COMMAND])
                .env_remove(HOOK_VAR)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped());
            if let Some(v) = var {
                c.env(HOOK_VAR, v);
            }
            let mut child = c.spawn().expect("bash");
            use std::io::Write;
            // With no hook named the command exits without reading its input: a write may
            // then meet a closed pipe, which is no failure of the test.
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"{\"hook_event_name\":\"SessionStart\"}");
            child.wait_with_output().expect("wait")
        };
        let out = d.path().join("it ran");
        let hook =
            crate::hooks::hook_command_of(&["cp", "/dev/stdin", out.to_str().expect("utf-8")])
                .expect("command");
        assert!(run(Some(&hook)).status.success());
        assert_eq!(
            fs::read_to_string(&out).expect("the hook ran"),
            r#"{"hook_event_name":"SessionStart"}"#
        );
        let outside = run(None);
        assert!(outside.status.success());
        assert!(outside.stdout.is_empty());

        // A second pane rewrites nothing; a symlink in the extension's place is refused, and
        // the pane still starts (with a warning).
        let before = fs::metadata(dir.join("hooks/hooks.json"))
            .expect("meta")
            .modified();
        gemini_env("pane-00000002", Path::new("/opt/quil"), |k| {
            (k == "HOME").then(|| home_s.clone())
        })
        .expect("env");
        let after = fs::metadata(dir.join("hooks/hooks.json"))
            .expect("meta")
            .modified();
        assert_eq!(before.ok(), after.ok());
        let other = d.path().join("other");
        fs::create_dir_all(other.join(".gemini/extensions")).expect("mkdir");
        std::os::unix::fs::symlink(&dir, other.join(".gemini/extensions/quil")).expect("ln");
        let other_s = other.to_str().expect("utf-8").to_string();
        let x = gemini_env(PANE, Path::new("/opt/quil"), |k| {
            (k == "HOME").then(|| other_s.clone())
        })
        .expect("env");
        assert!(x.warning.is_some_and(|w| w.contains("hooks may be off")));
        assert_eq!(x.env.len(), 1);
        let x = gemini_env(PANE, Path::new("/opt/quil"), |_| None).expect("env");
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
