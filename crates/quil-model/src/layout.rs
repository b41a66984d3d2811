//! A binary split tree. Leaves are panes; inner nodes split their area in two at `ratio`.
//!
//! Rects are whole pane areas, border included; the client draws each pane's border inside its
//! rect, so a pane's terminal is `(w - 2) x (h - 2)`.

use crate::{ModelError, PaneId};
use serde::{Deserialize, Serialize};

/// Smallest pane rect, border included: a 10x2 terminal.
pub const MIN_PANE_COLS: u16 = 12;
pub const MIN_PANE_ROWS: u16 = 4;

/// `Horizontal` puts the panes side by side (like `tmux split-window -h`); `Vertical` stacks
/// them top and bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitDir {
    Horizontal,
    Vertical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub fn new(x: u16, y: u16, w: u16, h: u16) -> Self {
        Rect { x, y, w, h }
    }
    pub fn right(&self) -> u16 {
        self.x.saturating_add(self.w)
    }
    pub fn bottom(&self) -> u16 {
        self.y.saturating_add(self.h)
    }
    pub fn contains(&self, x: u16, y: u16) -> bool {
        x >= self.x && x < self.right() && y >= self.y && y < self.bottom()
    }
    /// The area inside a one-cell border.
    pub fn inner(&self) -> Rect {
        Rect::new(
            self.x + 1,
            self.y + 1,
            self.w.saturating_sub(2),
            self.h.saturating_sub(2),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Pane(PaneId),
    Split {
        dir: SplitDir,
        /// Share of the area given to `first`, in (0, 1).
        ratio: f32,
        first: Box<Layout>,
        second: Box<Layout>,
    },
}

/// A draggable boundary between the two halves of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Divider {
    /// Path from the root: `false` = first child, `true` = second.
    pub path: Vec<bool>,
    pub dir: SplitDir,
    /// The split node's whole area.
    pub area: Rect,
    /// Column (horizontal split) or row (vertical split) where `second` begins.
    pub pos: u16,
}

fn split_area(area: Rect, dir: SplitDir, ratio: f32) -> (Rect, Rect) {
    let total = match dir {
        SplitDir::Horizontal => area.w,
        SplitDir::Vertical => area.h,
    };
    let min = match dir {
        SplitDir::Horizontal => MIN_PANE_COLS,
        SplitDir::Vertical => MIN_PANE_ROWS,
    };
    let mut a = (total as f32 * ratio).round() as u16;
    if total >= 2 * min {
        a = a.clamp(min, total - min);
    } else {
        a = a.clamp(total.min(1), total.saturating_sub(1).max(total.min(1)));
    }
    let b = total - a;
    match dir {
        SplitDir::Horizontal => (
            Rect::new(area.x, area.y, a, area.h),
            Rect::new(area.x + a, area.y, b, area.h),
        ),
        SplitDir::Vertical => (
            Rect::new(area.x, area.y, area.w, a),
            Rect::new(area.x, area.y + a, area.w, b),
        ),
    }
}

impl Layout {
    pub fn contains(&self, pane: PaneId) -> bool {
        match self {
            Layout::Pane(p) => *p == pane,
            Layout::Split { first, second, .. } => first.contains(pane) || second.contains(pane),
        }
    }

    /// How many splits lie between the top of the layout and the leaf `pane`.
    pub fn depth_of(&self, pane: PaneId) -> Option<usize> {
        let mut node = self;
        let mut depth = 0;
        loop {
            match node {
                Layout::Pane(p) => return (*p == pane).then_some(depth),
                Layout::Split { first, second, .. } => {
                    node = if first.contains(pane) { first } else { second };
                    depth += 1;
                }
            }
        }
    }

    /// The deepest leaf's depth (0 for a single pane). Iterative, so any tree is safe to measure.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((node, d)) = stack.pop() {
            match node {
                Layout::Pane(_) => deepest = deepest.max(d),
                Layout::Split { first, second, .. } => {
                    stack.push((first, d + 1));
                    stack.push((second, d + 1));
                }
            }
        }
        deepest
    }

    /// Pane ids, first to second (left to right, top to bottom).
    pub fn panes(&self) -> Vec<PaneId> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<PaneId>) {
        match self {
            Layout::Pane(p) => out.push(*p),
            Layout::Split { first, second, .. } => {
                first.collect(out);
                second.collect(out);
            }
        }
    }

    /// Replaces the leaf `target` with an even split of `target` and `new`.
    pub fn split(&mut self, target: PaneId, dir: SplitDir, new: PaneId) -> Result<(), ModelError> {
        match self {
            Layout::Pane(p) if *p == target => {
                *self = Layout::Split {
                    dir,
                    ratio: 0.5,
                    first: Box::new(Layout::Pane(target)),
                    second: Box::new(Layout::Pane(new)),
                };
                Ok(())
            }
            Layout::Pane(_) => Err(ModelError::UnknownPane(target)),
            Layout::Split { first, second, .. } => {
                if first.contains(target) {
                    first.split(target, dir, new)
                } else {
                    second.split(target, dir, new)
                }
            }
        }
    }

    /// Renames leaves: each `a` becomes `b` and each `b` becomes `a`.
    pub fn swap(&mut self, a: PaneId, b: PaneId) {
        match self {
            Layout::Pane(p) if *p == a => *p = b,
            Layout::Pane(p) if *p == b => *p = a,
            Layout::Pane(_) => {}
            Layout::Split { first, second, .. } => {
                first.swap(a, b);
                second.swap(a, b);
            }
        }
    }

    /// The share (0..1) of the innermost split of direction `dir` holding `pane` that `pane`'s
    /// side has, with that split's ratio; `None` when no such split holds it.
    fn share_ratio(&mut self, pane: PaneId, dir: SplitDir) -> Option<(&mut f32, bool)> {
        match self {
            Layout::Pane(_) => None,
            Layout::Split {
                dir: d,
                ratio,
                first,
                second,
            } => {
                let in_first = first.contains(pane);
                if !in_first && !second.contains(pane) {
                    return None;
                }
                let inner = if in_first {
                    first.share_ratio(pane, dir)
                } else {
                    second.share_ratio(pane, dir)
                };
                match inner {
                    Some(found) => Some(found),
                    None if *d == dir => Some((ratio, in_first)),
                    None => None,
                }
            }
        }
    }

    /// Whether `pane` is on the first side (left or top) of the innermost split of direction
    /// `dir` holding it; `None` when no such split holds it.
    pub fn in_first(&self, pane: PaneId, dir: SplitDir) -> Option<bool> {
        self.clone().share_ratio(pane, dir).map(|(_, first)| first)
    }

    /// The direction of the split directly holding `pane`; `None` for a lone pane.
    pub fn parent_dir(&self, pane: PaneId) -> Option<SplitDir> {
        match self {
            Layout::Pane(_) => None,
            Layout::Split {
                dir, first, second, ..
            } => {
                if matches!(**first, Layout::Pane(p) if p == pane)
                    || matches!(**second, Layout::Pane(p) if p == pane)
                {
                    Some(*dir)
                } else if first.contains(pane) {
                    first.parent_dir(pane)
                } else {
                    second.parent_dir(pane)
                }
            }
        }
    }

    /// `pane`'s share of the innermost split of direction `dir` holding it, in (0, 1).
    pub fn share(&mut self, pane: PaneId, dir: SplitDir) -> Option<f32> {
        self.share_ratio(pane, dir)
            .map(|(r, first)| if first { *r } else { 1.0 - *r })
    }

    /// Sets `pane`'s share of the innermost split of direction `dir` holding it (clamped to
    /// 5..95%); false when no split of that direction holds it.
    pub fn set_share(&mut self, pane: PaneId, dir: SplitDir, share: f32) -> bool {
        let share = share.clamp(0.05, 0.95);
        match self.share_ratio(pane, dir) {
            Some((r, first)) => {
                *r = if first { share } else { 1.0 - share };
                true
            }
            None => false,
        }
    }

    /// Removes a leaf; its sibling takes the parent's place. `None` when nothing is left.
    pub fn remove(self, target: PaneId) -> Option<Layout> {
        match self {
            Layout::Pane(p) if p == target => None,
            Layout::Pane(_) => Some(self),
            Layout::Split {
                dir,
                ratio,
                first,
                second,
            } => match (first.remove(target), second.remove(target)) {
                (Some(a), Some(b)) => Some(Layout::Split {
                    dir,
                    ratio,
                    first: Box::new(a),
                    second: Box::new(b),
                }),
                (Some(a), None) => Some(a),
                (None, Some(b)) => Some(b),
                (None, None) => None,
            },
        }
    }

    /// Each pane's rect within `area`.
    pub fn rects(&self, area: Rect) -> Vec<(PaneId, Rect)> {
        let mut out = Vec::new();
        self.rects_into(area, &mut out);
        out
    }

    fn rects_into(&self, area: Rect, out: &mut Vec<(PaneId, Rect)>) {
        match self {
            Layout::Pane(p) => out.push((*p, area)),
            Layout::Split {
                dir,
                ratio,
                first,
                second,
            } => {
                let (a, b) = split_area(area, *dir, *ratio);
                first.rects_into(a, out);
                second.rects_into(b, out);
            }
        }
    }

    /// Whether `target` can be split in `dir` within `area` and leave both halves usable.
    pub fn can_split(&self, target: PaneId, dir: SplitDir, area: Rect) -> bool {
        self.rects(area).into_iter().any(|(p, r)| {
            p == target
                && match dir {
                    SplitDir::Horizontal => r.w >= 2 * MIN_PANE_COLS,
                    SplitDir::Vertical => r.h >= 2 * MIN_PANE_ROWS,
                }
        })
    }

    /// The pane in `direction` from `from`: among panes touching `from`'s edge on that side,
    /// the one used last (the highest `last_used`), as in tmux, so that going back returns to
    /// where you were; then the one overlapping it most.
    pub fn neighbor(
        &self,
        from: PaneId,
        direction: Direction,
        area: Rect,
        last_used: impl Fn(PaneId) -> u64,
    ) -> Option<PaneId> {
        let rects = self.rects(area);
        let (_, cur) = *rects.iter().find(|(p, _)| *p == from)?;
        let overlap = |a0: u16, a1: u16, b0: u16, b1: u16| a1.min(b1).saturating_sub(a0.max(b0));
        rects
            .iter()
            .filter(|(p, _)| *p != from)
            .filter_map(|(p, r)| {
                let touching = match direction {
                    Direction::Left => r.right() == cur.x,
                    Direction::Right => r.x == cur.right(),
                    Direction::Up => r.bottom() == cur.y,
                    Direction::Down => r.y == cur.bottom(),
                };
                let ov = match direction {
                    Direction::Left | Direction::Right => {
                        overlap(cur.y, cur.bottom(), r.y, r.bottom())
                    }
                    Direction::Up | Direction::Down => overlap(cur.x, cur.right(), r.x, r.right()),
                };
                (touching && ov > 0).then_some(((last_used(*p), ov), *p))
            })
            // Ties go to the first pane (top or left), as in tmux.
            .fold(None, |best: Option<((u64, u16), PaneId)>, c| match best {
                Some(b) if b.0 >= c.0 => Some(b),
                _ => Some(c),
            })
            .map(|(_, p)| p)
    }

    /// Every split boundary within `area`, for mouse dragging.
    pub fn dividers(&self, area: Rect) -> Vec<Divider> {
        let mut out = Vec::new();
        self.dividers_into(area, &mut Vec::new(), &mut out);
        out
    }

    fn dividers_into(&self, area: Rect, path: &mut Vec<bool>, out: &mut Vec<Divider>) {
        if let Layout::Split {
            dir,
            ratio,
            first,
            second,
        } = self
        {
            let (a, b) = split_area(area, *dir, *ratio);
            let pos = match dir {
                SplitDir::Horizontal => b.x,
                SplitDir::Vertical => b.y,
            };
            out.push(Divider {
                path: path.clone(),
                dir: *dir,
                area,
                pos,
            });
            path.push(false);
            first.dividers_into(a, path, out);
            path.pop();
            path.push(true);
            second.dividers_into(b, path, out);
            path.pop();
        }
    }

    /// Moves the divider at `path` so that `second` begins at `pos` (clamped to keep both sides
    /// at least the minimum size). Returns false when `path` names no split.
    pub fn set_divider(&mut self, path: &[bool], area: Rect, pos: u16) -> bool {
        let mut node = self;
        let mut area = area;
        for &step in path {
            match node {
                Layout::Split {
                    dir,
                    ratio,
                    first,
                    second,
                } => {
                    let (a, b) = split_area(area, *dir, *ratio);
                    if step {
                        node = second;
                        area = b;
                    } else {
                        node = first;
                        area = a;
                    }
                }
                Layout::Pane(_) => return false,
            }
        }
        match node {
            Layout::Split { dir, ratio, .. } => {
                let (start, total) = match dir {
                    SplitDir::Horizontal => (area.x, area.w),
                    SplitDir::Vertical => (area.y, area.h),
                };
                if total == 0 {
                    return true;
                }
                let offset = pos.saturating_sub(start).min(total) as f32;
                *ratio = (offset / total as f32).clamp(0.05, 0.95);
                true
            }
            Layout::Pane(_) => false,
        }
    }

    pub(crate) fn check_ratios(&self) -> Result<(), String> {
        match self {
            Layout::Pane(_) => Ok(()),
            Layout::Split {
                ratio,
                first,
                second,
                ..
            } => {
                if !(ratio.is_finite() && *ratio > 0.0 && *ratio < 1.0) {
                    return Err(format!("split ratio {ratio} is not between 0 and 1"));
                }
                first.check_ratios()?;
                second.check_ratios()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(n: u32) -> PaneId {
        PaneId(n)
    }

    fn three() -> Layout {
        // [1 | [2 / 3]]
        let mut l = Layout::Pane(p(1));
        l.split(p(1), SplitDir::Horizontal, p(2)).unwrap();
        l.split(p(2), SplitDir::Vertical, p(3)).unwrap();
        l
    }

    #[test]
    fn rects_tile_the_area() {
        let area = Rect::new(0, 1, 120, 40);
        let r = three().rects(area);
        assert_eq!(
            r,
            vec![
                (p(1), Rect::new(0, 1, 60, 40)),
                (p(2), Rect::new(60, 1, 60, 20)),
                (p(3), Rect::new(60, 21, 60, 20)),
            ]
        );
    }

    #[test]
    fn neighbors_follow_geometry() {
        let area = Rect::new(0, 0, 120, 40);
        let l = three();
        let never = |_| 0;
        assert_eq!(l.neighbor(p(1), Direction::Right, area, never), Some(p(2)));
        assert_eq!(l.neighbor(p(3), Direction::Left, area, never), Some(p(1)));
        assert_eq!(l.neighbor(p(2), Direction::Down, area, never), Some(p(3)));
        assert_eq!(l.neighbor(p(3), Direction::Up, area, never), Some(p(2)));
        assert_eq!(l.neighbor(p(1), Direction::Left, area, never), None);
        assert_eq!(l.neighbor(p(2), Direction::Up, area, never), None);
        // Both right-hand panes touch pane 1 equally: the one used last wins.
        let used = |id: PaneId| u64::from(id == p(3));
        assert_eq!(l.neighbor(p(1), Direction::Right, area, used), Some(p(3)));
    }

    #[test]
    fn remove_promotes_sibling() {
        let l = three().remove(p(2)).unwrap();
        assert_eq!(l.panes(), vec![p(1), p(3)]);
        let l = l.remove(p(1)).unwrap();
        assert_eq!(l, Layout::Pane(p(3)));
        assert_eq!(l.remove(p(3)), None);
    }

    #[test]
    fn split_unknown_pane_errors() {
        let mut l = three();
        assert_eq!(
            l.split(p(9), SplitDir::Vertical, p(10)),
            Err(ModelError::UnknownPane(p(9)))
        );
    }

    #[test]
    fn min_size_is_respected() {
        let area = Rect::new(0, 0, 30, 10);
        let mut l = Layout::Pane(p(1));
        assert!(l.can_split(p(1), SplitDir::Horizontal, area));
        l.split(p(1), SplitDir::Horizontal, p(2)).unwrap();
        assert!(!l.can_split(p(1), SplitDir::Horizontal, area));
        // Dragging to the far left still leaves the minimum width.
        assert!(l.set_divider(&[], area, 0));
        let r = l.rects(area);
        assert_eq!(r[0].1.w, MIN_PANE_COLS);
        assert_eq!(r[1].1.w, 30 - MIN_PANE_COLS);
    }

    #[test]
    fn dividers_and_drag() {
        let area = Rect::new(0, 0, 100, 40);
        let mut l = three();
        let d = l.dividers(area);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].dir, d[0].pos), (SplitDir::Horizontal, 50));
        assert_eq!(
            (d[1].path.clone(), d[1].dir, d[1].pos),
            (vec![true], SplitDir::Vertical, 20)
        );
        assert!(l.set_divider(&[], area, 70));
        assert_eq!(l.rects(area)[0].1.w, 70);
        assert!(!l.set_divider(&[false], area, 10), "first child is a leaf");
    }

    #[test]
    fn serde_shape_is_readable() {
        let json = serde_json::to_value(three()).unwrap();
        assert_eq!(json["split"]["dir"], "horizontal");
        assert_eq!(json["split"]["first"]["pane"], "pane-00000001");
    }

    fn arb_ops() -> impl Strategy<Value = Vec<(u8, bool)>> {
        proptest::collection::vec((any::<u8>(), any::<bool>()), 0..40)
    }

    proptest! {
        /// Any sequence of splits and removals keeps the rects an exact tiling of the area.
        #[test]
        fn rects_always_tile(ops in arb_ops(), w in 24u16..300, h in 8u16..100) {
            let area = Rect::new(0, 0, w, h);
            let mut layout = Some(Layout::Pane(p(0)));
            let mut next = 1;
            for (pick, split) in ops {
                let Some(l) = layout.take() else { break };
                let panes = l.panes();
                let target = panes[pick as usize % panes.len()];
                if split {
                    let mut l = l;
                    l.split(target, if pick % 2 == 0 { SplitDir::Horizontal } else { SplitDir::Vertical }, p(next)).unwrap();
                    next += 1;
                    layout = Some(l);
                } else {
                    layout = l.remove(target);
                }
            }
            if let Some(l) = layout {
                let rects = l.rects(area);
                prop_assert_eq!(rects.len(), l.panes().len());
                let cells: u32 = rects.iter().map(|(_, r)| r.w as u32 * r.h as u32).sum();
                prop_assert_eq!(cells, w as u32 * h as u32);
                for (_, r) in &rects {
                    prop_assert!(r.right() <= w && r.bottom() <= h);
                }
            }
        }
    }
}
