//! Claude Code panes: quil's hooks and where the conversations are.
//!
//! quild spawns every Claude pane with `--settings $QUIL_HOME/sessions/claude-<pane>.settings.json`
//! ([`claude_settings`]), which registers `<quil> hook claude --pane <pane>` for `SessionStart`,
//! `UserPromptSubmit`, `Stop`, `Notification` and `SessionEnd` (merged with the user's own
//! hooks). Claude runs the command through a shell with the event as JSON on stdin;
//! `quil hook claude` hands it to [`handle_claude_hook`], which records the session id (and
//! every rotation: `/clear` starts a new id) and the pane's attention state.
//!
//! The hook command must print nothing on stdout (a `SessionStart` hook's stdout is added to the
//! conversation's context) and must exit 0 (exit 2 from `UserPromptSubmit` would block the
//! prompt).

use crate::fsutil::{append_log, unix_now, write_atomic_if_changed};
use crate::store::read_session;
use crate::{ids, sessions_dir, AiError, Kind};
use quil_model::Attention;
use serde_json::{json, Value};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The hook events quil registers.
pub const HOOK_EVENTS: [&str; 5] = [
    "SessionStart",
    "UserPromptSubmit",
    "Stop",
    "Notification",
    "SessionEnd",
];

/// Seconds Claude gives a hook before killing it.
pub const HOOK_TIMEOUT_SECS: u64 = 10;

/// Cap of `$QUIL_HOME/sessions/hook.log` (one rotation, `hook.log.1`).
pub const HOOK_LOG_CAP: u64 = 1024 * 1024;

/// `$QUIL_HOME/sessions/claude-<pane>.settings.json`.
pub fn settings_path(home: &Path, pane_id: &str) -> PathBuf {
    sessions_dir(home).join(format!("claude-{pane_id}.settings.json"))
}

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
    if hook_argv.is_empty() || hook_argv.iter().any(|w| w.contains(['\0', '\n', '\r'])) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the hook command is empty or has a NUL or newline",
        ));
    }
    let home = crate::absolute_home(home)?;
    let command = hook_argv
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
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
    write_atomic_if_changed(&path, text.as_bytes())?;
    Ok(path)
}

fn valid_transcript(p: &str) -> bool {
    p.starts_with('/') && p.len() <= 4096 && !p.chars().any(char::is_control)
}

/// Handles one Claude hook event (the JSON Claude writes on the hook's stdin) for `pane_id`:
///
/// - `SessionStart` (and `UserPromptSubmit`, in case a start was missed) record the session:
///   `$QUIL_HOME/sessions/claude-<pane>.id` = id on line 1, transcript path on line 2, written
///   atomically and only when changed; a new id (after `/clear`, or `/resume` of another
///   conversation) replaces the old one and is logged as a rotation;
/// - the attention state goes to `claude-<pane>.state`: `UserPromptSubmit` → working, `Stop` →
///   idle, `Notification` → waiting, `SessionStart`/`SessionEnd` → idle. `SessionEnd` keeps the
///   id (`/clear` ends the old session just before starting the new one; an exit keeps the
///   conversation resumable).
///
/// Logs one line per event to `$QUIL_HOME/sessions/hook.log` (capped at 1 MB, one rotation).
/// Unknown events are logged and otherwise ignored.
pub fn handle_claude_hook(home: &Path, pane_id: &str, stdin_json: &str) -> Result<(), AiError> {
    if !ids::is_valid_pane_id(pane_id) {
        return Err(AiError::InvalidPaneId(pane_id.to_string()));
    }
    let home = crate::absolute_home(home)?;
    let log = |line: &str| {
        append_log(
            &hook_log_path(&home),
            &format!("{} {pane_id} {line}", unix_now()),
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
    let id = ids::is_valid_claude_session_id(raw_id).then_some(raw_id);
    let shown_id = id.unwrap_or("-");

    let state = match event {
        "SessionStart" | "SessionEnd" | "Stop" => Some(Attention::Idle),
        "UserPromptSubmit" => Some(Attention::Working),
        "Notification" => Some(Attention::Waiting),
        _ => None,
    };
    if state.is_none() {
        log(&format!("{} {shown_id} ignored", printable(event)));
        return Ok(());
    }

    let mut detail = String::new();
    if matches!(event, "SessionStart" | "UserPromptSubmit") {
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
        let id_file = Kind::Claude.id_file(&home, pane_id);
        let previous = read_session(&id_file, Kind::Claude).ok().flatten();
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
    if let Some(state) = state {
        let f = Kind::Claude.state_file(&home, pane_id);
        write_atomic_if_changed(&f, format!("{}\n", state.as_str()).as_bytes())
            .map_err(|e| AiError::io(&f, e))?;
        detail.push_str(&format!(" state={}", state.as_str()));
    }
    log(&format!("{event} {shown_id}{detail}"));
    Ok(())
}

/// What goes into a log line: no control characters, at most 64 chars.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(64)
        .collect()
}

/// The body of a `quil hook claude --pane P` command: reads the event from stdin (capped at
/// 16 MiB), handles it with `QUIL_HOME` from the environment, and returns the exit status to
/// use, always 0; problems go to stderr (Claude shows hook stderr only in its transcript view).
pub fn run_hook_command(home: Option<&Path>, pane_id: &str, stdin: impl Read) -> i32 {
    let mut input = String::new();
    if let Err(e) = stdin.take(16 * 1024 * 1024).read_to_string(&mut input) {
        eprintln!("quil hook claude: cannot read stdin: {e}");
        return 0;
    }
    let Some(home) = home else {
        eprintln!("quil hook claude: QUIL_HOME is not set");
        return 0;
    };
    if let Err(e) = handle_claude_hook(home, pane_id, &input) {
        eprintln!("quil hook claude: {e}");
    }
    0
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
    use crate::store::read_state;
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
        assert_eq!(
            read_state(&Kind::Claude.state_file(&home, PANE)).expect("state"),
            Some(Attention::Idle)
        );
        handle_claude_hook(
            &home,
            PANE,
            &ev("UserPromptSubmit", ID1, json!({"prompt": "x"})),
        )
        .expect("prompt");
        assert_eq!(
            read_state(&Kind::Claude.state_file(&home, PANE)).expect("state"),
            Some(Attention::Working)
        );
        handle_claude_hook(&home, PANE, &ev("Notification", ID1, json!({}))).expect("n");
        assert_eq!(
            read_state(&Kind::Claude.state_file(&home, PANE)).expect("state"),
            Some(Attention::Waiting)
        );
        handle_claude_hook(&home, PANE, &ev("Stop", ID1, json!({}))).expect("stop");
        assert_eq!(
            read_state(&Kind::Claude.state_file(&home, PANE)).expect("state"),
            Some(Attention::Idle)
        );
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
        assert_eq!(lines.len(), 6, "{log}");
        assert!(
            lines[0].contains("SessionStart") && lines[0].contains("recorded"),
            "{log}"
        );
        assert!(lines[0].contains("source=startup"));
        assert!(lines[4].contains("reason=clear"), "{log}");
        assert!(
            lines[5].contains(&format!("{ID2} rotated from {ID1}")),
            "{log}"
        );
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
        handle_claude_hook(&home, PANE, &ev("PreToolUse", ID1, json!({}))).expect("ignored");
        assert!(fs::read_to_string(hook_log_path(&home))
            .expect("log")
            .contains("PreToolUse"));
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
