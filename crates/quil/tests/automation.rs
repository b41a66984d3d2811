//! Driving quil from scripts, through the real binaries: a new agent type written only from
//! docs/plugin-reference.md (against a tiny fake agent CLI this file writes), `quil events`,
//! `quil wait --state`, `quil next`, `[[hooks]]`, the `[notify]` command, and an attached
//! TUI's desktop notifications.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `quil events --json` in the background; its lines arrive on the channel.
struct Events {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Events {
    fn start(h: &Home, args: &[&str]) -> Events {
        let mut all = vec!["events", "--json"];
        all.extend_from_slice(args);
        let mut child = h
            .cmd(&all)
            .stdout(Stdio::piped())
            .spawn()
            .expect("quil events");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        // Subscribed once it has seen the daemon answer: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        Events { child, lines }
    }

    /// Events until one matches `f` (which is included); panics after 20 s.
    fn until(
        &self,
        what: &str,
        mut f: impl FnMut(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    let done = f(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no event {what} in {seen:#?}");
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_state(v: &serde_json::Value, pane: &str, state: &str) -> bool {
    v["type"] == "state" && v["pane"] == pane && v["state"] == state
}

fn wait_state(h: &Home, pane: &str, state: &str) {
    h.ok(&["wait", "--pane", pane, "--state", state, "--timeout", "20"]);
}

/// The issue's test for integrations as data: a pane type written only from the reference
/// gets session tracking, attention states and resume, against a CLI quil has never heard of.
#[test]
fn a_new_agent_type_is_tracked_and_resumed_from_its_plugin_file_alone() {
    let h = Home::new();
    let agent_dir = tiny_agent(&h);
    h.ok(&[
        "plugin",
        "validate",
        h.path().join("plugins/tiny-agent.toml").to_str().unwrap(),
    ]);
    let events = Events::start(&h, &[]);
    let p = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&p, "^ready ");
    let id = h.pane_json(&p)["argv"][2].as_str().unwrap().to_string();
    wait_state(&h, &p, "idle");
    h.send_line(&p, "hello one");
    // Nobody is attached, so the end of the turn is "done".
    wait_state(&h, &p, "done");
    h.wait_for(&p, r"reply to: hello one \(turn 1\)");
    let seen = events.until("done", |v| is_state(v, &p, "done"));
    // A CLI still starting when the first check runs is first announced as working
    // ("starting"): a matter of timing, not of what the turn did.
    let kinds: Vec<String> = seen
        .iter()
        .filter(|v| v["pane"] == p.as_str() && v["detail"] != "starting")
        .map(|v| {
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["pane_created ", "state idle", "state working", "state done"],
        "{seen:#?}"
    );
    let info = h.pane_json(&p);
    assert!(info["state_since"].as_u64().is_some(), "{info}");

    // The machine reboots (the daemon and the pane holders die); the pane comes back in its own
    // conversation.
    let pid = h.daemon_pid().expect("daemon pid");
    drop(events);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("the daemon is gone", Duration::from_secs(5), || {
        !pid_alive(pid)
    });
    h.kill_holders();
    h.ok(&["daemon", "start"]);
    let argv: Vec<String> = serde_json::from_value(h.pane_json(&p)["argv"].clone()).unwrap();
    assert_eq!(argv[1..3], ["--resume".to_string(), id.clone()], "{argv:?}");
    h.wait_for(&p, "^hello one$");
    h.wait_for(&p, "^ready ");
    h.send_line(&p, "hello two");
    h.wait_for(&p, r"reply to: hello two \(turn 2\)");
    // The conversation's history is gone, and the hook said where it would be: the same id
    // starts again with `start_args` rather than failing to resume.
    std::fs::remove_file(agent_dir.join(format!("{id}.log"))).expect("rm transcript");
    let kill = || {
        let pid = h.daemon_pid().expect("daemon pid");
        unsafe { libc::kill(pid, libc::SIGKILL) };
        eventually("the daemon is gone", Duration::from_secs(5), || {
            !pid_alive(pid)
        });
        h.kill_holders();
        h.ok(&["daemon", "start"]);
    };
    kill();
    let argv: Vec<String> = serde_json::from_value(h.pane_json(&p)["argv"].clone()).unwrap();
    assert_eq!(
        argv[1..3],
        ["--session-id".to_string(), id.clone()],
        "{argv:?}"
    );
    h.wait_for(&p, "^ready ");
    // Without what the hook recorded, quil resumes the id it saved; the CLI says the
    // conversation is gone (`not_found`), and the pane starts a new one.
    std::fs::remove_file(h.path().join(format!("sessions/claude-{p}.id"))).expect("rm id");
    kill();
    h.ok(&["ls"]);
    h.wait_for(&p, "no longer exists; started a new one");
    let argv: Vec<String> = serde_json::from_value(h.pane_json(&p)["argv"].clone()).unwrap();
    assert_eq!(argv[1], "--session-id", "{argv:?}");
    assert_ne!(argv[2], id, "a new conversation");
}

/// A turn far shorter than the daemon's 250 ms tick is still a turn: `quil prompt --wait`
/// returns at its end, and the event stream shows it `working` then `idle`.
#[test]
fn turns_shorter_than_a_tick_are_seen() {
    let h = Home::new();
    tiny_agent(&h);
    let a = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&a, "^ready ");
    wait_state(&h, &a, "idle");
    let events = Events::start(&h, &["--pane", &a, "--type", "state"]);
    for n in 1..=5 {
        let text = format!("fast{n}");
        let out = h.ok(&["prompt", "--pane", &a, "--wait", "--timeout", "10", &text]);
        assert!(
            out.contains(&format!("reply to: {text}")),
            "turn {n}: {out}"
        );
    }
    // Every turn went through `working`, whether the daemon read the file mid-turn or not.
    let mut turns = 0;
    events.until("five turns", |v| {
        turns += usize::from(is_state(v, &a, "working"));
        turns == 5
    });
}

/// After a restart, an agent pane in a tab nobody shows waits to start (lazy restore);
/// `quil prompt --wait` starts it, types once it is ready, and returns its reply.
#[test]
fn prompt_wait_starts_an_agent_that_waits_after_a_restart() {
    let h = Home::new();
    tiny_agent(&h);
    let a = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&a, "^ready ");
    let shown = h.new_tab(&[]);
    h.wait_for(&shown, PROMPT);
    h.ok(&["restart", "--fresh"]);
    let waiting = h.pane_json(&a);
    assert!(
        waiting["started"] == false && waiting["alive"] == false,
        "{waiting}"
    );
    let text = "after the restart";
    let out = h.ok(&["prompt", "--pane", &a, "--wait", "--timeout", "20", text]);
    assert!(out.contains(&format!("reply to: {text}")), "{out}");
    assert_eq!(h.pane_json(&a)["started"], true);
}

#[test]
fn wait_next_hooks_and_the_notify_command() {
    let h = Home::new();
    tiny_agent(&h);
    let out = h.dir.path().join("hook-out");
    let hook = h.dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nprintf '%s %s %s|' \"$1\" \"$QUIL_STATE\" \"$QUIL_PANE_ID\" >> {0}\ncat >> {0}.json\n",
            out.display()
        ),
    )
    .expect("hook");
    set_mode(&hook, 0o755);
    let hook = hook.display().to_string();
    std::fs::create_dir_all(h.path()).expect("home");
    std::fs::write(
        h.path().join("config.toml"),
        format!(
            "[notify]\nstates = [\"waiting\"]\ncommand = [\"{hook}\", \"notify\"]\n\n\
             [[hooks]]\non = \"state\"\nstate = \"done\"\npane_type = \"tiny-agent\"\nrun = [\"{hook}\", \"hook\"]\n"
        ),
    )
    .expect("config");
    let a = h.new_tab(&["--type", "tiny-agent"]);
    let b = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&a, "^ready ");
    h.wait_for(&b, "^ready ");
    let e = h.fails(&["wait", "--pane", &a, "--state", "error", "--timeout", "0.5"]);
    assert!(e.contains("timed out"), "{e}");
    let e = h.fails(&["wait", "--pane", &a, "--state", "busy"]);
    assert!(e.contains("unknown state \"busy\""), "{e}");

    // Both end a turn, a first, then b: a has been done longest.
    h.send_line(&a, "one");
    wait_state(&h, &a, "done");
    std::thread::sleep(Duration::from_millis(1100));
    h.send_line(&b, "one");
    wait_state(&h, &b, "done");
    assert_eq!(h.ok(&["next", "--state", "done"]).trim(), a);
    let e = h.fails(&["next"]);
    assert!(e.contains("no pane is waiting"), "{e}");
    // Each "done" ran the hook once, with the event on stdin.
    eventually("two hook runs", Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.matches("hook done").count() == 2)
    });
    let runs = std::fs::read_to_string(&out).unwrap();
    assert!(
        runs.contains(&format!("hook done {a}|")) && runs.contains(&format!("hook done {b}|")),
        "{runs}"
    );
    let json = std::fs::read_to_string(format!("{}.json", out.display())).unwrap();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("event JSON on stdin");
        assert_eq!(
            (v["type"].as_str(), v["state"].as_str()),
            (Some("state"), Some("done"))
        );
    }
    // Waiting for the user: the notify command runs once, with no client attached; typing the
    // answer leaves "waiting" at once.
    h.send_line(&a, "ask");
    wait_state(&h, &a, "waiting");
    eventually("the notify command", Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.contains(&format!("notify waiting {a}|")))
    });
    assert_eq!(h.ok(&["next"]).trim(), a);
    h.send_line(&a, "y");
    assert_eq!(h.pane_json(&a)["state"], "working", "answered");
    std::thread::sleep(Duration::from_millis(300));
    let runs = std::fs::read_to_string(&out).unwrap();
    assert_eq!(runs.matches("notify waiting").count(), 1, "{runs}");
}

/// A pane type that reports states from its screen alone (an error handler), whose program
/// exits after a second.
const SHORT_LIVED: &str = r#"
[plugin]
name = "short-lived"
category = "tools"

[command]
cmd = "sh"
args = ["-c", "sleep 1; exit 3"]

[[error_handlers]]
pattern = 'never-printed'
state = "error"
"#;

/// `wait --state` on a pane whose type reports no attention state (a plain shell: `state` is
/// null) fails at once, naming the pane, instead of running into its timeout; on a pane whose
/// type does, from the moment it is created, it waits, and fails when the program exits.
#[test]
fn wait_state_fails_at_once_on_a_pane_without_states() {
    let h = Home::new();
    std::fs::create_dir_all(h.path().join("plugins")).expect("plugins dir");
    std::fs::write(h.path().join("plugins/short-lived.toml"), SHORT_LIVED).expect("plugin");
    let sh = h.new_tab(&[]);
    h.wait_for(&sh, PROMPT);
    assert!(h.pane_json(&sh)["state"].is_null());
    let t0 = Instant::now();
    let e = h.fails(&["wait", "--pane", &sh, "--state", "idle", "--timeout", "20"]);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains(&format!("pane {sh} (terminal) reports no attention state")),
        "{e}"
    );

    // Asked right after it was created: the pane already has its state, so the wait runs
    // until the program exits.
    let p = h.new_tab(&["--type", "short-lived"]);
    let e = h.fails(&["wait", "--pane", &p, "--state", "done", "--timeout", "20"]);
    assert!(
        e.contains(&format!("pane {p} exited with status 3 before it was done")),
        "{e}"
    );
}

/// `quil events` follows the daemon across `quil restart`: a `reconnected` line, then the
/// new daemon's events; once no daemon comes back (`quil daemon stop`) it exits 1 with one
/// line.
#[test]
fn events_follow_the_daemon_across_a_restart() {
    let h = Home::new();
    let events = Events::start(&h, &[]);
    let before = h.new_tab(&["--", "sleep", "600"]);
    events.until("the first pane", |v| {
        v["type"] == "pane_created" && v["pane"] == before.as_str()
    });
    h.ok(&["restart"]);
    // What happens while the stream is away is not seen: wait until it is back.
    let seen = events.until("the stream back", |v| v["type"] == "reconnected");
    assert_eq!(
        seen.len(),
        1,
        "the first event after a restart says so: {seen:#?}"
    );
    let after = h.new_tab(&["--", "sleep", "600"]);
    events.until("the pane made after the restart", |v| {
        v["type"] == "pane_created" && v["pane"] == after.as_str()
    });
    let r = &seen[0];
    assert_eq!(r["reason"], "the quil daemon is shutting down", "{r}");
    assert!(r["down_ms"].as_u64().is_some_and(|ms| ms < 10_000), "{r}");
    assert!(r["time"].as_u64().is_some() && r["pane"].is_null(), "{r}");

    // The readable form says it too; and a daemon that stays gone ends the stream.
    let plain = h
        .cmd(&["events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quil events");
    // Subscribed once it prints an event (a stop during its handshake is another case: it is
    // told at once that the daemon is shutting down).
    let mut plain = plain;
    let lines = BufReader::new(plain.stdout.take().expect("stdout")).lines();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Renamed until it says so: a rename before it subscribed is not seen.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "`quil events` never printed an event"
        );
        h.ok(&["rename-tab", "1", "renamed"]);
        h.ok(&["rename-tab", "1", "again"]);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
    };
    assert!(
        first.contains("renamed") || first.contains("again"),
        "{first}"
    );
    h.ok(&["daemon", "stop"]);
    let stopped = Instant::now();
    let out = output_within(plain, 40);
    let waited = stopped.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(20)).contains(&waited),
        "{waited:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "quil: the quil daemon is shutting down, and no daemon came back within 10 s"
    );
    assert!(h.daemon_pid().is_none_or(|pid| !pid_alive(pid)));
}

#[test]
fn a_stalled_event_reader_loses_events_instead_of_slowing_the_daemon() {
    let h = Home::new();
    let p = h.new_tab(&["--", "sleep", "600"]);
    // A reader that never reads: its pipe, its socket and then its queue in the daemon fill.
    let mut stalled = h
        .cmd(&["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("quil events");
    std::thread::sleep(Duration::from_millis(300));
    // One connection, many requests: through the raw protocol, as fast as the daemon answers.
    let started = Instant::now();
    let mut c = raw::Client::connect(&h.socket());
    for i in 0..20_000 {
        c.rename(
            &p,
            &format!("a-rather-long-pane-name-to-fill-the-queue-{i}"),
        );
    }
    let ls = Instant::now();
    h.ok(&["ls"]);
    assert!(
        ls.elapsed() < Duration::from_secs(2),
        "ls took {:?} with a stalled reader",
        ls.elapsed()
    );
    eprintln!("20000 renames in {:?}", started.elapsed());
    // Now read: what fit is there, then a `lost` event before the next one.
    let mut out = stalled.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let mut text = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut nudged = 0;
    while !String::from_utf8_lossy(&text).contains("\"type\":\"lost\"") {
        assert!(Instant::now() < deadline, "no lost event");
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(chunk) => text.extend(chunk),
            Err(_) => {
                nudged += 1;
                h.ok(&["rename-pane", "--pane", &p, &format!("nudge-{nudged}")]);
            }
        }
    }
    let text = String::from_utf8_lossy(&text);
    let lost = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "lost")
        .expect("a lost line");
    assert!(lost["count"].as_u64().unwrap() > 0, "{lost}");
    let _ = stalled.kill();
    let _ = stalled.wait();
}

/// An attached TUI writes a desktop notification (OSC 9) when an agent in another tab starts
/// waiting, and none for the pane it shows.
#[test]
fn an_attached_tui_notifies_about_panes_it_does_not_show() {
    let h = Home::new();
    tiny_agent(&h);
    let shown = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&shown, "^ready ");
    let tui = Tui::attach(&h.path(), &h.user_home(), 100, 30);
    tui.wait_for("ready");
    let hidden = h.new_tab(&["--type", "tiny-agent"]);
    h.wait_for(&hidden, "^ready ");
    // `quil new-tab` from a script moves no client: the TUI still shows the first tab.
    h.send_line(&shown, "ask");
    wait_state(&h, &shown, "waiting");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !tui.output().contains("\x1b]9;"),
        "no notification for the pane on screen"
    );
    h.send_line(&hidden, "ask");
    wait_state(&h, &hidden, "waiting");
    tui.wait_for("\x1b]9;quil: tiny-agent is waiting for you: permission: Bash\x07");
    assert_eq!(h.ok(&["next"]).trim(), shown, "waited longest");
    // Answered where it is shown: the end of its turn is seen, so it is idle, not done.
    h.send_line(&shown, "y");
    wait_state(&h, &shown, "idle");
    // `quil next` takes the attached client to the other tab: that pane's turn is seen too.
    assert_eq!(h.ok(&["next"]).trim(), hidden);
    std::thread::sleep(Duration::from_millis(500));
    h.send_line(&hidden, "y");
    h.wait_for(&hidden, r"reply to: y \(turn 1\)");
    wait_state(&h, &hidden, "idle");
    // A program's own desktop notification passes through, titled by its pane; a client
    // inside tmux wraps it for tmux to pass on.
    let in_tmux = Tui::spawn(
        &h.path(),
        &h.user_home(),
        (100, 30),
        &[],
        &[("TMUX", "/tmp/tmux-1000/default,1,0")],
    );
    in_tmux.wait_for("ready");
    h.new_tab(&[
        "--",
        "sh",
        "-c",
        "sleep 0.5; printf '\\033]9;from a program\\007'; sleep 60",
    ]);
    tui.wait_for("\x1b]9;sh: from a program\x07");
    in_tmux.wait_for("\x1bPtmux;\x1b\x1b]9;sh: from a program\x07\x1b\\");
}

/// Just enough of the wire protocol to send many requests on one connection.
mod raw {
    use quil_proto::codec::{encode_frame, read_frame, MAX_FRAME};
    use quil_proto::{decode, ClientMsg, Hello, Request, ServerMsg};
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    pub struct Client {
        s: UnixStream,
        id: u32,
    }

    impl Client {
        pub fn connect(path: &std::path::Path) -> Client {
            let mut s = UnixStream::connect(path).expect("connect");
            s.write_all(&Hello::CURRENT.frame()).expect("hello");
            read_frame(&mut s, MAX_FRAME)
                .expect("hello reply")
                .expect("open");
            Client { s, id: 0 }
        }

        pub fn rename(&mut self, pane: &str, name: &str) {
            self.id += 1;
            let req = Request::RenamePane {
                pane: pane.parse().expect("pane id"),
                name: name.into(),
            };
            let mut buf = Vec::new();
            encode_frame(&ClientMsg::Request { id: self.id, req }, &mut buf).expect("encode");
            self.s.write_all(&buf).expect("send");
            loop {
                let body = read_frame(&mut self.s, MAX_FRAME)
                    .expect("read")
                    .expect("open");
                if let ServerMsg::Reply { id, result } = decode::<ServerMsg>(&body).expect("decode")
                {
                    if id == self.id {
                        result.expect("renamed");
                        return;
                    }
                }
            }
        }
    }
}
