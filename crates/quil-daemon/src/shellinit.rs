//! Shell integration: small init files that source the user's own rc files, then report the
//! working directory with OSC 7 at every prompt. Written to `$QUIL_HOME/shellinit/` at daemon
//! start, so the tracked cwd is live (shown on borders, used by splits, saved and restored).
//!
//! bash gets `--rcfile`, zsh a `ZDOTDIR` pointing at ours (the user's is passed along as
//! `QUIL_USER_ZDOTDIR`), fish reports OSC 7 by itself.

use crate::home::write_regenerated;
use std::path::{Path, PathBuf};

const BASHRC: &str = include_str!("shellinit/bashrc");
const ZSHENV: &str = include_str!("shellinit/zshenv");
const ZSHRC: &str = include_str!("shellinit/zshrc");

pub fn dir(home: &Path) -> PathBuf {
    home.join("shellinit")
}

/// Writes the init files (only when their content changed).
pub fn install(home: &Path) -> std::io::Result<()> {
    let d = dir(home);
    crate::persist::private_dir(&d.join("zsh"))?;
    for (path, text) in [
        (d.join("bashrc"), BASHRC),
        (d.join("zsh/.zshenv"), ZSHENV),
        (d.join("zsh/.zshrc"), ZSHRC),
    ] {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            write_regenerated(&path, text.as_bytes())?;
        }
    }
    Ok(())
}

/// argv and extra environment to start `shell` with quil's integration.
pub fn shell_command(home: &Path, shell: &str) -> (Vec<String>, Vec<(String, String)>) {
    let name = Path::new(shell)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let d = dir(home);
    match name {
        "bash" => (
            vec![
                shell.to_string(),
                "--rcfile".into(),
                d.join("bashrc").display().to_string(),
            ],
            vec![],
        ),
        "zsh" => {
            let mut env = vec![("ZDOTDIR".to_string(), d.join("zsh").display().to_string())];
            if let Some(user) = std::env::var_os("ZDOTDIR").filter(|v| !v.is_empty()) {
                env.push((
                    "QUIL_USER_ZDOTDIR".into(),
                    user.to_string_lossy().into_owned(),
                ));
            }
            (vec![shell.to_string()], env)
        }
        _ => (vec![shell.to_string()], vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_gets_rcfile_and_zsh_gets_zdotdir() {
        let home = Path::new("/h");
        let (argv, env) = shell_command(home, "/bin/bash");
        assert_eq!(argv, ["/bin/bash", "--rcfile", "/h/shellinit/bashrc"]);
        assert!(env.is_empty());
        let (argv, env) = shell_command(home, "/usr/bin/zsh");
        assert_eq!(argv, ["/usr/bin/zsh"]);
        assert_eq!(
            env[0],
            ("ZDOTDIR".to_string(), "/h/shellinit/zsh".to_string())
        );
        assert_eq!(shell_command(home, "/usr/bin/fish").0, ["/usr/bin/fish"]);
    }

    #[test]
    fn install_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        install(d.path()).unwrap();
        let m1 = std::fs::metadata(dir(d.path()).join("bashrc"))
            .unwrap()
            .modified()
            .unwrap();
        install(d.path()).unwrap();
        let m2 = std::fs::metadata(dir(d.path()).join("bashrc"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(m1, m2);
        assert!(std::fs::read_to_string(dir(d.path()).join("zsh/.zshrc"))
            .unwrap()
            .contains("add-zsh-hook"));
    }
}
