//! Non-blocking PTY I/O for a pane: the master is put in non-blocking mode so that a keystroke
//! can be written straight from the connection that received it, with no thread hop, whenever
//! nothing is queued before it. Anything that does not go out at once (the program is not
//! reading, or earlier input is still queued) goes to the pane's writer task. The reader and
//! the writer are tasks that wait through the runtime's reactor: no thread per pane.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// An fd of our own for the PTY master (a `dup`, so it stays valid for as long as its holder
/// needs it, whatever happens to the others).
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
}
