//! Where the daemon and its clients meet: `$QUIL_HOME` (default `~/.quil`) and the files in it.
//! Both sides resolve it here so they can never disagree.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("QUIL_HOME contains a NUL or control character: {0:?}")]
    BadChars(String),
    #[error("cannot find the home directory: set HOME or QUIL_HOME")]
    NoHome,
    #[error("cannot resolve QUIL_HOME {path}: {source}")]
    Cwd {
        path: String,
        source: std::io::Error,
    },
}

/// The absolute `$QUIL_HOME`. A relative value is made absolute against the current directory,
/// so child processes and the daemon (which changes directory) agree on it.
pub fn quil_home() -> Result<PathBuf, HomeError> {
    match std::env::var_os(ENV_HOME) {
        Some(v) if !v.is_empty() => absolute_home(Path::new(&v)),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or(HomeError::NoHome)?;
            absolute_home(&Path::new(&home).join(".quil"))
        }
    }
}

/// Validates and absolutizes a home path.
pub fn absolute_home(p: &Path) -> Result<PathBuf, HomeError> {
    let s = p.to_string_lossy();
    if s.chars().any(|c| c.is_control()) {
        return Err(HomeError::BadChars(s.into_owned()));
    }
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| HomeError::Cwd {
        path: s.clone().into_owned(),
        source: e,
    })?;
    Ok(cwd.join(p))
}

pub fn socket_path(home: &Path) -> PathBuf {
    home.join("quild.sock")
}

pub fn pid_path(home: &Path) -> PathBuf {
    home.join("quild.pid")
}

pub fn log_path(home: &Path) -> PathBuf {
    home.join("quild.log")
}

/// Set in every pane's environment: the pane's id. A `quil` run inside a pane uses it for the
/// nesting guard and as the default `--pane`.
pub const ENV_PANE_ID: &str = "QUIL_PANE_ID";
pub const ENV_HOME: &str = "QUIL_HOME";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_chars_are_refused() {
        let err = absolute_home(Path::new("/tmp/a\nb")).unwrap_err();
        assert!(err.to_string().contains("control character"));
        assert!(absolute_home(Path::new("/tmp/a\0b")).is_err());
    }

    #[test]
    fn relative_home_is_made_absolute() {
        let p = absolute_home(Path::new("rel/home")).unwrap();
        assert!(p.is_absolute());
        assert!(p.ends_with("rel/home"));
    }
}
