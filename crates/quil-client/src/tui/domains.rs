//! Several daemons in one client, as wezterm's domains: the local daemon and remotes (`quil
//! attach --also NAME`). The app sees one workspace, every daemon's tabs in turn; this module
//! merges what the daemons send and routes each request to the daemon that owns what it names
//! (pane and tab ids are random 32-bit numbers, so the daemons' ids do not meet). New tabs open
//! on the daemon of the active tab. No I/O here: the event loop owns the connections.

use quil_proto::{ErrorKind, ErrorReply, PaneId, Request, ServerMsg, TabId, WorkspaceInfo};
use std::collections::HashMap;

/// One daemon the client is attached to.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Where it lives, as the tab bar shows it: `local`, or the remote's name.
    pub label: String,
    /// On another machine: this client's environment and directories are not its panes'.
    pub remote: bool,
    /// Its workspace as last received (kept while it reconnects: its tabs stay shown).
    pub ws: WorkspaceInfo,
    /// Connected now.
    pub up: bool,
    /// It had no tab when first attached, and one was asked for.
    asked_first_tab: bool,
}

impl Domain {
    pub fn new(label: impl Into<String>, remote: bool) -> Domain {
        Domain {
            label: label.into(),
            remote,
            ws: WorkspaceInfo::default(),
            up: true,
            asked_first_tab: false,
        }
    }
}

/// The client's daemons; the first is the one `quil` (or `quil -r`) attached to.
#[derive(Debug)]
pub struct Domains {
    pub list: Vec<Domain>,
    /// Request ids as the app knows them, by (daemon, the id its connection used).
    ids: HashMap<(usize, u32), u32>,
    next_id: u32,
    /// The panes the app last asked to view, for a daemon that attaches again.
    view: Vec<PaneId>,
    /// Requests of the client's own for a daemon (a first tab), taken by the event loop.
    pub outbox: Vec<(usize, Request)>,
}

/// An app request id that was never handed out: its reply is treated as a plain one.
const UNKNOWN_ID: u32 = u32::MAX;

impl Domains {
    pub fn new(list: Vec<Domain>) -> Domains {
        Domains {
            list,
            ids: HashMap::new(),
            next_id: 1,
            view: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// More than one daemon: tabs say where they live.
    pub fn several(&self) -> bool {
        self.list.len() > 1
    }

    fn owner_of_pane(&self, pane: PaneId) -> Option<usize> {
        self.list
            .iter()
            .position(|d| d.ws.panes.iter().any(|p| p.id == pane))
    }

    fn owner_of_tab(&self, tab: TabId) -> Option<usize> {
        self.list
            .iter()
            .position(|d| d.ws.tabs.iter().any(|t| t.id == tab))
    }

    /// The daemon a request goes to, with the request as that daemon should get it. A view is
    /// split: each daemon hears of its own panes. What names nothing of a daemon's (a new tab,
    /// the pane types) goes to daemon `on` if given, else to the daemon of `active_tab`.
    pub fn route(
        &mut self,
        req: Request,
        active_tab: Option<TabId>,
        on: Option<usize>,
    ) -> Vec<(usize, Request)> {
        if !self.several() {
            // One daemon (the usual case): everything is its own, as it is.
            return vec![(0, req)];
        }
        let here = active_tab.and_then(|t| self.owner_of_tab(t)).unwrap_or(0);
        let tab_owner = |t: &str| {
            t.parse::<TabId>()
                .ok()
                .and_then(|t| self.owner_of_tab(t))
                .unwrap_or(here)
        };
        if let Request::View { panes } = &req {
            self.view = panes.clone();
            return (0..self.list.len()).map(|d| (d, self.view_of(d))).collect();
        }
        let d = match &req {
            r if r.pane().is_some() => r.pane().and_then(|p| self.owner_of_pane(p)),
            Request::KillTab { tab } | Request::RenameTab { tab, .. } => Some(tab_owner(tab)),
            Request::SetDivider { tab, .. } | Request::ToggleZoom { tab } => {
                self.owner_of_tab(*tab)
            }
            Request::NewTab { .. } | Request::PaneTypes { .. } => {
                Some(on.filter(|d| *d < self.list.len()).unwrap_or(here))
            }
            _ => Some(0),
        }
        .unwrap_or(here);
        let mut req = req;
        if self.list[d].remote {
            // This client's environment is for panes on this machine.
            match &mut req {
                Request::NewTab { spawn, .. } | Request::Split { spawn, .. } => {
                    spawn.client_env.clear()
                }
                Request::PaneTypes { path } => *path = None,
                _ => {}
            }
        }
        vec![(d, req)]
    }

    /// `View` for daemon `d`: the viewed panes that are its own.
    fn view_of(&self, d: usize) -> Request {
        let own = |p: &PaneId| self.list[d].ws.panes.iter().any(|i| i.id == *p);
        Request::View {
            panes: self.view.iter().copied().filter(own).collect(),
        }
    }

    /// A request went to daemon `d` under `conn_id`: the id the app knows it by.
    pub fn sent(&mut self, d: usize, conn_id: u32) -> u32 {
        let id = self.next_id;
        // Never UNKNOWN_ID, never 0.
        self.next_id = self.next_id.wrapping_add(1).clamp(1, UNKNOWN_ID - 1);
        self.ids.insert((d, conn_id), id);
        id
    }

    /// A request the app made cannot reach daemon `d` (it is reconnecting): the reply the
    /// app gets instead.
    pub fn unreachable(&self, d: usize, app_id: u32) -> ServerMsg {
        ServerMsg::Reply {
            id: app_id,
            result: Err(ErrorReply::new(
                ErrorKind::Unavailable,
                format!(
                    "{} is reconnecting; try again in a moment",
                    self.list[d].label
                ),
            )),
        }
    }

    /// A message from daemon `d`, as the app should see it (`None`: nothing for the app).
    pub fn on_msg(&mut self, d: usize, msg: ServerMsg) -> Option<ServerMsg> {
        match msg {
            // One daemon: its workspace is the app's, passed on without a copy.
            ServerMsg::Workspace(ws) if !self.several() => Some(ServerMsg::Workspace(ws)),
            ServerMsg::Workspace(ws) => {
                if d != 0 && ws.tabs.is_empty() && !self.list[d].asked_first_tab {
                    // Attaching to an empty daemon opens a shell there, as attaching to it
                    // alone would.
                    self.list[d].asked_first_tab = true;
                    self.outbox.push((
                        d,
                        Request::NewTab {
                            name: None,
                            spawn: Default::default(),
                        },
                    ));
                }
                let before: Vec<PaneId> = self.list[d].ws.panes.iter().map(|p| p.id).collect();
                self.list[d].ws = ws;
                // Viewed panes that are new here: this daemon must stream them too.
                if self.view.iter().any(|p| {
                    !before.contains(p) && self.list[d].ws.panes.iter().any(|i| i.id == *p)
                }) {
                    self.outbox.push((d, self.view_of(d)));
                }
                Some(ServerMsg::Workspace(self.merged()))
            }
            ServerMsg::Reply { id, result } => {
                let id = self.ids.remove(&(d, id)).unwrap_or(UNKNOWN_ID);
                Some(ServerMsg::Reply { id, result })
            }
            // A secondary daemon's goodbye is handled as its connection's end.
            ServerMsg::Bye(_) if d != 0 => None,
            ServerMsg::ConfigReloaded(_) if d != 0 => None,
            other => Some(other),
        }
    }

    /// Daemon `d` is connected again: what it needs to be told (the panes shown; with one
    /// daemon the app tells it itself).
    pub fn reattached(&mut self, d: usize) -> Option<Request> {
        self.list[d].up = true;
        self.ids.retain(|(dd, _), _| *dd != d);
        self.several().then(|| self.view_of(d))
    }

    /// Daemon `d` is lost: its replies will not come.
    pub fn lost(&mut self, d: usize) {
        self.list[d].up = false;
        self.ids.retain(|(dd, _), _| *dd != d);
    }

    /// Daemon `d` is gone for good: its tabs go.
    pub fn remove_tabs(&mut self, d: usize) -> ServerMsg {
        self.list[d].ws = WorkspaceInfo::default();
        self.list[d].asked_first_tab = true;
        ServerMsg::Workspace(self.merged())
    }

    /// Every daemon's workspace as one: the first daemon's tabs, then each other's. The first
    /// daemon's active tab is the active one; problems of the others name them.
    pub fn merged(&self) -> WorkspaceInfo {
        let mut all = self.list[0].ws.clone();
        for d in &self.list[1..] {
            all.tabs.extend(d.ws.tabs.iter().cloned());
            all.panes.extend(d.ws.panes.iter().cloned());
            let named = |why: &Option<String>| why.as_ref().map(|w| format!("{}: {w}", d.label));
            all.persist_error = all.persist_error.or_else(|| named(&d.ws.persist_error));
            all.restore_problem = all.restore_problem.or_else(|| named(&d.ws.restore_problem));
        }
        all
    }

    /// Where each tab lives, for the tab bar (empty with one daemon); a daemon that is
    /// reconnecting says so on each of its tabs.
    pub fn tab_labels(&self) -> HashMap<TabId, (usize, String)> {
        if !self.several() {
            return HashMap::new();
        }
        self.list
            .iter()
            .enumerate()
            .flat_map(|(i, d)| {
                let label = if d.up {
                    d.label.clone()
                } else {
                    format!("{} (reconnecting)", d.label)
                };
                d.ws.tabs.iter().map(move |t| (t.id, (i, label.clone())))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::tests::{pane_info, tab};
    use quil_model::Layout;
    use quil_proto::SpawnSpec;

    fn ws(tab_id: u32, pane: u32) -> WorkspaceInfo {
        WorkspaceInfo {
            tabs: vec![tab(tab_id, "t", Layout::Pane(PaneId(pane)))],
            panes: vec![pane_info(pane, tab_id, "p")],
            ..Default::default()
        }
    }

    fn two() -> Domains {
        let mut d = Domains::new(vec![Domain::new("local", false), Domain::new("box", true)]);
        d.on_msg(0, ServerMsg::Workspace(ws(1, 10)));
        d.on_msg(1, ServerMsg::Workspace(ws(2, 20)));
        d
    }

    #[test]
    fn tabs_of_both_daemons_are_one_workspace_and_requests_go_to_their_owner() {
        let mut d = two();
        let merged = d.merged();
        assert_eq!(
            merged.tabs.iter().map(|t| t.id).collect::<Vec<_>>(),
            [TabId(1), TabId(2)]
        );
        assert_eq!(d.tab_labels()[&TabId(2)], (1, "box".to_string()));
        d.lost(1);
        assert_eq!(d.tab_labels()[&TabId(2)].1, "box (reconnecting)");
        assert_eq!(d.tab_labels()[&TabId(1)], (0, "local".to_string()));
        d.reattached(1);
        assert_eq!(d.tab_labels()[&TabId(2)].1, "box");
        let input = |p| Request::Input {
            pane: PaneId(p),
            data: b"x".to_vec(),
        };
        assert_eq!(d.route(input(20), Some(TabId(1)), None)[0].0, 1);
        assert_eq!(d.route(input(10), Some(TabId(2)), None)[0].0, 0);
        let rename = Request::RenameTab {
            tab: TabId(2).to_string(),
            name: "n".into(),
        };
        assert_eq!(d.route(rename, None, None)[0].0, 1);
        // A new tab opens where the active tab lives, without this machine's environment.
        let new_tab = Request::NewTab {
            name: None,
            spawn: SpawnSpec {
                client_env: vec!["PATH=/here".into()],
                ..Default::default()
            },
        };
        match d.route(new_tab.clone(), Some(TabId(2)), None).as_slice() {
            [(1, Request::NewTab { spawn, .. })] => assert!(spawn.client_env.is_empty()),
            other => panic!("{other:?}"),
        }
        match d.route(new_tab.clone(), Some(TabId(1)), None).as_slice() {
            [(0, Request::NewTab { spawn, .. })] => assert_eq!(spawn.client_env.len(), 1),
            other => panic!("{other:?}"),
        }
        // Unless asked for on another daemon (the picker's "new tab on box").
        match d.route(new_tab, Some(TabId(1)), Some(1)).as_slice() {
            [(1, Request::NewTab { spawn, .. })] => assert!(spawn.client_env.is_empty()),
            other => panic!("{other:?}"),
        }
        // A remote's pane types are looked for on its own PATH.
        let types = Request::PaneTypes {
            path: Some("/here".into()),
        };
        assert_eq!(
            d.route(types.clone(), Some(TabId(1)), Some(1)),
            [(1, Request::PaneTypes { path: None })]
        );
        assert_eq!(d.route(types.clone(), Some(TabId(1)), None), [(0, types)]);
    }

    #[test]
    fn a_view_is_split_and_replies_come_back_under_the_apps_ids() {
        let mut d = two();
        let routes = d.route(
            Request::View {
                panes: vec![PaneId(10), PaneId(20)],
            },
            None,
            None,
        );
        assert_eq!(
            routes,
            [
                (
                    0,
                    Request::View {
                        panes: vec![PaneId(10)]
                    }
                ),
                (
                    1,
                    Request::View {
                        panes: vec![PaneId(20)]
                    }
                ),
            ]
        );
        // Both connections number their requests alike; the app's ids differ.
        let a = d.sent(0, 0x8000_0001);
        let b = d.sent(1, 0x8000_0001);
        assert_ne!(a, b);
        let reply = |id| ServerMsg::Reply {
            id,
            result: Ok(quil_proto::Reply::Ok),
        };
        assert_eq!(d.on_msg(1, reply(0x8000_0001)), Some(reply(b)));
        assert_eq!(d.on_msg(0, reply(0x8000_0001)), Some(reply(a)));
        // A reconnected daemon is told again which of its panes are shown.
        d.lost(1);
        assert!(!d.list[1].up);
        assert_eq!(
            d.reattached(1),
            Some(Request::View {
                panes: vec![PaneId(20)]
            })
        );
    }

    #[test]
    fn with_one_daemon_everything_passes_through() {
        let mut d = Domains::new(vec![Domain::new("local", false)]);
        let view = Request::View {
            panes: vec![PaneId(10)],
        };
        assert_eq!(d.route(view.clone(), None, None), [(0, view)]);
        let ws = ServerMsg::Workspace(ws(1, 10));
        assert_eq!(d.on_msg(0, ws.clone()), Some(ws));
        assert!(d.tab_labels().is_empty());
        assert_eq!(d.reattached(0), None);
    }

    #[test]
    fn an_empty_second_daemon_gets_a_first_tab_and_a_gone_one_loses_its_tabs() {
        let mut d = Domains::new(vec![Domain::new("local", false), Domain::new("box", true)]);
        d.on_msg(0, ServerMsg::Workspace(ws(1, 10)));
        d.on_msg(1, ServerMsg::Workspace(WorkspaceInfo::default()));
        assert!(matches!(d.outbox.as_slice(), [(1, Request::NewTab { .. })]));
        d.on_msg(1, ServerMsg::Workspace(ws(2, 20)));
        assert_eq!(d.merged().tabs.len(), 2);
        match d.remove_tabs(1) {
            ServerMsg::Workspace(ws) => assert_eq!(ws.tabs.len(), 1),
            other => panic!("{other:?}"),
        }
        // The first daemon empty, another's tab shown: the app's first tab (asked for on
        // daemon 0) opens there, not where the active tab lives.
        let mut d = Domains::new(vec![Domain::new("local", false), Domain::new("box", true)]);
        d.on_msg(0, ServerMsg::Workspace(WorkspaceInfo::default()));
        d.on_msg(1, ServerMsg::Workspace(ws(2, 20)));
        let first = Request::NewTab {
            name: None,
            spawn: Default::default(),
        };
        assert_eq!(
            d.route(first.clone(), Some(TabId(2)), Some(0)),
            [(0, first)]
        );
        // A secondary daemon's goodbye is not the client's.
        assert_eq!(d.on_msg(1, ServerMsg::Bye("stopping".into())), None);
        assert!(d.on_msg(0, ServerMsg::Bye("stopping".into())).is_some());
    }
}
