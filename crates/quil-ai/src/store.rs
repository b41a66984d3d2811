//! Reading the per-pane files the tracker and the hook write: `<kind>-<pane>.id` and
//! `<kind>-<pane>.state` in `$QUIL_HOME/sessions`.
//!
//! Every read opens with `O_NOFOLLOW` (a symlink is refused with an error naming the file),
//! caps the size at [`MAX_ID_FILE`] bytes and checks the id's shape, so nothing planted there
//! can turn into an option or a path on a command line.

use crate::fsutil::read_nofollow;
use crate::{AiError, Kind};
use quil_model::Attention;
use std::path::{Path, PathBuf};

/// The largest id or state file accepted.
pub const MAX_ID_FILE: u64 = 4096;

/// What an id file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id, valid for its kind.
    pub id: String,
    /// The transcript path the hook reported (line 2), when absolute (the hook kinds: Claude,
    /// Codex, Gemini).
    pub transcript: Option<PathBuf>,
}

/// Reads an id file. `Ok(None)` when missing or empty; an error when it is a symlink, not a
/// regular file, too large, or holds something that is not a valid id of `kind`.
pub fn read_session(path: &Path, kind: Kind) -> Result<Option<SessionRecord>, AiError> {
    let Some(bytes) = read_nofollow(path, MAX_ID_FILE)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let id = lines.next().unwrap_or_default().trim();
    if id.is_empty() {
        return Ok(None);
    }
    if !kind.is_valid_session_id(id) {
        return Err(AiError::BadId {
            path: path.to_path_buf(),
            kind: kind.name(),
            found: id.chars().take(80).collect(),
        });
    }
    let transcript = match kind {
        Kind::Claude | Kind::Codex | Kind::Gemini => lines
            .next()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .map(PathBuf::from),
        Kind::OpenCode => None,
    };
    Ok(Some(SessionRecord {
        id: id.to_string(),
        transcript,
    }))
}

/// The id alone; see [`read_session`].
pub fn read_session_id(path: &Path, kind: Kind) -> Result<Option<String>, AiError> {
    Ok(read_session(path, kind)?.map(|r| r.id))
}

/// What a state file holds: the state on line 1, an optional short detail on line 2
/// (`permission: Bash`, `api error: 529 server_error`), and on line 3 the number of turns the
/// pane has started. The count lets the daemon see a whole turn that began and ended between
/// two of its reads (it only ever sees the last write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub state: Attention,
    pub detail: Option<String>,
    pub turn: u64,
}

/// The longest detail kept (a line of a notification, not a log).
pub const MAX_DETAIL: usize = 120;

impl StateRecord {
    /// A record of turn 0; [`StateRecord::after`] numbers it.
    pub fn new(state: Attention, detail: Option<String>) -> StateRecord {
        StateRecord {
            state,
            detail,
            turn: 0,
        }
    }

    /// This record written after `previous`: a turn starts when the pane goes to `working`
    /// from anything but `working` or `waiting` (an answered prompt goes on with its turn).
    pub fn after(mut self, previous: Option<&StateRecord>) -> StateRecord {
        let (turn, busy) = previous.map_or((0, false), |p| {
            (
                p.turn,
                matches!(p.state, Attention::Working | Attention::Waiting),
            )
        });
        self.turn = turn + u64::from(self.state == Attention::Working && !busy);
        self
    }

    /// `state\ndetail\nturn\n`, the detail cleaned of control characters and capped (an
    /// empty line when there is none).
    pub fn to_file(&self) -> String {
        let detail = self.detail.as_deref().map(clean_detail).unwrap_or_default();
        format!("{}\n{detail}\n{}\n", self.state, self.turn)
    }
}

/// A detail as stored and shown: no control characters, at most [`MAX_DETAIL`] chars.
pub fn clean_detail(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Reads a state file (same safety rules as id files). `Ok(None)` when missing or unknown.
pub fn read_state(path: &Path) -> Result<Option<StateRecord>, AiError> {
    let Some(bytes) = read_nofollow(path, MAX_ID_FILE)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let Some(state) = lines.next().and_then(Attention::parse) else {
        return Ok(None);
    };
    let detail = lines.next().map(clean_detail).filter(|d| !d.is_empty());
    // Files written before turns were counted have no third line.
    let turn = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some(StateRecord {
        state,
        detail,
        turn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const OC: &str = "ses_e007f40e2ffeHizcOUqvCwmQgb";
    const CL: &str = "f35e1f56-d5c4-48c8-ad89-6831c5784b88";

    #[test]
    fn reads_ids_and_refuses_bad_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("opencode-pane-1a2b3c4d.id");
        assert_eq!(read_session_id(&p, Kind::OpenCode).expect("missing"), None);
        fs::write(&p, "").expect("write");
        assert_eq!(read_session_id(&p, Kind::OpenCode).expect("empty"), None);
        fs::write(&p, format!("{OC}\n")).expect("write");
        assert_eq!(
            read_session_id(&p, Kind::OpenCode).expect("ok").as_deref(),
            Some(OC)
        );
        // The wrong kind's id, or anything else, is an error naming the file.
        let err = read_session_id(&p, Kind::Claude).expect_err("wrong kind");
        assert!(
            err.to_string().contains("opencode-pane-1a2b3c4d.id"),
            "{err}"
        );
        fs::write(&p, "--help\n").expect("write");
        assert!(matches!(
            read_session_id(&p, Kind::OpenCode),
            Err(AiError::BadId { .. })
        ));
        fs::write(&p, vec![b'a'; 5000]).expect("write");
        assert!(matches!(
            read_session_id(&p, Kind::OpenCode),
            Err(AiError::TooLarge { .. })
        ));
    }

    #[test]
    fn symlinked_id_files_are_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let target = d.path().join("elsewhere");
        fs::write(&target, format!("{OC}\n")).expect("write");
        let p = d.path().join("opencode-pane-1a2b3c4d.id");
        std::os::unix::fs::symlink(&target, &p).expect("symlink");
        let err = read_session_id(&p, Kind::OpenCode).expect_err("symlink");
        assert!(matches!(err, AiError::Symlink(_)));
        assert!(err.to_string().contains("opencode-pane-1a2b3c4d.id"));
        assert!(err.to_string().contains("symbolic link"));
    }

    #[test]
    fn claude_files_carry_the_transcript() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("claude-pane-1a2b3c4d.id");
        fs::write(&p, format!("{CL}\n/c/projects/-w/{CL}.jsonl\n")).expect("write");
        let r = read_session(&p, Kind::Claude).expect("ok").expect("some");
        assert_eq!(r.id, CL);
        assert_eq!(
            r.transcript,
            Some(PathBuf::from(format!("/c/projects/-w/{CL}.jsonl")))
        );
        fs::write(&p, format!("{CL}\nrelative/path\n")).expect("write");
        assert_eq!(
            read_session(&p, Kind::Claude)
                .expect("ok")
                .expect("some")
                .transcript,
            None
        );
        fs::write(&p, format!("{CL}\n")).expect("write");
        assert_eq!(
            read_session(&p, Kind::Claude)
                .expect("ok")
                .expect("some")
                .transcript,
            None
        );
    }

    #[test]
    fn states() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("s");
        assert_eq!(read_state(&p).expect("missing"), None);
        for state in Attention::ALL {
            // As written before turns were counted.
            fs::write(&p, format!("{}\n", state.as_str())).expect("write");
            assert_eq!(
                read_state(&p).expect("ok"),
                Some(StateRecord::new(state, None))
            );
        }
        let r = StateRecord::new(Attention::Waiting, Some("permission: \x1b[31mBash".into()));
        assert_eq!(r.to_file(), "waiting\npermission:  [31mBash\n0\n");
        fs::write(&p, r.to_file()).expect("write");
        let back = read_state(&p).expect("ok").expect("some");
        assert_eq!(back.detail.as_deref(), Some("permission:  [31mBash"));
        let long = StateRecord::new(Attention::Error, Some("x".repeat(500)));
        assert_eq!(long.to_file().len(), "error\n".len() + MAX_DETAIL + 1 + 2);
        fs::write(&p, "bogus").expect("write");
        assert_eq!(read_state(&p).expect("ok"), None);
    }

    #[test]
    fn turns_are_counted_when_work_starts() {
        use Attention::*;
        let mut last: Option<StateRecord> = None;
        let mut turns = vec![];
        for s in [
            Idle, Working, Waiting, Working, Idle, Working, Error, Working, Idle,
        ] {
            let r = StateRecord::new(s, None).after(last.as_ref());
            turns.push(r.turn);
            last = Some(r);
        }
        assert_eq!(turns, [0, 1, 1, 1, 1, 2, 2, 3, 3]);
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("s");
        let r = StateRecord::new(Idle, None).after(last.as_ref());
        fs::write(&p, r.to_file()).expect("write");
        assert_eq!(read_state(&p).expect("ok"), Some(r));
    }
}
