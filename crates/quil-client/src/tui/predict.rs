//! Predictive local echo, as mosh does it: on a slow link, a printable key typed into a pane
//! shows at once, underlined, where the pane's cursor is, before the daemon's screen confirms
//! it. No I/O: the app tells it the keys it sends and the screens it receives, and draws the
//! lines and cursor it gives back.
//!
//! Guesses show only while the pane's echoes are slow (the smoothed time from a key to the
//! screen that shows it is over [`SHOW_ABOVE`]; hidden again under [`HIDE_BELOW`]), and only
//! in an *epoch* whose echo was already confirmed: after Enter, any other key that is not a
//! plain character, a paste, a wrong guess, or the cursor found anywhere but just after the
//! last confirmed echo (the program printed something), the next key's echo has to come back
//! from the daemon before the guesses show again. So a password prompt, which echoes nothing,
//! never shows what is typed, and a full-screen program (the alternate screen) gets no guesses
//! at all.

use super::pane::{cells, PaneScreen};
use quil_proto::screen::flags;
use quil_proto::{Line, PaneId, Run, Style};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Guesses show once the smoothed echo time is above this...
const SHOW_ABOVE: Duration = Duration::from_millis(30);
/// ...and stop showing once it is back below this.
const HIDE_BELOW: Duration = Duration::from_millis(20);
/// A guess still not on the screen this long (plus twice the echo time) after its key was
/// wrong: the program did not echo it there.
const GIVE_UP: Duration = Duration::from_millis(250);
/// A guess not on show (its epoch not confirmed yet) is kept this long for its echo: the
/// first echo on a link may take any time up to this.
const GIVE_UP_UNSHOWN: Duration = Duration::from_secs(10);

/// A key's character, guessed to appear at (`col`, `row`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Guess {
    row: u16,
    col: u16,
    ch: char,
    at: Instant,
}

#[derive(Debug, Default)]
struct Pane {
    /// Oldest first; each one column right of the one before.
    guesses: Vec<Guess>,
    /// This epoch's echo was seen: its guesses are shown.
    confirmed: bool,
    /// Where the cursor was left by the last echo confirmed (column, row).
    after_echo: Option<(u16, u16)>,
    /// Smoothed time from a key to the screen showing it (each pane's own: with several
    /// daemons, one may be far and another near).
    srtt: Option<Duration>,
    slow: bool,
}

impl Pane {
    fn end_epoch(&mut self) {
        self.guesses.clear();
        self.confirmed = false;
    }

    fn sample(&mut self, rtt: Duration) {
        let srtt = match self.srtt {
            Some(s) => (s * 7 + rtt) / 8,
            None => rtt,
        };
        self.srtt = Some(srtt);
        if srtt > SHOW_ABOVE {
            self.slow = true;
        } else if srtt < HIDE_BELOW {
            self.slow = false;
        }
    }
}

#[derive(Debug, Default)]
pub struct Predictor {
    panes: HashMap<PaneId, Pane>,
}

impl Predictor {
    /// A key went to `pane`, showing `screen`: `ch` when it types a plain character. True when
    /// what the pane shows changed.
    pub fn typed(
        &mut self,
        pane: PaneId,
        screen: &PaneScreen,
        ch: Option<char>,
        now: Instant,
    ) -> bool {
        let before = self.shown(pane);
        let p = self.panes.entry(pane).or_default();
        let (col, row) = match p.guesses.last() {
            Some(g) => (g.col + 1, g.row),
            None => (screen.cursor.x, screen.cursor.y),
        };
        if p.guesses.is_empty() && p.after_echo != Some((col, row)) {
            // The program moved the cursor since the last echo (a new prompt, say): whether it
            // echoes there is not known yet.
            p.confirmed = false;
        }
        let alt = screen.modes & quil_proto::modes::ALT_SCREEN != 0;
        match ch.filter(|c| !c.is_control() && unicode_width(*c) == Some(1)) {
            // The last column wraps, which a guess does not follow.
            Some(ch) if !alt && col + 1 < screen.cols && row < screen.rows => {
                p.guesses.push(Guess {
                    row,
                    col,
                    ch,
                    at: now,
                })
            }
            _ => p.end_epoch(),
        }
        before || self.shown(pane)
    }

    /// `pane`'s screen is now `screen`: guesses it shows are confirmed (and time the echo),
    /// one it contradicts, or that is overdue, ends the epoch. True when what the pane shows
    /// changed.
    pub fn on_screen(&mut self, pane: PaneId, screen: &PaneScreen, now: Instant) -> bool {
        let before = self.shown(pane);
        let Some(p) = self.panes.get_mut(&pane) else {
            return false;
        };
        if p.guesses.is_empty() {
            return false;
        }
        while let Some(&g) = p.guesses.first() {
            // The cursor just past it too, on its row: a cell may hold that character already
            // (a blank, or text typed over), which is no echo.
            let past = screen.cursor.y == g.row && screen.cursor.x > g.col;
            if !(past && char_at(screen, g.row, g.col) == Some(g.ch)) {
                break;
            }
            p.guesses.remove(0);
            p.sample(now.duration_since(g.at));
            p.after_echo = Some((g.col + 1, g.row));
            // A blank proves nothing: the cell was blank already.
            if g.ch != ' ' {
                p.confirmed = true;
            }
        }
        // Late against the echo time just measured, which the echoes above may have raised.
        // A guess on show is wrong soon after its echo was due. One not on show costs nothing
        // while it waits, so it waits much longer: the first echo on a link not yet timed (or
        // one that just got slower) may take seconds, and a screen in between (a prompt
        // redrawn) must not cost that echo its timing.
        let give_up = GIVE_UP + 2 * p.srtt.unwrap_or_default();
        let give_up = if p.confirmed {
            give_up
        } else {
            give_up.max(GIVE_UP_UNSHOWN)
        };
        let wrong = p.guesses.first().is_some_and(|g| {
            let moved_off = screen.cursor.y != g.row || screen.cursor.x > g.col;
            let written = char_at(screen, g.row, g.col).is_some_and(|c| c != ' ');
            written || moved_off || now.duration_since(g.at) > give_up
        });
        if wrong {
            p.end_epoch();
        }
        before || self.shown(pane)
    }

    /// Input to `pane` was dropped (its daemon is unreachable): its guesses go.
    pub fn forget(&mut self, pane: PaneId) {
        if let Some(p) = self.panes.get_mut(&pane) {
            p.end_epoch();
        }
    }

    /// Only panes for which `keep` holds keep their guesses (the others are gone).
    pub fn retain(&mut self, keep: impl Fn(PaneId) -> bool) {
        self.panes.retain(|id, _| keep(*id));
    }

    /// Guesses of `pane` are on show.
    fn shown(&self, pane: PaneId) -> bool {
        self.panes
            .get(&pane)
            .is_some_and(|p| p.slow && p.confirmed && !p.guesses.is_empty())
    }

    fn shown_guesses(&self, pane: PaneId) -> &[Guess] {
        match self.panes.get(&pane) {
            Some(p) if self.shown(pane) => &p.guesses,
            _ => &[],
        }
    }

    /// Row `row` of `pane` as shown: `line` with the guesses on it, underlined.
    pub fn line<'a>(&self, pane: PaneId, row: u16, line: &'a Line) -> Cow<'a, Line> {
        let on_row: Vec<(u16, char)> = self
            .shown_guesses(pane)
            .iter()
            .filter(|g| g.row == row)
            .map(|g| (g.col, g.ch))
            .collect();
        if on_row.is_empty() {
            Cow::Borrowed(line)
        } else {
            Cow::Owned(put_chars(line, &on_row))
        }
    }

    /// Where `pane`'s cursor shows: after the last guess shown.
    pub fn cursor(&self, pane: PaneId) -> Option<(u16, u16)> {
        self.shown_guesses(pane).last().map(|g| (g.col + 1, g.row))
    }
}

fn unicode_width(c: char) -> Option<usize> {
    unicode_width::UnicodeWidthChar::width(c)
}

/// The character at (`col`, `row`) of `screen` (a space where nothing is written).
fn char_at(screen: &PaneScreen, row: u16, col: u16) -> Option<char> {
    let line = screen.lines.get(usize::from(row))?;
    let cell = cells(line)
        .into_iter()
        .find(|c| c.col <= col && col < c.col + c.width);
    Some(match cell {
        Some(c) if c.col == col => c.text.chars().next().unwrap_or(' '),
        // The right half of a wide character.
        Some(_) => '\0',
        None => ' ',
    })
}

/// `line` with each `(col, ch)` written over it, underlined (in the style of the cell it
/// covers). A character that would split a wide one is left out.
fn put_chars(line: &Line, puts: &[(u16, char)]) -> Line {
    let existing = cells(line);
    let end = existing
        .iter()
        .map(|c| c.col + c.width)
        .chain(puts.iter().map(|(col, _)| col + 1))
        .max()
        .unwrap_or(0);
    // Per column: what is drawn there, or `None` for the right half of a wide character.
    let mut cols: Vec<Option<(String, Style)>> =
        vec![Some((" ".to_string(), Style::default())); usize::from(end)];
    for c in &existing {
        let at = usize::from(c.col);
        cols[at] = Some((c.text.clone(), c.style));
        for k in 1..usize::from(c.width) {
            if let Some(slot) = cols.get_mut(at + k) {
                *slot = None;
            }
        }
    }
    for &(col, ch) in puts {
        let at = usize::from(col);
        let wide = existing
            .iter()
            .any(|c| c.width > 1 && c.col <= col && col < c.col + c.width);
        if wide {
            continue;
        }
        let mut style = cols[at].as_ref().map(|(_, s)| *s).unwrap_or_default();
        style.flags |= flags::UNDERLINE;
        cols[at] = Some((ch.to_string(), style));
    }
    let mut runs: Vec<Run> = Vec::new();
    for (text, style) in cols.into_iter().flatten() {
        match runs.last_mut() {
            Some(r) if r.style == style => r.text.push_str(&text),
            _ => runs.push(Run { style, text }),
        }
    }
    Line {
        runs,
        wrapped: line.wrapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_proto::Cursor;

    fn screen(text: &str, cursor: (u16, u16)) -> PaneScreen {
        PaneScreen {
            cols: 40,
            rows: 5,
            lines: vec![Line::plain(text)],
            cursor: Cursor {
                x: cursor.0,
                y: cursor.1,
                visible: true,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const P: PaneId = PaneId(7);

    /// A predictor that has seen slow echoes, at `t`.
    fn slow(t: Instant) -> Predictor {
        let mut p = Predictor::default();
        let s = screen("$ ", (2, 0));
        p.typed(P, &s, Some('x'), t);
        p.on_screen(P, &screen("$ x", (3, 0)), t + Duration::from_millis(100));
        p.typed(P, &screen("$ x", (3, 0)), None, t);
        assert!(p.panes[&P].slow);
        p
    }

    #[test]
    fn guesses_show_underlined_once_the_epoch_is_confirmed() {
        let t = Instant::now();
        let mut p = slow(t);
        let ms = |n| t + Duration::from_millis(n);
        // A new epoch: the first key is not shown until its echo comes back.
        let s = screen("$ ", (2, 0));
        assert!(!p.typed(P, &s, Some('l'), ms(200)));
        assert_eq!(p.line(P, 0, &s.lines[0]), Cow::Borrowed(&s.lines[0]));
        assert_eq!(p.cursor(P), None);
        let s = screen("$ l", (3, 0));
        p.on_screen(P, &s, ms(300));
        // Confirmed: the next keys show at once, where the cursor will be.
        assert!(p.typed(P, &s, Some('s'), ms(310)));
        p.typed(P, &s, Some(' '), ms(311));
        let shown = p.line(P, 0, &s.lines[0]);
        assert_eq!(shown.text(), "$ ls");
        assert!(shown
            .runs
            .iter()
            .any(|r| r.text == "s " && r.style.flags & flags::UNDERLINE != 0));
        assert_eq!(p.cursor(P), Some((5, 0)));
        // The daemon's screen catches up: nothing left to guess.
        let s = screen("$ ls ", (5, 0));
        assert!(p.on_screen(P, &s, ms(420)));
        assert_eq!(p.cursor(P), None);
        assert_eq!(p.line(P, 0, &s.lines[0]), Cow::Borrowed(&s.lines[0]));
    }

    #[test]
    fn no_echo_never_shows_and_a_wrong_guess_ends_the_epoch() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut p = slow(t);
        // A password prompt: nothing echoes, so nothing typed is ever shown.
        let s = screen("Password: ", (10, 0));
        for (i, c) in "hunter2".chars().enumerate() {
            assert!(!p.typed(P, &s, Some(c), ms(200 + i as u64)));
        }
        assert_eq!(p.cursor(P), None);
        p.on_screen(P, &s, ms(2000));
        assert_eq!(p.cursor(P), None, "still not shown");
        assert!(
            !p.panes[&P].guesses.is_empty(),
            "kept for a late first echo"
        );
        p.on_screen(P, &s, ms(12_300));
        assert!(
            p.panes[&P].guesses.is_empty(),
            "overdue guesses are dropped"
        );

        // Confirmed, then the program writes something else where a guess was.
        let s = screen("> a", (3, 0));
        p.typed(P, &screen("> ", (2, 0)), Some('a'), ms(3000));
        p.on_screen(P, &s, ms(3100));
        p.typed(P, &s, Some('b'), ms(3110));
        assert_eq!(p.cursor(P), Some((4, 0)));
        assert!(p.on_screen(P, &screen("> aB", (4, 0)), ms(3200)));
        assert_eq!(p.cursor(P), None);
        // The epoch starts over: the next key waits for its echo again.
        p.typed(P, &screen("> aB", (4, 0)), Some('c'), ms(3210));
        assert_eq!(p.cursor(P), None);
    }

    #[test]
    fn a_first_echo_slower_than_any_guess_still_times_the_link() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut p = Predictor::default();
        let s = screen("$ ", (2, 0));
        p.typed(P, &s, Some('e'), t);
        p.typed(P, &s, Some('c'), ms(100));
        // The prompt is drawn again (a resize) while the keys are on their way...
        p.on_screen(P, &s, ms(1000));
        // ...and the first one's echo comes back after two seconds: the link is slow, and the
        // epoch confirmed, so the second key (its echo due two seconds after it) shows, and
        // so does the next.
        let s = screen("$ e", (3, 0));
        p.on_screen(P, &s, ms(2000));
        assert_eq!(p.cursor(P), Some((4, 0)));
        assert!(p.typed(P, &s, Some('h'), ms(2010)));
        assert_eq!(p.cursor(P), Some((5, 0)));
        // A guess on show that is long overdue was wrong: it goes.
        assert!(p.on_screen(P, &s, ms(9000)));
        assert_eq!(p.cursor(P), None);
    }

    #[test]
    fn a_prompt_after_an_echo_starts_a_new_epoch() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut p = slow(t);
        // `read -n1 -p "Continue? "`: the answer echoes, which confirms the epoch...
        let s = screen("Continue? ", (10, 0));
        p.typed(P, &s, Some('y'), ms(200));
        p.on_screen(P, &screen("Continue? y", (11, 0)), ms(300));
        assert!(p.panes[&P].confirmed);
        // ...then `read -s -p "Password: "` on the next line, with no key in between: the
        // cursor is not where the echo left it, so nothing typed there shows.
        let mut s = screen("Continue? y", (10, 1));
        s.lines.push(Line::plain("Password: "));
        assert!(!p.typed(P, &s, Some('h'), ms(400)));
        assert_eq!(p.cursor(P), None);
        assert_eq!(p.line(P, 1, &s.lines[1]), Cow::Borrowed(&s.lines[1]));
        // A guessed blank that the cursor passes proves no echo either.
        let s = screen("> ", (2, 0));
        p.typed(P, &s, None, ms(500));
        p.typed(P, &s, Some(' '), ms(510));
        p.on_screen(P, &screen("> ", (3, 0)), ms(600));
        assert!(!p.panes[&P].confirmed);
    }

    #[test]
    fn dropped_input_takes_its_guesses_along() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut p = slow(t);
        let s = screen("$ a", (3, 0));
        p.typed(P, &screen("$ ", (2, 0)), Some('a'), ms(200));
        p.on_screen(P, &s, ms(300));
        p.typed(P, &s, Some('b'), ms(310));
        assert_eq!(p.cursor(P), Some((4, 0)));
        p.forget(P);
        assert_eq!(p.cursor(P), None);
    }

    #[test]
    fn fast_echoes_show_nothing_and_full_screen_programs_get_no_guesses() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut p = Predictor::default();
        let mut s = screen("$ ", (2, 0));
        for (i, c) in "echo".char_indices() {
            p.typed(P, &s, Some(c), ms(i as u64 * 10));
            let text = format!("$ {}", &"echo"[..=i]);
            s = screen(&text, (3 + i as u16, 0));
            p.on_screen(P, &s, ms(i as u64 * 10 + 1));
            p.typed(P, &s, Some('!'), ms(i as u64 * 10 + 2));
            assert_eq!(p.cursor(P), None, "a 1 ms echo needs no guess");
            p.typed(P, &s, None, ms(i as u64 * 10 + 3));
        }
        let mut p = slow(t);
        let mut vim = screen("", (0, 0));
        vim.modes |= quil_proto::modes::ALT_SCREEN;
        p.typed(P, &vim, Some('i'), ms(200));
        assert!(p.panes[&P].guesses.is_empty());
    }

    #[test]
    fn guesses_keep_the_cells_style_and_never_split_a_wide_char() {
        let mut line = Line::plain("ab");
        line.runs.push(Run {
            style: Style {
                flags: flags::BOLD,
                ..Default::default()
            },
            text: "界c".into(),
        });
        let out = put_chars(&line, &[(1, 'X'), (3, 'Y'), (4, 'Z'), (7, 'W')]);
        assert_eq!(out.text(), "aX界Z  W");
        let z = out.runs.iter().find(|r| r.text.contains('Z')).expect("Z");
        assert_eq!(z.style.flags, flags::BOLD | flags::UNDERLINE);
    }
}
