//! The workspace logic against in-memory panes (`pane::fake`): no processes, no PTYs, no
//! socket. The real seams (PTYs, the socket, the real agent CLIs) are covered end to end in
//! `crates/quil/tests`.

use super::*;
use crate::integration;
use crate::pane::fake::FakeSpawner;
use crate::server::Notice;
use quil_model::Attention;
use quil_proto::{ErrorKind, ErrorReply, Reply, Request, SpawnSpec, SplitDir};
use std::fs;

const UUID1: &str = "f35e1f56-d5c4-48c8-ad89-6831c5784b88";
const SES1: &str = "ses_e007f40e2ffeHizcOUqvCwmQgb";

struct Harness {
    server: Arc<Server>,
    fake: Arc<FakeSpawner>,
    exits: mpsc::UnboundedReceiver<Notice>,
    home: tempfile::TempDir,
}

/// Agent pane types written the way a user would: the shipped plugin files with another name
/// and another program. Nothing in the daemon knows them.
fn agent_plugins(dir: &Path) {
    fs::create_dir_all(dir).expect("plugins dir");
    for (file, name) in [("claude-code.toml", "hooked"), ("opencode.toml", "tracked")] {
        let (_, text) = quil_plugin::embedded()
            .iter()
            .find(|(f, _)| *f == file)
            .expect("embedded plugin");
        let text = text
            .replacen(
                &format!("name = \"{}\"", file.trim_end_matches(".toml")),
                &format!("name = \"{name}\""),
                1,
            )
            .replace("cmd = \"claude\"", "cmd = \"/bin/true\"")
            .replace("cmd = \"opencode\"", "cmd = \"/bin/echo\"")
            .replace("detect = \"claude\"", "detect = \"/bin/true\"")
            .replace("detect = \"opencode\"", "detect = \"/bin/echo\"");
        fs::write(dir.join(format!("{name}.toml")), text).expect("write plugin");
    }
}

fn harness_in(home: tempfile::TempDir) -> Harness {
    harness_with(home, Config::default())
}

fn harness_with(home: tempfile::TempDir, config: Config) -> Harness {
    quil_ai::mechanism::install(home.path()).expect("tracker");
    agent_plugins(&home.path().join("plugins"));
    let (tx, exits) = mpsc::unbounded_channel();
    let fake = Arc::new(FakeSpawner::default());
    let server = Server::with_spawner(home.path().into(), config, tx, fake.clone());
    let diags = server.load_plugins(&home.path().join("plugins"));
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    Harness {
        server,
        fake,
        exits,
        home,
    }
}

fn harness() -> Harness {
    harness_in(tempfile::tempdir().expect("tempdir"))
}

impl Harness {
    fn req(&self, req: Request) -> Result<Reply, ErrorReply> {
        self.server.handle(req).map_err(ErrorReply::from)
    }

    fn spawn(&self, kind: Option<&str>, command: &[&str], cwd: &Path) -> PaneId {
        let spec = SpawnSpec {
            kind: kind.map(str::to_string),
            command: command.iter().map(|s| s.to_string()).collect(),
            cwd: Some(cwd.display().to_string()),
            ..Default::default()
        };
        match self.req(Request::NewTab {
            name: None,
            spawn: spec,
        }) {
            Ok(Reply::Pane(p)) => p,
            other => panic!("new tab: {other:?}"),
        }
    }

    /// Splits `pane` with a pane of the default type; the new pane.
    fn split(&self, pane: PaneId, dir: SplitDir) -> PaneId {
        match self.req(Request::Split {
            pane,
            dir,
            spawn: SpawnSpec::default(),
        }) {
            Ok(Reply::Pane(p)) => p,
            other => panic!("split: {other:?}"),
        }
    }

    /// What the daemon's exit watcher does: hands each exit to `on_exit`.
    fn pump_exits(&mut self) {
        while let Ok(notice) = self.exits.try_recv() {
            self.server.on_notice(notice);
        }
    }

    fn argv(&self, id: PaneId) -> Vec<String> {
        self.fake.pane(id).args.argv.clone()
    }

    fn info(&self, id: PaneId) -> quil_proto::PaneInfo {
        let ws = self.server.workspace_info();
        ws.panes
            .into_iter()
            .find(|p| p.id == id)
            .expect("pane listed")
    }

    /// A new daemon on the same home, restoring what this one saved.
    fn restart(self) -> Harness {
        self.restart_with(Config::default())
    }

    /// Restarts with every pane started at once (no lazy restore).
    fn restart_eager(self) -> Harness {
        self.restart_with(Config {
            start_hidden_after: 0.0,
            ..Config::default()
        })
    }

    fn restart_with(self, config: Config) -> Harness {
        self.restart_keeping(config, &[])
    }

    /// A new daemon after this one crashed or handed over, with the holders of `kept` still
    /// running (the others gone, as after a reboot).
    fn restart_keeping(self, config: Config, kept: &[PaneId]) -> Harness {
        let (h, ws) = self.restarting(config, kept);
        h.server.restore(ws);
        h
    }

    /// [`Harness::restart_keeping`] up to the restore: the new daemon, and the workspace it
    /// loaded.
    fn restarting(self, config: Config, kept: &[PaneId]) -> (Harness, quil_model::Workspace) {
        self.server.save(true);
        let running: Vec<String> = kept
            .iter()
            .filter_map(|id| self.fake.pane(*id).holder().map(str::to_string))
            .collect();
        let Harness { home, .. } = self;
        let h = harness_with(home, config);
        *h.fake.running.lock().unwrap() = running;
        match crate::persist::load_workspace(h.home.path()).expect("load") {
            crate::persist::Loaded::Workspace(ws) => (h, ws),
            _ => panic!("no saved workspace"),
        }
    }
}

#[test]
fn tabs_splits_and_kills_drive_processes() {
    let h = harness();
    let dir = h.home.path();
    let a = h.spawn(None, &["sh"], dir);
    let b = h.split(a, SplitDir::Horizontal);
    // The split starts where the first pane's shell says it is.
    h.fake.pane(a).output(b"\x1b]7;file://host/tmp\x07");
    let c = h.split(a, SplitDir::Vertical);
    assert_eq!(h.fake.pane(c).args.cwd, Path::new("/tmp"));
    let ws = h.server.workspace_info();
    assert_eq!(ws.tabs.len(), 1);
    assert_eq!(ws.tabs[0].panes.len(), 3);
    // A split of the default type runs the user's shell with quil's cwd reporting.
    assert_eq!(h.fake.pane(b).args.argv[0], h.server.config().shell());
    h.req(Request::KillPane { pane: b }).expect("kill");
    assert!(h.fake.pane(b).hung_up());
    assert_eq!(h.server.workspace_info().tabs[0].panes, [a, c]);
    h.req(Request::KillTab { tab: "1".into() })
        .expect("kill tab");
    assert!(h.fake.pane(a).hung_up() && h.fake.pane(c).hung_up());
    assert!(h.server.workspace_info().tabs.is_empty());
}

#[test]
fn errors_have_kinds_and_name_the_thing() {
    let h = harness();
    let dir = h.home.path();
    let ghost = PaneId(0x0bad_c0de);
    let e = h
        .req(Request::Input {
            pane: ghost,
            data: b"x".to_vec(),
        })
        .unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NotFound, "unknown pane pane-0badc0de")
    );
    let e = h
        .req(Request::RenameTab {
            tab: "1".into(),
            name: "x".into(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let p = h.spawn(None, &["sh"], dir);
    let e = h
        .req(Request::RenamePane {
            pane: p,
            name: "a\x1bb".into(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("control characters"), "{e}");
    let spec = SpawnSpec {
        kind: Some("no-such-type".into()),
        ..Default::default()
    };
    let e = h
        .req(Request::NewTab {
            name: None,
            spawn: spec,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message.contains("no-such-type") && e.message.contains("hooked"),
        "{e}"
    );
    let spec = SpawnSpec {
        cwd: Some("/no/such/dir".into()),
        ..Default::default()
    };
    let e = h
        .req(Request::NewTab {
            name: None,
            spawn: spec,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    // A program that cannot start is refused and leaves nothing behind.
    h.fake.missing.lock().expect("lock").push("nope".into());
    let e = h
        .req(Request::NewTab {
            name: None,
            spawn: SpawnSpec {
                command: vec!["nope".into()],
                ..Default::default()
            },
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(h.server.workspace_info().tabs.len(), 1);
    // Input to a pane whose program exited.
    h.fake.pane(p).exit(3);
    let e = h
        .req(Request::Input {
            pane: p,
            data: b"x".to_vec(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
}

#[test]
fn input_resize_and_capture_reach_the_pane() {
    let h = harness();
    let p = h.spawn(None, &["sh"], h.home.path());
    h.req(Request::Input {
        pane: p,
        data: b"ls\r".to_vec(),
    })
    .expect("input");
    h.req(Request::SendKeys {
        pane: p,
        keys: vec!["C-c".into(), "Up".into()],
    })
    .expect("keys");
    assert_eq!(h.fake.pane(p).input(), b"ls\r\x03\x1b[A");
    h.req(Request::Resize {
        pane: p,
        cols: 80,
        rows: 20,
    })
    .expect("resize");
    assert_eq!(h.fake.pane(p).process_size(), (80, 20));
    h.fake.pane(p).output(b"hello\r\nworld");
    let Ok(Reply::Text(lines)) = h.req(Request::Capture {
        pane: p,
        scrollback: 0,
        ansi: false,
        without_chrome: false,
    }) else {
        panic!("capture")
    };
    assert_eq!(&lines[..2], ["hello", "world"]);
    assert_eq!(lines.len(), 20);
}

#[test]
fn exits_close_or_keep_per_policy() {
    let mut h = harness();
    let ok = h.spawn(None, &["a"], h.home.path());
    let failed = h.spawn(None, &["b"], h.home.path());
    h.fake.pane(ok).exit(0);
    h.fake.pane(failed).exit(2);
    h.pump_exits();
    let ws = h.server.workspace_info();
    assert_eq!(
        ws.panes.len(),
        1,
        "the default policy closes clean exits only"
    );
    assert_eq!((ws.panes[0].id, ws.panes[0].exit_status), (failed, Some(2)));
    // Respawn starts it again in place, keeping what it showed.
    h.fake.pane(failed).output(b"before\r\n");
    h.req(Request::Respawn { pane: failed }).expect("respawn");
    let again = h.fake.pane(failed);
    assert!(again.is_alive());
    assert!(again.args.preamble.text().contains("before"));
}

#[test]
fn agent_types_from_plugin_data_get_their_integration() {
    let h = harness();
    let dir = h.home.path();
    let hooked = h.spawn(Some("hooked"), &[], dir);
    let argv = h.argv(hooked);
    // Preassigned id, passed by `start_args`; the hooks come through `--settings`.
    let id =
        h.server.lock().meta(hooked).expect("meta").plugin_state[integration::SESSION_KEY].clone();
    assert_eq!(argv[..3], ["/bin/true", "--session-id", id.as_str()]);
    let settings = argv
        .iter()
        .position(|a| a == "--settings")
        .expect("--settings");
    assert!(Path::new(&argv[settings + 1]).is_file());
    let tracked = h.spawn(Some("tracked"), &[], dir);
    let env = &h.fake.pane(tracked).args.env;
    assert!(env
        .iter()
        .any(|(k, v)| k == "OPENCODE_CONFIG_CONTENT" && v.contains("tracker")));
    // A bare command running a type's program is tracked like a pane of that type.
    let bare = h.spawn(None, &["/bin/echo", "--model", "x"], dir);
    let env = &h.fake.pane(bare).args.env;
    assert!(env.iter().any(|(k, _)| k == "OPENCODE_CONFIG_CONTENT"));
    // A plain command is not.
    let plain = h.spawn(None, &["/bin/cat"], dir);
    assert!(!h
        .fake
        .pane(plain)
        .args
        .env
        .iter()
        .any(|(k, _)| k == "OPENCODE_CONFIG_CONTENT"));
    assert_eq!(
        h.info(plain).state,
        None,
        "no integration, no handlers: no state"
    );
}

#[test]
fn restore_resumes_each_pane_in_its_own_conversation() {
    let h = harness();
    let dir = h.home.path().join("proj");
    fs::create_dir_all(&dir).expect("dir");
    let sessions = h.home.path().join("sessions");
    // A hook-tracked pane that got a prompt (its transcript exists) and one that never did.
    let used = h.spawn(Some("hooked"), &[], &dir);
    let unused = h.spawn(Some("hooked"), &[], &dir);
    let transcript = h.home.path().join("t.jsonl");
    fs::write(&transcript, "{}\n").expect("transcript");
    fs::write(
        sessions.join(format!("claude-{used}.id")),
        format!("{UUID1}\n{}\n", transcript.display()),
    )
    .expect("id file");
    let unused_id = h.server.lock().meta(unused).expect("meta").plugin_state["session_id"].clone();
    fs::write(
        sessions.join(format!("claude-{unused}.id")),
        format!(
            "{unused_id}\n{}\n",
            h.home.path().join("missing.jsonl").display()
        ),
    )
    .expect("id file");
    // Tracker-reported panes: one with an id, two without in one directory.
    let with_id = h.spawn(Some("tracked"), &[], &dir);
    fs::write(
        sessions.join(format!("opencode-{with_id}.id")),
        format!("{SES1}\n"),
    )
    .expect("id");
    let other = h.home.path().join("other");
    fs::create_dir_all(&other).expect("dir");
    let first = h.spawn(Some("tracked"), &[], &other);
    let second = h.spawn(Some("tracked"), &[], &other);
    // A bare command whose own flags picked a conversation.
    let bare = h.spawn(None, &["/bin/echo", "--continue", "--model", "m"], &dir);
    fs::write(
        sessions.join(format!("opencode-{bare}.id")),
        "ses_e00392ab1ffeoTyTMCMU5uQAmo\n",
    )
    .expect("id");

    let h = h.restart_eager();
    assert_eq!(h.argv(used)[1..3], ["--resume", UUID1]);
    assert_eq!(h.argv(unused)[1..3], ["--session-id", unused_id.as_str()]);
    assert_eq!(h.argv(with_id)[1..3], ["--session", SES1]);
    // Only one pane may take the directory's latest conversation; SES1 is in another one.
    assert_eq!(h.argv(first)[1..], ["--continue"]);
    assert!(h.argv(second).len() == 1, "{:?}", h.argv(second));
    assert_eq!(
        h.argv(bare),
        [
            "/bin/echo",
            "--model",
            "m",
            "--session",
            "ses_e00392ab1ffeoTyTMCMU5uQAmo"
        ]
    );
    assert!(h.server.workspace_info().panes.iter().all(|p| p.restored));
    // The saved pane keeps its own arguments; only that start was rewritten.
    let meta = h.server.lock().meta(bare).expect("meta").clone();
    assert_eq!(meta.command, ["/bin/echo", "--continue", "--model", "m"]);
}

#[test]
fn a_conversation_that_is_gone_starts_fresh() {
    let h = harness();
    let p = h.spawn(Some("tracked"), &[], h.home.path());
    let sessions = h.home.path().join("sessions");
    fs::create_dir_all(&sessions).expect("sessions");
    fs::write(
        sessions.join(format!("opencode-{p}.id")),
        format!("{SES1}\n"),
    )
    .expect("id");
    let mut h = h.restart();
    let resumed = h.fake.pane(p);
    assert_eq!(resumed.args.argv[1..3], ["--session", SES1]);
    resumed.output(b"Error: Session not found\r\n");
    resumed.exit(1);
    h.pump_exits();
    let fresh = h.fake.pane(p);
    assert_eq!(fresh.args.argv.len(), 1, "{:?}", fresh.args.argv);
    assert!(fresh.is_alive());
    assert!(
        !sessions.join(format!("opencode-{p}.id")).exists(),
        "forgotten"
    );
    assert!(fresh.args.preamble.text().contains("no longer exists"));
    // A fresh start that fails the same way is not retried for ever.
    fresh.output(b"Error: Session not found\r\n");
    fresh.exit(1);
    h.pump_exits();
    assert_eq!(
        h.fake.spawned().len(),
        2,
        "the restored start and one fresh start"
    );
    assert_eq!(h.info(p).exit_status, Some(1), "kept, showing why");
}

#[test]
fn attention_from_the_cli_report_and_who_is_looking() {
    let h = harness();
    let p = h.spawn(Some("hooked"), &[], h.home.path());
    let state = h.home.path().join(format!("sessions/claude-{p}.state"));
    let tick = |s: &str| {
        fs::write(&state, format!("{s}\n")).expect("state");
        h.server.housekeeping();
        let i = h.info(p);
        (i.state, i.state_since.is_some())
    };
    assert_eq!(tick("working"), (Some(Attention::Working), true));
    assert_eq!(tick("waiting").0, Some(Attention::Waiting));
    assert_eq!(
        tick("idle").0,
        Some(Attention::Done),
        "finished while nobody looked"
    );
    h.server.set_view(1, vec![p]);
    assert_eq!(tick("idle").0, Some(Attention::Idle), "seen");
    assert_eq!(tick("working").0, Some(Attention::Working));
    assert_eq!(tick("idle").0, Some(Attention::Idle), "finished in view");
    h.server.set_view(1, Vec::new());
    assert_eq!(tick("error").0, Some(Attention::Error));
    fs::write(&state, "waiting\npermission: Bash\n").expect("state");
    h.server.housekeeping();
    assert_eq!(h.info(p).state, Some(Attention::Waiting));
    assert_eq!(h.info(p).state_detail.as_deref(), Some("permission: Bash"));
    // A shell has no state at all.
    let sh = h.spawn(None, &["sh"], h.home.path());
    h.server.housekeeping();
    assert_eq!(h.info(sh).state, None);
}

/// Events of a scripted scenario, in order, as `quil events` would stream them.
#[test]
fn the_workspace_tells_what_happens_in_order() {
    let mut h = harness();
    let mut rx = h.server.signals.events.subscribe();
    let dir = h.home.path();
    let a = h.spawn(None, &["sh"], dir);
    let b = h.split(a, SplitDir::Horizontal);
    h.req(Request::RenamePane {
        pane: b,
        name: "logs".into(),
    })
    .expect("rename");
    let agent = h.spawn(Some("hooked"), &[], dir);
    let state = h.home.path().join(format!("sessions/claude-{agent}.state"));
    fs::write(&state, "working\n").expect("state");
    h.server.housekeeping();
    fs::write(&state, "idle\n").expect("state");
    h.server.housekeeping();
    h.fake.pane(b).exit(0);
    h.pump_exits();
    h.req(Request::KillTab { tab: "2".into() })
        .expect("kill tab");
    let mut seen = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        let j = ev.to_json();
        let extra = j
            .get("state")
            .or(j.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        seen.push(format!("{} {}", ev.kind.name(), extra).trim().to_string());
    }
    let shell = h.server.config().shell();
    let shell = Path::new(&shell)
        .file_name()
        .expect("shell name")
        .to_string_lossy();
    assert_eq!(
        seen,
        [
            "tab_created sh",
            "pane_created sh",
            &format!("pane_created {shell}"),
            "pane_renamed logs",
            "tab_created true",
            "pane_created true",
            "state working",
            "state done",
            "pane_exited",
            "pane_closed",
            "pane_closed",
            "tab_closed",
        ],
        "{seen:#?}"
    );
}

#[test]
fn hooks_and_notifications_react_to_events() {
    let mut config = Config::default();
    config.hooks = vec![
        crate::config::Hook {
            on: "state".into(),
            pane_type: Some("hooked".into()),
            state: Some(Attention::Waiting),
            run: vec!["/bin/echo".into(), "waiting".into()],
            timeout: 3.0,
        },
        crate::config::Hook {
            on: "pane_created".into(),
            pane_type: None,
            state: None,
            run: vec!["/bin/true".into()],
            timeout: 1.0,
        },
    ];
    config.notify.command = vec!["notify-send".into(), "quil".into()];
    let h = harness_with(tempfile::tempdir().expect("tempdir"), config);
    let p = h.spawn(Some("hooked"), &[], h.home.path());
    let tab = h.server.lock().tab_of(p);
    let ev = |state, previous| quil_proto::Event {
        time: 5,
        pane: Some(p),
        tab,
        kind: quil_proto::EventKind::State {
            state: Some(state),
            previous: Some(previous),
            detail: Some("permission: Bash".into()),
        },
    };
    let mut quiet = crate::hooks::Quiet::default();
    let t0 = std::time::Instant::now();
    let r = h
        .server
        .reactions(&ev(Attention::Waiting, Attention::Working), &mut quiet, t0);
    let names: Vec<&str> = r.runs.iter().map(|r| r.what.as_str()).collect();
    assert_eq!(names, ["[[hooks]] #1", "[notify] command"]);
    let env = |k: &str| {
        r.runs[1]
            .env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(env("QUIL_STATE").as_deref(), Some("waiting"));
    assert_eq!(env("QUIL_PANE_ID"), Some(p.to_string()));
    assert_eq!(env("QUIL_DETAIL").as_deref(), Some("permission: Bash"));
    assert_eq!(
        env("QUIL_MESSAGE").as_deref(),
        Some("true is waiting for you: permission: Bash")
    );
    let stdin: serde_json::Value = serde_json::from_str(&r.runs[0].stdin).expect("json");
    assert_eq!(stdin["type"], "state");
    let n = r.notification.expect("a notification");
    assert_eq!(
        n.escape(),
        "\x1b]9;quil: true is waiting for you: permission: Bash\x07"
    );
    // Within the quiet period the same pane does not notify again; later it does.
    let again = h
        .server
        .reactions(&ev(Attention::Done, Attention::Waiting), &mut quiet, t0);
    assert!(again.notification.is_none() && again.runs.is_empty());
    let later = t0 + std::time::Duration::from_secs(6);
    let r = h
        .server
        .reactions(&ev(Attention::Done, Attention::Waiting), &mut quiet, later);
    assert!(r.notification.is_some());
    // Nobody needs telling about a pane a client shows.
    h.server.set_view(7, vec![p]);
    let r = h.server.reactions(
        &ev(Attention::Error, Attention::Done),
        &mut quiet,
        later + std::time::Duration::from_secs(60),
    );
    assert!(r.notification.is_none(), "viewed");
}

/// A hook program really runs, with the event on stdin and its fields in the environment.
#[tokio::test]
async fn a_hook_runs_without_a_shell_and_is_timed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let script = format!(
        "cat > {0}.json; printf '%s %s' \"$QUIL_EVENT\" \"$QUIL_STATE\" > {0}",
        out.display()
    );
    let r = crate::hooks::Run {
        what: "test".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        env: vec![
            ("QUIL_EVENT".into(), "state".into()),
            ("QUIL_STATE".into(), "waiting".into()),
        ],
        stdin: "{\"type\":\"state\"}".into(),
        timeout: std::time::Duration::from_secs(5),
    };
    crate::hooks::run(&r).await.expect("runs");
    assert_eq!(fs::read_to_string(&out).expect("out"), "state waiting");
    assert_eq!(
        fs::read_to_string(format!("{}.json", out.display())).expect("stdin"),
        "{\"type\":\"state\"}\n"
    );
    let slow = crate::hooks::Run {
        argv: vec!["/bin/sleep".into(), "5".into()],
        timeout: std::time::Duration::from_millis(100),
        ..r.clone()
    };
    let e = crate::hooks::run(&slow).await.unwrap_err();
    assert!(e.contains("killed after"), "{e}");
    let missing = crate::hooks::Run {
        argv: vec!["/no/such/program".into()],
        ..r
    };
    assert!(crate::hooks::run(&missing)
        .await
        .unwrap_err()
        .contains("cannot start"));
}

#[test]
fn a_prompt_is_typed_as_a_paste_then_enter() {
    let h = harness();
    let p = h.spawn(None, &["sh"], h.home.path());
    h.req(Request::Prompt {
        pane: p,
        text: "hello".into(),
    })
    .expect("prompt");
    assert_eq!(h.fake.pane(p).input(), b"hello\r");
    // The program asked for bracketed paste; a terminator inside the text cannot end it early.
    h.fake.pane(p).output(b"\x1b[?2004h");
    h.req(Request::Prompt {
        pane: p,
        text: "a\x1b[201~b".into(),
    })
    .expect("prompt");
    assert_eq!(
        h.fake.pane(p).input(),
        b"hello\r\x1b[200~ab\x1b[201~\r".to_vec()
    );
}

#[test]
fn a_fork_continues_a_copy_of_the_conversation_beside_it() {
    let h = harness();
    let dir = h.home.path();
    let sessions = dir.join("sessions");
    let hooked = h.spawn(Some("hooked"), &[], dir);
    // Nothing recorded yet, but the preassigned id names the conversation.
    let id = h.server.lock().meta(hooked).expect("meta").plugin_state["session_id"].clone();
    let Ok(Reply::Pane(fork)) = h.req(Request::Fork {
        pane: hooked,
        worktree: false,
    }) else {
        panic!("fork")
    };
    let argv = h.argv(fork);
    assert_eq!(
        argv[..4],
        ["/bin/true", "--resume", id.as_str(), "--fork-session"]
    );
    assert!(!argv.contains(&"--session-id".to_string()), "{argv:?}");
    // Beside the original, in the same tab, with no id of its own until its CLI reports one.
    let ws = h.server.workspace_info();
    assert_eq!(ws.tabs[0].panes, [hooked, fork]);
    assert!(h
        .server
        .lock()
        .meta(fork)
        .expect("meta")
        .plugin_state
        .is_empty());
    // A tracked type forks the id its tracker recorded.
    let tracked = h.spawn(Some("tracked"), &[], dir);
    let e = h
        .req(Request::Fork {
            pane: tracked,
            worktree: false,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("no conversation to fork yet"), "{e}");
    fs::create_dir_all(&sessions).expect("sessions");
    fs::write(
        sessions.join(format!("opencode-{tracked}.id")),
        format!("{SES1}\n"),
    )
    .expect("id");
    let Ok(Reply::Pane(fork)) = h.req(Request::Fork {
        pane: tracked,
        worktree: false,
    }) else {
        panic!("fork")
    };
    assert_eq!(h.argv(fork)[1..], ["--session", SES1, "--fork"]);
    // A shell has nothing to fork.
    let sh = h.spawn(None, &["sh"], dir);
    let e = h
        .req(Request::Fork {
            pane: sh,
            worktree: false,
        })
        .unwrap_err();
    assert!(e.message.contains("declares no fork_args"), "{e}");
}

#[test]
fn a_pane_bell_rings_in_attached_terminals_at_most_once_a_second() {
    let mut h = harness();
    let mut rx = h.server.signals.events.subscribe();
    let p = h.spawn(None, &["sh"], h.home.path());
    for _ in 0..50 {
        h.fake.pane(p).output(b"ding\x07");
    }
    h.pump_exits();
    let bells: Vec<quil_proto::Event> = std::iter::from_fn(|| rx.try_recv().ok())
        .filter(|e| e.kind == quil_proto::EventKind::Bell)
        .collect();
    assert_eq!(bells.len(), 1, "rate-limited");
    assert_eq!(
        (bells[0].pane, bells[0].tab),
        (Some(p), h.server.lock().tab_of(p))
    );
    let r = h.server.reactions(
        &bells[0],
        &mut crate::hooks::Quiet::default(),
        std::time::Instant::now(),
    );
    let n = r.notification.expect("the bell passes on");
    assert_eq!(n.escape(), "\x07");
}

#[test]
fn a_programs_own_notifications_reach_attached_terminals() {
    let mut h = harness();
    let mut events = h.server.signals.events.subscribe();
    let mut notify = h.server.signals.notify.subscribe();
    let p = h.spawn(None, &["sh"], h.home.path());
    h.fake
        .pane(p)
        .output(b"\x1b]9;tests passed\x07\x1b]9;and again\x07");
    h.fake
        .pane(p)
        .output(b"\x1b]777;notify;later;within the second\x07");
    h.pump_exits();
    let n = notify.try_recv().expect("passed on");
    assert_eq!(
        n.escape(),
        "\x1b]9;sh: and again\x07",
        "the newest, titled by its pane"
    );
    assert!(notify.try_recv().is_err(), "at most one a second per pane");
    let ev: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| e.kind.name() == "notification")
        .collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].to_json()["body"], "and again");
}

/// An agent pane is `working` ("starting") until its type's `ready` pattern is on the screen;
/// `starting` (what a held prompt polls) says so from the moment it is spawned.
#[test]
fn an_agent_pane_is_starting_until_its_ready_pattern_shows() {
    let h = harness();
    let p = h.spawn(Some("hooked"), &[], h.home.path());
    assert!(
        h.server.starting(p).expect("known"),
        "before the first tick"
    );
    h.fake.pane(p).output(b"Welcome\r\n");
    h.server.housekeeping();
    assert!(h.server.starting(p).expect("known"));
    let info = h.info(p);
    assert_eq!(info.state, Some(Attention::Working));
    assert_eq!(info.state_detail.as_deref(), Some(quil_model::STARTING));
    h.fake.pane(p).output("\u{276f} ".as_bytes());
    h.server.housekeeping();
    assert!(!h.server.starting(p).expect("known"));
    assert_eq!(
        h.info(p).state,
        Some(Attention::Idle),
        "ready, and nothing was finished"
    );
    let sh = h.spawn(None, &["sh"], h.home.path());
    assert!(
        !h.server.starting(sh).expect("known"),
        "a shell never starts"
    );
    assert!(h.server.starting(PaneId(u32::MAX)).is_err());
}

/// Waits (a loaded machine's while) until `f` holds.
fn soon(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn file_has(path: &Path, needle: &[u8]) -> bool {
    fs::read(path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
}

#[test]
fn output_survives_a_crash_through_the_journal() {
    let h = harness();
    let a = h.spawn(None, &["sh"], h.home.path());
    h.server.save_workspace_only();
    h.fake.pane(a).output(b"printed just before the crash\r\n");
    // On disk within a batch, with no save asked for: in the pane's first journal, which
    // needs no snapshot file.
    let journal = crate::persist::journal_path(h.home.path(), a);
    let start = crate::journal::start_path(&journal);
    soon("the output in the journal", || {
        file_has(&start, b"printed just before the crash")
    });
    assert!(!crate::persist::buffer_path(h.home.path(), a).exists());
    // The files as a kill -9 leaves them: copied while the daemon runs on.
    let copy = tempfile::tempdir().expect("tempdir");
    fs::copy(
        crate::persist::workspace_path(h.home.path()),
        crate::persist::workspace_path(copy.path()),
    )
    .unwrap();
    let bufs = crate::persist::buffers_dir(h.home.path());
    fs::create_dir(crate::persist::buffers_dir(copy.path())).unwrap();
    for e in fs::read_dir(&bufs).unwrap().flatten() {
        fs::copy(
            e.path(),
            crate::persist::buffers_dir(copy.path()).join(e.file_name()),
        )
        .unwrap();
    }
    let h2 = harness_in(copy);
    match crate::persist::load_workspace(h2.home.path()).expect("load") {
        crate::persist::Loaded::Workspace(ws) => h2.server.restore(ws),
        _ => panic!("no saved workspace"),
    };
    let back = h2.fake.pane(a).args.preamble.text();
    assert!(back.contains("printed just before the crash"), "{back}");
}

#[test]
fn a_respawned_pane_owns_its_files_and_a_closed_one_leaves_none() {
    let h = harness();
    let a = h.spawn(None, &["sh"], h.home.path());
    let journal = crate::persist::journal_path(h.home.path(), a);
    let buffer = crate::persist::buffer_path(h.home.path(), a);
    let start = crate::journal::start_path(&journal);
    let files = [&buffer, &journal, &start];
    let saved = |needle: &[u8]| files.iter().any(|f| file_has(f, needle));
    h.fake.pane(a).output(b"first life\r\n");
    // An instance's first journal begins with its first snapshot.
    soon("the first journal", || file_has(&start, b"first life"));
    h.req(Request::Respawn { pane: a }).expect("respawn");
    let old = h.fake.spawned()[0].clone();
    let new = h.fake.pane(a);
    // The new instance's first journal holds what the pane showed, then what follows; the
    // old one's output goes nowhere.
    new.output(b"second life\r\n");
    old.output(b"ghost of the first\r\n");
    soon("the new journal", || {
        file_has(&start, b"first life") && file_has(&start, b"second life")
    });
    std::thread::sleep(crate::journal::BATCH * 3);
    assert!(!saved(b"ghost"));
    // A restart brings back both lives.
    let h = h.restart();
    let back = h.fake.pane(a).args.preamble.text();
    assert!(
        back.contains("first life") && back.contains("second life") && !back.contains("ghost"),
        "{back}"
    );
    // Closed: its files go, and no instance writes them again.
    let b = h.spawn(None, &["sh"], h.home.path());
    h.req(Request::KillPane { pane: a }).expect("kill");
    h.server.save(false);
    assert!(files.iter().all(|f| !f.exists()));
    h.fake.pane(a).output(b"after the close\r\n");
    std::thread::sleep(crate::journal::BATCH * 3);
    assert!(files.iter().all(|f| !f.exists()));
    // Only the closed pane's.
    soon("the other pane's files", || {
        crate::journal::start_path(&crate::persist::journal_path(h.home.path(), b)).exists()
    });
}

/// `without_chrome` drops the lines of the CLI's own interface that its type declares, and
/// nothing of a pane whose type declares none; so does an agent pane's `last_line`.
#[test]
fn capture_without_chrome_leaves_the_clis_interface_out() {
    let h = harness();
    let capture = |pane, without_chrome| match h.req(Request::Capture {
        pane,
        scrollback: 0,
        ansi: false,
        without_chrome,
    }) {
        Ok(Reply::Text(lines)) => lines
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>(),
        other => panic!("capture: {other:?}"),
    };
    let screen = "  \u{2503}  say hi\r\n  \u{2503}\r\n     the reply\r\n     \u{25a3}  Build \u{b7} m \u{b7} 1.8s\r\n  \u{2579}\u{2580}\u{2580}\r\n   /proj   ctrl+p commands";
    let agent = h.spawn(Some("tracked"), &[], h.home.path());
    h.fake.pane(agent).output(screen.as_bytes());
    assert_eq!(
        capture(agent, true),
        ["  \u{2503}  say hi", "     the reply"]
    );
    assert_eq!(capture(agent, false).len(), 6);
    let sh = h.spawn(None, &["sh"], h.home.path());
    h.fake.pane(sh).output(screen.as_bytes());
    assert_eq!(capture(sh, true).len(), 6, "a shell has no chrome");
    // `ls --json`'s last line of an agent pane leaves its chrome out too; a pane without a
    // state has none.
    assert_eq!(h.info(agent).last_line.as_deref(), Some("the reply"));
    assert_eq!(h.info(sh).last_line, None);
    assert!(h
        .req(Request::Capture {
            pane: PaneId(u32::MAX),
            scrollback: 0,
            ansi: false,
            without_chrome: true,
        })
        .is_err());
}

/// Whether a process was started for `id` by the daemon `h` runs.
fn started(h: &Harness, id: PaneId) -> bool {
    h.fake.spawned().iter().any(|p| p.args.id == id)
}

#[test]
fn lazy_restore_starts_hidden_panes_when_shown_given_input_or_due() {
    let h = harness();
    let dir = h.home.path();
    let shown_later = h.spawn(None, &["sh"], dir);
    let typed_to = h.spawn(None, &["sh"], dir);
    let eager = h.spawn(None, &["sh"], dir);
    let delayed = h.spawn(None, &["sh"], dir);
    let delayed_too = h.spawn(None, &["sh"], dir);
    let active = h.spawn(None, &["sh"], dir);
    h.fake
        .pane(typed_to)
        .output(b"printed before the restart\r\n");
    h.req(Request::SetEager {
        pane: eager,
        eager: true,
    })
    .expect("eager");
    assert!(h.info(eager).eager);

    let h = h.restart_with(Config {
        start_hidden_after: 0.3,
        ..Config::default()
    });
    // The tab shown first and the eager pane start at once; the others wait.
    assert!(started(&h, active) && started(&h, eager));
    for id in [shown_later, typed_to, delayed, delayed_too] {
        assert!(!started(&h, id), "{id} started");
        let info = h.info(id);
        assert!(!info.started && !info.alive && info.restored && info.error.is_none());
    }
    assert!(h.info(active).started && h.info(eager).eager);
    // A waiting pane shows its restored screen, and capturing it does not start it.
    let Ok(Reply::Text(lines)) = h.req(Request::Capture {
        pane: typed_to,
        scrollback: 0,
        ansi: false,
        without_chrome: false,
    }) else {
        panic!("capture")
    };
    assert!(
        lines.iter().any(|l| l == "printed before the restart"),
        "{lines:?}"
    );
    assert!(!started(&h, typed_to));
    // Their delays are staggered, in the workspace's order.
    let dues: Vec<Instant> = {
        let st = h.server.lock();
        [shown_later, typed_to, delayed, delayed_too]
            .iter()
            .map(|id| st.panes[id].pending.as_ref().expect("waits").due)
            .collect()
    };
    for pair in dues.windows(2) {
        assert_eq!(pair[1] - pair[0], crate::config::START_STAGGER);
    }

    // Shown by a client: starts, with its restored screen, at the size it is shown at.
    h.req(Request::Resize {
        pane: shown_later,
        cols: 100,
        rows: 30,
    })
    .expect("resize");
    h.server.set_view(7, vec![shown_later, active]);
    assert!(started(&h, shown_later));
    assert_eq!(h.fake.pane(shown_later).process_size(), (100, 30));
    assert!(h.info(shown_later).started);
    // Given input: starts, and gets it.
    h.req(Request::Input {
        pane: typed_to,
        data: b"ls\r".to_vec(),
    })
    .expect("input");
    assert_eq!(h.fake.pane(typed_to).input(), b"ls\r");
    let restored = h.fake.pane(typed_to).shared().screen_text();
    assert!(
        restored.contains("printed before the restart"),
        "{restored}"
    );
    // After its delay: one at a time.
    assert!(!started(&h, delayed));
    soon("the first delayed pane started", || {
        h.server.housekeeping();
        started(&h, delayed)
    });
    soon("the second one", || {
        h.server.housekeeping();
        started(&h, delayed_too)
    });
    // Each started once; `Start` on a running pane does nothing.
    h.req(Request::Start { pane: delayed }).expect("start");
    let count = |id| h.fake.spawned().iter().filter(|p| p.args.id == id).count();
    assert!([shown_later, typed_to, delayed, delayed_too]
        .iter()
        .all(|&id| count(id) == 1));
    assert!(matches!(
        h.req(Request::Start { pane: PaneId(999_999) }),
        Err(e) if e.message.contains("pane-000f423f")
    ));
}

#[test]
fn a_waiting_pane_saves_nothing_and_comes_back_the_same_after_another_restart() {
    let h = harness();
    let dir = h.home.path();
    let hidden = h.spawn(None, &["sh"], dir);
    let _active = h.spawn(None, &["sh"], dir);
    h.fake.pane(hidden).output(b"only once\r\n");
    let h = h.restart().restart();
    assert!(!started(&h, hidden));
    h.req(Request::Start { pane: hidden }).expect("start");
    let screen = h.fake.pane(hidden).shared().screen_text();
    assert_eq!(screen.matches("only once").count(), 1, "{screen}");
    assert_eq!(
        screen.matches("restored after a daemon restart").count(),
        1,
        "{screen}"
    );
}

/// A command that ends before its pane is added (its exit notice handled with no pane to close)
/// is closed all the same, once, by the adding: in a new tab and in a split.
#[test]
fn a_command_that_exits_before_its_pane_is_added_is_closed() {
    let mut h = harness();
    let dir = h.home.path();
    let keep = h.spawn(None, &["sh"], dir);
    h.fake.quick.lock().expect("lock").push("true".into());
    let Ok(Reply::Pane(quick)) = h.req(Request::NewTab {
        name: None,
        spawn: SpawnSpec {
            command: vec!["true".into()],
            cwd: Some(dir.display().to_string()),
            ..Default::default()
        },
    }) else {
        panic!("new tab")
    };
    let Ok(Reply::Pane(split)) = h.req(Request::Split {
        pane: keep,
        dir: SplitDir::Horizontal,
        spawn: SpawnSpec {
            command: vec!["true".into()],
            ..Default::default()
        },
    }) else {
        panic!("split")
    };
    let ids = |h: &Harness| -> Vec<PaneId> {
        h.server
            .workspace_info()
            .panes
            .iter()
            .map(|p| p.id)
            .collect()
    };
    assert_eq!(ids(&h), [keep], "closed as they were added");
    // The notices that came before the panes were there change nothing now.
    h.pump_exits();
    assert_eq!(ids(&h), [keep]);
    assert!(!ids(&h).contains(&quick) && !ids(&h).contains(&split));
}

/// A restart takes over each pane whose holder still runs (its screen exactly as it was, no
/// marker, its modes set again, started at once whatever tab it is in) and starts the others
/// again; a running pane the workspace lacks comes back as a tab of its own.
#[test]
fn a_restart_takes_over_panes_whose_holder_runs() {
    let h = harness();
    let dir = h.home.path().to_path_buf();
    let kept = h.spawn(None, &["prog-kept"], &dir);
    let gone = h.spawn(None, &["prog-gone"], &dir);
    h.fake
        .pane(kept)
        .output(b"\x1b[?2004hkept screen\r\n\x1b[1;31mred");
    h.fake.pane(gone).output(b"gone screen\r\n");
    let before = h.fake.pane(kept).shared().screen_text();
    let h = h.restart_keeping(Config::default(), &[kept]);
    let k = h.fake.pane(kept);
    assert!(k.adopted);
    assert_eq!(k.shared().screen_text(), before, "exactly as it was");
    assert!(k.shared().modes() & quil_proto::modes::BRACKETED_PASTE != 0);
    assert!(h.info(kept).started, "taken over, not waiting");
    // Its pen is where the program left it: what it prints next is red.
    k.output(b" more");
    let row = k.shared().export_lines(100);
    let last = row
        .iter()
        .rev()
        .find(|l| l.text().contains("more"))
        .expect("row");
    assert!(last.ansi().contains("31"), "{}", last.ansi());
    let g = h.fake.pane(gone);
    assert!(!g.adopted);
    assert!(g
        .shared()
        .screen_text()
        .contains("restored after a daemon restart"));
}

/// A restore that takes long (holders slow to answer) blocks nobody: the layout is there at
/// once, new tabs open, and a request that needs a pane still being restored waits for that
/// pane alone, then finds it taken over with its screen as it was.
#[test]
fn clients_are_served_while_a_restore_takes_panes_over() {
    let h = harness();
    let dir = h.home.path().to_path_buf();
    let slow = h.spawn(None, &["prog-slow"], &dir);
    h.fake.pane(slow).output(b"printed before the crash\r\n");
    let before = h.fake.pane(slow).shared().screen_text();
    let (h, ws) = h.restarting(Config::default(), &[slow]);
    h.fake.hold_takeovers(true);
    let plan = h.server.restore_layout(ws);
    let server = h.server.clone();
    let finishing = std::thread::spawn(move || server.finish_restore(plan));

    let info = h.info(slow);
    assert!(!info.started, "listed while it is being restored");
    let capture = Request::Capture {
        pane: slow,
        scrollback: 0,
        ansi: false,
        without_chrome: false,
    };
    match h.req(capture.clone()) {
        Err(e) => assert!(e.message.contains("still being restored"), "{e:?}"),
        other => panic!("capture of a pane being restored: {other:?}"),
    }
    let fresh = h.spawn(None, &["sh"], &dir);
    assert!(h.info(fresh).started, "a new tab opens meanwhile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let waited = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(100), h.server.until_restored(slow)).await
    });
    assert!(waited.is_err(), "a request for it waits while it is held");

    h.fake.hold_takeovers(false);
    rt.block_on(h.server.until_restored(slow));
    assert_eq!(finishing.join().expect("restore"), 1);
    let k = h.fake.pane(slow);
    assert!(k.adopted, "taken over, not started again");
    assert_eq!(k.shared().screen_text(), before);
    assert!(h.info(slow).started);
    assert!(h.req(capture).is_ok());
}

#[test]
fn idle_panes_no_client_shows_are_packed_and_read_the_same() {
    let h = harness();
    let (shown, quiet, busy) = (
        h.spawn(None, &["sh"], h.home.path()),
        h.spawn(None, &["sh"], h.home.path()),
        h.spawn(None, &["sh"], h.home.path()),
    );
    h.server.set_view(1, vec![shown]);
    for p in [shown, quiet, busy] {
        h.fake.pane(p).output(b"\x1b[1;32m$\x1b[m ls\r\nfile\r\n$ ");
    }
    let capture = |p| {
        h.req(Request::Capture {
            pane: p,
            scrollback: 0,
            ansi: true,
            without_chrome: false,
        })
        .expect("capture")
    };
    let shown_rows = |p: PaneId| -> Vec<String> {
        let u = h.fake.pane(p).update_since(0).expect("an update");
        u.lines.iter().map(|(_, l)| l.text()).collect()
    };
    // Seen once by a client that has gone since; then it printed while nobody looked.
    assert_eq!(&shown_rows(quiet)[..3], ["$ ls", "file", "$"]);
    h.fake.pane(quiet).output(b"ls\r\nmore\r\n$ ");
    let before = capture(quiet);
    let packed = |p: PaneId| h.fake.pane(p).shared().lock().term.is_packed();
    // The first look only notes what each printed so far.
    assert_eq!(h.server.pack_idle(Quiet::SinceLast), 0);
    h.fake.pane(busy).output(b"x");
    assert_eq!(
        h.server.pack_idle(Quiet::SinceLast),
        1,
        "quiet since the last look"
    );
    assert!(packed(quiet) && !packed(busy) && !packed(shown));
    assert_eq!(capture(quiet), before, "read packed");
    // What it printed while nobody looked reaches the next client that does.
    assert_eq!(&shown_rows(quiet)[..4], ["$ ls", "file", "$ ls", "more"]);
    assert_eq!(
        h.server.pack_idle(Quiet::Now),
        2,
        "the whole daemon is quiet"
    );
    assert!(
        packed(busy) && !packed(shown),
        "a shown pane stays as it is"
    );
    h.fake.pane(quiet).output(b"y");
    assert!(!packed(quiet), "output unpacks");
    let Reply::Text(lines) = capture(quiet) else {
        panic!("capture")
    };
    assert_eq!(lines[4], "$ y");
}

#[test]
fn a_divider_moves_the_way_asked_whichever_side_the_pane_is_on() {
    let h = harness();
    let a = h.spawn(None, &["sh"], h.home.path());
    let b = h.split(a, SplitDir::Horizontal);
    // The share of the left side.
    let left = |h: &Harness| match &h.server.workspace_info().tabs[0].layout {
        quil_model::Layout::Split { ratio, .. } => *ratio,
        other => panic!("not a split: {other:?}"),
    };
    let divider = |pane, n| {
        h.req(Request::ResizeSplit {
            pane,
            dir: Some(SplitDir::Horizontal),
            size: quil_proto::SplitSize::Divider(n),
        })
        .expect("resize")
    };
    let half = left(&h);
    // `b` is on the right: the divider moving left grows it.
    divider(b, -5);
    let moved = left(&h);
    assert!(moved < half, "{moved} after {half}");
    // Swapped, `b` is on the left, and the same request still moves the divider left: what a
    // client that has not yet seen the swap sends for the same key.
    h.req(Request::SwapPane { a, b }).expect("swap");
    divider(b, -5);
    assert!(left(&h) < moved, "{} after {moved}", left(&h));
    divider(a, 5);
    assert!(
        (left(&h) - moved).abs() < 0.01,
        "{} back to {moved}",
        left(&h)
    );
}
