//! Turning the outer terminal's events back into the bytes a terminal would have sent the
//! pane's program: keys (honouring the pane's cursor-key and kitty modes), pastes and mouse
//! reports.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton};
use quil_proto::keys::ctrl_byte;
use quil_proto::modes;

/// xterm's modifier parameter: 1 + Shift(1) + Alt(2) + Ctrl(4) + Super(8).
fn mod_param(m: KeyModifiers) -> u8 {
    1 + u8::from(m.contains(KeyModifiers::SHIFT))
        + 2 * u8::from(m.contains(KeyModifiers::ALT))
        + 4 * u8::from(m.contains(KeyModifiers::CONTROL))
        + 8 * u8::from(m.contains(KeyModifiers::SUPER))
}

/// Encodes a key press for a pane whose terminal modes are `pane_modes`. `kitty_outer` says the
/// outer terminal reports keys with the kitty protocol, so modified keys such as Shift+Enter are
/// known and can be forwarded as CSI-u when the pane asked for it. `None` for keys with no
/// encoding (media keys, lone modifiers).
pub fn encode_key(ev: &KeyEvent, pane_modes: u32, kitty_outer: bool) -> Option<Vec<u8>> {
    let m = ev.modifiers;
    if kitty_outer && pane_modes & modes::KITTY_KEYBOARD != 0 {
        if let Some(b) = kitty(ev) {
            return Some(b);
        }
    }
    let alt = m.contains(KeyModifiers::ALT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let shift = m.contains(KeyModifiers::SHIFT);
    let modified = shift || alt || ctrl || m.contains(KeyModifiers::SUPER);
    let app_cursor = pane_modes & modes::APP_CURSOR != 0;
    let mut out = Vec::new();
    // Alt is an ESC prefix for keys that are sent as plain bytes.
    let esc_if_alt = |out: &mut Vec<u8>| {
        if alt {
            out.push(0x1b)
        }
    };
    // Cursor-style keys: `ESC O x` in application mode, `ESC [ x` otherwise, `ESC [1;m x` modified.
    let cursor = |x: u8| -> Vec<u8> {
        if modified {
            format!("\x1b[1;{}{}", mod_param(m), x as char).into_bytes()
        } else if app_cursor {
            vec![0x1b, b'O', x]
        } else {
            vec![0x1b, b'[', x]
        }
    };
    let tilde = |n: u8| -> Vec<u8> {
        if modified {
            format!("\x1b[{n};{}~", mod_param(m)).into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    match ev.code {
        KeyCode::Char(c) => {
            let c = if shift && c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c
            };
            esc_if_alt(&mut out);
            match (ctrl, ctrl_byte(c)) {
                (true, Some(b)) => out.push(b),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        KeyCode::Enter => {
            esc_if_alt(&mut out);
            out.push(b'\r');
        }
        KeyCode::Tab if shift => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Tab => {
            esc_if_alt(&mut out);
            out.push(b'\t');
        }
        KeyCode::BackTab => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Backspace => {
            esc_if_alt(&mut out);
            // Ctrl+Backspace is ^H in xterm, which readline binds to "delete word" in many setups.
            out.push(if ctrl { 0x08 } else { 0x7f });
        }
        KeyCode::Esc => {
            esc_if_alt(&mut out);
            out.push(0x1b);
        }
        KeyCode::Up => out = cursor(b'A'),
        KeyCode::Down => out = cursor(b'B'),
        KeyCode::Right => out = cursor(b'C'),
        KeyCode::Left => out = cursor(b'D'),
        KeyCode::Home => out = cursor(b'H'),
        KeyCode::End => out = cursor(b'F'),
        KeyCode::Insert => out = tilde(2),
        KeyCode::Delete => out = tilde(3),
        KeyCode::PageUp => out = tilde(5),
        KeyCode::PageDown => out = tilde(6),
        KeyCode::F(n @ 1..=4) => {
            let x = b"PQRS"[usize::from(n - 1)];
            out = if modified {
                format!("\x1b[1;{}{}", mod_param(m), x as char).into_bytes()
            } else {
                vec![0x1b, b'O', x]
            };
        }
        KeyCode::F(n @ 5..=12) => out = tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)]),
        KeyCode::Null => out.push(0),
        _ => return None,
    }
    Some(out)
}

/// Kitty "disambiguate" encodings for the keys where they differ from the legacy ones: Esc,
/// modified Enter/Tab/Backspace, and characters with Ctrl, Alt or Super. `None` means the
/// legacy encoding is also the kitty one (plain text, arrows, function keys).
fn kitty(ev: &KeyEvent) -> Option<Vec<u8>> {
    let m = ev.modifiers;
    let p = mod_param(m);
    let code: u32 = match ev.code {
        KeyCode::Esc => 27,
        KeyCode::Enter if p > 1 => 13,
        KeyCode::Tab if p > 1 => 9,
        KeyCode::BackTab => {
            return Some(format!("\x1b[9;{}u", mod_param(m | KeyModifiers::SHIFT)).into_bytes());
        }
        KeyCode::Backspace if p > 1 => 127,
        KeyCode::Char(c)
            if m.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SUPER) =>
        {
            // The protocol names the unshifted key; Shift travels in the modifiers.
            c.to_ascii_lowercase() as u32
        }
        _ => return None,
    };
    Some(
        if p > 1 {
            format!("\x1b[{code};{p}u")
        } else {
            format!("\x1b[{code}u")
        }
        .into_bytes(),
    )
}

/// A paste for a pane: newlines become CR (as terminals send Enter), and the text is wrapped in
/// bracketed-paste markers when the program asked for them. An end marker inside the text is
/// dropped so the paste cannot break out of the bracket.
pub fn encode_paste(text: &str, pane_modes: u32) -> Vec<u8> {
    let body = text.replace("\r\n", "\r").replace('\n', "\r");
    if pane_modes & modes::BRACKETED_PASTE != 0 {
        let body = body.replace("\x1b[201~", "");
        let mut out = b"\x1b[200~".to_vec();
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b"\x1b[201~");
        out
    } else {
        body.into_bytes()
    }
}

/// A mouse event as the pane's program sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    Press(MouseButton),
    Release(MouseButton),
    Drag(MouseButton),
    Move,
    WheelUp,
    WheelDown,
}

/// Whether the pane's program wants mouse reports at all.
pub fn wants_mouse(pane_modes: u32) -> bool {
    pane_modes & (modes::MOUSE_CLICK | modes::MOUSE_DRAG | modes::MOUSE_MOTION) != 0
}

/// Encodes a mouse event at (`x`, `y`), zero-based within the pane, in SGR (1006) or the
/// original X10/normal encoding, whichever the pane selected. `None` when the pane's mouse
/// mode does not report this kind of event.
pub fn encode_mouse(
    kind: MouseKind,
    x: u16,
    y: u16,
    mods: KeyModifiers,
    pane_modes: u32,
) -> Option<Vec<u8>> {
    if !wants_mouse(pane_modes) {
        return None;
    }
    let button = |b: MouseButton| match b {
        MouseButton::Left => 0u16,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    };
    let (mut code, release) = match kind {
        MouseKind::Press(b) => (button(b), false),
        MouseKind::Release(b) => (button(b), true),
        MouseKind::Drag(b) if pane_modes & (modes::MOUSE_DRAG | modes::MOUSE_MOTION) != 0 => {
            (button(b) + 32, false)
        }
        MouseKind::Move if pane_modes & modes::MOUSE_MOTION != 0 => (3 + 32, false),
        MouseKind::WheelUp => (64, false),
        MouseKind::WheelDown => (65, false),
        _ => return None,
    };
    if mods.contains(KeyModifiers::SHIFT) {
        code += 4;
    }
    if mods.contains(KeyModifiers::ALT) {
        code += 8;
    }
    if mods.contains(KeyModifiers::CONTROL) {
        code += 16;
    }
    let (cx, cy) = (u32::from(x) + 1, u32::from(y) + 1);
    if pane_modes & modes::MOUSE_SGR != 0 {
        return Some(
            format!("\x1b[<{code};{cx};{cy}{}", if release { 'm' } else { 'M' }).into_bytes(),
        );
    }
    // X10/normal: one byte each, offset by 32; releases do not say which button.
    if release {
        code = (code & !3) | 3;
    }
    let byte = |v: u32| (v + 32).min(255) as u8;
    Some(vec![
        0x1b,
        b'[',
        b'M',
        byte(u32::from(code)),
        byte(cx),
        byte(cy),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_proto::modes::{
        APP_CURSOR, BRACKETED_PASTE, KITTY_KEYBOARD, MOUSE_CLICK, MOUSE_DRAG, MOUSE_SGR,
    };

    fn k(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    const N: KeyModifiers = KeyModifiers::NONE;
    const S: KeyModifiers = KeyModifiers::SHIFT;
    const A: KeyModifiers = KeyModifiers::ALT;
    const C: KeyModifiers = KeyModifiers::CONTROL;

    #[test]
    fn key_table_normal_and_app_cursor() {
        let cases: &[(KeyEvent, u32, &[u8])] = &[
            (k(KeyCode::Char('a'), N), 0, b"a"),
            (k(KeyCode::Char('A'), S), 0, b"A"),
            (k(KeyCode::Char('a'), S), 0, b"A"),
            (k(KeyCode::Char('é'), N), 0, "é".as_bytes()),
            (k(KeyCode::Char('c'), C), 0, b"\x03"),
            (k(KeyCode::Char(' '), C), 0, b"\x00"),
            (k(KeyCode::Char('4'), C), 0, b"\x1c"),
            (k(KeyCode::Char('x'), A), 0, b"\x1bx"),
            (k(KeyCode::Char('c'), A | C), 0, b"\x1b\x03"),
            (k(KeyCode::Enter, N), 0, b"\r"),
            (k(KeyCode::Enter, S), 0, b"\r"),
            (k(KeyCode::Enter, A), 0, b"\x1b\r"),
            (k(KeyCode::Tab, N), 0, b"\t"),
            (k(KeyCode::BackTab, S), 0, b"\x1b[Z"),
            (k(KeyCode::Backspace, N), 0, b"\x7f"),
            (k(KeyCode::Backspace, A), 0, b"\x1b\x7f"),
            (k(KeyCode::Esc, N), 0, b"\x1b"),
            (k(KeyCode::Up, N), 0, b"\x1b[A"),
            (k(KeyCode::Up, N), APP_CURSOR, b"\x1bOA"),
            (k(KeyCode::Left, N), APP_CURSOR, b"\x1bOD"),
            (k(KeyCode::Home, N), 0, b"\x1b[H"),
            (k(KeyCode::End, N), APP_CURSOR, b"\x1bOF"),
            (k(KeyCode::Up, C), 0, b"\x1b[1;5A"),
            (k(KeyCode::Right, C), APP_CURSOR, b"\x1b[1;5C"),
            (k(KeyCode::Left, S), 0, b"\x1b[1;2D"),
            (k(KeyCode::Down, A | S), 0, b"\x1b[1;4B"),
            (k(KeyCode::PageUp, N), 0, b"\x1b[5~"),
            (k(KeyCode::PageDown, N), 0, b"\x1b[6~"),
            (k(KeyCode::PageDown, C), 0, b"\x1b[6;5~"),
            (k(KeyCode::Insert, N), 0, b"\x1b[2~"),
            (k(KeyCode::Delete, N), 0, b"\x1b[3~"),
            (k(KeyCode::F(1), N), 0, b"\x1bOP"),
            (k(KeyCode::F(4), S), 0, b"\x1b[1;2S"),
            (k(KeyCode::F(5), N), 0, b"\x1b[15~"),
            (k(KeyCode::F(12), N), 0, b"\x1b[24~"),
            (k(KeyCode::F(12), C), 0, b"\x1b[24;5~"),
        ];
        for (ev, m, want) in cases {
            assert_eq!(
                encode_key(ev, *m, false).as_deref(),
                Some(*want),
                "{ev:?} modes={m}"
            );
            // Without the kitty mode in the pane, a kitty outer terminal changes nothing.
            assert_eq!(
                encode_key(ev, *m, true).as_deref(),
                Some(*want),
                "{ev:?} kitty outer"
            );
        }
        assert_eq!(encode_key(&k(KeyCode::F(20), N), 0, false), None);
        assert_eq!(encode_key(&k(KeyCode::CapsLock, N), 0, false), None);
    }

    #[test]
    fn key_table_kitty() {
        let cases: &[(KeyEvent, &[u8])] = &[
            (k(KeyCode::Enter, S), b"\x1b[13;2u"),
            (k(KeyCode::Enter, C), b"\x1b[13;5u"),
            (k(KeyCode::Enter, N), b"\r"),
            (k(KeyCode::Esc, N), b"\x1b[27u"),
            (k(KeyCode::Tab, N), b"\t"),
            (k(KeyCode::Tab, C), b"\x1b[9;5u"),
            (k(KeyCode::BackTab, S), b"\x1b[9;2u"),
            (k(KeyCode::Backspace, A), b"\x1b[127;3u"),
            (k(KeyCode::Char('c'), C), b"\x1b[99;5u"),
            (k(KeyCode::Char('i'), C), b"\x1b[105;5u"),
            (k(KeyCode::Char('x'), A), b"\x1b[120;3u"),
            (k(KeyCode::Char('T'), C | S), b"\x1b[116;6u"),
            (k(KeyCode::Char('a'), N), b"a"),
            (k(KeyCode::Char('A'), S), b"A"),
            (k(KeyCode::Up, C), b"\x1b[1;5A"),
        ];
        for (ev, want) in cases {
            assert_eq!(
                encode_key(ev, KITTY_KEYBOARD, true).as_deref(),
                Some(*want),
                "{ev:?}"
            );
        }
        // The outer terminal cannot tell Shift+Enter apart: legacy bytes.
        assert_eq!(
            encode_key(&k(KeyCode::Enter, S), KITTY_KEYBOARD, false).as_deref(),
            Some(&b"\r"[..])
        );
    }

    #[test]
    fn paste() {
        assert_eq!(encode_paste("a\nb\r\nc", 0), b"a\rb\rc");
        assert_eq!(
            encode_paste("ls\n", BRACKETED_PASTE),
            b"\x1b[200~ls\r\x1b[201~"
        );
        assert_eq!(
            encode_paste("x\x1b[201~y", BRACKETED_PASTE),
            b"\x1b[200~xy\x1b[201~"
        );
    }

    #[test]
    fn mouse_encodings() {
        let l = MouseButton::Left;
        assert_eq!(
            encode_mouse(MouseKind::Press(l), 0, 0, N, 0),
            None,
            "mouse off"
        );
        let sgr = MOUSE_CLICK | MOUSE_SGR;
        assert_eq!(
            encode_mouse(MouseKind::Press(l), 4, 2, N, sgr).unwrap(),
            b"\x1b[<0;5;3M"
        );
        assert_eq!(
            encode_mouse(MouseKind::Release(l), 4, 2, N, sgr).unwrap(),
            b"\x1b[<0;5;3m"
        );
        assert_eq!(
            encode_mouse(MouseKind::WheelUp, 0, 0, N, sgr).unwrap(),
            b"\x1b[<64;1;1M"
        );
        assert_eq!(
            encode_mouse(MouseKind::Press(MouseButton::Right), 0, 0, C, sgr).unwrap(),
            b"\x1b[<18;1;1M"
        );
        assert_eq!(
            encode_mouse(MouseKind::Drag(l), 1, 1, N, sgr),
            None,
            "click-only mode ignores drags"
        );
        assert_eq!(
            encode_mouse(MouseKind::Drag(l), 1, 1, N, sgr | MOUSE_DRAG).unwrap(),
            b"\x1b[<32;2;2M"
        );
        assert_eq!(
            encode_mouse(MouseKind::Move, 1, 1, N, sgr | MOUSE_DRAG),
            None
        );
        // X10: 32-offset bytes, release is button 3.
        assert_eq!(
            encode_mouse(MouseKind::Press(l), 4, 2, N, MOUSE_CLICK).unwrap(),
            b"\x1b[M\x20\x25\x23"
        );
        assert_eq!(
            encode_mouse(MouseKind::Release(l), 4, 2, N, MOUSE_CLICK).unwrap(),
            b"\x1b[M\x23\x25\x23"
        );
        assert_eq!(
            encode_mouse(MouseKind::WheelDown, 300, 0, N, MOUSE_CLICK).unwrap(),
            b"\x1b[M\x61\xff\x21"
        );
    }
}
