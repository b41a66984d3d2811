//! The id rules, kept in one place: the JSON object between the `quil-id-rules-begin` and
//! `quil-id-rules-end` marker lines of `js/quil-session-tracker.js`, which the tracker uses as is
//! and which this module parses out of the embedded file. `tests/id-vectors.json` is run against
//! both sides.
//!
//! - opencode session ids: `ses_` and 16–60 of `[0-9A-Za-z_-]` (today 26 alphanumerics), so
//!   loose enough for format drift, but never something that could be read as an option or a
//!   path (no leading `-`, no `/`, no `.`, no whitespace or control characters);
//! - Claude session ids: UUIDs (`8-4-4-4-12` hex digits);
//! - pane ids: `pane-` and 8 lowercase hex digits.

use regex::Regex;
use std::sync::OnceLock;

const BEGIN: &str = "// quil-id-rules-begin";
const END: &str = "// quil-id-rules-end";

/// The compiled rules.
#[derive(Debug)]
pub struct IdRules {
    pub opencode_session: Regex,
    pub claude_session: Regex,
    pub pane: Regex,
}

/// Extracts and compiles the rules block of a tracker source.
pub fn parse_rules(js: &str) -> Result<IdRules, String> {
    let start = js
        .find(BEGIN)
        .ok_or_else(|| format!("no {BEGIN:?} marker"))?;
    let end = js[start..]
        .find(END)
        .map(|e| start + e)
        .ok_or_else(|| format!("no {END:?} marker"))?;
    let block = &js[start + BEGIN.len()..end];
    let open = block.find('{').ok_or("no '{' in the rules block")?;
    let close = block.rfind('}').ok_or("no '}' in the rules block")?;
    if close < open {
        return Err("malformed rules block".into());
    }
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&block[open..=close])
            .map_err(|e| format!("the rules block is not a JSON object: {e}"))?;
    let get = |k: &str| -> Result<Regex, String> {
        let pat = obj
            .get(k)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("rule {k:?} missing"))?;
        if !pat.starts_with('^') || !pat.ends_with('$') {
            return Err(format!("rule {k:?} must be anchored with ^...$"));
        }
        Regex::new(pat).map_err(|e| format!("rule {k:?}: {e}"))
    };
    Ok(IdRules {
        opencode_session: get("opencode_session")?,
        claude_session: get("claude_session")?,
        pane: get("pane")?,
    })
}

/// The rules of the embedded tracker; `None` only if the embedded file were broken, which the
/// tests rule out (every id is then refused).
pub fn rules() -> Option<&'static IdRules> {
    static RULES: OnceLock<Option<IdRules>> = OnceLock::new();
    RULES
        .get_or_init(|| parse_rules(crate::opencode::TRACKER_JS).ok())
        .as_ref()
}

fn check(s: &str, pick: fn(&IdRules) -> &Regex) -> bool {
    // A defence in depth beyond the regexes: nothing that could be an option or a path.
    if s.is_empty() || s.starts_with('-') || s.contains(['/', '.', '\0']) {
        return false;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    rules().is_some_and(|r| pick(r).is_match(s))
}

/// `ses_` and 16–60 of `[0-9A-Za-z_-]`.
pub fn is_valid_opencode_session_id(s: &str) -> bool {
    check(s, |r| &r.opencode_session)
}

/// A UUID.
pub fn is_valid_claude_session_id(s: &str) -> bool {
    check(s, |r| &r.claude_session)
}

/// `pane-` and 8 lowercase hex digits.
pub fn is_valid_pane_id(s: &str) -> bool {
    check(s, |r| &r.pane)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let text = include_str!("../tests/id-vectors.json");
        serde_json::from_str(text).expect("id-vectors.json is JSON")
    }

    #[test]
    fn the_embedded_rules_parse() {
        let r = parse_rules(crate::opencode::TRACKER_JS).expect("rules");
        assert!(r.pane.is_match("pane-1a2b3c4d"));
        assert!(rules().is_some());
    }

    #[test]
    fn shared_vectors() {
        let v = vectors();
        type Validator = fn(&str) -> bool;
        let table: [(&str, Validator); 3] = [
            ("opencode_session", is_valid_opencode_session_id),
            ("claude_session", is_valid_claude_session_id),
            ("pane", is_valid_pane_id),
        ];
        for (name, f) in table {
            let valid = v[name]["valid"].as_array().expect("valid list");
            let invalid = v[name]["invalid"].as_array().expect("invalid list");
            assert!(!valid.is_empty() && !invalid.is_empty());
            for s in valid {
                let s = s.as_str().expect("string");
                assert!(f(s), "{name}: {s:?} should be valid");
            }
            for s in invalid {
                let s = s.as_str().expect("string");
                assert!(!f(s), "{name}: {s:?} should be invalid");
            }
        }
    }

    #[test]
    fn the_regexes_alone_agree_with_the_vectors() {
        // The JS side has only the regexes: the extra Rust checks must not be what rejects a
        // vector, or the two sides could drift apart unnoticed.
        let v = vectors();
        let r = rules().expect("rules");
        for (name, re) in [
            ("opencode_session", &r.opencode_session),
            ("claude_session", &r.claude_session),
            ("pane", &r.pane),
        ] {
            for s in v[name]["invalid"].as_array().expect("list") {
                let s = s.as_str().expect("string");
                assert!(!re.is_match(s), "{name}: the regex alone accepts {s:?}");
            }
        }
    }

    #[test]
    fn broken_blocks_are_reported() {
        assert!(parse_rules("nothing").is_err());
        assert!(parse_rules("// quil-id-rules-begin\nconst X = {;\n// quil-id-rules-end").is_err());
        let unanchored = "// quil-id-rules-begin\n{\"opencode_session\":\"ses_\",\"claude_session\":\"^x$\",\"pane\":\"^p$\"}\n// quil-id-rules-end";
        assert!(parse_rules(unanchored)
            .expect_err("unanchored")
            .contains("anchored"));
    }
}
