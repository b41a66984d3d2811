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
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// `quil-bench delay --ms N HOST PORT`, ssh's `ProxyCommand` on a [`crate::ssh::Link::Delayed`]
/// link: joins stdin/stdout to HOST:PORT, holding every chunk `delay` in each direction (with
/// no limit on bandwidth), until the far side closes.
pub fn delay(delay: Duration, host: &str, port: u16) -> Result<()> {
    let tcp = TcpStream::connect((host, port)).with_context(|| format!("connect {host}:{port}"))?;
    tcp.set_nodelay(true)?;
    let _up = delayed(std::io::stdin(), tcp.try_clone()?, delay, |t| {
        let _ = t.shutdown(std::net::Shutdown::Write);
    });
    let down = delayed(tcp, std::io::stdout(), delay, |_| {});
    let _ = down.join();
    Ok(())
}

/// Copies `from` to `to` on two threads, writing each chunk `delay` after it was read; `end`
/// runs on `to` after the last.
fn delayed<R, W>(mut from: R, mut to: W, delay: Duration, end: fn(&mut W)) -> JoinHandle<()>
where
    R: std::io::Read + Send + 'static,
    W: std::io::Write + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).and_then(|()| to.flush()).is_err() {
                return;
            }
        }
        end(&mut to);
    })
}
