//! Codex CLI panes: quil's hooks on the command line, and what Codex's events mean.
//!
//! quild starts every Codex pane with [`codex_args`]:
//!
//! - `--no-daemon`: by default the TUI talks to a shared background app server that outlives
//!   it, and hooks would run in *its* environment (not the pane's); with it the pane's process
//!   is the agent;
//! - one `-c hooks.<Event>=[...]` per event in [`HOOK_EVENTS`], running
//!   `<quil> hook codex --pane <pane>` (through a shell, with the event as JSON on stdin);
//! - one `-c hooks.state={...}` trusting exactly those hooks. A hook that is not trusted opens a
//!   "Hooks need review" dialog at launch; the trust is a hash of the hook's definition
//!   ([`trust_hash`]), which Codex merges with the user's own trust decisions (checked: a
//!   user's `[hooks.state]` entries still hold).
//!
//! Codex fires `SessionStart` at the *first prompt*, not at launch, so a never-prompted pane has
//! no id (and nothing to resume: Codex writes no rollout until then). docs/codex-gemini.md has
//! the facts, checked with Codex CLI 0.171.0.

use crate::fsutil::read_tail;
use crate::hooks::hook_command;
use crate::store::StateRecord;
use crate::{AiError, Kind};
use quil_model::Attention;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The hook events quil registers: the session id, and every event that moves the pane's
/// state. (`SessionEnd` is left out: its timeout rules differ, and the pane's exit says it.)
pub const HOOK_EVENTS: [&str; 6] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
];

/// Seconds Codex gives a hook. Explicit, because the trust hash covers it (an absent timeout is
/// hashed as 600).
pub const HOOK_TIMEOUT_SECS: u64 = 5;

/// The config source Codex names for `-c` overrides, in trust keys.
pub const FLAGS_SOURCE: &str = "/<session-flags>/config.toml";

/// `SessionStart` → `session_start`: event names as Codex writes them in trust keys and hashes.
pub fn snake_case(event: &str) -> String {
    let mut out = String::with_capacity(event.len() + 4);
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The hash Codex 0.171 trusts a command hook by (`command_hook_hash` in
/// `codex-rs/hooks/src/engine/discovery.rs`): `sha256:` and the hex SHA-256 of the compact JSON,
/// keys sorted, of the event's group with this one handler. Pinned with Codex's version: the
/// format may change.
pub fn trust_hash(event_snake: &str, command: &str, timeout_secs: u64) -> String {
    let s = |v: &str| Value::String(v.to_string()).to_string();
    let canonical = format!(
        r#"{{"event_name":{},"hooks":[{{"async":false,"command":{},"timeout":{timeout_secs},"type":"command"}}]}}"#,
        s(event_snake),
        s(command)
    );
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A TOML basic string (`-c` values are parsed as TOML).
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The arguments that make a Codex pane report to quil: `--no-daemon`, the hooks and their
/// trust. They go after `resume <id>` / `fork <id>` too, which accept them.
pub fn codex_args(pane_id: &str, quil_bin: &Path) -> Result<Vec<String>, AiError> {
    Ok(args_for_command(&hook_command(
        Kind::Codex,
        pane_id,
        quil_bin,
    )?))
}

/// [`codex_args`] for any (already shell-quoted) hook command.
pub fn args_for_command(command: &str) -> Vec<String> {
    let cmd = toml_string(command);
    let mut args = vec!["--no-daemon".to_string()];
    let mut trusted = Vec::with_capacity(HOOK_EVENTS.len());
    for event in HOOK_EVENTS {
        args.push("-c".into());
        args.push(format!(
            "hooks.{event}=[{{hooks=[{{type=\"command\",command={cmd},timeout={HOOK_TIMEOUT_SECS}}}]}}]"
        ));
        let snake = snake_case(event);
        // <source>:<event>:<group index>:<handler index>
        let key = format!("{FLAGS_SOURCE}:{snake}:0:0");
        let hash = trust_hash(&snake, command, HOOK_TIMEOUT_SECS);
        trusted.push(format!(
            "{}={{trusted_hash={}}}",
            toml_string(&key),
            toml_string(&hash)
        ));
    }
    args.push("-c".into());
    args.push(format!("hooks.state={{{}}}", trusted.join(",")));
    args
}

pub(crate) const RULES: crate::hooks::Rules = crate::hooks::Rules {
    id_events: &["SessionStart", "UserPromptSubmit"],
    state_of,
};

/// The attention state a Codex hook event means (docs/codex-gemini.md):
///
/// - `UserPromptSubmit`, `PreToolUse`, `PostToolUse` (a command approved and run): working;
/// - `PermissionRequest`: waiting, naming the tool and its command (`permission: Bash (ls)`);
/// - `Stop` (the turn is over), `SessionStart` (it fires at the first prompt, just before
///   `UserPromptSubmit`), `SessionEnd`: idle.
///
/// An API error ends the turn with no hook at all; [`transcript_error`] covers it.
fn state_of(event: &str, v: &Value) -> Option<StateRecord> {
    let at = |state, detail: Option<String>| Some(StateRecord::new(state, detail));
    match event {
        "SessionStart" | "SessionEnd" | "Stop" => at(Attention::Idle, None),
        "UserPromptSubmit" | "PreToolUse" | "PostToolUse" => at(Attention::Working, None),
        "PermissionRequest" => at(Attention::Waiting, Some(crate::hooks::permission_detail(v))),
        _ => None,
    }
}

/// How much of the end of a rollout is read to find how the last turn ended.
const TAIL: u64 = 64 * 1024;

/// The error that ended the rollout's last turn, as a state detail (`api error: <message>`), or
/// `None` when the last turn is still running, ended well, or cannot be told from the file's
/// last 64 KiB.
///
/// Codex fires no hook when a turn fails on an API error (and no `notify` either); its rollout
/// gets `{"type":"event_msg","payload":{"type":"task_complete","error":{"message":...}}}`.
pub fn transcript_error(rollout: &Path) -> Option<String> {
    let tail = read_tail(rollout, TAIL)?;
    for line in tail.lines().rev() {
        // Cheap filter first: most lines are items and deltas.
        if !line.contains("\"task_") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let p = &v["payload"];
        if v["type"] != "event_msg" {
            continue;
        }
        match p["type"].as_str() {
            Some("task_started") => return None,
            Some("task_complete") => {
                let e = &p["error"];
                if e.is_null() {
                    return None;
                }
                return Some(crate::hooks::api_error_detail(
                    e["message"].as_str().unwrap_or(""),
                ));
            }
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
    use serde_json::json;
    use std::fs;

    const PANE: &str = "pane-1a2b3c4d";
    const ID: &str = "01a2425e-0fed-7e61-ae56-35e7df98f324";

    /// Hashes Codex 0.171.0 itself wrote to `$CODEX_HOME/config.toml` when "Trust all and
    /// continue" was chosen for hooks given with `-c` (recorded with the real CLI; the command
    /// has a quoted word, as `shell_quote` makes for a path with a space).
    #[test]
    fn trust_hash_matches_codex() {
        let cmd = "'/opt/my quil/quil' hook codex --pane pane-1a2b3c4d";
        for (event, want) in [
            (
                "pre_tool_use",
                "b18c2c0d4f437d42a21ce2e2d6006c22c3167b586ec628c172f993171076d022",
            ),
            (
                "permission_request",
                "e54b6f64cc1994707ebb0d1e69183d99a784946eb79886864beeea599eb85e78",
            ),
            (
                "post_tool_use",
                "007e10e37aff7b61633ee10a45f3ee2552020998fa64464b037971c035b05b33",
            ),
            (
                "session_start",
                "f78d605aed38a7eb5fc6d1cd20f1e38b3258872e9b2c8e5719fb62eacb63a7ef",
            ),
            (
                "user_prompt_submit",
                "9ffb770518bb4d5355e85d9030bc2b49cc12fda4882f3202b2011be2c51472b0",
            ),
            (
                "stop",
                "45177aaae0ac4b2fa3a3b0428dc34089d72da12fbabe69e63d9b7646963d1d9f",
            ),
        ] {
            assert_eq!(
                trust_hash(event, cmd, 5),
                format!("sha256:{want}"),
                "{event}"
            );
        }
        let plain = "/opt/quil/bin/quil hook codex --pane pane-1a2b3c4d";
        assert_eq!(
            trust_hash("session_start", plain, 5),
            "sha256:4d81077b3520a31e8c64b103f7d0d986d064065dbe27088274e7e330fa3923f4"
        );
        assert_eq!(
            trust_hash("stop", plain, 5),
            "sha256:28d90cfe27fdc6a7206dc137d45d5adaad7722281e0cfee00d2db7d6fbf5bef6"
        );
    }

    #[test]
    fn args_register_and_trust_every_hook() {
        let args = codex_args(PANE, Path::new("/opt/my quil/quil")).expect("args");
        assert_eq!(args[0], "--no-daemon");
        let cmd = "'/opt/my quil/quil' hook codex --pane pane-1a2b3c4d";
        assert_eq!(
            args[2],
            format!(
                "hooks.SessionStart=[{{hooks=[{{type=\"command\",command={},timeout=5}}]}}]",
                toml_string(cmd)
            )
        );
        assert_eq!(args.len(), 1 + 2 * HOOK_EVENTS.len() + 2);
        let state = args.last().expect("state");
        assert!(state.starts_with("hooks.state={\"/<session-flags>/config.toml:session_start:0:0\"={trusted_hash=\"sha256:f78d605a"), "{state}");
        assert!(state.contains("\"/<session-flags>/config.toml:permission_request:0:0\"={trusted_hash=\"sha256:e54b6f64"));
        assert_eq!(snake_case("UserPromptSubmit"), "user_prompt_submit");
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        assert!(codex_args("pane-../x", Path::new("/q")).is_err());
    }

    fn ev(event: &str, extra: Value) -> String {
        let mut v = json!({
            "session_id": ID,
            "transcript_path": format!("/c/sessions/2026/12/04/rollout-2026-12-04T18-43-10-{ID}.jsonl"),
            "cwd": "/w",
            "hook_event_name": event,
            "model": "mock-model",
            "permission_mode": "default",
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v.to_string()
    }

    /// The payloads as Codex 0.171.0 sent them (docs/codex-gemini.md).
    #[test]
    fn events_drive_states_and_record_the_id() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let after = |event: &str, extra: Value| {
            handle_hook(Kind::Codex, &home, PANE, &ev(event, extra)).expect("hook");
            let r = read_state(&Kind::Codex.state_file(&home, PANE))
                .expect("state")
                .expect("some");
            (r.state.as_str(), r.detail.unwrap_or_default())
        };
        assert_eq!(
            after("SessionStart", json!({"source": "startup"})),
            ("idle", String::new())
        );
        let r = read_session(&Kind::Codex.id_file(&home, PANE), Kind::Codex)
            .expect("read")
            .expect("id");
        assert_eq!(r.id, ID);
        assert!(r
            .transcript
            .is_some_and(|t| t.to_string_lossy().ends_with(&format!("{ID}.jsonl"))));
        let turn = json!({"turn_id": "01a2425e-24f2-7851-8e31-1974e8de2253", "prompt": "hi"});
        assert_eq!(after("UserPromptSubmit", turn), ("working", String::new()));
        let bash =
            json!({"tool_name": "Bash", "tool_input": {"command": "mkdir x", "description": "d"}});
        assert_eq!(
            after("PreToolUse", bash.clone()),
            ("working", String::new())
        );
        assert_eq!(
            after("PermissionRequest", bash.clone()),
            ("waiting", "permission: Bash (mkdir x)".into())
        );
        assert_eq!(after("PostToolUse", bash), ("working", String::new()));
        let stop = json!({"stop_hook_active": false, "last_assistant_message": "MOCK-REPLY: hi"});
        assert_eq!(after("Stop", stop), ("idle", String::new()));
        // The log names the CLI.
        let log = fs::read_to_string(crate::hooks::hook_log_path(&home)).expect("log");
        assert!(
            log.lines()
                .next()
                .is_some_and(|l| l.contains(&format!("{PANE} codex SessionStart {ID} recorded"))),
            "{log}"
        );
    }

    #[test]
    fn errors_come_from_the_rollout() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("rollout.jsonl");
        assert_eq!(transcript_error(&f), None);
        let started = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}"#;
        let item = r#"{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"task_complete"}]}}"#;
        let ok = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","turn_id":"a","last_agent_message":"hi"}}"#;
        let failed = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","turn_id":"a","last_agent_message":null,"error":{"message":"unexpected status 400 Bad Request: {\"error\":{\"message\":\"bad\"}}"}}}"#;
        // As Codex 0.171.0 recorded a 400 from quil-mockllm: the body as the message.
        let seen = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","turn_id":"b","last_agent_message":null,"error":{"message":"{\"error\":{\"code\":\"invalid_request\",\"message\":\"mock: invalid request\",\"param\":null,\"type\":\"invalid_request_error\"}}"}}}"#;
        fs::write(&f, format!("{started}\n{item}\n{ok}\n")).expect("write");
        assert_eq!(transcript_error(&f), None);
        fs::write(&f, format!("{started}\n{item}\n{failed}\n")).expect("write");
        let detail = transcript_error(&f).expect("an error");
        assert_eq!(detail, "api error: bad");
        fs::write(&f, format!("{started}\n{seen}\n")).expect("write");
        assert_eq!(
            transcript_error(&f).as_deref(),
            Some("api error: mock: invalid request")
        );
        // A new turn after the failed one: running, not failed.
        fs::write(&f, format!("{failed}\n{started}\n{item}\n")).expect("write");
        assert_eq!(transcript_error(&f), None);
        // Only the tail is read; a cut first line is skipped.
        let big = format!("{}\n{failed}\n", "x".repeat(200_000));
        fs::write(&f, big).expect("write");
        assert!(transcript_error(&f).is_some());
    }
}
