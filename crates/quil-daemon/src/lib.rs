//! quild: owns every PTY, keeps each pane's terminal state, and serves clients over
//! `$QUIL_HOME/quild.sock`. See `docs/architecture.md` for the code map.
//!
//! Tasks and threads: a tokio runtime runs the accept loop, one task per client connection
//! ([`conn`]), a housekeeping tick and the exit watcher; each pane has a reader and a writer
//! task ([`pane`]) and a task writing its output journal ([`journal`], on the journals' own
//! one-thread runtime), and one thread fsyncs the journals. No thread per pane.

pub mod attention;
pub mod config;
mod conn;
pub mod error;
mod fdio;
pub mod holder;
pub mod home;
pub mod hooks;
pub mod integration;
pub mod journal;
pub mod pane;
pub mod persist;
pub mod plugins;
pub mod restore;
pub mod server;
pub mod shellinit;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Runs blocking work (reading a pane's files, starting its process, waiting for a lock held
/// for long) wherever it is called from: on a runtime worker, that worker's other tasks move
/// to another one meanwhile.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Home(#[from] home::HomeError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Snapshot(#[from] persist::PersistError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the daemon in the foreground until it is stopped.
pub fn run(home_dir: PathBuf) -> Result<(), DaemonError> {
    let mut clock = StartClock::new();
    tune_allocator();
    raise_fd_limit();
    home::ensure_home(&home_dir)?;
    let log = home::open_log(&home_dir)?;
    let (instance, std_listener) = home::claim(&home_dir)?;
    // From here on, anything written to stderr (panics included) belongs in the log: whoever
    // started us in the background stops reading our stderr once we are up.
    redirect_stderr(&log);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let (config, problems) = config::Config::load(&home_dir.join("config.toml"));
    clock.step("home, log and config");
    tracing::info!(pid = std::process::id(), home = %home_dir.display(), "quild starting");
    for w in problems {
        tracing::warn!("{w}");
        eprintln!("quild: warning: {w}");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("quild-rt")
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(serve(home_dir, config, std_listener, clock));
    instance.release();
    tracing::info!("quild stopped");
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn serve(
    home_dir: PathBuf,
    config: config::Config,
    std_listener: std::os::unix::net::UnixListener,
    mut clock: StartClock,
) -> Result<(), DaemonError> {
    std_listener
        .set_nonblocking(true)
        .map_err(DaemonError::Runtime)?;
    let listener =
        tokio::net::UnixListener::from_std(std_listener).map_err(DaemonError::Runtime)?;
    let (notice_tx, mut notice_rx) = tokio::sync::mpsc::unbounded_channel();
    shellinit::install(&home_dir).map_err(|e| DaemonError::Write {
        path: shellinit::dir(&home_dir),
        source: e,
    })?;
    quil_ai::mechanism::install(&home_dir)
        .map_err(|(path, source)| DaemonError::Write { path, source })?;
    clock.step("shell and agent files");
    // A snapshot from a newer quil stops us here, before anything could overwrite it.
    let loaded = persist::load_workspace(&home_dir)?;
    clock.step("reading the workspace");
    // Panes live under holders, so their processes outlive this daemon.
    let spawner = match holder_exe() {
        Some(exe) => pane::PtySpawner::with_holders(exe, &home_dir),
        None => {
            tracing::warn!(
                "no {} beside this quild: panes will end with the daemon",
                holder::EXE
            );
            pane::PtySpawner::default()
        }
    };
    let server =
        server::Server::with_spawner(home_dir, config, notice_tx, std::sync::Arc::new(spawner));
    plugins::load(&server);
    clock.step("plugins");
    let _plugin_watcher = plugins::watch(server.clone());
    let _config_watcher = plugins::watch_config(server.clone());
    let _reports_watcher = server::watch_reports(server.clone());
    // Before the restore, so hooks hear of it.
    tokio::spawn(hooks::react(server.clone()));
    // The layout goes in before the first client is accepted; the panes are read back and
    // their processes taken over or started while clients are served.
    let restore_server = server.clone();
    // Before the first client is accepted: one that waits for the whole workspace
    // (`wait_restored`) must not see it done before the strays are in.
    server.adopting.store(true, Ordering::SeqCst);
    let plan = tokio::task::spawn_blocking(move || match loaded {
        persist::Loaded::Empty => None,
        persist::Loaded::Workspace(ws) => {
            restore_server.adopt_saved(ws.pane_ids());
            Some(restore_server.restore_layout(ws))
        }
        persist::Loaded::FromBackup(ws, why) => {
            restore_server.restore_failed(format!("{why}; restored workspace.json.bak instead"));
            Some(restore_server.restore_layout(ws))
        }
        persist::Loaded::Unusable(why) => {
            restore_server.restore_failed(format!("{why}; started with an empty workspace"));
            None
        }
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!("restoring the workspace failed: {e}");
        None
    });
    let restore_server = server.clone();
    let restoring = tokio::task::spawn_blocking(move || {
        if let Some(plan) = plan {
            restore_server.finish_restore(plan);
        }
        restore_server.take_over_strays();
        restore_server.adopting.store(false, Ordering::SeqCst);
    });
    tokio::spawn(saver(server.clone()));
    // Startup (plugin parsing, restore) leaves garbage behind; give it back.
    release_free_memory();

    let s = server.clone();
    tokio::spawn(async move {
        while let Some(notice) = notice_rx.recv().await {
            s.on_notice(notice);
        }
    });
    tokio::spawn(housekeeping(server.clone()));
    clock.step("watchers and the layout");
    clock.report();

    let mut shutdown_rx = server.shutdown.subscribe();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DaemonError::Runtime)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(DaemonError::Runtime)?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(DaemonError::Runtime)?;
    // `quil restart` and `quil daemon upgrade`: leave every pane running under its holder for
    // the next daemon. A signal, so that any newer client can ask any older daemon.
    let mut handover =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
            .map_err(DaemonError::Runtime)?;
    let mut handing_over = false;
    let conn_ids = AtomicU64::new(1);
    // Kept so that a stop waits for every client to be told (a client that misses the goodbye
    // takes the stop for a crash, and one that follows the daemon would start another).
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = conn_ids.fetch_add(1, Ordering::Relaxed);
                    while conns.try_join_next().is_some() {}
                    conns.spawn(conn::serve(server.clone(), stream, id));
                }
                Err(e) => {
                    // Out of fds and the like: log, back off, keep serving.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown_rx.changed() => break,
            _ = sigterm.recv() => { tracing::info!("SIGTERM"); break }
            _ = sigint.recv() => { tracing::info!("SIGINT"); break }
            _ = handover.recv() => {
                tracing::info!("SIGUSR1: handing every pane over to the next quild");
                handing_over = true;
                break
            }
            // quild runs detached; a hangup of whatever started it must not stop it.
            _ = sighup.recv() => {}
        }
    }
    // A clean stop: freeze the workspace (exits no longer close panes), save it with every
    // pane's scrollback, then hang up the panes (unless they are handed over: their holders
    // keep them for the next daemon).
    server.stopping.store(true, Ordering::SeqCst);
    let _ = server.shutdown.send(true);
    // A restore still under way starts nothing more; what it has not done stays as saved.
    let _ = restoring.await;
    let s = server.clone();
    let _ = tokio::task::spawn_blocking(move || {
        s.save(true);
        if let Some(why) = s.persist_error() {
            // `quil daemon stop` and `quil restart` look for this line (stderr is the log).
            tracing::error!("the final save failed: {why}");
            eprintln!("quild: {FINAL_SAVE_FAILED}: {why}");
        }
        if !handing_over {
            s.stop_panes(Duration::from_millis(1500));
        }
    })
    .await;
    // Every connection said goodbye when the stop began; wait until each has flushed it (a
    // connection gives a stalled client 500 ms).
    let flushed = tokio::time::timeout(Duration::from_secs(1), async {
        while conns.join_next().await.is_some() {}
    });
    if flushed.await.is_err() {
        tracing::warn!("{} connections had not closed after 1 s", conns.len());
    }
    Ok(())
}

pub use quil_proto::paths::quil_home;

/// The holders' executable: `quil-holder` beside this quild (beside where it was, if it has
/// been replaced since it started: an upgraded install).
fn holder_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = PathBuf::from(exe.to_string_lossy().trim_end_matches(" (deleted)"));
    let holder = exe.parent()?.join(holder::EXE);
    holder.is_file().then_some(holder)
}
use quil_proto::paths::FINAL_SAVE_FAILED;

/// The housekeeping's period while anything goes on.
const TICK: Duration = Duration::from_millis(250);
/// Quiet ticks before the housekeeping sleeps: long enough for output that stopped to be seen
/// as quiet (attention's `QUIET`) and for the state that follows to be announced.
const LINGER_TICKS: u32 = (attention::QUIET.as_millis() / TICK.as_millis()) as u32 + 2;
/// Ticks between saves of the panes' scrollback (and returning free memory) while busy.
const SAVE_TICKS: u32 = 20;

/// Runs [`server::Server::housekeeping`] every [`TICK`] while anything happens; with nothing
/// going on it saves, gives memory back and sleeps until something does (output, a change, a
/// request, an agent's report) or a restored pane is due: an idle daemon does not wake.
async fn housekeeping(s: std::sync::Arc<server::Server>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut quiet, mut n) = (0u32, 0u32);
    loop {
        tick.tick().await;
        let t = s.housekeeping();
        n = n.wrapping_add(1);
        if n.is_multiple_of(SAVE_TICKS) {
            s.signals.save.notify_one();
            s.pack_idle(server::Quiet::SinceLast);
            release_free_memory();
        }
        quiet = if t.active { 0 } else { quiet + 1 };
        if quiet < LINGER_TICKS {
            continue;
        }
        s.signals.save.notify_one();
        s.pack_idle(server::Quiet::Now);
        release_free_memory();
        s.signals
            .idle
            .sleep(t.next_due, || s.housekeeping().active)
            .await;
        quiet = 0;
        tick.reset_immediately();
    }
}

/// Saves the workspace within 250 ms of a structural change, and again (if changed) with the
/// scrollback of panes that printed something when the housekeeping asks: every few seconds
/// while panes print, and once when they stop.
async fn saver(server: std::sync::Arc<server::Server>) {
    const DEBOUNCE: Duration = Duration::from_millis(250);
    let mut meta_rx = server.signals.meta.subscribe();
    let mut shutdown_rx = server.shutdown.subscribe();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let buffers = tokio::select! {
            Ok(()) = meta_rx.changed() => {
                if due.is_none() {
                    due = Some(tokio::time::Instant::now() + DEBOUNCE);
                }
                continue;
            }
            _ = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await }, if due.is_some() => {
                due = None;
                false
            }
            _ = server.signals.save.notified() => true,
            _ = shutdown_rx.changed() => return,
        };
        if server.stopping.load(Ordering::SeqCst) {
            return;
        }
        let s = server.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if buffers {
                s.save(false);
            } else {
                s.save_workspace_only();
            }
        })
        .await;
    }
}

/// How long each step of the start took. Clients wait for the accept loop, so a slow start
/// is logged with its steps: what held it up is otherwise invisible.
struct StartClock {
    start: std::time::Instant,
    last: std::time::Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl StartClock {
    /// A start slower than this is logged.
    const SLOW: Duration = Duration::from_secs(1);

    fn new() -> StartClock {
        let now = std::time::Instant::now();
        StartClock {
            start: now,
            last: now,
            steps: Vec::new(),
        }
    }

    fn step(&mut self, what: &'static str) {
        let now = std::time::Instant::now();
        self.steps.push((what, now - self.last));
        self.last = now;
    }

    fn report(&self) {
        let took = self.start.elapsed();
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(what, d)| format!("{what} {} ms", d.as_millis()))
            .collect();
        if took >= Self::SLOW {
            tracing::warn!(
                "slow start: {} ms before accepting clients ({})",
                took.as_millis(),
                steps.join(", ")
            );
        } else {
            tracing::debug!("started in {} ms ({})", took.as_millis(), steps.join(", "));
        }
    }
}

/// The runtimes' workers and blocking pools would otherwise give glibc a malloc arena per
/// thread, each holding on to freed memory. One arena keeps the daemon small; allocation is
/// rare on the hot path.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Raises the open-file soft limit to the hard limit: each pane holds a few descriptors, and
/// the usual soft limit of 1024 would stop the daemon at a few hundred panes. (Pane processes
/// inherit the raised limit.)
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            // Some kernels refuse RLIM_INFINITY here; nr_open (1M by default) is the real
            // ceiling.
            let want = lim.rlim_max.min(1 << 20);
            if want > lim.rlim_cur {
                lim.rlim_cur = want;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

/// Hands memory freed after bursts of output (alacritty's spare rows) back to the OS.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn redirect_stderr(log: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: isatty/dup2 on descriptors we own; fd 2 is replaced atomically.
    unsafe {
        if libc::isatty(2) == 0 {
            libc::dup2(log.as_raw_fd(), 2);
        }
    }
}
