//! Snapshots of the workspace and each pane's scrollback, and bringing them back after a
//! restart (see docs/persistence.md).

use super::{with_live_state, Live, Pending, Server};
use crate::attention::Tracker;
use crate::config::START_STAGGER;
use crate::error::{Error, Result};
use crate::integration;
use crate::pane::Pane;
use crate::restore::Preamble;
use quil_model::{PaneMeta, Workspace};
use quil_plugin::Mode;
use quil_proto::{EventKind, PaneId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A restored pane: its id, the pane, its state tracker, and how it starts if it waits.
type Restored = (PaneId, Arc<dyn Pane>, Option<Tracker>, Option<Pending>);

/// What the second half of a restore needs from the first ([`Server::restore_layout`]).
pub struct RestorePlan {
    /// Each pane's metadata for this start, and how it starts.
    plans: Vec<(PaneMeta, Mode)>,
    /// When each waits until (lazy restore), or `None` to start now.
    dues: Vec<Option<Instant>>,
    started: Instant,
}

/// Longest a clean stop waits for the panes' journals to reach the disk.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

impl Server {
    /// The workspace as it should be saved: metadata refreshed from the live panes, and each
    /// agent pane's conversation as its CLI reported it.
    pub fn snapshot_workspace(&self) -> Workspace {
        let (mut ws, panes) = {
            let st = self.lock();
            // A pane still being restored keeps its metadata as loaded (its holder above all).
            let panes: HashMap<PaneId, Arc<dyn Pane>> = st
                .panes
                .iter()
                .filter(|(_, l)| !l.restoring)
                .map(|(id, l)| (*id, l.pane.clone()))
                .collect();
            (st.ws.clone(), panes)
        };
        {
            let reg = self.plugins();
            for meta in ws.panes.iter_mut() {
                with_live_state(meta, panes.get(&meta.id).map(|p| &**p));
                // The conversation the CLI recorded, kept as a second source.
                let rec = integration::plugin_for(&reg, meta)
                    .and_then(|p| integration::recorded(&self.home, meta, p));
                if let Some(rec) = rec {
                    meta.plugin_state
                        .insert(integration::SESSION_KEY.into(), rec.id);
                }
            }
        }
        // Keep the live model in step, so a later restore or respawn sees the same id.
        let mut st = self.lock();
        for m in &ws.panes {
            if let Some(live) = st.ws.pane_mut(m.id) {
                live.plugin_state = m.plugin_state.clone();
            }
        }
        ws
    }

    /// Brings back a saved workspace: same ids, layout and names; every pane started again
    /// concurrently, each showing its saved content. Returns how many panes it restored.
    pub fn restore(&self, ws: Workspace) -> usize {
        let plan = self.restore_layout(ws);
        self.finish_restore(plan)
    }

    /// The first, quick half of a restore: the saved tabs, layout and names go in at once,
    /// each pane a placeholder that says it is being restored, so clients can list, attach
    /// and open tabs while [`Server::finish_restore`] reads the panes back. Requests that
    /// need a pane's process or screen wait for it ([`Server::until_restored`]).
    pub fn restore_layout(&self, mut ws: Workspace) -> RestorePlan {
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
        let plans = self.resume_plans(&mut ws);
        // Lazy restore: the panes of the tab a client shows first, and eager ones, start now;
        // the others show their restored screen and start when shown, given input, or after
        // their delay, one every START_STAGGER.
        let shown = ws
            .tabs
            .get(ws.active_tab)
            .map(|t| t.layout.panes())
            .unwrap_or_default();
        let now = Instant::now();
        let lazy = self.config().lazy_start();
        let mut later = 0;
        let dues: Vec<Option<Instant>> = plans
            .iter()
            .map(|(meta, _)| {
                let after = lazy?;
                if meta.eager || shown.contains(&meta.id) {
                    return None;
                }
                later += 1;
                Some(now + after + START_STAGGER * (later - 1))
            })
            .collect();
        let placeholders: Vec<(PaneId, Arc<dyn Pane>)> = plans
            .iter()
            .map(|(meta, _)| {
                let rows = if meta.rows == 0 {
                    self.config().default_rows
                } else {
                    meta.rows
                };
                let note = crate::restore::preamble(&[], "restoring…", rows);
                (meta.id, self.unstarted_pane(meta, note))
            })
            .collect();
        {
            let mut st = self.lock();
            st.ws = ws;
            for (id, p) in placeholders {
                let mut live = Live::new(p, None);
                live.restored = true;
                live.restoring = true;
                st.panes.insert(id, live);
            }
        }
        self.changed();
        RestorePlan {
            plans,
            dues,
            started,
        }
    }

    /// The second half of a restore: every pane's content first, then every process (taken
    /// over from its holder, started, or left to start later), each put in place of its
    /// placeholder as soon as it is ready. A pane closed meanwhile is not started (or, taken
    /// over, is hung up); once the daemon stops, what is left stays as saved for the next one.
    pub fn finish_restore(&self, plan: RestorePlan) -> usize {
        let RestorePlan {
            plans,
            dues,
            started,
        } = plan;
        // A few workers, not a thread per pane: on a small machine 50 concurrent forks mostly
        // contend with each other.
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8)
            * 2;
        let wanted = |id: PaneId| {
            !self.stopping.load(Ordering::SeqCst)
                && self.lock().panes.get(&id).is_some_and(|l| l.restoring)
        };
        // Every pane's content first, then every process: a restored pane that prints a lot
        // would otherwise take the CPU from the panes still being read back.
        // (A pane whose process kept running under its holder shows its screen exactly instead;
        // that is read when it is taken over.)
        let preambles = in_parallel(&plans, workers, |(meta, _)| {
            (meta.holder.is_none() && wanted(meta.id)).then(|| self.restored_preamble(meta))
        });
        // Panes' readers are tasks on the runtime: the workers start them from its context.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let starts: Vec<_> = plans
            .iter()
            .zip(dues)
            .zip(preambles)
            .map(|((plan, due), pre)| (plan, due, std::sync::Mutex::new(pre.flatten())))
            .collect();
        let restored = in_parallel(&starts, workers, |((meta, mode), due, pre)| {
            if !wanted(meta.id) {
                return false;
            }
            let _runtime = runtime.as_ref().map(|r| r.enter());
            let restored = self.restore_pane(meta, *mode, *due, pre);
            restored.is_some_and(|r| self.put_restored(r))
        });
        let n = restored.into_iter().flatten().filter(|r| *r).count();
        let waiting = {
            let mut st = self.lock();
            // One that could not be brought back at all stays as its placeholder, no longer
            // waited for (a stopping daemon leaves the rest as saved for the next one).
            if !self.stopping.load(Ordering::SeqCst) {
                for (id, live) in st.panes.iter_mut().filter(|(_, l)| l.restoring) {
                    tracing::warn!(pane = %id, "could not be restored");
                    live.restoring = false;
                }
            }
            st.panes.values().filter(|l| l.pending.is_some()).count()
        };
        self.changed();
        tracing::info!(
            panes = n,
            waiting,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "workspace restored"
        );
        self.emit(None, None, EventKind::Restored { panes: n as u32 });
        // Clients may have come to show panes that were to wait.
        let shown: Vec<PaneId> = {
            let st = self.lock();
            st.views
                .values()
                .flatten()
                .filter(|id| st.panes.get(id).is_some_and(|l| l.pending.is_some()))
                .copied()
                .collect()
        };
        for id in shown {
            if let Err(e) = self.start_pending(id) {
                tracing::warn!(pane = %id, "cannot start a shown pane: {e}");
            }
        }
        n
    }

    /// One pane of a restore: its process taken over, started, or (lazy) waiting to start.
    fn restore_pane(
        &self,
        meta: &PaneMeta,
        mode: Mode,
        due: Option<Instant>,
        pre: &std::sync::Mutex<Option<Preamble>>,
    ) -> Option<Restored> {
        // Its process still runs: take it over.
        if let Some(p) = self.take_over(meta) {
            return Some((meta.id, p, self.new_tracker(meta), None));
        }
        let preamble = std::mem::take(&mut *pre.lock().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_else(|| self.restored_preamble(meta));
        if let Some(due) = due {
            let pending = Pending {
                meta: meta.clone(),
                mode,
                due,
            };
            return Some((
                meta.id,
                self.unstarted_pane(meta, preamble),
                None,
                Some(pending),
            ));
        }
        // keep_failed: a pane that cannot start is kept, showing why.
        self.start_pane(meta, mode, preamble, true)
            .ok()
            .map(|p| (meta.id, p, self.new_tracker(meta), None))
    }

    /// Puts a restored pane in place of its placeholder. False (and the pane hung up) when it
    /// was closed meanwhile.
    fn put_restored(&self, (id, p, tracker, pending): Restored) -> bool {
        {
            let mut st = self.lock();
            match st.panes.get_mut(&id).filter(|l| l.restoring) {
                Some(live) => live.replace(p.clone(), tracker, pending),
                None => {
                    drop(st);
                    p.hangup();
                    return false;
                }
            }
        }
        self.changed();
        // A resumed CLI that quit at once (its conversation gone) may have done so already.
        self.exited_early(id, &p);
        true
    }

    /// The pane's process, still running under its holder, as a live pane again; `None` when
    /// it has no holder or its holder is gone (a reboot): it then starts again as saved.
    fn take_over(&self, meta: &PaneMeta) -> Option<Arc<dyn Pane>> {
        let name = meta.holder.as_deref()?;
        let config = self.config();
        let (preamble, size) = crate::restore::kept(
            &self.home,
            meta.id,
            config.persist_scrollback_bytes,
            config.scrollback_bytes,
            config.journal_bound(),
            meta.modes,
        );
        drop(config);
        let mut args = self.spawn_args(meta, Vec::new(), Vec::new(), preamble);
        // Drawn at the size the program's terminal has (its last journaled resize), which the
        // saved workspace may not have caught up with.
        if let Some((cols, rows)) = size {
            (args.cols, args.rows) = (cols, rows);
        }
        match self.spawner.adopt(name, args, self.signals.clone()) {
            Ok(p) => {
                tracing::info!(pane = %meta.id, pid = ?p.pid(), "took over the running process");
                if meta.modes & quil_proto::modes::ALT_SCREEN != 0 {
                    nudge(&p);
                }
                Some(p)
            }
            Err(e) => {
                tracing::info!(pane = %meta.id, "starting again: {e}");
                let _ = std::fs::remove_file(self.home.join(crate::holder::DIR).join(name));
                None
            }
        }
    }

    /// Panes whose holder still runs but which the workspace does not have (made just before a
    /// crash, ahead of the save; or in a workspace that could not be loaded): each comes back
    /// as a tab of its own, its process taken over, so no running process is left unseen.
    /// Holders that no longer answer leave their socket behind; it is removed.
    pub fn take_over_strays(&self) {
        let dir = self.home.join(crate::holder::DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let known: std::collections::HashSet<String> = self
            .lock()
            .panes
            .values()
            .filter_map(|l| l.pane.holder().map(str::to_string))
            .collect();
        for name in entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
        {
            if known.contains(&name) {
                continue;
            }
            if let Err(e) = self.take_over_stray(&name) {
                tracing::info!(holder = %name, "not taken over: {e}");
                let _ = std::fs::remove_file(dir.join(&name));
            }
        }
    }

    fn take_over_stray(&self, name: &str) -> Result<()> {
        self.lock().ws.check_room()?;
        // The holder's name starts with the pane's id: its saved output is under that id.
        let (fresh, tab) = super::Server::fresh_ids_in(&self.lock());
        let id = name
            .rsplit_once('-')
            .and_then(|(id, _)| id.parse::<PaneId>().ok())
            .filter(|id| self.lock().ws.pane(*id).is_none())
            .unwrap_or(fresh);
        let config = self.config();
        let (preamble, size) = crate::restore::kept(
            &self.home,
            id,
            config.persist_scrollback_bytes,
            config.scrollback_bytes,
            config.journal_bound(),
            0,
        );
        let (cols, rows) = size.unwrap_or((config.default_cols, config.default_rows));
        let mut meta = PaneMeta {
            id,
            kind: quil_plugin::DEFAULT_TYPE.into(),
            cols,
            rows,
            ..Default::default()
        };
        drop(config);
        let args = self.spawn_args(&meta, Vec::new(), Vec::new(), preamble);
        let pane = self.spawner.adopt(name, args, self.signals.clone())?;
        // What it runs, where: a later restart that finds it gone runs that again.
        meta.command = pane.argv().to_vec();
        meta.name = meta
            .command
            .first()
            .and_then(|a| std::path::Path::new(a).file_name())
            .map_or_else(|| "recovered".into(), |f| f.to_string_lossy().into_owned());
        meta.cwd = pane
            .pid()
            .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
            .unwrap_or_else(|| self.home.clone());
        tracing::warn!(pane = %id, holder = %name, "took over a running pane the workspace did not have");
        let tracker = self.new_tracker(&meta);
        let mut st = self.lock();
        let tab_name = meta.name.clone();
        let pane_type = meta.kind.clone();
        st.ws.add_tab(tab, tab_name.clone(), meta)?;
        let mut live = Live::new(pane.clone(), tracker);
        live.restored = true;
        st.panes.insert(id, live);
        self.emit(
            None,
            Some(tab),
            EventKind::TabCreated {
                name: tab_name.clone(),
            },
        );
        self.emit(
            Some(id),
            Some(tab),
            EventKind::PaneCreated {
                name: tab_name,
                pane_type,
            },
        );
        drop(st);
        self.changed();
        self.exited_early(id, &pane);
        Ok(())
    }

    /// What a restored pane shows before its process prints anything: its saved content
    /// (snapshot and journal) drawn as it was, then a line saying so.
    fn restored_preamble(&self, meta: &PaneMeta) -> Preamble {
        let config = self.config();
        let lines = if self.keeps_scrollback(meta) {
            crate::restore::recover(
                &self.home,
                meta.id,
                config.persist_scrollback_bytes,
                config.scrollback_bytes,
                config.journal_bound(),
            )
        } else {
            Vec::new()
        };
        let rows = if meta.rows == 0 {
            config.default_rows
        } else {
            meta.rows
        };
        crate::restore::preamble(&lines, "restored after a daemon restart", rows)
    }

    /// Starts a restored pane that waits (lazy restore) in place, at the size it is shown at,
    /// from its files (which nothing wrote to while it waited). False when it was not waiting.
    pub fn start_pending(&self, id: PaneId) -> Result<bool> {
        // Whoever comes second waits here for the first, then finds it started. The pane keeps
        // its `pending` until `replace_pane` puts the process in, so no save writes over its
        // files meanwhile.
        let _starting = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        let (pending, (cols, rows)) = {
            let st = self.lock();
            let live = st.panes.get(&id).ok_or(Error::UnknownPane(id))?;
            (live.pending.clone(), live.pane.shared().size())
        };
        let Some(Pending { mut meta, mode, .. }) = pending else {
            return Ok(false);
        };
        (meta.cols, meta.rows) = (cols, rows);
        let pane = crate::blocking(|| {
            let preamble = self.restored_preamble(&meta);
            self.start_pane(&meta, mode, preamble, true)
        })?;
        self.replace_pane(&meta, pane)?;
        tracing::info!(pane = %id, "started (lazy restore)");
        Ok(true)
    }

    /// Starts the waiting panes whose delay is over.
    pub(super) fn start_due(&self) {
        let now = Instant::now();
        let due: Vec<PaneId> = self
            .lock()
            .panes
            .iter()
            .filter(|(_, l)| l.pending.as_ref().is_some_and(|p| p.due <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Err(e) = self.start_pending(id) {
                tracing::warn!(pane = %id, "cannot start: {e}");
            }
        }
    }

    /// How each saved pane starts again: agent panes each resume their own conversation (none
    /// resumes another's, `integration::plan`); others start or resume per their type. The
    /// returned metadata is for this start only: the saved pane keeps its own arguments.
    fn resume_plans(&self, ws: &mut Workspace) -> Vec<(PaneMeta, Mode)> {
        let reg = self.plugins();
        let mut metas = ws.panes.clone();
        let decisions = integration::plan(&self.home, &mut metas, &reg);
        for m in &metas {
            if let Some(saved) = ws.pane_mut(m.id) {
                saved.plugin_state = m.plugin_state.clone();
            }
        }
        let mut plans = Vec::with_capacity(metas.len());
        for (mut m, d) in metas.into_iter().zip(decisions) {
            let plugin = d
                .as_ref()
                .and_then(|_| integration::plugin_for(&reg, &m))
                .cloned();
            let mode = match (d, plugin) {
                (Some(d), Some(plugin)) => {
                    tracing::info!(pane = %m.id, decision = ?d, "resuming agent pane");
                    integration::apply(&mut m, &plugin, &d)
                }
                // Strategy `none` panes were dropped above.
                _ => super::spawn::restore_mode_in(&reg, &m).unwrap_or(Mode::Start),
            };
            plans.push((m, mode));
        }
        plans
    }

    /// Saves the workspace if it changed since the last save.
    pub fn save_workspace_only(&self) {
        let mut saver = self.saver.lock().unwrap_or_else(|e| e.into_inner());
        let (_, err) = self.save_ws_locked(&mut saver);
        self.set_persist_error(err);
    }

    /// Saves the workspace if it changed; returns it, and why the save failed.
    fn save_ws_locked(&self, saver: &mut super::Saver) -> (Workspace, Option<String>) {
        let ws = self.snapshot_workspace();
        let json = serde_json::to_string(&ws).unwrap_or_default();
        let mut err = None;
        if saver.last_saved != json {
            match crate::persist::save_workspace(&self.home, &ws) {
                Ok(()) => saver.last_saved = json,
                Err(e) => {
                    let why = format!(
                        "cannot save {}: {e}",
                        crate::persist::workspace_path(&self.home).display()
                    );
                    tracing::error!("{why}");
                    err = Some(why);
                }
            }
        }
        (ws, err)
    }

    /// Saves the workspace (when it changed) and the scrollback of panes with new output whose
    /// output is not journaled (their journals save them). `all_buffers` is a clean stop: every
    /// journal puts all it has on disk and records nothing more, and every other pane's
    /// scrollback is saved.
    pub fn save(&self, all_buffers: bool) {
        let mut saver = self.saver.lock().unwrap_or_else(|e| e.into_inner());
        let (ws, mut err) = self.save_ws_locked(&mut saver);
        // Panes waiting to start (lazy restore) or still being restored save nothing: their
        // files stay as restored.
        let panes: Vec<Arc<dyn Pane>> = self
            .lock()
            .panes
            .values()
            .filter(|l| l.pending.is_none() && !l.restoring)
            .map(|l| l.pane.clone())
            .collect();
        if all_buffers {
            // All at once, then wait for each: their fsyncs overlap.
            for p in &panes {
                p.shared().finish_journal();
            }
            let deadline = Instant::now() + FINISH_WITHIN;
            for p in &panes {
                if let Err(e) = p.shared().wait_journal(deadline) {
                    tracing::error!(pane = %p.id(), "{e}");
                    err.get_or_insert_with(|| format!("pane {}: {e}", p.id()));
                }
            }
        }
        for p in &panes {
            let id = p.id();
            if p.shared().journaled() || !ws.pane(id).is_some_and(|m| self.keeps_scrollback(m)) {
                continue;
            }
            let gen = p.output_gen();
            if !all_buffers && saver.buffer_gens.get(&id) == Some(&gen) {
                continue;
            }
            let saved = p
                .shared()
                .export_saved(self.config().persist_scrollback_bytes);
            match crate::persist::write_buffer(&self.home, id, &saved) {
                Ok(()) => {
                    saver.buffer_gens.insert(id, gen);
                }
                Err(e) => {
                    tracing::error!(pane = %id, "cannot save scrollback: {e}");
                    err.get_or_insert_with(|| {
                        format!(
                            "cannot save the scrollback of {id} in {}: {e}",
                            crate::persist::buffers_dir(&self.home).display()
                        )
                    });
                }
            }
        }
        let ids: std::collections::HashSet<PaneId> = ws.panes.iter().map(|m| m.id).collect();
        saver.buffer_gens.retain(|id, _| ids.contains(id));
        // Only buffers of panes this daemon had and closed go: the scrollback of a workspace
        // that could not be loaded stays on disk.
        let closed: std::collections::HashSet<PaneId> = {
            // One closed after this save's snapshot of the workspace waits for the next save.
            let mut c = self.closed.lock().unwrap_or_else(|e| e.into_inner());
            let now: std::collections::HashSet<PaneId> = c.difference(&ids).copied().collect();
            c.retain(|id| ids.contains(id));
            now
        };
        let gone: Vec<PaneId> = saver
            .known
            .union(&closed)
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        self.remove_buffers(&gone);
        saver.known = ids;
        drop(saver);
        self.set_persist_error(err);
    }

    /// Panes of the loaded snapshot: their buffers are this daemon's to prune once they are
    /// gone (a pane type that is not restored, say).
    pub fn adopt_saved(&self, ids: impl IntoIterator<Item = PaneId>) {
        let mut saver = self.saver.lock().unwrap_or_else(|e| e.into_inner());
        saver.known.extend(ids);
    }
}

/// `f` of each of `items` on up to `workers` threads, in the items' order (`None` where `f`
/// panicked).
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
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
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    for (i, r) in done {
        out[i] = Some(r);
    }
    out
}

/// Has a full-screen program redraw: what it had on the alternate screen is not saved. A
/// resize and back, as a window manager would, is what every such program redraws on.
fn nudge(pane: &Arc<dyn Pane>) {
    let (cols, rows) = pane.shared().size();
    if rows < 2 {
        return;
    }
    let _ = pane.resize_process(cols, rows - 1);
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        let _ = pane.resize_process(cols, rows);
        return;
    };
    let pane = pane.clone();
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = pane.resize_process(cols, rows);
    });
}
