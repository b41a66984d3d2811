//! Drawing the App with ratatui: tab bar, bordered panes, the status bar and popups. Pure
//! functions of the state; ratatui's buffer diff makes only changed cells reach the terminal.

use super::app::{App, Mode};
use super::keys::Action;
use super::mouse::Geometry;
use super::pane::PaneScreen;
use super::popup;
use super::scrollback::{Hl, Scrollback};
use super::setup::shorten;
use quil_proto::screen::flags;
use quil_proto::{Attention, CursorShape, Line, PaneId, PaneInfo};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect as RRect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as RLine, Span};
use ratatui::widgets::{Block, BorderType, Widget};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

fn rr(r: quil_model::Rect) -> RRect {
    RRect::new(r.x, r.y, r.w, r.h)
}

/// A terminal colour as ratatui's: the 16 basic ones by name so that 16-colour outer
/// terminals get the plain SGR codes; the rest as 256-colour indexes or truecolor.
pub fn color(c: quil_proto::Color) -> Color {
    match c {
        quil_proto::Color::Default => Color::Reset,
        quil_proto::Color::Indexed(i) if i < 16 => [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ][usize::from(i)],
        quil_proto::Color::Indexed(i) => Color::Indexed(i),
        quil_proto::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

pub fn to_style(s: &quil_proto::Style) -> Style {
    let mut st = Style::new().fg(color(s.fg)).bg(color(s.bg));
    for (bit, m) in [
        (flags::BOLD, Modifier::BOLD),
        (flags::DIM, Modifier::DIM),
        (flags::ITALIC, Modifier::ITALIC),
        (
            flags::UNDERLINE | flags::DOUBLE_UNDERLINE | flags::UNDERCURL,
            Modifier::UNDERLINED,
        ),
        (flags::INVERSE, Modifier::REVERSED),
        (flags::HIDDEN, Modifier::HIDDEN),
        (flags::STRIKEOUT, Modifier::CROSSED_OUT),
    ] {
        if s.flags & bit != 0 {
            st = st.add_modifier(m);
        }
    }
    st
}

pub const ACCENT: Color = Color::Cyan;

fn hl_style(h: Hl) -> Style {
    match h {
        Hl::Match => Style::new().fg(Color::Black).bg(Color::Yellow),
        Hl::CurrentMatch => Style::new()
            .fg(Color::Black)
            .bg(Color::LightRed)
            .add_modifier(Modifier::BOLD),
        Hl::Selection => Style::new().fg(Color::White).bg(Color::Blue),
        Hl::Cursor => Style::new().fg(Color::Black).bg(Color::White),
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let g = app.geometry();
    if let Some(pos) = draw_buffer(f.buffer_mut(), app, &g) {
        f.set_cursor_position(pos);
    }
}

/// Draws the whole screen laid out as `g` (the app's geometry) into a blank `buf`; returns
/// where the cursor goes.
pub fn draw_buffer(buf: &mut Buffer, app: &App, g: &Geometry) -> Option<(u16, u16)> {
    let cursor = cursor_position(app, g);
    draw_tab_bar(buf, app, g);
    let active = app.active_pane();
    if g.panes.is_empty() {
        let msg = if app.ws.tabs.is_empty() {
            "waiting for the daemon…"
        } else {
            ""
        };
        put(
            buf,
            1,
            1,
            g.width.saturating_sub(2),
            msg,
            Style::new().fg(Color::DarkGray),
        );
    }
    for (pane, rect) in &g.panes {
        draw_pane(buf, app, *pane, rr(*rect), Some(*pane) == active);
    }
    draw_status(buf, app, g);
    match &app.mode {
        Mode::Picker(p) => popup::draw_picker(buf, p),
        Mode::Setup(s) => popup::draw_setup(buf, s),
        Mode::CloseWorktree(d) => popup::draw_close_worktree(buf, d, app.home_dir.as_deref()),
        Mode::Agents(v) => popup::draw_agents(buf, v, &app.agent_rows()),
        Mode::Help(top) => popup::draw_help(buf, &app.keys.bindings(), *top),
        Mode::Tree(t) => {
            let rows = super::tree::rows(&app.ws);
            let preview = t.row(&rows).and_then(|r| app.screens.get(&r.preview()));
            popup::draw_tree(buf, t, &rows, preview, app.home_dir.as_deref());
        }
        _ => {}
    }
    cursor
}

/// Where a full frame shows a pane's screen lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScreenArea {
    /// Nowhere: the pane is not on screen, or too small for anything inside its border.
    Hidden,
    /// In this inner area.
    At(RRect),
    /// Something else may be drawn over them (a popup, its scrollback): only a full frame gets
    /// them right.
    Covered,
}

/// Where a full frame of the screen `area`, laid out as `g`, draws `pane`'s screen lines.
pub fn screen_area(app: &App, g: &Geometry, area: RRect, pane: PaneId) -> ScreenArea {
    match &app.mode {
        Mode::Picker(_)
        | Mode::Setup(_)
        | Mode::CloseWorktree(_)
        | Mode::Agents(_)
        | Mode::Help(_)
        | Mode::Tree(_) => return ScreenArea::Covered,
        Mode::Scroll(sb) if sb.pane == pane => return ScreenArea::Covered,
        _ => {}
    }
    let Some(rect) = g.rect_of(pane) else {
        return ScreenArea::Hidden;
    };
    // As `draw_pane` does.
    let area = rr(rect).intersection(area);
    if area.width < 2 || area.height < 2 {
        return ScreenArea::Hidden;
    }
    ScreenArea::At(RRect::new(
        area.x + 1,
        area.y + 1,
        area.width - 2,
        area.height - 2,
    ))
}

/// Draws row `row` of a pane's screen (inner area `inner`) into a blank `buf`, exactly as a
/// full frame draws it.
pub fn draw_screen_row(
    buf: &mut Buffer,
    inner: RRect,
    row: u16,
    line: &Line,
    sel: Option<super::app::Selection>,
) {
    draw_line(buf, inner.x, inner.y + row, inner.width, line);
    if let Some((from, to)) = sel.and_then(|sel| sel.cols_on(row, inner.width)) {
        highlight(buf, inner, row, from, to, hl_style(Hl::Selection));
    }
}

/// Writes `text` at (x, y), at most `width` columns, clipped to the buffer.
pub fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) -> u16 {
    let area = buf.area;
    if y >= area.bottom() || x >= area.right() {
        return x;
    }
    let width = width.min(area.right() - x);
    buf.set_stringn(x, y, text, usize::from(width), style).0
}

fn draw_tab_bar(buf: &mut Buffer, app: &App, g: &Geometry) {
    let active = app.tab_index();
    let bar = RRect::new(0, 0, g.width, 1).intersection(buf.area);
    buf.set_style(bar, Style::new().bg(Color::Black));
    for seg in &g.tabs {
        // From the tabs' states, not the label text: a tab may be named `build !`.
        let mark = app.tab_mark(seg.index);
        let style = if Some(seg.index) == active {
            Style::new()
                .fg(Color::Black)
                .bg(ACCENT)
                .add_modifier(Modifier::BOLD)
        } else if mark == " ✗" {
            Style::new()
                .fg(Color::LightRed)
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else if mark == " !" {
            Style::new()
                .fg(Color::Yellow)
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::White).bg(Color::DarkGray)
        };
        put(buf, seg.x, 0, seg.width, &seg.label, style);
    }
}

/// The right-hand border title: what state the pane is in, most important first.
fn pane_state(info: &PaneInfo) -> Option<(String, Style)> {
    if info.error.is_some() {
        return Some((
            " cannot start ".into(),
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if info.restoring {
        return Some((" restoring… ".into(), Style::new().fg(Color::Gray)));
    }
    if !info.started {
        // Restored, waiting to start (lazy restore): it starts as soon as it is shown.
        return Some((" not started ".into(), Style::new().fg(Color::Gray)));
    }
    if !info.alive {
        let text = match info.exit_status {
            Some(s) => format!(" exited (status {s}) "),
            None => " exited ".to_string(),
        };
        let fg = if info.exit_status == Some(0) {
            Color::Gray
        } else {
            Color::LightRed
        };
        return Some((text, Style::new().fg(fg).add_modifier(Modifier::BOLD)));
    }
    if info.input_blocked {
        return Some((
            " not accepting input ".into(),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    let state = info.state?;
    if state == Attention::Idle {
        return None;
    }
    Some((format!(" {state} "), state_style(state)))
}

/// How an attention state is written, on a border and in the agents view.
pub fn state_style(state: Attention) -> Style {
    match state {
        Attention::Idle => Style::new().fg(Color::Gray),
        Attention::Waiting => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        Attention::Done => Style::new().fg(Color::Green),
        Attention::Error => Style::new()
            .fg(Color::LightRed)
            .add_modifier(Modifier::BOLD),
        Attention::Working => Style::new().fg(Color::LightBlue),
    }
}

/// An inactive pane's border colour: panes that need you stand out even when not focused.
fn idle_border(info: Option<&PaneInfo>) -> Color {
    match info {
        Some(i) if i.error.is_some() || i.state == Some(Attention::Error) => Color::Red,
        Some(i) if i.alive && i.state == Some(Attention::Waiting) => Color::Yellow,
        _ => Color::DarkGray,
    }
}

/// The bottom border of a pane whose program is not running: why, and how to go on.
fn dead_pane_footer(app: &App, info: &PaneInfo, width: u16) -> (RLine<'static>, RLine<'static>) {
    let close = app
        .keys
        .key_for(Action::ClosePane)
        .unwrap_or_else(|| "close-pane".into());
    let key = Style::new().fg(ACCENT).add_modifier(Modifier::BOLD);
    let dim = Style::new().fg(Color::Gray);
    let verb = if info.error.is_some() {
        " retry · "
    } else {
        " restart · "
    };
    let right = RLine::from(vec![
        Span::raw(" "),
        Span::styled("r", key),
        Span::styled(verb, dim),
        Span::styled(close, key),
        Span::styled(" close ", dim),
    ])
    .right_aligned();
    let room = usize::from(width).saturating_sub(right.width() + 4);
    let left = match &info.error {
        Some(e) if room > 8 => {
            let mut text = format!(" ✗ {e}");
            if text.width() + 1 > room {
                text = truncate(&text, room.saturating_sub(2));
                text.push('…');
            }
            text.push(' ');
            RLine::from(Span::styled(
                text,
                Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            ))
        }
        _ => RLine::default(),
    };
    (left, right)
}

/// The longest prefix of `text` at most `width` columns wide.
pub fn truncate(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in text.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > width {
            break;
        }
        w += cw;
        out.push(c);
    }
    out
}

fn draw_pane(buf: &mut Buffer, app: &App, pane: PaneId, area: RRect, active: bool) {
    let area = area.intersection(buf.area);
    if area.width < 2 || area.height < 2 {
        return;
    }
    let info = app.pane_info(pane);
    let screen = app.screens.get(&pane);
    let (border, kind) = if active {
        (
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
            BorderType::Thick,
        )
    } else {
        (Style::new().fg(idle_border(info)), BorderType::Plain)
    };
    let mut left = Vec::new();
    if let Some(i) = info {
        let name_style = if active {
            Style::new().fg(Color::White).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        left.push(Span::styled(format!(" {} ", i.name), name_style));
        let home = app.home_dir.as_deref();
        // Inside a worktree the cwd is a long generated path: show the repository and the
        // branch instead, as a git prompt would.
        let worktree = i.worktree.as_ref().map(|wt| {
            let path = wt.path.display().to_string();
            let rest = i.cwd.strip_prefix(path.as_str()).unwrap_or("");
            let repo = shorten(&wt.repo.display().to_string(), home);
            (format!("{repo}{rest}"), wt.branch.clone())
        });
        let location = match &worktree {
            Some((loc, _)) => loc.clone(),
            None => shorten(&i.cwd, home),
        };
        left.push(Span::styled(
            format!("{} · {location} ", i.kind),
            Style::new().fg(Color::DarkGray),
        ));
        if let Some((_, branch)) = worktree {
            left.push(Span::styled(
                format!("⎇ {branch} "),
                Style::new().fg(Color::Magenta),
            ));
        }
        // The program's own title (agents put their current task there).
        let title = screen.map_or(i.title.as_str(), |s| s.title.as_str()).trim();
        if !title.is_empty() && title != i.name {
            left.push(Span::styled(
                format!("· {title} "),
                Style::new().fg(Color::Gray),
            ));
        }
    }
    let mut right = Vec::new();
    let inner = RRect::new(area.x + 1, area.y + 1, area.width - 2, area.height - 2);
    let scroll = match &app.mode {
        Mode::Scroll(sb) if sb.pane == pane => Some(sb.as_ref()),
        _ => None,
    };
    if let Some(sb) = scroll {
        let pos = if sb.loading() {
            " scrollback… ".to_string()
        } else {
            format!(" [{}/{}] ", sb.offset_from_bottom(), sb.history_len())
        };
        right.push(Span::styled(
            pos,
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if let Some((text, style)) = info.and_then(pane_state) {
        right.push(Span::styled(text, style));
    }
    // Brought back by a daemon restart: news until the user types in it.
    if info.is_some_and(|i| i.restored) && !app.touched.contains(&pane) {
        right.push(Span::styled(
            " restored ",
            Style::new().fg(Color::Black).bg(Color::Magenta),
        ));
    }
    if app.current_tab().is_some_and(|t| t.zoomed) {
        right.push(Span::styled(
            " zoomed ",
            Style::new().fg(Color::Black).bg(ACCENT),
        ));
    }
    // Another client sized this pane: say so, since its content is clipped or padded here.
    if let Some(s) = screen {
        if s.rows > 0 && (s.cols, s.rows) != (inner.width, inner.height) {
            right.push(Span::styled(
                format!(" {}×{} ", s.cols, s.rows),
                Style::new().fg(Color::DarkGray),
            ));
        }
    }
    let mut block = Block::bordered()
        .border_type(kind)
        .border_style(border)
        .title_top(RLine::from(left))
        .title_top(RLine::from(right).right_aligned());
    if let Some(i) = info.filter(|i| !i.alive && i.started) {
        let (l, r) = dead_pane_footer(app, i, area.width);
        block = block.title_bottom(l).title_bottom(r);
    }
    block.render(area, buf);
    match (scroll, screen) {
        (Some(sb), _) => draw_scrollback(buf, inner, sb),
        (None, Some(s)) => draw_screen(buf, inner, app, pane, s),
        (None, None) => {}
    }
}

/// Draws a line's cells from (x, y), clipped to `width` columns: the cells of
/// [`super::pane::cells`], without building them (this runs for every changed row).
fn draw_line(buf: &mut Buffer, x: u16, y: u16, width: u16, line: &Line) {
    let mut col: u16 = 0;
    // The last cell drawn with its text: zero-width chars join it.
    let mut last: Option<u16> = None;
    for run in &line.runs {
        let style = to_style(&run.style);
        for c in run.text.chars() {
            match c.width() {
                Some(0) => {
                    if let Some(at) = last {
                        let cell = &mut buf[(x + at, y)];
                        let joined = format!("{}{c}", cell.symbol());
                        cell.set_symbol(&joined);
                    }
                }
                Some(w) => {
                    let w = w as u16;
                    if col >= width {
                        return;
                    }
                    let pos = (x + col, y);
                    if col + w > width {
                        // A wide char cut by the edge: a blank, not half a glyph.
                        buf[pos].set_symbol(" ").set_style(style);
                        last = None;
                    } else {
                        buf[pos].set_char(c).set_style(style);
                        for k in 1..w {
                            buf[(x + col + k, y)].reset();
                        }
                        last = Some(col);
                    }
                    col = col.saturating_add(w);
                }
                // Control chars never belong on screen (as in `cells`).
                None => {}
            }
        }
    }
}

fn highlight(buf: &mut Buffer, inner: RRect, row: u16, from: u16, to: u16, style: Style) {
    let to = to.min(inner.width);
    if from < to {
        buf.set_style(
            RRect::new(inner.x + from, inner.y + row, to - from, 1),
            style,
        );
    }
}

fn draw_screen(buf: &mut Buffer, inner: RRect, app: &App, pane: PaneId, s: &PaneScreen) {
    let sel = app.selection.filter(|sel| sel.pane == pane);
    for (row, line) in s.lines.iter().enumerate().take(usize::from(inner.height)) {
        let row = row as u16;
        draw_screen_row(buf, inner, row, &app.predict.line(pane, row, line), sel);
    }
}

fn draw_scrollback(buf: &mut Buffer, inner: RRect, sb: &Scrollback) {
    for row in 0..inner.height {
        let i = sb.top + u32::from(row);
        if let Some(line) = sb.line(i) {
            draw_line(buf, inner.x, inner.y + row, inner.width, line);
        }
        for (from, to, h) in sb.highlights(i) {
            highlight(buf, inner, row, from, to, hl_style(h));
        }
    }
}

/// Status bar hints built from the key map, so they show the user's own keys.
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    let k = &app.keys;
    let mut out = Vec::new();
    // Help and detach first: they stay at every width.
    for (action, label) in [
        (Action::Help, "help"),
        (Action::Detach, "detach"),
        (Action::NewPane, "new pane"),
        (Action::NewTab, "new tab"),
        (Action::SplitRight, "split →"),
        (Action::SplitDown, "split ↓"),
        (Action::FocusLeft, "focus"),
        (Action::Zoom, "zoom"),
        (Action::ScrollUp, "scroll"),
        (Action::CopyMode, "copy"),
        (Action::RenameTab, "rename"),
        (Action::Agents, "agents"),
        (Action::ClosePane, "close"),
    ] {
        if let Some(key) = k.key_for(action) {
            let key = if action == Action::FocusLeft {
                key.replace("Left", "arrows")
            } else {
                key
            };
            // Copy mode is only worth a hint when scrolling has no key of its own.
            if action == Action::CopyMode && out.iter().any(|(_, l)| *l == "scroll") {
                continue;
            }
            out.push((key, label));
        }
    }
    out
}

fn draw_status(buf: &mut Buffer, app: &App, g: &Geometry) {
    let y = g.status_row();
    if y == 0 || y >= buf.area.bottom() {
        return;
    }
    let w = g.width;
    let bar = Style::new().fg(Color::White).bg(Color::Black);
    buf.set_style(RRect::new(0, y, w, 1).intersection(buf.area), bar);
    let tag = |text: &str| {
        Span::styled(
            format!(" {text} "),
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    };
    let key = |t: String| Span::styled(t, Style::new().fg(ACCENT).add_modifier(Modifier::BOLD));
    let dim = |t: String| Span::styled(t, Style::new().fg(Color::Gray));
    let item_w = |item: &[Span]| -> u16 { item.iter().map(|s| s.content.width() as u16).sum() };
    let total_w = |items: &[Vec<Span>]| -> u16 { items.iter().map(|i| item_w(i)).sum() };
    // Panes waiting for you, and the key that lists them: `2 waiting  Alt+Shift+I agents`.
    let waiting = match app.waiting_count() {
        0 => Vec::new(),
        n => {
            let mut v = vec![vec![tag(&format!("{n} waiting"))]];
            if let Some(k) = app.keys.key_for(Action::Agents) {
                v.push(vec![key(format!(" {k}")), dim(" agents ".into())]);
            }
            v
        }
    };
    // The active pane's id on the right, for scripting (`quil send-keys --pane ...`), unless
    // only one of it and the waiting count fits: then the count, which is news.
    let right = match (&app.mode, app.active_pane()) {
        (Mode::Normal, Some(p)) => {
            let id = format!(" {p} ");
            let count_w = waiting.first().map_or(0, |i| item_w(i));
            if count_w > 0 && count_w + id.width() as u16 + 1 > w {
                String::new()
            } else {
                id
            }
        }
        _ => String::new(),
    };
    let right_w = right.width() as u16;
    let left_w = if right_w > 0 {
        w.saturating_sub(right_w + 1)
    } else {
        w
    };
    // Items are drawn whole or not at all (except the first), so hints never end mid-word.
    let mut items: Vec<Vec<Span>> = Vec::new();
    let hint_items = |items: &mut Vec<Vec<Span>>, pairs: Vec<(String, &'static str)>| {
        for (k, label) in pairs {
            items.push(vec![key(format!(" {k}")), dim(format!(" {label} "))]);
        }
    };
    match &app.mode {
        Mode::Prefix => {
            items.push(vec![tag("PREFIX")]);
            let prefix = app.keys.prefix.map(|p| p.to_string()).unwrap_or_default();
            let rest: Vec<(String, &'static str)> = hints(app)
                .into_iter()
                .filter_map(|(k, l)| {
                    k.strip_prefix(&format!("{prefix} "))
                        .map(|r| (r.to_string(), l))
                })
                .collect();
            hint_items(&mut items, rest);
        }
        Mode::Confirm(p) => {
            let name = app
                .pane_info(*p)
                .map_or_else(|| p.to_string(), |i| i.name.clone());
            items.push(vec![
                tag("CLOSE"),
                Span::styled(
                    format!(" Close pane {name:?}? Its program is still running. "),
                    bar.add_modifier(Modifier::BOLD),
                ),
            ]);
            items.push(vec![
                key("y".into()),
                dim(" yes  ".into()),
                key("n".into()),
                dim(" no".into()),
            ]);
        }
        Mode::Rename {
            buf: text, pane, ..
        } => {
            items.push(vec![
                tag("RENAME"),
                dim(rename_label(pane.is_some()).into()),
                Span::styled(text.clone(), bar.add_modifier(Modifier::BOLD)),
            ]);
        }
        Mode::Picker(_) => {
            items.push(vec![tag("NEW PANE")]);
            hint_items(
                &mut items,
                vec![
                    ("↑↓".into(), "choose"),
                    ("Tab".into(), "where"),
                    ("Enter".into(), "open"),
                    ("Esc".into(), "cancel"),
                    ("w".into(), "worktree"),
                ],
            );
        }
        Mode::Setup(f) => {
            items.push(vec![tag("NEW PANE")]);
            let mut pairs = vec![("↑↓".into(), "move"), ("Space".into(), "toggle")];
            if f.dir.is_some() {
                pairs.push(("Tab".into(), "complete"));
            }
            pairs.extend([("Enter".into(), "open"), ("Esc".into(), "cancel")]);
            hint_items(&mut items, pairs);
        }
        // The two pickers of a pane to go to share their keys.
        Mode::Tree(_) | Mode::Agents(_) => {
            let name = if matches!(app.mode, Mode::Tree(_)) {
                "TREE"
            } else {
                "AGENTS"
            };
            items.push(vec![tag(name)]);
            hint_items(
                &mut items,
                vec![
                    ("↑↓".into(), "choose"),
                    ("Enter".into(), "go to"),
                    ("Esc".into(), "close"),
                ],
            );
        }
        Mode::Help(_) => {
            items.push(vec![tag("HELP")]);
            hint_items(
                &mut items,
                vec![("↑↓".into(), "scroll"), ("Esc".into(), "close")],
            );
        }
        Mode::CloseWorktree(_) => {
            items.push(vec![tag("CLOSE")]);
            hint_items(
                &mut items,
                vec![
                    ("k".into(), "keep"),
                    ("d".into(), "discard"),
                    ("l".into(), "leave"),
                    ("c".into(), "cancel"),
                ],
            );
        }
        Mode::Scroll(sb) => {
            if let Some((backward, q)) = &sb.prompt {
                items.push(vec![Span::styled(
                    format!("{}{q}", if *backward { '/' } else { '?' }),
                    bar.add_modifier(Modifier::BOLD),
                )]);
            } else {
                items.push(vec![tag("SCROLL")]);
                if let Some(m) = &sb.message {
                    items.push(vec![Span::styled(
                        format!(" {m}"),
                        Style::new().fg(Color::LightRed).bg(Color::Black),
                    )]);
                } else {
                    let pairs = [
                        ("↑↓", "move"),
                        ("PgUp/PgDn", "page"),
                        ("/ ?", "search"),
                        ("n N", "next"),
                        ("v", "select"),
                        ("y", "copy"),
                        ("q", "quit"),
                    ];
                    hint_items(
                        &mut items,
                        pairs.iter().map(|(k, l)| (k.to_string(), *l)).collect(),
                    );
                }
            }
        }
        Mode::Normal => match &app.status {
            Some(s) => {
                let style = if s.error {
                    Style::new()
                        .fg(Color::LightRed)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::new().fg(Color::LightGreen)
                };
                items.push(vec![Span::styled(
                    format!(" {}", s.text),
                    style.bg(Color::Black),
                )]);
                items.extend(waiting);
            }
            None if app.ws.persist_error.is_some() => {
                // Loud: changes are not reaching the disk, so a restart would lose them.
                let why = app.ws.persist_error.as_deref().unwrap_or_default();
                items.push(vec![Span::styled(
                    format!(" workspace not saved: {why}"),
                    Style::new()
                        .fg(Color::LightRed)
                        .bg(Color::Black)
                        .add_modifier(Modifier::BOLD),
                )]);
                items.extend(waiting);
            }
            None => {
                let mut hint_row: Vec<Vec<Span>> = Vec::new();
                // Prefixed keys are listed once after "<prefix> then".
                let prefix = app.keys.prefix.map(|p| format!("{p} "));
                let mut said_prefix = false;
                // The waiting count already names the agents key.
                let shown = hints(app)
                    .into_iter()
                    .filter(|(_, l)| waiting.is_empty() || *l != "agents");
                for (k, label) in shown {
                    match prefix.as_deref().and_then(|p| k.strip_prefix(p)) {
                        Some(rest) => {
                            let mut item = Vec::new();
                            if !said_prefix {
                                said_prefix = true;
                                item.push(key(format!(
                                    " {}",
                                    k[..k.len() - rest.len()].trim_end()
                                )));
                                item.push(dim(" then".into()));
                            }
                            item.push(key(format!(" {rest}")));
                            item.push(dim(format!(" {label} ")));
                            hint_row.push(item);
                        }
                        None => {
                            hint_row.push(vec![key(format!(" {k}")), dim(format!(" {label} "))])
                        }
                    }
                }
                // The waiting count goes first; the hints after it are dropped from the end,
                // so help and detach (the first two) stay.
                if !waiting.is_empty() {
                    let room = left_w.saturating_sub(total_w(&waiting));
                    while hint_row.len() > 2 && total_w(&hint_row) > room {
                        hint_row.pop();
                    }
                }
                items.extend(waiting);
                items.extend(hint_row);
            }
        },
    }
    let mut x = 0;
    for (i, item) in items.iter().enumerate() {
        let item_w = item_w(item);
        if i > 0 && x + item_w > left_w {
            break;
        }
        for s in item {
            if x >= left_w {
                break;
            }
            x = put(buf, x, y, left_w - x, &s.content, s.style);
        }
    }
    if right_w > 0 && x + right_w <= w {
        put(
            buf,
            w - right_w,
            y,
            right_w,
            &right,
            Style::new().fg(Color::DarkGray).bg(Color::Black),
        );
    }
}

/// The prompt before a name being typed.
fn rename_label(pane: bool) -> &'static str {
    if pane {
        " pane name: "
    } else {
        " tab name: "
    }
}

/// Where the real terminal cursor goes: the active pane's cursor (when its program shows it
/// and nothing covers it), or the end of a prompt being typed.
pub fn cursor_position(app: &App, g: &Geometry) -> Option<(u16, u16)> {
    let y = g.status_row();
    match &app.mode {
        Mode::Rename { buf, pane, .. } => Some((
            (" RENAME ".width() + rename_label(pane.is_some()).width() + buf.width()) as u16,
            y,
        )),
        Mode::Scroll(sb) => sb.prompt.as_ref().map(|(_, q)| ((1 + q.width()) as u16, y)),
        Mode::Setup(f) => popup::setup_cursor(g.width, g.height, f),
        Mode::Picker(_)
        | Mode::CloseWorktree(_)
        | Mode::Agents(_)
        | Mode::Help(_)
        | Mode::Tree(_) => None,
        Mode::Normal | Mode::Prefix | Mode::Confirm(_) => {
            let pane = app.active_pane()?;
            if app.pane_info(pane).is_some_and(|i| !i.alive) {
                return None;
            }
            let s = app.screens.get(&pane)?;
            let inner = g.rect_of(pane)?.inner();
            // After the keys typed but not yet echoed back, when they are shown.
            let (x, y) = app.predict.cursor(pane).unwrap_or((s.cursor.x, s.cursor.y));
            (s.cursor.visible && x < inner.w && y < inner.h).then_some((inner.x + x, inner.y + y))
        }
    }
    .filter(|(x, y)| *x < g.width && *y < g.height)
}

/// The shape for the real cursor, when it sits in a pane.
pub fn cursor_shape(app: &App) -> Option<CursorShape> {
    match app.mode {
        Mode::Normal | Mode::Prefix | Mode::Confirm(_) => app
            .active_pane()
            .and_then(|p| app.screens.get(&p))
            .map(|s| s.cursor.shape),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::tests::{agents_ws, app_with, pane_info, tab, two_tabs, AGENTS_NOW};
    use crate::tui::app::{Pending, Selection};
    use crate::tui::picker::sample_types;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use quil_model::{Layout, SplitDir};
    use quil_proto::{
        Color as QColor, Cursor, PaneUpdate, Reply, Run, ServerMsg, Style as QStyle, TabId,
        WorkspaceInfo,
    };
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::fmt::Write;

    /// A tab's colour comes from its panes' states, not from what its name happens to contain.
    #[test]
    fn tab_colour_follows_state_not_name() {
        let mut ws = two_tabs();
        ws.tabs[1].name = "build ! ✗".into();
        let app = app_with(ws, (60, 10));
        let mut term = Terminal::new(TestBackend::new(60, 10)).expect("test terminal");
        term.draw(|f| draw(f, &app)).expect("draw");
        let g = app.geometry();
        let seg = &g.tabs[1];
        let style = term.backend().buffer()[(seg.x + 1, 0)].style();
        assert_eq!(style.fg, Some(Color::White), "{style:?}");
        assert_eq!(app.tab_mark(1), "");
    }

    /// The screen as text, then every non-default style run per row, then the cursor: enough
    /// to see highlights and colours in a snapshot without a terminal.
    fn dump(app: &App, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        term.draw(|f| draw(f, app)).expect("draw");
        let cursor = cursor_position(app, &app.geometry());
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            let mut skip = 0;
            for x in 0..w {
                let c = &buf[(x, y)];
                if skip == 0 {
                    out.push_str(c.symbol());
                }
                skip = (skip.max(c.symbol().width())).saturating_sub(1);
            }
            out.push('\n');
        }
        out.push_str("--- styles ---\n");
        for y in 0..h {
            let mut x = 0;
            while x < w {
                let st = buf[(x, y)].style();
                let mut end = x + 1;
                while end < w && buf[(end, y)].style() == st {
                    end += 1;
                }
                let plain = st.fg.is_none_or(|c| c == Color::Reset)
                    && st.bg.is_none_or(|c| c == Color::Reset)
                    && st.add_modifier.is_empty();
                if !plain {
                    let fg = st.fg.map_or("-".to_string(), |c| format!("{c}"));
                    let bg = st.bg.map_or("-".to_string(), |c| format!("{c}"));
                    let _ = writeln!(
                        out,
                        "{y:>2} {x:>3}..{end:<3} {fg}/{bg} {:?}",
                        st.add_modifier
                    );
                }
                x = end;
            }
        }
        let _ = writeln!(out, "--- cursor: {cursor:?}");
        out
    }

    fn screen(
        app: &mut App,
        pane: u32,
        cols: u16,
        rows: u16,
        lines: Vec<Line>,
        cursor: (u16, u16),
    ) {
        app.on_server(ServerMsg::PaneUpdate(PaneUpdate {
            pane: PaneId(pane),
            version: 1,
            cols,
            rows,
            full: true,
            lines: lines
                .into_iter()
                .enumerate()
                .map(|(i, l)| (i as u16, l))
                .collect(),
            cursor: Cursor {
                x: cursor.0,
                y: cursor.1,
                visible: true,
                shape: CursorShape::Beam,
            },
            modes: 0,
            title: String::new(),
        }));
    }

    fn one_pane() -> WorkspaceInfo {
        WorkspaceInfo {
            tabs: vec![tab(1, "main", Layout::Pane(PaneId(1)))],
            panes: vec![pane_info(1, 1, "shell")],
            active_tab: 0,
            persist_error: None,
            restore_problem: None,
        }
    }

    fn styled_line() -> Line {
        let s = |fg, bg, f| QStyle { fg, bg, flags: f };
        Line {
            runs: vec![
                Run {
                    style: s(QColor::Indexed(2), QColor::Default, flags::BOLD),
                    text: "ok".into(),
                },
                Run {
                    style: QStyle::default(),
                    text: " 界 ".into(),
                },
                Run {
                    style: s(
                        QColor::Rgb(255, 128, 0),
                        QColor::Indexed(236),
                        flags::ITALIC | flags::UNDERLINE,
                    ),
                    text: "warm".into(),
                },
                Run {
                    style: s(QColor::Default, QColor::Default, flags::INVERSE),
                    text: "inv".into(),
                },
            ],
            wrapped: false,
        }
    }

    /// `draw_line` draws what the cells of `pane::cells` say, combining marks, wide chars cut
    /// by the edge and control chars included.
    #[test]
    fn draw_line_matches_cells() {
        let red = QStyle {
            fg: QColor::Indexed(1),
            ..Default::default()
        };
        let line = |parts: &[(&str, QStyle)]| Line {
            runs: parts
                .iter()
                .map(|(t, st)| Run {
                    style: *st,
                    text: (*t).into(),
                })
                .collect(),
            wrapped: false,
        };
        let plain = QStyle::default();
        let lines = [
            line(&[("\u{301}a界", plain), ("\u{301}e\u{301}\u{302}", red)]),
            line(&[("abcd界\u{301}x", plain)]),
            line(&[("ab\x07c界", red), ("界", plain)]),
            line(&[("", plain), ("界界界", red)]),
        ];
        for l in &lines {
            for width in 0..8 {
                let area = RRect::new(2, 1, width, 1);
                let mut got = Buffer::empty(area);
                draw_line(&mut got, 2, 1, width, l);
                let mut want = Buffer::empty(area);
                for cell in crate::tui::pane::cells(l) {
                    if cell.col >= width {
                        break;
                    }
                    let pos = (2 + cell.col, 1);
                    let style = to_style(&cell.style);
                    if cell.col + cell.width > width {
                        want[pos].set_symbol(" ").set_style(style);
                        continue;
                    }
                    want[pos].set_symbol(&cell.text).set_style(style);
                    for k in 1..cell.width {
                        want[(2 + cell.col + k, 1)].reset();
                    }
                }
                assert_eq!(got, want, "{l:?} in {width} columns");
            }
        }
    }

    #[test]
    fn single_pane_with_styles_and_wide_char() {
        let mut app = app_with(one_pane(), (40, 8));
        app.home_dir = Some("/home/me".into());
        screen(
            &mut app,
            1,
            38,
            4,
            vec![Line::plain("$ echo hi"), styled_line(), Line::plain("$ ")],
            (2, 2),
        );
        insta::assert_snapshot!("single_pane_styled_wide", dump(&app, 40, 8));
        assert_eq!(cursor_shape(&app), Some(CursorShape::Beam));
    }

    #[test]
    fn split_with_active_border_highlighted() {
        let mut app = app_with(two_tabs(), (60, 10));
        app.home_dir = Some("/home/me".into());
        screen(&mut app, 1, 28, 6, vec![Line::plain("left pane")], (0, 1));
        screen(&mut app, 2, 28, 6, vec![Line::plain("right pane")], (0, 1));
        app.focus(PaneId(2));
        insta::assert_snapshot!("split_active_right", dump(&app, 60, 10));
    }

    #[test]
    fn tab_bar_with_three_tabs() {
        let mut ws = two_tabs();
        ws.tabs.push(tab(3, "agents", Layout::Pane(PaneId(4))));
        let mut agent = pane_info(4, 3, "claude");
        agent.state = Some(Attention::Waiting);
        ws.panes.push(agent);
        let mut app = app_with(ws, (50, 6));
        app.home_dir = Some("/home/me".into());
        app.on_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::ALT));
        insta::assert_snapshot!("tab_bar_three_tabs", dump(&app, 50, 6));
    }

    #[test]
    fn exited_pane_border() {
        let mut ws = one_pane();
        ws.panes[0].alive = false;
        ws.panes[0].exit_status = Some(1);
        let mut app = app_with(ws, (50, 6));
        app.home_dir = Some("/home/me".into());
        screen(
            &mut app,
            1,
            48,
            2,
            vec![Line::plain("make: *** [all] Error 1")],
            (0, 1),
        );
        insta::assert_snapshot!("exited_pane_border", dump(&app, 50, 6));
    }

    #[test]
    fn input_blocked_pane_border() {
        let mut ws = one_pane();
        ws.panes[0].input_blocked = true;
        let mut app = app_with(ws, (50, 6));
        app.home_dir = Some("/home/me".into());
        screen(&mut app, 1, 48, 2, vec![Line::plain("busy...")], (7, 0));
        insta::assert_snapshot!("input_blocked_border", dump(&app, 50, 6));
    }

    #[test]
    fn scrollback_with_search_match() {
        let mut app = app_with(one_pane(), (50, 9));
        app.home_dir = Some("/home/me".into());
        screen(
            &mut app,
            1,
            48,
            5,
            vec![
                Line::plain("$ make"),
                Line::plain("error: nope"),
                Line::plain("$ "),
            ],
            (2, 2),
        );
        app.take_outbox();
        app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::ALT));
        let out = app.take_outbox();
        assert!(matches!(
            out.last().map(|o| &o.req),
            Some(quil_proto::Request::Scrollback { .. })
        ));
        app.register(1, Pending::Scrollback(PaneId(1)));
        let hist = [
            "compiling a",
            "warning: unused x",
            "compiling b",
            "error: bad thing",
            "compiling c",
        ];
        let lines = hist.iter().map(|t| Line::plain(t)).collect();
        app.on_server(ServerMsg::Reply {
            id: 1,
            result: Ok(Reply::Scrollback { lines, total: 5 }),
        });
        for c in "/error".chars() {
            app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        // Entered a page up, so the search backwards finds the history match first.
        insta::assert_snapshot!("scrollback_search_match", dump(&app, 50, 9));
    }

    #[test]
    fn new_pane_picker() {
        let mut app = app_with(one_pane(), (70, 16));
        app.home_dir = Some("/home/me".into());
        app.take_outbox();
        app.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        let out = app.take_outbox();
        assert_eq!(out[0].pending, Pending::PaneTypes);
        app.register(3, Pending::PaneTypes);
        app.on_server(ServerMsg::Reply {
            id: 3,
            result: Ok(Reply::PaneTypes(sample_types())),
        });
        app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        insta::assert_snapshot!("new_pane_picker", dump(&app, 70, 16));
    }

    #[test]
    fn mouse_selection_and_foreign_size_are_shown() {
        let mut ws = one_pane();
        let mut l = Layout::Pane(PaneId(1));
        l.split(PaneId(1), SplitDir::Vertical, PaneId(2))
            .expect("split");
        ws.tabs[0] = tab(1, "main", l);
        ws.panes.push(pane_info(2, 1, "logs"));
        let mut app = app_with(ws, (40, 12));
        app.home_dir = Some("/home/me".into());
        // Pane 2 was sized 20x2 by another client: drawn padded, its size in the border.
        screen(
            &mut app,
            1,
            38,
            3,
            vec![Line::plain("select me please")],
            (0, 1),
        );
        screen(&mut app, 2, 20, 2, vec![Line::plain("small")], (0, 1));
        app.selection = Some(Selection {
            pane: PaneId(1),
            anchor: (7, 0),
            head: (8, 0),
        });
        insta::assert_snapshot!("selection_and_foreign_size", dump(&app, 40, 12));
    }

    #[test]
    fn tmux_preset_hints_name_the_prefix_once() {
        let cfg = crate::tui::config::Config::parse(
            "[keys]\npreset = \"tmux\"\n",
            std::path::Path::new("c.toml"),
        )
        .expect("config");
        let mut app = App::new(cfg.keys, false, (100, 6));
        app.on_server(ServerMsg::Workspace(one_pane()));
        let text = dump(&app, 100, 6);
        let status = text.lines().nth(5).unwrap_or_default();
        assert_eq!(status.matches("Ctrl+B").count(), 1, "{status}");
        assert!(
            status.starts_with(" Ctrl+B then ? help  d detach  Ctrl+N new pane  c new tab"),
            "{status}"
        );
    }

    #[test]
    fn default_keys_show_help_and_detach_at_80_columns_and_list_every_binding() {
        let keys = crate::tui::config::Config::default().keys;
        let mut app = App::new(keys.clone(), false, (80, 24));
        app.on_server(ServerMsg::Workspace(one_pane()));
        let text = dump(&app, 80, 24);
        let status = text.lines().nth(23).unwrap_or_default();
        assert!(
            status.starts_with(" Alt+W then ? help  d detach  n new pane"),
            "{status}"
        );
        // Help even at 40 columns.
        app.on_resize(40, 24);
        let narrow = dump(&app, 40, 24);
        assert!(
            narrow
                .lines()
                .nth(23)
                .unwrap_or_default()
                .starts_with(" Alt+W then ? help"),
            "{narrow}"
        );
        // Tall enough for every binding without scrolling the overlay.
        app.on_resize(80, 50);
        app.on_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::ALT));
        app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
        let help = dump(&app, 80, 50);
        assert!(help.contains(" Keys "), "{help}");
        assert!(help.contains(" HELP "), "{help}");
        for line in [
            "Alt+Shift+I",
            "Alt+W a ",
            "Alt+W 1 … Alt+W 0",
            "go to tab 1 … 10",
            "Alt+W d",
            "detach (panes keep running)",
            "Alt+W %  Alt+W v  Alt+W |",
            "split side by side",
            "Alt+W ;",
            "focus the pane focused before",
            "Alt+W b",
            "the tab shown before",
        ] {
            assert!(help.contains(line), "{line}\n{help}");
        }
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let mut app = app_with(two_tabs(), (3, 2));
        screen(&mut app, 1, 1, 1, vec![styled_line()], (0, 0));
        for (w, h) in [(1, 1), (2, 2), (3, 3), (13, 5), (30, 4)] {
            app.on_resize(w, h);
            dump(&app, w, h);
        }
        app.tab = Some(TabId(9));
        dump(&app, 20, 5);
    }

    fn open_form(app: &mut App, types: Vec<quil_proto::PaneTypeInfo>, downs: usize) {
        app.take_outbox();
        app.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        app.take_outbox();
        app.register(3, Pending::PaneTypes);
        app.on_server(ServerMsg::Reply {
            id: 3,
            result: Ok(Reply::PaneTypes(types)),
        });
        for _ in 0..downs {
            app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        }
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    }

    #[test]
    fn setup_form_with_recent_dirs_fields_toggles_and_worktree() {
        let mut app = app_with(one_pane(), (80, 26));
        app.home_dir = Some("/home/me".into());
        app.recent_dirs = vec!["/home/me/src/app".into(), "/srv/data".into()];
        open_form(&mut app, vec![crate::tui::setup::sample_agent()], 0);
        for c in "me@example".chars() {
            app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        for _ in 0..4 {
            app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        }
        app.on_key(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE));
        // Back up to the required field, then submit with it emptied: the form says why.
        for _ in 0..4 {
            app.on_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
        }
        app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        insta::assert_snapshot!("setup_form", dump(&app, 80, 26));
    }

    #[test]
    fn setup_form_waiting_for_a_worktree() {
        let mut app = app_with(one_pane(), (80, 20));
        app.home_dir = Some("/home/me".into());
        let mut t = sample_types();
        t.retain(|t| t.name == "terminal");
        app.take_outbox();
        app.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        app.take_outbox();
        app.register(3, Pending::PaneTypes);
        app.on_server(ServerMsg::Reply {
            id: 3,
            result: Ok(Reply::PaneTypes(t)),
        });
        app.on_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        insta::assert_snapshot!("setup_form_busy", dump(&app, 80, 20));
    }

    #[test]
    fn picker_explains_a_missing_program() {
        let mut app = app_with(one_pane(), (70, 18));
        app.home_dir = Some("/home/me".into());
        // Terminal, Claude Code, Codex (not installed).
        open_form(&mut app, sample_types(), 2);
        insta::assert_snapshot!("picker_missing", dump(&app, 70, 18));
    }

    #[test]
    fn close_worktree_dialog_with_stat_and_keep_error() {
        let mut ws = one_pane();
        ws.panes[0].name = "claude".into();
        ws.panes[0].worktree = Some(crate::tui::dialog::sample_worktree());
        let mut app = app_with(ws, (80, 24));
        app.home_dir = Some("/home/me".into());
        app.take_outbox();
        app.on_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        let out = app.take_outbox();
        app.register(5, out[0].pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 5,
            result: Ok(Reply::Text(vec![
                " src/main.rs | 4 ++--".into(),
                " notes.md    | 1 +".into(),
                " 2 files changed, 3 insertions(+), 2 deletions(-)".into(),
            ])),
        });
        app.on_key(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::NONE));
        let out = app.take_outbox();
        app.register(6, out[0].pending.clone());
        app.on_server(ServerMsg::Reply {
            id: 6,
            result: Err(quil_proto::ErrorReply::new(
                quil_proto::ErrorKind::Conflict,
                "cannot keep quil/claude-code-20250101T120000Z: its changes do not apply to \
                 /home/me/src/app: src/main.rs: patch does not apply",
            )),
        });
        app.on_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
        insta::assert_snapshot!("close_worktree_dialog", dump(&app, 80, 24));
    }

    #[test]
    fn failed_pane_shows_its_error_and_retry_key() {
        let mut ws = one_pane();
        ws.panes[0].kind = "claude-code".into();
        ws.panes[0].name = "claude".into();
        ws.panes[0].alive = false;
        ws.panes[0].error = Some("No such file or directory (os error 2)".into());
        let mut app = app_with(ws, (70, 7));
        app.home_dir = Some("/home/me".into());
        screen(
            &mut app,
            1,
            68,
            3,
            vec![
                Line::plain("quil: cannot start claude: No such file or directory (os error 2)"),
                Line::plain("Retry with: quil respawn --pane pane-00000001"),
            ],
            (0, 2),
        );
        insta::assert_snapshot!("failed_pane", dump(&app, 70, 7));
    }

    #[test]
    fn restored_tag_until_typed_in() {
        let mut ws = one_pane();
        ws.panes[0].restored = true;
        let mut app = app_with(ws, (60, 6));
        app.home_dir = Some("/home/me".into());
        screen(&mut app, 1, 58, 2, vec![Line::plain("$ ")], (2, 0));
        insta::assert_snapshot!("restored_tag", dump(&app, 60, 6));
        app.on_key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE));
        assert!(!dump(&app, 60, 6).contains("restored"));
    }

    #[test]
    fn attention_states_and_worktrees_on_borders() {
        // Four panes in a 2x2 grid, one per attention state; the first in a worktree.
        let mut l = Layout::Pane(PaneId(1));
        l.split(PaneId(1), SplitDir::Vertical, PaneId(3))
            .expect("split");
        l.split(PaneId(1), SplitDir::Horizontal, PaneId(2))
            .expect("split");
        l.split(PaneId(3), SplitDir::Horizontal, PaneId(4))
            .expect("split");
        let mut panes = Vec::new();
        for (id, name, state) in [
            (1, "claude", Attention::Working),
            (2, "opencode", Attention::Waiting),
            (3, "build", Attention::Done),
            (4, "ssh", Attention::Error),
        ] {
            let mut p = pane_info(id, 1, name);
            p.state = Some(state);
            panes.push(p);
        }
        panes[0].worktree = Some(crate::tui::dialog::sample_worktree());
        panes[0].cwd = "/home/me/src/app/.worktrees/claude-code-20250101T120000Z/src".into();
        let ws = WorkspaceInfo {
            tabs: vec![
                tab(1, "agents", l),
                tab(2, "other", Layout::Pane(PaneId(5))),
            ],
            panes: {
                let mut p5 = pane_info(5, 2, "waiter");
                p5.state = Some(Attention::Waiting);
                panes.push(p5);
                panes
            },
            active_tab: 0,
            persist_error: None,
            restore_problem: None,
        };
        let mut app = app_with(ws, (100, 12));
        app.home_dir = Some("/home/me".into());
        insta::assert_snapshot!("attention_states", dump(&app, 100, 12));
    }

    fn agents_app(w: u16, h: u16) -> App {
        let mut app = app_with(agents_ws(), (w, h));
        app.home_dir = Some("/home/me".into());
        app.clock = || AGENTS_NOW;
        app
    }

    fn alt_shift(c: char) -> KeyEvent {
        KeyEvent::new(
            KeyCode::Char(c.to_ascii_uppercase()),
            KeyModifiers::ALT | KeyModifiers::SHIFT,
        )
    }

    #[test]
    fn agents_view_with_states_details_ages_and_last_lines() {
        let mut app = agents_app(100, 14);
        // claude's screen is streamed (tab 1 is shown): its last line is listed.
        screen(
            &mut app,
            2,
            48,
            10,
            vec![
                Line::plain("Bash command: cargo test -p quil-client"),
                Line::plain("Do you want to proceed?"),
                Line::plain("❯ 1. Yes   "),
            ],
            (0, 2),
        );
        app.on_key(alt_shift('i'));
        app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        insta::assert_snapshot!("agents_view", dump(&app, 100, 14));
    }

    #[test]
    fn agents_view_narrow_and_empty() {
        // Long names and details are cut with an ellipsis, never past the frame.
        let mut ws = agents_ws();
        ws.panes[1].state_detail = Some("permission: Bash(rm -rf target && cargo build)".into());
        ws.tabs[0].name = "a-very-long-tab-name-indeed".into();
        let mut app = app_with(ws, (60, 12));
        app.clock = || AGENTS_NOW;
        app.on_key(alt_shift('i'));
        insta::assert_snapshot!("agents_view_narrow", dump(&app, 60, 12));

        let mut app = app_with(one_pane(), (60, 8));
        app.on_key(alt_shift('i'));
        let text = dump(&app, 60, 8);
        assert!(text.contains("│ no agent panes"), "{text}");
        assert!(text.contains(" AGENTS "), "{text}");
    }

    /// The status bar's line of a `w`-wide screen.
    fn status_line(app: &mut App, w: u16) -> String {
        app.on_resize(w, 8);
        let text = dump(app, w, 8);
        text.lines()
            .nth(7)
            .unwrap_or_default()
            .trim_end()
            .to_string()
    }

    #[test]
    fn waiting_count_in_the_status_bar_keeps_the_detach_hint() {
        let mut app = agents_app(200, 8);
        let wide = status_line(&mut app, 200);
        assert!(
            wide.starts_with(
                " 2 waiting  Alt+Shift+I agents  F1 help  Ctrl+Q detach  Ctrl+N new pane"
            ),
            "{wide}"
        );
        assert!(wide.contains("Ctrl+Q detach"), "{wide}");
        assert_eq!(wide.matches("Alt+Shift+I").count(), 1, "{wide}");
        // Just wide enough for every hint with nothing waiting: with the count, hints before
        // detach make room for it.
        let mut calm = app_with(one_pane(), (300, 8));
        let hints_w = status_line(&mut calm, 300)
            .trim_end_matches("pane-00000001")
            .trim_end()
            .width() as u16;
        let just = hints_w + 2 + " pane-00000001 ".width() as u16;
        let all = status_line(&mut calm, just);
        assert!(all.ends_with("Ctrl+W close   pane-00000001"), "{all}");
        let tight = status_line(&mut app, just);
        assert!(
            tight.starts_with(" 2 waiting  Alt+Shift+I agents "),
            "{tight}"
        );
        assert!(tight.contains("Ctrl+Q detach"), "{tight}");
        assert!(!tight.contains("close"), "{tight}");
        // Narrow screens keep the count, then the pane id, then the agents key.
        for w in [60, 47] {
            let line = status_line(&mut app, w);
            assert!(
                line.starts_with(" 2 waiting  Alt+Shift+I agents"),
                "{w}: {line}"
            );
            assert!(line.ends_with("pane-00000001"), "{w}: {line}");
        }
        assert_eq!(
            status_line(&mut app, 40),
            format!(" 2 waiting {:15}pane-00000001", "")
        );
        assert_eq!(status_line(&mut app, 20), " 2 waiting");
        // A status message keeps it too.
        app.set_status("copied 3 characters", false);
        let line = status_line(&mut app, 80);
        assert!(
            line.starts_with(" copied 3 characters 2 waiting  Alt+Shift+I agents"),
            "{line}"
        );
        // Nothing waiting, no count.
        let mut ws = agents_ws();
        ws.panes[1].state = Some(Attention::Working);
        ws.panes[2].state = Some(Attention::Done);
        app.on_server(ServerMsg::Workspace(ws));
        app.status = None;
        assert!(!status_line(&mut app, 100).contains("waiting"));
        // A failing save is shown in place of the hints.
        app.ws.persist_error = Some("cannot save /h/workspace.json: Read-only file system".into());
        let line = status_line(&mut app, 120);
        assert!(
            line.starts_with(" workspace not saved: cannot save /h/workspace.json"),
            "{line}"
        );
    }
}
