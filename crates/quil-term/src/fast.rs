//! The bulk-output fast path: plain lines that scroll through the bottom of the screen skip
//! alacritty.
//!
//! During a flood (`cat` of a big file, a build log), almost every line is written on the
//! bottom row and scrolls away moments later. Parsing each one cell by cell in alacritty and
//! then encoding the row into the compact history is most of the daemon's work. Once the
//! terminal is in a plain state (see `Terminal::can_enter_fast`: cursor at the start of a blank
//! bottom row, full-screen scroll region, parser in ground state, ...), lines made only of
//! width-1 characters, tabs (while the stops are the default ones), SGR sequences and `CSI K`,
//! each ending in `\r\n`, are taken in here.
//! They are encoded straight into the compact history once they would have scrolled off; only
//! the last screenful is kept, as bytes, and replayed into alacritty when anything else needs
//! its state ("materialising"). Meanwhile the screen is served from this logical view:
//!
//! ```text
//!   rows 0..R-1-c     alacritty's rows c..R-2 (not yet scrolled off; c = `consumed`)
//!   next c rows       the `tail`: complete lines taken in since, oldest first
//!   row R-1           the `partial` line being written (the cursor row)
//! ```
//!
//! SGR sequences are also given to alacritty as they come, so its cursor template (the current
//! colours and attributes) is always the one to use; they change nothing else. Differential
//! tests in `lib.rs` hold this path to exactly what alacritty alone produces.

use std::collections::VecDeque;

use alacritty_terminal::term::cell::Cell;
use alacritty_terminal::vte::ansi::{Color as AColor, NamedColor};
use unicode_width::UnicodeWidthChar;

use crate::ground::{utf8_len, ESC};
use crate::scrollback::encode_text_row;

/// Longest SGR or `CSI K` sequence taken in; longer ones go the normal way.
const MAX_CSI: usize = 64;

/// A complete line taken in by the fast path.
#[derive(Default)]
pub(crate) struct FastLine {
    /// Its bytes as they came, `\r\n` included: replayed into alacritty when materialising.
    pub(crate) raw: Vec<u8>,
    /// Alacritty's cursor template (SGR state) at its start.
    pub(crate) start: Cell,
    /// Its compact-history encoding.
    pub(crate) encoded: Vec<u8>,
    /// It printed at least one char.
    pub(crate) printed: bool,
}

/// Where the fast path's scanner is inside a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    Text,
    /// After `\r`, expecting `\n`.
    Cr,
    /// After ESC, expecting `[`.
    Esc,
    /// Inside a CSI that started at `start` in `partial.raw`.
    Csi {
        start: usize,
    },
    /// Inside a multi-byte UTF-8 char.
    Utf8,
}

/// The line being written on the logical cursor row.
#[derive(Default)]
pub(crate) struct Partial {
    pub(crate) raw: Vec<u8>,
    pub(crate) start: Cell,
    /// UTF-8 of the chars printed so far (each one column wide).
    pub(crate) text: Vec<u8>,
    /// Columns used.
    pub(crate) width: usize,
    /// A char reached it (not only tabs, whose columns `text` holds as spaces): replaying
    /// `raw` then leaves that char for vte's REP.
    pub(crate) printed: bool,
    /// From which byte of `text` which template applies; empty while everything is in the
    /// default style.
    pub(crate) styles: Vec<(usize, Cell)>,
}

pub(crate) struct Fast {
    pub(crate) active: bool,
    /// Lines taken since it started.
    pub(crate) lines: usize,
    /// Lines taken in this terminal's life (for tests and curiosity).
    pub(crate) total_lines: u64,
    /// Alacritty screen rows already moved to the history (`c` above).
    pub(crate) consumed: usize,
    pub(crate) tail: VecDeque<FastLine>,
    pub(crate) partial: Partial,
    pub(crate) scan: Scan,
    /// Bytes of the UTF-8 char being read, and how many it needs.
    utf8: ([u8; 4], usize, usize),
    /// The last char taken since the fast path started: vte repeats it for REP (`CSI n b`).
    pub(crate) last_printed: Option<char>,
    /// Tab stops are every 8 columns (else a tab makes the fast path hand over).
    pub(crate) tabs_default: bool,
    /// Alacritty's cursor template, as of the last SGR.
    pub(crate) cur: Cell,
    cur_default: bool,
    /// Recycled lines, so a flood allocates nothing per line.
    spare: Vec<FastLine>,
}

impl Default for Fast {
    fn default() -> Fast {
        Fast {
            active: false,
            lines: 0,
            total_lines: 0,
            consumed: 0,
            tail: VecDeque::new(),
            partial: Partial::default(),
            scan: Scan::Text,
            utf8: ([0; 4], 0, 0),
            last_printed: None,
            tabs_default: true,
            cur: Cell::default(),
            cur_default: true,
            spare: Vec::new(),
        }
    }
}

/// What the scanner made of one step.
pub(crate) enum Step {
    /// Took bytes; keep going.
    More,
    /// A line ended (its `\r\n` taken).
    Line,
    /// An SGR sequence ended: it is `partial.raw[start..]`, to be given to alacritty.
    Sgr { start: usize },
    /// This byte (at the returned position) is not for the fast path.
    Bail,
}

fn is_default_template(c: &Cell) -> bool {
    c.fg == AColor::Named(NamedColor::Foreground)
        && c.bg == AColor::Named(NamedColor::Background)
        && c.flags.is_empty()
        && c.extra.is_none()
}

pub(crate) fn default_bg(c: &Cell) -> bool {
    c.bg == AColor::Named(NamedColor::Background)
}

impl Fast {
    /// Starts taking lines in, with alacritty's cursor template `template`.
    pub(crate) fn enter(&mut self, template: &Cell) {
        self.active = true;
        self.last_printed = None;
        self.lines = 0;
        self.consumed = 0;
        self.set_template(template);
        self.scan = Scan::Text;
        self.new_partial();
    }

    pub(crate) fn set_template(&mut self, template: &Cell) {
        self.cur = template.clone();
        self.cur_default = is_default_template(template);
    }

    fn new_partial(&mut self) {
        let p = &mut self.partial;
        p.raw.clear();
        p.text.clear();
        p.width = 0;
        p.printed = false;
        p.styles.clear();
        p.start = self.cur.clone();
    }

    /// Takes in what it can of `bytes` from `*i` on, advancing `*i`; stops after each line,
    /// SGR, or at a byte it cannot take (which is left at `*i`).
    pub(crate) fn step(&mut self, bytes: &[u8], i: &mut usize, cols: usize) -> Step {
        while *i < bytes.len() {
            let b = bytes[*i];
            match self.scan {
                Scan::Text => {
                    // A run of printable ASCII, as far as the row has room.
                    let room = cols - self.partial.width;
                    let rest = &bytes[*i..];
                    let run = printable_run(&rest[..rest.len().min(room + 1)]);
                    if run > 0 {
                        if run > room {
                            // The next char would wrap the line.
                            self.print_ascii(&rest[..room]);
                            *i += room;
                            return Step::Bail;
                        }
                        self.print_ascii(&rest[..run]);
                        *i += run;
                        continue;
                    }
                    match b {
                        b'\t' => {
                            // Alacritty marks the cell under the cursor as a tab and moves to
                            // the next stop; the cells it passes stay blank, in the default
                            // style whatever the colours. At the last column or two the cursor
                            // would not simply move on.
                            let w = self.partial.width;
                            if !self.tabs_default || w + 2 >= cols {
                                return Step::Bail;
                            }
                            let stop = ((w / 8 + 1) * 8).min(cols - 1);
                            self.note_blank_style();
                            let p = &mut self.partial;
                            p.text.resize(p.text.len() + (stop - w), b' ');
                            p.width = stop;
                            p.raw.push(b);
                            *i += 1;
                            continue;
                        }
                        b'\r' => self.scan = Scan::Cr,
                        ESC => self.scan = Scan::Esc,
                        0xc2..=0xf4 => {
                            self.utf8 = ([b, 0, 0, 0], 1, utf8_len(b));
                            self.scan = Scan::Utf8;
                        }
                        _ => return Step::Bail,
                    }
                    self.partial.raw.push(b);
                    *i += 1;
                }
                Scan::Cr => {
                    // A new row is blanked in the template's background: only the default one
                    // matches the blank rows this path assumes.
                    if b != b'\n' || !default_bg(&self.cur) {
                        return Step::Bail;
                    }
                    self.partial.raw.push(b);
                    *i += 1;
                    self.scan = Scan::Text;
                    return Step::Line;
                }
                Scan::Esc => {
                    if b != b'[' {
                        return Step::Bail;
                    }
                    let start = self.partial.raw.len() - 1;
                    self.partial.raw.push(b);
                    *i += 1;
                    self.scan = Scan::Csi { start };
                }
                Scan::Csi { start } => match b {
                    b'0'..=b'9' | b';' | b':' if self.partial.raw.len() - start < MAX_CSI => {
                        self.partial.raw.push(b);
                        *i += 1;
                    }
                    b'm' => {
                        self.partial.raw.push(b);
                        *i += 1;
                        self.scan = Scan::Text;
                        return Step::Sgr { start };
                    }
                    b'K' => {
                        // Erase to the end of the line: the cells right of the cursor are
                        // blank, so in the default background it changes nothing. At the last
                        // column alacritty would erase the char under the cursor.
                        let params = &self.partial.raw[start + 2..];
                        let plain = params.is_empty() || params == b"0";
                        if !plain || !default_bg(&self.cur) || self.partial.width >= cols {
                            return Step::Bail;
                        }
                        self.partial.raw.push(b);
                        *i += 1;
                        self.scan = Scan::Text;
                    }
                    _ => return Step::Bail,
                },
                Scan::Utf8 => {
                    if b & 0xc0 != 0x80 {
                        return Step::Bail;
                    }
                    let (mut buf, have, need) = self.utf8;
                    buf[have] = b;
                    if have + 1 < need {
                        self.utf8 = (buf, have + 1, need);
                        self.partial.raw.push(b);
                        *i += 1;
                        continue;
                    }
                    let Some(c) = std::str::from_utf8(&buf[..need])
                        .ok()
                        .and_then(|s| s.chars().next())
                    else {
                        return Step::Bail;
                    };
                    // C1 controls are executed, not printed; only single-width chars keep one
                    // char per column.
                    let printable = !('\u{80}'..='\u{9f}').contains(&c) && c.width() == Some(1);
                    self.partial.raw.push(b);
                    *i += 1;
                    if !printable || self.partial.width >= cols {
                        // Handed over whole: vte treats a char completed across two calls
                        // differently (it prints a C1 control it would execute).
                        return Step::Bail;
                    }
                    self.note_style();
                    self.partial.text.extend_from_slice(&buf[..need]);
                    self.partial.width += 1;
                    self.partial.printed = true;
                    self.last_printed = Some(c);
                    self.scan = Scan::Text;
                }
            }
        }
        Step::More
    }

    fn print_ascii(&mut self, run: &[u8]) {
        if run.is_empty() {
            return;
        }
        self.note_style();
        self.last_printed = run.last().map(|&b| b as char);
        let p = &mut self.partial;
        p.raw.extend_from_slice(run);
        p.text.extend_from_slice(run);
        p.width += run.len();
        p.printed = true;
    }

    /// Before blanks alacritty leaves in the default style (a tab's): records that style.
    fn note_blank_style(&mut self) {
        let p = &mut self.partial;
        if let Some((_, s)) = p.styles.last() {
            if !is_default_template(s) {
                p.styles.push((p.text.len(), Cell::default()));
            }
        }
    }

    /// Before printing at the current column: records the template if it is not the one in
    /// force there already.
    fn note_style(&mut self) {
        let p = &mut self.partial;
        match p.styles.last() {
            None if self.cur_default => {}
            Some((_, s)) if same_template(s, &self.cur) => {}
            _ => p.styles.push((p.text.len(), self.cur.clone())),
        }
    }

    /// The line just ended: moves it to the tail (encoded) and starts a new one.
    pub(crate) fn finish_line(&mut self) {
        let mut line = self.spare.pop().unwrap_or_default();
        self.encode_partial(&mut line.encoded);
        line.printed = self.partial.printed;
        std::mem::swap(&mut line.raw, &mut self.partial.raw);
        line.start = std::mem::take(&mut self.partial.start);
        self.tail.push_back(line);
        self.new_partial();
    }

    pub(crate) fn recycle(&mut self, line: FastLine) {
        self.spare.push(line);
    }

    /// The partial line in compact-history encoding.
    pub(crate) fn encode_partial(&self, out: &mut Vec<u8>) {
        encode_text_row(&self.partial.text, &self.partial.styles, out);
    }
}

/// Length of the leading run of printable ASCII (0x20..=0x7E) in `bytes`, eight at a time.
fn printable_run(bytes: &[u8]) -> usize {
    const LOW: u64 = 0x2020_2020_2020_2020;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte below 0x20 borrows into its high bit; one at 0x7F or above has (or carries
        // into) its high bit. Either way the exact position is found bytewise below.
        let below = w.wrapping_sub(LOW) & !w;
        let above = w.wrapping_add(ONES) | w;
        if (below | above) & HIGH != 0 {
            break;
        }
        n += 8;
    }
    n + bytes[n..]
        .iter()
        .position(|b| !(0x20..=0x7e).contains(b))
        .unwrap_or(bytes.len() - n)
}

/// Same colours, attributes and extras (hyperlink, underline colour).
fn same_template(a: &Cell, b: &Cell) -> bool {
    a.fg == b.fg && a.bg == b.bg && a.flags == b.flags && a.extra == b.extra
}
