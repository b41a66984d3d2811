//! Key bindings from the `[keys]` table of `$QUIL_HOME/config.toml`.
//!
//! ```toml
//! [keys]
//! preset = "tmux"          # "default" (if omitted), "quil-classic" or "tmux"
//! prefix = "Ctrl+A"        # a prefix key for `prefix-bind`; "none" removes the preset's
//!
//! [keys.bind]              # keys acting at once; "none" unbinds (the key goes to the pane)
//! "Ctrl+N" = "new-pane"
//! "Ctrl+E" = "none"
//!
//! [keys.prefix-bind]       # keys pressed after the prefix
//! "|" = "split-right"
//! ```
//!
//! Other top-level tables belong to other parts of quil and are ignored here.

use super::keys::{Action, Chord};
use crossterm::event::{KeyCode, KeyModifiers};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    pub prefix: Option<Chord>,
    /// Keys that act at once.
    pub direct: HashMap<Chord, Action>,
    /// Keys that act after the prefix.
    pub prefixed: HashMap<Chord, Action>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub keys: Keymap,
}

/// A config problem, naming the file, where in it (1-based line and column, when known) and
/// the offending key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", quil_proto::configpos::message(&file.display().to_string(), *pos, msg))]
pub struct ConfigError {
    pub file: PathBuf,
    pub pos: Option<(usize, usize)>,
    pub msg: String,
}

/// `text` as a TOML table, or the one error that says where it is not.
pub fn parse_table(text: &str, file: &Path) -> Result<toml::Table, ConfigError> {
    text.parse().map_err(|e: toml::de::Error| {
        let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        ConfigError {
            file: file.to_path_buf(),
            pos: e
                .span()
                .map(|s| quil_proto::configpos::line_col(text, s.start)),
            msg: format!("invalid TOML: {msg}"),
        }
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keys: Keymap::preset("default").unwrap_or_else(|| Keymap::empty(None)),
        }
    }
}

/// The default preset's prefix. Readline, vim, Claude Code and opencode leave `Alt+W` alone
/// (zsh binds it to copy-region-as-kill: `Alt+W Alt+W` sends it).
pub const DEFAULT_PREFIX: &str = "Alt+W";

fn ch(s: &str) -> Chord {
    // Presets are written here and covered by tests, so a bad spelling is a bug, not input.
    Chord::parse(s).unwrap_or_else(|e| panic!("bad preset key {s}: {e}"))
}

impl Keymap {
    fn empty(prefix: Option<Chord>) -> Keymap {
        Keymap {
            prefix,
            direct: HashMap::new(),
            prefixed: HashMap::new(),
        }
    }

    /// The preset names, for messages.
    pub const PRESETS: &'static [&'static str] = &["default", "quil-classic", "tmux"];

    /// A built-in preset by name.
    ///
    /// `default` takes no key that readline, vim, Claude Code or opencode use in their defaults
    /// (`data/reserved-keys.toml`, checked by a test): everything is behind the prefix
    /// [`DEFAULT_PREFIX`], except the agent keys and scrolling, on Alt keys none of them use.
    /// `quil-classic` is quil's first layout (`Ctrl+N`, `Ctrl+T`, `Ctrl+W`, `Ctrl+E`, ...,
    /// which programs in panes then do not get); `tmux` is tmux's.
    pub fn preset(name: &str) -> Option<Keymap> {
        match name {
            "default" => {
                let mut k = Keymap::empty(Some(ch(DEFAULT_PREFIX)));
                for (key, action) in [
                    // Alt+Shift+I/J: bash sends ESC+capital to the lowercase binding, and
                    // M-i, M-j are unbound there; zsh binds neither case; opencode binds
                    // Alt+Shift only with a, e, b, f and arrows; Claude Code's Alt keys are
                    // other letters; vim maps no Alt key by default.
                    ("Alt+Shift+I", Action::Agents),
                    ("Alt+Shift+J", Action::NextWaiting),
                    ("Alt+PageUp", Action::ScrollUp),
                    ("Alt+PageDown", Action::ScrollDown),
                ] {
                    k.direct.insert(ch(key), action);
                }
                for (key, action) in [
                    ("?", Action::Help),
                    ("d", Action::Detach),
                    ("n", Action::NewPane),
                    ("c", Action::NewTab),
                    ("t", Action::NewTab),
                    ("x", Action::ClosePane),
                    ("v", Action::SplitRight),
                    ("|", Action::SplitRight),
                    ("%", Action::SplitRight),
                    ("s", Action::SplitDown),
                    ("-", Action::SplitDown),
                    ("\"", Action::SplitDown),
                    ("Left", Action::FocusLeft),
                    ("Right", Action::FocusRight),
                    ("Up", Action::FocusUp),
                    ("Down", Action::FocusDown),
                    ("h", Action::FocusLeft),
                    ("l", Action::FocusRight),
                    ("k", Action::FocusUp),
                    ("j", Action::FocusDown),
                    ("o", Action::FocusNext),
                    (";", Action::LastPane),
                    ("z", Action::Zoom),
                    ("Tab", Action::NextTab),
                    ("Shift+Tab", Action::PrevTab),
                    ("p", Action::PrevTab),
                    ("b", Action::LastTab),
                    ("r", Action::RenameTab),
                    (",", Action::RenameTab),
                    ("[", Action::CopyMode),
                    ("PageUp", Action::ScrollUp),
                    ("a", Action::Agents),
                    ("w", Action::NextWaiting),
                    ("{", Action::SwapPrev),
                    ("}", Action::SwapNext),
                    ("!", Action::BreakPane),
                    ("Ctrl+Left", Action::ResizeLeft),
                    ("Ctrl+Right", Action::ResizeRight),
                    ("Ctrl+Up", Action::ResizeUp),
                    ("Ctrl+Down", Action::ResizeDown),
                    ("H", Action::ResizeLeft),
                    ("L", Action::ResizeRight),
                    ("K", Action::ResizeUp),
                    ("J", Action::ResizeDown),
                    ("R", Action::RenamePane),
                    ("g", Action::ChooseTree),
                    ("e", Action::ToggleEager),
                    (DEFAULT_PREFIX, Action::SendPrefix),
                ] {
                    k.prefixed.insert(ch(key), action);
                }
                prefixed_tab_digits(&mut k);
                Some(k)
            }
            "quil-classic" | "classic" => {
                let mut k = Keymap::empty(None);
                for (key, action) in [
                    ("Ctrl+N", Action::NewPane),
                    ("Ctrl+T", Action::NewTab),
                    ("Ctrl+W", Action::ClosePane),
                    ("Alt+Shift+H", Action::SplitRight),
                    ("Alt+Shift+V", Action::SplitDown),
                    ("Alt+Left", Action::FocusLeft),
                    ("Alt+Right", Action::FocusRight),
                    ("Alt+Up", Action::FocusUp),
                    ("Alt+Down", Action::FocusDown),
                    ("Ctrl+E", Action::Zoom),
                    ("F2", Action::RenameTab),
                    ("Alt+PageUp", Action::ScrollUp),
                    ("Alt+PageDown", Action::ScrollDown),
                    ("Ctrl+Q", Action::Detach),
                    ("Alt+Shift+I", Action::Agents),
                    ("Alt+Shift+J", Action::NextWaiting),
                    ("F1", Action::Help),
                    ("F3", Action::ChooseTree),
                ] {
                    k.direct.insert(ch(key), action);
                }
                for n in 1..=9u8 {
                    k.direct.insert(
                        Chord::new(KeyCode::Char((b'0' + n) as char), KeyModifiers::ALT),
                        Action::Tab(n),
                    );
                }
                Some(k)
            }
            "tmux" => {
                let mut k = Keymap::empty(Some(ch("Ctrl+B")));
                for (key, action) in [
                    ("%", Action::SplitRight),
                    ("\"", Action::SplitDown),
                    ("c", Action::NewTab),
                    ("x", Action::ClosePane),
                    ("Left", Action::FocusLeft),
                    ("Right", Action::FocusRight),
                    ("Up", Action::FocusUp),
                    ("Down", Action::FocusDown),
                    ("o", Action::FocusNext),
                    (";", Action::LastPane),
                    ("z", Action::Zoom),
                    ("n", Action::NextTab),
                    ("p", Action::PrevTab),
                    ("l", Action::LastTab),
                    (",", Action::RenameTab),
                    ("[", Action::CopyMode),
                    ("PageUp", Action::ScrollUp),
                    ("d", Action::Detach),
                    ("Ctrl+B", Action::SendPrefix),
                    ("Ctrl+N", Action::NewPane),
                    // tmux's list-keys.
                    ("?", Action::Help),
                    ("{", Action::SwapPrev),
                    ("}", Action::SwapNext),
                    ("!", Action::BreakPane),
                    ("Ctrl+Left", Action::ResizeLeft),
                    ("Ctrl+Right", Action::ResizeRight),
                    ("Ctrl+Up", Action::ResizeUp),
                    ("Ctrl+Down", Action::ResizeDown),
                    // Not bound in tmux (`.` is move-window there).
                    ("R", Action::RenamePane),
                    // tmux's choose-tree (`s` sessions, `w` windows): quil has one tree.
                    ("s", Action::ChooseTree),
                    ("w", Action::ChooseTree),
                    // Neither is bound in tmux's own prefix table (`n` is next-window).
                    ("a", Action::Agents),
                    ("N", Action::NextWaiting),
                ] {
                    k.prefixed.insert(ch(key), action);
                }
                prefixed_tab_digits(&mut k);
                Some(k)
            }
            _ => None,
        }
    }

    /// Every binding, as the user types it, grouped by what it does: direct keys first, then
    /// the prefixed ones (`Alt+W n`), tabs last. The help overlay lists these, so it always
    /// shows the active keymap.
    pub fn bindings(&self) -> Vec<(Vec<String>, Action)> {
        let group = |m: &HashMap<Chord, Action>, prefix: Option<Chord>| {
            let mut v: Vec<(Action, String)> = m
                .iter()
                .map(|(c, a)| {
                    let key = match prefix {
                        Some(p) => format!("{p} {c}"),
                        None => c.to_string(),
                    };
                    (*a, key)
                })
                .collect();
            v.sort_by_key(|(a, k)| {
                let order = match a {
                    Action::Tab(n) => (1, *n, String::new()),
                    _ => (0, 0, a.describe()),
                };
                (order, k.len(), k.clone())
            });
            let mut out: Vec<(Vec<String>, Action)> = Vec::new();
            for (a, k) in v {
                match out.last_mut() {
                    Some((keys, last)) if *last == a => keys.push(k),
                    _ => out.push((vec![k], a)),
                }
            }
            out
        };
        let mut out = group(&self.direct, None);
        if let Some(p) = self.prefix {
            out.extend(group(&self.prefixed, Some(p)));
        }
        out
    }

    /// The first key bound to `action`, as the user would type it (`Ctrl+B %` for prefixed keys).
    pub fn key_for(&self, action: Action) -> Option<String> {
        let pick = |m: &HashMap<Chord, Action>| {
            let mut keys: Vec<String> = m
                .iter()
                .filter(|(_, a)| **a == action)
                .map(|(c, _)| c.to_string())
                .collect();
            // Deterministic and shortest first, for stable hints.
            keys.sort_by_key(|k| (k.len(), k.clone()));
            keys.into_iter().next()
        };
        if let Some(k) = pick(&self.direct) {
            return Some(k);
        }
        let prefix = self.prefix?;
        pick(&self.prefixed).map(|k| format!("{prefix} {k}"))
    }
}

impl Config {
    /// Reads `$QUIL_HOME/config.toml` (or `path`), failing on the first problem; a missing
    /// file means the defaults.
    pub fn load(home: &Path, path: Option<&Path>) -> Result<Config, ConfigError> {
        let (c, problems) = Config::load_lenient(home, path)?;
        match problems.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(c),
        }
    }

    /// Reads `$QUIL_HOME/config.toml` (or `path`): every wrong entry of `[keys]` keeps its
    /// default and is reported, all at once. Fails only when an explicitly named file cannot
    /// be read; a missing `config.toml` means the defaults.
    pub fn load_lenient(
        home: &Path,
        path: Option<&Path>,
    ) -> Result<(Config, Vec<ConfigError>), ConfigError> {
        let file = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join("config.toml"));
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(Config::parse_lenient(&text, &file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.is_none() => {
                Ok((Config::default(), Vec::new()))
            }
            Err(e) => Err(ConfigError {
                file,
                pos: None,
                msg: format!("cannot read: {e}"),
            }),
        }
    }

    /// [`Config::parse_lenient`], failing on the first problem.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let (c, problems) = Config::parse_lenient(text, file);
        match problems.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(c),
        }
    }

    /// The `[keys]` table of `text`: each wrong entry is left out (the preset's binding, or
    /// the default preset, stays) and reported with its line and column.
    pub fn parse_lenient(text: &str, file: &Path) -> (Config, Vec<ConfigError>) {
        use quil_proto::configpos::locate;
        let mut errors = Vec::new();
        let mut err = |pos: Option<(usize, usize)>, msg: String| {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                pos,
                msg,
            })
        };
        let table = match parse_table(text, file) {
            Ok(t) => t,
            Err(e) => return (Config::default(), vec![e]),
        };
        let Some(keys) = table.get("keys") else {
            return (Config::default(), errors);
        };
        let Some(keys) = keys.as_table() else {
            err(None, "keys: expected a table ([keys])".into());
            return (Config::default(), errors);
        };
        for k in keys.keys() {
            if !matches!(k.as_str(), "preset" | "prefix" | "bind" | "prefix-bind") {
                err(
                    locate(text, "keys", k),
                    format!(
                        "keys.{k}: unknown setting (expected preset, prefix, bind or prefix-bind)"
                    ),
                );
            }
        }
        let at = |k: &str| locate(text, "keys", k);
        let preset = match keys.get("preset") {
            None => "default",
            Some(v) => match v.as_str() {
                Some(p) if Keymap::preset(p).is_some() => p,
                Some(p) => {
                    err(
                        at("preset"),
                        format!(
                            "keys.preset: unknown preset {p:?} (expected one of: {})",
                            Keymap::PRESETS.join(", ")
                        ),
                    );
                    "default"
                }
                None => {
                    err(at("preset"), "keys.preset: expected a string".into());
                    "default"
                }
            },
        };
        let mut map = Keymap::preset(preset).unwrap_or_else(|| Keymap::empty(None));
        if let Some(v) = keys.get("prefix") {
            match v.as_str() {
                Some("none") => map.prefix = None,
                Some(s) => match Chord::parse(s) {
                    Ok(c) => map.prefix = Some(c),
                    Err(e) => err(at("prefix"), format!("keys.prefix: {e}")),
                },
                None => err(
                    at("prefix"),
                    "keys.prefix: expected a string such as \"Ctrl+B\"".into(),
                ),
            }
        }
        for (section, target) in [
            ("bind", &mut map.direct),
            ("prefix-bind", &mut map.prefixed),
        ] {
            let Some(v) = keys.get(section) else { continue };
            let Some(t) = v.as_table() else {
                err(
                    at(section),
                    format!("keys.{section}: expected a table of key = \"action\""),
                );
                continue;
            };
            let table = format!("keys.{section}");
            for (key, action) in t {
                let pos = locate(text, &table, key);
                let chord = match Chord::parse(key) {
                    Ok(c) => c,
                    Err(e) => {
                        err(pos, format!("keys.{section}.{key:?}: {e}"));
                        continue;
                    }
                };
                let Some(name) = action.as_str() else {
                    err(
                        pos,
                        format!("keys.{section}.{key:?}: expected an action name in quotes"),
                    );
                    continue;
                };
                match Action::parse(name) {
                    Ok(Action::Unbound) => {
                        target.remove(&chord);
                    }
                    Ok(action) => {
                        target.insert(chord, action);
                    }
                    Err(e) => err(pos, format!("keys.{section}.{key:?}: {e}")),
                }
            }
        }
        if map.prefix.is_none() && !map.prefixed.is_empty() && keys.contains_key("prefix-bind") {
            err(
                at("prefix-bind").or_else(|| locate(text, "keys.prefix-bind", "")),
                "keys.prefix-bind: needs a prefix key (keys.prefix)".into(),
            );
        }
        // In the order of the file.
        errors.sort_by_key(|e| e.pos.unwrap_or((usize::MAX, 0)));
        (Config { keys: map }, errors)
    }
}

/// Prefix then `1`..`9` goes to that tab, and `0` to the tenth (tmux numbers windows from 0;
/// quil's tab bar starts at 1).
fn prefixed_tab_digits(k: &mut Keymap) {
    for n in 0..=9u8 {
        let tab = if n == 0 { 10 } else { n };
        k.prefixed.insert(
            Chord::new(KeyCode::Char((b'0' + n) as char), KeyModifiers::NONE),
            Action::Tab(tab),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Chord {
        Chord::parse(s).unwrap()
    }

    #[test]
    fn default_preset() {
        let k = Config::default().keys;
        assert_eq!(k.prefix, Some(c("Alt+W")));
        assert_eq!(k.prefixed.get(&c("n")), Some(&Action::NewPane));
        assert_eq!(k.prefixed.get(&c("v")), Some(&Action::SplitRight));
        assert_eq!(k.prefixed.get(&c("s")), Some(&Action::SplitDown));
        assert_eq!(k.prefixed.get(&c("3")), Some(&Action::Tab(3)));
        assert_eq!(k.prefixed.get(&c("?")), Some(&Action::Help));
        assert_eq!(k.prefixed.get(&c("Alt+W")), Some(&Action::SendPrefix));
        assert_eq!(k.key_for(Action::Detach).as_deref(), Some("Alt+W d"));
        assert_eq!(k.key_for(Action::Help).as_deref(), Some("Alt+W ?"));
        assert_eq!(k.key_for(Action::Agents).as_deref(), Some("Alt+Shift+I"));
        assert_eq!(
            k.key_for(Action::NextWaiting).as_deref(),
            Some("Alt+Shift+J")
        );
        // The keys the old default took from shells, editors and agents reach the pane.
        for free in [
            "Ctrl+W", "Ctrl+E", "Ctrl+T", "Ctrl+N", "Ctrl+Q", "Alt+3", "F2",
        ] {
            assert_eq!(k.direct.get(&c(free)), None, "{free}");
        }
    }

    /// Every key of `data/reserved-keys.toml`, by program.
    fn reserved() -> Vec<(String, Chord)> {
        let text = include_str!("../../data/reserved-keys.toml");
        let table: toml::Table = text.parse().expect("reserved-keys.toml is TOML");
        let mut out = Vec::new();
        for (program, t) in &table {
            let keys = t["keys"].as_array().expect("keys = [...]");
            for k in keys {
                let k = k.as_str().expect("a key name");
                let chord = Chord::parse(k).unwrap_or_else(|e| panic!("{program}: {k}: {e}"));
                out.push((format!("{program} {k}"), chord));
            }
        }
        out
    }

    #[test]
    fn default_keys_leave_programs_their_keys() {
        let reserved = reserved();
        let programs: Vec<&str> = reserved
            .iter()
            .map(|(n, _)| n.split(' ').next().unwrap_or(""))
            .collect();
        for p in ["readline", "vim", "claude-code", "opencode"] {
            assert!(programs.contains(&p), "{p} missing from reserved-keys.toml");
        }
        let k = Config::default().keys;
        let mut taken: Vec<(Chord, String)> = k
            .direct
            .iter()
            .map(|(c, a)| (*c, format!("{a:?}")))
            .collect();
        taken.extend(k.prefix.map(|p| (p, "the prefix".to_string())));
        for (chord, what) in taken {
            for (name, r) in &reserved {
                assert_ne!(chord, *r, "default key {chord} ({what}) is {name}'s");
            }
        }
        // The keys named in the issue that started this.
        for key in ["Ctrl+W", "Ctrl+E", "Ctrl+T", "Ctrl+N", "Ctrl+Q"] {
            assert!(reserved.iter().any(|(_, r)| *r == c(key)), "{key}");
        }
    }

    #[test]
    fn classic_preset_is_the_old_default() {
        let cfg = Config::parse(
            "[keys]\npreset = \"quil-classic\"\n",
            Path::new("/h/c.toml"),
        )
        .unwrap();
        let k = cfg.keys;
        assert_eq!(k.prefix, None);
        assert_eq!(k.direct.get(&c("Ctrl+N")), Some(&Action::NewPane));
        assert_eq!(k.direct.get(&c("Ctrl+W")), Some(&Action::ClosePane));
        assert_eq!(k.direct.get(&c("Ctrl+E")), Some(&Action::Zoom));
        assert_eq!(k.direct.get(&c("Alt+3")), Some(&Action::Tab(3)));
        assert_eq!(k.direct.get(&c("Ctrl+Q")), Some(&Action::Detach));
        assert_eq!(k.key_for(Action::Help).as_deref(), Some("F1"));
    }

    /// Each action of each preset keeps a key, and every preset has help and detach.
    #[test]
    fn presets_keep_a_key_for_each_action() {
        let all = [
            Action::NewPane,
            Action::NewTab,
            Action::ClosePane,
            Action::SplitRight,
            Action::SplitDown,
            Action::FocusLeft,
            Action::FocusRight,
            Action::FocusUp,
            Action::FocusDown,
            Action::Zoom,
            Action::RenameTab,
            Action::ScrollUp,
            Action::Detach,
            Action::Agents,
            Action::NextWaiting,
            Action::Help,
            Action::Tab(1),
            Action::Tab(9),
        ];
        for name in Keymap::PRESETS {
            let k = Keymap::preset(name).unwrap();
            for a in all {
                assert!(k.key_for(a).is_some(), "{name}: {a:?} has no key");
            }
        }
    }

    #[test]
    fn bindings_group_keys_by_action() {
        let k = Config::default().keys;
        let b = k.bindings();
        let split: Vec<&Vec<String>> = b
            .iter()
            .filter(|(_, a)| *a == Action::SplitRight)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            split,
            [&vec![
                "Alt+W %".to_string(),
                "Alt+W v".into(),
                "Alt+W |".into()
            ]]
        );
        assert_eq!(b.first().map(|(k, _)| k[0].as_str()), Some("Alt+Shift+I"));
        assert_eq!(b.last().map(|(_, a)| *a), Some(Action::Tab(10)));
        let n: usize = b.iter().map(|(k, _)| k.len()).sum();
        assert_eq!(n, k.direct.len() + k.prefixed.len());
    }

    #[test]
    fn tmux_preset() {
        let cfg =
            Config::parse("[keys]\npreset = \"tmux\"\n", Path::new("/h/config.toml")).unwrap();
        let k = cfg.keys;
        assert_eq!(k.prefix, Some(c("Ctrl+B")));
        assert!(k.direct.is_empty());
        assert_eq!(k.prefixed.get(&c("%")), Some(&Action::SplitRight));
        assert_eq!(k.prefixed.get(&c("\"")), Some(&Action::SplitDown));
        assert_eq!(k.prefixed.get(&c("c")), Some(&Action::NewTab));
        assert_eq!(k.prefixed.get(&c("0")), Some(&Action::Tab(10)));
        assert_eq!(k.prefixed.get(&c("[")), Some(&Action::CopyMode));
        assert_eq!(k.prefixed.get(&c("Ctrl+B")), Some(&Action::SendPrefix));
        assert_eq!(k.key_for(Action::SplitRight).as_deref(), Some("Ctrl+B %"));
        assert_eq!(k.prefixed.get(&c("n")), Some(&Action::NextTab));
        assert_eq!(k.key_for(Action::Agents).as_deref(), Some("Ctrl+B a"));
        assert_eq!(
            k.key_for(Action::NextWaiting).as_deref(),
            Some("Ctrl+B Shift+N")
        );
    }

    #[test]
    fn user_overrides() {
        let text = r#"
            [daemon]
            something = "ignored here"

            [keys]
            preset = "quil-classic"
            prefix = "Ctrl+A"

            [keys.bind]
            "Ctrl+E" = "none"
            "Alt+z" = "zoom"
            "Alt+Shift+H" = "split-down"

            [keys.prefix-bind]
            "|" = "split-right"
        "#;
        let k = Config::parse(text, Path::new("/h/config.toml"))
            .unwrap()
            .keys;
        assert_eq!(k.prefix, Some(c("Ctrl+A")));
        assert_eq!(k.direct.get(&c("Ctrl+E")), None);
        assert_eq!(k.direct.get(&c("Alt+Z")), Some(&Action::Zoom));
        assert_eq!(k.direct.get(&c("Alt+Shift+H")), Some(&Action::SplitDown));
        assert_eq!(
            k.direct.get(&c("Ctrl+N")),
            Some(&Action::NewPane),
            "the rest of the preset stays"
        );
        assert_eq!(k.prefixed.get(&c("|")), Some(&Action::SplitRight));
    }

    #[test]
    fn errors_name_file_and_key() {
        let file = Path::new("/home/me/.quil/config.toml");
        let cases = [
            (
                "[keys.bind]\n\"Ctrl+Foo\" = \"zoom\"\n",
                "keys.bind.\"Ctrl+Foo\": unknown key name \"Foo\"",
            ),
            (
                "[keys.bind]\n\"Ctrl+E\" = \"explode\"\n",
                "keys.bind.\"Ctrl+E\": unknown action \"explode\"",
            ),
            (
                "[keys.bind]\n\"Ctrl+E\" = 3\n",
                "keys.bind.\"Ctrl+E\": expected an action name",
            ),
            (
                "[keys]\npreset = \"emacs\"\n",
                "keys.preset: unknown preset \"emacs\"",
            ),
            ("[keys]\nprefx = \"C-a\"\n", "keys.prefx: unknown setting"),
            (
                "[keys]\nprefix = \"Hyper+Q\"\n",
                "keys.prefix: unknown key name",
            ),
            (
                "[keys]\npreset = \"quil-classic\"\n[keys.prefix-bind]\n\"x\" = \"zoom\"\n",
                "keys.prefix-bind: needs a prefix key",
            ),
            ("[keys\n", "invalid TOML"),
        ];
        for (text, want) in cases {
            let e = Config::parse(text, file).unwrap_err().to_string();
            assert!(e.starts_with("/home/me/.quil/config.toml:"), "{e}");
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn every_wrong_key_is_reported_with_its_place_and_the_rest_applies() {
        let text = "[keys]\npreset = \"quil-classic\"\nprefx = \"C-a\"\n\n[keys.bind]\n\"Ctrl+Foo\" = \"zoom\"\n\"Alt+z\" = \"zoom\"\n\"Ctrl+E\" = \"explode\"\n";
        let (cfg, errors) = Config::parse_lenient(text, Path::new("/h/config.toml"));
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("/h/config.toml:3:1: keys.prefx"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("/h/config.toml:6:1: keys.bind.\"Ctrl+Foo\""),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("/h/config.toml:8:1: keys.bind.\"Ctrl+E\""),
            "{shown:?}"
        );
        // The good entries apply; the bad ones keep the preset's binding.
        assert_eq!(cfg.keys.direct.get(&c("Alt+z")), Some(&Action::Zoom));
        assert_eq!(cfg.keys.direct.get(&c("Ctrl+E")), Some(&Action::Zoom));
        assert_eq!(cfg.keys.direct.get(&c("Ctrl+Q")), Some(&Action::Detach));
        // A broken file is the defaults, with where it broke.
        let (cfg, errors) = Config::parse_lenient("[keys\n", Path::new("c.toml"));
        assert_eq!(cfg, Config::default());
        assert!(errors[0].to_string().starts_with("c.toml:1:"), "{errors:?}");
    }

    #[test]
    fn missing_file_is_default_but_unreadable_explicit_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("quil-cfg-test-{}", std::process::id()));
        assert_eq!(Config::load(&dir, None).unwrap(), Config::default());
        let explicit = dir.join("nope.toml");
        let e = Config::load(&dir, Some(&explicit)).unwrap_err().to_string();
        assert!(e.contains("nope.toml: cannot read"), "{e}");
    }
}
