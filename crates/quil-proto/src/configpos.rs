//! Where an entry of `config.toml` is, for messages that point at it (`FILE:LINE:COL`). Both
//! the daemon and the client check their own tables of the one file and report this way.

/// The 1-based line and column of `key` in table `section` (`"daemon"`, `"keys.bind"`), found
/// by reading the text as written: the key bare or quoted, at the start of a line, after the
/// `[section]` header. `None` when it is not written that way (an inline table, say).
pub fn locate(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let header = format!("[{section}]");
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            inside = t.starts_with(&header);
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(col) = key_at(line, key) {
            return Some((i + 1, col));
        }
    }
    None
}

/// The 1-based column of `key` when `line` sets it (bare or quoted, then `=`).
fn key_at(line: &str, key: &str) -> Option<usize> {
    let t = line.trim_start();
    let indent = line.len() - t.len();
    let rest = [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .into_iter()
        .find_map(|k| t.strip_prefix(k.as_str()).map(str::trim_start));
    rest.filter(|r| r.starts_with('='))
        .map(|_| line[..indent].chars().count() + 1)
}

/// The 1-based line and column of the `n`th (0-based) `[[name]]` header.
pub fn locate_array(text: &str, name: &str, n: usize) -> Option<(usize, usize)> {
    let header = format!("[[{name}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&header))
        .nth(n)
        .map(|(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
}

/// The 1-based line and column of `key` in the `n`th (0-based) `[[name]]` table, written at
/// the start of a line before the next table header.
pub fn locate_in_array(text: &str, name: &str, n: usize, key: &str) -> Option<(usize, usize)> {
    let (start, _) = locate_array(text, name, n)?;
    for (i, line) in text.lines().enumerate().skip(start) {
        let t = line.trim_start();
        if t.starts_with('[') {
            return None;
        }
        if let Some(col) = key_at(line, key) {
            return Some((i + 1, col));
        }
    }
    None
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `FILE:LINE:COL: message`, or `FILE: message` without a position.
pub fn message(file: &str, pos: Option<(usize, usize)>, msg: &str) -> String {
    match pos {
        Some((l, c)) => format!("{file}:{l}:{c}: {msg}"),
        None => format!("{file}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_their_table() {
        let text = "[daemon]\nshell = \"x\"\n\n[keys.bind]\n  \"Ctrl+E\" = \"zoom\"\nshell = 1\n\n[[hooks]]\non = \"x\"\n[[hooks]]\n";
        assert_eq!(locate(text, "daemon", "shell"), Some((2, 1)));
        assert_eq!(locate(text, "keys.bind", "Ctrl+E"), Some((5, 3)));
        assert_eq!(locate(text, "keys.bind", "shell"), Some((6, 1)));
        assert_eq!(locate(text, "keys", "shell"), None);
        assert_eq!(locate_array(text, "hooks", 1), Some((10, 1)));
        assert_eq!(locate_in_array(text, "hooks", 0, "on"), Some((9, 1)));
        assert_eq!(locate_in_array(text, "hooks", 1, "on"), None);
        assert_eq!(line_col(text, 9), (2, 1));
        assert_eq!(message("c.toml", Some((2, 1)), "bad"), "c.toml:2:1: bad");
    }
}
