//! Screen geometry shared by drawing and mouse handling, so a click always lands on what was
//! drawn there: the tab bar (row 0), the panes, their borders and dividers, the status bar.

use quil_model::{Divider, Layout, PaneId, Rect, SplitDir};
use unicode_width::UnicodeWidthStr;

/// A tab's place in the tab bar.
#[derive(Debug, Clone, PartialEq)]
pub struct TabSeg {
    pub index: usize,
    pub x: u16,
    pub width: u16,
    pub label: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geometry {
    pub width: u16,
    pub height: u16,
    /// Where panes are laid out: everything between the tab bar and the status bar.
    pub area: Rect,
    /// Visible panes (one when zoomed), border included.
    pub panes: Vec<(PaneId, Rect)>,
    /// Draggable split boundaries (none when zoomed).
    pub dividers: Vec<Divider>,
    pub tabs: Vec<TabSeg>,
}

/// The pane area for a terminal of `w` x `h`: one row for the tab bar, one for the status bar.
pub fn pane_area(w: u16, h: u16) -> Rect {
    Rect::new(0, 1, w, h.saturating_sub(2))
}

/// The visible panes' rects within `area`: the zoomed pane alone fills it.
pub fn pane_rects(
    area: Rect,
    layout: Option<&Layout>,
    zoomed: Option<PaneId>,
) -> Vec<(PaneId, Rect)> {
    match (layout, zoomed) {
        (_, Some(p)) => vec![(p, area)],
        (Some(l), None) => l.rects(area),
        (None, None) => Vec::new(),
    }
}

impl Geometry {
    pub fn new(
        w: u16,
        h: u16,
        layout: Option<&Layout>,
        zoomed: Option<PaneId>,
        tab_labels: &[String],
        active_tab: usize,
    ) -> Geometry {
        let area = pane_area(w, h);
        let dividers = match (layout, zoomed) {
            (Some(l), None) => l.dividers(area),
            _ => Vec::new(),
        };
        Geometry {
            width: w,
            height: h,
            area,
            panes: pane_rects(area, layout, zoomed),
            dividers,
            tabs: tab_segments(tab_labels, active_tab, w),
        }
    }

    pub fn rect_of(&self, pane: PaneId) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }

    pub fn status_row(&self) -> u16 {
        self.height.saturating_sub(1)
    }
}

/// Lays tab labels out left to right, scrolled so that the active tab is visible.
pub fn tab_segments(labels: &[String], active: usize, width: u16) -> Vec<TabSeg> {
    if labels.is_empty() {
        return Vec::new();
    }
    let active = active.min(labels.len() - 1);
    let widths: Vec<u16> = labels
        .iter()
        .map(|l| l.width().min(usize::from(u16::MAX)) as u16)
        .collect();
    let mut start = 0;
    while start < active
        && widths[start..=active]
            .iter()
            .map(|w| u32::from(*w))
            .sum::<u32>()
            > u32::from(width)
    {
        start += 1;
    }
    let mut out = Vec::new();
    let mut x: u16 = 0;
    for (i, label) in labels.iter().enumerate().skip(start) {
        if x >= width {
            break;
        }
        let w = widths[i].min(width - x);
        out.push(TabSeg {
            index: i,
            x,
            width: w,
            label: label.clone(),
        });
        x += w;
    }
    out
}

/// What is under the mouse.
#[derive(Debug, Clone, PartialEq)]
pub enum Hit {
    Tab(usize),
    TabBar,
    StatusBar,
    /// Index into [`Geometry::dividers`].
    Divider(usize),
    /// A pane; `inner` is the position inside its terminal area (None on its border).
    Pane {
        pane: PaneId,
        inner: Option<(u16, u16)>,
    },
    Nothing,
}

pub fn hit_test(g: &Geometry, x: u16, y: u16) -> Hit {
    if y == 0 {
        return g
            .tabs
            .iter()
            .find(|t| x >= t.x && x < t.x + t.width)
            .map_or(Hit::TabBar, |t| Hit::Tab(t.index));
    }
    if y == g.status_row() {
        return Hit::StatusBar;
    }
    // Either border cell next to a boundary grabs it. Later (nested) dividers win at corners.
    for (i, d) in g.dividers.iter().enumerate().rev() {
        let on = match d.dir {
            SplitDir::Horizontal => {
                (x == d.pos || x + 1 == d.pos) && y >= d.area.y && y < d.area.bottom()
            }
            SplitDir::Vertical => {
                (y == d.pos || y + 1 == d.pos) && x >= d.area.x && x < d.area.right()
            }
        };
        if on {
            return Hit::Divider(i);
        }
    }
    for (pane, r) in &g.panes {
        if r.contains(x, y) {
            let inner = r.inner();
            let pos = inner.contains(x, y).then(|| (x - inner.x, y - inner.y));
            return Hit::Pane {
                pane: *pane,
                inner: pos,
            };
        }
    }
    Hit::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u32) -> PaneId {
        PaneId(n)
    }

    fn three() -> Layout {
        let mut l = Layout::Pane(p(1));
        l.split(p(1), SplitDir::Horizontal, p(2)).unwrap();
        l.split(p(2), SplitDir::Vertical, p(3)).unwrap();
        l
    }

    #[test]
    fn hits_tabs_panes_dividers_and_bars() {
        let labels = vec![
            " 1:a ".to_string(),
            " 2:bb ".to_string(),
            " 3:c ".to_string(),
        ];
        let g = Geometry::new(100, 42, Some(&three()), None, &labels, 0);
        // Pane area is rows 1..41: pane 1 = x 0..50, pane 2 = x 50..100 rows 1..21, pane 3 below.
        assert_eq!(hit_test(&g, 0, 0), Hit::Tab(0));
        assert_eq!(hit_test(&g, 5, 0), Hit::Tab(1));
        assert_eq!(hit_test(&g, 11, 0), Hit::Tab(2));
        assert_eq!(hit_test(&g, 50, 0), Hit::TabBar);
        assert_eq!(hit_test(&g, 10, 41), Hit::StatusBar);
        assert_eq!(
            hit_test(&g, 10, 10),
            Hit::Pane {
                pane: p(1),
                inner: Some((9, 8))
            }
        );
        assert_eq!(
            hit_test(&g, 0, 10),
            Hit::Pane {
                pane: p(1),
                inner: None
            },
            "left border"
        );
        assert_eq!(
            hit_test(&g, 49, 10),
            Hit::Divider(0),
            "right border of pane 1"
        );
        assert_eq!(
            hit_test(&g, 50, 10),
            Hit::Divider(0),
            "left border of pane 2"
        );
        assert_eq!(
            hit_test(&g, 70, 20),
            Hit::Divider(1),
            "bottom border of pane 2"
        );
        assert_eq!(
            hit_test(&g, 70, 21),
            Hit::Divider(1),
            "top border of pane 3"
        );
        assert_eq!(
            hit_test(&g, 70, 22),
            Hit::Pane {
                pane: p(3),
                inner: Some((19, 0))
            }
        );
        assert_eq!(g.dividers[1].path, vec![true]);
    }

    #[test]
    fn zoomed_pane_fills_the_area_without_dividers() {
        let g = Geometry::new(100, 42, Some(&three()), Some(p(2)), &[], 0);
        assert!(g.dividers.is_empty());
        assert_eq!(
            hit_test(&g, 50, 10),
            Hit::Pane {
                pane: p(2),
                inner: Some((49, 8))
            }
        );
    }

    #[test]
    fn tab_bar_scrolls_to_the_active_tab() {
        let labels: Vec<String> = (1..=10).map(|i| format!(" {i}:tab{i} ")).collect();
        let segs = tab_segments(&labels, 9, 30);
        assert_eq!(segs.first().map(|s| s.index), Some(7));
        assert!(segs.iter().any(|s| s.index == 9 && s.x + s.width <= 30));
        let segs = tab_segments(&labels, 0, 30);
        assert_eq!(segs[0].index, 0);
        assert!(segs.iter().map(|s| s.x + s.width).all(|end| end <= 30));
    }
}
