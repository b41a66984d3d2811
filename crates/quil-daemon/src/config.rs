//! Daemon settings: the `[daemon]` table of `$QUIL_HOME/config.toml`. Other tables (the TUI's
//! keys) are ignored here. A broken file is reported and defaults are used: the daemon always
//! starts.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExitPolicy {
    /// Close a pane when its process exits.
    Close,
    /// Keep every exited pane, showing its exit status.
    Keep,
    /// Close panes that exit with status 0; keep failures visible.
    #[default]
    Failed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Size of panes no client has sized yet.
    pub default_cols: u16,
    pub default_rows: u16,
    /// Scrollback kept per pane, in bytes of compact history.
    pub scrollback_bytes: usize,
    /// Scrollback saved to disk per pane for restores, in bytes.
    pub persist_scrollback_bytes: usize,
    pub exited_panes: ExitPolicy,
    /// Shell for `terminal` panes; default `$SHELL`, then `/bin/sh`.
    pub shell: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_cols: 120,
            default_rows: 40,
            scrollback_bytes: 8 * 1024 * 1024,
            persist_scrollback_bytes: 2 * 1024 * 1024,
            exited_panes: ExitPolicy::Failed,
            shell: None,
        }
    }
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    daemon: Option<toml::Value>,
}

impl Config {
    /// Loads `[daemon]` from `path`. Returns the defaults and a one-line warning when the file
    /// is unreadable or invalid; a missing file is not a warning.
    pub fn load(path: &Path) -> (Config, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Config::default(), None),
            Err(e) => {
                return (
                    Config::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                )
            }
        };
        match Self::parse(&text) {
            Ok(c) => (c, None),
            Err(e) => (
                Config::default(),
                Some(format!("{}: {e}; using defaults", path.display())),
            ),
        }
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let file: File = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        let Some(daemon) = file.daemon else {
            return Ok(Config::default());
        };
        let c: Config = daemon
            .try_into()
            .map_err(|e: toml::de::Error| format!("[daemon]: {}", one_line(&e.to_string())))?;
        if c.default_cols < 2 || c.default_rows < 1 {
            return Err("[daemon]: default_cols must be >= 2 and default_rows >= 1".into());
        }
        Ok(c)
    }

    pub fn shell(&self) -> String {
        self.shell
            .clone()
            .or_else(|| std::env::var("SHELL").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "/bin/sh".to_string())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_daemon_table() {
        let c = Config::parse("[keys]\nsplit = \"x\"\n").unwrap();
        assert_eq!((c.default_cols, c.default_rows), (120, 40));
        assert_eq!(c.exited_panes, ExitPolicy::Failed);
    }

    #[test]
    fn reads_daemon_table() {
        let c = Config::parse(
            "[daemon]\ndefault_cols = 80\nexited_panes = \"keep\"\nscrollback_bytes = 1000\n",
        )
        .unwrap();
        assert_eq!(c.default_cols, 80);
        assert_eq!(c.default_rows, 40);
        assert_eq!(c.exited_panes, ExitPolicy::Keep);
        assert_eq!(c.scrollback_bytes, 1000);
    }

    #[test]
    fn unknown_key_is_a_one_line_error_naming_it() {
        let e = Config::parse("[daemon]\ndefualt_cols = 80\n").unwrap_err();
        assert!(e.contains("defualt_cols") && !e.contains('\n'), "{e}");
        let e = Config::parse("[daemon\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
