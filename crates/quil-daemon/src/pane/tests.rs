use super::*;

/// Events nobody listens to.
pub(crate) struct Quiet;

impl PaneEvents for Quiet {
    fn screen_dirty(&self) {}
    fn meta_changed(&self) {}
    fn exited(&self, _: PaneId, _: i32) {}
    fn clipboard(&self, _: String) {}
    fn bell(&self, _: PaneId) {}
    fn notification(&self, _: PaneId, _: String, _: String) {}
    fn persist_failed(&self, _: PaneId, _: Option<String>) {}
}

#[test]
fn a_capture_over_its_budget_says_how_much_history_fits() {
    let pane = PaneShared::new(20, 4, 4 << 20, crate::restore::Preamble::default());
    let text: String = (0..100).map(|i| format!("line {i:03}\r\n")).collect();
    pane.feed(PaneId(1), text.as_bytes(), &Quiet);
    let all = pane.capture(1000, false, usize::MAX).expect("no budget");
    assert_eq!(all.len(), 97 + 4, "{all:?}");
    assert_eq!(all[0], "line 000");
    // Each line costs its text and 8 bytes: the screen (4 lines, the last one empty), then 3
    // of history, and not a 4th.
    let screen: usize = all[97..].iter().map(|l| l.len() + 8).sum();
    let budget = screen + 3 * (8 + 8) + 5;
    assert_eq!(
        pane.capture(1000, false, budget),
        Err(TooLarge { history_lines: 3 })
    );
    let fits = pane.capture(3, false, budget).expect("fits");
    assert_eq!(&fits[..3], &["line 094", "line 095", "line 096"]);
    assert_eq!(fits[3..], all[97..]);
    // Even the screen alone can be too much.
    assert_eq!(
        pane.capture(0, true, 10),
        Err(TooLarge { history_lines: 0 })
    );
}

/// A pane's lock may be held for long (a capture of a long history): a runtime worker that
/// needs the lock meanwhile must not keep its other tasks (other panes' output) waiting.
#[test]
fn a_worker_waiting_for_a_held_pane_lock_lets_its_other_tasks_run() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a runtime");
    let pane = Arc::new(PaneShared::new(
        20,
        4,
        4 << 20,
        crate::restore::Preamble::default(),
    ));
    let held = pane.lock();
    let (started, start) = std::sync::mpsc::channel();
    let p = pane.clone();
    let waiter = rt.spawn(async move {
        let _ = started.send(());
        p.feed(PaneId(1), b"after the export\r\n", &Quiet);
    });
    start.recv().expect("the waiter started");
    // The runtime's one worker is in the waiter's wait for the lock by now.
    std::thread::sleep(Duration::from_millis(20));
    let (done, ran) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = done.send(());
    });
    let ran = ran.recv_timeout(Duration::from_secs(5));
    let waited = !waiter.is_finished();
    drop(held);
    assert!(ran.is_ok(), "another task ran while the lock was held");
    assert!(waited, "the waiter waited for the lock");
    rt.block_on(waiter).expect("the waiter fed its output");
    assert!(pane.screen_text().contains("after the export"));
}

/// A snapshot decodes the history after letting go of the pane's lock, from a copy: what it
/// saves is what decoding under the lock saved.
#[test]
fn a_snapshot_saves_what_the_terminal_holds() {
    let pane = PaneShared::new(30, 5, 4 << 20, crate::restore::Preamble::default());
    let text: String = (0..3000)
        .map(|i| match i % 4 {
            0 => format!("plain {i}\r\n"),
            1 => format!("\x1b[1;3{}mstyled {i}\x1b[0m tail\r\n", i % 8),
            2 => format!("wide 漢字 {i} and a line long enough to wrap at thirty columns\r\n"),
            _ => "\r\n".to_string(),
        })
        .collect();
    pane.feed(PaneId(1), text.as_bytes(), &Quiet);
    pane.feed(PaneId(1), b"\x1b]2;a title\x07prompt$ ", &Quiet);
    for budget in [usize::MAX, 64 * 1024, 2000, 10] {
        let under_lock = saved_of(&pane.lock().term, &[], budget);
        let saved = pane.export_saved(budget);
        assert_eq!(saved, under_lock, "budget {budget}");
        if budget == 64 * 1024 {
            assert!(saved.lines.len() > 100 && saved.lines.len() < 3000);
        }
    }
}
