//! Mapping alacritty's cells, colours, modes and cursor to the protocol's types.

use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::term::TermMode;
use alacritty_terminal::vte::ansi::{
    Color as AColor, CursorShape as AShape, CursorStyle, NamedColor, Rgb,
};
use quil_proto::modes;
use quil_proto::screen::{flags, Color, CursorShape, Line, Run, Style};
use unicode_width::UnicodeWidthChar;

/// Cell flags that change how a cell looks (everything except wrap and wide-char bookkeeping).
pub(crate) const STYLE_FLAGS: Flags = Flags::BOLD
    .union(Flags::DIM)
    .union(Flags::ITALIC)
    .union(Flags::ALL_UNDERLINES)
    .union(Flags::INVERSE)
    .union(Flags::HIDDEN)
    .union(Flags::STRIKEOUT);

/// Cells that hold no char of their own: the right half of a wide char, and the blank left at the
/// end of a row when a wide char did not fit and moved to the next one.
pub(crate) const SPACER_FLAGS: Flags =
    Flags::WIDE_CHAR_SPACER.union(Flags::LEADING_WIDE_CHAR_SPACER);

/// Alacritty's cell flags and the protocol's style bits they map to, one to one (both ways).
const FLAG_MAP: &[(Flags, u16)] = &[
    (Flags::BOLD, flags::BOLD),
    (Flags::DIM, flags::DIM),
    (Flags::ITALIC, flags::ITALIC),
    (Flags::UNDERLINE, flags::UNDERLINE),
    (Flags::INVERSE, flags::INVERSE),
    (Flags::HIDDEN, flags::HIDDEN),
    (Flags::STRIKEOUT, flags::STRIKEOUT),
    (Flags::DOUBLE_UNDERLINE, flags::DOUBLE_UNDERLINE),
    (Flags::UNDERCURL, flags::UNDERCURL),
];

/// The cell is drawn in the default style (its char may still be anything).
#[inline(always)]
pub(crate) fn is_default_style(cell: &Cell) -> bool {
    matches!(cell.fg, AColor::Named(NamedColor::Foreground))
        && matches!(cell.bg, AColor::Named(NamedColor::Background))
        && !cell.flags.intersects(STYLE_FLAGS)
}

/// The char a cell contributes to a line's text. Alacritty keeps `\t` in the first cell a tab
/// jumped over (for copying); on screen it is a blank.
#[inline(always)]
pub(crate) fn cell_char(cell: &Cell) -> char {
    if cell.c == '\t' {
        ' '
    } else {
        cell.c
    }
}

/// Length of `cells` once trailing default-styled blanks (and spacers) are trimmed.
#[inline]
pub(crate) fn trimmed_len(cells: &[Cell]) -> usize {
    let mut end = cells.len();
    while end > 0 {
        let cell = &cells[end - 1];
        let spacer = cell.flags.intersects(SPACER_FLAGS);
        let blank = (cell.c == ' ' || cell.c == '\t')
            && is_default_style(cell)
            && cell.zerowidth().is_none_or(|z| z.is_empty());
        if !(spacer || blank) {
            break;
        }
        end -= 1;
    }
    end
}

/// The row continues on the next one.
#[inline]
pub(crate) fn is_wrapped(cells: &[Cell]) -> bool {
    cells
        .last()
        .is_some_and(|c| c.flags.contains(Flags::WRAPLINE))
}

/// Converts one alacritty colour, adding [`flags::DIM`] for the dim named colours when `dim`.
#[inline]
fn map_color(c: AColor, style_flags: &mut u16, dim: bool) -> Color {
    match c {
        AColor::Spec(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
        AColor::Indexed(i) => Color::Indexed(i),
        AColor::Named(n) => {
            let v = n as usize;
            if v < 16 {
                return Color::Indexed(v as u8);
            }
            let dim_base = NamedColor::DimBlack as usize;
            if (dim_base..dim_base + 8).contains(&v) {
                if dim {
                    *style_flags |= flags::DIM;
                }
                return Color::Indexed((v - dim_base) as u8);
            }
            if n == NamedColor::DimForeground && dim {
                *style_flags |= flags::DIM;
            }
            Color::Default
        }
    }
}

/// The protocol style of a cell.
#[inline]
pub(crate) fn cell_style(cell: &Cell) -> Style {
    let f = cell.flags;
    let mut bits = 0u16;
    for &(from, to) in FLAG_MAP {
        if f.contains(from) {
            bits |= to;
        }
    }
    // The underline styles the protocol has no bit for are drawn as plain underlines.
    if f.intersects(Flags::DOTTED_UNDERLINE | Flags::DASHED_UNDERLINE) {
        bits |= flags::UNDERLINE;
    }
    let fg = map_color(cell.fg, &mut bits, true);
    let bg = map_color(cell.bg, &mut bits, false);
    Style {
        fg,
        bg,
        flags: bits,
    }
}

/// Appends a cell's text (its char and any zero-width chars on it) to `out`.
#[inline(always)]
pub(crate) fn push_cell_text(cell: &Cell, out: &mut String) {
    out.push(cell_char(cell));
    if let Some(z) = cell.zerowidth() {
        out.extend(z.iter());
    }
}

/// Converts a row of cells to a protocol line.
pub(crate) fn row_to_line(cells: &[Cell]) -> Line {
    let wrapped = is_wrapped(cells);
    let end = trimmed_len(cells);
    let mut runs: Vec<Run> = Vec::new();
    let mut cur: Option<Run> = None;
    for cell in &cells[..end] {
        if cell.flags.intersects(SPACER_FLAGS) {
            continue;
        }
        let style = if is_default_style(cell) {
            Style::default()
        } else {
            cell_style(cell)
        };
        match &mut cur {
            Some(run) if run.style == style => push_cell_text(cell, &mut run.text),
            _ => {
                if let Some(run) = cur.take() {
                    runs.push(run);
                }
                let mut text = String::new();
                push_cell_text(cell, &mut text);
                cur = Some(Run { style, text });
            }
        }
    }
    if let Some(run) = cur {
        runs.push(run);
    }
    Line { runs, wrapped }
}

/// Terminal modes as [`quil_proto::modes`] bits.
pub(crate) fn mode_bits(m: TermMode) -> u32 {
    let mut bits = 0;
    for (from, to) in [
        (TermMode::ALT_SCREEN, modes::ALT_SCREEN),
        (TermMode::APP_CURSOR, modes::APP_CURSOR),
        (TermMode::APP_KEYPAD, modes::APP_KEYPAD),
        (TermMode::BRACKETED_PASTE, modes::BRACKETED_PASTE),
        (TermMode::MOUSE_DRAG, modes::MOUSE_DRAG),
        (TermMode::MOUSE_MOTION, modes::MOUSE_MOTION),
        (TermMode::SGR_MOUSE, modes::MOUSE_SGR),
        (TermMode::FOCUS_IN_OUT, modes::FOCUS_EVENTS),
        (TermMode::ALTERNATE_SCROLL, modes::ALTERNATE_SCROLL),
    ] {
        if m.contains(from) {
            bits |= to;
        }
    }
    // MOUSE_CLICK means "any mouse reporting".
    if m.intersects(TermMode::MOUSE_MODE) {
        bits |= modes::MOUSE_CLICK;
    }
    if m.intersects(TermMode::KITTY_KEYBOARD_PROTOCOL) {
        bits |= modes::KITTY_KEYBOARD;
    }
    bits
}

/// The cursor's shape and whether it is shown, from DECSCUSR and DECTCEM.
pub(crate) fn cursor_shape(style: CursorStyle, shown: bool) -> (CursorShape, bool) {
    let shape = match (style.shape, style.blinking) {
        (AShape::Underline, false) => CursorShape::Underline,
        (AShape::Underline, true) => CursorShape::BlinkUnderline,
        (AShape::Beam, false) => CursorShape::Beam,
        (AShape::Beam, true) => CursorShape::BlinkBeam,
        (_, true) => CursorShape::BlinkBlock,
        (_, false) => CursorShape::Block,
    };
    (shape, shown && style.shape != AShape::Hidden)
}

/// Display width of a line's text, as alacritty lays it out.
pub(crate) fn line_width(line: &Line) -> usize {
    line.runs
        .iter()
        .flat_map(|r| r.text.chars())
        .map(|c| c.width().unwrap_or(0))
        .sum()
}

fn unmap_color(c: Color, default: AColor) -> AColor {
    match c {
        Color::Default => default,
        Color::Indexed(i) => AColor::Indexed(i),
        Color::Rgb(r, g, b) => AColor::Spec(Rgb { r, g, b }),
    }
}

/// A template cell drawn in `style`.
fn style_cell(style: &Style) -> Cell {
    let mut f = Flags::empty();
    for &(to, from) in FLAG_MAP {
        if style.flags & from != 0 {
            f |= to;
        }
    }
    Cell {
        fg: unmap_color(style.fg, AColor::Named(NamedColor::Foreground)),
        bg: unmap_color(style.bg, AColor::Named(NamedColor::Background)),
        flags: f,
        ..Cell::default()
    }
}

/// Writes a protocol line into a row of cells (the inverse of [`row_to_line`] for lines that
/// fit); what does not fit is cut.
pub(crate) fn fill_row(row: &mut [Cell], line: &Line) {
    for cell in row.iter_mut() {
        *cell = Cell::default();
    }
    let cols = row.len();
    let mut col = 0;
    // Column of the last char written, for zero-width chars.
    let mut last: Option<usize> = None;
    for run in &line.runs {
        let template = style_cell(&run.style);
        for c in run.text.chars() {
            match c.width() {
                Some(0) => {
                    if let Some(at) = last {
                        row[at].push_zerowidth(c);
                    }
                }
                Some(1) if col < cols => {
                    row[col] = Cell {
                        c,
                        ..template.clone()
                    };
                    last = Some(col);
                    col += 1;
                }
                Some(2) if col + 1 < cols => {
                    let mut wide = Cell {
                        c,
                        ..template.clone()
                    };
                    wide.flags |= Flags::WIDE_CHAR;
                    row[col] = wide;
                    let mut spacer = template.clone();
                    spacer.flags |= Flags::WIDE_CHAR_SPACER;
                    row[col + 1] = spacer;
                    last = Some(col);
                    col += 2;
                }
                _ => {}
            }
        }
    }
    if line.wrapped {
        if let Some(cell) = row.last_mut() {
            cell.flags |= Flags::WRAPLINE;
        }
    }
}
