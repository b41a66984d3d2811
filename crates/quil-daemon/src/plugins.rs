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

/// Whether a watcher event changes what the plugin directory defines: a `*.toml` file created,
/// written, renamed or removed. Reading a file (the daemon's own reload, an editor, `cat`,
/// `quil plugin validate`) opens, reads and closes it, and must not reload, or every reload
/// would cause the next.
pub fn is_change(ev: &notify::Event) -> bool {
    is_change_of(ev, |n| {
        n.ends_with(".toml") && !n.starts_with('.') && !n.starts_with('#')
    })
}

/// Whether `ev` creates, writes, renames or removes a file whose name passes `name`.
pub(crate) fn is_change_of(ev: &notify::Event, name: impl Fn(&str) -> bool) -> bool {
    use notify::event::{EventKind, ModifyKind};
    let kind = match ev.kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        // Data written, renamed, or "something changed"; not times or permissions.
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any) => true,
        EventKind::Modify(ModifyKind::Metadata(_) | ModifyKind::Other) => false,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    };
    kind && ev.paths.iter().any(|p| {
        p.file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|n| name(&n))
    })
}

/// Watches `$QUIL_HOME/config.toml` (through its directory, so an editor's
/// write-and-rename is seen) and reloads it on change, as `quil config reload` does.
pub fn watch_config(server: Arc<Server>) -> Option<notify::RecommendedWatcher> {
    let home = server.home.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok_and(|ev| is_change_of(&ev, |n| n == "config.toml")) {
            let _ = tx.send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot watch {} for config changes: {e}", home.display());
            return None;
        }
    };
    if let Err(e) = watcher.watch(&home, RecursiveMode::NonRecursive) {
        tracing::error!("cannot watch {} for config changes: {e}", home.display());
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(SETTLE).is_ok() {}
                server.reload_config(true);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the config watcher: {e}");
        return None;
    }
    Some(watcher)
}

/// How long the directory must be quiet before a reload: editors write in several steps.
const SETTLE: Duration = Duration::from_millis(150);

/// Watches the plugin directory and reloads on change. The watcher lives as long as the
/// returned value.
pub fn watch(server: Arc<Server>) -> Option<notify::RecommendedWatcher> {
    let d = dir(&server.home);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok_and(|ev| is_change(&ev)) {
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
                // Debounce: wait until no change has come for SETTLE, then reload once.
                while rx.recv_timeout(SETTLE).is_ok() {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, MetadataKind, ModifyKind,
        RemoveKind, RenameMode,
    };

    fn ev(kind: EventKind, file: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from("/h/plugins").join(file))
    }

    #[test]
    fn reads_never_reload_and_writes_do() {
        let reads = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
        ];
        for k in reads {
            assert!(!is_change(&ev(k, "ssh.toml")), "{k:?}");
        }
        let writes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Remove(RemoveKind::File),
        ];
        for k in writes {
            assert!(is_change(&ev(k, "ssh.toml")), "{k:?}");
            // Not a plugin: the schema, an editor's swap or lock file, a `.toml.new` default.
            for other in [
                "plugin.schema.json",
                ".ssh.toml.swp",
                "#ssh.toml#",
                "ssh.toml.new",
            ] {
                assert!(!is_change(&ev(k, other)), "{k:?} {other}");
            }
        }
    }
}
