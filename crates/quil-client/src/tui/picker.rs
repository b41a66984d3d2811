//! The new-pane picker: pane types from the daemon, grouped by category, unavailable ones
//! greyed (choosing one says what is missing), plus where the new pane goes.

use crossterm::event::{KeyCode, KeyEvent};
use quil_proto::PaneTypeInfo;

/// Where the picked pane is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Split the active pane along its longer side.
    Split,
    SplitRight,
    SplitDown,
    /// A new tab on the daemon of the active tab.
    NewTab,
    /// A new tab on another of the client's daemons: its index, and its name.
    NewTabOn(usize, String),
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Split => "split".into(),
            Target::SplitRight => "split side by side".into(),
            Target::SplitDown => "split top/bottom".into(),
            Target::NewTab => "new tab".into(),
            Target::NewTabOn(_, name) => format!("new tab on {name}"),
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
    /// Why the chosen type cannot be opened (it is not installed).
    pub notice: Option<String>,
    /// The client's daemons, by name, when it has several (`quil --also`); `here` is the
    /// active tab's. Tab cycles on through a new tab on each of the others.
    pub daemons: Vec<String>,
    pub here: usize,
}

pub enum PickerOutcome {
    Stay,
    Cancel,
    /// The pane would open on another daemon (`None`: the active tab's): list its types.
    Daemon(Option<usize>),
    /// Open this type there; `worktree` when asked for with `w`.
    Open {
        ty: Box<PaneTypeInfo>,
        target: Target,
        worktree: bool,
    },
}

/// Categories in the order the plugin model gives them; unknown ones last.
fn category_rank(c: &str) -> usize {
    let all = quil_plugin::Category::ALL;
    all.iter()
        .position(|x| x.as_str() == c)
        .unwrap_or(all.len())
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
            notice: None,
            daemons: Vec::new(),
            here: 0,
        }
    }

    /// The daemon the pane would open on, when not the active tab's.
    pub fn daemon(&self) -> Option<usize> {
        match self.target {
            Target::NewTabOn(d, _) => Some(d),
            _ => None,
        }
    }

    /// What Tab moves on to: the splits, a new tab here, then one on each other daemon.
    fn next_target(&self) -> Target {
        let on = |from: usize| {
            (from..self.daemons.len())
                .find(|d| *d != self.here)
                .map(|d| Target::NewTabOn(d, self.daemons[d].clone()))
        };
        match &self.target {
            Target::Split => Target::SplitRight,
            Target::SplitRight => Target::SplitDown,
            Target::SplitDown => Target::NewTab,
            Target::NewTab => on(0).unwrap_or(Target::Split),
            Target::NewTabOn(d, _) => on(d + 1).unwrap_or(Target::Split),
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
        let available = self
            .rows
            .iter()
            .position(|r| matches!(r, Row::Type(i) if types[*i].available));
        // Keep the selection on the same type when the list is refreshed.
        let previous = self.selected_type().map(|t| t.name.clone());
        let same = self
            .rows
            .iter()
            .position(|r| matches!(r, Row::Type(i) if Some(&types[*i].name) == previous.as_ref()));
        self.types = Some(types);
        self.selected = same
            .or(terminal)
            .or(available)
            .or_else(|| self.step(None, 1));
    }

    /// Type rows are selectable even when unavailable, so choosing one can say why.
    fn selectable(&self, row: usize) -> bool {
        matches!(self.rows.get(row), Some(Row::Type(_))) && self.types.is_some()
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
        self.notice = None;
        match ev.code {
            KeyCode::Esc | KeyCode::Char('q') => return PickerOutcome::Cancel,
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                self.selected = self.step(self.selected, -1)
            }
            KeyCode::Down | KeyCode::Char('j') => self.selected = self.step(self.selected, 1),
            KeyCode::Tab | KeyCode::Char('t') => {
                let before = self.daemon();
                self.target = match ev.code {
                    KeyCode::Tab => self.next_target(),
                    _ => Target::NewTab,
                };
                if self.daemon() != before {
                    // Another daemon may have other pane types: list its own.
                    self.types = None;
                    self.rows.clear();
                    self.selected = None;
                    return PickerOutcome::Daemon(self.daemon());
                }
            }
            KeyCode::Enter | KeyCode::Char('w') => {
                if let Some(t) = self.selected_type() {
                    if !t.available {
                        self.notice = Some(
                            t.missing
                                .clone()
                                .unwrap_or_else(|| format!("{} is not installed", t.display_name)),
                        );
                        return PickerOutcome::Stay;
                    }
                    return PickerOutcome::Open {
                        ty: Box::new(t.clone()),
                        target: self.target.clone(),
                        worktree: ev.code == KeyCode::Char('w'),
                    };
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
        PaneTypeInfo {
            missing: Some(
                "Codex is not installed: `codex` not found on PATH (see https://example.com/codex)"
                    .into(),
            ),
            ..t("codex", "Codex", "ai", "OpenAI's coding agent", false)
        },
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

    fn selected(p: &Picker) -> Option<&str> {
        p.selected_type().map(|t| t.name.as_str())
    }

    #[test]
    fn groups_by_category_and_explains_unavailable() {
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
        assert_eq!(selected(&p), Some("terminal"));
        p.key(&key(KeyCode::Down));
        assert_eq!(selected(&p), Some("claude"));
        p.key(&key(KeyCode::Down));
        assert_eq!(selected(&p), Some("codex"), "unavailable, but selectable");
        assert!(matches!(p.key(&key(KeyCode::Enter)), PickerOutcome::Stay));
        assert!(p
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("`codex` not found on PATH")));
        p.key(&key(KeyCode::Down));
        assert_eq!(p.notice, None, "moving on clears it");
        assert_eq!(selected(&p), Some("htop"));
        p.key(&key(KeyCode::Down));
        p.key(&key(KeyCode::Down));
        assert_eq!(selected(&p), Some("terminal"), "wraps past ssh");
        p.key(&key(KeyCode::Up));
        assert_eq!(selected(&p), Some("ssh"));
        p.key(&key(KeyCode::Enter));
        assert_eq!(
            p.notice.as_deref(),
            Some("SSH is not installed"),
            "without a reason from the daemon"
        );
        p.key(&key(KeyCode::Up));
        p.key(&key(KeyCode::Tab));
        assert_eq!(p.target, Target::SplitRight);
        match p.key(&key(KeyCode::Enter)) {
            PickerOutcome::Open {
                ty,
                target,
                worktree,
            } => assert_eq!(
                (ty.name.as_str(), target, worktree),
                ("htop", Target::SplitRight, false)
            ),
            _ => panic!("expected Open"),
        }
        assert!(matches!(
            p.key(&key(KeyCode::Char('w'))),
            PickerOutcome::Open { worktree: true, .. }
        ));
        assert!(matches!(p.key(&key(KeyCode::Esc)), PickerOutcome::Cancel));
    }

    #[test]
    fn refreshing_keeps_the_selection() {
        let mut p = Picker::loading();
        p.set_types(sample_types());
        p.key(&key(KeyCode::Down));
        p.set_types(sample_types());
        assert_eq!(selected(&p), Some("claude"));
    }

    #[test]
    fn nothing_available_still_explains() {
        let mut p = Picker::loading();
        let mut types = sample_types();
        for t in &mut types {
            t.available = false;
        }
        p.set_types(types);
        assert!(matches!(p.key(&key(KeyCode::Enter)), PickerOutcome::Stay));
        assert!(p.notice.is_some());
    }
}
