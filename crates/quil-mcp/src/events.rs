//! The `events` tool's memory: a bounded ring of the daemon's events since this server
//! started, numbered so an agent can ask for what is new since it last looked.
//!
//! A watcher thread keeps one connection subscribed to every event. It never starts the
//! daemon itself (a stopped daemon stays stopped until a tool call needs it); a tool call that
//! did start it waits for the watcher to subscribe, so the events of that call are recorded.
//! Before the ring is read, a request on the watcher's own connection marks where the daemon
//! is: the daemon sends every event emitted before a request ahead of its reply, so once that
//! reply is in, so is every event of the calls that came before.

use quil_client::conn::{Client, Writer};
use quil_client::remote::Target;
use quil_proto::{Request, ServerMsg};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many events the ring keeps; older ones are dropped (and counted).
pub const CAPACITY: usize = 1000;

#[derive(Clone)]
pub struct Events {
    inner: Arc<(Mutex<Ring>, Condvar)>,
}

struct Ring {
    events: VecDeque<(u64, Value)>,
    /// The number the next event gets (the first is 1).
    next: u64,
    /// The watcher is subscribed to a running daemon.
    subscribed: bool,
    /// The write half of the watcher's connection, while it is subscribed (its own lock: a
    /// write is never made holding the ring's).
    writer: Option<Arc<Mutex<Writer>>>,
    /// Counts the watcher's connections, so a wait begun on one ends with it.
    conn: u64,
    /// The newest request id answered on the watcher's connection.
    answered: Option<u32>,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            events: VecDeque::new(),
            next: 1,
            subscribed: false,
            writer: None,
            conn: 0,
            answered: None,
        }
    }
}

/// What [`Events::since`] found.
pub struct Batch {
    /// `seq` then the event's fields, as `quil events --json` prints them.
    pub events: Vec<Value>,
    /// Pass as `since` next time.
    pub next: u64,
    /// Events after `since` that were already dropped from the ring.
    pub dropped: u64,
}

impl Events {
    /// Starts the watcher for the daemon of `target`.
    pub fn watch(target: Target) -> Events {
        let events = Events {
            inner: Arc::new((Mutex::new(Ring::new()), Condvar::new())),
        };
        let watcher = events.clone();
        std::thread::Builder::new()
            .name("mcp-events".into())
            .spawn(move || watcher.run(&target))
            .map(drop)
            .unwrap_or_else(|e| eprintln!("quil mcp: cannot start the event watcher: {e}"));
        events
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic elsewhere cannot leave the ring inconsistent: every update is one push.
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, target: &Target) {
        loop {
            match target.connect() {
                Ok(c) => self.follow(c),
                Err(_) => {
                    // Not running (or going away): look again soon, or as soon as a tool
                    // call has started it.
                    let ring = self.lock();
                    let _ = self.inner.1.wait_timeout(ring, Duration::from_secs(1));
                }
            }
        }
    }

    /// Records the events of one connection until it ends.
    fn follow(&self, mut c: Client) {
        if c.request(Request::Events {
            panes: Vec::new(),
            types: Vec::new(),
        })
        .is_err()
        {
            return;
        }
        self.set_subscribed(true, c.writer().ok());
        while let Ok(msg) = c.recv() {
            match msg {
                ServerMsg::Event(ev) => self.push(ev.to_json()),
                ServerMsg::Reply { id, .. } => {
                    let mut ring = self.lock();
                    ring.answered = ring.answered.max(Some(id));
                    drop(ring);
                    self.inner.1.notify_all();
                }
                ServerMsg::Bye(_) => break,
                _ => {}
            }
        }
        self.set_subscribed(false, None);
    }

    /// Subscribed or not, with the connection's write half when it has one.
    fn set_subscribed(&self, on: bool, writer: Option<Writer>) {
        let mut ring = self.lock();
        ring.subscribed = on;
        ring.writer = writer.map(|w| Arc::new(Mutex::new(w)));
        ring.conn += 1;
        ring.answered = None;
        drop(ring);
        self.inner.1.notify_all();
    }

    /// Waits (up to `timeout`) until the ring holds every event the daemon emitted before
    /// now: asks on the watcher's connection, whose reply comes after them. Without a
    /// watcher subscribed, returns at once.
    pub fn catch_up(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (writer, conn) = {
            let ring = self.lock();
            (ring.writer.clone(), ring.conn)
        };
        let Some(id) = writer.and_then(|w| {
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            w.send(Request::Status).ok()
        }) else {
            return;
        };
        let mut ring = self.lock();
        while ring.conn == conn && ring.answered.is_none_or(|a| a < id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            ring = self
                .inner
                .1
                .wait_timeout(ring, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn push(&self, ev: Value) {
        let mut ring = self.lock();
        let seq = ring.next;
        ring.next += 1;
        if ring.events.len() == CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back((seq, ev));
        drop(ring);
        self.inner.1.notify_all();
    }

    /// After a tool call connected (perhaps starting the daemon): waits briefly until the
    /// watcher is subscribed, waking it if it is between attempts.
    pub fn ensure_subscribed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut ring = self.lock();
        while !ring.subscribed {
            self.inner.1.notify_all();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            ring = self
                .inner
                .1
                .wait_timeout(ring, left.min(Duration::from_millis(50)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Events numbered after `since` that `keep` accepts, at most `limit`, oldest first; waits
    /// up to `wait` for a first one when there is none yet.
    pub fn since(
        &self,
        since: u64,
        limit: usize,
        wait: Duration,
        keep: impl Fn(&Value) -> bool,
    ) -> Batch {
        let deadline = Instant::now() + wait;
        let mut ring = self.lock();
        loop {
            let oldest = ring.events.front().map_or(ring.next, |(s, _)| *s);
            let dropped = oldest.saturating_sub(since + 1);
            let mut next = since.max(oldest.saturating_sub(1));
            let mut events = Vec::new();
            for (seq, ev) in ring.events.iter().filter(|(s, _)| *s > since) {
                if events.len() == limit {
                    break;
                }
                next = *seq;
                if keep(ev) {
                    let mut ev = ev.clone();
                    if let Value::Object(o) = &mut ev {
                        o.insert("seq".into(), Value::from(*seq));
                    }
                    events.push(ev);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !events.is_empty() || left.is_zero() {
                return Batch {
                    events,
                    next,
                    dropped,
                };
            }
            ring = self
                .inner
                .1
                .wait_timeout(ring, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ring() -> Events {
        Events {
            inner: Arc::new((Mutex::new(Ring::new()), Condvar::new())),
        }
    }

    #[test]
    fn numbered_filtered_and_bounded() {
        let ev = ring();
        for i in 0..CAPACITY + 5 {
            ev.push(json!({"type": if i % 2 == 0 { "state" } else { "bell" }, "i": i}));
        }
        let all = ev.since(0, 10, Duration::ZERO, |_| true);
        assert_eq!(all.dropped, 5, "the five oldest fell off");
        assert_eq!(all.events[0]["seq"], 6);
        assert_eq!(all.events.len(), 10);
        assert_eq!(all.next, 15);
        let states = ev.since(all.next, usize::MAX, Duration::ZERO, |e| {
            e["type"] == "state"
        });
        assert!(states.events.iter().all(|e| e["type"] == "state"));
        assert_eq!(states.dropped, 0);
        // Filtered-out events still advance the cursor, so nothing is read twice.
        assert_eq!(states.next, (CAPACITY + 5) as u64);
        let none = ev.since(states.next, 10, Duration::ZERO, |_| true);
        assert!(none.events.is_empty());
        assert_eq!(none.next, states.next);
    }

    #[test]
    fn waits_for_the_next_event() {
        let ev = ring();
        let writer = ev.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            writer.push(json!({"type": "bell"}));
        });
        let started = Instant::now();
        let got = ev.since(0, 10, Duration::from_secs(10), |_| true);
        assert_eq!(got.events.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().expect("writer");
        let timed_out = ev.since(got.next, 10, Duration::from_millis(50), |_| true);
        assert!(timed_out.events.is_empty());
    }
}
