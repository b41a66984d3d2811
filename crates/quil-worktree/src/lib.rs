//! Disposable git worktrees for quil panes.
//!
//! A pane (an AI coding agent above all) can run in its own git worktree; afterwards the user
//! keeps what it did, as a staged patch in the main working tree, or discards it. This crate is
//! the git side of that, used by the daemon and the CLI: a few plain functions over the real
//! `git` binary (never libgit2), so behaviour matches what the user's own git does, with hooks,
//! filters, `safe.directory` and so on.
//!
//! # Layout
//!
//! [`create`] makes `<root>/.worktrees/<kind>-<YYYYMMDD-HHMMSS>[-N]` (UTC time; `-N` only when
//! that name is taken, so two panes created in the same second never collide) on a new branch
//! `quil/<same name>`, started at the full sha of the main tree's `HEAD`, which is recorded as
//! [`Worktree::base`]. `<root>` is always the *main* working tree, even when `create` is called
//! from inside a linked worktree, so worktrees are siblings and never nest inside each other.
//! `.worktrees/` is added once to the repository's shared `info/exclude` (found with
//! `git rev-parse --git-common-dir`), so the main tree's `git status` never shows it, and no
//! tracked file (`.gitignore`) is touched.
//!
//! # Diff
//!
//! [`diff`] is everything the pane changed from `base` to the worktree's *current files*:
//! committed, staged, unstaged and new untracked files alike (ignored files are not included).
//! It never touches the worktree's real index: the index is copied (with its mtime, so git's
//! racy-entry detection still works and unchanged files are not re-hashed) into a temporary
//! directory outside the repository, `git add -A` runs against that copy via `GIT_INDEX_FILE`,
//! and the plumbing command `git diff-index --cached --binary <base>` turns it into a patch.
//! Plumbing is used on purpose: user settings such as `diff.noprefix`, `diff.external`,
//! `diff.relative` or `color.ui=always` cannot corrupt a patch that is about to be applied.
//! (`git add -A` does write the new files' blobs into the object store, as loose objects that
//! `git gc` later collects; nothing else in the repository changes.)
//!
//! # Keep and discard
//!
//! [`keep`] feeds that patch on stdin to `git apply --index` in the main tree, after a
//! `git apply --index --check` dry run, and without `--3way`: either the whole patch applies
//! and is staged, or nothing changes and the error carries git's reason (`patch does not
//! apply`, `does not match index`, `already exists in working directory`, ...). Note that
//! `--index` also refuses a file the user has unstaged edits in, even on other lines: the
//! user's uncommitted work is never merged into. Only after a successful apply are the
//! worktree (`git worktree remove --force`) and its branch (`git branch -D`) removed; a failed
//! keep leaves worktree, branch and main tree exactly as they were. [`discard`] removes the
//! worktree and branch without applying anything, and prunes stale worktree records.
//!
//! `keep` and `discard` only act on worktrees that look like this crate's own (branch under
//! `quil/`, directory directly in `<repo>/.worktrees/`), so a stale or hand-edited [`Worktree`]
//! can never delete a user's branch. The caller should stop the pane's processes first: files
//! written while `keep` runs may or may not make it into the patch.
//!
//! # Environment
//!
//! Every git process runs with `LC_ALL=C` (so reasons are stable, English, and parseable), with
//! no terminal prompts, and with repository-selecting variables such as `GIT_DIR`,
//! `GIT_WORK_TREE` and `GIT_INDEX_FILE` removed, so a daemon started from a git hook cannot
//! point git at the wrong repository. Needs git 2.17 or newer (`git worktree remove`).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directory, inside the main working tree, that holds every quil worktree.
pub const WORKTREES_DIR: &str = ".worktrees";
/// Prefix of every branch this crate creates.
pub const BRANCH_PREFIX: &str = "quil/";

/// The line added to `info/exclude`.
const EXCLUDE_LINE: &str = ".worktrees/";
/// How many `-N` suffixes [`create`] tries before giving up.
const MAX_NAME_ATTEMPTS: u32 = 100;
/// Longest sanitized `kind`, in bytes (it is ASCII).
const MAX_KIND_LEN: usize = 40;
/// At most this many lines of git's stderr go into an error message.
const MAX_REASON_LINES: usize = 8;

/// Variables that make git use another repository, work tree or index than the one we name.
/// (The same set `git rev-parse --local-env-vars` prints.)
const LOCAL_ENV_VARS: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
];

/// One disposable worktree, as returned by [`create`]: the workspace model's own record of a
/// pane's worktree (`repo`, `path`, `branch`, `base`), so the daemon persists it with the pane
/// and hands it back to [`diff`], [`keep`] or [`discard`] as is.
pub use quil_model::WorktreeMeta as Worktree;

/// Why a worktree operation failed. Every message is one line that names the directory or
/// branch involved and, where git refused, ends with git's own reason.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The directory does not exist (or is not a directory).
    #[error("{} is not a directory", dir.display())]
    NoSuchDir { dir: PathBuf },
    /// The directory is not inside any git repository.
    #[error("{} is not inside a git repository", dir.display())]
    NotARepo { dir: PathBuf },
    /// The directory is in a repository but not in a working tree (a bare repository, or
    /// inside `.git`), so there is no main tree to branch from or keep changes into.
    #[error("{} is not inside a git working tree (bare repository or .git directory)", dir.display())]
    NoWorkTree { dir: PathBuf },
    /// `HEAD` is unborn: there is no commit to start a worktree from.
    #[error("{} has no commits yet; make a first commit before starting a worktree", repo.display())]
    NoCommits { repo: PathBuf },
    /// The `git` binary could not be started.
    #[error("could not run git: {source}")]
    GitNotRunnable {
        #[source]
        source: io::Error,
    },
    /// A git command failed.
    #[error("git {command} failed in {}: {reason}", dir.display())]
    Git {
        /// The git subcommand, e.g. `worktree add`.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// git's own reason (its stderr, condensed to one line).
        reason: String,
    },
    /// A file operation of our own failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The worktree's directory is gone, so there is nothing to diff or keep.
    #[error("worktree {} no longer exists", path.display())]
    Missing { path: PathBuf },
    /// The [`Worktree`] does not look like one [`create`] made; refusing to touch it.
    #[error("refusing to touch {} (branch {branch}): not a quil worktree of {}", path.display(), repo.display())]
    NotOurs {
        repo: PathBuf,
        path: PathBuf,
        branch: String,
    },
    /// Every candidate name was taken.
    #[error("could not find a free worktree name for {stem} in {}", repo.display())]
    NoFreeName { repo: PathBuf, stem: String },
    /// [`keep`]: the changes do not apply cleanly to the main tree; nothing was changed.
    #[error("cannot keep {branch}: its changes do not apply to {}: {reason}", repo.display())]
    DoesNotApply {
        repo: PathBuf,
        branch: String,
        reason: String,
    },
    /// [`keep`]: the changes were applied and staged, but removing the worktree or its branch
    /// failed afterwards. Calling [`discard`] again finishes the job.
    #[error("kept {branch} into {} (changes are staged), but cleaning up failed: {reason}", repo.display())]
    KeptButNotRemoved {
        repo: PathBuf,
        branch: String,
        reason: String,
    },
}

/// The root of the main working tree of the repository containing `dir`.
///
/// From inside a linked worktree this is still the main tree (the first entry of
/// `git worktree list`), not the linked worktree's own root.
pub fn repo_root(dir: &Path) -> Result<PathBuf, WorktreeError> {
    if !dir.is_dir() {
        return Err(WorktreeError::NoSuchDir {
            dir: dir.to_owned(),
        });
    }
    let args = [
        "rev-parse",
        "--show-toplevel",
        "--git-dir",
        "--git-common-dir",
    ];
    let out = git_output(dir, &args, None, None)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(if stderr.contains("not a git repository") {
            WorktreeError::NotARepo {
                dir: dir.to_owned(),
            }
        } else if stderr.contains("must be run in a work tree") {
            WorktreeError::NoWorkTree {
                dir: dir.to_owned(),
            }
        } else {
            git_error(dir, &args, &out)
        });
    }
    let mut lines = out.stdout.split(|&b| b == b'\n');
    let mut next = || lines.next().map(bytes_to_path).unwrap_or_default();
    let (toplevel, git_dir, common_dir) = (next(), next(), next());
    if toplevel.as_os_str().is_empty() {
        return Err(WorktreeError::NoWorkTree {
            dir: dir.to_owned(),
        });
    }
    if same_file(&dir.join(git_dir), &dir.join(common_dir)) {
        // The main working tree itself (or a submodule, which is its own main tree).
        Ok(toplevel)
    } else {
        main_worktree(dir)
    }
}

/// Makes a new worktree, on a new branch from the main tree's `HEAD`; `kind` (e.g. the pane
/// type, `claude`) becomes part of its name, reduced to `[a-z0-9-]`.
pub fn create(dir: &Path, kind: &str) -> Result<Worktree, WorktreeError> {
    let repo = repo_root(dir)?;
    let base = head_commit(&repo)?;
    let _changing = changing_worktrees();
    ensure_excluded(&repo)?;

    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stem = format!("{}-{}", sanitize_kind(kind), timestamp(secs));
    let parent = repo.join(WORKTREES_DIR);
    for attempt in 1..=MAX_NAME_ATTEMPTS {
        let name = if attempt == 1 {
            stem.clone()
        } else {
            format!("{stem}-{attempt}")
        };
        let path = parent.join(&name);
        let branch = format!("{BRANCH_PREFIX}{name}");
        if path.symlink_metadata().is_ok() || branch_exists(&repo, &branch)? {
            continue;
        }
        let args: [&OsStr; 6] = [
            "worktree".as_ref(),
            "add".as_ref(),
            "-b".as_ref(),
            branch.as_ref(),
            path.as_ref(),
            base.as_ref(),
        ];
        let out = git_output(&repo, &args, None, None)?;
        if out.status.success() {
            return Ok(Worktree {
                repo,
                path,
                branch,
                base,
            });
        }
        if String::from_utf8_lossy(&out.stderr).contains("already exists") {
            // Lost a race with another create for the same name: try the next one.
            continue;
        }
        let err = git_error(&repo, &args, &out);
        // A failed checkout can leave the new branch behind; it is ours, nobody else could have
        // created it without making our `-b` fail with "already exists".
        if branch_exists(&repo, &branch).unwrap_or(false) {
            let _ = git(&repo, &["worktree", "prune"]);
            let _ = git(&repo, &["branch", "-D", &branch]);
        }
        return Err(err);
    }
    Err(WorktreeError::NoFreeName { repo, stem })
}

/// Everything the pane changed, from [`Worktree::base`] to the worktree's current files
/// (including commits on its branch and new untracked files, not ignored ones), as a unified
/// diff, or as a `--stat` summary when `stat` is true. Empty when nothing changed.
///
/// Read-only for the worktree: its index and files are not modified. Non-UTF-8 file contents
/// are shown lossily; [`keep`] applies the exact bytes.
pub fn diff(wt: &Worktree, stat: bool) -> Result<String, WorktreeError> {
    let bytes = if stat {
        snapshot_diff(wt, &["--stat"])?
    } else {
        patch(wt)?
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Applies the worktree's [`diff`] to the main tree as staged changes, then removes the
/// worktree and its branch. If the changes do not apply, returns
/// [`WorktreeError::DoesNotApply`] and changes nothing at all.
pub fn keep(wt: &Worktree) -> Result<(), WorktreeError> {
    check_owned(wt)?;
    let patch = patch(wt)?;
    if patch.is_empty() {
        return remove(wt);
    }
    let does_not_apply = |e: WorktreeError| match e {
        WorktreeError::Git { mut reason, .. } => {
            if reason.contains("does not match index") {
                reason.push_str(" (the main tree has unstaged changes there)");
            }
            WorktreeError::DoesNotApply {
                repo: wt.repo.clone(),
                branch: wt.branch.clone(),
                reason,
            }
        }
        other => other,
    };
    // No `--3way`: a conflict must fail, not leave conflict markers. The dry run first, so a
    // refusal cannot leave anything half-applied.
    let apply = ["apply", "--index", "--whitespace=nowarn"];
    git_stdin(&wt.repo, &[&apply[..], &["--check", "-"]].concat(), &patch)
        .map_err(does_not_apply)?;
    git_stdin(&wt.repo, &[&apply[..], &["-"]].concat(), &patch).map_err(does_not_apply)?;
    remove(wt).map_err(|e| WorktreeError::KeptButNotRemoved {
        repo: wt.repo.clone(),
        branch: wt.branch.clone(),
        reason: match e {
            WorktreeError::Git { reason, .. } => reason,
            other => other.to_string(),
        },
    })
}

/// Removes the worktree (even if dirty) and its branch, and prunes stale worktree records. The
/// main tree is not touched. Succeeds if they are already gone.
pub fn discard(wt: &Worktree) -> Result<(), WorktreeError> {
    check_owned(wt)?;
    remove(wt)
}

// ---------------------------------------------------------------------------------------------
// Steps

/// Refuses worktrees [`create`] could not have made, before anything is deleted.
fn check_owned(wt: &Worktree) -> Result<(), WorktreeError> {
    let name = wt.branch.strip_prefix(BRANCH_PREFIX).unwrap_or_default();
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && wt.path.parent() == Some(wt.repo.join(WORKTREES_DIR).as_path())
        && wt.path.file_name().is_some_and(|n| n == name);
    if ok {
        Ok(())
    } else {
        Err(WorktreeError::NotOurs {
            repo: wt.repo.clone(),
            path: wt.path.clone(),
            branch: wt.branch.clone(),
        })
    }
}

/// One change to a repository's worktrees at a time in this process. git reads every other
/// worktree's admin files while it adds, removes or prunes one, and fails ("failed to read
/// .git/worktrees/<name>/commondir", "could not open .../gitdir") when another change has made
/// or deleted that directory halfway. (Other processes' adds can still collide on a name;
/// [`create`] retries those.)
fn changing_worktrees() -> MutexGuard<'static, ()> {
    static CHANGING: Mutex<()> = Mutex::new(());
    CHANGING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `git worktree remove --force`, prune, `git branch -D`; each step skipped if already done.
fn remove(wt: &Worktree) -> Result<(), WorktreeError> {
    let _changing = changing_worktrees();
    if wt.path.symlink_metadata().is_ok() {
        let args = [
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            wt.path.as_os_str(),
        ];
        git(&wt.repo, &args)?;
    }
    // Drops the record of a worktree whose directory was deleted by hand, which would otherwise
    // keep its branch "checked out" and undeletable.
    git(&wt.repo, &["worktree", "prune"])?;
    if branch_exists(&wt.repo, &wt.branch)? {
        git(&wt.repo, &["branch", "-D", &wt.branch])?;
    }
    Ok(())
}

/// The binary-safe patch from `base` to the worktree's current files.
fn patch(wt: &Worktree) -> Result<Vec<u8>, WorktreeError> {
    snapshot_diff(wt, &["--binary"])
}

/// Snapshots the worktree's files into a temporary index (outside the repository) and runs
/// `git diff-index --cached <extra> <base>` against it.
fn snapshot_diff(wt: &Worktree, extra: &[&str]) -> Result<Vec<u8>, WorktreeError> {
    if !wt.path.is_dir() {
        return Err(WorktreeError::Missing {
            path: wt.path.clone(),
        });
    }
    let tmp = tempfile::Builder::new()
        .prefix("quil-worktree-")
        .tempdir()
        .map_err(|source| WorktreeError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let index = tmp.path().join("index");
    let real = bytes_to_path(&git(&wt.path, &["rev-parse", "--git-path", "index"])?);
    let real = wt.path.join(real);
    if real.is_file() {
        copy_keeping_mtime(&real, &index)?;
    } else {
        git_output_ok(&wt.path, &["read-tree", &wt.base], Some(&index))?;
    }
    git_output_ok(&wt.path, &["add", "-A"], Some(&index))?;
    let args = [&["diff-index", "--cached"][..], extra, &[&wt.base, "--"]].concat();
    let out = git_output_ok(&wt.path, &args, Some(&index))?;
    Ok(out.stdout)
}

/// Copies a git index, giving the copy the original's mtime (git compares file mtimes with
/// the index's own to spot entries that changed in the same instant it was written).
fn copy_keeping_mtime(from: &Path, to: &Path) -> Result<(), WorktreeError> {
    let mut src = File::open(from).map_err(io_err(from))?;
    let mtime = src
        .metadata()
        .and_then(|m| m.modified())
        .map_err(io_err(from))?;
    let mut dst = File::create(to).map_err(io_err(to))?;
    io::copy(&mut src, &mut dst).map_err(io_err(to))?;
    dst.set_modified(mtime).map_err(io_err(to))
}

/// An I/O error on `path`, for `map_err`.
fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WorktreeError {
    let path = path.to_owned();
    move |source| WorktreeError::Io { path, source }
}

/// Full sha of `HEAD`, or [`WorktreeError::NoCommits`] if it is unborn.
fn head_commit(repo: &Path) -> Result<String, WorktreeError> {
    let args = ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"];
    let out = git_output(repo, &args, None, None)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    if out.stderr.iter().all(u8::is_ascii_whitespace) {
        Err(WorktreeError::NoCommits {
            repo: repo.to_owned(),
        })
    } else {
        Err(git_error(repo, &args, &out))
    }
}

fn branch_exists(repo: &Path, branch: &str) -> Result<bool, WorktreeError> {
    let refname = format!("refs/heads/{branch}");
    let args = ["rev-parse", "--verify", "--quiet", &refname];
    Ok(git_output(repo, &args, None, None)?.status.success())
}

/// The main working tree, seen from a linked worktree: the first `git worktree list` entry.
fn main_worktree(dir: &Path) -> Result<PathBuf, WorktreeError> {
    // `-z` (git 2.36+) gives unquoted paths; older git has no `-z` but never quotes either.
    let out = match git(dir, &["worktree", "list", "--porcelain", "-z"]) {
        Ok(out) => out,
        Err(_) => git(dir, &["worktree", "list", "--porcelain"])?,
    };
    let sep = if out.contains(&0) { 0 } else { b'\n' };
    let mut lines = out.split(|&b| b == sep);
    let first = lines.next().unwrap_or_default();
    let bare = lines
        .take_while(|l| !l.is_empty())
        .any(|l| l == b"bare".as_slice());
    match first.strip_prefix(b"worktree ".as_slice()) {
        Some(path) if !bare => Ok(bytes_to_path(path)),
        _ => Err(WorktreeError::NoWorkTree {
            dir: dir.to_owned(),
        }),
    }
}

/// Adds `.worktrees/` to the shared `info/exclude` unless it is already there.
///
/// Called under [`create`]'s lock, so concurrent creates in one daemon add the line once.
/// (Two *processes* racing on a fresh repository could add it twice, which is harmless.)
fn ensure_excluded(repo: &Path) -> Result<(), WorktreeError> {
    let common = bytes_to_path(&git(repo, &["rev-parse", "--git-common-dir"])?);
    let info = repo.join(common).join("info");
    let file = info.join("exclude");
    let existing = match fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&file)(e)),
    };
    let present = String::from_utf8_lossy(&existing).lines().any(|line| {
        let line = line.trim();
        let line = line.strip_prefix('/').unwrap_or(line);
        line == EXCLUDE_LINE || line == WORKTREES_DIR
    });
    if present {
        return Ok(());
    }
    let mut add = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        add.push('\n');
    }
    add.push_str("# quil: disposable pane worktrees\n");
    add.push_str(EXCLUDE_LINE);
    add.push('\n');
    fs::create_dir_all(&info).map_err(io_err(&info))?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(add.as_bytes()))
        .map_err(io_err(&file))
}

// ---------------------------------------------------------------------------------------------
// Naming

/// Lower-cases `kind` and turns every run of characters outside `[a-z0-9]` into one `-`.
fn sanitize_kind(kind: &str) -> String {
    let mut out = String::new();
    for c in kind.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_KIND_LEN);
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("pane");
    }
    out
}

/// `YYYYMMDD-HHMMSS` in UTC for seconds since the Unix epoch.
fn timestamp(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// Running git

/// A git command in `dir` with a clean environment.
fn git_command<S: AsRef<OsStr>>(dir: &Path, args: &[S], index: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    for var in LOCAL_ENV_VARS {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    cmd
}

/// Runs git and returns its output whatever the exit status.
fn git_output<S: AsRef<OsStr>>(
    dir: &Path,
    args: &[S],
    index: Option<&Path>,
    stdin: Option<&[u8]>,
) -> Result<Output, WorktreeError> {
    let mut cmd = git_command(dir, args, index);
    let not_runnable = |source| WorktreeError::GitNotRunnable { source };
    let Some(input) = stdin else {
        return cmd.output().map_err(not_runnable);
    };
    let mut child = cmd.stdin(Stdio::piped()).spawn().map_err(not_runnable)?;
    let writer = child.stdin.take();
    std::thread::scope(|scope| {
        // Write from another thread so a chatty git can never deadlock against us.
        if let Some(mut pipe) = writer {
            scope.spawn(move || {
                // A write error means git exited early; its status and stderr say why.
                let _ = pipe.write_all(input);
            });
        }
        child.wait_with_output().map_err(not_runnable)
    })
}

/// Runs git, failing with its stderr if it exits non-zero.
fn git_output_ok<S: AsRef<OsStr>>(
    dir: &Path,
    args: &[S],
    index: Option<&Path>,
) -> Result<Output, WorktreeError> {
    let out = git_output(dir, args, index, None)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(git_error(dir, args, &out))
    }
}

/// Runs git and returns its stdout without the final newline.
fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<Vec<u8>, WorktreeError> {
    let mut stdout = git_output_ok(dir, args, None)?.stdout;
    if stdout.last() == Some(&b'\n') {
        stdout.pop();
    }
    Ok(stdout)
}

/// Runs git with `input` on its stdin.
fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Result<(), WorktreeError> {
    let out = git_output(dir, args, None, Some(input))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(git_error(dir, args, &out))
    }
}

fn git_error<S: AsRef<OsStr>>(dir: &Path, args: &[S], out: &Output) -> WorktreeError {
    // The subcommand words, e.g. "worktree add", without options or paths.
    let command = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy())
        .take_while(|a| {
            !a.starts_with('-') && a.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    WorktreeError::Git {
        command,
        dir: dir.to_owned(),
        reason: reason(&out.stderr, out.status),
    }
}

/// git's stderr as one line: its `fatal:`/`error:` lines (all lines if there are none), hints
/// dropped, prefixes stripped, joined with `; `.
fn reason(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .collect();
    let strip = |l: &str| -> Option<String> {
        l.strip_prefix("fatal: ")
            .or_else(|| l.strip_prefix("error: "))
            .map(str::to_owned)
    };
    let mut picked: Vec<String> = lines.iter().filter_map(|l| strip(l)).collect();
    if picked.is_empty() {
        picked = lines.iter().map(|l| (*l).to_owned()).collect();
    }
    if picked.is_empty() {
        return format!("git exited with {status}");
    }
    let extra = picked.len().saturating_sub(MAX_REASON_LINES);
    picked.truncate(MAX_REASON_LINES);
    let mut reason = picked.join("; ");
    if extra > 0 {
        reason.push_str(&format!("; ... ({extra} more)"));
    }
    reason
}

#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// Whether two paths name the same file (falls back to comparing them as written).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_kind() {
        assert_eq!(sanitize_kind("claude"), "claude");
        assert_eq!(sanitize_kind("Claude Code!"), "claude-code");
        assert_eq!(sanitize_kind("--a__b//c--"), "a-b-c");
        assert_eq!(sanitize_kind("ünï"), "n");
        assert_eq!(sanitize_kind(""), "pane");
        assert_eq!(sanitize_kind("../.."), "pane");
        assert_eq!(sanitize_kind(&"x".repeat(100)).len(), MAX_KIND_LEN);
        assert!(!sanitize_kind(&format!("{}-yy", "x".repeat(39))).ends_with('-'));
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_700_000_000), "20231114-221320");
        assert_eq!(timestamp(951_782_400), "20000229-000000"); // leap day
        assert_eq!(timestamp(1_795_275_000), "20261121-153000");
    }

    #[test]
    fn condenses_git_reasons() {
        let status = Command::new("false").status().expect("run false");
        let stderr = b"error: patch failed: a.txt:1\nerror: a.txt: patch does not apply\nhint: x\n";
        assert_eq!(
            reason(stderr, status),
            "patch failed: a.txt:1; a.txt: patch does not apply"
        );
        assert_eq!(reason(b"warning: odd\n", status), "warning: odd");
        assert!(reason(b"", status).starts_with("git exited with"));
    }

    #[test]
    fn refuses_foreign_worktrees() {
        let wt = |path: &str, branch: &str| Worktree {
            repo: "/r".into(),
            path: path.into(),
            branch: branch.into(),
            base: "0".repeat(40),
        };
        assert!(check_owned(&wt("/r/.worktrees/a-1", "quil/a-1")).is_ok());
        assert!(check_owned(&wt("/r/.worktrees/a-1", "main")).is_err());
        assert!(check_owned(&wt("/r", "quil/r")).is_err());
        assert!(check_owned(&wt("/r/.worktrees/a-1", "quil/b-1")).is_err());
        assert!(check_owned(&wt("/elsewhere/.worktrees/a-1", "quil/a-1")).is_err());
        assert!(check_owned(&wt("/r/.worktrees/", "quil/")).is_err());
    }
}
