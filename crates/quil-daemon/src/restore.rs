//! Bringing panes back: a pane's snapshot, with the output its journal kept since, becomes
//! lines that are replayed into a fresh terminal before the new process starts, so the pane
//! shows its previous content at once and new output continues below it.

use crate::journal::Entry;
use crate::persist::{Base, SavedBuffer, Start};
use quil_proto::{Line, PaneId};
use quil_term::{TermConfig, Terminal};
use std::fmt::Write as _;
use std::path::Path;

/// What a pane showed when the last daemon left it, newest lines within `budget` (bytes of a
/// saved buffer): its snapshot (or what its instance began with), with the output its journal
/// kept after it replayed through a terminal. A journal of another instance (an older one: the snapshot supersedes it) is left
/// out; a record cut short by a kill is ignored.
pub fn recover(
    home: &Path,
    pane: PaneId,
    budget: usize,
    scrollback_bytes: usize,
    bound: u64,
) -> Vec<Line> {
    let Some((mut base, journal)) = crate::persist::load_content(home, pane, bound) else {
        return Vec::new();
    };
    let (entries, ignored) = journal
        .as_ref()
        .map(|(upto, j)| j.after(*upto))
        .unwrap_or_default();
    if ignored > 0 {
        tracing::info!(%pane, bytes = ignored, "ignoring the incomplete end of an output journal");
    }
    if let Base::Saved(saved) = &mut base {
        if entries.is_empty() {
            return std::mem::take(&mut saved.lines);
        }
    }
    let t0 = std::time::Instant::now();
    let (term, older) = rebuilt(&mut base, &entries, scrollback_bytes);
    let lines = crate::pane::recent_lines(&term, older, budget);
    tracing::debug!(
        %pane,
        bytes = journal.map_or(0, |(_, j)| j.len()),
        ms = t0.elapsed().as_millis() as u64,
        "replayed the output journal"
    );
    lines
}

/// A terminal showing `base` with `entries` played on top, and the saved history that goes
/// above what the terminal itself holds (none for a start: its terminal holds it all).
fn rebuilt<'a>(
    base: &'a mut Base,
    entries: &[Entry<'_>],
    scrollback_bytes: usize,
) -> (Terminal, &'a [Line]) {
    match base {
        Base::Saved(saved) => replayed(saved, entries, scrollback_bytes),
        Base::Start(start) => (
            started(std::mem::take(start), entries, scrollback_bytes),
            &[],
        ),
    }
}

/// A terminal as a pane instance began (`start`), with `entries` played on top.
fn started(start: Start, entries: &[Entry<'_>], scrollback_bytes: usize) -> Terminal {
    let pre = Preamble {
        history: start.history,
        bytes: start.bytes,
    };
    let mut term = pre.terminal(start.cols, start.rows, scrollback_bytes);
    play(&mut term, entries);
    term
}

/// Plays what a journal kept on `term`.
fn play(term: &mut Terminal, entries: &[Entry<'_>]) {
    for e in entries {
        match e {
            Entry::Output(b) => term.feed(b),
            Entry::Resize(c, r) => term.resize(*c, *r),
            Entry::Gap(n) => term.feed(
                format!("\r\n\x1b[0;2m--- {n} bytes of output were not saved ---\x1b[0m\r\n")
                    .as_bytes(),
            ),
            // What the journal begins with, not what the pane did.
            Entry::Start(_) => {}
        }
    }
}

/// `saved` with `entries` played on top, as a terminal shows them; the newest lines within
/// `budget`.
#[cfg(test)]
fn replay(
    saved: &SavedBuffer,
    entries: &[Entry<'_>],
    budget: usize,
    scrollback_bytes: usize,
) -> Vec<Line> {
    let (term, older) = replayed(saved, entries, scrollback_bytes);
    crate::pane::recent_lines(&term, older, budget)
}

/// A terminal showing `saved` with `entries` played on top, and the saved history that goes
/// above what the terminal itself holds.
fn replayed<'a>(
    saved: &'a SavedBuffer,
    entries: &[Entry<'_>],
    scrollback_bytes: usize,
) -> (Terminal, &'a [Line]) {
    let rows = saved.rows.max(1) as usize;
    let on_screen = (saved.screen_rows as usize)
        .min(saved.lines.len())
        .min(rows);
    let (history, screen) = saved.lines.split_at(saved.lines.len() - on_screen);
    let mut term = Terminal::new(TermConfig {
        cols: saved.cols.max(2),
        rows: saved.rows.max(1),
        scrollback_bytes,
    });
    // Output only adds to the saved history (or clears it), unless the pane was resized, which
    // rewraps it: only then does the terminal need it. Kept out, it costs a restore nothing.
    let resized = entries.iter().any(|e| matches!(e, Entry::Resize(..)));
    if resized {
        term.restore_history(history.to_vec());
    }
    term.feed(redraw(saved, screen).as_bytes());
    play(&mut term, entries);
    let older = if resized || term.history_clears() > 0 {
        &[][..]
    } else {
        history
    };
    (term, older)
}

/// What a pane whose process kept running (under its holder) showed, exactly: no marker line,
/// the cursor and style where the program left them, and the modes it had set (`modes`, as
/// [`quil_proto::modes`]), so that its next output lands where it expects; and the size its
/// terminal had last (the program's terminal still has it), when it was saved.
pub fn kept(
    home: &Path,
    pane: PaneId,
    budget: usize,
    scrollback_bytes: usize,
    bound: u64,
    modes: u32,
) -> (Preamble, Option<(u16, u16)>) {
    let mut pre = Preamble::default();
    let mut size = None;
    if let Some((mut base, journal)) = crate::persist::load_content(home, pane, bound) {
        let entries = journal
            .as_ref()
            .map(|(upto, j)| j.after(*upto).0)
            .unwrap_or_default();
        let (term, older) = rebuilt(&mut base, &entries, scrollback_bytes);
        let now = crate::pane::saved_of(&term, older, budget);
        size = Some((now.cols, now.rows));
        let on_screen = (now.screen_rows as usize).min(now.lines.len());
        let (history, screen) = now.lines.split_at(now.lines.len() - on_screen);
        pre.history = history.to_vec();
        pre.bytes = redraw(&now, screen).into_bytes();
    }
    pre.bytes
        .extend_from_slice(mode_sequences(modes).as_bytes());
    (pre, size)
}

/// The sequences that set `modes` (as [`quil_proto::modes`]) on a fresh terminal; the
/// alternate screen is the snapshot's business.
fn mode_sequences(modes: u32) -> String {
    use quil_proto::modes::*;
    let decset = [
        (APP_CURSOR, "\x1b[?1h"),
        (APP_KEYPAD, "\x1b="),
        (BRACKETED_PASTE, "\x1b[?2004h"),
        (MOUSE_CLICK, "\x1b[?1000h"),
        (MOUSE_DRAG, "\x1b[?1002h"),
        (MOUSE_MOTION, "\x1b[?1003h"),
        (MOUSE_SGR, "\x1b[?1006h"),
        (FOCUS_EVENTS, "\x1b[?1004h"),
        (ALTERNATE_SCROLL, "\x1b[?1007h"),
        (KITTY_KEYBOARD, "\x1b[>1u"),
    ];
    decset
        .iter()
        .filter(|(bit, _)| modes & bit != 0)
        .map(|(_, seq)| *seq)
        .collect()
}

/// What puts a fresh terminal of the saved size where the snapshot left it: its `screen` rows,
/// the alternate screen, the cursor, the current style and the title. (What else the program
/// had set up, a scroll region or a mode, the snapshot does not know.)
fn redraw(saved: &SavedBuffer, screen: &[Line]) -> String {
    let rows = saved.rows.max(1) as usize;
    let top = (saved.screen_rows as usize).min(rows) - screen.len();
    let mut out = String::new();
    let mut continued = false;
    for (i, l) in screen.iter().enumerate() {
        // A row a line wrapped into is reached by wrapping, so the terminal knows it is one.
        if !continued {
            let _ = write!(out, "\x1b[{};1H", top + i + 1);
        }
        out.push_str(&l.ansi());
        continued = l.wrapped;
    }
    if saved.alt_screen {
        out.push_str("\x1b[?1049h");
    }
    let _ = write!(
        out,
        "\x1b[{};{}H{}",
        saved.cursor.1 as usize + 1,
        saved.cursor.0 as usize + 1,
        quil_proto::screen::sgr(&saved.pen)
    );
    if !saved.title.is_empty() {
        // A title holds no control characters a terminal would act on; none go back in.
        let title: String = saved.title.chars().filter(|c| !c.is_control()).collect();
        let _ = write!(out, "\x1b]2;{title}\x07");
    }
    out
}

/// What a new pane shows before its process starts: lines put straight into its history,
/// then bytes fed to its terminal.
#[derive(Debug, Clone, Default)]
pub struct Preamble {
    pub history: Vec<Line>,
    pub bytes: Vec<u8>,
}

impl Preamble {
    /// A terminal of this size showing it: how a pane instance begins, and how a restore
    /// rebuilds that beginning from its first journal.
    pub fn terminal(self, cols: u16, rows: u16, scrollback_bytes: usize) -> Terminal {
        let mut term = Terminal::new(TermConfig {
            cols,
            rows,
            scrollback_bytes,
        });
        term.restore_history(self.history);
        term.feed(&self.bytes);
        // Replies the emulator owes to these bytes are not for any process.
        let _ = term.take_responses();
        term
    }

    /// All of it as text, the history's lines first (for tests and messages).
    pub fn text(&self) -> String {
        let mut s: String = self.history.iter().map(|l| l.text() + "\n").collect();
        s.push_str(&String::from_utf8_lossy(&self.bytes));
        s
    }
}

/// `lines` (oldest first) followed by a dim marker saying why, for a pane of `rows` rows. The
/// marker is there even with no lines, so a restored pane is always recognisable. Only the
/// last lines, those that end up on the screen, are redrawn; the ones before go straight into
/// the history (a restore with megabytes of history parses none of it), which is where
/// printing them would have put them.
pub fn preamble(lines: &[Line], label: &str, rows: u16) -> Preamble {
    let drawn = lines.len().min(rows as usize);
    let (history, screen) = lines.split_at(lines.len() - drawn);
    let mut out = Vec::with_capacity(screen.len() * 64);
    for l in screen {
        out.extend_from_slice(l.ansi().as_bytes());
        if !l.wrapped {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("\x1b[0;2m--- {label} ---\x1b[0m\r\n").as_bytes());
    Preamble {
        history: history.to_vec(),
        bytes: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_lines_then_marker() {
        let p = preamble(&[Line::plain("one"), Line::plain("two")], "restored", 24);
        assert!(p.history.is_empty());
        assert_eq!(
            String::from_utf8(p.bytes).unwrap(),
            "one\r\ntwo\r\n\x1b[0;2m--- restored ---\x1b[0m\r\n"
        );
        assert_eq!(
            preamble(&[], "x", 24).bytes,
            b"\x1b[0;2m--- x ---\x1b[0m\r\n"
        );
    }

    #[test]
    fn a_long_preamble_ends_as_if_every_line_had_been_printed() {
        // Lines as a terminal has them: some wrapped (full width, going on below).
        let source = crate::pane::PaneShared::new(40, 10, 4 << 20, Preamble::default());
        let text: String = (0..500)
            .map(|i| format!("line {i} {}\r\n", "w".repeat(i % 90)))
            .collect();
        source.feed(PaneId(1), text.as_bytes(), &Quiet);
        let lines = source.export_lines(10_000);
        assert!(lines.iter().any(|l| l.wrapped));
        let printed = {
            let mut bytes = Vec::new();
            for l in &lines {
                bytes.extend_from_slice(l.ansi().as_bytes());
                if !l.wrapped {
                    bytes.extend_from_slice(b"\r\n");
                }
            }
            bytes.extend_from_slice(b"\x1b[0;2m--- m ---\x1b[0m\r\n");
            let p = Preamble {
                history: Vec::new(),
                bytes,
            };
            crate::pane::PaneShared::new(40, 10, 4 << 20, p)
        };
        let p = preamble(&lines, "m", 10);
        assert_eq!(p.history.len(), lines.len() - 10);
        let split = crate::pane::PaneShared::new(40, 10, 4 << 20, p);
        let all =
            |p: &crate::pane::PaneShared| p.capture(10_000, true, usize::MAX).expect("no budget");
        assert_eq!(all(&split), all(&printed));
        assert_eq!(split.export_lines(10_000), printed.export_lines(10_000));
    }

    use crate::pane::tests::Quiet;

    const BUDGET: usize = 1 << 20;

    /// A pane printed `before`, was saved, then did `after`: replaying `after` onto the saved
    /// content gives the lines the pane itself would save now.
    fn replayed_vs_live(
        cols: u16,
        rows: u16,
        before: &[u8],
        after: &[Entry<'_>],
    ) -> (Vec<Line>, Vec<Line>) {
        let pane = crate::pane::PaneShared::new(cols, rows, 4 << 20, Preamble::default());
        pane.feed(PaneId(1), before, &Quiet);
        let saved = pane.export_saved(BUDGET);
        for e in after {
            match e {
                Entry::Output(b) => {
                    pane.feed(PaneId(1), b, &Quiet);
                }
                Entry::Resize(c, r) => {
                    pane.resize(*c, *r);
                }
                Entry::Gap(_) | Entry::Start(_) => unreachable!(),
            }
        }
        let live = pane.export_saved(BUDGET).lines;
        (replay(&saved, after, BUDGET, 4 << 20), live)
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines.iter().map(Line::text).collect()
    }

    #[test]
    fn replaying_a_journal_gives_what_the_pane_showed() {
        let numbers: String = (1..=100).map(|i| format!("{i}\r\n")).collect();
        let more: String = (101..=130).map(|i| format!("{i}\r\n")).collect();
        let long = "x".repeat(150);
        /// What, the pane's size, its output before the snapshot, what the journal kept after.
        type Case<'a> = (&'a str, u16, u16, Vec<u8>, Vec<Entry<'a>>);
        let cases: Vec<Case<'_>> = vec![
            (
                "scrolling lines",
                80,
                10,
                numbers.clone().into_bytes(),
                vec![Entry::Output(more.as_bytes())],
            ),
            (
                "a prompt without a newline, then a command and its output",
                80,
                10,
                b"$ ".to_vec(),
                vec![Entry::Output(b"ls\r\nfile-a  file-b\r\n$ ")],
            ),
            (
                "a redraw addressed by cursor position",
                40,
                8,
                numbers.clone().into_bytes(),
                vec![Entry::Output(b"\x1b[3;5Hmid\x1b[1;1Htop\x1b[8;1H")],
            ),
            (
                "a wrapped line continued",
                40,
                6,
                long.clone().into_bytes(),
                vec![Entry::Output(b"yyyy and the rest\r\n$ ")],
            ),
            (
                "colours",
                40,
                6,
                b"\x1b[1;31mred bold\x1b[0m plain\r\n\x1b[44mblue".to_vec(),
                vec![Entry::Output(b" still blue\x1b[0m\r\ndone\r\n")],
            ),
            (
                "the history cleared",
                40,
                8,
                numbers.clone().into_bytes(),
                vec![Entry::Output(b"\x1b[3J\x1b[2J\x1b[Hfresh start\r\n")],
            ),
            (
                "a resize between outputs",
                80,
                10,
                numbers.clone().into_bytes(),
                vec![
                    Entry::Output(b"wide line of text, more than forty columns across.....\r\n"),
                    Entry::Resize(40, 12),
                    Entry::Output(more.as_bytes()),
                ],
            ),
        ];
        for (what, cols, rows, before, after) in cases {
            let (got, live) = replayed_vs_live(cols, rows, &before, &after);
            assert_eq!(texts(&got), texts(&live), "{what}");
            assert_eq!(got, live, "{what}: styles and wraps too");
        }
    }

    #[test]
    fn a_program_on_the_alternate_screen_replays_into_it_not_over_the_history() {
        let (got, live) = replayed_vs_live(
            40,
            6,
            b"normal one\r\nnormal two\r\n\x1b[?1049h\x1b[Hfull-screen app",
            &[Entry::Output(
                b"\x1b[2;1Hmore of the app\x1b[?1049lback\r\n",
            )],
        );
        // The normal screen's rows are not saved while the program runs (only its history),
        // so only what follows its exit comes back there.
        let text = texts(&got).join("\n");
        assert!(!text.contains("app"), "{text}");
        assert!(text.contains("back"), "{text}");
        assert!(texts(&live).join("\n").contains("back"));
    }

    #[test]
    fn recover_replays_only_its_own_journal_after_the_snapshot() {
        let home = tempfile::tempdir().unwrap();
        let pane = PaneId(3);
        let bound = crate::journal::DEFAULT_BOUND;
        let saved = SavedBuffer {
            journal: Some(crate::persist::JournalMark {
                epoch: 77,
                upto: 10,
            }),
            cols: 20,
            rows: 5,
            cursor: (0, 1),
            screen_rows: 1,
            lines: vec![Line::plain("saved")],
            ..Default::default()
        };
        crate::persist::write_buffer(home.path(), pane, &saved).unwrap();
        assert_eq!(
            texts(&recover(home.path(), pane, BUDGET, BUDGET, bound)),
            ["saved"]
        );
        let journal = |epoch: u64| {
            let mut f = crate::journal::header(epoch, 0).to_vec();
            // Positions 0..10 are in the snapshot already.
            Entry::Output(b"0123456789new\r\n").encode(&mut f);
            // Killed while writing the next record.
            let mut torn = Vec::new();
            Entry::Output(b"lost").encode(&mut torn);
            f.extend_from_slice(&torn[..torn.len() - 2]);
            f
        };
        let path = crate::persist::journal_path(home.path(), pane);
        std::fs::write(&path, journal(77)).unwrap();
        assert_eq!(
            texts(&recover(home.path(), pane, BUDGET, BUDGET, bound)),
            ["saved", "new"]
        );
        // Another instance's journal: the snapshot supersedes it.
        std::fs::write(&path, journal(78)).unwrap();
        assert_eq!(
            texts(&recover(home.path(), pane, BUDGET, BUDGET, bound)),
            ["saved"]
        );
        // Not a journal at all: set aside, never fatal.
        std::fs::write(&path, b"something else entirely").unwrap();
        assert_eq!(
            texts(&recover(home.path(), pane, BUDGET, BUDGET, bound)),
            ["saved"]
        );
        assert!(!path.exists());
        let aside = std::fs::read_dir(home.path().join("buffers"))
            .unwrap()
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("pane-00000003.journal.unloadable-")
            });
        assert!(aside, "set aside");
    }
}
