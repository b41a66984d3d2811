//! What the daemon asks of a loaded plugin while panes run: availability, initial state,
//! attention handlers and scraping.

use crate::model::{Handler, Plugin, State, StateSource, Strategy};
use crate::template;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

impl Plugin {
    /// The binary that decides availability: `detect`, else `cmd` when it is not a template
    /// (`{shell}` is always available). `None` means "always available".
    pub fn detect_binary(&self) -> Option<&str> {
        if let Some(d) = &self.command.detect {
            return Some(d);
        }
        let has_placeholder =
            template::placeholders(&self.command.cmd).map_or(true, |p| !p.is_empty());
        (!has_placeholder).then_some(self.command.cmd.as_str())
    }

    /// Whether the program is installed: [`Plugin::detect_binary`] is found on `PATH` (or, if
    /// it contains a `/`, exists as an executable file).
    pub fn available(&self) -> bool {
        self.available_in(std::env::var_os("PATH").as_deref())
    }

    /// [`Plugin::available`] against a given `PATH` value.
    pub fn available_in(&self, path: Option<&OsStr>) -> bool {
        self.detect_binary()
            .is_none_or(|bin| find_on_path(bin, path).is_some())
    }

    /// The one-line error for a pane whose program is missing, e.g.
    /// ``opencode is not installed: `opencode` not found on PATH (see https://opencode.ai)``.
    pub fn missing_binary_error(&self) -> String {
        let bin = self.detect_binary().unwrap_or(&self.command.cmd);
        let mut msg = format!(
            "{} is not installed: `{bin}` not found on PATH",
            self.display_name
        );
        if let Some(home) = &self.homepage {
            msg.push_str(&format!(" (see {home})"));
        }
        msg
    }

    /// [`Plugin::missing_binary_error`], naming the `PATH` that was searched, e.g.
    /// ``Claude Code is not installed: `claude` not found on PATH=/usr/bin:/bin (see ...)``.
    pub fn missing_binary_error_in(&self, path: Option<&OsStr>) -> String {
        let bin = self.detect_binary().unwrap_or(&self.command.cmd);
        let searched = match path {
            Some(p) => format!("PATH={}", p.to_string_lossy()),
            None => "PATH (unset)".to_string(),
        };
        let mut msg = format!(
            "{} is not installed: `{bin}` not found on {searched}",
            self.display_name
        );
        if let Some(home) = &self.homepage {
            msg.push_str(&format!(" (see {home})"));
        }
        msg
    }

    /// The state to store with a newly created pane: `session_id` (a fresh UUID v4) for
    /// `preassign_id`, nothing otherwise.
    pub fn initial_state(&self) -> BTreeMap<String, String> {
        let mut state = BTreeMap::new();
        if self.persistence.strategy.restore().state == Some(StateSource::Preassigned) {
            state.insert("session_id".to_string(), new_session_id());
        }
        state
    }

    /// The state keys this plugin's panes can have.
    pub fn state_keys(&self) -> Vec<&str> {
        match self.persistence.strategy {
            Strategy::PreassignId | Strategy::SessionFile => vec!["session_id"],
            Strategy::SessionScrape => self
                .persistence
                .scrape
                .iter()
                .map(|s| s.name.as_str())
                .collect(),
            Strategy::None | Strategy::CwdOnly | Strategy::Rerun => Vec::new(),
        }
    }

    /// The attention state the recent screen text calls for, and the handler that matched.
    ///
    /// `error_handlers` are checked first, always (call this when output arrives);
    /// `idle_handlers` only when `quiet` (the pane has stopped producing output). Within each
    /// list the first matching handler wins, so put specific patterns before general ones.
    /// `None` when nothing matches: the daemon keeps (or picks) its own state.
    pub fn match_attention(&self, screen: &str, quiet: bool) -> Option<(State, &Handler)> {
        let idle: &[Handler] = if quiet { &self.idle_handlers } else { &[] };
        self.error_handlers
            .iter()
            .chain(idle)
            .find(|h| h.pattern.regex.is_match(screen))
            .map(|h| (h.state, h))
    }

    /// State keys captured from output by `[[persistence.scrape]]`: for each rule, capture
    /// group 1 of its last match in `text` (the most recent output wins). Rules that do not
    /// match, or capture an empty string, are left out; merge the result into the pane's state.
    pub fn scrape(&self, text: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for rule in &self.persistence.scrape {
            let value = rule
                .pattern
                .regex
                .captures_iter(text)
                .filter_map(|c| c.get(1))
                .map(|m| m.as_str())
                .filter(|v| !v.is_empty())
                .last();
            if let Some(v) = value {
                out.insert(rule.name.clone(), v.to_string());
            }
        }
        out
    }
}

/// Looks a program up like `execvp` would: a name with a `/` is checked as a path, anything
/// else in each directory of `path` (`PATH`). Only executable regular files count.
pub fn find_on_path(bin: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if bin.is_empty() {
        return None;
    }
    if bin.contains('/') {
        let p = Path::new(bin);
        return is_executable(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(path?)
        .map(|dir| {
            // An empty PATH entry means the current directory.
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(bin)
            } else {
                dir.join(bin)
            }
        })
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A random UUID v4 (lowercase, hyphenated), from `/dev/urandom`.
///
/// If `/dev/urandom` cannot be read (a sandbox without `/dev`), falls back to std's randomly
/// keyed hasher mixed with the time and pid: still unique in practice, which is all a session
/// id needs.
pub fn new_session_id() -> String {
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        fallback_random(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn fallback_random(b: &mut [u8; 16]) {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_uuid_v4() {
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        let a = new_session_id();
        let b = new_session_id();
        assert!(re.is_match(&a), "{a}");
        assert_ne!(a, b);
        let mut raw = [0u8; 16];
        fallback_random(&mut raw);
        assert_ne!(raw, [0u8; 16]);
    }

    #[test]
    fn path_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(find_on_path("tool", Some(&path)), Some(exe.clone()));
        assert_eq!(find_on_path("plain", Some(&path)), None);
        assert_eq!(find_on_path("missing", Some(&path)), None);
        assert_eq!(find_on_path("tool", None), None);
        assert_eq!(find_on_path(exe.to_str().unwrap(), None), Some(exe));
        assert_eq!(find_on_path("", Some(&path)), None);
    }
}
