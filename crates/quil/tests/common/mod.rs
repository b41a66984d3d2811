//! Test harness: a private `$QUIL_HOME` per test, the real `quil`/`quild` binaries, real bash.
#![allow(dead_code)]

pub mod holders;
pub mod tmux;

use portable_pty::{CommandBuilder, PtySize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const QUIL: &str = env!("CARGO_BIN_EXE_quil");
pub const QUILD: &str = env!("CARGO_BIN_EXE_quild");

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        // Short paths: a Unix socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("qt")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let h = Home { dir };
        std::fs::create_dir_all(h.user_home()).expect("user home");
        h
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("q")
    }

    /// A home with this `config.toml`.
    pub fn with_config(config: &str) -> Home {
        let h = Home::new();
        std::fs::create_dir_all(h.path()).expect("home");
        std::fs::write(h.path().join("config.toml"), config).expect("config");
        h
    }

    /// A home whose daemon starts every pane at once after a restart (no lazy restore), for
    /// tests of what a restart brings back in panes no client shows.
    pub fn eager_restore() -> Home {
        Home::with_config("[daemon]\nstart_hidden_after = 0\n")
    }

    /// HOME for shells in panes: empty, so no user rc file changes prompts or output.
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("u")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(QUIL);
        c.args(args)
            .env("QUIL_HOME", self.path())
            .env("QUIL_DAEMON_BIN", QUILD)
            .env("HOME", self.user_home())
            .env("SHELL", "/bin/bash")
            .env_remove("QUIL_PANE_ID")
            .env_remove("PROMPT_COMMAND")
            .current_dir(self.user_home());
        c
    }

    /// Runs quil; panics with its stderr unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "quil {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run quil")
    }

    /// Runs quil expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "quil {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn new_tab(&self, extra: &[&str]) -> String {
        let mut args = vec!["new-tab"];
        args.extend_from_slice(extra);
        self.ok(&args).trim().to_string()
    }

    /// `quil split --pane PANE EXTRA...`; the new pane's id.
    pub fn split(&self, pane: &str, extra: &[&str]) -> String {
        let mut args = vec!["split", "--pane", pane];
        args.extend_from_slice(extra);
        self.ok(&args).trim().to_string()
    }

    pub fn ls(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["ls", "--json"])).expect("ls --json is JSON")
    }

    pub fn pane_json(&self, pane: &str) -> serde_json::Value {
        let ls = self.ls();
        ls["panes"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["id"] == pane).cloned())
            .unwrap_or_else(|| panic!("{pane} not in {ls}"))
    }

    /// Types `line` into the pane, then Enter (`quil send --enter`).
    pub fn send_line(&self, pane: &str, line: &str) {
        self.ok(&["send", "--pane", pane, "--enter", line]);
    }

    pub fn capture(&self, pane: &str) -> String {
        self.ok(&["capture", "--pane", pane])
    }

    /// Waits for a regex on the pane's screen, with a generous deadline for a loaded machine.
    pub fn wait_for(&self, pane: &str, regex: &str) {
        let out = self.run(&["wait", "--pane", pane, "--text", regex, "--timeout", "20"]);
        assert!(
            out.status.success(),
            "waiting for /{regex}/ in {pane}: {}\nscreen:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.capture(pane)
        );
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.path().join("quild.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The live pane holders of this home.
    pub fn holder_pids(&self) -> Vec<i32> {
        holders::holder_pids(&self.path())
    }

    /// Kills every holder of this home, as a reboot would: their panes' processes lose their
    /// terminal and end, and the next daemon starts them again.
    pub fn kill_holders(&self) {
        holders::kill_holders(&self.path());
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("quild.log")).expect("read quild.log")
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("quild.sock")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.path().join("quild.log")) {
                eprintln!("--- quild.log of the failed test ---\n{log}");
            }
        }
        let _ = self.cmd(&["daemon", "stop"]).output();
        if let Some(pid) = self.daemon_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Holders a killed daemon left (a stop ends its own): nothing outlives the test.
        self.kill_holders();
    }
}

/// The ids of the panes in `quil ls --json` output, in order.
pub fn pane_ids(ls: &serde_json::Value) -> Vec<String> {
    ls["panes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); look at its state too.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits for `child` to end and takes its output, killing it (and failing) after `secs`: a
/// hang fails its test instead of stalling the suite.
pub fn output_within(mut child: Child, secs: u64) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pid {} still running after {secs} s", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Runs git in `dir` with a fixed identity and no user configuration; panics unless it
/// succeeds; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The end of a bash prompt, for a user or root.
pub const PROMPT: &str = r"[$#]$";

/// `s` as a regex matching itself (paths in `wait_for`).
pub fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == ' ' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// Whether `parent` has a child process named `name` (from /proc).
pub fn child_named(parent: i32, name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid ...
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            return false;
        };
        let comm = head.split_once(" (").map(|(_, c)| c).unwrap_or("");
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        comm == name && ppid == Some(parent)
    })
}

/// The TUI on a real PTY, its raw output collected (escape sequences included): what a
/// terminal would be sent.
pub struct Tui {
    out: Arc<Mutex<Vec<u8>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _writer: Arc<Mutex<Box<dyn std::io::Write + Send>>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tui {
    pub fn attach(quil_home: &Path, user_home: &Path, cols: u16, rows: u16) -> Tui {
        Tui::attach_with(quil_home, user_home, cols, rows, &[])
    }

    /// `quil ARGS... attach` (e.g. `-r HOST`).
    pub fn attach_with(
        quil_home: &Path,
        user_home: &Path,
        cols: u16,
        rows: u16,
        args: &[&str],
    ) -> Tui {
        Tui::spawn(quil_home, user_home, (cols, rows), args, &[])
    }

    /// `quil ARGS... attach` with `env` set too (the environment is otherwise the test's own,
    /// without `TMUX` and `QUIL_PANE_ID`).
    pub fn spawn(
        quil_home: &Path,
        user_home: &Path,
        (cols, rows): (u16, u16),
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Tui {
        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(QUIL);
        cmd.args(args);
        cmd.arg("attach");
        cmd.env("QUIL_HOME", quil_home);
        cmd.env("QUIL_DAEMON_BIN", QUILD);
        cmd.env("HOME", user_home);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("QUIL_PANE_ID");
        cmd.env_remove("TMUX");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn quil");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        // Answer the terminal queries crossterm makes at start (cursor position, kitty
        // keyboard): a real terminal would.
        // Kept for the TUI's whole life: portable-pty's writer, when dropped, types a newline
        // and an EOF into the terminal, which the TUI would pass on to its pane.
        let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("writer")));
        let answers = writer.clone();
        let probe = out.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut answered = 0;
            while Instant::now() < deadline {
                let n = String::from_utf8_lossy(&probe.lock().expect("lock"))
                    .matches("\x1b[6n")
                    .count();
                while answered < n {
                    let _ = answers.lock().expect("lock").write_all(b"\x1b[1;1R");
                    answered += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Tui {
            out,
            child,
            _writer: writer,
            _master: pair.master,
        }
    }

    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("lock")).into_owned()
    }

    /// Types `bytes` at the TUI's terminal.
    pub fn type_bytes(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut w = self._writer.lock().expect("lock");
        w.write_all(bytes).expect("type");
        w.flush().expect("flush");
    }

    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the TUI never wrote {text:?}; it wrote {:?}",
                self.output().chars().rev().take(2000).collect::<String>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny agent CLI: it keeps each conversation in a file, runs its hook command (read from
/// the `--settings` file quil passes, as Claude Code does) for each event, and answers each
/// line typed with the turn number, half a second later (at once for a line starting with
/// `fast`). `ask` makes it wait for the user.
pub const TINY_AGENT: &str = r#"#!/bin/bash
id=""; settings=""; resume=""
while [ $# -gt 0 ]; do
  case "$1" in
    --session-id) id="$2"; shift 2 ;;
    --resume) id="$2"; resume=1; shift 2 ;;
    --settings) settings="$2"; shift 2 ;;
    *) shift ;;
  esac
done
transcript="$TINY_AGENT_DIR/$id.log"
if [ -n "$resume" ] && [ ! -f "$transcript" ]; then
  echo "No conversation found with session ID: $id"; exit 1
fi
hook=$(sed -n 's/.*"command": "\([^"]*\)".*/\1/p' "$settings" | head -1)
event() {
  printf '{"hook_event_name":"%s","session_id":"%s","transcript_path":"%s","tool_name":"Bash"}' "$1" "$id" "$transcript" | eval "$hook"
}
event SessionStart
if [ -f "$transcript" ]; then echo "history:"; cat "$transcript"; fi
echo "ready $id"
while IFS= read -r line; do
  if [ "$line" = ask ]; then
    event PermissionRequest; echo "allow? (y/n)"; continue
  fi
  event UserPromptSubmit
  echo "$line" >> "$transcript"
  case "$line" in fast*) ;; *) sleep 0.5 ;; esac
  echo "reply to: $line (turn $(wc -l < "$transcript"))"
  event Stop
done
"#;

/// Writes the tiny agent and a pane type for it, as a user would from the plugin reference.
pub fn tiny_agent(h: &Home) -> PathBuf {
    let dir = h.dir.path().join("agent");
    std::fs::create_dir_all(&dir).expect("agent dir");
    let script = dir.join("tiny-agent");
    std::fs::write(&script, TINY_AGENT).expect("script");
    set_mode(&script, 0o755);
    let plugins = h.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    let toml = format!(
        r#"#:schema ./plugin.schema.json
[plugin]
name = "tiny-agent"
category = "ai"

[command]
cmd = "{script}"
env = ["TINY_AGENT_DIR={dir}"]

[persistence]
strategy = "preassign_id"
start_args = ["--session-id", "{{session_id}}"]
resume_args = ["--resume", "{{session_id}}"]

[integration]
mechanism = "claude_hooks"
session_id_pattern = '[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}'
not_found = "No conversation found"
"#,
        script = script.display(),
        dir = dir.display()
    );
    std::fs::write(plugins.join("tiny-agent.toml"), toml).expect("plugin");
    dir
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
