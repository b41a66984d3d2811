//! Starting panes: a pane's command line from its type (or its own command) and its
//! integration, new tabs and splits, respawns, and a fresh start when a resumed conversation
//! turns out to be gone.

use super::{random_u64, valid_name, with_live_state, Live, Server, State};
use crate::error::{Error, Result};
use crate::integration;
use crate::pane::{Pane, Persist, Placeholder, SpawnArgs};
use crate::restore::{preamble as preamble_of, Preamble};
use quil_model::{PaneMeta, SplitDir, TabId};
use quil_plugin::Mode;
use quil_proto::{EventKind, PaneId, SpawnSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A pane's argv and the extra environment its type needs.
type Launch = (Vec<String>, Vec<(String, String)>);

/// A resumed CLI that quits this soon, saying its type's `not_found`, found no conversation.
const NOT_FOUND_WITHIN: Duration = Duration::from_secs(15);

impl Server {
    /// Ids no pane or tab of `st` has.
    pub(super) fn fresh_ids_in(st: &State) -> (PaneId, TabId) {
        Self::fresh_ids(st)
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
    ) -> Result<PaneMeta> {
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
            return Err(Error::NoSuchDir(cwd));
        }
        if let Some((kv, why)) = spec
            .env
            .iter()
            .find_map(|kv| quil_proto::env::entry_problem(kv).map(|why| (kv, why)))
        {
            return Err(Error::Invalid(format!("environment entry {kv:?} {why}")));
        }
        // Only the documented variables, whatever a client sends.
        let client_env: Vec<String> = spec
            .client_env
            .iter()
            .filter(|kv| {
                kv.split_once('=')
                    .is_some_and(|(k, _)| quil_proto::env::is_forwarded(k))
            })
            .cloned()
            .collect();
        let mut meta = PaneMeta {
            id,
            cwd,
            env: spec.env.clone(),
            client_env,
            cols: self.config().default_cols,
            rows: self.config().default_rows,
            ..Default::default()
        };
        match &spec.kind {
            // A bare command: run exactly that.
            None if !spec.command.is_empty() => {
                meta.kind = quil_plugin::DEFAULT_TYPE.into();
                meta.command = spec.command.clone();
            }
            kind => {
                let kind = kind
                    .clone()
                    .unwrap_or_else(|| quil_plugin::DEFAULT_TYPE.into());
                let plugin = self.plugin(&kind)?;
                // Looked up on the PATH the pane will have: its own, the asking client's, or ours.
                let path = pane_path(&meta);
                if !plugin.available_in(path.as_deref()) {
                    return Err(Error::NotInstalled(
                        plugin.missing_binary_error_in(path.as_deref()),
                    ));
                }
                meta.kind = kind;
                meta.extra_args = spec.command.clone();
                meta.toggles = spec.toggles.iter().cloned().collect();
                meta.fields = spec.fields.iter().cloned().collect();
                meta.plugin_state = plugin.initial_state();
            }
        }
        // Checked (and the pane named) before a worktree is made for it.
        let (argv, _) = self.plain_command(&meta, Mode::Start)?;
        if spec.worktree {
            let wt = quil_worktree::create(&meta.cwd, &meta.kind)?;
            tracing::info!(pane = %id, path = %wt.path.display(), branch = %wt.branch, "worktree created");
            meta.cwd = wt.path.clone();
            meta.worktree = Some(wt);
        }
        meta.name = name.unwrap_or_else(|| {
            argv.first()
                .and_then(|a| Path::new(a).file_name())
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| meta.kind.clone())
        });
        Ok(meta)
    }

    /// A copy of the pane type `kind`.
    pub(super) fn plugin(&self, kind: &str) -> Result<quil_plugin::Plugin> {
        let reg = self.plugins();
        if let (None, Some(f)) = (reg.get(kind), reg.failed(kind)) {
            // Name the file and why, not just "unknown": the user wrote this type.
            return Err(Error::BrokenPaneType {
                name: kind.to_string(),
                error: f.error.to_string().replace('\n', " "),
            });
        }
        reg.get(kind)
            .cloned()
            .ok_or_else(|| Error::UnknownPaneType {
                name: kind.to_string(),
                known: reg
                    .list()
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// `f` of the pane type `kind`, read in place (the saver asks for every pane, every few
    /// seconds: no copy of the plugin); `None` when there is no such type.
    pub(super) fn with_plugin<T>(
        &self,
        kind: &str,
        f: impl FnOnce(&quil_plugin::Plugin) -> T,
    ) -> Option<T> {
        self.plugins().get(kind).map(f)
    }

    /// What to run for a pane: its explicit command, or its type's, for a start or a resume,
    /// with what its integration and quil's shell integration add.
    fn command_for(&self, meta: &PaneMeta, mode: Mode) -> Result<Launch> {
        let (mut argv, mut env) = self.plain_command(meta, mode)?;
        let mechanism = integration::mechanism(integration::plugin_for(&self.plugins(), meta));
        if let Some(m) = mechanism {
            let extras = integration::spawn_extras(&self.home, meta, m)?;
            argv.extend(extras.args);
            env.extend(extras.env);
        }
        // A plain shell gets quil's integration, which reports its cwd.
        let shell = self.config().shell();
        if meta.command.is_empty() && argv == [shell.clone()] {
            let (argv, mut shell_env) = crate::shellinit::shell_command(&self.home, &shell);
            shell_env.extend(env);
            return Ok((argv, shell_env));
        }
        Ok((argv, env))
    }

    /// The pane's command line from its explicit command or its type, without what quil adds
    /// around it (integration files, shell integration): enough to check it and to name the
    /// pane, and writes nothing.
    fn plain_command(&self, meta: &PaneMeta, mode: Mode) -> Result<Launch> {
        if !meta.command.is_empty() {
            return Ok((meta.command.clone(), Vec::new()));
        }
        let plugin = self.plugin(&meta.kind)?;
        let shell = self.config().shell();
        let pane_id = meta.id.to_string();
        let cwd = meta.cwd.display().to_string();
        let ctx = quil_plugin::SpawnContext {
            state: &meta.plugin_state,
            fields: &meta.fields,
            toggles: &meta.toggles,
            extra_args: &meta.extra_args,
            ..quil_plugin::SpawnContext::new(mode, &pane_id, &cwd, &shell)
        };
        let built = quil_plugin::build_argv(&plugin, &ctx).map_err(Error::Invalid)?;
        Ok((built.argv, built.env))
    }

    /// How a saved pane comes back: `None` when its type says not to restore it.
    pub(super) fn restore_mode(&self, meta: &PaneMeta) -> Option<Mode> {
        restore_mode_in(&self.plugins(), meta)
    }

    /// Whether a pane's scrollback is saved and restored (its type's `scrollback`).
    pub(super) fn keeps_scrollback(&self, meta: &PaneMeta) -> bool {
        !meta.command.is_empty()
            || self
                .with_plugin(&meta.kind, |p| p.persistence.scrollback)
                .unwrap_or(true)
    }

    pub(super) fn spawn_args(
        &self,
        meta: &PaneMeta,
        argv: Vec<String>,
        extra: Vec<(String, String)>,
        preamble: Preamble,
    ) -> SpawnArgs {
        let mut env: Vec<(String, String)> = meta
            .client_env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend([
            ("TERM".to_string(), "xterm-256color".to_string()),
            ("COLORTERM".to_string(), "truecolor".to_string()),
            ("TERM_PROGRAM".to_string(), "quil".to_string()),
            (
                "TERM_PROGRAM_VERSION".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            (
                quil_proto::paths::ENV_PANE_ID.to_string(),
                meta.id.to_string(),
            ),
            (
                quil_proto::paths::ENV_HOME.to_string(),
                self.home.display().to_string(),
            ),
        ]);
        env.extend(extra);
        env.extend(
            meta.env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let or = |v: u16, d: u16| if v == 0 { d } else { v };
        let config = self.config();
        let persist = self.keeps_scrollback(meta).then(|| Persist {
            home: self.home.clone(),
            budget: config.persist_scrollback_bytes,
            slot: self.slot(meta.id),
            fsync_every: config.fsync_every(),
            bound: config.journal_bound(),
        });
        SpawnArgs {
            id: meta.id,
            argv,
            cwd: meta.cwd.clone(),
            env,
            cols: or(meta.cols, config.default_cols),
            rows: or(meta.rows, config.default_rows),
            scrollback_bytes: config.scrollback_bytes,
            preamble,
            persist,
        }
    }

    /// Starts a pane's process. A pane that cannot start becomes a placeholder showing why
    /// when `keep_failed` (restores never drop a pane); otherwise the error is returned.
    pub(super) fn start_pane(
        &self,
        meta: &PaneMeta,
        mode: Mode,
        preamble: Preamble,
        keep_failed: bool,
    ) -> Result<Arc<dyn Pane>> {
        let (argv, extra) = match self.command_for(meta, mode) {
            Ok(c) => c,
            Err(e) if keep_failed => {
                let args = self.spawn_args(meta, shown_argv(meta), Vec::new(), preamble);
                return Ok(Placeholder::showing(
                    args,
                    &e.to_string(),
                    self.signals.clone(),
                ));
            }
            Err(e) => return Err(e),
        };
        let args = self.spawn_args(meta, argv, extra, preamble);
        match self.spawner.spawn(args.clone(), self.signals.clone()) {
            Ok(p) => Ok(p),
            Err(e) if keep_failed => {
                tracing::warn!(pane = %meta.id, "cannot start: {e}");
                Ok(Placeholder::showing(
                    args,
                    &e.to_string(),
                    self.signals.clone(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A restored pane that starts later (lazy restore): its restored screen and no process.
    /// It saves nothing, so its files stay as they were until it starts.
    pub(super) fn unstarted_pane(&self, meta: &PaneMeta, preamble: Preamble) -> Arc<dyn Pane> {
        let mut args = self.spawn_args(meta, shown_argv(meta), Vec::new(), preamble);
        args.persist = None;
        Placeholder::unstarted(args, self.signals.clone())
    }

    pub fn new_tab(&self, name: Option<String>, spec: SpawnSpec) -> Result<PaneId> {
        // Checked before anything starts, so a bad name leaves nothing behind.
        let name = name.map(|n| valid_name("tab", &n)).transpose()?;
        self.lock().ws.check_room()?;
        let (pid, tid) = Self::fresh_ids(&self.lock());
        let meta = self.new_meta(pid, &spec, None)?;
        let pane = self
            .start_pane(&meta, Mode::Start, Preamble::default(), false)
            .inspect_err(|_| discard_worktree(&meta))?;
        let tracker = self.new_tracker(&meta);
        let mut st = self.lock();
        let tab_name = name.unwrap_or_else(|| meta.name.clone());
        let created = self.created_events(&meta);
        if let Err(e) = st.ws.add_tab(tid, tab_name.clone(), meta) {
            drop(st);
            pane.hangup();
            return Err(e.into());
        }
        st.panes.insert(pid, Live::new(pane.clone(), tracker));
        self.emit(None, Some(tid), EventKind::TabCreated { name: tab_name });
        for kind in created {
            self.emit(Some(pid), Some(tid), kind);
        }
        drop(st);
        self.changed();
        self.exited_early(pid, &pane);
        Ok(pid)
    }

    pub fn split(&self, target: PaneId, dir: SplitDir, spec: SpawnSpec) -> Result<PaneId> {
        let target_cwd = {
            let st = self.lock();
            let meta = st.meta(target)?;
            // Refused before anything starts: too many panes, or too deep a layout.
            st.ws.check_split(target)?;
            let live = st
                .panes
                .get(&target)
                .and_then(|l| l.pane.shared().reported_cwd());
            live.filter(|p| p.is_dir())
                .unwrap_or_else(|| meta.cwd.clone())
        };
        let (pid, _) = Self::fresh_ids(&self.lock());
        let meta = self.new_meta(pid, &spec, Some(target_cwd))?;
        let pane = self
            .start_pane(&meta, Mode::Start, Preamble::default(), false)
            .inspect_err(|_| discard_worktree(&meta))?;
        self.place_split(target, dir, meta, pane)
    }

    /// A new pane beside `source` (split side by side) that continues a copy of its
    /// conversation: same type and choices, started with the type's `fork_args` for the
    /// source's session id; in a new worktree of the source's repository when `worktree`.
    pub fn fork(&self, source: PaneId, worktree: bool) -> Result<PaneId> {
        let (meta, cwd) = {
            let st = self.lock();
            let meta = st.meta(source)?.clone();
            st.ws.check_split(source)?;
            let live = st.pane(source).ok().and_then(|p| p.shared().reported_cwd());
            let cwd = live
                .filter(|p| p.is_dir())
                .unwrap_or_else(|| meta.cwd.clone());
            (meta, cwd)
        };
        let plugin = integration::plugin_for(&self.plugins(), &meta).cloned();
        let Some(plugin) = plugin.filter(|p| !p.integration.fork_args.is_empty()) else {
            return Err(Error::Invalid(format!(
                "pane {source} ({}) cannot be forked: its type declares no fork_args",
                meta.kind
            )));
        };
        let session = plugin
            .integration
            .mechanism
            .and(integration::recorded(&self.home, &meta, &plugin))
            .map(|r| r.id)
            .or_else(|| meta.plugin_state.get(integration::SESSION_KEY).cloned())
            .filter(|id| plugin.integration.valid_session_id(id))
            .ok_or_else(|| {
                Error::Invalid(format!("pane {source} has no conversation to fork yet"))
            })?;
        let fork_args: Vec<String> = plugin
            .integration
            .fork_args
            .iter()
            .filter_map(|a| {
                quil_plugin::expand(a, |k| {
                    (k == integration::SESSION_KEY).then(|| session.clone())
                })
                .ok()
            })
            .collect();
        let spec = SpawnSpec {
            kind: meta.command.is_empty().then(|| meta.kind.clone()),
            cwd: Some(cwd.display().to_string()),
            command: if meta.command.is_empty() {
                meta.extra_args.clone()
            } else {
                meta.command.clone()
            },
            env: meta.env.clone(),
            client_env: meta.client_env.clone(),
            worktree,
            toggles: meta.toggles.clone().into_iter().collect(),
            fields: meta.fields.clone().into_iter().collect(),
            ..Default::default()
        };
        let (pid, _) = Self::fresh_ids(&self.lock());
        let mut new = self.new_meta(pid, &spec, None)?;
        // The fork's own id comes from its CLI once it starts (a fork is a new conversation):
        // no preassigned one, which would name a conversation that is not there.
        new.plugin_state.remove(integration::SESSION_KEY);
        // The fork arguments are for this start only; a restore resumes the fork's own id.
        let mut launch = new.clone();
        if launch.command.is_empty() {
            launch.extra_args = quil_ai::restore_argv(
                &plugin.integration.session_args,
                &[String::new()]
                    .into_iter()
                    .chain(launch.extra_args)
                    .collect::<Vec<_>>(),
                fork_args,
            )
            .into_iter()
            .skip(1)
            .collect();
        } else {
            launch.command =
                quil_ai::restore_argv(&plugin.integration.session_args, &launch.command, fork_args);
        }
        let pane = self
            .start_pane(&launch, Mode::Start, Preamble::default(), false)
            .inspect_err(|_| discard_worktree(&new))?;
        self.place_split(source, SplitDir::Horizontal, new, pane)
    }

    /// Puts a started pane into the layout beside `target` and announces it; a pane the
    /// layout cannot take (the target is gone, or too small) is hung up.
    fn place_split(
        &self,
        target: PaneId,
        dir: SplitDir,
        meta: PaneMeta,
        pane: Arc<dyn Pane>,
    ) -> Result<PaneId> {
        let pid = meta.id;
        let tracker = self.new_tracker(&meta);
        let mut st = self.lock();
        let created = self.created_events(&meta);
        if let Err(e) = st.ws.split(target, dir, meta) {
            drop(st);
            pane.hangup();
            return Err(e.into());
        }
        st.panes.insert(pid, Live::new(pane.clone(), tracker));
        for kind in created {
            self.emit_pane(&st, pid, kind);
        }
        drop(st);
        self.changed();
        self.exited_early(pid, &pane);
        Ok(pid)
    }

    /// What to announce for a new pane: it exists, and so does its worktree.
    fn created_events(&self, meta: &PaneMeta) -> Vec<EventKind> {
        let mut v = vec![EventKind::PaneCreated {
            name: meta.name.clone(),
            pane_type: meta.kind.clone(),
        }];
        if let Some(wt) = &meta.worktree {
            v.push(EventKind::WorktreeCreated {
                path: wt.path.display().to_string(),
                branch: wt.branch.clone(),
            });
        }
        v
    }

    /// Starts a pane's command again in place, keeping what its screen showed.
    pub fn respawn(&self, id: PaneId) -> Result<()> {
        let (mut meta, old) = {
            let st = self.lock();
            (st.meta(id)?.clone(), st.pane(id).ok().cloned())
        };
        let mut preamble = Preamble::default();
        if let Some(old) = &old {
            if old.is_alive() {
                old.hangup();
            }
            let rows = old.shared().size().1;
            preamble = preamble_of(&old.shared().export_lines(10_000), "respawned", rows);
        }
        with_live_state(&mut meta, old.as_deref());
        let pane = self.start_pane(&meta, Mode::Start, preamble, false)?;
        self.replace_pane(&meta, pane)
    }

    /// Puts a restarted process in place of pane `id`'s, unless the pane was closed while it
    /// started (the new process is then hung up).
    pub(super) fn replace_pane(&self, meta: &PaneMeta, pane: Arc<dyn Pane>) -> Result<()> {
        let id = meta.id;
        let tracker = self.new_tracker(meta);
        let mut st = self.lock();
        if st.ws.pane(id).is_none() {
            drop(st);
            pane.hangup();
            return Err(Error::ClosedMeanwhile(id));
        }
        match st.panes.get_mut(&id) {
            Some(live) => live.replace(pane.clone(), tracker, None),
            None => {
                st.panes.insert(id, Live::new(pane.clone(), tracker));
            }
        }
        drop(st);
        self.changed();
        self.exited_early(id, &pane);
        Ok(())
    }

    /// A pane resumed into a conversation quit at once saying it is gone (its type's
    /// `not_found`, e.g. the conversation was deleted): forget the id and start it fresh,
    /// saying so on the pane. True when that is what happened.
    pub(super) fn session_not_found(&self, id: PaneId, status: i32) -> bool {
        let Ok(p) = self.pane(id) else { return false };
        let Some(meta) = self.lock().ws.pane(id).cloned() else {
            return false;
        };
        let Some(old) = meta.plugin_state.get(integration::SESSION_KEY).cloned() else {
            return false;
        };
        let plugin = {
            let reg = self.plugins();
            match integration::plugin_for(&reg, &meta) {
                Some(p) => p.clone(),
                None => return false,
            }
        };
        let (Some(message), Some(mechanism)) = (
            plugin.integration.not_found.as_deref(),
            plugin.integration.mechanism,
        ) else {
            return false;
        };
        // The start was a resume of `old` when the argv holds its `resume_args`.
        let resume: Vec<String> = plugin
            .persistence
            .resume_args
            .iter()
            .filter_map(|a| {
                quil_plugin::expand(a, |k| (k == integration::SESSION_KEY).then(|| old.clone()))
                    .ok()
            })
            .collect();
        let resumed = !resume.is_empty() && p.argv().windows(resume.len()).any(|w| w == resume);
        let quick = p.started().elapsed() < NOT_FOUND_WITHIN;
        if status == 0 || !quick || !resumed || !p.shared().screen_text().contains(message) {
            return false;
        }
        tracing::warn!(pane = %id, session = %old, "the conversation to resume is gone; starting a new one");
        integration::forget(&self.home, &meta, mechanism);
        let mut fresh = meta;
        integration::set_session(&mut fresh, &plugin, &quil_ai::Resume::Fresh);
        if let Some(m) = self.lock().ws.pane_mut(id) {
            m.plugin_state = fresh.plugin_state.clone();
        }
        // The old screen already ends in the restore marker and the CLI's complaint; the marker
        // after it says what happened next.
        let preamble = preamble_of(
            &p.shared().export_lines(10_000),
            &format!("conversation {old} no longer exists; started a new one"),
            p.shared().size().1,
        );
        self.start_pane(&fresh, Mode::Start, preamble, true)
            .and_then(|new| self.replace_pane(&fresh, new))
            .is_ok()
    }
}

/// How a saved pane comes back with the pane types `reg`: `None` when its type says not to
/// restore it.
pub(super) fn restore_mode_in(reg: &quil_plugin::Registry, meta: &PaneMeta) -> Option<Mode> {
    if !meta.command.is_empty() {
        return Some(Mode::Start); // rerun
    }
    match reg
        .get(&meta.kind)
        .map(|p| p.persistence.strategy.restore())
    {
        Some(r) => r.restored.then_some(if r.uses_resume_args {
            Mode::Resume
        } else {
            Mode::Start
        }),
        // Unknown type (its plugin file was removed): restore it as a failed pane.
        None => Some(Mode::Start),
    }
}

/// The command a pane that has no process is shown with.
fn shown_argv(meta: &PaneMeta) -> Vec<String> {
    if meta.command.is_empty() {
        vec![meta.kind.clone()]
    } else {
        meta.command.clone()
    }
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

/// The `PATH` a pane of `meta` gets: its own (`-e PATH=...`), else its client's, else the
/// daemon's.
fn pane_path(meta: &PaneMeta) -> Option<std::ffi::OsString> {
    // The pane's own `-e PATH=...` first, as in its environment.
    path_in(&meta.env)
        .or_else(|| path_in(&meta.client_env))
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"))
}

/// The last `PATH=` of `vars` (`KEY=VALUE`), as an environment built from them has it.
fn path_in(vars: &[String]) -> Option<&str> {
    vars.iter().rev().find_map(|kv| kv.strip_prefix("PATH="))
}
