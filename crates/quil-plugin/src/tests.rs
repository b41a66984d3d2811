//! Tests over the public API: parsing, validation messages (insta snapshots in
//! `src/snapshots/`), argument merging, attention handlers, defaults and the registry.

use crate::*;
use std::collections::BTreeMap;
use std::path::Path;

/// All diagnostics for a file, as `quil plugin validate` prints them.
fn errors(text: &str) -> String {
    match parse("bad.toml", text) {
        Ok(_) => "(no errors)".to_string(),
        Err(d) => errors_of(&d),
    }
}

fn ok(text: &str) -> Plugin {
    match parse("test.toml", text) {
        Ok(p) => p,
        Err(d) => panic!("unexpected errors:\n{}", errors_of(&d)),
    }
}

fn errors_of(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn embedded_plugin(name: &str) -> Plugin {
    Registry::default()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no embedded {name}"))
}

mod parsing {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let p = ok(r#"
[plugin]
name = "htop"
category = "tools"

[command]
cmd = "htop"
"#);
        assert_eq!(p.name, "htop");
        assert_eq!(p.display_name, "htop");
        assert_eq!(p.category, Category::Tools);
        assert_eq!(p.description, "");
        assert_eq!(p.homepage, None);
        assert_eq!(p.schema_version, 1);
        assert_eq!(p.command.cmd, "htop");
        assert!(p.command.args.is_empty());
        assert!(!p.command.prompts_cwd);
        assert_eq!(p.persistence.strategy, Strategy::None);
        assert!(!p.persistence.scrollback);
        assert!(p.idle_handlers.is_empty());
        assert!(p.display.border_color.is_none());
        assert_eq!(p.source, Source::File("test.toml".into()));
    }

    #[test]
    fn full_file() {
        let p = ok(r##"
[plugin]
name = "agent_x"
display_name = "Agent X"
category = "ai"
description = "demo"
homepage = "https://example.com"
schema_version = 3

[command]
cmd = "agentx"
args = ["--color", "{{literal}}"]
env = ["AGENT_PANE={pane_id}", "EMPTY=", "EQ=a=b"]
detect = "agentx-bin"
prompts_cwd = true

[[command.toggles]]
name = "fast"
label = "Fast mode"
args_when_on = ["--fast"]
default = true

[[command.fields]]
name = "profile"
arg_template = ["--profile", "{profile}"]
default = "work"
pattern = '[a-z]+'

[[command.fields]]
name = "note"
label = "Note"
arg_template = "--note={note}"

[persistence]
strategy = "session_scrape"
scrollback = true
start_args = ["--new"]
resume_args = ["--resume", "{sid}"]

[[persistence.scrape]]
name = "sid"
pattern = 'session: (\w+)'

[[idle_handlers]]
pattern = '^> $'

[[error_handlers]]
pattern = 'FATAL'
title = "boom"
severity = "warning"
state = "done"

[display]
border_color = "#D97757"
"##);
        assert_eq!(p.display_name, "Agent X");
        assert_eq!(p.category, Category::Ai);
        assert_eq!(p.homepage.as_deref(), Some("https://example.com"));
        assert_eq!(p.schema_version, 3);
        assert_eq!(
            p.command.env,
            vec![
                ("AGENT_PANE".to_string(), "{pane_id}".to_string()),
                ("EMPTY".to_string(), String::new()),
                ("EQ".to_string(), "a=b".to_string()),
            ]
        );
        assert_eq!(p.command.detect.as_deref(), Some("agentx-bin"));
        assert!(p.command.prompts_cwd);
        let t = &p.command.toggles[0];
        assert_eq!(
            (t.name.as_str(), t.label.as_str(), t.default),
            ("fast", "Fast mode", true)
        );
        assert_eq!(t.group, None);
        let f = &p.command.fields[0];
        assert_eq!(f.label, "profile");
        assert_eq!(f.arg_template, ["--profile", "{profile}"]);
        assert_eq!(f.default.as_deref(), Some("work"));
        assert!(f.accepts("abc") && !f.accepts("abc1") && !f.accepts("x y"));
        assert_eq!(p.command.fields[1].arg_template, ["--note={note}"]);
        assert_eq!(p.persistence.strategy, Strategy::SessionScrape);
        assert_eq!(p.persistence.scrape[0].name, "sid");
        assert_eq!(p.state_keys(), ["sid"]);
        let idle = &p.idle_handlers[0];
        assert_eq!(idle.state, State::Waiting);
        assert_eq!(idle.severity, Severity::Warning);
        assert_eq!(idle.title, "Agent X is waiting for input");
        let err = &p.error_handlers[0];
        assert_eq!(
            (err.state, err.severity, err.title.as_str()),
            (State::Done, Severity::Warning, "boom")
        );
        assert_eq!(p.display.border_color, Some(Color::Rgb(0xd9, 0x77, 0x57)));
        assert_eq!(
            p.display.border_color.map(|c| c.to_string()).as_deref(),
            Some("#d97757")
        );
    }

    #[test]
    fn inline_tables_work_too() {
        let p = ok(r#"
plugin = { name = "x", category = "tools" }
command = { cmd = "x", toggles = [{ name = "v", args_when_on = ["-v"] }] }
idle_handlers = [{ pattern = "ready" }]
"#);
        assert_eq!(p.command.toggles[0].name, "v");
        assert_eq!(p.idle_handlers.len(), 1);
    }

    #[test]
    fn serializes_to_json() {
        let p = embedded_plugin("claude-code");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["name"], "claude-code");
        assert_eq!(v["category"], "ai");
        assert_eq!(v["persistence"]["strategy"], "preassign_id");
        assert_eq!(v["source"]["embedded"], "claude-code.toml");
        assert_eq!(v["display"]["border_color"], "#d97757");
        assert_eq!(v["integration"]["mechanism"], "claude_hooks");
        assert!(v["integration"]["session_id_pattern"].is_string());
        assert!(v.get("name_pos").is_none());
    }

    #[test]
    fn parse_file_reports_io_problems() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let d = parse_file(&missing).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 0);
        assert!(d[0]
            .to_string()
            .starts_with(&format!("{}: error: cannot read:", missing.display())));
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "#".repeat(MAX_FILE_SIZE as usize + 1)).unwrap();
        let d = parse_file(&big).unwrap_err();
        assert!(d[0].message.contains("more than"), "{}", d[0]);
    }

    #[test]
    fn positions_point_at_the_problem() {
        let d = parse(
            "p.toml",
            "[plugin]\nname = \"x\"\ncategory = \"tools\"\n[command]\ncmd = \"x\"\nargs = [\"ok\", \"--at={cdw}\"]\n",
        )
        .unwrap_err();
        // `{cdw}` starts at byte 6 of the string, which starts at column 15: column 21.
        assert_eq!((d[0].line, d[0].column), (6, 21), "{}", d[0]);
    }
}

mod validation {
    use super::*;
    use insta::assert_snapshot;

    #[test]
    fn unknown_key_with_suggestion() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
dispaly_name = "X"
category = "tools"

[command]
cmd = "x"
strategy = "rerun"
promptscwd = true
frobnicate = 1
"#
        ));
    }

    #[test]
    fn wrong_type() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"
schema_version = "2"

[command]
cmd = "x"
args = ["--a", 2]
prompts_cwd = "yes"
toggles = "fast"

[persistence]
scrollback = 1
"#
        ));
    }

    #[test]
    fn invalid_regex() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"

[[command.fields]]
name = "host"
arg_template = "{host}"
pattern = '[a-'

[persistence]
strategy = "session_scrape"
resume_args = ["--resume", "{sid}"]

[[persistence.scrape]]
name = "sid"
pattern = 'session \w+'

[[idle_handlers]]
pattern = '(unclosed'
"#
        ));
    }

    #[test]
    fn unknown_strategy() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"

[persistence]
strategy = "preassign"
"#
        ));
    }

    #[test]
    fn unknown_category() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "agent"

[command]
cmd = "x"

[[idle_handlers]]
pattern = "ready"
state = "idle"
severity = "loud"

[display]
border_color = "purple"
"#
        ));
    }

    #[test]
    fn never_resolvable_placeholder() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"
args = ["--dir", "{cdw}"]
env = ["TOKEN={token}"]

[persistence]
strategy = "session_scrape"
start_args = ["--name", "{sid}"]
resume_args = ["--resume", "{sid}", "{session_id}"]

[[persistence.scrape]]
name = "sid"
pattern = 'session: (\S+)'
"#
        ));
    }

    #[test]
    fn session_id_without_a_strategy_that_provides_it() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"

[persistence]
strategy = "rerun"
start_args = ["--session-id", "{session_id}"]
resume_args = ["--resume", "{session_id}"]
"#
        ));
    }

    #[test]
    fn missing_required_key() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"

[[command.toggles]]
label = "Fast"

[[idle_handlers]]
title = "no pattern"
"#
        ));
    }

    #[test]
    fn toml_syntax_error() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x
category = "tools"

[command]
cmd =
args = ["a"]
"#
        ));
    }

    #[test]
    fn template_syntax() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"
args = ["{oops", "a}b", "{a b}", "ok {{literal}}"]
"#
        ));
    }

    #[test]
    fn rules_between_keys() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "Bad Name"
category = "ai"
homepage = "example.com"
schema_version = 0

[command]
cmd = "x"
env = ["NOEQUALS", "1BAD=x"]
detect = "{shell}"

[[command.toggles]]
name = "a"
args_when_on = ["--a"]
group = "g"
default = true

[[command.toggles]]
name = "b"
args_when_on = ["--b"]
group = "g"
default = true

[[command.toggles]]
name = "a"
args_when_on = []

[[command.fields]]
name = "cwd"
arg_template = "{cwd}"

[[command.fields]]
name = "unused"
default = "9"
pattern = '[a-z]+'

[persistence]
strategy = "preassign_id"

[[persistence.scrape]]
name = "sid"
pattern = '(x)'

[[idle_handlers]]
pattern = '.*'
"#
        ));
    }

    #[test]
    fn resume_args_with_a_strategy_that_never_resumes() {
        assert_snapshot!(errors(
            r#"[plugin]
name = "x"
category = "tools"

[command]
cmd = "x"

[persistence]
strategy = "cwd_only"
resume_args = ["--continue"]
"#
        ));
    }

    #[test]
    fn all_errors_in_a_file_are_reported() {
        let out = errors(
            r#"[plugin]
name = "x"
categroy = "tools"

[command]
cmd = "x"
args = ["{nope}"]

[persistence]
strategy = "sometimes"

[[error_handlers]]
pattern = '('
"#,
        );
        assert_eq!(out.matches(": error: ").count(), 5, "{out}");
    }

    #[test]
    fn literal_braces_are_fine() {
        let p = ok(r#"
[plugin]
name = "x"
category = "tools"
[command]
cmd = "sh"
args = ["-c", "echo {{}} {{cwd}}"]
"#);
        let a = build_argv(&p, &SpawnContext::new(Mode::Start, "p1", "/w", "/bin/sh")).unwrap();
        assert_eq!(a.argv, ["sh", "-c", "echo {} {cwd}"]);
    }
}

mod integration {
    use super::*;

    const AGENT: &str = r#"[plugin]
name = "agent"
category = "ai"

[command]
cmd = "agent"

[persistence]
strategy = "session_file"
resume_args = ["resume", "{session_id}"]
"#;

    #[test]
    fn shipped_agents_declare_theirs() {
        let claude = embedded_plugin("claude-code");
        let i = &claude.integration;
        assert_eq!(i.mechanism, Some(Mechanism::ClaudeHooks));
        assert!(i.valid_session_id("f35e1f56-d5c4-48c8-ad89-6831c5784b88"));
        assert!(!i.valid_session_id("f35e1f56-d5c4-48c8-ad89-6831c5784b88x"));
        assert!(!i.valid_session_id("--help"));
        assert_eq!(i.not_found.as_deref(), Some("No conversation found"));
        assert!(i
            .session_args
            .optional_value
            .contains(&"--resume".to_string()));
        let oc = embedded_plugin("opencode");
        assert_eq!(oc.integration.mechanism, Some(Mechanism::OpencodeTracker));
        assert_eq!(oc.integration.continue_args, ["--continue"]);
        assert!(oc
            .integration
            .valid_session_id("ses_e007f40e2ffeHizcOUqvCwmQgb"));
        assert!(!embedded_plugin("terminal").integration.is_declared());
        // Codex resumes and forks with subcommands, and picks its own ids.
        let codex = embedded_plugin("codex");
        assert_eq!(codex.integration.mechanism, Some(Mechanism::CodexHooks));
        assert_eq!(codex.persistence.strategy, Strategy::SessionFile);
        assert_eq!(codex.persistence.resume_args, ["resume", "{session_id}"]);
        assert_eq!(codex.integration.fork_args, ["fork", "{session_id}"]);
        assert!(codex
            .integration
            .valid_session_id("01a2425e-0fed-7e61-ae56-35e7df98f324"));
        assert!(codex.integration.continue_args.is_empty());
        // Gemini takes a preassigned id.
        let gemini = embedded_plugin("gemini");
        assert_eq!(gemini.integration.mechanism, Some(Mechanism::GeminiHooks));
        assert_eq!(gemini.persistence.strategy, Strategy::PreassignId);
        assert_eq!(
            gemini.persistence.start_args,
            ["--session-id", "{session_id}"]
        );
        assert_eq!(gemini.persistence.resume_args, ["--resume", "{session_id}"]);
        assert_eq!(
            gemini.integration.not_found.as_deref(),
            Some("Invalid session identifier")
        );
    }

    #[test]
    fn a_new_agent_is_data_only() {
        let p = ok(&format!(
            "{AGENT}\n[integration]\nmechanism = \"opencode_tracker\"\n\
             session_id_pattern = 'id-[0-9]+'\nnot_found = \"no such session\"\n\
             continue_args = [\"--last\"]\nfork_args = [\"fork\", \"{{session_id}}\"]\n\
             [integration.session_args]\nflags = [\"--last\"]\nwith_value = [\"--id\"]\n"
        ));
        let i = &p.integration;
        assert!(i.valid_session_id("id-42") && !i.valid_session_id("id-42 --x"));
        assert_eq!(i.fork_args, ["fork", "{session_id}"]);
        assert_eq!(i.session_args.with_value, ["--id"]);
        // Without a pattern, ids are only kept from becoming options or paths.
        let bare = ok(AGENT);
        assert!(bare.integration.valid_session_id("abc-1"));
        for bad in ["", "-x", "a/b", "a b", "a\nb"] {
            assert!(!bare.integration.valid_session_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn mistakes_are_reported_where_they_are() {
        let e = errors(&format!(
            "{AGENT}\n[integration]\nmechanism = \"hooks\"\nsession_id_pattern = '('\n\
             not_found = \" \"\nfork_args = [\"{{sesion_id}}\"]\n[integration.session_args]\nflag = []\n"
        ));
        for want in [
            "unknown mechanism `hooks`",
            "invalid regex in `session_id_pattern`",
            "`not_found` must not be empty",
            "`{sesion_id}` in `fork_args`",
            "unknown key `flag` in [integration.session_args]",
        ] {
            assert!(e.contains(want), "{want:?} not in:\n{e}");
        }
        // A fork needs a session id, which a strategy without one never has.
        let e = errors(
            "[plugin]\nname = \"x\"\ncategory = \"ai\"\n[command]\ncmd = \"x\"\n\
             [integration]\nfork_args = [\"--fork\", \"{session_id}\"]\n",
        );
        assert!(e.contains("strategy `none` has no session id"), "{e}");
    }
}

mod argv {
    use super::*;

    /// A plugin for the matrix: two radio toggles (opus on by default) and one plain toggle.
    fn matrix_plugin(strategy: Strategy) -> Plugin {
        let persistence = match strategy {
            Strategy::None | Strategy::CwdOnly | Strategy::Rerun => {
                "start_args = [\"--new\"]".to_string()
            }
            Strategy::PreassignId => "start_args = [\"--session-id\", \"{session_id}\"]\n\
                 resume_args = [\"--resume\", \"{session_id}\"]"
                .to_string(),
            Strategy::SessionScrape => "start_args = [\"--new\"]\n\
                 resume_args = [\"--resume\", \"{sid}\"]\n\
                 [[persistence.scrape]]\nname = \"sid\"\npattern = 'session: (\\S+)'"
                .to_string(),
            Strategy::SessionFile => "resume_args = [\"--session\", \"{session_id}\"]".to_string(),
        };
        ok(&format!(
            r#"
[plugin]
name = "m"
category = "ai"

[command]
cmd = "tool"
args = ["--base"]

[[command.toggles]]
name = "yolo"
args_when_on = ["--yolo"]

[[command.toggles]]
name = "opus"
args_when_on = ["--model", "opus"]
group = "model"
default = true

[[command.toggles]]
name = "sonnet"
args_when_on = ["--model", "sonnet"]
group = "model"

[persistence]
strategy = "{}"
{persistence}
"#,
            strategy.as_str()
        ))
    }

    fn state_for(strategy: Strategy) -> BTreeMap<String, String> {
        let (k, v) = match strategy {
            Strategy::SessionScrape => ("sid", "X9"),
            Strategy::SessionFile => ("session_id", "F7"),
            _ => ("session_id", "S1"),
        };
        BTreeMap::from([(k.to_string(), v.to_string())])
    }

    use Mode::{Resume, Start};
    use Strategy::*;

    /// strategy × mode × state present, with the mode args expected (`Err` for no restore)
    /// and whether resume args were used.
    type Row = (Strategy, Mode, bool, Result<&'static str, ()>, bool);
    const MODES: &[Row] = &[
        (None, Start, true, Ok("--new"), false),
        (None, Start, false, Ok("--new"), false),
        (None, Resume, true, Err(()), false),
        (None, Resume, false, Err(()), false),
        (CwdOnly, Start, true, Ok("--new"), false),
        (CwdOnly, Start, false, Ok("--new"), false),
        (CwdOnly, Resume, true, Ok("--new"), false),
        (CwdOnly, Resume, false, Ok("--new"), false),
        (Rerun, Start, true, Ok("--new"), false),
        (Rerun, Start, false, Ok("--new"), false),
        (Rerun, Resume, true, Ok("--new"), false),
        (Rerun, Resume, false, Ok("--new"), false),
        (PreassignId, Start, true, Ok("--session-id S1"), false),
        // No id (a daemon that forgot initial_state): the group is skipped, never half-passed.
        (PreassignId, Start, false, Ok(""), false),
        (PreassignId, Resume, true, Ok("--resume S1"), true),
        // Lost state: resume is impossible, start args need the id too: a plain fresh start.
        (PreassignId, Resume, false, Ok(""), false),
        (SessionScrape, Start, true, Ok("--new"), false),
        (SessionScrape, Start, false, Ok("--new"), false),
        (SessionScrape, Resume, true, Ok("--resume X9"), true),
        (SessionScrape, Resume, false, Ok("--new"), false),
        (SessionFile, Start, true, Ok(""), false),
        (SessionFile, Start, false, Ok(""), false),
        (SessionFile, Resume, true, Ok("--session F7"), true),
        (SessionFile, Resume, false, Ok(""), false),
    ];

    /// Toggle choices and the toggle arguments expected (toggles go before mode args).
    const TOGGLES: &[(&[(&str, bool)], &str)] = &[
        // Nothing chosen: defaults (opus on).
        (&[], "--model opus"),
        // On: a plain toggle, and another member of the radio group turns opus off.
        (&[("yolo", true), ("sonnet", true)], "--yolo --model sonnet"),
        // Off: the default turned off; no model at all.
        (&[("opus", false)], ""),
        // Choosing the default explicitly changes nothing.
        (&[("opus", true), ("sonnet", false)], "--model opus"),
    ];

    #[test]
    fn strategy_mode_state_toggle_matrix() {
        let mut rows = 0;
        for &(strategy, mode, with_state, want_mode_args, want_resumed) in MODES {
            let p = matrix_plugin(strategy);
            let state = if with_state {
                state_for(strategy)
            } else {
                BTreeMap::new()
            };
            for &(choices, want_toggle_args) in TOGGLES {
                let toggles: BTreeMap<String, bool> =
                    choices.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                let ctx = SpawnContext {
                    state: &state,
                    toggles: &toggles,
                    ..SpawnContext::new(mode, "pane-1", "/work", "/bin/zsh")
                };
                let got = build_argv(&p, &ctx);
                let case = format!("{strategy:?} {mode:?} state={with_state} toggles={choices:?}");
                match want_mode_args {
                    Err(()) => assert!(got.is_err(), "{case}: {got:?}"),
                    Ok(mode_args) => {
                        let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                        let joined = ["tool", "--base", want_toggle_args, mode_args].join(" ");
                        let want: Vec<&str> = joined.split_whitespace().collect();
                        assert_eq!(got.argv, want, "{case}");
                        assert_eq!(got.resumed, want_resumed, "{case}");
                    }
                }
                rows += 1;
            }
        }
        assert_eq!(rows, Strategy::ALL.len() * 2 * 2 * TOGGLES.len());
    }

    #[test]
    fn not_restored_error_names_the_strategy() {
        let p = matrix_plugin(None);
        let e = build_argv(&p, &SpawnContext::new(Resume, "p", "/", "/bin/sh")).unwrap_err();
        assert_eq!(e, "m panes are not restored (strategy `none`)");
    }

    #[test]
    fn two_of_one_group_is_an_error() {
        let p = matrix_plugin(Rerun);
        let toggles = BTreeMap::from([("opus".to_string(), true), ("sonnet".to_string(), true)]);
        let ctx = SpawnContext {
            toggles: &toggles,
            ..SpawnContext::new(Start, "p", "/", "/bin/sh")
        };
        assert_eq!(
            build_argv(&p, &ctx).unwrap_err(),
            "toggles `opus` and `sonnet` are both on, but group `model` allows one"
        );
    }

    #[test]
    fn unknown_names_fail_on_start_and_are_ignored_on_resume() {
        let p = matrix_plugin(Rerun);
        let toggles = BTreeMap::from([("turbo".to_string(), true)]);
        let fields = BTreeMap::from([("host".to_string(), "x".to_string())]);
        for (toggles, fields, want) in [
            (
                &toggles,
                &BTreeMap::new(),
                "m has no toggle `turbo` (it has `yolo`, `opus`, `sonnet`)",
            ),
            (&BTreeMap::new(), &fields, "m has no field `host`"),
        ] {
            let start = SpawnContext {
                toggles,
                fields,
                ..SpawnContext::new(Start, "p", "/", "/bin/sh")
            };
            assert_eq!(build_argv(&p, &start).unwrap_err(), want);
            let resume = SpawnContext {
                mode: Resume,
                ..start
            };
            assert!(build_argv(&p, &resume).is_ok());
        }
    }

    #[test]
    fn placeholders_builtins_env_and_extra_args() {
        let p = ok(r#"
[plugin]
name = "x"
category = "tools"
[command]
cmd = "{shell}"
args = ["-c", "cd {cwd} && echo {pane_id}"]
env = ["QUIL_X={pane_id}:{cwd}"]
"#);
        let extra = vec!["--literal".to_string(), "{not_expanded}".to_string()];
        let ctx = SpawnContext {
            extra_args: &extra,
            ..SpawnContext::new(Start, "pane-1a2b", "/home/me/src", "/bin/zsh")
        };
        let a = build_argv(&p, &ctx).unwrap();
        assert_eq!(
            a.argv,
            [
                "/bin/zsh",
                "-c",
                "cd /home/me/src && echo pane-1a2b",
                "--literal",
                "{not_expanded}"
            ]
        );
        assert_eq!(
            a.env,
            [("QUIL_X".to_string(), "pane-1a2b:/home/me/src".to_string())]
        );
        assert!(!a.resumed);
        // An empty built-in is as good as missing: the entry is an error naming it.
        let ctx = SpawnContext::new(Start, "p", "", "/bin/zsh");
        assert_eq!(
            build_argv(&p, &ctx).unwrap_err(),
            "cannot start x: `args` entry \"cd {cwd} && echo {pane_id}\" needs `{cwd}`, which has no value"
        );
    }

    #[test]
    fn fields() {
        let p = ok(r#"
[plugin]
name = "f"
category = "remote"
[command]
cmd = "ssh"
args = ["-T"]

[[command.fields]]
name = "port"
label = "Port"
arg_template = ["-p", "{port}"]
pattern = '[0-9]+'

[[command.fields]]
name = "identity"
arg_template = ["-i", "{identity}"]
default = "~/.ssh/id"

[[command.fields]]
name = "target"
label = "user@host"
arg_template = "{target}"
required = true
pattern = '[^-\s][^\s]*'

[[command.fields]]
name = "jump"
arg_template = ["-J", "{jump}"]
"#);
        let run = |fields: &[(&str, &str)]| {
            let fields: BTreeMap<String, String> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let ctx = SpawnContext {
                fields: &fields,
                ..SpawnContext::new(Start, "p", "/", "/bin/sh")
            };
            build_argv(&p, &ctx).map(|a| a.argv.join(" "))
        };
        assert_eq!(
            run(&[("target", "me@box")]).unwrap(),
            "ssh -T -i ~/.ssh/id me@box"
        );
        assert_eq!(
            run(&[
                ("target", "me@box"),
                ("port", "2222"),
                ("identity", "k"),
                ("jump", "")
            ])
            .unwrap(),
            "ssh -T -p 2222 -i k me@box"
        );
        assert_eq!(
            run(&[]).unwrap_err(),
            "user@host (target) is required for f"
        );
        assert_eq!(
            run(&[("target", "")]).unwrap_err(),
            "user@host (target) is required for f"
        );
        assert_eq!(
            run(&[("target", "-oProxyCommand=evil")]).unwrap_err(),
            "user@host (target): `-oProxyCommand=evil` does not match the pattern `[^-\\s][^\\s]*`"
        );
        assert_eq!(
            run(&[("target", "h"), ("port", "22x")]).unwrap_err(),
            "Port (port): `22x` does not match the pattern `[0-9]+`"
        );
    }

    #[test]
    fn embedded_plugins_build() {
        let state = BTreeMap::from([("session_id".to_string(), "abc".to_string())]);
        let claude = embedded_plugin("claude-code");
        let toggles = BTreeMap::from([
            ("skip_permissions".to_string(), true),
            ("model_sonnet".to_string(), true),
        ]);
        let ctx = SpawnContext {
            state: &state,
            toggles: &toggles,
            ..SpawnContext::new(Start, "p", "/src", "/bin/bash")
        };
        let a = build_argv(&claude, &ctx).unwrap();
        assert_eq!(
            a.argv,
            [
                "claude",
                "--dangerously-skip-permissions",
                "--model",
                "sonnet",
                "--session-id",
                "abc"
            ]
        );
        let a = build_argv(
            &claude,
            &SpawnContext {
                mode: Resume,
                ..ctx
            },
        )
        .unwrap();
        assert_eq!(
            a.argv,
            [
                "claude",
                "--dangerously-skip-permissions",
                "--model",
                "sonnet",
                "--resume",
                "abc"
            ]
        );
        assert!(a.resumed);

        let opencode = embedded_plugin("opencode");
        let ctx = SpawnContext::new(Start, "p", "/src", "/bin/bash");
        assert_eq!(build_argv(&opencode, &ctx).unwrap().argv, ["opencode"]);
        let resume = SpawnContext {
            state: &state,
            ..SpawnContext::new(Resume, "p", "/src", "/bin/bash")
        };
        let a = build_argv(&opencode, &resume).unwrap();
        assert_eq!(a.argv, ["opencode", "--session", "abc"]);
        assert!(a.resumed);

        let terminal = embedded_plugin("terminal");
        assert_eq!(build_argv(&terminal, &ctx).unwrap().argv, ["/bin/bash"]);

        let ssh = embedded_plugin("ssh");
        let fields = BTreeMap::from([("target".to_string(), "me@host".to_string())]);
        let ctx = SpawnContext {
            fields: &fields,
            ..ctx
        };
        assert_eq!(build_argv(&ssh, &ctx).unwrap().argv, ["ssh", "me@host"]);
        let rerun = SpawnContext {
            mode: Resume,
            ..ctx
        };
        assert_eq!(build_argv(&ssh, &rerun).unwrap().argv, ["ssh", "me@host"]);
    }

    #[test]
    fn initial_state_preassigns_a_uuid() {
        let claude = embedded_plugin("claude-code");
        let s = claude.initial_state();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["session_id"]);
        assert_eq!(s["session_id"].len(), 36);
        assert!(embedded_plugin("opencode").initial_state().is_empty());
        assert_eq!(embedded_plugin("opencode").state_keys(), ["session_id"]);
        assert!(embedded_plugin("terminal").state_keys().is_empty());
    }

    #[test]
    fn restore_table() {
        let table: Vec<(&str, bool, bool, Option<StateSource>)> = Strategy::ALL
            .iter()
            .map(|s| {
                let r = s.restore();
                (s.as_str(), r.restored, r.uses_resume_args, r.state)
            })
            .collect();
        assert_eq!(
            table,
            [
                ("none", false, false, Option::None),
                ("cwd_only", true, false, Option::None),
                ("rerun", true, false, Option::None),
                ("preassign_id", true, true, Some(StateSource::Preassigned)),
                ("session_scrape", true, true, Some(StateSource::Scraped)),
                ("session_file", true, true, Some(StateSource::TrackerFile)),
            ]
        );
    }
}

mod attention {
    use super::*;

    /// A screen-scraping agent type (what claude-code.toml held before its hooks reported
    /// exact states).
    const SCRAPED: &str = r#"
[plugin]
name = "scraped"
display_name = "Claude Code"
category = "ai"
[command]
cmd = "claude"
[[idle_handlers]]
pattern = 'Do you want to|Would you like to'
state = "waiting"
severity = "warning"
title = "Claude Code asks for permission"
[[idle_handlers]]
pattern = 'esc to interrupt'
state = "working"
[[idle_handlers]]
pattern = '(?m)^\s*[│|]?\s*[❯>]\s'
state = "waiting"
severity = "info"
title = "Claude Code is waiting for input"
[[error_handlers]]
pattern = '(?m)^\s*⎿\s+API Error'
"#;

    #[test]
    fn the_shipped_agents_scrape_no_screen() {
        for name in ["claude-code", "opencode"] {
            let p = embedded_plugin(name);
            assert!(
                p.idle_handlers.is_empty() && p.error_handlers.is_empty(),
                "{name} reports its states through its integration"
            );
        }
    }

    #[test]
    fn screen_patterns_in_order() {
        let p = ok(SCRAPED);
        let permission = "Edit file src/main.rs\n Do you want to make this edit to main.rs?\n ❯ 1. Yes\n   2. No\n";
        let (state, h) = p.match_attention(permission, true).unwrap();
        assert_eq!(state, State::Waiting);
        assert_eq!(h.severity, Severity::Warning);
        assert_eq!(h.title, "Claude Code asks for permission");

        let prompt = "● Done.\n\n╭────────╮\n│ > Try \"fix lint errors\" │\n╰────────╯\n";
        let (state, h) = p.match_attention(prompt, true).unwrap();
        assert_eq!(
            (state, h.title.as_str()),
            (State::Waiting, "Claude Code is waiting for input")
        );
        let prompt2 = "● Done.\n────────\n❯ \n────────\n";
        assert_eq!(
            p.match_attention(prompt2, true).map(|x| x.0),
            Some(State::Waiting)
        );

        let working = "✻ Thinking… (12s · esc to interrupt)\n> \n";
        assert_eq!(
            p.match_attention(working, true).map(|x| x.0),
            Some(State::Working)
        );

        // Idle handlers only run when the pane is quiet.
        assert!(p.match_attention(permission, false).is_none());
        // Error handlers always run, and before idle handlers.
        let error = "  ⎿  API Error: 529 {\"type\":\"overloaded_error\"}\n> \n";
        let (state, h) = p.match_attention(error, false).unwrap();
        assert_eq!((state, h.severity), (State::Error, Severity::Error));
        assert_eq!(
            p.match_attention(error, true).map(|x| x.0),
            Some(State::Error)
        );
        assert!(p.match_attention("compiling...\n", true).is_none());
    }

    #[test]
    fn ssh() {
        let ssh = embedded_plugin("ssh");
        assert_eq!(
            ssh.match_attention("me@host's password: ", true)
                .map(|x| x.1.title.as_str()),
            Some("ssh asks for a password")
        );
        assert_eq!(
            ssh.match_attention(
                "ssh: Could not resolve hostname nope: Name or service not known\n",
                false
            )
            .map(|x| x.0),
            Some(State::Error)
        );
        assert!(ssh.match_attention("me@host:~$ ls\n", true).is_none());
    }

    #[test]
    fn scrape_takes_the_last_match() {
        let p = ok(r#"
[plugin]
name = "s"
category = "ai"
[command]
cmd = "s"
[persistence]
strategy = "session_scrape"
resume_args = ["--resume", "{sid}"]
[[persistence.scrape]]
name = "sid"
pattern = 'session: (\w+)'
[[persistence.scrape]]
name = "model"
pattern = '(?i)^model=(\S*)$'
"#);
        let got = p.scrape("session: aaa\nmodel=\nnoise\nsession: bbb\n");
        assert_eq!(
            got,
            BTreeMap::from([("sid".to_string(), "bbb".to_string())])
        );
        let got = p.scrape("MODEL=opus\n");
        assert_eq!(
            got,
            BTreeMap::from([("model".to_string(), "opus".to_string())])
        );
        assert!(p.scrape("nothing").is_empty());
    }
}

mod availability {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn detect_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().as_os_str();
        let oc = embedded_plugin("opencode");
        assert_eq!(oc.detect_binary(), Some("opencode"));
        assert!(!oc.available_in(Some(path)));
        assert_eq!(
            oc.missing_binary_error(),
            "opencode is not installed: `opencode` not found on PATH (see https://opencode.ai)"
        );
        let exe = dir.path().join("opencode");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(oc.available_in(Some(path)));

        // `{shell}` is always available; a plain cmd is its own detect binary.
        let term = embedded_plugin("terminal");
        assert_eq!(term.detect_binary(), None);
        assert!(term.available_in(None));
        let p = ok("[plugin]\nname = \"t\"\ncategory = \"tools\"\n[command]\ncmd = \"htop\"\n");
        assert_eq!(p.detect_binary(), Some("htop"));
        assert_eq!(
            p.missing_binary_error(),
            "t is not installed: `htop` not found on PATH"
        );
        assert_eq!(
            embedded_plugin("claude-code").missing_binary_error(),
            "Claude Code is not installed: `claude` not found on PATH (see https://docs.anthropic.com/en/docs/claude-code)"
        );
    }
}

mod defaults {
    use super::*;

    fn plugins_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
    }

    #[test]
    fn every_embedded_plugin_is_valid() {
        for (file, text) in embedded() {
            let p = parse(file, text).unwrap_or_else(|d| panic!("{file}:\n{}", errors_of(&d)));
            assert_eq!(
                format!("{}.toml", p.name),
                *file,
                "file name matches plugin name"
            );
            assert!(
                text.starts_with("#:schema ./plugin.schema.json\n"),
                "{file}"
            );
        }
        let (reg, diags) = Registry::load(Path::new("/nonexistent/quil-plugins"));
        assert!(diags.is_empty(), "{}", errors_of(&diags));
        let names: Vec<&str> = reg.list().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "terminal",
                "claude-code",
                "codex",
                "gemini",
                "opencode",
                "ssh"
            ]
        );
    }

    #[test]
    fn every_file_in_plugins_dir_is_embedded() {
        let mut on_disk: Vec<String> = std::fs::read_dir(plugins_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = embedded().iter().map(|(f, _)| *f).collect();
        assert_eq!(on_disk, embedded);
        // The schema beside them (a symlink to docs/) is the embedded one.
        let schema = std::fs::read_to_string(plugins_dir().join(SCHEMA_FILE)).unwrap();
        assert_eq!(schema, SCHEMA_JSON);
    }

    #[test]
    fn embedded_specifics() {
        let t = embedded_plugin("terminal");
        assert_eq!(
            (t.category, t.command.cmd.as_str()),
            (Category::Terminal, "{shell}")
        );
        assert_eq!(t.persistence.strategy, Strategy::CwdOnly);
        assert!(t.persistence.scrollback);

        let oc = embedded_plugin("opencode");
        assert_eq!(oc.category, Category::Ai);
        assert_eq!(oc.homepage.as_deref(), Some("https://opencode.ai"));
        assert!(oc.command.prompts_cwd);
        assert_eq!(oc.persistence.strategy, Strategy::SessionFile);
        assert_eq!(oc.persistence.resume_args, ["--session", "{session_id}"]);
        // `--pure` disables the tracker quil resumes opencode with: never offer it.
        for t in &oc.command.toggles {
            assert!(!t.args_when_on.iter().any(|a| a == "--pure"));
        }
        assert!(oc.command.args.iter().all(|a| a != "--pure"));

        let c = embedded_plugin("claude-code");
        assert_eq!(c.command.detect.as_deref(), Some("claude"));
        assert_eq!(c.persistence.strategy, Strategy::PreassignId);
        assert_eq!(c.persistence.start_args, ["--session-id", "{session_id}"]);
        assert_eq!(c.persistence.resume_args, ["--resume", "{session_id}"]);
        let skip = &c.command.toggles[0];
        assert_eq!(
            (skip.label.as_str(), skip.args_when_on.as_slice()),
            (
                "Skip permissions",
                &["--dangerously-skip-permissions".to_string()][..]
            )
        );
        assert!(
            c.command
                .toggles
                .iter()
                .filter(|t| t.group.as_deref() == Some("model"))
                .count()
                >= 2
        );

        let s = embedded_plugin("ssh");
        assert_eq!(s.category, Category::Remote);
        assert_eq!(s.persistence.strategy, Strategy::Rerun);
        let f = &s.command.fields[0];
        assert_eq!(
            (f.name.as_str(), f.label.as_str(), f.required),
            ("target", "user@host", true)
        );
        assert_eq!(f.arg_template, ["{target}"]);
    }

    #[test]
    fn install_writes_missing_and_never_overwrites_edits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("plugins");
        assert_eq!(install_defaults(&d).unwrap(), Vec::<String>::new());
        for (file, text) in embedded() {
            assert_eq!(std::fs::read_to_string(d.join(file)).unwrap(), *text);
        }
        assert_eq!(
            std::fs::read_to_string(d.join(SCHEMA_FILE)).unwrap(),
            SCHEMA_JSON
        );
        // Idempotent.
        assert!(install_defaults(&d).unwrap().is_empty());

        // An edit at the same schema_version is left alone, silently.
        let oc = d.join("opencode.toml");
        let edited = std::fs::read_to_string(&oc)
            .unwrap()
            .replace("cyan", "magenta");
        std::fs::write(&oc, &edited).unwrap();
        assert!(install_defaults(&d).unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&oc).unwrap(), edited);

        // A deleted default comes back.
        std::fs::remove_file(d.join("ssh.toml")).unwrap();
        install_defaults(&d).unwrap();
        assert!(d.join("ssh.toml").exists());

        // So does one left empty (a crash during quil's unsynced first write), even when the
        // manifest was lost with it, and without a notice.
        std::fs::write(d.join("ssh.toml"), "").unwrap();
        std::fs::write(d.join(".defaults.json"), "").unwrap();
        assert!(install_defaults(&d).unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(d.join("ssh.toml")).unwrap(),
            embedded()
                .iter()
                .find(|(f, _)| *f == "ssh.toml")
                .map(|(_, t)| *t)
                .unwrap()
        );
    }

    #[test]
    fn newer_default_beside_an_edited_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        install_defaults(d).unwrap();
        // An edited copy older than quil's default: opencode.toml is at schema 2 (it gained
        // [integration]), so the user's file stands in for an older one with schema 1.
        let oc = d.join("opencode.toml");
        let theirs = std::fs::read_to_string(&oc)
            .unwrap()
            .replace("schema_version = 2", "schema_version = 1")
            .replace("cyan", "magenta");
        std::fs::write(&oc, &theirs).unwrap();
        let notices = install_defaults(d).unwrap();
        assert_eq!(
            notices,
            [format!(
                "{}: quil ships a newer version (schema 2, yours 1); see {}.new",
                oc.display(),
                oc.display()
            )]
        );
        assert_eq!(
            std::fs::read_to_string(&oc).unwrap(),
            theirs,
            "never overwritten"
        );
        let new = std::fs::read_to_string(d.join("opencode.toml.new")).unwrap();
        let embedded_oc = embedded()
            .iter()
            .find(|(f, _)| *f == "opencode.toml")
            .unwrap()
            .1;
        assert_eq!(new, embedded_oc);
        // Repeats until resolved, without rewriting the .new.
        assert_eq!(install_defaults(d).unwrap().len(), 1);
        // A file that is not even TOML also gets the new default beside it.
        std::fs::write(&oc, "not [toml").unwrap();
        let notices = install_defaults(d).unwrap();
        assert!(
            notices[0].contains("(schema 2, yours is not valid TOML)"),
            "{notices:?}"
        );
        // `.new` files are not plugins.
        let (reg, _) = Registry::load(d);
        assert_eq!(reg.len(), 6);
    }

    #[test]
    fn enabled_false_removes_a_type_but_not_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        install_defaults(d).unwrap();
        let ssh = std::fs::read_to_string(d.join("ssh.toml")).unwrap();
        let off = ssh.replacen("[plugin]\n", "[plugin]\nenabled = false\n", 1);
        assert_ne!(off, ssh);
        std::fs::write(d.join("ssh.toml"), off).unwrap();
        let term = std::fs::read_to_string(d.join("terminal.toml")).unwrap();
        let off = term.replacen("[plugin]\n", "[plugin]\nenabled = false\n", 1);
        std::fs::write(d.join("terminal.toml"), off).unwrap();
        let (reg, diags) = Registry::load(d);
        assert!(reg.get("ssh").is_none(), "the built-in ssh is hidden too");
        assert!(reg.get("terminal").is_some());
        let text = errors_of(&diags);
        assert!(
            text.contains("terminal.toml:") && text.contains("`terminal` cannot be disabled"),
            "{text}"
        );
        // `true` (the default) keeps it.
        let on = std::fs::read_to_string(d.join("ssh.toml"))
            .unwrap()
            .replace("enabled = false", "enabled = true");
        std::fs::write(d.join("ssh.toml"), on).unwrap();
        assert!(Registry::load(d).0.get("ssh").is_some());
    }

    #[test]
    fn unedited_older_default_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Simulate an older quil having written an older default: write the old text and record
        // it in the manifest the way install_defaults does.
        let old = "#:schema ./plugin.schema.json\n[plugin]\nname = \"ssh\"\ncategory = \"remote\"\n[command]\ncmd = \"ssh\"\n";
        std::fs::write(d.join("ssh.toml"), old).unwrap();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in old.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        std::fs::write(
            d.join(".defaults.json"),
            format!("{{\"ssh.toml\": \"{h:016x}\"}}"),
        )
        .unwrap();
        let notices = install_defaults(d).unwrap();
        assert_eq!(
            notices,
            [format!(
                "{}: updated to quil's newer default (schema 1)",
                d.join("ssh.toml").display()
            )]
        );
        let ssh = embedded().iter().find(|(f, _)| *f == "ssh.toml").unwrap().1;
        assert_eq!(std::fs::read_to_string(d.join("ssh.toml")).unwrap(), ssh);
        assert!(!d.join("ssh.toml.new").exists());
    }
}

mod registry {
    use super::*;

    const MY_CLAUDE: &str = r#"
[plugin]
name = "claude-code"
display_name = "My Claude"
category = "ai"
[command]
cmd = "claude"
"#;

    #[test]
    fn user_file_overrides_by_name_and_invalid_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The file name does not matter, the plugin name does.
        std::fs::write(d.join("mine.toml"), MY_CLAUDE).unwrap();
        std::fs::write(d.join("broken.toml"), "[plugin]\nname = \"broken\"\n").unwrap();
        // An invalid override leaves the embedded default in place.
        std::fs::write(
            d.join("ssh.toml"),
            "[plugin]\nname = \"ssh\"\ncategory = \"remote\"\n[command]\ncmd = \"ssh\"\nargs = [\"{host}\"]\n",
        )
        .unwrap();
        std::fs::write(
            d.join("htop.toml"),
            "[plugin]\nname = \"htop\"\ncategory = \"tools\"\n[command]\ncmd = \"htop\"\n",
        )
        .unwrap();
        // Ignored: not .toml, hidden, editor lock files, directories.
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        std::fs::write(d.join(".hidden.toml"), "x").unwrap();
        std::fs::write(d.join("#lock.toml"), "x").unwrap();
        std::fs::create_dir(d.join("dir.toml")).unwrap();

        let (reg, diags) = Registry::load(d);
        let claude = reg.get("claude-code").unwrap();
        assert_eq!(claude.display_name, "My Claude");
        assert_eq!(claude.source, Source::File(d.join("mine.toml")));
        assert_eq!(
            reg.get("ssh").unwrap().source,
            Source::Embedded("ssh.toml".into())
        );
        assert!(reg.get("broken").is_none());
        assert!(reg.get("htop").is_some());
        let names: Vec<&str> = reg.list().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "terminal",
                "claude-code",
                "codex",
                "gemini",
                "opencode",
                "htop",
                "ssh"
            ]
        );

        let text = errors_of(&diags);
        let b = d.join("broken.toml").display().to_string();
        let s = d.join("ssh.toml").display().to_string();
        assert_eq!(
            text,
            format!(
                "{b}:1:1: error: missing required key `category` in [plugin]\n  hint: add category = \"tools\"\n\
                 {b}:1:1: error: missing required table [command]\n  hint: add a [command] section\n\
                 {s}:6:10: error: placeholder `{{host}}` in `args` can never be resolved\n  hint: known here: `{{cwd}}`, `{{pane_id}}`, `{{shell}}`; write `{{{{` for a literal brace"
            )
        );
    }

    #[test]
    fn duplicate_names_later_file_wins_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.toml"), MY_CLAUDE).unwrap();
        std::fs::write(d.join("b.toml"), MY_CLAUDE.replace("My Claude", "Other")).unwrap();
        let (reg, diags) = Registry::load(d);
        assert_eq!(reg.get("claude-code").unwrap().display_name, "Other");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].level, Level::Warning);
        assert_eq!(
            diags[0].to_string(),
            format!(
                "{}:3:8: warning: plugin `claude-code` is also defined in {}; this file wins\n  hint: give one of them another `name` in [plugin]",
                d.join("b.toml").display(),
                d.join("a.toml").display()
            )
        );
    }

    #[test]
    fn unreadable_dir_keeps_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let (reg, diags) = Registry::load(&file);
        assert_eq!(reg.len(), 6);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.starts_with("cannot list plugin directory"));
    }
}

mod json_schema {
    use super::*;
    use crate::schema::{tables, Kind};
    use serde_json::Value;

    fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let path = r.strip_prefix("#/").expect("local $ref");
                path.split('/').fold(root, |node, part| &node[part])
            }
            None => v,
        }
    }

    /// The JSON schema node describing the table at a dotted path.
    fn node<'a>(root: &'a Value, path: &str) -> &'a Value {
        let mut cur = root;
        if path.is_empty() {
            return cur;
        }
        for part in path.split('.') {
            let prop = resolve(root, &cur["properties"][part]);
            assert!(!prop.is_null(), "schema lacks {path}");
            cur = if prop["type"] == "array" {
                resolve(root, &prop["items"])
            } else {
                prop
            };
        }
        cur
    }

    fn types(root: &Value, v: &Value) -> Vec<String> {
        let v = resolve(root, v);
        if let Some(alts) = v.get("anyOf").or(v.get("oneOf")).and_then(Value::as_array) {
            if v.get("type").is_none() {
                return alts.iter().flat_map(|a| types(root, a)).collect();
            }
        }
        match v["type"].as_str() {
            Some("array") => {
                let items = resolve(root, &v["items"]);
                vec![format!(
                    "array of {}",
                    items["type"].as_str().unwrap_or("?")
                )]
            }
            Some(t) => vec![t.to_string()],
            None => vec!["?".into()],
        }
    }

    #[test]
    fn schema_is_valid_json_and_matches_the_validator() {
        let root: Value = serde_json::from_str(SCHEMA_JSON).expect("valid JSON");
        assert_eq!(root["$schema"], "http://json-schema.org/draft-07/schema#");
        for table in tables() {
            let n = node(&root, &table.path);
            assert_eq!(n["type"], "object", "{}", table.path);
            assert_eq!(
                n["additionalProperties"], false,
                "{}: unknown keys must be errors",
                table.path
            );
            let props = n["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{}", table.path));
            let mut in_schema: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut in_rust: Vec<&str> = table.keys.iter().map(|k| k.name).collect();
            in_schema.sort_unstable();
            in_rust.sort_unstable();
            assert_eq!(in_schema, in_rust, "keys of [{}]", table.path);

            let mut req_schema: Vec<&str> = n["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut req_rust: Vec<&str> = table
                .keys
                .iter()
                .filter(|k| k.required)
                .map(|k| k.name)
                .collect();
            req_schema.sort_unstable();
            req_rust.sort_unstable();
            assert_eq!(req_schema, req_rust, "required keys of [{}]", table.path);

            for k in table.keys {
                let want: Vec<&str> = match k.kind {
                    Kind::Str => vec!["string"],
                    Kind::Bool => vec!["boolean"],
                    Kind::Int => vec!["integer"],
                    Kind::StrList => vec!["array of string"],
                    Kind::StrOrStrList => vec!["string", "array of string"],
                    Kind::Table(_) => vec!["object"],
                    Kind::TableList(_) => vec!["array of object"],
                };
                assert_eq!(
                    types(&root, &props[k.name]),
                    want,
                    "type of {}.{}",
                    table.path,
                    k.name
                );
                let desc = resolve(&root, &props[k.name]).get("description");
                assert!(
                    desc.is_some(),
                    "{}.{} has a description for editors",
                    table.path,
                    k.name
                );
            }
        }
    }

    #[test]
    fn schema_enums_match_the_rust_enums() {
        let root: Value = serde_json::from_str(SCHEMA_JSON).unwrap();
        let enum_of = |v: &Value| -> Vec<String> {
            v["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            enum_of(&node(&root, "plugin")["properties"]["category"]),
            strs(&Category::ALL.map(Category::as_str))
        );
        assert_eq!(
            enum_of(&node(&root, "persistence")["properties"]["strategy"]),
            strs(&Strategy::ALL.map(Strategy::as_str))
        );
        let handler = node(&root, "idle_handlers");
        assert_eq!(
            enum_of(&handler["properties"]["state"]),
            strs(&HANDLER_STATES.map(State::as_str))
        );
        assert_eq!(
            enum_of(&node(&root, "integration")["properties"]["mechanism"]),
            strs(&Mechanism::ALL.map(Mechanism::as_str))
        );
        assert_eq!(
            enum_of(&handler["properties"]["severity"]),
            strs(&Severity::ALL.map(Severity::as_str))
        );
        let colors = &node(&root, "display")["properties"]["border_color"]["anyOf"][1];
        assert_eq!(
            enum_of(colors),
            strs(&NamedColor::ALL.map(NamedColor::as_str))
        );
    }
}

mod docs {
    use super::*;

    /// Every complete plugin file in the reference (a ```toml block starting with the
    /// `#:schema` line) is valid.
    #[test]
    fn reference_examples_are_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plugin-reference.md");
        let md = std::fs::read_to_string(path).unwrap();
        let mut checked = 0;
        for block in md.split("```toml\n").skip(1) {
            let Some((body, _)) = block.split_once("```") else {
                continue;
            };
            if body.starts_with("#:schema ./plugin.schema.json\n") && body.contains("[plugin]") {
                parse("plugin-reference.md", body)
                    .unwrap_or_else(|d| panic!("{body}\n{}", errors_of(&d)));
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} examples found");
    }
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text yields a plugin or diagnostics with real positions; never a panic.
        #[test]
        fn garbage_never_panics(text in "\\PC{0,200}") {
            check(&text);
        }

        /// Embedded files with a piece cut out or replaced: near-misses of real files.
        #[test]
        fn mutated_files_never_panic(
            which in 0..4usize,
            at in 0.0..1.0f64,
            len in 0..40usize,
            insert in "[\\[\\]{}=\"'#\\n a-z_.,0-9é❯]{0,6}",
        ) {
            let (_, text) = embedded()[which % embedded().len()];
            let mut start = ((text.len() as f64) * at) as usize;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let mutated = format!("{}{insert}{}", &text[..start], &text[end..]);
            check(&mutated);
        }
    }

    fn check(text: &str) {
        match parse("fuzz.toml", text) {
            Ok(p) => {
                let _ = build_argv(&p, &SpawnContext::new(Mode::Start, "p", "/", "/bin/sh"));
                let _ = p.match_attention(text, true);
                let _ = p.scrape(text);
            }
            Err(diags) => {
                assert!(!diags.is_empty());
                let lines = text.split('\n').count();
                for d in diags {
                    assert!(d.line >= 1 && d.line <= lines, "{d} in {text:?}");
                    assert!(d.column >= 1, "{d}");
                }
            }
        }
    }
}

/// The daemon shares the registry between tasks and swaps it on reload.
#[test]
fn registry_is_shareable() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Registry>();
    check::<Plugin>();
    check::<Diagnostic>();
}
