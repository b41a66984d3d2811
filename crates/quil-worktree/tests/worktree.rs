//! End-to-end tests against real temporary repositories and the real `git` binary.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use quil_worktree::{create, diff, discard, keep, repo_root, Worktree, WorktreeError};
use tempfile::TempDir;

/// Isolates git from the machine's configuration, once per test process (every test calls it
/// before running anything, so no thread reads the environment while it is being set).
fn isolate_git() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An empty home inside cargo's target dir: no user config, nothing left in /tmp.
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quil-worktree-home");
        fs::create_dir_all(&home).expect("test home");
        let vars = [
            ("HOME", home.as_os_str()),
            ("XDG_CONFIG_HOME", home.as_os_str()),
            ("GIT_CONFIG_NOSYSTEM", "1".as_ref()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".as_ref()),
            ("GIT_AUTHOR_NAME", "Test".as_ref()),
            ("GIT_AUTHOR_EMAIL", "test@example.invalid".as_ref()),
            ("GIT_COMMITTER_NAME", "Test".as_ref()),
            ("GIT_COMMITTER_EMAIL", "test@example.invalid".as_ref()),
        ];
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        for k in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"] {
            std::env::remove_var(k);
        }
    });
}

/// Runs git in `dir`, panicking on failure; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 git output")
}

struct Repo {
    _tmp: TempDir,
    root: PathBuf,
}

impl Repo {
    /// A repository with one commit, at `<tmp>/<name>`.
    fn new_named(name: &str) -> Repo {
        isolate_git();
        let tmp = tempfile::Builder::new()
            .prefix("quil-worktree-test-")
            .tempdir()
            .expect("tempdir");
        let root = tmp.path().join(name);
        fs::create_dir(&root).expect("mkdir repo");
        let root = fs::canonicalize(&root).expect("canonicalize");
        git(&root, &["-c", "init.defaultBranch=main", "init", "-q"]);
        fs::write(root.join("a.txt"), "one\ntwo\nthree\n").expect("write");
        fs::write(root.join("b.txt"), "bee\n").expect("write");
        fs::write(root.join(".gitignore"), "*.log\n").expect("write");
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "initial"]);
        Repo { _tmp: tmp, root }
    }

    fn new() -> Repo {
        Repo::new_named("repo")
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.root, args)
    }

    fn status(&self) -> String {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn branches(&self) -> String {
        self.git(&["branch", "--list", "--format=%(refname:short)"])
    }

    fn write(&self, rel: &str, text: &str) {
        fs::write(self.root.join(rel), text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).expect("read")
    }

    fn exclude(&self) -> String {
        fs::read_to_string(self.root.join(".git/info/exclude")).unwrap_or_default()
    }
}

fn wt_write(wt: &Worktree, rel: &str, text: &str) {
    fs::write(wt.path.join(rel), text).expect("write in worktree");
}

/// The bytes of the worktree's own index file.
fn index_bytes(wt: &Worktree) -> Vec<u8> {
    let path = git(
        &wt.path,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    );
    fs::read(path.trim()).expect("read index")
}

/// Every file under `dir` except git's object store and logs, relative to `dir`.
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(base).expect("prefix").to_owned();
            if rel.starts_with(".git/objects") || rel.starts_with(".git/logs") {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn create_makes_worktree_branch_and_exclude() {
    let repo = Repo::new();
    let wt = create(&repo.root, "Claude Code").expect("create");
    assert_eq!(wt.repo, repo.root);
    assert!(wt.path.is_dir());
    assert!(wt.path.join("a.txt").is_file());
    assert_eq!(
        wt.path.parent(),
        Some(repo.root.join(".worktrees").as_path())
    );
    let name = wt.path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("claude-code-"), "{name}");
    assert_eq!(wt.branch, format!("quil/{name}"));
    assert!(repo.branches().lines().any(|b| b == wt.branch));
    assert_eq!(wt.base, repo.head());
    assert_eq!(wt.base.len(), 40);
    assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]).trim(), wt.base);
    assert_eq!(
        git(&wt.path, &["branch", "--show-current"]).trim(),
        wt.branch
    );

    // Created in the same second: a different name, no clobbering.
    let wt2 = create(&repo.root, "Claude Code").expect("create again");
    assert_ne!(wt2.path, wt.path);
    assert_ne!(wt2.branch, wt.branch);
    assert!(wt.path.is_dir() && wt2.path.is_dir());

    assert_eq!(repo.exclude().matches(".worktrees/").count(), 1);
    assert_eq!(repo.status(), "", "main tree must stay clean");

    // Round-trips through JSON, as the daemon persists it.
    let json = serde_json::to_string(&wt).expect("serialize");
    assert_eq!(
        serde_json::from_str::<Worktree>(&json).expect("deserialize"),
        wt
    );
}

#[test]
fn exclude_handles_missing_info_dir_and_missing_newline() {
    let repo = Repo::new();
    let info = repo.root.join(".git/info");
    fs::remove_dir_all(&info).expect("rm info");
    create(&repo.root, "x").expect("create without info dir");
    assert_eq!(repo.exclude().matches(".worktrees/").count(), 1);

    fs::write(info.join("exclude"), "*.tmp").expect("write exclude");
    create(&repo.root, "x").expect("create");
    create(&repo.root, "x").expect("create");
    let exclude = repo.exclude();
    assert!(exclude.starts_with("*.tmp\n"), "{exclude:?}");
    assert_eq!(exclude.lines().filter(|l| *l == ".worktrees/").count(), 1);
    assert_eq!(repo.status(), "");
}

#[test]
fn create_from_inside_a_worktree_uses_the_main_tree() {
    let repo = Repo::new();
    let first = create(&repo.root, "a").expect("create");
    fs::create_dir(first.path.join("sub")).expect("mkdir");
    assert_eq!(repo_root(&first.path.join("sub")).expect("root"), repo.root);
    let second = create(&first.path.join("sub"), "b").expect("create from worktree");
    assert_eq!(second.repo, repo.root);
    assert_eq!(second.path.parent(), first.path.parent());
    assert_eq!(repo.exclude().matches(".worktrees/").count(), 1);
    assert_eq!(repo.status(), "");
    assert_eq!(git(&first.path, &["status", "--porcelain"]), "");
}

#[test]
fn unborn_head_is_a_clear_error() {
    isolate_git();
    let tmp = TempDir::new().expect("tempdir");
    git(tmp.path(), &["-c", "init.defaultBranch=main", "init", "-q"]);
    let err = create(tmp.path(), "x").expect_err("no commits");
    assert!(matches!(err, WorktreeError::NoCommits { .. }), "{err:?}");
    assert!(err.to_string().contains("no commits"), "{err}");
}

#[test]
fn not_a_repo_names_the_directory() {
    isolate_git();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("plain dir");
    fs::create_dir(&dir).expect("mkdir");
    let err = repo_root(&dir).expect_err("not a repo");
    assert!(matches!(err, WorktreeError::NotARepo { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{} is not inside a git repository", dir.display())
    );
    let err = create(&dir, "x").expect_err("not a repo");
    assert!(err.to_string().contains("plain dir"), "{err}");

    let missing = tmp.path().join("missing");
    let err = repo_root(&missing).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn diff_shows_edits_and_new_files_without_touching_the_index() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    assert_eq!(diff(&wt, false).expect("diff"), "");

    wt_write(&wt, "a.txt", "one\nTWO\nthree\n");
    let d = diff(&wt, false).expect("diff");
    assert!(d.contains("-two\n+TWO"), "{d}");

    wt_write(&wt, "new file.txt", "brand new content\n");
    wt_write(&wt, "noise.log", "ignored\n");
    fs::remove_file(wt.path.join("b.txt")).expect("rm");
    let status_before = git(&wt.path, &["status", "--porcelain"]);
    let index_before = index_bytes(&wt);

    let d = diff(&wt, false).expect("diff");
    assert!(d.contains("+brand new content"), "{d}");
    assert!(d.contains("new file.txt"), "{d}");
    assert!(d.contains("deleted file mode"), "{d}");
    assert!(
        !d.contains("ignored"),
        "ignored files must not be in the diff: {d}"
    );

    let stat = diff(&wt, true).expect("stat");
    for f in ["a.txt", "b.txt", "new file.txt"] {
        assert!(stat.contains(f), "{stat}");
    }
    assert!(stat.contains("3 files changed"), "{stat}");

    assert_eq!(git(&wt.path, &["status", "--porcelain"]), status_before);
    let index_after = index_bytes(&wt);
    assert_eq!(
        index_after, index_before,
        "diff must not touch the real index"
    );
    assert_eq!(repo.status(), "");
}

#[test]
fn diff_includes_commits_on_the_worktree_branch() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    wt_write(&wt, "committed.txt", "from a commit\n");
    git(&wt.path, &["add", "committed.txt"]);
    git(&wt.path, &["commit", "-q", "-m", "agent work"]);
    wt_write(&wt, "staged.txt", "staged only\n");
    git(&wt.path, &["add", "staged.txt"]);
    wt_write(&wt, "a.txt", "one\ntwo\nthree\nfour\n");

    let d = diff(&wt, false).expect("diff");
    assert!(d.contains("+from a commit"), "{d}");
    assert!(d.contains("+staged only"), "{d}");
    assert!(d.contains("+four"), "{d}");

    keep(&wt).expect("keep");
    assert_eq!(repo.read("committed.txt"), "from a commit\n");
    assert_eq!(repo.read("staged.txt"), "staged only\n");
    assert_eq!(repo.read("a.txt"), "one\ntwo\nthree\nfour\n");
    assert_eq!(repo.head(), wt.base, "keep stages; it never commits");
}

#[test]
fn keep_stages_the_changes_and_removes_the_worktree() {
    let repo = Repo::new();
    // The user's own uncommitted work, which must survive untouched.
    repo.write("b.txt", "bee, edited by the user\n");
    repo.write("user-notes.txt", "untracked user file\n");
    let status_before = repo.status();

    let wt = create(&repo.root, "agent").expect("create");
    // Snapshot after create so `info/exclude` is already in place.
    let files_before = files(&repo.root);
    wt_write(&wt, "a.txt", "one\nTWO\nthree\n");
    wt_write(&wt, "added.txt", "added by the agent\n");
    fs::write(wt.path.join("blob.bin"), [0u8, 159, 146, 150, 0, 1, 2]).expect("binary");
    let before = diff(&wt, false).expect("diff");

    keep(&wt).expect("keep");

    assert!(!wt.path.exists(), "worktree dir must be gone");
    assert!(!repo.branches().contains(&wt.branch), "branch must be gone");
    assert!(!git(&repo.root, &["worktree", "list"]).contains(".worktrees"));

    let cached = repo.git(&["diff", "--cached", "--binary"]);
    assert_eq!(cached, before, "exactly the worktree's diff is staged");
    assert!(cached.contains("+TWO"), "{cached}");
    assert!(cached.contains("+added by the agent"), "{cached}");
    assert_eq!(repo.read("a.txt"), "one\nTWO\nthree\n");
    assert_eq!(
        fs::read(repo.root.join("blob.bin")).expect("read"),
        [0u8, 159, 146, 150, 0, 1, 2]
    );

    // The user's work is untouched, and still unstaged / untracked.
    assert_eq!(repo.read("b.txt"), "bee, edited by the user\n");
    assert_eq!(repo.read("user-notes.txt"), "untracked user file\n");
    let status = repo.status();
    for line in status_before.lines() {
        assert!(status.lines().any(|l| l == line), "{line:?} lost: {status}");
    }
    assert!(status.lines().any(|l| l == "M  a.txt"), "{status}");
    assert!(status.lines().any(|l| l == "A  added.txt"), "{status}");

    // Nothing left behind: the only new files are the kept ones.
    let files_after = files(&repo.root);
    let added: Vec<_> = files_after.difference(&files_before).collect();
    assert_eq!(
        added,
        [&PathBuf::from("added.txt"), &PathBuf::from("blob.bin")],
        "unexpected new files"
    );
    for gone in files_before.difference(&files_after) {
        assert!(
            gone.starts_with(".worktrees")
                || gone.starts_with(".git/worktrees")
                || gone.starts_with(".git/refs/heads/quil"),
            "{gone:?} vanished"
        );
    }
}

#[test]
fn keep_with_no_changes_still_removes_the_worktree() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    keep(&wt).expect("keep");
    assert!(!wt.path.exists());
    assert!(!repo.branches().contains(&wt.branch));
    assert_eq!(repo.status(), "");
}

#[test]
fn discard_removes_a_dirty_worktree_and_leaves_main_alone() {
    let repo = Repo::new();
    repo.write("a.txt", "user edit\n");
    repo.write("mine.txt", "mine\n");
    let status_before = repo.status();

    let wt = create(&repo.root, "agent").expect("create");
    wt_write(&wt, "a.txt", "agent edit\n");
    wt_write(&wt, "junk.txt", "junk\n");
    wt_write(&wt, "junk.log", "ignored junk\n");
    git(&wt.path, &["add", "junk.txt"]);

    discard(&wt).expect("discard");
    assert!(!wt.path.exists());
    assert!(!repo.branches().contains(&wt.branch));
    assert_eq!(repo.read("a.txt"), "user edit\n");
    assert_eq!(repo.status(), status_before);
    assert_eq!(repo.git(&["diff", "--cached"]), "");

    // Idempotent: a second discard (or one after the directory was deleted) succeeds.
    discard(&wt).expect("discard again");
}

#[test]
fn discard_after_the_directory_was_deleted_by_hand() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    fs::remove_dir_all(&wt.path).expect("rm -rf");
    discard(&wt).expect("discard");
    assert!(!repo.branches().contains(&wt.branch));
    assert!(matches!(
        diff(&wt, false),
        Err(WorktreeError::Missing { .. })
    ));
}

#[test]
fn conflicting_keep_fails_and_changes_nothing() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    wt_write(&wt, "a.txt", "one\nagent's two\nthree\n");
    wt_write(&wt, "agent-new.txt", "new\n");

    // The user edits the same line, uncommitted.
    repo.write("a.txt", "one\nuser's two\nthree\n");
    let user_bytes = fs::read(repo.root.join("a.txt")).expect("read");
    let index_bytes = fs::read(repo.root.join(".git/index")).expect("read index");
    let files_before = files(&repo.root);
    let wt_status = git(&wt.path, &["status", "--porcelain"]);

    let err = keep(&wt).expect_err("must conflict");
    assert!(matches!(err, WorktreeError::DoesNotApply { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&wt.branch), "{msg}");
    assert!(msg.contains("a.txt"), "git's reason names the file: {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");

    assert_eq!(fs::read(repo.root.join("a.txt")).expect("read"), user_bytes);
    assert_eq!(
        fs::read(repo.root.join(".git/index")).expect("read index"),
        index_bytes
    );
    assert_eq!(files(&repo.root), files_before, "no partial application");
    assert!(!repo.root.join("agent-new.txt").exists());
    assert!(wt.path.is_dir(), "worktree kept");
    assert!(repo.branches().contains(&wt.branch), "branch kept");
    assert_eq!(git(&wt.path, &["status", "--porcelain"]), wt_status);
}

#[test]
fn keep_fails_cleanly_when_main_committed_the_same_lines() {
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    wt_write(&wt, "a.txt", "one\nagent\nthree\n");
    repo.write("a.txt", "one\nmain\nthree\n");
    repo.git(&["commit", "-q", "-am", "main moved on"]);
    let head = repo.head();

    let err = keep(&wt).expect_err("must not apply");
    assert!(err.to_string().contains("patch does not apply"), "{err}");
    assert_eq!(repo.read("a.txt"), "one\nmain\nthree\n");
    assert_eq!(repo.status(), "");
    assert_eq!(repo.head(), head);
    assert!(wt.path.is_dir());

    discard(&wt).expect("discard");
    assert_eq!(repo.status(), "");
}

#[test]
fn two_worktrees_keep_in_sequence() {
    let repo = Repo::new();
    let first = create(&repo.root, "agent").expect("create");
    let second = create(&repo.root, "agent").expect("create");
    assert_ne!(first.path, second.path);

    wt_write(&first, "a.txt", "ONE\ntwo\nthree\n");
    wt_write(&first, "first.txt", "first\n");
    wt_write(&second, "b.txt", "BEE\n");
    wt_write(&second, "second.txt", "second\n");
    // Neither sees the other's work.
    assert!(!diff(&first, false).expect("diff").contains("second"));
    assert!(!diff(&second, false).expect("diff").contains("first"));

    keep(&first).expect("keep first");
    assert!(second.path.is_dir(), "keeping one leaves the other alone");
    keep(&second).expect("keep second");

    assert_eq!(repo.read("a.txt"), "ONE\ntwo\nthree\n");
    assert_eq!(repo.read("b.txt"), "BEE\n");
    let status = repo.status();
    for line in ["M  a.txt", "M  b.txt", "A  first.txt", "A  second.txt"] {
        assert!(status.lines().any(|l| l == line), "{line}: {status}");
    }
    assert!(!repo.branches().contains("quil/"));
}

#[test]
fn paths_with_spaces_work() {
    let repo = Repo::new_named("my repo with spaces");
    let wt = create(&repo.root.join(".git/.."), "my agent").expect("create");
    assert!(wt.repo.to_string_lossy().contains("my repo with spaces"));
    wt_write(&wt, "spaced name.txt", "hello\n");
    assert!(diff(&wt, true).expect("stat").contains("spaced name.txt"));
    keep(&wt).expect("keep");
    assert_eq!(repo.read("spaced name.txt"), "hello\n");
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "spaced name.txt\n"
    );
}

#[test]
fn refuses_to_delete_branches_it_did_not_create() {
    let repo = Repo::new();
    let mut wt = create(&repo.root, "agent").expect("create");
    wt.branch = "main".into();
    let err = discard(&wt).expect_err("not ours");
    assert!(matches!(err, WorktreeError::NotOurs { .. }), "{err:?}");
    assert!(repo.branches().lines().any(|b| b == "main"));
}

#[test]
fn concurrent_creates_never_collide() {
    let repo = Repo::new();
    let made: Vec<Worktree> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| create(&repo.root, "agent")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("create"))
            .collect()
    });
    let paths: BTreeSet<_> = made.iter().map(|w| w.path.clone()).collect();
    let branches: BTreeSet<_> = made.iter().map(|w| w.branch.clone()).collect();
    assert_eq!(paths.len(), 8);
    assert_eq!(branches.len(), 8);
    assert_eq!(repo.exclude().matches(".worktrees/").count(), 1);
    assert_eq!(repo.status(), "");
    for wt in &made {
        discard(wt).expect("discard");
    }
    assert!(!repo.branches().contains("quil/"));
}

#[cfg(unix)]
#[test]
fn keep_carries_empty_files_modes_symlinks_and_deletions() {
    use std::os::unix::fs::PermissionsExt;
    let repo = Repo::new();
    let wt = create(&repo.root, "agent").expect("create");
    fs::create_dir_all(wt.path.join("deep/er")).expect("mkdir");
    wt_write(&wt, "deep/er/empty", "");
    fs::set_permissions(wt.path.join("b.txt"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("a.txt", wt.path.join("link")).expect("symlink");
    fs::remove_file(wt.path.join(".gitignore")).expect("rm");

    keep(&wt).expect("keep");
    assert!(repo.root.join("deep/er/empty").is_file());
    let mode = fs::metadata(repo.root.join("b.txt"))
        .expect("stat")
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "exec bit kept");
    assert_eq!(
        fs::read_link(repo.root.join("link")).expect("readlink"),
        PathBuf::from("a.txt")
    );
    assert!(!repo.root.join(".gitignore").exists());
    let status = repo.status();
    for line in ["A  deep/er/empty", "M  b.txt", "A  link", "D  .gitignore"] {
        assert!(status.lines().any(|l| l == line), "{line}: {status}");
    }
}

#[test]
fn concurrent_creates_and_discards_never_trip_over_each_other() {
    // git reads every worktree's admin files while it adds or removes one; without one change at
    // a time this failed about one run in ten ("failed to read .git/worktrees/<name>/commondir").
    let repo = Repo::new();
    let old: Vec<Worktree> = (0..8)
        .map(|_| create(&repo.root, "agent").expect("create"))
        .collect();
    let new: Vec<Worktree> = std::thread::scope(|s| {
        let discards: Vec<_> = old.iter().map(|wt| s.spawn(move || discard(wt))).collect();
        let creates: Vec<_> = (0..8)
            .map(|_| s.spawn(|| create(&repo.root, "agent")))
            .collect();
        for h in discards {
            h.join().expect("thread").expect("discard");
        }
        creates
            .into_iter()
            .map(|h| h.join().expect("thread").expect("create"))
            .collect()
    });
    // Names of discarded worktrees may be taken again, but never twice at once.
    let paths: BTreeSet<_> = new.iter().map(|w| w.path.clone()).collect();
    assert_eq!(paths.len(), 8);
    for wt in &new {
        assert!(
            wt.path.join("a.txt").is_file(),
            "{} has no files",
            wt.path.display()
        );
    }
    std::thread::scope(|s| {
        for wt in &new {
            s.spawn(move || discard(wt).expect("discard"));
        }
    });
    assert!(!repo.branches().contains("quil/"));
    assert_eq!(repo.status(), "");
}
