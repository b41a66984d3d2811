//! `{placeholder}` templates.
//!
//! A template is literal text with `{name}` placeholders; `{{` and `}}` are a literal `{` and
//! `}`. A name is ASCII letters, digits and `_`, not starting with a digit. Anything else
//! between braces, an unclosed `{` and a lone `}` are errors, so a typo is reported when the
//! file is loaded instead of being passed to a program as-is.
//!
//! A placeholder resolves only to a non-empty value: an empty field or state value counts as
//! missing. Expansion never produces a half-expanded string: it either returns the whole
//! result or the first placeholder that has no value.

use std::ops::Range;

/// Why a template could not be expanded (or is not a valid template at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` has no value here.
    #[error("`{{{0}}}` has no value")]
    Unresolved(String),
    /// A `{` without its `}`.
    #[error("unclosed `{{` at byte {offset}; write `{{{{` for a literal brace")]
    Unterminated { offset: usize },
    /// A `}` that closes nothing.
    #[error("unmatched `}}` at byte {offset}; write `}}}}` for a literal brace")]
    UnmatchedClose { offset: usize },
    /// `{...}` whose contents are not a placeholder name (`{}`, `{a b}`, `{-x}`).
    #[error(
        "`{{{text}}}` is not a placeholder name (letters, digits and `_`); \
         write `{{{{` for a literal brace"
    )]
    InvalidName { offset: usize, text: String },
}

impl TemplateError {
    /// Byte offset of the problem within the template, when it is a syntax error.
    pub fn offset(&self) -> Option<usize> {
        match self {
            TemplateError::Unresolved(_) => None,
            TemplateError::Unterminated { offset }
            | TemplateError::UnmatchedClose { offset }
            | TemplateError::InvalidName { offset, .. } => Some(*offset),
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// A placeholder; `span` covers `{name}` in the template.
    Placeholder {
        name: &'a str,
        span: Range<usize>,
    },
}

pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a template into literal text and placeholders.
pub(crate) fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let bytes = template.as_bytes();
    let mut pieces = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                // `{{`: keep the first brace as text, drop the second.
                pieces.push(Piece::Text(&template[lit_start..=i]));
                i += 2;
                lit_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                pieces.push(Piece::Text(&template[lit_start..=i]));
                i += 2;
                lit_start = i;
            }
            b'}' => return Err(TemplateError::UnmatchedClose { offset: i }),
            b'{' => {
                let close = template[i + 1..]
                    .find(['}', '{'])
                    .map(|j| i + 1 + j)
                    .filter(|&j| bytes[j] == b'}')
                    .ok_or(TemplateError::Unterminated { offset: i })?;
                let name = &template[i + 1..close];
                if !is_name(name) {
                    return Err(TemplateError::InvalidName {
                        offset: i,
                        text: name.to_string(),
                    });
                }
                pieces.push(Piece::Text(&template[lit_start..i]));
                pieces.push(Piece::Placeholder {
                    name,
                    span: i..close + 1,
                });
                i = close + 1;
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&template[lit_start..]));
    pieces.retain(|p| !matches!(p, Piece::Text("")));
    Ok(pieces)
}

/// The placeholder names in a template, in order (with repeats).
pub fn placeholders(template: &str) -> Result<Vec<String>, TemplateError> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder { name, .. } => Some(name.to_string()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Expands `{name}` placeholders with `lookup`; `{{` and `}}` become `{` and `}`.
///
/// A lookup that returns `None` or an empty string leaves the placeholder unresolved, and the
/// whole expansion fails with [`TemplateError::Unresolved`] naming it: the caller decides what
/// to do (see the crate docs), but never gets a half-expanded string.
pub fn expand(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder { name, .. } => match lookup(name) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                _ => return Err(TemplateError::Unresolved(name.to_string())),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "target" => Some("me@host".into()),
            "session_id" => Some("abc".into()),
            "empty" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands() {
        let cases: &[(&str, Result<&str, TemplateError>)] = &[
            ("plain", Ok("plain")),
            ("", Ok("")),
            ("{target}", Ok("me@host")),
            ("--session={session_id}", Ok("--session=abc")),
            ("{target}:{session_id}{target}", Ok("me@host:abcme@host")),
            ("{{target}}", Ok("{target}")),
            ("{{{target}}}", Ok("{me@host}")),
            ("a{{b", Ok("a{b")),
            ("a}}b", Ok("a}b")),
            ("{{}}", Ok("{}")),
            ("é{target}é", Ok("éme@hosté")),
            ("{nope}", Err(TemplateError::Unresolved("nope".into()))),
            ("x{empty}", Err(TemplateError::Unresolved("empty".into()))),
            ("{target", Err(TemplateError::Unterminated { offset: 0 })),
            ("ab{", Err(TemplateError::Unterminated { offset: 2 })),
            ("{a{b}", Err(TemplateError::Unterminated { offset: 0 })),
            ("a}", Err(TemplateError::UnmatchedClose { offset: 1 })),
            (
                "{}",
                Err(TemplateError::InvalidName {
                    offset: 0,
                    text: String::new(),
                }),
            ),
            (
                "x{a b}",
                Err(TemplateError::InvalidName {
                    offset: 1,
                    text: "a b".into(),
                }),
            ),
            (
                "{1x}",
                Err(TemplateError::InvalidName {
                    offset: 0,
                    text: "1x".into(),
                }),
            ),
        ];
        for (template, want) in cases {
            let got = expand(template, vars);
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{template}"
            );
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            TemplateError::Unresolved("x".into()).to_string(),
            "`{x}` has no value"
        );
        assert_eq!(
            TemplateError::Unterminated { offset: 3 }.to_string(),
            "unclosed `{` at byte 3; write `{{` for a literal brace"
        );
        assert_eq!(
            TemplateError::UnmatchedClose { offset: 1 }.to_string(),
            "unmatched `}` at byte 1; write `}}` for a literal brace"
        );
    }

    #[test]
    fn lists_placeholders() {
        assert_eq!(
            placeholders("{a}-{{b}}-{c}{a}").ok(),
            Some(vec!["a".to_string(), "c".to_string(), "a".to_string()])
        );
    }

    proptest! {
        /// Escaping every brace round-trips any text, and expansion never panics.
        #[test]
        fn escaped_text_round_trips(s in "\\PC*") {
            let escaped = s.replace('{', "{{").replace('}', "}}");
            prop_assert_eq!(expand(&escaped, |_| None), Ok(s));
        }

        #[test]
        fn never_panics(s in "[{}a-z_ ]{0,12}") {
            let _ = expand(&s, |n| Some(n.to_uppercase()));
        }
    }
}
