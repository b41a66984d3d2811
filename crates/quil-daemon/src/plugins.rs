//! Pane types on disk: the embedded defaults are written to `$QUIL_HOME/plugins/` on first run,
//! and the directory is watched so adding, editing or deleting a file takes effect within a
//! second, without a restart. Running panes keep the definition they were started with.

use crate::server::Server;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub fn dir(home: &Path) -> PathBuf {
    home.join("plugins")
}

/// Installs the defaults (never overwriting a user's edit) and loads every pane type.
pub fn load(server: &Server) {
    let d = dir(&server.home);
    match quil_plugin::install_defaults(&d) {
        Ok(notices) => notices.iter().for_each(|n| tracing::warn!("{n}")),
        Err(e) => tracing::error!("cannot write the default plugins to {}: {e}", d.display()),
    }
    report(server.load_plugins(&d));
}

fn report(diags: Vec<quil_plugin::Diagnostic>) {
    for d in diags {
        // One line each: the file:line:col reason and its hint.
        let text = d.to_string().replace('\n', " ");
        if d.is_error() {
            tracing::error!("skipping plugin: {text}");
        } else {
            tracing::warn!("{text}");
        }
    }
}

/// Watches the plugin directory and reloads on change. The watcher lives as long as the
/// returned value.
pub fn watch(server: Arc<Server>) -> Option<notify::RecommendedWatcher> {
    let d = dir(&server.home);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok() {
            let _ = tx.send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot watch {} for plugin changes: {e}", d.display());
            return None;
        }
    };
    if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
        tracing::error!("cannot watch {} for plugin changes: {e}", d.display());
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("plugin-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Editors write in several steps; settle before reading.
                std::thread::sleep(Duration::from_millis(100));
                while rx.try_recv().is_ok() {}
                let diags = server.load_plugins(&dir(&server.home));
                tracing::info!("plugins reloaded");
                report(diags);
                server.changed();
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the plugin watcher: {e}");
        return None;
    }
    Some(watcher)
}
