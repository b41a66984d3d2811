//! Runs the tracker's node tests (js/tracker.test.mjs) so `cargo test` covers the JavaScript
//! side too. Node 20+ must be installed; a missing node fails the test rather than skipping it.

use std::path::Path;
use std::process::Command;

#[test]
fn tracker_node_tests_pass() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    let out = Command::new("node")
        .arg("--test")
        .arg(&js)
        .env_remove("QUIL_PANE_ID")
        .env_remove("QUIL_HOME")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): the tracker tests need Node.js 20+ on PATH")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node --test {} failed ({}):\n{stdout}\n{stderr}",
        js.display(),
        out.status
    );
    // node 20 prints TAP: make sure tests actually ran.
    let passed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "only {passed} node tests passed:\n{stdout}");
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
