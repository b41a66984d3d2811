//! A private tmux server: its own socket (`-S` in the run's temp dir) and config file.

use crate::cleanup::Guard;
use crate::proc;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Tmux {
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub conf: PathBuf,
    pub pid: u32,
    _guard: Guard,
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// Status line off so a 120x40 client shows a 120x40 pane, as the detached session has; a
/// history limit that keeps 10,000 lines; no escape delay.
const CONF: &str = "set -g history-limit 10000\n\
set -g status off\n\
set -g default-shell /bin/sh\n\
set -g default-size 120x40\n\
set -g remain-on-exit off\n\
set -sg escape-time 0\n";

impl Tmux {
    /// Starts a server with one detached 120x40 session `session` running `sh`.
    pub fn start(bin: &Path, dir: &Path, session: &str) -> Result<Tmux> {
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("tmux.sock");
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, CONF)?;
        let (b, s) = (bin.to_path_buf(), socket.clone());
        let guard = Guard::new(move || {
            let mut c = Command::new(&b);
            c.arg("-S").arg(&s).arg("kill-server");
            let _ = proc::run_timeout(c, Duration::from_secs(10));
        });
        let mut t = Tmux {
            bin: bin.to_path_buf(),
            socket,
            conf,
            pid: 0,
            _guard: guard,
        };
        t.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "40",
            "sh",
        ])
        .context("tmux new-session")?;
        let pid = t.run(&["display-message", "-p", "#{pid}"])?;
        t.pid = pid.trim().parse().context("tmux server pid")?;
        Ok(t)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args);
        c.env_remove("TMUX");
        c
    }

    pub fn run(&self, args: &[&str]) -> Result<String> {
        proc::run_ok(self.cmd(args), TIMEOUT)
    }

    /// Opens a window in `session` running `script` (via `sh -c`); returns its pane id (`%N`).
    pub fn new_window(&self, session: &str, script: &str, select: bool) -> Result<String> {
        let target = format!("{session}:");
        let mut args = vec!["new-window", "-P", "-F", "#{pane_id}", "-t", &target];
        if !select {
            args.push("-d");
        }
        args.push(script);
        let id = self.run(&args)?.trim().to_string();
        if !id.starts_with('%') {
            bail!("tmux new-window printed {id:?}");
        }
        Ok(id)
    }

    /// `display-message -p -t TARGET FORMAT`, trimmed.
    pub fn display(&self, target: &str, format: &str) -> Result<String> {
        Ok(self
            .run(&["display-message", "-p", "-t", target, format])?
            .trim()
            .to_string())
    }

    /// A `tmux attach -t SESSION` client, to run on a PTY.
    pub fn attach_cmd(&self, session: &str) -> Command {
        let mut c = self.cmd(&["attach", "-t", session]);
        c.env("TERM", "xterm-256color");
        c
    }

    /// Waits until a client on the PTY `fd` has taken the terminal and is attached.
    pub fn wait_attached(&self, fd: i32) -> Result<()> {
        proc::wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            (crate::pty::echo_off(fd) && self.clients() > 0).then_some(())
        })
        .ok_or_else(|| anyhow!("tmux client did not attach"))
    }

    pub fn clients(&self) -> usize {
        self.run(&["list-clients"])
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    pub fn capture(&self, pane: &str) -> Result<String> {
        self.run(&["capture-pane", "-p", "-t", pane])
    }

    pub fn version(bin: &Path) -> String {
        let mut c = Command::new(bin);
        c.arg("-V");
        proc::run_ok(c, TIMEOUT)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into())
    }
}
