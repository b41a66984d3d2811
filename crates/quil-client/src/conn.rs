//! A blocking connection to the daemon: handshake, then request/reply and streamed messages.
//!
//! The CLI uses [`Client::request`]. The TUI splits the connection: its loop polls a [`Reader`]
//! for every [`ServerMsg`] and writes requests through a [`Writer`].

use quil_proto::codec::{read_frame, write_msg, FrameDecoder, MAX_FRAME};
use quil_proto::{
    decode, ClientMsg, ErrorKind, ErrorReply, Hello, HelloReply, ProtoError, Reply, Request,
    ServerMsg,
};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer the version handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for its reply (spawning a pane or a worktree runs git; the
/// daemon answers everything else at once). Past it the CLI fails instead of hanging.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no quil daemon is listening on {path}")]
    NotRunning { path: PathBuf },
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    /// The daemon answered the request with an error (its kind and a one-line reason).
    #[error("{0}")]
    Daemon(ErrorReply),
    #[error("the daemon closed the connection")]
    Closed,
    #[error(transparent)]
    Unsafe(#[from] quil_proto::paths::UnsafeHome),
    #[error(
        "refusing {path}: the process listening there runs as uid {uid}, not as you (uid {me}); \
         stop it, or use a QUIL_HOME of your own"
    )]
    Peer { path: PathBuf, uid: u32, me: u32 },
    #[error("no answer from the daemon on {path} within {secs} s ({what}); is something else listening there? `quil daemon stop` or remove the socket")]
    Timeout {
        path: PathBuf,
        what: &'static str,
        secs: u64,
    },
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// `quil -r`: ssh, or the quil on the far side, could not give us the daemon.
    #[error("cannot reach quil on {host}: {why}")]
    Unreachable { host: String, why: String },
    /// `quil -r` with a daemon that is not started (`quil proxy --no-start`).
    #[error("no quil daemon is running on {host}")]
    RemoteNotRunning { host: String },
    /// `quil -r`: the ssh connection ended under an open session.
    #[error("lost the connection to {host}: {why}")]
    Lost { host: String, why: String },
}

impl ClientError {
    /// No daemon runs there (locally, or on the remote host).
    pub fn is_not_running(&self) -> bool {
        matches!(
            self,
            ClientError::NotRunning { .. } | ClientError::RemoteNotRunning { .. }
        )
    }
}

/// What is on the other end of a connection: a socket here, or `ssh` to another host (kept
/// alive as long as the connection, and ended with it).
enum Origin {
    Socket(PathBuf),
    Ssh(crate::remote::SshLink),
}

pub struct Client {
    stream: UnixStream,
    next_id: u32,
    /// Streamed messages that arrived while waiting for a reply.
    backlog: VecDeque<ServerMsg>,
    origin: Origin,
}

impl Client {
    /// Connects to the daemon of `home` and performs the version handshake. Refuses a home (or
    /// socket) that is not the user's own, and a listener that runs as another user, before
    /// sending anything; the handshake is bounded by [`HANDSHAKE_TIMEOUT`].
    pub fn connect(home: &Path) -> Result<Client, ClientError> {
        let (stream, path) = open_socket(home)?;
        let p = path.clone();
        Client::handshake(
            stream,
            Origin::Socket(path),
            HANDSHAKE_TIMEOUT,
            move |what| ClientError::Timeout {
                path: p.clone(),
                what,
                secs: HANDSHAKE_TIMEOUT.as_secs(),
            },
        )
    }

    /// The version handshake over `stream` to `link`'s ssh: a local socket pair whose other
    /// end is ssh's stdin and stdout. How ssh ended explains a connection closed early.
    pub(crate) fn over_ssh(
        stream: UnixStream,
        link: crate::remote::SshLink,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let host = link.host().to_string();
        Client::handshake(stream, Origin::Ssh(link), timeout, move |what| {
            ClientError::Unreachable {
                host: host.clone(),
                why: format!("no answer within {} s ({what})", timeout.as_secs()),
            }
        })
    }

    fn handshake(
        stream: UnixStream,
        mut origin: Origin,
        timeout: Duration,
        timed_out: impl Fn(&'static str) -> ClientError,
    ) -> Result<Client, ClientError> {
        let set = |t: Option<Duration>| -> Result<(), ClientError> {
            stream.set_read_timeout(t).map_err(ProtoError::from)?;
            stream.set_write_timeout(t).map_err(ProtoError::from)?;
            Ok(())
        };
        set(Some(timeout))?;
        let body = (|| {
            (&stream)
                .write_all(&Hello::CURRENT.frame())
                .map_err(ProtoError::from)?;
            read_frame(&mut (&stream), MAX_FRAME)?.ok_or(ClientError::Closed)
        })()
        .map_err(|e| match e {
            ClientError::Proto(ProtoError::Io(io)) if is_timeout(&io) => timed_out("handshake"),
            other => match &mut origin {
                // ssh, or the quil it ran, ended before the daemon could answer: say why.
                Origin::Ssh(link) => link.failed(other),
                Origin::Socket(_) => other,
            },
        })?;
        set(None)?;
        match (HelloReply::decode(&body)?, &origin) {
            (HelloReply::Accepted { .. }, _) => Ok(Client {
                stream,
                next_id: 1,
                backlog: VecDeque::new(),
                origin,
            }),
            // Same version: refused for another reason (the daemon is stopping).
            (HelloReply::Refused { version, reason }, Origin::Ssh(_))
                if version == quil_proto::PROTOCOL_VERSION =>
            {
                Err(ClientError::Refused(reason))
            }
            (HelloReply::Refused { version, .. }, Origin::Ssh(link)) => {
                Err(ClientError::Refused(link.mismatch(version)))
            }
            (HelloReply::Refused { reason, .. }, Origin::Socket(_)) => {
                Err(ClientError::Refused(reason))
            }
        }
    }

    /// Sends a request and waits for its reply; an error reply becomes [`ClientError::Daemon`].
    /// A daemon that does not answer within [`REPLY_TIMEOUT`] is an error, not a hang.
    pub fn request(&mut self, req: Request) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        // A write into a dead ssh fails before any read could say why: ask ssh too.
        let result = self
            .request_until(req, deadline)
            .map_err(|e| lost(&mut self.origin, e));
        let _ = self.stream.set_read_timeout(None);
        let _ = self.stream.set_write_timeout(None);
        result.map_err(|e| match e {
            ClientError::Proto(ProtoError::Io(io)) if is_timeout(&io) => match &self.origin {
                Origin::Socket(path) => ClientError::Timeout {
                    path: path.clone(),
                    what: "reply",
                    secs: REPLY_TIMEOUT.as_secs(),
                },
                Origin::Ssh(link) => ClientError::Lost {
                    host: link.host().to_string(),
                    why: format!("no reply within {} s", REPLY_TIMEOUT.as_secs()),
                },
            },
            other => other,
        })
    }

    fn request_until(&mut self, req: Request, deadline: Instant) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .map_err(ProtoError::from)?;
        write_msg(&mut self.stream, &ClientMsg::Request { id, req })?;
        loop {
            // Each read waits no longer than what is left of the reply's time.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProtoError::Io(std::io::ErrorKind::TimedOut.into()).into());
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(ProtoError::from)?;
            // Read from the socket, not the backlog: what arrives meanwhile is kept for `recv`.
            match self.read_msg()? {
                ServerMsg::Reply { id: rid, result } if rid == id => {
                    return result.map_err(ClientError::Daemon);
                }
                ServerMsg::Bye(reason) => {
                    return Err(ClientError::Daemon(ErrorReply::new(
                        ErrorKind::Failed,
                        reason,
                    )))
                }
                other => self.backlog.push_back(other),
            }
        }
    }

    /// Bounds how long [`Client::recv`] waits (`None`: for ever). A read that times out fails
    /// with an `Io` error of kind `WouldBlock` or `TimedOut`.
    pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> Result<(), ClientError> {
        self.stream
            .set_read_timeout(t)
            .map_err(|e| ClientError::Proto(ProtoError::Io(e)))
    }

    fn read_msg(&mut self) -> Result<ServerMsg, ClientError> {
        let body = read_frame(&mut self.stream, MAX_FRAME)
            .map_err(ClientError::from)
            .and_then(|b| b.ok_or(ClientError::Closed))
            .map_err(|e| lost(&mut self.origin, e))?;
        Ok(decode(&body)?)
    }

    /// The next message from the daemon (streamed or reply), blocking.
    pub fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        match self.backlog.pop_front() {
            Some(m) => Ok(m),
            None => self.read_msg(),
        }
    }

    /// The next message, waiting no later than `deadline`; `None` when it passes first. A
    /// deadline that passes in the middle of a frame leaves the stream unusable: callers give
    /// up on the connection when this returns `None`.
    pub fn recv_until(&mut self, deadline: Instant) -> Result<Option<ServerMsg>, ClientError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(Some(m));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        self.set_read_timeout(Some(left))?;
        let msg = self.read_msg();
        self.set_read_timeout(None)?;
        match msg {
            Err(ClientError::Proto(ProtoError::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// The read half for a loop that polls the socket itself (see [`Reader`]).
    pub fn into_reader(self) -> Reader {
        Reader {
            stream: self.stream,
            frames: FrameDecoder::new(MAX_FRAME),
            buf: vec![0; 64 * 1024],
            backlog: self.backlog,
            origin: self.origin,
        }
    }

    /// Splits into a writer (for the UI thread) and this client as the reader.
    pub fn writer(&self) -> Result<Writer, ClientError> {
        Ok(Writer {
            stream: self.stream.try_clone().map_err(ProtoError::from)?,
            next_id: 0x8000_0000,
        })
    }
}

/// A connection over ssh that ended: ssh's own account of why (a socket's end needs none).
fn lost(origin: &mut Origin, e: ClientError) -> ClientError {
    match origin {
        Origin::Ssh(link) if ends_stream(&e) => link.lost(),
        _ => e,
    }
}

/// The end of the stream, or the peer gone: not a timeout, not a bad message.
fn ends_stream(e: &ClientError) -> bool {
    match e {
        ClientError::Closed | ClientError::Proto(ProtoError::Truncated) => true,
        ClientError::Proto(ProtoError::Io(io)) => !is_timeout(io),
        _ => false,
    }
}

/// The daemon's socket of `home`, connected: refuses a home (or socket) that is not the
/// user's own, and a listener that runs as another user, before anything is sent. `quil
/// proxy` joins this to its stdin and stdout without a handshake of its own.
pub fn open_socket(home: &Path) -> Result<(UnixStream, PathBuf), ClientError> {
    quil_proto::paths::check_home(home)?;
    let path = quil_proto::paths::socket_path(home);
    let stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path: path.clone() }
        }
        _ => ClientError::Connect {
            path: path.clone(),
            source: e,
        },
    })?;
    check_peer(&stream, &path)?;
    Ok((stream, path))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Refuses a listener that runs as another user (root's daemon is trusted: it can do anything
/// anyway). The socket file's owner was checked already; this checks the process behind it.
fn check_peer(stream: &UnixStream, path: &Path) -> Result<(), ClientError> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let me = quil_proto::paths::euid();
    let cred = getsockopt(stream, PeerCredentials).map_err(|e| ClientError::Connect {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let uid = cred.uid();
    if uid == me || uid == 0 {
        Ok(())
    } else {
        Err(ClientError::Peer {
            path: path.to_path_buf(),
            uid,
            me,
        })
    }
}

/// The read half of a split connection for a loop that waits on the socket with `poll`: each
/// [`Reader::fill`] reads once what has arrived, without blocking once the socket is readable,
/// and [`Reader::next_msg`] yields the whole messages received so far.
pub struct Reader {
    stream: UnixStream,
    frames: FrameDecoder,
    buf: Vec<u8>,
    /// Messages that arrived while the connection was still a [`Client`].
    backlog: VecDeque<ServerMsg>,
    origin: Origin,
}

impl Reader {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// Reads once (blocking only if nothing has arrived). [`ClientError::Closed`] at the end of
    /// the stream.
    pub fn fill(&mut self) -> Result<(), ClientError> {
        loop {
            match self.stream.read(&mut self.buf) {
                Ok(0) if self.frames.pending() == 0 => {
                    return Err(lost(&mut self.origin, ClientError::Closed))
                }
                Ok(0) => return Err(lost(&mut self.origin, ProtoError::Truncated.into())),
                Ok(n) => {
                    self.frames.push(&self.buf[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(&mut self.origin, ProtoError::from(e).into())),
            }
        }
    }

    /// The next whole message received, if any.
    pub fn next_msg(&mut self) -> Result<Option<ServerMsg>, ClientError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(Some(m));
        }
        match self.frames.next_frame()? {
            Some(body) => Ok(Some(decode(&body)?)),
            None => Ok(None),
        }
    }
}

/// The write half of a split connection. Its request ids start at 2^31 so they never collide
/// with the reader side's.
pub struct Writer {
    stream: UnixStream,
    next_id: u32,
}

impl Writer {
    /// Sends a request without waiting; returns its id. The reply arrives on the reader.
    pub fn send(&mut self, req: Request) -> Result<u32, ClientError> {
        let id = self.take_id();
        write_msg(&mut self.stream, &ClientMsg::Request { id, req })?;
        Ok(id)
    }

    /// Sends a request whose reply arrives only if it fails; returns its id.
    pub fn notify(&mut self, req: Request) -> Result<u32, ClientError> {
        let id = self.take_id();
        write_msg(&mut self.stream, &ClientMsg::Notify { id, req })?;
        Ok(id)
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1) | 0x8000_0000;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_proto::codec::encode_frame;
    use std::os::unix::net::UnixStream;

    /// A streamed message arriving before the reply is kept, not looped on.
    #[test]
    fn request_keeps_streamed_messages_for_recv() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut client = Client {
            stream: a,
            next_id: 1,
            backlog: VecDeque::new(),
            origin: Origin::Socket(PathBuf::new()),
        };
        let server = std::thread::spawn(move || {
            let _req = read_frame(&mut b, MAX_FRAME).unwrap();
            let mut out = Vec::new();
            encode_frame(&ServerMsg::Clipboard("streamed".into()), &mut out).unwrap();
            encode_frame(
                &ServerMsg::Reply {
                    id: 1,
                    result: Ok(Reply::Ok),
                },
                &mut out,
            )
            .unwrap();
            b.write_all(&out).unwrap();
            b
        });
        assert_eq!(client.request(Request::List).unwrap(), Reply::Ok);
        assert_eq!(
            client.recv().unwrap(),
            ServerMsg::Clipboard("streamed".into())
        );
        drop(server.join().unwrap());
    }
}
