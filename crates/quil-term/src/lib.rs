//! The UI-free terminal core: one [`Terminal`] per pane, used by the daemon.
//!
//! It wraps an alacritty_terminal `Term` (VT parsing and the visible screen) and adds what a
//! multiplexer daemon needs and alacritty does not give it:
//!
//! - **Compact scrollback.** Alacritty keeps history as full rows of ~24-byte cells: 10,000 lines
//!   of 80 columns is ~19 MB per pane, far too much for a daemon holding many panes. Here
//!   alacritty keeps almost no history: after every slice of input the rows it scrolled off the
//!   top are encoded into a byte-budgeted store (plain lines cost about their text length) and
//!   its history is cleared. Input is sliced so that no slice can scroll more rows than
//!   alacritty's small history holds, so no line is lost. The store follows the screen: `CSI 3 J`
//!   clears it, and a growing screen takes its newest lines back.
//! - **Screen snapshots in protocol form** ([`quil_proto::Line`]), built on demand; nothing here
//!   knows how or where they are drawn.
//! - **What alacritty leaves to its UI:** the replies it wants written back to the PTY, title,
//!   clipboard and bell events, OSC 7 working directories, and the timeout of synchronized
//!   updates (mode 2026).

mod convert;
mod fast;
mod ground;
mod packed;
mod scan;
mod scrollback;
pub use scrollback::HistoryCopy;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alacritty_terminal::event::{Event, EventListener};
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line as GridLine, Point};
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::term::{Config, Term, TermDamage, TermMode};
use alacritty_terminal::vte::ansi::{CharsetIndex, Processor, StandardCharset, StdSyncHandler};
use memchr::{memchr3_iter, memrchr};

use convert::{cursor_shape, fill_row, line_width, mode_bits, row_to_line};
use fast::{Fast, Step};
use ground::Ground;
use packed::Packed;
use scan::Scanner;
use scrollback::Scrollback;

/// Size and scrollback budget of a new terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermConfig {
    pub cols: u16,
    pub rows: u16,
    /// Byte budget of the compact history; the oldest lines are dropped beyond it.
    pub scrollback_bytes: usize,
}

/// Narrowest terminal: a wide char needs two columns.
const MIN_COLS: u16 = 2;
/// Size caps, so a bad resize request cannot allocate gigabytes of cells.
const MAX_COLS: u16 = 2048;
const MAX_ROWS: u16 = 1024;

/// History rows alacritty may hold between drains. Rows are only allocated when used.
const ALACRITTY_HISTORY: usize = 1024;
/// Upper bound on rows one slice of input may scroll into history (see [`slice_len`]). Small,
/// because alacritty keeps the rows it allocated (~24 bytes per cell) until the pane goes quiet.
const SLICE_ROWS: usize = 200;
/// Upper bound on rows buffered in an open synchronized update; beyond it the update is ended
/// early, so processing its buffer cannot scroll more rows than alacritty's history holds.
/// (The estimate counts `len / cols` rows for escape-heavy frames too, so keep it generous.)
const SYNC_ROWS: usize = 800;
/// A feed shorter than this is taken as the end of a burst of output (see `trim_cache`).
const SMALL_FEED: usize = 1024;
/// After this long without scrolling, the periodic check frees alacritty's spare rows.
const IDLE_TRIM: Duration = Duration::from_millis(500);

/// The longest window title kept, in bytes (cut at a character boundary). xterm keeps titles of
/// any length; quil caps them so one pane cannot make every client's workspace view huge.
pub const MAX_TITLE: usize = 1024;
/// The largest OSC 52 clipboard store passed on to clients, in bytes of decoded text; a larger
/// one is ignored (a cut clipboard would be worse than none).
pub const MAX_CLIPBOARD: usize = 4 * 1024 * 1024;

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.shrink_to_fit();
    }
    s
}

/// Events alacritty sends while parsing, collected for the `take_*` methods.
#[derive(Default)]
struct Sink {
    responses: Vec<u8>,
    /// `Some` when the title changed since last looked at ("" = reset).
    title: Option<String>,
    clipboard: Option<String>,
    bell: bool,
}

#[derive(Clone)]
struct Listener(Arc<Mutex<Sink>>);

impl Listener {
    fn lock(&self) -> MutexGuard<'_, Sink> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl EventListener for Listener {
    fn send_event(&self, event: Event) {
        match event {
            Event::PtyWrite(text) => self.lock().responses.extend_from_slice(text.as_bytes()),
            Event::Title(title) => self.lock().title = Some(truncate_utf8(title, MAX_TITLE)),
            Event::ResetTitle => self.lock().title = Some(String::new()),
            Event::ClipboardStore(_, text) if text.len() <= MAX_CLIPBOARD => {
                self.lock().clipboard = Some(text)
            }
            Event::ClipboardStore(..) => {}
            Event::Bell => self.lock().bell = true,
            _ => {}
        }
    }
}

#[derive(Clone, Copy)]
struct Size {
    cols: usize,
    rows: usize,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows
    }

    fn screen_lines(&self) -> usize {
        self.rows
    }

    fn columns(&self) -> usize {
        self.cols
    }
}

fn clamp_size(cols: u16, rows: u16) -> (u16, u16) {
    (cols.clamp(MIN_COLS, MAX_COLS), rows.clamp(1, MAX_ROWS))
}

/// One pane's terminal emulator: screen, modes, and compact scrollback.
pub struct Terminal {
    term: Term<Listener>,
    parser: Processor<StdSyncHandler>,
    events: Listener,
    cols: u16,
    rows: u16,
    history: Scrollback,
    title: String,
    cwd: Option<String>,
    /// The title or cwd changed since [`Terminal::take_meta_changed`] last looked.
    meta_changed: bool,
    scanner: Scanner,
    /// Offsets of `CSI 3 J` in the input being fed (reused buffer).
    clear_marks: Vec<usize>,
    /// Offsets where a slice must end (see `Scanner::scan`; reused buffer).
    cut_marks: Vec<usize>,
    /// A `CSI 3 J` was parsed (or buffered in a synchronized update): the compact history is
    /// cleared once alacritty has applied it.
    pending_clear: bool,
    /// Estimated rows in the open synchronized update's buffer.
    sync_rows: usize,
    /// Alacritty may be holding allocated but unused history rows (see `trim_cache`).
    cache_live: bool,
    last_scroll: Instant,
    /// Follows alacritty's parser state and scroll region, for the fast path.
    ground: Ground,
    /// The bulk-output fast path (see `fast.rs`).
    fast: Fast,
    /// On unless `QUIL_FAST_PATH=0` (see [`Terminal::set_fast_path`]).
    fast_enabled: bool,
    /// The screen changed in ways alacritty's damage tracking does not see (see `take_damage`).
    damage_all: bool,
    /// Slices to parse the normal way before trying the fast path again, after it gave up
    /// early (output it cannot take, like tabs, would otherwise make it start and stop on
    /// every line).
    fast_cooldown: u8,
    /// Times the history was cleared (`CSI 3 J`).
    history_clears: u64,
    /// The screen, packed while the pane is idle ([`Terminal::pack`]); alacritty then holds a
    /// one-cell placeholder grid.
    packed: Option<Packed>,
}

impl Terminal {
    /// A blank terminal. Sizes are clamped to at least 2 columns and 1 row.
    pub fn new(cfg: TermConfig) -> Terminal {
        let (cols, rows) = clamp_size(cfg.cols, cfg.rows);
        let config = Config {
            scrolling_history: ALACRITTY_HISTORY,
            kitty_keyboard: true,
            ..Config::default()
        };
        let events = Listener(Arc::new(Mutex::new(Sink::default())));
        let size = Size {
            cols: cols as usize,
            rows: rows as usize,
        };
        Terminal {
            term: Term::new(config, &size, events.clone()),
            parser: Processor::new(),
            events,
            cols,
            rows,
            history: Scrollback::new(cfg.scrollback_bytes),
            title: String::new(),
            cwd: None,
            meta_changed: false,
            scanner: Scanner::default(),
            clear_marks: Vec::new(),
            cut_marks: Vec::new(),
            pending_clear: false,
            sync_rows: 0,
            cache_live: false,
            last_scroll: Instant::now(),
            ground: Ground::default(),
            fast: Fast::default(),
            fast_enabled: fast_path_default(),
            fast_cooldown: 0,
            history_clears: 0,
            damage_all: true,
            packed: None,
        }
    }

    /// Parse PTY output. Lines that scroll off the top of the primary screen move into the
    /// compact scrollback.
    pub fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.unpack();
        let mut clears = std::mem::take(&mut self.clear_marks);
        let mut cuts = std::mem::take(&mut self.cut_marks);
        clears.clear();
        cuts.clear();
        if let Some(cwd) = self.scanner.scan(bytes, &mut clears, &mut cuts) {
            if self.cwd.as_deref() != Some(cwd.as_str()) {
                self.cwd = Some(cwd);
                self.meta_changed = true;
            }
        }
        let cols = self.cols as usize;
        let mut drained = 0;
        let mut pos = 0;
        let mut next_clear = clears.iter().copied().peekable();
        let mut next_cut = cuts.iter().copied().peekable();
        while pos < bytes.len() {
            if self.fast.active {
                pos += self.fast_feed(&bytes[pos..]);
                continue;
            }
            while next_clear.next_if(|&c| c < pos).is_some() {}
            let rest = &bytes[pos..];
            let (mut n, rows) = slice_len(rest, cols);
            let need = self.ground.utf8_need();
            if need > 0 {
                // Only the rest of the char vte holds (see `Ground::utf8_need`).
                n = n.min(need);
            }
            // End a slice before each RIS, `CSI 2 J` and switch to the alternate screen: rows
            // scrolled off earlier must reach the compact history before alacritty drops or
            // counts its own, or hides them with the primary screen.
            while next_cut.next_if(|&c| c <= pos).is_some() {}
            if let Some(&c) = next_cut.peek() {
                n = n.min(c - pos);
            }
            // End a slice right after each `CSI 3 J`, to clear the compact history there too.
            let at_clear = next_clear
                .peek()
                .is_some_and(|&c| c.saturating_sub(pos) <= n);
            if at_clear {
                n = next_clear.next().map_or(n, |c| c.saturating_sub(pos));
            } else if self.fast_enabled && !self.sync_pending() {
                // Otherwise end it after a line break, where the fast path may take over: the
                // first one when output is already scrolling at the bottom, else the last.
                n = self.fast_cut(&rest[..n]).unwrap_or(n);
            }
            if self.sync_pending() && self.sync_rows + rows > SYNC_ROWS {
                self.parser.stop_sync(&mut self.term);
                drained += self.settle();
            }
            self.parser.advance(&mut self.term, &rest[..n]);
            self.ground.advance(&rest[..n], self.rows as usize);
            if at_clear && !self.is_alt_screen() {
                self.pending_clear = true;
            }
            if self.sync_pending() {
                self.sync_rows += rows;
            }
            drained += self.settle();
            pos += n;
            if self.fast_cooldown > 0 {
                self.fast_cooldown -= 1;
            } else if self.can_enter_fast() {
                self.fast.tabs_default = self.ground.tabs_default();
                self.fast.enter(&self.term.grid().cursor.template);
            }
        }
        self.clear_marks = clears;
        self.cut_marks = cuts;
        self.trim_cache(drained, bytes.len());
        self.pump_events();
    }

    /// Resizes the screen (clamped to at least 2x1). Rows pushed off the top go to the history;
    /// when the primary screen grows, the newest history lines come back down, as in other
    /// terminals.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let (cols, rows) = clamp_size(cols, rows);
        if (cols, rows) == (self.cols, self.rows) {
            return;
        }
        self.unpack();
        self.materialize();
        self.ground.on_resize();
        self.damage_all = true;
        let alt = self.is_alt_screen();
        // History lines alacritty is handed back before it resizes: the ones a taller screen
        // shows again, and on a width change the start of a wrapped line that goes on at the
        // top of the screen, so that alacritty's reflow joins it with the rest.
        let mut back = 0;
        if rows > self.rows && !alt {
            back = (rows - self.rows) as usize;
        }
        if cols != self.cols && !alt {
            back = back.max(self.history.wrapped_tail().min(ALACRITTY_HISTORY / 2));
        }
        if back > 0 {
            self.unscroll(back);
        }
        if cols != self.cols {
            // The rest of the history is reflowed here, as alacritty reflows the screen.
            self.history.rewrap(self.cols as usize, cols as usize);
        }
        self.term.resize(Size {
            cols: cols as usize,
            rows: rows as usize,
        });
        self.cols = cols;
        self.rows = rows;
        // Shrinking pushes rows off the top; reflow can too.
        let drained = self.drain_history();
        self.trim_cache(drained, 0);
    }

    /// Turns the bulk-output fast path on or off. Off, every byte goes through alacritty alone;
    /// what anyone can observe is the same either way (the differential tests hold the fast path
    /// to that). New terminals have it on unless the environment has `QUIL_FAST_PATH=0`.
    pub fn set_fast_path(&mut self, on: bool) {
        if !on {
            self.materialize();
        }
        self.fast_enabled = on;
    }

    /// (cols, rows), after clamping.
    pub fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    /// Visible row `row` (0 = top); an empty line past the bottom.
    pub fn line(&self, row: u16) -> quil_proto::Line {
        if row >= self.rows {
            return quil_proto::Line::default();
        }
        if self.fast.active {
            return self.fast_line(row as usize);
        }
        if let Some(p) = &self.packed {
            return row_to_line(&p.row(row as usize));
        }
        row_to_line(&self.term.grid()[GridLine(row as i32)][..])
    }

    /// All visible rows, top first.
    pub fn lines(&self) -> Vec<quil_proto::Line> {
        (0..self.rows).map(|r| self.line(r)).collect()
    }

    /// The visible rows that may have changed since the last call, or `None` when any may have.
    ///
    /// Lets a caller that keeps a copy of the screen convert and compare only those rows
    /// instead of all of them on every frame. Comes from alacritty's damage tracking (which its
    /// own renderer relies on), widened to everything while the fast path serves the screen and
    /// after quil moved rows itself.
    pub fn take_damage(&mut self) -> Option<Vec<u16>> {
        let all = std::mem::take(&mut self.damage_all) || self.fast.active;
        if self.packed.is_some() {
            // Packing changes nothing on the screen; alacritty's own damage waits with its grid.
            return if all { None } else { Some(Vec::new()) };
        }
        let rows = match self.term.damage() {
            TermDamage::Partial(lines) if !all => Some(
                lines
                    .filter(|d| d.line < self.rows as usize)
                    .map(|d| d.line as u16)
                    .collect(),
            ),
            _ => None,
        };
        self.term.reset_damage();
        rows
    }

    /// The style new text is drawn in: what the last SGR set.
    pub fn pen(&self) -> quil_proto::Style {
        convert::cell_style(&self.grid_cursor().template)
    }

    /// Position, visibility (DECTCEM) and shape (DECSCUSR) of the cursor.
    pub fn cursor(&self) -> quil_proto::Cursor {
        let mut point = self.grid_cursor().point;
        let spacer = match &self.packed {
            Some(p) => p.cell(point.line.0 as usize, point.column.0).flags,
            None => self.term.grid()[point].flags,
        }
        .contains(Flags::WIDE_CHAR_SPACER);
        if point.column.0 > 0 && spacer {
            point.column.0 -= 1;
        }
        if self.fast.active {
            // On the partial line (at its start after a `\r`); at the last column alacritty's
            // cursor waits there to wrap.
            point.column.0 = match self.fast.scan {
                fast::Scan::Cr => 0,
                _ => self.fast.partial.width.min(self.cols as usize - 1),
            };
        }
        let shown = self.term.mode().contains(TermMode::SHOW_CURSOR);
        let (shape, visible) = cursor_shape(self.term.cursor_style(), shown);
        quil_proto::Cursor {
            x: point.column.0.min(u16::MAX as usize) as u16,
            y: point.line.0.clamp(0, u16::MAX as i32) as u16,
            visible,
            shape,
        }
    }

    /// alacritty's cursor: its position, pen and charsets.
    fn grid_cursor(&self) -> &alacritty_terminal::grid::Cursor<Cell> {
        match &self.packed {
            Some(p) => p.cursor(),
            None => &self.term.grid().cursor,
        }
    }

    /// Packs the screen of an idle terminal (`packed.rs`): from 24 bytes for every cell of it to
    /// about the size of its text. It is unpacked, exactly as it was, by the next output or
    /// resize; reading it (lines, cursor, pen) works packed. Returns whether it is packed now;
    /// a screen in the middle of something (the alternate screen, a synchronized update) is
    /// not packed.
    pub fn pack(&mut self) -> bool {
        if self.packed.is_some() {
            return true;
        }
        if self.is_alt_screen() || self.sync_pending() {
            return false;
        }
        self.materialize();
        self.trim_cache(0, 0);
        let grid = self.term.grid();
        if grid.history_size() != 0 || grid.display_offset() != 0 {
            return false;
        }
        let packed = Packed::pack(grid);
        *self.term.grid_mut() = alacritty_terminal::grid::Grid::new(1, 1, 0);
        self.packed = Some(packed);
        // Rows alacritty marked changed and nobody asked about yet cannot be told apart while
        // packed: whoever asks next compares them all.
        self.damage_all = true;
        true
    }

    /// Whether the screen is packed ([`Terminal::pack`]).
    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// Puts a packed screen back into alacritty's grid.
    fn unpack(&mut self) {
        if let Some(p) = self.packed.take() {
            *self.term.grid_mut() = p.unpack(ALACRITTY_HISTORY);
        }
    }

    /// Bits of [`quil_proto::modes`].
    pub fn modes(&self) -> u32 {
        mode_bits(*self.term.mode())
    }

    /// Title set by OSC 0/2 ("" if none).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Whether the title or cwd changed since the last call: lets the caller skip comparing
    /// strings after every read of output.
    pub fn take_meta_changed(&mut self) -> bool {
        std::mem::take(&mut self.meta_changed)
    }

    /// Path of the last OSC 7 `file://host/path`, percent-decoded.
    pub fn cwd(&self) -> Option<&str> {
        self.cwd.as_deref()
    }

    pub fn is_alt_screen(&self) -> bool {
        self.term.mode().contains(TermMode::ALT_SCREEN)
    }

    /// Bytes to write back to the PTY (replies to DSR, DA, ...), drained.
    pub fn take_responses(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.events.lock().responses)
    }

    /// The latest OSC 52 clipboard store, drained.
    pub fn take_clipboard(&mut self) -> Option<String> {
        self.events.lock().clipboard.take()
    }

    /// Desktop notifications the program asked for since the last call (OSC 9, OSC 777
    /// `notify`, OSC 99), as (title, body), control characters removed. ConEmu's OSC 9
    /// sub-commands (`9;4;...` progress and the like) are not notifications.
    pub fn take_notifications(&mut self) -> Vec<(String, String)> {
        let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
        self.scanner
            .take_notes()
            .into_iter()
            .filter_map(|(osc, text)| match osc {
                9 => {
                    let sub = text.split_once(';').is_some_and(|(n, _)| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                    });
                    (!sub && !text.is_empty()).then(|| (String::new(), clean(&text)))
                }
                777 => {
                    let rest = text.strip_prefix("notify;")?;
                    let (title, body) = rest.split_once(';').unwrap_or((rest, ""));
                    Some((clean(title), clean(body)))
                }
                // kitty: `metadata;payload`; the payload is the title unless `p=body`.
                99 => {
                    let (meta, payload) = text.split_once(';')?;
                    if payload.is_empty() {
                        return None;
                    }
                    if meta.split(':').any(|kv| kv == "p=body") {
                        Some((String::new(), clean(payload)))
                    } else {
                        Some((clean(payload), String::new()))
                    }
                }
                _ => None,
            })
            .collect()
    }

    /// Whether a BEL happened since the last call.
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.events.lock().bell)
    }

    /// Number of history lines.
    pub fn scrollback_len(&self) -> usize {
        self.history.len()
    }

    /// Bytes used by the compact history (encoded lines plus a 4-byte index entry each).
    pub fn scrollback_bytes(&self) -> usize {
        self.history.bytes()
    }

    /// `count` history lines ending `offset` lines above the screen (offset 0 = the line just
    /// above the top row), oldest first. Fewer when the history is shorter.
    pub fn scrollback(&self, offset: usize, count: usize) -> Vec<quil_proto::Line> {
        let end = self.history.len().saturating_sub(offset);
        self.history.range(end.saturating_sub(count), end)
    }

    /// History lines, newest first, decoded one at a time: a caller that wants only the recent
    /// ones (within a byte budget, say) stops early and never holds the rest.
    pub fn scrollback_newest_first(&self) -> impl Iterator<Item = quil_proto::Line> + '_ {
        self.history.newest_first().map(scrollback::decode)
    }

    /// The history as it is now, still encoded, to decode after letting go of whatever guards
    /// the terminal.
    pub fn history_copy(&self) -> HistoryCopy {
        self.history.copy()
    }

    /// When a synchronized update (mode 2026) has timed out, end it so its content shows.
    /// Returns true if it did.
    ///
    /// Meant to be called periodically; it also frees memory alacritty no longer needs once the
    /// output has gone quiet.
    pub fn flush_sync_if_expired(&mut self) -> bool {
        match self.parser.sync_timeout().sync_timeout() {
            Some(deadline) if Instant::now() >= deadline => {
                self.parser.stop_sync(&mut self.term);
                let drained = self.settle();
                self.trim_cache(drained, 0);
                self.pump_events();
                true
            }
            _ => {
                if self.cache_live && self.last_scroll.elapsed() >= IDLE_TRIM {
                    self.trim_cache(0, 0);
                }
                false
            }
        }
    }

    /// A synchronized update is open: output since its start is buffered, not yet on screen.
    pub fn sync_pending(&self) -> bool {
        self.parser.sync_timeout().sync_timeout().is_some()
    }

    /// How many times the history was cleared (`CSI 3 J`) so far: whoever keeps lines that
    /// belong above this terminal's history knows when they are gone too.
    pub fn history_clears(&self) -> u64 {
        self.history_clears
    }

    /// Prepend restored history lines (used after a daemon restart): they go above any existing
    /// history, and are the first to be evicted.
    pub fn restore_history(&mut self, lines: Vec<quil_proto::Line>) {
        self.history.prepend(&lines);
    }

    /// After alacritty parsed some input: applies a pending `CSI 3 J` and drains the history.
    fn settle(&mut self) -> usize {
        if self.sync_pending() {
            return self.drain_history();
        }
        self.sync_rows = 0;
        if self.pending_clear {
            // Alacritty dropped its own history at the `CSI 3 J`; what it holds now scrolled
            // off after it.
            self.pending_clear = false;
            self.history.clear();
            self.history_clears += 1;
        }
        self.drain_history()
    }

    /// Moves every row alacritty has in its history into the compact store, oldest first.
    /// Returns how many.
    fn drain_history(&mut self) -> usize {
        if self.is_alt_screen() {
            // The alternate screen has no history; the primary's waits until it is back.
            return 0;
        }
        let grid = self.term.grid();
        let n = grid.history_size();
        if n == 0 {
            return 0;
        }
        for i in (1..=n).rev() {
            self.history.push_row(&grid[GridLine(-(i as i32))][..]);
        }
        self.term.grid_mut().clear_history();
        self.cache_live = true;
        self.last_scroll = Instant::now();
        n
    }

    /// Before the primary screen grows by `added` rows: hands the newest history lines back to
    /// alacritty's history, from where its resize pulls them onto the screen.
    fn unscroll(&mut self, added: usize) {
        let len = self.history.len();
        let cols = self.cols as usize;
        let rows = self.rows as usize;
        // Only lines that fit the current width, so none is cut.
        let mut lines = self.history.range(len.saturating_sub(added), len);
        let fits = lines
            .iter()
            .rev()
            .take_while(|l| line_width(l) <= cols)
            .count();
        lines.drain(..lines.len() - fits);
        let k = lines.len();
        if k == 0 || self.term.grid().history_size() != 0 {
            return;
        }
        self.cache_live = true;
        self.damage_all = true;
        let grid = self.term.grid_mut();
        // Scrolling the whole screen up by k creates k history rows; the screen is then put
        // back as it was and the history rows filled with the lines.
        let saved: Vec<Vec<Cell>> = (0..rows)
            .map(|r| grid[GridLine(r as i32)][..].to_vec())
            .collect();
        grid.scroll_up(&(GridLine(0)..GridLine(rows as i32)), k);
        for (r, cells) in saved.iter().enumerate() {
            grid[GridLine(r as i32)][..].clone_from_slice(cells);
        }
        if grid.history_size() != k {
            // Not expected; leave the history where it is.
            grid.clear_history();
            return;
        }
        for (j, line) in lines.iter().enumerate() {
            fill_row(&mut grid[GridLine(j as i32 - k as i32)][..], line);
        }
        self.history.pop_newest(k);
    }

    /// Frees the spare rows alacritty keeps after its history was cleared.
    ///
    /// Once history has been used, alacritty keeps up to 1000 spare rows allocated (~2 MB at
    /// 80 columns) to scroll into; per pane that would dwarf the compact scrollback. Freeing
    /// them after every feed would reallocate them on every read during bulk output, so they
    /// are freed when a burst looks over: a feed that scrolled nothing or was small, or (from
    /// the periodic [`Terminal::flush_sync_if_expired`]) nothing scrolled for a while.
    fn trim_cache(&mut self, drained: usize, fed: usize) {
        if self.cache_live && (drained == 0 || fed < SMALL_FEED) {
            if self.is_alt_screen() {
                // The spare rows belong to the inactive primary grid, out of reach for now.
                return;
            }
            self.term.grid_mut().truncate();
            self.cache_live = false;
        }
    }

    /// Where a normal slice of `slice` should end for the fast path to get a chance: after
    /// the first `\r\n` when output is already at the bottom row, else after the last one.
    fn fast_cut(&self, slice: &[u8]) -> Option<usize> {
        let at_bottom = self.term.grid().cursor.point.line.0 == self.rows as i32 - 1;
        if at_bottom && self.fast_cooldown == 0 {
            memchr::memchr_iter(b'\n', slice)
                .find(|&k| k > 0 && slice[k - 1] == b'\r')
                .map(|k| k + 1)
        } else {
            memrchr(b'\n', slice)
                .filter(|&k| k > 0 && slice[k - 1] == b'\r')
                .map(|k| k + 1)
        }
    }

    /// Whether the fast path may take the stream from here: the state it assumes (see
    /// `fast.rs`) is the one alacritty is in.
    fn can_enter_fast(&self) -> bool {
        if !self.fast_enabled
            || !self.ground.is_clear()
            || self.pending_clear
            || self.sync_pending()
        {
            return false;
        }
        let mode = *self.term.mode();
        if mode.intersects(TermMode::ALT_SCREEN | TermMode::INSERT)
            || !mode.contains(TermMode::LINE_WRAP)
        {
            return false;
        }
        let grid = self.term.grid();
        let cursor = &grid.cursor;
        let bottom = self.rows as i32 - 1;
        let charsets = [
            CharsetIndex::G0,
            CharsetIndex::G1,
            CharsetIndex::G2,
            CharsetIndex::G3,
        ];
        cursor.point.line.0 == bottom
            && cursor.point.column.0 == 0
            && !cursor.input_needs_wrap
            && grid.display_offset() == 0
            && grid.history_size() == 0
            && fast::default_bg(&cursor.template)
            && charsets
                .iter()
                .all(|&i| cursor.charsets[i] == StandardCharset::Ascii)
            && grid[GridLine(bottom)].is_clear()
            // Alacritty's "clear" lets bold or italic blanks through; quil draws those.
            && convert::trimmed_len(&grid[GridLine(bottom)][..]) == 0
    }

    /// Takes in `bytes` on the fast path. Returns how many it took: all, or up to the first
    /// it cannot handle, having handed the state back to alacritty.
    fn fast_feed(&mut self, bytes: &[u8]) -> usize {
        let cols = self.cols as usize;
        let last = self.rows as usize - 1;
        let mut i = 0;
        loop {
            match self.fast.step(bytes, &mut i, cols) {
                Step::More => return i,
                Step::Line => {
                    self.fast.finish_line();
                    self.fast.lines += 1;
                    self.fast.total_lines += 1;
                    // The logical screen gained a row: its top one scrolls off.
                    if self.fast.consumed < last {
                        let row = GridLine(self.fast.consumed as i32);
                        self.history.push_row(&self.term.grid()[row][..]);
                        self.fast.consumed += 1;
                    } else if let Some(line) = self.fast.tail.pop_front() {
                        self.history.push_encoded(&line.encoded);
                        self.fast.recycle(line);
                    }
                }
                Step::Sgr { start } => {
                    self.parser
                        .advance(&mut self.term, &self.fast.partial.raw[start..]);
                    self.fast.set_template(&self.term.grid().cursor.template);
                }
                Step::Bail => {
                    if self.fast.lines < 8 {
                        self.fast_cooldown = 1;
                    }
                    self.materialize();
                    return i;
                }
            }
        }
    }

    /// Ends the fast path: puts alacritty in the state the stream so far leaves it in, by
    /// scrolling its screen as far as the fast path already did and replaying the lines on the
    /// logical screen below.
    fn materialize(&mut self) {
        if !self.fast.active {
            return;
        }
        self.fast.active = false;
        self.damage_all = true;
        let rows = self.rows as usize;
        let consumed = self.fast.consumed;
        let start = match self.fast.tail.front() {
            Some(line) => line.start.clone(),
            None => self.fast.partial.start.clone(),
        };
        let grid = self.term.grid_mut();
        if consumed > 0 {
            // The rows scrolled off are in the compact history already; new rows are blank.
            grid.cursor.template = Cell::default();
            grid.scroll_up(&(GridLine(0)..GridLine(rows as i32)), consumed);
            grid.clear_history();
            self.cache_live = true;
        }
        grid.cursor.point = Point::new(GridLine((rows - 1 - consumed) as i32), Column(0));
        let replay_prints = self.fast.tail.iter().any(|l| l.printed) || self.fast.partial.printed;
        if let (false, Some(c)) = (replay_prints, self.fast.last_printed) {
            self.set_preceding_char(c);
        }
        let grid = self.term.grid_mut();
        grid.cursor.template = start;
        while let Some(line) = self.fast.tail.pop_front() {
            self.parser.advance(&mut self.term, &line.raw);
            self.ground.advance(&line.raw, rows);
            self.fast.recycle(line);
        }
        let raw = std::mem::take(&mut self.fast.partial.raw);
        self.parser.advance(&mut self.term, &raw);
        self.ground.advance(&raw, rows);
        self.fast.partial.raw = raw;
        // The partial line may end in the char that made the fast path give up (one that wraps
        // the line, say), so the replay can scroll.
        self.drain_history();
    }

    /// Makes `c` the char vte repeats for REP (`CSI n b`), as if it had just been printed: it
    /// is printed at the cursor, and the cell and cursor are put back. Used when the chars the
    /// fast path took never reached vte and the replay prints none.
    fn set_preceding_char(&mut self, c: char) {
        let grid = self.term.grid();
        let cursor = grid.cursor.clone();
        let cell = grid[cursor.point].clone();
        let mut buf = [0u8; 4];
        self.parser
            .advance(&mut self.term, c.encode_utf8(&mut buf).as_bytes());
        let grid = self.term.grid_mut();
        grid[cursor.point] = cell;
        grid.cursor = cursor;
    }

    /// Row `row` of the logical screen while the fast path is on.
    fn fast_line(&self, row: usize) -> quil_proto::Line {
        let rows = self.rows as usize;
        let kept = rows - 1 - self.fast.consumed;
        if row < kept {
            let grid_row = GridLine((row + self.fast.consumed) as i32);
            return row_to_line(&self.term.grid()[grid_row][..]);
        }
        if let Some(line) = self.fast.tail.get(row - kept) {
            return scrollback::decode(&line.encoded);
        }
        let mut buf = Vec::new();
        self.fast.encode_partial(&mut buf);
        scrollback::decode(&buf)
    }

    fn pump_events(&mut self) {
        if let Some(title) = self.events.lock().title.take() {
            if title != self.title {
                self.title = title;
                self.meta_changed = true;
            }
        }
    }
}

/// Whether new terminals use the fast path: yes unless `QUIL_FAST_PATH=0` (read once).
fn fast_path_default() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("QUIL_FAST_PATH").is_none_or(|v| v != "0"))
}

/// Length of the next slice of `bytes` to parse before draining history, and an upper bound on
/// the rows it can scroll.
///
/// A row scrolls off only after a line feed (LF, VT or FF) or a wrap, which takes `cols`
/// printable bytes, so a slice of `len` bytes with `nl` line feeds scrolls at most
/// `nl + len / cols + 1` rows. Escape sequences that scroll (`CSI n S`, `ESC D`, ...) are not
/// counted; alacritty's history has headroom for them.
fn slice_len(bytes: &[u8], cols: usize) -> (usize, usize) {
    let cols = cols.max(1);
    let window = bytes.len().min(SLICE_ROWS * cols);
    let mut nl = 0;
    for pos in memchr3_iter(b'\n', 0x0b, 0x0c, &bytes[..window]) {
        nl += 1;
        if nl + (pos + 1) / cols >= SLICE_ROWS {
            return (pos + 1, nl + (pos + 1) / cols + 1);
        }
    }
    (window, nl + window / cols + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_bound_scrolled_rows() {
        let text = "x\n".repeat(5000);
        let (n, rows) = slice_len(text.as_bytes(), 80);
        assert!(rows <= SLICE_ROWS + 2, "{rows}");
        // Two bytes per row: a slice ends just short of SLICE_ROWS rows.
        assert!((SLICE_ROWS..=2 * SLICE_ROWS).contains(&n), "{n}");
        let long = "y".repeat(1_000_000);
        let (n, rows) = slice_len(long.as_bytes(), 80);
        assert_eq!(n, SLICE_ROWS * 80);
        assert!(rows <= SLICE_ROWS + 1);
        assert_eq!(slice_len(b"abc", 80), (3, 1));
    }

    fn reference_pair(cols: u16, rows: u16) -> (Terminal, Terminal) {
        let cfg = TermConfig {
            cols,
            rows,
            scrollback_bytes: 1 << 20,
        };
        let mut fast = Terminal::new(cfg);
        fast.fast_enabled = true;
        let mut slow = Terminal::new(cfg);
        slow.fast_enabled = false;
        (fast, slow)
    }

    /// Everything a client or the daemon can observe of a terminal, the history included also
    /// while the alternate screen is on (rows scrolled off before the switch reach it first,
    /// however the input was sliced).
    fn observe(
        t: &Terminal,
    ) -> (
        Vec<quil_proto::Line>,
        quil_proto::Cursor,
        u32,
        Vec<quil_proto::Line>,
    ) {
        (
            t.lines(),
            t.cursor(),
            t.modes(),
            t.scrollback(0, usize::MAX),
        )
    }

    #[test]
    fn fast_path_takes_plain_floods() {
        let (mut fast, mut slow) = reference_pair(80, 24);
        let mut text = String::from("$ cat log\r\n");
        for i in 0..2000 {
            match i % 8 {
                0 => text.push_str(&format!(
                    "\x1b[1;31mERROR\x1b[0m line {i} caf\u{e9} \u{2500}\r\n"
                )),
                1 => text.push_str(&format!("\x1b[38;2;1;2;3mrgb {i}\x1b[K\x1b[m\r\n")),
                _ => text.push_str(&format!("plain line number {i} with some words   \r\n")),
            }
        }
        for chunk in text.as_bytes().chunks(4095) {
            fast.feed(chunk);
            slow.feed(chunk);
            assert_eq!(observe(&fast), observe(&slow));
        }
        // All but the first read's lines (the screen was not full yet when it started).
        assert!(fast.fast.total_lines > 1850, "{}", fast.fast.total_lines);
        assert_eq!(fast.scrollback_len(), 2001 - 23);
        // Something the fast path does not take hands back to alacritty with the same state.
        for t in [&mut fast, &mut slow] {
            t.feed(b"\x1b]0;title\x07\tend");
        }
        assert!(!fast.fast.active);
        assert_eq!(observe(&fast), observe(&slow));
        fast.resize(60, 10);
        slow.resize(60, 10);
        assert_eq!(observe(&fast), observe(&slow));
    }

    #[test]
    fn rows_scrolled_off_just_before_a_reset_are_kept() {
        for t in [reference_pair(10, 2).0, reference_pair(10, 2).1] {
            let mut t = t;
            t.feed(b"\x1b]0;t\x07one\r\ntwo\r\nthree\r\nfour\x1bc\x1b[2J");
            let history: Vec<String> = t.scrollback(0, 100).iter().map(|l| l.text()).collect();
            // "three" and "four" were on the screen, which a reset clears.
            assert_eq!(history[..2], ["one", "two"], "{history:?}");
        }
    }

    #[test]
    fn scrollback_newest_first_is_the_history_reversed() {
        let mut t = reference_pair(20, 3).1;
        for i in 0..5000 {
            t.feed(format!("line {i}\r\n").as_bytes());
        }
        let mut rev: Vec<_> = t.scrollback_newest_first().collect();
        rev.reverse();
        assert_eq!(rev, t.scrollback(0, usize::MAX));
        assert!(rev.len() > 4000);
    }

    #[test]
    fn fast_path_takes_tabbed_lines_unless_stops_changed() {
        let lines: String = (0..2000)
            .map(|i| format!("{i}\tname{i}\t\x1b[32mok\x1b[m\tdone\r\n"))
            .collect();
        for custom_stops in [false, true] {
            let (mut fast, mut slow) = reference_pair(80, 24);
            if custom_stops {
                for t in [&mut fast, &mut slow] {
                    t.feed(b"\x1b[3g\x1b[5G\x1bH\r");
                }
            }
            for chunk in lines.as_bytes().chunks(4095) {
                fast.feed(chunk);
                slow.feed(chunk);
                assert_eq!(observe(&fast), observe(&slow));
            }
            let taken = fast.fast.total_lines;
            if custom_stops {
                assert_eq!(taken, 0, "tabs with custom stops go the normal way");
            } else {
                assert!(taken > 1850, "{taken}");
            }
        }
    }

    /// Cases a review found, each once a divergence from alacritty alone.
    #[test]
    fn fast_path_review_cases() {
        let cases: &[(u16, u16, &[&str])] = &[
            // Bold blanks on the bottom row: alacritty calls the row clear, quil draws them.
            (
                10,
                3,
                &[
                    "a\r\nb\r\nc\r\nd\r\ne\r\nf\r\n",
                    "\x1b]0;t\x07",
                    "\x1b[1m \t \x1b[m\r",
                    "xy",
                ],
            ),
            // REP after lines the fast path took: vte repeats the last char printed.
            (10, 1, &["\r\n", "plain\r\n", "\x1b[b"]),
            (
                10,
                3,
                &[
                    "a\r\nb\r\nc\r\nd\r\ne\r\nf\r\n",
                    "abc\r\n\r\n\r\n",
                    "\x1b[3b",
                ],
            ),
            // A C1 control as UTF-8 must reach vte whole.
            (20, 3, &["a\r\nb\r\nc\r\nd\r\ne\r\n", "x\u{85}\x1b[3b\r\n"]),
            // ED 3 spelled with a leading zero.
            (
                10,
                3,
                &["l0\r\nl1\r\nl2\r\nl3\r\nl4\r\nl5\r\nl6\r\nl7\r\nl8\r\nl9\r\n\x1b[03J"],
            ),
        ];
        for (cols, rows, reads) in cases {
            let (mut fast, mut slow) = reference_pair(*cols, *rows);
            for read in *reads {
                fast.feed(read.as_bytes());
                slow.feed(read.as_bytes());
                assert_eq!(observe(&fast), observe(&slow), "{reads:?} after {read:?}");
            }
        }
    }

    /// REP after lines the fast path took that hold only tabs: replaying them prints nothing,
    /// so vte must still be told the last char printed (a proptest failure, a byte per read).
    #[test]
    fn rep_after_tab_only_lines() {
        let pieces = [
            "\x1b[32mgreen\x1b[0m\r\n",
            "\x1b[32mgreen\x1b[0m\r\n",
            "plain text\r\n",
            "\t\r\n\r\n",
            "\x1b[b",
            "plain text\r\n",
        ];
        run_pair(&pieces, None, &[1], (10, 3), |fast, slow, k| {
            proptest::prop_assert_eq!(observe(fast), observe(slow), "after read {}", k);
            Ok(())
        })
        .unwrap();
    }

    /// Rows scrolled off in the same read as the switch to the alternate screen reach the
    /// history before it, however reads are cut, so a taller screen while the full-screen
    /// program runs brings back no line in any case. Found in a recorded bash session: with
    /// the fast path the rows were in the history, without it they waited in alacritty's,
    /// whose resize of the hidden primary screen put them back on it.
    #[test]
    fn rows_scrolled_off_with_the_switch_to_the_alternate_screen() {
        let text = b"1\r\n2\r\n3\r\n4\r\n5\r\n$ vim\r\n\x1b[?1049h\x1b[Hfull\x1b[?1049l$ ";
        let switch = text.windows(8).position(|w| w == b"\x1b[?1049h").unwrap() + 8;
        let mut ends = Vec::new();
        for cuts in [vec![switch, text.len()], vec![1], vec![7, 3]] {
            let mut resized = false;
            run_pair_bytes(text, &cuts, (10, 3), |fast, slow, k| {
                proptest::prop_assert_eq!(observe(fast), observe(slow), "after read {}", k);
                if fast.is_alt_screen() && !resized {
                    resized = true;
                    fast.resize(10, 6);
                    slow.resize(10, 6);
                }
                if k == usize::MAX {
                    ends.push(observe(slow));
                }
                Ok(())
            })
            .unwrap();
        }
        let screen: Vec<String> = ends[0].0.iter().map(|l| l.text()).collect();
        // No line came back: the cursor went back to where it was, and three rows were added.
        assert_eq!(screen, ["5", "$ vim", "$", "", "", ""]);
        assert!(ends.iter().all(|e| *e == ends[0]), "{ends:#?}");
    }

    #[test]
    fn terminal_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Terminal>();
    }

    /// Output pieces for the differential tests: plain and styled lines the fast path takes,
    /// and a bit of everything that makes it hand over. No C1 controls as UTF-8 (U+0080..9F):
    /// cut between two reads, vte 0.15 prints one (for REP to repeat) instead of executing it,
    /// so alacritty alone differs with the cut; `fast_path_review_cases` covers them whole.
    const PIECES: &[&str] = &[
        "x",
        "hello ",
        "abcdefghij",
        " ",
        "   ",
        "\u{e9}t\u{e9}",
        "\u{3bb}",
        "\u{2500}",
        "\u{b7}",
        "\r\n",
        "\r\n",
        "\r\n",
        "\r\n",
        "\n",
        "\r",
        "\t",
        "\x08",
        "\x07",
        "\x1b[31m",
        "\x1b[1;4m",
        "\x1b[0m",
        "\x1b[m",
        "\x1b[38;2;9;8;7m",
        "\x1b[48;5;99m",
        "\x1b[41m",
        "\x1b[49m",
        "\x1b[7m",
        "\x1b[38:2::1:2:3m",
        "\x1b[58;5;3m",
        "\x1b[4:3m",
        "\x1b[K",
        "\x1b[0K",
        "\x1b[1K",
        "\x1b[2K",
        "\x1b[2;3r",
        "\x1b[r",
        "\x1b[1;99r",
        "\x1b[H",
        "\x1b[9;1H",
        "\x1b[3J",
        "\x1b[J",
        "\x1b]8;;http://x\x07",
        "\x1b]8;;\x07",
        "\x1b]0;t\x07",
        "\x1b(0",
        "\x1b(B",
        "\x1b[4h",
        "\x1b[4l",
        "\x1b[?7l",
        "\x1b[?7h",
        "\x1b[1",
        "\x1b",
        "\x1b]",
        "\x18",
        "\u{301}",
        "\u{65e5}",
        "\x1b7",
        "\x1b8",
        "\x1b[20h",
        "\x1b[20l",
        "\x1bD",
        "\x1bM",
        "\x1b[S",
        "\x1b[2T",
        "\x1b[5X",
        "\x1bc",
        "\x1b[2J",
        // From a review: charsets by SI/SO, origin mode, REP, ED variants, styled blanks and
        // tabs before a line break, odd widths, DEL, odd EL forms, a query.
        "\x0e",
        "\x0f",
        "\x1b)0",
        "\x1b[?6h",
        "\x1b[?6l",
        "\x1b[b",
        "\x1b[3b",
        "\x1b[03J",
        "\x1b[3;1J",
        "\x1b[02J",
        "\x1b[1m \t \x1b[m\r",
        "\u{ad}",
        "\u{200b}",
        "\u{fe0f}",
        "\u{ff21}",
        "\x7f",
        "\x1b[00K",
        "\x1b[;K",
        "\x1b[6n",
        // Tabs, default and changed stops.
        "\t\t",
        "ab\tcd\r\n",
        "\x1b[31mx\ty\x1b[m\r\n",
        "\x1bH",
        "\x1b[3g",
        "\x1b[g",
    ];

    /// Sequences whose effect on the history depends on how input was sliced: where a long
    /// synchronized update is cut short depends on the slices, and rows scrolled off inside an
    /// update that also switches to the alternate screen wait in alacritty's history until the
    /// primary screen is back. The fast path slices differently from alacritty alone, so with
    /// these only the screen is compared.
    const SLICE_SENSITIVE: &[&str] = &["\x1b[?1049h", "\x1b[?1049l", "\x1b[?2026h", "\x1b[?2026l"];

    fn pieces_strategy(
        extra: &'static [&'static str],
    ) -> impl proptest::strategy::Strategy<Value = Vec<&'static str>> {
        let mut all = PIECES.to_vec();
        all.extend_from_slice(extra);
        proptest::collection::vec(
            proptest::prop_oneof![
                6 => proptest::sample::select(vec!["plain text\r\n", "ok\r\n", "\r\n",
                    "a line that is long enough to wrap\r\n", "\x1b[32mgreen\x1b[0m\r\n",
                    "col\tumns\tof\tdata\r\n"]),
                4 => proptest::sample::select(all),
            ],
            0..300,
        )
    }

    /// `bytes` cut into reads of `cuts[0]`, `cuts[1]`, ... bytes (cycling), numbered from 0.
    fn reads<'a>(
        bytes: &'a [u8],
        cuts: &'a [usize],
    ) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let mut rest = bytes;
        cuts.iter().cycle().enumerate().map_while(move |(k, &n)| {
            if rest.is_empty() {
                return None;
            }
            let (read, after) = rest.split_at(n.min(rest.len()));
            rest = after;
            Some((k, read))
        })
    }

    /// Feeds `pieces` (with an invalid byte before piece `invalid`) cut by `cuts` to a terminal
    /// with the fast path and one without, calling `check` after every read.
    fn run_pair(
        pieces: &[&str],
        invalid: Option<usize>,
        cuts: &[usize],
        size: (u16, u16),
        check: impl FnMut(
            &mut Terminal,
            &mut Terminal,
            usize,
        ) -> Result<(), proptest::test_runner::TestCaseError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut bytes = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            if invalid == Some(i) {
                bytes.push(0xff);
            }
            bytes.extend_from_slice(p.as_bytes());
        }
        run_pair_bytes(&bytes, cuts, size, check)
    }

    /// Feeds `bytes` cut by `cuts` to a terminal with the fast path and one without, calling
    /// `check` after every read and once more after ending any synchronized update and sequence.
    fn run_pair_bytes(
        bytes: &[u8],
        cuts: &[usize],
        size: (u16, u16),
        mut check: impl FnMut(
            &mut Terminal,
            &mut Terminal,
            usize,
        ) -> Result<(), proptest::test_runner::TestCaseError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let (mut fast, mut slow) = reference_pair(size.0, size.1);
        for (k, read) in reads(bytes, cuts) {
            fast.feed(read);
            slow.feed(read);
            check(&mut fast, &mut slow, k)?;
        }
        for t in [&mut fast, &mut slow] {
            t.feed(b"\x1b[?2026l\x18");
        }
        check(&mut fast, &mut slow, usize::MAX)
    }

    /// The differential tests' configuration: a fixed seed, so CI runs the same cases every
    /// time; `QUIL_FUZZ=1` turns them into a fuzzer (a random seed and 100 times the cases).
    fn differential(cases: u32) -> proptest::prelude::ProptestConfig {
        use proptest::test_runner::RngSeed;
        let fuzz = std::env::var_os("QUIL_FUZZ").is_some_and(|v| v != "0");
        proptest::prelude::ProptestConfig {
            cases: if fuzz { cases * 100 } else { cases },
            rng_seed: if fuzz {
                RngSeed::Random
            } else {
                RngSeed::Fixed(0x0015_5eed)
            },
            ..proptest::prelude::ProptestConfig::default()
        }
    }

    proptest::proptest! {
        #![proptest_config(differential(300))]

        /// The fast path changes nothing anyone can see: screen, cursor, modes and history
        /// after every read are what alacritty alone gives, however the output is cut, also
        /// around switches to and from the alternate screen.
        #[test]
        fn fast_path_matches_alacritty(
            pieces in pieces_strategy(&["\x1b[?1049h", "\x1b[?1049l"]),
            cuts in proptest::collection::vec(1usize..40, 1..40),
            cols in proptest::prop_oneof![3 => 2u16..14, 1 => 30u16..90],
            rows in 1u16..7,
            resize_at in proptest::option::of(0usize..300),
            invalid in proptest::option::of(0usize..300),
        ) {
            run_pair(&pieces, invalid, &cuts, (cols, rows), |fast, slow, k| {
                proptest::prop_assert_eq!(observe(fast), observe(slow), "after read {}", k);
                if resize_at == Some(k) {
                    fast.resize(cols + 3, rows + 2);
                    slow.resize(cols + 3, rows + 2);
                    proptest::prop_assert_eq!(observe(fast), observe(slow), "after the resize");
                }
                Ok(())
            })?;
        }

        /// With the slice-sensitive sequences too, the screen, cursor and modes still match
        /// (outside synchronized updates, which show nothing until they end).
        #[test]
        fn fast_path_matches_alacritty_on_screen(
            pieces in pieces_strategy(SLICE_SENSITIVE),
            cuts in proptest::collection::vec(1usize..40, 1..40),
            cols in 2u16..14,
            rows in 1u16..7,
            invalid in proptest::option::of(0usize..300),
        ) {
            run_pair(&pieces, invalid, &cuts, (cols, rows), |fast, slow, k| {
                if !fast.sync_pending() && !slow.sync_pending() {
                    proptest::prop_assert_eq!(
                        (fast.lines(), fast.cursor(), fast.modes()),
                        (slow.lines(), slow.cursor(), slow.modes()),
                        "after read {}", k
                    );
                }
                Ok(())
            })?;
        }
    }

    /// A real program's output as it was recorded (`tests/streams`; its README says how).
    struct Stream {
        name: String,
        /// The pane size it was recorded at.
        size: (u16, u16),
        bytes: Vec<u8>,
    }

    /// Every `tests/streams/NAME-COLSxROWS.bin`, read once.
    fn recorded_streams() -> &'static [Stream] {
        static STREAMS: std::sync::OnceLock<Vec<Stream>> = std::sync::OnceLock::new();
        STREAMS.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/streams");
            let mut all = Vec::new();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "bin") {
                    continue;
                }
                let stem = path.file_stem().unwrap().to_str().unwrap();
                let (name, size) = stem.rsplit_once('-').unwrap();
                let (cols, rows) = size.split_once('x').unwrap();
                all.push(Stream {
                    name: name.to_string(),
                    size: (cols.parse().unwrap(), rows.parse().unwrap()),
                    bytes: std::fs::read(&path).unwrap(),
                });
            }
            all.sort_by(|a, b| a.name.cmp(&b.name));
            assert!(all.len() >= 10, "only {} streams in {dir:?}", all.len());
            all
        })
    }

    /// The differential tests' check, for output that may hold synchronized updates and the
    /// alternate screen: all that `observe` sees, outside synchronized updates (which show
    /// nothing until they end).
    fn same_outside_sync(
        fast: &Terminal,
        slow: &Terminal,
        k: usize,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        if !fast.sync_pending() && !slow.sync_pending() {
            proptest::prop_assert_eq!(observe(fast), observe(slow), "after read {}", k);
        }
        Ok(())
    }

    /// Recorded streams no longer than this are also fed a byte per read, at their own size
    /// (a debug build takes about a second for 10 KB).
    const SMALL_STREAM: usize = 12 * 1024;

    /// Real programs' output (vim, less, top, htop, git, bash, dialog, tmux, vttest, Claude Code,
    /// opencode) gives the same screen, cursor, modes and history with the fast path as
    /// without, fed whole, in PTY-sized reads and (the small ones) a byte at a time, at the
    /// size it was recorded at and at a smaller and a larger one.
    #[test]
    fn recorded_streams_match_alacritty() {
        // Lines the fast path took, so the streams keep exercising it.
        let mut fast_lines = 0;
        for s in recorded_streams() {
            let (cols, rows) = s.size;
            for size in [s.size, (cols * 2 / 3, rows / 2 + 1), (cols + 21, rows + 9)] {
                let mut chunkings = vec![s.bytes.len(), 4096];
                if s.bytes.len() <= SMALL_STREAM && size == s.size {
                    chunkings.push(1);
                }
                for cut in chunkings {
                    let mut taken = 0;
                    if let Err(e) = run_pair_bytes(&s.bytes, &[cut], size, |fast, slow, k| {
                        taken = fast.fast.total_lines;
                        same_outside_sync(fast, slow, k)
                    }) {
                        panic!("{} at {size:?} in reads of {cut} bytes: {e}", s.name);
                    }
                    fast_lines += taken;
                }
            }
        }
        assert!(
            fast_lines > 3000,
            "the fast path took only {fast_lines} lines"
        );
    }

    proptest::proptest! {
        #![proptest_config(differential(64))]

        /// Recorded streams cut at random points, at their own size or a random one, with a
        /// resize somewhere: the fast path still changes nothing anyone can see.
        #[test]
        fn recorded_streams_cut_at_random_match_alacritty(
            stream in 0..recorded_streams().len(),
            cuts in proptest::collection::vec(1usize..600, 1..40),
            size in proptest::option::of((2u16..140, 1u16..50)),
            resize_at in proptest::option::of(0usize..60),
        ) {
            let s = &recorded_streams()[stream];
            let size = size.unwrap_or(s.size);
            // Where the stream was recorded at another size, the resize goes back to it.
            let other = if size == s.size { (size.0 + 3, size.1 + 2) } else { s.size };
            run_pair_bytes(&s.bytes, &cuts, size, |fast, slow, k| {
                same_outside_sync(fast, slow, k)?;
                if resize_at == Some(k) {
                    fast.resize(other.0, other.1);
                    slow.resize(other.0, other.1);
                    same_outside_sync(fast, slow, k)?;
                }
                Ok(())
            })?;
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// A copy of the screen updated only in the rows `take_damage` names stays equal to the
        /// screen, whatever the output, with the fast path on or off.
        #[test]
        fn damage_names_every_changed_row(
            pieces in pieces_strategy(SLICE_SENSITIVE),
            cuts in proptest::collection::vec(1usize..40, 1..40),
            cols in 2u16..14,
            rows in 1u16..7,
            resize_at in proptest::option::of(0usize..300),
            fast_enabled: bool,
        ) {
            let mut t = reference_pair(cols, rows).0;
            t.fast_enabled = fast_enabled;
            let bytes = pieces.concat().into_bytes();
            let mut copy = Vec::new();
            for (k, read) in reads(&bytes, &cuts) {
                t.feed(read);
                if resize_at == Some(k) {
                    t.resize(cols + 2, rows + 1);
                }
                match t.take_damage() {
                    None => copy = t.lines(),
                    Some(damaged) => {
                        for r in damaged {
                            copy[r as usize] = t.line(r);
                        }
                    }
                }
                proptest::prop_assert_eq!(&copy, &t.lines(), "after read {}", k);
            }
        }
    }

    proptest::proptest! {
        /// The compact encoding of a row decodes to exactly what the screen shows for it.
        #[test]
        fn compact_encoding_matches_screen_lines(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "x", "hello ", "日本", "e\u{301}", "\t", "\r\n", " ", "  ",
                "\x1b[31m", "\x1b[1;4m", "\x1b[0m", "\x1b[38;2;9;8;7m", "\x1b[48;5;99m",
                "\x1b[2m", "\x1b[7m", "\x1b[41m", "\x1b[K", "\x1b[2;3H", "\x1b[4:3m",
                "\x1b[?7l", "\x1b[?7h", "\x1b]8;;http://x\x07", "\x1b]8;;\x07",
            ]), 0..200),
            cols in 2u16..30,
        ) {
            let mut t = Terminal::new(TermConfig { cols, rows: 6, scrollback_bytes: 1 << 20 });
            // Alacritty's grid rows themselves are encoded here.
            t.fast_enabled = false;
            t.feed(pieces.concat().as_bytes());
            let (mut buf, mut run) = (Vec::new(), Vec::new());
            for row in 0..6 {
                scrollback::encode_row(&t.term.grid()[GridLine(row)][..], &mut buf, &mut run);
                proptest::prop_assert_eq!(scrollback::decode(&buf), t.line(row as u16));
            }
        }
    }

    /// Every cell of the visible screen, and alacritty's cursors, unpacking first; as text,
    /// with the numbers alacritty gives hyperlinks without an id taken out (each terminal
    /// counts its own).
    fn cells(t: &mut Terminal) -> String {
        t.unpack();
        let grid = t.term.grid();
        let rows: Vec<Vec<Cell>> = (0..t.rows as i32)
            .map(|r| grid[GridLine(r)][..].to_vec())
            .collect();
        let text = format!("{rows:?} {:?} {:?}", grid.cursor, grid.saved_cursor);
        let mut out = String::new();
        for (i, part) in text.split("_alacritty").enumerate() {
            if i > 0 {
                out.push_str("_alacritty");
            }
            out.push_str(part.trim_end_matches(|c: char| c.is_ascii_digit()));
        }
        out
    }

    #[test]
    fn a_packed_screen_reads_and_comes_back_as_it_was() {
        let cfg = TermConfig {
            cols: 40,
            rows: 8,
            scrollback_bytes: 1 << 20,
        };
        let (mut packed, mut plain) = (Terminal::new(cfg), Terminal::new(cfg));
        // Colours, a wide char, a combining mark, a hyperlink, a tab, a wrapped line, a saved
        // cursor, the line-drawing charset, and a pen left set.
        let screen = "\x1b[1;31muser\x1b[m@\x1b[38;2;1;2;3mhost\x1b[m 中e\u{301}\r\n\
            \x1b]8;;http://x\x07link\x1b]8;;\x07\tcol\r\n\
            a line long enough to wrap at forty columns, and on\r\n\
            \x1b7\x1b[5;3H\x1b(0lqk\x1b(B\x1b8\x1b[4;44m$ ";
        for t in [&mut packed, &mut plain] {
            t.feed(screen.as_bytes());
        }
        // A change no one has asked about yet (see `take_damage`).
        packed.take_damage();
        for t in [&mut packed, &mut plain] {
            t.feed(b"\x1b7\x1b[8;1Hz\x1b8");
        }
        let before = (observe(&plain), plain.pen());
        assert!(packed.pack(), "an idle primary screen packs");
        assert_eq!(
            packed.take_damage(),
            None,
            "changes not yet asked about: all rows"
        );
        assert!(packed.is_packed());
        assert_eq!(
            (observe(&packed), packed.pen()),
            before,
            "read while packed"
        );
        assert_eq!(
            packed.term.grid().columns(),
            1,
            "alacritty's grid is given up"
        );
        // The next output unpacks it, and it goes on exactly as the other.
        for t in [&mut packed, &mut plain] {
            t.feed("x\x1b8y\x0e\x1b)0ab\x0f\r\n".as_bytes());
        }
        assert!(!packed.is_packed());
        assert_eq!(observe(&packed), observe(&plain));
        assert_eq!(cells(&mut packed), cells(&mut plain));
        // A resize unpacks too.
        assert!(packed.pack());
        for t in [&mut packed, &mut plain] {
            t.resize(30, 5);
        }
        assert_eq!(observe(&packed), observe(&plain));
        assert_eq!(cells(&mut packed), cells(&mut plain));
    }

    #[test]
    fn the_alternate_screen_and_open_updates_are_not_packed() {
        let mut t = Terminal::new(TermConfig {
            cols: 20,
            rows: 5,
            scrollback_bytes: 1 << 20,
        });
        t.feed(b"\x1b[?1049hfull screen");
        assert!(!t.pack(), "alternate screen");
        t.feed(b"\x1b[?1049l\x1b[?2026hpending");
        assert!(!t.pack(), "synchronized update");
        t.feed(b"\x1b[?2026l");
        assert!(t.pack());
    }

    proptest::proptest! {
        #![proptest_config(differential(200))]

        /// Packing changes nothing anyone can see, packed or after: screen, cursor, pen, modes
        /// and history after every read match a terminal that never packs, whenever it packs,
        /// with or without the fast path, and every cell is the same at the end.
        #[test]
        fn packing_matches_a_terminal_that_never_packs(
            pieces in pieces_strategy(&["\x1b[?1049h", "\x1b[?1049l"]),
            cuts in proptest::collection::vec(1usize..40, 1..40),
            packs in proptest::collection::vec(proptest::bool::ANY, 1..20),
            cols in proptest::prop_oneof![3 => 2u16..14, 1 => 30u16..90],
            rows in 1u16..7,
            fast_path in proptest::bool::ANY,
        ) {
            let cfg = TermConfig { cols, rows, scrollback_bytes: 1 << 20 };
            let (mut packed, mut plain) = (Terminal::new(cfg), Terminal::new(cfg));
            packed.fast_enabled = fast_path;
            plain.fast_enabled = fast_path;
            let bytes = pieces.concat();
            // A copy of the screen kept up to date from the rows `take_damage` names, as the
            // daemon keeps what it sends; asked for only every other read.
            let mut copy = packed.lines();
            for (k, read) in reads(bytes.as_bytes(), &cuts) {
                packed.feed(read);
                plain.feed(read);
                if packs[k % packs.len()] {
                    packed.pack();
                }
                proptest::prop_assert_eq!(
                    (observe(&packed), packed.pen()),
                    (observe(&plain), plain.pen()),
                    "after read {}", k
                );
                if k % 2 == 1 {
                    match packed.take_damage() {
                        None => copy = packed.lines(),
                        Some(rows) => {
                            for r in rows {
                                copy[r as usize] = packed.line(r);
                            }
                        }
                    }
                    proptest::prop_assert_eq!(&copy, &plain.lines(), "damage after read {}", k);
                }
            }
            for t in [&mut packed, &mut plain] {
                t.feed(b"\x1b[?2026l\x18\x1b[?1049lend");
            }
            proptest::prop_assert_eq!(observe(&packed), observe(&plain));
            proptest::prop_assert_eq!(cells(&mut packed), cells(&mut plain));
        }
    }
}
