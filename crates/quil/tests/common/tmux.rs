//! tmux as the outer terminal of a TUI under test: a private server per session, driven with
//! `send-keys` and read with `capture-pane`.

use std::process::Command;
use std::time::{Duration, Instant};

/// How long a screen may take to show what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Starts a tmux server on socket `sock` with one window of `w` x `h` running `cmd` (a shell
/// command line). Panics when tmux is missing (scripts/test.sh installs it).
pub fn new_session(sock: &str, w: u16, h: u16, cmd: &str) {
    let out = Command::new("tmux")
        .args(["-L", sock, "-f", "/dev/null", "new-session", "-d"])
        .args(["-x", &w.to_string(), "-y", &h.to_string(), cmd])
        .output()
        .expect("run tmux (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn kill_server(sock: &str) {
    let _ = Command::new("tmux")
        .args(["-L", sock, "kill-server"])
        .output();
}

/// Sends tmux key names (`Enter`, `M-w`, `C-c`).
pub fn keys(sock: &str, keys: &[&str]) {
    let out = Command::new("tmux")
        .args(["-L", sock, "send-keys", "-t", "0"])
        .args(keys)
        .output()
        .expect("tmux send-keys");
    assert!(
        out.status.success(),
        "send-keys: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Types `text` literally.
pub fn type_text(sock: &str, text: &str) {
    keys(sock, &["-l", text]);
}

pub fn screen(sock: &str) -> String {
    let out = Command::new("tmux")
        .args(["-L", sock, "capture-pane", "-p", "-t", "0"])
        .output()
        .expect("tmux capture-pane");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls the screen until `pred` holds; fails with the last screen after [`DEADLINE`].
pub fn wait_for(sock: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let s = screen(sock);
        if pred(&s) {
            return s;
        }
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for {what}; screen:\n{s}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Text inside pane borders, one entry per pane per row, trimmed: `┃hello  ┃ x ┃` gives
/// `hello` and `x`.
pub fn pane_lines(s: &str) -> Vec<String> {
    s.lines()
        .flat_map(|l| {
            l.split(['┃', '│'])
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether a pane shows exactly `want` on a line of its own.
pub fn has_line(s: &str, want: &str) -> bool {
    pane_lines(s).iter().any(|l| l == want)
}
