//! Daemon settings: the `[daemon]`, `[notify]` and `[[hooks]]` tables of
//! `$QUIL_HOME/config.toml`. Other tables (the TUI's keys) are ignored here. A broken file is
//! reported and defaults are used: the daemon always starts.

use quil_model::Attention;
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
    /// `[notify]`: telling the user when a pane they are not looking at needs them.
    #[serde(skip)]
    pub notify: Notify,
    /// `[[hooks]]`: programs run for events.
    #[serde(skip)]
    pub hooks: Vec<Hook>,
}

/// How the terminal of an attached client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    #[default]
    Osc9,
    Osc777,
    Off,
}

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notify {
    /// Entering one of these states notifies (when no attached client shows the pane).
    pub states: Vec<Attention>,
    /// What attached clients write to their terminal.
    pub method: Method,
    /// Ring the bell too.
    pub bell: bool,
    /// Seconds after a notification for a pane during which that pane does not notify again.
    pub quiet_period: f64,
    /// A program run for each notification (argv, no shell), with `QUIL_PANE_ID`, `QUIL_TAB`,
    /// `QUIL_STATE`, `QUIL_DETAIL` and `QUIL_MESSAGE` in its environment.
    pub command: Vec<String>,
    /// Seconds `command` may run before it is killed.
    pub timeout: f64,
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            states: vec![Attention::Waiting, Attention::Done, Attention::Error],
            method: Method::Osc9,
            bell: false,
            quiet_period: 5.0,
            command: Vec::new(),
            timeout: 10.0,
        }
    }
}

/// `[[hooks]]`: run `run` for every event of type `on` (optionally only for one pane type, or
/// only for `state` events into one state).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub on: String,
    #[serde(default)]
    pub pane_type: Option<String>,
    #[serde(default)]
    pub state: Option<Attention>,
    pub run: Vec<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: f64,
}

fn default_hook_timeout() -> f64 {
    10.0
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
            notify: Notify::default(),
            hooks: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    daemon: Option<toml::Value>,
    #[serde(default)]
    notify: Option<toml::Value>,
    #[serde(default)]
    hooks: Option<toml::Value>,
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
        let mut c: Config = match file.daemon {
            Some(d) => table(d, "[daemon]")?,
            None => Config::default(),
        };
        if c.default_cols < 2 || c.default_rows < 1 {
            return Err("[daemon]: default_cols must be >= 2 and default_rows >= 1".into());
        }
        if let Some(n) = file.notify {
            c.notify = table(n, "[notify]")?;
        }
        let n = &c.notify;
        if !(n.quiet_period >= 0.0 && n.timeout > 0.0 && n.timeout.is_finite()) {
            return Err("[notify]: quiet_period must be >= 0 and timeout > 0 seconds".into());
        }
        if let Some(h) = file.hooks {
            #[derive(Deserialize)]
            struct Hooks {
                hooks: Vec<Hook>,
            }
            let wrapped = toml::Value::Table([("hooks".to_string(), h)].into_iter().collect());
            c.hooks = table::<Hooks>(wrapped, "[[hooks]]")?.hooks;
        }
        for (i, h) in c.hooks.iter().enumerate() {
            let at = format!("[[hooks]] #{}", i + 1);
            if !quil_proto::EventKind::NAMES.contains(&h.on.as_str()) {
                return Err(format!(
                    "{at}: unknown event type {:?} in `on` (known: {})",
                    h.on,
                    quil_proto::EventKind::NAMES.join(", ")
                ));
            }
            if h.run.first().is_none_or(|p| p.is_empty()) {
                return Err(format!(
                    "{at}: `run` needs a program (argv, e.g. [\"notify-send\", \"quil\"])"
                ));
            }
            if !(h.timeout > 0.0 && h.timeout.is_finite()) {
                return Err(format!("{at}: timeout must be > 0 seconds"));
            }
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

/// A table of the file as `T`; errors name the table, on one line.
fn table<T: serde::de::DeserializeOwned>(v: toml::Value, name: &str) -> Result<T, String> {
    v.try_into()
        .map_err(|e: toml::de::Error| format!("{name}: {}", one_line(&e.to_string())))
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
    fn notify_and_hooks() {
        let c = Config::parse(
            "[notify]\nstates = [\"waiting\"]\nmethod = \"osc777\"\ncommand = [\"notify-send\", \"quil\"]\n\
             [[hooks]]\non = \"state\"\nstate = \"waiting\"\npane_type = \"claude-code\"\nrun = [\"/bin/true\"]\n\
             [[hooks]]\non = \"pane_exited\"\nrun = [\"x\", \"y\"]\ntimeout = 2.5\n",
        )
        .unwrap();
        assert_eq!(c.notify.states, [Attention::Waiting]);
        assert_eq!(c.notify.method, Method::Osc777);
        assert_eq!(c.notify.command, ["notify-send", "quil"]);
        assert_eq!(c.hooks.len(), 2);
        assert_eq!(c.hooks[0].state, Some(Attention::Waiting));
        assert_eq!(c.hooks[1].timeout, 2.5);
        let d = Config::parse("").unwrap();
        assert_eq!(d.notify.method, Method::Osc9);
        assert!(d.hooks.is_empty());
        for (bad, says) in [
            (
                "[[hooks]]\non = \"stat\"\nrun = [\"x\"]\n",
                "unknown event type \"stat\"",
            ),
            (
                "[[hooks]]\non = \"state\"\nrun = []\n",
                "`run` needs a program",
            ),
            ("[[hooks]]\non = \"state\"\n", "missing field `run`"),
            ("[notify]\nmethod = \"popup\"\n", "[notify]"),
            ("[notify]\nstates = [\"busy\"]\n", "[notify]"),
        ] {
            let e = Config::parse(bad).unwrap_err();
            assert!(e.contains(says) && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_key_is_a_one_line_error_naming_it() {
        let e = Config::parse("[daemon]\ndefualt_cols = 80\n").unwrap_err();
        assert!(e.contains("defualt_cols") && !e.contains('\n'), "{e}");
        let e = Config::parse("[daemon\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
