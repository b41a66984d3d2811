//! The core issue, end to end: real daemon, real socket, real PTYs, real bash.

mod common;

use common::*;
use quil_proto::codec::{encode_frame, read_frame, MAX_FRAME};
use quil_proto::{decode, ClientMsg, Hello, HelloReply, Request, ServerMsg};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[test]
fn scripted_session_end_to_end() {
    let h = Home::new();
    let p1 = h.new_tab(&["--name", "work"]);
    assert!(p1.starts_with("pane-") && p1.len() == 13, "{p1}");
    h.wait_for(&p1, PROMPT);
    h.ok(&["send", "--pane", &p1, "--enter", "echo", "hi"]);
    h.wait_for(&p1, "^hi$");
    let screen = h.capture(&p1);
    assert!(screen.lines().any(|l| l == "hi"), "{screen}");

    let p2 = h.split(&p1, &["--horizontal"]);
    assert_ne!(p1, p2);
    let ls = h.ls();
    assert_eq!(ls["tabs"].as_array().map(Vec::len), Some(1));
    assert_eq!(ls["tabs"][0]["name"], "work");
    assert_eq!(ls["tabs"][0]["panes"], serde_json::json!([p1, p2]));
    assert_eq!(ls["tabs"][0]["active_pane"], p2);
    for id in [&p1, &p2] {
        let p = h.pane_json(id);
        assert_eq!(p["alive"], true);
        assert_eq!(p["type"], "terminal");
        // Exactly what the shell was started with: bash with quil's cwd-reporting rc file.
        let rcfile = h.path().join("shellinit/bashrc").display().to_string();
        assert_eq!(
            p["argv"],
            serde_json::json!(["/bin/bash", "--rcfile", rcfile])
        );
        let pid = p["pid"].as_i64().expect("pid") as i32;
        assert!(pid_alive(pid), "pid {pid} of {id} is not running");
        assert_eq!(p["tab_id"], ls["tabs"][0]["id"]);
        assert!(p["exit_status"].is_null());
    }
    // The split starts where the split pane is.
    assert_eq!(h.pane_json(&p2)["cwd"], h.pane_json(&p1)["cwd"]);
}

#[test]
fn command_panes_cwd_and_exit_status() {
    let h = Home::new();
    let dir = h.dir.path().join("a dir with spaces");
    std::fs::create_dir(&dir).unwrap();
    let p = h.new_tab(&[
        "--cwd",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "pwd; echo done; exit 3",
    ]);
    h.wait_for(&p, "^done$");
    assert!(h.capture(&p).contains("a dir with spaces"));
    // Failed commands stay, showing their status (the default `exited_panes = "failed"`).
    eventually("exit status 3", Duration::from_secs(10), || {
        h.pane_json(&p)["exit_status"] == 3
    });
    assert_eq!(h.pane_json(&p)["alive"], false);
    assert_eq!(
        h.pane_json(&p)["argv"],
        serde_json::json!(["sh", "-c", "pwd; echo done; exit 3"])
    );
    let err = h.fails(&["send", "--pane", &p, "x"]);
    assert!(err.contains(&p) && err.contains("exited"), "{err}");
}

#[test]
fn errors_name_the_thing_and_exit_nonzero() {
    let h = Home::new();
    let err = h.fails(&["capture", "--pane", "pane-0badc0de"]);
    assert_eq!(err.trim(), "quil: unknown pane pane-0badc0de");
    let err = h.fails(&["send", "--pane", "nonsense", "x"]);
    assert!(
        err.contains("\"nonsense\"") && err.lines().count() == 1,
        "{err}"
    );
    let err = h.fails(&["kill-tab", "nosuchtab"]);
    assert!(err.contains("unknown tab nosuchtab"), "{err}");
    let err = h.fails(&["new-tab", "--cwd", "/definitely/not/here"]);
    assert!(err.contains("/definitely/not/here"), "{err}");
    let err = h.fails(&["new-tab", "--", "/no/such/binary"]);
    assert!(err.contains("/no/such/binary"), "{err}");
    let err = h.fails(&["resize", "--pane", "pane-00000001", "big"]);
    assert!(err.contains("\"big\""), "{err}");
    let err = h.fails(&["wait", "--pane", "pane-00000001", "--text", "("]);
    assert!(err.contains("regex"), "{err}");
    // The daemon is still fine.
    h.new_tab(&[]);
}

#[test]
fn send_keys_capture_scrollback_and_resize() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    h.send_line(&p, "for i in $(seq 1 200); do echo line$i; done");
    h.wait_for(&p, "^line200$");
    let with_history = h.ok(&["capture", "--pane", &p, "--scrollback", "1000"]);
    let numbers: Vec<u32> = with_history
        .lines()
        .filter_map(|l| l.strip_prefix("line")?.parse().ok())
        .collect();
    assert_eq!(
        numbers,
        (1..=200).collect::<Vec<_>>(),
        "scrollback keeps every line in order"
    );
    assert_eq!(
        h.capture(&p).lines().count(),
        40,
        "default 120x40 with no client"
    );

    h.ok(&["send", "--pane", &p, "sleep 100"]);
    h.ok(&["send-keys", "--pane", &p, "Enter"]);
    // Ctrl+C only interrupts sleep once it runs in the foreground.
    let shell = h.pane_json(&p)["pid"].as_i64().unwrap() as i32;
    eventually("sleep to run", Duration::from_secs(10), || {
        child_named(shell, "sleep")
    });
    h.ok(&["send-keys", "--pane", &p, "C-c"]);
    // What is typed while the shell handles Ctrl+C may go with the line it cancels: type the
    // next line once its prompt is back.
    h.wait_for(&p, r"\^C\n.*[$#]$");
    h.send_line(&p, "echo after-interrupt");
    h.wait_for(&p, "^after-interrupt$");

    h.ok(&["resize", "--pane", &p, "50x10"]);
    h.send_line(&p, "stty size");
    h.wait_for(&p, "^10 50$");
    assert_eq!(h.capture(&p).lines().count(), 10);
    let pj = h.pane_json(&p);
    assert_eq!(
        (pj["cols"].as_u64(), pj["rows"].as_u64()),
        (Some(50), Some(10))
    );

    h.send_line(&p, "printf '\\033[31mred\\033[0m\\n'");
    h.wait_for(&p, "^red$");
    let ansi = h.ok(&["capture", "--pane", &p, "--ansi"]);
    assert!(ansi.contains("\x1b[0;31mred\x1b[0m"), "{ansi:?}");
}

#[test]
fn kill_pane_and_tab() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "one"]);
    let b = h.split(&a, &["--vertical"]);
    let c = h.new_tab(&["--name", "two"]);
    let pid_b = h.pane_json(&b)["pid"].as_i64().unwrap() as i32;
    h.ok(&["kill-pane", &b]);
    eventually(
        "killed pane's process to exit",
        Duration::from_secs(10),
        || !pid_alive(pid_b),
    );
    let ls = h.ls();
    assert_eq!(ls["tabs"][0]["panes"], serde_json::json!([a]));
    let pid_c = h.pane_json(&c)["pid"].as_i64().unwrap() as i32;
    h.ok(&["kill-tab", "two"]);
    eventually(
        "killed tab's process to exit",
        Duration::from_secs(10),
        || !pid_alive(pid_c),
    );
    assert_eq!(h.ls()["tabs"].as_array().map(Vec::len), Some(1));
    h.ok(&["kill-tab", "1"]);
    assert_eq!(h.ls()["tabs"], serde_json::json!([]));
}

#[test]
fn rename_select_and_zoom_like_tmux() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "one"]);
    let b = h.split(&a, &["--vertical"]);
    let other = h.new_tab(&["--name", "two"]);
    assert_eq!(h.ls()["active_tab"], 1);

    // select-tab switches by name, index or id, as kill-tab names tabs.
    h.ok(&["select-tab", "one"]);
    assert_eq!(h.ls()["active_tab"], 0);
    h.ok(&["select-tab", "2"]);
    assert_eq!(h.ls()["active_tab"], 1);
    let first_id = h.ls()["tabs"][0]["id"].as_str().unwrap().to_string();
    h.ok(&["select-tab", &first_id]);
    assert_eq!(h.ls()["active_tab"], 0);
    h.ok(&["select-tab", "two"]);
    assert!(h.fails(&["select-tab", "nosuchtab"]).contains("nosuchtab"));
    assert_eq!(
        h.ls()["active_tab"],
        1,
        "a failed select-tab changes nothing"
    );

    // select-pane focuses the pane and switches to its tab.
    h.ok(&["select-pane", "--pane", &a]);
    let ls = h.ls();
    assert_eq!(ls["active_tab"], 0);
    assert_eq!(ls["tabs"][0]["active_pane"], a.as_str());

    // zoom zooms the named pane (focusing it), and again unzooms.
    h.ok(&["zoom", "--pane", &b]);
    let ls = h.ls();
    assert_eq!(ls["tabs"][0]["zoomed"], true);
    assert_eq!(ls["tabs"][0]["active_pane"], b.as_str());
    assert!(h.ok(&["ls"]).contains("(zoomed)"));
    h.ok(&["zoom", "--pane", &b]);
    assert_eq!(h.ls()["tabs"][0]["zoomed"], false);
    assert_eq!(
        h.ls()["tabs"][1]["zoomed"],
        false,
        "{other}'s tab untouched"
    );

    // Names are trimmed; blank names and control characters are refused, naming the problem.
    h.ok(&["rename-tab", "one", "  build  "]);
    h.ok(&["rename-pane", "--pane", &a, "editor"]);
    let ls = h.ls();
    assert_eq!(ls["tabs"][0]["name"], "build");
    assert_eq!(h.pane_json(&a)["name"], "editor");
    assert!(h
        .fails(&["rename-tab", "build", " "])
        .contains("a tab name cannot be empty"));
    assert!(h
        .fails(&["rename-pane", "--pane", &a, "x\ny"])
        .contains("a pane name cannot contain control characters"));
    assert!(h
        .fails(&["new-tab", "--name", "x\ty"])
        .contains("a tab name cannot contain control characters"));
    // A pane name given when spawning (raw protocol; the TUI's forms) is checked the same way.
    let err = quil_client_for(&h)
        .request(Request::NewTab {
            name: None,
            spawn: quil_proto::SpawnSpec {
                name: Some("a\nb".into()),
                ..Default::default()
            },
        })
        .unwrap_err();
    assert!(
        err.message
            .contains("a pane name cannot contain control characters"),
        "{err}"
    );
    assert_eq!(
        h.ls()["panes"].as_array().map(Vec::len),
        Some(3),
        "no pane left behind"
    );
    assert!(h
        .fails(&["rename-tab", "nosuchtab", "x"])
        .contains("nosuchtab"));
    for cmd in ["select-pane", "zoom"] {
        let err = h.fails(&[cmd, "--pane", "pane-00000000"]);
        assert!(err.contains("unknown pane pane-00000000"), "{cmd}: {err}");
    }
}

#[test]
fn daemon_lifecycle_single_instance_and_stop() {
    let h = Home::new();
    // status neither starts the daemon nor succeeds without one.
    let out = h.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!exists(&h.socket()), "status must not start the daemon");
    assert_eq!(h.run(&["daemon", "stop"]).status.code(), Some(0));
    assert!(!exists(&h.socket()));

    assert!(h.ok(&["daemon", "start"]).contains("quild started"));
    let meta = std::fs::metadata(h.path()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(h.socket()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let status: serde_json::Value =
        serde_json::from_str(&h.ok(&["daemon", "status", "--json"])).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(
        status["clients"], 0,
        "status leaves its own connection out: {status}"
    );
    // The command that started the daemon waited until the workspace was whole.
    assert_eq!(
        (&status["restoring"], &status["adopting"]),
        (&serde_json::json!(0), &serde_json::json!(false)),
        "{status}"
    );
    let text = h.ok(&["daemon", "status"]);
    assert!(text.contains(", 0 clients attached,"), "{text}");
    let pid = status["pid"].as_i64().unwrap() as i32;
    assert_eq!(h.daemon_pid(), Some(pid));

    // A second daemon refuses, naming the running one.
    let second = std::process::Command::new(QUILD)
        .env("QUIL_HOME", h.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let msg = String::from_utf8_lossy(&second.stderr);
    assert!(
        msg.contains("already running") && msg.contains(&pid.to_string()),
        "{msg}"
    );

    let p = h.new_tab(&[]);
    let shell = h.pane_json(&p)["pid"].as_i64().unwrap() as i32;
    h.ok(&["daemon", "stop"]);
    assert!(!pid_alive(pid), "daemon still running after stop");
    eventually("pane process to be gone", Duration::from_secs(5), || {
        !pid_alive(shell)
    });
    assert!(!exists(&h.socket()) && h.daemon_pid().is_none());
    assert_eq!(h.run(&["daemon", "status"]).status.code(), Some(1));
}

#[test]
fn stale_socket_after_kill_9_is_reclaimed() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let pid = h.daemon_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually("daemon to die", Duration::from_secs(5), || !pid_alive(pid));
    assert!(exists(&h.socket()), "kill -9 leaves the socket behind");
    // Any subcommand starts a fresh daemon on the stale socket.
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    assert_ne!(h.daemon_pid(), Some(pid));
}

#[test]
fn nesting_guard_refuses_attach_inside_a_pane() {
    let h = Home::new();
    let out = h
        .cmd(&[])
        .env("QUIL_PANE_ID", "pane-12345678")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pane-12345678") && err.contains("--force"),
        "{err}"
    );
    // Scripting from inside a pane talks to the same daemon and defaults --pane to it.
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    let quil = QUIL;
    h.send_line(&p, &format!("{quil} send --enter 'echo nested-'ok"));
    h.wait_for(&p, "^nested-ok$");
}

fn raw_connect(h: &Home) -> UnixStream {
    let mut s = UnixStream::connect(h.socket()).unwrap();
    s.write_all(&Hello::CURRENT.frame()).unwrap();
    let body = read_frame(&mut s, MAX_FRAME).unwrap().unwrap();
    assert!(matches!(
        HelloReply::decode(&body).unwrap(),
        HelloReply::Accepted { .. }
    ));
    s
}

#[test]
fn garbage_and_oversized_frames_close_only_that_connection() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    // Not a handshake at all.
    let mut s = UnixStream::connect(h.socket()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // A well-framed hello with the wrong magic.
    let mut s2 = UnixStream::connect(h.socket()).unwrap();
    s2.write_all(&[6, 0, 0, 0, b'H', b'E', b'L', b'L', b'O', b'!'])
        .unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(read_frame(&mut s2, MAX_FRAME), Ok(None) | Err(_)));
    // A huge length prefix, after a valid handshake.
    let mut s = raw_connect(&h);
    s.write_all(&u32::MAX.to_le_bytes()).unwrap();
    // The daemon may already have closed the connection on reading the length.
    let _ = s.write_all(&[0u8; 64]);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(
        matches!(read_frame(&mut s, MAX_FRAME), Ok(None) | Err(_)),
        "connection must be closed"
    );
    // A well-sized frame of garbage.
    let mut s = raw_connect(&h);
    s.write_all(&8u32.to_le_bytes()).unwrap();
    s.write_all(&[0xff; 8]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(read_frame(&mut s, MAX_FRAME), Ok(None) | Err(_)));
    // The daemon and its pane are unharmed.
    h.send_line(&p, "echo still-alive");
    h.wait_for(&p, "^still-alive$");
    let log = h.log();
    assert!(log.contains("exceeds the 16777216-byte limit"), "{log}");
    assert!(log.contains("bad handshake"), "{log}");
}

#[test]
fn other_protocol_version_gets_a_one_line_reason() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let mut s = UnixStream::connect(h.socket()).unwrap();
    s.write_all(&Hello { version: 999 }.frame()).unwrap();
    let body = read_frame(&mut s, MAX_FRAME).unwrap().unwrap();
    match HelloReply::decode(&body).unwrap() {
        HelloReply::Refused { reason, .. } => {
            assert!(
                reason.contains("v999")
                    && reason.contains(&format!("v{}", quil_proto::PROTOCOL_VERSION))
                    && !reason.contains('\n'),
                "{reason}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A notification (what the TUI sends keystrokes as) gets no reply when it works, and the usual
/// one-line error reply, with its id, when it does not.
#[test]
fn notifications_reply_only_on_failure() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    let mut s = raw_connect(&h);
    let pane: quil_proto::PaneId = p.parse().unwrap();
    let mut buf = Vec::new();
    attach_and_view(&mut buf, pane);
    for (id, pane, data) in [
        (10, pane, b"echo notif$((40+2))\r".to_vec()),
        (11, "pane-0badc0de".parse().unwrap(), b"x".to_vec()),
    ] {
        encode_frame(
            &ClientMsg::Notify {
                id,
                req: Request::Input { pane, data },
            },
            &mut buf,
        )
        .unwrap();
    }
    s.write_all(&buf).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut echoed, mut refused, mut replies) = (false, None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(echoed && refused.is_some()) && Instant::now() < deadline {
        let body = read_frame(&mut s, MAX_FRAME)
            .unwrap()
            .expect("daemon closed");
        match decode::<ServerMsg>(&body).unwrap() {
            ServerMsg::PaneUpdate(u) => {
                echoed |= u.lines.iter().any(|(_, l)| l.text() == "notif42");
            }
            ServerMsg::Reply { id: 11, result } => refused = Some(result),
            ServerMsg::Reply { id, .. } => replies.push(id),
            _ => {}
        }
    }
    assert!(echoed, "the notified keystrokes reached the pane");
    let err = refused
        .expect("a failed notification is answered")
        .unwrap_err();
    assert!(err.message.contains("pane-0badc0de"), "{err}");
    assert_eq!(err.kind, quil_proto::ErrorKind::NotFound);
    assert_eq!(replies, [1, 2], "only Attach and View are answered");
}

/// A client that attaches and then never reads must not slow the daemon, the pane or others.
#[test]
fn stalled_client_does_not_block_anyone() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    let mut stalled = raw_connect(&h);
    let mut buf = Vec::new();
    let pane = p.parse().unwrap();
    attach_and_view(&mut buf, pane);
    stalled.write_all(&buf).unwrap();
    // Lots of changing output while the stalled client's socket buffer fills.
    h.send_line(
        &p,
        "for i in $(seq 1 300000); do echo row$i; done; echo fin-ished",
    );
    let started = Instant::now();
    h.wait_for(&p, "^fin-ished$");
    // Meanwhile other requests were served promptly.
    let t = Instant::now();
    h.ok(&["ls"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ls took {:?}",
        t.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    drop(stalled);
}

/// A flood of plain and coloured lines (the emulator's fast path) keeps every line, in order,
/// with its colours, in the scrollback and on the screen.
#[test]
fn flood_of_lines_keeps_every_line_and_colour() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    h.send_line(&p, "for i in $(seq 1 30000); do if [ $((i % 7)) = 0 ]; then printf '\\033[31mred%s\\033[0m caf\\303\\251\\n' $i; else echo plain$i; fi; done; echo flood-done");
    h.wait_for(&p, "^flood-done$");
    let text = h.ok(&["capture", "--pane", &p, "--scrollback", "40000"]);
    let numbers: Vec<u32> = text
        .lines()
        .filter_map(|l| {
            let n = l.strip_prefix("plain").or_else(|| l.strip_prefix("red"))?;
            n.split(' ').next()?.parse().ok()
        })
        .collect();
    assert_eq!(
        numbers,
        (1..=30000).collect::<Vec<_>>(),
        "every line, in order"
    );
    assert!(text.contains("red29995 café"), "multi-byte text survives");
    let ansi = h.ok(&["capture", "--pane", &p, "--scrollback", "40000", "--ansi"]);
    let red = ansi
        .lines()
        .find(|l| l.contains("red7\x1b"))
        .expect("line 7 in the scrollback");
    assert!(
        red.contains("31m") || red.contains(";31"),
        "colour kept: {red:?}"
    );
}

/// Updates are coalesced: a pane printing as fast as it can costs a client ~1 frame / 16 ms.
#[test]
fn output_reaches_clients_as_coalesced_screen_updates() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    let mut s = raw_connect(&h);
    let pane = p.parse().unwrap();
    let mut buf = Vec::new();
    attach_and_view(&mut buf, pane);
    s.write_all(&buf).unwrap();
    h.send_line(&p, "seq 1 2000000 > /dev/null; seq 1 400000; echo big-done");
    let start = Instant::now();
    let mut updates = 0u32;
    let mut full_first = None;
    let mut done = false;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    while start.elapsed() < Duration::from_secs(90) && !done {
        let body = read_frame(&mut s, MAX_FRAME)
            .unwrap()
            .expect("daemon closed");
        if let ServerMsg::PaneUpdate(u) = decode::<ServerMsg>(&body).unwrap() {
            if full_first.is_none() {
                full_first = Some(u.full);
            }
            updates += 1;
            done = u.lines.iter().any(|(_, l)| l.text() == "big-done");
        }
    }
    let elapsed = start.elapsed();
    assert!(done, "never saw the end marker");
    assert_eq!(
        full_first,
        Some(true),
        "the first update after View is a full snapshot"
    );
    // At most one update per 16 ms frame (plus slack for the first), however much was printed.
    let max = (elapsed.as_millis() / 16) as u32 + 3;
    assert!(
        updates <= max,
        "{updates} updates in {elapsed:?} (max {max})"
    );
    assert!(updates >= 2, "expected incremental updates, got {updates}");
}

#[test]
fn input_order_is_preserved_under_load() {
    let h = Home::new();
    let out = h.dir.path().join("typed.txt");
    let p = h.new_tab(&[
        "--",
        "sh",
        "-c",
        &format!("stty -echo; cat > '{}'", out.display()),
    ]);
    eventually("cat to start", Duration::from_secs(10), || {
        h.pane_json(&p)["alive"] == true
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut c = quil_client_for(&h);
    let pane = p.parse().unwrap();
    let mut expected = String::new();
    for i in 0..2000 {
        let chunk = format!("{i}\n");
        expected.push_str(&chunk);
        c.request(Request::Input {
            pane,
            data: chunk.into_bytes(),
        })
        .expect("input accepted");
    }
    c.request(Request::Input {
        pane,
        data: vec![4],
    })
    .unwrap(); // EOF
    eventually("cat to write everything", Duration::from_secs(20), || {
        std::fs::read_to_string(&out)
            .map(|s| s == expected)
            .unwrap_or(false)
    });
}

/// Input to a program that is not reading yet fills the tty, then queues; when it reads, every
/// byte arrives in order (input goes straight to the PTY only while nothing is queued).
#[test]
fn input_to_a_busy_program_keeps_its_order() {
    let h = Home::new();
    let out = h.dir.path().join("typed.bin");
    let total = 64 * 1000;
    let p = h.new_tab(&[
        "--",
        "sh",
        "-c",
        &format!(
            "stty raw -echo; sleep 2; head -c {total} > '{}'",
            out.display()
        ),
    ]);
    eventually("sh to start", Duration::from_secs(10), || {
        h.pane_json(&p)["alive"] == true
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut c = quil_client_for(&h);
    let pane = p.parse().unwrap();
    let mut expected = Vec::new();
    for i in 0..64u32 {
        // Mixed sizes: keystroke-sized pieces and bigger ones, each recognisable.
        let piece = format!("<{i:02}{}>", ".".repeat(if i % 4 == 0 { 1 } else { 989 }));
        let mut piece = piece.into_bytes();
        piece.resize(1000, b'-');
        expected.extend_from_slice(&piece);
        c.request(Request::Input { pane, data: piece })
            .expect("input accepted");
    }
    eventually("head to write everything", Duration::from_secs(20), || {
        std::fs::read(&out).is_ok_and(|b| b.len() == total)
    });
    assert!(
        std::fs::read(&out).unwrap() == expected,
        "bytes arrived out of order"
    );
}

#[test]
fn pane_that_stops_reading_input_is_flagged_and_blocks_nobody() {
    let h = Home::new();
    // Raw mode, so the tty buffers input until full and then blocks the writer.
    let stuck = h.new_tab(&["--", "sh", "-c", "stty raw -echo; sleep 600"]);
    let other = h.new_tab(&[]);
    h.wait_for(&other, PROMPT);
    std::thread::sleep(Duration::from_millis(500));
    let mut c = quil_client_for(&h);
    let pane = stuck.parse().unwrap();
    // The tty's input buffer fills, then the pane's writer blocks: the pane says so.
    let mut refused = None;
    for _ in 0..200 {
        if let Err(e) = c.request(Request::Input {
            pane,
            data: vec![b'x'; 16 * 1024],
        }) {
            refused = Some(e.to_string());
            break;
        }
    }
    eventually("input_blocked", Duration::from_secs(10), || {
        h.pane_json(&stuck)["input_blocked"] == true
    });
    let refused = refused.expect("a full input queue refuses input");
    assert!(
        refused.contains(&stuck) && refused.contains("not accepting input"),
        "{refused}"
    );
    // Other panes and the daemon carry on.
    h.send_line(&other, "echo unaffected");
    h.wait_for(&other, "^unaffected$");
    assert_eq!(h.pane_json(&other)["input_blocked"], false);
}

/// The daemon's context switches so far, every thread's (the kernel's counters).
fn context_switches(pid: i32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("daemon tasks");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// With nothing happening the daemon does not wake at all (it used to tick four times a
/// second), and output after such a quiet spell still gets the periodic checks: here a
/// synchronized update the program never closes, shown once it times out, with no request
/// arriving meanwhile to wake the daemon.
#[test]
fn an_idle_daemon_does_not_wake_and_output_wakes_it() {
    let h = Home::new();
    let fifo = h.dir.path().join("go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let script = format!(
        "echo ready; read x < '{}'; printf '\\033[?2026hSYNC%sED\\n'; exec sleep 600",
        fifo.display()
    );
    let p = h.new_tab(&["--", "sh", "-c", &script]);
    h.wait_for(&p, "^ready$");
    let pid = h.daemon_pid().expect("daemon pid");
    // Past the housekeeping's linger (2 s of quiet), then two seconds of nothing.
    std::thread::sleep(Duration::from_secs(3));
    let before = context_switches(pid);
    std::thread::sleep(Duration::from_secs(2));
    let woke = context_switches(pid) - before;
    assert!(woke <= 2, "the idle daemon woke {woke} times in 2 s");

    std::fs::write(&fifo, "go\n").expect("write the fifo");
    std::thread::sleep(Duration::from_millis(1500));
    let screen = h.capture(&p);
    assert!(
        screen.lines().any(|l| l == "SYNCED"),
        "the timed-out update is shown:\n{screen}"
    );
}

/// Frames that attach a raw client and make it view `pane`.
fn attach_and_view(buf: &mut Vec<u8>, pane: quil_proto::PaneId) {
    encode_frame(
        &ClientMsg::Request {
            id: 1,
            req: Request::Attach,
        },
        buf,
    )
    .unwrap();
    encode_frame(
        &ClientMsg::Request {
            id: 2,
            req: Request::View { panes: vec![pane] },
        },
        buf,
    )
    .unwrap();
}

fn quil_client_for(h: &Home) -> ClientLite {
    ClientLite {
        s: raw_connect(h),
        id: 0,
    }
}

/// A minimal request/reply client over the raw socket.
struct ClientLite {
    s: UnixStream,
    id: u32,
}

impl ClientLite {
    fn request(&mut self, req: Request) -> Result<quil_proto::Reply, quil_proto::ErrorReply> {
        self.id += 1;
        let mut buf = Vec::new();
        encode_frame(&ClientMsg::Request { id: self.id, req }, &mut buf).unwrap();
        self.s.write_all(&buf).unwrap();
        loop {
            let body = read_frame(&mut self.s, MAX_FRAME)
                .unwrap()
                .expect("daemon closed");
            if let ServerMsg::Reply { id, result } = decode::<ServerMsg>(&body).unwrap() {
                if id == self.id {
                    return result;
                }
            }
        }
    }
}

/// A client still saying hello when the daemon stops is told so at once, instead of losing an
/// unanswered connection when the daemon exits (which a following client takes for a crash).
#[test]
fn a_client_in_its_handshake_during_a_stop_is_told_the_daemon_is_stopping() {
    let h = Home::new();
    h.ok(&["ls"]);
    let mut s = UnixStream::connect(h.socket()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let t = Instant::now();
    h.ok(&["daemon", "stop"]);
    let body = read_frame(&mut s, MAX_FRAME).expect("reply").expect("open");
    match HelloReply::decode(&body).expect("decode") {
        HelloReply::Refused { reason, .. } => {
            assert_eq!(reason, "the quil daemon is shutting down")
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(!h.log().contains("had not closed"), "{}", h.log());
}
