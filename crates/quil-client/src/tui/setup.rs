//! The new-pane form, shown after the picker for pane types that ask for a directory, have
//! toggles or fields, or when a worktree was asked for: a directory with recent ones to pick
//! from, the type's text fields, its toggles (radio buttons within a group) and "run in its
//! own git worktree". Pure state and key handling; drawing is in `popup`.

use super::picker::Target;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use quil_proto::{PaneTypeInfo, SpawnSpec};

/// One focusable row of the form, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Dir,
    /// Index into [`Setup::recent`].
    Recent(usize),
    /// Index into [`Setup::fields`].
    Field(usize),
    /// Index into [`Setup::toggles`].
    Toggle(usize),
    Worktree,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Toggle {
    pub name: String,
    pub label: String,
    pub on: bool,
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub required: bool,
    /// Used by the daemon when the value is left empty; shown as a placeholder.
    pub default: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub ty: PaneTypeInfo,
    pub target: Target,
    /// The directory as typed (`~` allowed); `None` when the form does not ask for one.
    pub dir: Option<String>,
    /// Where a relative directory is taken from: the active pane's cwd.
    pub base_dir: Option<String>,
    /// Directories to pick from, absolute, most relevant first.
    pub recent: Vec<String>,
    pub fields: Vec<Field>,
    pub toggles: Vec<Toggle>,
    pub worktree: bool,
    pub focus: Item,
    /// Why Enter did not open the pane (a required field, or the daemon's answer).
    pub error: Option<String>,
    /// Completion candidates or other help, shown under the form.
    pub hint: Option<String>,
    /// The pane was requested; waiting for the daemon's answer.
    pub busy: bool,
    /// `$HOME`, for `~`.
    pub home: Option<String>,
}

pub enum SetupOutcome {
    Stay,
    Cancel,
    /// Open the pane; `dir` (absolute) is remembered as a recent directory once it opens.
    Open {
        spawn: Box<SpawnSpec>,
        dir: Option<String>,
    },
}

/// Whether a pane type needs the form before it can be opened.
pub fn needs_form(t: &PaneTypeInfo) -> bool {
    t.prompts_cwd || !t.toggles.is_empty() || !t.fields.is_empty()
}

/// `~` and `~/x` with `$HOME`; a relative path against `base`.
pub fn expand(text: &str, home: Option<&str>, base: Option<&str>) -> String {
    let t = text.trim();
    let expanded = match (t.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => t.to_string(),
    };
    match base {
        Some(b) if !expanded.starts_with('/') && !expanded.is_empty() => {
            format!("{}/{expanded}", b.trim_end_matches('/'))
        }
        _ => expanded,
    }
}

/// `$HOME/x` as `~/x`, for display.
pub fn shorten(path: &str, home: Option<&str>) -> String {
    match home {
        Some(h) if !h.is_empty() && (path == h || path.starts_with(&format!("{h}/"))) => {
            format!("~{}", &path[h.len()..])
        }
        _ => path.to_string(),
    }
}

/// Completes the last component of a directory path from the file system. Returns the new
/// text (unchanged when nothing more is certain) and, when several directories still match,
/// their names.
pub fn complete(text: &str, home: Option<&str>, base: Option<&str>) -> (String, Vec<String>) {
    if text == "~" {
        return ("~/".into(), Vec::new());
    }
    let (parent, prefix) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let dir = if parent.is_empty() {
        base.map(str::to_string)
    } else {
        Some(expand(parent, home, base))
    };
    let Some(dir) = dir else {
        return (text.to_string(), Vec::new());
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (text.to_string(), Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        // Hidden directories only when asked for with a leading dot.
        .filter(|n| n.starts_with(prefix) && (prefix.starts_with('.') || !n.starts_with('.')))
        .collect();
    names.sort();
    match names.as_slice() {
        [] => (text.to_string(), Vec::new()),
        [one] => (format!("{parent}{one}/"), Vec::new()),
        [first, rest @ ..] => {
            let mut common = first.as_str();
            for n in rest {
                let len = common
                    .char_indices()
                    .zip(n.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                common = &common[..len];
            }
            (format!("{parent}{common}"), names)
        }
    }
}

impl Setup {
    /// `dir` is the prefilled directory (the active pane's cwd); `recent` the directories to
    /// offer. The directory is asked for when the type wants one or a worktree was asked for.
    pub fn new(
        ty: PaneTypeInfo,
        target: Target,
        worktree: bool,
        dir: Option<String>,
        recent: Vec<String>,
        home: Option<String>,
    ) -> Setup {
        let asks_dir = ty.prompts_cwd || worktree;
        let fields = ty
            .fields
            .iter()
            .map(|(name, label, required, default)| Field {
                name: name.clone(),
                label: label.clone(),
                required: *required,
                default: default.clone(),
                value: String::new(),
            })
            .collect();
        let mut toggles: Vec<Toggle> = ty
            .toggles
            .iter()
            .map(|(name, label, on, group)| Toggle {
                name: name.clone(),
                label: label.clone(),
                on: *on,
                group: group.clone(),
            })
            .collect();
        // The daemon validates plugins, but never show two radio buttons on at once.
        for i in 0..toggles.len() {
            if toggles[i].on && toggles[i].group.is_some() {
                let g = toggles[i].group.clone();
                for (j, t) in toggles.iter_mut().enumerate() {
                    if j > i && t.group == g {
                        t.on = false;
                    }
                }
            }
        }
        let mut s = Setup {
            ty,
            target,
            dir: asks_dir.then(|| {
                dir.as_deref()
                    .map(|d| shorten(d, home.as_deref()))
                    .unwrap_or_default()
            }),
            base_dir: dir,
            recent: if asks_dir { recent } else { Vec::new() },
            fields,
            toggles,
            worktree,
            focus: Item::Worktree,
            error: None,
            hint: None,
            busy: false,
            home,
        };
        // Start where typing is most likely needed: a required field, else the first row.
        s.focus = s
            .items()
            .into_iter()
            .find(|i| matches!(i, Item::Field(k) if s.fields[*k].required))
            .unwrap_or_else(|| s.items()[0]);
        s
    }

    /// The focusable rows in display order.
    pub fn items(&self) -> Vec<Item> {
        let mut v = Vec::new();
        if self.dir.is_some() {
            v.push(Item::Dir);
            v.extend((0..self.recent.len()).map(Item::Recent));
        }
        v.extend((0..self.fields.len()).map(Item::Field));
        v.extend((0..self.toggles.len()).map(Item::Toggle));
        v.push(Item::Worktree);
        v
    }

    fn move_focus(&mut self, dir: isize) {
        let items = self.items();
        let i = items.iter().position(|x| *x == self.focus).unwrap_or(0) as isize;
        let n = items.len() as isize;
        self.focus = items[(i + dir).rem_euclid(n) as usize];
    }

    /// Flips toggle `i`; turning on a radio button turns the rest of its group off.
    pub fn flip(&mut self, i: usize) {
        let Some(t) = self.toggles.get(i) else { return };
        let (on, group) = (!t.on, t.group.clone());
        if on && group.is_some() {
            for t in self.toggles.iter_mut().filter(|t| t.group == group) {
                t.on = false;
            }
        }
        self.toggles[i].on = on;
    }

    /// The text being edited, when the focus is on a text row.
    fn text_mut(&mut self) -> Option<&mut String> {
        match self.focus {
            Item::Dir => self.dir.as_mut(),
            Item::Field(i) => self.fields.get_mut(i).map(|f| &mut f.value),
            _ => None,
        }
    }

    pub fn paste(&mut self, text: &str) {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        if let Some(t) = self.text_mut() {
            t.push_str(&clean);
        }
    }

    /// The absolute directory the pane will start in, when the form asks for one.
    pub fn dir_value(&self) -> Option<String> {
        let d = self.dir.as_deref()?;
        let e = expand(d, self.home.as_deref(), self.base_dir.as_deref());
        (!e.is_empty()).then_some(e)
    }

    /// Checks the form and builds the request, or says what is missing (and focuses it).
    pub fn submit(&mut self) -> SetupOutcome {
        if let Some(i) = self
            .fields
            .iter()
            .position(|f| f.required && f.value.trim().is_empty() && f.default.is_none())
        {
            self.error = Some(format!("{} is required", self.fields[i].label));
            self.focus = Item::Field(i);
            return SetupOutcome::Stay;
        }
        let dir = self.dir_value();
        let spawn = SpawnSpec {
            kind: Some(self.ty.name.clone()),
            cwd: dir.clone(),
            worktree: self.worktree,
            toggles: self
                .toggles
                .iter()
                .map(|t| (t.name.clone(), t.on))
                .collect(),
            fields: self
                .fields
                .iter()
                .filter(|f| !f.value.trim().is_empty())
                .map(|f| (f.name.clone(), f.value.trim().to_string()))
                .collect(),
            ..SpawnSpec::default()
        };
        SetupOutcome::Open {
            spawn: Box::new(spawn),
            dir,
        }
    }

    pub fn key(&mut self, ev: &KeyEvent) -> SetupOutcome {
        if self.busy {
            // The request is on its way; only leaving is possible.
            return match ev.code {
                KeyCode::Esc => SetupOutcome::Cancel,
                _ => SetupOutcome::Stay,
            };
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        self.hint = None;
        match ev.code {
            KeyCode::Esc => return SetupOutcome::Cancel,
            KeyCode::Up => self.move_focus(-1),
            KeyCode::Down => self.move_focus(1),
            KeyCode::BackTab => self.move_focus(-1),
            KeyCode::Tab if self.focus == Item::Dir => {
                let text = self.dir.clone().unwrap_or_default();
                let (new, candidates) =
                    complete(&text, self.home.as_deref(), self.base_dir.as_deref());
                if new == text && candidates.is_empty() {
                    // Nothing to complete: Tab moves on, as in any other form.
                    self.move_focus(1);
                } else {
                    if candidates.len() > 1 {
                        self.hint = Some(candidates.join("  "));
                    }
                    self.dir = Some(new);
                }
            }
            KeyCode::Tab => self.move_focus(1),
            KeyCode::Enter => {
                if let Item::Recent(i) = self.focus {
                    self.pick_recent(i);
                }
                self.error = None;
                return self.submit();
            }
            KeyCode::Char(' ') if !matches!(self.focus, Item::Dir | Item::Field(_)) => {
                match self.focus {
                    Item::Recent(i) => {
                        self.pick_recent(i);
                        self.focus = Item::Dir;
                    }
                    Item::Toggle(i) => self.flip(i),
                    Item::Worktree => self.worktree = !self.worktree,
                    Item::Dir | Item::Field(_) => {}
                }
            }
            KeyCode::Backspace => {
                if let Some(t) = self.text_mut() {
                    t.pop();
                }
            }
            KeyCode::Char('u') if ctrl => {
                if let Some(t) = self.text_mut() {
                    t.clear();
                }
            }
            // Deletes the last word, or path component: `~/src/app/` becomes `~/src/`.
            KeyCode::Char('w') if ctrl => {
                if let Some(t) = self.text_mut() {
                    let trimmed = t.trim_end_matches(['/', ' ']);
                    let cut = trimmed.rfind(['/', ' ']).map_or(0, |i| i + 1);
                    t.truncate(cut);
                }
            }
            KeyCode::Char(c)
                if !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                if let Some(t) = self.text_mut() {
                    t.push(c);
                }
            }
            _ => {}
        }
        SetupOutcome::Stay
    }

    fn pick_recent(&mut self, i: usize) {
        if let Some(d) = self.recent.get(i) {
            self.dir = Some(shorten(d, self.home.as_deref()));
        }
    }
}

#[cfg(test)]
pub(crate) fn sample_agent() -> PaneTypeInfo {
    PaneTypeInfo {
        name: "claude-code".into(),
        display_name: "Claude Code".into(),
        category: "ai".into(),
        description: "Anthropic's agentic coding tool".into(),
        available: true,
        source: "embedded:claude-code.toml".into(),
        prompts_cwd: true,
        toggles: vec![
            ("skip".into(), "Skip permissions".into(), false, None),
            (
                "opus".into(),
                "Model: Opus".into(),
                true,
                Some("model".into()),
            ),
            (
                "sonnet".into(),
                "Model: Sonnet".into(),
                false,
                Some("model".into()),
            ),
        ],
        fields: vec![
            ("target".into(), "user@host".into(), true, None),
            ("port".into(), "Port".into(), false, Some("22".into())),
        ],
        missing: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(s: &mut Setup, text: &str) {
        for c in text.chars() {
            s.key(&key(KeyCode::Char(c)));
        }
    }

    fn form() -> Setup {
        Setup::new(
            sample_agent(),
            Target::Split,
            false,
            Some("/home/me/src/quil".into()),
            vec!["/home/me/src/app".into(), "/tmp".into()],
            Some("/home/me".into()),
        )
    }

    #[test]
    fn rows_focus_and_prefill() {
        let s = form();
        assert_eq!(s.dir.as_deref(), Some("~/src/quil"));
        assert_eq!(
            s.items(),
            [
                Item::Dir,
                Item::Recent(0),
                Item::Recent(1),
                Item::Field(0),
                Item::Field(1),
                Item::Toggle(0),
                Item::Toggle(1),
                Item::Toggle(2),
                Item::Worktree
            ]
        );
        assert_eq!(s.focus, Item::Field(0), "starts on the required field");
        // A type without a directory prompt does not ask for one, unless for a worktree.
        let mut t = sample_agent();
        t.prompts_cwd = false;
        let s = Setup::new(
            t.clone(),
            Target::Split,
            false,
            None,
            vec!["/x".into()],
            None,
        );
        assert_eq!(s.dir, None);
        assert!(s.recent.is_empty());
        let s = Setup::new(t, Target::Split, true, None, vec!["/x".into()], None);
        assert_eq!(s.dir.as_deref(), Some(""));
        assert!(s.worktree);
    }

    #[test]
    fn radio_groups_are_exclusive_and_may_be_all_off() {
        let mut s = form();
        let on = |s: &Setup| s.toggles.iter().map(|t| t.on).collect::<Vec<_>>();
        assert_eq!(on(&s), [false, true, false]);
        s.flip(2);
        assert_eq!(on(&s), [false, false, true], "sonnet turns opus off");
        s.flip(0);
        assert_eq!(on(&s), [true, false, true], "a checkbox is independent");
        s.flip(2);
        assert_eq!(on(&s), [true, false, false], "a group may have none on");
        // Space on the focused row flips it.
        s.focus = Item::Toggle(1);
        s.key(&key(KeyCode::Char(' ')));
        assert_eq!(on(&s), [true, true, false]);
        s.focus = Item::Worktree;
        s.key(&key(KeyCode::Char(' ')));
        assert!(s.worktree);
        // Two defaults on in one group (a bad plugin): only the first stays on.
        let mut t = sample_agent();
        t.toggles[2].2 = true;
        let s = Setup::new(t, Target::Split, false, None, vec![], None);
        assert_eq!(on(&s), [false, true, false]);
    }

    #[test]
    fn required_fields_must_be_filled() {
        let mut s = form();
        s.focus = Item::Worktree;
        assert!(matches!(s.key(&key(KeyCode::Enter)), SetupOutcome::Stay));
        assert_eq!(s.error.as_deref(), Some("user@host is required"));
        assert_eq!(s.focus, Item::Field(0));
        typed(&mut s, " me@host ");
        s.key(&key(KeyCode::Down));
        s.key(&key(KeyCode::Down));
        s.key(&key(KeyCode::Char(' ')));
        match s.key(&key(KeyCode::Enter)) {
            SetupOutcome::Open { spawn, dir } => {
                assert_eq!(dir.as_deref(), Some("/home/me/src/quil"));
                assert_eq!(
                    *spawn,
                    SpawnSpec {
                        kind: Some("claude-code".into()),
                        cwd: Some("/home/me/src/quil".into()),
                        worktree: false,
                        toggles: vec![
                            ("skip".into(), true),
                            ("opus".into(), true),
                            ("sonnet".into(), false)
                        ],
                        // The port is left to its default.
                        fields: vec![("target".into(), "me@host".into())],
                        ..SpawnSpec::default()
                    }
                );
            }
            _ => panic!("expected Open"),
        }
    }

    #[test]
    fn directory_editing_and_recent_picks() {
        let mut s = form();
        s.focus = Item::Dir;
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        s.key(&ctrl('w'));
        assert_eq!(s.dir.as_deref(), Some("~/src/"));
        typed(&mut s, "other");
        assert_eq!(s.dir_value().as_deref(), Some("/home/me/src/other"));
        s.key(&ctrl('u'));
        typed(&mut s, "rel/x");
        assert_eq!(
            s.dir_value().as_deref(),
            Some("/home/me/src/quil/rel/x"),
            "relative to the active pane's directory"
        );
        s.key(&key(KeyCode::Down));
        assert_eq!(s.focus, Item::Recent(0));
        s.key(&key(KeyCode::Char(' ')));
        assert_eq!((s.dir.as_deref(), s.focus), (Some("~/src/app"), Item::Dir));
        // Enter on a recent directory opens there at once.
        s.focus = Item::Recent(1);
        s.fields[0].value = "h".into();
        match s.key(&key(KeyCode::Enter)) {
            SetupOutcome::Open { dir, .. } => assert_eq!(dir.as_deref(), Some("/tmp")),
            _ => panic!("expected Open"),
        }
        s.busy = true;
        assert!(matches!(s.key(&key(KeyCode::Enter)), SetupOutcome::Stay));
        assert!(matches!(s.key(&key(KeyCode::Esc)), SetupOutcome::Cancel));
    }

    #[test]
    fn tab_completes_directories() {
        let root = super::super::recent::temp_dir("complete");
        for d in ["alpha", "alpine", "beta", ".hidden"] {
            std::fs::create_dir(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("alfile"), "").expect("write");
        let r = root.display().to_string();
        assert_eq!(
            complete(&format!("{r}/b"), None, None),
            (format!("{r}/beta/"), vec![])
        );
        assert_eq!(
            complete(&format!("{r}/a"), None, None),
            (
                format!("{r}/alp"),
                vec!["alpha".to_string(), "alpine".to_string()]
            ),
            "files are not candidates"
        );
        assert_eq!(
            complete(&format!("{r}/."), None, None).0,
            format!("{r}/.hidden/")
        );
        assert_eq!(complete("be", None, Some(&r)).0, "beta/", "relative");
        assert_eq!(complete("~", Some(&r), None).0, "~/");
        assert_eq!(complete("~/al", Some(&r), None).0, "~/alp");
        assert_eq!(complete("/nonexistent/x", None, None).0, "/nonexistent/x");
        let _ = std::fs::remove_dir_all(&root);
    }
}
