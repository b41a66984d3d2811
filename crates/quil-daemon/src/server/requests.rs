//! One request, one change: the daemon's verbs, each answered with a typed error naming the
//! thing when it fails.

use super::{valid_name, Server};
use crate::error::{Error, Result};
use quil_proto::{EventKind, Reply, Request};
use std::sync::Arc;

impl Server {
    /// Handles one request.
    pub fn handle(&self, req: Request) -> Result<Reply> {
        if let Some(pane) = super::pane_needed(&req).filter(|p| self.is_restoring(*p)) {
            return Err(Error::Restoring(pane));
        }
        match req {
            Request::Status => Ok(Reply::Status(self.status())),
            Request::ReloadConfig { apply } => Ok(Reply::Text(self.reload_config(apply))),
            Request::Start { pane } => {
                self.start_pending(pane)?;
                Ok(Reply::Ok)
            }
            Request::SetEager { pane, eager } => {
                self.lock()
                    .ws
                    .pane_mut(pane)
                    .ok_or(Error::UnknownPane(pane))?
                    .eager = eager;
                self.changed();
                Ok(Reply::Ok)
            }
            Request::List => Ok(Reply::List(self.workspace_info())),
            Request::NewTab { name, spawn } => self.new_tab(name, spawn).map(Reply::Pane),
            Request::Split { pane, dir, spawn } => self.split(pane, dir, spawn).map(Reply::Pane),
            Request::Input { pane, data } => {
                self.running(pane)?.write_input(data)?;
                self.seen(pane);
                Ok(Reply::Ok)
            }
            Request::Prompt { pane, text } => {
                self.running(pane)?.prompt(&text)?;
                self.seen(pane);
                Ok(Reply::Ok)
            }
            Request::Fork { pane, worktree } => self.fork(pane, worktree).map(Reply::Pane),
            Request::SendKeys { pane, keys } => {
                let p = self.running(pane)?;
                let app_cursor = p.shared().modes() & quil_proto::modes::APP_CURSOR != 0;
                let mut data = Vec::new();
                for k in &keys {
                    data.extend(quil_proto::keys::encode_key(k, app_cursor));
                }
                p.write_input(data)?;
                self.seen(pane);
                Ok(Reply::Ok)
            }
            Request::Capture {
                pane,
                scrollback,
                ansi,
                without_chrome,
            } => {
                // Within a frame, with room for the rest of the reply.
                let budget = quil_proto::MAX_FRAME - 64 * 1024;
                let mut lines = self
                    .pane(pane)?
                    .shared()
                    .capture(scrollback as usize, ansi, budget)
                    .map_err(|t| {
                        let (max, fit) = (quil_proto::MAX_FRAME >> 20, t.history_lines);
                        Error::Invalid(format!(
                            "the capture of pane {pane} would be over the {max} MiB message limit; at most {fit} lines of scrollback fit (ask with --scrollback {fit} or less)"
                        ))
                    })?;
                if without_chrome {
                    self.drop_chrome(pane, &mut lines)?;
                }
                Ok(Reply::Text(lines))
            }
            Request::Scrollback {
                pane,
                offset,
                count,
            } => {
                let count = (count as usize).min(10_000);
                let (lines, total) = self.pane(pane)?.shared().scrollback(offset as usize, count);
                Ok(Reply::Scrollback {
                    lines,
                    total: total as u32,
                })
            }
            Request::Worktree { pane, op } => self.worktree(pane, op),
            Request::Respawn { pane } => {
                // A pane waiting to start starts as restored (resuming its conversation).
                if !self.start_pending(pane)? {
                    self.respawn(pane)?;
                }
                self.seen(pane);
                Ok(Reply::Ok)
            }
            Request::Resize { pane, cols, rows } => {
                self.pane(pane)?.resize(cols, rows)?;
                self.changed();
                Ok(Reply::Ok)
            }
            Request::KillPane { pane } => {
                let p = {
                    let mut st = self.lock();
                    st.meta(pane)?;
                    self.remove_pane_locked(&mut st, pane)
                };
                if let Some(p) = p {
                    p.hangup();
                }
                self.changed();
                Ok(Reply::Ok)
            }
            Request::KillTab { tab } => {
                let removed: Vec<Arc<dyn crate::pane::Pane>> = {
                    let mut st = self.lock();
                    let i = st.ws.find_tab(&tab)?;
                    let tab = st.ws.tabs[i].id;
                    let ids = st.ws.remove_tab(i);
                    for id in &ids {
                        self.emit(Some(*id), Some(tab), EventKind::PaneClosed);
                    }
                    self.emit(None, Some(tab), EventKind::TabClosed);
                    ids.iter()
                        .filter_map(|id| st.panes.remove(id))
                        .map(|l| l.pane)
                        .collect()
                };
                for p in removed {
                    p.hangup();
                }
                self.changed();
                Ok(Reply::Ok)
            }
            Request::RenameTab { tab, name } => {
                let name = valid_name("tab", &name)?;
                let mut st = self.lock();
                let i = st.ws.find_tab(&tab)?;
                st.ws.tabs[i].name = name.clone();
                self.emit(None, Some(st.ws.tabs[i].id), EventKind::TabRenamed { name });
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::RenamePane { pane, name } => {
                let name = valid_name("pane", &name)?;
                let mut st = self.lock();
                st.ws.pane_mut(pane).ok_or(Error::UnknownPane(pane))?.name = name.clone();
                self.emit_pane(&st, pane, EventKind::PaneRenamed { name });
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::Focus { pane } => {
                let mut st = self.lock();
                st.ws.focus(pane)?;
                self.emit_pane(&st, pane, EventKind::PaneFocused);
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::SetDivider {
                tab,
                path,
                area,
                pos,
            } => {
                let mut st = self.lock();
                if !st.tab_mut(tab)?.layout.set_divider(&path, area, pos) {
                    return Err(Error::NoSuchDivider(tab));
                }
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::SwapPane { a, b } => {
                let mut st = self.lock();
                st.ws.swap_panes(a, b)?;
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::MovePane { pane, to } => {
                let mut st = self.lock();
                match to {
                    quil_proto::MoveTo::Split { target, dir } => {
                        st.ws.join_pane(pane, target, dir)?
                    }
                    quil_proto::MoveTo::NewTab { name } => {
                        let name = match name {
                            Some(n) => valid_name("tab", &n)?,
                            None => st
                                .ws
                                .pane(pane)
                                .map(|m| m.name.clone())
                                .ok_or(Error::UnknownPane(pane))?,
                        };
                        let (_, tab) = Self::fresh_ids_in(&st);
                        st.ws.break_pane(pane, tab, name)?;
                    }
                }
                self.emit_pane(&st, pane, EventKind::PaneFocused);
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::ResizeSplit { pane, dir, size } => {
                let mut st = self.lock();
                let ti = st.ws.tab_of(pane).ok_or(Error::UnknownPane(pane))?;
                // The pane's terminal size now (the last client's layout).
                let (cols, rows) = st
                    .panes
                    .get(&pane)
                    .map(|live| live.pane.shared().size())
                    .ok_or(Error::UnknownPane(pane))?;
                let layout = &mut st.ws.tabs[ti].layout;
                let Some(dir) = dir.or_else(|| layout.parent_dir(pane)) else {
                    return Err(Error::Invalid(format!(
                        "{pane} is alone in its tab: no split to resize"
                    )));
                };
                let Some(share) = layout.share(pane, dir) else {
                    return Err(Error::Invalid(format!(
                        "no {} split holds {pane}",
                        match dir {
                            quil_model::SplitDir::Horizontal => "side-by-side",
                            quil_model::SplitDir::Vertical => "top/bottom",
                        }
                    )));
                };
                // The pane's cells plus its border, over its share: the split's size.
                let extent = f32::from(match dir {
                    quil_model::SplitDir::Horizontal => cols,
                    quil_model::SplitDir::Vertical => rows,
                }) + 2.0;
                let grown = |n: i32| (extent + n as f32) / (extent / share.max(0.01));
                let new = match size {
                    quil_proto::SplitSize::Percent(p) => f32::from(p) / 100.0,
                    quil_proto::SplitSize::Cells(n) => grown(n),
                    // Toward the end grows the first side, wherever the pane is now.
                    quil_proto::SplitSize::Divider(n) => match layout.in_first(pane, dir) {
                        Some(true) => grown(n),
                        _ => grown(-n),
                    },
                };
                layout.set_share(pane, dir, new);
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::ToggleZoom { tab } => {
                let mut st = self.lock();
                let t = st.tab_mut(tab)?;
                t.zoomed = !t.zoomed;
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::PaneTypes { path } => Ok(Reply::PaneTypes(self.pane_types(path.as_deref()))),
            // Handled by the connection (they concern the client, not the workspace).
            Request::Attach | Request::View { .. } | Request::Events { .. } | Request::Shutdown => {
                Ok(Reply::Ok)
            }
        }
    }
}
