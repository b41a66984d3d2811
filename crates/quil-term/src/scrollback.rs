//! The compact history: lines that scrolled off the top, a few bytes per cell instead of ~24.
//!
//! Lines are encoded (see below) and appended to 32 KiB chunks, so pushing a line allocates
//! nothing in the common case, and the per-line overhead is one `u32` end offset. The total is
//! kept under a byte budget by evicting the oldest lines; a chunk is freed once all its lines are
//! evicted.
//!
//! Encoding of one line:
//! - a tag byte: [`TAG_WRAPPED`] if the line continues on the next one, [`TAG_STYLED`] if any
//!   cell has a non-default style;
//! - plain lines (no `TAG_STYLED`): the text as UTF-8, nothing else;
//! - styled lines: runs, each a style header byte (bits 0-1 fg kind, 2-3 bg kind: 0 default,
//!   1 indexed, 2 rgb; bit 4 flags present), the fg and bg payloads (1 or 3 bytes), the flags as
//!   `u16` LE if present, the text length as LEB128, then the text.

use std::collections::VecDeque;

use alacritty_terminal::term::cell::Cell;
use quil_proto::screen::{Color, Line, Run, Style};

use unicode_width::UnicodeWidthChar;

use crate::convert::{
    cell_char, cell_style, is_default_style, is_wrapped, line_width, trimmed_len, SPACER_FLAGS,
    STYLE_FLAGS,
};

const TAG_WRAPPED: u8 = 1;
const TAG_STYLED: u8 = 2;

const KIND_DEFAULT: u8 = 0;
const KIND_INDEXED: u8 = 1;
const KIND_RGB: u8 = 2;
const HAS_FLAGS: u8 = 1 << 4;

/// Bytes of line data per chunk (a longer line gets a chunk of its own).
const CHUNK_BYTES: usize = 32 * 1024;
/// Accounted cost of indexing one line (its end offset).
const INDEX_COST: usize = std::mem::size_of::<u32>();

#[derive(Clone)]
struct Chunk {
    data: Vec<u8>,
    /// End offset in `data` of each line.
    ends: Vec<u32>,
    /// Index of the oldest line not evicted yet.
    first: usize,
}

impl Chunk {
    fn new(capacity: usize) -> Chunk {
        Chunk {
            data: Vec::with_capacity(capacity),
            ends: Vec::new(),
            first: 0,
        }
    }

    fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    fn live(&self) -> usize {
        self.ends.len() - self.first
    }

    fn push(&mut self, line: &[u8]) {
        self.data.extend_from_slice(line);
        self.ends.push(self.data.len() as u32);
    }
}

/// The encoded lines of `chunks`, newest first.
fn newest_first(chunks: &VecDeque<Chunk>) -> impl Iterator<Item = &[u8]> + '_ {
    chunks
        .iter()
        .rev()
        .flat_map(|c| (c.first..c.ends.len()).rev().map(move |i| c.line(i)))
}

/// A terminal's history as it was, still encoded ([`crate::Terminal::history_copy`]): copying
/// it is a few memcpys of at most the history's byte budget, where decoding is per line (a
/// flooding pane's 175k lines took 100-400 ms in a debug build), so the decoding can be done
/// after the terminal's lock is let go.
pub struct HistoryCopy {
    chunks: VecDeque<Chunk>,
}

impl HistoryCopy {
    /// The lines, newest first, decoded one at a time (as
    /// [`crate::Terminal::scrollback_newest_first`]).
    pub fn newest_first(&self) -> impl Iterator<Item = Line> + '_ {
        newest_first(&self.chunks).map(decode)
    }
}

/// Oldest-first store of encoded lines, bounded in bytes.
pub(crate) struct Scrollback {
    chunks: VecDeque<Chunk>,
    len: usize,
    bytes: usize,
    cap: usize,
    /// Reused encoding buffers, so encoding a line does not allocate.
    scratch: Vec<u8>,
    run: Vec<u8>,
}

impl Scrollback {
    pub(crate) fn new(cap: usize) -> Scrollback {
        Scrollback {
            chunks: VecDeque::new(),
            len: 0,
            bytes: 0,
            cap,
            scratch: Vec::new(),
            run: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Encodes a row of cells and appends it as the newest line.
    #[inline]
    pub(crate) fn push_row(&mut self, cells: &[Cell]) {
        if self.cap == 0 {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        encode_row(cells, &mut scratch, &mut self.run);
        self.push_encoded(&scratch);
        self.scratch = scratch;
    }

    pub(crate) fn push_encoded(&mut self, line: &[u8]) {
        let cost = line.len() + INDEX_COST;
        if cost > self.cap {
            // Evicting the oldest lines until under budget would drop this one too.
            self.clear();
            return;
        }
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.data.capacity() - c.data.len() >= line.len());
        if !fits {
            if let Some(last) = self.chunks.back_mut() {
                last.ends.shrink_to_fit();
            }
            self.chunks
                .push_back(Chunk::new(CHUNK_BYTES.max(line.len())));
        }
        if let Some(chunk) = self.chunks.back_mut() {
            chunk.push(line);
        }
        self.len += 1;
        self.bytes += cost;
        self.evict();
    }

    /// Drops the oldest lines while over budget.
    fn evict(&mut self) {
        while self.bytes > self.cap {
            let Some(front) = self.chunks.front_mut() else {
                self.len = 0;
                self.bytes = 0;
                return;
            };
            if front.first < front.ends.len() {
                self.bytes -= front.line(front.first).len() + INDEX_COST;
                self.len -= 1;
                front.first += 1;
            }
            if front.first >= front.ends.len() {
                self.chunks.pop_front();
            }
        }
    }

    /// Removes the newest `n` lines.
    pub(crate) fn pop_newest(&mut self, mut n: usize) {
        while n > 0 {
            let Some(back) = self.chunks.back_mut() else {
                break;
            };
            if back.live() > 0 {
                let i = back.ends.len() - 1;
                self.bytes -= back.line(i).len() + INDEX_COST;
                self.len -= 1;
                n -= 1;
                back.ends.pop();
                let end = back.ends.last().map_or(0, |&e| e as usize);
                back.data.truncate(end);
            }
            if back.live() == 0 {
                self.chunks.pop_back();
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
        self.bytes = 0;
    }

    /// The encoded lines, newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &[u8]> + '_ {
        newest_first(&self.chunks)
    }

    /// A copy of the encoded lines, to decode later without the terminal.
    pub(crate) fn copy(&self) -> HistoryCopy {
        HistoryCopy {
            chunks: self.chunks.clone(),
        }
    }

    /// Decodes lines `start..end` (0 = oldest), clamped to what is stored.
    pub(crate) fn range(&self, start: usize, end: usize) -> Vec<Line> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(end - start);
        let mut base = 0;
        for chunk in &self.chunks {
            let live = chunk.live();
            if base + live <= start {
                base += live;
                continue;
            }
            let from = start.saturating_sub(base);
            let to = (end - base).min(live);
            for i in from..to {
                out.push(decode(chunk.line(chunk.first + i)));
            }
            base += live;
            if base >= end {
                break;
            }
        }
        out
    }

    /// How many of the newest lines are wrapped, each continuing on the next: the start of a
    /// logical line that goes on at the top of the screen.
    pub(crate) fn wrapped_tail(&self) -> usize {
        self.newest_first()
            .take_while(|l| l.first().is_some_and(|&t| t & TAG_WRAPPED != 0))
            .count()
    }

    /// Rewraps every line from `old_cols` to `cols` columns, as the screen is reflowed: rows
    /// that continue one another are joined into their logical line, which is split again at
    /// the new width (a wide char that does not fit in the last column moves to the next row).
    ///
    /// The encoding trims trailing blanks, also of wrapped rows; those blanks were on the screen
    /// and are part of the logical line, so a wrapped row narrower than `old_cols` gets them
    /// back, except when a wide char starts the next row (it did not fit: no blank was there).
    pub(crate) fn rewrap(&mut self, old_cols: usize, cols: usize) {
        let cols = cols.max(2);
        // Nothing to do when no row is wrapped and every row fits (a row's UTF-8 length bounds
        // its width).
        let untouched = self.newest_first().all(|l| {
            l.first().is_none_or(|&t| t & TAG_WRAPPED == 0) && l.len().saturating_sub(1) <= cols
        });
        if untouched {
            return;
        }
        let old = std::mem::replace(self, Scrollback::new(self.cap));
        let mut logical = Line::default();
        let mut rows: Vec<Line> = Vec::new();
        let mut buf = Vec::new();
        let mut pad = 0;
        let mut lines = old.oldest_first().map(decode).peekable();
        while let Some(line) = lines.next() {
            if pad > 0 {
                let starts_wide = line
                    .runs
                    .iter()
                    .flat_map(|r| r.text.chars())
                    .next()
                    .is_some_and(|c| c.width() == Some(2));
                if !(pad == 1 && starts_wide) {
                    push_text(&mut logical, Style::default(), &" ".repeat(pad));
                }
            }
            let wrapped = line.wrapped;
            pad = if wrapped {
                old_cols.saturating_sub(line_width(&line))
            } else {
                0
            };
            for run in line.runs {
                push_text(&mut logical, run.style, &run.text);
            }
            if wrapped && lines.peek().is_some() {
                continue;
            }
            logical.wrapped = wrapped;
            split_line(&logical, cols, &mut rows);
            for row in rows.drain(..) {
                encode_line(&row, &mut buf);
                self.push_encoded(&buf);
            }
            logical = Line::default();
            pad = 0;
        }
    }

    /// The encoded lines, oldest first.
    fn oldest_first(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks
            .iter()
            .flat_map(|c| (c.first..c.ends.len()).map(move |i| c.line(i)))
    }

    /// Inserts `lines` (oldest first) before everything stored, then evicts while over budget.
    pub(crate) fn prepend(&mut self, lines: &[Line]) {
        if self.cap == 0 || lines.is_empty() {
            return;
        }
        // Built as a store of its own (over no budget), then put in front of this one.
        let mut older = Scrollback::new(usize::MAX);
        let mut buf = Vec::new();
        for line in lines {
            encode_line(line, &mut buf);
            older.push_encoded(&buf);
        }
        if let Some(last) = older.chunks.back_mut() {
            last.data.shrink_to_fit();
            last.ends.shrink_to_fit();
        }
        older.chunks.append(&mut self.chunks);
        self.chunks = older.chunks;
        self.len += older.len;
        self.bytes += older.bytes;
        self.evict();
    }
}

/// Appends `text` in `style` to `line`, extending its last run when the style is the same.
fn push_text(line: &mut Line, style: Style, text: &str) {
    if text.is_empty() {
        return;
    }
    match line.runs.last_mut() {
        Some(run) if run.style == style => run.text.push_str(text),
        _ => line.runs.push(Run {
            style,
            text: text.to_string(),
        }),
    }
}

/// Splits a logical line into rows of at most `cols` columns, all but the last wrapped (the
/// last one too if `line` is), trailing default-styled blanks trimmed as the encoding of a
/// screen row trims them.
fn split_line(line: &Line, cols: usize, out: &mut Vec<Line>) {
    let mut row = Line::default();
    let mut width = 0;
    for run in &line.runs {
        for c in run.text.chars() {
            let w = c.width().unwrap_or(0);
            if w > 0 && width + w > cols {
                row.wrapped = true;
                out.push(trim_row(std::mem::take(&mut row)));
                width = 0;
            }
            let mut b = [0u8; 4];
            push_text(&mut row, run.style, c.encode_utf8(&mut b));
            width += w;
        }
    }
    row.wrapped = line.wrapped;
    out.push(trim_row(row));
}

fn trim_row(mut row: Line) -> Line {
    while let Some(run) = row.runs.last_mut() {
        if run.style != Style::default() {
            break;
        }
        run.text.truncate(run.text.trim_end_matches(' ').len());
        if !run.text.is_empty() {
            break;
        }
        row.runs.pop();
    }
    row
}

#[inline(always)]
fn push_char(out: &mut Vec<u8>, c: char) {
    if (c as u32) < 0x80 {
        out.push(c as u8);
    } else {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

#[inline(always)]
fn push_cell(out: &mut Vec<u8>, cell: &Cell) {
    push_char(out, cell_char(cell));
    if let Some(z) = cell.zerowidth() {
        for &c in z {
            push_char(out, c);
        }
    }
}

/// Encodes a row of cells into `out` (cleared first). `run` is scratch space.
pub(crate) fn encode_row(cells: &[Cell], out: &mut Vec<u8>, run: &mut Vec<u8>) {
    out.clear();
    let wrapped = is_wrapped(cells);
    let cells = &cells[..trimmed_len(cells)];
    out.push(if wrapped { TAG_WRAPPED } else { 0 });
    // Fast path: plain ASCII, one byte per cell written in place.
    out.resize(1 + cells.len(), 0);
    let mut n = 1;
    for (i, cell) in cells.iter().enumerate() {
        if !is_default_style(cell) {
            encode_styled_row(cells, wrapped, out, run);
            return;
        }
        let c = cell.c;
        if c.is_ascii() && c != '\t' && cell.extra.is_none() && !cell.flags.intersects(SPACER_FLAGS)
        {
            out[n] = c as u8;
            n += 1;
        } else {
            // Something else (wide, non-ASCII, combining): finish with the general loop.
            out.truncate(n);
            for cell in &cells[i..] {
                if !is_default_style(cell) {
                    encode_styled_row(cells, wrapped, out, run);
                    return;
                }
                if !cell.flags.intersects(SPACER_FLAGS) {
                    push_cell(out, cell);
                }
            }
            return;
        }
    }
    out.truncate(n);
}

/// Both cells are drawn in the same style.
#[inline(always)]
fn same_style(a: &Cell, b: &Cell) -> bool {
    a.fg == b.fg && a.bg == b.bg && ((a.flags ^ b.flags) & STYLE_FLAGS).is_empty()
}

#[cold]
fn encode_styled_row(cells: &[Cell], wrapped: bool, out: &mut Vec<u8>, run: &mut Vec<u8>) {
    out.clear();
    out.push(TAG_STYLED | if wrapped { TAG_WRAPPED } else { 0 });
    run.clear();
    let mut cur: Option<Style> = None;
    // The cell `cur` was computed from: most cells share their neighbour's attributes.
    let mut prev: Option<&Cell> = None;
    for cell in cells {
        if cell.flags.intersects(SPACER_FLAGS) {
            continue;
        }
        if !prev.is_some_and(|p| same_style(p, cell)) {
            prev = Some(cell);
            let style = if is_default_style(cell) {
                Style::default()
            } else {
                cell_style(cell)
            };
            if cur != Some(style) {
                if let Some(s) = cur {
                    write_run(out, &s, run);
                }
                run.clear();
                cur = Some(style);
            }
        }
        let c = cell.c;
        if c.is_ascii() && c != '\t' && cell.extra.is_none() {
            run.push(c as u8);
        } else {
            push_cell(run, cell);
        }
    }
    if let Some(s) = cur {
        write_run(out, &s, run);
    }
}

/// Encodes a row given as text and style changes into `out` (cleared first): exactly what
/// [`encode_row`] gives for the cells alacritty would hold, without building them. `text` has
/// one single-width char per column and nothing after it; `styles` holds, in order, the byte
/// offset in `text` from which each template applies (before the first: the default style).
pub(crate) fn encode_text_row(text: &[u8], styles: &[(usize, Cell)], out: &mut Vec<u8>) {
    out.clear();
    let default_at = |k: usize| k == 0 || is_default_style(&styles[k - 1].1);
    // Trailing blanks in the default style are trimmed, as `trimmed_len` does.
    let mut end = text.len();
    let mut seg = styles.len();
    while end > 0 {
        while seg > 0 && styles[seg - 1].0 >= end {
            seg -= 1;
        }
        if text[end - 1] != b' ' || !default_at(seg) {
            break;
        }
        end -= 1;
    }
    let styled = styles
        .iter()
        .any(|(from, cell)| *from < end && !is_default_style(cell));
    if !styled {
        out.push(0);
        out.extend_from_slice(&text[..end]);
        return;
    }
    out.push(TAG_STYLED);
    // Runs of equal style, as `encode_styled_row` merges them.
    let mut cur: Option<(Style, usize)> = None;
    for k in 0..=styles.len() {
        let from = if k == 0 { 0 } else { styles[k - 1].0 };
        if from >= end {
            break;
        }
        let to = styles.get(k).map_or(end, |s| s.0.min(end));
        if from == to {
            continue;
        }
        let style = if default_at(k) {
            Style::default()
        } else {
            cell_style(&styles[k - 1].1)
        };
        match cur {
            Some((s, _)) if s == style => {}
            Some((s, start)) => {
                write_run(out, &s, &text[start..from]);
                cur = Some((style, from));
            }
            None => cur = Some((style, from)),
        }
    }
    if let Some((s, start)) = cur {
        write_run(out, &s, &text[start..end]);
    }
}

/// Encodes a protocol line (used for restored history) into `out` (cleared first).
pub(crate) fn encode_line(line: &Line, out: &mut Vec<u8>) {
    out.clear();
    let wrapped = if line.wrapped { TAG_WRAPPED } else { 0 };
    if line.runs.iter().all(|r| r.style == Style::default()) {
        out.push(wrapped);
        for r in &line.runs {
            out.extend_from_slice(r.text.as_bytes());
        }
    } else {
        out.push(TAG_STYLED | wrapped);
        for r in line.runs.iter().filter(|r| !r.text.is_empty()) {
            write_run(out, &r.style, r.text.as_bytes());
        }
    }
}

fn color_kind(c: Color) -> u8 {
    match c {
        Color::Default => KIND_DEFAULT,
        Color::Indexed(_) => KIND_INDEXED,
        Color::Rgb(..) => KIND_RGB,
    }
}

fn push_color(out: &mut Vec<u8>, c: Color) {
    match c {
        Color::Default => {}
        Color::Indexed(i) => out.push(i),
        Color::Rgb(r, g, b) => out.extend_from_slice(&[r, g, b]),
    }
}

fn write_run(out: &mut Vec<u8>, style: &Style, text: &[u8]) {
    let mut header = color_kind(style.fg) | color_kind(style.bg) << 2;
    if style.flags != 0 {
        header |= HAS_FLAGS;
    }
    out.push(header);
    push_color(out, style.fg);
    push_color(out, style.bg);
    if style.flags != 0 {
        out.extend_from_slice(&style.flags.to_le_bytes());
    }
    let mut n = text.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text);
}

/// A cursor over encoded bytes; every read is checked, so bad input ends decoding early.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn color(&mut self, kind: u8) -> Option<Color> {
        Some(match kind {
            KIND_INDEXED => Color::Indexed(self.byte()?),
            KIND_RGB => Color::Rgb(self.byte()?, self.byte()?, self.byte()?),
            _ => Color::Default,
        })
    }

    fn varint(&mut self) -> Option<usize> {
        let mut n: usize = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= ((b & 0x7f) as usize).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn run(&mut self) -> Option<Run> {
        let header = self.byte()?;
        let fg = self.color(header & 3)?;
        let bg = self.color((header >> 2) & 3)?;
        let flags = if header & HAS_FLAGS != 0 {
            let b = self.take(2)?;
            u16::from_le_bytes([b[0], b[1]])
        } else {
            0
        };
        let len = self.varint()?;
        let text = String::from_utf8_lossy(self.take(len)?).into_owned();
        Some(Run {
            style: Style { fg, bg, flags },
            text,
        })
    }
}

/// Decodes one encoded line.
pub(crate) fn decode(bytes: &[u8]) -> Line {
    let Some((&tag, rest)) = bytes.split_first() else {
        return Line::default();
    };
    let wrapped = tag & TAG_WRAPPED != 0;
    let mut runs = Vec::new();
    if tag & TAG_STYLED == 0 {
        if !rest.is_empty() {
            runs.push(Run {
                style: Style::default(),
                text: String::from_utf8_lossy(rest).into_owned(),
            });
        }
    } else {
        let mut r = Reader(rest);
        while !r.0.is_empty() {
            match r.run() {
                Some(run) => runs.push(run),
                None => break,
            }
        }
    }
    Line { runs, wrapped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_proto::screen::flags;

    fn styled(fg: Color, bg: Color, f: u16, text: &str) -> Run {
        Run {
            style: Style { fg, bg, flags: f },
            text: text.into(),
        }
    }

    #[test]
    fn line_codec_round_trips() {
        let lines = [
            Line::default(),
            Line::plain("hello"),
            Line {
                runs: vec![Run {
                    style: Style::default(),
                    text: "wrapped ü 日本".into(),
                }],
                wrapped: true,
            },
            Line {
                runs: vec![
                    styled(Color::Indexed(1), Color::Default, flags::BOLD, "red"),
                    styled(Color::Default, Color::Default, 0, " plain "),
                    styled(
                        Color::Rgb(1, 2, 3),
                        Color::Indexed(200),
                        flags::UNDERCURL | flags::DIM,
                        "x".repeat(300).as_str(),
                    ),
                ],
                wrapped: false,
            },
        ];
        let mut buf = Vec::new();
        for line in &lines {
            encode_line(line, &mut buf);
            assert_eq!(&decode(&buf), line);
        }
    }

    #[test]
    fn decode_survives_garbage() {
        for bytes in [
            &[2u8, 0xff][..],
            &[2, 2, 1],
            &[3, 0x10, 1],
            &[2, 0, 0xff, 0xff, 0xff],
            &[2, 0, 5, b'a'],
        ] {
            let _ = decode(bytes);
        }
    }

    #[test]
    fn evicts_oldest_within_budget() {
        let mut sb = Scrollback::new(1000);
        let mut buf = Vec::new();
        for i in 0..200 {
            encode_line(&Line::plain(&format!("line {i:03}")), &mut buf);
            sb.push_encoded(&buf.clone());
            assert!(sb.bytes() <= 1000);
        }
        // Each line costs 1 tag + 8 text + 4 index bytes.
        assert_eq!(sb.len(), 1000 / 13);
        let all = sb.range(0, sb.len());
        assert_eq!(
            all.first().unwrap().text(),
            format!("line {:03}", 200 - sb.len())
        );
        assert_eq!(all.last().unwrap().text(), "line 199");
    }

    #[test]
    fn range_spans_chunks() {
        let mut sb = Scrollback::new(usize::MAX);
        let mut buf = Vec::new();
        let long = "y".repeat(1000);
        for i in 0..200 {
            encode_line(&Line::plain(&format!("{i} {long}")), &mut buf);
            sb.push_encoded(&buf.clone());
        }
        assert!(sb.chunks.len() > 3);
        let got: Vec<String> = sb.range(30, 170).iter().map(|l| l.text()).collect();
        let want: Vec<String> = (30..170).map(|i| format!("{i} {long}")).collect();
        assert_eq!(got, want);
        assert!(sb.range(150, 150).is_empty());
        assert_eq!(sb.range(199, 500).len(), 1);
    }

    #[test]
    fn prepend_goes_before_and_evicts_it_first() {
        let mut sb = Scrollback::new(13 * 10);
        let mut buf = Vec::new();
        for i in 0..5 {
            encode_line(&Line::plain(&format!("new {i:04}")), &mut buf);
            sb.push_encoded(&buf.clone());
        }
        let old: Vec<Line> = (0..8)
            .map(|i| Line::plain(&format!("old {i:04}")))
            .collect();
        sb.prepend(&old);
        assert_eq!(sb.len(), 10);
        let texts: Vec<String> = sb.range(0, 10).iter().map(|l| l.text()).collect();
        assert_eq!(texts[0], "old 0003");
        assert_eq!(texts[4], "old 0007");
        assert_eq!(texts[5], "new 0000");
    }

    #[test]
    fn oversized_line_clears() {
        let mut sb = Scrollback::new(50);
        let mut buf = Vec::new();
        encode_line(&Line::plain("short"), &mut buf);
        sb.push_encoded(&buf.clone());
        encode_line(&Line::plain(&"z".repeat(100)), &mut buf);
        sb.push_encoded(&buf.clone());
        assert_eq!(sb.len(), 0);
        assert_eq!(sb.bytes(), 0);
    }
}
