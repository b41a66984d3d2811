//! The new-pane picker: pane types from the daemon, grouped by category, unavailable ones
//! shown greyed and skipped by the selection, plus where the new pane goes.

use crossterm::event::{KeyCode, KeyEvent};
use quil_proto::PaneTypeInfo;

/// Where the picked pane is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Split the active pane along its longer side.
    Split,
    SplitRight,
    SplitDown,
    NewTab,
}

impl Target {
    fn next(self) -> Target {
        match self {
            Target::Split => Target::SplitRight,
            Target::SplitRight => Target::SplitDown,
            Target::SplitDown => Target::NewTab,
            Target::NewTab => Target::Split,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::Split => "split",
            Target::SplitRight => "split side by side",
            Target::SplitDown => "split top/bottom",
            Target::NewTab => "new tab",
        }
    }
}

/// A row of the picker list.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Category(String),
    /// Index into [`Picker::types`].
    Type(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    /// `None` while the daemon's answer is on its way.
    pub types: Option<Vec<PaneTypeInfo>>,
    pub rows: Vec<Row>,
    /// Index into `rows` (always a selectable type when there is one).
    pub selected: Option<usize>,
    pub target: Target,
    pub error: Option<String>,
}

pub enum PickerOutcome {
    Stay,
    Cancel,
    Open(Box<PaneTypeInfo>, Target),
}

const CATEGORY_ORDER: [&str; 4] = ["terminal", "ai", "tools", "remote"];

fn category_rank(c: &str) -> usize {
    CATEGORY_ORDER
        .iter()
        .position(|x| *x == c)
        .unwrap_or(CATEGORY_ORDER.len())
}

pub fn category_title(c: &str) -> String {
    match c {
        "terminal" => "Terminals".into(),
        "ai" => "AI agents".into(),
        "tools" => "Tools".into(),
        "remote" => "Remote".into(),
        other => other.to_string(),
    }
}

impl Picker {
    pub fn loading() -> Picker {
        Picker {
            types: None,
            rows: Vec::new(),
            selected: None,
            target: Target::Split,
            error: None,
        }
    }

    pub fn set_types(&mut self, mut types: Vec<PaneTypeInfo>) {
        types.sort_by(|a, b| {
            (category_rank(&a.category), &a.category, &a.display_name).cmp(&(
                category_rank(&b.category),
                &b.category,
                &b.display_name,
            ))
        });
        self.rows.clear();
        let mut last: Option<&str> = None;
        for (i, t) in types.iter().enumerate() {
            if last != Some(t.category.as_str()) {
                self.rows.push(Row::Category(t.category.clone()));
                last = Some(t.category.as_str());
            }
            self.rows.push(Row::Type(i));
        }
        // Start on the default terminal when there is one, else the first available type.
        let terminal = self.rows.iter().position(
            |r| matches!(r, Row::Type(i) if types[*i].name == "terminal" && types[*i].available),
        );
        self.types = Some(types);
        self.selected = terminal.or_else(|| self.step(None, 1));
    }

    fn selectable(&self, row: usize) -> bool {
        match (self.rows.get(row), &self.types) {
            (Some(Row::Type(i)), Some(types)) => types[*i].available,
            _ => false,
        }
    }

    /// The next selectable row from `from` in direction `dir`, wrapping.
    fn step(&self, from: Option<usize>, dir: isize) -> Option<usize> {
        let n = self.rows.len();
        if n == 0 {
            return None;
        }
        let start = from.map_or(if dir > 0 { n - 1 } else { 0 }, |f| f);
        (1..=n)
            .map(|k| (start as isize + dir * k as isize).rem_euclid(n as isize) as usize)
            .find(|r| self.selectable(*r))
    }

    pub fn selected_type(&self) -> Option<&PaneTypeInfo> {
        match (self.selected.and_then(|s| self.rows.get(s)), &self.types) {
            (Some(Row::Type(i)), Some(types)) => types.get(*i),
            _ => None,
        }
    }

    pub fn key(&mut self, ev: &KeyEvent) -> PickerOutcome {
        match ev.code {
            KeyCode::Esc | KeyCode::Char('q') => return PickerOutcome::Cancel,
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                self.selected = self.step(self.selected, -1)
            }
            KeyCode::Down | KeyCode::Char('j') => self.selected = self.step(self.selected, 1),
            KeyCode::Tab => self.target = self.target.next(),
            KeyCode::Char('t') => self.target = Target::NewTab,
            KeyCode::Enter => {
                if let Some(t) = self.selected_type() {
                    return PickerOutcome::Open(Box::new(t.clone()), self.target);
                }
            }
            _ => {}
        }
        PickerOutcome::Stay
    }
}

#[cfg(test)]
pub(crate) fn sample_types() -> Vec<PaneTypeInfo> {
    let t = |name: &str, display: &str, cat: &str, desc: &str, available: bool| PaneTypeInfo {
        name: name.into(),
        display_name: display.into(),
        category: cat.into(),
        description: desc.into(),
        available,
        source: "embedded".into(),
        prompts_cwd: false,
        toggles: Vec::new(),
        fields: Vec::new(),
        missing: None,
    };
    vec![
        t(
            "claude",
            "Claude Code",
            "ai",
            "Anthropic's coding agent",
            true,
        ),
        t(
            "terminal",
            "Terminal",
            "terminal",
            "Your default shell",
            true,
        ),
        t("codex", "Codex", "ai", "OpenAI's coding agent", false),
        t("htop", "htop", "tools", "Process viewer", true),
        t("ssh", "SSH", "remote", "A shell on another machine", false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn groups_by_category_and_skips_unavailable() {
        let mut p = Picker::loading();
        p.set_types(sample_types());
        let names: Vec<String> = p
            .rows
            .iter()
            .map(|r| match r {
                Row::Category(c) => format!("[{c}]"),
                Row::Type(i) => p
                    .types
                    .as_ref()
                    .map_or(String::new(), |t| t[*i].name.clone()),
            })
            .collect();
        assert_eq!(
            names,
            [
                "[terminal]",
                "terminal",
                "[ai]",
                "claude",
                "codex",
                "[tools]",
                "htop",
                "[remote]",
                "ssh"
            ]
        );
        assert_eq!(p.selected_type().map(|t| t.name.as_str()), Some("terminal"));
        p.key(&key(KeyCode::Down));
        assert_eq!(p.selected_type().map(|t| t.name.as_str()), Some("claude"));
        p.key(&key(KeyCode::Down));
        assert_eq!(
            p.selected_type().map(|t| t.name.as_str()),
            Some("htop"),
            "codex is unavailable"
        );
        p.key(&key(KeyCode::Down));
        assert_eq!(
            p.selected_type().map(|t| t.name.as_str()),
            Some("terminal"),
            "wraps past ssh"
        );
        p.key(&key(KeyCode::Up));
        assert_eq!(p.selected_type().map(|t| t.name.as_str()), Some("htop"));
        p.key(&key(KeyCode::Tab));
        assert_eq!(p.target, Target::SplitRight);
        match p.key(&key(KeyCode::Enter)) {
            PickerOutcome::Open(t, target) => {
                assert_eq!((t.name.as_str(), target), ("htop", Target::SplitRight))
            }
            _ => panic!("expected Open"),
        }
        assert!(matches!(p.key(&key(KeyCode::Esc)), PickerOutcome::Cancel));
    }

    #[test]
    fn nothing_available_selects_nothing() {
        let mut p = Picker::loading();
        let mut types = sample_types();
        for t in &mut types {
            t.available = false;
        }
        p.set_types(types);
        assert_eq!(p.selected, None);
        assert!(matches!(p.key(&key(KeyCode::Enter)), PickerOutcome::Stay));
    }
}
