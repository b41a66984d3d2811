//! opencode panes: the session tracker plugin and the environment that loads it.
//!
//! quild writes the tracker once at start ([`write_tracker`]) and spawns every opencode pane with
//! [`opencode_env`]: `QUIL_PANE_ID`, an absolute `QUIL_HOME`, and `OPENCODE_CONFIG_CONTENT`
//! listing the tracker as a `file:///` plugin. opencode applies `OPENCODE_CONFIG_CONTENT` after
//! the user's own config and appends its `plugin` array to theirs, so the user's plugins and
//! settings stay as they are.

use crate::fsutil::{private_dir, write_regenerated_if_changed};
use crate::{absolute_home, ids, AiError};
use serde_json::{json, Value};
use std::io;
use std::path::{Path, PathBuf};

/// The tracker plugin, embedded at build time from `js/quil-session-tracker.js`.
pub const TRACKER_JS: &str = include_str!("../js/quil-session-tracker.js");

/// The tracker's file name in `$QUIL_HOME/opencodehook/`.
pub const TRACKER_FILE: &str = "quil-session-tracker.js";

/// The environment variable opencode reads extra config from.
pub const CONFIG_CONTENT_VAR: &str = "OPENCODE_CONFIG_CONTENT";

/// Environment variables to add to a pane, in order.
pub type EnvVars = Vec<(String, String)>;

/// `$QUIL_HOME/opencodehook`.
pub fn hook_dir(home: &Path) -> PathBuf {
    home.join("opencodehook")
}

/// `$QUIL_HOME/opencodehook/quil-session-tracker.js`.
pub fn tracker_path(home: &Path) -> PathBuf {
    hook_dir(home).join(TRACKER_FILE)
}

/// Writes the tracker to `$QUIL_HOME/opencodehook/quil-session-tracker.js` (atomically: temp
/// file and rename; only when its content changed, which a torn file after a crash has; file
/// 0600 in a 0700 directory) and
/// returns its absolute path. A relative `home` is taken relative to the current directory.
pub fn write_tracker(home: &Path) -> io::Result<PathBuf> {
    let home = absolute_home(home)?;
    let dir = hook_dir(&home);
    private_dir(&dir)?;
    let path = dir.join(TRACKER_FILE);
    write_regenerated_if_changed(&path, TRACKER_JS.as_bytes())?;
    Ok(path)
}

/// `file:///abs/path.js`, percent-encoding anything but unreserved characters and `/` (both
/// that and the raw form load in opencode 1.18; this is the form `url.pathToFileURL` gives).
pub fn plugin_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The environment an opencode pane needs, and a warning when the user's own
/// `OPENCODE_CONFIG_CONTENT` had to be replaced.
///
/// - `QUIL_PANE_ID` = `pane_id` (validated);
/// - `QUIL_HOME` = `home` made absolute (NUL or control characters are refused: they cannot be
///   passed in an environment variable);
/// - `OPENCODE_CONFIG_CONTENT` = `{"plugin":["file:///<home>/opencodehook/quil-session-tracker.js"]}`,
///   merged into `user_config_content` (the value in quild's own environment, if any): the
///   tracker is appended to its `plugin` array unless already there, everything else is kept.
///   If the user's value is not a JSON object (opencode exits 1 on invalid JSON), it is replaced
///   by quil's alone and the warning names the problem, so the pane still works.
///
/// Fails when the tracker file does not exist (call [`write_tracker`] first).
pub fn opencode_env(
    home: &Path,
    pane_id: &str,
    user_config_content: Option<&str>,
) -> Result<(EnvVars, Option<String>), AiError> {
    if !ids::is_valid_pane_id(pane_id) {
        return Err(AiError::InvalidPaneId(pane_id.to_string()));
    }
    let home = absolute_home(home)?;
    let tracker = tracker_path(&home);
    if !tracker.is_file() {
        return Err(AiError::TrackerMissing(tracker));
    }
    let url = plugin_url(&tracker);
    let (config, warning) = merge_config(user_config_content, &url);
    let home_str = home
        .to_str()
        .ok_or_else(|| AiError::NonUtf8Home(home.clone()))?
        .to_string();
    Ok((
        vec![
            ("QUIL_PANE_ID".to_string(), pane_id.to_string()),
            ("QUIL_HOME".to_string(), home_str),
            (CONFIG_CONTENT_VAR.to_string(), config.to_string()),
        ],
        warning,
    ))
}

fn merge_config(user: Option<&str>, url: &str) -> (Value, Option<String>) {
    let ours = || json!({ "plugin": [url] });
    let Some(user) = user else {
        return (ours(), None);
    };
    if user.trim().is_empty() {
        return (ours(), None);
    }
    let replaced = |why: String| {
        (
            ours(),
            Some(format!(
                "{CONFIG_CONTENT_VAR} in quild's environment {why}; opencode would refuse it, \
                 so opencode panes get only quil's tracker plugin in it"
            )),
        )
    };
    let mut obj = match serde_json::from_str::<Value>(user) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return replaced("is not a JSON object".to_string()),
        Err(e) => return replaced(format!("is not valid JSON ({e})")),
    };
    match obj.get_mut("plugin") {
        None | Some(Value::Null) => {
            obj.insert("plugin".into(), json!([url]));
        }
        Some(Value::Array(list)) => {
            if !list.iter().any(|p| p.as_str() == Some(url)) {
                list.push(Value::String(url.to_string()));
            }
        }
        Some(Value::String(s)) => {
            // A single entry where a list belongs: keep it, as a list.
            let theirs = s.clone();
            let mut list = vec![Value::String(theirs.clone())];
            if theirs != url {
                list.push(Value::String(url.to_string()));
            }
            obj.insert("plugin".into(), Value::Array(list));
        }
        Some(_) => return replaced("has a \"plugin\" that is not a list".to_string()),
    }
    (Value::Object(obj), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PANE: &str = "pane-1a2b3c4d";

    fn env_map(v: &[(String, String)]) -> std::collections::HashMap<&str, &str> {
        v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn tracker_is_written_privately_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let p = write_tracker(&home).expect("write");
        assert_eq!(p, home.join("opencodehook/quil-session-tracker.js"));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), TRACKER_JS);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&home.join("opencodehook")), 0o700);
        let before = std::fs::metadata(&p)
            .expect("meta")
            .modified()
            .expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_tracker(&home).expect("again");
        let after = std::fs::metadata(&p)
            .expect("meta")
            .modified()
            .expect("mtime");
        assert_eq!(before, after, "unchanged content is not rewritten");
        std::fs::write(&p, "stale").expect("tamper");
        write_tracker(&home).expect("again");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), TRACKER_JS);
    }

    #[test]
    fn tracker_has_exactly_one_export() {
        let exports: Vec<&str> = TRACKER_JS
            .lines()
            .filter(|l| l.trim_start().starts_with("export "))
            .collect();
        assert_eq!(exports.len(), 1, "{exports:?}");
        assert!(exports[0].contains("async"), "{exports:?}");
        assert!(!TRACKER_JS.contains("export default"));
    }

    #[test]
    fn env_without_user_config() {
        let d = tempfile::tempdir().expect("tempdir");
        let home = d.path().join("q");
        let err = opencode_env(&home, PANE, None).expect_err("no tracker yet");
        assert!(matches!(err, AiError::TrackerMissing(_)), "{err}");
        let tracker = write_tracker(&home).expect("write");
        let (env, warn) = opencode_env(&home, PANE, None).expect("env");
        assert!(warn.is_none());
        let m = env_map(&env);
        assert_eq!(m["QUIL_PANE_ID"], PANE);
        assert_eq!(m["QUIL_HOME"], home.to_str().expect("utf8"));
        let cfg: Value = serde_json::from_str(m["OPENCODE_CONFIG_CONTENT"]).expect("json");
        assert_eq!(
            cfg,
            json!({"plugin": [format!("file://{}", tracker.display())]})
        );
        assert!(opencode_env(&home, "pane-XYZ", None).is_err());
    }

    #[test]
    fn relative_home_and_nul() {
        let d = tempfile::tempdir().expect("tempdir");
        // Relative to the current directory, which tests must not change: build the relative
        // path from the cwd to the temp dir.
        let cwd = std::env::current_dir().expect("cwd");
        let home = d.path().join("q");
        write_tracker(&home).expect("write");
        let depth = cwd.components().count() - 1;
        let rel: PathBuf = std::iter::repeat_n("..", depth)
            .collect::<PathBuf>()
            .join(home.strip_prefix("/").expect("absolute"));
        assert!(rel.is_relative());
        let (env, _) = opencode_env(&rel, PANE, None).expect("env");
        let m = env_map(&env);
        assert!(
            Path::new(m["QUIL_HOME"]).is_absolute(),
            "{}",
            m["QUIL_HOME"]
        );
        assert!(m["OPENCODE_CONFIG_CONTENT"].contains("file:///"));

        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/q\0x"));
        let err = opencode_env(bad, PANE, None).expect_err("NUL");
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(write_tracker(bad).is_err());
    }

    #[test]
    fn merging_the_users_config() {
        let url = "file:///q/opencodehook/quil-session-tracker.js";
        // Valid, with a plugin list: appended, the rest kept.
        let (v, w) = merge_config(
            Some(r#"{"model":"x/y","plugin":["their-plugin","file:///a.js"]}"#),
            url,
        );
        assert!(w.is_none());
        assert_eq!(
            v,
            json!({"model": "x/y", "plugin": ["their-plugin", "file:///a.js", url]})
        );
        // Already listed: not twice.
        let (v, _) = merge_config(Some(&json!({"plugin": [url]}).to_string()), url);
        assert_eq!(v, json!({"plugin": [url]}));
        // Valid, without a plugin list.
        let (v, w) = merge_config(Some(r#"{"theme":"dark"}"#), url);
        assert!(w.is_none());
        assert_eq!(v, json!({"theme": "dark", "plugin": [url]}));
        // A single string.
        let (v, _) = merge_config(Some(r#"{"plugin":"one"}"#), url);
        assert_eq!(v, json!({"plugin": ["one", url]}));
        // Absent or blank.
        assert_eq!(merge_config(None, url), (json!({"plugin": [url]}), None));
        assert_eq!(merge_config(Some("  "), url).0, json!({"plugin": [url]}));
        // Invalid JSON: replaced, with a warning naming the problem.
        let (v, w) = merge_config(Some("{not json"), url);
        assert_eq!(v, json!({"plugin": [url]}));
        let w = w.expect("warning");
        assert!(
            w.contains("OPENCODE_CONFIG_CONTENT") && w.contains("not valid JSON"),
            "{w}"
        );
        let (v, w) = merge_config(Some("[1,2]"), url);
        assert_eq!(v, json!({"plugin": [url]}));
        assert!(w.expect("warning").contains("not a JSON object"));
        let (_, w) = merge_config(Some(r#"{"plugin":{"a":1}}"#), url);
        assert!(w.expect("warning").contains("not a list"));
    }

    #[test]
    fn plugin_urls_are_percent_encoded() {
        assert_eq!(
            plugin_url(Path::new("/tmp/a dir/quil-session-tracker.js")),
            "file:///tmp/a%20dir/quil-session-tracker.js"
        );
        assert_eq!(plugin_url(Path::new("/q/x_y~z.js")), "file:///q/x_y~z.js");
        assert_eq!(plugin_url(Path::new("/q/é#?")), "file:///q/%C3%A9%23%3F");
    }
}
