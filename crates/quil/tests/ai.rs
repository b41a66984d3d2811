//! AI panes come back to their own conversation: the real opencode and Claude Code CLIs
//! (installed by `scripts/install-ai-clis.sh`), in real quil panes, against the project's own
//! loopback mock LLM (`quil-mockllm`), across `kill -9` of the daemon.

mod agents;
mod common;

use agents::{eventually, first_line, pane_environ, StateLog, World, SERIAL, START, TURN};
use quil_mockllm::{history_text, last_user_text};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// A world with opencode and Claude Code set up against the mock.
fn world() -> World {
    let mut w = World::new(&["opencode", "claude"]);
    // A user's own OPENCODE_CONFIG_CONTENT: quil merges its tracker into it.
    w.set_env("OPENCODE_CONFIG_CONTENT", r#"{"theme":"opencode"}"#);
    w.setup_opencode();
    w.setup_claude();
    w
}

impl World {
    /// opencode's config: the mock provider, and the pre-created package files that stop its
    /// ~70 s offline attempt to npm-install its plugin package.
    fn setup_opencode(&mut self) {
        let cfg = self.path("xdg/config/opencode");
        std::fs::create_dir_all(cfg.join("node_modules")).expect("mkdir");
        let config = serde_json::json!({
            "model": "mock/m",
            "small_model": "mock/m",
            "autoupdate": false,
            "provider": {"mock": {
                "npm": "@ai-sdk/openai-compatible",
                "options": {"baseURL": format!("{}/v1", self.mock.base_url()), "apiKey": "x"},
                "models": {"m": {}}
            }}
        });
        std::fs::write(cfg.join("opencode.json"), config.to_string()).expect("write");
        std::fs::write(
            cfg.join("package.json"),
            r#"{"dependencies":{"@opencode-ai/plugin":"*"}}"#,
        )
        .expect("write");
        std::fs::write(
            cfg.join("package-lock.json"),
            r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"*"}}}}"#,
        )
        .expect("write");
        self.set_env("OPENCODE_DISABLE_MODELS_FETCH", "1");
        self.set_env("OPENCODE_DISABLE_AUTOUPDATE", "1");
    }

    /// Claude Code's config: the mock Messages API and a pre-seeded `.claude.json` so no
    /// first-run screen blocks it.
    fn setup_claude(&mut self) {
        let cc = self.path("cc");
        let seed = serde_json::json!({
            "hasCompletedOnboarding": true,
            "theme": "dark",
            "projects": {self.dir.path().display().to_string(): {"hasTrustDialogAccepted": true}}
        });
        std::fs::write(cc.join(".claude.json"), seed.to_string()).expect("write");
        let base = self.mock.base_url();
        for (k, v) in [
            ("ANTHROPIC_BASE_URL", base.as_str()),
            ("ANTHROPIC_AUTH_TOKEN", "quil-test"),
            ("CLAUDE_CONFIG_DIR", cc.to_str().expect("utf-8")),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ] {
            self.set_env(k, v);
        }
    }
}

#[test]
fn opencode_pane_reopens_its_own_conversation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let p1 = w.new_pane("opencode");
    // The daemon wrote the tracker and injected the pane's environment.
    let tracker = w.path("q/opencodehook/quil-session-tracker.js");
    assert!(tracker.is_file());
    let environ = pane_environ(&w, &p1);
    assert!(environ.contains(&format!("QUIL_PANE_ID={p1}")), "{environ}");
    assert!(environ.contains(&format!("QUIL_HOME={}", w.path("q").display())));
    assert!(
        environ.contains(&format!("file://{}", tracker.display()))
            && environ.contains("\"theme\":\"opencode\"")
    );
    // A second opencode pane in the same directory, never prompted, started as a bare command:
    // it is an AI pane all the same.
    let proj = w.proj().display().to_string();
    let p2 = w
        .ok(&["new-tab", "--cwd", &proj, "--", "opencode"])
        .trim()
        .to_string();
    assert!(
        pane_environ(&w, &p2).contains("quil-session-tracker.js"),
        "the tracker is loaded"
    );
    w.wait(&p1, "Ask anything", START);
    w.send(&p1, "hello MARKER1");
    w.wait(&p1, "MOCK-REPLY: hello MARKER1", TURN);
    let id = eventually("the tracker's id file", TURN, || {
        first_line(&w.id_file("opencode", &p1))
    });
    assert!(id.starts_with("ses_"), "{id}");
    assert!(first_line(&w.id_file("opencode", &p2)).is_none());

    w.reboot();
    // Its tab is not the one shown first: it waits to start (lazy restore) until asked.
    assert_eq!(w.pane(&p1)["started"], false);
    w.ok(&["start", "--pane", &p1]);
    let argv = w.argv(&p1);
    assert_eq!(
        argv[argv.len() - 2..],
        ["--session".to_string(), id.clone()],
        "{argv:?}"
    );
    w.wait(&p1, "hello MARKER1", START);
    // Resumed into its session view, which has no input placeholder: ready all the same, and
    // well before the 30 s after which any pattern counts as shown.
    eventually("the resumed pane ready", 20, || {
        (w.pane(&p1)["state_detail"] != "starting").then_some(())
    });
    // The other pane of that directory is not handed the conversation (no --continue either).
    let argv2 = w.argv(&p2);
    assert!(
        !argv2.contains(&id) && !argv2.iter().any(|a| a == "--continue"),
        "{argv2:?}"
    );
    // A next prompt reaches the model with the earlier turn in its history.
    w.ok(&["prompt", "--pane", &p1, "next MARKER2"]);
    w.wait(&p1, "MOCK-REPLY: next MARKER2", TURN);
    let history = history_text(&w.request_with("MARKER2"));
    assert!(
        history.contains("hello MARKER1") && history.contains("MOCK-REPLY: hello MARKER1"),
        "{history}"
    );
    // The pane's own record still names the same conversation.
    assert_eq!(
        first_line(&w.id_file("opencode", &p1)).as_deref(),
        Some(id.as_str())
    );
    assert_eq!(w.pane(&p1)["type"], "opencode");
}

#[test]
fn opencode_session_not_found_starts_fresh() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let p = w.new_pane("opencode");
    w.wait(&p, "Ask anything", START);
    w.ok(&["daemon", "stop"]);
    // The pane's conversation "exists" but opencode has never heard of it.
    std::fs::create_dir_all(w.path("q/sessions")).expect("mkdir");
    std::fs::write(
        w.id_file("opencode", &p),
        "ses_0000000000000000000000none\n",
    )
    .expect("write");
    w.ok(&["daemon", "start"]);
    w.wait(&p, "no longer exists; started a new one", START);
    w.wait(&p, "Ask anything", START);
    let argv = w.argv(&p);
    assert!(!argv.iter().any(|a| a == "--session"), "{argv:?}");
    assert_eq!(w.pane(&p)["alive"], true);
    assert!(!w.id_file("opencode", &p).exists());
}

/// The transcript path Claude's `SessionStart` hook recorded for `pane` (line 2 of its id file).
fn claude_transcript(w: &World, pane: &str) -> PathBuf {
    let text = eventually("the SessionStart hook", TURN, || {
        std::fs::read_to_string(w.id_file("claude", pane))
            .ok()
            .filter(|t| t.lines().count() >= 2)
    });
    PathBuf::from(text.lines().nth(1).expect("a transcript path"))
}

/// Sends `prompt` to a Claude pane and waits until the reply is on screen *and* in the
/// transcript: Claude writes it out a moment after drawing it, and a kill in between is the case
/// `claude_pane_without_its_transcript_starts_fresh` covers. Returns the transcript's path.
fn claude_prompt_saved(w: &World, pane: &str, prompt: &str) -> PathBuf {
    let reply = format!("MOCK-REPLY: {prompt}");
    w.send(pane, prompt);
    w.wait(pane, &reply, TURN);
    let transcript = claude_transcript(w, pane);
    eventually("the reply in Claude's transcript", TURN, || {
        std::fs::read_to_string(&transcript)
            .ok()
            .filter(|t| t.contains(&reply))
    });
    transcript
}

/// Killed after a prompt but before Claude saved the conversation, a Claude pane cannot be
/// reopened (`--resume` says "No conversation found"): it starts a new conversation and says so.
#[test]
fn claude_pane_without_its_transcript_starts_fresh() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let p = w.new_pane("claude-code");
    w.wait(&p, "❯", START);
    let transcript = claude_prompt_saved(&w, &p, "hello MARKER5");
    let old = w.argv(&p);
    w.ok(&["daemon", "stop"]);
    // As if the daemon had been killed before Claude wrote anything out.
    std::fs::write(&transcript, "").expect("truncate the transcript");
    w.ok(&["daemon", "start"]);
    w.wait(&p, "no longer exists; started a new one", START);
    w.wait(&p, "❯", START);
    let argv = w.argv(&p);
    let at = argv
        .iter()
        .position(|a| a == "--session-id")
        .unwrap_or_else(|| panic!("a new preassigned id: {argv:?}"));
    assert!(!old.contains(&argv[at + 1]), "a new id, not {old:?}");
    assert!(!argv.iter().any(|a| a == "--resume"), "{argv:?}");
    assert_eq!(w.pane(&p)["alive"], true);
}

#[test]
fn claude_pane_reopens_its_own_conversation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let p1 = w.new_pane("claude-code");
    let p2 = w.new_pane("claude-code");
    // Started with a preassigned id and quil's hook settings.
    let argv = w.argv(&p1);
    let at = argv
        .iter()
        .position(|a| a == "--session-id")
        .expect("--session-id");
    let id = argv[at + 1].clone();
    assert_eq!(id.len(), 36, "{argv:?}");
    let settings = &argv[argv
        .iter()
        .position(|a| a == "--settings")
        .expect("--settings")
        + 1];
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(settings)
            .expect("settings")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    w.wait(&p1, "❯", START);
    // SessionStart fired the hook before any prompt: the id file names the session.
    eventually("the SessionStart hook", TURN, || {
        first_line(&w.id_file("claude", &p1)).filter(|l| *l == id)
    });
    let id2 = eventually("the second pane's hook", TURN, || {
        first_line(&w.id_file("claude", &p2))
    });
    assert_ne!(id, id2);
    claude_prompt_saved(&w, &p1, "hello MARKER3");

    w.reboot();
    // Its tab is not the one shown first: it waits to start (lazy restore) until asked.
    assert_eq!(w.pane(&p1)["started"], false);
    w.ok(&["start", "--pane", &p1]);
    let argv = w.argv(&p1);
    let at = argv
        .iter()
        .position(|a| a == "--resume")
        .expect("resumed with --resume");
    assert_eq!(argv[at + 1], id);
    w.wait(&p1, "hello MARKER3", START);
    // The never-prompted pane comes back alive, on its own id (no transcript: --session-id).
    let argv2 = w.argv(&p2);
    let at = argv2
        .iter()
        .position(|a| a == "--session-id")
        .expect("--session-id");
    assert_eq!(argv2[at + 1], id2);
    assert!(
        !argv2.iter().any(|a| a == "--continue" || a == "--resume"),
        "{argv2:?}"
    );
    w.wait(&p2, "❯", START);
    assert_eq!(w.pane(&p2)["alive"], true);
    // The conversation continues with its history.
    w.send(&p1, "next MARKER4");
    w.wait(&p1, "MOCK-REPLY: next MARKER4", TURN);
    let history = history_text(&w.request_with("MARKER4"));
    assert!(history.contains("hello MARKER3"), "{history}");
}

/// Issue 19: the daemon killed while Claude Code waits for the model mid-turn: the same Claude
/// process goes on, finishes the turn the mock answers once, and is taken over by the next
/// daemon with its conversation and state.
#[test]
fn claude_finishes_its_turn_through_a_daemon_crash() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let p = w.new_pane("claude-code");
    w.wait(&p, "❯", START);
    let pid = w.pane(&p)["pid"].as_i64().expect("pid");
    let prompt = "SLOW:5000 mid-turn MARKER9";
    w.send(&p, prompt);
    eventually("the turn's request at the mock", TURN, || {
        w.mock
            .requests()
            .iter()
            .any(|b| last_user_text(b).is_some_and(|t| t.contains("MARKER9")))
            .then_some(())
    });
    w.crash();
    assert_eq!(w.pane(&p)["pid"], pid, "the same Claude Code process");
    w.wait(&p, &format!("MOCK-REPLY: {prompt}"), TURN);
    let asked = w
        .mock
        .requests()
        .iter()
        .filter(|b| last_user_text(b).is_some_and(|t| t.contains("MARKER9")))
        .count();
    assert_eq!(asked, 1, "the turn was not started again");
    // The pane is live under the new daemon: the next turn goes through it.
    w.send(&p, "next MARKER10");
    w.wait(&p, "MOCK-REPLY: next MARKER10", TURN);
    assert_eq!(w.pane(&p)["pid"], pid);
}

/// Claude Code's own hooks drive the pane's state: a Bash call that needs permission makes it
/// `waiting` (naming the tool) as the dialog shows, the answer makes it `working`, the end of the
/// turn `done` (nobody is looking), a client showing it `idle`, and an API error `error`.
#[test]
fn claude_pane_states_come_from_its_hooks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world();
    // The classic permission dialog, and an API error that ends the turn at once.
    std::fs::write(
        w.path("cc/settings.json"),
        r#"{"permissions": {"defaultMode": "default", "disableAutoMode": "disable"}}"#,
    )
    .expect("settings");
    w.set_env("CLAUDE_CODE_MAX_RETRIES", "0");
    let p = w.new_pane("claude-code");
    w.wait(&p, "❯", START);
    w.wait_state(&p, "idle", 10);
    let log = StateLog::start(&w, &p);
    w.send(&p, "make it TOOL:bash:mkdir made-by-claude");
    w.wait(&p, "Do you want to proceed", TURN);
    // Within 2 s of the dialog showing.
    w.wait_state(&p, "waiting", 2);
    assert_eq!(
        w.pane(&p)["state_detail"],
        "permission: Bash (mkdir made-by-claude)"
    );
    // Allow it (option 1). The dialog can drop a key that comes while it is still drawing:
    // press again while it shows.
    eventually("the tool to run", TURN, || {
        if w.proj().join("made-by-claude").is_dir() {
            return Some(());
        }
        if String::from_utf8_lossy(&w.run(&["capture", "--pane", &p]).stdout)
            .contains("Do you want to proceed")
        {
            w.ok(&["send-keys", "--pane", &p, "Enter"]);
            std::thread::sleep(Duration::from_secs(2));
        }
        None
    });
    w.wait_state(&p, "done", TURN);
    let states = log.until("done", 5);
    assert_eq!(
        states
            .iter()
            .filter(|s| !s.starts_with("working"))
            .cloned()
            .collect::<Vec<_>>(),
        ["waiting(permission: Bash (mkdir made-by-claude))", "done"],
        "{states:?}"
    );
    let answered = states
        .iter()
        .position(|s| s.starts_with("waiting"))
        .unwrap_or_else(|| panic!("no waiting in {states:?}"));
    assert!(states[answered + 1].starts_with("working"), "{states:?}");
    // A client showing the pane: done becomes idle.
    let tui = common::Tui::attach(&w.path("q"), &w.path("u"), 120, 40);
    tui.wait_for("made-by-claude");
    w.wait_state(&p, "idle", 10);
    drop(tui);
    // An API error ends the turn in `error`, with the status.
    w.send(&p, "fail now ERROR:529");
    w.wait_state(&p, "error", TURN);
    assert_eq!(w.pane(&p)["state_detail"], "api error: 529 server_error");
}

/// opencode's tracker reports the same states from opencode's bus: a permission ask, the
/// reply, the end of the turn, and an API error.
#[test]
fn opencode_pane_states_come_from_its_tracker() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    // opencode asks before bash only when configured to.
    let cfg = w.path("xdg/config/opencode/opencode.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).expect("config")).expect("json");
    config["permission"] = serde_json::json!({"bash": "ask"});
    std::fs::write(&cfg, config.to_string()).expect("config");
    let p = w.new_pane("opencode");
    w.wait(&p, "Ask anything", START);
    let log = StateLog::start(&w, &p);
    w.send(&p, "make it TOOL:bash:mkdir made-by-opencode");
    w.wait(&p, "Permission required", TURN);
    // Within 2 s of the dialog showing.
    w.wait_state(&p, "waiting", 2);
    assert_eq!(
        w.pane(&p)["state_detail"],
        "permission: bash (mkdir made-by-opencode)"
    );
    w.ok(&["send-keys", "--pane", &p, "Enter"]);
    w.wait_state(&p, "done", TURN);
    assert!(w.proj().join("made-by-opencode").is_dir(), "the tool ran");
    let states = log.until("done", 5);
    let answered = states
        .iter()
        .position(|s| s.starts_with("waiting"))
        .unwrap_or_else(|| panic!("no waiting in {states:?}"));
    assert!(states[answered + 1].starts_with("working"), "{states:?}");
    // A 4xx ends the turn with an error, which stays until the next turn.
    w.send(&p, "fail now ERROR:401");
    w.wait_state(&p, "error", TURN);
    let detail = w.pane(&p)["state_detail"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(detail.starts_with("api error: 401"), "{detail}");
}

/// `quil fork` gives a second pane whose conversation starts with the first one's history,
/// with an id of its own.
#[test]
fn fork_continues_a_copy_of_the_conversation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    for (kind, files, ready) in [
        ("claude-code", "claude", "❯"),
        ("opencode", "opencode", "Ask anything"),
    ] {
        let p = w.new_pane(kind);
        w.wait(&p, ready, START);
        w.send(&p, &format!("remember FORKBASE{files}"));
        w.wait(&p, &format!("MOCK-REPLY: remember FORKBASE{files}"), TURN);
        let id = eventually("the conversation recorded", TURN, || {
            first_line(&w.id_file(files, &p))
        });
        let f = w.ok(&["fork", "--pane", &p]).trim().to_string();
        // The copied conversation is on screen: the fork is ready for the next prompt. (Not
        // the empty prompt's placeholder: opencode, opening a session whose messages are
        // already loaded, may never draw it; seen once under the whole suite's load.)
        w.wait(&f, &format!("MOCK-REPLY: remember FORKBASE{files}"), START);
        std::thread::sleep(Duration::from_secs(1));
        w.send(&f, &format!("and FORKNEXT{files}"));
        w.wait(&f, &format!("MOCK-REPLY: and FORKNEXT{files}"), TURN);
        let req = w.request_with(&format!("FORKNEXT{files}"));
        assert!(
            history_text(&req).contains(&format!("FORKBASE{files}")),
            "{kind}: the fork's request lacks the original's history"
        );
        let fork_id = eventually("the fork's own conversation", TURN, || {
            first_line(&w.id_file(files, &f)).filter(|f| *f != id)
        });
        assert_ne!(fork_id, id);
    }
}

/// `quil prompt --wait` prints the reply of Claude's turn, and only once the turn is over.
/// (opencode is left out: it sometimes returns before opencode's reply shows, still open on
/// issue 13.)
#[test]
fn prompt_wait_prints_the_turn() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    // Claude Code; and opencode, whose engine reports the end of a turn before its TUI has
    // drawn the reply, so the reply is read from a settled screen.
    for (kind, ready) in [("claude-code", "❯"), ("opencode", "Ask anything")] {
        let p = w.new_pane(kind);
        w.wait(&p, ready, START);
        w.wait_state(&p, "idle", START);
        let prompt = format!("say PWAIT-{kind}");
        let out = w.ok(&[
            "prompt",
            "--pane",
            &p,
            "--wait",
            "--timeout",
            "120",
            &prompt,
        ]);
        assert!(
            out.contains(&format!("MOCK-REPLY: {prompt}")),
            "{kind}: {out}"
        );
        // The reply alone: none of the CLI's borders, status or footer lines.
        assert!(
            out.lines()
                .all(|l| l.trim().is_empty() || l.contains("MOCK-REPLY")),
            "{kind}: {out}"
        );
        assert_ne!(w.pane(&p)["state"], "working", "{kind}: the turn is over");
        w.ok(&["kill-pane", &p]);
    }
}

/// The fleet script of `docs/automation.md`, run as it is printed there: three agents, each in
/// its own worktree, prompted at once, waited for together; each diff shows its own change.
#[test]
fn the_documented_fleet_script_prints_each_agents_diff() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = world();
    let proj = w.proj();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        ],
    ] {
        common::git(&proj, args);
    }
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/automation.md"
    ))
    .expect("docs/automation.md");
    let start = doc
        .find("#!/bin/sh\n# fleet.sh")
        .expect("the fleet script in the docs");
    let script = &doc[start..start + doc[start..].find("```").expect("end of the script")];
    let file = w.path("fleet.sh");
    std::fs::write(&file, script).expect("write fleet.sh");
    // `quil` as the user has it: on PATH.
    let bin = PathBuf::from(agents::QUIL)
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let path = w
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    w.set_env("PATH", &format!("{bin}:{path}"));
    w.set_env("QUIL_AGENT", "opencode");
    // A user has run opencode before. Its very first starts, three at once in a new data
    // directory, can leave one hung before it draws anything (seen with 1.18.34: it stops
    // after its `init` log line while the others set up the database).
    let warm = w.new_pane("opencode");
    w.wait(&warm, "Ask anything", 60);
    w.ok(&["kill-pane", &warm]);
    let tasks: Vec<String> = (1..=3)
        .map(|i| format!("write it TOOL:bash:echo fleet {i} > made-by-{i}.txt"))
        .collect();
    let out = std::process::Command::new("sh")
        .arg(&file)
        .args(&tasks)
        .env_clear()
        .envs(w.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&proj)
        .output()
        .expect("run fleet.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fleet.sh: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One section per pane, each with its own file and only that one.
    let sections: Vec<&str> = stdout
        .split("== ")
        .filter(|s| !s.trim().is_empty())
        .collect();
    assert_eq!(sections.len(), 3, "{stdout}");
    for (i, s) in sections.iter().enumerate() {
        let n = i + 1;
        assert!(
            s.contains(&format!("+fleet {n}")) && s.contains(&format!("made-by-{n}.txt")),
            "{stdout}"
        );
        for other in (1..=3).filter(|m| *m != n) {
            assert!(
                !s.contains(&format!("made-by-{other}")),
                "only its own file: {s}"
            );
        }
    }
    assert!(
        !proj.join("made-by-1.txt").exists(),
        "the work stays in the worktrees"
    );
}
