//! Non-blocking fd I/O, for PTY masters and clients' sockets.
//!
//! A PTY master is non-blocking so that a keystroke can be written straight from the
//! connection that received it, with no thread hop, whenever nothing is queued before it.
//! Anything that does not go out at once (the program is not reading, or earlier input is
//! still queued) goes to the pane's writer task. The reader and the writer are tasks that wait
//! through the runtime's reactor: no thread per pane.
//!
//! Nothing is registered with the reactor for writability except while a write is waiting
//! ([`write_all`]). The reactor's epoll is edge-triggered, and an fd registered for it wakes
//! the runtime each time the other side reads: a program taking its input (after every
//! keystroke) or a client taking its frame (every frame). Those wake-ups did nothing, cost
//! the daemon a thread wake each, and took the CPU from the very process that was reading.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// An fd of our own onto the open file behind `fd` (a `dup`, so it stays valid for as long as
/// its holder needs it, whatever happens to the others).
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: dup(2) on an fd the caller holds open; the result is ours alone.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh, open fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Puts the open file description behind `fd` (and every dup of it) in non-blocking mode.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(2) flag get/set on a valid fd.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Tells the terminal (and so its programs, with SIGWINCH) its new size.
pub(crate) fn set_size(fd: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we pass, on a valid fd.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One non-blocking write: how many bytes went out (`WouldBlock` when none could).
pub(crate) fn write(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes all of `data` to the non-blocking `fd`. Straight to the fd while it takes it; when it
/// is full, a dup of it is registered for writability until the rest has gone, then
/// deregistered (a registration only while waiting: see the module's comment). Errors when
/// the other side is gone.
pub(crate) async fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    let mut waiting: Option<AsyncFd<OwnedFd>> = None;
    while !data.is_empty() {
        let n = match &waiting {
            None => write(fd, data),
            Some(reg) => {
                let mut ready = reg.writable().await?;
                match ready.try_io(|f| write(f.get_ref().as_fd(), data)) {
                    Ok(r) => r,
                    // Still full: readiness was cleared; wait for the next edge.
                    Err(_would_block) => continue,
                }
            }
        };
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            // A registration reports the fd writable at once if it already is again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && waiting.is_none() => {
                let own = dup(fd.as_raw_fd())?;
                // SAFETY: the AsyncFd owns the dup, open until it is dropped.
                waiting =
                    Some(unsafe { AsyncFd::register_with_interest(own, Interest::WRITABLE)? });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A non-blocking fd registered with the reactor for reading only.
pub(crate) struct Reader(AsyncFd<OwnedFd>);

impl Reader {
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Reader> {
        set_nonblocking(fd.as_fd())?;
        // SAFETY: the AsyncFd owns `fd`, open until it is dropped.
        Ok(Reader(unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE)?
        }))
    }

    /// Reads what there is, waiting until there is something; `Ok(0)` at the end.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(r) = ready.try_io(|fd| read_now(fd.get_ref(), buf)) {
                if matches!(r, Ok(n) if n > 0 && n < buf.len()) {
                    // Drained: the next data raises a new edge. Saves the read that would only
                    // say EAGAIN before the next wait (as tokio's own streams and the PTY
                    // reader do).
                    ready.clear_ready();
                }
                return r;
            }
        }
    }
}

/// One read without waiting: `WouldBlock` when there is nothing yet, `Ok(0)` at the end (no
/// process left on the PTY: EOF or EIO).
pub(crate) fn read_now(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            _ if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn nonblocking_pipe_round_trip() {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) into a two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fresh fds we own from here on.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        set_nonblocking(r.as_fd()).unwrap();
        set_nonblocking(w.as_fd()).unwrap();
        let mut buf = [0u8; 8];
        // Nothing to read yet: a raw read says so instead of blocking.
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        assert_eq!(n, -1);
        assert_eq!(write(w.as_fd(), b"hi").unwrap(), 2);
        assert_eq!(read_now(&r, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        // A full pipe makes `write` report WouldBlock instead of blocking.
        let big = vec![7u8; 1 << 20];
        let mut sent = 0;
        let e = loop {
            match write(w.as_fd(), &big) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(sent > 0 && sent < big.len());
    }

    /// The events this process's epoll instances wait for on the file behind `fd`, one entry
    /// per registration (`/proc/self/fdinfo` of each epoll fd: `tfd: 9 events: 19 data: ..
    /// ino:3690a8 ..`; an instance with two fds is listed twice, hence the set).
    fn registrations(fd: BorrowedFd<'_>) -> Vec<u32> {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .unwrap()
            .ino();
        let mut lines = std::collections::BTreeSet::new();
        for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let is_epoll = std::fs::read_link(e.path())
                .is_ok_and(|l| l.to_string_lossy().contains("eventpoll"));
            let path = format!("/proc/self/fdinfo/{}", e.file_name().to_string_lossy());
            if let (true, Ok(info)) = (is_epoll, std::fs::read_to_string(path)) {
                lines.extend(
                    info.lines()
                        .filter(|l| l.starts_with("tfd:"))
                        .map(String::from),
                );
            }
        }
        let ours = format!("ino:{ino:x}");
        lines
            .iter()
            .filter(|l| l.split_whitespace().any(|w| w == ours))
            .map(|l| {
                let mut words = l.split_whitespace().skip_while(|w| *w != "events:");
                let events = words.nth(1).unwrap();
                u32::from_str_radix(events, 16).unwrap()
            })
            .collect()
    }

    /// A socket pair: our end, non-blocking, and the peer's.
    fn socket_pair() -> (OwnedFd, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = OwnedFd::from(a);
        set_nonblocking(fd.as_fd()).unwrap();
        (fd, b)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_reader_is_registered_for_reading_only() {
        let rt = runtime();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = OwnedFd::from(a);
        let watched = dup(fd.as_raw_fd()).unwrap();
        let _g = rt.enter();
        let reader = Reader::new(fd).unwrap();
        let regs = registrations(watched.as_fd());
        assert_eq!(regs.len(), 1, "{regs:x?}");
        assert_ne!(regs[0] & libc::EPOLLIN as u32, 0, "{regs:x?}");
        assert_eq!(regs[0] & libc::EPOLLOUT as u32, 0, "{regs:x?}");
        std::io::Write::write_all(&mut b, b"hello").unwrap();
        let mut buf = [0u8; 16];
        let n = rt.block_on(reader.read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"hello");
        drop(b);
        assert_eq!(rt.block_on(reader.read(&mut buf)).unwrap(), 0);
    }

    #[test]
    fn write_all_waits_for_a_full_socket_registered_only_while_waiting() {
        let rt = runtime();
        let (fd, b) = socket_pair();
        // Far more than a socket buffer holds.
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let fd = std::sync::Arc::new(fd);
        let (w, d) = (fd.clone(), data.clone());
        let task = rt.spawn(async move { write_all(w.as_fd(), &d).await });
        // Nobody reads: the write fills the socket and waits, registered for writability.
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(100)).await });
        assert!(!task.is_finished());
        let regs = registrations(fd.as_fd());
        assert_eq!(regs.len(), 1, "{regs:x?}");
        assert_ne!(regs[0] & libc::EPOLLOUT as u32, 0, "{regs:x?}");
        let reading = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut &b, &mut got).map(|_| got)
        });
        rt.block_on(task).unwrap().unwrap();
        // Done: nothing is registered any more.
        assert_eq!(registrations(fd.as_fd()), Vec::<u32>::new());
        drop(fd);
        assert!(
            reading.join().unwrap().unwrap() == data,
            "the bytes arrive whole and in order"
        );
    }

    #[test]
    fn write_all_reports_a_peer_that_is_gone() {
        let rt = runtime();
        let (fd, b) = socket_pair();
        drop(b);
        let e = rt.block_on(write_all(fd.as_fd(), b"x")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
