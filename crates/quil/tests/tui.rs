//! End-to-end tests of the TUI: the real `quil` binary runs inside tmux as the outer terminal,
//! driven with `send-keys` and read with `capture-pane`. Each test has its own `QUIL_HOME`
//! (so its own daemon) and its own tmux server, and stops both at the end.
//!
//! The binary is the one cargo builds for this test target; tmux must be installed.

mod common;

use common::tmux::{has_line, keys, type_text, wait_for, DEADLINE};
use common::{eventually, git};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const PROMPT: &str = "e2e$";

/// The real `quil` binary (cargo builds it, and `quild` beside it, for this test target).
/// tmux is required: `scripts/test.sh` installs it.
fn quil_bin() -> &'static Path {
    let tmux_ok = Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        tmux_ok,
        "tmux is required for the TUI end-to-end tests (scripts/test.sh installs it)"
    );
    Path::new(env!("CARGO_BIN_EXE_quil"))
}

/// One test's world: a QUIL_HOME and the tmux servers showing quil clients.
struct World {
    bin: PathBuf,
    home: PathBuf,
    sockets: Vec<String>,
}

impl World {
    fn new(bin: &Path) -> World {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let home = std::env::temp_dir().join(format!("quil-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("create QUIL_HOME");
        World {
            bin: bin.to_path_buf(),
            home,
            sockets: Vec::new(),
        }
    }

    /// Starts `quil` in a new tmux server of `w` x `h`; returns the socket name.
    fn client(&mut self, w: u16, h: u16) -> String {
        let sock = format!(
            "quil-e2e-{}-{}",
            self.home
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("x"),
            self.sockets.len()
        );
        // A plain shell with a known prompt; the daemon (started by this quil) passes the
        // environment on to its panes. The trailing sleep keeps the window to read exit output.
        let cmd = format!(
            "env -u QUIL_PANE_ID -u TMUX QUIL_HOME='{}' SHELL=/bin/sh PS1='{PROMPT} ' '{}'; echo QUIL-EXITED $?; sleep 600",
            self.home.display(),
            self.bin.display()
        );
        common::tmux::new_session(&sock, w, h, &cmd);
        self.sockets.push(sock.clone());
        sock
    }

    /// Runs the CLI. A daemon it starts gives its panes the same plain shell as `client`.
    fn quil(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("QUIL_HOME", &self.home)
            .env("SHELL", "/bin/sh")
            .env("PS1", format!("{PROMPT} "))
            .env_remove("QUIL_PANE_ID")
            .output()
            .expect("run quil")
    }

    /// `quil ls --json`'s panes.
    fn panes(&self) -> Vec<serde_json::Value> {
        let out = self.quil(&["ls", "--json"]);
        assert!(out.status.success(), "quil ls --json failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ls --json");
        v["panes"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for s in &self.sockets {
            common::tmux::kill_server(s);
        }
        let _ = self.quil(&["daemon", "stop"]);
        common::holders::kill_holders(&self.home);
        if std::env::var_os("QUIL_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}

fn prompts(s: &str) -> usize {
    s.matches(PROMPT).count()
}

/// Top borders: one corner per pane on the first pane row.
fn panes_on_row(s: &str, row: usize) -> usize {
    s.lines()
        .nth(row)
        .map_or(0, |l| l.matches(['┏', '┌']).count())
}

#[test]
fn attach_type_split_detach_and_reattach() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(120, 40);

    // 1) The shell prompt shows up in a bordered pane.
    wait_for(&a, "the shell prompt", |s| {
        s.contains(PROMPT) && panes_on_row(s, 1) == 1
    });

    // 2) Typing reaches the shell.
    type_text(&a, "echo hel''lo");
    keys(&a, &["Enter"]);
    wait_for(&a, "echo output", |s| has_line(s, "hello"));

    // 3) Alt+W v splits side by side: two bordered panes, both with a prompt.
    keys(&a, &["M-w", "v"]);
    wait_for(&a, "two panes", |s| {
        panes_on_row(s, 1) == 2 && prompts(s) >= 3
    });
    // The new pane has the focus; typing goes there.
    type_text(&a, "echo right''side");
    keys(&a, &["Enter"]);
    let s = wait_for(&a, "output in the new pane", |s| has_line(s, "rightside"));
    let row = s
        .lines()
        .find(|l| l.contains("rightside"))
        .unwrap_or_default();
    assert!(
        row.find("rightside") > Some(60),
        "output is in the right pane: {row}"
    );

    // 4) Alt+W d detaches: the client exits cleanly, panes keep running.
    keys(&a, &["M-w", "d"]);
    wait_for(&a, "the client to exit", |s| s.contains("QUIL-EXITED 0"));
    let ls = w.quil(&["ls"]);
    let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
    assert_eq!(
        ls.matches("pane-").count(),
        2,
        "two panes still listed:\n{ls}"
    );
    assert!(ls.contains("pid"), "{ls}");

    // 5) quil again shows the same screens.
    let b = w.client(120, 40);
    wait_for(&b, "the same two panes", |s| {
        panes_on_row(s, 1) == 2 && has_line(s, "hello") && has_line(s, "rightside")
    });
}

#[test]
fn second_client_sees_live_updates() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(120, 40);
    wait_for(&a, "the shell prompt", |s| s.contains(PROMPT));
    let b = w.client(100, 30);
    wait_for(&b, "the same pane", |s| s.contains(PROMPT));

    type_text(&a, "echo from''-a");
    keys(&a, &["Enter"]);
    wait_for(&b, "output typed in the other client", |s| {
        has_line(s, "from-a")
    });
    type_text(&b, "echo from''-b");
    keys(&b, &["Enter"]);
    wait_for(&a, "output typed in the other client", |s| {
        has_line(s, "from-b")
    });

    // Each client has its own view: a tab switch in one does not move the other.
    keys(&a, &["M-w", "t"]);
    wait_for(&a, "a second tab", |s| {
        s.lines().next().is_some_and(|l| l.contains("2:"))
    });
    let sb = wait_for(&b, "the new tab in the tab bar", |s| {
        s.lines().next().is_some_and(|l| l.contains("2:"))
    });
    assert!(has_line(&sb, "from-b"), "b still shows its tab:\n{sb}");
}

fn tab_bar(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[test]
fn ctrl_n_picks_a_terminal_and_it_opens() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(120, 40);
    wait_for(&a, "the shell prompt", |s| {
        s.contains(PROMPT) && panes_on_row(s, 1) == 1
    });
    keys(&a, &["M-w", "n"]);
    // The picker lists types by category and starts on the terminal.
    wait_for(&a, "the picker", |s| {
        s.contains("New pane") && s.contains("Terminals") && s.contains("Terminal ")
    });
    keys(&a, &["Enter"]);
    wait_for(&a, "a second pane with a prompt", |s| {
        panes_on_row(s, 1) == 2 && prompts(s) >= 2 && !s.contains("New pane")
    });
    let panes = w.panes();
    assert_eq!(panes.len(), 2, "{panes:?}");
    assert!(panes.iter().all(|p| p["type"] == "terminal"), "{panes:?}");
}

#[test]
fn form_opens_a_pane_in_the_chosen_directory_with_a_toggle() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    // A pane type that asks for a directory and has a toggle. Sorted before "Terminal" in
    // its category, so it is one Up from the picker's starting row.
    let plugins = w.home.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    std::fs::write(
        plugins.join("e2e.toml"),
        r#"[plugin]
name = "e2e-tool"
display_name = "E2E tool"
category = "terminal"
description = "a shell that asks for a directory"

[command]
cmd = "/bin/sh"
prompts_cwd = true

[[command.toggles]]
name = "loud"
label = "Say LOUD first"
args_when_on = ["-c", "echo LO''UD; exec /bin/sh"]
"#,
    )
    .expect("write plugin");
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().canonicalize().expect("canonical temp dir");
    let dir_s = dir.display().to_string();

    let a = w.client(120, 40);
    wait_for(&a, "the shell prompt", |s| s.contains(PROMPT));
    keys(&a, &["M-w", "n"]);
    wait_for(&a, "the picker", |s| s.contains("E2E tool"));
    keys(&a, &["Up", "Enter"]);
    wait_for(&a, "the form", |s| {
        s.contains("New E2E tool pane") && s.contains("Directory") && s.contains("Say LOUD first")
    });
    // The directory starts as the active pane's: replace it.
    keys(&a, &["C-u"]);
    type_text(&a, &dir_s);
    // Up from the directory wraps to the worktree row; once more is the toggle.
    keys(&a, &["Up", "Up", "Space"]);
    wait_for(&a, "the toggle on", |s| s.contains("[x] Say LOUD first"));
    keys(&a, &["Enter"]);
    wait_for(&a, "the new pane", |s| {
        has_line(s, "LOUD") && panes_on_row(s, 1) == 2
    });
    let panes = w.panes();
    assert!(
        panes
            .iter()
            .any(|p| p["type"] == "e2e-tool" && p["cwd"].as_str() == Some(dir_s.as_str())),
        "{panes:?}"
    );
    let recent = std::fs::read_to_string(w.home.join("recent-dirs")).expect("recent-dirs");
    assert_eq!(recent.lines().next(), Some(dir_s.as_str()), "{recent}");
}

#[test]
fn worktree_pane_closed_with_discard() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = tmp.path().canonicalize().expect("canonical temp dir");
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("a.txt"), "one\n").expect("write");
    git(&repo, &["add", "a.txt"]);
    git(&repo, &["commit", "-qm", "init"]);

    let out = w.quil(&["new-tab", "--name", "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo_s = repo.display().to_string();
    let out = w.quil(&["new-tab", "--name", "iso", "--worktree", "--cwd", &repo_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let iso = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 2);

    let a = w.client(120, 40);
    keys(&a, &["M-w", "2"]);
    wait_for(&a, "the worktree pane", |s| {
        s.contains("⎇ quil/") && s.contains(PROMPT)
    });
    type_text(&a, "echo new > new.txt");
    keys(&a, &["Enter"]);
    eventually("the file in the worktree", DEADLINE, || {
        w.panes()
            .iter()
            .find(|p| p["id"] == iso.as_str())
            .and_then(|p| p["worktree"]["path"].as_str().map(PathBuf::from))
            .is_some_and(|p| p.join("new.txt").exists())
    });
    keys(&a, &["M-w", "x"]);
    // The dialog shows what the pane changed.
    wait_for(&a, "the close dialog with the diff stat", |s| {
        s.contains("leave the worktree for later") && s.contains("new.txt")
    });
    keys(&a, &["d"]);
    wait_for(&a, "the tab to go", |s| {
        !tab_bar(s).contains("2:") && !s.contains("leave the worktree")
    });
    let panes = w.panes();
    assert_eq!(panes.len(), 1, "{panes:?}");
    assert!(panes.iter().all(|p| p["id"] != iso.as_str()), "{panes:?}");
    let list = git(&repo, &["worktree", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert_eq!(git(&repo, &["branch", "--list", "quil/*"]).trim(), "");
    assert!(!repo.join("new.txt").exists(), "the main tree is untouched");
}

/// The default keys leave the shell its own (Ctrl+W deletes a word), the hint bar names help
/// and detach at 80 columns, and `Alt+W ?` lists every binding.
#[test]
fn default_keys_leave_the_shell_alone_and_help_lists_them() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(80, 40);
    let s = wait_for(&a, "the shell prompt", |s| s.contains(PROMPT));
    let status = s.lines().last().unwrap_or_default().to_string();
    assert!(status.contains("Alt+W then ? help  d detach"), "{status}");
    // Ctrl+W, Ctrl+E, Ctrl+T and Ctrl+N reach the shell: `sh` deletes the last word.
    type_text(&a, "echo keep drop");
    keys(&a, &["C-w", "Enter"]);
    wait_for(&a, "the word deleted by the shell", |s| has_line(s, "keep"));
    keys(&a, &["C-t", "C-n", "C-e"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.panes().len(), 1, "no pane or tab was opened");

    keys(&a, &["M-w", "?"]);
    let s = wait_for(&a, "the help overlay", |s| {
        s.contains(" Keys ") && s.contains("HELP")
    });
    for want in [
        "Alt+Shift+I",
        "agents view",
        "Alt+W d",
        "detach (panes keep running)",
        "split side by side",
        "this help",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    keys(&a, &["Escape"]);
    wait_for(&a, "the overlay closed", |s| {
        !s.contains(" Keys ") && s.contains(PROMPT)
    });
    keys(&a, &["M-w", "d"]);
    wait_for(&a, "the client to exit", |s| s.contains("QUIL-EXITED 0"));
}

/// `quil ls --json`'s pane `id`, as (cols, rows).
fn pane_size(w: &World, id: &str) -> Option<(u64, u64)> {
    w.panes()
        .iter()
        .find(|p| p["id"] == id)
        .and_then(|p| Some((p["cols"].as_u64()?, p["rows"].as_u64()?)))
}

fn quil_ok(w: &World, args: &[&str]) -> String {
    let out = w.quil(args);
    assert!(
        out.status.success(),
        "quil {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An attached client follows the CLI: `select-tab` and `select-pane` change what it shows,
/// and a split from the CLI sizes the panes at once, with no key typed.
#[test]
fn the_client_follows_the_cli() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let p1 = quil_ok(&w, &["new-tab", "--name", "one"]);
    let p2 = quil_ok(&w, &["new-tab", "--name", "two"]);
    quil_ok(&w, &["send", "--pane", &p2, "--enter", "echo in''-two"]);
    quil_ok(&w, &["select-tab", "1"]);
    let a = w.client(120, 40);
    wait_for(&a, "tab one", |s| {
        s.contains(PROMPT) && !has_line(s, "in-two")
    });
    quil_ok(&w, &["select-tab", "two"]);
    wait_for(&a, "tab two shown", |s| has_line(s, "in-two"));
    quil_ok(&w, &["select-pane", "--pane", &p1]);
    wait_for(&a, "tab one again", |s| {
        !has_line(s, "in-two") && s.contains(PROMPT)
    });
    // Let the client's "recent input" window pass: the resize must come from the layout change.
    std::thread::sleep(Duration::from_millis(2500));
    let (full_cols, _) = pane_size(&w, &p1).expect("p1");
    let p3 = quil_ok(&w, &["split", "--pane", &p1, "--horizontal"]);
    eventually("both panes sized to half the width", DEADLINE, || {
        let a = pane_size(&w, &p1).map_or(0, |s| s.0);
        let b = pane_size(&w, &p3).map_or(0, |s| s.0);
        a < full_cols && b < full_cols && a + b + 4 >= full_cols
    });
    wait_for(&a, "two panes", |s| panes_on_row(s, 1) == 2);
}

/// The TUI comes back by itself when the daemon is killed, and after `quil restart`, on the
/// same tab.
#[test]
fn the_client_reconnects_after_a_crash_and_a_restart() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    quil_ok(&w, &["new-tab", "--name", "first"]);
    let p2 = quil_ok(&w, &["new-tab", "--name", "second"]);
    quil_ok(
        &w,
        &["send", "--pane", &p2, "--enter", "echo before''-crash"],
    );
    let a = w.client(120, 40);
    wait_for(&a, "the second tab", |s| has_line(s, "before-crash"));
    // Saved (within 250 ms of the last change), so the next daemon restores it.
    eventually("the workspace saved", DEADLINE, || {
        std::fs::read_to_string(w.home.join("workspace.json")).is_ok_and(|j| j.contains(&p2))
    });
    let status: serde_json::Value =
        serde_json::from_str(&quil_ok(&w, &["daemon", "status", "--json"])).expect("json");
    let pid = status["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the daemon");
    // It says so, starts a daemon, and shows the second tab again: the same shell, taken over
    // from its holder, with its screen as it was.
    wait_for(&a, "reconnected", |s| {
        s.contains("reconnected to the daemon")
            && tab_bar(s).contains("2:second")
            && has_line(s, "before-crash")
    });
    let status: serde_json::Value =
        serde_json::from_str(&quil_ok(&w, &["daemon", "status", "--json"])).expect("json");
    assert_ne!(status["pid"].as_i64(), Some(i64::from(pid)));
    type_text(&a, "echo after''-crash");
    keys(&a, &["Enter"]);
    wait_for(&a, "typing works again", |s| has_line(s, "after-crash"));

    quil_ok(&w, &["restart"]);
    wait_for(&a, "back after the restart", |s| {
        s.contains("reconnected to the daemon") && tab_bar(s).contains("2:second")
    });
    type_text(&a, "echo after''-restart");
    keys(&a, &["Enter"]);
    wait_for(&a, "typing works after the restart", |s| {
        has_line(s, "after-restart")
    });
}

/// Editing config.toml while attached changes the keys at once.
#[test]
fn keys_follow_config_changes_live() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(120, 40);
    wait_for(&a, "the shell prompt", |s| s.contains(PROMPT));
    std::fs::write(
        w.home.join("config.toml"),
        "[keys]\npreset = \"quil-classic\"\n",
    )
    .expect("write config");
    wait_for(&a, "the reload", |s| s.contains("config reloaded"));
    keys(&a, &["C-t"]);
    wait_for(&a, "a second tab from Ctrl+T", |s| {
        tab_bar(s).contains("2:")
    });
}

/// `quil ls --json` as JSON.
fn ls_json(w: &World) -> serde_json::Value {
    serde_json::from_str(&quil_ok(w, &["ls", "--json"])).expect("ls --json")
}

/// Swap, resize, rename and break a pane from the keys.
#[test]
fn pane_management_keys() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let a = w.client(120, 40);
    wait_for(&a, "the shell prompt", |s| s.contains(PROMPT));
    keys(&a, &["M-w", "v"]);
    wait_for(&a, "two panes", |s| {
        panes_on_row(s, 1) == 2 && prompts(s) >= 2
    });
    let order = |w: &World| ls_json(w)["tabs"][0]["panes"].clone();
    let before = order(&w);
    let right = before[1].as_str().expect("id").to_string();
    // Alt+W { swaps the active (right) pane with the previous one.
    keys(&a, &["M-w", "{"]);
    eventually("the panes swapped", DEADLINE, || {
        order(&w) == serde_json::json!([before[1], before[0]])
    });
    // Alt+W Ctrl+Left moves the divider left: the (now left) active pane shrinks.
    let ratio = |w: &World| ls_json(w)["tabs"][0]["layout"]["split"]["ratio"].as_f64();
    keys(&a, &["M-w", "C-Left"]);
    eventually("the divider moved", DEADLINE, || {
        ratio(&w).is_some_and(|r| r < 0.49)
    });
    // Alt+W R renames the pane.
    keys(&a, &["M-w", "R"]);
    wait_for(&a, "the rename prompt", |s| s.contains("pane name:"));
    keys(&a, &["C-u"]);
    type_text(&a, "builder");
    keys(&a, &["Enter"]);
    eventually("the pane renamed", DEADLINE, || {
        w.panes()
            .iter()
            .any(|p| p["id"] == right.as_str() && p["name"] == "builder")
    });
    // Alt+W ! breaks it out to a tab of its own, which the client shows.
    keys(&a, &["M-w", "!"]);
    wait_for(&a, "a second tab", |s| tab_bar(s).contains("2:builder"));
    let ls = ls_json(&w);
    assert_eq!(ls["tabs"][1]["panes"], serde_json::json!([right]));
}

/// `Alt+W g` lists every tab and pane, previews the chosen one live, and goes there.
#[test]
fn tree_picker_previews_and_goes_to_a_pane() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    quil_ok(&w, &["new-tab", "--name", "one"]);
    let p2 = quil_ok(&w, &["new-tab", "--name", "two"]);
    quil_ok(&w, &["send", "--pane", &p2, "--enter", "echo in''-two"]);
    quil_ok(&w, &["select-tab", "1"]);
    let a = w.client(140, 40);
    wait_for(&a, "tab one", |s| {
        s.contains(PROMPT) && !s.contains("in-two")
    });
    keys(&a, &["M-w", "g"]);
    wait_for(&a, "the tree", |s| {
        s.contains("Tabs and panes")
            && s.contains("1: one (1 pane)")
            && s.contains("2: two (1 pane)")
    });
    // Down to tab two, then its pane: the preview shows its screen.
    keys(&a, &["Down", "Down"]);
    wait_for(&a, "the preview of the other tab's pane", |s| {
        s.contains("in-two")
    });
    // The preview is live.
    quil_ok(&w, &["send", "--pane", &p2, "--enter", "echo live''-now"]);
    wait_for(&a, "the preview updated", |s| s.contains("live-now"));
    keys(&a, &["Enter"]);
    wait_for(&a, "tab two shown", |s| {
        !s.contains("Tabs and panes") && has_line(s, "in-two")
    });
}

/// After a restart, the tab a client shows runs at once, and another tab's panes start when
/// the client switches to it (lazy restore).
#[test]
fn a_tab_switched_to_after_a_restart_starts_then() {
    let bin = quil_bin();
    let mut w = World::new(bin);
    let first = quil_ok(&w, &["new-tab", "--name", "first"]);
    let second = quil_ok(&w, &["new-tab", "--name", "second"]);
    quil_ok(&w, &["restart", "--fresh"]);
    let started = |w: &World, p: &str| {
        ls_json(w)["panes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|x| x["id"] == p))
            .map(|x| x["started"] == true)
    };
    assert_eq!(started(&w, &first), Some(false));
    let a = w.client(120, 40);
    wait_for(&a, "the second tab", |s| {
        tab_bar(s).contains("2:second") && s.contains("restored after a daemon restart")
    });
    assert_eq!(started(&w, &second), Some(true));
    assert_eq!(started(&w, &first), Some(false), "not shown, not started");
    keys(&a, &["M-w", "1"]);
    eventually("the first tab's pane started", DEADLINE, || {
        started(&w, &first) == Some(true)
    });
    type_text(&a, "echo in''-first");
    keys(&a, &["Enter"]);
    wait_for(&a, "its shell answers", |s| has_line(s, "in-first"));
}
