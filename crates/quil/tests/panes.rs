//! Pane management from the CLI: swap, move (join and break), resize a split; all of it kept
//! across a restart.

mod common;

use common::*;

fn tab_panes(h: &Home) -> Vec<Vec<String>> {
    h.ls()["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["panes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The root split's ratio of tab `i` (from the saved layout in `ls --json`).
fn root_ratio(h: &Home, i: usize) -> f64 {
    h.ls()["tabs"][i]["layout"]["split"]["ratio"]
        .as_f64()
        .unwrap_or_else(|| panic!("no split in {}", h.ls()["tabs"][i]))
}

#[test]
fn swap_move_break_join_and_resize_survive_a_restart() {
    let h = Home::new();
    let a = h.new_tab(&["--name", "one"]);
    let b = h.split(&a, &["--horizontal"]);
    let c = h.new_tab(&["--name", "two"]);
    assert_eq!(tab_panes(&h), [vec![a.clone(), b.clone()], vec![c.clone()]]);

    // swap-pane, within a tab and across tabs.
    h.ok(&["swap-pane", "--pane", &a, "--with", &b]);
    assert_eq!(tab_panes(&h), [vec![b.clone(), a.clone()], vec![c.clone()]]);
    h.ok(&["swap-pane", "--pane", &a, "--with", &c]);
    assert_eq!(tab_panes(&h), [vec![b.clone(), c.clone()], vec![a.clone()]]);

    // join-pane: the lone pane of tab two goes below b; tab two goes.
    h.ok(&["join-pane", "--pane", &a, "--to", &b, "--vertical"]);
    assert_eq!(tab_panes(&h), [vec![b.clone(), a.clone(), c.clone()]]);
    // break-pane: c to a tab of its own, named.
    h.ok(&["break-pane", "--pane", &c, "--name", "broken"]);
    assert_eq!(tab_panes(&h), [vec![b.clone(), a.clone()], vec![c.clone()]]);
    assert_eq!(h.ls()["tabs"][1]["name"], "broken");
    // move-pane does both.
    h.ok(&["move-pane", "--pane", &c, "--to", &a]);
    assert_eq!(tab_panes(&h), [vec![b.clone(), a.clone(), c.clone()]]);
    h.ok(&["move-pane", "--pane", &c, "--new-tab"]);
    assert_eq!(tab_panes(&h).len(), 2);

    // resize-split: a percentage of the split, then cells.
    h.ok(&["resize-split", "--pane", &b, "30%"]);
    assert!(
        (root_ratio(&h, 0) - 0.3).abs() < 0.01,
        "{}",
        root_ratio(&h, 0)
    );
    h.ok(&["resize-split", "--pane", &a, "-5"]);
    let r = root_ratio(&h, 0);
    assert!(r > 0.3 && r < 0.5, "a shrank, so b's share grew: {r}");

    // Errors name the problem.
    let err = h.fails(&["break-pane", "--pane", &c]);
    assert!(err.contains("alone in its tab"), "{err}");
    let err = h.fails(&["resize-split", "--pane", &a, "150%"]);
    assert!(err.contains("150%"), "{err}");
    let err = h.fails(&["swap-pane", "--pane", &a, "--with", "pane-0badc0de"]);
    assert!(err.contains("unknown pane pane-0badc0de"), "{err}");

    // All of it comes back after a restart.
    let before = (tab_panes(&h), root_ratio(&h, 0));
    h.ok(&["restart"]);
    assert_eq!((tab_panes(&h), root_ratio(&h, 0)), before);
}
