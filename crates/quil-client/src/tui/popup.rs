//! Drawing the popups over the panes: the new-pane picker, the new-pane form, the
//! close-worktree dialog and the agents view. Pure functions of their state, like the rest of
//! `render`.

use super::agents::{AgentRow, AgentsView};
use super::dialog::{Choice, CloseWorktree};
use super::picker::{category_title, Picker, Row};
use super::render::{put, state_style, truncate, ACCENT};
use super::setup::{shorten, Item, Setup};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect as RRect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as RLine, Span};
use ratatui::widgets::{Block, BorderType, Clear, Widget};
use unicode_width::UnicodeWidthStr;

/// At most this many recent directories are listed at once; the list scrolls with the focus.
pub const RECENT_ROWS: usize = 5;
/// At most this many lines of `git diff --stat` in the close dialog.
const STAT_ROWS: usize = 8;

/// A `w` x `h` rectangle centred in `area`, shrunk to leave a margin; `None` when too small.
fn centered(area: RRect, w: u16, h: u16) -> Option<RRect> {
    let w = w.min(area.width.saturating_sub(4));
    let h = h.min(area.height.saturating_sub(2));
    (w >= 20 && h >= 3).then(|| {
        RRect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        )
    })
}

/// Word-wraps `text` to `width` columns (words longer than a line are cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let sep = usize::from(!cur.is_empty());
        if !cur.is_empty() && cur.width() + sep + word.width() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.width() > width && width > 0 {
            let head = truncate(&cur, width);
            cur = cur[head.len()..].to_string();
            lines.push(head);
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn frame<'a>(title: String, bottom: Option<String>) -> Block<'a> {
    let mut b = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title_top(RLine::from(Span::styled(
            title,
            Style::new().add_modifier(Modifier::BOLD),
        )));
    if let Some(t) = bottom {
        b = b.title_bottom(RLine::from(t).right_aligned());
    }
    b
}

fn selected_style() -> Style {
    Style::new().fg(Color::Black).bg(ACCENT)
}

// ----- the picker -----

pub fn draw_picker(buf: &mut Buffer, p: &Picker) {
    let area = buf.area;
    // The name column: the longest name, up to 20 columns.
    let name_w = p.types.as_ref().map_or(0, |types| {
        types
            .iter()
            .map(|t| t.display_name.width())
            .max()
            .unwrap_or(0)
            .min(20) as u16
    });
    // Wide enough for the longest description when the screen allows it.
    let want = p.types.as_ref().map_or(0, |types| {
        let desc_w = types
            .iter()
            .map(|t| t.description.width() + if t.available { 0 } else { 16 })
            .max()
            .unwrap_or(0);
        usize::from(name_w) + desc_w + 8
    });
    let width = (want.clamp(64, 100) as u16).min(area.width.saturating_sub(4));
    let notice = p
        .notice
        .as_deref()
        .map(|n| wrap(n, usize::from(width.saturating_sub(4))))
        .unwrap_or_default();
    let extra = if notice.is_empty() {
        0
    } else {
        notice.len() as u16 + 1
    };
    let rows = p.rows.len().max(1) as u16;
    let Some(popup) = centered(area, width, rows + 2 + extra) else {
        return;
    };
    Clear.render(popup, buf);
    let block = frame(
        " New pane ".into(),
        Some(format!(" Tab: {} ", p.target.label())),
    );
    let inner = block.inner(popup);
    block.render(popup, buf);
    let types = match (&p.types, &p.error) {
        (_, Some(e)) => {
            put(
                buf,
                inner.x + 1,
                inner.y,
                inner.width.saturating_sub(1),
                e,
                Style::new().fg(Color::LightRed),
            );
            return;
        }
        (None, None) => {
            put(
                buf,
                inner.x + 1,
                inner.y,
                inner.width.saturating_sub(1),
                "loading pane types…",
                Style::new().fg(Color::DarkGray),
            );
            return;
        }
        (Some(t), None) => t,
    };
    // The notice (why the chosen type cannot open) takes the bottom rows.
    let list_h = inner.height.saturating_sub(extra);
    for (k, line) in notice.iter().enumerate() {
        put(
            buf,
            inner.x + 1,
            inner.y + list_h + 1 + k as u16,
            inner.width.saturating_sub(1),
            line,
            Style::new().fg(Color::Yellow),
        );
    }
    let offset = p.selected.map_or(0, |s| {
        s.saturating_sub(usize::from(list_h).saturating_sub(1))
    });
    for (k, row) in p
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(usize::from(list_h))
    {
        let y = inner.y + (k - offset) as u16;
        match row {
            Row::Category(c) => {
                put(
                    buf,
                    inner.x + 1,
                    y,
                    inner.width.saturating_sub(1),
                    &category_title(c),
                    Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
                );
            }
            Row::Type(i) => {
                let t = &types[*i];
                let selected = p.selected == Some(k);
                let base = match (selected, t.available) {
                    (true, true) => selected_style(),
                    // Still greyed when chosen, so it never looks ready to open.
                    (true, false) => Style::new().fg(Color::Gray).bg(Color::DarkGray),
                    (false, true) => Style::new().fg(Color::White),
                    (false, false) => Style::new().fg(Color::DarkGray),
                };
                if selected {
                    buf.set_style(RRect::new(inner.x, y, inner.width, 1), base);
                }
                let x = put(
                    buf,
                    inner.x + 3,
                    y,
                    name_w,
                    &t.display_name,
                    base.add_modifier(Modifier::BOLD),
                );
                let desc = if t.available {
                    t.description.clone()
                } else {
                    format!("{} (not installed)", t.description)
                };
                let dx = (inner.x + 3 + name_w + 2).max(x + 1);
                put(
                    buf,
                    dx,
                    y,
                    inner.right().saturating_sub(dx),
                    &desc,
                    if t.available && !selected {
                        Style::new().fg(Color::Gray)
                    } else {
                        base
                    },
                );
            }
        }
    }
}

// ----- the new-pane form -----

/// One line of the form.
struct FormLine {
    item: Option<Item>,
    spans: Vec<Span<'static>>,
    /// For text rows: the column just after the text, where the caret goes.
    caret: Option<u16>,
}

impl FormLine {
    fn blank() -> FormLine {
        FormLine {
            item: None,
            spans: Vec::new(),
            caret: None,
        }
    }

    fn message(text: String, style: Style) -> FormLine {
        FormLine {
            item: None,
            spans: vec![Span::styled(text, style)],
            caret: None,
        }
    }
}

/// Which recent directories are listed: a window that follows the focus.
fn recent_window(s: &Setup) -> std::ops::Range<usize> {
    let n = s.recent.len();
    let start = match s.focus {
        Item::Recent(i) => (i + 1).saturating_sub(RECENT_ROWS),
        _ => 0,
    };
    start..(start + RECENT_ROWS).min(n)
}

/// The form's lines for an inner width of `width`.
fn form_lines(s: &Setup, width: u16) -> Vec<FormLine> {
    let label = Style::new().fg(Color::Gray);
    let value = Style::new().fg(Color::White);
    let dim = Style::new().fg(Color::DarkGray);
    let hidden = s.recent.len().saturating_sub(RECENT_ROWS);
    let recent_label = if hidden > 0 {
        format!("Recent +{hidden}")
    } else {
        "Recent".into()
    };
    let label_w = s
        .fields
        .iter()
        .map(|f| f.label.width() + usize::from(f.required))
        .chain([9, recent_label.width()])
        .max()
        .unwrap_or(9)
        .min(usize::from(width / 3)) as u16;
    // "› " marker, the label column, two spaces.
    let value_x = 2 + label_w + 2;
    let pad = |text: &str| {
        let t = truncate(text, usize::from(label_w));
        format!("{t}{}  ", " ".repeat(usize::from(label_w) - t.width()))
    };
    let mut lines = Vec::new();
    let text_line = |item: Item, lbl: String, text: &str, placeholder: Option<&str>| {
        let mut spans = vec![Span::styled(pad(&lbl), label)];
        if text.is_empty() {
            if let Some(p) = placeholder {
                spans.push(Span::styled(p.to_string(), dim));
            }
        } else {
            spans.push(Span::styled(text.to_string(), value));
        }
        FormLine {
            item: Some(item),
            spans,
            caret: Some(value_x + text.width() as u16),
        }
    };
    if let Some(dir) = &s.dir {
        lines.push(text_line(
            Item::Dir,
            "Directory".into(),
            dir,
            Some("the daemon's default"),
        ));
        let window = recent_window(s);
        let first = window.start;
        for i in window {
            let lbl = if i == first {
                recent_label.clone()
            } else {
                String::new()
            };
            lines.push(FormLine {
                item: Some(Item::Recent(i)),
                spans: vec![
                    Span::styled(pad(&lbl), dim),
                    Span::styled(
                        shorten(&s.recent[i], s.home.as_deref()),
                        Style::new().fg(Color::Gray),
                    ),
                ],
                caret: None,
            });
        }
        lines.push(FormLine::blank());
    }
    if !s.fields.is_empty() {
        for (i, f) in s.fields.iter().enumerate() {
            let lbl = if f.required {
                format!("{}*", f.label)
            } else {
                f.label.clone()
            };
            let placeholder = match (&f.default, f.required) {
                (Some(d), _) => d.clone(),
                (None, true) => "required".into(),
                (None, false) => "optional".into(),
            };
            lines.push(text_line(Item::Field(i), lbl, &f.value, Some(&placeholder)));
        }
        lines.push(FormLine::blank());
    }
    for (i, t) in s.toggles.iter().enumerate() {
        let mark = match (t.group.is_some(), t.on) {
            (true, true) => "(•)",
            (true, false) => "( )",
            (false, true) => "[x]",
            (false, false) => "[ ]",
        };
        lines.push(FormLine {
            item: Some(Item::Toggle(i)),
            spans: vec![Span::styled(format!("{mark} {}", t.label), value)],
            caret: None,
        });
    }
    lines.push(FormLine {
        item: Some(Item::Worktree),
        spans: vec![Span::styled(
            format!(
                "{} Run in its own git worktree",
                if s.worktree { "[x]" } else { "[ ]" }
            ),
            value,
        )],
        caret: None,
    });
    let wrap_w = usize::from(width.saturating_sub(2)).max(1);
    let message = if s.busy {
        let what = if s.worktree {
            "creating the worktree…"
        } else {
            "opening…"
        };
        Some((what.to_string(), Style::new().fg(Color::Yellow)))
    } else if let Some(e) = &s.error {
        Some((
            e.clone(),
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
        ))
    } else {
        s.hint.clone().map(|h| (h, Style::new().fg(Color::Gray)))
    };
    if let Some((text, style)) = message {
        lines.push(FormLine::blank());
        for l in wrap(&text, wrap_w) {
            lines.push(FormLine::message(l, style));
        }
    }
    lines
}

/// Where the form goes and how it is scrolled: (popup, inner, lines, first shown line).
fn form_layout(width: u16, height: u16, s: &Setup) -> Option<(RRect, RRect, Vec<FormLine>, usize)> {
    let area = RRect::new(0, 0, width, height);
    let w = 70.min(width.saturating_sub(4));
    let lines = form_lines(s, w.saturating_sub(2));
    let popup = centered(area, w, lines.len() as u16 + 2)?;
    let inner = Block::bordered().inner(popup);
    let focus_at = lines
        .iter()
        .position(|l| l.item == Some(s.focus))
        .unwrap_or(0);
    let offset = (focus_at + 1).saturating_sub(usize::from(inner.height));
    Some((popup, inner, lines, offset))
}

pub fn draw_setup(buf: &mut Buffer, s: &Setup) {
    let area = buf.area;
    let Some((popup, inner, lines, offset)) = form_layout(area.width, area.height, s) else {
        return;
    };
    Clear.render(popup, buf);
    frame(
        format!(" New {} pane ", s.ty.display_name),
        Some(format!(
            " Enter: open ({}) · Esc: cancel ",
            s.target.label()
        )),
    )
    .render(popup, buf);
    for (k, line) in lines
        .iter()
        .enumerate()
        .skip(offset)
        .take(usize::from(inner.height))
    {
        let y = inner.y + (k - offset) as u16;
        let focused = line.item.is_some() && line.item == Some(s.focus);
        if focused {
            buf.set_style(RRect::new(inner.x, y, inner.width, 1), selected_style());
            put(buf, inner.x, y, 1, "›", selected_style());
        }
        let mut x = inner.x + 2;
        for span in &line.spans {
            let style = if focused {
                selected_style().add_modifier(span.style.add_modifier)
            } else {
                span.style
            };
            x = put(
                buf,
                x,
                y,
                inner.right().saturating_sub(x),
                &span.content,
                style,
            );
        }
    }
}

/// The caret of the focused text row, in screen cells.
pub fn setup_cursor(width: u16, height: u16, s: &Setup) -> Option<(u16, u16)> {
    let (_, inner, lines, offset) = form_layout(width, height, s)?;
    let k = lines.iter().position(|l| l.item == Some(s.focus))?;
    let caret = lines[k].caret?;
    (k >= offset && !s.busy).then(|| {
        (
            (inner.x + caret).min(inner.right().saturating_sub(1)),
            inner.y + (k - offset) as u16,
        )
    })
}

// ----- the close-worktree dialog -----

pub fn draw_close_worktree(buf: &mut Buffer, d: &CloseWorktree, home: Option<&str>) {
    let area = buf.area;
    let w = 70.min(area.width.saturating_sub(4));
    let text_w = usize::from(w.saturating_sub(4)).max(1);
    let dim = Style::new().fg(Color::Gray);
    let mut lines: Vec<(String, Style)> = vec![
        ("It works in its own git worktree:".into(), dim),
        (
            format!("  ⎇ {}", d.worktree.branch),
            Style::new().fg(Color::Magenta),
        ),
        (
            format!(
                "  of {}",
                shorten(&d.worktree.repo.display().to_string(), home)
            ),
            dim,
        ),
        (String::new(), dim),
    ];
    match &d.stat {
        None => lines.push((
            "looking at its changes…".into(),
            Style::new().fg(Color::DarkGray),
        )),
        Some(Ok(stat)) if stat.is_empty() => {
            lines.push(("no changes".into(), Style::new().fg(Color::DarkGray)))
        }
        Some(Ok(stat)) => {
            // Files first, then git's summary line, which is always kept.
            let (summary, files) = stat
                .split_last()
                .map_or((None, &stat[..]), |(l, f)| (Some(l), f));
            let shown = files.len().min(STAT_ROWS - 2);
            for f in &files[..shown] {
                lines.push((f.trim_end().to_string(), Style::new().fg(Color::White)));
            }
            if files.len() > shown {
                lines.push((
                    format!(" … {} more files", files.len() - shown),
                    Style::new().fg(Color::DarkGray),
                ));
            }
            if let Some(s) = summary {
                lines.push((s.trim_end().to_string(), Style::new().fg(Color::White)));
            }
        }
        Some(Err(e)) => lines.push((
            format!("cannot show its changes: {e}"),
            Style::new().fg(Color::LightRed),
        )),
    }
    lines.push((String::new(), dim));
    let choices_at = lines.len();
    for c in Choice::ALL {
        lines.push((
            format!("{}  {}", c.key(), c.label()),
            Style::new().fg(Color::White),
        ));
    }
    let message = match (&d.busy, &d.error) {
        (Some(Choice::Keep), _) => Some(("applying the changes…".to_string(), Color::Yellow)),
        (Some(_), _) => Some(("removing the worktree…".to_string(), Color::Yellow)),
        (None, Some(e)) => Some((e.clone(), Color::LightRed)),
        (None, None) => None,
    };
    if let Some((text, color)) = message {
        lines.push((String::new(), dim));
        for l in wrap(&text, text_w) {
            lines.push((l, Style::new().fg(color).add_modifier(Modifier::BOLD)));
        }
    }
    let Some(popup) = centered(area, w, lines.len() as u16 + 2) else {
        return;
    };
    Clear.render(popup, buf);
    let block = frame(format!(" Close {:?} ", d.name), None);
    let inner = block.inner(popup);
    block.render(popup, buf);
    for (k, (text, style)) in lines.iter().enumerate().take(usize::from(inner.height)) {
        let y = inner.y + k as u16;
        let choice = k
            .checked_sub(choices_at)
            .and_then(|i| Choice::ALL.get(i))
            .copied();
        let selected = choice.is_some() && choice == Some(d.selected) && d.busy.is_none();
        let style = if selected {
            buf.set_style(RRect::new(inner.x, y, inner.width, 1), selected_style());
            put(buf, inner.x, y, 1, "›", selected_style());
            selected_style()
        } else {
            *style
        };
        put(
            buf,
            inner.x + 2,
            y,
            inner.width.saturating_sub(2),
            text,
            style,
        );
        // The choice's key in the accent colour, like the status bar's hints.
        if choice.is_some() && !selected {
            put(
                buf,
                inner.x + 2,
                y,
                1,
                &text[..1],
                Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
            );
        }
    }
}

// ----- the agents view -----

/// `text` cut to `width` columns, with `…` when something was cut.
fn clip(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut t = truncate(text, width.saturating_sub(1));
    t.push('…');
    t
}

pub fn draw_agents(buf: &mut Buffer, v: &AgentsView, rows: &[AgentRow]) {
    let area = buf.area;
    let width = area.width.saturating_sub(4).min(120);
    let Some(popup) = centered(area, width, rows.len().max(1) as u16 + 2) else {
        return;
    };
    Clear.render(popup, buf);
    let block = frame(" Agents ".into(), None);
    let inner = block.inner(popup);
    block.render(popup, buf);
    if rows.is_empty() {
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.width.saturating_sub(1),
            "no agent panes",
            Style::new().fg(Color::DarkGray),
        );
        return;
    }
    // Columns as wide as their longest entry, within a cap, so rows line up; the last line
    // of output takes what is left.
    let col = |f: fn(&AgentRow) -> &str, cap: usize| {
        rows.iter()
            .map(|r| f(r).width())
            .max()
            .unwrap_or(0)
            .min(cap)
    };
    let widths = [
        "waiting".len(),
        col(|r| &r.age, 4),
        col(|r| &r.tab, 16),
        col(|r| &r.name, 20),
        col(|r| &r.detail, 32),
    ];
    let selected = v.index(rows);
    let list_h = usize::from(inner.height);
    let offset = selected.map_or(0, |s| s.saturating_sub(list_h.saturating_sub(1)));
    for (k, row) in rows.iter().enumerate().skip(offset).take(list_h) {
        let y = inner.y + (k - offset) as u16;
        let is_sel = selected == Some(k);
        let pick = |st: Style| {
            if is_sel {
                selected_style().add_modifier(st.add_modifier)
            } else {
                st
            }
        };
        if is_sel {
            buf.set_style(RRect::new(inner.x, y, inner.width, 1), selected_style());
        }
        let cells = [
            (row.state.as_str().to_string(), state_style(row.state)),
            (
                format!("{:>w$}", row.age, w = widths[1]),
                Style::new().fg(Color::Gray),
            ),
            (row.tab.clone(), Style::new().fg(Color::Gray)),
            (
                row.name.clone(),
                Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
            ),
            (row.detail.clone(), Style::new().fg(Color::White)),
        ];
        let mut x = inner.x + 1;
        let right = inner.x + inner.width.saturating_sub(1);
        for ((text, style), w) in cells.iter().zip(widths) {
            let room = usize::from(right.saturating_sub(x));
            if w == 0 || room == 0 {
                continue;
            }
            put(
                buf,
                x,
                y,
                room as u16,
                &clip(text, w.min(room)),
                pick(*style),
            );
            x = x.saturating_add(w as u16 + 2);
        }
        if let Some(last) = &row.last {
            let room = usize::from(right.saturating_sub(x));
            if room > 1 {
                put(
                    buf,
                    x,
                    y,
                    room as u16,
                    &clip(last, room),
                    pick(Style::new().fg(Color::DarkGray)),
                );
            }
        }
    }
}

/// The help overlay: every binding of the active keymap (from [`Keymap::bindings`]), keys on
/// the left, what they do on the right, from line `top`.
///
/// [`Keymap::bindings`]: super::config::Keymap::bindings
pub fn draw_help(buf: &mut Buffer, bindings: &[(Vec<String>, super::keys::Action)], top: u16) {
    let area = buf.area;
    use super::keys::Action;
    let mut rows: Vec<(String, String)> = Vec::new();
    // Tab keys, one row for each run of them: `Alt+W 1 … Alt+W 0  go to tab 1 … 10`.
    let mut tabs: Vec<(&str, u8)> = Vec::new();
    let flush = |tabs: &mut Vec<(&str, u8)>, rows: &mut Vec<(String, String)>| {
        if let (Some(first), Some(last)) = (tabs.first(), tabs.last()) {
            if tabs.len() == 1 {
                rows.push((first.0.to_string(), Action::Tab(first.1).describe()));
            } else {
                rows.push((
                    format!("{} … {}", first.0, last.0),
                    format!("go to tab {} … {}", first.1, last.1),
                ));
            }
        }
        tabs.clear();
    };
    for (keys, a) in bindings {
        match a {
            Action::Tab(n) if keys.len() == 1 => tabs.push((keys[0].as_str(), *n)),
            _ => {
                flush(&mut tabs, &mut rows);
                rows.push((keys.join("  "), a.describe()));
            }
        }
    }
    flush(&mut tabs, &mut rows);
    let key_w = rows
        .iter()
        .map(|(k, _)| k.width())
        .max()
        .unwrap_or(0)
        .min(40);
    let text_w = rows.iter().map(|(_, d)| d.width()).max().unwrap_or(0);
    let width = (key_w + text_w + 6) as u16;
    let width = width.min(area.width.saturating_sub(2));
    let height = (rows.len() as u16 + 2).min(area.height.saturating_sub(2));
    let Some(popup) = centered(area, width, height) else {
        return;
    };
    Clear.render(popup, buf);
    let block = frame(" Keys ".into(), Some(" Esc close ".into()));
    let inner = block.inner(popup);
    block.render(popup, buf);
    let top = usize::from(top).min(rows.len().saturating_sub(usize::from(inner.height)));
    for (i, (keys, what)) in rows
        .iter()
        .skip(top)
        .take(usize::from(inner.height))
        .enumerate()
    {
        let y = inner.y + i as u16;
        let x = inner.x + 1;
        let right = inner.x + inner.width;
        put(
            buf,
            x,
            y,
            right.saturating_sub(x),
            keys,
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        );
        let dx = x + key_w as u16 + 2;
        if dx < right {
            put(buf, dx, y, right - dx, what, Style::new().fg(Color::White));
        }
    }
}

/// The tree picker: tabs and their panes on the left, the chosen pane's screen on the right
/// (live: the client views that pane while the picker is open).
pub fn draw_tree(
    buf: &mut Buffer,
    v: &super::tree::TreeView,
    rows: &[super::tree::TreeRow],
    preview: Option<&super::pane::PaneScreen>,
    home: Option<&str>,
) {
    use super::tree::TreeRow;
    let area = buf.area;
    let Some(popup) = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(4),
    ) else {
        return;
    };
    Clear.render(popup, buf);
    let block = frame(
        " Tabs and panes ".into(),
        Some(" Enter go to · Esc close ".into()),
    );
    let inner = block.inner(popup);
    block.render(popup, buf);
    let list_w = (inner.width / 2).clamp(20.min(inner.width), 50);
    let selected = v.selected.min(rows.len().saturating_sub(1));
    let list_h = usize::from(inner.height);
    let offset = selected.saturating_sub(list_h.saturating_sub(1));
    for (k, row) in rows.iter().enumerate().skip(offset).take(list_h) {
        let y = inner.y + (k - offset) as u16;
        let is_sel = k == selected;
        let text = match row {
            TreeRow::Tab {
                number,
                name,
                panes,
                ..
            } => format!(
                "{number}: {name} ({panes} pane{})",
                if *panes == 1 { "" } else { "s" }
            ),
            TreeRow::Pane {
                name,
                kind,
                cwd,
                note,
                active,
                ..
            } => {
                let cwd = shorten(cwd, home);
                let mark = if *active { "*" } else { " " };
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(" [{note}]")
                };
                format!("  {mark}{name} ({kind}) {cwd}{note}")
            }
        };
        let style = match (is_sel, row) {
            (true, _) => selected_style(),
            (false, TreeRow::Tab { .. }) => {
                Style::new().fg(Color::White).add_modifier(Modifier::BOLD)
            }
            (false, TreeRow::Pane { .. }) => Style::new().fg(Color::Gray),
        };
        if is_sel {
            buf.set_style(RRect::new(inner.x, y, list_w, 1), selected_style());
        }
        put(buf, inner.x + 1, y, list_w.saturating_sub(1), &text, style);
    }
    // The preview, after a separating column.
    let px = inner.x + list_w + 1;
    if px + 2 >= inner.x + inner.width {
        return;
    }
    for y in inner.y..inner.y + inner.height {
        put(buf, px - 1, y, 1, "│", Style::new().fg(Color::DarkGray));
    }
    let pw = inner.x + inner.width - px;
    match preview {
        Some(s) => {
            for (row, line) in s.lines.iter().enumerate().take(usize::from(inner.height)) {
                super::render::draw_screen_row(
                    buf,
                    RRect::new(px, inner.y, pw, inner.height),
                    row as u16,
                    line,
                    None,
                );
            }
        }
        None => {
            put(
                buf,
                px + 1,
                inner.y,
                pw.saturating_sub(1),
                "…",
                Style::new().fg(Color::DarkGray),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), Vec::<String>::new());
    }
}
