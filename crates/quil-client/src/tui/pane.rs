//! A viewed pane's screen as the daemon last described it, and cell-level views of its lines.

use quil_proto::{Cursor, Line, PaneUpdate, Style};
use unicode_width::UnicodeWidthChar;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaneScreen {
    pub cols: u16,
    pub rows: u16,
    pub lines: Vec<Line>,
    pub cursor: Cursor,
    pub modes: u32,
    pub title: String,
    pub version: u64,
    /// Last seen before a reconnection: the next update replaces every row, whatever it
    /// carries (a new connection's first update lists only the rows ever written).
    pub stale: bool,
}

impl PaneScreen {
    /// Applies an update: a full one replaces every row, an incremental one only the rows it
    /// carries. Rows past the new height are dropped, missing ones start blank.
    pub fn apply(&mut self, u: PaneUpdate) {
        if u.full || self.stale {
            self.lines.clear();
            self.stale = false;
        }
        self.lines.resize(usize::from(u.rows), Line::default());
        for (row, line) in u.lines {
            if let Some(slot) = self.lines.get_mut(usize::from(row)) {
                *slot = line;
            }
        }
        self.cols = u.cols;
        self.rows = u.rows;
        self.cursor = u.cursor;
        self.modes = u.modes;
        self.title = u.title;
        self.version = u.version;
    }
}

/// One screen cell: the text drawn there (a char plus any combining marks) and how many
/// columns it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub col: u16,
    pub text: String,
    pub width: u16,
    pub style: Style,
}

/// The cells of a line, left to right. A wide char covers two columns and its spacer is not
/// listed; zero-width chars join the cell before them.
pub fn cells(line: &Line) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    let mut col: u16 = 0;
    for run in &line.runs {
        for c in run.text.chars() {
            match c.width() {
                Some(0) => {
                    if let Some(last) = out.last_mut() {
                        last.text.push(c);
                    }
                }
                Some(w) => {
                    let w = w as u16;
                    out.push(Cell {
                        col,
                        text: c.to_string(),
                        width: w,
                        style: run.style,
                    });
                    col = col.saturating_add(w);
                }
                // Control chars never belong on screen; drop them rather than corrupt the outer
                // terminal.
                None => {}
            }
        }
    }
    out
}

/// The text in columns `from..to` of a line (a wide char counts when its first column is in the
/// range), with trailing blanks trimmed.
pub fn text_between(line: &Line, from: u16, to: u16) -> String {
    let mut s = String::new();
    let mut col = from;
    for cell in cells(line) {
        if cell.col < from {
            continue;
        }
        if cell.col >= to {
            break;
        }
        // Gaps (cells the producer trimmed) are blanks.
        while col < cell.col {
            s.push(' ');
            col += 1;
        }
        s.push_str(&cell.text);
        col = cell.col + cell.width;
    }
    s.truncate(s.trim_end_matches(' ').len());
    s
}

/// The line's chars with the column each starts at, for searching.
pub fn chars_with_cols(line: &Line) -> (Vec<char>, Vec<u16>) {
    let mut chars = Vec::new();
    let mut cols = Vec::new();
    for cell in cells(line) {
        for (i, c) in cell.text.chars().enumerate() {
            chars.push(c);
            cols.push(if i == 0 {
                cell.col
            } else {
                cell.col + cell.width.saturating_sub(1)
            });
        }
    }
    (chars, cols)
}

/// Joins selected text from `lines` (`(line, from_col, to_col)`), following soft wraps.
pub fn join_selection<'a>(parts: impl Iterator<Item = (&'a Line, u16, u16)>) -> String {
    let mut out = String::new();
    let mut prev_wrapped: Option<bool> = None;
    for (line, from, to) in parts {
        if let Some(wrapped) = prev_wrapped {
            if !wrapped {
                out.push('\n');
            }
        }
        out.push_str(&text_between(line, from, to));
        prev_wrapped = Some(line.wrapped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_proto::{Color, CursorShape, PaneId, Run};

    fn upd(full: bool, rows: u16, lines: Vec<(u16, &str)>) -> PaneUpdate {
        PaneUpdate {
            pane: PaneId(1),
            version: 1,
            cols: 10,
            rows,
            full,
            lines: lines
                .into_iter()
                .map(|(r, t)| (r, Line::plain(t)))
                .collect(),
            cursor: Cursor {
                x: 2,
                y: 1,
                visible: true,
                shape: CursorShape::Beam,
            },
            modes: 3,
            title: "t".into(),
        }
    }

    fn texts(p: &PaneScreen) -> Vec<String> {
        p.lines.iter().map(Line::text).collect()
    }

    #[test]
    fn full_then_incremental_updates() {
        let mut p = PaneScreen::default();
        p.apply(upd(true, 3, vec![(0, "a"), (2, "c")]));
        assert_eq!(texts(&p), ["a", "", "c"]);
        assert_eq!(
            (p.cols, p.rows, p.modes, p.cursor.x, p.cursor.shape),
            (10, 3, 3, 2, CursorShape::Beam)
        );

        p.apply(upd(false, 3, vec![(1, "b")]));
        assert_eq!(texts(&p), ["a", "b", "c"], "untouched rows stay");

        // A full update drops rows it does not carry.
        p.apply(upd(true, 3, vec![(1, "x")]));
        assert_eq!(texts(&p), ["", "x", ""]);

        // Height changes: rows past the end go, new ones start blank; out-of-range rows are ignored.
        p.apply(upd(false, 2, vec![(5, "nope")]));
        assert_eq!(texts(&p), ["", "x"]);
        p.apply(upd(false, 4, vec![(3, "d")]));
        assert_eq!(texts(&p), ["", "x", "", "d"]);
    }

    #[test]
    fn cells_handle_wide_and_combining_chars() {
        let red = Style {
            fg: Color::Indexed(1),
            ..Default::default()
        };
        let line = Line {
            runs: vec![
                Run {
                    style: Style::default(),
                    text: "a界".into(),
                },
                Run {
                    style: red,
                    text: "e\u{301}b".into(),
                },
            ],
            wrapped: false,
        };
        let c = cells(&line);
        let got: Vec<(u16, &str, u16)> = c
            .iter()
            .map(|c| (c.col, c.text.as_str(), c.width))
            .collect();
        assert_eq!(
            got,
            [(0, "a", 1), (1, "界", 2), (3, "e\u{301}", 1), (4, "b", 1)]
        );
        assert_eq!(c[2].style, red);
        assert_eq!(text_between(&line, 1, 4), "界e\u{301}");
        let (chars, cols) = chars_with_cols(&line);
        assert_eq!(chars.len(), 5);
        assert_eq!(cols, [0, 1, 3, 3, 4]);
    }

    #[test]
    fn selection_joins_soft_wraps() {
        let mut a = Line::plain("hello wor");
        a.wrapped = true;
        let b = Line::plain("ld   ");
        let c = Line::plain("next");
        let s = join_selection([(&a, 6, 9), (&b, 0, 10), (&c, 0, 2)].into_iter());
        assert_eq!(s, "world\nne");
    }
}
