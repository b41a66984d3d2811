//! quild: owns every PTY, keeps each pane's terminal state, and serves clients over
//! `$QUIL_HOME/quild.sock`. See `docs/architecture.md` for the code map.
//!
//! Tasks and threads: a tokio runtime runs the accept loop, one task per client connection
//! ([`conn`]), a housekeeping tick and the exit watcher; each pane has a blocking reader and
//! writer thread ([`pane`]).

pub mod config;
mod conn;
pub mod home;
pub mod pane;
pub mod persist;
pub mod server;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Home(#[from] home::HomeError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the daemon in the foreground until it is stopped.
pub fn run(home_dir: PathBuf) -> Result<(), DaemonError> {
    home::ensure_home(&home_dir)?;
    let log = home::open_log(&home_dir)?;
    let (instance, std_listener) = home::claim(&home_dir)?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let (config, warning) = config::Config::load(&home_dir.join("config.toml"));
    tracing::info!(pid = std::process::id(), home = %home_dir.display(), "quild starting");
    if let Some(w) = warning {
        tracing::warn!("{w}");
        eprintln!("quild: warning: {w}");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("quild-rt")
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(serve(home_dir, config, std_listener));
    instance.release();
    tracing::info!("quild stopped");
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn serve(
    home_dir: PathBuf,
    config: config::Config,
    std_listener: std::os::unix::net::UnixListener,
) -> Result<(), DaemonError> {
    std_listener
        .set_nonblocking(true)
        .map_err(DaemonError::Runtime)?;
    let listener =
        tokio::net::UnixListener::from_std(std_listener).map_err(DaemonError::Runtime)?;
    let (exit_tx, mut exit_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = server::Server::new(home_dir, config, exit_tx);

    let s = server.clone();
    tokio::spawn(async move {
        while let Some((pane, status)) = exit_rx.recv().await {
            s.on_exit(pane, status);
        }
    });
    let s = server.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            s.housekeeping();
        }
    });

    let mut shutdown_rx = server.shutdown.subscribe();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DaemonError::Runtime)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(DaemonError::Runtime)?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(DaemonError::Runtime)?;
    let conn_ids = AtomicU64::new(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = conn_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::spawn(conn::serve(server.clone(), stream, id));
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
            // quild runs detached; a hangup of whatever started it must not stop it.
            _ = sighup.recv() => {}
        }
    }
    let _ = server.shutdown.send(true);
    let s = server.clone();
    let _ = tokio::task::spawn_blocking(move || s.stop_panes(Duration::from_millis(1500))).await;
    // Give connections a moment to flush their goodbyes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

pub use quil_proto::paths::quil_home;
