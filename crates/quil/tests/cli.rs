//! The command line around the commands: closed pipes, completion scripts, the man page.

mod common;

use common::*;
use std::process::Command;

/// `bash -c SCRIPT` with the test's quil environment and `$Q` naming the quil binary.
fn bash(h: &Home, script: &str) -> std::process::Output {
    let q = h.cmd(&[]);
    let mut c = Command::new("bash");
    c.arg("-c").arg(script).env("Q", QUIL);
    for (k, v) in q.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(h.user_home());
    c.output().expect("run bash")
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let h = Home::new();
    let p = h.new_tab(&[]);
    h.wait_for(&p, PROMPT);
    h.send_line(&p, "seq 1 3000");
    h.wait_for(&p, "^3000$");
    // The reader is gone before quil writes a byte: every write meets a closed pipe.
    for cmd in [
        format!("$Q capture --pane {p} --scrollback 3000"),
        "$Q ls".to_string(),
        "$Q ls --json".to_string(),
        "$Q completions bash".to_string(),
        "$Q man".to_string(),
    ] {
        let out = bash(
            &h,
            &format!("set -o pipefail; {{ sleep 0.3; {cmd}; }} | true; echo rc=$?"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "{cmd}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rc=0", "{cmd}");
    }
    // And `| head -1` prints the first line only.
    let out = bash(
        &h,
        &format!("$Q capture --pane {p} --scrollback 3000 | head -1"),
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

/// Runs bash completion for the words of `line` (the last one being completed) and returns
/// what it offers.
fn complete(h: &Home, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source <($Q completions bash) || exit 9\n\
         COMP_WORDS=(\"$Q\" {words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _quil_dynamic \"$Q\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" 2>/dev/null\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len(),
    );
    let out = bash(h, &script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_options_and_live_ids() {
    let h = Home::new();
    // Subcommands and options come from the CLI definition; no daemon is needed (or started).
    let subs = complete(&h, &["new-"]);
    assert_eq!(subs, ["new-tab"], "{subs:?}");
    let opts = complete(&h, &["split", "--hor"]);
    assert_eq!(opts, ["--horizontal"], "{opts:?}");
    assert!(complete(&h, &["select-pane", "--pane", ""]).is_empty());
    assert!(h.daemon_pid().is_none(), "completion started a daemon");

    let p1 = h.new_tab(&["--name", "work"]);
    let p2 = h.split(&p1, &["--vertical"]);
    let mut panes = complete(&h, &["select-pane", "--pane", ""]);
    panes.sort();
    let mut want = vec![p1.clone(), p2.clone()];
    want.sort();
    assert_eq!(panes, want);
    assert_eq!(complete(&h, &["kill-pane", "pane-"]).len(), 2);
    let tab = h.ls()["tabs"][0]["id"].as_str().unwrap().to_string();
    let mut tabs = complete(&h, &["select-tab", ""]);
    tabs.sort();
    assert_eq!(tabs, {
        let mut v = vec![tab, "work".to_string()];
        v.sort();
        v
    });
    assert_eq!(complete(&h, &["rename-tab", "wo"]), ["work"]);
}

#[test]
fn zsh_and_fish_scripts_and_the_man_page_are_generated() {
    let h = Home::new();
    let zsh = h.ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef quil\n"), "{}", &zsh[..40]);
    assert!(zsh.contains("'--pane=[]:PANE:_quil_panes'"));
    assert!(zsh.contains("':tab:_quil_tabs'"));
    let fish = h.ok(&["completions", "fish"]);
    assert!(fish.contains("complete -c quil -l pane -l with -l to -x -a '(quil __complete panes"));
    assert!(fish.contains("new-tab"));
    let man = h.ok(&["man"]);
    assert!(man.contains(".TH quil 1"), "{}", &man[..200]);
    for sub in ["new\\-tab", "capture", "completions", "select\\-tab"] {
        assert!(man.contains(sub), "man page lacks {sub}");
    }
    assert!(!man.contains("__complete"));
    assert!(h.fails(&["completions", "tcsh"]).contains("tcsh"));
}
