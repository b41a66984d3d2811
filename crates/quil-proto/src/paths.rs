//! Where the daemon and its clients meet: `$QUIL_HOME` (default `~/.quil`) and the files in it.
//! Both sides resolve it here so they can never disagree.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("QUIL_HOME contains a NUL or control character: {0:?}")]
    BadChars(String),
    #[error("cannot find the home directory: set HOME or QUIL_HOME")]
    NoHome,
    #[error("cannot resolve QUIL_HOME {path}: {source}")]
    Cwd {
        path: String,
        source: std::io::Error,
    },
}

/// The absolute `$QUIL_HOME`. A relative value is made absolute against the current directory,
/// so child processes and the daemon (which changes directory) agree on it.
pub fn quil_home() -> Result<PathBuf, HomeError> {
    match std::env::var_os(ENV_HOME) {
        Some(v) if !v.is_empty() => absolute_home(Path::new(&v)),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or(HomeError::NoHome)?;
            absolute_home(&Path::new(&home).join(".quil"))
        }
    }
}

/// Validates and absolutizes a home path.
pub fn absolute_home(p: &Path) -> Result<PathBuf, HomeError> {
    let s = p.to_string_lossy();
    if s.chars().any(|c| c.is_control()) {
        return Err(HomeError::BadChars(s.into_owned()));
    }
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| HomeError::Cwd {
        path: s.clone().into_owned(),
        source: e,
    })?;
    Ok(cwd.join(p))
}

pub fn socket_path(home: &Path) -> PathBuf {
    home.join("quild.sock")
}

pub fn pid_path(home: &Path) -> PathBuf {
    home.join("quild.pid")
}

pub fn log_path(home: &Path) -> PathBuf {
    home.join("quild.log")
}

/// Begins the line (after `quild: `) the daemon logs when the save at a clean stop fails;
/// `quil daemon stop` and `quil restart` look for it.
pub const FINAL_SAVE_FAILED: &str = "the workspace could not be saved at stop";

/// Why a `$QUIL_HOME`, or a file in it, is not safe to use: someone other than the current user
/// could change what the daemon reads, runs or writes. Each message is one line naming the path
/// and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeHome {
    #[error(
        "refusing {path}: it is owned by uid {owner}, not by you (uid {me}); \
         use a QUIL_HOME you own, or `chown {me} {path}` if it really is yours"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "refusing {path}: it is writable by group or others (mode {mode:03o}); \
         run `chmod go-w {path}`"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("refusing {path}: cannot check who owns it: {source}")]
    Stat {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files and directories in `$QUIL_HOME` whose content the daemon trusts or writes through.
/// Each must be the user's own when present. (`plugins/` is checked with what it holds.)
pub const TRUSTED_FILES: &[&str] = &[
    "quild.sock",
    "quild.lock",
    "quild.pid",
    "quild.log",
    "config.toml",
    "workspace.json",
    "workspace.json.bak",
    "buffers",
    "sessions",
    "shellinit",
    "plugins",
];

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks one path: when it exists it must be owned by the current user and not writable by
/// group or others. A symbolic link is checked itself (who planted it) and then its target.
/// Returns whether the path exists.
pub fn check_owned(path: &Path) -> Result<bool, UnsafeHome> {
    use std::os::unix::fs::MetadataExt;
    let me = euid();
    let stat_err = |source| UnsafeHome::Stat {
        path: path.to_path_buf(),
        source,
    };
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(stat_err(e)),
    };
    let owner_ok = |uid: u32| uid == me;
    if !owner_ok(link.uid()) {
        return Err(UnsafeHome::Owner {
            path: path.to_path_buf(),
            owner: link.uid(),
            me,
        });
    }
    let meta = if link.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(m) => m,
            // A dangling link the user made: nothing to trust yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(stat_err(e)),
        }
    } else {
        link
    };
    if !owner_ok(meta.uid()) {
        return Err(UnsafeHome::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    // A sticky world-writable directory is still not ours alone: refuse it like any other.
    if mode & 0o022 != 0 {
        return Err(UnsafeHome::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(true)
}

/// Checks `$QUIL_HOME` itself and the files in it that quil trusts ([`TRUSTED_FILES`], and every
/// entry of `plugins/`). Nothing is created; a missing home or file passes.
pub fn check_home(home: &Path) -> Result<(), UnsafeHome> {
    if !check_owned(home)? {
        return Ok(());
    }
    for name in TRUSTED_FILES {
        check_owned(&home.join(name))?;
    }
    if let Ok(entries) = std::fs::read_dir(home.join("plugins")) {
        for e in entries.flatten() {
            check_owned(&e.path())?;
        }
    }
    Ok(())
}

/// Set in every pane's environment: the pane's id. A `quil` run inside a pane uses it for the
/// nesting guard and as the default `--pane`.
pub const ENV_PANE_ID: &str = "QUIL_PANE_ID";
pub const ENV_HOME: &str = "QUIL_HOME";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_chars_are_refused() {
        let err = absolute_home(Path::new("/tmp/a\nb")).unwrap_err();
        assert!(err.to_string().contains("control character"));
        assert!(absolute_home(Path::new("/tmp/a\0b")).is_err());
    }

    #[test]
    fn home_checks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("quil-paths-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(check_home(&dir).is_ok(), "a missing home passes");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_home(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "").unwrap();
        std::fs::set_permissions(
            dir.join("config.toml"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        let err = check_home(&dir).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("chmod go-w"),
            "{err}"
        );
        std::fs::set_permissions(
            dir.join("config.toml"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_home(&dir).unwrap_err().to_string();
        assert!(err.contains("mode 777") && !err.contains('\n'), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relative_home_is_made_absolute() {
        let p = absolute_home(Path::new("rel/home")).unwrap();
        assert!(p.is_absolute());
        assert!(p.ends_with("rel/home"));
    }
}
