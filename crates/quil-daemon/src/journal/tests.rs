//! The journal's format and its writer, with a stand-in for the pane: no processes, no PTYs.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn crc32c_matches_the_standard_check_value() {
    assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    // Chained over pieces as over the whole.
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        crc32c(crc32c(0, &data[..333]), &data[333..]),
        crc32c(0, &data)
    );
}

fn journal_bytes(epoch: u64, base: u64, entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = header(epoch, base).to_vec();
    for e in entries {
        e.encode(&mut out);
    }
    out
}

#[test]
fn records_round_trip_and_a_snapshot_position_trims_them() {
    let entries = [
        Entry::Output(b"hello "),
        Entry::Resize(100, 30),
        Entry::Output(b"world"),
        Entry::Gap(7),
        Entry::Output(b"!"),
    ];
    let saved = Saved::parse(journal_bytes(42, 1000, &entries)).expect("a journal");
    assert_eq!((saved.epoch, saved.base), (42, 1000));
    let (all, ignored) = saved.after(1000);
    assert_eq!((all.as_slice(), ignored), (&entries[..], 0));
    // Positions: "hello " 1000..1006, resize 1006, "world" 1007..1012, gap 1012..1019, "!" 1019.
    assert_eq!(
        saved.after(1003).0,
        [
            Entry::Output(b"lo "),
            Entry::Resize(100, 30),
            Entry::Output(b"world"),
            Entry::Gap(7),
            Entry::Output(b"!")
        ]
    );
    assert_eq!(saved.after(1006).0[0], Entry::Resize(100, 30));
    assert_eq!(saved.after(1007).0[0], Entry::Output(b"world"));
    assert_eq!(saved.after(1015).0, [Entry::Gap(4), Entry::Output(b"!")]);
    assert!(saved.after(1020).0.is_empty());
    // A snapshot older than the journal's start (never written so): the hole is a gap.
    assert_eq!(saved.after(990).0[0], Entry::Gap(10));
    // Large output is split into records of at most MAX_RECORD.
    let big = vec![b'x'; MAX_RECORD * 2 + 5];
    let bytes = journal_bytes(1, 0, &[Entry::Output(&big)]);
    let saved = Saved::parse(bytes).unwrap();
    let back: Vec<u8> = saved
        .after(0)
        .0
        .iter()
        .flat_map(|e| match e {
            Entry::Output(b) => b.to_vec(),
            _ => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(back, big);
}

#[test]
fn a_torn_or_damaged_tail_is_ignored_cleanly() {
    let entries = [Entry::Output(b"first"), Entry::Output(b"second record")];
    let whole = journal_bytes(9, 0, &entries);
    let first_end = HEADER + REC_HEADER + 5;
    // Killed anywhere in the middle of writing the second record.
    for cut in first_end..whole.len() {
        let saved = Saved::parse(whole[..cut].to_vec()).unwrap();
        let (got, ignored) = saved.after(0);
        assert_eq!(got, [Entry::Output(b"first")], "cut at {cut}");
        assert_eq!(ignored, cut - first_end, "cut at {cut}");
    }
    // A flipped byte in the first record's payload: nothing after it is trusted.
    let mut bad = whole.clone();
    bad[HEADER + REC_HEADER + 1] ^= 0x20;
    let bad = Saved::parse(bad).unwrap();
    let (got, ignored) = bad.after(0);
    assert!(got.is_empty());
    assert_eq!(ignored, whole.len() - HEADER);
    // An absurd length is damage, not a reason to allocate.
    let mut huge = header(9, 0).to_vec();
    huge.extend([KIND_OUTPUT, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
    assert!(Saved::parse(huge).unwrap().after(0).0.is_empty());
}

#[test]
fn a_foreign_or_damaged_header_is_refused() {
    assert!(Saved::parse(b"QUILJNL1 but not really a header".to_vec()).is_none());
    assert!(Saved::parse(Vec::new()).is_none());
    let mut h = journal_bytes(1, 2, &[]);
    h[10] ^= 1;
    assert!(Saved::parse(h).is_none());
    assert!(Saved::parse(b"#!/bin/sh\necho not a journal\n".to_vec()).is_none());
}

#[test]
fn slots_refuse_older_instances_and_closed_panes() {
    let slot = Slot::default();
    let old = slot.register();
    assert_eq!(slot.with(old, || Ok(1)), Ok(1));
    let new = slot.register();
    assert_eq!(slot.with(old, || Ok(1)), Err(SnapError::Superseded));
    assert_eq!(slot.with(new, || Ok(2)), Ok(2));
    let ran = AtomicBool::new(false);
    slot.close(|| ran.store(true, Ordering::SeqCst));
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(slot.with(new, || Ok(2)), Err(SnapError::Superseded));
    assert_eq!(
        slot.register(),
        0,
        "a closed pane's new instance owns nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// The writer, against a stand-in pane: `Term` plays the terminal (everything the pane printed,
// under a lock that also orders the pushes), and its snapshots are files written through the
// slot, as the daemon's are.

struct Pane {
    dir: tempfile::TempDir,
    term: Mutex<Vec<u8>>,
    journal: OnceLock<Arc<Journal>>,
    slot: Arc<Slot>,
    gen: u64,
    /// While set, snapshots wait (a slow disk).
    hold: Mutex<bool>,
    held: Condvar,
    snapshots: AtomicUsize,
    /// How long each snapshot takes.
    slow: Mutex<Duration>,
    reports: Mutex<Vec<Option<String>>>,
}

impl Pane {
    fn snap_path(&self) -> PathBuf {
        self.dir.path().join("p1")
    }

    fn journal_path(&self) -> PathBuf {
        path_for(&self.snap_path())
    }

    fn j(&self) -> &Arc<Journal> {
        self.journal.get().expect("started")
    }

    /// The program prints `bytes`.
    fn print(&self, bytes: &[u8]) {
        let mut t = lock(&self.term);
        t.extend_from_slice(bytes);
        self.j().push(bytes);
    }

    fn release(&self) {
        *lock(&self.hold) = false;
        self.held.notify_all();
    }
}

struct Snaps(Arc<Pane>);

impl Snapshotter for Snaps {
    fn snapshot(&self) -> Result<u64, SnapError> {
        let p = &self.0;
        let mut h = lock(&p.hold);
        while *h {
            h = p.held.wait(h).unwrap();
        }
        drop(h);
        std::thread::sleep(*lock(&p.slow));
        let (content, upto) = {
            let t = lock(&p.term);
            (t.clone(), p.j().position())
        };
        let mut file = upto.to_le_bytes().to_vec();
        file.extend(p.j().epoch().to_le_bytes());
        file.extend(content);
        p.slot
            .with(p.gen, || crate::home::write_atomic(&p.snap_path(), &file))?;
        p.snapshots.fetch_add(1, Ordering::SeqCst);
        Ok(upto)
    }
}

fn start(bound: u64, held: bool) -> Arc<Pane> {
    start_with(bound, bound, held)
}

fn start_with(bound: u64, soft: u64, held: bool) -> Arc<Pane> {
    let slot = Arc::new(Slot::default());
    let gen = slot.register();
    let pane = Arc::new(Pane {
        dir: tempfile::tempdir().unwrap(),
        term: Mutex::new(Vec::new()),
        journal: OnceLock::new(),
        slot: slot.clone(),
        gen,
        hold: Mutex::new(held),
        held: Condvar::new(),
        snapshots: AtomicUsize::new(0),
        slow: Mutex::new(Duration::ZERO),
        reports: Mutex::new(Vec::new()),
    });
    let spec = Spec {
        path: pane.journal_path(),
        slot,
        gen,
        fsync_every: Duration::from_millis(50),
        bound,
        soft,
        name: "p1".into(),
    };
    let reporter = pane.clone();
    let j = pane.journal.get_or_init(Journal::new);
    j.start(
        spec,
        None,
        Arc::new(Snaps(pane.clone())),
        Box::new(move |why| lock(&reporter.reports).push(why)),
    )
    .unwrap();
    pane
}

/// What a restore gets from the files as they are: the snapshot, then the journal after it;
/// `None` for a gap.
fn recovered(snap: &[u8], journal: &[u8]) -> Option<Vec<u8>> {
    let upto = u64::from_le_bytes(snap[..8].try_into().unwrap());
    let epoch = u64::from_le_bytes(snap[8..16].try_into().unwrap());
    let mut out = snap[16..].to_vec();
    let Some(j) = Saved::parse(journal.to_vec()) else {
        return Some(out);
    };
    if j.epoch != epoch {
        return Some(out);
    }
    for e in j.after(upto).0 {
        match e {
            Entry::Output(b) => out.extend_from_slice(b),
            Entry::Gap(_) => return None,
            Entry::Resize(..) | Entry::Start(_) => {}
        }
    }
    Some(out)
}

/// Whether the files on disk now give back everything the pane printed.
fn all_recoverable(p: &Pane) -> bool {
    let journal = std::fs::read(p.journal_path()).unwrap_or_default();
    let snap = std::fs::read(p.snap_path()).unwrap_or_default();
    snap.len() >= 16 && recovered(&snap, &journal).as_deref() == Some(&lock(&p.term)[..])
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn output_reaches_the_file_within_a_batch_without_a_finish() {
    let p = start(DEFAULT_BOUND, false);
    wait_until("the first snapshot and journal", || {
        p.journal_path().exists() && p.snap_path().exists()
    });
    let t0 = Instant::now();
    p.print(b"line one\r\n");
    wait_until("the output in the journal", || {
        std::fs::read(p.journal_path()).is_ok_and(|b| b.windows(8).any(|w| w == b"line one"))
    });
    // BATCH plus a loaded machine's scheduling; far under the 250 ms the daemon promises.
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1000), "{took:?}");
    // Files are private.
    use std::os::unix::fs::PermissionsExt;
    for f in [p.journal_path(), p.snap_path()] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let snap = std::fs::read(p.snap_path()).unwrap();
    let journal = std::fs::read(p.journal_path()).unwrap();
    assert_eq!(recovered(&snap, &journal).unwrap(), b"line one\r\n");
}

#[test]
fn compaction_never_loses_output_whenever_the_files_are_looked_at() {
    // A small bound: a snapshot supersedes the journal many times during the run.
    let p = start(4096, false);
    wait_until("the first journal", || p.journal_path().exists());
    let stop = Arc::new(AtomicBool::new(false));
    // "kill -9" at every moment: the files as they are (the journal first, so a snapshot
    // newer than it can show up, as a kill between the two renames leaves them).
    let watcher = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut looks = 0;
            while !stop.load(Ordering::SeqCst) {
                let journal = std::fs::read(p.journal_path()).unwrap_or_default();
                let snap = std::fs::read(p.snap_path()).unwrap();
                let got = recovered(&snap, &journal).expect("no gap");
                let printed = lock(&p.term).clone();
                assert!(
                    printed.starts_with(&got),
                    "what comes back was printed, in order"
                );
                looks += 1;
            }
            looks
        })
    };
    // About 1.5 s of output: a dozen batches, each past the bound.
    for i in 0..3000u32 {
        p.print(format!("{i:05} some output\r\n").as_bytes());
        if i % 40 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(BATCH * 3);
    stop.store(true, Ordering::SeqCst);
    let looks = watcher.join().unwrap();
    assert!(looks > 10, "{looks}");
    assert!(p.snapshots.load(Ordering::SeqCst) > 3, "compacted");
    let journal = std::fs::read(p.journal_path()).unwrap();
    assert!(journal.len() < 4096 * 4, "bounded: {}", journal.len());
    // After the last write everything is there.
    wait_until("all output on disk", || all_recoverable(&p));
}

#[test]
fn a_slow_disk_drops_output_with_a_gap_instead_of_stalling_or_growing() {
    // The first snapshot waits: nothing can be written, so output piles up in memory.
    let p = start(DEFAULT_BOUND, true);
    let chunk = vec![b'y'; 64 * 1024];
    let t0 = Instant::now();
    for _ in 0..(PENDING_CAP / chunk.len() + 40) {
        p.print(&chunk);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "pushing never waits for the disk"
    );
    {
        let st = p.j().lock();
        assert!(st.data.len() <= PENDING_CAP, "bounded memory");
        assert!(st.dropping);
    }
    p.print(b"after the gap\r\n");
    p.release();
    // The gap is written, and the snapshot it asks for supersedes it.
    wait_until("a second snapshot", || {
        p.snapshots.load(Ordering::SeqCst) >= 2
    });
    wait_until("everything recoverable", || all_recoverable(&p));
}

#[test]
fn the_hard_bound_holds_while_a_snapshot_is_slow() {
    let bound = 64 * 1024;
    let p = start(bound, false);
    wait_until("the first journal", || p.journal_path().exists());
    *lock(&p.hold) = true;
    let chunk = vec![b'z'; 32 * 1024];
    for _ in 0..200 {
        p.print(&chunk);
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(BATCH * 3);
    let len = std::fs::metadata(p.journal_path()).unwrap().len();
    assert!(
        len <= bound * HARD_FACTOR + PENDING_CAP as u64,
        "journal of {len} bytes"
    );
    p.release();
    wait_until("everything recoverable", || all_recoverable(&p));
}

#[test]
fn a_finish_puts_everything_on_disk_and_records_nothing_after() {
    let p = start(DEFAULT_BOUND, false);
    wait_until("the first journal", || p.journal_path().exists());
    p.print(b"before the stop\r\n");
    p.j().begin_finish();
    p.print(b"after the stop\r\n");
    p.j()
        .wait_finished(Instant::now() + Duration::from_secs(20))
        .unwrap();
    let journal = std::fs::read(p.journal_path()).unwrap();
    let snap = std::fs::read(p.snap_path()).unwrap();
    let got = recovered(&snap, &journal).unwrap();
    assert_eq!(got, b"before the stop\r\n");
    // A second wait answers at once.
    assert!(p.j().wait_finished(Instant::now()).is_ok());
}

#[test]
fn an_older_instance_stops_writing_once_a_newer_one_owns_the_files() {
    let p = start(4096, false);
    wait_until("the first journal", || p.journal_path().exists());
    let newer = p.slot.register();
    assert_ne!(newer, p.gen);
    // Its next snapshot is refused: the writer ends, and the files stay as they were.
    for _ in 0..10 {
        p.print(&[b'q'; 1024]);
    }
    wait_until("the writer to end", || p.j().lock().ended);
    let journal = std::fs::read(p.journal_path()).unwrap();
    let (epoch, _) = parse_header(&journal).unwrap();
    assert_eq!(epoch, p.j().epoch());
}

#[test]
fn a_snapshot_that_fails_is_reported_retried_and_cleared() {
    let p = start(4096, false);
    wait_until("the first journal", || p.journal_path().exists());
    // The snapshot's place is taken by a directory: writing it fails.
    std::fs::remove_file(p.snap_path()).unwrap();
    std::fs::create_dir(p.snap_path()).unwrap();
    std::fs::write(p.snap_path().join("x"), b"keep").unwrap();
    p.print(&[b'w'; 8192]);
    wait_until("a report", || !lock(&p.reports).is_empty());
    let why = lock(&p.reports)[0].clone().expect("a reason");
    assert!(why.contains("cannot save the output of p1"), "{why}");
    // Output still reaches the journal meanwhile.
    p.print(b"still journaled\r\n");
    wait_until("the output in the journal", || {
        std::fs::read(p.journal_path()).is_ok_and(|b| b.ends_with(b"still journaled\r\n"))
    });
    std::fs::remove_dir_all(p.snap_path()).unwrap();
    wait_until("the report cleared", || {
        lock(&p.reports).last().is_some_and(|r| r.is_none())
    });
    let journal = std::fs::read(p.journal_path()).unwrap();
    let snap = std::fs::read(p.snap_path()).unwrap();
    assert_eq!(
        recovered(&snap, &journal).as_deref(),
        Some(&lock(&p.term)[..])
    );
}

#[test]
fn past_the_soft_bound_a_snapshot_comes_at_most_once_a_second() {
    let p = start_with(DEFAULT_BOUND, 4096, false);
    wait_until("the first journal", || p.journal_path().exists());
    let t0 = Instant::now();
    for _ in 0..30 {
        p.print(&[b's'; 1024]);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(BATCH * 2);
    let secs = t0.elapsed().as_secs_f64();
    let more = p.snapshots.load(Ordering::SeqCst) - 1;
    assert!(
        more >= 1 && more as f64 <= secs + 1.0,
        "{more} snapshots in {secs:.1} s"
    );
    // Other tests' journals share the clock; the last print may be a step late.
    wait_until("everything recoverable", || all_recoverable(&p));
}

#[test]
fn past_the_soft_bound_a_slow_snapshot_spaces_out_the_next() {
    let p = start_with(DEFAULT_BOUND, 4096, true);
    *lock(&p.slow) = Duration::from_millis(300);
    p.release();
    wait_until("the first snapshot", || {
        p.snapshots.load(Ordering::SeqCst) == 1
    });
    // Past the soft bound for 2.5 s: a snapshot a second (after one that took 0.3 s) would
    // make two more; ten times 0.3 s makes none yet.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(2500) {
        p.print(&[b's'; 1024]);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(BATCH * 2);
    assert_eq!(p.snapshots.load(Ordering::SeqCst), 1);
    wait_until("everything recoverable", || all_recoverable(&p));
}

#[test]
fn output_during_a_snapshot_does_not_ask_for_another() {
    let bound = 64 * 1024;
    let p = start(bound, false);
    wait_until("the first journal", || p.journal_path().exists());
    *lock(&p.slow) = Duration::from_millis(300);
    // Past the bound: a snapshot is asked for, and takes 0.3 s.
    p.print(&vec![b'f'; 2 * bound as usize]);
    wait_until("the journal past its bound", || {
        std::fs::metadata(p.journal_path()).is_ok_and(|m| m.len() > bound)
    });
    assert_eq!(p.snapshots.load(Ordering::SeqCst), 1);
    // Output goes on meanwhile, into the journal that snapshot compacts.
    for _ in 0..20 {
        p.print(&[b'g'; 1024]);
        std::thread::sleep(Duration::from_millis(25));
    }
    wait_until("the snapshot on disk", || {
        p.snapshots.load(Ordering::SeqCst) == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.snapshots.load(Ordering::SeqCst),
        2,
        "the compacted journal is small: no second snapshot"
    );
    wait_until("everything recoverable", || all_recoverable(&p));
}

#[test]
fn batches_fall_due_on_one_grid() {
    let t = Instant::now();
    for ms in [0u64, 1, 17, 49, 50, 51, 99, 1234] {
        let at = t + Duration::from_millis(ms);
        let due = on_grid(at);
        assert!(due >= at && due < at + BATCH, "{ms} ms: {:?}", due - at);
        // Anything due within the same step is written in the same wake.
        assert_eq!(on_grid(due), due);
        assert_eq!(on_grid(due - Duration::from_nanos(1)), due);
    }
}

/// Once the writer has gone quiet (it waits to be woken), prints `label` with an attempt
/// number until the print arms the journals' clock (another test's output may hold it armed
/// for a moment). Returns the tick and the line of the print that armed it; every print
/// reaches the file.
fn print_arming(p: &Pane, label: &str) -> (Tick, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for attempt in 1.. {
        wait_until("everything written", || all_recoverable(p));
        // A writer that has just written looks once more for data, and would time its own
        // batch if it found the print: let it settle into waiting.
        std::thread::sleep(Duration::from_millis(100));
        let line = format!("{label} #{attempt}\r\n");
        lock(&p.term).extend_from_slice(line.as_bytes());
        if let Some(tick) = p.j().push(line.as_bytes()) {
            return (tick, line);
        }
        assert!(Instant::now() < deadline, "the clock stayed armed");
    }
    unreachable!()
}

fn written(p: &Pane, line: &str) -> bool {
    std::fs::read(p.journal_path())
        .is_ok_and(|b| b.windows(line.len()).any(|w| w == line.as_bytes()))
}

#[test]
fn the_output_that_arms_the_clock_keeps_its_tick_and_a_dropped_tick_still_fires() {
    let p = start(DEFAULT_BOUND, false);
    let (tick, line) = print_arming(&p, "kept tick");
    assert_eq!(on_grid(tick.at()), tick.at(), "a step of the grid");
    assert!(tick.at() < Instant::now() + 2 * BATCH);
    // Whoever holds the tick decides when the writers wake: nobody else does (not the clock's
    // task either, woken meanwhile by other tests' ticks). A wrong fire would come at the
    // tick's own step, so one step past it shows one, and holds the other tests' journals
    // (which share the clock) up only a little.
    std::thread::sleep(tick.at().saturating_duration_since(Instant::now()) + BATCH);
    assert!(!written(&p, &line), "written before its tick fired");
    tick.fire();
    wait_until("the output written once the tick fired", || {
        written(&p, &line)
    });

    // A tick nobody keeps (a reader that ended) goes to the clock's task.
    let (tick, line) = print_arming(&p, "dropped tick");
    drop(tick);
    wait_until("the output written by the clock's task", || {
        written(&p, &line)
    });
    wait_until("everything recoverable", || all_recoverable(&p));
}
