//! Control functions checked against xterm's documented behaviour.
//!
//! Each expected grid is written from xterm's "Control Sequences" (ctlseqs, cited per test as
//! `ctlseqs: ...`), the VT510 reference manual or DEC STD 070 where ctlseqs defers to them, and
//! was checked in xterm. Every case runs twice: with quil's bulk-output fast path and without it
//! (alacritty alone), so the two cannot differ on any of them.

use quil_proto::screen::{flags, Line, Style};
use quil_term::{TermConfig, Terminal};

fn term(cols: u16, rows: u16, fast: bool) -> Terminal {
    let mut t = Terminal::new(TermConfig {
        cols,
        rows,
        scrollback_bytes: 1 << 20,
    });
    t.set_fast_path(fast);
    t
}

/// Runs `check` on a terminal of `cols`x`rows` with the fast path on, then off.
fn both(cols: u16, rows: u16, check: impl Fn(&mut Terminal)) {
    for fast in [true, false] {
        let mut t = term(cols, rows, fast);
        check(&mut t);
    }
}

fn screen(t: &Terminal) -> Vec<String> {
    t.lines().iter().map(Line::text).collect()
}

fn row(t: &Terminal, r: u16) -> String {
    t.line(r).text()
}

/// (row, column) of the cursor.
fn at(t: &Terminal) -> (u16, u16) {
    let c = t.cursor();
    (c.y, c.x)
}

/// Row `r` of the screen as (char, style) per char, for checking styles.
fn styled(t: &Terminal, r: u16) -> Vec<(char, Style)> {
    t.line(r)
        .runs
        .iter()
        .flat_map(|run| run.text.chars().map(move |c| (c, run.style)))
        .collect()
}

/// History (oldest first) then the screen, joined into logical lines at soft wraps, trailing
/// empty lines dropped.
fn logical(t: &Terminal) -> Vec<String> {
    let mut rows = t.scrollback(0, usize::MAX);
    rows.extend(t.lines());
    let mut out = Vec::new();
    let mut cur = String::new();
    for l in rows {
        let text: String = l.runs.iter().map(|r| r.text.as_str()).collect();
        cur.push_str(&text);
        if !l.wrapped {
            out.push(std::mem::take(&mut cur).trim_end().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur.trim_end().to_string());
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

// --- The eight deviations of issue 15, each as the issue reproduces it (120x40). ---

/// 1. ctlseqs: CUU "Cursor Up Ps Times"; DEC STD 070 and xterm stop at the top margin when the
///    cursor starts at or below it (CUD: the bottom margin, at or above it).
#[test]
fn cuu_and_cud_stop_at_the_margins() {
    both(120, 40, |t| {
        t.feed(b"\x1b[2J\x1b[3;6r\x1b[5;1H\x1b[9AU");
        assert_eq!(row(t, 2), "U", "{:?}", screen(t));
        assert_eq!(row(t, 0), "");
        t.feed(b"\x1b[4;1H\x1b[99BD");
        assert_eq!(row(t, 5), "D");
        // Outside the region: above it CUD stops at the bottom margin, below it CUU at the top.
        t.feed(b"\x1b[1;10H\x1b[99Bd\x1b[20;20H\x1b[99Au");
        assert_eq!(row(t, 5), "D        d");
        assert_eq!(at(t), (2, 20));
        // Below the region CUD goes to the bottom of the screen.
        t.feed(b"\x1b[8;1H\x1b[99B");
        assert_eq!(at(t), (39, 0));
        // CNL and CPL are CUD and CUU followed by CR.
        t.feed(b"\x1b[5;9H\x1b[9F");
        assert_eq!(at(t), (2, 0));
        t.feed(b"\x1b[5;9H\x1b[9E");
        assert_eq!(at(t), (5, 0));
    });
}

/// 1. In origin mode (DECOM) the cursor stays in the region: CUU/CUD cannot leave it.
#[test]
fn cuu_in_origin_mode_stays_in_the_region() {
    both(120, 40, |t| {
        t.feed(b"\x1b[2J\x1b[3;6r\x1b[?6h\x1b[3;1H\x1b[9AU\x1b[9BD");
        assert_eq!(row(t, 2), "U");
        assert_eq!(row(t, 5), " D");
        assert_eq!(row(t, 0), "");
        assert_eq!(row(t, 39), "");
    });
}

/// 2. ctlseqs: DCH "Delete Ps Character(s)"; a count past the end of the line deletes up to
///    it, never cells left of the cursor.
#[test]
fn dch_with_a_large_count_stops_at_the_end_of_the_line() {
    both(120, 40, |t| {
        t.feed(b"0123456789\x1b[3G\x1b[200P|");
        assert_eq!(row(t, 0), "01|");
        t.feed(b"\r\nabcdef\x1b[3G\x1b[2P");
        assert_eq!(row(t, 1), "abef");
    });
}

/// 3. ctlseqs: DECALN "DEC Screen Alignment Test"; VT510: it "sets the margins to the
///    extremes of the page, and moves the cursor to the home position".
#[test]
fn decaln_resets_the_margins_and_homes_the_cursor() {
    both(20, 5, |t| {
        t.feed(b"\x1b[2;3r\x1b[4;5H\x1b#8");
        assert_eq!(at(t), (0, 0));
        assert_eq!(screen(t), vec!["E".repeat(20); 5]);
        // A line feed on the last row scrolls the whole screen: no region is left.
        t.feed(b"X\x1b[5;1H\nY");
        assert_eq!(row(t, 0), "E".repeat(20));
        assert_eq!(row(t, 3), "E".repeat(20));
        assert_eq!(row(t, 4), "Y");
        assert_eq!(t.scrollback(0, 1)[0].text(), format!("X{}", "E".repeat(19)));
    });
}

/// 4. ctlseqs: `CSI ? 1049 l` "Use Normal Screen Buffer and restore cursor as in DECRC";
///    xterm restores the cursor also when the normal screen is already shown.
#[test]
fn leaving_1049_restores_the_cursor_even_on_the_normal_screen() {
    both(120, 40, |t| {
        t.feed(b"one\r\ntwo\r\n\x1b[?1049hdialog\x1b[?1049l");
        assert_eq!(at(t), (2, 0));
        t.feed(b"\x1b[30;7H\x1b[?1049lnext");
        assert_eq!(row(t, 2), "next");
        assert_eq!(row(t, 29), "");
        // And with nothing saved before: the saved cursor is the home position.
        let mut fresh = term(20, 5, true);
        fresh.feed(b"\x1b[4;4H\x1b[?1049lx");
        assert_eq!(row(&fresh, 0), "x");
    });
}

/// 5. ctlseqs: SGR 21 "Doubly-underlined (ECMA-48)", not "bold off" (that is 22); and
///    `capture --ansi` writes double underline as 21.
#[test]
fn sgr_21_is_double_underline() {
    both(120, 40, |t| {
        t.feed(b"\x1b[1m\x1b[21mx\x1b[24my\x1b[22mz");
        let cells = styled(t, 0);
        assert_eq!(cells[0].1.flags, flags::BOLD | flags::DOUBLE_UNDERLINE);
        assert_eq!(cells[1].1.flags, flags::BOLD);
        assert_eq!(cells[2].1.flags, 0);
        let ansi = t.line(0).ansi();
        let mut again = term(120, 40, true);
        again.feed(ansi.as_bytes());
        assert_eq!(again.line(0), t.line(0), "{ansi:?}");
    });
}

/// 6. A wide char cut in half by DCH (or ICH, ECH) is blanked whole, as xterm does; the next
///    char written there leaves its neighbours alone.
#[test]
fn deleting_half_a_wide_char_blanks_the_other_half() {
    both(120, 40, |t| {
        t.feed("xy\u{4e2d}z\x1b[3G\x1b[PQ".as_bytes());
        assert_eq!(row(t, 0), "xyQz");
        // The cursor on the right half: the left half goes.
        t.feed("\r\nA\u{6a4b}123\x1b[3G\x1b[P".as_bytes());
        assert_eq!(row(t, 1), "A 123");
        // ICH on the right half pushes it away from its left half: both are blanked.
        t.feed("\r\nA\u{6a4b}1\x1b[3G\x1b[@".as_bytes());
        assert_eq!(row(t, 2), "A   1");
        // ECH of the left half only.
        t.feed("\r\nA\u{6a4b}1\x1b[2G\x1b[X".as_bytes());
        assert_eq!(row(t, 3), "A  1");
    });
}

/// 7. Reflow: narrowing pushes the first row of a wrapped line into the history; widening
///    again joins it with the rest, as xterm (and alacritty's own grid) do.
#[test]
fn widening_joins_a_wrapped_line_whose_start_is_in_the_history() {
    both(20, 3, |t| {
        let long = "abcdefghijklmnopqrstuvwxyz0123";
        t.feed(format!("{long}\r\n$ ").as_bytes());
        t.resize(10, 3);
        assert!(t.scrollback_len() > 0, "the first rows went to the history");
        t.resize(20, 3);
        assert_eq!(logical(t), [long, "$"]);
        assert_eq!(row(t, 0), &long[..20]);
        assert_eq!(row(t, 1), &long[20..]);
        assert_eq!(t.cursor().y, 2);
    });
}

/// 8. The history is reflowed too: after 120 to 80 columns it holds 80-column rows, and its
///    logical lines are unchanged.
#[test]
fn history_is_rewrapped_on_resize() {
    both(120, 5, |t| {
        let mut lines = Vec::new();
        for i in 0..30 {
            let l = format!("{i:02} {}", "x".repeat(60 + i * 3));
            t.feed(format!("{l}\r\n").as_bytes());
            lines.push(l);
        }
        let before = logical(t);
        t.resize(80, 5);
        let history = t.scrollback(0, usize::MAX);
        assert!(history.iter().all(|l| l
            .runs
            .iter()
            .map(|r| r.text.chars().count())
            .sum::<usize>()
            <= 80));
        assert!(history.iter().any(|l| l.wrapped));
        assert_eq!(logical(t), before);
        t.resize(150, 5);
        assert!(t.scrollback(0, usize::MAX).iter().all(|l| !l.wrapped));
        assert_eq!(logical(t), before);
        assert_eq!(before[..30], lines[..]);
    });
}

// --- More control functions. ---

/// ctlseqs: CBT "Cursor Backward Tabulation Ps tab stops"; with no stop to the left it goes to
/// the first column.
#[test]
fn cbt_goes_to_the_previous_stop_or_the_first_column() {
    both(40, 3, |t| {
        t.feed(b"\x1b[20G\x1b[ZA");
        assert_eq!(at(t), (0, 17));
        t.feed(b"\x1b[20G\x1b[2ZB");
        assert_eq!(row(t, 0), "        B       A");
        t.feed(b"\r\n\x1b[3g\x1b[10G\x1b[ZC");
        assert_eq!(row(t, 1), "C");
    });
}

/// ctlseqs: CHT "Cursor Forward Tabulation Ps tab stops"; HTS and TBC.
#[test]
fn tabs_and_tab_stops() {
    both(40, 3, |t| {
        t.feed(b"a\tb\x1b[2Ic");
        assert_eq!(row(t, 0), "a       b               c");
        t.feed(b"\r\n\x1b[5G\x1bH\r\tx\x1b[5G\x1b[g\r\ty");
        assert_eq!(row(t, 1), "    x   y");
    });
}

/// Erase in line and display (EL, ED), and ECH: erased cells take the current background
/// (ctlseqs: "bce", which xterm has).
#[test]
fn erase_functions() {
    both(10, 3, |t| {
        t.feed(b"0123456789\x1b[1;5H\x1b[K");
        assert_eq!(row(t, 0), "0123");
        t.feed(b"\r\n0123456789\x1b[2;5H\x1b[1K");
        assert_eq!(row(t, 1), "     56789");
        t.feed(b"\x1b[2;1H\x1b[41m\x1b[2X\x1b[m");
        let cells = styled(t, 1);
        assert_eq!(cells[0].1.bg, quil_proto::screen::Color::Indexed(1));
        t.feed(b"\x1b[2J");
        assert!(screen(t).iter().all(String::is_empty));
    });
}

/// IL and DL inside a scroll region; SU and SD.
#[test]
fn insert_and_delete_lines_in_a_region() {
    both(5, 5, |t| {
        t.feed(b"a\r\nb\r\nc\r\nd\r\ne\x1b[2;4r\x1b[2;1H\x1b[L");
        assert_eq!(screen(t), ["a", "", "b", "c", "e"]);
        t.feed(b"\x1b[M\x1b[M");
        assert_eq!(screen(t), ["a", "c", "", "", "e"]);
        t.feed(b"\x1b[r\x1b[H\x1b[2S");
        assert_eq!(screen(t), ["", "", "e", "", ""]);
        t.feed(b"\x1b[T");
        assert_eq!(screen(t), ["", "", "", "e", ""]);
    });
}

/// ctlseqs: the cursor waits in the last column ("wrap pending") until the next printable
/// char; a cursor movement cancels it.
#[test]
fn wrap_pending_state() {
    both(5, 3, |t| {
        t.feed(b"abcde");
        assert_eq!(at(t), (0, 4));
        t.feed(b"\x1b[1G\x1b[4CX");
        assert_eq!(screen(t), ["abcdX", "", ""]);
        t.feed(b"Y");
        assert_eq!(screen(t), ["abcdX", "Y", ""]);
        assert!(t.line(0).wrapped);
    });
}

/// ctlseqs: REP "Repeat the preceding graphic character Ps times".
#[test]
fn rep_repeats_the_last_char() {
    both(20, 3, |t| {
        t.feed(b"ab\x1b[3b");
        assert_eq!(row(t, 0), "abbbb");
    });
}

/// Wide chars take two columns; combining chars join the char before them; a wide char that
/// does not fit in the last column moves to the next row.
#[test]
fn wide_and_combining_chars() {
    both(5, 3, |t| {
        t.feed("e\u{301}\u{65e5}x\u{65e5}".as_bytes());
        assert_eq!(row(t, 0), "e\u{301}\u{65e5}x");
        assert_eq!(row(t, 1), "\u{65e5}");
    });
}

/// DECSC and DECRC save and restore position and rendition; ctlseqs: `CSI ? 1049 h` saves the
/// cursor and clears the alternate screen, which has no history.
#[test]
fn alternate_screen_and_saved_cursor() {
    both(10, 3, |t| {
        t.feed(b"\x1b[2;3H\x1b[1m\x1b7\x1b[m\x1b[Hx\x1b8y");
        assert_eq!(row(t, 1), "  y");
        assert_eq!(styled(t, 1)[2].1.flags, flags::BOLD);
        t.feed(b"\x1b[m\x1b[?1049h");
        assert!(t.is_alt_screen());
        assert!(screen(t).iter().all(String::is_empty));
        t.feed(b"alt\r\n\n\n\n\n");
        assert_eq!(t.scrollback_len(), 0);
        t.feed(b"\x1b[?1049l");
        assert_eq!(row(t, 1), "  y");
    });
}

/// `capture --ansi` output replayed into a fresh terminal gives the same grid, for every style
/// quil keeps.
#[test]
fn ansi_lines_round_trip() {
    both(40, 6, |t| {
        t.feed(
            "\x1b[1;2;3;4;7;8;9mall\x1b[m \x1b[21mdbl\x1b[m \x1b[4:3mcurl\x1b[m\r\n\
             \x1b[31;42mx\x1b[91;102my\x1b[38;5;200;48;5;17mz\x1b[38;2;1;2;3;48;2;4;5;6mw\x1b[m\r\n\
             wide \u{65e5}\u{672c} e\u{301}\r\n\x1b[44m   \x1b[m tail"
                .as_bytes(),
        );
        let mut replay = term(40, 6, true);
        for (i, l) in t.lines().iter().enumerate() {
            if i > 0 {
                replay.feed(b"\r\n");
            }
            replay.feed(l.ansi().as_bytes());
        }
        assert_eq!(replay.lines(), t.lines());
    });
}
