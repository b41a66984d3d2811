//! `quil -r`: the CLI and the TUI against a daemon reached through a real OpenSSH server.
//!
//! Each test starts its own `sshd` (the Debian package's, `-D`, no system service) on
//! 127.0.0.1 with a host key, a user key and a config in a temp dir; the client's ssh reads a
//! config there too (named by `[[remotes]] ssh = ["ssh", "-F", ...]`). The "remote" quil is a
//! wrapper script that gives it its own `$QUIL_HOME`, so what lands there, and not in the local
//! home, shows that the command crossed ssh. sshd logs users in as root: these tests need root
//! (scripts/test.sh and CI run as root).

mod common;

use common::*;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd and everything the client needs to reach it. Dropping it stops the server.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Sshd {
    fn start() -> Sshd {
        assert!(
            nix::unistd::geteuid().is_root(),
            "tests/remote.rs starts an OpenSSH server, which must run as root to log a user in; \
             run the tests as root (scripts/test.sh and CI do)"
        );
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (scripts/test.sh does)"
        );
        // sshd insists on its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("qssh")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        for key in ["host_key", "user_key"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(d.join(key))
                .output()
                .expect("run ssh-keygen");
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorize");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let log = std::fs::File::create(d.join("sshd.log")).expect("sshd.log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .expect("passwd")
            .expect("a passwd entry")
            .name;
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  User {user}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  \
                 StrictHostKeyChecking no\n  UserKnownHostsFile {d}/known_hosts\n  \
                 LogLevel ERROR\n",
                d = d.display()
            ),
        )
        .expect("ssh_config");
        let s = Sshd { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd never listened on port {port}: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("sshd.log")).unwrap_or_default()
    }

    /// A `quil` for the far side: the test's binary with `remote`'s `$QUIL_HOME`.
    fn remote_quil(&self, remote: &Home) -> PathBuf {
        let script = format!(
            "#!/bin/sh\nexport QUIL_HOME='{}' QUIL_DAEMON_BIN='{QUILD}' HOME='{}' SHELL=/bin/bash\n\
             unset QUIL_PANE_ID PROMPT_COMMAND\nexec '{QUIL}' \"$@\"\n",
            remote.path().display(),
            remote.user_home().display()
        );
        self.script("remote-quil", &script)
    }

    fn script(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write script");
        set_mode(&p, 0o755);
        p
    }

    /// Names the remote `name` in `local`'s config.toml: this sshd, with `quil` there.
    fn configure(&self, local: &Home, name: &str, quil: &Path) {
        self.configure_with(local, name, quil, Path::new("ssh"));
    }

    /// [`Sshd::configure`], reaching the server with the program `ssh` (a wrapper of ssh).
    fn configure_with(&self, local: &Home, name: &str, quil: &Path, ssh: &Path) {
        self.configure_at(local, name, quil, ssh, self.port);
    }

    /// [`Sshd::configure_with`], reaching the server at `port` (a relay to it).
    fn configure_at(&self, local: &Home, name: &str, quil: &Path, ssh: &Path, port: u16) {
        std::fs::create_dir_all(local.path()).expect("local home");
        let file = local.path().join("config.toml");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&format!(
            "[[remotes]]\nname = \"{name}\"\nhost = \"127.0.0.1:{}\"\nquil = \"{}\"\n\
             ssh = [\"{}\", \"-F\", \"{}\"]\n\n",
            port,
            quil.display(),
            ssh.display(),
            self.path().join("ssh_config").display()
        ));
        std::fs::write(file, text).expect("config.toml");
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- sshd log ---\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `quil -r box ARGS...` from `local`; panics with its stderr unless it succeeds.
fn over(local: &Home, args: &[&str]) -> String {
    let mut all = vec!["-r", "box"];
    all.extend_from_slice(args);
    local.ok(&all)
}

/// A local home, a remote home, and an sshd that reaches the remote one as `box`.
fn setup() -> (Sshd, Home, Home) {
    let sshd = Sshd::start();
    let local = Home::new();
    let remote = Home::new();
    let quil = sshd.remote_quil(&remote);
    sshd.configure(&local, "box", &quil);
    (sshd, local, remote)
}

#[test]
fn scripting_commands_run_on_the_remote_daemon() {
    let (_sshd, local, remote) = setup();
    let pane = over(&local, &["new-tab", "--name", "far"])
        .trim()
        .to_string();
    assert!(pane.starts_with("pane-"), "{pane}");
    // The pane is the remote daemon's; the local home has no daemon at all.
    assert_eq!(pane_ids(&remote.ls()), std::slice::from_ref(&pane));
    assert!(
        !exists(&local.socket()),
        "a local daemon was started: {:?}",
        local.socket()
    );
    let ls: serde_json::Value =
        serde_json::from_str(&over(&local, &["ls", "--json"])).expect("ls --json over ssh");
    assert_eq!(pane_ids(&ls), std::slice::from_ref(&pane));
    assert_eq!(ls["tabs"][0]["name"], "far");
    // A new tab starts in the remote user's home, not in this shell's directory.
    assert_eq!(
        ls["panes"][0]["cwd"],
        remote.user_home().display().to_string(),
        "{ls}"
    );

    over(
        &local,
        &["send", "--pane", &pane, "--enter", "echo far-$((6*7))"],
    );
    over(
        &local,
        &[
            "wait",
            "--pane",
            &pane,
            "--text",
            "^far-42",
            "--timeout",
            "20",
        ],
    );
    let screen = over(&local, &["capture", "--pane", &pane]);
    assert!(screen.lines().any(|l| l == "far-42"), "{screen}");
    // The daemon's refusals name the machine whose daemon refused.
    let err = local.fails(&["-r", "box", "capture", "--pane", "pane-0000dead"]);
    assert!(
        err.starts_with("quil: on box: ") && err.contains("pane-0000dead"),
        "{err}"
    );
    assert!(remote.capture(&pane).lines().any(|l| l == "far-42"));

    // Commands about the daemon's process run there whole.
    let status: serde_json::Value =
        serde_json::from_str(&over(&local, &["daemon", "status", "--json"])).expect("status");
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["home"], remote.path().display().to_string());

    over(&local, &["kill-pane", &pane]);
    eventually("the remote pane to go", Duration::from_secs(10), || {
        pane_ids(&remote.ls()).is_empty()
    });
    over(&local, &["daemon", "stop"]);
    assert!(remote.daemon_pid().is_none_or(|p| !pid_alive(p)));
    // Without a daemon there, a command that must not start one says so in one line.
    let out = local.run(&["-r", "box", "__complete", "panes"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(!exists(&remote.socket()), "__complete started the daemon");
}

#[test]
fn the_tui_shows_a_remote_pane_and_types_into_it() {
    let (_sshd, local, remote) = setup();
    let pane = over(&local, &["new-tab"]).trim().to_string();
    remote.send_line(&pane, "echo remote-$((40+2))");
    remote.wait_for(&pane, "^remote-42");
    let tui = Tui::attach_with(&local.path(), &local.user_home(), 100, 30, &["-r", "box"]);
    tui.wait_for("remote-42");
    // The tab bar says where the tabs live.
    tui.wait_for("1:bash@box");
    // Keys typed at the local terminal reach the remote pane.
    tui.type_bytes(b"echo typed-$((50+5))\r");
    remote.wait_for(&pane, "^typed-55");
    tui.wait_for("typed-55");
    assert!(!exists(&local.socket()), "the TUI started a local daemon");
}

/// A remote `quil` that answers the handshake as a daemon of protocol `version` refusing us.
fn refusing_quil(sshd: &Sshd, name: &str, version: u16) -> PathBuf {
    let [lo, hi] = version.to_le_bytes();
    // Frame: u32 length 8, then `QUIL`, the version, status 1 (refused), a one-byte reason.
    sshd.script(
        name,
        &format!(
            "#!/bin/bash\nhead -c 10 >/dev/null\nprintf '\\010\\000\\000\\000QUIL\\{lo:03o}\\{hi:03o}\\001x'\n"
        ),
    )
}

#[test]
fn a_version_mismatch_says_which_side_to_upgrade() {
    let sshd = Sshd::start();
    let local = Home::new();
    let ours = quil_proto::PROTOCOL_VERSION;
    let old = refusing_quil(&sshd, "old-quil", ours - 1);
    let new = refusing_quil(&sshd, "new-quil", ours + 1);
    sshd.configure(&local, "old", &old);
    sshd.configure(&local, "new", &new);
    let missing = sshd.path().join("no-such-quil");
    sshd.configure(&local, "none", &missing);
    let no_proxy = sshd.script(
        "ancient-quil",
        "#!/bin/sh\necho \"error: unrecognized subcommand 'proxy'\" >&2\nexit 2\n",
    );
    sshd.configure(&local, "ancient", &no_proxy);

    let err = local.fails(&["-r", "old", "ls"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("older protocol (v{})", ours - 1))
            && err.contains("quil remote setup old")
            && err.contains("quil -r old daemon upgrade"),
        "{err}"
    );
    let err = local.fails(&["-r", "new", "ls"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("upgrade quil on this machine"), "{err}");
    let err = local.fails(&["-r", "ancient", "ls"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("upgrade quil on ancient"), "{err}");
    let err = local.fails(&["-r", "none", "ls"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach quil on none")
            && err.contains("no-such-quil")
            && err.contains("[[remotes]]"),
        "{err}"
    );
}

/// The pids of `pid`'s children.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

#[test]
fn killing_ssh_mid_command_fails_in_one_line() {
    let (_sshd, local, remote) = setup();
    let pane = over(&local, &["new-tab"]).trim().to_string();
    // The connections the daemon has, besides the one asking (status leaves its own out).
    let others = || {
        let s: serde_json::Value =
            serde_json::from_str(&remote.ok(&["daemon", "status", "--json"])).expect("status");
        s["clients"].as_u64().expect("clients")
    };
    eventually(
        "new-tab's connection to close",
        Duration::from_secs(10),
        || others() == 0,
    );
    let mut waiting = local
        .cmd(&[
            "-r",
            "box",
            "wait",
            "--pane",
            &pane,
            "--text",
            "never-printed",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run quil wait");
    // Once it is waiting (the daemon has its connection), kill its ssh.
    let mut ssh = None;
    eventually(
        "quil to be waiting over ssh",
        Duration::from_secs(20),
        || {
            let clients = others() == 1;
            ssh = children(waiting.id()).into_iter().find(|&c| {
                std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == "ssh")
            });
            clients && ssh.is_some()
        },
    );
    let ssh = ssh.expect("the ssh child");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ssh as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill ssh");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = waiting.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "quil wait still runs 10 s after its ssh was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    waiting
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("lost the connection to box") && err.contains("signal"),
        "{err}"
    );
    // The remote pane never noticed.
    assert_eq!(pane_ids(&remote.ls()), [pane]);
}

#[test]
fn a_wrong_remotes_entry_is_named_with_its_place() {
    let local =
        Home::with_config("[[remotes]]\nname = \"box\"\nhost = \"-oProxyCommand=touch /tmp/x\"\n");
    let err = local.fails(&["-r", "box", "ls"]);
    let file = local.path().join("config.toml");
    assert!(
        err.contains(&format!("{}:3:1: [[remotes]] #1: host", file.display())),
        "{err}"
    );
    let out = local.run(&["config", "check"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(":3:1: [[remotes]] #1"),
        "{out:?}"
    );
    // A host that ssh would take for an option is refused, not passed on.
    let err = local.fails(&["--remote=-oProxyCommand=x", "ls"]);
    assert!(err.contains("cannot start with `-`"), "{err}");
}

/// `quil remote setup`: this build's three binaries land in the directory asked for on the host
/// (a path with a space), byte for byte and executable, and run there (setup checks the
/// installed `quil --version` over ssh); running it again replaces them; a host that cannot be
/// reached fails with one line naming it.
#[test]
fn remote_setup_installs_this_build_over_ssh() {
    let sshd = Sshd::start();
    let local = Home::new();
    let dir = sshd.path().join("installed bin");
    sshd.configure(&local, "box", &dir.join("quil"));
    let here = Path::new(QUIL).parent().expect("bin dir");
    for round in 0..2 {
        let out = local.ok(&["remote", "setup", "box", "--dir", dir.to_str().unwrap()]);
        assert!(
            out.contains(&format!(
                "installed quil {} (quil, quild, quil-holder) on box: {}",
                env!("CARGO_PKG_VERSION"),
                dir.join("quil").display()
            )),
            "round {round}: {out}"
        );
        for name in ["quil", "quild", "quil-holder"] {
            let installed = dir.join(name);
            assert!(
                std::fs::read(&installed).unwrap() == std::fs::read(here.join(name)).unwrap(),
                "{name} is this build's"
            );
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755, "{name}");
        }
    }
    // Named in config.toml with this path, so nothing more to say about where it is.
    let out = local.ok(&["remote", "setup", "box", "--dir", dir.to_str().unwrap()]);
    assert!(!out.contains("on the PATH there"), "{out}");
    // An entry that names another quil is told which line to change.
    sshd.configure(&local, "plain", Path::new("quil"));
    let out = local.ok(&["remote", "setup", "plain", "--dir", dir.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "set quil = \"{}\" in the [[remotes]] entry named plain of config.toml",
            dir.join("quil").display()
        )),
        "{out}"
    );
    let closed = free_port();
    let err = local.fails(&["remote", "setup", &format!("127.0.0.1:{closed}")]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{closed}")), "{err}");
}

/// The pids of ssh clients started with this sshd's client config (`-F .../ssh_config`).
/// The TUI, run as `quil ARGS` from `local` in a tmux session of its own (named after `what`),
/// which ends with this value.
struct TmuxTui(String);

impl TmuxTui {
    fn start(local: &Home, what: &str, args: &str) -> TmuxTui {
        let sock = format!("quil-{what}-{}", std::process::id());
        let cmd = format!(
            "env -u QUIL_PANE_ID -u TMUX QUIL_HOME='{}' HOME='{}' '{QUIL}' {args}; sleep 600",
            local.path().display(),
            local.user_home().display()
        );
        tmux::new_session(&sock, 100, 30, &cmd);
        TmuxTui(sock)
    }
}

impl Drop for TmuxTui {
    fn drop(&mut self) {
        tmux::kill_server(&self.0);
    }
}

fn ssh_clients(sshd: &Sshd) -> Vec<i32> {
    let config = sshd.path().join("ssh_config").display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.trim() == "ssh" && String::from_utf8_lossy(&cmdline).contains(&config)
        })
        .collect()
}

/// The network goes away under an attached TUI: it says it is reconnecting, keeps the last
/// screen, answers keys while ssh hangs, and on the way back shows the pane as it is now
/// (what it printed in the gap included), not a replay.
#[test]
fn the_tui_reconnects_to_the_same_screens_when_ssh_dies() {
    let (sshd, local, remote) = setup();
    // An ssh that hangs, as on a dead network, while the flag file exists.
    let flag = sshd.path().join("network-down");
    let ssh = sshd.script(
        "flaky-ssh",
        &format!(
            "#!/bin/sh\nif [ -e '{f}' ]; then echo $$ > '{f}.pid'; exec sleep 60; fi\n\
             exec ssh \"$@\"\n",
            f = flag.display()
        ),
    );
    sshd.configure_with(&local, "flaky", &sshd.remote_quil(&remote), &ssh);
    let pane = local.ok(&["-r", "flaky", "new-tab"]).trim().to_string();
    remote.send_line(&pane, "echo before-$((1+1))");
    remote.wait_for(&pane, "^before-2");

    let tui = TmuxTui::start(&local, "remote", "-r flaky");
    let sock = tui.0.clone();
    tmux::wait_for(&sock, "the remote pane", |s| tmux::has_line(s, "before-2"));
    let tui_ssh = ssh_clients(&sshd);
    assert_eq!(tui_ssh.len(), 1, "the TUI's ssh: {tui_ssh:?}");

    std::fs::write(&flag, "").expect("flag");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tui_ssh[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill ssh");
    tmux::wait_for(&sock, "reconnecting, with the last screen kept", |s| {
        s.contains("reconnecting…") && tmux::has_line(s, "before-2")
    });
    // The pane runs on: it prints while nobody can see it.
    remote.send_line(&pane, "echo during-$((2+2))");
    remote.wait_for(&pane, "^during-4");
    // Keys work while ssh hangs: the help overlay opens and closes.
    tmux::keys(&sock, &["M-w", "?"]);
    tmux::wait_for(&sock, "the help overlay", |s| {
        s.contains("detach (panes keep running)")
    });
    tmux::keys(&sock, &["Escape"]);
    tmux::wait_for(&sock, "the help overlay closed", |s| {
        !s.contains("detach (panes keep running)")
    });
    // Keys typed meanwhile cannot reach the pane: the status line says so.
    tmux::type_text(&sock, "lost");
    tmux::wait_for(&sock, "the keys not sent", |s| {
        s.contains("what was typed was not sent")
    });

    // An attempt that fails says why (the hanging ssh is killed, the network still down).
    let pid_file = sshd.path().join("network-down.pid");
    let hanging = |not: i32| {
        let mut pid = 0;
        eventually("a hanging ssh", Duration::from_secs(20), || {
            pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
            pid != 0 && pid != not
        });
        pid
    };
    let end = |pid: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("end the hanging ssh")
    };
    let first = hanging(0);
    end(first);
    tmux::wait_for(&sock, "the failed attempt's reason", |s| {
        s.contains("attempt 1 failed: cannot reach quil on flaky")
    });
    // The network is back (the next hanging attempt fails, the one after goes through).
    let second = hanging(first);
    std::fs::remove_file(&flag).expect("flag");
    end(second);
    let s = tmux::wait_for(&sock, "the same screen, as it is now", |s| {
        s.contains("reconnected to the daemon")
            && tmux::has_line(s, "before-2")
            && tmux::has_line(s, "during-4")
    });
    assert_eq!(
        s.matches("during-4").count(),
        1,
        "the gap was shown once, not replayed:\n{s}"
    );
    tmux::type_text(&sock, "echo after-$((3+3))");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&pane, "^after-6");
    assert!(!exists(&local.socket()), "the TUI started a local daemon");
}

/// A TUI holding tabs of two daemons (`--also`): the local daemon's and a remote's, each tab
/// saying where it lives. Keys go to the daemon of the pane shown, and a new tab opens on the
/// daemon of the active tab.
#[test]
fn a_tui_holds_a_local_and_a_remote_tab() {
    let (sshd, local, remote) = setup();
    let here = local.new_tab(&["--name", "here"]);
    let there = over(&local, &["new-tab", "--name", "there"])
        .trim()
        .to_string();
    local.send_line(&here, "echo local-$((1+1))");
    local.wait_for(&here, "^local-2");
    remote.send_line(&there, "echo remote-$((2+2))");
    remote.wait_for(&there, "^remote-4");

    let tui = TmuxTui::start(&local, "domains", "--also box");
    let sock = tui.0.clone();
    let tab_bar = |s: &str| s.lines().next().unwrap_or_default().to_string();
    tmux::wait_for(&sock, "both daemons' tabs, the local one shown", |s| {
        tab_bar(s).contains("1:here@local")
            && tab_bar(s).contains("2:there@box")
            && tmux::has_line(s, "local-2")
    });

    // The remote tab: its screen, and typing reaches the remote pane only.
    tmux::keys(&sock, &["M-w", "2"]);
    tmux::wait_for(&sock, "the remote pane", |s| tmux::has_line(s, "remote-4"));
    tmux::type_text(&sock, "echo typed-$((5*11))");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&there, "^typed-55");
    tmux::wait_for(&sock, "the echo", |s| tmux::has_line(s, "typed-55"));
    assert!(!local.capture(&here).contains("typed-55"));

    // A new tab from the remote tab opens on the remote daemon.
    tmux::keys(&sock, &["M-w", "c"]);
    eventually("a second remote pane", Duration::from_secs(20), || {
        pane_ids(&remote.ls()).len() == 2
    });
    assert_eq!(pane_ids(&local.ls()), std::slice::from_ref(&here));
    // `quil ls` from this side names the daemon of each pane, as the TUI's tabs do.
    let ls: serde_json::Value =
        serde_json::from_str(&local.ok(&["ls", "--json", "--also", "box"])).expect("ls --json");
    let daemon_of = |id: &str| {
        ls["panes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id))
            .map(|p| p["daemon"].clone())
    };
    assert_eq!(daemon_of(&here), Some(serde_json::json!("local")), "{ls}");
    assert_eq!(daemon_of(&there), Some(serde_json::json!("box")), "{ls}");
    assert_eq!(ls["panes"].as_array().map(Vec::len), Some(3), "{ls}");
    assert_eq!(ls["tabs"][2]["daemon"], "box", "{ls}");
    assert_eq!(local.ls()["panes"][0]["daemon"], "local");
    tmux::wait_for(&sock, "the new tab, on box", |s| {
        tab_bar(s).contains("3:") && tab_bar(s).matches("@box").count() == 2
    });

    // Back on the local tab, keys go to the local pane.
    tmux::keys(&sock, &["M-w", "1"]);
    tmux::wait_for(&sock, "the local pane", |s| tmux::has_line(s, "local-2"));
    tmux::type_text(&sock, "echo mine-$((3*3))");
    tmux::keys(&sock, &["Enter"]);
    local.wait_for(&here, "^mine-9");

    // From the local tab, the new-pane picker opens a tab on box when asked: Tab cycles the
    // splits, a new tab here, then a new tab on box, with box's own pane types.
    tmux::keys(&sock, &["M-w", "n"]);
    tmux::wait_for(&sock, "the picker", |s| s.contains("Tab: split"));
    for _ in 0..4 {
        tmux::keys(&sock, &["Tab"]);
    }
    tmux::wait_for(&sock, "the picker, for box", |s| {
        s.contains("Tab: new tab on box") && s.contains("Terminal")
    });
    tmux::keys(&sock, &["Enter"]);
    eventually("a third remote pane", Duration::from_secs(20), || {
        pane_ids(&remote.ls()).len() == 3
    });
    assert_eq!(pane_ids(&local.ls()), std::slice::from_ref(&here));

    // The remote's connection dies: the local tab carries on, and the remote's comes back.
    let ssh = ssh_clients(&sshd);
    assert_eq!(ssh.len(), 1, "the TUI's ssh: {ssh:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ssh[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill ssh");
    tmux::wait_for(&sock, "box reconnected", |s| s.contains("box: reconnected"));
    tmux::keys(&sock, &["M-w", "2"]);
    tmux::type_text(&sock, "echo again-$((4*4))");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&there, "^again-16");
}

/// A TCP relay on 127.0.0.1 to port `to`, holding every chunk `delay` ms in each direction: a
/// slow link whose delay the test sets (none at first, so ssh's handshake is quick).
struct SlowLink {
    port: u16,
    delay: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SlowLink {
    fn start(to: u16) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().expect("relay port").port();
        let delay = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let d = delay.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                SlowLink::pipe(client, s2, d.clone());
                SlowLink::pipe(server, c2, d.clone());
            }
        });
        SlowLink { port, delay }
    }

    fn set_delay(&self, ms: u64) {
        self.delay.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    fn pipe(
        mut from: TcpStream,
        mut to: TcpStream,
        delay: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        use std::io::Write;
        let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let ms = delay.load(std::sync::atomic::Ordering::SeqCst);
                let due = Instant::now() + Duration::from_millis(ms);
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for (due, chunk) in rx {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                if to.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// On a slow link the TUI shows typed characters at once (predictive echo, underlined until the
/// daemon's screen has them), but only once the echo of the line being typed came back, so
/// what a program does not echo (a password) is never shown.
#[test]
fn a_slow_link_shows_typed_keys_before_the_daemon_echoes_them() {
    let sshd = Sshd::start();
    let (local, remote) = (Home::new(), Home::new());
    let link = SlowLink::start(sshd.port);
    let quil = sshd.remote_quil(&remote);
    sshd.configure_at(&local, "slow", &quil, Path::new("ssh"), link.port);
    let pane = remote.new_tab(&["--", "env", "PS1=slow> ", "bash", "--norc", "-i"]);
    remote.wait_for(&pane, "^slow>");
    let tui = TmuxTui::start(&local, "slow", "-r slow");
    let sock = tui.0.clone();
    tmux::wait_for(&sock, "the remote prompt", |s| s.contains("slow>"));

    let pid = remote.pane_json(&pane)["pid"]
        .as_u64()
        .expect("the pane's pid");
    // A second each way: the first key's echo takes two seconds.
    link.set_delay(1000);
    tmux::type_text(&sock, "e");
    // While it is on its way the pane's screen changes elsewhere (its title, as a resize or
    // a redrawn prompt might): the link's first echo still counts, however late.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(format!("/proc/{pid}/fd/1"), "\x1b]2;on its way\x07").expect("set a title");
    tmux::wait_for(&sock, "the first key's echo", |s| s.contains("slow> e"));
    // Its echo came back slowly: the next keys show at once, before they even reach the pane.
    tmux::type_text(&sock, "cho pre");
    let shown = Instant::now();
    let s = tmux::wait_for(&sock, "the guessed echo", |s| s.contains("slow> echo pre"));
    assert!(
        shown.elapsed() < Duration::from_millis(900),
        "shown after {:?}, not before the round trip:\n{s}",
        shown.elapsed()
    );
    assert!(
        !remote.capture(&pane).contains("echo pre"),
        "the keys had reached the pane already"
    );
    tmux::type_text(&sock, "dicted-$((6*7))");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&pane, "^predicted-42");
    tmux::wait_for(&sock, "the command's output", |s| {
        tmux::has_line(s, "predicted-42") && s.contains("slow> echo predicted-$((6*7))")
    });

    // A password prompt echoes nothing: after Enter nothing typed shows until echoed, and it
    // never is.
    tmux::type_text(&sock, "read -s pw; echo got-$pw");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&pane, "echo got-");
    std::thread::sleep(Duration::from_millis(2500));
    tmux::type_text(&sock, "zqzq");
    std::thread::sleep(Duration::from_millis(2500));
    let s = tmux::screen(&sock);
    assert!(!s.contains("zq"), "the password showed:\n{s}");
    tmux::keys(&sock, &["Enter"]);
    tmux::wait_for(&sock, "the password read", |s| {
        tmux::has_line(s, "got-zqzq")
    });
}

/// A link that goes silent without closing (a suspended laptop, a frozen server) is noticed:
/// ssh's keepalives end it, the TUI says it is reconnecting, attempts through the dead link give
/// up, and once the link is back the TUI is too.
#[test]
fn a_silent_link_is_noticed_and_the_tui_reconnects() {
    let sshd = Sshd::start();
    let (local, remote) = (Home::new(), Home::new());
    let link = SlowLink::start(sshd.port);
    let quil = sshd.remote_quil(&remote);
    sshd.configure_at(&local, "frozen", &quil, Path::new("ssh"), link.port);
    let pane = remote.new_tab(&[]);
    remote.send_line(&pane, "echo before-$((2+3))");
    remote.wait_for(&pane, "^before-5");
    let tui = TmuxTui::start(&local, "silent", "-r frozen");
    let sock = tui.0.clone();
    tmux::wait_for(&sock, "the remote pane", |s| tmux::has_line(s, "before-5"));

    // Nothing passes any more, and nothing closes.
    link.set_delay(3_600_000);
    let frozen = Instant::now();
    tmux::wait_for(&sock, "reconnecting", |s| s.contains("reconnecting…"));
    eprintln!("noticed after {:?}", frozen.elapsed());
    assert!(
        frozen.elapsed() < Duration::from_secs(30),
        "{:?}",
        frozen.elapsed()
    );

    link.set_delay(0);
    tmux::wait_for(&sock, "reconnected", |s| {
        s.contains("reconnected to the daemon")
    });
    tmux::type_text(&sock, "echo after-$((3+4))");
    tmux::keys(&sock, &["Enter"]);
    remote.wait_for(&pane, "^after-7");
}
