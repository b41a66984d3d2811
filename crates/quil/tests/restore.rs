//! Restart-proof workspaces: snapshots, scrollback, live cwd, restores after a clean stop and
//! after `kill -9`, corrupt snapshots, commands that cannot start again, `quil restart`.

mod common;

use common::*;
use std::time::Duration;

/// Kills the daemon with SIGKILL and waits for it to be gone; returns when the signal was
/// sent, in seconds since the epoch.
fn kill_9(h: &Home) -> f64 {
    let pid = h.daemon_pid().expect("daemon pid");
    let at = unix_now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually("the daemon to die", Duration::from_secs(5), || {
        !pid_alive(pid)
    });
    at
}

/// A reboot, as far as quil can tell: the daemon is killed and so are the pane holders, so every
/// pane's process loses its terminal and ends; the next daemon starts them again (resume).
fn reboot(h: &Home) -> f64 {
    let at = kill_9(h);
    h.kill_holders();
    at
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A pane that prints the time (seconds since the epoch) every 10 ms, and notes each time it
/// printed in `log`, with its pid: what it printed, whether or not the daemon kept it.
fn clock(h: &Home, log: &std::path::Path) -> String {
    let script = format!(
        "while :; do t=\"${{EPOCHREALTIME/,/.}}\"; echo \"$t $$\" >> '{}'; echo \"$t\"; sleep 0.01; done",
        log.display()
    );
    h.new_tab(&["--", "bash", "-c", &script])
}

/// How old, at `killed`, the oldest output lost to the kill was: the first time the clock
/// printed after the last one the restore brought back (0 when nothing printed was lost). The
/// clock's own pace (slow on a loaded machine) is not counted as loss.
fn lost_output(h: &Home, clock: &str, log: &std::path::Path, killed: f64) -> f64 {
    let last = last_tick_restored(h, clock);
    let printed: Vec<f64> = ticks(log).into_iter().map(|(t, _, _)| t).collect();
    assert!(
        printed.iter().any(|t| (t - last).abs() < 1e-6),
        "the restored tick {last} was printed"
    );
    printed
        .iter()
        .filter(|&&t| t > last + 1e-6 && t <= killed)
        .map(|t| killed - t)
        .fold(0.0, f64::max)
}

const RESTORED: &str = "--- restored after a daemon restart ---";

/// The last time a clock pane printed before its latest restore, as the restore brought it
/// back; waits for the restore to show. Also checks that the restored times are in order.
fn last_tick_restored(h: &Home, clock: &str) -> f64 {
    let mut found = None;
    eventually("the clock pane restored", Duration::from_secs(30), || {
        let all = h.ok(&["capture", "--pane", clock, "--scrollback", "5000"]);
        let lines: Vec<&str> = all.lines().collect();
        let Some(marker) = lines.iter().rposition(|l| l.contains(RESTORED)) else {
            return false;
        };
        let ticks: Vec<f64> = lines[..marker]
            .iter()
            .rev()
            .take_while(|l| !l.contains(RESTORED))
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .collect();
        assert!(
            ticks.windows(2).all(|w| w[0] >= w[1]),
            "restored ticks in order: {ticks:?}"
        );
        found = ticks.first().copied();
        found.is_some()
    });
    found.expect("a tick")
}

/// Issue 19: what a pane printed is on disk continuously, not every few seconds.
#[test]
fn kill_9_loses_at_most_the_last_quarter_second_of_output() {
    let h = Home::new();
    let log = h.dir.path().join("printed");
    let clock = clock(&h, &log);
    saved(&h, &clock);
    // Long enough that a snapshot every few seconds would have lost far more.
    std::thread::sleep(Duration::from_millis(2300));
    let killed = reboot(&h);
    h.ok(&["daemon", "start"]);
    let lost = lost_output(&h, &clock, &log, killed);
    eprintln!("lost the last {:.0} ms of output", lost * 1000.0);
    assert!(lost <= 0.25, "lost {lost:.3} s of output");
}

/// Waits until the snapshot on disk mentions `needle` (saves are debounced).
fn saved(h: &Home, needle: &str) {
    let path = h.path().join("workspace.json");
    eventually(
        &format!("workspace.json to mention {needle:?}"),
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&path)
                .map(|s| s.contains(needle))
                .unwrap_or(false)
        },
    );
}

/// The scenario: two tabs, a split, names, a cwd with a space, some output; kill -9;
/// everything comes back.
#[test]
fn workspace_survives_kill_9() {
    let h = Home::eager_restore();
    let spaced = h.dir.path().join("my project");
    std::fs::create_dir(&spaced).unwrap();
    let a = h.new_tab(&["--name", "editor"]);
    h.wait_for(&a, PROMPT);
    h.send_line(
        &a,
        &format!("cd '{}' && echo marker-before-crash", spaced.display()),
    );
    h.wait_for(&a, "^marker-before-crash$");
    // The shell reports its cwd (OSC 7): splits start there.
    eventually("live cwd", Duration::from_secs(10), || {
        h.pane_json(&a)["cwd"] == spaced.to_str().unwrap()
    });
    let b = h.split(&a, &["--vertical"]);
    assert_eq!(h.pane_json(&b)["cwd"], spaced.to_str().unwrap());
    let c = h.new_tab(&["--name", "logs"]);
    h.wait_for(&c, PROMPT);
    h.send_line(&c, "seq 1 300");
    h.wait_for(&c, "^300$");
    let before = h.ls();
    saved(&h, &c);
    saved(&h, "my project");
    // Output reaches the pane's journal within a fraction of a second, with no save. (The
    // line `300` as seq prints it: the echoed command `seq 1 300` must not count.)
    eventually("pane c's output on disk", Duration::from_secs(5), || {
        pane_files(&h, &c).iter().any(|f| {
            std::fs::read(f)
                .map(|b| b.windows(6).any(|w| &w[1..] == b"300\r\n" && w[0] != b' '))
                .unwrap_or(false)
        })
    });
    eventually(
        "pane a's scrollback on disk",
        Duration::from_secs(15),
        || pane_files(&h, &a).iter().any(|f| f.exists()),
    );

    reboot(&h);
    h.ok(&["daemon", "start"]); // returns once the new daemon has restored
    let after = h.ls();
    assert_eq!(pane_ids(&after), pane_ids(&before), "same pane ids");
    for key in ["name", "id", "panes", "active_pane", "layout"] {
        for i in 0..2 {
            assert_eq!(
                after["tabs"][i][key], before["tabs"][i][key],
                "tab {i} {key}"
            );
        }
    }
    assert_eq!(after["active_tab"], before["active_tab"]);
    for id in [&a, &b] {
        let p = h.pane_json(id);
        assert_eq!(p["cwd"], spaced.to_str().unwrap(), "{id} cwd");
        assert_eq!(p["alive"], true);
        assert_eq!(p["restored"], true);
    }
    // The earlier output is visible, marked as restored, with a live shell below it.
    h.wait_for(&a, "^marker-before-crash$");
    h.wait_for(&a, "^--- restored after a daemon restart ---$");
    let history = h.ok(&["capture", "--pane", &c, "--scrollback", "1000"]);
    assert!(
        history.lines().any(|l| l == "1") && history.lines().any(|l| l == "300"),
        "{history}"
    );
    // Live shells in the right directories.
    h.send_line(&b, "pwd");
    h.wait_for(&b, &format!("^{}$", regex_escape(spaced.to_str().unwrap())));
    h.send_line(&a, "echo alive-after-restore");
    h.wait_for(&a, "^alive-after-restore$");
}

#[test]
fn clean_stop_saves_a_final_snapshot_and_restores_on_start() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "one"]);
    h.wait_for(&a, PROMPT);
    h.send_line(&a, "echo said-just-before-stop");
    h.wait_for(&a, "^said-just-before-stop$");
    // Stop at once: the final snapshot must hold the latest output, not a periodic one.
    h.ok(&["daemon", "stop"]);
    let json = std::fs::read_to_string(h.path().join("workspace.json")).unwrap();
    let snap: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(snap["version"], 1);
    assert_eq!(snap["tabs"][0]["name"], "one");
    assert_eq!(snap["panes"][0]["id"], a);
    assert_eq!(snap["panes"][0]["type"], "terminal");
    h.ok(&["daemon", "start"]);
    h.wait_for(&a, "^said-just-before-stop$");
    assert_eq!(h.pane_json(&a)["restored"], true);
}

#[test]
fn corrupt_snapshot_restores_from_backup() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "first"]);
    saved(&h, &a);
    let b = h.new_tab(&["--name", "second"]);
    saved(&h, &b);
    h.ok(&["daemon", "stop"]);
    assert!(h.path().join("workspace.json.bak").exists());
    std::fs::write(
        h.path().join("workspace.json"),
        "{\"version\": 1, \"tabs\": [{",
    )
    .unwrap();
    let ls = h.ls();
    let ids = pane_ids(&ls);
    assert!(ids.contains(&a), "{ls}");
    let log = h.log();
    assert!(
        log.contains("corrupt") && log.contains("workspace.json.bak"),
        "{log}"
    );
}

#[test]
fn future_snapshot_version_is_refused_not_overwritten() {
    let h = Home::new();
    std::fs::create_dir_all(h.path()).unwrap();
    let future = "{\"version\": 42, \"tabs\": []}";
    std::fs::write(h.path().join("workspace.json"), future).unwrap();
    let err = h.fails(&["ls"]);
    assert!(
        err.contains("version 42") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(h.path().join("workspace.json")).unwrap(),
        future
    );
}

#[test]
fn pane_that_cannot_start_again_shows_why_and_can_be_retried() {
    let h = Home::new();
    let gone = h.dir.path().join("soon gone");
    std::fs::create_dir(&gone).unwrap();
    let p = h.new_tab(&["--cwd", gone.to_str().unwrap()]);
    h.wait_for(&p, PROMPT);
    let keep = h.new_tab(&[]);
    saved(&h, &keep);
    h.ok(&["daemon", "stop"]);
    std::fs::remove_dir(&gone).unwrap();
    let ls = h.ls();
    assert_eq!(pane_ids(&ls).len(), 2, "the failed pane is not dropped");
    // In a tab no client shows, it waits to start (lazy restore); started, it says why not.
    assert_eq!(h.pane_json(&p)["started"], false);
    h.ok(&["start", "--pane", &p]);
    let pj = h.pane_json(&p);
    assert_eq!(pj["started"], true);
    assert_eq!(pj["alive"], false);
    let why = pj["error"].as_str().expect("an error");
    assert!(
        why.contains("soon gone") && why.contains("does not exist"),
        "{why}"
    );
    h.wait_for(&p, "cannot start");
    h.wait_for(&p, &format!("quil respawn --pane {p}"));
    let err = h.fails(&["send", "--pane", &p, "x"]);
    assert!(err.contains("respawn"), "{err}");
    // Retry once the directory is back.
    std::fs::create_dir(&gone).unwrap();
    h.ok(&["respawn", "--pane", &p]);
    h.send_line(&p, "echo retried");
    h.wait_for(&p, "^retried$");
    assert!(h.pane_json(&p)["error"].is_null());
}

#[test]
fn removed_panes_lose_their_buffers_and_commands_rerun() {
    let h = Home::new();
    let a = h.new_tab(&[]);
    let cmd = h.new_tab(&["--", "sh", "-c", "echo ran-$$; exec sleep 600"]);
    h.wait_for(&cmd, "^ran-");
    h.ok(&["daemon", "stop"]);
    assert!(pane_files(&h, &a).iter().any(|f| f.exists()));
    h.ok(&["daemon", "start"]);
    // A command pane reruns its command.
    assert_eq!(
        h.pane_json(&cmd)["argv"],
        serde_json::json!(["sh", "-c", "echo ran-$$; exec sleep 600"])
    );
    eventually("the command to run again", Duration::from_secs(10), || {
        h.capture(&cmd)
            .lines()
            .filter(|l| l.starts_with("ran-"))
            .count()
            == 2
    });
    h.ok(&["kill-pane", &a]);
    eventually("a's files to be deleted", Duration::from_secs(15), || {
        pane_files(&h, &a).iter().all(|f| !f.exists())
    });
}

/// Where a pane's content is saved: its snapshot, its journal, and the first journal of the
/// pane's instance (which begins with a snapshot of its own).
fn pane_files(h: &Home, pane: &str) -> [std::path::PathBuf; 3] {
    let dir = h.path().join("buffers");
    [
        dir.join(pane),
        dir.join(format!("{pane}.journal")),
        dir.join(format!("{pane}.journal.start")),
    ]
}

#[test]
fn alternate_screen_programs_restore_only_normal_history() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    h.send_line(
        &p,
        "echo normal-line; printf '\\033[?1049h\\033[HALT-SCREEN-CONTENT'; sleep 600",
    );
    h.wait_for(&p, "ALT-SCREEN-CONTENT");
    h.ok(&["daemon", "stop"]);
    h.ok(&["daemon", "start"]);
    let all = h.ok(&["capture", "--pane", &p, "--scrollback", "500"]);
    assert!(!all.contains("ALT-SCREEN-CONTENT"), "{all}");
    h.wait_for(&p, "restored after a daemon restart");
}

/// `quil restart` and `quil daemon upgrade` hand every pane over: the same shell, with its
/// variables, runs on; `restart --fresh` starts it again.
#[test]
fn quil_restart_and_upgrade_keep_the_shell_and_fresh_starts_it_again() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "kept"]);
    h.wait_for(&a, PROMPT);
    h.send_line(&a, "export KEPT=in-this-shell");
    let shell = h.pane_json(&a)["pid"].as_i64().unwrap();
    for (i, args) in [&["restart"][..], &["daemon", "upgrade"]]
        .iter()
        .enumerate()
    {
        let old = h.daemon_pid().unwrap();
        let out = h.ok(args);
        assert!(
            out.contains("their programs kept running"),
            "{args:?}: {out}"
        );
        let new = h.daemon_pid().unwrap();
        assert_ne!(old, new);
        assert!(!pid_alive(old));
        assert_eq!(h.ls()["tabs"][0]["name"], "kept");
        assert_eq!(h.pane_json(&a)["pid"], shell, "{args:?} kept the shell");
        h.send_line(&a, &format!("echo \"kept-{i}:$KEPT\""));
        h.wait_for(&a, &format!("^kept-{i}:in-this-shell$"));
    }
    let out = h.ok(&["restart", "--fresh"]);
    assert!(out.contains("their programs started again"), "{out}");
    assert!(!pid_alive(shell as i32), "--fresh ended the old shell");
    assert_ne!(h.pane_json(&a)["pid"], shell);
    h.wait_for(&a, "^--- restored after a daemon restart ---$");
    h.send_line(&a, "echo \"kept:$KEPT\"");
    h.wait_for(&a, "^kept:$");
    // A stop ends the panes for good: no holder is left behind.
    h.ok(&["daemon", "stop"]);
    eventually("the holders to leave", Duration::from_secs(10), || {
        h.holder_pids().is_empty()
    });
}

/// Issue 19: a crash of the daemon does not end the panes' processes. The next daemon takes
/// them over: same pids, their output going on, and their screens exactly as they were.
#[test]
fn kill_9_keeps_every_process_and_its_screen() {
    let h = Home::new();
    let count = h.dir.path().join("count");
    let script = format!(
        "i=0; while :; do i=$((i+1)); echo \"tick $i\"; echo $i >> '{}'; sleep 0.1; done",
        count.display()
    );
    let counter = h.new_tab(&["--", "bash", "-c", &script]);
    let shell = h.new_tab(&[]);
    h.wait_for(&shell, PROMPT);
    h.send_line(
        &shell,
        "export KEPT=yes; printf '\\033]2;kept title\\007\\033[1;31mred\\033[0m plain\\n'",
    );
    h.wait_for(&shell, "^red plain$");
    assert_eq!(h.pane_json(&shell)["title"], "kept title");
    let pid = |p: &str| h.pane_json(p)["pid"].as_i64().expect("a pid");
    let pids = (pid(&counter), pid(&shell));
    saved(&h, &shell);
    // What the journal has is on the screen after the take-over; give it its quarter second.
    std::thread::sleep(Duration::from_millis(500));
    let screen = h.ok(&["capture", "--pane", &shell, "--ansi"]);
    assert!(screen.contains("\x1b["), "{screen}");
    let ticks = || std::fs::read_to_string(&count).unwrap().lines().count();
    kill_9(&h);
    // With no daemon, the processes go on.
    let at_kill = ticks();
    eventually("the counter to go on", Duration::from_secs(10), || {
        ticks() > at_kill + 3
    });
    assert!(pid_alive(pids.0 as i32) && pid_alive(pids.1 as i32));
    h.ok(&["daemon", "start"]);
    assert_eq!((pid(&counter), pid(&shell)), pids, "the same processes");
    // The program set its title once; the new daemon shows it all the same.
    assert_eq!(h.pane_json(&shell)["title"], "kept title");
    assert_eq!(
        h.ok(&["capture", "--pane", &shell, "--ansi"]),
        screen,
        "the shell's screen, exactly"
    );
    let later = ticks() + 2;
    h.wait_for(&counter, &format!("^tick {later}$"));
    h.send_line(&shell, "echo \"kept:$KEPT\"");
    h.wait_for(&shell, "^kept:yes$");
    assert_eq!(
        h.log().matches("took over the running process").count(),
        2,
        "{}",
        h.log()
    );
}

/// A running pane the saved workspace lacks (here both snapshots are unreadable; or a pane made
/// just before a crash, ahead of the save) comes back as a tab of its own, its process taken
/// over, with its output.
#[test]
fn running_panes_the_workspace_lacks_come_back_as_tabs() {
    let h = Home::new();
    let cmd = ["sh", "-c", "echo stray-output; exec sleep 600"];
    let mut args = vec!["--"];
    args.extend(cmd);
    let p = h.new_tab(&args);
    h.wait_for(&p, "^stray-output$");
    let pid = h.pane_json(&p)["pid"].clone();
    saved(&h, &p);
    std::thread::sleep(Duration::from_millis(500));
    kill_9(&h);
    for f in ["workspace.json", "workspace.json.bak"] {
        std::fs::write(h.path().join(f), "not a workspace").unwrap();
    }
    // Returns once the new daemon has brought back what it could.
    h.ok(&["daemon", "start"]);
    let ls = h.ls();
    assert!(
        ls["restore_problem"]
            .as_str()
            .is_some_and(|w| w.contains("empty workspace")),
        "{ls}"
    );
    assert_eq!(pane_ids(&ls), vec![p.as_str()], "{ls}");
    let q = h.pane_json(&p);
    assert_eq!(q["pid"], pid, "{q}");
    assert_eq!(q["argv"], serde_json::json!(cmd), "{q}");
    assert_eq!(ls["tabs"][0]["name"], "sh");
    h.wait_for(&p, "^stray-output$");
    // It is a pane like any other now: saved, and taken over again after another crash.
    saved(&h, &p);
    kill_9(&h);
    h.ok(&["daemon", "start"]);
    assert_eq!(h.pane_json(&p)["pid"], pid);
}

/// A pane's process that ends while no daemon runs: the next daemon shows what it printed
/// meanwhile and its exit status, and its holder then leaves.
#[test]
fn a_process_that_ends_while_no_daemon_runs_reports_its_status() {
    let h = Home::new();
    let p = h.new_tab(&[
        "--",
        "sh",
        "-c",
        "echo started; sleep 2; echo ended; exit 7",
    ]);
    h.wait_for(&p, "^started$");
    let pid = h.pane_json(&p)["pid"].as_i64().unwrap() as i32;
    saved(&h, &p);
    kill_9(&h);
    eventually("the process to end", Duration::from_secs(10), || {
        !pid_alive(pid)
    });
    h.ok(&["daemon", "start"]);
    eventually("the exit status", Duration::from_secs(10), || {
        h.pane_json(&p)["exit_status"] == 7
    });
    h.wait_for(&p, "^ended$");
    eventually("the holder to leave", Duration::from_secs(10), || {
        h.holder_pids().is_empty()
    });
}

#[test]
fn zsh_reports_its_cwd_too() {
    let Some(zsh) = ["/usr/bin/zsh", "/bin/zsh"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        panic!("zsh is required for this test (scripts/test.sh installs it)");
    };
    let h = Home::new();
    std::fs::write(
        h.user_home().join(".zshrc"),
        "PS1='zsh-ready%# '\necho user-zshrc-loaded\n",
    )
    .unwrap();
    let dir = h.dir.path().join("z dir");
    std::fs::create_dir(&dir).unwrap();
    let p = h.cmd(&["new-tab"]).env("SHELL", zsh).output().unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let p = String::from_utf8_lossy(&p.stdout).trim().to_string();
    h.wait_for(&p, "user-zshrc-loaded");
    h.wait_for(&p, "zsh-ready");
    h.send_line(&p, &format!("cd '{}'", dir.display()));
    eventually("zsh cwd", Duration::from_secs(10), || {
        h.pane_json(&p)["cwd"] == dir.to_str().unwrap()
    });
}

/// Loops `kill -9` at random moments during heavy output and layout churn; every start must
/// restore a valid workspace with every pane it had saved, and a pane printing the time every
/// 10 ms must come back with its output up to at most 250 ms before the kill. Prints the
/// distribution of lost output. `QUIL_STRESS=N` (or `scripts/stress.sh --stress`) for N rounds.
#[test]
fn kill_9_during_churn_always_restores_a_valid_workspace() {
    /// Churn keeps the workspace about this size, so a long run stays as heavy as a short one.
    const MAX_PANES: usize = 8;
    let rounds: u32 = std::env::var("QUIL_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let h = Home::eager_restore();
    h.new_tab(&["--", "sh", "-c", "while :; do seq 1 5000; done"]);
    let printed = h.dir.path().join("printed");
    let clock = clock(&h, &printed);
    saved(&h, &clock);
    let mut seed = std::process::id() as u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    // Rounds alternate: a reboot (the daemon and the holders killed: panes start again from
    // their saved output) and a crash of the daemon alone (panes taken over, same processes).
    let (mut lost_ms, mut lost_kept_ms) = (Vec::new(), Vec::new());
    let mut processes = 0;
    let mut previous_kill = 0.0;
    let started = std::time::Instant::now();
    for round in 0..rounds {
        let crash = round % 2 == 1;
        // Churn: splits, new tabs, kills, with output flowing.
        for _ in 0..3 {
            let ls = h.ls();
            let ids = pane_ids(&ls);
            // The clock pane stays: it measures what a kill loses.
            let others: Vec<&String> = ids.iter().filter(|id| **id != clock).collect();
            let op = if ids.len() >= MAX_PANES { 1 } else { rand(3) };
            match op {
                0 if !ids.is_empty() => {
                    let target = &ids[rand(ids.len() as u64) as usize];
                    let dir = if rand(2) == 0 {
                        "--horizontal"
                    } else {
                        "--vertical"
                    };
                    let _ = h.run(&[
                        "split",
                        "--pane",
                        target,
                        dir,
                        "--",
                        "sh",
                        "-c",
                        "seq 1 100000; exec sleep 600",
                    ]);
                }
                1 if others.len() > 1 => {
                    let target = others[rand(others.len() as u64) as usize];
                    let _ = h.run(&["kill-pane", target]);
                }
                _ => {
                    let out = h.run(&["new-tab", "--", "sh", "-c", "while :; do echo churn; done"]);
                    assert!(out.status.success());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(rand(400)));
        let before = if crash {
            h.ls()
        } else {
            serde_json::Value::Null
        };
        let killed = if crash { kill_9(&h) } else { reboot(&h) };
        // A reboot's clock prints on (unread, lost with it) until its holder is killed, and
        // maybe once more as it dies: the next crash counts only what the clock running then
        // printed after that.
        let since = std::mem::replace(&mut previous_kill, unix_now());
        // What was on disk at the kill is what must come back: saves are debounced (250 ms),
        // so a pane made just before the kill may rightly be missing.
        let saved_ids: Vec<String> = std::fs::read_to_string(h.path().join("workspace.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .map(|v| pane_ids(&v))
            .unwrap_or_default();
        // Restart: the snapshot is valid JSON with a consistent workspace, and it loads.
        h.ok(&["daemon", "start"]);
        let ls = h.ls();
        let tabs = ls["tabs"].as_array().unwrap();
        let ids = pane_ids(&ls);
        for t in tabs {
            for p in t["panes"].as_array().unwrap() {
                assert!(
                    ids.contains(&p.as_str().unwrap().to_string()),
                    "round {round}: {ls}"
                );
            }
        }
        let log = h.log();
        assert!(
            !log.contains("starting with an empty workspace"),
            "round {round}: snapshot lost\n{log}"
        );
        let mut want = saved_ids.clone();
        let mut got = ids.clone();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "round {round}: the panes on disk at the kill come back"
        );
        if crash {
            // Every saved pane's process, running at the kill, runs on under the new daemon.
            for id in &saved_ids {
                let Some(was) = before["panes"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["id"] == id.as_str()))
                    .filter(|p| p["alive"] == true)
                else {
                    continue;
                };
                let now = h.pane_json(id);
                assert_eq!(
                    (&now["pid"], &now["alive"]),
                    (&was["pid"], &serde_json::Value::Bool(true)),
                    "round {round}: {id} kept its process"
                );
                processes += 1;
            }
            let missing = lost_output_kept(&h, &clock, &printed, (since, killed));
            let lost = missing.iter().copied().fold(0.0, f64::max);
            if lost > 0.25 {
                // Whether it was the last moments (the journal behind) or a gap further back.
                eprintln!(
                    "round {round}: {} ticks missing after the crash, {:.0} to {:.0} ms old",
                    missing.len(),
                    lost * 1000.0,
                    missing.iter().copied().fold(f64::MAX, f64::min) * 1000.0
                );
                print_late_notes(&log);
            }
            lost_kept_ms.push(lost * 1000.0);
        } else {
            // Output: the clock's last line before the kill is back, less than 250 ms old.
            let lost = lost_output(&h, &clock, &printed, killed);
            if lost > 0.25 {
                eprintln!(
                    "round {round}: the reboot lost output {:.0} ms old",
                    lost * 1000.0
                );
                print_late_notes(&log);
            }
            lost_ms.push(lost * 1000.0);
        }
        if (round + 1) % 50 == 0 {
            eprintln!(
                "round {}: {} s so far; lost output at a reboot {}, at a crash {}",
                round + 1,
                started.elapsed().as_secs(),
                distribution(&lost_ms),
                distribution(&lost_kept_ms)
            );
        }
    }
    // Every pane's journal, not only the clock's: how late output reached disk, when late.
    let log = h.log();
    let late: Vec<(f64, f64)> = log
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("reached its journal ")?;
            let (age, rest) = rest.split_once(" ms after it arrived (the write took ")?;
            let write = rest.split_once(" ms")?.0;
            Some((age.parse().ok()?, write.parse().ok()?))
        })
        .collect();
    let ages: Vec<f64> = late.iter().map(|l| l.0).collect();
    let writes: Vec<f64> = late.iter().map(|l| l.1).collect();
    eprintln!(
        "{rounds} kill -9 cycles in {} s: 0 corrupt workspaces, 0 lost panes, 0 of {processes} \
         processes lost; lost output at a reboot {}, at a crash of the daemon alone {}; \
         output of any pane reaching its journal over 150 ms late: {} (the writes themselves: \
         {}; {} of them an instance's first)",
        started.elapsed().as_secs(),
        distribution(&lost_ms),
        distribution(&lost_kept_ms),
        distribution(&ages),
        distribution(&writes),
        log.matches("the instance's first").count(),
    );
    for (what, ms) in [("reboot", &lost_ms), ("crash", &lost_kept_ms)] {
        let worst = ms.iter().copied().fold(0.0, f64::max);
        assert!(
            worst <= 250.0,
            "a {what} lost {worst:.0} ms of output: {}",
            distribution(ms)
        );
    }
}

/// What the killed daemon (the log's run before the last) noted of output that reached its
/// journal late: where a loss came from, the disk or the daemon.
fn print_late_notes(log: &str) {
    let runs: Vec<&str> = log.split("quild starting").collect();
    if let Some(run) = runs.iter().rev().nth(1) {
        for l in run.lines().filter(|l| l.contains("reached its journal")) {
            eprintln!("  {l}");
        }
    }
}

/// After a crash of the daemon alone, the clock pane runs on: how old, at `killed`, each tick
/// printed before the kill (and after `previous`, the end of the kill before it, whose losses
/// are its own) is that the pane's screen and scrollback lack (none when nothing was lost). Waits until the pane shows ticks
/// printed after the kill (they waited in the PTY).
fn lost_output_kept(
    h: &Home,
    clock: &str,
    log: &std::path::Path,
    (previous, killed): (f64, f64),
) -> Vec<f64> {
    let mut shown = std::collections::HashSet::new();
    eventually("ticks after the kill", Duration::from_secs(30), || {
        let all = h.ok(&["capture", "--pane", clock, "--scrollback", "5000"]);
        shown = all.lines().map(|l| l.trim().to_string()).collect();
        shown
            .iter()
            .any(|l| l.parse::<f64>().is_ok_and(|t| t > killed + 0.05))
    });
    // The clock running now: a reboot's clock may print once more after its holder was
    // killed (into a terminal that is gone), which no restore can show.
    let pid = h.pane_json(clock)["pid"].as_u64().expect("the clock's pid");
    let ticks = ticks(log);
    assert!(
        ticks.iter().any(|(_, p, _)| *p == Some(pid)),
        "no tick in the log is from the clock's pid {pid}"
    );
    ticks
        .into_iter()
        .filter(|(_, p, _)| *p == Some(pid))
        // The last few seconds: older lines may have scrolled past the 5000 captured.
        .filter(|(t, _, _)| *t <= killed && *t > previous.max(killed - 5.0))
        .filter(|(_, _, text)| !shown.contains(text))
        .map(|(t, _, _)| killed - t)
        .collect()
}

/// The clock's log: each tick's time, the pid of the clock that printed it, and the tick as the
/// pane shows it.
fn ticks(log: &std::path::Path) -> Vec<(f64, Option<u64>, String)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let text = f.next()?;
            Some((
                text.parse().ok()?,
                f.next().and_then(|p| p.parse().ok()),
                text.to_string(),
            ))
        })
        .collect()
}

/// Median, p90 and max of `ms`, as the stress run reports them.
fn distribution(ms: &[f64]) -> String {
    if ms.is_empty() {
        return "none".into();
    }
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    format!(
        "median {:.0} ms, p90 {:.0} ms, max {:.0} ms (over {})",
        at(0.5),
        at(0.9),
        v[v.len() - 1],
        v.len()
    )
}

#[test]
fn a_restart_starts_the_shown_tab_first_and_the_rest_when_needed() {
    let h = Home::with_config("[daemon]\nstart_hidden_after = 3\n");
    // Each pane says when its command started, then waits.
    let pane = |name: &str| {
        h.new_tab(&[
            "--name",
            name,
            "--",
            "sh",
            "-c",
            "echo started-$$; exec sleep 600",
        ])
    };
    let delayed = pane("delayed");
    let typed_to = pane("typed-to");
    let waited_on = pane("waited-on");
    let eager = pane("eager");
    let shown = pane("shown");
    for p in [&delayed, &typed_to, &waited_on, &eager, &shown] {
        h.wait_for(p, "^started-");
    }
    h.ok(&["eager", "--pane", &eager]);
    assert_eq!(h.pane_json(&eager)["eager"], true);
    let pid = |p: &str| h.pane_json(p)["pid"].as_u64();
    let before = pid(&typed_to).expect("a pid");

    h.ok(&["restart", "--fresh"]);
    // The active tab and the eager pane run; the others wait, showing what they showed.
    for p in [&shown, &eager] {
        let j = h.pane_json(p);
        assert!(j["started"] == true && j["alive"] == true, "{j}");
    }
    for p in [&delayed, &typed_to, &waited_on] {
        let j = h.pane_json(p);
        assert!(
            j["started"] == false && j["alive"] == false && j["pid"].is_null(),
            "{j}"
        );
    }
    let ls = String::from_utf8(h.run(&["ls"]).stdout).expect("utf-8");
    assert!(
        ls.contains(&format!("{typed_to} sh (terminal) 120x40 not started")),
        "{ls}"
    );
    let screen = h.ok(&["capture", "--pane", &typed_to]);
    assert!(screen.contains(&format!("started-{before}")), "{screen}");
    assert_eq!(
        h.pane_json(&typed_to)["started"],
        false,
        "capture starts nothing"
    );

    // Input starts a pane, and reaches it.
    h.ok(&["send", "--pane", &typed_to, "x"]);
    let j = h.pane_json(&typed_to);
    assert!(j["started"] == true && j["alive"] == true, "{j}");
    assert_ne!(pid(&typed_to), Some(before), "a new process");
    h.wait_for(&typed_to, "^--- restored after a daemon restart ---$");
    // So does waiting on it.
    h.ok(&[
        "wait",
        "--pane",
        &waited_on,
        "--text",
        "started-",
        "--timeout",
        "20",
    ]);
    assert_eq!(h.pane_json(&waited_on)["started"], true);
    // And its delay, without anything else.
    eventually("the delayed pane started", Duration::from_secs(20), || {
        h.pane_json(&delayed)["started"] == true
    });
    assert_eq!(h.pane_json(&delayed)["alive"], true);
    // The eager flag is kept across restarts, and can be taken back.
    h.ok(&["eager", "--pane", &eager, "--off"]);
    assert_eq!(h.pane_json(&eager)["eager"], false);
    let err = h.fails(&["start", "--pane", "pane-0badf00d"]);
    assert!(err.contains("pane-0badf00d"), "{err}");
}
