//! Small file helpers: private directories, atomic writes, capped reads and logs.

use crate::AiError;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates `dir` (and parents) with mode 0700 when missing, and tightens `dir` itself to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The last `max` bytes of a regular file (not following a symlink), from the first whole
/// line on; `None` when it cannot be read. For peeking at the end of a CLI's transcript, which
/// can be large.
pub fn read_tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(max);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    Read::by_ref(&mut file)
        .take(max)
        .read_to_end(&mut buf)
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // A cut first line is not JSON: drop it.
    Some(match (start > 0, text.find('\n')) {
        (true, Some(nl)) => text[nl + 1..].to_string(),
        (true, None) => String::new(),
        (false, _) => text,
    })
}

/// Reads a regular file without following a symlink, refusing more than `cap` bytes.
/// `Ok(None)` when it does not exist.
pub fn read_nofollow(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, AiError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(AiError::Symlink(path.to_path_buf()))
        }
        Err(e) => return Err(AiError::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| AiError::io(path, e))?;
    if !meta.is_file() {
        return Err(AiError::NotAFile(path.to_path_buf()));
    }
    if meta.len() > cap {
        return Err(AiError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            cap,
        });
    }
    let mut buf = Vec::new();
    Read::by_ref(&mut file)
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AiError::io(path, e))?;
    if buf.len() as u64 > cap {
        return Err(AiError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
            cap,
        });
    }
    Ok(Some(buf))
}

/// An unpredictable temp name beside `path` (created with `O_EXCL | O_NOFOLLOW` below).
fn temp_name(path: &Path) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS's random source; each one hashes differently.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{:016x}", h.finish()))
}

/// Writes `data` to `path` atomically (private temp file in the same directory, fsync,
/// rename, fsync of the directory), mode 0600, creating the directory 0700. Does nothing when
/// the file already holds exactly `data`. Returns whether it wrote.
pub fn write_atomic_if_changed(path: &Path, data: &[u8]) -> io::Result<bool> {
    write_if_changed(path, data, true)
}

/// [`write_atomic_if_changed`] without the fsyncs, for a file written again whenever it is
/// needed (the tracker at every daemon start, a pane's hook settings at every spawn): a crash
/// cannot leave it wrong when it is next used, and a start or spawn must not wait on the disk.
pub fn write_regenerated_if_changed(path: &Path, data: &[u8]) -> io::Result<bool> {
    write_if_changed(path, data, false)
}

fn write_if_changed(path: &Path, data: &[u8], durable: bool) -> io::Result<bool> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    private_dir(dir)?;
    if let Ok(Some(old)) = read_nofollow(path, data.len() as u64 + 1) {
        if old == data {
            return Ok(false);
        }
    }
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)?;
        if durable {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// Appends one line to a log capped at `cap` bytes with one rotation (`<log>.1`). Best effort:
/// logging never fails the caller.
pub fn append_log(path: &Path, line: &str, cap: u64) {
    let _ = (|| -> io::Result<()> {
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let size = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 + 1 > cap {
            let mut rotated = path.as_os_str().to_owned();
            rotated.push(".1");
            fs::rename(path, rotated)?;
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        f.write_all(format!("{line}\n").as_bytes())
    })();
}

/// Seconds since the Unix epoch, for log lines.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_only_when_changed_and_private() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("sub/f.id");
        assert!(write_atomic_if_changed(&p, b"one\n").expect("write"));
        assert!(!write_atomic_if_changed(&p, b"one\n").expect("same"));
        assert!(write_atomic_if_changed(&p, b"two\n").expect("changed"));
        assert_eq!(fs::read(&p).expect("read"), b"two\n");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&d.path().join("sub")), 0o700);
        let leftovers: Vec<_> = fs::read_dir(d.path().join("sub"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("f.id")]);
    }

    #[test]
    fn capped_read_and_symlink_refusal() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        assert!(read_nofollow(&p, 10).expect("missing").is_none());
        fs::write(&p, b"0123456789abc").expect("write");
        assert!(matches!(
            read_nofollow(&p, 10),
            Err(AiError::TooLarge { size: 13, .. })
        ));
        let l = d.path().join("link");
        std::os::unix::fs::symlink(&p, &l).expect("symlink");
        let err = read_nofollow(&l, 100).expect_err("symlink refused");
        assert!(matches!(err, AiError::Symlink(_)));
        assert!(err.to_string().contains(&l.display().to_string()), "{err}");
        assert!(matches!(
            read_nofollow(d.path(), 100),
            Err(AiError::NotAFile(_))
        ));
    }

    #[test]
    fn log_is_capped_with_one_rotation() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("logs/hook.log");
        for i in 0..100 {
            append_log(&p, &format!("line {i:03} xxxxxxxxxxxxxxxxxxxx"), 200);
        }
        let cur = fs::read_to_string(&p).expect("log");
        let old = fs::read_to_string(d.path().join("logs/hook.log.1")).expect("rotated");
        assert!(
            cur.len() <= 200 && old.len() <= 200,
            "{} {}",
            cur.len(),
            old.len()
        );
        assert!(cur.trim_end().ends_with("line 099 xxxxxxxxxxxxxxxxxxxx"));
        assert!(!d.path().join("logs/hook.log.2").exists());
    }
}
