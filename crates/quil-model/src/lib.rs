//! The workspace model: tabs, a binary split layout tree per tab, and pane metadata.
//!
//! Pure logic with no I/O, so both the daemon (which owns the real workspace) and the client
//! (which lays out what the daemon tells it) can use it, and it can be tested exhaustively.

mod attention;
mod ids;
mod layout;

pub use attention::{Attention, STARTING};

pub use ids::{IdError, PaneId, TabId};
pub use layout::{Direction, Divider, Layout, Rect, SplitDir, MIN_PANE_COLS, MIN_PANE_ROWS};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Errors from workspace operations. Each names the thing it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("unknown pane {0}")]
    UnknownPane(PaneId),
    #[error("unknown tab {0}")]
    UnknownTab(String),
    #[error("pane {0} is too small to split")]
    TooSmall(PaneId),
    #[error("pane {0} already exists")]
    DuplicatePane(PaneId),
    /// A move or swap that cannot be done, with why.
    #[error("{0}")]
    Invalid(String),
    #[error("the workspace already has {max} panes, the most quil keeps: close some first")]
    TooManyPanes { max: usize },
    #[error("pane {pane} is nested {max} splits deep, the most a layout can hold: split a pane nearer the top")]
    TooDeep { pane: PaneId, max: usize },
}

/// The most panes a workspace holds: each costs a process, a PTY (a few descriptors) and its
/// screen; a saved workspace with more is refused when loaded.
pub const MAX_PANES: usize = 1000;
/// The deepest a pane can be nested in a tab's layout (splits from the tab down to it). A saved
/// workspace within it always loads back.
pub const MAX_SPLIT_DEPTH: usize = 256;

/// What the workspace knows about a pane, independent of its process: everything needed to
/// start it again after a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaneMeta {
    pub id: PaneId,
    pub name: String,
    /// The pane type (plugin name), e.g. `terminal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The last known working directory (live, from OSC 7, when the shell reports it).
    pub cwd: PathBuf,
    /// An explicit command given at creation; empty means the pane type's own command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Extra environment given at creation, `KEY=VALUE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The forwarded environment of the client that created the pane, `KEY=VALUE` (`PATH`,
    /// `LANG`, ...): kept, so a respawn or restore starts it the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_env: Vec<String>,
    #[serde(default)]
    pub cols: u16,
    #[serde(default)]
    pub rows: u16,
    /// Instance arguments chosen at creation, kept across restarts: the pane type's toggles...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub toggles: BTreeMap<String, bool>,
    /// ...its form fields (e.g. ssh's `target`)...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// ...and arguments appended to its command (`quil new-tab --type T -- ARGS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
    /// Plugin state, e.g. `session_id`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_state: BTreeMap<String, String>,
    /// The pane runs in its own git worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeMeta>,
    /// Started at once after a restart, even when no client shows it (others start when
    /// first shown, given input, or after a delay).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eager: bool,
    /// The holder keeping the pane's process through daemon restarts (a socket name in
    /// `$QUIL_HOME/holders`): the next daemon takes the process over from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The terminal modes the pane's program had set (`quil_proto::modes`), given back to a
    /// process taken over from its holder.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modes: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A pane's disposable git worktree (see the `quil-worktree` crate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeMeta {
    /// The main working tree.
    pub repo: PathBuf,
    pub path: PathBuf,
    pub branch: String,
    /// The commit the worktree started from.
    pub base: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tab {
    pub id: TabId,
    pub name: String,
    pub layout: Layout,
    pub active_pane: PaneId,
    #[serde(default)]
    pub zoomed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub tabs: Vec<Tab>,
    /// Index into `tabs`; meaningless when `tabs` is empty.
    pub active_tab: usize,
    pub panes: Vec<PaneMeta>,
}

impl Workspace {
    pub fn pane(&self, id: PaneId) -> Option<&PaneMeta> {
        self.panes.iter().find(|p| p.id == id)
    }

    pub fn pane_mut(&mut self, id: PaneId) -> Option<&mut PaneMeta> {
        self.panes.iter_mut().find(|p| p.id == id)
    }

    /// Index of the tab holding `pane`.
    pub fn tab_of(&self, pane: PaneId) -> Option<usize> {
        self.tabs.iter().position(|t| t.layout.contains(pane))
    }

    /// Finds a tab by id (`tab-1a2b3c4d`), by 1-based index as shown in the tab bar, or by name.
    pub fn find_tab(&self, key: &str) -> Result<usize, ModelError> {
        find_tab(self.tabs.iter().map(|t| (t.id, t.name.as_str())), key)
    }

    /// Adds a tab holding the single pane `meta` and makes it active.
    pub fn add_tab(
        &mut self,
        id: TabId,
        name: String,
        meta: PaneMeta,
    ) -> Result<usize, ModelError> {
        if self.pane(meta.id).is_some() {
            return Err(ModelError::DuplicatePane(meta.id));
        }
        self.check_room()?;
        let pane = meta.id;
        self.panes.push(meta);
        self.tabs.push(Tab {
            id,
            name,
            layout: Layout::Pane(pane),
            active_pane: pane,
            zoomed: false,
        });
        self.active_tab = self.tabs.len() - 1;
        Ok(self.active_tab)
    }

    /// Splits `target`, putting the new pane `meta` second (right of or below it), and focuses it.
    pub fn split(
        &mut self,
        target: PaneId,
        dir: SplitDir,
        meta: PaneMeta,
    ) -> Result<(), ModelError> {
        if self.pane(meta.id).is_some() {
            return Err(ModelError::DuplicatePane(meta.id));
        }
        self.check_split(target)?;
        let ti = self.tab_of(target).ok_or(ModelError::UnknownPane(target))?;
        let tab = &mut self.tabs[ti];
        tab.layout.split(target, dir, meta.id)?;
        tab.active_pane = meta.id;
        tab.zoomed = false;
        self.panes.push(meta);
        Ok(())
    }

    /// Whether one more pane fits ([`MAX_PANES`]).
    pub fn check_room(&self) -> Result<(), ModelError> {
        if self.panes.len() >= MAX_PANES {
            return Err(ModelError::TooManyPanes { max: MAX_PANES });
        }
        Ok(())
    }

    /// Whether `target` can be split: it exists, one more pane fits, and the new split stays
    /// within [`MAX_SPLIT_DEPTH`]. For checking before a pane is started.
    pub fn check_split(&self, target: PaneId) -> Result<(), ModelError> {
        let ti = self.tab_of(target).ok_or(ModelError::UnknownPane(target))?;
        self.check_room()?;
        let depth = self.tabs[ti].layout.depth_of(target).unwrap_or(0);
        if depth >= MAX_SPLIT_DEPTH {
            return Err(ModelError::TooDeep {
                pane: target,
                max: MAX_SPLIT_DEPTH,
            });
        }
        Ok(())
    }

    /// Removes a pane; its sibling takes its space, and a tab left empty is removed.
    /// Returns true when the pane's tab was removed with it.
    pub fn remove_pane(&mut self, pane: PaneId) -> Result<bool, ModelError> {
        let ti = self.tab_of(pane).ok_or(ModelError::UnknownPane(pane))?;
        self.panes.retain(|p| p.id != pane);
        let tab = &mut self.tabs[ti];
        match tab.layout.clone().remove(pane) {
            Some(rest) => {
                tab.layout = rest;
                if tab.active_pane == pane {
                    tab.active_pane = tab.layout.panes()[0];
                }
                tab.zoomed = false;
                Ok(false)
            }
            None => {
                self.tabs.remove(ti);
                if self.active_tab >= self.tabs.len() {
                    self.active_tab = self.tabs.len().saturating_sub(1);
                } else if self.active_tab > ti {
                    self.active_tab -= 1;
                }
                Ok(true)
            }
        }
    }

    /// Removes a tab and returns the panes it held.
    pub fn remove_tab(&mut self, index: usize) -> Vec<PaneId> {
        if index >= self.tabs.len() {
            return Vec::new();
        }
        let tab = self.tabs.remove(index);
        let panes = tab.layout.panes();
        self.panes.retain(|p| !panes.contains(&p.id));
        if self.active_tab >= self.tabs.len() {
            self.active_tab = self.tabs.len().saturating_sub(1);
        } else if self.active_tab > index {
            self.active_tab -= 1;
        }
        panes
    }

    /// Swaps two panes' places, in one tab or across tabs; each tab's active pane follows its
    /// place (the tab that showed `a` active shows `b` there).
    pub fn swap_panes(&mut self, a: PaneId, b: PaneId) -> Result<(), ModelError> {
        if a == b {
            return Err(ModelError::Invalid(format!("cannot swap {a} with itself")));
        }
        let ta = self.tab_of(a).ok_or(ModelError::UnknownPane(a))?;
        let tb = self.tab_of(b).ok_or(ModelError::UnknownPane(b))?;
        for ti in [ta, tb] {
            let tab = &mut self.tabs[ti];
            tab.layout.swap(a, b);
            if ta != tb {
                if tab.active_pane == a {
                    tab.active_pane = b;
                } else if tab.active_pane == b {
                    tab.active_pane = a;
                }
            }
            if ta == tb {
                break;
            }
        }
        Ok(())
    }

    /// Moves `pane` next to `target` (tmux's join-pane): `target` is split in `dir` with `pane`
    /// second, in `target`'s tab, and it becomes that tab's active pane. A tab left empty goes.
    pub fn join_pane(
        &mut self,
        pane: PaneId,
        target: PaneId,
        dir: SplitDir,
    ) -> Result<(), ModelError> {
        if pane == target {
            return Err(ModelError::Invalid(format!(
                "cannot move {pane} next to itself"
            )));
        }
        self.tab_of(target).ok_or(ModelError::UnknownPane(target))?;
        let meta = self
            .pane(pane)
            .cloned()
            .ok_or(ModelError::UnknownPane(pane))?;
        let target_tab = self.tabs[self.tab_of(target).unwrap_or_default()].id;
        self.remove_pane(pane)?;
        self.split(target, dir, meta)?;
        if let Some(i) = self.tabs.iter().position(|t| t.id == target_tab) {
            self.active_tab = i;
        }
        Ok(())
    }

    /// Moves `pane` out of its tab into a new tab `id` of its own (tmux's break-pane), which
    /// becomes the active tab.
    pub fn break_pane(&mut self, pane: PaneId, id: TabId, name: String) -> Result<(), ModelError> {
        let ti = self.tab_of(pane).ok_or(ModelError::UnknownPane(pane))?;
        if self.tabs[ti].layout.panes().len() == 1 {
            return Err(ModelError::Invalid(format!(
                "{pane} is alone in its tab already"
            )));
        }
        let meta = self
            .pane(pane)
            .cloned()
            .ok_or(ModelError::UnknownPane(pane))?;
        self.remove_pane(pane)?;
        self.add_tab(id, name, meta)?;
        Ok(())
    }

    /// Makes `pane` the active pane of its tab, and its tab the active tab.
    pub fn focus(&mut self, pane: PaneId) -> Result<(), ModelError> {
        let ti = self.tab_of(pane).ok_or(ModelError::UnknownPane(pane))?;
        self.active_tab = ti;
        self.tabs[ti].active_pane = pane;
        Ok(())
    }

    pub fn active_pane(&self) -> Option<PaneId> {
        self.tabs.get(self.active_tab).map(|t| t.active_pane)
    }

    /// Every pane id in tab order, then layout order.
    pub fn pane_ids(&self) -> Vec<PaneId> {
        self.tabs.iter().flat_map(|t| t.layout.panes()).collect()
    }

    /// Checks the invariants a loaded workspace must satisfy: every pane in a layout has
    /// metadata, no pane appears twice, every active pane is in its tab.
    pub fn validate(&self) -> Result<(), String> {
        if self.panes.len() > MAX_PANES {
            return Err(format!(
                "it has {} panes, more than the {MAX_PANES} quil keeps",
                self.panes.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for tab in &self.tabs {
            let depth = tab.layout.depth();
            if depth > MAX_SPLIT_DEPTH {
                return Err(format!(
                    "{} is nested {depth} splits deep, more than the {MAX_SPLIT_DEPTH} quil allows",
                    tab.id
                ));
            }
            for p in tab.layout.panes() {
                if !seen.insert(p) {
                    return Err(format!("pane {p} appears twice"));
                }
                if self.pane(p).is_none() {
                    return Err(format!("pane {p} in {} has no metadata", tab.id));
                }
            }
            if !tab.layout.contains(tab.active_pane) {
                return Err(format!(
                    "active pane {} is not in {}",
                    tab.active_pane, tab.id
                ));
            }
            tab.layout.check_ratios()?;
        }
        if !self.tabs.is_empty() && self.active_tab >= self.tabs.len() {
            return Err(format!("active tab {} out of range", self.active_tab));
        }
        Ok(())
    }
}

/// The position of the tab `key` names among `tabs` (id and name, in tab-bar order): its id
/// (`tab-1a2b3c4d`), its 1-based index as shown in the tab bar, or its name. Shared by the
/// daemon and clients, so a tab is named the same way everywhere.
pub fn find_tab<'a>(
    mut tabs: impl ExactSizeIterator<Item = (TabId, &'a str)>,
    key: &str,
) -> Result<usize, ModelError> {
    let count = tabs.len();
    if let Ok(id) = key.parse::<TabId>() {
        if let Some(i) = tabs.position(|(t, _)| t == id) {
            return Ok(i);
        }
    } else if let Ok(n) = key.parse::<usize>() {
        if n >= 1 && n <= count {
            return Ok(n - 1);
        }
    } else if let Some(i) = tabs.position(|(_, name)| name == key) {
        return Ok(i);
    }
    Err(ModelError::UnknownTab(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u32) -> PaneMeta {
        PaneMeta {
            id: PaneId(n),
            name: format!("p{n}"),
            kind: "terminal".into(),
            cwd: "/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn split_depth_and_pane_count_are_capped() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(1), "one".into(), meta(1)).unwrap();
        for n in 1..=MAX_SPLIT_DEPTH as u32 {
            ws.split(PaneId(n), SplitDir::Horizontal, meta(n + 1))
                .unwrap();
        }
        let deepest = PaneId(MAX_SPLIT_DEPTH as u32 + 1);
        assert_eq!(ws.tabs[0].layout.depth(), MAX_SPLIT_DEPTH);
        assert_eq!(ws.tabs[0].layout.depth_of(deepest), Some(MAX_SPLIT_DEPTH));
        let err = ws
            .split(deepest, SplitDir::Vertical, meta(9999))
            .unwrap_err();
        assert!(matches!(err, ModelError::TooDeep { .. }), "{err}");
        assert!(err.to_string().contains("256 splits deep"), "{err}");
        ws.validate().unwrap();
        // A pane near the top still splits.
        ws.split(PaneId(1), SplitDir::Vertical, meta(9999)).unwrap();

        let mut ws = Workspace::default();
        for n in 0..MAX_PANES as u32 {
            ws.add_tab(TabId(n), format!("t{n}"), meta(n)).unwrap();
        }
        let err = ws.add_tab(TabId(5000), "x".into(), meta(5000)).unwrap_err();
        assert_eq!(err, ModelError::TooManyPanes { max: MAX_PANES });
        assert!(ws.check_split(PaneId(0)).is_err());
    }

    #[test]
    fn add_split_remove_keeps_invariants() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(1), "one".into(), meta(1)).unwrap();
        ws.split(PaneId(1), SplitDir::Horizontal, meta(2)).unwrap();
        ws.split(PaneId(2), SplitDir::Vertical, meta(3)).unwrap();
        assert_eq!(ws.pane_ids(), vec![PaneId(1), PaneId(2), PaneId(3)]);
        assert_eq!(ws.active_pane(), Some(PaneId(3)));
        ws.validate().unwrap();

        assert!(!ws.remove_pane(PaneId(3)).unwrap());
        assert_eq!(ws.active_pane(), Some(PaneId(1)));
        assert_eq!(ws.pane_ids(), vec![PaneId(1), PaneId(2)]);
        ws.validate().unwrap();
        assert!(!ws.remove_pane(PaneId(1)).unwrap());
        assert!(ws.remove_pane(PaneId(2)).unwrap());
        assert!(ws.tabs.is_empty());
        assert!(ws.panes.is_empty());
    }

    #[test]
    fn swap_join_break_and_resize_keep_invariants() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(1), "one".into(), meta(1)).unwrap();
        ws.split(PaneId(1), SplitDir::Horizontal, meta(2)).unwrap();
        ws.add_tab(TabId(2), "two".into(), meta(3)).unwrap();
        // Within a tab, then across tabs.
        ws.swap_panes(PaneId(1), PaneId(2)).unwrap();
        assert_eq!(ws.tabs[0].layout.panes(), [PaneId(2), PaneId(1)]);
        ws.swap_panes(PaneId(1), PaneId(3)).unwrap();
        assert_eq!(ws.tabs[0].layout.panes(), [PaneId(2), PaneId(3)]);
        assert_eq!(ws.tabs[1].layout.panes(), [PaneId(1)]);
        assert_eq!(ws.tabs[1].active_pane, PaneId(1));
        ws.validate().unwrap();
        assert!(ws.swap_panes(PaneId(1), PaneId(1)).is_err());
        // Join: tab two's only pane goes under pane 2; tab two goes.
        ws.join_pane(PaneId(1), PaneId(2), SplitDir::Vertical)
            .unwrap();
        assert_eq!(ws.tabs.len(), 1);
        assert_eq!(ws.tabs[0].layout.panes(), [PaneId(2), PaneId(1), PaneId(3)]);
        assert_eq!(ws.active_pane(), Some(PaneId(1)));
        ws.validate().unwrap();
        // Break: pane 3 to a tab of its own.
        ws.break_pane(PaneId(3), TabId(9), "three".into()).unwrap();
        assert_eq!(ws.tabs.len(), 2);
        assert_eq!(ws.tabs[1].layout, Layout::Pane(PaneId(3)));
        assert_eq!(ws.active_tab, 1);
        assert!(ws.break_pane(PaneId(3), TabId(10), "x".into()).is_err());
        ws.validate().unwrap();
        // Resize: pane 1 is second (below) in a vertical split.
        let l = &mut ws.tabs[0].layout;
        assert_eq!(l.share(PaneId(1), SplitDir::Vertical), Some(0.5));
        assert!(l.set_share(PaneId(1), SplitDir::Vertical, 0.7));
        assert!((l.share(PaneId(2), SplitDir::Vertical).unwrap() - 0.3).abs() < 1e-6);
        assert!(!l.set_share(PaneId(1), SplitDir::Horizontal, 0.7));
    }

    #[test]
    fn unknown_pane_is_named() {
        let mut ws = Workspace::default();
        let err = ws.remove_pane(PaneId(0xdead)).unwrap_err();
        assert_eq!(err.to_string(), "unknown pane pane-0000dead");
        assert_eq!(
            ws.find_tab("nope").unwrap_err().to_string(),
            "unknown tab nope"
        );
    }

    #[test]
    fn duplicate_pane_is_refused() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(1), "a".into(), meta(1)).unwrap();
        assert_eq!(
            ws.add_tab(TabId(2), "b".into(), meta(1)),
            Err(ModelError::DuplicatePane(PaneId(1)))
        );
        assert_eq!(
            ws.split(PaneId(1), SplitDir::Vertical, meta(1)),
            Err(ModelError::DuplicatePane(PaneId(1)))
        );
    }

    #[test]
    fn find_tab_by_id_index_and_name() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(0xa), "alpha".into(), meta(1)).unwrap();
        ws.add_tab(TabId(0xb), "beta".into(), meta(2)).unwrap();
        assert_eq!(ws.find_tab("tab-0000000b"), Ok(1));
        assert_eq!(ws.find_tab("1"), Ok(0));
        assert_eq!(ws.find_tab("beta"), Ok(1));
        assert!(ws.find_tab("3").is_err());
        assert!(ws.find_tab("0").is_err());
    }

    #[test]
    fn removing_tabs_keeps_active_index_valid() {
        let mut ws = Workspace::default();
        for i in 1..=3 {
            ws.add_tab(TabId(i), format!("t{i}"), meta(i)).unwrap();
        }
        assert_eq!(ws.active_tab, 2);
        assert_eq!(ws.remove_tab(0), vec![PaneId(1)]);
        assert_eq!(ws.active_tab, 1);
        assert_eq!(ws.tabs[ws.active_tab].id, TabId(3));
        ws.remove_tab(1);
        assert_eq!(ws.active_tab, 0);
        ws.validate().unwrap();
    }

    #[test]
    fn workspace_json_roundtrip() {
        let mut ws = Workspace::default();
        ws.add_tab(TabId(1), "one".into(), meta(1)).unwrap();
        ws.split(PaneId(1), SplitDir::Horizontal, meta(2)).unwrap();
        let json = serde_json::to_string(&ws).unwrap();
        let back: Workspace = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ws);
        assert!(json.contains("\"pane-00000001\""), "{json}");
    }
}
