//! `$QUIL_HOME` and the daemon's files in it: the directory (0700), the single-instance lock,
//! the pid file, the log and the socket (0600, bound under a restrictive umask).

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot create QUIL_HOME {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("QUIL_HOME {path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("quild is already running for {home} (pid {pid})")]
    AlreadyRunning { home: PathBuf, pid: String },
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Holds the single-instance lock for as long as it lives.
pub struct Instance {
    _lock: Flock<File>,
    pub pid_path: PathBuf,
    pub socket_path: PathBuf,
}

pub fn ensure_home(home: &Path) -> Result<(), HomeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .map_err(|e| HomeError::Create {
            path: home.to_path_buf(),
            source: e,
        })?;
    // Tighten a pre-existing directory too: it holds the socket and session ids.
    let _ = std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Takes the instance lock, reclaims a stale socket and writes the pid file.
pub fn claim(home: &Path) -> Result<(Instance, std::os::unix::net::UnixListener), HomeError> {
    let lock_path = home.join("quild.lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| HomeError::NotWritable {
            path: home.to_path_buf(),
            source: e,
        })?;
    let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|_| {
        HomeError::AlreadyRunning {
            home: home.to_path_buf(),
            pid: std::fs::read_to_string(quil_proto::paths::pid_path(home))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        }
    })?;

    // We hold the lock, so any socket file left here belongs to a dead daemon.
    let socket_path = quil_proto::paths::socket_path(home);
    let _ = std::fs::remove_file(&socket_path);
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = std::os::unix::net::UnixListener::bind(&socket_path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(|e| HomeError::Bind {
        path: socket_path.clone(),
        source: e,
    })?;
    let _ = std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600));

    let pid_path = quil_proto::paths::pid_path(home);
    write_atomic(&pid_path, format!("{}\n", std::process::id()).as_bytes()).map_err(|e| {
        HomeError::NotWritable {
            path: pid_path.clone(),
            source: e,
        }
    })?;
    Ok((
        Instance {
            _lock: lock,
            pid_path,
            socket_path,
        },
        listener,
    ))
}

impl Instance {
    /// Removes the socket and pid file (the lock goes with the process).
    pub fn release(&self) {
        let _ = std::fs::remove_file(&self.socket_path);
        let _ = std::fs::remove_file(&self.pid_path);
    }
}

/// Writes a file by temp file, fsync and rename, so readers see the old or the new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn open_log(home: &Path) -> Result<File, HomeError> {
    let path = quil_proto::paths::log_path(home);
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| HomeError::NotWritable { path, source: e })
}
