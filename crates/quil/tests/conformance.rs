//! Terminal conformance, end to end: real programs in real panes, read back with `quil capture`.
//!
//! - vttest (the Debian package, `/usr/bin/vttest`) in an 80x24 pane: the screens of its menus
//!   1 (cursor movements), 2 (screen features), 3 (character sets), 8 (VT102 insert/delete) and
//!   the ISO 6429 tests of menu 11, each against an insta snapshot (`tests/snapshots/`) that was
//!   checked by eye against what vttest says the screen must show. vttest's 132-column screens
//!   are left out: a pane's width is its layout's, so DECCOLM does not change it (see
//!   docs/terminal-conformance.md).
//! - The eight reproductions of issue 15, as `printf` in a 120x40 pane.
//! - `capture --ansi` replayed into a fresh pane gives the same screen.
//!
//! Every check runs against a daemon with the bulk-output fast path and one without
//! (`QUIL_FAST_PATH=0`), and the two must agree.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Home;

/// A daemon started with the fast path on or off.
fn daemon(fast: bool) -> Home {
    let h = Home::new();
    let out = h
        .cmd(&["daemon", "start"])
        .env("QUIL_FAST_PATH", if fast { "1" } else { "0" })
        .output()
        .expect("run quil daemon start");
    assert!(out.status.success(), "{out:?}");
    h
}

fn vttest_available() -> bool {
    if Path::new("/usr/bin/vttest").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "vttest is missing (scripts/test.sh installs it)"
    );
    eprintln!("skipping: vttest is not installed");
    false
}

/// The pane's screen once it has stopped changing for half a second and shows `ready`.
fn settled(h: &Home, pane: &str, ready: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    let mut same = 0;
    loop {
        let screen = h.capture(pane);
        if screen == last {
            same += 1;
        } else {
            same = 0;
            last = screen;
        }
        if same >= 2 && ready.iter().any(|r| last.contains(r)) {
            return last;
        }
        assert!(Instant::now() < deadline, "screen never settled:\n{last}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

const MAIN_MENU: &str = "Enter choice number (0 - 12)";
const MENU_11: &str = "Enter choice number (0 - 8)";
const PUSH_RETURN: &str = "RETURN";

/// Chooses `item` at a menu, then presses Return on every screen until the menu `back` is
/// shown again. Returns the screens seen, in order.
fn walk(h: &Home, pane: &str, item: &str, back: &str) -> Vec<String> {
    h.ok(&["send", "--pane", pane, "--enter", item]);
    let mut screens = Vec::new();
    loop {
        let screen = settled(h, pane, &[PUSH_RETURN, back]);
        if screen.contains(back) && !screen.contains(PUSH_RETURN) {
            return screens;
        }
        screens.push(screen);
        assert!(screens.len() < 40, "menu {item} never ended");
        h.ok(&["send-keys", "--pane", pane, "Enter"]);
    }
}

/// vttest in an 80x24 pane of a daemon with the fast path on or off, at its main menu.
fn vttest(fast: bool) -> (Home, String) {
    let h = daemon(fast);
    let pane = h.new_tab(&["--", "vttest"]);
    h.ok(&["resize", "--pane", &pane, "80x24"]);
    settled(&h, &pane, &[MAIN_MENU]);
    (h, pane)
}

/// The screens of menu `item` of the main menu, with both daemons, which must agree; `keep`
/// picks the screens that are checked.
fn vttest_screens(item: &str, keep: &[usize]) -> String {
    let mut seen: Option<Vec<String>> = None;
    for fast in [true, false] {
        let (h, pane) = vttest(fast);
        let screens = walk(&h, &pane, item, MAIN_MENU);
        match &seen {
            None => seen = Some(screens),
            Some(first) => assert_eq!(first, &screens, "fast path on vs off, menu {item}"),
        }
    }
    let screens = seen.unwrap_or_default();
    let mut out = String::new();
    for &k in keep {
        let screen = screens
            .get(k)
            .unwrap_or_else(|| panic!("menu {item}: no screen {k} of {}", screens.len()));
        out.push_str(&format!("=== screen {}\n{screen}", k + 1));
    }
    out
}

#[test]
fn vttest_menu_1_cursor_movements() {
    if !vttest_available() {
        return;
    }
    // Screens 2 and 4 are the same tests at 132 columns.
    insta::assert_snapshot!("vttest_1", vttest_screens("1", &[0, 2, 4, 5]));
}

#[test]
fn vttest_menu_2_screen_features() {
    if !vttest_available() {
        return;
    }
    // Screens 3 and 5 are at 132 columns.
    let keep = [0, 1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    insta::assert_snapshot!("vttest_2", vttest_screens("2", &keep));
}

#[test]
fn vttest_menu_3_character_sets() {
    if !vttest_available() {
        return;
    }
    insta::assert_snapshot!("vttest_3", vttest_screens("3", &[0]));
}

#[test]
fn vttest_menu_8_insert_delete() {
    if !vttest_available() {
        return;
    }
    // The first seven screens are at 80 columns, the rest repeat them at 132.
    insta::assert_snapshot!("vttest_8", vttest_screens("8", &[0, 1, 2, 3, 4, 5, 6]));
}

/// The screens of every test in submenu `sub` of menu 11, with both daemons, which must agree.
fn vttest_menu_11(sub: &str) -> String {
    let mut seen: Option<Vec<String>> = None;
    for fast in [true, false] {
        let (h, pane) = vttest(fast);
        h.ok(&["send", "--pane", &pane, "--enter", "11"]);
        settled(&h, &pane, &[MENU_11]);
        h.ok(&["send", "--pane", &pane, "--enter", sub]);
        let menu = settled(&h, &pane, &["Enter choice number (0 - "]);
        // "Enter choice number (0 - N):"
        let prompt = menu
            .lines()
            .find_map(|l| l.trim().strip_prefix("Enter choice number (0 - "))
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no submenu prompt:\n{menu}"));
        let back = format!("Enter choice number (0 - {prompt})");
        let mut screens = vec![menu.clone()];
        for item in 1..=prompt {
            screens.extend(walk(&h, &pane, &item.to_string(), &back));
        }
        match &seen {
            None => seen = Some(screens),
            Some(first) => assert_eq!(first, &screens, "fast path on vs off, menu 11.{sub}"),
        }
    }
    let mut out = String::new();
    for (k, screen) in seen.unwrap_or_default().iter().enumerate() {
        out.push_str(&format!("=== screen {}\n{screen}", k + 1));
    }
    out
}

#[test]
fn vttest_menu_11_iso6429_cursor_movement() {
    if !vttest_available() {
        return;
    }
    insta::assert_snapshot!("vttest_11_5", vttest_menu_11("5"));
}

/// Runs `printf FORMAT` in a fresh 120x40 bash pane of each daemon, waiting for `done`
/// printed after it; returns the screen, which must be the same with the fast path on and off.
fn printf_screen(format: &str) -> String {
    let mut seen: Option<String> = None;
    for fast in [true, false] {
        let h = daemon(fast);
        let pane = h.new_tab(&["--", "bash", "--norc", "--noprofile"]);
        h.ok(&["resize", "--pane", &pane, "120x40"]);
        h.wait_for(&pane, r"[$#]\s*$");
        let script = format!("clear; printf '{format}'; sleep 0.3; read -r -s");
        h.send_line(&pane, &script);
        let screen = settled(&h, &pane, &[""]);
        h.ok(&["send-keys", "--pane", &pane, "Enter"]);
        match &seen {
            None => seen = Some(screen),
            Some(first) => assert_eq!(first, &screen, "fast path on vs off for {format:?}"),
        }
    }
    seen.unwrap_or_default()
}

fn lines(screen: &str) -> Vec<&str> {
    screen.lines().collect()
}

#[test]
fn issue_15_reproductions() {
    // 1. CUU stops at the top margin.
    let s = printf_screen(r"\033[2J\033[3;6r\033[5;1H\033[9AU\033[r\033[20H");
    assert_eq!(lines(&s)[2], "U", "{s}");
    assert_eq!(lines(&s)[0], "");
    // 2. DCH with a count past the end of the line.
    let s = printf_screen(r"0123456789\033[3G\033[200P|\n");
    assert_eq!(lines(&s)[0], "01|", "{s}");
    // 3. DECALN resets the margins and homes the cursor.
    let s = printf_screen(r"\033[5;10r\033[20;9H\033#8X\033[30H");
    assert!(lines(&s)[0].starts_with("XEEE"), "{s}");
    // 4. `CSI ? 1049 l` on the normal screen restores the cursor saved by `CSI ? 1049 h`.
    let s = printf_screen(r"one\ntwo\n\033[?1049hdialog\033[?1049l\033[30H\033[?1049lnext\n");
    assert_eq!(lines(&s)[..3], ["one", "two", "next"], "{s}");
    // 5. SGR 21 is double underline, and round-trips through `capture --ansi` (below).
    // 6. Deleting the left half of a wide char.
    let s = printf_screen(r"xy\344\270\255z\033[3G\033[PQ\n");
    assert_eq!(lines(&s)[0], "xyQz", "{s}");
    // 7 and 8: reflow of the screen and of the history.
    for fast in [true, false] {
        let h = daemon(fast);
        let pane = h.new_tab(&["--", "bash", "--norc", "--noprofile"]);
        h.ok(&["resize", "--pane", &pane, "120x10"]);
        h.wait_for(&pane, r"[$#]\s*$");
        h.send_line(
            &pane,
            "for i in $(seq 10 39); do printf \"$i %0100d\\n\" 0; done; echo end",
        );
        h.wait_for(&pane, "^end$");
        h.ok(&["resize", "--pane", &pane, "80x10"]);
        let history = h.ok(&["capture", "--pane", &pane, "--scrollback", "1000"]);
        let rows: Vec<&str> = history.lines().collect();
        assert!(rows.iter().all(|r| r.chars().count() <= 80), "{history}");
        // Each 103-column line is now two rows: 80 columns and 23.
        let first = rows
            .iter()
            .position(|r| r.starts_with("10 "))
            .unwrap_or_else(|| panic!("{history}"));
        assert_eq!(rows[first].len(), 80);
        assert_eq!(rows[first + 1], "0".repeat(23));
        h.ok(&["resize", "--pane", &pane, "120x10"]);
        let history = h.ok(&["capture", "--pane", &pane, "--scrollback", "1000"]);
        let long: Vec<&str> = history.lines().filter(|r| r.len() == 103).collect();
        assert_eq!(long.len(), 30, "every line joined again:\n{history}");
    }
}

/// `capture --ansi` output replayed into a fresh pane gives the same screen, styles included.
#[test]
fn capture_ansi_round_trips() {
    let styled = r"\033[1;2;3;4;7;9mall\033[m \033[21mdbl\033[m \033[4:3mcurl\033[m\n\033[31;42mx\033[91;102my\033[38;5;200;48;5;17mz\033[38;2;1;2;3;48;2;4;5;6mw\033[m\n\033[1m\033[21mbold-dbl\033[22mdbl\033[m \344\270\255\346\226\207 e\314\201\n";
    for fast in [true, false] {
        let h = daemon(fast);
        let pane = h.new_tab(&["--", "bash", "--norc", "--noprofile"]);
        h.ok(&["resize", "--pane", &pane, "80x10"]);
        h.wait_for(&pane, r"[$#]\s*$");
        h.send_line(&pane, &format!("clear; printf '{styled}'; read -r -s"));
        h.wait_for(&pane, "bold-dbldbl");
        let ansi = h.ok(&["capture", "--pane", &pane, "--ansi"]);
        let text = h.capture(&pane);

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("screen.ansi");
        // Lines as `capture --ansi` printed them, joined by CR LF, as a terminal needs.
        let replay: String = ansi.lines().collect::<Vec<_>>().join("\r\n");
        std::fs::write(&file, replay).expect("write the capture");
        let cat = format!("clear; cat {}; read -r -s", file.display());
        let copy = h.new_tab(&["--", "bash", "--norc", "--noprofile"]);
        h.ok(&["resize", "--pane", &copy, "80x10"]);
        h.wait_for(&copy, r"[$#]\s*$");
        h.send_line(&copy, &cat);
        h.wait_for(&copy, "bold-dbldbl");
        let again = settled(&h, &copy, &["bold-dbldbl"]);
        // The first rows hold the screen; the replaying pane shows the same text and styles.
        assert_eq!(
            h.ok(&["capture", "--pane", &copy, "--ansi"])
                .lines()
                .take(4)
                .collect::<Vec<_>>(),
            ansi.lines().take(4).collect::<Vec<_>>()
        );
        assert_eq!(
            again.lines().take(4).collect::<Vec<_>>(),
            text.lines().take(4).collect::<Vec<_>>()
        );
        assert!(ansi.contains("\x1b[0;21mdbl"), "{ansi:?}");
        assert!(ansi.contains("\x1b[0;1;21mbold-dbl"), "{ansi:?}");
    }
}
