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
    #[error(transparent)]
    Unsafe(#[from] quil_proto::paths::UnsafeHome),
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
    // Someone else's home (or files in it), or one others may write to, is refused: they could
    // plant a config whose shell we would run, or a symlink we would write through.
    quil_proto::paths::check_home(home)?;
    // Tighten a pre-existing directory too (0755 is safe, but it holds session ids).
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
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
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
    write_regenerated(&pid_path, format!("{}\n", std::process::id()).as_bytes()).map_err(|e| {
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

/// Random bits for ids and names, without a dependency: the std hasher is randomly keyed per
/// process.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// An unpredictable name for a temp file beside `path`: `.NAME.tmp-<random>`.
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{:016x}", random_u64()))
}

/// Creates a new file that did not exist (`O_EXCL`), never through a symlink (`O_NOFOLLOW`),
/// mode 0600, under an unpredictable name beside `path`, open for reading and writing. Returns
/// it with its name.
pub fn create_temp(path: &Path) -> std::io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = temp_name(path);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("cannot create a temp file")))
}

/// Writes a file by temp file ([`create_temp`]), fsync and rename, so readers see the old or
/// the new content, and no write ever follows a symlink someone planted.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace(path, data, true)
}

/// [`write_atomic`] without the fsyncs, for a file the daemon writes again at every start
/// (the pid file, the shells' init files): a crash cannot leave it wrong for long, and a
/// start must not wait on the disk (an fsync can take seconds while other programs write).
pub fn write_regenerated(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace(path, data, false)
}

fn replace(path: &Path, data: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let (mut f, tmp) = create_temp(path)?;
    let result = (|| {
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

pub fn open_log(home: &Path) -> Result<File, HomeError> {
    let path = quil_proto::paths::log_path(home);
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| HomeError::NotWritable { path, source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unpredictable_and_never_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        assert_ne!(temp_name(&target), temp_name(&target));
        // A symlink planted where the file goes is replaced, not written through.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        for (write, text) in [
            (
                write_atomic as fn(&Path, &[u8]) -> std::io::Result<()>,
                &b"new"[..],
            ),
            (write_regenerated, &b"again"[..]),
        ] {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(&victim, &target).unwrap();
            write(&target, text).unwrap();
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
            assert_eq!(std::fs::read(&target).unwrap(), text);
            assert!(!std::fs::symlink_metadata(&target)
                .unwrap()
                .file_type()
                .is_symlink());
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file left behind: {names:?}");
    }
}
