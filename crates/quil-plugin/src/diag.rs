//! Diagnostics: `file:line:column`, a short reason and a hint, like a compiler.

use serde::Serialize;
use std::fmt;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The file was rejected (skipped by the registry).
    Error,
    /// The file was used, but something about it deserves attention (for example, two user
    /// files define the same plugin name and one of them won).
    Warning,
}

/// One problem found in a plugin file.
///
/// `line` and `column` are 1-based; the column counts characters, not bytes, as editors do.
/// `line == 0` means the problem concerns the whole file (it could not be read, for instance)
/// and the position is left out when displayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub level: Level,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn at(file: &str, text: &str, offset: usize, message: String) -> Self {
        let (line, column) = line_col(text, offset);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            level: Level::Error,
            message,
            hint: None,
        }
    }

    /// A problem with the file as a whole (unreadable, too large).
    pub(crate) fn whole_file(file: &str, message: String) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: 0,
            column: 0,
            level: Level::Error,
            message,
            hint: None,
        }
    }

    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {level}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {level}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// 1-based line and character column of a byte offset (clamped to the text, and to a char
/// boundary).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Edit distance counting a swap of two neighbouring characters as one edit (optimal string
/// alignment), for "did you mean" hints: `cdw` is one typo away from `cwd`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_l = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            let c_l = c.to_ascii_lowercase();
            // A case or separator slip (`displayName`, `display-name`) is always a typo.
            let squash = |s: &str| s.replace(['_', '-'], "");
            let d = if squash(&c_l) == squash(&word_l) {
                0
            } else {
                edit_distance(&word_l, &c_l)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or "expected one of: `a`, `b`".
pub(crate) fn suggest_or_list(word: &str, candidates: &[&str], what: &str) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("{what} one of: {}", quoted_list(candidates)),
    }
}

pub(crate) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let t = "ab\ncdé\nx";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 2), (1, 3));
        assert_eq!(line_col(t, 3), (2, 1));
        // After the two-byte é: column counts characters.
        assert_eq!(line_col(t, 7), (2, 4));
        // Inside é: clamped back to its start.
        assert_eq!(line_col(t, 6), (2, 3));
        assert_eq!(line_col(t, 999), (3, 2));
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cdw", "cwd"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        let keys = ["name", "display_name", "category", "description"];
        assert_eq!(closest("dispaly_name", keys), Some("display_name"));
        assert_eq!(closest("displayName", keys), Some("display_name"));
        assert_eq!(closest("categroy", keys), Some("category"));
        assert_eq!(closest("zzz", keys), None);
        assert_eq!(closest("nam", keys), Some("name"));
    }

    #[test]
    fn display() {
        let d = Diagnostic {
            file: "a.toml".into(),
            line: 3,
            column: 7,
            level: Level::Error,
            message: "bad".into(),
            hint: Some("fix it".into()),
        };
        assert_eq!(d.to_string(), "a.toml:3:7: error: bad\n  hint: fix it");
        let d = Diagnostic::whole_file("b.toml", "unreadable".into());
        assert_eq!(d.to_string(), "b.toml: error: unreadable");
    }
}
