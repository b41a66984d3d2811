//! Named keys, as `quil send-keys` takes them (tmux's names): `Enter`, `Escape`, `Tab`,
//! `BSpace`, `Up`, `F5`, `C-c`, `M-x`, `S-Tab`, `PageUp`, ... Anything else is sent literally.

/// Encodes one key name to the bytes a terminal sends for it. `app_cursor` selects the
/// application cursor-key encoding (DECCKM), as the pane's program asked for.
/// A name that is not a key is returned as its literal text.
pub fn encode_key(name: &str, app_cursor: bool) -> Vec<u8> {
    if let Some(b) = named(name, app_cursor) {
        return b;
    }
    if let Some(rest) = name.strip_prefix("C-").or_else(|| name.strip_prefix("^")) {
        if let Some(b) = ctrl(rest) {
            return vec![b];
        }
    }
    if let Some(rest) = name.strip_prefix("M-") {
        if !rest.is_empty() {
            let mut v = vec![0x1b];
            v.extend(encode_key(rest, app_cursor));
            return v;
        }
    }
    name.as_bytes().to_vec()
}

fn ctrl(rest: &str) -> Option<u8> {
    let mut chars = rest.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return match rest {
            "Space" => Some(0),
            _ => None,
        };
    }
    ctrl_byte(c)
}

/// The control byte for Ctrl+`c`, as xterm sends it (shared by `send-keys` and the TUI).
pub fn ctrl_byte(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '/' | '7' | '-' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

fn named(name: &str, app_cursor: bool) -> Option<Vec<u8>> {
    let cursor = |c: char| {
        if app_cursor {
            format!("\x1bO{c}").into_bytes()
        } else {
            format!("\x1b[{c}").into_bytes()
        }
    };
    let s: &[u8] = match name {
        "Enter" | "C-m" => b"\r",
        "Escape" | "Esc" => b"\x1b",
        "Tab" => b"\t",
        "S-Tab" | "BTab" => b"\x1b[Z",
        "BSpace" | "Backspace" => b"\x7f",
        "Space" => b" ",
        "Up" => return Some(cursor('A')),
        "Down" => return Some(cursor('B')),
        "Right" => return Some(cursor('C')),
        "Left" => return Some(cursor('D')),
        "Home" => return Some(cursor('H')),
        "End" => return Some(cursor('F')),
        "IC" | "Insert" => b"\x1b[2~",
        "DC" | "Delete" => b"\x1b[3~",
        "PageUp" | "PgUp" | "PPage" => b"\x1b[5~",
        "PageDown" | "PgDn" | "NPage" => b"\x1b[6~",
        "F1" => b"\x1bOP",
        "F2" => b"\x1bOQ",
        "F3" => b"\x1bOR",
        "F4" => b"\x1bOS",
        "F5" => b"\x1b[15~",
        "F6" => b"\x1b[17~",
        "F7" => b"\x1b[18~",
        "F8" => b"\x1b[19~",
        "F9" => b"\x1b[20~",
        "F10" => b"\x1b[21~",
        "F11" => b"\x1b[23~",
        "F12" => b"\x1b[24~",
        _ => return None,
    };
    Some(s.to_vec())
}

#[cfg(test)]
mod tests {
    use super::encode_key;

    #[test]
    fn key_table() {
        let cases: &[(&str, bool, &[u8])] = &[
            ("Enter", false, b"\r"),
            ("C-c", false, b"\x03"),
            ("C-C", false, b"\x03"),
            ("^d", false, b"\x04"),
            ("Escape", false, b"\x1b"),
            ("Up", false, b"\x1b[A"),
            ("Up", true, b"\x1bOA"),
            ("F5", false, b"\x1b[15~"),
            ("M-x", false, b"\x1bx"),
            ("M-Up", false, b"\x1b\x1b[A"),
            ("S-Tab", false, b"\x1b[Z"),
            ("hello", false, b"hello"),
            ("C-", false, b"C-"),
            ("C--", false, b"\x1f"),
            ("C-_", false, b"\x1f"),
            ("C-Space", false, b"\0"),
        ];
        for (name, app, want) in cases {
            assert_eq!(encode_key(name, *app), want.to_vec(), "{name}");
        }
    }
}
