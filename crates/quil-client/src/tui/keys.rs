//! Key chords (`Ctrl+B`, `Alt+Shift+H`, `%`) and the actions they can be bound to.
//!
//! A chord is normalised so that the many ways terminals report the same key compare equal:
//! letters are stored lowercase with Shift as a modifier (legacy terminals send `H`, the kitty
//! protocol sends `h` + Shift), and Shift is dropped for other characters because the character
//! itself already says it (`%` is Shift+5 on one layout and not on another).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const KNOWN_MODS: KeyModifiers = KeyModifiers::CONTROL
    .union(KeyModifiers::ALT)
    .union(KeyModifiers::SHIFT)
    .union(KeyModifiers::SUPER);

impl Chord {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Chord {
        normalize(code, mods)
    }

    pub fn from_event(ev: &KeyEvent) -> Chord {
        normalize(ev.code, ev.modifiers)
    }

    /// Parses `Ctrl+B`, `C-b`, `Alt+Shift+H`, `M-S-h`, `F2`, `PageUp`, `%`, `Space`, ...
    ///
    /// Letter case does not matter when a modifier is given (`Ctrl+b` = `Ctrl+B`; write Shift
    /// explicitly), but a lone uppercase letter means Shift plus that letter (`N`), as in tmux.
    pub fn parse(text: &str) -> Result<Chord, String> {
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err("empty key".into());
        }
        let mut mods = KeyModifiers::NONE;
        loop {
            let lower = rest.to_ascii_lowercase();
            let prefix = [
                ("ctrl+", KeyModifiers::CONTROL),
                ("control+", KeyModifiers::CONTROL),
                ("c-", KeyModifiers::CONTROL),
                ("alt+", KeyModifiers::ALT),
                ("meta+", KeyModifiers::ALT),
                ("m-", KeyModifiers::ALT),
                ("shift+", KeyModifiers::SHIFT),
                ("s-", KeyModifiers::SHIFT),
                ("super+", KeyModifiers::SUPER),
            ]
            .into_iter()
            // The prefix must leave a key behind: `C-` alone is the key `C-`, not a modifier.
            .find(|(p, _)| lower.starts_with(p) && rest.len() > p.len());
            match prefix {
                Some((p, m)) => {
                    mods |= m;
                    rest = &rest[p.len()..];
                }
                None => break,
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" | "cr" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "btab" => KeyCode::BackTab,
            "backspace" | "bspace" | "bs" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" | "ppage" => KeyCode::PageUp,
            "pagedown" | "pgdn" | "npage" => KeyCode::PageDown,
            "insert" | "ins" | "ic" => KeyCode::Insert,
            "delete" | "del" | "dc" => KeyCode::Delete,
            "plus" => KeyCode::Char('+'),
            "minus" => KeyCode::Char('-'),
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                match f[1..].parse::<u8>() {
                    Ok(n @ 1..=24) => KeyCode::F(n),
                    _ => {
                        return Err(format!(
                            "unknown key name {rest:?} (function keys are F1 to F24)"
                        ))
                    }
                }
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        if c.is_ascii_uppercase() && mods.is_empty() {
                            mods |= KeyModifiers::SHIFT;
                        }
                        KeyCode::Char(c.to_ascii_lowercase())
                    }
                    _ => return Err(format!("unknown key name {rest:?}")),
                }
            }
        };
        Ok(normalize(code, mods))
    }
}

fn normalize(code: KeyCode, mods: KeyModifiers) -> Chord {
    let mut mods = mods & KNOWN_MODS;
    let code = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => {
            mods |= KeyModifiers::SHIFT;
            KeyCode::Char(c.to_ascii_lowercase())
        }
        KeyCode::Char(c) if c.is_ascii_lowercase() => KeyCode::Char(c),
        KeyCode::Char(c) => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::Char(c)
        }
        KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::BackTab
        }
        KeyCode::BackTab => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::BackTab
        }
        c => c,
    };
    Chord { code, mods }
}

impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mods;
        if m.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl+")?;
        }
        if m.contains(KeyModifiers::ALT) {
            f.write_str("Alt+")?;
        }
        if m.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift+")?;
        }
        if m.contains(KeyModifiers::SUPER) {
            f.write_str("Super+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            // A lone lowercase letter must print lowercase: `N` would parse as Shift+N.
            KeyCode::Char(c) if m.is_empty() => write!(f, "{c}"),
            KeyCode::Char(c) => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift+Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// What a bound key does. Names are the config file's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open the pane type picker and split the active pane with the chosen type.
    NewPane,
    NewTab,
    ClosePane,
    /// Side by side (`SplitDir::Horizontal`).
    SplitRight,
    /// Top and bottom (`SplitDir::Vertical`).
    SplitDown,
    FocusLeft,
    FocusRight,
    FocusUp,
    FocusDown,
    FocusNext,
    /// The pane of this tab focused before the active one (tmux's `;`).
    LastPane,
    Zoom,
    /// 1-based tab number.
    Tab(u8),
    NextTab,
    PrevTab,
    /// The tab shown before this one (tmux's `l`).
    LastTab,
    RenameTab,
    /// Scrollback view, scrolled up a page.
    ScrollUp,
    ScrollDown,
    /// Scrollback view at the bottom, for copying.
    CopyMode,
    Detach,
    /// The agents view: every pane with an attention state, most urgent first.
    Agents,
    /// Go to the pane waiting longest (as `quil next`), else the oldest error, else done.
    NextWaiting,
    /// Send the prefix key itself to the pane (prefix, prefix).
    SendPrefix,
    /// The help overlay: every binding of the active keymap.
    Help,
    /// Swap the active pane with the previous / next one of its tab (tmux's `{` and `}`).
    SwapPrev,
    SwapNext,
    /// Move the active pane out to a tab of its own (tmux's break-pane, `!`).
    BreakPane,
    /// Move the divider next to the active pane by a few cells.
    ResizeLeft,
    ResizeRight,
    ResizeUp,
    ResizeDown,
    /// Rename the active pane.
    RenamePane,
    /// The tree of every tab and pane, with a live preview (tmux's choose-tree).
    ChooseTree,
    /// Whether the active pane starts at once after a restart, even when not shown.
    ToggleEager,
    /// Unbinds a key so it goes to the pane.
    Unbound,
}

impl Action {
    /// What the action does, in a few words, for the help overlay.
    pub fn describe(self) -> String {
        match self {
            Action::NewPane => "new pane (choose its type)".into(),
            Action::NewTab => "new tab".into(),
            Action::ClosePane => "close the pane".into(),
            Action::SplitRight => "split side by side".into(),
            Action::SplitDown => "split top/bottom".into(),
            Action::FocusLeft => "focus the pane on the left".into(),
            Action::FocusRight => "focus the pane on the right".into(),
            Action::FocusUp => "focus the pane above".into(),
            Action::FocusDown => "focus the pane below".into(),
            Action::FocusNext => "focus the next pane".into(),
            Action::LastPane => "focus the pane focused before".into(),
            Action::Zoom => "zoom the pane (again: unzoom)".into(),
            Action::Tab(n) => format!("go to tab {n}"),
            Action::NextTab => "next tab".into(),
            Action::PrevTab => "previous tab".into(),
            Action::LastTab => "the tab shown before".into(),
            Action::RenameTab => "rename the tab".into(),
            Action::ScrollUp => "scroll back a page".into(),
            Action::ScrollDown => "scroll forward a page".into(),
            Action::CopyMode => "scrollback and copy mode".into(),
            Action::Detach => "detach (panes keep running)".into(),
            Action::Agents => "agents view".into(),
            Action::NextWaiting => "go to the agent waiting longest".into(),
            Action::SendPrefix => "send the prefix key to the pane".into(),
            Action::Help => "this help".into(),
            Action::SwapPrev => "swap the pane with the previous one".into(),
            Action::SwapNext => "swap the pane with the next one".into(),
            Action::BreakPane => "move the pane to a tab of its own".into(),
            Action::ResizeLeft => "move the divider left".into(),
            Action::ResizeRight => "move the divider right".into(),
            Action::ResizeUp => "move the divider up".into(),
            Action::ResizeDown => "move the divider down".into(),
            Action::RenamePane => "rename the pane".into(),
            Action::ChooseTree => "choose a tab or pane from a tree".into(),
            Action::ToggleEager => "start the pane at once after a restart (on/off)".into(),
            Action::Unbound => "nothing".into(),
        }
    }

    pub fn parse(name: &str) -> Result<Action, String> {
        Ok(match name {
            "new-pane" => Action::NewPane,
            "new-tab" => Action::NewTab,
            "close-pane" | "kill-pane" => Action::ClosePane,
            "split-right" | "split-horizontal" => Action::SplitRight,
            "split-down" | "split-vertical" => Action::SplitDown,
            "focus-left" => Action::FocusLeft,
            "focus-right" => Action::FocusRight,
            "focus-up" => Action::FocusUp,
            "focus-down" => Action::FocusDown,
            "focus-next" => Action::FocusNext,
            "last-pane" => Action::LastPane,
            "zoom" => Action::Zoom,
            "next-tab" => Action::NextTab,
            "prev-tab" => Action::PrevTab,
            "last-tab" => Action::LastTab,
            "rename-tab" => Action::RenameTab,
            "scroll-up" => Action::ScrollUp,
            "scroll-down" => Action::ScrollDown,
            "copy-mode" | "scrollback" => Action::CopyMode,
            "detach" => Action::Detach,
            "agents" => Action::Agents,
            "next-waiting" => Action::NextWaiting,
            "send-prefix" => Action::SendPrefix,
            "help" | "list-keys" => Action::Help,
            "swap-prev" => Action::SwapPrev,
            "swap-next" => Action::SwapNext,
            "break-pane" => Action::BreakPane,
            "resize-left" => Action::ResizeLeft,
            "resize-right" => Action::ResizeRight,
            "resize-up" => Action::ResizeUp,
            "resize-down" => Action::ResizeDown,
            "rename-pane" => Action::RenamePane,
            "choose-tree" => Action::ChooseTree,
            "toggle-eager" => Action::ToggleEager,
            "none" => Action::Unbound,
            other => {
                if let Some(n) = other
                    .strip_prefix("tab-")
                    .and_then(|n| n.parse::<u8>().ok())
                {
                    if (1..=99).contains(&n) {
                        return Ok(Action::Tab(n));
                    }
                }
                return Err(format!(
                    "unknown action {other:?} (expected one of: new-pane, new-tab, close-pane, split-right, \
                     split-down, focus-left, focus-right, focus-up, focus-down, focus-next, last-pane, zoom, tab-1 .. tab-99, \
                     next-tab, prev-tab, last-tab, rename-tab, scroll-up, scroll-down, copy-mode, detach, agents, next-waiting, \
                     send-prefix, help, swap-prev, swap-next, break-pane, resize-left, resize-right, \
                     resize-up, resize-down, rename-pane, choose-tree, toggle-eager, none)"
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;

    fn chord(code: KeyCode, mods: KeyModifiers) -> Chord {
        Chord::new(code, mods)
    }

    #[test]
    fn parses_common_spellings() {
        let ctrl_b = chord(KeyCode::Char('b'), KeyModifiers::CONTROL);
        for s in ["Ctrl+B", "ctrl+b", "C-b", "Control+b"] {
            assert_eq!(Chord::parse(s), Ok(ctrl_b), "{s}");
        }
        let alt_shift_h = chord(KeyCode::Char('h'), KeyModifiers::ALT | KeyModifiers::SHIFT);
        for s in ["Alt+Shift+H", "alt+shift+h", "M-S-h"] {
            assert_eq!(Chord::parse(s), Ok(alt_shift_h), "{s}");
        }
        assert_eq!(
            Chord::parse("Alt+h"),
            Ok(chord(KeyCode::Char('h'), KeyModifiers::ALT))
        );
        assert_eq!(
            Chord::parse("N"),
            Ok(chord(KeyCode::Char('n'), KeyModifiers::SHIFT))
        );
        assert_eq!(
            Chord::parse("%"),
            Ok(chord(KeyCode::Char('%'), KeyModifiers::NONE))
        );
        assert_eq!(
            Chord::parse("\""),
            Ok(chord(KeyCode::Char('"'), KeyModifiers::NONE))
        );
        assert_eq!(
            Chord::parse("Alt+PageUp"),
            Ok(chord(KeyCode::PageUp, KeyModifiers::ALT))
        );
        assert_eq!(
            Chord::parse("F2"),
            Ok(chord(KeyCode::F(2), KeyModifiers::NONE))
        );
        assert_eq!(
            Chord::parse("S-Tab"),
            Ok(chord(KeyCode::BackTab, KeyModifiers::NONE))
        );
        assert_eq!(
            Chord::parse("Ctrl++"),
            Ok(chord(KeyCode::Char('+'), KeyModifiers::CONTROL))
        );
        assert!(Chord::parse("Ctrl+Foo").unwrap_err().contains("\"Foo\""));
        assert!(Chord::parse("F99").is_err());
        assert!(Chord::parse("").is_err());
    }

    #[test]
    fn events_normalise_like_parsed_chords() {
        // Legacy terminals: ESC H arrives as 'H' + Alt (+ Shift added by crossterm).
        let legacy = KeyEvent::new(KeyCode::Char('H'), KeyModifiers::ALT | KeyModifiers::SHIFT);
        // Kitty protocol: the unshifted key with Shift.
        let kitty = KeyEvent::new(KeyCode::Char('h'), KeyModifiers::ALT | KeyModifiers::SHIFT);
        let want = Chord::parse("Alt+Shift+H").unwrap();
        assert_eq!(Chord::from_event(&legacy), want);
        assert_eq!(Chord::from_event(&kitty), want);
        let pct = KeyEvent::new(KeyCode::Char('%'), KeyModifiers::SHIFT);
        assert_eq!(Chord::from_event(&pct), Chord::parse("%").unwrap());
        let mut backtab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        backtab.kind = KeyEventKind::Press;
        assert_eq!(
            Chord::from_event(&backtab),
            Chord::parse("Shift+Tab").unwrap()
        );
    }

    #[test]
    fn display_roundtrips() {
        for s in [
            "Ctrl+B",
            "Alt+Shift+H",
            "n",
            "Shift+N",
            "%",
            "F2",
            "Alt+PageUp",
            "Space",
            "Shift+Tab",
        ] {
            let c = Chord::parse(s).unwrap();
            assert_eq!(Chord::parse(&c.to_string()), Ok(c), "{s} -> {c}");
        }
        assert_eq!(Chord::parse("C-b").unwrap().to_string(), "Ctrl+B");
    }

    #[test]
    fn action_names() {
        assert_eq!(Action::parse("split-horizontal"), Ok(Action::SplitRight));
        assert_eq!(Action::parse("tab-3"), Ok(Action::Tab(3)));
        assert_eq!(Action::parse("agents"), Ok(Action::Agents));
        assert_eq!(Action::parse("next-waiting"), Ok(Action::NextWaiting));
        assert!(Action::parse("tab-0").is_err());
        assert!(Action::parse("explode")
            .unwrap_err()
            .contains("\"explode\""));
    }
}
