//! The floor of any client/server terminal multiplexer: relay processes that forward bytes and
//! do nothing else. What they add to the raw-PTY echo is what the process hops alone cost on
//! this machine, before any parsing, state or drawing.
//!
//! `quil-bench relay [--sock] -- CMD...` forwards its stdin to CMD and CMD's output to its
//! stdout, with `poll`, `read` and `write` on one thread. CMD runs on a PTY of its own (the
//! shape of a multiplexer's server), or with `--sock` on a Unix socket pair (the shape of a
//! client talking to its server). A terminal on stdin is put in raw mode first, as a
//! full-screen client does.

use crate::pty::{read_blocking, write_fd, Pty, Read};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};

/// Runs the relay until either side closes.
pub fn run(sock: bool, cmd: &[String]) -> Result<()> {
    let Some((program, args)) = cmd.split_first() else {
        bail!("relay: no command given");
    };
    raw_if_tty(0);
    let mut c = Command::new(program);
    c.args(args);
    if sock {
        let (mine, mut child) = spawn_on_socket(c)?;
        let r = forward(mine.as_raw_fd());
        drop(mine);
        let _ = child.wait();
        r
    } else {
        let pty = Pty::spawn(c, 120, 40)?;
        forward(pty.fd())
    }
}

/// Starts `c` with its stdin and stdout on one end of a Unix socket pair; returns the other.
pub fn spawn_on_socket(mut c: Command) -> Result<(UnixStream, Child)> {
    let (mine, theirs) = UnixStream::pair().context("socketpair")?;
    let out = OwnedFd::from(theirs.try_clone()?);
    c.stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(out));
    let child = c
        .spawn()
        .with_context(|| format!("cannot start {:?}", c.get_program()))?;
    Ok((mine, child))
}

/// Copies stdin to `down` and `down` to stdout until one of them ends.
fn forward(down: i32) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: down,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds, no timeout.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll");
        }
        for (i, (from, to)) in [(0, down), (down, 1)].into_iter().enumerate() {
            if fds[i].revents == 0 {
                continue;
            }
            match read_blocking(from, &mut buf)? {
                Read::Data(n) => write_fd(to, &buf[..n])?,
                // EOF, or EIO from a PTY whose program is gone: the relay is done.
                Read::Eof | Read::Timeout => return Ok(()),
            }
        }
    }
}

/// Raw mode on `fd` if it is a terminal, so keys pass through unchanged and are not echoed.
fn raw_if_tty(fd: i32) {
    // SAFETY: zeroed termios is a valid out-buffer for tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; tcgetattr fails harmlessly on a non-terminal.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return;
    }
    // SAFETY: as above, on the termios just read.
    unsafe {
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(fd, libc::TCSANOW, &t);
    }
}
