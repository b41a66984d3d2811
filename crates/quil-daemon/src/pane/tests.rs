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
