//! The world the AI-pane tests share (`ai.rs`, `ai_more.rs`): a private quil home and user
//! home, the pinned CLIs on `PATH`, quil-mockllm, and helpers that drive quil's CLI.
#![allow(dead_code)]

use crate::common::holders;
use quil_mockllm::{last_user_text, MockLlm};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const QUIL: &str = env!("CARGO_BIN_EXE_quil");
pub const QUILD: &str = env!("CARGO_BIN_EXE_quild");
/// First paint / resumed conversation on a loaded 2-core machine (seen up to 12 s).
pub const START: u64 = 60;
pub const TURN: u64 = 45;

/// The CLIs are heavy; run one scenario at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// The directory of the pinned CLIs; fails (never skips) when one of `clis` is missing.
pub fn clis_bin(clis: &[&str]) -> PathBuf {
    let dir = std::env::var_os("QUIL_AI_CLIS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.test-cache/ai-clis/bin")
        });
    for cli in clis {
        assert!(
            dir.join(cli).exists(),
            "{} not found: run scripts/install-ai-clis.sh (scripts/test.sh does)",
            dir.join(cli).display()
        );
    }
    dir
}

/// A private quil home, user home and project directory, the mock LLM, and the environment
/// every quil command (and so the daemon and its panes) runs with.
pub struct World {
    pub dir: tempfile::TempDir,
    pub mock: MockLlm,
    pub env: Vec<(String, String)>,
}

impl World {
    /// A world under `/tmp` whose `PATH` finds `clis` (each CLI's own setup is the caller's).
    pub fn new(clis: &[&str]) -> World {
        World::new_in(clis, Path::new("/tmp"))
    }

    /// A world in a new directory under `base` (short: a Unix socket path must fit in 108
    /// bytes).
    pub fn new_in(clis: &[&str], base: &Path) -> World {
        let clis = clis_bin(clis);
        let dir = tempfile::Builder::new()
            .prefix("qa")
            .tempdir_in(base)
            .expect("tempdir");
        let mock = MockLlm::start().expect("mock llm");
        let p = |s: &str| dir.path().join(s).display().to_string();
        for d in [
            "q",
            "u",
            "xdg/config",
            "xdg/data",
            "xdg/cache",
            "xdg/state",
            "proj",
            "cc",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let env = vec![
            (
                "PATH".into(),
                format!("{}:/usr/local/bin:/usr/bin:/bin", clis.display()),
            ),
            ("HOME".into(), p("u")),
            (
                "USER".into(),
                std::env::var("USER").unwrap_or_else(|_| "root".into()),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("SHELL".into(), "/bin/bash".into()),
            ("QUIL_HOME".into(), p("q")),
            ("QUIL_DAEMON_BIN".into(), QUILD.into()),
            ("XDG_CONFIG_HOME".into(), p("xdg/config")),
            ("XDG_DATA_HOME".into(), p("xdg/data")),
            ("XDG_CACHE_HOME".into(), p("xdg/cache")),
            ("XDG_STATE_HOME".into(), p("xdg/state")),
        ];
        World { dir, mock, env }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn proj(&self) -> PathBuf {
        self.path("proj")
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
    }

    /// Runs quil with exactly this world's environment (the daemon it starts inherits it).
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(QUIL)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.proj())
            .output()
            .expect("run quil")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "quil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn new_pane(&self, kind: &str) -> String {
        let proj = self.proj().display().to_string();
        self.ok(&["new-tab", "--type", kind, "--cwd", &proj])
            .trim()
            .to_string()
    }

    pub fn pane(&self, id: &str) -> Value {
        let ls: Value = serde_json::from_str(&self.ok(&["ls", "--json"])).expect("ls --json");
        ls["panes"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["id"] == id).cloned())
            .unwrap_or(Value::Null)
    }

    pub fn argv(&self, id: &str) -> Vec<String> {
        serde_json::from_value(self.pane(id)["argv"].clone()).unwrap_or_default()
    }

    pub fn wait(&self, pane: &str, regex: &str, secs: u64) {
        let t = secs.to_string();
        let out = self.run(&["wait", "--pane", pane, "--text", regex, "--timeout", &t]);
        if !out.status.success() {
            let screen = String::from_utf8_lossy(&self.run(&["capture", "--pane", pane]).stdout)
                .into_owned();
            let log = std::fs::read_to_string(self.path("q/quild.log")).unwrap_or_default();
            panic!(
                "waiting {secs} s for /{regex}/ in {pane}: {}\nscreen:\n{screen}\nquild.log:\n{log}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }

    pub fn send(&self, pane: &str, text: &str) {
        self.ok(&["send", "--pane", pane, text]);
        // The TUIs take Enter as a separate key press.
        std::thread::sleep(Duration::from_millis(300));
        self.ok(&["send-keys", "--pane", pane, "Enter"]);
    }

    /// A reboot, as far as quil can tell: the daemon and the pane holders killed (so every
    /// pane's CLI ends), then a new daemon, which resumes each into its conversation.
    pub fn reboot(&self) {
        self.kill_9_and_restart(true);
    }

    /// A crash of the daemon alone: the panes' CLIs run on under their holders, and the new
    /// daemon takes them over.
    pub fn crash(&self) {
        self.kill_9_and_restart(false);
    }

    fn kill_9_and_restart(&self, holders_too: bool) {
        let pid: i32 = std::fs::read_to_string(self.path("q/quild.pid"))
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        // SAFETY: kill(2) of the daemon this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if holders_too {
            holders::kill_holders(&self.path("q"));
        }
        self.ok(&["daemon", "start"]);
    }

    pub fn id_file(&self, kind: &str, pane: &str) -> PathBuf {
        self.path(&format!("q/sessions/{kind}-{pane}.id"))
    }

    /// The last model request whose last user message carries `marker`.
    pub fn request_with(&self, marker: &str) -> Value {
        self.request_where(marker, last_user_text)
    }

    /// The last model request whose last user message, as `last_user` reads it (each API has
    /// its own shape), carries `marker`.
    pub fn request_where(&self, marker: &str, last_user: fn(&Value) -> Option<String>) -> Value {
        self.mock
            .requests()
            .into_iter()
            .rev()
            .find(|b| last_user(b).is_some_and(|t| t.contains(marker)))
            .unwrap_or_else(|| panic!("no request carried {marker}"))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&["daemon", "stop"]);
        holders::kill_holders(&self.path("q"));
    }
}

pub fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn first_line(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
}

/// `quil events --json --pane P` in the background; its state events, collected.
pub struct StateLog {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl StateLog {
    pub fn start(w: &World, pane: &str) -> StateLog {
        use std::io::BufRead;
        let mut child = Command::new(QUIL)
            .args(["events", "--json", "--type", "state", "--pane", pane])
            .env_clear()
            .envs(w.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("quil events");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        StateLog { child, lines }
    }

    /// `state(detail)` strings until `last` is seen (included); panics after `secs`.
    pub fn until(&self, last: &str, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(v) = self.lines.recv_timeout(left) else {
                break;
            };
            let s = match v["detail"].as_str() {
                Some(d) => format!("{}({d})", v["state"].as_str().unwrap_or("null")),
                None => v["state"].as_str().unwrap_or("null").to_string(),
            };
            seen.push(s.clone());
            if s == last || s.starts_with(&format!("{last}(")) {
                return seen;
            }
        }
        panic!("no state {last} within {secs} s; saw {seen:?}");
    }
}

impl Drop for StateLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl World {
    /// Waits (quil wait --state) until the pane is in `state`; within `secs`.
    pub fn wait_state(&self, pane: &str, state: &str, secs: u64) {
        let t = secs.to_string();
        let out = self.run(&["wait", "--pane", pane, "--state", state, "--timeout", &t]);
        assert!(
            out.status.success(),
            "{pane} never {state} within {secs} s: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.pane(pane)
        );
    }
}

/// The environment of `pane`'s process once it has exec'd (until then /proc shows the
/// daemon's own, which has no `QUIL_PANE_ID`).
pub fn pane_environ(w: &World, pane: &str) -> String {
    let pid = w.pane(pane)["pid"].clone();
    eventually("the pane's own environment", START, || {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let environ = String::from_utf8_lossy(&environ).into_owned();
        environ.contains("QUIL_PANE_ID=").then_some(environ)
    })
}
