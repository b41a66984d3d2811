//! Isolated panes in disposable git worktrees, through the real CLI, daemon and git.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A repo with one commit, a user's uncommitted edit and an untracked file.
fn repo(h: &Home) -> PathBuf {
    let r = h.dir.path().join("my repo");
    std::fs::create_dir(&r).unwrap();
    git(&r, &["-c", "init.defaultBranch=main", "init", "-q"]);
    std::fs::write(r.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(r.join("b.txt"), "bee\n").unwrap();
    git(&r, &["add", "."]);
    git(&r, &["commit", "-qm", "init"]);
    std::fs::write(r.join("b.txt"), "bee, edited by the user\n").unwrap();
    std::fs::write(r.join("notes.txt"), "user's untracked notes\n").unwrap();
    r
}

fn worktree_of(h: &Home, pane: &str) -> serde_json::Value {
    h.pane_json(pane)["worktree"].clone()
}

fn worktree_path(h: &Home, pane: &str) -> PathBuf {
    PathBuf::from(
        worktree_of(h, pane)["path"]
            .as_str()
            .expect("worktree path"),
    )
}

fn new_worktree_pane(h: &Home, r: &Path) -> String {
    let p = h.new_tab(&["--worktree", "--cwd", r.to_str().unwrap()]);
    h.wait_for(&p, PROMPT);
    p
}

#[test]
fn create_diff_keep() {
    let h = Home::new();
    let r = repo(&h);
    let head = git(&r, &["rev-parse", "HEAD"]).trim().to_string();
    let p = new_worktree_pane(&h, &r);
    let wt = worktree_of(&h, &p);
    let path = PathBuf::from(wt["path"].as_str().expect("worktree path"));
    let branch = wt["branch"].as_str().unwrap().to_string();
    assert!(
        path.starts_with(r.join(".worktrees")) && path.is_dir(),
        "{wt}"
    );
    assert!(branch.starts_with("quil/terminal-"), "{branch}");
    assert_eq!(wt["base"], head);
    assert!(git(&r, &["branch", "--list", &branch]).contains(&branch));
    let exclude = std::fs::read_to_string(r.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.matches(".worktrees/").count(), 1);
    assert!(!git(&r, &["status", "--porcelain"]).contains(".worktrees"));
    // The pane runs inside the worktree.
    assert_eq!(h.pane_json(&p)["cwd"], path.to_str().unwrap());
    h.send_line(&p, "pwd");
    h.wait_for(&p, &format!("^{}$", regex_escape(path.to_str().unwrap())));

    // The agent edits a file and adds one.
    h.send_line(
        &p,
        "sed -i s/two/TWO/ a.txt && echo fresh > new.txt && echo edited",
    );
    h.wait_for(&p, "^edited$");
    let diff = h.ok(&["worktree", "diff", "--pane", &p]);
    assert!(diff.contains("+TWO") && diff.contains("-two"), "{diff}");
    assert!(
        diff.contains("new.txt") && diff.contains("+fresh"),
        "new untracked files count: {diff}"
    );
    let stat = h.ok(&["worktree", "diff", "--pane", &p, "--stat"]);
    assert!(stat.contains("a.txt") && stat.contains("new.txt"), "{stat}");

    h.ok(&["worktree", "keep", "--pane", &p]);
    let staged = git(&r, &["diff", "--cached"]);
    assert!(
        staged.contains("+TWO") && staged.contains("+fresh"),
        "{staged}"
    );
    assert!(!path.exists(), "worktree removed");
    assert!(
        git(&r, &["branch", "--list", &branch]).trim().is_empty(),
        "branch removed"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("notes.txt")).unwrap(),
        "user's untracked notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("b.txt")).unwrap(),
        "bee, edited by the user\n"
    );
    assert!(
        !h.ls()["panes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == p),
        "pane closed"
    );
    // No stray temp or patch files in the repo.
    let status = git(&r, &["status", "--porcelain", "--untracked-files=all"]);
    for line in status.lines() {
        assert!(
            ["a.txt", "new.txt", "b.txt", "notes.txt"]
                .iter()
                .any(|f| line.ends_with(f)),
            "unexpected file: {line}\n{status}"
        );
    }
}

#[test]
fn discard_leaves_main_tree_untouched() {
    let h = Home::new();
    let r = repo(&h);
    let before = git(&r, &["status", "--porcelain"]);
    let p = new_worktree_pane(&h, &r);
    let wt = worktree_of(&h, &p);
    let path = PathBuf::from(wt["path"].as_str().unwrap());
    h.send_line(&p, "echo junk > a.txt && echo done-editing");
    h.wait_for(&p, "^done-editing$");
    h.ok(&["worktree", "discard", "--pane", &p]);
    assert!(!path.exists());
    assert!(git(&r, &["branch", "--list", "quil/*"]).trim().is_empty());
    assert_eq!(git(&r, &["status", "--porcelain"]), before);
    assert_eq!(
        std::fs::read_to_string(r.join("a.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
}

#[test]
fn a_pane_left_inside_blocks_keep_and_discard() {
    let h = Home::new();
    let r = repo(&h);
    let p = new_worktree_pane(&h, &r);
    let path = worktree_path(&h, &p);
    h.send_line(&p, "echo kept > k.txt && echo wrote-it");
    h.wait_for(&p, "^wrote-it$");
    // A split opens where the pane it splits is: inside the worktree.
    let other = h.split(&p, &["--vertical", "--", "bash", "--norc"]);
    for op in ["keep", "discard"] {
        let err = h.fails(&["worktree", op, "--pane", &p]);
        assert!(
            err.contains(&other) && err.contains("still in the worktree"),
            "{op}: {err}"
        );
        assert!(path.join("k.txt").exists(), "{op} touched the worktree");
        assert!(
            h.pane_json(&p)["alive"].as_bool().unwrap_or(false),
            "{op} closed the pane"
        );
    }
    // Once that pane leaves, keep goes through; a pane that exited inside does not count.
    let done = h.split(&p, &["--vertical", "--", "sh", "-c", "exit 3"]);
    eventually(
        "the short-lived pane to exit",
        Duration::from_secs(10),
        // Kept (it failed), and no longer running.
        || h.pane_json(&done)["alive"] == serde_json::json!(false),
    );
    h.send_line(
        &other,
        &format!("cd {:?} && echo left", r.to_str().unwrap()),
    );
    h.wait_for(&other, "^left$");
    h.ok(&["worktree", "keep", "--pane", &p]);
    assert!(!path.exists());
    assert!(git(&r, &["diff", "--cached", "--stat"]).contains("k.txt"));
}

#[test]
fn conflicting_keep_fails_and_changes_nothing() {
    let h = Home::new();
    let r = repo(&h);
    let p = new_worktree_pane(&h, &r);
    let path = worktree_path(&h, &p);
    h.send_line(&p, "sed -i s/two/agent/ a.txt && echo agent-done");
    h.wait_for(&p, "^agent-done$");
    // Meanwhile the user changes the same line in the main tree.
    std::fs::write(r.join("a.txt"), "one\nuser\nthree\n").unwrap();
    let index_before = std::fs::read(r.join(".git/index")).unwrap();
    let err = h.fails(&["worktree", "keep", "--pane", &p]);
    assert!(err.contains("a.txt"), "git's reason: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_to_string(r.join("a.txt")).unwrap(),
        "one\nuser\nthree\n"
    );
    assert_eq!(std::fs::read(r.join(".git/index")).unwrap(), index_before);
    assert!(path.is_dir(), "worktree kept");
    assert_eq!(
        std::fs::read_to_string(path.join("a.txt")).unwrap(),
        "one\nagent\nthree\n"
    );
    assert_eq!(h.pane_json(&p)["alive"], true, "the pane keeps running");
}

#[test]
fn worktree_survives_daemon_restart() {
    let h = Home::new();
    let r = repo(&h);
    let p = new_worktree_pane(&h, &r);
    let wt = worktree_of(&h, &p);
    h.ok(&["daemon", "stop"]);
    assert_eq!(worktree_of(&h, &p), wt);
    assert_eq!(h.pane_json(&p)["cwd"], wt["path"]);
    h.send_line(&p, "echo change > a.txt; echo ok-now");
    h.wait_for(&p, "^ok-now$");
    assert!(h
        .ok(&["worktree", "diff", "--pane", &p])
        .contains("+change"));
}

#[test]
fn two_isolated_panes_never_clobber_each_other() {
    let h = Home::new();
    let r = repo(&h);
    let a = new_worktree_pane(&h, &r);
    let b = h.split(
        &a,
        &["--vertical", "--worktree", "--cwd", r.to_str().unwrap()],
    );
    let (wa, wb) = (worktree_of(&h, &a), worktree_of(&h, &b));
    assert_ne!(wa["path"], wb["path"]);
    assert_ne!(wa["branch"], wb["branch"]);
    h.wait_for(&b, PROMPT);
    h.send_line(&a, "echo from-a > a-only.txt; echo a-done");
    h.send_line(&b, "echo from-b > b-only.txt; echo b-done");
    h.wait_for(&a, "^a-done$");
    h.wait_for(&b, "^b-done$");
    let da = h.ok(&["worktree", "diff", "--pane", &a]);
    assert!(
        da.contains("a-only.txt") && !da.contains("b-only.txt"),
        "{da}"
    );
    h.ok(&["worktree", "keep", "--pane", &a]);
    h.ok(&["worktree", "keep", "--pane", &b]);
    let staged = git(&r, &["diff", "--cached", "--stat"]);
    assert!(
        staged.contains("a-only.txt") && staged.contains("b-only.txt"),
        "{staged}"
    );
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let h = Home::new();
    let plain = h.dir.path().join("plain dir");
    std::fs::create_dir(&plain).unwrap();
    let err = h.fails(&["new-tab", "--worktree", "--cwd", plain.to_str().unwrap()]);
    assert!(
        err.contains("not inside a git repository") && err.contains("plain dir"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
    let p = h.new_tab(&[]);
    let err = h.fails(&["worktree", "diff", "--pane", &p]);
    assert!(err.contains(&format!("pane {p} has no worktree")), "{err}");
}
