//! Turning a plugin plus one pane's choices into the argv to spawn.
//!
//! The algorithm is documented on [`build_argv`].

use crate::model::{Field, Plugin, Strategy, Toggle};
use crate::template::{expand, TemplateError};
use serde::Serialize;
use std::collections::BTreeMap;

/// Whether a pane is being created or restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Start,
    Resume,
}

static EMPTY_STRINGS: BTreeMap<String, String> = BTreeMap::new();
static EMPTY_BOOLS: BTreeMap<String, bool> = BTreeMap::new();

/// Everything about one pane that the argv depends on.
#[derive(Debug, Clone, Copy)]
pub struct SpawnContext<'a> {
    pub mode: Mode,
    /// `{pane_id}`.
    pub pane_id: &'a str,
    /// `{cwd}`: the working directory the pane starts in (the saved one when restoring).
    pub cwd: &'a str,
    /// `{shell}`: the user's shell.
    pub shell: &'a str,
    /// The pane's plugin state (`session_id`, scraped keys), saved with the pane.
    pub state: &'a BTreeMap<String, String>,
    /// Form field values chosen at creation; missing or empty = the field's default.
    pub fields: &'a BTreeMap<String, String>,
    /// Toggles chosen at creation; unset = the toggle's default.
    pub toggles: &'a BTreeMap<String, bool>,
    /// Arguments given for this one pane (`quil new-tab --type T -- ARGS`), appended verbatim.
    pub extra_args: &'a [String],
}

impl<'a> SpawnContext<'a> {
    /// A context with no state, fields, toggles or extra arguments.
    pub fn new(mode: Mode, pane_id: &'a str, cwd: &'a str, shell: &'a str) -> Self {
        SpawnContext {
            mode,
            pane_id,
            cwd,
            shell,
            state: &EMPTY_STRINGS,
            fields: &EMPTY_STRINGS,
            toggles: &EMPTY_BOOLS,
            extra_args: &[],
        }
    }
}

/// What to spawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Argv {
    /// `argv[0]` is the program, looked up on `PATH` if it has no `/`.
    pub argv: Vec<String>,
    /// Added to the pane's environment.
    pub env: Vec<(String, String)>,
    /// `resume_args` were used (the program was asked to resume a session).
    pub resumed: bool,
}

/// Builds the argv for a pane.
///
/// # The merge algorithm
///
/// ```text
/// argv = [cmd]                                  always; unresolved placeholder → error
///      + args                                   always; unresolved placeholder → error
///      + args_when_on of each toggle that is on in file order; unresolved → error
///      + mode args                              one group, see below; unresolved → skipped
///      + arg_template of each field with a value, in file order; unresolved → skipped
///      + extra_args                             verbatim, never expanded
/// env  = command.env                            values expanded; unresolved → error
///
/// mode args:
///   Start                                      → start_args
///   Resume, strategy none                      → error (such panes are not restored)
///   Resume, cwd_only / rerun                   → start_args (the same argv as at creation)
///   Resume, preassign_id / session_scrape /
///           session_file                       → resume_args when non-empty and every
///                                                placeholder in them resolves (resumed = true),
///                                                else start_args
/// ```
///
/// A toggle is on when the context says so, else when its `default` is on. Toggles sharing a
/// `group` are a radio group: if the context turns one on, the others are off whatever their
/// defaults; turning on two of one group is an error. A field has a value when the context
/// gives a non-empty one, else when it has a non-empty `default`; a `required` field without a
/// value, or a value not matching `pattern`, is an error.
///
/// In `Start` mode a toggle or field name the plugin does not define is an error (a typo in a
/// command line); in `Resume` mode it is ignored, so a pane saved under an older version of
/// the plugin file still restores.
pub fn build_argv(p: &Plugin, ctx: &SpawnContext<'_>) -> Result<Argv, String> {
    let restore = p.persistence.strategy.restore();
    if ctx.mode == Mode::Resume && !restore.restored {
        return Err(format!(
            "{} panes are not restored (strategy `{}`)",
            p.display_name,
            Strategy::None.as_str()
        ));
    }
    if ctx.mode == Mode::Start {
        check_names(p, ctx)?;
    }
    let field_values = field_values(p, ctx)?;
    let on = toggles_on(p, ctx)?;

    let lookup = |name: &str| -> Option<String> {
        match name {
            "cwd" => Some(ctx.cwd.to_string()),
            "pane_id" => Some(ctx.pane_id.to_string()),
            "shell" => Some(ctx.shell.to_string()),
            _ => field_values
                .iter()
                .find(|(f, _)| f.name == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| ctx.state.get(name).cloned()),
        }
    };
    let must = |key: &str, t: &str| -> Result<String, String> {
        expand(t, lookup).map_err(|e| match e {
            TemplateError::Unresolved(name) => format!(
                "cannot start {}: `{key}` entry \"{t}\" needs `{{{name}}}`, which has no value",
                p.display_name
            ),
            other => format!(
                "cannot start {}: `{key}` entry \"{t}\": {other}",
                p.display_name
            ),
        })
    };
    // A group of arguments that is used whole or not at all.
    let group = |ts: &[String]| -> Option<Vec<String>> {
        ts.iter().map(|t| expand(t, lookup).ok()).collect()
    };

    let mut argv = vec![must("cmd", &p.command.cmd)?];
    for a in &p.command.args {
        argv.push(must("args", a)?);
    }
    for t in &on {
        for a in &t.args_when_on {
            argv.push(must("args_when_on", a)?);
        }
    }

    let mut resumed = false;
    let mut mode_args = None;
    if ctx.mode == Mode::Resume && restore.uses_resume_args && !p.persistence.resume_args.is_empty()
    {
        mode_args = group(&p.persistence.resume_args);
        resumed = mode_args.is_some();
    }
    let mode_args = mode_args
        .or_else(|| group(&p.persistence.start_args))
        .unwrap_or_default();
    argv.extend(mode_args);

    for (f, _) in &field_values {
        argv.extend(group(&f.arg_template).unwrap_or_default());
    }
    argv.extend(ctx.extra_args.iter().cloned());

    let mut env = Vec::with_capacity(p.command.env.len());
    for (k, v) in &p.command.env {
        env.push((k.clone(), must("env", v)?));
    }
    Ok(Argv { argv, env, resumed })
}

fn check_names(p: &Plugin, ctx: &SpawnContext<'_>) -> Result<(), String> {
    let toggles: Vec<&str> = p.command.toggles.iter().map(|t| t.name.as_str()).collect();
    let fields: Vec<&str> = p.command.fields.iter().map(|f| f.name.as_str()).collect();
    check_known(p, "toggle", ctx.toggles.keys(), &toggles)?;
    check_known(p, "field", ctx.fields.keys(), &fields)
}

/// An error naming the first of `chosen` that is not in `known`.
fn check_known<'a>(
    p: &Plugin,
    what: &str,
    mut chosen: impl Iterator<Item = &'a String>,
    known: &[&str],
) -> Result<(), String> {
    match chosen.find(|name| !known.contains(&name.as_str())) {
        Some(name) if known.is_empty() => Err(format!("{} has no {what} `{name}`", p.display_name)),
        Some(name) => Err(format!(
            "{} has no {what} `{name}` (it has {})",
            p.display_name,
            crate::diag::quoted_list(known)
        )),
        None => Ok(()),
    }
}

/// The fields that have a value, in file order, checked against `required` and `pattern`.
fn field_values<'p>(
    p: &'p Plugin,
    ctx: &SpawnContext<'p>,
) -> Result<Vec<(&'p Field, String)>, String> {
    let mut out = Vec::new();
    for f in &p.command.fields {
        match f.value(ctx.fields.get(&f.name).map(String::as_str)) {
            Some(v) => {
                if !f.accepts(v) {
                    let pattern = f.pattern.as_ref().map_or("", |p| p.source.as_str());
                    return Err(format!(
                        "{} ({}): `{v}` does not match the pattern `{pattern}`",
                        f.label, f.name
                    ));
                }
                out.push((f, v.to_string()));
            }
            None if f.required => {
                return Err(format!(
                    "{} ({}) is required for {}",
                    f.label, f.name, p.display_name
                ))
            }
            None => {}
        }
    }
    Ok(out)
}

/// The toggles that are on, in file order.
fn toggles_on<'p>(p: &'p Plugin, ctx: &SpawnContext<'_>) -> Result<Vec<&'p Toggle>, String> {
    let chosen = |t: &Toggle| ctx.toggles.get(&t.name).copied();
    let all = &p.command.toggles;
    let mut on = Vec::new();
    for t in all {
        let is_on = match &t.group {
            None => chosen(t).unwrap_or(t.default),
            Some(g) => {
                let members = || all.iter().filter(move |o| o.group.as_ref() == Some(g));
                let explicit: Vec<&Toggle> =
                    members().filter(|o| chosen(o) == Some(true)).collect();
                match explicit.as_slice() {
                    [] => chosen(t).unwrap_or(t.default),
                    [one] => one.name == t.name,
                    [a, b, ..] => {
                        return Err(format!(
                            "toggles `{}` and `{}` are both on, but group `{g}` allows one",
                            a.name, b.name
                        ))
                    }
                }
            }
        };
        if is_on {
            on.push(t);
        }
    }
    Ok(on)
}
