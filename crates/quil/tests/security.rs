//! A `$QUIL_HOME` nobody else can subvert, tried as a second Unix user really would.
//!
//! The second user is `quil-other` (scripts/test.sh creates it). Its moves are made by running
//! commands as it (`runuser -u quil-other`, or `sudo -n -u quil-other` when not root): it plants
//! homes, configs, plugins, symlinks and a listening daemon of its own, and the real `quil` and
//! `quild` run as the test's user must refuse each with one line naming the path.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const OTHER: &str = "quil-other";

/// The second user's uid; panics with how to create it when it is missing.
fn other_uid() -> u32 {
    let out = Command::new("id")
        .args(["-u", OTHER])
        .output()
        .expect("run id");
    assert!(
        out.status.success(),
        "the second Unix user {OTHER} is missing: scripts/test.sh creates it \
         (useradd --system --no-create-home {OTHER})"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a uid")
}

/// A command run as `quil-other`.
fn as_other(program: &str, args: &[&str]) -> Command {
    let mut c = if quil_proto::paths::euid() == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", OTHER, "--", program]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "-u", OTHER, "--", program]);
        c
    };
    c.args(args).current_dir("/");
    c
}

fn other_ok(program: &str, args: &[&str]) {
    let out = as_other(program, args).output().expect("run as quil-other");
    assert!(
        out.status.success(),
        "{program} {args:?} as {OTHER}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A base directory both users can reach: `<tmp>/` (0755, ours), with `o/` owned by quil-other.
struct Base {
    dir: tempfile::TempDir,
}

impl Base {
    fn new() -> Base {
        let dir = tempfile::Builder::new()
            .prefix("qs")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::create_dir(dir.path().join("u")).expect("user home");
        let b = Base { dir };
        // Made by us and given away (as useradd gives a new user its home).
        std::fs::create_dir(b.other()).expect("mkdir");
        std::fs::set_permissions(b.other(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(b.other(), Some(other_uid()), None).expect("chown");
        b
    }

    /// quil-other's own directory.
    fn other(&self) -> PathBuf {
        self.dir.path().join("o")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn quil(&self, home: &Path, args: &[&str]) -> Output {
        Command::new(QUIL)
            .args(args)
            .env("QUIL_HOME", home)
            .env("QUIL_DAEMON_BIN", QUILD)
            .env("HOME", self.path("u"))
            .env("SHELL", "/bin/bash")
            .env_remove("QUIL_PANE_ID")
            .output()
            .expect("run quil")
    }

    fn quild(&self, home: &Path) -> Output {
        Command::new(QUILD)
            .env("QUIL_HOME", home)
            .env("HOME", self.path("u"))
            .output()
            .expect("run quild")
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        // Stop any daemon of ours that got through, and quil-other's.
        for home in [self.path("q"), self.other().join("q")] {
            if let Ok(pid) = std::fs::read_to_string(home.join("quild.pid")) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            common::holders::kill_holders(&home);
        }
    }
}

/// One line on stderr, naming `path`, with `hint` in it; the process failed.
fn refused(out: &Output, path: &Path, hint: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "not refused: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&path.display().to_string()) && err.contains(hint),
        "expected {} and {hint:?} in: {err}",
        path.display()
    );
    err
}

#[test]
fn a_home_owned_by_another_user_is_refused_and_its_config_never_runs() {
    let uid = other_uid();
    let b = Base::new();
    let home = b.other().join("q");
    // quil-other prepares a home with a config whose shell is their program.
    let marker = b.other().join("ran");
    let evil = b.other().join("evil.sh");
    other_ok("mkdir", &["-m", "700", home.to_str().expect("utf-8")]);
    let script = format!("#!/bin/sh\ntouch {}\nexec /bin/sh\n", marker.display());
    other_ok(
        "sh",
        &[
            "-c",
            &format!(
                "printf '%s' \"$1\" > {e} && chmod 755 {e} && printf 'shell = \"{e}\"\\n' > {h}/config.toml",
                e = evil.display(),
                h = home.display()
            ),
            "sh",
            &script,
        ],
    );

    let err = refused(
        &b.quil(&home, &["new-tab"]),
        &home,
        &format!("owned by uid {uid}"),
    );
    assert!(err.contains("chown"), "{err}");
    let err = refused(&b.quild(&home), &home, &format!("owned by uid {uid}"));
    assert!(err.starts_with("quild: "), "{err}");
    // quil-other's socket, planted while nobody was looking, is not talked to either.
    assert!(!exists(&home.join("quild.sock")));
    assert!(!exists(&marker), "quil-other's shell ran");
}

#[test]
fn a_home_others_can_write_to_is_refused() {
    other_uid();
    let b = Base::new();
    let home = b.path("q");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // quil-other plants the config it could, in a home that lets it.
    other_ok(
        "sh",
        &[
            "-c",
            &format!(
                "echo 'shell = \"/bin/false\"' > {}/config.toml",
                home.display()
            ),
        ],
    );
    refused(&b.quil(&home, &["ls"]), &home, "chmod go-w");
    refused(&b.quild(&home), &home, "writable by group or others");
    assert!(!exists(&home.join("quild.sock")));
}

#[test]
fn files_planted_by_another_user_in_our_home_are_refused() {
    let uid = other_uid();
    let b = Base::new();
    let home = b.path("q");
    // A home of ours that has been in use.
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let victim = b.path("victim");
    std::fs::write(&victim, "root only\n").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let o = b.other();

    // Each attack: quil-other makes the file in its own directory, and it lands in our home
    // (as it would had the home been open to it once): it keeps quil-other as its owner.
    let plants: [(&str, String); 4] = [
        ("config.toml", format!("printf 'shell = \"/bin/false\"\\n' > {}/config.toml", o.display())),
        ("workspace.json", format!("ln -s {} {}/workspace.json", victim.display(), o.display())),
        ("quild.log", format!("ln -s {} {}/quild.log", victim.display(), o.display())),
        ("plugins", format!("mkdir {0}/plugins && printf '[plugin]\\nname = \"evil\"\\n' > {0}/plugins/evil.toml", o.display())),
    ];
    for (name, cmd) in plants {
        other_ok("sh", &["-c", &cmd]);
        let planted = home.join(name);
        std::fs::rename(o.join(name), &planted).expect("plant");
        refused(
            &b.quil(&home, &["new-tab"]),
            &planted,
            &format!("owned by uid {uid}"),
        );
        refused(&b.quild(&home), &planted, &format!("owned by uid {uid}"));
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "root only\n"
        );
        if name == "plugins" {
            // Our own plugins directory with quil-other's file inside is refused as well.
            std::fs::remove_dir_all(&planted).expect("rm");
            std::fs::create_dir(&planted).expect("mkdir");
            other_ok(
                "sh",
                &["-c", &format!("printf '' > {}/evil.toml", o.display())],
            );
            std::fs::rename(o.join("evil.toml"), planted.join("evil.toml")).expect("plant");
            refused(
                &b.quil(&home, &["ls"]),
                &planted.join("evil.toml"),
                &format!("owned by uid {uid}"),
            );
        }
        std::fs::remove_file(&planted)
            .or_else(|_| std::fs::remove_dir_all(&planted))
            .expect("clean");
    }
    // With the plants gone the home works, and no write went through the symlinks.
    let home_ok = b.quil(&home, &["new-tab"]);
    assert!(
        home_ok.status.success(),
        "{}",
        String::from_utf8_lossy(&home_ok.stderr)
    );
    assert!(b.quil(&home, &["daemon", "stop"]).status.success());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "root only\n"
    );
}

#[test]
fn a_daemon_of_another_user_behind_our_socket_is_refused() {
    let uid = other_uid();
    let b = Base::new();
    // quil-other runs a daemon of its own...
    let their_home = b.other().join("q");
    let mut theirs = as_other(
        "env",
        &[
            &format!("QUIL_HOME={}", their_home.display()),
            &format!("HOME={}", b.other().display()),
            QUILD,
        ],
    )
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("start quil-other's quild");
    let their_sock = their_home.join("quild.sock");
    eventually("quil-other's daemon", Duration::from_secs(20), || {
        exists(&their_sock)
    });

    // ...and its socket ends up where ours should be.
    let home = b.path("q");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let sock = home.join("quild.sock");
    std::fs::rename(&their_sock, &sock).expect("move the socket");
    refused(
        &b.quil(&home, &["ls"]),
        &sock,
        &format!("owned by uid {uid}"),
    );

    // Even with a socket file that looks like ours, the process behind it is checked.
    std::os::unix::fs::chown(&sock, Some(quil_proto::paths::euid()), None).expect("chown");
    if quil_proto::paths::euid() != 0 {
        // (Only root can give a file away; nothing more to try as a normal user.)
        let _ = theirs.kill();
        let _ = theirs.wait();
        return;
    }
    let err = refused(
        &b.quil(&home, &["ls"]),
        &sock,
        &format!("runs as uid {uid}"),
    );
    assert!(!err.contains("closed"), "{err}");
    // No daemon of ours was started in its place.
    assert!(!exists(&home.join("quild.pid")));

    if let Ok(pid) = std::fs::read_to_string(their_home.join("quild.pid")) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _ = theirs.wait();
}

#[test]
fn a_listener_that_never_answers_cannot_hang_the_cli() {
    let home = Home::new();
    std::fs::create_dir(home.path()).expect("mkdir");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // A fake daemon: accepts, reads, never answers.
    let listener = std::os::unix::net::UnixListener::bind(home.socket()).expect("bind");
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        while let Ok((s, _)) = listener.accept() {
            conns.push(s);
            if conns.len() == 2 {
                std::thread::sleep(Duration::from_secs(12));
                return;
            }
        }
    });
    let t = Instant::now();
    let out = home.run(&["ls", "--json"]);
    let took = t.elapsed();
    let err = refused(&out, &home.socket(), "no answer");
    assert!(err.contains("handshake"), "{err}");
    assert!(
        took < Duration::from_secs(14),
        "the CLI waited {took:?} on a silent listener"
    );
    // `daemon status` is bounded the same way.
    let t = Instant::now();
    let out = home.run(&["daemon", "status"]);
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(14));
    let _ = held.join();
}

/// What quil-other gets from a unix socket: `connect: <reason>`, or the bytes and file
/// descriptors sent to it before the other side closed (or went quiet for 5 s).
const TAKE_FD: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:", e.strerror); sys.exit(0)
s.settimeout(5)
data, fds = b"", 0
try:
    while True:
        msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16))
        fds += sum(len(d) // 4 for _, t, d in anc if t == socket.SCM_RIGHTS)
        if not msg:
            break
        data += msg
except socket.timeout:
    pass
print("bytes", len(data), "fds", fds)
"#;

/// A pane's holder hands its PTY to our daemons only: another user can neither reach its
/// socket (the holders' directory is ours alone) nor, where it could, get anything from it.
#[test]
fn another_user_cannot_take_a_panes_terminal_from_its_holder() {
    other_uid();
    let b = Base::new();
    let home = b.path("q");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = b.quil(&home, &["new-tab"]);
    assert!(out.status.success(), "{out:?}");
    let pane = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let holders = home.join("holders");
    let sockets: Vec<PathBuf> = std::fs::read_dir(&holders)
        .expect("the holders' directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    let sock = sockets[0].to_str().expect("utf-8 path");
    let try_take = || {
        let out = as_other("/usr/bin/python3", &["-c", TAKE_FD, sock])
            .output()
            .expect("run python3 as quil-other (scripts/test.sh installs it)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(try_take(), "connect: Permission denied");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode(&holders), 0o700);

    // Were the directories open to it (a mistake of ours, or of an admin), the holder still
    // hands nothing over to a process of another user.
    if quil_proto::paths::euid() == 0 {
        for dir in [&home, &holders] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        }
        std::fs::set_permissions(&sockets[0], std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert_eq!(try_take(), "bytes 0 fds 0");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&holders, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    // The pane did not notice, and its holder still serves its own user's daemon.
    let h = |args: &[&str]| b.quil(&home, args);
    assert!(
        h(&["send", "--pane", &pane, "--enter", "echo still-$((3*3))"])
            .status
            .success()
    );
    eventually("the pane's output", Duration::from_secs(20), || {
        String::from_utf8_lossy(&h(&["capture", "--pane", &pane]).stdout).contains("still-9")
    });
    let shell_pid = || {
        let ls: serde_json::Value =
            serde_json::from_slice(&h(&["ls", "--json"]).stdout).expect("ls --json");
        ls["panes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == pane.as_str()))
            .map(|p| p["pid"].clone())
            .expect("the pane")
    };
    let before = shell_pid();
    let pid = std::fs::read_to_string(home.join("quild.pid")).expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.trim().parse().expect("a pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the daemon");
    assert!(h(&["daemon", "start"]).status.success());
    assert_eq!(
        shell_pid(),
        before,
        "the next daemon took the same shell over"
    );
    assert!(h(&["daemon", "stop"]).status.success());
}
