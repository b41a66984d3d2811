//! The validated, typed form of a plugin file.

use regex::Regex;
use serde::{Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;

/// A pane type, as loaded from one plugin file. Everything in it has been validated: regexes
/// compile, placeholders can resolve, enums are known.
#[derive(Debug, Clone, Serialize)]
pub struct Plugin {
    /// The pane type's id (`quil new-tab --type NAME`): lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// Shown in pickers and on pane borders; defaults to `name`.
    pub display_name: String,
    pub category: Category,
    pub description: String,
    pub homepage: Option<String>,
    /// The revision of this plugin file. quil compares it with its embedded default of the same
    /// file name to tell the user when a newer default is available.
    pub schema_version: u32,
    /// `false` hides the type (and the built-in one of the same name) from quil.
    pub enabled: bool,
    pub command: Command,
    pub persistence: Persistence,
    /// How an agent CLI tells quil which conversation it is in and what it is doing.
    pub integration: Integration,
    /// Checked when the pane goes quiet; the first match sets the attention state.
    pub idle_handlers: Vec<Handler>,
    /// Checked whenever output arrives; the first match sets the attention state.
    pub error_handlers: Vec<Handler>,
    pub display: Display,
    /// Where it was loaded from.
    pub source: Source,
    /// Position of the `name` value, for registry diagnostics about the file.
    #[serde(skip)]
    pub(crate) name_pos: (usize, usize),
}

/// Where a [`Plugin`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Built into quil; the file name under the repository's `plugins/`.
    Embedded(String),
    /// A file on disk (or, from [`crate::parse`], the label it was parsed under).
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Embedded(name) => write!(f, "(built-in) {name}"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What kind of pane a plugin makes; pickers group by it, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Terminal,
    Ai,
    Tools,
    Remote,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Terminal,
        Category::Ai,
        Category::Tools,
        Category::Remote,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Terminal => "terminal",
            Category::Ai => "ai",
            Category::Tools => "tools",
            Category::Remote => "remote",
        }
    }
}

/// `[command]`: how the pane's program is started.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    /// The program (a template: `{shell}` for the user's shell).
    pub cmd: String,
    /// Arguments always passed (templates).
    pub args: Vec<String>,
    /// Extra environment, `KEY=VALUE` in the file; values are templates.
    pub env: Vec<(String, String)>,
    /// The binary looked up on `PATH` to decide availability (default: `cmd`).
    pub detect: Option<String>,
    /// Whether the new-pane dialog asks for a working directory.
    pub prompts_cwd: bool,
    pub toggles: Vec<Toggle>,
    pub fields: Vec<Field>,
}

/// `[[command.toggles]]`: an on/off choice made when the pane is created.
#[derive(Debug, Clone, Serialize)]
pub struct Toggle {
    pub name: String,
    pub label: String,
    pub args_when_on: Vec<String>,
    pub default: bool,
    /// Toggles sharing a group are a radio group: at most one of them is on.
    pub group: Option<String>,
}

/// `[[command.fields]]`: a value typed in when the pane is created (ssh's `user@host`).
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub label: String,
    /// Arguments added when the field has a value (templates, usually using `{name}`).
    pub arg_template: Vec<String>,
    pub required: bool,
    pub default: Option<String>,
    /// The whole value must match (the regex is anchored at both ends).
    pub pattern: Option<Pattern>,
}

impl Field {
    /// The value to use: the given one when non-empty, else the default.
    pub fn value<'a>(&'a self, given: Option<&'a str>) -> Option<&'a str> {
        given
            .filter(|v| !v.is_empty())
            .or(self.default.as_deref().filter(|v| !v.is_empty()))
    }

    /// Checks a value against `pattern`.
    pub fn accepts(&self, value: &str) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| p.regex.is_match(value))
    }
}

/// `[persistence]`: what happens to the pane when the daemon restores a saved workspace.
#[derive(Debug, Clone, Serialize)]
pub struct Persistence {
    pub strategy: Strategy,
    /// Save the pane's scrollback and show it again on restore.
    pub scrollback: bool,
    /// Arguments for a fresh start (templates), also used when resuming is impossible.
    pub start_args: Vec<String>,
    /// Arguments that replace `start_args` when resuming (templates).
    pub resume_args: Vec<String>,
    pub scrape: Vec<Scrape>,
}

/// `[integration]`: what quil knows of an agent CLI, as data. The daemon recognises no program
/// by name; everything agent-specific it does comes from here.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Integration {
    /// How the CLI reports its conversation and state to quil (a hook it runs, a tracker
    /// plugin it loads); `None` for programs that report nothing.
    pub mechanism: Option<Mechanism>,
    /// What a valid session id of this CLI looks like (matched whole); anything else that a
    /// hook or file reports is ignored, so it can never become an option or a path.
    pub session_id_pattern: Option<Pattern>,
    /// Printed by the CLI when `resume_args` name a conversation that no longer exists: quil
    /// then starts the pane fresh.
    pub not_found: Option<String>,
    /// On the screen once the CLI takes a prompt: until then the pane is `working`
    /// ("starting") and prompts sent to it wait.
    pub ready: Option<Pattern>,
    /// Lines of the CLI's own interface (borders, status and footer lines), left out of the
    /// text of a turn that `prompt --wait` prints.
    pub chrome: Vec<Pattern>,
    /// Arguments that reopen the directory's latest conversation, for a pane whose own id is
    /// unknown (used only when no other pane of the type in that directory has one).
    pub continue_args: Vec<String>,
    /// Arguments that start a new conversation continuing a copy of `{session_id}`.
    pub fork_args: Vec<String>,
    /// The CLI's own arguments that pick a conversation: dropped from a pane's command when
    /// quil picks one on restore.
    pub session_args: SessionArgs,
}

impl Integration {
    /// Whether the plugin declares any integration at all.
    pub fn is_declared(&self) -> bool {
        self.mechanism.is_some() || self.session_id_pattern.is_some()
    }

    /// Whether `id` has the shape of this CLI's session ids (any non-empty id without
    /// white space or a leading `-` when no pattern is declared).
    pub fn valid_session_id(&self, id: &str) -> bool {
        match &self.session_id_pattern {
            Some(p) => p.regex.is_match(id),
            None => {
                !id.is_empty()
                    && id.len() <= 256
                    && !id.starts_with('-')
                    && !id.contains(['/', '\\'])
                    && !id.chars().any(|c| c.is_whitespace() || c.is_control())
            }
        }
    }
}

/// `[integration.session_args]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionArgs {
    /// Flags without a value (`--continue`).
    pub flags: Vec<String>,
    /// Options followed by a value (`--session X`, or `--session=X`).
    pub with_value: Vec<String>,
    /// Options whose value is optional (`--resume [X]`).
    pub optional_value: Vec<String>,
}

/// A built-in way for a CLI to report to quil, selected by name in `[integration]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// The CLI runs `quil hook` for its events, registered through a per-pane `--settings`
    /// file (Claude Code's hooks).
    ClaudeHooks,
    /// The CLI loads quil's tracker plugin through `OPENCODE_CONFIG_CONTENT` (opencode).
    OpencodeTracker,
    /// The CLI runs `quil hook codex` for its events, registered (and trusted) with `-c`
    /// overrides on its command line (Codex CLI's hooks).
    CodexHooks,
    /// The CLI runs `quil hook gemini` for its events, through quil's Gemini extension and the
    /// pane's `GEMINI_CLI_QUIL_HOOK` (Gemini CLI's hooks).
    GeminiHooks,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Mechanism::ClaudeHooks,
        Mechanism::OpencodeTracker,
        Mechanism::CodexHooks,
        Mechanism::GeminiHooks,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::ClaudeHooks => "claude_hooks",
            Mechanism::OpencodeTracker => "opencode_tracker",
            Mechanism::CodexHooks => "codex_hooks",
            Mechanism::GeminiHooks => "gemini_hooks",
        }
    }
}

/// `[[persistence.scrape]]`: capture a state key from the pane's output.
#[derive(Debug, Clone, Serialize)]
pub struct Scrape {
    /// The state key set (usable as `{name}` in `resume_args`).
    pub name: String,
    /// Capture group 1 of the last match is the value.
    pub pattern: Pattern,
}

/// How a pane of this type is restored. See [`Strategy::restore`] for the same table as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Not restored: the pane is dropped from the restored workspace.
    None,
    /// Started fresh (`start_args`) in the saved working directory.
    CwdOnly,
    /// The same argv is run again.
    Rerun,
    /// quil generates `session_id` (a UUID v4) when the pane is created; `start_args` pass it to
    /// the program, `resume_args` resume it.
    PreassignId,
    /// `[[persistence.scrape]]` regexes capture state keys from output; `resume_args` use them.
    SessionScrape,
    /// The daemon reads `session_id` from a tracker file the program (or a quil hook in it)
    /// writes; `resume_args` use it when present.
    SessionFile,
}

/// Where a strategy's state keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateSource {
    /// Generated by quil at creation ([`crate::Plugin::initial_state`]): known from the start.
    Preassigned,
    /// Scraped from output ([`crate::Plugin::scrape`]): known only after the program printed it.
    Scraped,
    /// Read by the daemon from a tracker file: known only after the program wrote it.
    TrackerFile,
}

/// What the daemon does with a saved pane of a given strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Restore {
    /// Whether the pane is restored at all.
    pub restored: bool,
    /// Whether `resume_args` replace `start_args` (when all their placeholders resolve).
    pub uses_resume_args: bool,
    /// Where the state keys come from, if the strategy has any.
    pub state: Option<StateSource>,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::None,
        Strategy::CwdOnly,
        Strategy::Rerun,
        Strategy::PreassignId,
        Strategy::SessionScrape,
        Strategy::SessionFile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::CwdOnly => "cwd_only",
            Strategy::Rerun => "rerun",
            Strategy::PreassignId => "preassign_id",
            Strategy::SessionScrape => "session_scrape",
            Strategy::SessionFile => "session_file",
        }
    }

    /// The resume strategies as data.
    pub fn restore(self) -> Restore {
        let (restored, uses_resume_args, state) = match self {
            Strategy::None => (false, false, None),
            Strategy::CwdOnly => (true, false, None),
            Strategy::Rerun => (true, false, None),
            Strategy::PreassignId => (true, true, Some(StateSource::Preassigned)),
            Strategy::SessionScrape => (true, true, Some(StateSource::Scraped)),
            Strategy::SessionFile => (true, true, Some(StateSource::TrackerFile)),
        };
        Restore {
            restored,
            uses_resume_args,
            state,
        }
    }
}

/// A pane's attention state, as set by a [`Handler`]: the one enum shared with the daemon,
/// the wire and the TUI.
pub use quil_model::Attention as State;

/// The states a handler may set (`idle` is what no match means).
pub const HANDLER_STATES: [State; 4] = [State::Working, State::Waiting, State::Done, State::Error];

/// How loudly to announce a handler's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// `[[idle_handlers]]` / `[[error_handlers]]`: a regex over the recent screen that sets the
/// pane's attention state.
#[derive(Debug, Clone, Serialize)]
pub struct Handler {
    pub pattern: Pattern,
    /// Shown in notifications and on the pane border.
    pub title: String,
    pub severity: Severity,
    pub state: State,
}

/// `[display]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Display {
    pub border_color: Option<Color>,
}

/// A border colour: one of the 16 terminal colours by name, or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    Named(NamedColor),
    Rgb(u8, u8, u8),
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Color::Named(n) => f.write_str(n.as_str()),
            Color::Rgb(r, g, b) => write!(f, "#{r:02x}{g:02x}{b:02x}"),
        }
    }
}

/// The 16 terminal colours, named as in ratatui.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedColor {
    Black,
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Gray,
    DarkGray,
    LightRed,
    LightGreen,
    LightYellow,
    LightBlue,
    LightMagenta,
    LightCyan,
    White,
}

impl NamedColor {
    pub const ALL: [NamedColor; 16] = [
        NamedColor::Black,
        NamedColor::Red,
        NamedColor::Green,
        NamedColor::Yellow,
        NamedColor::Blue,
        NamedColor::Magenta,
        NamedColor::Cyan,
        NamedColor::Gray,
        NamedColor::DarkGray,
        NamedColor::LightRed,
        NamedColor::LightGreen,
        NamedColor::LightYellow,
        NamedColor::LightBlue,
        NamedColor::LightMagenta,
        NamedColor::LightCyan,
        NamedColor::White,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            NamedColor::Black => "black",
            NamedColor::Red => "red",
            NamedColor::Green => "green",
            NamedColor::Yellow => "yellow",
            NamedColor::Blue => "blue",
            NamedColor::Magenta => "magenta",
            NamedColor::Cyan => "cyan",
            NamedColor::Gray => "gray",
            NamedColor::DarkGray => "dark_gray",
            NamedColor::LightRed => "light_red",
            NamedColor::LightGreen => "light_green",
            NamedColor::LightYellow => "light_yellow",
            NamedColor::LightBlue => "light_blue",
            NamedColor::LightMagenta => "light_magenta",
            NamedColor::LightCyan => "light_cyan",
            NamedColor::White => "white",
        }
    }
}

impl Color {
    /// Parses `red`, `light_blue`, `#d97757`.
    pub fn parse(s: &str) -> Option<Color> {
        if let Some(hex) = s.strip_prefix('#') {
            if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
            return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
        }
        NamedColor::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .map(Color::Named)
    }
}

/// A compiled regex that remembers how it was written.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As written in the file.
    pub source: String,
    /// As compiled: multi-line (`^`/`$` match at line boundaries), and for field patterns
    /// anchored at both ends.
    pub regex: Regex,
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}
