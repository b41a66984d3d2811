//! A home that cannot be written is loud: `quil ls --json` carries `persist_error`, `quil ls`
//! warns, and `quil daemon stop` fails naming the lost save.
//!
//! Root writes through any mode, so as root the daemon runs as the second user, `quil-other`
//! (scripts/test.sh creates it), whose home is then made read-only (0500).

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const OTHER: &str = "quil-other";

struct World {
    dir: tempfile::TempDir,
    /// The uid quil runs as: quil-other when we are root, else ourselves.
    uid: Option<u32>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("qr")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let uid = (quil_proto::paths::euid() == 0).then(|| {
            let out = Command::new("id").args(["-u", OTHER]).output().expect("id");
            assert!(
                out.status.success(),
                "the second Unix user {OTHER} is missing: scripts/test.sh creates it"
            );
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("uid")
        });
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let w = World { dir, uid };
        std::fs::create_dir(w.user_dir()).expect("mkdir");
        if let Some(uid) = w.uid {
            std::os::unix::fs::chown(w.user_dir(), Some(uid), None).expect("chown");
        }
        w
    }

    /// The user's directory: `HOME`, with the quil home `q` inside.
    fn user_dir(&self) -> PathBuf {
        self.dir.path().join("u")
    }

    fn home(&self) -> PathBuf {
        self.user_dir().join("q")
    }

    fn quil(&self, args: &[&str]) -> Output {
        let mut c = match self.uid {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", OTHER, "--", QUIL]);
                c
            }
            None => Command::new(QUIL),
        };
        c.args(args)
            .env("QUIL_HOME", self.home())
            .env("QUIL_DAEMON_BIN", QUILD)
            .env("HOME", self.user_dir())
            .env("SHELL", "/bin/bash")
            .env_remove("QUIL_PANE_ID")
            .current_dir("/")
            .output()
            .expect("run quil")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.quil(args);
        assert!(
            out.status.success(),
            "quil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs quil, which must fail with one line on stderr; returns that line.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.quil(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} exited 0: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        err
    }

    fn chmod(&self, path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let home = self.home();
        if home.exists() {
            self.chmod(&home, 0o700);
        }
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

#[test]
fn an_unwritable_home_is_reported_to_clients_and_by_daemon_stop() {
    let w = World::new();
    w.ok(&["new-tab", "--name", "before", "--", "sleep", "600"]);
    let home = w.home();
    eventually("the first save", Duration::from_secs(10), || {
        std::fs::read_to_string(home.join("workspace.json")).is_ok_and(|j| j.contains("before"))
    });
    let ls: serde_json::Value = serde_json::from_str(&w.ok(&["ls", "--json"])).expect("json");
    assert!(ls["persist_error"].is_null(), "{ls}");

    // The home becomes read-only; the next change cannot be saved.
    w.chmod(&home, 0o500);
    // Commands that change the workspace say so, and exit non-zero; the change is made.
    for args in [
        &["rename-tab", "1", "after"][..],
        &["new-tab", "--name", "unsaved", "--", "sleep", "600"],
    ] {
        let err = w.fails(args);
        assert!(
            err.contains("not saved") && err.contains("workspace.json"),
            "{args:?}: {err}"
        );
    }
    let names = w.ok(&["ls"]);
    assert!(
        names.contains("after") && names.contains("unsaved"),
        "{names}"
    );
    let mut last = serde_json::Value::Null;
    eventually(
        "persist_error in ls --json",
        Duration::from_secs(10),
        || {
            last = serde_json::from_str(&w.ok(&["ls", "--json"])).expect("json");
            !last["persist_error"].is_null()
        },
    );
    let why = last["persist_error"].as_str().expect("a string");
    assert!(
        why.contains("workspace.json") && why.contains("ermission denied"),
        "{why}"
    );
    let out = w.quil(&["ls"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("the workspace is not being saved"),
        "{err}"
    );

    // Stopping says the final save failed, and exits non-zero.
    let err = w.fails(&["daemon", "stop"]);
    assert!(
        err.contains("could not be saved at stop")
            && err.contains("changes since the last good save are lost"),
        "{err}"
    );
    // The last good snapshot is intact.
    let saved = std::fs::read_to_string(home.join("workspace.json")).expect("saved");
    assert!(saved.contains("before") && !saved.contains("after"));

    // Writable again: the error clears with the next save.
    w.chmod(&home, 0o700);
    w.ok(&["rename-tab", "1", "again"]);
    eventually("persist_error cleared", Duration::from_secs(10), || {
        let ls: serde_json::Value = serde_json::from_str(&w.ok(&["ls", "--json"])).expect("json");
        ls["persist_error"].is_null()
    });
    let out = w.quil(&["daemon", "stop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
