//! What the outer terminal shows, and the two ways of updating it.
//!
//! A full frame renders the whole screen and writes the cells that differ from what is shown
//! (ratatui's double buffering). Most frames are less: a key's echo changes one row of one pane.
//! For those, only the changed rows are rendered and compared, so the cost of an echo does not
//! grow with the size of the screen. Both leave the terminal, and `front`, exactly as a full
//! frame would; anything a row patch cannot vouch for falls back to a full frame.

use super::app::App;
use super::mouse::Geometry;
use super::render::{self, ScreenArea};
use ratatui::backend::{Backend, ClearType};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

/// The terminal output under a [`Display`]: flushes are held back while `hold` is set, so a
/// frame and the cursor commands after it (each of which ratatui's backend flushes) leave in
/// one write.
pub struct FrameOut<W: Write> {
    inner: io::BufWriter<W>,
    hold: Rc<Cell<bool>>,
}

impl<W: Write> Write for FrameOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.hold.get() {
            return Ok(());
        }
        self.inner.flush()
    }
}

pub struct Display<B: Backend> {
    backend: B,
    /// What the terminal shows.
    front: Buffer,
    /// The next full frame. Reset lazily, just before it is drawn into.
    back: Buffer,
    back_clean: bool,
    /// The layout of what is shown: a row patch is only valid for the same one.
    geometry: Geometry,
    /// One pane row as shown, and as it is to be.
    row_old: Buffer,
    row_new: Buffer,
    /// Set while a frame's cursor commands are queued (see [`FrameOut`]).
    hold: Rc<Cell<bool>>,
}

impl<W: Write> Display<ratatui::backend::CrosstermBackend<FrameOut<W>>> {
    /// A display over `out` for a blank screen of `w` x `h`.
    pub fn new(out: W, w: u16, h: u16) -> Self {
        let hold = Rc::new(Cell::new(false));
        let out = FrameOut {
            inner: io::BufWriter::with_capacity(1 << 16, out),
            hold: hold.clone(),
        };
        let mut d = Display::with_backend(ratatui::backend::CrosstermBackend::new(out), w, h);
        d.hold = hold;
        d
    }
}

impl<B: Backend> Display<B> {
    pub fn with_backend(backend: B, w: u16, h: u16) -> Self {
        let area = Rect::new(0, 0, w, h);
        Display {
            backend,
            front: Buffer::empty(area),
            back: Buffer::empty(area),
            back_clean: true,
            geometry: Geometry::default(),
            row_old: Buffer::empty(Rect::default()),
            row_new: Buffer::empty(Rect::default()),
            hold: Rc::new(Cell::new(false)),
        }
    }

    /// The terminal is now `w` x `h`: clears it, so the next (full) frame draws everything.
    pub fn resize(&mut self, w: u16, h: u16) -> Result<(), B::Error> {
        let area = Rect::new(0, 0, w, h);
        self.backend.clear_region(ClearType::All)?;
        self.front = Buffer::empty(area);
        self.back = Buffer::empty(area);
        self.back_clean = true;
        self.geometry = Geometry::default();
        self.backend.flush()
    }

    /// Shows the app's current state if anything changed, and marks it drawn.
    pub fn draw(&mut self, app: &mut App) -> Result<(), B::Error> {
        if !app.dirty && app.damage.is_empty() {
            return Ok(());
        }
        let g = app.geometry();
        let patched = !app.dirty && self.patch(app, &g)?;
        if !patched {
            self.full(app, g)?;
        }
        app.dirty = false;
        app.damage.clear();
        Ok(())
    }

    fn full(&mut self, app: &App, g: Geometry) -> Result<(), B::Error> {
        if !self.back_clean {
            self.back.reset();
        }
        let cursor = render::draw_buffer(&mut self.back, app, &g);
        self.backend.draw(self.front.diff(&self.back).into_iter())?;
        std::mem::swap(&mut self.front, &mut self.back);
        self.back_clean = false;
        self.geometry = g;
        self.finish(cursor)
    }

    /// Redraws only the damaged pane rows. False (having written nothing) when that would not
    /// give what a full frame gives.
    fn patch(&mut self, app: &App, g: &Geometry) -> Result<bool, B::Error> {
        if *g != self.geometry {
            return Ok(false);
        }
        let mut work = Vec::with_capacity(app.damage.len());
        for &pane in app.damage.keys() {
            match render::screen_area(app, g, self.front.area, pane) {
                ScreenArea::Covered => return Ok(false),
                ScreenArea::Hidden => {}
                ScreenArea::At(inner) => {
                    if let Some(s) = app.screens.get(&pane) {
                        work.push((pane, inner, s));
                    }
                }
            }
        }
        let mut rows: Vec<u16> = Vec::new();
        for (pane, inner, screen) in work {
            let sel = app.selection.filter(|s| s.pane == pane);
            rows.clear();
            rows.extend(app.damage.get(&pane).into_iter().flatten().copied());
            rows.sort_unstable();
            rows.dedup();
            // A full frame draws the screen's first `inner.height` lines.
            for &row in rows.iter().take_while(|r| **r < inner.height) {
                let Some(line) = screen.lines.get(usize::from(row)) else {
                    break;
                };
                let seg = Rect::new(inner.x, inner.y + row, inner.width, 1);
                self.row_new.resize(seg);
                self.row_new.reset();
                let line = app.predict.line(pane, row, line);
                render::draw_screen_row(&mut self.row_new, inner, row, &line, sel);
                self.row_old.resize(seg);
                let start = self.front.index_of(seg.x, seg.y);
                let shown = &mut self.front.content[start..start + usize::from(seg.width)];
                // Swaps, not clones (a clone copies every cell's symbol): `row_old` takes what
                // is shown, the front takes the new row, and `row_new` is reset before reuse.
                shown.swap_with_slice(&mut self.row_old.content);
                let drawn = self
                    .backend
                    .draw(self.row_old.diff(&self.row_new).into_iter());
                shown.swap_with_slice(&mut self.row_new.content);
                drawn?;
            }
        }
        self.finish(render::cursor_position(app, g))?;
        Ok(true)
    }

    /// Places the cursor as ratatui's `Terminal::draw` does, and sends the frame.
    fn finish(&mut self, cursor: Option<(u16, u16)>) -> Result<(), B::Error> {
        self.hold.set(true);
        let placed = match cursor {
            None => self.backend.hide_cursor(),
            Some((x, y)) => self
                .backend
                .show_cursor()
                .and_then(|()| self.backend.set_cursor_position(Position { x, y })),
        };
        self.hold.set(false);
        placed?;
        Backend::flush(&mut self.backend)
    }

    #[cfg(test)]
    pub fn shown(&self) -> &Buffer {
        &self.front
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::tests::{app_with, two_tabs};
    use crate::tui::app::{Mode, Selection};
    use quil_proto::{Cursor, CursorShape, Line, PaneId, PaneUpdate, ServerMsg};
    use unicode_width::UnicodeWidthStr;

    fn update(
        pane: u32,
        full: bool,
        size: (u16, u16),
        rows: &[(u16, &str)],
        title: &str,
    ) -> ServerMsg {
        ServerMsg::PaneUpdate(PaneUpdate {
            pane: PaneId(pane),
            version: 1,
            cols: size.0,
            rows: size.1,
            full,
            lines: rows.iter().map(|(r, t)| (*r, Line::plain(t))).collect(),
            cursor: Cursor {
                x: 3,
                y: 1,
                visible: true,
                shape: CursorShape::Block,
            },
            modes: 0,
            title: title.into(),
        })
    }

    /// What a fresh full frame of the app looks like.
    fn full_frame(app: &App) -> Buffer {
        let mut b = Buffer::empty(Rect::new(0, 0, app.size.0, app.size.1));
        render::draw_buffer(&mut b, app, &app.geometry());
        b
    }

    /// A terminal as far as the tests need one: a grid of cells where, as in xterm, writing
    /// over either half of a wide char blanks the other half (ratatui's diff relies on that;
    /// its `TestBackend` keeps the stale half instead).
    struct Term {
        grid: Buffer,
    }

    impl Backend for Term {
        type Error = std::convert::Infallible;
        fn draw<'a, I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>>(
            &mut self,
            content: I,
        ) -> Result<(), Self::Error> {
            let blank = ratatui::buffer::Cell::new(" ");
            for (x, y, cell) in content {
                let g = &mut self.grid;
                if x > 0 && g[(x - 1, y)].symbol().width() > 1 {
                    g[(x - 1, y)] = blank.clone();
                }
                if g[(x, y)].symbol().width() > 1 && x + 1 < g.area.width {
                    g[(x + 1, y)] = blank.clone();
                }
                g[(x, y)] = cell.clone();
                if cell.symbol().width() > 1 && x + 1 < g.area.width {
                    if x + 2 < g.area.width && g[(x + 1, y)].symbol().width() > 1 {
                        g[(x + 2, y)] = blank.clone();
                    }
                    g[(x + 1, y)] = blank.clone();
                }
            }
            Ok(())
        }
        fn hide_cursor(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
        fn show_cursor(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
        fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
            Ok(Position::default())
        }
        fn set_cursor_position<P: Into<Position>>(&mut self, _: P) -> Result<(), Self::Error> {
            Ok(())
        }
        fn clear(&mut self) -> Result<(), Self::Error> {
            self.grid.reset();
            Ok(())
        }
        fn clear_region(&mut self, _: ClearType) -> Result<(), Self::Error> {
            self.clear()
        }
        fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
            Ok(self.grid.area.as_size())
        }
        fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
            Ok(ratatui::backend::WindowSize {
                columns_rows: self.grid.area.as_size(),
                pixels: Default::default(),
            })
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    fn display(w: u16, h: u16) -> Display<Term> {
        let grid = Buffer::empty(Rect::new(0, 0, w, h));
        Display::with_backend(Term { grid }, w, h)
    }

    /// Draws, and checks that what is shown (in the model and on the terminal) is what a full
    /// frame would show. Returns whether the frame was a patch.
    fn draw_and_check(d: &mut Display<Term>, app: &mut App) -> bool {
        let patch = !app.dirty && !app.damage.is_empty();
        let Ok(()) = d.draw(app);
        let want = full_frame(app);
        assert_eq!(d.shown(), &want);
        let (got, want) = (visible(&d.backend.grid), visible(&want));
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "the terminal got every change");
        }
        patch
    }

    /// The cells a terminal shows: not those covered by a wide char before them.
    fn visible(b: &Buffer) -> Vec<String> {
        let mut out = Vec::new();
        for y in b.area.top()..b.area.bottom() {
            let mut skip = 0;
            for x in b.area.left()..b.area.right() {
                let c = &b[(x, y)];
                if skip == 0 {
                    out.push(format!("{x},{y} {:?} {:?}", c.symbol(), c.style()));
                }
                skip = skip.max(c.symbol().width()).saturating_sub(1);
            }
        }
        out
    }

    #[test]
    fn row_patches_show_what_full_frames_show() {
        let size = (60, 12);
        let mut app = app_with(two_tabs(), size);
        let mut d = display(size.0, size.1);
        draw_and_check(&mut d, &mut app);
        let (l, r) = {
            let g = app.geometry();
            let l = g.rect_of(PaneId(1)).expect("left").inner();
            let r = g.rect_of(PaneId(2)).expect("right").inner();
            ((l.w, l.h), (r.w, r.h))
        };
        // The first update of a pane redraws everything; later ones only their rows.
        app.on_server(update(1, true, l, &[(0, "$ ls"), (1, "a b c")], ""));
        app.on_server(update(2, true, r, &[(0, "right")], ""));
        assert!(!draw_and_check(&mut d, &mut app));
        app.on_server(update(1, false, l, &[(1, "a b c 界"), (2, "$ ")], ""));
        assert!(draw_and_check(&mut d, &mut app));
        // Shorter text, wide chars replaced, a row past the pane's height.
        app.on_server(update(1, false, l, &[(1, "a"), (40, "gone")], ""));
        app.on_server(update(
            2,
            false,
            r,
            &[(0, "界界界界界界界界界界界界界界界界界界")],
            "",
        ));
        assert!(draw_and_check(&mut d, &mut app));
        // A selection is drawn on patched rows too.
        app.selection = Some(Selection {
            pane: PaneId(1),
            anchor: (0, 0),
            head: (4, 2),
        });
        app.dirty = true;
        draw_and_check(&mut d, &mut app);
        app.on_server(update(1, false, l, &[(0, "$ lsx"), (2, "$ x")], ""));
        assert!(draw_and_check(&mut d, &mut app));
        // A title or size change is drawn on the border: a full frame.
        app.on_server(update(2, false, r, &[], "vim"));
        assert!(!draw_and_check(&mut d, &mut app));
        app.on_server(update(2, true, (r.0 - 1, r.1), &[(0, "x")], "vim"));
        assert!(!draw_and_check(&mut d, &mut app));
        // A popup may cover the rows.
        app.on_server(update(1, false, l, &[(0, "$ ls")], ""));
        app.mode = Mode::Picker(crate::tui::picker::Picker::loading());
        draw_and_check(&mut d, &mut app);
        app.mode = Mode::Normal;
        app.dirty = true;
        draw_and_check(&mut d, &mut app);
        // A layout the frame on screen was not drawn with.
        app.size = (50, 12);
        app.on_server(update(1, false, l, &[(0, "$ l")], ""));
        let mut d2 = display(50, 12);
        d2.front = d.front.clone();
        d2.front.resize(Rect::new(0, 0, 50, 12));
        d2.geometry = d.geometry.clone();
        let Ok(()) = d2.draw(&mut app);
        assert_eq!(d2.shown(), &full_frame(&app));
    }
}
