//! The scrollback (copy mode) view of one pane: history fetched from the daemon in chunks,
//! search with highlighted matches, and a keyboard selection copied via OSC 52.
//!
//! The view is frozen on entry: the document is the pane's history (oldest first) followed by
//! a snapshot of its screen. History indices counted from the oldest line stay valid while the
//! pane keeps printing (new lines are appended at the newest end), so chunks fetched later still
//! fit; `drift` (how much history grew since entry) turns them into request offsets.

use super::pane::{chars_with_cols, join_selection};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use quil_proto::{Line, PaneId, Request};
use std::collections::VecDeque;
use unicode_width::UnicodeWidthChar;

/// History lines per request.
pub const CHUNK: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hl {
    Match,
    CurrentMatch,
    Selection,
    Cursor,
}

/// What a key did to the view.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Stay,
    Exit,
    /// Copy this text and leave.
    Copy(String),
}

#[derive(Debug, Clone)]
pub struct Scrollback {
    pub pane: PaneId,
    screen: Vec<Line>,
    /// History length at entry; `None` until the first reply.
    base_total: Option<u32>,
    drift: u32,
    /// History lines `loaded_from..base_total`.
    hist: VecDeque<Line>,
    loaded_from: u32,
    in_flight: bool,
    /// First document line shown.
    pub top: u32,
    pub width: u16,
    pub height: u16,
    pub cursor: Pos,
    pub anchor: Option<Pos>,
    /// The search whose matches are highlighted.
    pub query: Option<String>,
    /// A search being typed: (backward, text).
    pub prompt: Option<(bool, String)>,
    backward: bool,
    pub current: Option<(Pos, u16)>,
    /// Lines to scroll up once the first history arrives.
    initial_up: u32,
    pending_search: bool,
    /// The next search goes against `backward` (`N`).
    reverse_next: bool,
    /// Offset of the request in flight, to place its reply.
    last_offset: Option<u32>,
    /// A reply brought nothing new (history was trimmed under us): stop asking.
    stalled: bool,
    pub message: Option<String>,
    requests: Vec<Request>,
}

impl Scrollback {
    /// Opens the view on `screen` (the pane's current rows) with the copy cursor at `cursor`
    /// (screen coordinates), scrolled up `up` lines once history has loaded.
    pub fn new(
        pane: PaneId,
        screen: Vec<Line>,
        cursor: (u16, u16),
        width: u16,
        height: u16,
        up: u32,
    ) -> Scrollback {
        let mut sb = Scrollback {
            pane,
            screen,
            base_total: None,
            drift: 0,
            hist: VecDeque::new(),
            loaded_from: 0,
            in_flight: true,
            top: 0,
            width: width.max(1),
            height: height.max(1),
            cursor: Pos {
                line: u32::from(cursor.1),
                col: cursor.0,
            },
            anchor: None,
            query: None,
            prompt: None,
            backward: true,
            current: None,
            initial_up: up,
            pending_search: false,
            reverse_next: false,
            last_offset: None,
            stalled: false,
            message: None,
            requests: vec![Request::Scrollback {
                pane,
                offset: 0,
                count: CHUNK,
            }],
        };
        sb.top = sb.max_top();
        sb
    }

    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    pub fn loading(&self) -> bool {
        self.base_total.is_none()
    }

    /// History lines above the screen, as the first reply counted them (0 until it arrives).
    pub fn history_len(&self) -> u32 {
        self.base_total.unwrap_or(0)
    }

    /// History lines plus screen lines.
    pub fn doc_len(&self) -> u32 {
        self.history_len() + self.screen.len() as u32
    }

    fn max_top(&self) -> u32 {
        self.doc_len().saturating_sub(u32::from(self.height))
    }

    /// How many lines the view is above the bottom.
    pub fn offset_from_bottom(&self) -> u32 {
        self.max_top().saturating_sub(self.top)
    }

    /// A document line; `None` while that part of history has not arrived.
    pub fn line(&self, i: u32) -> Option<&Line> {
        let h = self.history_len();
        if i < h {
            i.checked_sub(self.loaded_from)
                .and_then(|k| self.hist.get(k as usize))
        } else {
            self.screen.get((i - h) as usize)
        }
    }

    /// Takes a `Reply::Scrollback` for this view.
    pub fn on_reply(&mut self, lines: Vec<Line>, total: u32) {
        self.in_flight = false;
        let n = lines.len() as u32;
        match self.base_total {
            None => {
                // First reply: the request had offset 0, so these are the newest history lines.
                self.base_total = Some(total);
                self.loaded_from = total.saturating_sub(n);
                self.hist = lines.into_iter().collect();
                self.cursor.line += total;
                // Scrolling up drags the copy cursor along rather than the cursor pulling the
                // view back down.
                self.top = self.max_top();
                self.scroll(-i64::from(self.initial_up));
            }
            Some(base) => {
                self.drift = total.saturating_sub(base);
                // The request asked for lines ending at `loaded_from`, adjusted by the drift it
                // knew; place the reply by what it says now and keep only the missing ones.
                let asked_offset = self.last_offset.unwrap_or(0);
                let end = total.saturating_sub(asked_offset);
                let start = end.saturating_sub(n);
                let before = self.loaded_from;
                for (k, line) in lines.into_iter().enumerate().rev() {
                    let idx = start + k as u32;
                    if idx + 1 == self.loaded_from {
                        self.hist.push_front(line);
                        self.loaded_from -= 1;
                    }
                }
                // Only a reply that brought nothing although it should have (no drift to explain
                // it) means history is gone; with drift the next request is placed right.
                if self.loaded_from == before && self.drift == total.saturating_sub(base) && n == 0
                {
                    self.stalled = true;
                }
            }
        }
        if self.pending_search && (self.loaded_from == 0 || self.stalled) {
            self.pending_search = false;
            self.run_search();
        }
        self.fetch_if_needed();
    }

    /// Asks for the next chunk when the view comes near history that has not arrived.
    fn fetch_if_needed(&mut self) {
        if self.in_flight || self.stalled || self.base_total.is_none() || self.loaded_from == 0 {
            return;
        }
        let want_all = self.pending_search;
        if want_all || self.top < self.loaded_from + u32::from(self.height) {
            let count = if want_all {
                self.loaded_from
            } else {
                self.loaded_from.min(CHUNK)
            };
            self.request_above(count);
        }
    }

    fn request_above(&mut self, count: u32) {
        let offset = self.drift + (self.history_len() - self.loaded_from);
        self.last_offset = Some(offset);
        self.in_flight = true;
        self.requests.push(Request::Scrollback {
            pane: self.pane,
            offset,
            count,
        });
    }

    pub fn set_view(&mut self, width: u16, height: u16) {
        if (width.max(1), height.max(1)) != (self.width, self.height) {
            self.width = width.max(1);
            self.height = height.max(1);
            self.top = self.top.min(self.max_top());
            self.follow_cursor_into_view();
        }
    }

    /// Scrolls the view by `delta` lines (negative = up, towards older lines), dragging the
    /// copy cursor along so it stays visible.
    pub fn scroll(&mut self, delta: i64) {
        let top = (i64::from(self.top) + delta).clamp(0, i64::from(self.max_top()));
        self.top = top as u32;
        let last = self.top + u32::from(self.height) - 1;
        self.cursor.line = self.cursor.line.clamp(
            self.top,
            last.min(self.doc_len().saturating_sub(1)).max(self.top),
        );
        self.fetch_if_needed();
    }

    fn follow_cursor_into_view(&mut self) {
        let h = u32::from(self.height);
        if self.cursor.line < self.top {
            self.top = self.cursor.line;
        } else if self.cursor.line >= self.top + h {
            self.top = self.cursor.line + 1 - h;
        }
        self.top = self.top.min(self.max_top());
        self.fetch_if_needed();
    }

    fn move_cursor(&mut self, dx: i32, dy: i64) {
        let max_line = i64::from(self.doc_len().saturating_sub(1));
        self.cursor.line = (i64::from(self.cursor.line) + dy).clamp(0, max_line) as u32;
        self.cursor.col =
            (i32::from(self.cursor.col) + dx).clamp(0, i32::from(self.width) - 1) as u16;
        self.follow_cursor_into_view();
    }

    /// Moves the copy cursor to a clicked cell of the view.
    pub fn click(&mut self, col: u16, row: u16, extend: bool) {
        let pos = Pos {
            line: (self.top + u32::from(row)).min(self.doc_len().saturating_sub(1)),
            col: col.min(self.width - 1),
        };
        if extend {
            if self.anchor.is_none() {
                self.anchor = Some(self.cursor);
            }
        } else {
            self.anchor = None;
        }
        self.cursor = pos;
    }

    /// The selected text, if a selection was started.
    pub fn selection_text(&self) -> Option<String> {
        let (a, b) = self.selection()?;
        let parts = (a.line..=b.line).filter_map(|i| {
            let line = self.line(i)?;
            let (from, to) = self.selected_cols(i, u16::MAX)?;
            Some((line, from, to))
        });
        Some(join_selection(parts))
    }

    /// Selected columns `[from, to)` on document line `i`; lines inside the selection are
    /// selected up to `width`.
    fn selected_cols(&self, i: u32, width: u16) -> Option<(u16, u16)> {
        let (a, b) = self.selection()?;
        if !(a.line..=b.line).contains(&i) {
            return None;
        }
        let from = if i == a.line { a.col } else { 0 };
        let to = if i == b.line { b.col + 1 } else { width };
        Some((from, to))
    }

    fn selection(&self) -> Option<(Pos, Pos)> {
        let a = self.anchor?;
        Some(if a <= self.cursor {
            (a, self.cursor)
        } else {
            (self.cursor, a)
        })
    }

    pub fn key(&mut self, ev: &KeyEvent) -> Outcome {
        self.message = None;
        if let Some((backward, mut text)) = self.prompt.take() {
            match ev.code {
                KeyCode::Enter => {
                    if !text.is_empty() {
                        self.query = Some(text);
                        self.backward = backward;
                        self.search(false);
                    }
                }
                KeyCode::Esc => {}
                KeyCode::Backspace => {
                    text.pop();
                    self.prompt = Some((backward, text));
                }
                KeyCode::Char(c)
                    if !ev
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    text.push(c);
                    self.prompt = Some((backward, text));
                }
                _ => self.prompt = Some((backward, text)),
            }
            return Outcome::Stay;
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let page = i64::from(self.height.saturating_sub(1).max(1));
        let half = i64::from((self.height / 2).max(1));
        match ev.code {
            KeyCode::Char('q') => return Outcome::Exit,
            KeyCode::Esc if self.anchor.is_some() => self.anchor = None,
            KeyCode::Esc => return Outcome::Exit,
            KeyCode::Char('c') if ctrl => return Outcome::Exit,
            KeyCode::Char('b') if ctrl => self.scroll(-page),
            KeyCode::Char('f') if ctrl => self.scroll(page),
            KeyCode::Char('u') if ctrl => self.scroll(-half),
            KeyCode::Char('d') if ctrl => self.scroll(half),
            KeyCode::PageUp => self.scroll(-page),
            KeyCode::PageDown => self.scroll(page),
            KeyCode::Up | KeyCode::Char('k') => self.move_cursor(0, -1),
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(0, 1),
            KeyCode::Left | KeyCode::Char('h') => self.move_cursor(-1, 0),
            KeyCode::Right | KeyCode::Char('l') => self.move_cursor(1, 0),
            KeyCode::Home | KeyCode::Char('0') => self.cursor.col = 0,
            KeyCode::End | KeyCode::Char('$') => {
                let len = self.line(self.cursor.line).map_or(0, |l| {
                    super::pane::cells(l).last().map_or(0, |c| c.col + c.width)
                });
                self.cursor.col = len.saturating_sub(1).min(self.width - 1);
            }
            KeyCode::Char('g') => {
                self.cursor.line = 0;
                self.follow_cursor_into_view();
            }
            KeyCode::Char('G') => {
                self.cursor.line = self.doc_len().saturating_sub(1);
                self.follow_cursor_into_view();
            }
            KeyCode::Char('v') | KeyCode::Char(' ') => {
                self.anchor = if self.anchor.is_some() {
                    None
                } else {
                    Some(self.cursor)
                };
            }
            KeyCode::Char('y') | KeyCode::Enter => {
                return match self.selection_text() {
                    Some(t) => Outcome::Copy(t),
                    None => {
                        self.message =
                            Some("nothing selected: press v to start a selection".into());
                        Outcome::Stay
                    }
                };
            }
            KeyCode::Char('/') => self.prompt = Some((true, String::new())),
            KeyCode::Char('?') => self.prompt = Some((false, String::new())),
            KeyCode::Char('n') => self.search(false),
            KeyCode::Char('N') => self.search(true),
            _ => {}
        }
        Outcome::Stay
    }

    /// Searches again in the last direction (or the opposite one), once all history is here.
    fn search(&mut self, reverse: bool) {
        if self.query.is_none() {
            return;
        }
        self.reverse_next = reverse;
        if (self.loaded_from > 0 && !self.stalled) || self.base_total.is_none() {
            self.pending_search = true;
            self.message = Some("loading history to search…".into());
            self.fetch_if_needed();
            return;
        }
        self.run_search();
    }

    fn run_search(&mut self) {
        let Some(query) = self.query.clone() else {
            return;
        };
        let backward = self.backward != self.reverse_next;
        let n = self.doc_len();
        if n == 0 {
            return;
        }
        let from = self.current.map_or(self.cursor, |(p, _)| p);
        let mut hit = None;
        // Visit the start line, then every other line in order, then the start line again (for
        // matches on the other side of the cursor after wrapping around).
        for step in 0..=n {
            let i = if backward {
                (from.line + n - step % n) % n
            } else {
                (from.line + step) % n
            };
            let Some(line) = self.line(i) else { continue };
            let found = find_matches(line, &query);
            let pick = if backward {
                found
                    .into_iter()
                    .rev()
                    .find(|(c, _)| step > 0 || *c < from.col)
            } else {
                found.into_iter().find(|(c, _)| step > 0 || *c > from.col)
            };
            if let Some((col, w)) = pick {
                hit = Some((Pos { line: i, col }, w));
                break;
            }
        }
        match hit {
            Some((pos, w)) => {
                self.current = Some((pos, w));
                self.cursor = pos;
                self.follow_cursor_into_view();
            }
            None => {
                self.current = None;
                self.message = Some(format!("no match for {query:?}"));
            }
        }
    }

    /// Highlighted column ranges `[from, to)` on document line `i`.
    pub fn highlights(&self, i: u32) -> Vec<(u16, u16, Hl)> {
        let mut out = Vec::new();
        if let (Some(q), Some(line)) = (&self.query, self.line(i)) {
            for (col, w) in find_matches(line, q) {
                let current = self
                    .current
                    .is_some_and(|(p, _)| p.line == i && p.col == col);
                out.push((
                    col,
                    col + w,
                    if current { Hl::CurrentMatch } else { Hl::Match },
                ));
            }
        }
        if let Some((from, to)) = self.selected_cols(i, self.width) {
            out.push((from, to, Hl::Selection));
        }
        if self.cursor.line == i {
            out.push((self.cursor.col, self.cursor.col + 1, Hl::Cursor));
        }
        out
    }
}

/// Where `query` occurs in `line`: (column, width in columns). Case-insensitive unless the
/// query has an uppercase letter ("smart case").
pub fn find_matches(line: &Line, query: &str) -> Vec<(u16, u16)> {
    let fold = !query.chars().any(char::is_uppercase);
    let norm = |c: char| {
        if fold {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        }
    };
    let q: Vec<char> = query.chars().map(norm).collect();
    if q.is_empty() {
        return Vec::new();
    }
    let (chars, cols) = chars_with_cols(line);
    let hay: Vec<char> = chars.iter().map(|c| norm(*c)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + q.len() <= hay.len() {
        if hay[i..i + q.len()] == q[..] {
            let last = i + q.len() - 1;
            let end = cols[last] + chars[last].width().unwrap_or(1).max(1) as u16;
            out.push((cols[i], end - cols[i]));
            i += q.len();
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<Line> {
        texts.iter().map(|t| Line::plain(t)).collect()
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(sb: &mut Scrollback, s: &str) {
        for c in s.chars() {
            sb.key(&key(KeyCode::Char(c)));
        }
    }

    /// A view with 3 screen rows and `hist` history lines, all delivered in one reply.
    fn view(hist: &[&str]) -> Scrollback {
        let mut sb = Scrollback::new(PaneId(1), lines(&["s0", "s1 $", "s2"]), (3, 1), 20, 3, 0);
        assert_eq!(
            sb.take_requests(),
            vec![Request::Scrollback {
                pane: PaneId(1),
                offset: 0,
                count: CHUNK
            }]
        );
        sb.on_reply(lines(hist), hist.len() as u32);
        sb
    }

    #[test]
    fn first_reply_places_history_above_the_screen() {
        let sb = view(&["h0", "h1"]);
        assert_eq!(sb.doc_len(), 5);
        assert_eq!(sb.line(0).map(Line::text).as_deref(), Some("h0"));
        assert_eq!(sb.line(3).map(Line::text).as_deref(), Some("s1 $"));
        assert_eq!(
            sb.cursor,
            Pos { line: 3, col: 3 },
            "cursor moved down by the history length"
        );
        assert_eq!(sb.top, 2, "view at the bottom");
    }

    #[test]
    fn entering_a_page_up_keeps_the_view_up() {
        let mut sb = Scrollback::new(PaneId(1), lines(&["s0", "s1", "s2"]), (0, 2), 10, 3, 2);
        sb.take_requests();
        let hist: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
        sb.on_reply(hist.iter().map(|t| Line::plain(t)).collect(), 10);
        assert_eq!(sb.offset_from_bottom(), 2);
        assert_eq!(sb.top, 8);
        assert_eq!(sb.cursor.line, 10, "cursor dragged into the view");
    }

    #[test]
    fn chunks_are_fetched_above_and_placed_by_the_reply_total() {
        let mut sb = Scrollback::new(PaneId(1), lines(&["s0"]), (0, 0), 10, 2, 0);
        sb.take_requests();
        // 5 history lines exist; the first chunk brought the newest 2 (chunking simulated).
        sb.on_reply(lines(&["h3", "h4"]), 5);
        assert_eq!(sb.loaded_from, 3);
        sb.scroll(-2);
        // Meanwhile the pane printed 4 more lines: the daemon's total is 9 and the request's
        // offset already accounts for nothing yet (drift is learned from replies).
        let req = sb.take_requests();
        assert_eq!(
            req,
            vec![Request::Scrollback {
                pane: PaneId(1),
                offset: 2,
                count: 3
            }]
        );
        // Offset 2 from a total of 9 ends at index 7: lines 4..7 of the grown history; only the
        // one right above what we have (index 2) is kept... which is not in this reply, so the
        // next request asks again with the learned drift.
        sb.on_reply(lines(&["h4", "h5", "h6"]), 9);
        assert_eq!(sb.loaded_from, 3);
        assert_eq!(
            sb.take_requests(),
            vec![Request::Scrollback {
                pane: PaneId(1),
                offset: 6,
                count: 3
            }]
        );
        sb.on_reply(lines(&["h0", "h1", "h2"]), 9);
        assert_eq!(sb.loaded_from, 0);
        let got: Vec<String> = (0..6).filter_map(|i| sb.line(i).map(Line::text)).collect();
        assert_eq!(got, ["h0", "h1", "h2", "h3", "h4", "s0"]);
    }

    #[test]
    fn search_moves_to_matches_and_wraps() {
        let mut sb = view(&["foo one", "bar", "FOO two"]);
        sb.key(&key(KeyCode::Char('/')));
        typed(&mut sb, "foo");
        assert_eq!(sb.prompt, Some((true, "foo".into())));
        sb.key(&key(KeyCode::Enter));
        // Backward from the cursor (line 4): "FOO two" on line 2 first (smart case).
        assert_eq!(sb.current, Some((Pos { line: 2, col: 0 }, 3)));
        sb.key(&key(KeyCode::Char('n')));
        assert_eq!(sb.current.map(|c| c.0.line), Some(0));
        sb.key(&key(KeyCode::Char('n')));
        assert_eq!(sb.current.map(|c| c.0.line), Some(2), "wrapped around");
        sb.key(&key(KeyCode::Char('N')));
        assert_eq!(sb.current.map(|c| c.0.line), Some(0));
        let hl = sb.highlights(0);
        assert!(hl.contains(&(0, 3, Hl::CurrentMatch)), "{hl:?}");
        assert!(sb.highlights(2).contains(&(0, 3, Hl::Match)));
        sb.key(&key(KeyCode::Char('/')));
        typed(&mut sb, "zzz");
        sb.key(&key(KeyCode::Enter));
        assert!(sb.message.as_deref().unwrap_or("").contains("no match"));
    }

    #[test]
    fn search_waits_for_all_history() {
        let mut sb = Scrollback::new(PaneId(1), lines(&["s0"]), (0, 0), 10, 5, 0);
        sb.take_requests();
        sb.on_reply(lines(&["newest"]), 3000);
        // Near the unloaded part: the next chunk is asked for at once.
        assert_eq!(
            sb.take_requests(),
            vec![Request::Scrollback {
                pane: PaneId(1),
                offset: 1,
                count: CHUNK
            }]
        );
        sb.query = Some("needle".into());
        sb.search(false);
        assert!(
            sb.take_requests().is_empty(),
            "a fetch is in flight already"
        );
        sb.on_reply(vec![Line::default(); CHUNK as usize], 3000);
        // The search wants everything that is left.
        assert_eq!(
            sb.take_requests(),
            vec![Request::Scrollback {
                pane: PaneId(1),
                offset: 1001,
                count: 1999
            }]
        );
        let mut rest = vec![Line::default(); 1999];
        rest[5] = Line::plain("a needle here");
        sb.on_reply(rest, 3000);
        assert_eq!(sb.current, Some((Pos { line: 5, col: 2 }, 6)));
        assert!(sb.top <= 5 && 5 < sb.top + 5, "match scrolled into view");
    }

    #[test]
    fn an_empty_reply_stops_fetching() {
        let mut sb = Scrollback::new(PaneId(1), lines(&["s0"]), (0, 0), 10, 5, 0);
        sb.take_requests();
        sb.on_reply(lines(&["newest"]), 3000);
        sb.take_requests();
        sb.on_reply(Vec::new(), 3000);
        assert!(sb.take_requests().is_empty());
        sb.scroll(-100);
        assert!(sb.take_requests().is_empty());
    }

    #[test]
    fn keyboard_selection_copies_across_lines() {
        let mut sb = view(&["hello world", "second"]);
        sb.key(&key(KeyCode::Char('g')));
        sb.key(&key(KeyCode::Char('0')));
        for _ in 0..6 {
            sb.key(&key(KeyCode::Char('l')));
        }
        sb.key(&key(KeyCode::Char('v')));
        sb.key(&key(KeyCode::Char('j')));
        sb.key(&key(KeyCode::Char('h')));
        assert_eq!(
            sb.key(&key(KeyCode::Char('y'))),
            Outcome::Copy("world\nsecond".into())
        );
        assert_eq!(sb.key(&key(KeyCode::Char('q'))), Outcome::Exit);
    }

    #[test]
    fn matches_report_columns_of_wide_text() {
        let m = find_matches(&Line::plain("界 ab AB ab"), "ab");
        assert_eq!(m, [(3, 2), (6, 2), (9, 2)]);
        assert_eq!(find_matches(&Line::plain("ab AB"), "AB"), [(3, 2)]);
    }
}
