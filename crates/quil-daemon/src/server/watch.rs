//! The housekeeping tick (every 250 ms while anything happens): stalled input, timed-out
//! synchronized updates, attention states and state scraped from output. With nothing to
//! watch it sleeps until something happens ([`super::Idle`]).

use super::{unix_now, Server};
use crate::attention::{Observation, Tracker};
use crate::integration;
use crate::pane::Pane;
use quil_model::{Attention, PaneMeta};
use quil_plugin::Strategy;
use quil_proto::{EventKind, PaneId};
use std::sync::Arc;
use std::time::Instant;

/// History lines (besides the screen) that `[[persistence.scrape]]` rules look at: enough for
/// an id printed at start to be found after a screenful or two of output.
const SCRAPE_HISTORY: usize = 200;

/// One pane as the tick sees it: its process, metadata, and what the tick keeps for it.
struct Seen {
    pane: Arc<dyn Pane>,
    meta: PaneMeta,
    viewed: bool,
    attention: Option<Tracker>,
    scraped_gen: u64,
    ticked_gen: u64,
}

/// Which idle panes [`Server::pack_idle`] packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// Every pane no client shows: the whole daemon has been quiet for a while.
    Now,
    /// Those that printed nothing since the last call (about 5 s).
    SinceLast,
}

/// What a tick found: whether anything is going on, and the next time something is due.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tick {
    /// Output, input, a state change or a CLI starting: keep ticking.
    pub active: bool,
    /// The earliest restored pane waiting to start (lazy restore) starts then.
    pub next_due: Option<Instant>,
}

/// Wakes the housekeeping when an agent CLI reports a state (its hooks write
/// `$QUIL_HOME/sessions/*.state`), which it may do while its pane prints nothing (a
/// permission prompt after a quiet minute). The watcher lives as long as the returned value.
pub fn watch_reports(server: Arc<Server>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = quil_ai::sessions_dir(&server.home);
    let watching = || -> notify::Result<notify::RecommendedWatcher> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&dir)
            .map_err(notify::Error::io)?;
        let signals = server.signals.clone();
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok_and(|ev| crate::plugins::is_change_of(&ev, |n| n.ends_with(".state"))) {
                signals.idle.wake();
            }
        })?;
        w.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        Ok(w)
    };
    match watching() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(
                "cannot watch {} for agents' reports: {e} (their states are read as panes print)",
                dir.display()
            );
            None
        }
    }
}

impl Server {
    /// Periodic checks: stalled input, timed-out synchronized updates, attention states.
    pub fn housekeeping(&self) -> Tick {
        self.start_due();
        let (mut seen, next_due) = {
            let st = self.lock();
            let viewed = st.viewed();
            let seen: Vec<Seen> = st
                .panes
                .iter()
                .filter_map(|(id, l)| {
                    Some(Seen {
                        pane: l.pane.clone(),
                        meta: st.ws.pane(*id)?.clone(),
                        viewed: viewed.contains(id),
                        attention: l.attention.clone(),
                        scraped_gen: l.scraped_gen,
                        ticked_gen: l.ticked_gen,
                    })
                })
                .collect();
            let next_due = st
                .panes
                .values()
                .filter_map(|l| Some(l.pending.as_ref()?.due))
                .min();
            (seen, next_due)
        };
        let mut meta = false;
        let mut active = false;
        for s in &mut seen {
            meta |= s.pane.shared().check_input_stall();
            s.pane.shared().flush_sync(&*self.signals);
            let gen = s.pane.output_gen();
            active |= std::mem::replace(&mut s.ticked_gen, gen) != gen
                || s.pane.shared().needs_checks()
                || s.attention.as_ref().is_some_and(|a| a.starting);
        }
        let scraped = self.scrape_state(&mut seen);
        let transitions = self.update_attention(&mut seen);
        meta |= !transitions.is_empty();
        active |= meta;
        // Write back what changed, for panes still there.
        let mut st = self.lock();
        for (id, kind) in transitions {
            if st.panes.contains_key(&id) {
                self.emit_pane(&st, id, kind);
            }
        }
        for s in seen {
            if let Some(live) = st.panes.get_mut(&s.meta.id) {
                live.attention = s.attention;
                live.scraped_gen = s.scraped_gen;
                live.ticked_gen = s.ticked_gen;
            }
        }
        for (id, values) in &scraped {
            if let Some(m) = st.ws.pane_mut(*id) {
                tracing::debug!(pane = %id, ?values, "scraped");
                m.plugin_state.extend(values.iter().cloned());
            }
        }
        drop(st);
        if meta || !scraped.is_empty() {
            self.changed();
        }
        Tick { active, next_due }
    }

    /// Packs the screens of idle panes no client shows ([`quil_term::Terminal::pack`]): a
    /// 120x40 screen from 115 KB of cells to about the size of its text, until the pane
    /// prints or is resized. Returns how many are packed.
    pub fn pack_idle(&self, quiet: Quiet) -> usize {
        let panes: Vec<Arc<dyn Pane>> = {
            let mut st = self.lock();
            let viewed = st.viewed();
            st.panes
                .iter_mut()
                .filter(|(id, _)| !viewed.contains(id))
                .filter_map(|(_, l)| {
                    let gen = l.pane.output_gen();
                    let last = std::mem::replace(&mut l.packed_gen, gen);
                    (quiet == Quiet::Now || last == gen).then(|| l.pane.clone())
                })
                .collect()
        };
        panes.iter().filter(|p| p.shared().pack()).count()
    }

    /// `session_scrape` pane types: captures their state keys (`[[persistence.scrape]]`) from
    /// what the pane shows and its recent history, whenever it printed something new, so that
    /// a restart can resume it with `resume_args`. Returns the values that changed.
    fn scrape_state(&self, seen: &mut [Seen]) -> Vec<(PaneId, Vec<(String, String)>)> {
        let reg = self.plugins();
        let mut found = Vec::new();
        for s in seen.iter_mut().filter(|s| s.meta.command.is_empty()) {
            let Some(pl) = reg
                .get(&s.meta.kind)
                .filter(|pl| pl.persistence.strategy == Strategy::SessionScrape)
            else {
                continue;
            };
            let gen = s.pane.output_gen();
            if std::mem::replace(&mut s.scraped_gen, gen) == gen {
                continue;
            }
            let text: Vec<String> = s
                .pane
                .shared()
                .export_lines(SCRAPE_HISTORY)
                .iter()
                .map(|l| l.text())
                .collect();
            let new: Vec<(String, String)> = pl
                .scrape(&text.join("\n"))
                .into_iter()
                .filter(|(k, v)| s.meta.plugin_state.get(k) != Some(v))
                .collect();
            if !new.is_empty() {
                found.push((s.meta.id, new));
            }
        }
        found
    }

    /// Folds this tick's observations into each pane's attention state. Panes whose type
    /// reports no state (no integration, no handlers) have none. Returns the changes, as
    /// events.
    fn update_attention(&self, seen: &mut [Seen]) -> Vec<(PaneId, EventKind)> {
        let now = Instant::now();
        let unix = unix_now();
        let mut changes = Vec::new();
        // Borrowed for the whole pass: this runs every 250 ms for every pane.
        let reg = self.plugins();
        for s in seen.iter_mut() {
            let plugin = integration::plugin_for(&reg, &s.meta);
            let mechanism = integration::mechanism(plugin);
            let ready_pattern = plugin.and_then(|pl| pl.integration.ready.as_ref());
            let handlers = integration::handlers(plugin);
            if mechanism.is_none() && handlers.is_none() {
                if let Some(old) = s.attention.take() {
                    changes.push((s.meta.id, state_event(None, Some(old.state), None)));
                }
                continue;
            }
            // An exited pane is idle: nothing to read or match for it.
            let alive = s.pane.is_alive();
            let recorded = mechanism
                .filter(|_| alive)
                .and_then(|m| integration::recorded_state(&self.home, &s.meta, m));
            let pane = &s.pane;
            let matcher = |quiet: bool| -> Option<(Attention, String)> {
                let pl = handlers.filter(|_| alive)?;
                pl.match_attention(&pane.shared().screen_text(), quiet)
                    .map(|(st, h)| (st, h.title.clone()))
            };
            // Read only while the CLI is starting; an exited one will never be readier.
            let ready = || {
                !alive
                    || ready_pattern.is_some_and(|r| r.regex.is_match(&pane.shared().screen_text()))
            };
            let obs = Observation {
                output_gen: s.pane.output_gen(),
                recorded,
                handlers: handlers.is_some().then_some(&matcher as _),
                ready: (ready_pattern.is_some() || !alive).then_some(&ready as _),
                viewed: s.viewed,
                now,
                unix_now: unix,
            };
            // Agent panes have theirs from their start; others get one once they report states.
            let a = s.attention.get_or_insert_with(|| Tracker::new(now, unix));
            let fresh = !std::mem::replace(&mut a.announced, true);
            let mut before = (!fresh).then_some(a.state);
            let mut steps = a.update(&obs);
            if fresh && steps.is_empty() {
                steps.push((a.state, a.detail.clone()));
            }
            for (state, detail) in steps {
                tracing::debug!(pane = %s.meta.id, %state, "attention");
                changes.push((s.meta.id, state_event(Some(state), before, detail)));
                before = Some(state);
            }
        }
        changes
    }
}

fn state_event(
    state: Option<Attention>,
    previous: Option<Attention>,
    detail: Option<String>,
) -> EventKind {
    EventKind::State {
        state,
        previous,
        detail,
    }
}
