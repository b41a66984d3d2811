//! A shadow of vte's parser state, so the bulk-output fast path (see `fast.rs`) knows when it
//! may take over the stream.
//!
//! The fast path may only start where alacritty's parser is in its ground state (not inside an
//! escape sequence or a string) and the scroll region is the whole screen. Neither is exposed by
//! alacritty, so this follows the same bytes with the transitions of vte 0.15's state table,
//! collapsed to what decides "ground or not". ESC, CAN and SUB resynchronise from any state in
//! vte, which keeps the shadow exact without mirroring parameter handling.
//!
//! It also tracks DECSTBM (`CSI top;bottom r`), the only way (besides RIS and resizes, handled
//! by the caller) that alacritty's scroll region changes. Anything it cannot read for sure marks
//! the region as restricted, which only keeps the fast path off.

/// The C0 controls that end or start sequences (shared with `scan.rs`).
pub(crate) const ESC: u8 = 0x1b;
pub(crate) const CAN: u8 = 0x18;
pub(crate) const SUB: u8 = 0x1a;
pub(crate) const BEL: u8 = 0x07;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    Escape,
    EscapeIntermediate,
    /// Any CSI state: they all end at a final byte (0x40..=0x7E).
    Csi,
    DcsEntry,
    DcsParam,
    DcsIntermediate,
    DcsIgnore,
    /// A DCS that has seen its final byte: only CAN, SUB, ESC or 0x9C end it.
    DcsPassthrough,
    Osc,
    /// SOS, PM and APC strings, and DCS sequences vte ignores.
    String,
}

#[derive(Debug)]
pub(crate) struct Ground {
    state: State,
    /// In CSI: an intermediate or private marker was seen (not a plain DECSTBM then).
    csi_marked: bool,
    /// In CSI: a colon (sub-parameter) was seen, or more than two parameters.
    csi_odd: bool,
    csi_params: [u32; 2],
    csi_nparams: usize,
    /// In an escape sequence: its intermediates are exactly `#` so far (DECALN is `ESC # 8`).
    esc_hash: bool,
    /// The scroll region is known to be the whole screen.
    region_full: bool,
    /// Tab stops are known to be the default ones, every 8 columns: none was set (HTS) or
    /// cleared (TBC) since the start or the last reset.
    tabs_default: bool,
    /// The start of a UTF-8 char that vte holds until its next call (see `utf8_need`).
    partial: [u8; 4],
    plen: usize,
}

impl Default for Ground {
    fn default() -> Ground {
        Ground {
            state: State::Ground,
            csi_marked: false,
            csi_odd: false,
            csi_params: [0; 2],
            csi_nparams: 0,
            esc_hash: false,
            region_full: true,
            tabs_default: true,
            partial: [0; 4],
            plen: 0,
        }
    }
}

impl Ground {
    /// Parser in ground state, holding no partial char, and the scroll region the whole screen.
    pub(crate) fn is_clear(&self) -> bool {
        self.state == State::Ground && self.plen == 0 && self.region_full
    }

    /// How many bytes vte still needs to complete a UTF-8 char cut off at the end of its last
    /// call. The next call must give it no more than that: when the bytes after the char are
    /// valid UTF-8 too, vte 0.15 counts them as consumed without printing them.
    pub(crate) fn utf8_need(&self) -> usize {
        match self.plen {
            0 => 0,
            n => utf8_len(self.partial[0]).saturating_sub(n),
        }
    }

    /// Tab stops are every 8 columns.
    pub(crate) fn tabs_default(&self) -> bool {
        self.tabs_default
    }

    /// Alacritty resets the scroll region on resize (tab stops it keeps, adding defaults).
    pub(crate) fn on_resize(&mut self) {
        self.region_full = true;
    }

    /// Follows `bytes` as vte would, on a screen of `rows` rows.
    pub(crate) fn advance(&mut self, bytes: &[u8], rows: usize) {
        let mut i = 0;
        if self.plen > 0 {
            // vte completes the held char first; a byte that cannot continue it ends it (as
            // U+FFFD) and is then parsed as usual.
            let need = self.utf8_need();
            while i < bytes.len() && i < need && bytes[i] & 0xc0 == 0x80 {
                self.partial[self.plen] = bytes[i];
                self.plen += 1;
                i += 1;
            }
            if i == bytes.len() && i < need {
                return;
            }
            self.plen = 0;
        }
        self.advance_states(&bytes[i..], rows);
        if self.state == State::Ground {
            self.hold_partial(&bytes[i..]);
        }
    }

    /// Notes a UTF-8 char cut off at the end of `bytes`, which vte holds for its next call.
    fn hold_partial(&mut self, bytes: &[u8]) {
        let from = bytes.len().saturating_sub(3);
        let Some(lead) = bytes[from..].iter().rposition(|&b| b & 0xc0 != 0x80) else {
            return;
        };
        let tail = &bytes[from + lead..];
        let cut_off = matches!(std::str::from_utf8(tail), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none());
        if cut_off {
            self.partial[..tail.len()].copy_from_slice(tail);
            self.plen = tail.len();
        }
    }

    fn advance_states(&mut self, bytes: &[u8], rows: usize) {
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Ground {
                // Only ESC leaves the ground state.
                match memchr::memchr(ESC, &bytes[i..]) {
                    Some(p) => {
                        i += p + 1;
                        self.state = State::Escape;
                        continue;
                    }
                    None => return,
                }
            }
            let b = bytes[i];
            i += 1;
            self.step(b, rows);
        }
    }

    fn step(&mut self, b: u8, rows: usize) {
        // Anywhere (vte's `anywhere`, and the same arms in every state's table).
        match b {
            CAN | SUB => {
                self.state = State::Ground;
                return;
            }
            ESC => {
                self.state = State::Escape;
                return;
            }
            _ => {}
        }
        self.state = match self.state {
            State::Ground => State::Ground,
            State::Escape => match b {
                0x20..=0x2f => {
                    self.esc_hash = b == b'#';
                    State::EscapeIntermediate
                }
                b'P' => State::DcsEntry,
                b'X' | b'^' | b'_' => State::String,
                b'[' => {
                    self.csi_marked = false;
                    self.csi_odd = false;
                    self.csi_params = [0; 2];
                    self.csi_nparams = 0;
                    State::Csi
                }
                b']' => State::Osc,
                b'c' => {
                    // RIS resets the scroll region and the tab stops.
                    self.region_full = true;
                    self.tabs_default = true;
                    State::Ground
                }
                b'H' => {
                    // HTS: a tab stop set by hand.
                    self.tabs_default = false;
                    State::Ground
                }
                0x30..=0x7e => State::Ground,
                _ => State::Escape,
            },
            State::EscapeIntermediate => match b {
                0x30..=0x7e => {
                    if self.esc_hash && b == b'8' {
                        // DECALN sets the margins to the whole screen.
                        self.region_full = true;
                    }
                    State::Ground
                }
                _ => {
                    self.esc_hash = false;
                    State::EscapeIntermediate
                }
            },
            State::Csi => match b {
                b'0'..=b'9' => {
                    let n = self.csi_nparams.max(1);
                    if n > 2 {
                        self.csi_odd = true;
                    } else {
                        let p = &mut self.csi_params[n - 1];
                        *p = p.saturating_mul(10).saturating_add(u32::from(b - b'0'));
                        self.csi_nparams = n;
                    }
                    State::Csi
                }
                b';' => {
                    self.csi_nparams = self.csi_nparams.max(1) + 1;
                    if self.csi_nparams > 2 {
                        self.csi_odd = true;
                    }
                    State::Csi
                }
                b':' => {
                    self.csi_odd = true;
                    State::Csi
                }
                0x20..=0x2f | 0x3c..=0x3f => {
                    self.csi_marked = true;
                    State::Csi
                }
                0x40..=0x7e => {
                    if b == b'r' && !self.csi_marked {
                        self.set_region(rows);
                    }
                    // TBC, or anything else ending in `g`: the tab stops may have changed.
                    if b == b'g' {
                        self.tabs_default = false;
                    }
                    State::Ground
                }
                _ => State::Csi,
            },
            // A private marker after parameters, or a parameter after an intermediate, makes
            // vte ignore the whole DCS (until CAN, SUB or ESC).
            State::DcsEntry => match b {
                0x20..=0x2f => State::DcsIntermediate,
                0x30..=0x3f => State::DcsParam,
                0x40..=0x7e => State::DcsPassthrough,
                _ => State::DcsEntry,
            },
            State::DcsParam => match b {
                0x20..=0x2f => State::DcsIntermediate,
                0x3c..=0x3f => State::DcsIgnore,
                0x40..=0x7e => State::DcsPassthrough,
                _ => State::DcsParam,
            },
            State::DcsIntermediate => match b {
                0x30..=0x3f => State::DcsIgnore,
                0x40..=0x7e => State::DcsPassthrough,
                _ => State::DcsIntermediate,
            },
            State::DcsIgnore => State::DcsIgnore,
            State::DcsPassthrough => match b {
                0x9c => State::Ground,
                _ => State::DcsPassthrough,
            },
            State::Osc => match b {
                BEL => State::Ground,
                _ => State::Osc,
            },
            State::String => State::String,
        };
    }

    /// A DECSTBM was dispatched; mirrors alacritty's `set_scrolling_region`.
    fn set_region(&mut self, rows: usize) {
        if self.csi_odd {
            self.region_full = false;
            return;
        }
        let top = match self.csi_params[0] {
            0 => 1,
            t => t as usize,
        };
        let bottom = match (self.csi_nparams >= 2, self.csi_params[1]) {
            (true, b) if b != 0 => b as usize,
            _ => rows,
        };
        if top >= bottom {
            // Invalid: alacritty leaves the region as it was.
            return;
        }
        self.region_full = top <= 1 && bottom >= rows;
    }
}

/// Length of the UTF-8 char that starts with `lead`.
pub(crate) fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(bytes: &[u8]) -> Ground {
        let mut g = Ground::default();
        g.advance(bytes, 24);
        g
    }

    #[test]
    fn follows_sequences_back_to_ground() {
        assert!(after(b"plain text\r\n").is_clear());
        assert!(after(b"\x1b[1;31mred\x1b[0m\r\n").is_clear());
        assert!(after(b"\x1b]0;title\x07").is_clear());
        assert!(after(b"\x1b]7;file:///tmp\x1b\\").is_clear());
        assert!(after(b"\x1bP1$r0m\x1b\\").is_clear());
        assert!(after(b"\x1b(0").is_clear());
        assert!(!after(b"\x1bP1;2|data").is_clear());
        assert!(
            !after(b"\x1bP1?x").is_clear(),
            "an ignored DCS lasts until ESC"
        );
        assert!(after(b"\x1bP1?x\x1b\\").is_clear());
        assert!(!after(b"\x1b[1").is_clear());
        assert!(
            !after(b"\x1b[1\r\n").is_clear(),
            "C0 inside CSI keeps it open"
        );
        assert!(!after(b"\x1b]0;title\r\n").is_clear());
        assert!(!after(b"\x1b_apc\r\n").is_clear());
        assert!(after(b"\x1b_apc\x1b\\").is_clear());
        assert!(after(b"\x1b[1\x18").is_clear(), "CAN ends any sequence");
    }

    #[test]
    fn tracks_chars_cut_off_between_calls() {
        let mut g = Ground::default();
        g.advance("abc\u{e9}".as_bytes(), 24);
        assert_eq!(g.utf8_need(), 0);
        g.advance(b"ab\xc3", 24);
        assert_eq!(g.utf8_need(), 1);
        assert!(!g.is_clear());
        g.advance(b"\xa9", 24);
        assert_eq!(g.utf8_need(), 0);
        assert!(g.is_clear());
        g.advance(b"\xe6\x97", 24);
        assert_eq!(g.utf8_need(), 1);
        g.advance(b"\xa5x", 24);
        assert_eq!(g.utf8_need(), 0);
        // Not a valid start: nothing held.
        g.advance(b"\xe0\x80", 24);
        assert_eq!(g.utf8_need(), 0);
        // A byte that cannot continue it ends it.
        g.advance(b"\xf0\x9f", 24);
        assert_eq!(g.utf8_need(), 2);
        g.advance(b"A", 24);
        assert_eq!(g.utf8_need(), 0);
    }

    #[test]
    fn tracks_the_scroll_region() {
        assert!(!after(b"\x1b[2;10r").is_clear());
        assert!(after(b"\x1b[2;10r\x1b[r").is_clear());
        assert!(after(b"\x1b[2;10r\x1b[1;24r").is_clear());
        assert!(after(b"\x1b[2;10r\x1b[0;99r").is_clear());
        assert!(!after(b"\x1b[1;23r").is_clear());
        // Invalid regions change nothing.
        assert!(after(b"\x1b[5;5r").is_clear());
        assert!(!after(b"\x1b[2;10r\x1b[9;3r").is_clear());
        // Not DECSTBM: private marker.
        assert!(after(b"\x1b[?1;2r").is_clear());
        // Unreadable: assume restricted.
        assert!(!after(b"\x1b[1:2;3r").is_clear());
        // RIS resets it.
        assert!(after(b"\x1b[2;10r\x1bc").is_clear());
        // So does DECALN (`ESC # 8`), and nothing else spelled with `#`.
        assert!(after(b"\x1b[2;10r\x1b#8").is_clear());
        assert!(!after(b"\x1b[2;10r\x1b#3").is_clear());
        assert!(!after(b"\x1b[2;10r\x1b##8").is_clear());
    }
}
