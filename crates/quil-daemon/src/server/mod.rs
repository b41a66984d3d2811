//! The daemon's state (the workspace model and its live panes) and everything done to it.
//!
//! | module | does |
//! |---|---|
//! | `mod.rs` | [`Server`], [`State`], the lock order, exits, views |
//! | [`requests`] | one request → one change, answered with a typed [`Error`] |
//! | [`spawn`] | a pane's command line from its type or command; new tabs, splits, respawns |
//! | [`saving`] | snapshots of the workspace and scrollback, and restoring them |
//! | [`watch`] | the housekeeping tick: input stalls, attention states, scraped state |
//! | [`info`] | what `quil ls`, `status` and the pane-type pickers show |
//! | [`worktrees`] | diff, keep and discard of a pane's worktree |
//!
//! # Lock order
//!
//! Locks, always taken in this order, each held briefly and never across I/O but for the
//! first two:
//!
//! 1. `saver`: held for a whole save, so two saves never interleave; or (never together with
//!    it) `starts`: held while a restored pane that waited starts (reading its files and
//!    forking), so it starts once and whoever needs it meanwhile waits for the new process;
//! 2. `state`: the workspace model, the live panes with their attention trackers, and what
//!    each client shows;
//! 3. a pane's own terminal lock (`PaneShared::lock`), which may be taken under `state` to
//!    read a pane's screen or size.
//!
//! `plugins` (a read-mostly `RwLock`) is never held together with `state`: take what you need
//! from it and let go first. Pane output readers take only their pane's lock.

mod info;
mod requests;
mod saving;
mod spawn;
#[cfg(test)]
mod tests;
mod watch;
pub use watch::{watch_reports, Quiet};
mod worktrees;

use crate::attention::Tracker;
use crate::config::{Config, ExitPolicy};
use crate::error::{Error, Result};
use crate::home::random_u64;
use crate::pane::{Pane, PaneEvents, PtySpawner, Spawner};
use quil_model::{Attention, PaneMeta, TabId, Workspace};
use quil_proto::{Event, EventKind, PaneId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch as tokio_watch};

/// Wake-ups shared by every pane and client task.
pub struct Signals {
    /// Bumped when some pane's screen became dirty.
    pub screen: tokio_watch::Sender<u64>,
    /// Bumped when the workspace structure or any pane's metadata changed.
    pub meta: tokio_watch::Sender<u64>,
    pub clipboard: broadcast::Sender<String>,
    /// Exits and bells, for the daemon's watcher task (which calls [`Server::on_notice`]).
    pub notices: mpsc::UnboundedSender<Notice>,
    /// Everything that happens, for `quil events`, hooks and notifications. Bounded: a reader
    /// that falls behind loses the oldest and is told how many.
    pub events: broadcast::Sender<Event>,
    /// Desktop notifications for attached clients to show.
    pub notify: broadcast::Sender<quil_proto::Notification>,
    /// Panes a script focused, for attached clients to show.
    pub follow: broadcast::Sender<PaneId>,
    /// `config.toml` was reloaded, with the daemon's problems with it, for attached clients.
    pub config: broadcast::Sender<Vec<String>>,
    /// Wakes the housekeeping when it sleeps ([`Server::housekeeping`]).
    pub idle: Idle,
    /// Asks the saver to save the scrollback of panes that printed.
    pub save: tokio::sync::Notify,
}

/// The housekeeping's sleep: with nothing to watch it waits for something to happen (output,
/// a change, a request, an agent's report) instead of waking four times a second.
#[derive(Default)]
pub struct Idle {
    asleep: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Idle {
    /// Wakes the housekeeping if it sleeps; a load and nothing else when it does not.
    pub fn wake(&self) {
        if self.asleep.load(Ordering::Relaxed) && self.asleep.swap(false, Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// Sleeps until [`Idle::wake`] or `until`. `recheck` runs once asleep is announced: true
    /// means something happened just before, and it returns at once.
    pub async fn sleep(&self, until: Option<Instant>, recheck: impl FnOnce() -> bool) {
        self.asleep.store(true, Ordering::SeqCst);
        if recheck() {
            self.asleep.store(false, Ordering::SeqCst);
            return;
        }
        let deadline = async {
            match until {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = deadline => {}
        }
        self.asleep.store(false, Ordering::SeqCst);
    }
}

/// Events a reader may fall behind by before it loses some.
pub const EVENT_QUEUE: usize = 1024;

impl PaneEvents for Signals {
    fn screen_dirty(&self) {
        self.screen.send_modify(|v| *v = v.wrapping_add(1));
    }
    fn output(&self) {
        self.idle.wake();
    }
    fn meta_changed(&self) {
        self.idle.wake();
        self.meta.send_modify(|v| *v = v.wrapping_add(1));
    }
    fn exited(&self, pane: PaneId, status: i32) {
        let _ = self.notices.send(Notice::Exited(pane, status));
    }
    fn clipboard(&self, text: String) {
        let _ = self.clipboard.send(text);
    }
    fn bell(&self, pane: PaneId) {
        let _ = self.notices.send(Notice::Bell(pane));
    }
    fn notification(&self, pane: PaneId, title: String, body: String) {
        let _ = self.notices.send(Notice::Note(pane, title, body));
    }
    fn persist_failed(&self, pane: PaneId, why: Option<String>) {
        let _ = self.notices.send(Notice::Persist(pane, why));
    }
}

/// What a pane tells the server that needs the workspace to act on (bells are rate-limited
/// at the pane, so the channel stays small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Exited(PaneId, i32),
    Bell(PaneId),
    /// A desktop notification the program asked for: (title, body).
    Note(PaneId, String, String),
    /// The pane's output cannot be saved, and why (`None`: it is saved again).
    Persist(PaneId, Option<String>),
}

/// A pane of the workspace that has a process (or a placeholder for one).
pub struct Live {
    pub pane: Arc<dyn Pane>,
    /// Brought back by a restore and not used since (shown as such).
    pub restored: bool,
    /// `None` for panes whose type reports no state.
    pub attention: Option<Tracker>,
    /// For `session_scrape` panes: the output generation last scraped.
    scraped_gen: u64,
    /// The output generation the housekeeping last saw.
    ticked_gen: u64,
    /// The output generation at the last [`Server::pack_idle`].
    packed_gen: u64,
    /// A restored pane whose process has not started yet (lazy restore).
    pub pending: Option<Pending>,
    /// A placeholder while the restore reads the pane back ([`Server::restore_layout`]).
    pub restoring: bool,
    /// The exit of its current process was handled (see [`Server::on_exit`]).
    exit_handled: bool,
}

impl Live {
    fn new(pane: Arc<dyn Pane>, attention: Option<Tracker>) -> Live {
        Live {
            pane,
            restored: false,
            attention,
            scraped_gen: 0,
            ticked_gen: 0,
            packed_gen: 0,
            pending: None,
            restoring: false,
            exit_handled: false,
        }
    }

    /// A new process (or the one taken over) in the pane's place: its CLI, if any, starts
    /// over, and whatever waited (a lazy start, a restore) is done.
    fn replace(
        &mut self,
        pane: Arc<dyn Pane>,
        attention: Option<Tracker>,
        pending: Option<Pending>,
    ) {
        self.pane = pane;
        self.attention = attention;
        self.pending = pending;
        self.restoring = false;
        self.exit_handled = false;
    }
}

/// How a restored pane that waits will start (see [`Server::start_pending`]).
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its metadata for this start (resume arguments applied).
    pub meta: PaneMeta,
    pub mode: quil_plugin::Mode,
    /// When it starts if nothing starts it before.
    pub due: Instant,
}

/// Everything under the `state` lock.
#[derive(Default)]
pub struct State {
    pub ws: Workspace,
    pub panes: HashMap<PaneId, Live>,
    /// The panes each attached connection shows.
    views: HashMap<u64, Vec<PaneId>>,
}

impl State {
    /// The pane `id`'s process side.
    pub fn pane(&self, id: PaneId) -> Result<&Arc<dyn Pane>> {
        self.panes
            .get(&id)
            .map(|l| &l.pane)
            .ok_or(Error::UnknownPane(id))
    }

    pub fn meta(&self, id: PaneId) -> Result<&PaneMeta> {
        self.ws.pane(id).ok_or(Error::UnknownPane(id))
    }

    pub fn tab_mut(&mut self, tab: TabId) -> Result<&mut quil_model::Tab> {
        self.ws
            .tabs
            .iter_mut()
            .find(|t| t.id == tab)
            .ok_or(Error::UnknownTab(tab))
    }

    /// The id of the tab `pane` is in.
    pub fn tab_of(&self, pane: PaneId) -> Option<TabId> {
        self.ws
            .tab_of(pane)
            .and_then(|i| self.ws.tabs.get(i))
            .map(|t| t.id)
    }

    /// Whether some attached client shows `pane`.
    pub fn is_viewed(&self, pane: PaneId) -> bool {
        self.views.values().any(|v| v.contains(&pane))
    }

    /// Every pane some client shows.
    fn viewed(&self) -> std::collections::HashSet<PaneId> {
        self.views.values().flatten().copied().collect()
    }
}

/// What the saver remembers between saves (under the `saver` lock).
#[derive(Default)]
struct Saver {
    /// The workspace JSON last written.
    last_saved: String,
    /// Output generation of each pane's last saved scrollback.
    buffer_gens: HashMap<PaneId, u64>,
    /// Panes whose buffers this daemon wrote or adopted: deleted when the pane is gone.
    known: std::collections::HashSet<PaneId>,
}

pub struct Server {
    pub home: PathBuf,
    /// `config.toml`'s daemon tables; replaced whole when the file is reloaded.
    config: RwLock<Arc<Config>>,
    pub signals: Arc<Signals>,
    spawner: Arc<dyn Spawner>,
    state: Mutex<State>,
    /// Pane types: the embedded defaults plus `$QUIL_HOME/plugins/`, reloaded on change.
    plugins: RwLock<quil_plugin::Registry>,
    saver: Mutex<Saver>,
    /// Held while a waiting pane starts (lazy restore); see the lock order.
    starts: Mutex<()>,
    /// Bytes all client connections hold in requests not yet whole (see `conn.rs`).
    pub partial: std::sync::atomic::AtomicUsize,
    /// Why the last save failed, `None` once one works: shown to clients (a leaf lock, held
    /// only to read or swap it).
    persist_error: Mutex<Option<String>>,
    /// Why the saved workspace was not restored as saved, for this daemon's life.
    restore_problem: std::sync::OnceLock<String>,
    /// Panes whose output journal cannot be written, and why (a leaf lock, like the above).
    journal_errors: Mutex<HashMap<PaneId, String>>,
    /// Who may write each pane's files (a leaf lock).
    slots: Mutex<HashMap<PaneId, Arc<crate::journal::Slot>>>,
    /// Panes closed since the last save, whose files it deletes (a leaf lock): a pane's
    /// journal exists from its start, before any save knew of it.
    closed: Mutex<std::collections::HashSet<PaneId>>,
    started: Instant,
    pub clients: AtomicU32,
    pub shutdown: tokio_watch::Sender<bool>,
    /// Set once a clean stop begins: exits no longer close panes, so the final snapshot keeps
    /// them.
    pub stopping: AtomicBool,
    /// Set while the restore begun at the start is under way, until its search for strays
    /// ([`Server::take_over_strays`]) is done: a client waiting for the workspace to be whole
    /// waits for them too.
    pub adopting: AtomicBool,
}

impl Server {
    /// A server whose panes are processes on real PTYs.
    pub fn new(
        home: PathBuf,
        config: Config,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Arc<Server> {
        Server::with_spawner(home, config, notices, Arc::new(PtySpawner::default()))
    }

    /// A server whose panes `spawner` starts (tests pass an in-memory one).
    pub fn with_spawner(
        home: PathBuf,
        config: Config,
        notices: mpsc::UnboundedSender<Notice>,
        spawner: Arc<dyn Spawner>,
    ) -> Arc<Server> {
        let signals = Arc::new(Signals {
            screen: tokio_watch::channel(0).0,
            meta: tokio_watch::channel(0).0,
            // Small: each entry can be a 4 MiB clipboard, and a reader that lags gets the
            // latest (coalesced) instead of every one.
            clipboard: broadcast::channel(2).0,
            notices,
            events: broadcast::channel(EVENT_QUEUE).0,
            notify: broadcast::channel(64).0,
            follow: broadcast::channel(16).0,
            config: broadcast::channel(4).0,
            idle: Idle::default(),
            save: tokio::sync::Notify::new(),
        });
        Arc::new(Server {
            home,
            config: RwLock::new(Arc::new(config)),
            signals,
            spawner,
            state: Mutex::new(State::default()),
            plugins: RwLock::new(quil_plugin::Registry::default()),
            saver: Mutex::new(Saver::default()),
            starts: Mutex::new(()),
            partial: std::sync::atomic::AtomicUsize::new(0),
            persist_error: Mutex::new(None),
            restore_problem: std::sync::OnceLock::new(),
            journal_errors: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            closed: Mutex::new(Default::default()),
            started: Instant::now(),
            clients: AtomicU32::new(0),
            shutdown: tokio_watch::channel(false).0,
            stopping: AtomicBool::new(false),
            adopting: AtomicBool::new(false),
        })
    }

    /// The daemon's settings as they are now.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads `config.toml` again; with `apply`, uses it from now on (new panes, hooks,
    /// notifications) and tells attached clients. Returns the problems found, one
    /// `FILE:LINE:COL: message` each.
    pub fn reload_config(&self, apply: bool) -> Vec<String> {
        let (config, problems) = Config::load(&self.home.join("config.toml"));
        if apply {
            *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
            tracing::info!(problems = problems.len(), "config reloaded");
            for p in &problems {
                tracing::warn!("{p}");
            }
            let _ = self.signals.config.send(problems.clone());
        }
        problems
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plugins(&self) -> RwLockReadGuard<'_, quil_plugin::Registry> {
        self.plugins.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pane(&self, id: PaneId) -> Result<Arc<dyn Pane>> {
        self.lock().pane(id).cloned()
    }

    /// The pane, for something that needs its process: a restored pane still waiting to start
    /// (lazy restore) is started first.
    pub fn running(&self, id: PaneId) -> Result<Arc<dyn Pane>> {
        {
            let st = self.lock();
            let live = st.panes.get(&id).ok_or(Error::UnknownPane(id))?;
            if live.pending.is_none() {
                return Ok(live.pane.clone());
            }
        }
        self.start_pending(id)?;
        self.pane(id)
    }

    /// Whether `id` runs an agent CLI that has not yet shown it takes a prompt.
    pub fn starting(&self, id: PaneId) -> Result<bool> {
        let st = self.lock();
        let live = st.panes.get(&id).ok_or(Error::UnknownPane(id))?;
        Ok(live.attention.as_ref().is_some_and(|a| a.starting) && live.pane.is_alive())
    }

    /// Drops from `lines` those of the CLI's own interface (its type's `[integration]
    /// chrome` patterns). Takes the state lock, then the plugins lock, one after the other.
    pub fn drop_chrome(&self, id: PaneId, lines: &mut Vec<String>) -> Result<()> {
        let meta = self.lock().meta(id)?.clone();
        let reg = self.plugins();
        if let Some(pl) = crate::integration::plugin_for(&reg, &meta) {
            let chrome = &pl.integration.chrome;
            lines.retain(|l| !chrome.iter().any(|p| p.regex.is_match(l)));
        }
        Ok(())
    }

    /// The attention tracker of a process just started for `meta`: an agent CLI (its type
    /// has a mechanism) is starting; a type with screen handlers starts idle. Made at once, not
    /// at the next tick, so a pane without one (`state` null) is known to report no state, and
    /// `quil wait --state` can say so instead of timing out. Takes the plugins lock: call it
    /// without `state`.
    fn new_tracker(&self, meta: &PaneMeta) -> Option<Tracker> {
        let reg = self.plugins();
        let plugin = crate::integration::plugin_for(&reg, meta);
        let now = std::time::Instant::now();
        if crate::integration::mechanism(plugin).is_some() {
            Some(Tracker::starting(now, unix_now()))
        } else {
            crate::integration::handlers(plugin).map(|_| Tracker::new(now, unix_now()))
        }
    }

    /// Why the last save failed, or some pane's output cannot be saved (`None` when all is
    /// saved).
    pub fn persist_error(&self) -> Option<String> {
        let save = self
            .persist_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        save.or_else(|| {
            let errs = self
                .journal_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            errs.iter()
                .min_by_key(|(id, _)| **id)
                .map(|(_, why)| why.clone())
        })
    }

    /// A pane's output journal cannot be written (`Some`), or can again.
    fn set_journal_error(&self, pane: PaneId, why: Option<String>) {
        {
            let mut errs = self
                .journal_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match why {
                Some(w) => errs.insert(pane, w),
                None => errs.remove(&pane),
            };
        }
        self.changed();
    }

    /// Who may write pane `id`'s files.
    fn slot(&self, id: PaneId) -> Arc<crate::journal::Slot> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    /// Deletes the files of panes that were closed; no instance of them writes there again.
    fn remove_buffers(&self, gone: &[PaneId]) {
        for id in gone {
            let slot = self
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id)
                .unwrap_or_default();
            slot.close(|| crate::persist::remove_buffer(&self.home, *id));
            self.journal_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        }
    }

    /// The saved workspace was not restored as saved: logged, and told to every client.
    pub fn restore_failed(&self, why: String) {
        tracing::warn!("{why}");
        if self.restore_problem.set(why).is_ok() {
            self.changed();
        }
    }

    /// Records how the last save went; attached clients hear of a change.
    fn set_persist_error(&self, err: Option<String>) {
        let changed = {
            let mut cur = self.persist_error.lock().unwrap_or_else(|e| e.into_inner());
            let changed = *cur != err;
            *cur = err;
            changed
        };
        if changed {
            self.changed();
        }
    }

    /// Tells attached clients (and the saver) that the workspace or some pane's metadata
    /// changed.
    pub fn changed(&self) {
        self.signals.meta_changed();
    }

    /// Whether `id` is a placeholder the restore has not replaced yet.
    pub fn is_restoring(&self, id: PaneId) -> bool {
        self.lock().panes.get(&id).is_some_and(|l| l.restoring)
    }

    /// Returns once pane `id` is restored (at once when it is not being restored). A
    /// connection awaits this before a request that needs the pane ([`pane_needed`]), so the
    /// request waits for its pane, and nothing else does.
    pub async fn until_restored(&self, id: PaneId) {
        let mut changed = self.signals.meta.subscribe();
        while self.is_restoring(id) {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Publishes an event (nobody listening is fine).
    pub fn emit(&self, pane: Option<PaneId>, tab: Option<TabId>, kind: EventKind) {
        let _ = self.signals.events.send(Event {
            time: unix_now_ms(),
            pane,
            tab,
            kind,
        });
    }

    /// Publishes an event about `pane`, naming its tab.
    pub fn emit_pane(&self, st: &State, pane: PaneId, kind: EventKind) {
        self.emit(Some(pane), st.tab_of(pane), kind);
    }

    /// Replaces the pane types with what `dir` holds now; returns the problems found.
    pub fn load_plugins(&self, dir: &Path) -> Vec<quil_plugin::Diagnostic> {
        let (reg, diags) = quil_plugin::Registry::load(dir);
        *self.plugins.write().unwrap_or_else(|e| e.into_inner()) = reg;
        diags
    }

    /// Acts on what a pane told: an exit, a bell.
    pub fn on_notice(&self, notice: Notice) {
        match notice {
            Notice::Exited(pane, status) => self.on_exit(pane, status),
            Notice::Bell(pane) => {
                let st = self.lock();
                if st.panes.contains_key(&pane) {
                    self.emit_pane(&st, pane, EventKind::Bell);
                }
            }
            Notice::Note(pane, title, body) => self.pass_on_note(pane, title, body),
            Notice::Persist(pane, why) => {
                // A pane closed meanwhile has no files to save.
                if why.is_none() || self.lock().panes.contains_key(&pane) {
                    self.set_journal_error(pane, why);
                }
            }
        }
    }

    /// A program's own desktop notification goes to the attached clients' terminals (as
    /// `[notify] method` says), titled with its pane when it has no title, and is an event.
    fn pass_on_note(&self, pane: PaneId, title: String, body: String) {
        let st = self.lock();
        let Some(meta) = st.ws.pane(pane) else { return };
        let title = if title.is_empty() {
            meta.name.clone()
        } else {
            title
        };
        self.emit_pane(
            &st,
            pane,
            EventKind::Notification {
                title: title.clone(),
                body: body.clone(),
            },
        );
        drop(st);
        let method = match self.config().notify.method {
            crate::config::Method::Osc9 => quil_proto::NotifyMethod::Osc9,
            crate::config::Method::Osc777 => quil_proto::NotifyMethod::Osc777,
            crate::config::Method::Off => return,
        };
        let _ = self.signals.notify.send(quil_proto::Notification {
            pane,
            title,
            body,
            method: Some(method),
            bell: false,
        });
    }

    /// Claims the exit of `pane`'s current process, once. Not when the pane is not (yet) in the
    /// workspace: a command that ends at once can exit before its pane is added, and adding it
    /// applies the exit then ([`Server::exited_early`]). Not when its process runs: the notice
    /// is about one it replaced.
    fn take_exit(&self, pane: PaneId) -> bool {
        let mut st = self.lock();
        match st.panes.get_mut(&pane) {
            Some(l) if !l.exit_handled && !l.pane.is_alive() && l.pane.exit_status().is_some() => {
                l.exit_handled = true;
                true
            }
            _ => false,
        }
    }

    /// Called after a pane (or its new process) is added: its process may have ended already,
    /// its exit notice handled while there was no pane to apply it to.
    fn exited_early(&self, pane: PaneId, p: &Arc<dyn Pane>) {
        if let (false, Some(status)) = (p.is_alive(), p.exit_status()) {
            self.on_exit(pane, status);
        }
    }

    /// A pane's process exited: keep it showing its status, or close it, per the config.
    pub fn on_exit(&self, pane: PaneId, status: i32) {
        if self.stopping.load(Ordering::SeqCst) || !self.take_exit(pane) {
            return;
        }
        if self.session_not_found(pane, status) {
            return;
        }
        let close = match self.config().exited_panes {
            ExitPolicy::Close => true,
            ExitPolicy::Keep => false,
            ExitPolicy::Failed => status == 0,
        };
        {
            let mut st = self.lock();
            self.emit_pane(&st, pane, EventKind::PaneExited { status });
            if close {
                self.remove_pane_locked(&mut st, pane);
            }
        }
        tracing::info!(%pane, status, closed = close, "pane exited");
        self.changed();
    }

    /// Removes `pane` from the workspace (and its tab, if it was the last), saying so; returns
    /// its process side.
    fn remove_pane_locked(&self, st: &mut State, pane: PaneId) -> Option<Arc<dyn Pane>> {
        let tab = st.tab_of(pane);
        let tab_gone = st.ws.remove_pane(pane).ok()?;
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pane);
        self.emit(Some(pane), tab, EventKind::PaneClosed);
        if tab_gone {
            self.emit(None, tab, EventKind::TabClosed);
        }
        st.panes.remove(&pane).map(|l| l.pane)
    }

    /// Someone typed in a pane: a restored pane is in use again, no longer just "restored",
    /// and a pane waiting for its user got its answer.
    fn seen(&self, pane: PaneId) {
        let mut st = self.lock();
        let Some(live) = st.panes.get_mut(&pane) else {
            return;
        };
        let was_restored = std::mem::take(&mut live.restored);
        let answered = live
            .attention
            .as_mut()
            .is_some_and(|a| a.answered(unix_now()));
        if answered {
            self.emit_pane(
                &st,
                pane,
                EventKind::State {
                    state: Some(Attention::Working),
                    previous: Some(Attention::Waiting),
                    detail: None,
                },
            );
        }
        drop(st);
        if was_restored || answered {
            self.changed();
        }
    }

    /// Which panes a connection shows (empty when it leaves).
    pub fn set_view(&self, conn: u64, panes: Vec<PaneId>) {
        let mut st = self.lock();
        // Shown panes that wait to start (lazy restore) start now.
        let waiting: Vec<PaneId> = panes
            .iter()
            .copied()
            .filter(|id| st.panes.get(id).is_some_and(|l| l.pending.is_some()))
            .collect();
        if panes.is_empty() {
            st.views.remove(&conn);
        } else {
            st.views.insert(conn, panes);
        }
        drop(st);
        for id in waiting {
            if let Err(e) = self.start_pending(id) {
                tracing::warn!(pane = %id, "cannot start a shown pane: {e}");
            }
        }
    }

    /// Removes a pane from the workspace and stops its process, waiting briefly for it to go.
    fn close_pane(&self, id: PaneId) {
        let p = {
            let mut st = self.lock();
            self.remove_pane_locked(&mut st, id)
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

    /// Hangs up every pane, waits up to `grace` for them to exit, then kills what is left.
    pub fn stop_panes(&self, grace: Duration) {
        let panes: Vec<Arc<dyn Pane>> =
            self.lock().panes.values().map(|l| l.pane.clone()).collect();
        for p in &panes {
            p.hangup();
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && panes.iter().any(|p| p.is_alive()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in panes.iter().filter(|p| p.is_alive()) {
            tracing::warn!(pane = %p.id(), "pane did not exit after SIGHUP; killing it");
            p.force_kill();
        }
    }
}

/// Updates `meta` with what the running pane knows now: live cwd and size.
fn with_live_state(meta: &mut PaneMeta, pane: Option<&dyn Pane>) {
    if let Some(p) = pane {
        let (c, r, _, cwd) = p.shared().info();
        if let Some(cwd) = cwd {
            meta.cwd = PathBuf::from(cwd);
        }
        meta.cols = c;
        meta.rows = r;
        meta.holder = p.holder().map(str::to_string);
        meta.modes = p.shared().modes();
    }
}

/// The pane whose process or screen `req` acts on: such a request waits while that pane is
/// still being restored. Requests that only change the layout or names do not.
pub fn pane_needed(req: &quil_proto::Request) -> Option<PaneId> {
    use quil_proto::Request as R;
    match req {
        R::KillPane { .. }
        | R::RenamePane { .. }
        | R::Focus { .. }
        | R::SwapPane { .. }
        | R::MovePane { .. }
        | R::ResizeSplit { .. }
        | R::SetEager { .. } => None,
        other => other.pane(),
    }
}

/// The longest tab or pane name, in bytes.
pub const MAX_NAME: usize = 256;

/// A tab or pane name as given, trimmed; refused when empty or holding control characters
/// (they would break `quil ls` and the tab bar).
fn valid_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid(format!("a {what} name cannot be empty")));
    }
    if name.len() > MAX_NAME {
        return Err(Error::Invalid(format!(
            "a {what} name is {} bytes, over the {MAX_NAME}-byte limit",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "a {what} name cannot contain control characters: {name:?}"
        )));
    }
    Ok(name.to_string())
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
