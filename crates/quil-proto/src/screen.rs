//! Screen content as it travels: lines of styled runs.
//!
//! A run's text holds one char per cell, except that a wide char's spacer cell is left out
//! (the char itself covers two columns), and zero-width combining chars follow their base.
//! Trailing default-styled blanks are trimmed by the producer.

use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Color {
    #[default]
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// Bits of [`Style::flags`].
pub mod flags {
    pub const BOLD: u16 = 1;
    pub const DIM: u16 = 1 << 1;
    pub const ITALIC: u16 = 1 << 2;
    pub const UNDERLINE: u16 = 1 << 3;
    pub const INVERSE: u16 = 1 << 4;
    pub const HIDDEN: u16 = 1 << 5;
    pub const STRIKEOUT: u16 = 1 << 6;
    pub const DOUBLE_UNDERLINE: u16 = 1 << 7;
    pub const UNDERCURL: u16 = 1 << 8;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Style {
    pub fg: Color,
    pub bg: Color,
    pub flags: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Run {
    pub style: Style,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Line {
    pub runs: Vec<Run>,
    /// The line continues on the next one (soft wrap), so copy and search join them.
    pub wrapped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CursorShape {
    #[default]
    Block,
    Underline,
    Beam,
    /// Blinking variants are rendered the same; the flag is kept for the outer terminal.
    BlinkBlock,
    BlinkUnderline,
    BlinkBeam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    pub x: u16,
    pub y: u16,
    pub visible: bool,
    pub shape: CursorShape,
}

impl Line {
    /// A line of plain text in the default style.
    pub fn plain(text: &str) -> Line {
        Line {
            runs: vec![Run {
                style: Style::default(),
                text: text.to_string(),
            }],
            wrapped: false,
        }
    }

    /// The text without styles, trailing blanks trimmed (as `tmux capture-pane -p`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.runs {
            s.push_str(&r.text);
        }
        s.truncate(s.trim_end_matches(' ').len());
        s
    }

    /// The text with SGR escapes for styles (as `tmux capture-pane -e`).
    pub fn ansi(&self) -> String {
        let mut s = String::new();
        let mut cur = Style::default();
        for r in &self.runs {
            if r.style != cur {
                s.push_str(&sgr(&r.style));
                cur = r.style;
            }
            s.push_str(&r.text);
        }
        if cur != Style::default() {
            s.push_str("\x1b[0m");
        }
        s
    }
}

/// An SGR sequence that sets exactly `style` (reset first).
pub fn sgr(style: &Style) -> String {
    let mut s = String::from("\x1b[0");
    let f = style.flags;
    for (bit, code) in [
        (flags::BOLD, "1"),
        (flags::DIM, "2"),
        (flags::ITALIC, "3"),
        (flags::UNDERLINE, "4"),
        (flags::INVERSE, "7"),
        (flags::HIDDEN, "8"),
        (flags::STRIKEOUT, "9"),
        (flags::DOUBLE_UNDERLINE, "21"),
        (flags::UNDERCURL, "4:3"),
    ] {
        if f & bit != 0 {
            s.push(';');
            s.push_str(code);
        }
    }
    color_sgr(&mut s, style.fg, 30, 38);
    color_sgr(&mut s, style.bg, 40, 48);
    s.push('m');
    s
}

fn color_sgr(s: &mut String, c: Color, base: u8, ext: u8) {
    match c {
        Color::Default => {}
        Color::Indexed(i) if i < 8 => {
            let _ = write!(s, ";{}", base + i);
        }
        Color::Indexed(i) if i < 16 => {
            let _ = write!(s, ";{}", base + 60 + i - 8);
        }
        Color::Indexed(i) => {
            let _ = write!(s, ";{ext};5;{i}");
        }
        Color::Rgb(r, g, b) => {
            let _ = write!(s, ";{ext};2;{r};{g};{b}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_trailing_blanks() {
        let l = Line {
            runs: vec![
                Run {
                    style: Style::default(),
                    text: "ab ".into(),
                },
                Run {
                    style: Style {
                        fg: Color::Indexed(1),
                        ..Default::default()
                    },
                    text: "c  ".into(),
                },
            ],
            wrapped: false,
        };
        assert_eq!(l.text(), "ab c");
    }

    #[test]
    fn ansi_sets_and_resets_styles() {
        let red_bold = Style {
            fg: Color::Indexed(1),
            bg: Color::Rgb(1, 2, 3),
            flags: flags::BOLD,
        };
        let l = Line {
            runs: vec![
                Run {
                    style: red_bold,
                    text: "x".into(),
                },
                Run {
                    style: Style::default(),
                    text: "y".into(),
                },
            ],
            wrapped: false,
        };
        assert_eq!(l.ansi(), "\x1b[0;1;31;48;2;1;2;3mx\x1b[0my");
        let hi = Style {
            fg: Color::Indexed(9),
            bg: Color::Indexed(200),
            flags: 0,
        };
        assert_eq!(sgr(&hi), "\x1b[0;91;48;5;200m");
    }
}
