//! Pane types as TOML plugins, through the real daemon: defaults, hot reload, validation,
//! spawning with args and env, remembered toggles, resume strategies.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn plugin_dir(h: &Home) -> PathBuf {
    h.path().join("plugins")
}

/// `quil plugin list --json`.
fn plugin_types(h: &Home) -> serde_json::Value {
    serde_json::from_str(&h.ok(&["plugin", "list", "--json"])).unwrap()
}

fn listed(h: &Home, name: &str) -> bool {
    plugin_types(h)
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == name)
}

/// The pane's argv as `quil ls --json` reports it.
fn pane_argv(h: &Home, pane: &str) -> Vec<String> {
    serde_json::from_value(h.pane_json(pane)["argv"].clone()).unwrap()
}

const GREETER: &str = r#"
[plugin]
name = "greeter"
display_name = "Greeter"
category = "tools"
description = "Prints a greeting"
schema_version = 1

[command]
cmd = "sh"
args = ["-c", "echo hello $WHO from {pane_id} in {cwd}; exec sleep 600"]
env = ["WHO=plugin-env"]

[persistence]
strategy = "rerun"
"#;

#[test]
fn defaults_are_listed_with_source_and_availability() {
    let h = Home::new();
    let types = plugin_types(&h);
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for want in [
        "terminal",
        "claude-code",
        "codex",
        "gemini",
        "opencode",
        "ssh",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let term = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "terminal")
        .unwrap();
    assert_eq!(term["available"], true);
    assert_eq!(
        term["source"],
        plugin_dir(&h).join("terminal.toml").display().to_string()
    );
    assert!(
        plugin_dir(&h).join("opencode.toml").exists(),
        "defaults written on first run"
    );
    let text = h.ok(&["plugin", "list"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("terminal") && l.contains("available")),
        "{text}"
    );
}

#[test]
fn new_plugin_file_hot_reload_spawn_typo_and_delete() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let file = plugin_dir(&h).join("greeter.toml");
    std::fs::write(&file, GREETER).unwrap();
    // 1-2: it appears within a second, without a restart.
    eventually("greeter to be listed", Duration::from_secs(1), || {
        listed(&h, "greeter")
    });
    // 3: it runs with its args and env.
    let p = h.new_tab(&["--type", "greeter"]);
    let cwd = h.user_home().display().to_string();
    h.wait_for(
        &p,
        &format!("^hello plugin-env from {p} in {}$", regex_escape(&cwd)),
    );
    assert_eq!(h.pane_json(&p)["type"], "greeter");
    // 4: a typo is reported with file:line and a suggestion; the type goes away, the rest stays.
    std::fs::write(&file, GREETER.replace("display_name", "dispaly_name")).unwrap();
    let out = h.run(&["plugin", "validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:1", file.display())), "{err}");
    assert!(
        err.contains("dispaly_name") && err.contains("did you mean `display_name`?"),
        "{err}"
    );
    eventually(
        "the broken greeter to be skipped",
        Duration::from_secs(1),
        || !listed(&h, "greeter"),
    );
    let log = h.log();
    assert!(log.contains("did you mean `display_name`?"), "{log}");
    assert!(listed(&h, "terminal"));
    // Asking for the broken type names its file and first error, not just "unknown".
    let err = h.fails(&["new-tab", "--type", "greeter"]);
    assert!(
        err.contains("pane type \"greeter\" did not load")
            && err.contains(&format!("{}:4:1", file.display()))
            && err.contains("dispaly_name"),
        "{err}"
    );
    // Fixed again, then deleted: 5: deleting the file removes the type.
    std::fs::write(&file, GREETER).unwrap();
    eventually("greeter back", Duration::from_secs(1), || {
        listed(&h, "greeter")
    });
    std::fs::remove_file(&file).unwrap();
    eventually("greeter gone", Duration::from_secs(1), || {
        !listed(&h, "greeter")
    });
    let err = h.fails(&["new-tab", "--type", "greeter"]);
    assert!(err.contains("unknown pane type \"greeter\""), "{err}");
    // 6: the daemon never stopped, and the running greeter pane kept its definition.
    assert_eq!(h.run(&["daemon", "status"]).status.code(), Some(0));
    assert_eq!(h.pane_json(&p)["alive"], true);
}

#[test]
fn a_default_type_is_turned_off_and_on_with_enabled() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let file = plugin_dir(&h).join("ssh.toml");
    let original = std::fs::read_to_string(&file).expect("the default is installed");
    assert!(listed(&h, "ssh"));
    std::fs::write(
        &file,
        original.replacen("[plugin]\n", "[plugin]\nenabled = false\n", 1),
    )
    .unwrap();
    eventually("ssh to be hidden", Duration::from_secs(1), || {
        !listed(&h, "ssh")
    });
    let err = h.fails(&["new-tab", "--type", "ssh"]);
    assert!(err.contains("unknown pane type \"ssh\""), "{err}");
    // Valid as written, and the daemon keeps the file as the user left it.
    h.ok(&["plugin", "validate", file.to_str().unwrap()]);
    h.ok(&["daemon", "stop"]);
    h.ok(&["daemon", "start"]);
    assert!(!listed(&h, "ssh"), "still off after a restart");
    std::fs::write(&file, &original).unwrap();
    eventually("ssh back", Duration::from_secs(1), || listed(&h, "ssh"));
}

#[test]
fn validate_defaults_and_broken_files() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let out = h.ok(&["plugin", "validate"]);
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(": ok (terminal)") || l.contains(": ok ("))
            .count(),
        6,
        "{out}"
    );
    let bad = h.dir.path().join("bad.toml");
    std::fs::write(&bad, "[plugin]\nname = \"x\"\ncategory = \"weird\"\n").unwrap();
    let out = h.run(&["plugin", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("weird"),
        "{err}"
    );
}

#[test]
fn missing_binary_names_it_and_the_homepage() {
    let h = Home::new();
    // The first command starts the daemon, whose PATH decides availability; leave out any
    // AI CLIs the test machine has installed.
    let out = h
        .cmd(&["new-tab", "--type", "opencode"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "opencode should not be found on a PATH of /usr/bin:/bin"
    );
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("`opencode` not found on PATH") && msg.contains("https://opencode.ai"),
        "{msg}"
    );
}

const AGENT: &str = r#"
[plugin]
name = "agent"
display_name = "Fake agent"
category = "ai"
description = "Echoes its arguments"
schema_version = 1

[command]
cmd = "sh"
args = ["-c", "echo agent-args: \"$*\"; exec sleep 600", "agent"]

[[command.toggles]]
name = "fast"
label = "Go fast"
args_when_on = ["--fast"]

[[command.toggles]]
name = "model_a"
label = "Model A"
args_when_on = ["--model", "a"]
group = "model"
default = true

[[command.toggles]]
name = "model_b"
label = "Model B"
args_when_on = ["--model", "b"]
group = "model"

[persistence]
strategy = "preassign_id"
start_args = ["--session-id", "{session_id}"]
resume_args = ["--resume", "{session_id}"]
"#;

#[test]
fn toggles_are_remembered_and_preassigned_ids_resume() {
    let h = Home::new();
    std::fs::create_dir_all(plugin_dir(&h)).unwrap();
    std::fs::write(plugin_dir(&h).join("agent.toml"), AGENT).unwrap();
    let p = h.new_tab(&["--type", "agent", "--toggle", "fast", "--toggle", "model_b"]);
    h.wait_for(&p, "^agent-args: ");
    let argv = pane_argv(&h, &p);
    let n = argv.len();
    assert_eq!(
        &argv[n - 5..n - 1],
        ["--fast", "--model", "b", "--session-id"],
        "{argv:?}"
    );
    let id = argv[n - 1].clone();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    h.ok(&["daemon", "stop"]);
    let saved = std::fs::read_to_string(h.path().join("workspace.json")).unwrap();
    assert!(
        saved.contains("\"fast\": true") && saved.contains(&id),
        "{saved}"
    );
    // Restored: the same toggles, and the same conversation by resume args.
    let argv = pane_argv(&h, &p);
    let n = argv.len();
    assert_eq!(
        &argv[n - 5..],
        ["--fast", "--model", "b", "--resume", id.as_str()],
        "{argv:?}"
    );
    h.wait_for(&p, &format!("agent-args: --fast --model b --resume {id}"));
    let err = h.fails(&[
        "new-tab", "--type", "agent", "--toggle", "model_a", "--toggle", "model_b",
    ]);
    assert!(err.contains("model"), "{err}");
}

const SCRAPER: &str = r#"
[plugin]
name = "scraper"
category = "tools"

[command]
cmd = "sh"
args = ["-c", "echo args: \"$*\"; echo Session ID: s$$-ok; exec sleep 600", "scraper"]

[persistence]
strategy = "session_scrape"
resume_args = ["--resume", "{session}"]

[[persistence.scrape]]
name = "session"
pattern = 'Session ID: (s[0-9]+-ok)'
"#;

/// `session_scrape`: the id the program printed is captured from its output, saved, and given
/// back through `resume_args` after a restart.
#[test]
fn scraped_session_ids_resume() {
    let h = Home::new();
    std::fs::create_dir_all(plugin_dir(&h)).unwrap();
    std::fs::write(plugin_dir(&h).join("scraper.toml"), SCRAPER).unwrap();
    let p = h.new_tab(&["--type", "scraper"]);
    h.wait_for(&p, "^Session ID: s[0-9]+-ok$");
    let screen = h.capture(&p);
    let id = screen
        .lines()
        .find_map(|l| l.strip_prefix("Session ID: "))
        .expect("the id on screen")
        .to_string();
    eventually("the scraped id saved", Duration::from_secs(5), || {
        std::fs::read_to_string(h.path().join("workspace.json")).is_ok_and(|s| s.contains(&id))
    });
    h.ok(&["daemon", "stop"]);
    let argv = pane_argv(&h, &p);
    assert_eq!(
        &argv[argv.len() - 2..],
        ["--resume", id.as_str()],
        "{argv:?}"
    );
    h.wait_for(&p, &format!("^args: --resume {id}$"));
}

#[test]
fn strategy_none_is_not_restored() {
    let h = Home::new();
    std::fs::create_dir_all(plugin_dir(&h)).unwrap();
    std::fs::write(
        plugin_dir(&h).join("once.toml"),
        GREETER
            .replace("\"greeter\"", "\"once\"")
            .replace("\"rerun\"", "\"none\""),
    )
    .unwrap();
    let once = h.new_tab(&["--type", "once"]);
    let shell = h.new_tab(&[]);
    h.ok(&["daemon", "stop"]);
    let ls = h.ls();
    let ids = pane_ids(&ls);
    assert!(ids.contains(&shell) && !ids.contains(&once), "{ls}");
}

/// Reading the plugin files (as `quil plugin validate`, an editor or `cat` do) never reloads
/// them: only changes do, once per burst of writes.
#[test]
fn reading_plugins_never_reloads_them() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let reloads = |h: &Home| h.log().matches("plugins reloaded").count();
    h.ok(&["plugin", "validate"]);
    for f in std::fs::read_dir(plugin_dir(&h)).unwrap().flatten() {
        let _ = std::fs::read(f.path());
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(reloads(&h), 0, "{}", h.log());
    // A burst of writes is one reload.
    let file = plugin_dir(&h).join("greeter.toml");
    for _ in 0..5 {
        std::fs::write(&file, GREETER).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    eventually("greeter to be listed", Duration::from_secs(2), || {
        listed(&h, "greeter")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(reloads(&h), 1, "{}", h.log());
}
