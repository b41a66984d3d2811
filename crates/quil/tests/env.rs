//! Pane environments: taken from the client that asked for the pane (its PATH, locale, agent
//! socket), never the outer multiplexer's variables, and `TERM_PROGRAM=quil`.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A pane type whose program, `quiltool`, is only in a directory added to PATH later.
const TOOL: &str = r#"
[plugin]
name = "tool"
display_name = "Tool"
category = "tools"
description = "Only on the new PATH"
schema_version = 1

[command]
cmd = "quiltool"
"#;

#[test]
fn panes_see_the_clients_path_and_no_outer_multiplexer() {
    let h = Home::new();
    let base = "/usr/local/bin:/usr/bin:/bin";
    // The daemon starts inside "tmux" and "screen", with the old PATH.
    let out = h
        .cmd(&["daemon", "start"])
        .env("PATH", base)
        .env("TMUX", "/tmp/tmux-0/default,1,0")
        .env("TMUX_PANE", "%3")
        .env("STY", "123.pts-0.host")
        .env("TERM_PROGRAM", "tmux")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(h.path().join("plugins/tool.toml"), TOOL).unwrap();
    eventually("the tool type", Duration::from_secs(2), || {
        h.ok(&["plugin", "list"]).contains("tool")
    });

    // A command from a client whose PATH lacks the tool.
    let from_base = |args: &[&str]| h.cmd(args).env("PATH", base).output().unwrap();
    // Not installed yet: the error names the PATH that was searched (the client's).
    let out = from_base(&["new-tab", "--type", "tool"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("`quiltool` not found on PATH={base}")),
        "{err}"
    );

    // "Installed" in a new directory, and the user's shell now has it on PATH.
    let bin = h.dir.path().join("newbin");
    std::fs::create_dir(&bin).unwrap();
    let tool = bin.join("quiltool");
    std::fs::write(&tool, "#!/bin/sh\necho tool-ran; exec bash --norc\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{base}", bin.display());
    let new_tab = |args: &[&str]| {
        let out = h
            .cmd(args)
            .env("PATH", &path)
            .env("LC_TIME", "C.UTF-8")
            .env("TMUX", "/tmp/tmux-0/other,2,0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // `plugin list` (and the TUI's picker) look on the asking client's PATH too.
    let tool_available = |path: &str| {
        let out = h
            .cmd(&["plugin", "list", "--json"])
            .env("PATH", path)
            .output()
            .unwrap();
        let types: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        types
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "tool")
            .map(|t| t["available"] == true)
            .unwrap()
    };
    assert!(tool_available(&path));
    assert!(!tool_available(base));
    let t = new_tab(&["new-tab", "--type", "tool"]);
    h.wait_for(&t, "^tool-ran$");
    // A PATH given to the pane itself is where its program is looked for, whatever the
    // client's (a remote daemon's ssh PATH often lacks ~/.local/bin).
    let out = from_base(&["new-tab", "--type", "tool", "-e", &format!("PATH={path}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.wait_for(String::from_utf8_lossy(&out.stdout).trim(), "^tool-ran$");

    // A shell started from that client sees its PATH and locale, and no tmux or screen.
    let p = new_tab(&["new-tab"]);
    h.wait_for(&p, PROMPT);
    h.send_line(
        &p,
        "echo \"P=$PATH\"; echo \"L=$LC_TIME\"; echo \"T=$TERM_PROGRAM V=${TERM_PROGRAM_VERSION:+set}\"; \
         env | grep -c -E '^(TMUX|TMUX_PANE|STY)=' ",
    );
    h.wait_for(&p, &format!("^P={}$", regex_escape(&path)));
    h.wait_for(&p, "^L=C.UTF-8$");
    h.wait_for(&p, "^T=quil V=set$");
    h.wait_for(&p, "^0$");
    // A split from that client too; and a respawn keeps the environment it was created with.
    let s = h.split(&p, &["--vertical"]);
    h.wait_for(&s, PROMPT);
    h.ok(&["respawn", "--pane", &t]);
    h.wait_for(&t, "^tool-ran$");
}

/// `-e VAR=VALUE` (tmux's `new-window -e`) sets a variable for the pane's program, on new tabs
/// and splits, and the pane keeps it: the program started again after `quil restart` has it.
#[test]
fn env_flag_sets_a_variable_that_survives_a_restart() {
    let h = Home::new();
    let p = h.new_tab(&[
        "-e",
        "QUIL_T=hello",
        "--env",
        "QUIL_U=two words",
        "--",
        "sh",
        "-c",
        "echo \"got-$QUIL_T-$QUIL_U\"; exec sh",
    ]);
    h.wait_for(&p, "^got-hello-two words$");
    let s = h.split(&p, &["--vertical", "-e", "QUIL_S=split"]);
    h.wait_for(&s, PROMPT);
    h.send_line(&s, "echo \"s-$QUIL_S\"");
    h.wait_for(&s, "^s-split$");

    h.ok(&["restart", "--fresh"]);
    // Typed into the program the new daemon started, so not part of the restored screen.
    h.wait_for(&p, PROMPT);
    h.send_line(&p, "echo \"again-$QUIL_T\"");
    h.wait_for(&p, "^again-hello$");
    h.wait_for(&s, PROMPT);
    h.send_line(&s, "echo \"again-$QUIL_S\"");
    h.wait_for(&s, "^again-split$");

    // Bad entries are refused with one line naming them, and open nothing.
    let before = pane_ids(&h.ls()).len();
    for (arg, why) in [
        ("FOO", "--env \"FOO\" is not VAR=VALUE"),
        ("=x", "--env \"=x\" has an empty variable name"),
    ] {
        let err = h.fails(&["new-tab", "-e", arg]);
        assert_eq!(err.trim(), format!("quil: {why}"), "{arg}");
        let err = h.fails(&["split", "--pane", &p, "--vertical", "--env", arg]);
        assert_eq!(err.trim(), format!("quil: {why}"), "{arg}");
    }
    assert_eq!(pane_ids(&h.ls()).len(), before);
}
