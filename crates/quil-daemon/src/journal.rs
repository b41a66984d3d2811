//! Per-pane output journals: what a pane printed since its last snapshot reaches disk within
//! twice [`BATCH`], so a `kill -9` of the daemon loses at most the last ~250 ms of output and a
//! power cut at most the last fsync interval (docs/persistence.md states the guarantees,
//! docs/architecture.md the design).
//!
//! `buffers/<pane>.journal` is a header (magic, the epoch of the pane instance that writes it,
//! the stream position of its first record, a checksum) and then records, each
//! `kind u8 | len u32 | crc32c u32 | payload`: output bytes, a resize, or a gap (output that
//! could not be written). A stream position counts the pane's output bytes, one per resize and
//! the bytes of each gap, from the start of the pane instance. The snapshot `buffers/<pane>`
//! names the epoch and the position it includes; a restore replays the records after it.
//!
//! Who does what:
//! - the pane's output reader hands each read to [`Journal::push`]: a copy into a bounded
//!   buffer, no syscall, never a wait on the disk. When the buffer is full (the disk is slower
//!   than the output), output is dropped and a gap recorded instead, and the next snapshot
//!   heals it;
//! - a writer task per pane appends what gathered, [`BATCH`] to twice that after it arrived
//!   (at once for a lot). Every writer's batches fall due on one shared grid of [`BATCH`]
//!   steps, so ten busy panes cost the journals one wake per step, not ten. The tasks run on
//!   the journals' own runtime (one thread waits for all of them; each file operation runs on
//!   its blocking pool), so an idle pane costs no thread. The first thing a writer does is
//!   start the instance's first journal, `<pane>.journal.start`, with what the instance began
//!   with in it (no snapshot file needed, so output is written from the first batch); this
//!   claims the pane's files for the instance. When the journal passes its bound the writer
//!   has a snapshot written (apart, so appends go on meanwhile), then starts a new journal
//!   holding only the records after it, which replaces the old (and the first journal) by
//!   rename, after the snapshot is on disk: killed at any moment, the files on disk are either
//!   the old snapshot with the old journal or the new snapshot with either journal, and each
//!   pair restores everything;
//! - one syncer thread for the daemon fdatasyncs the journals written to, each within the
//!   fsync interval of its first write since the last sync.

use crate::home::{create_temp, random_u64};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Output waits in memory at least this long, and less than twice this, before it is written.
pub const BATCH: Duration = Duration::from_millis(25);
/// Output written later than this after it arrived is logged (the aim is 250 ms).
const LATE: Duration = Duration::from_millis(150);
/// A batch this large is written at once.
const FLUSH_AT: usize = 256 * 1024;
/// Output held in memory for the writer at most; more is dropped (and a gap recorded).
const PENDING_CAP: usize = 8 * 1024 * 1024;
/// Journal bytes past which a snapshot supersedes the journal (its default bound).
pub const DEFAULT_BOUND: u64 = 8 * 1024 * 1024;
/// Past this many times the bound, output is not written until the snapshot asked for is on
/// disk (a gap is recorded), so a journal stays bounded however slow snapshots are.
const HARD_FACTOR: u64 = 4;
/// Largest payload of one record written.
const MAX_RECORD: usize = 1024 * 1024;
/// Larger records are taken as corruption when reading.
const MAX_READ_RECORD: usize = 16 * 1024 * 1024;
/// Past its soft bound, a journal is superseded at most this often (past its bound, at once):
/// a restore then replays about a saved buffer's worth of output, or the last second's.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// Past the soft bound, snapshots also take at most about this share of the time: after one
/// that took T (a long history, a loaded machine, a slow build), the next waits this many T.
/// Seven panes flooding at once in a debug build spent more CPU exporting their histories
/// (175k lines, 100-400 ms each, every second) than the machine had.
const SNAPSHOT_SPACING: u32 = 10;
/// Wait after a failed snapshot before trying again.
const RETRY: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    Duration::from_secs(5)
};
/// Spacing (in file bytes) of the writer's index of record offsets, used to find the tail to
/// keep when the journal is compacted.
const INDEX_EVERY: u64 = 256 * 1024;

const MAGIC: &[u8; 8] = b"QUILJNL1";
/// Magic, epoch, base, crc32c of the three.
pub const HEADER: usize = 8 + 8 + 8 + 4;
const REC_HEADER: usize = 1 + 4 + 4;
const KIND_OUTPUT: u8 = 1;
const KIND_RESIZE: u8 = 2;
const KIND_GAP: u8 = 3;
const KIND_START: u8 = 4;

/// The first step of the writers' shared grid at or after `t`: batches of all panes that fall
/// due within one step are written in one wake of the journals' thread.
fn on_grid(t: Instant) -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let step = BATCH.as_nanos();
    let since = t.saturating_duration_since(origin).as_nanos();
    let steps = since.div_ceil(step);
    origin + Duration::from_nanos(u64::try_from(steps * step).unwrap_or(u64::MAX))
}

/// `buffers/<pane>.journal` beside the pane's snapshot `buffers/<pane>`.
pub fn path_for(buffer: &Path) -> PathBuf {
    let mut name = buffer.file_name().unwrap_or_default().to_os_string();
    name.push(".journal");
    buffer.with_file_name(name)
}

/// `buffers/<pane>.journal.start` beside the journal `journal`: a pane instance's first
/// journal, which begins with what the instance began with ([`Saved::start`]), so
/// that it needs no snapshot file, until the instance's first compaction replaces it.
pub fn start_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".start");
    journal.with_file_name(name)
}

// ---------------------------------------------------------------------------------------------
// The format.

/// CRC-32C (Castagnoli) of `data`, continuing `crc` (0 to begin), by the `crc32c` crate: the
/// CPU's own instruction where there is one (SSE 4.2, ARMv8), which checksums output many
/// times faster than panes print it.
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    ::crc32c::crc32c_append(crc, data)
}

pub(crate) fn header(epoch: u64, base: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&epoch.to_le_bytes());
    h[16..24].copy_from_slice(&base.to_le_bytes());
    let crc = crc32c(0, &h[..24]);
    h[24..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// (epoch, base) of a journal header; `None` when it is not one of ours or is damaged.
pub(crate) fn parse_header(b: &[u8]) -> Option<(u64, u64)> {
    let h = b.get(..HEADER)?;
    if &h[..8] != MAGIC || crc32c(0, &h[..24]).to_le_bytes() != h[24..] {
        return None;
    }
    let word = |r: std::ops::Range<usize>| h[r].try_into().ok().map(u64::from_le_bytes);
    Some((word(8..16)?, word(16..24)?))
}

/// One thing a pane did, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    /// Bytes the program printed.
    Output(&'a [u8]),
    /// The pane's terminal got this size (cols, rows).
    Resize(u16, u16),
    /// This many stream positions of output were not written.
    Gap(u64),
    /// What the pane instance began with, at the start of its first journal (bytes the
    /// restore reads); it covers no stream position.
    Start(&'a [u8]),
}

impl Entry<'_> {
    /// Stream positions the entry covers.
    fn units(&self) -> u64 {
        match self {
            Entry::Output(b) => b.len() as u64,
            Entry::Resize(..) => 1,
            Entry::Gap(n) => *n,
            Entry::Start(_) => 0,
        }
    }

    /// What of the entry at stream position `at` lies at or after `from`.
    fn from(self, at: u64, from: u64) -> Option<Self> {
        let end = at + self.units();
        if end <= from {
            return None;
        }
        let skip = from.saturating_sub(at);
        Some(match self {
            Entry::Output(b) => Entry::Output(&b[skip as usize..]),
            Entry::Gap(n) => Entry::Gap(n - skip),
            e @ (Entry::Resize(..) | Entry::Start(_)) => e,
        })
    }

    /// Appends the entry's record(s) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Output(b) => {
                for chunk in b.chunks(MAX_RECORD) {
                    record(out, KIND_OUTPUT, chunk);
                }
            }
            Entry::Resize(c, r) => {
                let mut p = [0u8; 4];
                p[..2].copy_from_slice(&c.to_le_bytes());
                p[2..].copy_from_slice(&r.to_le_bytes());
                record(out, KIND_RESIZE, &p);
            }
            Entry::Gap(n) => record(out, KIND_GAP, &n.to_le_bytes()),
            Entry::Start(b) => record(out, KIND_START, b),
        }
    }
}

fn record(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut h = [0u8; REC_HEADER];
    h[0] = kind;
    h[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = crc32c(crc32c(0, &h[..5]), payload);
    h[5..].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

/// The records of a journal body, each with its stream position.
#[derive(Debug, Default)]
pub struct Records<'a> {
    pub entries: Vec<(u64, Entry<'a>)>,
    /// Bytes after the last whole record: a record cut short by a kill, or damage. Ignored.
    pub ignored: usize,
}

/// Reads records from `bytes`, the first at stream position `at`, up to the first one that is
/// incomplete or damaged.
pub fn parse_records(mut bytes: &[u8], mut at: u64) -> Records<'_> {
    let mut recs = Records::default();
    while !bytes.is_empty() {
        let Some(entry) = parse_record(bytes) else {
            recs.ignored = bytes.len();
            break;
        };
        let (entry, len) = entry;
        let units = entry.units();
        recs.entries.push((at, entry));
        at += units;
        bytes = &bytes[len..];
    }
    recs
}

/// One record at the start of `b`, and its length; `None` when it is cut short or damaged.
fn parse_record(b: &[u8]) -> Option<(Entry<'_>, usize)> {
    let h = b.get(..REC_HEADER)?;
    let len = u32::from_le_bytes(h[1..5].try_into().ok()?) as usize;
    if len > MAX_READ_RECORD {
        return None;
    }
    let payload = b.get(REC_HEADER..REC_HEADER + len)?;
    let crc = u32::from_le_bytes(h[5..9].try_into().ok()?);
    if crc32c(crc32c(0, &h[..5]), payload) != crc {
        return None;
    }
    let entry = match (h[0], len) {
        (KIND_OUTPUT, _) => Entry::Output(payload),
        (KIND_RESIZE, 4) => Entry::Resize(
            u16::from_le_bytes([payload[0], payload[1]]),
            u16::from_le_bytes([payload[2], payload[3]]),
        ),
        (KIND_GAP, 8) => Entry::Gap(u64::from_le_bytes(payload.try_into().ok()?)),
        (KIND_START, _) => Entry::Start(payload),
        _ => return None,
    };
    Some((entry, REC_HEADER + len))
}

/// A journal read back from disk.
#[derive(Debug)]
pub struct Saved {
    pub epoch: u64,
    /// Stream position of the first record.
    pub base: u64,
    body: Vec<u8>,
}

impl Saved {
    /// Parses a journal file's bytes; `None` when the header is not one of ours.
    pub fn parse(mut bytes: Vec<u8>) -> Option<Saved> {
        let (epoch, base) = parse_header(&bytes)?;
        bytes.drain(..HEADER);
        Some(Saved {
            epoch,
            base,
            body: bytes,
        })
    }

    /// What the instance began with, when this is its first journal ([`start_path`]): then
    /// it needs no snapshot file.
    pub fn start(&self) -> Option<&[u8]> {
        match parse_record(&self.body) {
            Some((Entry::Start(b), _)) => Some(b),
            _ => None,
        }
    }

    /// Bytes of records.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// What the pane did after stream position `from` (what a snapshot taken there lacks), and
    /// how many bytes at the end were ignored (a record cut short by a kill, or damage).
    pub fn after(&self, from: u64) -> (Vec<Entry<'_>>, usize) {
        let recs = parse_records(&self.body, self.base);
        let mut out = Vec::new();
        if self.base > from {
            // Never written so by quil: the snapshot is older than the journal's start.
            out.push(Entry::Gap(self.base - from));
        }
        out.extend(
            recs.entries
                .into_iter()
                .filter_map(|(at, e)| e.from(at, from)),
        );
        (out, recs.ignored)
    }
}

/// Largest journal read back: its hard bound with room to spare.
pub fn max_file(bound: u64) -> u64 {
    bound * HARD_FACTOR * 2 + (PENDING_CAP as u64) * 2
}

// ---------------------------------------------------------------------------------------------
// Who may write a pane's files.

/// Arbitrates a pane's files (`buffers/<pane>` and its journal) between instances of the pane
/// in one daemon: a respawn starts a new instance while the old one may still be finishing a
/// write. The newest instance registered owns them; older ones' writes are refused, and once
/// the pane is closed nobody's are.
#[derive(Debug, Default)]
pub struct Slot(Mutex<u64>);

const CLOSED: u64 = u64::MAX;

impl Slot {
    /// A new instance, which owns the files from now on. Returns its number.
    pub fn register(&self) -> u64 {
        let mut g = lock(&self.0);
        if *g == CLOSED {
            return 0;
        }
        *g += 1;
        *g
    }

    /// Runs `f` (a write of the pane's files) if instance `gen` still owns them.
    pub fn with<T>(
        &self,
        gen: u64,
        f: impl FnOnce() -> std::io::Result<T>,
    ) -> Result<T, SnapError> {
        let g = lock(&self.0);
        if *g != gen {
            return Err(SnapError::Superseded);
        }
        f().map_err(|e| SnapError::Io(e.to_string()))
    }

    /// The pane is gone: runs `f` (deleting its files); no instance writes them again.
    pub fn close(&self, f: impl FnOnce()) {
        let mut g = lock(&self.0);
        *g = CLOSED;
        f();
    }
}

/// Why a snapshot was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapError {
    /// The pane is gone.
    Gone,
    /// A newer instance of the pane owns its files, or the pane was closed.
    Superseded,
    Io(String),
}

/// Writes a pane's snapshot: what the writer calls when the journal must be superseded.
pub trait Snapshotter: Send + Sync {
    /// Writes the snapshot (through the pane's [`Slot`]); returns the stream position of this
    /// journal it includes.
    fn snapshot(&self) -> Result<u64, SnapError>;
}

// ---------------------------------------------------------------------------------------------
// The hand-off from the output reader to the writer.

#[derive(Debug, Clone, Copy)]
enum Mark {
    Resize(u16, u16),
    Gap(u64),
}

#[derive(Debug, Default, Clone, PartialEq)]
enum Finish {
    #[default]
    No,
    Asked,
    Done(Result<(), String>),
}

#[derive(Default)]
struct State {
    /// Output not yet taken by the writer.
    data: Vec<u8>,
    /// Resizes and gaps among `data`, by offset in it.
    marks: Vec<(usize, Mark)>,
    /// Stream position of the first thing not yet taken.
    start: u64,
    /// Stream position after everything pushed.
    pos: u64,
    /// When the oldest output not yet taken arrived: its batch falls due less than twice
    /// [`BATCH`] after that.
    since: Option<Instant>,
    /// The buffer overflowed: everything is dropped until the writer takes what is there, so
    /// the gap is one.
    dropping: bool,
    /// A clean stop: nothing more is recorded.
    frozen: bool,
    /// The pane is gone: the writer writes what is left and ends.
    closed: bool,
    finish: Finish,
    /// The writer ended (it will not answer a finish).
    ended: bool,
    /// A snapshot's result, for the writer.
    snapped: Option<Result<u64, SnapError>>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.marks.is_empty()
    }

    fn gap(&mut self, n: u64) {
        let at = self.data.len();
        match self.marks.last_mut() {
            Some((off, Mark::Gap(g))) if *off == at => *g += n,
            _ => self.marks.push((at, Mark::Gap(n))),
        }
    }
}

/// What the writer took: everything from stream position `start` to `end`.
struct Batch {
    start: u64,
    end: u64,
    /// When its oldest output arrived.
    since: Option<Instant>,
    data: Vec<u8>,
    marks: Vec<(usize, Mark)>,
}

impl Batch {
    /// The batch as entries, in order.
    fn entries(&self) -> Vec<Entry<'_>> {
        let mut out = Vec::with_capacity(self.marks.len() * 2 + 1);
        let mut at = 0;
        for &(off, m) in &self.marks {
            if off > at {
                out.push(Entry::Output(&self.data[at..off]));
                at = off;
            }
            out.push(match m {
                Mark::Resize(c, r) => Entry::Resize(c, r),
                Mark::Gap(n) => Entry::Gap(n),
            });
        }
        if at < self.data.len() {
            out.push(Entry::Output(&self.data[at..]));
        }
        out
    }
}

/// One pane instance's journal: the reader's side of it, shared with its writer task.
pub struct Journal {
    epoch: u64,
    state: Mutex<State>,
    /// Wakes the writer (a wake with no writer waiting is kept for its next wait).
    wake: tokio::sync::Notify,
    /// Wakes whoever waits for a finish.
    done: Condvar,
}

/// What a journal needs to know about where it goes.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `buffers/<pane>.journal`.
    pub path: PathBuf,
    pub slot: Arc<Slot>,
    /// The instance's number in `slot` ([`Slot::register`]).
    pub gen: u64,
    /// Longest a write waits for its fsync.
    pub fsync_every: Duration,
    /// Journal bytes past which a snapshot supersedes it at once.
    pub bound: u64,
    /// Journal bytes past which a snapshot supersedes it, at most every [`SNAPSHOT_EVERY`]
    /// (and [`SNAPSHOT_SPACING`] times as long as the last one took).
    pub soft: u64,
    /// For messages.
    pub name: String,
}

/// Tells the daemon why the pane's output is not being saved (`None` once it is again).
pub type Report = Box<dyn Fn(Option<String>) + Send + Sync>;

impl Journal {
    /// A journal, recording nothing on disk until [`Journal::start`].
    pub fn new() -> Arc<Journal> {
        Arc::new(Journal {
            epoch: random_u64() | 1,
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
            done: Condvar::new(),
        })
    }

    /// Starts the writer task, which first writes the instance's first journal beginning
    /// with `first`, what the instance began with (bytes the restore reads); without it, it
    /// has a snapshot written first (so whatever the snapshot reads must find this journal
    /// already). When the journals' runtime cannot start, the journal is closed and the error
    /// returned.
    pub fn start(
        self: &Arc<Self>,
        spec: Spec,
        first: Option<Vec<u8>>,
        snap: Arc<dyn Snapshotter>,
        report: Report,
    ) -> std::io::Result<()> {
        let writer = Writer {
            j: self.clone(),
            first,
            name: spec.name.clone(),
            hard: spec.bound.saturating_mul(HARD_FACTOR),
            spec,
            snap,
            report,
            reported: None,
            file: None,
            file_len: 0,
            end: 0,
            index: Vec::new(),
            snapping: false,
            asked_at: None,
            took: Duration::ZERO,
            failures: 0,
            failures_at_ask: 0,
            want_snapshot: true,
            retry_at: None,
            last_error: None,
            noted_late: None,
            started: None,
        };
        match runtime::handle() {
            Ok(rt) => {
                rt.spawn(writer.run());
                Ok(())
            }
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    /// Closed: the pane is gone, or the journal could not start.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Identifies this instance's journal (a snapshot names the epoch it goes with).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Stream position after everything recorded so far. Read it under the lock that orders
    /// [`Journal::push`] calls, together with the state a snapshot takes.
    pub fn position(&self) -> u64 {
        self.lock().pos
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Records output. The hot path: a copy, no syscall (the writer is woken when the buffer
    /// turns large, and by the journals' clock when it turns non-empty), and never a wait on
    /// the disk. Returns the clock's tick when this output armed it: see [`Tick`].
    pub fn push(self: &Arc<Self>, bytes: &[u8]) -> Option<Tick> {
        if bytes.is_empty() {
            return None;
        }
        self.add(|st| {
            let n = bytes.len();
            st.pos += n as u64;
            let before = st.data.len();
            if st.dropping || before + n > PENDING_CAP {
                st.dropping = true;
                st.gap(n as u64);
            } else {
                st.data.extend_from_slice(bytes);
            }
            before < FLUSH_AT && st.data.len() >= FLUSH_AT
        })
    }

    /// Records that the pane's terminal was resized.
    pub fn resized(self: &Arc<Self>, cols: u16, rows: u16) {
        // A tick armed here goes to the clock's task.
        drop(self.add(|st| {
            st.pos += 1;
            let at = st.data.len();
            st.marks.push((at, Mark::Resize(cols, rows)));
            false
        }));
    }

    /// Adds something for the writer with `f`, which says whether the buffer just grew large;
    /// wakes the writer, or arms the clock, when it has something new to wait for.
    fn add(self: &Arc<Self>, f: impl FnOnce(&mut State) -> bool) -> Option<Tick> {
        let mut st = self.lock();
        if st.frozen || st.closed {
            return None;
        }
        let was_empty = st.is_empty();
        if was_empty {
            // A vDSO clock read, not a system call.
            st.since = Some(Instant::now());
        }
        let big = f(&mut st);
        drop(st);
        if big {
            self.wake.notify_one();
            None
        } else if was_empty {
            clock::due(self)
        } else {
            None
        }
    }

    /// The pane is gone: the writer writes what it has and ends.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// A clean stop: records nothing more, and asks the writer to put everything recorded so
    /// far on disk, fsynced. See [`Journal::wait_finished`].
    pub fn begin_finish(&self) {
        let mut st = self.lock();
        st.frozen = true;
        if st.finish == Finish::No {
            st.finish = Finish::Asked;
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Waits until a finish asked for is done (or `deadline`); why it failed, if it did.
    pub fn wait_finished(&self, deadline: Instant) -> Result<(), String> {
        let mut st = self.lock();
        loop {
            if let Finish::Done(r) = &st.finish {
                return r.clone();
            }
            if st.ended {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("the pane's output journal did not reach the disk in time".into());
            }
            st = self
                .done
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Everything not yet taken, for the writer.
    fn take(&self) -> Batch {
        let mut st = self.lock();
        let batch = Batch {
            start: st.start,
            end: st.pos,
            since: st.since,
            data: std::mem::take(&mut st.data),
            marks: std::mem::take(&mut st.marks),
        };
        st.start = st.pos;
        st.dropping = false;
        st.since = None;
        batch
    }

    fn deliver(&self, r: Result<u64, SnapError>) {
        self.lock().snapped = Some(r);
        self.wake.notify_one();
    }

    fn finished(&self, r: Result<(), String>) {
        self.lock().finish = Finish::Done(r);
        self.done.notify_all();
    }

    /// The writer ended: it answers no finish from now on.
    fn ended(&self) {
        let mut st = self.lock();
        st.ended = true;
        if st.finish == Finish::Asked {
            st.finish = Finish::Done(Ok(()));
        }
        drop(st);
        self.done.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// The writer.

/// A journal file being appended to.
struct JFile {
    file: File,
    /// Written since its last fsync (an fsync is scheduled).
    dirty: std::sync::atomic::AtomicBool,
    /// The directory whose entry for the file is new: fsynced once, after the file.
    new_in: Mutex<Option<PathBuf>>,
}

struct Writer {
    j: Arc<Journal>,
    /// What the instance began with, until [`Writer::begin`] puts it in the first journal.
    first: Option<Vec<u8>>,
    spec: Spec,
    name: String,
    /// The hard bound (see [`HARD_FACTOR`]).
    hard: u64,
    snap: Arc<dyn Snapshotter>,
    report: Report,
    reported: Option<String>,
    /// `None` until the first snapshot is on disk, and after a failed write.
    file: Option<Arc<JFile>>,
    file_len: u64,
    /// Stream position after the last record written.
    end: u64,
    /// (stream position, file offset) of a record every [`INDEX_EVERY`] bytes or so.
    index: Vec<(u64, u64)>,
    /// A snapshot is being written.
    snapping: bool,
    /// When the last snapshot was asked for.
    asked_at: Option<Instant>,
    /// How long the last snapshot took, from asking to its answer.
    took: Duration,
    /// Failed writes so far, and as they were when the snapshot being written was asked for.
    failures: u64,
    failures_at_ask: u64,
    want_snapshot: bool,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    /// When late output was last logged ([`Writer::note_if_late`]).
    noted_late: Option<Instant>,
    /// The instance's first journal ([`start_path`]), until a compaction replaces it.
    started: Option<PathBuf>,
}

/// What woke the writer.
struct Woken {
    snapped: Option<Result<u64, SnapError>>,
    closed: bool,
    finish: bool,
}

impl Writer {
    async fn run(mut self) {
        let j = self.j.clone();
        if let Some(first) = self.first.take() {
            match tokio::task::spawn_blocking(move || {
                self.begin(first);
                self
            })
            .await
            {
                Ok(me) => self = me,
                Err(e) => {
                    tracing::error!("an output journal's writer stopped: {e}");
                    j.ended();
                    return;
                }
            }
        }
        loop {
            self.maybe_snapshot();
            let w = self.wait().await;
            // File work may wait for the disk, even an append (the kernel pauses writers while
            // too much is dirty): on the blocking pool, so that the other panes' journals keep
            // their batches meanwhile. (Appending small batches on this thread instead saved
            // CPU with many busy panes, but let one paused write hold up every pane's: a
            // 500-round stress run lost 254 ms and a shorter one 360 ms of a pane's output.)
            match tokio::task::spawn_blocking(move || {
                let go_on = self.step(w);
                (self, go_on)
            })
            .await
            {
                Ok((me, true)) => self = me,
                Ok((_, false)) => break,
                Err(e) => {
                    tracing::error!("an output journal's writer stopped: {e}");
                    break;
                }
            }
        }
        j.ended();
    }

    /// Does what woke the writer; false when it should end.
    fn step(&mut self, w: Woken) -> bool {
        if let Some(r) = w.snapped {
            if !self.on_snapshot(r) {
                return false;
            }
        }
        if self.file.is_some() {
            let batch = self.j.take();
            if batch.end > batch.start {
                let (since, began, first) = (batch.since, Instant::now(), self.end == 0);
                self.append(batch);
                self.note_if_late(since, began, first);
            }
        }
        if w.closed {
            return false;
        }
        if w.finish {
            if let Some(f) = &self.file {
                let r = f
                    .file
                    .sync_data()
                    .map_err(|e| format!("cannot fsync {}: {e}", self.spec.path.display()));
                self.j.finished(r);
                return false;
            }
            if !self.snapping && self.retry_at.is_some() {
                let why = self.last_error.clone().unwrap_or_default();
                self.j.finished(Err(why));
                return false;
            }
            // The first snapshot is still being written (or about to be): wait for it.
            self.retry_at = None;
        }
        true
    }

    /// Starts the instance's first journal ([`start_path`]) with what the instance began
    /// with, so that output is written from the first batch: a snapshot file first (exported
    /// from the terminal, then three fsyncs) held a restored pane's output back for 300 ms at
    /// the median and over a second while other panes flooded. The file (and its directory
    /// entry) is fsynced by the syncer, as appends are. Without what the instance began with
    /// (or with too much of it for one record), the first snapshot is a file, as later ones.
    fn begin(&mut self, first: Vec<u8>) {
        if first.len() > MAX_READ_RECORD {
            return;
        }
        let mut body = Vec::with_capacity(first.len() + REC_HEADER);
        Entry::Start(&first).encode(&mut body);
        drop(first);
        let path = start_path(&self.spec.path);
        let base = self.j.lock().start;
        match self.put(path.clone(), base, &body, base, false) {
            Ok(()) => {
                self.want_snapshot = false;
                self.started = Some(path);
            }
            // The snapshot file way, which reports what fails.
            Err(e) => tracing::debug!("{}: no first journal: {e:?}", self.name),
        }
    }

    /// Logs output that reached the file later than [`LATE`] after it arrived (at most once
    /// a second per pane), with how long the write itself took: what holds a journal back
    /// (the disk, or waiting for a thread or a first snapshot) is otherwise invisible.
    fn note_if_late(&mut self, since: Option<Instant>, began: Instant, first: bool) {
        let Some(age) = since.map(|s| s.elapsed()).filter(|a| *a > LATE) else {
            return;
        };
        if self
            .noted_late
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.noted_late = Some(Instant::now());
        tracing::warn!(
            "the output of {} reached its journal {} ms after it arrived (the write took {} ms{})",
            self.name,
            age.as_millis(),
            began.elapsed().as_millis(),
            if first { "; the instance's first" } else { "" }
        );
    }

    /// Waits for something to do.
    async fn wait(&self) -> Woken {
        loop {
            let until = match self.check() {
                Ok(woken) => return woken,
                Err(until) => until,
            };
            // A wake between the check and here is kept by the Notify: nothing is missed.
            let woken = self.j.wake.notified();
            match until {
                Some(d) => {
                    let _ = tokio::time::timeout_at(d.into(), woken).await;
                }
                None => woken.await,
            }
        }
    }

    /// What there is to do now, or else until when there is nothing (`None`: until woken).
    fn check(&self) -> Result<Woken, Option<Instant>> {
        let mut st = self.j.lock();
        let now = Instant::now();
        let data = self.file.is_some() && !st.is_empty();
        let batch_due = st.since.filter(|_| data).map(|s| on_grid(s + BATCH));
        let snap_due = (self.want_snapshot && !self.snapping).then(|| self.retry_at.unwrap_or(now));
        let finish = st.finish == Finish::Asked && (self.file.is_some() || !self.snapping);
        let ready = st.snapped.is_some()
            || st.closed
            || finish
            || (data
                && (st.data.len() >= FLUSH_AT
                    || st.dropping
                    || st.frozen
                    || batch_due.is_some_and(|d| d <= now)))
            || snap_due.is_some_and(|d| d <= now);
        if ready {
            return Ok(Woken {
                snapped: st.snapped.take(),
                closed: st.closed,
                finish,
            });
        }
        Err([batch_due, snap_due].into_iter().flatten().min())
    }

    /// Has a snapshot written (on the blocking pool) when one is wanted and due.
    fn maybe_snapshot(&mut self) {
        if self.snapping || !self.want_snapshot || self.retry_at.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        self.want_snapshot = false;
        self.snapping = true;
        self.asked_at = Some(Instant::now());
        self.failures_at_ask = self.failures;
        let (j, snap) = (self.j.clone(), self.snap.clone());
        tokio::task::spawn_blocking(move || j.deliver(snap.snapshot()));
    }

    /// A snapshot is on disk (or not). False when the writer should end.
    fn on_snapshot(&mut self, r: Result<u64, SnapError>) -> bool {
        self.snapping = false;
        self.took = self.asked_at.map_or(Duration::ZERO, |t| t.elapsed());
        let upto = match r {
            Ok(upto) => upto,
            Err(SnapError::Gone | SnapError::Superseded) => return false,
            Err(SnapError::Io(e)) => {
                self.failed(e);
                return true;
            }
        };
        if self.failures != self.failures_at_ask {
            // A write failed after the snapshot was taken: it may not hold what was lost.
            self.want_snapshot = true;
            return true;
        }
        let r = match self.file {
            None => {
                // Records from the first one not yet taken (what was taken went into a
                // journal that failed, and the snapshot holds it).
                let base = self.j.lock().start;
                self.install(base, Vec::new(), base)
            }
            Some(_) => self.compact(upto),
        };
        match r {
            Ok(()) => {
                self.retry_at = None;
                self.last_error = None;
                self.say(None);
                // What came during a slow snapshot may leave even the compacted journal past
                // its bound (appends did not ask meanwhile).
                if self.file_len - HEADER as u64 > self.spec.bound {
                    self.want_snapshot = true;
                }
                true
            }
            Err(SnapError::Io(e)) => {
                self.failed(e);
                true
            }
            Err(_) => false,
        }
    }

    fn failed(&mut self, why: String) {
        let msg = format!("cannot save the output of {}: {why}", self.name);
        tracing::error!("{msg}");
        self.last_error = Some(msg.clone());
        self.say(Some(msg));
        self.want_snapshot = true;
        self.retry_at = Some(Instant::now() + RETRY);
    }

    fn say(&mut self, why: Option<String>) {
        if self.reported != why {
            self.reported = why.clone();
            (self.report)(why);
        }
    }

    /// Starts a new journal holding the records from stream position `upto` on (what the
    /// snapshot just written lacks), in place of the current one.
    fn compact(&mut self, upto: u64) -> Result<(), SnapError> {
        let mut tail = Vec::new();
        if upto < self.end {
            let (at, off) = self
                .index
                .iter()
                .rev()
                .find(|(p, _)| *p <= upto)
                .copied()
                .unwrap_or((self.end, self.file_len));
            let mut bytes = vec![0u8; (self.file_len - off) as usize];
            if let Some(f) = &self.file {
                f.file
                    .read_exact_at(&mut bytes, off)
                    .map_err(|e| SnapError::Io(e.to_string()))?;
            }
            let mut kept = upto;
            for (p, e) in parse_records(&bytes, at).entries {
                if let Some(e) = e.from(p, upto) {
                    kept = p.max(upto) + e.units();
                    e.encode(&mut tail);
                }
            }
            if kept < self.end {
                // Never so for a file of ours; keeps the positions of later records right.
                Entry::Gap(self.end - kept).encode(&mut tail);
            }
        }
        self.install(upto.min(self.end), tail, self.end)
    }

    /// Puts a journal starting at stream position `base` with records `body`, which end at
    /// `end`, in place of the current one (temp file, fsync, rename), if this instance still
    /// owns the pane's files.
    fn install(&mut self, base: u64, body: Vec<u8>, end: u64) -> Result<(), SnapError> {
        // The snapshot it goes with is on disk; so is this before it replaces the old.
        self.put(self.spec.path.clone(), base, &body, end, true)?;
        // The first journal is superseded: from now on this one holds the new records.
        if let Some(start) = self.started.take() {
            let _ = self
                .spec
                .slot
                .with(self.spec.gen, || std::fs::remove_file(&start));
        }
        Ok(())
    }

    /// Writes a journal at `path` (temp file, rename) starting at stream position `base` with
    /// records `body`, which end at `end`, if this instance still owns the pane's files, and
    /// appends to it from now on. `durable`: fsynced before the rename; else the fsync thread
    /// syncs it and its directory entry within the fsync interval, as it does appends.
    fn put(
        &mut self,
        path: PathBuf,
        base: u64,
        body: &[u8],
        end: u64,
        durable: bool,
    ) -> Result<(), SnapError> {
        let epoch = self.j.epoch;
        let file = self.spec.slot.with(self.spec.gen, || {
            if let Some(dir) = path.parent() {
                crate::persist::private_dir(dir)?;
            }
            let (mut f, tmp) = create_temp(&path)?;
            let r = (|| {
                f.write_all(&header(epoch, base))?;
                f.write_all(body)?;
                if durable {
                    f.sync_data()?;
                }
                std::fs::rename(&tmp, &path)
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r.map(|()| f)
        })?;
        let file = Arc::new(JFile {
            file,
            dirty: false.into(),
            new_in: Mutex::new(path.parent().filter(|_| !durable).map(Path::to_path_buf)),
        });
        if !durable {
            syncer::schedule(&file, self.spec.fsync_every);
        }
        self.file = Some(file);
        self.file_len = (HEADER + body.len()) as u64;
        self.end = end;
        // Compaction reads records from here (a leading start covers no position).
        self.index = vec![(base, HEADER as u64)];
        Ok(())
    }

    /// Appends what was taken.
    fn append(&mut self, batch: Batch) {
        let Some(file) = self.file.clone() else {
            return;
        };
        let mut out = Vec::with_capacity(batch.data.len() + 64);
        if self.file_len > self.hard {
            // Keep the journal bounded until the snapshot asked for supersedes it.
            Entry::Gap(batch.end - batch.start).encode(&mut out);
            self.want_snapshot = true;
        } else {
            for e in batch.entries() {
                if matches!(e, Entry::Gap(_)) {
                    self.want_snapshot = true;
                }
                e.encode(&mut out);
            }
        }
        match (&file.file).write_all(&out) {
            Ok(()) => {
                if self
                    .index
                    .last()
                    .is_none_or(|&(_, off)| self.file_len - off >= INDEX_EVERY)
                {
                    self.index.push((batch.start, self.file_len));
                }
                self.file_len += out.len() as u64;
                self.end = batch.end;
                syncer::schedule(&file, self.spec.fsync_every);
                let held = self.file_len - HEADER as u64;
                let every = SNAPSHOT_EVERY.max(self.took * SNAPSHOT_SPACING);
                let due = self.asked_at.is_none_or(|t| t.elapsed() >= every);
                // Not while a snapshot is being written: its compaction is what brings this
                // journal back under its bounds. (Asking again meanwhile made a flood take
                // every snapshot twice, the second just after the first.)
                if !self.snapping && (held > self.spec.bound || (held > self.spec.soft && due)) {
                    self.want_snapshot = true;
                }
            }
            Err(e) => {
                // The file may end in a partial record now: start a new one after a snapshot.
                self.file = None;
                self.failures += 1;
                self.failed(format!("cannot write {}: {e}", self.spec.path.display()));
                self.retry_at = None;
            }
        }
    }
}

/// The journals' runtime: one thread for all writers' waits and timers, and a blocking pool
/// (threads only while there is file work, gone after 10 s idle) for the file work itself.
/// Apart from the daemon's runtime, so journals also work where there is none (unit tests).
mod runtime {
    use super::*;
    use tokio::runtime::Handle;

    pub(super) fn handle() -> std::io::Result<Handle> {
        static H: OnceLock<Result<Handle, String>> = OnceLock::new();
        H.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .thread_name("quild-journal-io")
                .build()
                .map_err(|e| e.to_string())?;
            let handle = rt.handle().clone();
            std::thread::Builder::new()
                .name("quild-journal".into())
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .clone()
        .map_err(|e| std::io::Error::other(format!("cannot start the journals' runtime: {e}")))
    }
}

/// The journals' clock: wakes the writers of journals that turned non-empty, together, on
/// the next step of the [`BATCH`] grid their batches are due on. Readers on the daemon's
/// threads then wake the journals' thread once per step, not once per pane that printed.
///
/// The output that arms the clock hands its caller a [`Tick`]. A pane's reader keeps it on its
/// own timer, so the first output after a quiet spell (a keystroke's echo) wakes no other
/// thread on its way to the clients; a `Tick` dropped unfired goes to the clock's task.
mod clock {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Clock {
        /// A tick is planned (a [`Tick`] is out, or the task has it): output need not arm
        /// the clock.
        armed: AtomicBool,
        /// The task has the planned tick (a [`Tick`] was dropped unfired). Only then does it
        /// fire: a wake-up left over from an earlier tick must not fire one a reader holds.
        task_has_it: AtomicBool,
        /// The journals to wake at the tick, and when the first of them turned non-empty.
        due: Mutex<(Vec<Weak<Journal>>, Option<Instant>)>,
        wake: tokio::sync::Notify,
    }

    fn get() -> Option<&'static Clock> {
        static C: OnceLock<Option<&'static Clock>> = OnceLock::new();
        *C.get_or_init(|| {
            let c: &'static Clock = Box::leak(Box::new(Clock {
                armed: AtomicBool::new(false),
                task_has_it: AtomicBool::new(false),
                due: Mutex::new((Vec::new(), None)),
                wake: tokio::sync::Notify::new(),
            }));
            let rt = runtime::handle().ok()?;
            rt.spawn(run(c));
            Some(c)
        })
    }

    /// `j` turned non-empty: its writer is woken on the next grid step its batch is due on.
    /// The tick, if this armed the clock.
    pub(super) fn due(j: &Arc<Journal>) -> Option<Tick> {
        let Some(c) = get() else {
            // No clock (its runtime did not start): wake the writer at once.
            j.wake.notify_one();
            return None;
        };
        let first = {
            let mut due = lock(&c.due);
            due.0.push(Arc::downgrade(j));
            *due.1.get_or_insert_with(Instant::now)
        };
        if c.armed.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(Tick {
            at: on_grid(first + BATCH),
            clock: Some(c),
        })
    }

    /// The clock's task, for ticks nobody else keeps.
    async fn run(c: &'static Clock) {
        loop {
            c.wake.notified().await;
            if !c.task_has_it.swap(false, Ordering::SeqCst) {
                continue;
            }
            let first = lock(&c.due).1;
            if let Some(first) = first {
                tokio::time::sleep_until(on_grid(first + BATCH).into()).await;
            }
            fire(c);
        }
    }

    fn fire(c: &Clock) {
        // Disarmed before the list is taken: a journal added after this arms the next tick.
        c.armed.store(false, Ordering::SeqCst);
        let (due, _) = std::mem::take(&mut *lock(&c.due));
        for j in due.iter().filter_map(Weak::upgrade) {
            j.wake.notify_one();
        }
    }

    /// The journals' clock, armed by the output that returned it: whoever holds it wakes the
    /// writers due at [`Tick::at`] by calling [`Tick::fire`] then. Dropped unfired, it goes to
    /// the clock's task, which fires it on time.
    #[must_use = "dropped, the tick goes to the clock's task, waking its thread"]
    pub struct Tick {
        at: Instant,
        /// `None` once fired.
        clock: Option<&'static Clock>,
    }

    impl Tick {
        /// When to fire: a step of the [`BATCH`] grid.
        pub fn at(&self) -> Instant {
            self.at
        }

        /// Wakes the writers of every journal due (whichever pane's output armed the clock).
        pub fn fire(mut self) {
            if let Some(c) = self.clock.take() {
                fire(c);
            }
        }
    }

    impl Drop for Tick {
        fn drop(&mut self) {
            if let Some(c) = self.clock.take() {
                c.task_has_it.store(true, Ordering::SeqCst);
                c.wake.notify_one();
            }
        }
    }
}
pub use clock::Tick;

/// The daemon's fsync thread: journals are written within twice [`BATCH`], and made durable within
/// their fsync interval, without the writers ever waiting for the disk to sync.
mod syncer {
    use super::*;

    struct Syncer {
        due: Mutex<Vec<(Instant, Weak<JFile>)>>,
        wake: Condvar,
    }

    fn get() -> Option<&'static Syncer> {
        static S: OnceLock<Option<&'static Syncer>> = OnceLock::new();
        *S.get_or_init(|| {
            let s: &'static Syncer = Box::leak(Box::new(Syncer {
                due: Mutex::new(Vec::new()),
                wake: Condvar::new(),
            }));
            match std::thread::Builder::new()
                .name("quild-fsync".into())
                .spawn(move || run(s))
            {
                Ok(_) => Some(s),
                Err(e) => {
                    tracing::error!(
                        "cannot start the fsync thread ({e}); journals are not fsynced"
                    );
                    None
                }
            }
        })
    }

    /// `file` was written: fsync it within `every`, unless that is already planned.
    pub(super) fn schedule(file: &Arc<JFile>, every: Duration) {
        if file.dirty.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Some(s) = get() {
            lock(&s.due).push((Instant::now() + every, Arc::downgrade(file)));
            s.wake.notify_one();
        }
    }

    fn run(s: &'static Syncer) {
        let mut q = lock(&s.due);
        loop {
            let now = Instant::now();
            q = match q.iter().map(|(t, _)| *t).min() {
                None => s.wake.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some(t) if t > now => {
                    s.wake
                        .wait_timeout(q, t - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                Some(_) => {
                    let (due, rest): (Vec<_>, Vec<_>) = q.drain(..).partition(|(t, _)| *t <= now);
                    *q = rest;
                    drop(q);
                    for (_, f) in due {
                        let Some(f) = f.upgrade() else { continue };
                        // Cleared first: a write during the fsync plans another.
                        f.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
                        if let Err(e) = f.file.sync_data() {
                            tracing::warn!("cannot fsync a pane's output journal: {e}");
                        }
                        let new_in = lock(&f.new_in).take();
                        if let Some(dir) = new_in {
                            if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
                                tracing::warn!("cannot fsync {}: {e}", dir.display());
                            }
                        }
                    }
                    lock(&s.due)
                }
            };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
