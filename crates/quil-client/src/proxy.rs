//! `quil proxy`: the far end of `quil -r`. ssh runs it on the remote host as the remote user;
//! it joins its stdin and stdout to that user's daemon socket and copies bytes both ways until
//! either side closes. It reads nothing of what passes (the handshake is the client's and the
//! daemon's), and holds at most one buffer per direction.
//!
//! The daemon checks the uid of whoever connects to its socket: here that is the proxy, which
//! runs as the user ssh logged in, so the check keeps its meaning. The proxy checks the daemon
//! in turn (its socket and home are the user's, its process runs as the user), as any client.

use crate::conn::{open_socket, ClientError};
use crate::launch;
use crate::remote::EXIT_NOT_RUNNING;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

/// Bytes held per direction: one read's worth, written out before the next read.
const CHUNK: usize = 64 * 1024;

/// Connects to the daemon of `home` (starting it when `start` and none runs) and copies until
/// one side closes. The exit status: 0, or [`EXIT_NOT_RUNNING`] without `start` and a daemon.
pub fn run(home: &Path, start: bool) -> anyhow::Result<i32> {
    let sock = match open_socket(home) {
        Ok((s, _)) => s,
        Err(ClientError::NotRunning { path }) if !start => {
            eprintln!("quil: no quil daemon is listening on {}", path.display());
            return Ok(EXIT_NOT_RUNNING);
        }
        Err(ClientError::NotRunning { .. }) => {
            launch::start(home)?;
            open_socket(home)?.0
        }
        Err(e) => return Err(e.into()),
    };
    // Plain files over fds 0 and 1: std's stdin and stdout buffer, and a buffered byte would
    // sit there while the other side waits for it.
    let input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let output = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let to_daemon = sock.try_clone()?;
    std::thread::Builder::new()
        .name("proxy-in".into())
        .spawn(move || {
            let _ = copy(input, &to_daemon);
            // The client went away (or wrote its last): nothing more goes to it either.
            let _ = to_daemon.shutdown(std::net::Shutdown::Both);
        })?;
    let _ = copy(&sock, output);
    Ok(0)
}

/// Copies until end of stream or an error, writing each read out whole before the next.
fn copy(mut from: impl Read, mut to: impl Write) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}
