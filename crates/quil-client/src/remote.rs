//! Where the daemon is: this machine's (`$QUIL_HOME`), or another machine's reached through
//! the user's own `ssh` (`quil -r [user@]host[:port]`, or a `[[remotes]]` entry of
//! config.toml). Over ssh, `quil proxy` on the far side joins ssh's stdin and stdout to the
//! daemon's socket there; here, ssh's stdin and stdout are one end of a socket pair and the
//! [`Client`] talks over the other, so the protocol and the handshake are those of a local
//! connection. Nothing listens on the network: ssh carries the bytes, as it would a shell's.

use crate::conn::{Client, ClientError};
use crate::launch::{self, LaunchError};
use crate::tui::config::ConfigError;
use quil_proto::PROTOCOL_VERSION;
use std::collections::VecDeque;
use std::io::BufRead;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long ssh, the far side's login and its daemon may take to answer the handshake (a
/// passphrase typed at ssh's prompt counts).
pub const SSH_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// `quil proxy --no-start`'s exit status when no daemon runs.
pub const EXIT_NOT_RUNNING: i32 = 3;

/// How one attempt to connect again went ([`Target::reconnect_attempt`]).
#[derive(Debug)]
pub enum Attempt<C> {
    Connected(C),
    /// Not this time, and why: try again later.
    Failed(String),
    /// The daemon said goodbye and none came back in time.
    Gone,
}

/// Where the daemon lives.
#[derive(Debug, Clone)]
pub enum Target {
    /// The daemon of this `$QUIL_HOME`.
    Local { home: PathBuf },
    /// A daemon on another host, through ssh.
    Remote(Remote),
}

impl Target {
    /// Connects without starting a daemon (the remote side runs `quil proxy --no-start`).
    pub fn connect(&self) -> Result<Client, ClientError> {
        match self {
            Target::Local { home } => launch::connect(home),
            Target::Remote(r) => r.connect(false),
        }
    }

    /// Connects, starting the daemon when none runs (the remote side starts its own).
    pub fn connect_or_start(&self) -> Result<Client, LaunchError> {
        match self {
            Target::Local { home } => launch::connect_or_start(home),
            Target::Remote(r) => Ok(r.connect(true)?),
        }
    }

    /// One attempt to connect again after the connection to the daemon was lost. A daemon
    /// that vanished without a word (a crash) is started again at once, as any command would;
    /// one that said goodbye (`quil restart`, `quil daemon stop`) is only waited for:
    /// [`Attempt::Gone`] once `grace` has passed since the loss (`lost_for`) with none back.
    pub fn reconnect_attempt(
        &self,
        said_bye: bool,
        lost_for: Duration,
        grace: Duration,
    ) -> Attempt<Client> {
        match self.connect() {
            Ok(c) => Attempt::Connected(c),
            Err(e) if e.is_not_running() && said_bye => {
                if lost_for >= grace {
                    Attempt::Gone
                } else {
                    Attempt::Failed(e.to_string())
                }
            }
            Err(e) if e.is_not_running() => match self.connect_or_start() {
                Ok(c) => Attempt::Connected(c),
                Err(e) => Attempt::Failed(format!("{e:#}")),
            },
            Err(e) => Attempt::Failed(e.to_string()),
        }
    }

    /// Where the daemon lives, as tabs and `ls --json` name it: `local`, or the remote's name.
    pub fn label(&self) -> String {
        self.remote()
            .map_or_else(|| "local".into(), |r| r.label.clone())
    }

    pub fn remote(&self) -> Option<&Remote> {
        match self {
            Target::Local { .. } => None,
            Target::Remote(r) => Some(r),
        }
    }

    /// The same target for connections made with nobody to answer ssh's prompts (the TUI
    /// reconnecting behind its full screen).
    pub fn unattended(&self) -> Target {
        match self {
            Target::Local { .. } => self.clone(),
            Target::Remote(r) => Target::Remote(Remote {
                batch: true,
                ..r.clone()
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// What the user called it: a `[[remotes]]` name, or the `[user@]host[:port]` given.
    pub label: String,
    /// `[user@]host`, as ssh takes it.
    pub host: String,
    pub port: Option<u16>,
    /// The ssh command line before the host (`["ssh"]` unless configured).
    pub ssh: Vec<String>,
    /// The `quil` program on the far side (a path, or a name on its PATH).
    pub quil: String,
    /// `-o BatchMode=yes`: ssh fails instead of asking for a password or passphrase.
    pub batch: bool,
}

/// What `quil remote setup` installed.
#[derive(Debug)]
pub struct Installed {
    /// The installed `quil`, as an absolute path on the host.
    pub path: String,
    /// Whether the remote's configured `quil` (a name on the PATH there by default) is it.
    pub reached: bool,
}

/// One `[[remotes]]` entry of config.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: String,
    pub host: String,
    pub quil: String,
    pub ssh: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("--remote {spec:?}: {why}")]
    BadSpec { spec: String, why: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Remote {
    /// `spec` as a `[[remotes]]` name of `home`'s config.toml, else as `[user@]host[:port]`.
    /// A config.toml whose `[[remotes]]` are wrong is reported (its first problem), not
    /// silently passed over.
    pub fn resolve(spec: &str, home: &Path) -> Result<Remote, RemoteError> {
        let (entries, problems) = load_remotes(home);
        if let Some(p) = problems.into_iter().next() {
            return Err(p.into());
        }
        let batch = !interactive();
        if let Some(e) = entries.into_iter().find(|e| e.name == spec) {
            let (host, port) = parse_host(&e.host).map_err(|why| RemoteError::BadSpec {
                spec: spec.to_string(),
                why,
            })?;
            return Ok(Remote {
                label: e.name,
                host,
                port,
                ssh: e.ssh,
                quil: e.quil,
                batch,
            });
        }
        let (host, port) = parse_host(spec).map_err(|why| RemoteError::BadSpec {
            spec: spec.to_string(),
            why,
        })?;
        Ok(Remote {
            label: spec.to_string(),
            host,
            port,
            ssh: vec!["ssh".into()],
            quil: "quil".into(),
            batch,
        })
    }

    /// The ssh command that runs `quil ARGS...` on the host. `-T`: never a terminal on the
    /// far side (the bytes are the protocol's), whatever the user's ssh config requests.
    pub fn command(&self, args: &[&str]) -> Command {
        // ssh hands the words to the far side's shell as one line: quote what it would split.
        let line: Vec<String> = std::iter::once(self.quil.as_str())
            .chain(args.iter().copied())
            .map(shell_word)
            .collect();
        self.shell(&line.join(" "))
    }

    /// The ssh command that runs the shell command line `line` on the host.
    fn shell(&self, line: &str) -> Command {
        let mut cmd = Command::new(&self.ssh[0]);
        cmd.args(&self.ssh[1..]).arg("-T");
        if self.batch {
            cmd.args(["-o", "BatchMode=yes"]);
        }
        // A link that goes silent (a suspended laptop, a dropped Wi-Fi) ends ssh within 15 s,
        // so the TUI says it is reconnecting; a host that never answers fails in 10 s.
        cmd.args(KEEPALIVE);
        if let Some(p) = self.port {
            cmd.args(["-p", &p.to_string()]);
        }
        cmd.arg(&self.host).arg("--").arg(line);
        cmd
    }

    /// Runs `line` on the host with `input` on its stdin; its stdout, or why it failed.
    fn run_shell(&self, line: &str, input: &[u8]) -> Result<String, SetupError> {
        let failed = |why: String| SetupError::Ssh {
            host: self.label.clone(),
            why,
        };
        let mut child = self
            .shell(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", self.ssh[0])))?;
        let mut stdin = child.stdin.take();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.as_mut().map(|s| s.write_all(&input))
        });
        let out = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        let _ = writer.join();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(failed(format!("`{line}` failed: {}", last.trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `quil remote setup`: installs this build's `quil`, `quild` and `quil-holder` in `dir`
    /// on the host (`~/.local/bin` when `None`), when the host's platform is this build's;
    /// returns where `quil` went there.
    pub fn setup(&self, dir: Option<&str>) -> Result<Installed, SetupError> {
        let theirs = self.run_shell("uname -sm", b"")?;
        let ours = platform();
        if !same_platform(&theirs, &ours) {
            return Err(SetupError::Platform {
                host: self.label.clone(),
                theirs,
                ours,
            });
        }
        // Expanded by the far side's shell: `~` there is the remote user's home.
        let dir = match dir {
            Some(d) => shell_word(d),
            None => "\"$HOME\"/.local/bin".into(),
        };
        let here = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
            .ok_or(SetupError::Local(
                "cannot find this quil's directory".into(),
            ))?;
        for name in ["quil-holder", "quild", "quil"] {
            let bin = std::fs::read(here.join(name)).map_err(|e| {
                SetupError::Local(format!("cannot read {}: {e}", here.join(name).display()))
            })?;
            // Written beside, then renamed over: a running quild or holder keeps its file.
            self.run_shell(
                &format!(
                    "mkdir -p {dir} && t={dir}/.{name}.$$ && cat > \"$t\" && chmod 755 \"$t\" \
                     && mv -f \"$t\" {dir}/{name}"
                ),
                &bin,
            )?;
        }
        let version = self.run_shell(&format!("{dir}/quil --version"), b"")?;
        let want = format!("quil {}", env!("CARGO_PKG_VERSION"));
        if version != want {
            return Err(SetupError::Ssh {
                host: self.label.clone(),
                why: format!("the installed quil says {version:?}, not {want:?}"),
            });
        }
        // Where it went, and what this remote's `quil` (as `quil -r` runs it) finds there.
        let found = self.run_shell(
            &format!(
                "cd {dir} && pwd && (command -v {} || true)",
                shell_word(&self.quil)
            ),
            b"",
        )?;
        let mut lines = found.lines();
        let path = format!("{}/quil", lines.next().unwrap_or_default());
        let reached = lines.next().is_some_and(|p| p == path);
        Ok(Installed { path, reached })
    }

    /// Runs `ssh HOST -- quil proxy` with its stdin and stdout on a socket pair and performs
    /// the handshake over it. Without `start`, a host with no daemon running is
    /// [`ClientError::RemoteNotRunning`].
    pub fn connect(&self, start: bool) -> Result<Client, ClientError> {
        let args: &[&str] = if start {
            &["proxy"]
        } else {
            &["proxy", "--no-start"]
        };
        let (ours, theirs) = UnixStream::pair().map_err(quil_proto::ProtoError::from)?;
        let io = |e: std::io::Error| ClientError::Unreachable {
            host: self.label.clone(),
            why: format!("cannot run {}: {e}", self.ssh[0]),
        };
        let input = OwnedFd::from(theirs.try_clone().map_err(io)?);
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::from(input))
            .stdout(Stdio::from(OwnedFd::from(theirs)))
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(io)?;
        // Our copies of ssh's end must close, or its exit would never end the stream.
        drop(cmd);
        let tail = Tail::follow(child.stderr.take());
        let link = SshLink {
            label: self.label.clone(),
            quil: self.quil.clone(),
            start,
            child,
            tail,
            shut: ours.try_clone().map_err(io)?,
            status: None,
        };
        Client::over_ssh(ours, link, SSH_HANDSHAKE_TIMEOUT)
    }

    /// Runs `quil ARGS...` on the host with this terminal's stdin, stdout and stderr (the
    /// commands about the daemon's process: `daemon start|stop|status`, `restart`); its
    /// exit status.
    pub fn run_there(&self, args: &[&str]) -> Result<i32, ClientError> {
        let status = self
            .command(args)
            .status()
            .map_err(|e| ClientError::Unreachable {
                host: self.label.clone(),
                why: format!("cannot run {}: {e}", self.ssh[0]),
            })?;
        match status.code() {
            Some(255) => Err(ClientError::Unreachable {
                host: self.label.clone(),
                why: "ssh failed (its message is above)".into(),
            }),
            Some(c) => Ok(c),
            None => Ok(1),
        }
    }
}

/// ssh options for every connection: keepalives (a silent link is given up after 3 × 5 s)
/// and a limit on connecting. They override the user's ssh config for quil's links only.
const KEEPALIVE: [&str; 6] = [
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "ConnectTimeout=10",
];

/// Why `quil remote setup` did not install.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{host}: {why}")]
    Ssh { host: String, why: String },
    #[error(
        "{host} is {theirs}, and this quil was built for {ours}: build quil there (`cargo install \
         --locked --path crates/quil` in a checkout of the same version), then use \
         `quil -r {host}`"
    )]
    Platform {
        host: String,
        theirs: String,
        ours: String,
    },
    #[error("{0}")]
    Local(String),
}

/// This build's platform as `uname -sm` says it.
fn platform() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        other => other,
    };
    format!("{os} {}", std::env::consts::ARCH)
}

/// `uname -sm` of two machines: the same OS and architecture (`arm64` is `aarch64`).
fn same_platform(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().replace("arm64", "aarch64").to_lowercase();
    norm(a) == norm(b)
}

/// Whether someone is at a terminal to answer ssh's questions.
fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// `s` as one word for a POSIX shell; a leading `~/` stays expandable.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%~".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `[user@]host[:port]` (an IPv6 address with a port in brackets: `[::1]:22`) into ssh's
/// `[user@]host` and the port.
pub fn parse_host(spec: &str) -> Result<(String, Option<u16>), String> {
    if spec.is_empty() {
        return Err("empty host".into());
    }
    // ssh would read a leading `-` as one of its options (`-oProxyCommand=...`).
    if spec.starts_with('-') {
        return Err("a host cannot start with `-`".into());
    }
    if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a host cannot contain spaces or control characters".into());
    }
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u), r),
        Some(_) => return Err("empty user before `@`".into()),
        None => (None, spec),
    };
    let port = |p: &str| -> Result<u16, String> {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port {p:?}"))
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| "missing `]` after the address".to_string())?;
        match after {
            "" => (addr, None),
            a => match a.strip_prefix(':') {
                Some(p) => (addr, Some(port(p)?)),
                None => return Err(format!("unexpected {a:?} after `]`")),
            },
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
        (h, Some(port(p)?))
    } else {
        (rest, None)
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    let host = match user {
        Some(u) => format!("{u}@{host}"),
        None => host.to_string(),
    };
    Ok((host, port))
}

/// The `[[remotes]]` of `$QUIL_HOME/config.toml`: the good entries, and each problem with its
/// place in the file. A missing file has none.
pub fn load_remotes(home: &Path) -> (Vec<RemoteEntry>, Vec<ConfigError>) {
    let file = home.join("config.toml");
    match std::fs::read_to_string(&file) {
        Ok(text) => parse_remotes(&text, &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
        Err(e) => (
            Vec::new(),
            vec![ConfigError {
                file,
                pos: None,
                msg: format!("cannot read: {e}"),
            }],
        ),
    }
}

pub fn parse_remotes(text: &str, file: &Path) -> (Vec<RemoteEntry>, Vec<ConfigError>) {
    use quil_proto::configpos::{locate_array, locate_in_array};
    let mut problems = Vec::new();
    let mut err = |pos, msg: String| {
        problems.push(ConfigError {
            file: file.to_path_buf(),
            pos,
            msg,
        })
    };
    let table = match crate::tui::config::parse_table(text, file) {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let Some(list) = table.get("remotes") else {
        return (Vec::new(), problems);
    };
    let Some(list) = list.as_array() else {
        err(None, "remotes: expected [[remotes]] tables".into());
        return (Vec::new(), problems);
    };
    let mut out: Vec<RemoteEntry> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let at = format!("[[remotes]] #{}", i + 1);
        let here = locate_array(text, "remotes", i);
        let pos = |k: &str| locate_in_array(text, "remotes", i, k).or(here);
        let Some(t) = v.as_table() else {
            err(here, format!("{at}: expected a table"));
            continue;
        };
        let mut bad = false;
        for k in t.keys() {
            if !matches!(k.as_str(), "name" | "host" | "quil" | "ssh") {
                err(
                    pos(k),
                    format!("{at}: unknown setting {k:?} (expected name, host, quil or ssh)"),
                );
                bad = true;
            }
        }
        let mut string = |k: &str, default: Option<&str>| -> Option<String> {
            match t.get(k) {
                None => {
                    if default.is_none() {
                        err(here, format!("{at}: `{k}` is required"));
                    }
                    default.map(str::to_string)
                }
                Some(toml::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(_) => {
                    err(pos(k), format!("{at}: `{k}` must be a non-empty string"));
                    None
                }
            }
        };
        let name = string("name", None);
        let host = string("host", None);
        let quil = string("quil", Some("quil"));
        let ssh = match t.get("ssh") {
            None => Some(vec!["ssh".to_string()]),
            Some(toml::Value::Array(a))
                if !a.is_empty() && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) =>
            {
                Some(
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                )
            }
            Some(_) => {
                err(
                    pos("ssh"),
                    format!("{at}: `ssh` must be a command line, e.g. [\"ssh\", \"-F\", \"/path/to/ssh_config\"]"),
                );
                None
            }
        };
        let (Some(name), Some(host), Some(quil), Some(ssh)) = (name, host, quil, ssh) else {
            continue;
        };
        if let Err(why) = parse_host(&host) {
            err(pos("host"), format!("{at}: host {host:?}: {why}"));
            continue;
        }
        if out.iter().any(|e| e.name == name) {
            err(
                pos("name"),
                format!("{at}: a remote named {name:?} comes earlier"),
            );
            continue;
        }
        if !bad {
            out.push(RemoteEntry {
                name,
                host,
                quil,
                ssh,
            });
        }
    }
    // In the order of the file.
    problems.sort_by_key(|p| p.pos.unwrap_or((usize::MAX, 0)));
    (out, problems)
}

/// The last lines ssh wrote to its stderr: its own errors, and the far side's.
#[derive(Clone)]
struct Tail(Arc<Mutex<(VecDeque<String>, bool)>>);

impl Tail {
    const LINES: usize = 20;
    const WIDTH: usize = 400;

    fn follow(stderr: Option<std::process::ChildStderr>) -> Tail {
        let tail = Tail(Arc::new(Mutex::new((VecDeque::new(), false))));
        let Some(stderr) = stderr else {
            tail.lock().1 = true;
            return tail;
        };
        let t = tail.clone();
        // Not joined: an ssh ControlMaster it started may keep the pipe open for a long time.
        let spawned = std::thread::Builder::new()
            .name("ssh-stderr".into())
            .spawn(move || {
                let mut r = std::io::BufReader::new(stderr);
                let mut line = Vec::new();
                while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    let text: String = String::from_utf8_lossy(&line)
                        .trim_end()
                        .chars()
                        .take(Self::WIDTH)
                        .collect();
                    line.clear();
                    let mut g = t.lock();
                    g.0.push_back(text);
                    if g.0.len() > Self::LINES {
                        g.0.pop_front();
                    }
                }
                t.lock().1 = true;
            });
        if spawned.is_err() {
            tail.lock().1 = true;
        }
        tail
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<String>, bool)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last line that says something, once ssh's stderr has ended (or `within` passed).
    fn last_word(&self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while !self.lock().1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.lock()
            .0
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .map(|l| l.strip_prefix("quil: ").unwrap_or(l).to_string())
    }
}

/// The ssh process under a connection. Ending the connection ends it.
pub struct SshLink {
    label: String,
    quil: String,
    start: bool,
    child: Child,
    tail: Tail,
    /// Our end of the socket pair, to close the stream for ssh before it is stopped.
    shut: UnixStream,
    status: Option<ExitStatus>,
}

impl SshLink {
    pub fn host(&self) -> &str {
        &self.label
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(s)) => self.status = Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
        self.status
    }

    /// Why the stream ended before the handshake: ssh's exit and last words.
    pub(crate) fn failed(&mut self, e: ClientError) -> ClientError {
        let host = self.label.clone();
        let status = self.wait_exit(Duration::from_secs(5));
        let said = self.tail.last_word(Duration::from_millis(500));
        let unreachable = |why: String| ClientError::Unreachable {
            host: host.clone(),
            why,
        };
        match status.map(|s| (s.code(), s)) {
            Some((Some(EXIT_NOT_RUNNING), _)) if !self.start => {
                ClientError::RemoteNotRunning { host }
            }
            Some((Some(127), _)) => unreachable(format!(
                "`{}` is not there ({}); install quil on {host}, or give its path as \
                 `quil = \"/path/to/quil\"` in a [[remotes]] entry of config.toml",
                self.quil,
                said.unwrap_or_else(|| "command not found".into())
            )),
            Some((Some(2), _)) if said.as_deref().is_some_and(|s| s.contains("proxy")) => {
                ClientError::Refused(format!(
                    "the quil on {host} is older than this one (it has no `quil proxy`): \
                     upgrade quil on {host} to {}",
                    env!("CARGO_PKG_VERSION")
                ))
            }
            Some((Some(c), _)) => unreachable(said.unwrap_or_else(|| match c {
                255 => "ssh failed (exit status 255)".into(),
                c => format!("`{} proxy` exited with status {c}", self.quil),
            })),
            Some((None, s)) => unreachable(format!("ssh ended: {s}")),
            None => unreachable(format!("{e} (ssh is still running)")),
        }
    }

    /// Why an open connection ended: the daemon closing it (ssh exits 0), or ssh's failure.
    pub(crate) fn lost(&mut self) -> ClientError {
        let status = self.wait_exit(Duration::from_secs(2));
        let said = self.tail.last_word(Duration::from_millis(200));
        let why = match status {
            Some(s) if s.success() => return ClientError::Closed,
            Some(s) => match (said, s.code()) {
                (Some(w), _) => w,
                (None, Some(c)) => format!("ssh exited with status {c}"),
                (None, None) => format!("ssh ended: {s}"),
            },
            None => "the connection closed".into(),
        };
        ClientError::Lost {
            host: self.label.clone(),
            why,
        }
    }

    /// The one line for a daemon on the host that speaks protocol `theirs`: which side to
    /// upgrade, and how. (Two builds of one version may speak different protocols, so the
    /// protocol is what it names.)
    pub(crate) fn mismatch(&self, theirs: u16) -> String {
        let (host, ours, v) = (&self.label, PROTOCOL_VERSION, env!("CARGO_PKG_VERSION"));
        if theirs < ours {
            format!(
                "the quil daemon on {host} speaks an older protocol (v{theirs}) than this quil \
                 {v} (v{ours}): upgrade quil on {host} to this build (`quil remote setup \
                 {host}`), then its daemon, keeping its panes running (`quil -r {host} daemon \
                 upgrade`)"
            )
        } else {
            format!(
                "the quil daemon on {host} speaks a newer protocol (v{theirs}) than this quil \
                 {v} (v{ours}): upgrade quil on this machine to the build on {host}"
            )
        }
    }
}

impl Drop for SshLink {
    fn drop(&mut self) {
        // End of stream first: ssh passes it on and exits cleanly (the far side's proxy too);
        // a moment later it is killed, so a dead link never holds the client up.
        let _ = self.shut.shutdown(std::net::Shutdown::Both);
        if self.wait_exit(Duration::from_millis(300)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let ok = |s: &str| parse_host(s).unwrap();
        assert_eq!(ok("box"), ("box".into(), None));
        assert_eq!(ok("me@box:2222"), ("me@box".into(), Some(2222)));
        assert_eq!(ok("[::1]:22"), ("::1".into(), Some(22)));
        assert_eq!(ok("me@[::1]"), ("me@::1".into(), None));
        assert_eq!(ok("fe80::1"), ("fe80::1".into(), None));
        for bad in [
            "",
            "-oProxyCommand=x",
            "box:0",
            "box:x",
            "@box",
            "a b",
            "[::1",
            ":22",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("~/bin/quil"), "~/bin/quil");
        assert_eq!(shell_word("/opt/my quil"), "'/opt/my quil'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn ssh_command_line() {
        let r = Remote {
            label: "box".into(),
            host: "me@box".into(),
            port: Some(2222),
            ssh: vec!["ssh".into(), "-F".into(), "/t/cfg".into()],
            quil: "/opt/q uil".into(),
            batch: true,
        };
        let cmd = r.command(&["proxy", "--no-start"]);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(cmd.get_program(), "ssh");
        assert_eq!(
            args,
            [
                "-F",
                "/t/cfg",
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "ConnectTimeout=10",
                "-p",
                "2222",
                "me@box",
                "--",
                "'/opt/q uil' proxy --no-start"
            ]
        );
    }

    #[test]
    fn remotes_in_config() {
        let text = "[keys]\npreset = \"tmux\"\n\n[[remotes]]\nname = \"box\"\nhost = \"me@box:2222\"\n\n[[remotes]]\nname = \"vps\"\nhost = \"vps\"\nquil = \"~/bin/quil\"\nssh = [\"ssh\", \"-F\", \"/x\"]\n\n[[remotes]]\nname = \"bad\"\nhost = \"-oProxyCommand=x\"\n\n[[remotes]]\nhost = \"h\"\nport = 22\n";
        let (entries, problems) = parse_remotes(text, Path::new("c.toml"));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].quil, "quil");
        assert_eq!(entries[0].ssh, ["ssh"]);
        assert_eq!(entries[1].ssh, ["ssh", "-F", "/x"]);
        let msgs: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(
            msgs[0].starts_with("c.toml:16:1: [[remotes]] #3: host"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with("c.toml:18:1: [[remotes]] #4: `name` is required"),
            "{msgs:?}"
        );
        assert!(
            msgs[2].starts_with("c.toml:20:1: [[remotes]] #4: unknown setting \"port\""),
            "{msgs:?}"
        );
    }
}
