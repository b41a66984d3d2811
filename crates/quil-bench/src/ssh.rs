//! A private OpenSSH server on 127.0.0.1 for the paths over ssh: plain `ssh -tt`, `ssh` +
//! `tmux attach`, and `quil -r`. It runs from a scratch directory with its own host key, user
//! key and configs (no system service), and must run as root to log a user in.
//!
//! A [`Link::Delayed`] sshd is reached through `quil-bench delay` as ssh's `ProxyCommand`, which
//! holds every chunk [`DELAY`] each way: a link with 100 ms of round trip. (`tc netem` would be
//! the usual tool, but kernels without `sch_netem`, like this bench machine's, cannot add it.)

use crate::cleanup::Guard;
use crate::proc;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

/// Added to each direction of a [`Link::Delayed`] link.
pub const DELAY: Duration = Duration::from_millis(50);

/// How the client reaches the sshd.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// Straight over loopback: the link adds nothing but ssh's own work.
    Loopback,
    /// Through a relay adding [`DELAY`] each way.
    Delayed,
}

impl Link {
    /// The longest a round trip takes more than over loopback.
    pub fn round_trip(self) -> Duration {
        match self {
            Link::Loopback => Duration::ZERO,
            Link::Delayed => 2 * DELAY,
        }
    }
}

/// A way to a pane over ssh.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Over {
    /// `ssh -tt HOST PROGRAM`: every byte crosses the link.
    Plain,
    /// `ssh -tt HOST tmux attach`: tmux's client runs on the far side.
    Tmux,
    /// `quil -r HOST`: quil's client runs on this side.
    Quil,
}

/// Every way over ssh, on each link: the paths the latency and throughput measures share.
pub const PATHS: [(Over, Link); 6] = [
    (Over::Plain, Link::Loopback),
    (Over::Tmux, Link::Loopback),
    (Over::Quil, Link::Loopback),
    (Over::Plain, Link::Delayed),
    (Over::Tmux, Link::Delayed),
    (Over::Quil, Link::Delayed),
];

impl Over {
    /// The system key (`ssh-raw`, `ssh-tmux-50ms`, ...).
    pub fn key(self, link: Link) -> &'static str {
        match (self, link) {
            (Over::Plain, Link::Loopback) => "ssh-raw",
            (Over::Tmux, Link::Loopback) => "ssh-tmux",
            (Over::Quil, Link::Loopback) => "quil-remote",
            (Over::Plain, Link::Delayed) => "ssh-raw-50ms",
            (Over::Tmux, Link::Delayed) => "ssh-tmux-50ms",
            (Over::Quil, Link::Delayed) => "quil-remote-50ms",
        }
    }

    pub fn label(self, link: Link) -> &'static str {
        match (self, link) {
            (Over::Plain, Link::Loopback) => "plain ssh (`ssh -tt 127.0.0.1`, over loopback)",
            (Over::Tmux, Link::Loopback) => "ssh + tmux (`ssh -tt 127.0.0.1 tmux attach`)",
            (Over::Quil, Link::Loopback) => "quil over ssh (`quil -r 127.0.0.1` TUI)",
            (Over::Plain, Link::Delayed) => "plain ssh, link with 50 ms added each way",
            (Over::Tmux, Link::Delayed) => "ssh + tmux attach, link with 50 ms added each way",
            (Over::Quil, Link::Delayed) => "quil -r, link with 50 ms added each way",
        }
    }
}

pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
    _guard: Guard,
}

impl Sshd {
    pub fn start(dir: &Path, link: Link) -> Result<Sshd> {
        if !nix::unistd::geteuid().is_root() {
            bail!("the paths over ssh start an sshd, which must run as root");
        }
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} is missing (apt-get install openssh-server)");
        }
        std::fs::create_dir_all("/run/sshd")?;
        std::fs::create_dir_all(dir)?;
        for key in ["host_key", "user_key"] {
            let _ = std::fs::remove_file(dir.join(key));
            let mut c = Command::new("ssh-keygen");
            c.args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(dir.join(key));
            proc::run_ok(c, Duration::from_secs(20)).context("ssh-keygen")?;
        }
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            ),
        )?;
        let proxy = match link {
            Link::Loopback => String::new(),
            Link::Delayed => format!(
                "  ProxyCommand {} delay --ms {} %h %p\n",
                std::env::current_exe()?.display(),
                DELAY.as_millis()
            ),
        };
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())?
            .ok_or_else(|| anyhow!("no passwd entry for this user"))?
            .name;
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n  User {user}\n  Port {port}\n  IdentityFile {d}/user_key\n  \
                 IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
                 UserKnownHostsFile {d}/known_hosts\n  LogLevel ERROR\n{proxy}"
            ),
        )?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log"))?)
            .spawn()
            .context("start sshd")?;
        let pid = child.id();
        let guard = Guard::new(move || proc::kill(pid, libc::SIGKILL));
        proc::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .ok_or_else(|| anyhow!("sshd never listened on port {port}"))?;
        Ok(Sshd {
            dir: dir.to_path_buf(),
            port,
            _guard: guard,
        })
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// `ssh -tt 127.0.0.1 -- LINE`: `cmd` (its environment and arguments) run on the far side,
    /// with a terminal, as `ssh host tmux attach` would be.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut line = String::from("exec env");
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                line.push(' ');
                line.push_str(&quote(&format!(
                    "{}={}",
                    k.to_string_lossy(),
                    v.to_string_lossy()
                )));
            }
        }
        line.push(' ');
        line.push_str(&quote(&cmd.get_program().to_string_lossy()));
        for a in cmd.get_args() {
            line.push(' ');
            line.push_str(&quote(&a.to_string_lossy()));
        }
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(self.config())
            .args(["-tt", "127.0.0.1", "--", &line])
            .env("TERM", "xterm-256color");
        c
    }
}

/// `s` in single quotes for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
