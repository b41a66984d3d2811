use std::time::Duration;

use quil_proto::modes;
use quil_proto::screen::{flags, Color, CursorShape, Line, Style};
use quil_term::{TermConfig, Terminal};

fn term(cols: u16, rows: u16) -> Terminal {
    Terminal::new(TermConfig {
        cols,
        rows,
        scrollback_bytes: 64 << 20,
    })
}

fn screen_text(t: &Terminal) -> Vec<String> {
    t.lines().iter().map(Line::text).collect()
}

/// The last `count` history lines (or fewer), oldest first, as text.
fn history_text(t: &Terminal, count: usize) -> Vec<String> {
    t.scrollback(0, count).iter().map(Line::text).collect()
}

/// History then screen, as text, with trailing empty screen rows dropped.
fn all_text(t: &Terminal) -> Vec<String> {
    let mut out = history_text(t, t.scrollback_len());
    out.extend(screen_text(t));
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

#[test]
fn text_and_cursor() {
    let mut t = term(20, 5);
    t.feed(b"hello\r\nworld");
    assert_eq!(t.line(0).text(), "hello");
    assert_eq!(t.line(1).text(), "world");
    assert_eq!(t.line(2), Line::default());
    assert_eq!(t.line(99), Line::default());
    assert_eq!(t.lines().len(), 5);
    let c = t.cursor();
    assert_eq!(
        (c.x, c.y, c.visible, c.shape),
        (5, 1, true, CursorShape::Block)
    );
    // Trailing blanks are trimmed, inner ones kept.
    assert_eq!(t.line(0).runs.len(), 1);
    assert_eq!(t.line(0).runs[0].text, "hello");
    t.feed(b"\x1b[3;4Hx  y   ");
    assert_eq!(t.line(2).runs[0].text, "   x  y");
    assert_eq!((t.cursor().x, t.cursor().y), (10, 2));
}

#[test]
fn cursor_visibility_and_shape() {
    let mut t = term(20, 5);
    t.feed(b"\x1b[?25l");
    assert!(!t.cursor().visible);
    t.feed(b"\x1b[?25h\x1b[6 q");
    assert!(t.cursor().visible);
    assert_eq!(t.cursor().shape, CursorShape::Beam);
    t.feed(b"\x1b[3 q");
    assert_eq!(t.cursor().shape, CursorShape::BlinkUnderline);
    t.feed(b"\x1b[2 q");
    assert_eq!(t.cursor().shape, CursorShape::Block);
}

#[test]
fn colors_and_attributes() {
    let mut t = term(40, 3);
    t.feed(b"\x1b[31mred\x1b[1mbold\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[48;5;200mbg\x1b[0m\x1b[4;9;3munder\x1b[0m");
    let runs = t.line(0).runs;
    let got: Vec<(&str, Style)> = runs.iter().map(|r| (r.text.as_str(), r.style)).collect();
    let st = |fg, bg, f| Style { fg, bg, flags: f };
    assert_eq!(
        got,
        vec![
            ("red", st(Color::Indexed(1), Color::Default, 0)),
            ("bold", st(Color::Indexed(1), Color::Default, flags::BOLD)),
            (" ", Style::default()),
            ("rgb", st(Color::Rgb(1, 2, 3), Color::Default, 0)),
            ("bg", st(Color::Rgb(1, 2, 3), Color::Indexed(200), 0)),
            (
                "under",
                st(
                    Color::Default,
                    Color::Default,
                    flags::UNDERLINE | flags::STRIKEOUT | flags::ITALIC
                )
            ),
        ]
    );
    t.feed(b"\r\n\x1b[2;7;8;95;104mx\x1b[0m\x1b[4:3mc\x1b[4:2md\x1b[4:4me\x1b[0m");
    let runs = t.line(1).runs;
    assert_eq!(
        runs[0].style,
        st(
            Color::Indexed(13),
            Color::Indexed(12),
            flags::DIM | flags::INVERSE | flags::HIDDEN
        )
    );
    assert_eq!(runs[1].style.flags, flags::UNDERCURL);
    assert_eq!(runs[2].style.flags, flags::DOUBLE_UNDERLINE);
    assert_eq!(
        runs[3].style.flags,
        flags::UNDERLINE,
        "dotted maps to underline"
    );
    // A coloured blank is not trimmed.
    t.feed(b"\r\n\x1b[41m \x1b[0m  ");
    assert_eq!(t.line(2).runs.len(), 1);
    assert_eq!(t.line(2).runs[0].style.bg, Color::Indexed(1));
}

#[test]
fn wide_and_combining_chars() {
    let mut t = term(10, 4);
    t.feed("日本x\r\ne\u{301}!".as_bytes());
    assert_eq!(t.line(0).text(), "日本x");
    assert_eq!(t.line(1).text(), "e\u{301}!");
    assert_eq!(t.cursor().x, 2);
    // A wide char that does not fit moves to the next row; the blank it leaves is not text.
    t.feed("\x1b[3;1Habcdefghi日".as_bytes());
    assert_eq!(t.line(2).text(), "abcdefghi");
    assert!(t.line(2).wrapped);
    assert_eq!(t.line(3).text(), "日");
}

#[test]
fn tabs_are_blanks() {
    let mut t = term(20, 2);
    t.feed(b"a\tb");
    assert_eq!(t.line(0).text(), "a       b");
}

#[test]
fn wrapped_lines_are_marked() {
    let mut t = term(10, 3);
    t.feed(b"0123456789abc\r\nnext");
    assert!(t.line(0).wrapped);
    assert!(!t.line(1).wrapped);
    assert_eq!(t.line(1).text(), "abc");
}

#[test]
fn scrolling_keeps_every_line_in_order() {
    let mut t = term(80, 24);
    let mut input = String::new();
    for i in 0..10_000 {
        input.push_str(&format!("line {i:05}\r\n"));
    }
    // Fed in pieces that split lines and escape sequences.
    for chunk in input.as_bytes().chunks(4093) {
        t.feed(chunk);
    }
    let want: Vec<String> = (0..10_000).map(|i| format!("line {i:05}")).collect();
    assert_eq!(all_text(&t), want);
    assert_eq!(t.scrollback_len(), 10_000 - 23);
}

#[test]
fn one_big_chunk_loses_nothing() {
    let mut t = term(80, 24);
    let mut input = Vec::new();
    let mut i = 0;
    while input.len() < 1 << 20 {
        input.extend_from_slice(
            format!("\x1b[3{}m{i:07}\x1b[0m {}\r\n", i % 8, "x".repeat(i % 150)).as_bytes(),
        );
        i += 1;
    }
    t.feed(&input);
    let text = all_text(&t);
    assert_eq!(
        text.len(),
        (0..i).map(|j| (8 + j % 150).div_ceil(80)).sum::<usize>()
    );
    // Join wrapped rows back into logical lines.
    let mut logical = Vec::new();
    let mut cur = String::new();
    let hist = t.scrollback(0, t.scrollback_len());
    for l in hist.iter().chain(t.lines().iter()) {
        cur.push_str(&l.text());
        if !l.wrapped {
            logical.push(std::mem::take(&mut cur));
        }
    }
    for (j, l) in logical.iter().take(i).enumerate() {
        assert_eq!(l, format!("{j:07} {}", "x".repeat(j % 150)).trim_end());
    }
    // Styles survive the compact store.
    let first = &t.scrollback(t.scrollback_len() - 1, 1)[0];
    assert_eq!(first.runs[0].style.fg, Color::Indexed(0));
    assert_eq!(first.runs[0].text, "0000000");
}

#[test]
fn plain_lines_are_compact() {
    let mut t = term(80, 24);
    let line = "z".repeat(80);
    let mut input = Vec::new();
    for _ in 0..10_023 {
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(b"\r\n");
    }
    t.feed(&input);
    assert_eq!(t.scrollback_len(), 10_000);
    let bytes = t.scrollback_bytes();
    assert!(bytes < 1_200_000, "{bytes}");
    assert!(bytes >= 800_000, "{bytes}");
    assert_eq!(t.scrollback(0, 1)[0].text(), line);
}

#[test]
fn byte_cap_evicts_oldest() {
    let mut t = Terminal::new(TermConfig {
        cols: 40,
        rows: 5,
        scrollback_bytes: 10_000,
    });
    for i in 0..5000 {
        t.feed(format!("entry {i}\r\n").as_bytes());
    }
    assert!(t.scrollback_bytes() <= 10_000);
    let n = t.scrollback_len();
    assert!(n > 500 && n < 5000, "{n}");
    let hist = t.scrollback(0, n);
    assert_eq!(hist.last().unwrap().text(), format!("entry {}", 5000 - 5));
    assert_eq!(hist[0].text(), format!("entry {}", 5000 - 4 - n));
    // Zero budget keeps nothing.
    let mut t = Terminal::new(TermConfig {
        cols: 40,
        rows: 5,
        scrollback_bytes: 0,
    });
    t.feed("a\r\n".repeat(100).as_bytes());
    assert_eq!((t.scrollback_len(), t.scrollback_bytes()), (0, 0));
}

#[test]
fn scrollback_offsets() {
    let mut t = term(20, 3);
    for i in 0..12 {
        t.feed(format!("{i}\r\n").as_bytes());
    }
    // Screen: 10, 11, "". History: 0..=9.
    assert_eq!(t.scrollback_len(), 10);
    let texts = |v: Vec<Line>| v.iter().map(Line::text).collect::<Vec<_>>();
    assert_eq!(texts(t.scrollback(0, 3)), ["7", "8", "9"]);
    assert_eq!(texts(t.scrollback(2, 3)), ["5", "6", "7"]);
    assert_eq!(texts(t.scrollback(8, 5)), ["0", "1"]);
    assert!(t.scrollback(10, 5).is_empty());
    assert!(t.scrollback(0, 0).is_empty());
}

#[test]
fn restore_history_goes_above() {
    let mut t = term(20, 3);
    t.feed(b"a\r\nb\r\nc\r\nd");
    t.restore_history(vec![Line::plain("old1"), Line::plain("old2")]);
    assert_eq!(history_text(&t, 10), ["old1", "old2", "a"]);
}

#[test]
fn alt_screen_keeps_history_out() {
    let mut t = term(20, 3);
    t.feed(b"one\r\ntwo\r\nthree\r\nfour");
    let before = t.scrollback_len();
    assert_eq!(before, 1);
    t.feed(b"\x1b[?1049h");
    assert!(t.is_alt_screen());
    assert_ne!(t.modes() & modes::ALT_SCREEN, 0);
    for i in 0..50 {
        t.feed(format!("alt {i}\r\n").as_bytes());
    }
    assert_eq!(t.scrollback_len(), before);
    t.feed(b"\x1b[?1049l");
    assert!(!t.is_alt_screen());
    assert_eq!(t.modes() & modes::ALT_SCREEN, 0);
    assert_eq!(screen_text(&t), ["two", "three", "four"]);
    assert_eq!(t.scrollback_len(), before);
}

/// The alternate screen's cells exist only while it is shown (a pane that never uses it does
/// not pay for a second screen): entered after resizes, it has the screen's size; each entry
/// starts blank; resizes while on it keep both screens right.
#[test]
fn alt_screen_is_made_on_entry_at_the_screens_size() {
    let mut t = term(10, 3);
    t.feed(b"keep me");
    t.resize(30, 5);
    t.feed(b"\x1b[?1049h\x1b[44m\x1b[2J\x1b[5;1Hbottom\x1b[1;25Hright");
    let alt = screen_text(&t);
    assert_eq!(alt.len(), 5);
    assert_eq!(alt[0], format!("{}right", " ".repeat(24)));
    assert_eq!(alt[4], "bottom");
    t.resize(20, 4);
    assert_eq!(screen_text(&t).len(), 4);
    t.feed(b"\x1b[0m\x1b[?1049l");
    assert_eq!(screen_text(&t), ["keep me", "", "", ""]);
    // A second visit starts blank, and the first one's text is gone.
    t.feed(b"\x1b[?1049h");
    assert!(
        screen_text(&t).iter().all(String::is_empty),
        "{:?}",
        screen_text(&t)
    );
    t.feed(b"\x1b[4;20Hx");
    assert_eq!(screen_text(&t)[3], format!("{}x", " ".repeat(19)));
    t.feed(b"\x1b[?1049l");
    assert_eq!(screen_text(&t)[0], "keep me");
    // A reset (RIS) while on it comes back to a blank primary screen, and the alternate one
    // still works after.
    t.feed(b"\x1b[?1049h\x1b7\x1b[2;3Hsaved\x1bc");
    assert!(!t.is_alt_screen());
    assert!(screen_text(&t).iter().all(String::is_empty));
    t.feed(b"\x1b[?1049h\x1b[3;1Hagain\x1b[?1049l");
    assert!(screen_text(&t).iter().all(String::is_empty));
}

#[test]
fn mode_bits() {
    let mut t = term(20, 3);
    let base = t.modes();
    assert_eq!(
        base & (modes::BRACKETED_PASTE | modes::MOUSE_CLICK | modes::APP_CURSOR),
        0
    );
    t.feed(b"\x1b[?2004h");
    assert_ne!(t.modes() & modes::BRACKETED_PASTE, 0);
    t.feed(b"\x1b[?1000h\x1b[?1006h");
    assert_ne!(t.modes() & modes::MOUSE_CLICK, 0);
    assert_ne!(t.modes() & modes::MOUSE_SGR, 0);
    t.feed(b"\x1b[?1002h");
    assert_ne!(t.modes() & modes::MOUSE_DRAG, 0);
    t.feed(b"\x1b[?1003h");
    assert_ne!(t.modes() & modes::MOUSE_MOTION, 0);
    t.feed(b"\x1b[?1h\x1b=");
    assert_ne!(t.modes() & modes::APP_CURSOR, 0);
    assert_ne!(t.modes() & modes::APP_KEYPAD, 0);
    t.feed(b"\x1b[?1004h");
    assert_ne!(t.modes() & modes::FOCUS_EVENTS, 0);
    t.feed(b"\x1b[>1u");
    assert_ne!(t.modes() & modes::KITTY_KEYBOARD, 0);
    t.feed(b"\x1b[<u\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1l");
    assert_eq!(
        t.modes()
            & (modes::BRACKETED_PASTE
                | modes::MOUSE_CLICK
                | modes::APP_CURSOR
                | modes::KITTY_KEYBOARD),
        0
    );
}

#[test]
fn title() {
    let mut t = term(20, 3);
    assert_eq!(t.title(), "");
    t.feed(b"\x1b]0;first\x07");
    assert_eq!(t.title(), "first");
    t.feed(b"\x1b]2;sec");
    t.feed(b"ond\x1b\\");
    assert_eq!(t.title(), "second");
    // Titles are capped at MAX_TITLE bytes, cut at a character boundary.
    let long = format!("\x1b]2;a{}\x07", "é".repeat(100_000));
    t.feed(long.as_bytes());
    assert!(t.title().len() <= quil_term::MAX_TITLE);
    assert!(t.title().len() >= quil_term::MAX_TITLE - 1);
    assert!(t.title().starts_with("aé"));
}

#[test]
fn oversized_clipboard_is_ignored() {
    let mut t = term(20, 3);
    // Base64 of MAX_CLIPBOARD + 3 bytes: decoded, just over the cap.
    let payload = "QUFB".repeat(quil_term::MAX_CLIPBOARD / 3 + 1);
    t.feed(format!("\x1b]52;c;{payload}\x07").as_bytes());
    assert_eq!(t.take_clipboard(), None);
    t.feed(b"\x1b]52;c;aGVsbG8=\x07");
    assert_eq!(t.take_clipboard().as_deref(), Some("hello"));
}

#[test]
fn osc7_cwd() {
    let mut t = term(20, 3);
    assert_eq!(t.cwd(), None);
    t.feed(b"\x1b]7;file://host/home/me/my%20dir\x07");
    assert_eq!(t.cwd(), Some("/home/me/my dir"));
    t.feed(b"text\x1b]7;file://ho");
    assert_eq!(t.cwd(), Some("/home/me/my dir"));
    t.feed(b"st/tmp/x%20y\x1b");
    t.feed(b"\\more");
    assert_eq!(t.cwd(), Some("/tmp/x y"));
    assert_eq!(t.line(0).text(), "textmore");
}

#[test]
fn meta_changes_are_reported_once() {
    let mut t = term(20, 3);
    assert!(!t.take_meta_changed());
    t.feed(b"plain output");
    assert!(!t.take_meta_changed());
    t.feed(b"\x1b]0;title\x07");
    assert!(t.take_meta_changed());
    assert!(!t.take_meta_changed(), "reported once");
    t.feed(b"\x1b]0;title\x07\x1b]7;file://h/tmp\x07");
    assert!(t.take_meta_changed(), "the cwd changed, the title did not");
    t.feed(b"\x1b]7;file://h/tmp\x07");
    assert!(!t.take_meta_changed(), "same cwd again");
}

#[test]
fn responses_clipboard_bell() {
    let mut t = term(20, 5);
    t.feed(b"ab\r\ncd\x1b[6n");
    assert_eq!(t.take_responses(), b"\x1b[2;3R");
    assert!(t.take_responses().is_empty());
    t.feed(b"\x1b[c");
    assert_eq!(t.take_responses(), b"\x1b[?6c");
    assert!(!t.take_bell());
    t.feed(b"\x07");
    assert!(t.take_bell());
    assert!(!t.take_bell());
    t.feed(b"\x1b]52;c;aGVsbG8=\x07");
    assert_eq!(t.take_clipboard().as_deref(), Some("hello"));
    assert_eq!(t.take_clipboard(), None);
}

#[test]
fn desktop_notifications_from_programs() {
    let mut t = term(20, 5);
    t.feed(b"\x1b]9;build done\x07\x1b]9;4;3;50\x07");
    t.feed(b"\x1b]777;notify;CI;tests \x1bx passed\x1b\\");
    t.feed(b"\x1b]99;i=1:p=body;the body\x07\x1b]99;;a title\x07\x1b]777;other;x\x07");
    assert_eq!(
        t.take_notifications(),
        [
            (String::new(), "build done".to_string()),
            ("CI".to_string(), "tests ".to_string()),
            (String::new(), "the body".to_string()),
            ("a title".to_string(), String::new()),
        ],
        "ConEmu progress, a cut-off body and other OSC 777 commands are not notifications"
    );
    assert!(t.take_notifications().is_empty());
    assert!(!t.take_bell(), "a BEL ending an OSC is not a bell");
    // An ESC ends the string, as in vte: what follows `ESC x` is printed.
    assert_eq!(t.line(0).text(), " passed");
}

#[test]
fn synchronized_output() {
    let mut t = term(20, 3);
    t.feed(b"before");
    t.feed(b"\x1b[?2026hhidden");
    assert!(t.sync_pending());
    assert_eq!(t.line(0).text(), "before");
    assert!(!t.flush_sync_if_expired());
    t.feed(b"\x1b[?2026l");
    assert!(!t.sync_pending());
    assert_eq!(t.line(0).text(), "beforehidden");

    // Begin without end: shows once the timeout passed.
    t.feed(b"\x1b[?2026h!");
    assert!(t.sync_pending());
    assert_eq!(t.line(0).text(), "beforehidden");
    std::thread::sleep(Duration::from_millis(200));
    assert!(t.flush_sync_if_expired());
    assert!(!t.sync_pending());
    assert_eq!(t.line(0).text(), "beforehidden!");
    assert!(!t.flush_sync_if_expired());
}

#[test]
fn big_synchronized_update_loses_no_lines() {
    let mut t = term(80, 24);
    let mut input = b"\x1b[?2026h".to_vec();
    for i in 0..20_000 {
        input.extend_from_slice(format!("sync {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\x1b[?2026l");
    for chunk in input.chunks(65536) {
        t.feed(chunk);
    }
    let want: Vec<String> = (0..20_000).map(|i| format!("sync {i}")).collect();
    assert_eq!(all_text(&t), want);
}

#[test]
fn resize_clamps_and_moves_rows_to_history() {
    let mut t = term(20, 5);
    t.feed(b"1\r\n2\r\n3\r\n4\r\n5");
    t.resize(20, 2);
    assert_eq!(t.size(), (20, 2));
    assert_eq!(screen_text(&t), ["4", "5"]);
    assert_eq!(history_text(&t, 10), ["1", "2", "3"]);
    t.resize(0, 0);
    assert_eq!(t.size(), (2, 1));
    assert_eq!(t.lines().len(), 1);
    t.feed("日本語".as_bytes());
    t.resize(60000, 60000);
    let (c, r) = t.size();
    assert!(c >= 80 && r >= 24 && c < 60000 && r < 60000);
    assert_eq!(t.lines().len(), r as usize);
}

#[test]
fn rewrap_on_narrowing_keeps_text() {
    let mut t = term(20, 4);
    t.feed(b"abcdefghijklmnop\r\nxyz");
    t.resize(8, 4);
    let all = all_text(&t);
    assert_eq!(all, ["abcdefgh", "ijklmnop", "xyz"]);
}

#[test]
fn growing_brings_history_back() {
    let mut t = term(20, 5);
    t.feed(b"1\r\n\x1b[31m2\x1b[0m\r\n3\r\n4\r\n5");
    t.resize(20, 2);
    assert_eq!(screen_text(&t), ["4", "5"]);
    assert_eq!(t.scrollback_len(), 3);
    t.resize(20, 4);
    assert_eq!(screen_text(&t), ["2", "3", "4", "5"]);
    assert_eq!(t.line(0).runs[0].style.fg, Color::Indexed(1));
    assert_eq!((t.cursor().x, t.cursor().y), (1, 3));
    assert_eq!(t.scrollback_len(), 1);
    t.resize(20, 10);
    assert_eq!(screen_text(&t)[..6], ["1", "2", "3", "4", "5", ""]);
    assert_eq!(t.scrollback_len(), 0);
    assert_eq!(t.cursor().y, 4);
    // Output continues below; everything is still there, in order.
    t.feed(b"\r\n6");
    assert_eq!(all_text(&t), ["1", "2", "3", "4", "5", "6"]);
}

#[test]
fn growing_keeps_wide_and_long_lines_intact() {
    let mut t = term(10, 3);
    t.feed("日本語\r\n0123456789abc\r\nx\r\ny".as_bytes());
    // History: 日本語, 0123456789 (wrapped). Screen: abc, x, y.
    t.resize(6, 3);
    t.resize(6, 8);
    let all = all_text(&t);
    let joined: String = all.concat();
    assert!(
        joined.contains("日本語") && joined.contains("0123456789abc"),
        "{all:?}"
    );
    assert!(all.iter().all(|l| !l.contains('\u{0}')));
    t.resize(10, 8);
    assert_eq!(all_text(&t).concat(), "日本語0123456789abcxy");
}

#[test]
fn erase_saved_lines_clears_history() {
    let mut t = term(20, 3);
    t.feed("a\r\n".repeat(50).as_bytes());
    assert!(t.scrollback_len() > 40);
    // What `clear` sends: the screen goes to history (2J), then history is dropped (3J).
    t.feed(b"\x1b[H\x1b[2J\x1b[3");
    t.feed(b"J");
    assert_eq!(t.scrollback_len(), 0);
    assert_eq!(t.scrollback_bytes(), 0);
    t.feed(b"b\r\nc\r\nd\r\ne");
    assert_eq!(history_text(&t, 10), ["b"]);
    // Lines that scroll off after the 3J in the same read are kept (the screen is not erased).
    t.feed(b"\r\nold1\r\nold2\r\nold3\r\n\x1b[3Jnew1\r\nnew2\r\nnew3\r\nnew4");
    assert_eq!(history_text(&t, 10), ["old2", "old3", "new1"]);
    // Inside a synchronized update it takes effect when the update is shown.
    t.feed(b"\x1b[?2026h\r\nx1\r\nx2\r\nx3\r\n\x1b[3Jy1\r\ny2\r\ny3\r\ny4");
    assert_eq!(history_text(&t, 10), ["old2", "old3", "new1"]);
    t.feed(b"\x1b[?2026l");
    assert_eq!(history_text(&t, 10), ["x2", "x3", "y1"]);
    // In the alternate screen it leaves the primary history alone.
    t.feed(b"\x1b[?1049h\x1b[3J\x1b[?1049l");
    assert_eq!(t.scrollback_len(), 3);
}

#[test]
fn idle_flush_keeps_state() {
    let mut t = term(20, 3);
    t.feed("line\r\n".repeat(5000).as_bytes());
    let n = t.scrollback_len();
    std::thread::sleep(Duration::from_millis(600));
    assert!(!t.flush_sync_if_expired());
    assert_eq!(t.scrollback_len(), n);
    t.feed(b"more\r\n");
    assert_eq!(t.scrollback_len(), n + 1);
    assert_eq!(t.line(1).text(), "more");
}
