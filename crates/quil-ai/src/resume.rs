//! How an AI pane reopens after a daemon restart: a pure decision, table-tested. Nothing here
//! knows a CLI: what differs between them comes from their plugin's `[integration]` data.
//!
//! Rules:
//! - a pane with a valid id reopens it (`resume_args`); but a preassigned id whose history the
//!   CLI reported missing (it never got a prompt) starts again with the same id (`start_args`),
//!   since resuming it would fail;
//! - a pane without an id reopens its directory's latest conversation (`continue_args`) only
//!   when the type has such arguments and no other pane of its type in the same directory has
//!   or had a session (that conversation would be someone else's); else it starts fresh;
//! - one conversation, one pane: an id already claimed by another pane is never resumed a second
//!   time; the second pane starts fresh.

use quil_plugin::SessionArgs;
use std::collections::HashSet;
use std::path::Path;

/// How to start the pane's CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Reopen this conversation (`resume_args`).
    Session(String),
    /// The directory's latest conversation (`continue_args`).
    Continue,
    /// A new conversation (`start_args`; a preassigned id is picked anew).
    Fresh,
    /// `start_args` with this preassigned id, which never got a prompt.
    SessionIdNew(String),
}

impl Resume {
    /// The session id this decision takes for the pane, if any.
    pub fn claimed_id(&self) -> Option<&str> {
        match self {
            Resume::Session(id) | Resume::SessionIdNew(id) => Some(id),
            Resume::Continue | Resume::Fresh => None,
        }
    }
}

/// What quild knows about one AI pane it is restoring.
#[derive(Debug, Clone, Copy)]
pub struct ResumeInput<'a> {
    /// Conversations are told apart within a group (the pane type): siblings are panes of the
    /// same group in the same directory.
    pub group: &'a str,
    /// The pane's project directory (its cwd).
    pub project_dir: &'a Path,
    /// The id the CLI reported for the pane (tracker or hook file): the freshest. Valid ids
    /// only; the caller checks them against the type's `session_id_pattern`.
    pub file_id: Option<&'a str>,
    /// The id quild had saved for the pane in its own state, used when the file has none.
    pub saved_id: Option<&'a str>,
    /// The type preassigns ids (`start_args` pass `{session_id}`).
    pub preassigned: bool,
    /// The type has `continue_args`.
    pub can_continue: bool,
    /// Whether the conversation of [`chosen_id`] has any history: `Some(false)` when the CLI
    /// reported where it would be and nothing is there; `None` when unknown.
    pub history_exists: Option<bool>,
    /// Whether another pane of the group in `project_dir` has or had a session (outside this
    /// decision's batch, e.g. a pane closed earlier).
    pub dir_had_session: bool,
}

/// The id to resume: the file's, else the saved one.
pub fn chosen_id<'a>(file_id: Option<&'a str>, saved_id: Option<&'a str>) -> Option<&'a str> {
    file_id.or(saved_id)
}

/// The decision for one pane. `claimed` holds the ids other panes already took.
pub fn decide(input: &ResumeInput<'_>, claimed: &HashSet<String>) -> Resume {
    match chosen_id(input.file_id, input.saved_id) {
        Some(id) if claimed.contains(id) => Resume::Fresh,
        Some(id) if input.preassigned && input.history_exists == Some(false) => {
            Resume::SessionIdNew(id.to_string())
        }
        Some(id) => Resume::Session(id.to_string()),
        None if input.can_continue && !input.dir_had_session => Resume::Continue,
        None => Resume::Fresh,
    }
}

/// Decisions for every pane being restored, in order (the first pane to claim an id keeps it).
/// `already_claimed`: ids of panes that are running anyway. Within the batch, a pane without an
/// id gets `Continue` only if no other pane of its group and directory has an id and no earlier
/// one of them already got `Continue`.
pub fn plan_resumes(inputs: &[ResumeInput<'_>], already_claimed: &HashSet<String>) -> Vec<Resume> {
    let mut claimed = already_claimed.clone();
    let mut continued: HashSet<(&str, &Path)> = HashSet::new();
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let mut input = *input;
        let key = (input.group, input.project_dir);
        let sibling_has_id = inputs.iter().enumerate().any(|(j, o)| {
            j != i && (o.group, o.project_dir) == key && chosen_id(o.file_id, o.saved_id).is_some()
        });
        input.dir_had_session |= sibling_has_id || continued.contains(&key);
        let r = decide(&input, &claimed);
        if let Some(id) = r.claimed_id() {
            claimed.insert(id.to_string());
        }
        if r == Resume::Continue {
            continued.insert(key);
        }
        out.push(r);
    }
    out
}

/// `argv` without the arguments that pick a conversation (`session_args`), with `extra`
/// added: before a `--` if there is one, else at the end. `argv[0]` is kept as is.
pub fn restore_argv(
    session_args: &SessionArgs,
    argv: &[String],
    extra: Vec<String>,
) -> Vec<String> {
    let has = |list: &[String], a: &str| list.iter().any(|x| x == a);
    let mut out = Vec::with_capacity(argv.len() + extra.len());
    let mut it = argv.iter().enumerate().peekable();
    let mut after_dashdash = false;
    while let Some((i, a)) = it.next() {
        if i == 0 || after_dashdash {
            out.push(a.clone());
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            out.push(a.clone());
            continue;
        }
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        let has_inline = a.contains('=');
        if has(&session_args.flags, a) {
            continue;
        }
        if has(&session_args.with_value, name) {
            if !has_inline {
                it.next();
            }
            continue;
        }
        if has(&session_args.optional_value, name) {
            if !has_inline && it.peek().is_some_and(|(_, v)| !v.starts_with('-')) {
                it.next();
            }
            continue;
        }
        out.push(a.clone());
    }
    // Ours go before a `--`.
    let pos = out.iter().position(|a| a == "--").unwrap_or(out.len());
    out.splice(pos..pos, extra);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OC1: &str = "ses_e007f40e2ffeHizcOUqvCwmQgb";
    const OC2: &str = "ses_e00392ab1ffeoTyTMCMU5uQAmo";
    const CL1: &str = "f35e1f56-d5c4-48c8-ad89-6831c5784b88";
    const CL2: &str = "fd4d059d-3327-4420-b543-454672948eae";

    /// A tracker-reported type that can continue (opencode's shape), and a preassigning one
    /// that cannot (Claude Code's).
    fn tracked(
        file: Option<&'static str>,
        saved: Option<&'static str>,
        dir_had: bool,
    ) -> ResumeInput<'static> {
        ResumeInput {
            group: "opencode",
            project_dir: Path::new("/p"),
            file_id: file,
            saved_id: saved,
            preassigned: false,
            can_continue: true,
            history_exists: None,
            dir_had_session: dir_had,
        }
    }

    fn preassigned(
        file: Option<&'static str>,
        saved: Option<&'static str>,
        history: Option<bool>,
    ) -> ResumeInput<'static> {
        ResumeInput {
            group: "claude-code",
            preassigned: true,
            can_continue: false,
            history_exists: history,
            ..tracked(file, saved, false)
        }
    }

    #[test]
    fn decision_table() {
        use Resume::*;
        let s = |x: &str| x.to_string();
        let none: &[&str] = &[];
        #[rustfmt::skip]
        let table: Vec<(ResumeInput, &[&str], Resume)> = vec![
            // input | claimed | expected
            (tracked(Some(OC1), None, false), none, Session(s(OC1))),
            (tracked(Some(OC1), None, true), none, Session(s(OC1))),
            (tracked(Some(OC1), Some(OC2), false), none, Session(s(OC1))),
            (tracked(None, Some(OC2), false), none, Session(s(OC2))),
            (tracked(None, None, false), none, Continue),
            (tracked(None, None, true), none, Fresh),
            (tracked(Some(OC1), None, false), &[OC1], Fresh),
            (tracked(Some(OC1), None, false), &[OC2], Session(s(OC1))),
            (preassigned(Some(CL1), None, Some(true)), none, Session(s(CL1))),
            (preassigned(Some(CL1), None, None), none, Session(s(CL1))),
            (preassigned(Some(CL1), None, Some(false)), none, SessionIdNew(s(CL1))),
            (preassigned(None, Some(CL2), Some(true)), none, Session(s(CL2))),
            (preassigned(Some(CL1), Some(CL2), Some(false)), none, SessionIdNew(s(CL1))),
            // No continue_args: never Continue.
            (preassigned(None, None, None), none, Fresh),
            (preassigned(Some(CL1), None, Some(true)), &[CL1], Fresh),
            (preassigned(Some(CL1), None, Some(false)), &[CL1], Fresh),
        ];
        for (i, (inp, claimed, want)) in table.into_iter().enumerate() {
            let claimed: HashSet<String> = claimed.iter().map(|c| c.to_string()).collect();
            assert_eq!(
                decide(&inp, &claimed),
                want,
                "row {i}: {inp:?} claimed {claimed:?}"
            );
        }
    }

    #[test]
    fn batch_one_conversation_one_pane() {
        let a = Path::new("/a");
        let b = Path::new("/b");
        let oc = |dir, id| ResumeInput {
            project_dir: dir,
            ..tracked(id, None, false)
        };
        let cl = |dir, id| ResumeInput {
            project_dir: dir,
            ..preassigned(id, None, Some(true))
        };
        let inputs = [
            oc(a, Some(OC1)),
            oc(a, Some(OC1)), // same id: second is fresh
            oc(a, None),      // a sibling in /a has a session: fresh
            oc(b, None),      // alone in /b: continue
            oc(b, None),      // /b already continued: fresh
            cl(a, Some(CL1)),
            cl(b, Some(CL1)), // claimed: fresh
            cl(b, None),      // a Claude pane is no sibling of opencode panes; cannot continue
        ];
        let plan = plan_resumes(&inputs, &HashSet::new());
        assert_eq!(
            plan,
            vec![
                Resume::Session(OC1.into()),
                Resume::Fresh,
                Resume::Fresh,
                Resume::Continue,
                Resume::Fresh,
                Resume::Session(CL1.into()),
                Resume::Fresh,
                Resume::Fresh,
            ]
        );
        let running: HashSet<String> = [OC1.to_string()].into();
        assert_eq!(plan_resumes(&inputs[..1], &running), vec![Resume::Fresh]);
        // A group of its own in /b may continue even though opencode panes are there.
        let other = ResumeInput {
            group: "other",
            ..oc(b, None)
        };
        let plan = plan_resumes(&[oc(b, Some(OC2)), other], &HashSet::new());
        assert_eq!(plan[1], Resume::Continue);
    }

    #[test]
    fn argv_restoration() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let opencode = SessionArgs {
            flags: v(&["-c", "--continue", "--fork"]),
            with_value: v(&["-s", "--session", "--prompt"]),
            optional_value: Vec::new(),
        };
        let claude = SessionArgs {
            flags: v(&["-c", "--continue", "--fork-session"]),
            with_value: v(&["--session-id"]),
            optional_value: v(&["-r", "--resume"]),
        };
        assert_eq!(
            restore_argv(&opencode, &v(&["opencode"]), v(&["--session", OC1])),
            v(&["opencode", "--session", OC1])
        );
        assert_eq!(
            restore_argv(
                &opencode,
                &v(&[
                    "opencode",
                    "-c",
                    "--model",
                    "a/b",
                    "--session=ses_x",
                    "-s",
                    "y",
                    "--prompt",
                    "hi",
                    "--fork",
                    "."
                ]),
                v(&["--session", OC1])
            ),
            v(&["opencode", "--model", "a/b", ".", "--session", OC1])
        );
        assert_eq!(
            restore_argv(&opencode, &v(&["opencode", "--continue"]), Vec::new()),
            v(&["opencode"])
        );
        let resume = v(&["--resume", CL1]);
        assert_eq!(
            restore_argv(
                &claude,
                &v(&[
                    "claude",
                    "--settings",
                    "/s.json",
                    "--resume",
                    CL2,
                    "-c",
                    "--session-id",
                    CL2,
                    "--model",
                    "x"
                ]),
                resume.clone()
            ),
            v(&[
                "claude",
                "--settings",
                "/s.json",
                "--model",
                "x",
                "--resume",
                CL1
            ])
        );
        // -r with no value, followed by an option.
        assert_eq!(
            restore_argv(
                &claude,
                &v(&["claude", "-r", "--verbose"]),
                v(&["--session-id", CL1])
            ),
            v(&["claude", "--verbose", "--session-id", CL1])
        );
        // Ours go before a `--`.
        assert_eq!(
            restore_argv(&claude, &v(&["claude", "--", "-c"]), resume),
            v(&["claude", "--resume", CL1, "--", "-c"])
        );
        // Codex resumes with a subcommand: `resume [ID]` is dropped whole, its flags too.
        let codex = SessionArgs {
            flags: v(&["--last", "--all", "--include-non-interactive"]),
            with_value: Vec::new(),
            optional_value: v(&["resume", "fork"]),
        };
        let id = "01a2425e-0fed-7e61-ae56-35e7df98f324";
        for old in [
            v(&["codex", "-m", "o3", "resume", CL2]),
            v(&["codex", "-m", "o3", "resume", "--last"]),
            v(&["codex", "-m", "o3", "fork", CL2]),
            v(&["codex", "-m", "o3"]),
        ] {
            assert_eq!(
                restore_argv(&codex, &old, v(&["resume", id])),
                v(&["codex", "-m", "o3", "resume", id]),
                "{old:?}"
            );
        }
        // No session arguments declared: only `extra` is added.
        assert_eq!(
            restore_argv(&SessionArgs::default(), &v(&["x", "-c"]), v(&["-r", "1"])),
            v(&["x", "-c", "-r", "1"])
        );
    }
}
