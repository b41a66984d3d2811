//! Everything a pane or a client controls is bounded, tried with real processes: a 20 MB window
//! title, a client that stops reading during an OSC 52 flood, a layout 100 splits deep across a
//! restart, and names of 100 kB.

mod common;

use common::*;
use quil_proto::codec::{encode_frame, read_frame, MAX_FRAME};
use quil_proto::{ClientMsg, Hello, HelloReply, Request};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// JSON of any depth (a deep layout is deeper than serde_json's default limit).
fn parse_deep(text: &str) -> serde_json::Value {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    serde_json::Value::deserialize(&mut de).expect("JSON")
}

fn ls_deep(h: &Home) -> serde_json::Value {
    parse_deep(&h.ok(&["ls", "--json"]))
}

/// The daemon's resident set, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_20_mb_title_is_capped_and_everyone_keeps_working() {
    let h = Home::new();
    let p = h.new_tab(&[
        "--",
        "bash",
        "-c",
        "{ printf '\\033]2;'; head -c 20000000 /dev/zero | tr '\\0' t; printf '\\007'; } ; echo title-sent; exec sleep 600",
    ]);
    h.wait_for(&p, "^title-sent$");
    let t = Instant::now();
    let pane = h.pane_json(&p);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ls took {:?}",
        t.elapsed()
    );
    let title = pane["title"].as_str().expect("title");
    assert_eq!(title.len(), 1024, "capped at quil_term::MAX_TITLE");
    assert!(title.bytes().all(|b| b == b't'));
    // A second pane and an attach-style stream are unaffected.
    let q = h.new_tab(&[]);
    h.wait_for(&q, PROMPT);
    let mut s = raw_attach(&h, &p);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got_workspace = false;
    for _ in 0..20 {
        let body = read_frame(&mut s, MAX_FRAME)
            .expect("a frame")
            .expect("open");
        if let Ok(quil_proto::ServerMsg::Workspace(_)) = quil_proto::decode(&body) {
            got_workspace = true;
            break;
        }
    }
    assert!(got_workspace, "an attached client gets the workspace");
}

fn raw_attach(h: &Home, pane: &str) -> UnixStream {
    let mut s = UnixStream::connect(h.socket()).expect("connect");
    s.write_all(&Hello::CURRENT.frame()).expect("hello");
    let body = read_frame(&mut s, MAX_FRAME).expect("reply").expect("open");
    assert!(matches!(
        HelloReply::decode(&body).expect("decode"),
        HelloReply::Accepted { .. }
    ));
    let mut buf = Vec::new();
    for (id, req) in [
        (1, Request::Attach),
        (
            2,
            Request::View {
                panes: vec![pane.parse().expect("pane id")],
            },
        ),
    ] {
        encode_frame(&ClientMsg::Request { id, req }, &mut buf).expect("encode");
    }
    s.write_all(&buf).expect("attach");
    s
}

#[test]
fn a_stalled_client_under_an_osc52_flood_keeps_the_daemon_small() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    let pid = h.daemon_pid().expect("pid");
    // A client that attaches and then never reads again.
    let stalled = raw_attach(&h, &p);
    // And one that keeps asking for captures without reading the replies.
    let mut greedy = raw_attach(&h, &p);
    let mut reqs = Vec::new();
    for id in 10..310 {
        encode_frame(
            &ClientMsg::Request {
                id,
                req: Request::Capture {
                    pane: p.parse().expect("pane id"),
                    scrollback: 100_000,
                    ansi: true,
                    without_chrome: false,
                },
            },
            &mut reqs,
        )
        .expect("encode");
    }
    greedy
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    // Fill the pane's history so each capture reply is large.
    h.send_line(
        &p,
        "for i in $(seq 1 20000); do echo history-line-$i-..........................................; done; echo hist-done",
    );
    h.wait_for(&p, "^hist-done$");
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);
    // The daemon stops reading these once it is behind: the write may not finish.
    let _ = greedy.write_all(&reqs);
    // About 1 MB clipboard stores, as fast as bash can print them, for 10 s.
    h.send_line(
        &p,
        "p=$(head -c 750000 /dev/zero | base64 -w0); end=$((SECONDS+10)); while [ $SECONDS -lt $end ]; do printf '\\033]52;c;%s\\007' \"$p\"; done; echo flood-over",
    );
    let mut peak = before;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(12) {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    h.wait_for(&p, "^flood-over$");
    peak = peak.max(rss_kib(pid));
    // Others are served promptly meanwhile.
    let t = Instant::now();
    h.ok(&["ls"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ls took {:?}",
        t.elapsed()
    );
    let grew = peak.saturating_sub(before) / 1024;
    eprintln!(
        "daemon RSS {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        grew < 50,
        "the daemon grew by {grew} MiB for clients that do not read"
    );
    drop(stalled);
    drop(greedy);
}

#[test]
fn a_layout_100_splits_deep_survives_a_restart_exactly() {
    let h = Home::new();
    let first = h.new_tab(&["--", "sleep", "600"]);
    let mut newest = first.clone();
    for i in 0..100 {
        let dir = if i % 2 == 0 {
            "--horizontal"
        } else {
            "--vertical"
        };
        newest = h.split(&newest, &[dir, "--", "sleep", "600"]);
    }
    let before = ls_deep(&h);
    assert_eq!(before["panes"].as_array().expect("panes").len(), 101);
    // Wait for the saver (within 250 ms of a change), then stop and start again.
    std::thread::sleep(Duration::from_millis(800));
    h.ok(&["daemon", "stop"]);
    let saved = parse_deep(
        &std::fs::read_to_string(h.path().join("workspace.json")).expect("workspace.json"),
    );
    assert_eq!(saved["tabs"][0]["layout"], before["tabs"][0]["layout"]);
    let after = ls_deep(&h);
    assert_eq!(after["tabs"][0]["layout"], before["tabs"][0]["layout"]);
    assert_eq!(pane_ids(&after), pane_ids(&before));
    assert!(
        !h.log().contains("restoring from workspace.json.bak")
            && !h.log().contains("starting with an empty workspace"),
        "{}",
        h.log()
    );
}

#[test]
fn huge_names_are_refused_with_a_clear_error() {
    let h = Home::new();
    let p = h.new_tab(&["--name", &"n".repeat(256)]);
    let huge = "x".repeat(100_000);
    for args in [
        vec!["new-tab", "--name", huge.as_str()],
        vec!["rename-tab", "1", huge.as_str()],
        vec!["rename-pane", "--pane", p.as_str(), huge.as_str()],
    ] {
        let err = h.fails(&args);
        assert!(
            err.contains("100000 bytes, over the 256-byte limit") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    let ls = h.ls();
    assert_eq!(ls["tabs"].as_array().expect("tabs").len(), 1);
    assert_eq!(ls["tabs"][0]["name"].as_str().expect("name").len(), 256);
}
