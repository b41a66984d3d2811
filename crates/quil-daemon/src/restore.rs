//! Bringing panes back: saved lines are replayed into a fresh terminal before the new process
//! starts, so the pane shows its previous content at once and new output continues below it.

use quil_proto::Line;

/// Bytes that redraw `lines` (oldest first) followed by a dim marker saying why. The marker is
/// there even with no lines, so a restored pane is always recognisable.
pub fn preamble(lines: &[Line], label: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() * 64);
    for l in lines {
        out.extend_from_slice(l.ansi().as_bytes());
        if !l.wrapped {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("\x1b[0;2m--- {label} ---\x1b[0m\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_lines_then_marker() {
        let p = preamble(&[Line::plain("one"), Line::plain("two")], "restored");
        assert_eq!(
            String::from_utf8(p).unwrap(),
            "one\r\ntwo\r\n\x1b[0;2m--- restored ---\x1b[0m\r\n"
        );
        assert_eq!(preamble(&[], "x"), b"\x1b[0;2m--- x ---\x1b[0m\r\n");
    }
}
