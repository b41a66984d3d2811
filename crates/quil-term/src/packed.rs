//! An idle screen kept compact. Alacritty's grid costs a full cell (24 bytes) for every
//! position of the screen, blank or not: 115 KB for 120x40, most of an idle pane's memory.
//! Packed, a row keeps its chars up to its last cell that is not blank, and their styles as
//! runs; a shell's prompt screen takes a few hundred bytes. Packing and unpacking are exact:
//! every cell comes back equal, flags and extras (zero-width chars, hyperlinks) included.

use alacritty_terminal::grid::{Cursor, Dimensions, Grid};
use alacritty_terminal::index::{Column, Line as GridLine};
use alacritty_terminal::term::cell::Cell;

/// A screen's cells and cursors, with no grid behind them.
pub(crate) struct Packed {
    rows: Box<[Row]>,
    cols: usize,
    cursor: Cursor<Cell>,
    saved_cursor: Cursor<Cell>,
}

/// One row: the chars of its cells up to the last cell that is not `Cell::default()`, and
/// their styles (the cell with its char left out) as (style, cells) runs.
#[derive(Default)]
struct Row {
    chars: Box<str>,
    styles: Box<[(Cell, u16)]>,
}

impl Packed {
    /// The visible screen of `grid` (which holds no history).
    pub(crate) fn pack(grid: &Grid<Cell>) -> Packed {
        let cols = grid.columns();
        let blank = Cell::default();
        let rows = (0..grid.screen_lines())
            .map(|r| {
                let cells = &grid[GridLine(r as i32)][..];
                let used = cells.iter().rposition(|c| *c != blank).map_or(0, |i| i + 1);
                if used == 0 {
                    return Row::default();
                }
                let mut chars = String::with_capacity(used);
                let mut styles: Vec<(Cell, u16)> = Vec::new();
                for cell in &cells[..used] {
                    chars.push(cell.c);
                    match styles.last_mut() {
                        Some((style, n)) if same_style(style, cell) => *n += 1,
                        _ => styles.push((
                            Cell {
                                c: ' ',
                                ..cell.clone()
                            },
                            1,
                        )),
                    }
                }
                Row {
                    chars: chars.into_boxed_str(),
                    styles: styles.into_boxed_slice(),
                }
            })
            .collect();
        Packed {
            rows,
            cols,
            cursor: grid.cursor.clone(),
            saved_cursor: grid.saved_cursor.clone(),
        }
    }

    /// The grid again, as it was packed: `max_scroll` is its history limit.
    pub(crate) fn unpack(self, max_scroll: usize) -> Grid<Cell> {
        let mut grid = Grid::new(self.rows.len(), self.cols, max_scroll);
        for (r, row) in self.rows.iter().enumerate() {
            if row.chars.is_empty() {
                continue;
            }
            let line = &mut grid[GridLine(r as i32)];
            for (col, cell) in row.cells().enumerate() {
                line[Column(col)] = cell;
            }
        }
        grid.cursor = self.cursor;
        grid.saved_cursor = self.saved_cursor;
        grid
    }

    /// Row `r`'s cells, as many as the screen is wide.
    pub(crate) fn row(&self, r: usize) -> Vec<Cell> {
        let mut cells: Vec<Cell> = self
            .rows
            .get(r)
            .map_or_else(Vec::new, |row| row.cells().collect());
        cells.resize(self.cols, Cell::default());
        cells
    }

    /// The cell at row `r`, column `col`.
    pub(crate) fn cell(&self, r: usize, col: usize) -> Cell {
        self.rows
            .get(r)
            .and_then(|row| row.cells().nth(col))
            .unwrap_or_default()
    }

    pub(crate) fn cursor(&self) -> &Cursor<Cell> {
        &self.cursor
    }
}

impl Row {
    /// Its stored cells, in order.
    fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        let styles = self
            .styles
            .iter()
            .flat_map(|(style, n)| std::iter::repeat_n(style, *n as usize));
        self.chars
            .chars()
            .zip(styles)
            .map(|(c, style)| Cell { c, ..style.clone() })
    }
}

/// Whether `cell` is drawn as `style` is, whatever its char.
fn same_style(style: &Cell, cell: &Cell) -> bool {
    style.fg == cell.fg
        && style.bg == cell.bg
        && style.flags == cell.flags
        && style.extra == cell.extra
}
