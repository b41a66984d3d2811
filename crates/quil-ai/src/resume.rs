//! How an AI pane reopens after a daemon restart: a pure decision, table-tested.
//!
//! Rules:
//! - opencode with a valid id → `--session <id>`; with none → `--continue` only when no other
//!   opencode pane in the same project directory has or had a session (`--continue` takes the
//!   directory's most recent session, whoever made it), else fresh;
//! - Claude with a valid id → `--resume <id>` when its transcript exists, else
//!   `--session-id <id>` (a session that never got a prompt has no transcript, and `--resume`
//!   would fail with "No conversation found"); never `--continue`;
//! - one conversation, one pane: an id already claimed by another pane is never resumed a second
//!   time; the second pane starts fresh.

use crate::Kind;
use std::collections::HashSet;
use std::path::Path;

/// How to start the pane's CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Reopen this conversation: opencode `--session <id>`, Claude `--resume <id>`.
    Session(String),
    /// opencode `--continue`: the project directory's most recent session.
    Continue,
    /// A new conversation. For Claude, quild still picks the id up front:
    /// `--session-id <quil_plugin::new_session_id()>`.
    Fresh,
    /// Claude `--session-id <id>`: that id never got a prompt, so it has no transcript yet.
    SessionIdNew(String),
}

impl Resume {
    /// The CLI arguments for this decision.
    pub fn args(&self, kind: Kind) -> Vec<String> {
        match (self, kind) {
            (Resume::Session(id), Kind::OpenCode) => vec!["--session".into(), id.clone()],
            (Resume::Session(id), Kind::Claude) => vec!["--resume".into(), id.clone()],
            (Resume::Continue, _) => vec!["--continue".into()],
            (Resume::SessionIdNew(id), _) => vec!["--session-id".into(), id.clone()],
            (Resume::Fresh, _) => Vec::new(),
        }
    }

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
    pub kind: Kind,
    /// The pane's project directory (its cwd).
    pub project_dir: &'a Path,
    /// The id from the pane's id file (written by the tracker or the hook): the freshest.
    pub file_id: Option<&'a str>,
    /// The id quild had saved for the pane in its own state, used when the file has none.
    pub saved_id: Option<&'a str>,
    /// Claude: whether the transcript of [`chosen_id`] exists (prefer the path the hook
    /// recorded; else [`crate::claude_transcript_path`]). Ignored for opencode.
    pub transcript_exists: bool,
    /// opencode: whether another opencode pane in `project_dir` has or had a session (outside
    /// this decision's batch, e.g. a pane closed earlier). Ignored for Claude.
    pub dir_had_session: bool,
}

/// The id to resume: the file's when valid, else the saved one when valid.
pub fn chosen_id<'a>(
    kind: Kind,
    file_id: Option<&'a str>,
    saved_id: Option<&'a str>,
) -> Option<&'a str> {
    let valid = |s: &&str| kind.is_valid_session_id(s);
    file_id.filter(valid).or(saved_id.filter(valid))
}

/// The decision for one pane. `claimed` holds the ids other panes already took.
pub fn decide(input: &ResumeInput<'_>, claimed: &HashSet<String>) -> Resume {
    let id = chosen_id(input.kind, input.file_id, input.saved_id);
    match (input.kind, id) {
        (_, Some(id)) if claimed.contains(id) => Resume::Fresh,
        (Kind::OpenCode, Some(id)) => Resume::Session(id.to_string()),
        (Kind::OpenCode, None) if input.dir_had_session => Resume::Fresh,
        (Kind::OpenCode, None) => Resume::Continue,
        (Kind::Claude, Some(id)) if input.transcript_exists => Resume::Session(id.to_string()),
        (Kind::Claude, Some(id)) => Resume::SessionIdNew(id.to_string()),
        (Kind::Claude, None) => Resume::Fresh,
    }
}

/// Decisions for every pane being restored, in order (the first pane to claim an id keeps it).
/// `already_claimed`: ids of panes that are running anyway. Within the batch, an opencode pane
/// without an id gets `--continue` only if no other opencode pane of its directory has an id and
/// no earlier one of its directory already got `--continue`.
pub fn plan_resumes(inputs: &[ResumeInput<'_>], already_claimed: &HashSet<String>) -> Vec<Resume> {
    let mut claimed = already_claimed.clone();
    let mut continued: HashSet<&Path> = HashSet::new();
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let mut input = *input;
        if input.kind == Kind::OpenCode {
            let sibling_has_id = inputs.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.kind == Kind::OpenCode
                    && o.project_dir == input.project_dir
                    && chosen_id(o.kind, o.file_id, o.saved_id).is_some()
            });
            input.dir_had_session |= sibling_has_id || continued.contains(input.project_dir);
        }
        let r = decide(&input, &claimed);
        if let Some(id) = r.claimed_id() {
            claimed.insert(id.to_string());
        }
        if r == Resume::Continue {
            continued.insert(input.project_dir);
        }
        out.push(r);
    }
    out
}

/// The pane's original argv with any session-selecting flags removed and `resume`'s appended.
///
/// Removed: opencode `-c`/`--continue`, `-s`/`--session X`, `--fork`, `--prompt X` (a restored
/// pane must not send its first prompt again); Claude `-c`/`--continue`, `-r`/`--resume [X]`,
/// `--session-id X`, `--fork-session`. A Claude prompt given as a positional argument cannot be
/// told apart reliably and is kept: quild should not store one in a pane's command.
pub fn restore_argv(kind: Kind, argv: &[String], resume: &Resume) -> Vec<String> {
    let (flags, with_value, optional_value): (&[&str], &[&str], &[&str]) = match kind {
        Kind::OpenCode => (
            &["-c", "--continue", "--fork"],
            &["-s", "--session", "--prompt"],
            &[],
        ),
        Kind::Claude => (
            &["-c", "--continue", "--fork-session"],
            &["--session-id"],
            &["-r", "--resume"],
        ),
    };
    let mut out = Vec::with_capacity(argv.len() + 2);
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
        if flags.contains(&a.as_str()) {
            continue;
        }
        if with_value.contains(&name) {
            if !has_inline {
                it.next();
            }
            continue;
        }
        if optional_value.contains(&name) {
            if !has_inline && it.peek().is_some_and(|(_, v)| !v.starts_with('-')) {
                it.next();
            }
            continue;
        }
        out.push(a.clone());
    }
    let extra = resume.args(kind);
    if after_dashdash {
        // Keep ours before a `--`.
        let pos = out.iter().position(|a| a == "--").unwrap_or(out.len());
        out.splice(pos..pos, extra);
    } else {
        out.extend(extra);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OC1: &str = "ses_e007f40e2ffeHizcOUqvCwmQgb";
    const OC2: &str = "ses_e00392ab1ffeoTyTMCMU5uQAmo";
    const CL1: &str = "f35e1f56-d5c4-48c8-ad89-6831c5784b88";
    const CL2: &str = "fd4d059d-3327-4420-b543-454672948eae";

    fn input(
        kind: Kind,
        file_id: Option<&'static str>,
        saved_id: Option<&'static str>,
        transcript_exists: bool,
        dir_had_session: bool,
    ) -> ResumeInput<'static> {
        ResumeInput {
            kind,
            project_dir: Path::new("/p"),
            file_id,
            saved_id,
            transcript_exists,
            dir_had_session,
        }
    }

    #[test]
    fn decision_table() {
        use Kind::*;
        use Resume::*;
        let s = |x: &str| x.to_string();
        let none: &[&str] = &[];
        #[rustfmt::skip]
        let table: Vec<(ResumeInput, &[&str], Resume)> = vec![
            // kind, file id, saved id, transcript, dir had session | claimed | expected
            (input(OpenCode, Some(OC1), None, false, false), none, Session(s(OC1))),
            (input(OpenCode, Some(OC1), None, false, true), none, Session(s(OC1))),
            (input(OpenCode, Some(OC1), Some(OC2), false, false), none, Session(s(OC1))),
            (input(OpenCode, None, Some(OC2), false, false), none, Session(s(OC2))),
            (input(OpenCode, Some("--help"), Some(OC2), false, false), none, Session(s(OC2))),
            (input(OpenCode, Some("../../x"), None, false, false), none, Continue),
            (input(OpenCode, None, None, false, false), none, Continue),
            (input(OpenCode, None, None, false, true), none, Fresh),
            (input(OpenCode, Some(OC1), None, false, false), &[OC1], Fresh),
            (input(OpenCode, Some(OC1), None, false, false), &[OC2], Session(s(OC1))),
            // An opencode id is not a Claude id, and the other way round.
            (input(OpenCode, Some(CL1), None, false, false), none, Continue),
            (input(Claude, Some(OC1), None, true, false), none, Fresh),
            (input(Claude, Some(CL1), None, true, false), none, Session(s(CL1))),
            (input(Claude, Some(CL1), None, false, false), none, SessionIdNew(s(CL1))),
            (input(Claude, None, Some(CL2), true, false), none, Session(s(CL2))),
            (input(Claude, Some(CL1), Some(CL2), false, false), none, SessionIdNew(s(CL1))),
            (input(Claude, None, None, false, false), none, Fresh),
            (input(Claude, None, None, true, true), none, Fresh),
            (input(Claude, Some(CL1), None, true, false), &[CL1], Fresh),
            (input(Claude, Some(CL1), None, false, false), &[CL1], Fresh),
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
        let mk = |kind, dir, id| ResumeInput {
            kind,
            project_dir: dir,
            file_id: id,
            saved_id: None,
            transcript_exists: true,
            dir_had_session: false,
        };
        let inputs = [
            mk(Kind::OpenCode, a, Some(OC1)),
            mk(Kind::OpenCode, a, Some(OC1)), // same id: second is fresh
            mk(Kind::OpenCode, a, None),      // a sibling in /a has a session: fresh
            mk(Kind::OpenCode, b, None),      // alone in /b: continue
            mk(Kind::OpenCode, b, None),      // /b already continued: fresh
            mk(Kind::Claude, a, Some(CL1)),
            mk(Kind::Claude, b, Some(CL1)), // claimed: fresh
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
            ]
        );
        let running: HashSet<String> = [OC1.to_string()].into();
        assert_eq!(plan_resumes(&inputs[..1], &running), vec![Resume::Fresh]);
    }

    #[test]
    fn argv_restoration() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let r = Resume::Session(OC1.into());
        assert_eq!(
            restore_argv(Kind::OpenCode, &v(&["opencode"]), &r),
            v(&["opencode", "--session", OC1])
        );
        assert_eq!(
            restore_argv(
                Kind::OpenCode,
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
                &r
            ),
            v(&["opencode", "--model", "a/b", ".", "--session", OC1])
        );
        assert_eq!(
            restore_argv(
                Kind::OpenCode,
                &v(&["opencode", "--continue"]),
                &Resume::Fresh
            ),
            v(&["opencode"])
        );
        let r = Resume::Session(CL1.into());
        assert_eq!(
            restore_argv(
                Kind::Claude,
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
                &r
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
                Kind::Claude,
                &v(&["claude", "-r", "--verbose"]),
                &Resume::SessionIdNew(CL1.into())
            ),
            v(&["claude", "--verbose", "--session-id", CL1])
        );
        // Ours go before a `--`.
        assert_eq!(
            restore_argv(Kind::Claude, &v(&["claude", "--", "-c"]), &r),
            v(&["claude", "--resume", CL1, "--", "-c"])
        );
    }
}
