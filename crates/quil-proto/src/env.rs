//! Pane environments: which variables a client passes on to the panes it creates (as tmux's
//! `update-environment`), and which the daemon removes from every pane.
//!
//! A pane's environment is, later entries winning: the daemon's own (less [`REMOVED`]), the
//! [`FORWARDED`] variables of the client that asked for the pane, quil's own (`TERM`,
//! `COLORTERM`, `TERM_PROGRAM=quil`, `TERM_PROGRAM_VERSION`, `QUIL_PANE_ID`, `QUIL_HOME`), what
//! its pane type sets, and `SpawnSpec::env` (`quil new-tab -e VAR=VALUE`).

/// Variables a client sends with a new tab or split, so the pane sees the client's current
/// values (a `PATH` changed after the daemon started, the agent socket of this login).
pub const FORWARDED: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "SSH_CONNECTION",
    "SSH_ASKPASS",
    "KRB5CCNAME",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "WINDOWID",
    "COLORFGBG",
    "EDITOR",
    "VISUAL",
];

/// Prefixes of variables forwarded as well: the locale's `LC_*`.
pub const FORWARDED_PREFIXES: &[&str] = &["LC_"];

/// Variables no pane inherits: they would tell programs they run inside another multiplexer
/// (the outer terminal's tmux, screen or zellij).
pub const REMOVED: &[&str] = &[
    "TMUX",
    "TMUX_PANE",
    "STY",
    "WINDOW",
    "ZELLIJ",
    "ZELLIJ_SESSION_NAME",
    "ZELLIJ_PANE_ID",
    "TERM_PROGRAM_VERSION",
];

/// Whether a client passes `name` on to its panes.
pub fn is_forwarded(name: &str) -> bool {
    FORWARDED.contains(&name)
        || FORWARDED_PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name.starts_with(p))
}

/// The forwarded variables among `vars` (e.g. `std::env::vars()`), as `KEY=VALUE`, in name
/// order.
pub fn forwarded(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut v: Vec<String> = vars
        .into_iter()
        .filter(|(k, _)| is_forwarded(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    v.sort();
    v
}

/// What is wrong with `kv` as an entry of `SpawnSpec::env`, if anything: it must be
/// `NAME=VALUE` with a name that is not empty, and no NUL byte (`execve` cannot pass one).
pub fn entry_problem(kv: &str) -> Option<&'static str> {
    match kv.split_once('=') {
        None => Some("is not VAR=VALUE"),
        Some(("", _)) => Some("has an empty variable name"),
        Some(_) if kv.contains('\0') => Some("contains a NUL byte"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_need_a_name_and_an_equals_sign() {
        assert_eq!(entry_problem("FOO=bar"), None);
        assert_eq!(entry_problem("FOO="), None);
        assert_eq!(entry_problem("FOO=a=b"), None);
        assert_eq!(entry_problem("FOO"), Some("is not VAR=VALUE"));
        assert_eq!(entry_problem("=bar"), Some("has an empty variable name"));
        assert_eq!(entry_problem("F\0O=x"), Some("contains a NUL byte"));
    }

    #[test]
    fn forwards_the_list_and_the_locale_and_nothing_else() {
        let vars = [
            ("PATH", "/new/bin:/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("LC_", "x"),
            ("TMUX", "/tmp/tmux-0/default,1,0"),
            ("HOME", "/root"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("TERM", "screen"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            forwarded(vars),
            [
                "LC_ALL=C.UTF-8",
                "PATH=/new/bin:/usr/bin",
                "SSH_AUTH_SOCK=/run/agent"
            ]
        );
        for r in REMOVED {
            assert!(!is_forwarded(r), "{r}");
        }
    }
}
