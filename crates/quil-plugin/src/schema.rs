//! The plugin file's shape as data: every table, key, type and required flag.
//!
//! One generic walk over the spanned TOML tree checks unknown keys, types and required keys
//! against these tables, so every such error in a file is found in one pass. The same tables
//! are checked against `docs/plugin.schema.json` by a test, keeping editors' completion and
//! the validator in agreement.

use crate::diag::{closest, quoted_list, Diagnostic};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Bool,
    Int,
    StrList,
    /// A string, or an array of strings (`arg_template`).
    StrOrStrList,
    Table(&'static [Key]),
    TableList(&'static [Key]),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn key(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        required: false,
    }
}

const fn required(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        required: true,
    }
}

pub(crate) const PLUGIN: &[Key] = &[
    required("name", Kind::Str),
    key("display_name", Kind::Str),
    required("category", Kind::Str),
    key("description", Kind::Str),
    key("homepage", Kind::Str),
    key("schema_version", Kind::Int),
    key("enabled", Kind::Bool),
];

pub(crate) const TOGGLE: &[Key] = &[
    required("name", Kind::Str),
    key("label", Kind::Str),
    required("args_when_on", Kind::StrList),
    key("default", Kind::Bool),
    key("group", Kind::Str),
];

pub(crate) const FIELD: &[Key] = &[
    required("name", Kind::Str),
    key("label", Kind::Str),
    key("arg_template", Kind::StrOrStrList),
    key("required", Kind::Bool),
    key("default", Kind::Str),
    key("pattern", Kind::Str),
];

pub(crate) const COMMAND: &[Key] = &[
    required("cmd", Kind::Str),
    key("args", Kind::StrList),
    key("env", Kind::StrList),
    key("detect", Kind::Str),
    key("prompts_cwd", Kind::Bool),
    key("toggles", Kind::TableList(TOGGLE)),
    key("fields", Kind::TableList(FIELD)),
];

pub(crate) const SCRAPE: &[Key] = &[required("name", Kind::Str), required("pattern", Kind::Str)];

pub(crate) const PERSISTENCE: &[Key] = &[
    key("strategy", Kind::Str),
    key("scrollback", Kind::Bool),
    key("start_args", Kind::StrList),
    key("resume_args", Kind::StrList),
    key("scrape", Kind::TableList(SCRAPE)),
];

pub(crate) const HANDLER: &[Key] = &[
    required("pattern", Kind::Str),
    key("title", Kind::Str),
    key("severity", Kind::Str),
    key("state", Kind::Str),
];

pub(crate) const SESSION_ARGS: &[Key] = &[
    key("flags", Kind::StrList),
    key("with_value", Kind::StrList),
    key("optional_value", Kind::StrList),
];

pub(crate) const INTEGRATION: &[Key] = &[
    key("mechanism", Kind::Str),
    key("session_id_pattern", Kind::Str),
    key("not_found", Kind::Str),
    key("ready", Kind::Str),
    key("chrome", Kind::StrList),
    key("continue_args", Kind::StrList),
    key("fork_args", Kind::StrList),
    key("session_args", Kind::Table(SESSION_ARGS)),
];

pub(crate) const DISPLAY: &[Key] = &[key("border_color", Kind::Str)];

pub(crate) const ROOT: &[Key] = &[
    required("plugin", Kind::Table(PLUGIN)),
    required("command", Kind::Table(COMMAND)),
    key("persistence", Kind::Table(PERSISTENCE)),
    key("integration", Kind::Table(INTEGRATION)),
    key("idle_handlers", Kind::TableList(HANDLER)),
    key("error_handlers", Kind::TableList(HANDLER)),
    key("display", Kind::Table(DISPLAY)),
];

/// Every table in the schema with its path (`""` for the top level, `command.toggles` for an
/// array of tables).
pub(crate) fn tables() -> Vec<Table> {
    fn walk(path: &str, keys: &'static [Key], array: bool, out: &mut Vec<Table>) {
        out.push(Table {
            path: path.to_string(),
            keys,
            array,
        });
        for k in keys {
            let p = if path.is_empty() {
                k.name.to_string()
            } else {
                format!("{path}.{}", k.name)
            };
            match k.kind {
                Kind::Table(sub) => walk(&p, sub, false, out),
                Kind::TableList(sub) => walk(&p, sub, true, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk("", ROOT, false, &mut out);
    out
}

/// One table of the schema.
pub(crate) struct Table {
    /// Dotted path; `""` for the top level.
    pub path: String,
    pub keys: &'static [Key],
    /// An array of tables (`[[path]]`).
    pub array: bool,
}

/// How a table is named in messages.
fn section(path: &str, array: bool) -> String {
    if path.is_empty() {
        "at the top level".to_string()
    } else if array {
        format!("in [[{path}]]")
    } else {
        format!("in [{path}]")
    }
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Bool => "a boolean",
        Kind::Int => "an integer",
        Kind::StrList => "an array of strings",
        Kind::StrOrStrList => "a string or an array of strings",
        Kind::Table(_) => "a table",
        Kind::TableList(_) => "an array of tables",
    }
}

fn kind_hint(name: &str, kind: Kind, path: &str) -> String {
    match kind {
        Kind::Str => format!("quote it: {name} = \"...\""),
        Kind::Bool => format!("write {name} = true or {name} = false, without quotes"),
        Kind::Int => format!("write a whole number without quotes, e.g. {name} = 1"),
        Kind::StrList => format!("write {name} = [\"one\", \"two\"]"),
        Kind::StrOrStrList => format!("write {name} = \"...\" or {name} = [\"one\", \"two\"]"),
        Kind::Table(_) => format!("write it as a [{path}] section"),
        Kind::TableList(_) => format!("write each entry as a [[{path}]] section"),
    }
}

pub(crate) struct Walker<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub diags: Vec<Diagnostic>,
}

impl Walker<'_> {
    fn err(&mut self, offset: usize, message: String, hint: Option<String>) {
        self.diags
            .push(Diagnostic::at(self.file, self.text, offset, message).maybe_hint(hint));
    }

    /// Checks one table against its keys; recurses into sub-tables.
    pub(crate) fn table(
        &mut self,
        table: &DeTable<'_>,
        keys: &'static [Key],
        path: &str,
        array: bool,
        span: Range<usize>,
    ) {
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            match keys.iter().find(|spec| spec.name == name) {
                Some(spec) => self.value(spec, v, path),
                None => self.unknown_key(name, k.span(), keys, path, array),
            }
        }
        for spec in keys.iter().filter(|s| s.required) {
            if table.get(spec.name).is_none() {
                let (what, hint) = match spec.kind {
                    Kind::Table(_) => (
                        format!("missing required table [{}]", spec.name),
                        Some(format!("add a [{}] section", spec.name)),
                    ),
                    _ => (
                        format!(
                            "missing required key `{}` {}",
                            spec.name,
                            section(path, array)
                        ),
                        Some(example(path, spec.name)),
                    ),
                };
                self.err(span.start, what, hint);
            }
        }
    }

    fn unknown_key(
        &mut self,
        name: &str,
        span: Range<usize>,
        keys: &'static [Key],
        path: &str,
        array: bool,
    ) {
        let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
        let hint = if let Some(c) = closest(name, names.iter().copied()) {
            format!("did you mean `{c}`?")
        } else if let Some(home) = tables()
            .into_iter()
            .find(|t| t.path != path && t.keys.iter().any(|k| k.name == name))
        {
            if home.path.is_empty() {
                format!("`{name}` belongs at the top level, before any [section]")
            } else {
                format!("`{name}` belongs {}", section(&home.path, home.array))
            }
        } else {
            format!("known keys here: {}", quoted_list(&names))
        };
        self.err(
            span.start,
            format!("unknown key `{name}` {}", section(path, array)),
            Some(hint),
        );
    }

    fn value(&mut self, spec: &Key, v: &Spanned<DeValue<'_>>, path: &str) {
        let sub_path = if path.is_empty() {
            spec.name.to_string()
        } else {
            format!("{path}.{}", spec.name)
        };
        let ok = match (spec.kind, v.get_ref()) {
            (Kind::Str, DeValue::String(_))
            | (Kind::Bool, DeValue::Boolean(_))
            | (Kind::Int, DeValue::Integer(_))
            | (Kind::StrOrStrList, DeValue::String(_)) => true,
            (Kind::StrList | Kind::StrOrStrList, DeValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.get_ref().is_str() {
                        self.err(
                            item.span().start,
                            format!(
                                "`{}` must be an array of strings; item {} is {}",
                                spec.name,
                                i + 1,
                                type_name(item.get_ref())
                            ),
                            Some("quote every item".to_string()),
                        );
                    }
                }
                true
            }
            (Kind::Table(sub), DeValue::Table(t)) => {
                self.table(t, sub, &sub_path, false, v.span());
                true
            }
            (Kind::TableList(sub), DeValue::Array(items)) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => self.table(t, sub, &sub_path, true, item.span()),
                        other => self.err(
                            item.span().start,
                            format!(
                                "each entry of `{}` must be a table, found {}",
                                spec.name,
                                type_name(other)
                            ),
                            Some(format!("write each entry as a [[{sub_path}]] section")),
                        ),
                    }
                }
                true
            }
            _ => false,
        };
        if !ok {
            self.err(
                v.span().start,
                format!(
                    "`{}` must be {}, found {}",
                    spec.name,
                    kind_name(spec.kind),
                    type_name(v.get_ref())
                ),
                Some(kind_hint(spec.name, spec.kind, &sub_path)),
            );
        }
    }
}

fn example(path: &str, name: &str) -> String {
    let e = match (path, name) {
        ("plugin", "name") => "name = \"my-tool\"",
        ("command.toggles", "name") => "name = \"verbose\"",
        ("command.fields", "name") => "name = \"host\"",
        ("persistence.scrape", "name") => "name = \"session_id\"",
        (_, "category") => "category = \"tools\"",
        (_, "cmd") => "cmd = \"my-tool\"",
        (_, "args_when_on") => "args_when_on = [\"--flag\"]",
        (_, "pattern") => "pattern = 'regex'",
        _ => return format!("add {name} = ..."),
    };
    format!("add {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_listed_once() {
        let paths: Vec<String> = tables().into_iter().map(|t| t.path).collect();
        assert_eq!(
            paths,
            [
                "",
                "plugin",
                "command",
                "command.toggles",
                "command.fields",
                "persistence",
                "persistence.scrape",
                "integration",
                "integration.session_args",
                "idle_handlers",
                "error_handlers",
                "display"
            ]
        );
    }
}
