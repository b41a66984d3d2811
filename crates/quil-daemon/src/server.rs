//! The daemon's state (workspace model and live panes) and request handling.
//!
//! One `std::sync::Mutex` guards the workspace and the pane table. Requests are short and never
//! wait on I/O under it; the heavy paths (PTY reads, screen diffs, socket writes) take only
//! their pane's own lock or none.

use crate::config::{Config, ExitPolicy};
use crate::pane::{Pane, PaneEvents, SpawnArgs};
use quil_model::{PaneMeta, SplitDir, TabId, Workspace};
use quil_proto::{
    PaneId, PaneInfo, PaneTypeInfo, Reply, Request, SpawnSpec, StatusInfo, TabInfo, WorkspaceInfo,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// History lines (besides the screen) that `[[persistence.scrape]]` rules look at: enough for
/// an id printed at start to be found after a screenful or two of output.
const SCRAPE_HISTORY: usize = 200;

/// Wake-ups shared by every pane thread and client task.
pub struct Signals {
    /// Bumped when some pane's screen became dirty.
    pub screen: watch::Sender<u64>,
    /// Bumped when the workspace structure or any pane's metadata changed.
    pub meta: watch::Sender<u64>,
    pub clipboard: broadcast::Sender<String>,
    pub exits: mpsc::UnboundedSender<(PaneId, i32)>,
}

impl PaneEvents for Signals {
    fn screen_dirty(&self) {
        self.screen.send_modify(|v| *v = v.wrapping_add(1));
    }
    fn meta_changed(&self) {
        self.meta.send_modify(|v| *v = v.wrapping_add(1));
    }
    fn exited(&self, pane: PaneId, status: i32) {
        let _ = self.exits.send((pane, status));
    }
    fn clipboard(&self, text: String) {
        let _ = self.clipboard.send(text);
    }
}

/// A pane's argv and the extra environment its type needs.
type Launch = (Vec<String>, Vec<(String, String)>);

pub struct State {
    pub ws: Workspace,
    pub panes: HashMap<PaneId, Arc<Pane>>,
}

pub struct Server {
    pub home: PathBuf,
    pub config: Config,
    pub signals: Arc<Signals>,
    state: Mutex<State>,
    started: Instant,
    pub clients: AtomicU32,
    pub shutdown: watch::Sender<bool>,
    /// Set once a clean stop begins: exits no longer close panes, so the final snapshot keeps
    /// them.
    pub stopping: AtomicBool,
    /// Serializes snapshot writes.
    save_lock: Mutex<()>,
    last_saved: Mutex<String>,
    /// Output generation of each pane's last saved scrollback.
    buffer_gens: Mutex<HashMap<PaneId, u64>>,
    /// Panes brought back by a restore (shown as such).
    restored: Mutex<std::collections::HashSet<PaneId>>,
    /// Pane types: the embedded defaults plus `$QUIL_HOME/plugins/`, reloaded on change.
    plugins: std::sync::RwLock<quil_plugin::Registry>,
    attention: Mutex<HashMap<PaneId, crate::attention::Attention>>,
    /// For `session_scrape` panes: the output generation last scraped.
    scraped: Mutex<HashMap<PaneId, u64>>,
    /// The panes each attached connection shows.
    views: Mutex<HashMap<u64, Vec<PaneId>>>,
}

impl Server {
    pub fn new(
        home: PathBuf,
        config: Config,
        exits: mpsc::UnboundedSender<(PaneId, i32)>,
    ) -> Arc<Server> {
        let signals = Arc::new(Signals {
            screen: watch::channel(0).0,
            meta: watch::channel(0).0,
            clipboard: broadcast::channel(16).0,
            exits,
        });
        Arc::new(Server {
            home,
            config,
            signals,
            state: Mutex::new(State {
                ws: Workspace::default(),
                panes: HashMap::new(),
            }),
            started: Instant::now(),
            clients: AtomicU32::new(0),
            shutdown: watch::channel(false).0,
            stopping: AtomicBool::new(false),
            save_lock: Mutex::new(()),
            last_saved: Mutex::new(String::new()),
            buffer_gens: Mutex::new(HashMap::new()),
            restored: Mutex::new(Default::default()),
            plugins: std::sync::RwLock::new(quil_plugin::Registry::default()),
            attention: Mutex::new(HashMap::new()),
            scraped: Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pane(&self, id: PaneId) -> Result<Arc<Pane>, String> {
        self.lock()
            .panes
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("unknown pane {id}"))
    }

    /// Tells attached clients (and the saver) that the workspace or some pane's metadata
    /// changed.
    pub fn changed(&self) {
        self.signals.meta_changed();
    }

    /// Handles one request. Errors are one-line reasons naming the thing.
    pub fn handle(&self, req: Request) -> Result<Reply, String> {
        match req {
            Request::Status => Ok(Reply::Status(self.status())),
            Request::List => Ok(Reply::List(self.workspace_info())),
            Request::NewTab { name, spawn } => self.new_tab(name, spawn).map(Reply::Pane),
            Request::Split { pane, dir, spawn } => self.split(pane, dir, spawn).map(Reply::Pane),
            Request::Input { pane, data } => {
                self.pane(pane)?.write_input(data)?;
                self.seen(pane);
                Ok(Reply::Ok)
            }
            Request::SendKeys { pane, keys } => {
                let p = self.pane(pane)?;
                let app_cursor = p.shared.lock().term.modes() & quil_proto::modes::APP_CURSOR != 0;
                let mut data = Vec::new();
                for k in &keys {
                    data.extend(quil_proto::keys::encode_key(k, app_cursor));
                }
                p.write_input(data)?;
                Ok(Reply::Ok)
            }
            Request::Capture {
                pane,
                scrollback,
                ansi,
            } => {
                let p = self.pane(pane)?;
                let st = p.shared.lock();
                let n = (scrollback as usize).min(st.term.scrollback_len());
                let mut lines = st.term.scrollback(0, n);
                lines.extend(st.term.lines());
                let render = |l: &quil_proto::Line| if ansi { l.ansi() } else { l.text() };
                Ok(Reply::Text(lines.iter().map(render).collect()))
            }
            Request::Scrollback {
                pane,
                offset,
                count,
            } => {
                let p = self.pane(pane)?;
                let st = p.shared.lock();
                let total = st.term.scrollback_len();
                let count = (count as usize).min(10_000);
                Ok(Reply::Scrollback {
                    lines: st.term.scrollback(offset as usize, count),
                    total: total as u32,
                })
            }
            Request::Worktree { pane, op } => self.worktree(pane, op),
            Request::Respawn { pane } => {
                self.respawn(pane)?;
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
                    st.ws.remove_pane(pane).map_err(|e| e.to_string())?;
                    st.panes.remove(&pane)
                };
                if let Some(p) = p {
                    p.hangup();
                }
                self.changed();
                Ok(Reply::Ok)
            }
            Request::KillTab { tab } => {
                let removed: Vec<Arc<Pane>> = {
                    let mut st = self.lock();
                    let i = st.ws.find_tab(&tab).map_err(|e| e.to_string())?;
                    let ids = st.ws.remove_tab(i);
                    ids.iter().filter_map(|id| st.panes.remove(id)).collect()
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
                let i = st.ws.find_tab(&tab).map_err(|e| e.to_string())?;
                st.ws.tabs[i].name = name;
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::RenamePane { pane, name } => {
                let name = valid_name("pane", &name)?;
                let mut st = self.lock();
                st.ws
                    .pane_mut(pane)
                    .ok_or_else(|| format!("unknown pane {pane}"))?
                    .name = name;
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::Focus { pane } => {
                self.lock().ws.focus(pane).map_err(|e| e.to_string())?;
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
                let t = tab_mut(&mut st.ws, tab)?;
                if !t.layout.set_divider(&path, area, pos) {
                    return Err(format!("no split at that position in {tab}"));
                }
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::ToggleZoom { tab } => {
                let mut st = self.lock();
                let t = tab_mut(&mut st.ws, tab)?;
                t.zoomed = !t.zoomed;
                drop(st);
                self.changed();
                Ok(Reply::Ok)
            }
            Request::PaneTypes => Ok(Reply::PaneTypes(self.pane_types())),
            // Handled by the connection (they concern the client, not the workspace).
            Request::Attach | Request::View { .. } | Request::Shutdown => Ok(Reply::Ok),
        }
    }

    fn status(&self) -> StatusInfo {
        StatusInfo {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: quil_proto::PROTOCOL_VERSION,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            panes: self.lock().panes.len() as u32,
            clients: self.clients.load(Ordering::SeqCst),
            home: self.home.display().to_string(),
        }
    }

    pub fn workspace_info(&self) -> WorkspaceInfo {
        let restored = self
            .restored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let attention = self
            .attention
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
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
        for tab in &st.ws.tabs {
            for id in tab.layout.panes() {
                let (Some(meta), Some(p)) = (st.ws.pane(id), st.panes.get(&id)) else {
                    continue;
                };
                let (cols, rows, title, live_cwd) = {
                    let ts = p.shared.lock();
                    let (c, r) = ts.term.size();
                    (
                        c,
                        r,
                        ts.term.title().to_string(),
                        ts.term.cwd().map(str::to_string),
                    )
                };
                panes.push(PaneInfo {
                    id,
                    tab_id: tab.id,
                    name: meta.name.clone(),
                    kind: meta.kind.clone(),
                    cwd: live_cwd.unwrap_or_else(|| meta.cwd.display().to_string()),
                    pid: p.pid,
                    argv: p.argv.clone(),
                    alive: p.is_alive(),
                    exit_status: p.exit_status(),
                    cols,
                    rows,
                    title,
                    input_blocked: p.shared.input_blocked.load(Ordering::SeqCst),
                    state: attention.get(&id).map_or("idle", |a| a.state).into(),
                    error: p.error.clone(),
                    restored: restored.contains(&id),
                    worktree: meta.worktree.clone(),
                });
            }
        }
        WorkspaceInfo {
            tabs,
            panes,
            active_tab: st.ws.active_tab as u32,
        }
    }

    fn fresh_ids(st: &State) -> (PaneId, TabId) {
        loop {
            let r = random_u64();
            let pane = PaneId(r as u32);
            let tab = TabId((r >> 32) as u32);
            if st.ws.pane(pane).is_none() && !st.ws.tabs.iter().any(|t| t.id == tab) {
                return (pane, tab);
            }
        }
    }

    /// Metadata for a new pane from a spawn request (nothing is started yet). Checks the pane
    /// type exists, its binary is installed and its arguments resolve.
    fn new_meta(
        &self,
        id: PaneId,
        spec: &SpawnSpec,
        default_cwd: Option<PathBuf>,
    ) -> Result<PaneMeta, String> {
        // Checked first, so a bad name leaves no worktree or process behind.
        let name = spec
            .name
            .as_deref()
            .map(|n| valid_name("pane", n))
            .transpose()?;
        let cwd = match &spec.cwd {
            Some(c) => PathBuf::from(c),
            None => default_cwd.unwrap_or_else(home_dir),
        };
        if !cwd.is_dir() {
            return Err(format!("directory {} does not exist", cwd.display()));
        }
        for kv in &spec.env {
            if !kv.contains('=') {
                return Err(format!("environment entry {kv:?} is not KEY=VALUE"));
            }
        }
        let mut meta = PaneMeta {
            id,
            cwd,
            env: spec.env.clone(),
            cols: self.config.default_cols,
            rows: self.config.default_rows,
            ..Default::default()
        };
        match &spec.kind {
            // A bare command: run exactly that.
            None if !spec.command.is_empty() => {
                meta.kind = "terminal".into();
                meta.command = spec.command.clone();
            }
            kind => {
                let kind = kind.clone().unwrap_or_else(|| "terminal".into());
                let plugin = self.plugin(&kind)?;
                if !plugin.available() {
                    return Err(plugin.missing_binary_error());
                }
                meta.kind = kind;
                meta.extra_args = spec.command.clone();
                meta.toggles = spec.toggles.iter().cloned().collect();
                meta.fields = spec.fields.iter().cloned().collect();
                meta.plugin_state = plugin.initial_state();
            }
        }
        // Checked (and the pane named) before a worktree is made for it.
        let (argv, _) = self.plain_command(&meta, quil_plugin::Mode::Start)?;
        if spec.worktree {
            let wt = quil_worktree::create(&meta.cwd, &meta.kind).map_err(|e| e.to_string())?;
            tracing::info!(pane = %id, path = %wt.path.display(), branch = %wt.branch, "worktree created");
            meta.cwd = wt.path.clone();
            meta.worktree = Some(wt);
        }
        meta.name = name.unwrap_or_else(|| {
            Path::new(&argv[0])
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| meta.kind.clone())
        });
        Ok(meta)
    }

    fn plugin(&self, kind: &str) -> Result<quil_plugin::Plugin, String> {
        let reg = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        reg.get(kind).cloned().ok_or_else(|| {
            let known: Vec<&str> = reg.list().iter().map(|p| p.name.as_str()).collect();
            format!("unknown pane type {kind:?} (known: {})", known.join(", "))
        })
    }

    /// Replaces the pane types with what `dir` holds now; returns the problems found.
    pub fn load_plugins(&self, dir: &Path) -> Vec<quil_plugin::Diagnostic> {
        let (reg, diags) = quil_plugin::Registry::load(dir);
        *self.plugins.write().unwrap_or_else(|e| e.into_inner()) = reg;
        diags
    }

    /// What to run for a pane: its explicit command, or its type's, for a start or a resume.
    fn command_for(&self, meta: &PaneMeta, mode: quil_plugin::Mode) -> Result<Launch, String> {
        let (mut argv, mut env) = self.plain_command(meta, mode)?;
        // A bare `opencode` or `claude` command is an AI pane too.
        if let Some(kind) = crate::ai::kind_of(&argv) {
            let (args, extra) = crate::ai::spawn_extras(&self.home, meta, kind)?;
            argv.extend(args);
            env.extend(extra);
        }
        // A plain shell gets quil's integration, which reports its cwd.
        let shell = self.config.shell();
        if meta.command.is_empty() && argv == [shell.clone()] {
            let (argv, mut shell_env) = crate::shellinit::shell_command(&self.home, &shell);
            shell_env.extend(env);
            return Ok((argv, shell_env));
        }
        Ok((argv, env))
    }

    /// The pane's command line from its explicit command or its type, without what quil adds
    /// around it (AI settings files, shell integration): enough to check it and to name the
    /// pane, and writes nothing.
    fn plain_command(&self, meta: &PaneMeta, mode: quil_plugin::Mode) -> Result<Launch, String> {
        if !meta.command.is_empty() {
            return Ok((meta.command.clone(), Vec::new()));
        }
        let plugin = self.plugin(&meta.kind)?;
        let shell = self.config.shell();
        let pane_id = meta.id.to_string();
        let cwd = meta.cwd.display().to_string();
        let ctx = quil_plugin::SpawnContext {
            state: &meta.plugin_state,
            fields: &meta.fields,
            toggles: &meta.toggles,
            extra_args: &meta.extra_args,
            ..quil_plugin::SpawnContext::new(mode, &pane_id, &cwd, &shell)
        };
        let built = quil_plugin::build_argv(&plugin, &ctx)?;
        Ok((built.argv, built.env))
    }

    /// The AI CLI a pane runs, judged by its program (its explicit command's, or its type's
    /// `cmd`), if any.
    fn ai_kind(&self, meta: &PaneMeta) -> Option<quil_ai::Kind> {
        ai_kind_in(
            &self.plugins.read().unwrap_or_else(|e| e.into_inner()),
            meta,
        )
    }

    /// How a saved pane comes back: `None` when its type says not to restore it.
    fn restore_mode(&self, meta: &PaneMeta) -> Option<quil_plugin::Mode> {
        if !meta.command.is_empty() {
            return Some(quil_plugin::Mode::Start); // rerun
        }
        match self.with_plugin(&meta.kind, |p| p.persistence.strategy.restore()) {
            Some(r) => r.restored.then_some(if r.uses_resume_args {
                quil_plugin::Mode::Resume
            } else {
                quil_plugin::Mode::Start
            }),
            // Unknown type (its plugin file was removed): restore it as a failed pane.
            None => Some(quil_plugin::Mode::Start),
        }
    }

    /// Whether a pane's scrollback is saved and restored (its type's `scrollback`).
    fn keeps_scrollback(&self, meta: &PaneMeta) -> bool {
        !meta.command.is_empty()
            || self
                .with_plugin(&meta.kind, |p| p.persistence.scrollback)
                .unwrap_or(true)
    }

    /// `f` of the pane type `kind`, read in place (the saver asks for every pane, every few
    /// seconds: no copy of the plugin); `None` when there is no such type.
    fn with_plugin<T>(&self, kind: &str, f: impl FnOnce(&quil_plugin::Plugin) -> T) -> Option<T> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .map(f)
    }

    pub fn pane_types(&self) -> Vec<PaneTypeInfo> {
        let reg = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        reg.list()
            .into_iter()
            .map(|p| {
                let available = p.available();
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
                    missing: (!available).then(|| p.missing_binary_error()),
                }
            })
            .collect()
    }

    fn spawn_args(
        &self,
        meta: &PaneMeta,
        argv: Vec<String>,
        extra: Vec<(String, String)>,
        preamble: Vec<u8>,
    ) -> SpawnArgs {
        let mut env = vec![
            ("TERM".to_string(), "xterm-256color".to_string()),
            ("COLORTERM".to_string(), "truecolor".to_string()),
            ("TERM_PROGRAM".to_string(), "quil".to_string()),
            (
                quil_proto::paths::ENV_PANE_ID.to_string(),
                meta.id.to_string(),
            ),
            (
                quil_proto::paths::ENV_HOME.to_string(),
                self.home.display().to_string(),
            ),
        ];
        env.extend(extra);
        env.extend(
            meta.env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let or = |v: u16, d: u16| if v == 0 { d } else { v };
        SpawnArgs {
            id: meta.id,
            argv,
            cwd: meta.cwd.clone(),
            env,
            cols: or(meta.cols, self.config.default_cols),
            rows: or(meta.rows, self.config.default_rows),
            scrollback_bytes: self.config.scrollback_bytes,
            preamble,
        }
    }

    /// Starts a pane's process. A pane that cannot start becomes a placeholder showing why
    /// when `keep_failed` (restores never drop a pane); otherwise the error is returned.
    fn start_pane(
        &self,
        meta: &PaneMeta,
        mode: quil_plugin::Mode,
        preamble: Vec<u8>,
        keep_failed: bool,
    ) -> Result<Arc<Pane>, String> {
        let (argv, extra) = match self.command_for(meta, mode) {
            Ok(c) => c,
            Err(e) if keep_failed => {
                let argv = if meta.command.is_empty() {
                    vec![meta.kind.clone()]
                } else {
                    meta.command.clone()
                };
                let args = self.spawn_args(meta, argv, Vec::new(), preamble);
                return Ok(Pane::failed(args, &e));
            }
            Err(e) => return Err(e),
        };
        let args = self.spawn_args(meta, argv.clone(), extra.clone(), preamble.clone());
        match Pane::spawn(args, self.signals.clone()) {
            Ok(p) => Ok(p),
            Err(e) if keep_failed => {
                tracing::warn!(pane = %meta.id, "cannot start: {e}");
                let args = self.spawn_args(meta, argv, extra, preamble);
                Ok(Pane::failed(args, &e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn new_tab(&self, name: Option<String>, spec: SpawnSpec) -> Result<PaneId, String> {
        // Checked before anything starts, so a bad name leaves nothing behind.
        let name = name.map(|n| valid_name("tab", &n)).transpose()?;
        let (pid, tid) = Self::fresh_ids(&self.lock());
        let meta = self.new_meta(pid, &spec, None)?;
        let pane = self
            .start_pane(&meta, quil_plugin::Mode::Start, Vec::new(), false)
            .inspect_err(|_| discard_worktree(&meta))?;
        let mut st = self.lock();
        let tab_name = name.unwrap_or_else(|| meta.name.clone());
        st.ws
            .add_tab(tid, tab_name, meta)
            .map_err(|e| e.to_string())?;
        st.panes.insert(pid, pane);
        drop(st);
        self.changed();
        Ok(pid)
    }

    pub fn split(&self, target: PaneId, dir: SplitDir, spec: SpawnSpec) -> Result<PaneId, String> {
        let target_cwd = {
            let st = self.lock();
            let meta = st
                .ws
                .pane(target)
                .ok_or_else(|| format!("unknown pane {target}"))?;
            let live = st.panes.get(&target).and_then(|p| p.reported_cwd());
            live.filter(|p| p.is_dir())
                .unwrap_or_else(|| meta.cwd.clone())
        };
        let (pid, _) = Self::fresh_ids(&self.lock());
        let meta = self.new_meta(pid, &spec, Some(target_cwd))?;
        let pane = self
            .start_pane(&meta, quil_plugin::Mode::Start, Vec::new(), false)
            .inspect_err(|_| discard_worktree(&meta))?;
        let mut st = self.lock();
        if let Err(e) = st.ws.split(target, dir, meta) {
            drop(st);
            pane.hangup();
            return Err(e.to_string());
        }
        st.panes.insert(pid, pane);
        drop(st);
        self.changed();
        Ok(pid)
    }

    fn worktree(&self, id: PaneId, op: quil_proto::WorktreeOp) -> Result<Reply, String> {
        let wt = {
            let st = self.lock();
            let meta = st.ws.pane(id).ok_or_else(|| format!("unknown pane {id}"))?;
            meta.worktree
                .clone()
                .ok_or_else(|| format!("pane {id} has no worktree"))?
        };
        if !matches!(op, quil_proto::WorktreeOp::Diff { .. }) {
            let others = self.panes_inside(&wt.path, id);
            if !others.is_empty() {
                let names: Vec<String> = others.iter().map(ToString::to_string).collect();
                let (is, them) = if others.len() == 1 {
                    ("is", "it")
                } else {
                    ("are", "them")
                };
                return Err(format!(
                    "{} {is} still in the worktree {}: close {them} or cd out of it first \
                     (files written there would be lost)",
                    names.join(", "),
                    wt.path.display(),
                ));
            }
        }
        match op {
            quil_proto::WorktreeOp::Diff { stat } => {
                let text = quil_worktree::diff(&wt, stat).map_err(|e| e.to_string())?;
                Ok(Reply::Text(text.lines().map(str::to_string).collect()))
            }
            quil_proto::WorktreeOp::Keep => {
                // Keep first: if the patch does not apply, nothing changes, the pane included.
                quil_worktree::keep(&wt).map_err(|e| e.to_string())?;
                self.close_pane(id);
                Ok(Reply::Ok)
            }
            quil_proto::WorktreeOp::Discard => {
                // Stop the pane first, so nothing writes into the tree being removed.
                self.close_pane(id);
                quil_worktree::discard(&wt).map_err(|e| e.to_string())?;
                Ok(Reply::Ok)
            }
        }
    }

    /// Running panes other than `except` whose program is in `dir` or below it: by the cwd its
    /// shell reports and its process's own cwd, or, when neither is known, the one it started
    /// in. (An exited pane writes nothing; respawned there, it would say the directory is gone.)
    fn panes_inside(&self, dir: &Path, except: PaneId) -> Vec<PaneId> {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        // Collected first: pane locks are never taken under the workspace lock here.
        let candidates: Vec<(PaneId, PathBuf, Arc<Pane>)> = {
            let st = self.lock();
            st.ws
                .panes
                .iter()
                .filter(|m| m.id != except)
                .filter_map(|m| Some((m.id, m.cwd.clone(), st.panes.get(&m.id)?.clone())))
                .filter(|(_, _, p)| p.is_alive())
                .collect()
        };
        candidates
            .into_iter()
            .filter(|(_, started_in, pane)| {
                let reported = pane.reported_cwd();
                let process = pane
                    .pid
                    .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok());
                let inside = |c: &PathBuf| c.starts_with(dir) || c.starts_with(&real);
                match (reported, process) {
                    (None, None) => inside(started_in),
                    (r, p) => r.iter().chain(&p).any(inside),
                }
            })
            .map(|(id, _, _)| id)
            .collect()
    }

    /// Removes a pane from the workspace and stops its process, waiting briefly for it to go.
    fn close_pane(&self, id: PaneId) {
        let p = {
            let mut st = self.lock();
            let _ = st.ws.remove_pane(id);
            st.panes.remove(&id)
        };
        if let Some(p) = p {
            p.hangup();
            let deadline = Instant::now() + Duration::from_secs(2);
            while p.is_alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if p.is_alive() {
                p.force_kill();
            }
        }
        self.changed();
    }

    /// opencode reopened with `--session <id>` and quit at once with "Session not found" (the
    /// conversation was deleted): forget the id and start it fresh, saying so on the pane.
    fn session_not_found(&self, id: PaneId, status: i32) -> bool {
        let Ok(p) = self.pane(id) else { return false };
        let Some(meta) = self.lock().ws.pane(id).cloned() else {
            return false;
        };
        let Some(kind) = crate::ai::kind_of(&p.argv) else {
            return false;
        };
        // What each CLI says when the conversation it was asked to reopen is not there: for
        // Claude, a kill before it wrote the transcript out.
        let (flag, message) = match kind {
            quil_ai::Kind::OpenCode => ("--session", "Session not found"),
            quil_ai::Kind::Claude => ("--resume", "No conversation found"),
        };
        let quick = p.started.elapsed() < Duration::from_secs(15);
        let resumed = p.argv.iter().any(|a| a == flag);
        if status == 0 || !quick || !resumed || !p.screen_text().contains(message) {
            return false;
        }
        let old = meta
            .plugin_state
            .get(crate::ai::SESSION_KEY)
            .cloned()
            .unwrap_or_default();
        tracing::warn!(pane = %id, session = %old, "{kind:?} conversation not found; starting a new one");
        crate::ai::forget(&self.home, &meta, kind);
        let mut fresh = meta;
        crate::ai::set_session(&mut fresh, kind, &quil_ai::Resume::Fresh);
        if let Some(m) = self.lock().ws.pane_mut(id) {
            m.plugin_state = fresh.plugin_state.clone();
        }
        // The old screen already ends in the restore marker and the CLI's complaint; the marker
        // after it says what happened next.
        let preamble = crate::restore::preamble(
            &p.export_lines(10_000),
            &format!("conversation {old} no longer exists; started a new one"),
        );
        self.start_pane(&fresh, quil_plugin::Mode::Start, preamble, true)
            .and_then(|new| self.replace_pane(id, new))
            .is_ok()
    }

    /// Starts a pane's command again in place, keeping what its screen showed.
    pub fn respawn(&self, id: PaneId) -> Result<(), String> {
        let (mut meta, old) = {
            let st = self.lock();
            let meta = st
                .ws
                .pane(id)
                .cloned()
                .ok_or_else(|| format!("unknown pane {id}"))?;
            (meta, st.panes.get(&id).cloned())
        };
        let mut preamble = Vec::new();
        if let Some(old) = &old {
            if old.is_alive() {
                old.hangup();
            }
            preamble = crate::restore::preamble(&old.export_lines(10_000), "respawned");
        }
        with_live_state(&mut meta, old.as_deref());
        let pane = self.start_pane(&meta, quil_plugin::Mode::Start, preamble, false)?;
        self.replace_pane(id, pane)
    }

    /// Puts a restarted process in place of pane `id`'s, unless the pane was closed while it
    /// started (the new process is then hung up).
    fn replace_pane(&self, id: PaneId, pane: Arc<Pane>) -> Result<(), String> {
        let mut st = self.lock();
        if st.ws.pane(id).is_none() {
            drop(st);
            pane.hangup();
            return Err(format!("pane {id} was closed meanwhile"));
        }
        st.panes.insert(id, pane);
        drop(st);
        self.changed();
        Ok(())
    }

    /// The workspace as it should be saved: metadata refreshed from the live panes.
    pub fn snapshot_workspace(&self) -> Workspace {
        let (mut ws, panes) = {
            let st = self.lock();
            (st.ws.clone(), st.panes.clone())
        };
        for meta in ws.panes.iter_mut() {
            with_live_state(meta, panes.get(&meta.id).map(|p| &**p));
            // The conversation the CLI recorded, kept as a second source.
            if let Some(kind) = self.ai_kind(meta) {
                if let Some(rec) = crate::ai::recorded(&self.home, meta, kind) {
                    meta.plugin_state
                        .insert(crate::ai::SESSION_KEY.into(), rec.id);
                }
            }
        }
        {
            // Keep the live model in step, so a later restore or respawn sees the same id.
            let mut st = self.lock();
            for m in &ws.panes {
                if let Some(live) = st.ws.pane_mut(m.id) {
                    live.plugin_state = m.plugin_state.clone();
                }
            }
        }
        ws
    }

    /// Brings back a saved workspace: same ids, layout and names; every pane started again
    /// concurrently, each showing its saved content.
    pub fn restore(&self, mut ws: Workspace) -> usize {
        let started = Instant::now();
        // Pane types with strategy `none` are not brought back.
        let gone: Vec<PaneId> = ws
            .panes
            .iter()
            .filter(|m| self.restore_mode(m).is_none())
            .map(|m| m.id)
            .collect();
        for id in gone {
            tracing::info!(pane = %id, "not restored (its pane type's strategy is none)");
            let _ = ws.remove_pane(id);
        }
        // AI panes: each resumes its own conversation, none resumes another's.
        let mut metas = ws.panes.clone();
        let decisions = crate::ai::plan(&self.home, &mut metas, |m| self.ai_kind(m));
        for m in &metas {
            if let Some(saved) = ws.pane_mut(m.id) {
                saved.plugin_state = m.plugin_state.clone();
            }
        }
        let plans: Vec<(PaneMeta, Option<quil_plugin::Mode>)> = metas
            .into_iter()
            .zip(decisions)
            .map(|(mut m, d)| match d {
                Some(d) => {
                    tracing::info!(pane = %m.id, decision = ?d, "resuming AI pane");
                    // For this start only; the saved pane keeps its own arguments. Flags that
                    // pick a session are replaced by the decision's.
                    let kind = self.ai_kind(&m);
                    if let Some(kind) = kind {
                        if !m.command.is_empty() {
                            m.command = quil_ai::restore_argv(kind, &m.command, &d);
                            return (m, Some(quil_plugin::Mode::Start));
                        }
                        m.extra_args =
                            quil_ai::restore_argv(kind, &m.extra_args, &quil_ai::Resume::Fresh);
                    }
                    let (mode, append) = crate::ai::mode_for(&d);
                    m.extra_args.extend(append);
                    (m, Some(mode))
                }
                None => (m, None),
            })
            .collect();
        // A few workers, not a thread per pane: on a small machine 50 concurrent forks mostly
        // contend with each other.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8)
            * 2;
        // Panes' readers are tasks on the runtime: the workers start them from its context.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let panes: Vec<(PaneId, Arc<Pane>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers.min(plans.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let _runtime = runtime.as_ref().map(|r| r.enter());
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some((meta, ai_mode)) = plans.get(i) else {
                                break;
                            };
                            let lines = if self.keeps_scrollback(meta) {
                                crate::persist::load_buffer(&self.home, meta.id).unwrap_or_default()
                            } else {
                                Vec::new()
                            };
                            let preamble =
                                crate::restore::preamble(&lines, "restored after a daemon restart");
                            let mode = ai_mode
                                .or_else(|| self.restore_mode(meta))
                                .unwrap_or(quil_plugin::Mode::Start);
                            // keep_failed: a pane that cannot start is kept, showing why.
                            if let Ok(p) = self.start_pane(meta, mode, preamble, true) {
                                done.push((meta.id, p));
                            }
                        }
                        done
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok())
                .flatten()
                .collect()
        });
        let n = panes.len();
        {
            let mut st = self.lock();
            st.ws = ws;
            for (id, p) in panes {
                st.panes.insert(id, p);
            }
            self.restored
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(st.panes.keys().copied());
        }
        tracing::info!(
            panes = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "workspace restored"
        );
        self.changed();
        n
    }

    /// Saves the workspace if it changed since the last save.
    pub fn save_workspace_only(&self) {
        let _guard = self.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.save_ws_locked();
    }

    fn save_ws_locked(&self) -> Workspace {
        let ws = self.snapshot_workspace();
        let json = serde_json::to_string(&ws).unwrap_or_default();
        let mut last = self.last_saved.lock().unwrap_or_else(|e| e.into_inner());
        if *last != json {
            match crate::persist::save_workspace(&self.home, &ws) {
                Ok(()) => *last = json,
                Err(e) => tracing::error!(
                    "cannot save {}: {e}",
                    crate::persist::workspace_path(&self.home).display()
                ),
            }
        }
        ws
    }

    /// Saves the workspace (when it changed) and the scrollback of panes with new output.
    /// `all_buffers` saves every pane's scrollback (a clean stop).
    pub fn save(&self, all_buffers: bool) {
        let _guard = self.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ws = self.save_ws_locked();
        let panes: Vec<Arc<Pane>> = self.lock().panes.values().cloned().collect();
        let mut saved_gens = self.buffer_gens.lock().unwrap_or_else(|e| e.into_inner());
        for p in &panes {
            if !ws.pane(p.id).is_some_and(|m| self.keeps_scrollback(m)) {
                continue;
            }
            let gen = p.output_gen();
            if !all_buffers && saved_gens.get(&p.id) == Some(&gen) {
                continue;
            }
            let lines = p.export_recent(self.config.persist_scrollback_bytes);
            match crate::persist::write_buffer(&self.home, p.id, &lines) {
                Ok(()) => {
                    saved_gens.insert(p.id, gen);
                }
                Err(e) => tracing::error!(pane = %p.id, "cannot save scrollback: {e}"),
            }
        }
        let ids: Vec<PaneId> = ws.panes.iter().map(|m| m.id).collect();
        saved_gens.retain(|id, _| ids.contains(id));
        crate::persist::prune_buffers(&self.home, &ids);
    }

    /// A pane's process exited: keep it showing its status, or close it, per the config.
    pub fn on_exit(&self, pane: PaneId, status: i32) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        if self.session_not_found(pane, status) {
            return;
        }
        let close = match self.config.exited_panes {
            ExitPolicy::Close => true,
            ExitPolicy::Keep => false,
            ExitPolicy::Failed => status == 0,
        };
        if close {
            let mut st = self.lock();
            if st.ws.remove_pane(pane).is_ok() {
                st.panes.remove(&pane);
            }
        }
        tracing::info!(%pane, status, closed = close, "pane exited");
        self.changed();
    }

    /// Someone typed in a restored pane: it is in use again, no longer just "restored".
    fn seen(&self, pane: PaneId) {
        if self
            .restored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pane)
        {
            self.changed();
        }
    }

    /// Which panes a connection shows (empty when it leaves).
    pub fn set_view(&self, conn: u64, panes: Vec<PaneId>) {
        let mut v = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if panes.is_empty() {
            v.remove(&conn);
        } else {
            v.insert(conn, panes);
        }
    }

    /// Periodic checks: stalled input, timed-out synchronized updates, attention states.
    pub fn housekeeping(&self) {
        // Each pane with its own metadata (none for a pane already gone from the model).
        let panes: Vec<(Arc<Pane>, Option<PaneMeta>)> = {
            let st = self.lock();
            st.panes
                .values()
                .map(|p| (p.clone(), st.ws.pane(p.id).cloned()))
                .collect()
        };
        let mut meta = false;
        for (p, _) in &panes {
            meta |= p.check_input_stall();
            p.flush_sync(&*self.signals);
        }
        meta |= self.update_attention(&panes);
        meta |= self.scrape_state(&panes);
        if meta {
            self.changed();
        }
    }

    /// `session_scrape` pane types: captures their state keys (`[[persistence.scrape]]`) from
    /// what the pane shows and its recent history, whenever it printed something new, so that
    /// a restart can resume it with `resume_args`. True when a value changed.
    fn scrape_state(&self, panes: &[(Arc<Pane>, Option<PaneMeta>)]) -> bool {
        let mut gens = self.scraped.lock().unwrap_or_else(|e| e.into_inner());
        gens.retain(|id, _| panes.iter().any(|(p, _)| p.id == *id));
        let mut found = Vec::new();
        {
            let reg = self.plugins.read().unwrap_or_else(|e| e.into_inner());
            for (p, m) in panes {
                let Some(m) = m.as_ref().filter(|m| m.command.is_empty()) else {
                    continue;
                };
                let Some(pl) = reg
                    .get(&m.kind)
                    .filter(|pl| pl.persistence.strategy == quil_plugin::Strategy::SessionScrape)
                else {
                    continue;
                };
                let gen = p.output_gen();
                if gens.insert(p.id, gen) == Some(gen) {
                    continue;
                }
                let text: Vec<String> = p
                    .export_lines(SCRAPE_HISTORY)
                    .iter()
                    .map(|l| l.text())
                    .collect();
                let new: Vec<(String, String)> = pl
                    .scrape(&text.join("\n"))
                    .into_iter()
                    .filter(|(k, v)| m.plugin_state.get(k) != Some(v))
                    .collect();
                if !new.is_empty() {
                    found.push((p.id, new));
                }
            }
        }
        if found.is_empty() {
            return false;
        }
        let mut st = self.lock();
        for (id, values) in found {
            if let Some(m) = st.ws.pane_mut(id) {
                tracing::debug!(pane = %id, ?values, "scraped");
                m.plugin_state.extend(values);
            }
        }
        true
    }

    fn update_attention(&self, panes: &[(Arc<Pane>, Option<PaneMeta>)]) -> bool {
        let viewed: std::collections::HashSet<PaneId> = self
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flatten()
            .copied()
            .collect();
        let now = Instant::now();
        let mut changed = false;
        let mut att = self.attention.lock().unwrap_or_else(|e| e.into_inner());
        att.retain(|id, _| panes.iter().any(|(p, _)| p.id == *id));
        // Borrowed for the whole pass: this runs every 250 ms for every pane.
        let reg = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        for (p, m) in panes {
            let Some(m) = m else { continue };
            // An exited pane is idle: nothing to read or match for it.
            let alive = p.is_alive();
            let recorded = ai_kind_in(&reg, m)
                .filter(|_| alive)
                .and_then(|k| crate::ai::recorded_state(&self.home, m, k));
            let plugin = reg.get(&m.kind).filter(|pl| {
                alive && (!pl.idle_handlers.is_empty() || !pl.error_handlers.is_empty())
            });
            let matcher = |quiet: bool| -> Option<&'static str> {
                let pl = plugin?;
                pl.match_attention(&p.screen_text(), quiet)
                    .map(|(st, _)| st.as_str())
            };
            let handlers: Option<&dyn Fn(bool) -> Option<&'static str>> = if plugin.is_some() {
                Some(&matcher)
            } else {
                None
            };
            let obs = crate::attention::Observation {
                output_gen: p.output_gen(),
                recorded,
                handlers,
                viewed: viewed.contains(&p.id),
                now,
            };
            let a = att.entry(p.id).or_default();
            if a.update(&obs) {
                tracing::debug!(pane = %p.id, state = a.state, "attention");
                changed = true;
            }
        }
        changed
    }

    /// Hangs up every pane, waits up to `grace` for them to exit, then kills what is left.
    pub fn stop_panes(&self, grace: Duration) {
        let panes: Vec<Arc<Pane>> = self.lock().panes.values().cloned().collect();
        for p in &panes {
            p.hangup();
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && panes.iter().any(|p| p.is_alive()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in panes.iter().filter(|p| p.is_alive()) {
            tracing::warn!(pane = %p.id, "pane did not exit after SIGHUP; killing it");
            p.force_kill();
        }
    }
}

/// The AI CLI a pane runs, with the pane types at hand.
fn ai_kind_in(reg: &quil_plugin::Registry, meta: &PaneMeta) -> Option<quil_ai::Kind> {
    let program = match meta.command.first() {
        Some(c) => c.as_str(),
        None => reg.get(&meta.kind)?.command.cmd.as_str(),
    };
    quil_ai::Kind::of_program(program)
}

/// Updates `meta` with what the running pane knows now: live cwd and size.
fn with_live_state(meta: &mut PaneMeta, pane: Option<&Pane>) {
    if let Some(p) = pane {
        let st = p.shared.lock();
        if let Some(cwd) = st.term.cwd() {
            meta.cwd = PathBuf::from(cwd);
        }
        let (c, r) = st.term.size();
        meta.cols = c;
        meta.rows = r;
    }
}

/// A tab or pane name as given, trimmed; refused when empty or holding control characters
/// (they would break `quil ls` and the tab bar).
fn valid_name(what: &str, name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("a {what} name cannot be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "a {what} name cannot contain control characters: {name:?}"
        ));
    }
    Ok(name.to_string())
}

/// The tab with id `tab`.
fn tab_mut(ws: &mut Workspace, tab: TabId) -> Result<&mut quil_model::Tab, String> {
    ws.tabs
        .iter_mut()
        .find(|t| t.id == tab)
        .ok_or_else(|| format!("unknown tab {tab}"))
}

/// Undoes a worktree created for a pane that then failed to start.
fn discard_worktree(meta: &PaneMeta) {
    if let Some(wt) = &meta.worktree {
        if let Err(e) = quil_worktree::discard(wt) {
            tracing::warn!("cannot remove the worktree of a pane that failed to start: {e}");
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Random bits for ids, without a dependency: the std hasher is randomly keyed per process.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
