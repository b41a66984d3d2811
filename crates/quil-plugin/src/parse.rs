//! From TOML text to a validated [`Plugin`], or every problem found in the file.
//!
//! Three passes over the spanned TOML tree, each collecting every problem it finds:
//! 1. TOML syntax (the parser recovers and reports all syntax errors; if there are any, the
//!    other passes are skipped, since they would only report the fallout);
//! 2. shape: unknown keys, wrong types, missing required keys ([`crate::schema`]);
//! 3. meaning: regexes, enum values, names, placeholders, and rules between keys (strategy vs.
//!    `resume_args`, radio groups, ...).

use crate::diag::{closest, quoted_list, suggest_or_list, Diagnostic};
use crate::model::*;
use crate::schema::{self, Walker};
use crate::template::{self, is_name, Piece, TemplateError};
use regex::RegexBuilder;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Placeholders every plugin can use.
pub const BUILTIN_PLACEHOLDERS: [&str; 3] = ["cwd", "pane_id", "shell"];

/// Plugin files larger than this are refused (they are a few KiB in practice).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Compiled size limit for one regex, so a pathological pattern cannot eat the daemon's memory.
const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// Parses and validates one plugin file. `file_label` is what diagnostics call the file; the
/// returned plugin's [`Plugin::source`] is `Source::File(file_label)`.
///
/// On failure, returns every problem found, sorted by position.
pub fn parse(file_label: &str, text: &str) -> Result<Plugin, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let mut diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| {
                let offset = e.span().map_or(0, |s| s.start);
                Diagnostic::at(file_label, text, offset, e.message().to_string())
                    .maybe_hint(syntax_hint(e.message()))
            })
            .collect();
        sort(&mut diags);
        return Err(diags);
    }
    let mut walker = Walker {
        file: file_label,
        text,
        diags: Vec::new(),
    };
    walker.table(root.get_ref(), schema::ROOT, "", false, 0..0);
    let mut b = Builder {
        file: file_label,
        text,
        diags: walker.diags,
    };
    let plugin = b.build(root.get_ref(), Source::File(PathBuf::from(file_label)));
    let mut diags = b.diags;
    if diags.is_empty() {
        Ok(plugin)
    } else {
        sort(&mut diags);
        Err(diags)
    }
}

/// Reads and parses a plugin file; diagnostics name it by its path as given.
pub fn parse_file(path: &Path) -> Result<Plugin, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let text = read_limited(path).map_err(|e| vec![Diagnostic::whole_file(&label, e)])?;
    parse(&label, &text)
}

pub(crate) fn read_limited(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!(
            "file is {} bytes, more than the {MAX_FILE_SIZE} a plugin file may have",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))
}

fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| (d.line, d.column));
    diags.dedup();
}

fn syntax_hint(message: &str) -> Option<String> {
    if message.contains("duplicate key") {
        Some("each key, and each [table], may appear only once".into())
    } else if message.contains("quoted") {
        Some("put text in quotes: key = \"value\"".into())
    } else if message.contains("escape") {
        Some(
            "in \"double quotes\" a backslash starts an escape; write regexes in 'single quotes'"
                .into(),
        )
    } else {
        None
    }
}

/// Where a template appears; decides which placeholders can resolve there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    Cmd,
    Args,
    Env,
    ToggleArgs,
    FieldTemplate,
    StartArgs,
    ResumeArgs,
    ContinueArgs,
    ForkArgs,
}

impl Loc {
    fn key(self) -> &'static str {
        match self {
            Loc::Cmd => "cmd",
            Loc::Args => "args",
            Loc::Env => "env",
            Loc::ToggleArgs => "args_when_on",
            Loc::FieldTemplate => "arg_template",
            Loc::StartArgs => "start_args",
            Loc::ResumeArgs => "resume_args",
            Loc::ContinueArgs => "continue_args",
            Loc::ForkArgs => "fork_args",
        }
    }
}

/// A template found in the file, for the placeholder pass.
struct Tpl {
    loc: Loc,
    text: String,
    /// The TOML string value's span.
    span: Span,
    /// The whole string value (`text` is a part of it for `env` entries).
    whole: String,
    /// Where `text` starts within `whole`.
    prefix: usize,
}

impl Tpl {
    fn new(loc: Loc, text: impl Into<String>, span: Span) -> Self {
        let text = text.into();
        Tpl {
            loc,
            whole: text.clone(),
            text,
            span,
            prefix: 0,
        }
    }
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

type Span = Range<usize>;

fn get_str<'t>(t: &'t DeTable<'_>, key: &str) -> Option<(&'t str, Span)> {
    let v = t.get(key)?;
    v.get_ref().as_str().map(|s| (s, v.span()))
}

fn get_bool(t: &DeTable<'_>, key: &str) -> Option<bool> {
    t.get(key)?.get_ref().as_bool()
}

fn get_table<'t, 'i>(t: &'t DeTable<'i>, key: &str) -> Option<(&'t DeTable<'i>, Span)> {
    let v = t.get(key)?;
    v.get_ref().as_table().map(|x| (x, v.span()))
}

/// A string, or the string items of an array (wrong items were reported by the shape pass).
fn get_list(t: &DeTable<'_>, key: &str) -> Vec<(String, Span)> {
    let Some(v) = t.get(key) else {
        return Vec::new();
    };
    match v.get_ref() {
        DeValue::String(s) => vec![(s.to_string(), v.span())],
        DeValue::Array(items) => items
            .iter()
            .filter_map(|i| i.get_ref().as_str().map(|s| (s.to_string(), i.span())))
            .collect(),
        _ => Vec::new(),
    }
}

fn get_tables<'t, 'i>(t: &'t DeTable<'i>, key: &str) -> Vec<(&'t DeTable<'i>, Span)> {
    let Some(v) = t.get(key) else {
        return Vec::new();
    };
    match v.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .filter_map(|i| i.get_ref().as_table().map(|x| (x, i.span())))
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(list: &[(String, Span)]) -> Vec<String> {
    list.iter().map(|(s, _)| s.clone()).collect()
}

fn valid_plugin_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn reserved(what: &str, name: &str) -> String {
    format!("{what} name `{name}` is reserved: `{{{name}}}` is a built-in placeholder")
}

fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .or_else(|| s.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("syntax error")
            .trim()
            .to_string(),
        regex::Error::CompiledTooBig(_) => "the compiled regex is too large".to_string(),
        other => other.to_string(),
    }
}

/// The parts of the file that decide which placeholders resolve where.
struct Names {
    strategy: Strategy,
    fields: Vec<String>,
    scraped: Vec<String>,
}

impl Names {
    fn state_keys(&self) -> Vec<&str> {
        match self.strategy {
            Strategy::PreassignId | Strategy::SessionFile => vec!["session_id"],
            Strategy::SessionScrape => self.scraped.iter().map(String::as_str).collect(),
            Strategy::None | Strategy::CwdOnly | Strategy::Rerun => Vec::new(),
        }
    }

    /// Names that resolve in `loc` (state keys known only after start resolve only when
    /// resuming).
    fn allowed(&self, loc: Loc) -> Vec<&str> {
        let mut v: Vec<&str> = BUILTIN_PLACEHOLDERS.to_vec();
        v.extend(self.fields.iter().map(String::as_str));
        if self.strategy == Strategy::PreassignId || matches!(loc, Loc::ResumeArgs | Loc::ForkArgs)
        {
            v.extend(self.state_keys());
        }
        v
    }
}

impl Builder<'_> {
    fn err(&mut self, offset: usize, message: String, hint: Option<String>) {
        self.diags
            .push(Diagnostic::at(self.file, self.text, offset, message).maybe_hint(hint));
    }

    /// Byte offset in the file of byte `inner` of a string value, when the string is written
    /// without escapes (otherwise the start of the value).
    fn offset_in(&self, span: &Span, value: &str, inner: usize) -> usize {
        let raw = self.text.get(span.clone()).unwrap_or("");
        let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            1
        } else {
            return span.start;
        };
        match raw.get(quote..raw.len().saturating_sub(quote)) {
            Some(body) if body == value => span.start + quote + inner,
            _ => span.start,
        }
    }

    fn enum_of<T: Copy>(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Option<T> {
        let (s, span) = get_str(t, key)?;
        if let Some(v) = all.iter().copied().find(|v| as_str(*v) == s) {
            return Some(v);
        }
        let names: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        self.err(
            span.start,
            format!("unknown {key} `{s}`"),
            Some(suggest_or_list(s, &names, "expected")),
        );
        None
    }

    fn regex(&mut self, key: &str, source: &str, span: &Span, anchored: bool) -> Option<Pattern> {
        // Compiled as written first, so an error message describes what the user wrote.
        let compiled = RegexBuilder::new(source)
            .multi_line(!anchored)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .and_then(|re| {
                if anchored {
                    RegexBuilder::new(&format!("^(?:{source})$"))
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                } else {
                    Ok(re)
                }
            });
        match compiled {
            Ok(regex) => Some(Pattern {
                source: source.to_string(),
                regex,
            }),
            Err(e) => {
                self.err(
                    span.start,
                    format!("invalid regex in `{key}`: {}", regex_reason(&e)),
                    Some(
                        "Rust regex syntax (https://docs.rs/regex/#syntax); write patterns in \
                         'single quotes' so backslashes stay as written"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, key: &str, value: &str, span: &Span) {
        if value.trim().is_empty() {
            self.err(span.start, format!("`{key}` must not be empty"), None);
        }
    }

    /// Checks a name used as a placeholder or an identifier (fields, toggles, scrape keys).
    fn ident(&mut self, what: &str, name: &str, span: &Span) -> bool {
        if is_name(name) {
            return true;
        }
        self.err(
            span.start,
            format!(
                "{what} name `{name}` must be letters, digits and `_`, not starting with a digit"
            ),
            None,
        );
        false
    }

    fn build(&mut self, root: &DeTable<'_>, source: Source) -> Plugin {
        let empty = DeTable::new();
        let table = |key: &str| get_table(root, key).unwrap_or((&empty, 0..0));
        let (pt, pspan) = table("plugin");
        let (ct, _) = table("command");
        let (pe, _) = table("persistence");
        let (it, _) = table("integration");
        let (dt, _) = table("display");

        // [plugin]
        let (name, name_offset) = self.plugin_name(pt, &pspan);
        let display_name = match get_str(pt, "display_name") {
            Some((d, span)) => {
                self.non_empty("display_name", d, &span);
                d.to_string()
            }
            None => name.clone(),
        };
        let category = self
            .enum_of(pt, "category", &Category::ALL, Category::as_str)
            .unwrap_or(Category::Tools);
        let description = get_str(pt, "description").map_or(String::new(), |(d, _)| d.to_string());
        let homepage = self.homepage(pt);
        let schema_version = self.schema_version(pt);
        let enabled = get_bool(pt, "enabled").unwrap_or(true);

        // [command]; every template is collected for the placeholder pass at the end.
        let mut templates: Vec<Tpl> = Vec::new();
        let cmd = match get_str(ct, "cmd") {
            Some((c, span)) => {
                self.non_empty("cmd", c, &span);
                templates.push(Tpl::new(Loc::Cmd, c, span));
                c.to_string()
            }
            None => String::new(),
        };
        let args = get_list(ct, "args");
        templates.extend(
            args.iter()
                .map(|(a, span)| Tpl::new(Loc::Args, a, span.clone())),
        );
        let env = self.env(ct, &mut templates);
        let detect = self.detect(ct);
        let prompts_cwd = get_bool(ct, "prompts_cwd").unwrap_or(false);
        let toggles = self.toggles(ct, &mut templates);
        let fields = self.fields(ct, &mut templates);

        // [persistence]
        let strategy_at = get_str(pe, "strategy").map_or(0, |(_, s)| s.start);
        let strategy = self
            .enum_of(pe, "strategy", &Strategy::ALL, Strategy::as_str)
            .unwrap_or(Strategy::None);
        let scrollback = get_bool(pe, "scrollback").unwrap_or(false);
        let start_args = get_list(pe, "start_args");
        let resume_args = get_list(pe, "resume_args");
        let start_t = start_args
            .iter()
            .map(|(a, s)| Tpl::new(Loc::StartArgs, a, s.clone()));
        templates.extend(start_t);
        let resume_t = resume_args
            .iter()
            .map(|(a, s)| Tpl::new(Loc::ResumeArgs, a, s.clone()));
        templates.extend(resume_t);
        let integration = self.integration(it, &mut templates);
        let (scrape, scraped, first_scrape) = self.scrape(pe, &fields);
        self.strategy_rules(
            strategy,
            strategy_at,
            &resume_args,
            first_scrape,
            &templates,
        );

        // Placeholders, now that fields, strategy and state keys are known.
        let names = Names {
            strategy,
            fields: fields.iter().map(|(f, _)| f.name.clone()).collect(),
            scraped,
        };
        let mut used: BTreeSet<String> = BTreeSet::new();
        for t in &templates {
            // `resume_args` a strategy never uses were reported already; their placeholders
            // would only add noise.
            if t.loc == Loc::ResumeArgs && !strategy.restore().uses_resume_args {
                continue;
            }
            self.template(t, &names, &mut used);
        }
        for (f, span) in &fields {
            if !used.contains(&f.name) {
                self.err(
                    span.start,
                    format!("field `{}` is never used", f.name),
                    Some(format!(
                        "add arg_template = \"{{{0}}}\", or use `{{{0}}}` in `args`",
                        f.name
                    )),
                );
            }
        }

        let idle_handlers = self.handlers(root, "idle_handlers", State::Waiting, &display_name);
        let error_handlers = self.handlers(root, "error_handlers", State::Error, &display_name);
        let border_color = self.border_color(dt);

        Plugin {
            name,
            display_name,
            category,
            description,
            homepage,
            schema_version,
            enabled,
            command: Command {
                cmd,
                args: strings(&args),
                env,
                detect,
                prompts_cwd,
                toggles,
                fields: fields.into_iter().map(|(f, _)| f).collect(),
            },
            persistence: Persistence {
                strategy,
                scrollback,
                start_args: strings(&start_args),
                resume_args: strings(&resume_args),
                scrape,
            },
            integration,
            idle_handlers,
            error_handlers,
            display: Display { border_color },
            source,
            name_pos: crate::diag::line_col(self.text, name_offset),
        }
    }

    /// The plugin name and where it is (for later diagnostics about the file).
    fn plugin_name(&mut self, pt: &DeTable<'_>, pspan: &Span) -> (String, usize) {
        let Some((n, span)) = get_str(pt, "name") else {
            return (String::new(), pspan.start);
        };
        if !valid_plugin_name(n) {
            self.err(
                span.start,
                format!("plugin name `{n}` must be lowercase letters, digits, `-` and `_`"),
                Some("the name is the pane type's id, as in `quil new-tab --type NAME`".into()),
            );
        }
        (n.to_string(), span.start)
    }

    fn homepage(&mut self, pt: &DeTable<'_>) -> Option<String> {
        let (h, span) = get_str(pt, "homepage")?;
        if !(h.starts_with("https://") || h.starts_with("http://")) {
            self.err(
                span.start,
                format!("`homepage` must be an http(s) URL, found `{h}`"),
                Some("e.g. homepage = \"https://example.com\"".into()),
            );
        }
        Some(h.to_string())
    }

    fn schema_version(&mut self, pt: &DeTable<'_>) -> u32 {
        let Some(v) = pt.get("schema_version") else {
            return 1;
        };
        let DeValue::Integer(i) = v.get_ref() else {
            return 1; // wrong type: reported by the shape pass
        };
        let n = i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1);
        n.unwrap_or_else(|| {
            let msg = format!(
                "`schema_version` must be a whole number from 1 up, found {}",
                i.as_str()
            );
            self.err(v.span().start, msg, None);
            1
        })
    }

    fn env(&mut self, ct: &DeTable<'_>, templates: &mut Vec<Tpl>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for (entry, span) in get_list(ct, "env") {
            let Some((k, v)) = entry.split_once('=') else {
                self.err(
                    span.start,
                    format!("`env` entry `{entry}` is not KEY=VALUE"),
                    Some("e.g. env = [\"NO_COLOR=1\"]".into()),
                );
                continue;
            };
            if !is_name(k) {
                let msg = format!("`env` variable name `{k}` must be letters, digits and `_`");
                self.err(span.start, msg, None);
            } else if env.iter().any(|(e, _)| e == k) {
                self.err(span.start, format!("`env` sets `{k}` twice"), None);
            }
            templates.push(Tpl {
                loc: Loc::Env,
                text: v.to_string(),
                span: span.clone(),
                whole: entry.clone(),
                prefix: k.len() + 1,
            });
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    fn detect(&mut self, ct: &DeTable<'_>) -> Option<String> {
        let (d, span) = get_str(ct, "detect")?;
        self.non_empty("detect", d, &span);
        if d.contains(['{', '}']) {
            self.err(
                span.start,
                "`detect` is a binary name, not a template".into(),
                Some("name the program to look for on PATH, e.g. detect = \"claude\"".into()),
            );
        }
        Some(d.to_string())
    }

    fn toggles(&mut self, ct: &DeTable<'_>, templates: &mut Vec<Tpl>) -> Vec<Toggle> {
        let mut toggles: Vec<Toggle> = Vec::new();
        for (tt, tspan) in get_tables(ct, "toggles") {
            let Some((tname, nspan)) = get_str(tt, "name") else {
                continue; // reported by the shape pass
            };
            if self.ident("toggle", tname, &nspan) && toggles.iter().any(|t| t.name == tname) {
                let msg = format!("toggle `{tname}` is defined twice");
                self.err(nspan.start, msg, None);
            }
            let args = get_list(tt, "args_when_on");
            if args.is_empty() && tt.get("args_when_on").is_some() {
                self.err(
                    tspan.start,
                    format!("toggle `{tname}` has no `args_when_on`"),
                    Some(
                        "a toggle adds arguments when on, e.g. args_when_on = [\"--verbose\"]"
                            .into(),
                    ),
                );
            }
            templates.extend(
                args.iter()
                    .map(|(a, span)| Tpl::new(Loc::ToggleArgs, a, span.clone())),
            );
            let default = get_bool(tt, "default").unwrap_or(false);
            let group = get_str(tt, "group").map(|(g, span)| {
                self.non_empty("group", g, &span);
                let other_default = toggles
                    .iter()
                    .find(|t| t.default && t.group.as_deref() == Some(g));
                if let (true, Some(other)) = (default, other_default) {
                    self.err(
                        span.start,
                        format!(
                            "toggles `{}` and `{tname}` in group `{g}` are both on by default",
                            other.name
                        ),
                        Some("at most one toggle of a group may have default = true".into()),
                    );
                }
                g.to_string()
            });
            toggles.push(Toggle {
                name: tname.to_string(),
                label: get_str(tt, "label").map_or_else(|| tname.to_string(), |(l, _)| l.into()),
                args_when_on: strings(&args),
                default,
                group,
            });
        }
        toggles
    }

    /// The fields, each with the span of its table (for "never used").
    fn fields(&mut self, ct: &DeTable<'_>, templates: &mut Vec<Tpl>) -> Vec<(Field, Span)> {
        let mut fields: Vec<(Field, Span)> = Vec::new();
        for (ft, fspan) in get_tables(ct, "fields") {
            let Some((fname, nspan)) = get_str(ft, "name") else {
                continue; // reported by the shape pass
            };
            if self.ident("field", fname, &nspan) {
                if BUILTIN_PLACEHOLDERS.contains(&fname) {
                    let msg = reserved("field", fname);
                    self.err(nspan.start, msg, Some("choose another name".into()));
                } else if fname == "session_id" {
                    self.err(
                        nspan.start,
                        "field name `session_id` is reserved for the pane's session".into(),
                        Some("choose another name".into()),
                    );
                } else if fields.iter().any(|(f, _)| f.name == fname) {
                    let msg = format!("field `{fname}` is defined twice");
                    self.err(nspan.start, msg, None);
                }
            }
            let arg_template = get_list(ft, "arg_template");
            templates.extend(
                arg_template
                    .iter()
                    .map(|(a, span)| Tpl::new(Loc::FieldTemplate, a, span.clone())),
            );
            let pattern =
                get_str(ft, "pattern").and_then(|(p, span)| self.regex("pattern", p, &span, true));
            let default = get_str(ft, "default").map(|(d, span)| {
                let mismatch = pattern
                    .as_ref()
                    .is_some_and(|p| !d.is_empty() && !p.regex.is_match(d));
                if mismatch {
                    let msg =
                        format!("default `{d}` of field `{fname}` does not match its pattern");
                    self.err(span.start, msg, None);
                }
                d.to_string()
            });
            let field = Field {
                name: fname.to_string(),
                label: get_str(ft, "label").map_or_else(|| fname.to_string(), |(l, _)| l.into()),
                arg_template: strings(&arg_template),
                required: get_bool(ft, "required").unwrap_or(false),
                default,
                pattern,
            };
            fields.push((field, fspan));
        }
        fields
    }

    /// The valid scrape rules; every scrape *name* (also of rules with a broken pattern, so
    /// that `{name}` in `resume_args` is not reported as unknown on top of the real problem);
    /// and where the first rule is.
    fn scrape(
        &mut self,
        pe: &DeTable<'_>,
        fields: &[(Field, Span)],
    ) -> (Vec<Scrape>, Vec<String>, Option<Span>) {
        let mut scrape: Vec<Scrape> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let tables = get_tables(pe, "scrape");
        for (st, _) in &tables {
            let Some((sname, nspan)) = get_str(st, "name") else {
                continue;
            };
            if self.ident("scrape", sname, &nspan) {
                if BUILTIN_PLACEHOLDERS.contains(&sname) {
                    self.err(nspan.start, reserved("scrape", sname), None);
                } else if fields.iter().any(|(f, _)| f.name == sname) {
                    self.err(
                        nspan.start,
                        format!("scrape name `{sname}` is also a field name"),
                        Some("state keys and fields share one set of placeholders".into()),
                    );
                } else if names.iter().any(|n| n == sname) {
                    let msg = format!("scrape `{sname}` is defined twice");
                    self.err(nspan.start, msg, None);
                }
            }
            names.push(sname.to_string());
            let Some((p, pspan)) = get_str(st, "pattern") else {
                continue;
            };
            let Some(pattern) = self.regex("pattern", p, &pspan, false) else {
                continue;
            };
            if pattern.regex.captures_len() < 2 {
                self.err(
                    pspan.start,
                    format!("scrape pattern for `{sname}` has no capture group"),
                    Some("put the part to keep in parentheses, e.g. 'session: (\\S+)'".into()),
                );
                continue;
            }
            scrape.push(Scrape {
                name: sname.to_string(),
                pattern,
            });
        }
        (scrape, names, tables.first().map(|(_, s)| s.clone()))
    }

    /// Rules between `strategy` and the other persistence keys.
    fn strategy_rules(
        &mut self,
        strategy: Strategy,
        strategy_at: usize,
        resume_args: &[(String, Span)],
        first_scrape: Option<Span>,
        templates: &[Tpl],
    ) {
        let name = strategy.as_str();
        if !strategy.restore().uses_resume_args {
            if let Some((_, span)) = resume_args.first() {
                self.err(
                    span.start,
                    format!("`resume_args` are never used with strategy `{name}`"),
                    Some(
                        "only `preassign_id`, `session_scrape` and `session_file` resume; \
                         remove `resume_args` or change `strategy`"
                            .into(),
                    ),
                );
            }
        }
        match (strategy, first_scrape) {
            (Strategy::SessionScrape, None) => self.err(
                strategy_at,
                "strategy `session_scrape` needs at least one [[persistence.scrape]]".into(),
                Some(
                    "e.g. [[persistence.scrape]] name = \"session_id\", \
                     pattern = 'session: (\\S+)'"
                        .into(),
                ),
            ),
            (Strategy::SessionScrape, Some(_)) | (_, None) => {}
            (_, Some(span)) => self.err(
                span.start,
                format!("[[persistence.scrape]] is never used with strategy `{name}`"),
                Some("scraping only runs with strategy = \"session_scrape\"".into()),
            ),
        }
        if matches!(strategy, Strategy::PreassignId | Strategy::SessionScrape)
            && resume_args.is_empty()
        {
            self.err(
                strategy_at,
                format!("strategy `{name}` needs `resume_args`"),
                Some("e.g. resume_args = [\"--resume\", \"{session_id}\"]".into()),
            );
        }
        if strategy == Strategy::PreassignId {
            let passes_id = templates.iter().any(|t| {
                !matches!(t.loc, Loc::ResumeArgs | Loc::ForkArgs)
                    && template::placeholders(&t.text)
                        .is_ok_and(|p| p.iter().any(|n| n == "session_id"))
            });
            if !passes_id {
                self.err(
                    strategy_at,
                    "strategy `preassign_id` never passes `{session_id}` to the program".into(),
                    Some("e.g. start_args = [\"--session-id\", \"{session_id}\"]".into()),
                );
            }
        }
    }

    fn border_color(&mut self, dt: &DeTable<'_>) -> Option<Color> {
        let (c, span) = get_str(dt, "border_color")?;
        let parsed = Color::parse(c);
        if parsed.is_none() {
            let names: Vec<&str> = NamedColor::ALL.iter().map(|n| n.as_str()).collect();
            let hint = match closest(c, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("use #rrggbb or one of: {}", quoted_list(&names)),
            };
            self.err(span.start, format!("unknown colour `{c}`"), Some(hint));
        }
        parsed
    }

    fn template(&mut self, tpl: &Tpl, names: &Names, used: &mut BTreeSet<String>) {
        let loc = tpl.loc;
        let key = loc.key();
        let at_byte =
            |b: &Self, inner: usize| b.offset_in(&tpl.span, &tpl.whole, tpl.prefix + inner);
        let pieces = match template::parse(&tpl.text) {
            Ok(p) => p,
            Err(e) => {
                let at = at_byte(self, e.offset().unwrap_or(0));
                let (msg, hint) = match e {
                    TemplateError::Unterminated { .. } => (
                        format!("unclosed `{{` in `{key}`"),
                        "close the placeholder with `}`, or write `{{` for a literal brace",
                    ),
                    TemplateError::UnmatchedClose { .. } => (
                        format!("unmatched `}}` in `{key}`"),
                        "write `}}` for a literal brace",
                    ),
                    TemplateError::InvalidName { text, .. } => (
                        format!("`{{{text}}}` in `{key}` is not a placeholder"),
                        "placeholder names are letters, digits and `_`; \
                         write `{{` and `}}` for literal braces",
                    ),
                    // `parse` never reports this one.
                    TemplateError::Unresolved(_) => (format!("invalid template in `{key}`"), ""),
                };
                self.err(at, msg, Some(hint.to_string()).filter(|h| !h.is_empty()));
                return;
            }
        };
        for piece in pieces {
            let Piece::Placeholder { name, span: at } = piece else {
                continue;
            };
            used.insert(name.to_string());
            let allowed = names.allowed(loc);
            if allowed.contains(&name) {
                continue;
            }
            let offset = at_byte(self, at.start);
            let strategy = names.strategy.as_str();
            if names.state_keys().contains(&name) {
                let why = match names.strategy.restore().state {
                    Some(StateSource::Scraped) => {
                        "it is scraped from output after the program starts"
                    }
                    _ => "it is read from the tracker file after the program starts",
                };
                self.err(
                    offset,
                    format!("`{{{name}}}` can never be resolved in `{key}`: {why}"),
                    Some("use it in `resume_args`; starts use `start_args` without it".into()),
                );
            } else if name == "session_id" {
                self.err(
                    offset,
                    format!(
                        "`{{session_id}}` can never be resolved: \
                         strategy `{strategy}` has no session id"
                    ),
                    Some(
                        "use strategy `preassign_id` or `session_file`, \
                         or scrape `session_id` with `session_scrape`"
                            .into(),
                    ),
                );
            } else {
                let hint = match closest(name, allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{{{c}}}`?"),
                    None => format!(
                        "known here: {}; write `{{{{` for a literal brace",
                        allowed
                            .iter()
                            .map(|a| format!("`{{{a}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.err(
                    offset,
                    format!("placeholder `{{{name}}}` in `{key}` can never be resolved"),
                    Some(hint),
                );
            }
        }
    }

    /// `[integration]`; its argument lists join the placeholder pass.
    fn integration(&mut self, it: &DeTable<'_>, templates: &mut Vec<Tpl>) -> Integration {
        let mechanism = self.enum_of(it, "mechanism", &Mechanism::ALL, Mechanism::as_str);
        let session_id_pattern = get_str(it, "session_id_pattern")
            .and_then(|(p, span)| self.regex("session_id_pattern", p, &span, true));
        let not_found = get_str(it, "not_found").map(|(n, span)| {
            self.non_empty("not_found", n, &span);
            n.to_string()
        });
        let ready = get_str(it, "ready").and_then(|(p, span)| self.regex("ready", p, &span, false));
        let chrome = get_list(it, "chrome")
            .iter()
            .filter_map(|(p, span)| self.regex("chrome", p, span, false))
            .collect();
        let mut args = |key: &str, loc: Loc| {
            let list = get_list(it, key);
            templates.extend(list.iter().map(|(a, s)| Tpl::new(loc, a, s.clone())));
            strings(&list)
        };
        let continue_args = args("continue_args", Loc::ContinueArgs);
        let fork_args = args("fork_args", Loc::ForkArgs);
        let empty = DeTable::new();
        let sa = get_table(it, "session_args").map_or(&empty, |(t, _)| t);
        let session_args = SessionArgs {
            flags: strings(&get_list(sa, "flags")),
            with_value: strings(&get_list(sa, "with_value")),
            optional_value: strings(&get_list(sa, "optional_value")),
        };
        Integration {
            mechanism,
            session_id_pattern,
            not_found,
            ready,
            chrome,
            continue_args,
            fork_args,
            session_args,
        }
    }

    fn handlers(
        &mut self,
        root: &DeTable<'_>,
        key: &str,
        default_state: State,
        display_name: &str,
    ) -> Vec<Handler> {
        let mut out = Vec::new();
        for (ht, _) in get_tables(root, key) {
            let state = self
                .enum_of(ht, "state", &HANDLER_STATES, State::as_str)
                .unwrap_or(default_state);
            let severity = self
                .enum_of(ht, "severity", &Severity::ALL, Severity::as_str)
                .unwrap_or(match state {
                    State::Idle | State::Working | State::Done => Severity::Info,
                    State::Waiting => Severity::Warning,
                    State::Error => Severity::Error,
                });
            let title = get_str(ht, "title").map_or_else(
                || {
                    let what = match state {
                        State::Idle => "is idle",
                        State::Working => "is working",
                        State::Waiting => "is waiting for input",
                        State::Done => "is done",
                        State::Error => "hit an error",
                    };
                    format!("{display_name} {what}")
                },
                |(t, _)| t.to_string(),
            );
            let Some((p, pspan)) = get_str(ht, "pattern") else {
                continue;
            };
            if let Some(pattern) = self.regex("pattern", p, &pspan, false) {
                if pattern.regex.is_match("") {
                    self.err(
                        pspan.start,
                        "handler pattern matches an empty screen, so it always fires".into(),
                        Some("match something the program prints".into()),
                    );
                }
                out.push(Handler {
                    pattern,
                    title,
                    severity,
                    state,
                });
            }
        }
        out
    }
}
