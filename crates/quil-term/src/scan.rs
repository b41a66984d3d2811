//! A scanner over the raw PTY bytes for the sequences quil handles itself:
//!
//! - OSC 7 (`ESC ] 7 ; <uri> (BEL | ESC \)`), the current directory, which alacritty ignores;
//! - OSC 9, OSC 777 and OSC 99, a program's desktop notifications (alacritty ignores them
//!   too), kept for the daemon to pass on;
//! - `CSI 3 J` (erase saved lines, sent by `clear`), which alacritty applies to its own history
//!   only: the compact history must be cleared at the same point of the stream;
//! - `CSI 2 J` and RIS (`ESC c`), which act on alacritty's history too: rows scrolled off before
//!   them must be drained into the compact history first;
//! - `CSI ? 1049 h`, the switch to the alternate screen: rows scrolled off before it must be
//!   drained too, or they wait in alacritty's history, where its resize of the hidden primary
//!   screen would pull them back, so that what a resize does would depend on how reads were cut.
//!
//! The scanner keeps its state between calls, so a sequence split across reads is still found,
//! and skips to the next ESC with `memchr`, so plain output costs next to nothing.

use memchr::{memchr, memchr3};

use crate::ground::{BEL, CAN, ESC, SUB};

/// Longest URI kept; longer ones are ignored.
const MAX_URI: usize = 4096;
/// Longest notification kept; longer ones are ignored.
const MAX_NOTE: usize = 1024;
/// Notifications kept between two `take_notes`; more are dropped.
const MAX_NOTES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    /// After ESC.
    Esc,
    /// Inside a CSI (see `Csi` for what is noted of it).
    Csi,
    /// After `ESC ]`, reading the command's number.
    Osc,
    /// Collecting the URI after `ESC ] 7 ;`.
    Uri,
    /// Collecting a notification after `ESC ] 9 ;`, `ESC ] 777 ;` or `ESC ] 99 ;`.
    Note,
}

/// What decides whether a CSI ending in `J` is `ED 2` or `ED 3` for vte: its first parameter
/// (leading zeros and sub-parameters do not matter), no intermediates or private markers, and
/// not so many parameters that vte ignores it. For a private CSI (`CSI ? ...`), whether one of
/// its parameters is 1049.
#[derive(Debug, Default, Clone, Copy)]
struct Csi {
    first: u32,
    /// The first parameter has ended (`;` or `:` seen).
    first_done: bool,
    separators: u32,
    /// Bytes seen after `CSI`.
    len: u32,
    /// Starts with `?`.
    private: bool,
    /// The private CSI's current parameter (capped).
    param: u32,
    /// A private parameter was 1049.
    alt: bool,
}

/// The private mode that switches to the alternate screen (saving the cursor).
const ALT_SCREEN: u32 = 1049;

impl Csi {
    /// Takes byte `b` (at offset `i`) of a private CSI; returns the state after it. Pushes a
    /// cut at the final byte of a `CSI ? ... h` that vte hands on with 1049 among its modes.
    fn private_byte(&mut self, b: u8, i: usize, cuts: &mut Vec<usize>) -> State {
        match b {
            b'0'..=b'9' => {
                self.param = self
                    .param
                    .saturating_mul(10)
                    .saturating_add(u32::from(b - b'0'));
                State::Csi
            }
            b';' | b':' => {
                self.alt |= self.param == ALT_SCREEN;
                self.param = 0;
                self.separators += 1;
                State::Csi
            }
            0x40..=0x7e => {
                self.alt |= self.param == ALT_SCREEN;
                if b == b'h' && self.alt && self.separators <= MAX_SEPARATORS {
                    cuts.push(i);
                }
                State::Ground
            }
            // An intermediate or a misplaced marker: vte ignores the sequence, or alacritty
            // does not switch screens for it.
            0x20..=0x2f | 0x3c..=0x3f | CAN | SUB => State::Ground,
            ESC => State::Esc,
            // Other C0 controls are executed inside the sequence without ending it.
            _ => State::Csi,
        }
    }
}

/// More separators than this (33 parameters) and vte ignores the sequence: it keeps 32.
const MAX_SEPARATORS: u32 = 31;

#[derive(Debug, Default)]
pub(crate) struct Scanner {
    state: State,
    csi: Csi,
    uri: Vec<u8>,
    too_long: bool,
    /// The OSC's number so far (capped: no command quil reads has more than 3 digits).
    osc: u32,
    /// The notification being read: its OSC number and text.
    note: (u32, Vec<u8>),
    notes: Vec<(u32, String)>,
}

impl Scanner {
    /// Scans `bytes`. Pushes to `clears` the offset just past each `CSI 3 J` in them, to
    /// `cuts` the offset of the final byte of each RIS (`ESC c`), `CSI 2 J` and `CSI ? 1049 h`
    /// (which act on alacritty's own history, so the rows scrolled off before them must be
    /// drained first), and returns the path of the last complete OSC 7, if any.
    pub(crate) fn scan(
        &mut self,
        bytes: &[u8],
        clears: &mut Vec<usize>,
        cuts: &mut Vec<usize>,
    ) -> Option<String> {
        let mut found = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Ground => match memchr(ESC, &bytes[i..]) {
                    Some(p) => {
                        i += p + 1;
                        self.state = State::Esc;
                        continue;
                    }
                    None => return found,
                },
                State::Esc => {
                    if b == b'c' {
                        cuts.push(i);
                    }
                    self.state = match b {
                        b'[' => {
                            self.csi = Csi::default();
                            State::Csi
                        }
                        b']' => {
                            self.osc = 0;
                            State::Osc
                        }
                        // vte stays in its escape state over C0 controls (it executes them),
                        // DEL and bytes from 0x80: `ESC \xc2\xad c` is a reset too.
                        0x00..=0x17 | 0x19 | 0x1c..=0x1f | 0x7f..=0xff => State::Esc,
                        _ => State::Ground,
                    };
                }
                State::Csi => {
                    // Once the sequence can no longer be ED 2 or ED 3 the rest of it does not
                    // matter here: back to Ground, where only ESC counts, as inside a CSI. So
                    // SGR and cursor moves, most of every CSI, cost a byte or two.
                    let csi = &mut self.csi;
                    csi.len += 1;
                    if csi.private {
                        self.state = csi.private_byte(b, i, cuts);
                        i += 1;
                        continue;
                    }
                    match b {
                        // vte takes a private marker only right after `CSI`.
                        b'?' if csi.len == 1 => csi.private = true,
                        b'0'..=b'9' if !csi.first_done => {
                            csi.first = csi
                                .first
                                .saturating_mul(10)
                                .saturating_add(u32::from(b - b'0'));
                            if csi.first > 3 {
                                self.state = State::Ground;
                            }
                        }
                        b'0'..=b'9' => {}
                        b';' | b':' => {
                            if !(2..=3).contains(&csi.first) {
                                self.state = State::Ground;
                            }
                            csi.first_done = true;
                            csi.separators += 1;
                        }
                        0x20..=0x2f | 0x3c..=0x3f => self.state = State::Ground,
                        0x40..=0x7e => {
                            if b == b'J' && csi.separators <= MAX_SEPARATORS {
                                match csi.first {
                                    3 => clears.push(i + 1),
                                    2 => cuts.push(i),
                                    _ => {}
                                }
                            }
                            self.state = State::Ground;
                        }
                        // CAN and SUB abort the sequence; other C0 controls are executed inside
                        // it without ending it.
                        CAN | SUB => self.state = State::Ground,
                        // As everywhere in vte, ESC abandons the sequence and starts another.
                        ESC => self.state = State::Esc,
                        _ => {}
                    }
                }
                State::Osc => {
                    self.state = match b {
                        b'0'..=b'9' if self.osc < 1000 => {
                            self.osc = self.osc * 10 + u32::from(b - b'0');
                            State::Osc
                        }
                        b';' if self.osc == 7 => {
                            self.uri.clear();
                            self.too_long = false;
                            State::Uri
                        }
                        b';' if matches!(self.osc, 9 | 99 | 777) => {
                            self.note = (self.osc, Vec::new());
                            self.too_long = false;
                            State::Note
                        }
                        _ => State::Ground,
                    }
                }
                State::Note => {
                    let rest = &bytes[i..];
                    let end = memchr3(BEL, ESC, CAN, rest);
                    let chunk = &rest[..end.unwrap_or(rest.len())];
                    if self.note.1.len() + chunk.len() > MAX_NOTE {
                        self.too_long = true;
                        self.note.1.clear();
                    } else if !self.too_long {
                        self.note.1.extend_from_slice(chunk);
                    }
                    let Some(end) = end else { return found };
                    let term = rest[end];
                    i += end + 1;
                    if term != CAN && !self.too_long && self.notes.len() < MAX_NOTES {
                        let text = String::from_utf8_lossy(&self.note.1).into_owned();
                        self.notes.push((self.note.0, text));
                    }
                    self.note.1.clear();
                    self.state = if term == ESC {
                        State::Esc
                    } else {
                        State::Ground
                    };
                    continue;
                }
                State::Uri => {
                    let rest = &bytes[i..];
                    let end = memchr3(BEL, ESC, CAN, rest);
                    let chunk = &rest[..end.unwrap_or(rest.len())];
                    if self.uri.len() + chunk.len() > MAX_URI {
                        self.too_long = true;
                        self.uri.clear();
                    } else if !self.too_long {
                        self.uri.extend_from_slice(chunk);
                    }
                    let Some(end) = end else { return found };
                    let term = rest[end];
                    i += end + 1;
                    if term != CAN && !self.too_long {
                        if let Some(path) = uri_path(&self.uri) {
                            found = Some(path);
                        }
                    }
                    self.uri.clear();
                    // ESC ends the string (as in vte); it also starts the next escape, usually
                    // the `\` of ST.
                    self.state = if term == ESC {
                        State::Esc
                    } else {
                        State::Ground
                    };
                    continue;
                }
            }
            // An ESC anywhere in a sequence starts a new one.
            if b == ESC {
                self.state = State::Esc;
            }
            i += 1;
        }
        found
    }
}

impl Scanner {
    /// The notifications seen since the last call: their OSC number (9, 99 or 777) and text.
    pub(crate) fn take_notes(&mut self) -> Vec<(u32, String)> {
        std::mem::take(&mut self.notes)
    }
}

/// The percent-decoded path of a `file://host/path` URI (or a bare path).
pub(crate) fn uri_path(uri: &[u8]) -> Option<String> {
    let path = if let Some(pos) = find(uri, b"://") {
        let after = &uri[pos + 3..];
        &after[memchr(b'/', after)?..]
    } else if uri.first() == Some(&b'/') {
        uri
    } else {
        return None;
    };
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(h), Some(l)) = (hex(path[i + 1]), hex(path[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(path[i]);
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &mut Scanner, bytes: &[u8]) -> Option<String> {
        s.scan(bytes, &mut Vec::new(), &mut Vec::new())
    }

    /// ESC inside a CSI starts a new sequence, as in vte: `CSI 2 ESC [ 3 J` is ED 3.
    #[test]
    fn esc_inside_a_csi_starts_over() {
        let mut clears = Vec::new();
        Scanner::default().scan(b"\x1b[2\x1b[3J", &mut clears, &mut Vec::new());
        assert_eq!(clears, [7]);
    }

    /// vte runs an ED with up to 32 parameters and ignores one with more; so must the marks.
    #[test]
    fn ed_marks_follow_vtes_parameter_limit() {
        let marks = |separators: usize| {
            let seq = format!("\x1b[3{}J", ";".repeat(separators));
            let mut clears = Vec::new();
            Scanner::default().scan(seq.as_bytes(), &mut clears, &mut Vec::new());
            clears.len()
        };
        assert_eq!(marks(20), 1);
        assert_eq!(marks(31), 1);
        assert_eq!(marks(32), 0);
    }

    #[test]
    fn notifications_are_kept_whole_across_reads() {
        let mut s = Scanner::default();
        scan(&mut s, b"x\x1b]9;build d");
        scan(
            &mut s,
            b"one\x07\x1b]777;notify;Title;Body\x1b\\\x1b]99;i=1;hi\x07",
        );
        scan(
            &mut s,
            b"\x1b]7;file://h/tmp\x07\x1b]2;title\x07\x1b]9;cut\x18",
        );
        assert_eq!(
            s.take_notes(),
            [
                (9, "build done".to_string()),
                (777, "notify;Title;Body".to_string()),
                (99, "i=1;hi".to_string()),
            ]
        );
        assert!(s.take_notes().is_empty());
        let long = format!("\x1b]9;{}\x07", "x".repeat(MAX_NOTE + 1));
        scan(&mut s, long.as_bytes());
        for _ in 0..20 {
            scan(&mut s, b"\x1b]9;n\x07");
        }
        assert_eq!(
            s.take_notes().len(),
            MAX_NOTES,
            "too long dropped; the rest capped"
        );
    }

    #[test]
    fn decodes_paths() {
        assert_eq!(
            uri_path(b"file://host/home/a%20b").as_deref(),
            Some("/home/a b")
        );
        assert_eq!(uri_path(b"file:///tmp").as_deref(), Some("/tmp"));
        assert_eq!(uri_path(b"/plain/path").as_deref(), Some("/plain/path"));
        assert_eq!(
            uri_path(b"file://host/bad%zzend%4").as_deref(),
            Some("/bad%zzend%4")
        );
        assert_eq!(uri_path(b"file://hostonly"), None);
        assert_eq!(uri_path(b"relative"), None);
        assert_eq!(uri_path(b"file://h/%C3%BC").as_deref(), Some("/ü"));
    }

    #[test]
    fn scans_split_sequences_byte_by_byte() {
        let seq = b"junk\x1b[0m\x1b]7;file://h/x%20y\x1b\\more\x1b]7;file://h/z\x07";
        let mut s = Scanner::default();
        let mut found = Vec::new();
        for b in seq.iter() {
            found.extend(scan(&mut s, std::slice::from_ref(b)));
        }
        assert_eq!(found, ["/x y", "/z"]);
        let mut s = Scanner::default();
        assert_eq!(scan(&mut s, seq).as_deref(), Some("/z"));
    }

    #[test]
    fn ignores_other_oscs_and_overlong_uris() {
        let mut s = Scanner::default();
        assert_eq!(
            scan(&mut s, b"\x1b]0;title\x07\x1b]77;file://h/no\x07"),
            None
        );
        let long = format!("\x1b]7;file://h/{}\x07", "a".repeat(MAX_URI + 10));
        assert_eq!(scan(&mut s, long.as_bytes()), None);
        assert_eq!(
            scan(&mut s, b"\x1b]7;file://h/ok\x1b\\").as_deref(),
            Some("/ok")
        );
        // CAN aborts the sequence.
        assert_eq!(scan(&mut s, b"\x1b]7;file://h/no\x18"), None);
        // ESC inside the introducer restarts.
        assert_eq!(
            scan(&mut s, b"\x1b]\x1b]7;/yes\x07").as_deref(),
            Some("/yes")
        );
    }

    #[test]
    fn finds_history_clears_and_resets() {
        let mut s = Scanner::default();
        let (mut clears, mut cuts) = (Vec::new(), Vec::new());
        s.scan(b"ab\x1b[3Jcd\x1b[2J\x1b[33m\x1b[3", &mut clears, &mut cuts);
        assert_eq!(clears, [6]);
        assert_eq!(cuts, [11], "before the J of CSI 2 J");
        clears.clear();
        cuts.clear();
        s.scan(b"Jx\x1b[\x1b[3J\x1bcz\x1b", &mut clears, &mut cuts);
        assert_eq!(clears, [1, 8]);
        s.scan(b"c", &mut clears, &mut cuts);
        assert_eq!(cuts, [9, 0], "RIS, also when split after its ESC");
        cuts.clear();
        s.scan("\x1b\u{ad}\nc\x1b(c".as_bytes(), &mut clears, &mut cuts);
        assert_eq!(
            cuts,
            [4],
            "vte skips the bytes between ESC and c; ESC ( c is no reset"
        );
        // The forms vte reads the same way, split anywhere.
        let (mut clears, mut cuts) = (Vec::new(), Vec::new());
        let text = b"\x1b[03J\x1b[3;1J\x1b[3:2J\x1b[02J\x1b[2;0J\x1b[;3J\x1b[?3J\x1b[13J\x1b[3\nJ\x1b[3\x18J";
        for (k, b) in text.iter().enumerate() {
            let (mut c, mut u) = (Vec::new(), Vec::new());
            s.scan(std::slice::from_ref(b), &mut c, &mut u);
            clears.extend(c.iter().map(|x| x + k));
            cuts.extend(u.iter().map(|x| x + k));
        }
        assert_eq!(clears.len(), 4, "03, 3;1, 3:2 and 3 after a C0: {clears:?}");
        assert_eq!(cuts.len(), 2, "02 and 2;0: {cuts:?}");
    }

    /// The switch to the alternate screen is cut before its final byte, in the forms alacritty
    /// acts on, split anywhere; other private modes and lookalikes are not.
    #[test]
    fn cuts_before_the_alternate_screen() {
        let seqs: &[(&[u8], bool)] = &[
            (b"\x1b[?1049h", true),
            (b"\x1b[?1000;1049h", true),
            (b"\x1b[?01049;1h", true),
            (b"\x1b[?1049:1h", true),
            (b"\x1b[?104\x1b[?1049h", true),
            (b"\x1b[?1049l", false),
            (b"\x1b[1049h", false),
            (b"\x1b[?1049$h", false),
            (b"\x1b[?1?1049h", false),
            (b"\x1b[?2026h", false),
            (b"\x1b[?10490h", false),
            (b"\x1b[?1049\x18h", false),
        ];
        let (mut text, mut want) = (Vec::new(), Vec::new());
        for (seq, cut) in seqs {
            text.extend_from_slice(seq);
            if *cut {
                want.push(text.len() - 1);
            }
        }
        let mut whole = Vec::new();
        Scanner::default().scan(&text, &mut Vec::new(), &mut whole);
        assert_eq!(whole, want);
        let mut s = Scanner::default();
        let mut split = Vec::new();
        for (k, b) in text.iter().enumerate() {
            let mut u = Vec::new();
            s.scan(std::slice::from_ref(b), &mut Vec::new(), &mut u);
            split.extend(u.iter().map(|x| x + k));
        }
        assert_eq!(split, want);
    }
}
