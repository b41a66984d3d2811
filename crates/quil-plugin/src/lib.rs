//! Pane types as TOML plugin files.
//!
//! quil runs AI coding agents, shells and tools side by side, and each of them starts,
//! resumes and signals "I need you" differently. Rather than hard-coding that knowledge in the
//! daemon, each pane type is a small TOML file: how to start it, which choices to offer when
//! creating a pane (toggles, form fields), how to bring it back after a restart, and which
//! screen text means it is waiting or failed. New tools are supported by writing a file, and
//! users can change the defaults without rebuilding quil. `docs/plugin-reference.md` is the
//! user-facing reference; this crate is the library behind it, with no I/O beyond reading the
//! plugin directory and writing defaults into it.
//!
//! - [`parse`] validates a file and reports *every* problem as a [`Diagnostic`] with
//!   `file:line:column`, a reason and a hint, because plugin files are written by hand and a
//!   silently ignored typo is a pane that misbehaves much later.
//! - [`Registry::load`] combines the [`embedded`] defaults with the user's directory; a broken
//!   file never takes other pane types down with it. [`install_defaults`] writes the defaults
//!   out for editing and never clobbers an edited file.
//! - [`build_argv`] turns a plugin plus one pane's choices into an argv, by a fixed merge
//!   order documented on [`build_argv`]. Placeholders (`{session_id}`, `{cwd}`,
//!   form fields, ...) are never passed half-expanded: an unresolved one in an optional
//!   *group* (`start_args`, `resume_args`, a field's `arg_template`) drops the group (so a
//!   resume without a session id falls back to a fresh start), and in a required entry
//!   (`cmd`, `args`, `env`, a toggle's arguments) is an error naming the placeholder. Files
//!   whose placeholders could never resolve are rejected at load time.
//! - [`Strategy::restore`] and [`Plugin::initial_state`], [`Plugin::scrape`] and
//!   [`Plugin::match_attention`] are what the daemon needs to save, restore and watch panes.
//!
//! # The argument merge
//!
//! ```text
//! argv = [cmd] + args + toggles that are on + (start_args | resume_args)
//!        + each field's arg_template + extra_args
//! ```
//! `resume_args` replace `start_args` only in [`Mode::Resume`], for the strategies that resume
//! (`preassign_id`, `session_scrape`, `session_file`), and only when every placeholder in them
//! resolves; [`Argv::resumed`] says whether they were used.

mod argv;
mod diag;
mod model;
mod parse;
mod registry;
mod runtime;
mod schema;
mod template;

pub use argv::{build_argv, Argv, Mode, SpawnContext};
pub use diag::{Diagnostic, Level};
pub use model::{
    Category, Color, Command, Display, Field, Handler, Integration, Mechanism, NamedColor, Pattern,
    Persistence, Plugin, Restore, Scrape, SessionArgs, Severity, Source, State, StateSource,
    Strategy, Toggle, HANDLER_STATES,
};
pub use parse::{parse, parse_file, BUILTIN_PLACEHOLDERS, MAX_FILE_SIZE};
pub use registry::{
    embedded, embedded_label, install_defaults, Failed, Registry, DEFAULT_TYPE, SCHEMA_FILE,
    SCHEMA_JSON,
};
pub use runtime::{find_on_path, new_session_id};
pub use template::{expand, placeholders, TemplateError};

#[cfg(test)]
mod tests;
