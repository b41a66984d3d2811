//! One client connection: handshake, requests, and (once attached) paced screen streaming.
//!
//! Output pacing: any pane going dirty bumps a shared counter; an attached client then sends
//! at most one update per viewed pane per frame interval. Writes go straight to the socket
//! while nothing is queued for it, and otherwise through this client's own writer task; while
//! more than [`MAX_INFLIGHT`] bytes are unsent, frames are skipped, and the
//! row versions make the next frame carry everything the client missed. A stalled client thus
//! costs the daemon one bounded buffer and never blocks panes or other clients.
//!
//! Everything else a client is sent is bounded too: clipboard stores are coalesced to the latest
//! while it is behind, notices dropped, and once [`MAX_QUEUED`] bytes are unsent the connection
//! stops reading its requests (so replies it does not read cannot pile up); past
//! [`DISCONNECT_AT`] it is closed. A reply larger than a frame becomes an error reply.

use crate::fdio;
use crate::server::Server;
use quil_proto::codec::{encode_frame, encode_raw_frame, FrameDecoder, MAX_FRAME};
use quil_proto::{
    decode, ClientMsg, EventKind, Hello, HelloReply, PaneId, Reply, Request, ServerMsg,
};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{sleep_until, Instant};

pub const FRAME_INTERVAL: Duration = Duration::from_millis(16);
const MAX_INFLIGHT: usize = 1024 * 1024;
/// Unsent bytes past which an event reader loses events (a few thousand of them).
const MAX_EVENTS_INFLIGHT: usize = 256 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Unsent bytes past which this connection reads no more requests until the client catches up.
const MAX_QUEUED: usize = 4 * 1024 * 1024;
/// Unsent bytes past which the client is disconnected (a reply or two over [`MAX_QUEUED`] is
/// normal; this is not).
const DISCONNECT_AT: usize = 48 * 1024 * 1024;
/// Memory all connections together may hold for requests not yet whole. One 16 MiB request at
/// a time is normal; thirty half-sent ones would hold 480 MiB. Past the budget, a connection
/// holding more than [`SMALL_PARTIAL`] is closed.
const PARTIAL_BUDGET: usize = 64 * 1024 * 1024;
const SMALL_PARTIAL: usize = 1024 * 1024;

/// This connection's share of the daemon's [`Server::partial`], given back when it closes.
struct Partial<'a> {
    total: &'a AtomicUsize,
    mine: usize,
}

impl Partial<'_> {
    /// Records that this connection now holds `now` bytes; returns what all of them hold.
    fn set(&mut self, now: usize) -> usize {
        let total = if now >= self.mine {
            self.total.fetch_add(now - self.mine, Ordering::SeqCst) + (now - self.mine)
        } else {
            self.total.fetch_sub(self.mine - now, Ordering::SeqCst) - (self.mine - now)
        };
        self.mine = now;
        total
    }
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        self.total.fetch_sub(self.mine, Ordering::SeqCst);
    }
}

struct Outbox {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    inflight: Arc<AtomicUsize>,
    /// The socket, for writing straight to it when nothing is queued.
    fd: Arc<OwnedFd>,
}

impl Outbox {
    fn send(&self, msg: &ServerMsg) -> bool {
        let mut buf = Vec::new();
        if let Err(e) = encode_frame(msg, &mut buf) {
            tracing::error!("cannot encode a message: {e}");
            return true;
        }
        self.push(buf)
    }

    fn push(&self, mut buf: Vec<u8>) -> bool {
        // Nothing queued or being written (the writer counts a frame off once it is written):
        // this goes first anyway, and straight out spares a wake-up of the writer task.
        if self.unsent() == 0 {
            match fdio::write(self.fd.as_fd(), &buf) {
                Ok(n) if n == buf.len() => return true,
                Ok(n) => drop(buf.drain(..n)),
                // Full (the writer waits for it) or gone (the writer finds that out).
                Err(_) => {}
            }
        }
        self.inflight.fetch_add(buf.len(), Ordering::SeqCst);
        self.tx.send(buf).is_ok()
    }

    /// Sends a reply; one too large for a frame is replaced by an error reply saying so, so the
    /// client is never left waiting.
    fn reply(&self, id: u32, result: Result<Reply, quil_proto::ErrorReply>) -> bool {
        let mut buf = Vec::new();
        match encode_frame(&ServerMsg::Reply { id, result }, &mut buf) {
            Ok(()) => self.push(buf),
            Err(quil_proto::ProtoError::Oversized { len, max }) => {
                tracing::warn!(len, "reply over the frame limit, answered with an error");
                self.send(&ServerMsg::Reply {
                    id,
                    result: Err(quil_proto::ErrorReply::new(
                        quil_proto::ErrorKind::Invalid,
                        format!(
                            "the reply would be {} MiB, over the {} MiB message limit; ask for less (e.g. a smaller --scrollback)",
                            len.div_ceil(1024 * 1024),
                            max / (1024 * 1024)
                        ),
                    )),
                })
            }
            Err(e) => {
                tracing::error!("cannot encode a reply: {e}");
                self.send(&ServerMsg::Reply {
                    id,
                    result: Err(quil_proto::ErrorReply::new(
                        quil_proto::ErrorKind::Failed,
                        format!("cannot encode the reply: {e}"),
                    )),
                })
            }
        }
    }

    fn congested(&self) -> bool {
        self.unsent() > MAX_INFLIGHT
    }

    /// Bytes queued for this client and not yet written to its socket.
    fn unsent(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }
}

/// A connection's subscription to the event stream.
struct EventFeed {
    rx: tokio::sync::broadcast::Receiver<quil_proto::Event>,
    panes: Vec<PaneId>,
    types: Vec<String>,
    /// Events dropped for this reader since it last got one.
    lost: u64,
}

impl EventFeed {
    fn new(
        server: &Server,
        panes: Vec<PaneId>,
        types: Vec<String>,
    ) -> Result<EventFeed, crate::error::Error> {
        if let Some(bad) = types
            .iter()
            .find(|t| !quil_proto::EventKind::NAMES.contains(&t.as_str()))
        {
            return Err(crate::error::Error::Invalid(format!(
                "unknown event type {bad:?} (known: {})",
                quil_proto::EventKind::NAMES.join(", ")
            )));
        }
        Ok(EventFeed {
            rx: server.signals.events.subscribe(),
            panes,
            types,
            lost: 0,
        })
    }

    /// Forwards the events already waiting (not those that come meanwhile: a flood of events
    /// must not keep the connection from its request).
    fn drain(&mut self, out: &Outbox) {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        for _ in 0..self.rx.len() {
            let ev = match self.rx.try_recv() {
                Ok(ev) => Ok(ev),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            };
            self.forward(ev, out);
        }
    }

    /// Sends one event if it passes the filter. A reader that falls behind, in the daemon's
    /// queue or in its own socket, loses events rather than slowing anyone, and is told how
    /// many before the next one it gets.
    fn forward(
        &mut self,
        ev: Result<quil_proto::Event, tokio::sync::broadcast::error::RecvError>,
        out: &Outbox,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        let ev = match ev {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                self.lost += n;
                return;
            }
            Err(RecvError::Closed) => return,
        };
        let wanted = (self.panes.is_empty() || ev.pane.is_some_and(|p| self.panes.contains(&p)))
            && (self.types.is_empty() || self.types.iter().any(|t| t == ev.kind.name()));
        if !wanted {
            return;
        }
        if out.unsent() > MAX_EVENTS_INFLIGHT {
            self.lost += 1;
            return;
        }
        if self.lost > 0 {
            out.send(&ServerMsg::Event(quil_proto::Event {
                time: ev.time,
                pane: None,
                tab: None,
                kind: quil_proto::EventKind::Lost { count: self.lost },
            }));
            self.lost = 0;
        }
        out.send(&ServerMsg::Event(ev));
    }
}

pub async fn serve(server: Arc<Server>, stream: UnixStream, conn_id: u64) {
    // The socket is 0600 in a 0700 directory; check the peer anyway, in case either was changed.
    let me = nix::unistd::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => {}
        Ok(cred) => {
            tracing::warn!(
                conn_id,
                uid = cred.uid(),
                "refusing connection from another user"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(conn_id, "cannot read peer credentials: {e}");
            return;
        }
    }
    server.clients.fetch_add(1, Ordering::SeqCst);
    if let Err(reason) = run(&server, stream, conn_id).await {
        tracing::warn!(conn_id, "closing connection: {reason}");
    }
    server.clients.fetch_sub(1, Ordering::SeqCst);
}

async fn run(server: &Arc<Server>, stream: UnixStream, conn_id: u64) -> Result<(), String> {
    // Registered for reading only, and written to directly (see `fdio`): tokio's own stream is
    // registered for writability too, which woke the daemon each time the client read a frame.
    let sock = OwnedFd::from(stream.into_std().map_err(|e| e.to_string())?);
    let wr = Arc::new(fdio::dup(sock.as_raw_fd()).map_err(|e| e.to_string())?);
    let rd = fdio::Reader::new(sock).map_err(|e| e.to_string())?;
    let mut dec = FrameDecoder::new(MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];

    let mut shutdown_rx = server.shutdown.subscribe();
    // Handshake: a fixed-layout hello every version can read.
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            if let Some(body) = dec.next_frame().map_err(|e| e.to_string())? {
                return Hello::decode(&body).map_err(|e| e.to_string());
            }
            let n = rd.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed before the handshake".to_string());
            }
            dec.push(&buf[..n]);
            // A hello is a few bytes; with requests sent ahead of its answer, still little.
            if dec.pending() > SMALL_PARTIAL {
                return Err("over 1 MiB sent before the handshake was answered".to_string());
            }
        }
    });
    // A client saying hello while the daemon stops hears why, rather than losing the
    // connection unanswered (and taking that for a crash, starting another daemon).
    let hello = tokio::select! {
        h = handshake => Some(h.map_err(|_| "no handshake within 5 s".to_string())??),
        _ = shutdown_rx.wait_for(|stopping| *stopping) => None,
    };
    let answer = match hello {
        Some(hello) if !*shutdown_rx.borrow() => HelloReply::answer(&hello),
        _ => HelloReply::Refused {
            version: quil_proto::PROTOCOL_VERSION,
            reason: "the quil daemon is shutting down".into(),
        },
    };
    let mut frame = Vec::new();
    encode_raw_frame(&answer.encode(), &mut frame).map_err(|e| e.to_string())?;
    fdio::write_all(wr.as_fd(), &frame)
        .await
        .map_err(|e| e.to_string())?;
    if let HelloReply::Refused { reason, .. } = answer {
        return Err(reason);
    }

    let inflight = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_inflight = inflight.clone();
    // Wakes the connection when a paused client has caught up (or its writer ended).
    let drained = Arc::new(tokio::sync::Notify::new());
    let writer_drained = drained.clone();
    let writer_fd = wr.clone();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if fdio::write_all(writer_fd.as_fd(), &frame).await.is_err() {
                break;
            }
            let before = writer_inflight.fetch_sub(frame.len(), Ordering::SeqCst);
            if before > MAX_QUEUED && before - frame.len() <= MAX_QUEUED {
                writer_drained.notify_one();
            }
        }
        writer_drained.notify_one();
    });
    let out = Outbox {
        tx,
        inflight,
        fd: wr,
    };

    let mut screen_rx = server.signals.screen.subscribe();
    let mut meta_rx = server.signals.meta.subscribe();
    let mut clip_rx = server.signals.clipboard.subscribe();
    let mut notify_rx = server.signals.notify.subscribe();
    let mut follow_rx = server.signals.follow.subscribe();
    let mut config_rx = server.signals.config.subscribe();
    // Subscribed on `Request::Events`: the filter, the receiver, and how many were lost.
    let mut events: Option<EventFeed> = None;
    let mut attached = false;
    let mut view: Vec<PaneId> = Vec::new();
    let mut versions: HashMap<PaneId, u64> = HashMap::new();
    let mut frame_due: Option<Instant> = None;
    let mut last_frame = Instant::now() - FRAME_INTERVAL;
    let mut meta_due = false;
    // The latest clipboard store not yet sent to a client that is behind.
    let mut pending_clip: Option<String> = None;
    let mut partial = Partial {
        total: &server.partial,
        mine: 0,
    };

    let result = loop {
        // A client that does not read what it is sent gets no more requests read.
        let paused = out.unsent() > MAX_QUEUED;
        tokio::select! {
            n = rd.read(&mut buf), if !paused => {
                let n = match n {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) => break Err(e.to_string()),
                };
                dec.push(&buf[..n]);
            }
            _ = drained.notified(), if paused => {
                if writer.is_finished() {
                    break Err("writer gone".into());
                }
            }
            Ok(()) = screen_rx.changed(), if attached => {
                if frame_due.is_none() {
                    frame_due = Some((last_frame + FRAME_INTERVAL).max(Instant::now()));
                }
            }
            Ok(()) = meta_rx.changed(), if attached => {
                meta_due = true;
                if frame_due.is_none() {
                    frame_due = Some((last_frame + FRAME_INTERVAL).max(Instant::now()));
                }
            }
            ev = async {
                match events.as_mut() {
                    Some(f) => f.rx.recv().await,
                    None => std::future::pending().await,
                }
            }, if events.is_some() => {
                if let Some(feed) = events.as_mut() {
                    feed.forward(ev, &out);
                }
            }
            n = notify_rx.recv(), if attached => {
                if let Ok(n) = n {
                    if out.unsent() <= MAX_QUEUED {
                        out.send(&ServerMsg::Notify(n));
                    }
                }
            }
            p = follow_rx.recv(), if attached => {
                if let Ok(p) = p {
                    if out.unsent() <= MAX_QUEUED {
                        out.send(&ServerMsg::Focus(p));
                    }
                }
            }
            c = config_rx.recv(), if attached => {
                if let Ok(problems) = c {
                    out.send(&ServerMsg::ConfigReloaded(problems));
                }
            }
            clip = clip_rx.recv(), if attached => {
                if let Ok(text) = clip {
                    if out.congested() {
                        // Only the latest matters; it goes with the next frame.
                        pending_clip = Some(text);
                        if frame_due.is_none() {
                            frame_due = Some(Instant::now() + FRAME_INTERVAL);
                        }
                    } else {
                        pending_clip = None;
                        out.send(&ServerMsg::Clipboard(text));
                    }
                }
            }
            _ = shutdown_rx.changed() => {
                out.send(&ServerMsg::Bye("the quil daemon is shutting down".into()));
                break Ok(());
            }
            // Only for deadlines in the future; a due frame is sent below without a timer
            // (tokio's timer has 1 ms granularity, which would add to every keystroke's echo).
            _ = async { sleep_until(frame_due.unwrap_or_else(Instant::now)).await }, if frame_due.is_some() => {}
        }
        // The requests received so far, until the client is too far behind on its replies
        // (the rest wait in the decoder until it catches up).
        {
            let mut close = None;
            loop {
                if out.unsent() > MAX_QUEUED {
                    break;
                }
                let body = match dec.next_frame() {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(e) => {
                        close = Some(e.to_string());
                        break;
                    }
                };
                let (id, req, quiet) = match decode::<ClientMsg>(&body) {
                    Ok(ClientMsg::Request { id, req }) => (id, req, false),
                    Ok(ClientMsg::Notify { id, req }) => (id, req, true),
                    Err(e) => {
                        close = Some(e.to_string());
                        break;
                    }
                };
                // Input for a program that does not read it shows only to the housekeeping.
                server.signals.idle.wake();
                if let Some(pane) = crate::server::pane_needed(&req) {
                    server.until_restored(pane).await;
                }
                // Events already emitted go out before this request's reply: a client that
                // asks anything on its subscribed connection has, with the reply, every event
                // from before it (`quil mcp`'s events tool reads what a call just did so).
                if let Some(feed) = events.as_mut() {
                    feed.drain(&out);
                }
                let changes = req.changes_workspace();
                let focused = match &req {
                    Request::Focus { pane } => Some(*pane),
                    _ => None,
                };
                let result = match req {
                    Request::Attach => {
                        attached = true;
                        meta_due = true;
                        frame_due = Some(Instant::now());
                        Ok(Reply::Ok)
                    }
                    Request::View { panes } => {
                        versions.retain(|p, _| panes.contains(p));
                        server.set_view(conn_id, panes.clone());
                        view = panes;
                        frame_due = Some(Instant::now());
                        Ok(Reply::Ok)
                    }
                    Request::Events { panes, types } => {
                        match EventFeed::new(server, panes, types) {
                            Ok(feed) => {
                                events = Some(feed);
                                Ok(Reply::Ok)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Request::Shutdown => {
                        out.reply(id, Ok(Reply::Ok));
                        let _ = server.shutdown.send(true);
                        continue;
                    }
                    req @ (Request::NewTab { .. }
                    | Request::Split { .. }
                    | Request::Fork { .. }
                    | Request::Respawn { .. }
                    | Request::Worktree { .. }) => {
                        let s = server.clone();
                        // Spawning a pane forks and execs, worktree operations run git: keep
                        // them off the async workers.
                        tokio::task::spawn_blocking(move || s.handle(req))
                            .await
                            .unwrap_or_else(|e| Err(crate::error::Error::Internal(e.to_string())))
                    }
                    Request::Prompt { pane, text } => {
                        // A prompt typed before the CLI takes input is lost: hold it until the
                        // pane is ready (bounded; then typed anyway, and logged). A restored
                        // pane waiting to start starts first.
                        match server.start_pending(pane) {
                            Ok(_) => {
                                wait_until_ready(server, pane).await;
                                server.handle(Request::Prompt { pane, text })
                            }
                            Err(e) => Err(e),
                        }
                    }
                    // Everything else is quick and lock-bounded; input stays on the
                    // fast path with no thread hop.
                    other => server.handle(other),
                };
                let result = match result {
                    Ok(reply) if changes => saved(server).await.map(|()| reply),
                    other => other,
                };
                let result = result.map_err(quil_proto::ErrorReply::from);
                if let (Ok(_), Some(pane), false) = (&result, focused, attached) {
                    // A script moved the focus: attached clients follow it.
                    let _ = server.signals.follow.send(pane);
                }
                if quiet && result.is_ok() {
                    continue;
                }
                if !out.reply(id, result) {
                    close = Some("writer gone".into());
                    break;
                }
            }
            if let Some(reason) = close {
                break Err(reason);
            }
        }
        // What is left in the decoder is a request not yet whole (or ones held back above).
        let held = dec.held();
        let total = partial.set(held);
        if held > SMALL_PARTIAL && total > PARTIAL_BUDGET {
            break Err(format!(
                "unfinished requests hold {} MiB across connections, over the daemon's {} MiB budget (this one {} MiB)",
                total >> 20,
                PARTIAL_BUDGET >> 20,
                held >> 20
            ));
        }
        if out.unsent() > DISCONNECT_AT {
            break Err(format!(
                "the client stopped reading ({} MiB unsent)",
                out.unsent() / (1024 * 1024)
            ));
        }
        if frame_due.is_some_and(|due| due <= Instant::now()) {
            frame_due = None;
            if out.congested() {
                // Skip this frame; the next one carries every row changed meanwhile.
                frame_due = Some(Instant::now() + FRAME_INTERVAL);
                continue;
            }
            last_frame = Instant::now();
            if let Some(text) = pending_clip.take() {
                out.send(&ServerMsg::Clipboard(text));
            }
            if meta_due {
                meta_due = false;
                out.send(&ServerMsg::Workspace(server.workspace_info()));
            }
            for pane in &view {
                let Ok(p) = server.pane(*pane) else { continue };
                let since = versions.get(pane).copied().unwrap_or(0);
                if let Some(update) = p.update_since(since) {
                    versions.insert(*pane, update.version);
                    out.send(&ServerMsg::PaneUpdate(update));
                }
            }
        }
    };
    server.set_view(conn_id, Vec::new());
    drop(out);
    // Let queued replies (and a goodbye) reach the client, but never wait on a stalled one.
    let _ = tokio::time::timeout(Duration::from_millis(500), writer).await;
    tracing::debug!(conn_id, "connection closed");
    result
}

/// How long a prompt waits for its agent pane to be ready before it is typed anyway.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Returns once `pane` is no longer starting, or after [`READY_WAIT`] (logged), or at once for
/// an unknown pane (the request then fails with its own error). A pane stops starting only
/// at the tick, which announces it as a state event: wake on those, not on a timer.
async fn wait_until_ready(server: &Server, pane: PaneId) {
    let mut rx = server.signals.events.subscribe();
    let deadline = Instant::now() + READY_WAIT;
    while let Ok(true) = server.starting(pane) {
        let state_changed = async {
            loop {
                match rx.recv().await {
                    // Missed events may have held it: look again.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Ok(ev)
                        if ev.pane == Some(pane) && matches!(ev.kind, EventKind::State { .. }) =>
                    {
                        return
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        };
        if tokio::time::timeout_at(deadline, state_changed)
            .await
            .is_err()
        {
            tracing::warn!(%pane, "prompt typed into a pane still starting after 30 s");
            return;
        }
    }
}

/// Saves the workspace now, after a request that changed it: a home that cannot be written
/// fails the request (the change stays made) instead of losing it quietly at the next restart.
async fn saved(server: &Arc<Server>) -> crate::error::Result<()> {
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.save_workspace_only())
        .await
        .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    match server.persist_error() {
        Some(why) => Err(crate::error::Error::NotSaved(why)),
        None => Ok(()),
    }
}
