//! What `quil ls`, `quil daemon status` and the pane-type pickers show.

use super::Server;
use quil_proto::{PaneInfo, PaneTypeInfo, StatusInfo, TabInfo, WorkspaceInfo};
use std::sync::atomic::Ordering;

impl Server {
    pub(super) fn status(&self) -> StatusInfo {
        let (panes, restoring) = {
            let st = self.lock();
            let restoring = st.panes.values().filter(|l| l.restoring).count();
            (st.panes.len() as u32, restoring as u32)
        };
        StatusInfo {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: quil_proto::PROTOCOL_VERSION,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            panes,
            clients: self.clients.load(Ordering::SeqCst),
            home: self.home.display().to_string(),
            restoring,
            adopting: self.adopting.load(Ordering::SeqCst),
        }
    }

    pub fn workspace_info(&self) -> WorkspaceInfo {
        let st = self.lock();
        let tabs = st
            .ws
            .tabs
            .iter()
            .map(|t| TabInfo {
                id: t.id,
                name: t.name.clone(),
                panes: t.layout.panes(),
                active_pane: t.active_pane,
                layout: t.layout.clone(),
                zoomed: t.zoomed,
            })
            .collect::<Vec<_>>();
        let mut panes = Vec::new();
        // Screens of panes with a state, for their last line: read under `state`, matched
        // against the plugins' chrome once it is let go (the two locks are never held together).
        let mut screens = Vec::new();
        for tab in &st.ws.tabs {
            for id in tab.layout.panes() {
                let (Some(meta), Some(live)) = (st.ws.pane(id), st.panes.get(&id)) else {
                    continue;
                };
                let p = &live.pane;
                let (cols, rows, title, live_cwd) = p.shared().info();
                let att = live.attention.as_ref();
                if att.is_some() {
                    screens.push((panes.len(), meta.clone(), p.shared().screen_text()));
                }
                panes.push(PaneInfo {
                    id,
                    tab_id: tab.id,
                    name: meta.name.clone(),
                    kind: meta.kind.clone(),
                    cwd: live_cwd.unwrap_or_else(|| meta.cwd.display().to_string()),
                    pid: p.pid(),
                    argv: p.argv().to_vec(),
                    alive: p.is_alive(),
                    exit_status: p.exit_status(),
                    cols,
                    rows,
                    title,
                    input_blocked: p.shared().input_blocked.load(Ordering::SeqCst),
                    state: att.map(|a| a.state),
                    state_detail: att.and_then(|a| a.detail.clone()),
                    state_since: att.map(|a| a.since),
                    error: p.error().map(str::to_string),
                    restored: live.restored,
                    worktree: meta.worktree.clone(),
                    last_line: None,
                    started: live.pending.is_none() && !live.restoring,
                    restoring: live.restoring,
                    eager: meta.eager,
                });
            }
        }
        let active_tab = st.ws.active_tab as u32;
        drop(st);
        let reg = self.plugins();
        for (i, meta, text) in screens {
            let chrome = crate::integration::plugin_for(&reg, &meta)
                .map_or(&[][..], |pl| &pl.integration.chrome[..]);
            panes[i].last_line = text
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty() && !chrome.iter().any(|c| c.regex.is_match(l)))
                .map(|l| l.chars().take(quil_proto::LAST_LINE_MAX).collect());
        }
        WorkspaceInfo {
            tabs,
            panes,
            active_tab,
            persist_error: self.persist_error(),
            restore_problem: self.restore_problem.get().cloned(),
        }
    }

    /// Every pane type, with its program looked for on `path` (else the daemon's `PATH`).
    pub fn pane_types(&self, path: Option<&str>) -> Vec<PaneTypeInfo> {
        let path = path
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let reg = self.plugins();
        reg.list()
            .into_iter()
            .map(|p| {
                let available = p.available_in(path.as_deref());
                PaneTypeInfo {
                    name: p.name.clone(),
                    display_name: p.display_name.clone(),
                    category: p.category.as_str().to_string(),
                    description: p.description.clone(),
                    available,
                    source: match &p.source {
                        quil_plugin::Source::Embedded(f) => format!("embedded:{f}"),
                        quil_plugin::Source::File(f) => f.display().to_string(),
                    },
                    prompts_cwd: p.command.prompts_cwd,
                    toggles: p
                        .command
                        .toggles
                        .iter()
                        .map(|t| (t.name.clone(), t.label.clone(), t.default, t.group.clone()))
                        .collect(),
                    fields: p
                        .command
                        .fields
                        .iter()
                        .map(|f| {
                            (
                                f.name.clone(),
                                f.label.clone(),
                                f.required,
                                f.default.clone(),
                            )
                        })
                        .collect(),
                    missing: (!available).then(|| p.missing_binary_error_in(path.as_deref())),
                }
            })
            .collect()
    }
}
