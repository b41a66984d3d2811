//! Finding, starting and stopping the daemon from the client side.

use crate::conn::{Client, ClientError};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "cannot find the quild binary (looked next to {exe} and on PATH); set QUIL_DAEMON_BIN"
    )]
    NoBinary { exe: String },
    #[error("cannot start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("quild exited during startup: {0}")]
    Died(String),
    #[error("quild (pid {pid}) started but did not answer within {} s; see {}", .waited.as_secs(), .log.display())]
    Timeout {
        pid: u32,
        waited: Duration,
        log: PathBuf,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The `quild` binary: `$QUIL_DAEMON_BIN`, else next to this executable, else on PATH.
pub fn daemon_binary() -> Result<PathBuf, LaunchError> {
    if let Some(p) = std::env::var_os("QUIL_DAEMON_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().unwrap_or_default();
    if let Some(dir) = exe.parent() {
        let sibling = dir.join("quild");
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("quild"))
        .find(|p| p.is_file())
        .ok_or_else(|| LaunchError::NoBinary {
            exe: exe.display().to_string(),
        })
}

/// Connects to the daemon. A daemon killed a moment ago can still hold its socket while its
/// last threads exit, and resets the connection: that is a daemon going away, so this waits
/// (up to 5 s) until it is gone and reports it as not running.
pub fn connect(home: &Path) -> Result<Client, ClientError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Client::connect(home) {
            Err(e) if is_dying(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// Connects to the daemon, starting it first when none is running.
pub fn connect_or_start(home: &Path) -> Result<Client, LaunchError> {
    match connect(home) {
        Ok(c) => Ok(c),
        Err(ClientError::NotRunning { .. }) => {
            start(home)?;
            Ok(connect(home)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The peer vanished mid-handshake: a daemon that is exiting.
fn is_dying(e: &ClientError) -> bool {
    use quil_proto::ProtoError;
    match e {
        ClientError::Closed | ClientError::Proto(ProtoError::Truncated) => true,
        ClientError::Proto(ProtoError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Launches `quild` detached (its own session, no controlling terminal) and waits until it
/// accepts connections and has brought its panes back ([`wait_restored`]). Startup errors (e.g.
/// an unwritable home) are reported from its stderr.
pub fn start(home: &Path) -> Result<(), LaunchError> {
    let bin = daemon_binary()?;
    let mut cmd = Command::new(&bin);
    cmd.env("QUIL_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Run from / so the daemon never pins a directory the user wants to unmount or delete.
    cmd.current_dir("/");
    // SAFETY: setsid is async-signal-safe; it detaches quild from our terminal and session.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| LaunchError::Spawn {
        bin: bin.clone(),
        source: e,
    })?;
    // Generous: a start waits on the disk, which other programs can keep busy for seconds.
    let timeout = Duration::from_secs(30);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(c) = Client::connect(home) {
            wait_restored(c);
            return Ok(());
        }
        if let Ok(Some(_)) = child.try_wait() {
            // It may have lost a race to a daemon started at the same moment: that is fine.
            if let Ok(c) = Client::connect(home) {
                wait_restored(c);
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            // Once it has claimed its home, quild writes to its log instead of stderr.
            let line = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
                .or_else(|| last_words(home))
                .unwrap_or_else(|| "no output".to_string());
            return Err(LaunchError::Died(
                line.trim_start_matches("quild: ").to_string(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(LaunchError::Timeout {
        pid: child.id(),
        waited: timeout,
        log: quil_proto::paths::log_path(home),
    })
}

/// How long a client that started the daemon waits for it to bring its panes back.
const RESTORE_WAIT: Duration = Duration::from_secs(60);

/// Returns once the daemon on `c` has brought every saved pane back, or after
/// [`RESTORE_WAIT`] (saying so). The daemon serves clients while it restores, and other
/// clients see panes come back one by one; the client that started it (a command run with no
/// daemon, `quil restart`) sees the workspace whole, as it was saved.
pub fn wait_restored(mut c: Client) -> Option<quil_proto::StatusInfo> {
    let deadline = Instant::now() + RESTORE_WAIT;
    loop {
        let s = match c.request(quil_proto::Request::Status) {
            Ok(quil_proto::Reply::Status(s)) => s,
            _ => return None,
        };
        if s.restoring == 0 && !s.adopting {
            return Some(s);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "quil: warning: quild is still restoring {} panes after {} s",
                s.restoring,
                RESTORE_WAIT.as_secs()
            );
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fatal error a daemon wrote to its log as it exited (`quild: ...`).
fn last_words(home: &Path) -> Option<String> {
    let log = std::fs::read_to_string(quil_proto::paths::log_path(home)).ok()?;
    log.lines()
        .rev()
        .take(5)
        .find(|l| l.starts_with("quild: "))
        .map(str::to_string)
}

/// The pid the daemon wrote, if any.
pub fn daemon_pid(home: &Path) -> Option<i32> {
    std::fs::read_to_string(quil_proto::paths::pid_path(home))
        .ok()?
        .trim()
        .parse()
        .ok()
}
