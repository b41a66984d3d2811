//! Recently chosen directories for the new-pane form: `$QUIL_HOME/recent-dirs`, one absolute
//! path per line, newest first. Client-side only: the daemon never reads it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// How many directories the file keeps.
pub const CAP: usize = 20;

pub fn path(home: &Path) -> PathBuf {
    home.join("recent-dirs")
}

/// The directories chosen on a remote host (`quil -r LABEL`): `recent-dirs@LABEL`, the label
/// kept to characters safe in a file name.
pub fn remote_path(home: &Path, label: &str) -> PathBuf {
    let safe: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '@' => c,
            _ => '_',
        })
        .collect();
    home.join(format!("recent-dirs@{safe}"))
}

/// Whether `dir` can be stored: absolute, and one line of printable text.
fn storable(dir: &str) -> bool {
    dir.starts_with('/') && !dir.chars().any(char::is_control)
}

/// `items` without duplicates (first one wins) or unstorable entries, at most `cap`.
pub fn dedup(items: impl IntoIterator<Item = String>, cap: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in items.into_iter().filter(|d| !d.is_empty()) {
        // `/a/b/` and `/a/b` are the same directory.
        let d = match d.trim_end_matches('/') {
            "" => "/".to_string(),
            t => t.to_string(),
        };
        if storable(&d) && !out.contains(&d) {
            out.push(d);
            if out.len() == cap {
                break;
            }
        }
    }
    out
}

pub fn parse(text: &str) -> Vec<String> {
    dedup(text.lines().map(str::to_string), CAP)
}

/// The stored list; a missing or unreadable file is an empty list (it is only a convenience).
pub fn load(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Puts `dir` first in the file and returns the new list. The file is read again first, so
/// two clients recording at once lose nothing but ordering, and it is replaced atomically
/// (a temporary file renamed over it), so a crash never leaves half a list.
pub fn record(file: &Path, dir: &str) -> std::io::Result<Vec<String>> {
    let list = dedup(std::iter::once(dir.to_string()).chain(load(file)), CAP);
    let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        for d in &list {
            writeln!(f, "{d}")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(list)
}

#[cfg(test)]
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "quil-tui-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a temp dir");
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_junk_and_duplicates() {
        let text = "/a\n\nrelative\n/b/\n/a\n/c\u{7}x\n/\n";
        assert_eq!(parse(text), ["/a", "/b", "/"]);
        let many: String = (0..30).map(|i| format!("/d{i}\n")).collect();
        let list = parse(&many);
        assert_eq!(list.len(), CAP);
        assert_eq!(list[0], "/d0");
    }

    #[test]
    fn record_puts_newest_first_capped_and_atomic() {
        let dir = temp_dir("recent");
        let file = path(&dir);
        assert_eq!(load(&file), Vec::<String>::new(), "missing file is empty");
        record(&file, "/x").expect("record");
        record(&file, "/y").expect("record");
        assert_eq!(record(&file, "/x/").expect("record"), ["/x", "/y"]);
        assert_eq!(load(&file), ["/x", "/y"]);
        for i in 0..25 {
            record(&file, &format!("/n{i}")).expect("record");
        }
        let list = load(&file);
        assert_eq!(list.len(), CAP);
        assert_eq!(list[0], "/n24");
        // Only the list itself is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, ["recent-dirs"]);
        // A path that cannot be one line is not stored.
        assert_eq!(record(&file, "/bad\nname").expect("record")[0], "/n24");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn record_fails_cleanly_when_the_home_is_missing() {
        let dir = temp_dir("recent-missing");
        let file = dir.join("gone").join("recent-dirs");
        assert!(record(&file, "/x").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
