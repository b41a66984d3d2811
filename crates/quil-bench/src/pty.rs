//! A process on a pseudo-terminal whose master the harness reads directly (poll + read, no
//! helper thread, so the raw-PTY baseline has no extra hop).

use crate::cleanup::Guard;
use anyhow::{Context, Result};
use nix::pty::{openpty, Winsize};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    master: OwnedFd,
    child: Child,
    pub pid: u32,
    _guard: Guard,
}

fn set_cloexec(fd: &OwnedFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
}

pub enum Read {
    Data(usize),
    Timeout,
    /// Every slave fd is closed (the process and its children are gone or closed the tty).
    Eof,
}

impl Pty {
    /// Starts `cmd` in a new session with the PTY's slave as stdin/out/err and controlling tty.
    pub fn spawn(mut cmd: Command, cols: u16, rows: u16) -> Result<Pty> {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pair = openpty(Some(&ws), None).context("openpty")?;
        set_cloexec(&pair.master);
        set_cloexec(&pair.slave);
        cmd.stdin(Stdio::from(pair.slave.try_clone()?))
            .stdout(Stdio::from(pair.slave.try_clone()?))
            .stderr(Stdio::from(pair.slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let desc = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {desc}"))?;
        // The Command holds copies of the slave: drop it so EOF is seen when the child is done.
        drop(cmd);
        let pid = child.id();
        let guard = Guard::new(move || {
            // The child leads its own session and process group.
            // SAFETY: plain kill(2) on a group we created.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
                libc::kill(pid as i32, libc::SIGKILL);
            }
        });
        Ok(Pty {
            master: pair.master,
            child,
            pid,
            _guard: guard,
        })
    }

    pub fn fd(&self) -> i32 {
        self.master.as_raw_fd()
    }

    /// One read of the master, waiting at most `timeout`.
    pub fn read(&self, buf: &mut [u8], timeout: Duration) -> Result<Read> {
        read_fd(self.fd(), buf, timeout)
    }

    pub fn write_all(&self, data: &[u8]) -> Result<()> {
        write_fd(self.fd(), data)
    }

    /// Waits for the child to exit (after EOF), up to `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                anyhow::bail!("pid {} did not exit within {timeout:?}", self.pid);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Moves reading to a background thread that discards output (answering terminal queries),
    /// for clients whose output only has to be drained. Returns a handle that stops it.
    pub fn drain(self) -> Drained {
        self.drain_watching(Vec::new())
    }

    /// [`Pty::drain`], also noting when `marker` (if not empty) first appears in the output:
    /// the moment a client has shown it on its terminal.
    pub fn drain_watching(self, marker: Vec<u8>) -> Drained {
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(None));
        let (s, b, at) = (stop.clone(), bytes.clone(), seen.clone());
        let handle = std::thread::Builder::new()
            .name("pty-drain".into())
            .spawn(move || {
                let pty = self;
                let mut buf = vec![0u8; 64 * 1024];
                let mut resp = Responder::default();
                let mut watch = Watch::new(marker);
                while !s.load(Ordering::Relaxed) {
                    match pty.read(&mut buf, Duration::from_millis(50)) {
                        Ok(Read::Data(n)) => {
                            b.fetch_add(n as u64, Ordering::Relaxed);
                            if watch.scan(&buf[..n]) {
                                if let Ok(mut at) = at.lock() {
                                    at.get_or_insert_with(Instant::now);
                                }
                            }
                            let reply = resp.scan(&buf[..n]);
                            if !reply.is_empty() {
                                let _ = pty.write_all(&reply);
                            }
                        }
                        Ok(Read::Timeout) => {}
                        Ok(Read::Eof) | Err(_) => break,
                    }
                }
                pty
            })
            .expect("spawn drain thread");
        Drained {
            stop,
            bytes,
            seen,
            handle: Some(handle),
        }
    }
}

/// Finds a marker in a stream read in pieces (it may straddle two reads).
struct Watch {
    marker: Vec<u8>,
    tail: Vec<u8>,
}

impl Watch {
    fn new(marker: Vec<u8>) -> Watch {
        Watch {
            marker,
            tail: Vec::new(),
        }
    }

    /// Whether the marker ends in `data` (or did before).
    fn scan(&mut self, data: &[u8]) -> bool {
        if self.marker.is_empty() {
            return false;
        }
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(data);
        let found = hay.windows(self.marker.len()).any(|w| w == self.marker);
        let keep = hay.len().min(self.marker.len() - 1);
        self.tail = hay[hay.len() - keep..].to_vec();
        found
    }
}

/// The terminal of `fd` (a master reflects its slave) has echo off: the program on it put it
/// in raw mode, i.e. a full-screen client really started and is reading keys itself.
pub fn echo_off(fd: i32) -> bool {
    // SAFETY: zeroed termios is a valid out-buffer for tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and pointer.
    unsafe { libc::tcgetattr(fd, &mut t) == 0 && t.c_lflag & libc::ECHO == 0 }
}

/// Writes all of `data` to a blocking `fd`.
pub fn write_fd(fd: i32, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        // SAFETY: valid buffer and fd.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("write to pty");
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// One blocking read (no poll): `Eof` once every slave fd is closed.
pub fn read_blocking(fd: i32, buf: &mut [u8]) -> Result<Read> {
    loop {
        // SAFETY: valid buffer and fd.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Ok(Read::Data(n as usize));
        }
        if n == 0 {
            return Ok(Read::Eof);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EIO) => return Ok(Read::Eof),
            Some(libc::EINTR) => continue,
            _ => return Err(e).context("read pty"),
        }
    }
}

pub fn read_fd(fd: i32, buf: &mut [u8], timeout: Duration) -> Result<Read> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(Read::Timeout);
        }
        return Err(e).context("poll");
    }
    if r == 0 {
        return Ok(Read::Timeout);
    }
    // SAFETY: valid buffer and fd.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EIO) => Ok(Read::Eof),
            Some(libc::EINTR) | Some(libc::EAGAIN) => Ok(Read::Timeout),
            _ => Err(e).context("read pty"),
        };
    }
    if n == 0 {
        return Ok(Read::Eof);
    }
    Ok(Read::Data(n as usize))
}

pub struct Drained {
    stop: Arc<AtomicBool>,
    pub bytes: Arc<AtomicU64>,
    /// When the watched marker was first read.
    pub seen: Arc<Mutex<Option<Instant>>>,
    handle: Option<std::thread::JoinHandle<Pty>>,
}

impl Drop for Drained {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Answers the terminal queries clients send at startup (primary device attributes, cursor
/// position), as a real terminal would, so they do not wait for a timeout.
#[derive(Default)]
pub struct Responder {
    tail: Vec<u8>,
}

impl Responder {
    pub fn scan(&mut self, data: &[u8]) -> Vec<u8> {
        const QUERIES: [(&[u8], &[u8]); 3] = [
            (b"\x1b[c", b"\x1b[?62;22c"),
            (b"\x1b[0c", b"\x1b[?62;22c"),
            (b"\x1b[6n", b"\x1b[1;1R"),
        ];
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(data);
        let mut out = Vec::new();
        for i in 0..hay.len() {
            if hay[i] != 0x1b {
                continue;
            }
            let rest = &hay[i..];
            let mut partial = false;
            for (q, a) in QUERIES {
                if rest.starts_with(q) {
                    out.extend_from_slice(a);
                } else if q.starts_with(rest) {
                    partial = true;
                }
            }
            if partial {
                // A query split across reads: finish it with the next read.
                self.tail = rest.to_vec();
                break;
            }
        }
        out
    }
}

/// Strips escape sequences from a terminal output stream, keeping printable text, so a probe
/// character is found only where it was drawn (not inside a CSI like `\x1b[?25h`).
#[derive(Default)]
pub struct Stripper {
    state: u8,
}

impl Stripper {
    /// Feeds bytes; returns true when `probe` appears as drawn text.
    pub fn feed_find(&mut self, data: &[u8], probe: u8) -> bool {
        let mut found = false;
        for &b in data {
            match self.state {
                0 => {
                    if b == 0x1b {
                        self.state = 1;
                    } else if b == probe {
                        found = true;
                    }
                }
                // After ESC.
                1 => {
                    self.state = match b {
                        b'[' => 2,
                        b']' | b'P' | b'_' | b'^' => 3,
                        b'(' | b')' | b'*' | b'+' | b'#' | b' ' => 5,
                        _ => 0,
                    }
                }
                // CSI: parameters and intermediates until a final byte.
                2 => {
                    if (0x40..=0x7e).contains(&b) {
                        self.state = 0;
                    }
                }
                // String (OSC/DCS/...): until BEL or ESC \.
                3 => {
                    if b == 0x07 {
                        self.state = 0;
                    } else if b == 0x1b {
                        self.state = 4;
                    }
                }
                4 => self.state = if b == b'\\' { 0 } else { 3 },
                // One designator byte.
                _ => self.state = 0,
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripper_ignores_escape_sequences() {
        let mut s = Stripper::default();
        assert!(!s.feed_find(b"\x1b[?25h\x1b[1;1H", b'h'));
        assert!(!s.feed_find(b"\x1b]0;hhh\x07", b'h'));
        assert!(s.feed_find(b"\x1b[0mh", b'h'));
        // Split across reads.
        assert!(!s.feed_find(b"\x1b[?25", b'h'));
        assert!(!s.feed_find(b"h", b'h'));
        assert!(s.feed_find(b"xh", b'h'));
    }

    #[test]
    fn responder_answers_device_attributes() {
        let mut r = Responder::default();
        assert_eq!(r.scan(b"\x1b[?u\x1b"), b"");
        assert_eq!(r.scan(b"[c"), b"\x1b[?62;22c");
        assert_eq!(r.scan(b"\x1b[6n"), b"\x1b[1;1R");
    }
}
