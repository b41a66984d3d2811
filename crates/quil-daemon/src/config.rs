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
    /// Seconds between fsyncs of a pane's output journal: what a power cut may lose at most.
    pub fsync_interval: f64,
    /// Seconds after a restart before restored panes no client has shown start anyway (one
    /// every [`START_STAGGER`]); 0 starts every pane at once.
    pub start_hidden_after: f64,
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

/// Spacing of the delayed starts of hidden restored panes, so ten agents do not hit the CPU
/// and their API at the same moment.
pub const START_STAGGER: std::time::Duration = if cfg!(test) {
    std::time::Duration::from_millis(100)
} else {
    std::time::Duration::from_secs(2)
};

impl Default for Config {
    fn default() -> Self {
        Config {
            default_cols: 120,
            default_rows: 40,
            scrollback_bytes: 8 * 1024 * 1024,
            persist_scrollback_bytes: 2 * 1024 * 1024,
            fsync_interval: 2.0,
            start_hidden_after: 30.0,
            exited_panes: ExitPolicy::Failed,
            shell: None,
            notify: Notify::default(),
            hooks: Vec::new(),
        }
    }
}

/// A problem with one entry of `config.toml`: where (1-based line and column, when it can be
/// pointed at) and what. The entry keeps its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub pos: Option<(usize, usize)>,
    pub message: String,
}

impl Problem {
    /// `FILE:LINE:COL: message; using the default`.
    pub fn display(&self, file: &Path) -> String {
        quil_proto::configpos::message(
            &file.display().to_string(),
            self.pos,
            &format!("{}; using the default", self.message),
        )
    }
}

impl Config {
    /// Loads the daemon's tables from `path`: every entry that is wrong keeps its default,
    /// and each is reported, all at once, as `FILE:LINE:COL: message; using the default`. A
    /// missing file is the defaults, with nothing to report.
    pub fn load(path: &Path) -> (Config, Vec<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Config::default(), vec![])
            }
            Err(e) => {
                return (
                    Config::default(),
                    vec![format!(
                        "cannot read {}: {e}; using the defaults",
                        path.display()
                    )],
                )
            }
        };
        let (c, problems) = Self::parse_lenient(&text);
        (c, problems.iter().map(|p| p.display(path)).collect())
    }

    /// [`Config::parse_lenient`], failing on the first problem (one line).
    pub fn parse(text: &str) -> Result<Config, String> {
        let (c, problems) = Self::parse_lenient(text);
        match problems.into_iter().next() {
            Some(p) => Err(p.message),
            None => Ok(c),
        }
    }

    /// The daemon's tables of `text`, each wrong entry left at its default and reported.
    pub fn parse_lenient(text: &str) -> (Config, Vec<Problem>) {
        use quil_proto::configpos::{line_col, locate, locate_array};
        let mut problems = Vec::new();
        let doc: toml::Table = match text.parse() {
            Ok(d) => d,
            Err(e) => {
                let e: toml::de::Error = e;
                problems.push(Problem {
                    pos: e.span().map(|s| line_col(text, s.start)),
                    message: format!("invalid TOML: {}", one_line(e.message())),
                });
                return (Config::default(), problems);
            }
        };
        // Each entry of a table on its own: a wrong one is dropped, the rest apply.
        fn entries<T: serde::de::DeserializeOwned + Default>(
            text: &str,
            v: &toml::Value,
            name: &str,
            problems: &mut Vec<Problem>,
        ) -> T {
            let Some(t) = v.as_table() else {
                problems.push(Problem {
                    pos: None,
                    message: format!("[{name}]: expected a table"),
                });
                return T::default();
            };
            let mut good = toml::Table::new();
            for (k, v) in t {
                let one: toml::Table = [(k.clone(), v.clone())].into_iter().collect();
                match toml::Value::Table(one).try_into::<T>() {
                    Ok(_) => {
                        good.insert(k.clone(), v.clone());
                    }
                    Err(e) => problems.push(Problem {
                        pos: locate(text, name, k),
                        message: format!("[{name}] {k}: {}", one_line(e.message())),
                    }),
                }
            }
            toml::Value::Table(good).try_into().unwrap_or_default()
        }
        let mut c: Config = match doc.get("daemon") {
            Some(d) => entries(text, d, "daemon", &mut problems),
            None => Config::default(),
        };
        if c.default_cols < 2 || c.default_rows < 1 {
            let d = Config::default();
            problems.push(Problem {
                pos: locate(text, "daemon", "default_cols")
                    .or_else(|| locate(text, "daemon", "default_rows")),
                message: "[daemon]: default_cols must be >= 2 and default_rows >= 1".into(),
            });
            (c.default_cols, c.default_rows) = (d.default_cols, d.default_rows);
        }
        if !(c.fsync_interval >= 0.0 && c.fsync_interval <= 3600.0) {
            problems.push(Problem {
                pos: locate(text, "daemon", "fsync_interval"),
                message: "[daemon] fsync_interval: must be from 0 to 3600 seconds".into(),
            });
            c.fsync_interval = Config::default().fsync_interval;
        }
        if !(c.start_hidden_after >= 0.0 && c.start_hidden_after <= 86_400.0) {
            problems.push(Problem {
                pos: locate(text, "daemon", "start_hidden_after"),
                message: "[daemon] start_hidden_after: must be from 0 to 86400 seconds".into(),
            });
            c.start_hidden_after = Config::default().start_hidden_after;
        }
        if let Some(n) = doc.get("notify") {
            c.notify = entries(text, n, "notify", &mut problems);
        }
        let n = &mut c.notify;
        if !(n.quiet_period >= 0.0 && n.timeout > 0.0 && n.timeout.is_finite()) {
            let d = Notify::default();
            problems.push(Problem {
                pos: locate(text, "notify", "quiet_period")
                    .or_else(|| locate(text, "notify", "timeout")),
                message: "[notify]: quiet_period must be >= 0 and timeout > 0 seconds".into(),
            });
            (n.quiet_period, n.timeout) = (d.quiet_period, d.timeout);
        }
        if let Some(h) = doc.get("hooks") {
            let list = h.as_array().cloned().unwrap_or_default();
            if h.as_array().is_none() {
                problems.push(Problem {
                    pos: None,
                    message: "hooks: expected [[hooks]] tables".into(),
                });
            }
            for (i, v) in list.into_iter().enumerate() {
                let at = format!("[[hooks]] #{}", i + 1);
                let pos = locate_array(text, "hooks", i);
                let hook: Hook = match v.try_into() {
                    Ok(h) => h,
                    Err(e) => {
                        let e: toml::de::Error = e;
                        problems.push(Problem {
                            pos,
                            message: format!("{at}: {}; skipped", one_line(e.message())),
                        });
                        continue;
                    }
                };
                let why = if !quil_proto::EventKind::NAMES.contains(&hook.on.as_str()) {
                    Some(format!(
                        "unknown event type {:?} in `on` (known: {})",
                        hook.on,
                        quil_proto::EventKind::NAMES.join(", ")
                    ))
                } else if hook.run.first().is_none_or(|p| p.is_empty()) {
                    Some("`run` needs a program (argv, e.g. [\"notify-send\", \"quil\"])".into())
                } else if !(hook.timeout > 0.0 && hook.timeout.is_finite()) {
                    Some("timeout must be > 0 seconds".into())
                } else {
                    None
                };
                match why {
                    Some(why) => problems.push(Problem {
                        pos,
                        message: format!("{at}: {why}; skipped"),
                    }),
                    None => c.hooks.push(hook),
                }
            }
        }
        // In the order of the file.
        problems.sort_by_key(|p| p.pos.unwrap_or((usize::MAX, 0)));
        (c, problems)
    }

    /// How long after a restart hidden panes wait to start; `None` when every pane starts at
    /// once.
    pub fn lazy_start(&self) -> Option<std::time::Duration> {
        (self.start_hidden_after > 0.0)
            .then(|| std::time::Duration::from_secs_f64(self.start_hidden_after))
    }

    /// `fsync_interval` as a duration.
    pub fn fsync_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.fsync_interval)
    }

    /// Bytes a pane's output journal may grow to before a snapshot supersedes it: enough to
    /// hold a few saved histories' worth of output, so snapshots stay rare.
    pub fn journal_bound(&self) -> u64 {
        (self.persist_scrollback_bytes as u64)
            .saturating_mul(4)
            .max(crate::journal::DEFAULT_BOUND)
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
    fn fsync_interval_is_read_and_checked() {
        assert_eq!(Config::parse("").unwrap().fsync_interval, 2.0);
        let c = Config::parse("[daemon]\nfsync_interval = 0.5\n").unwrap();
        assert_eq!(c.fsync_every(), std::time::Duration::from_millis(500));
        for bad in ["-1.0", "nan", "1e9"] {
            let (c, problems) =
                Config::parse_lenient(&format!("[daemon]\nfsync_interval = {bad}\n"));
            assert_eq!(c.fsync_interval, 2.0, "{bad}");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].pos, Some((2, 1)), "{problems:?}");
        }
    }

    #[test]
    fn unknown_key_is_a_one_line_error_naming_it() {
        let e = Config::parse("[daemon]\ndefualt_cols = 80\n").unwrap_err();
        assert!(e.contains("defualt_cols") && !e.contains('\n'), "{e}");
        let e = Config::parse("[daemon\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn every_bad_entry_keeps_its_default_and_is_reported_with_its_place() {
        let text = "[daemon]\ndefault_cols = 100\ndefualt_rows = 10\nexited_panes = \"never\"\n\n\
                    [notify]\nmethod = \"popup\"\nbell = true\n\n\
                    [[hooks]]\non = \"stat\"\nrun = [\"x\"]\n\n[[hooks]]\non = \"state\"\nrun = [\"ok\"]\n";
        let (c, problems) = Config::parse_lenient(text);
        assert_eq!(c.default_cols, 100, "good entries apply");
        assert_eq!(c.exited_panes, ExitPolicy::Failed);
        assert!(c.notify.bell);
        assert_eq!(c.notify.method, Method::Osc9);
        assert_eq!(c.hooks.len(), 1);
        let at: Vec<(Option<(usize, usize)>, bool)> = problems
            .iter()
            .map(|p| (p.pos, !p.message.contains('\n')))
            .collect();
        assert_eq!(
            at,
            [
                (Some((3, 1)), true),
                (Some((4, 1)), true),
                (Some((7, 1)), true),
                (Some((10, 1)), true)
            ],
            "{problems:?}"
        );
        assert!(problems[0].message.contains("defualt_rows"), "{problems:?}");
        assert!(
            problems[3].message.contains("unknown event type"),
            "{problems:?}"
        );
        let shown = problems[1].display(Path::new("/h/config.toml"));
        assert!(
            shown.starts_with("/h/config.toml:4:1: [daemon] exited_panes: "),
            "{shown}"
        );
        assert!(shown.ends_with("; using the default"), "{shown}");
        let (c, problems) = Config::parse_lenient("[daemon\nx = 1\n");
        assert_eq!(c.default_cols, 120);
        assert_eq!(problems[0].pos, Some((1, 8)), "{problems:?}");
    }
}
