//! config.toml: every problem reported at once with its place, wrong entries falling back to
//! their defaults (the TUI still attaches), and changes applied live or by `quil config reload`.

mod common;

use common::*;
use std::time::Duration;

const BAD: &str = "[daemon]\ndefualt_cols = 80\nexited_panes = \"keep\"\n\n[keys]\npreset = \"emacs\"\n\n[keys.bind]\n\"Ctrl+Foo\" = \"zoom\"\n";

#[test]
fn check_lists_every_problem_with_its_place() {
    let h = Home::new();
    std::fs::create_dir_all(h.path()).unwrap();
    let file = h.path().join("config.toml");
    std::fs::write(&file, BAD).unwrap();
    let out = h.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let f = file.display().to_string();
    for want in [
        format!("{f}:6:1: keys.preset: unknown preset \"emacs\""),
        format!("{f}:9:1: keys.bind.\"Ctrl+Foo\": unknown key name"),
        format!("{f}:2:1: [daemon] defualt_cols: unknown field `defualt_cols`"),
    ] {
        assert!(text.lines().any(|l| l.starts_with(&want)), "{want}\n{text}");
    }
    assert_eq!(text.lines().count(), 3, "{text}");
    // The good entry applies: an exited pane is kept.
    let p = h.new_tab(&["--", "sh", "-c", "exit 0"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(h.pane_json(&p)["alive"], false);
    // Fixed: check is quiet and exits 0.
    std::fs::write(&file, "[daemon]\nexited_panes = \"keep\"\n").unwrap();
    let ok = h.ok(&["config", "check"]);
    assert_eq!(ok.trim(), format!("{f}: ok"));
}

#[test]
fn a_bad_key_does_not_stop_the_tui_and_the_screen_names_it() {
    let h = Home::new();
    std::fs::create_dir_all(h.path()).unwrap();
    std::fs::write(h.path().join("config.toml"), BAD).unwrap();
    let tui = Tui::attach(&h.path(), &h.user_home(), 160, 30);
    // Attached with the default keys, naming the first problem and how many more.
    tui.wait_for("and 2 more (quil config check lists them)");
    tui.wait_for("Alt+W");
}

#[test]
fn changes_apply_live_and_on_reload() {
    let h = Home::new();
    h.ok(&["daemon", "start"]);
    let file = h.path().join("config.toml");
    let reloads = |h: &Home| h.log().matches("config reloaded").count();
    // Default policy: a pane that exits 0 closes.
    let p = h.new_tab(&["--", "sh", "-c", "exit 0"]);
    eventually("the pane closed", Duration::from_secs(10), || {
        !h.ok(&["ls"]).contains(&p)
    });
    // Written while the daemon runs: applied without a restart.
    std::fs::write(&file, "[daemon]\nexited_panes = \"keep\"\n").unwrap();
    eventually("the config reloaded", Duration::from_secs(5), || {
        reloads(&h) >= 1
    });
    let p = h.new_tab(&["--", "sh", "-c", "exit 0"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(h.pane_json(&p)["alive"], false, "kept after exiting");
    // A broken entry keeps its default; `quil config reload` says what and where.
    std::fs::write(&file, "[daemon]\nexited_panes = \"sometimes\"\n").unwrap();
    eventually("the config reloaded", Duration::from_secs(5), || {
        reloads(&h) >= 2
    });
    let out = h.run(&["config", "reload"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}:2:1: [daemon] exited_panes", file.display()))
            && text.contains("using the default"),
        "{text}"
    );
    let q = h.new_tab(&["--", "sh", "-c", "exit 0"]);
    eventually(
        "back to the default: closed",
        Duration::from_secs(10),
        || !h.ok(&["ls"]).contains(&q),
    );
    assert_eq!(h.run(&["daemon", "status"]).status.code(), Some(0));
}
