//! Restart-proof state on disk: `workspace.json` (with `.bak`) and `buffers/<pane-id>` (each
//! pane's snapshot; its output since then is in `buffers/<pane-id>.journal`, see
//! [`crate::journal`]).
//!
//! Every write is temp file, fsync, rename, fsync of the directory, so a crash or `kill -9` at any
//! moment leaves either the old or the new file, never a torn one. The previous snapshot survives
//! as `workspace.json.bak`, and a load that finds the main file corrupt falls back to it.

use crate::home::write_atomic;
use quil_model::Workspace;
use quil_proto::{Line, PaneId};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Creates a directory of the daemon's (mode 0700) when missing.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Bumped on incompatible changes to `workspace.json`.
pub const SNAPSHOT_VERSION: u32 = 1;
/// A buffer of lines only, as quil wrote them before output journals.
const BUFFER_MAGIC_V1: &[u8] = b"QUILBUF1\n";
const BUFFER_MAGIC_V2: &[u8] = b"QUILBUF2\n";
/// Version 2 followed by the title.
const BUFFER_MAGIC: &[u8] = b"QUILBUF3\n";
/// What an instance's first journal begins with ([`encode_start`]).
const START_MAGIC: &[u8] = b"QUILSTART1\n";
/// Bytes a saved buffer takes besides its lines (an upper bound).
const BUFFER_OVERHEAD: usize = 64 + quil_term::MAX_TITLE + 2;
/// Largest workspace or buffer file read back, against a hostile or runaway file.
const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Deepest JSON nesting read back. A split is two levels (`{"split": {... "first": ...}}`), so
/// any layout within `MAX_SPLIT_DEPTH` fits with room to spare; anything deeper is refused
/// before the (recursive) parser sees it.
const MAX_JSON_DEPTH: usize = 2 * quil_model::MAX_SPLIT_DEPTH + 64;
/// Stack for parsing a snapshot: generous for `MAX_JSON_DEPTH` levels in any build.
const PARSE_STACK: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// Seconds since the Unix epoch.
    pub saved_at: u64,
    #[serde(flatten)]
    pub workspace: Workspace,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(
        "{path} has snapshot version {found}, newer than this quild understands ({SNAPSHOT_VERSION}); \
         upgrade quil, or move the file away to start empty"
    )]
    FutureVersion { path: PathBuf, found: u32 },
}

pub enum Loaded {
    /// No snapshot: a first start.
    Empty,
    Workspace(Workspace),
    /// The main file was unusable; the backup was used. The string says why.
    FromBackup(Workspace, String),
    /// Neither file was usable; starting empty. The string says why.
    Unusable(String),
}

pub fn workspace_path(home: &Path) -> PathBuf {
    home.join("workspace.json")
}

fn backup_path(home: &Path) -> PathBuf {
    home.join("workspace.json.bak")
}

pub fn buffers_dir(home: &Path) -> PathBuf {
    home.join("buffers")
}

pub fn buffer_path(home: &Path, pane: PaneId) -> PathBuf {
    buffers_dir(home).join(pane.to_string())
}

/// Writes the snapshot, keeping the previous one as `.bak`.
pub fn save_workspace(home: &Path, ws: &Workspace) -> std::io::Result<()> {
    let snap = Snapshot {
        version: SNAPSHOT_VERSION,
        saved_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        workspace: ws.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&snap).map_err(std::io::Error::other)?;
    json.push(b'\n');
    let main = workspace_path(home);
    if main.exists() {
        // Hard-link then rename, so workspace.json itself never disappears, even briefly. The
        // link's name is unpredictable, and link(2) never follows a symlink at its destination.
        let tmp = crate::home::temp_name(&backup_path(home));
        if std::fs::hard_link(&main, &tmp).is_ok() {
            if let Err(e) = std::fs::rename(&tmp, backup_path(home)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
    }
    write_atomic(&main, &json)
}

/// Opens a file for reading, never through a symlink.
fn open_nofollow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Reads a file without following symlinks and with a size cap.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let f = open_nofollow(path)?;
    let len = f.metadata()?.len();
    if len > cap {
        return Err(std::io::Error::other(format!(
            "{} is {len} bytes, over the {cap}-byte limit",
            path.display()
        )));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

fn parse(path: &Path) -> Result<Option<Workspace>, Result<String, PersistError>> {
    let bytes = match read_capped(path, MAX_FILE) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Ok(format!("cannot read {}: {e}", path.display()))),
    };
    // Look at the version before the rest, so a future format is refused, not misread.
    #[derive(Deserialize)]
    struct Probe {
        version: u32,
    }
    let depth = json_depth(&bytes);
    if depth > MAX_JSON_DEPTH {
        return Err(Ok(format!(
            "{} is nested {depth} levels deep, more than the {MAX_JSON_DEPTH} quild reads",
            path.display()
        )));
    }
    let probe: Probe =
        from_slice(&bytes).map_err(|e| Ok(format!("{} is corrupt: {e}", path.display())))?;
    if probe.version > SNAPSHOT_VERSION {
        return Err(Err(PersistError::FutureVersion {
            path: path.to_path_buf(),
            found: probe.version,
        }));
    }
    // The layout is a recursive tree: parse it on a thread with a stack sized for the deepest
    // one allowed (the depth was bounded above, so the parser's own limit is lifted).
    let parsed = std::thread::Builder::new()
        .name("quild-load".into())
        .stack_size(PARSE_STACK)
        .spawn(move || from_slice::<Snapshot>(&bytes).map_err(|e| e.to_string()))
        .map_err(|e| Ok(format!("cannot parse {}: {e}", path.display())))?
        .join()
        .map_err(|_| {
            Ok(format!(
                "cannot parse {}: the parser panicked",
                path.display()
            ))
        })?;
    let snap = parsed.map_err(|e| Ok(format!("{} is corrupt: {e}", path.display())))?;
    snap.workspace
        .validate()
        .map_err(|e| Ok(format!("{} is inconsistent: {e}", path.display())))?;
    Ok(Some(snap.workspace))
}

/// JSON with the parser's recursion limit lifted (bound the depth with [`json_depth`] first).
fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let v = T::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped), without
/// recursion. Malformed text gives some number; the parser reports what is wrong with it.
fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Moves a snapshot that cannot be loaded out of the way (`NAME.unloadable-<unix time>`), so
/// the next save cannot overwrite it and nothing is lost: a newer quil, or a person, may still
/// read it. Returns the new path.
pub(crate) fn set_aside(path: &Path) -> Option<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path.file_name()?.to_string_lossy().into_owned();
    let mut aside = path.with_file_name(format!("{name}.unloadable-{now}"));
    let mut n = 1;
    while std::fs::symlink_metadata(&aside).is_ok() {
        aside = path.with_file_name(format!("{name}.unloadable-{now}-{n}"));
        n += 1;
    }
    match std::fs::rename(path, &aside) {
        Ok(()) => Some(aside),
        Err(e) => {
            tracing::error!("cannot set aside {}: {e}", path.display());
            None
        }
    }
}

/// Why a file was unusable, and where it went.
fn aside_note(path: &Path, why: String) -> String {
    match set_aside(path) {
        Some(aside) => format!("{why} (kept as {})", aside.display()),
        None => why,
    }
}

/// Loads the snapshot, falling back to the backup. Only a snapshot from a newer quil is an
/// error: starting empty would overwrite it. A file that exists but cannot be loaded is set
/// aside as `NAME.unloadable-<time>`, never overwritten.
pub fn load_workspace(home: &Path) -> Result<Loaded, PersistError> {
    let main = workspace_path(home);
    let main_err = match parse(&main) {
        Ok(Some(ws)) => return Ok(Loaded::Workspace(ws)),
        Ok(None) => None,
        Err(Err(e)) => return Err(e),
        Err(Ok(why)) => Some(aside_note(&main, why)),
    };
    match parse(&backup_path(home)) {
        Ok(Some(ws)) => match main_err {
            Some(why) => Ok(Loaded::FromBackup(ws, why)),
            // The main file is missing but a backup exists: a crash between renames.
            None => Ok(Loaded::FromBackup(
                ws,
                format!("{} is missing", main.display()),
            )),
        },
        Ok(None) => Ok(main_err.map(Loaded::Unusable).unwrap_or(Loaded::Empty)),
        Err(Err(e)) => Err(e),
        Err(Ok(bak_why)) => {
            let bak_why = aside_note(&backup_path(home), bak_why);
            Ok(Loaded::Unusable(match main_err {
                Some(why) => format!("{why}; {bak_why}"),
                None => bak_why,
            }))
        }
    }
}

/// Where a snapshot stands in its pane's output journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMark {
    /// The journal's epoch: the pane instance that wrote both.
    pub epoch: u64,
    /// Stream position of the journal up to which the snapshot includes the pane's output.
    pub upto: u64,
}

/// A pane's saved content, `buffers/<pane-id>`: its recent history and screen, and what a
/// replay of its journal needs to continue from them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedBuffer {
    /// The journal this snapshot goes with (`None`: replay nothing).
    pub journal: Option<JournalMark>,
    /// The terminal's size when saved.
    pub cols: u16,
    pub rows: u16,
    /// The cursor (column, row) when saved.
    pub cursor: (u16, u16),
    /// The style the program had set for what it prints next.
    pub pen: quil_proto::Style,
    /// A program was on the alternate screen (whose content is not saved).
    pub alt_screen: bool,
    /// The screen's rows from the top down to its last non-blank one: the last of `lines`
    /// (fewer of them when the budget cut into the screen).
    pub screen_rows: u16,
    /// History, then the screen's rows, oldest first.
    pub lines: Vec<Line>,
    /// The title the program set (OSC 0/2). Written after the rest (version 3), so that a
    /// version 2 file still reads.
    #[serde(skip)]
    pub title: String,
}

/// Bytes `line` takes in a saved buffer (an upper bound).
fn saved_size(line: &Line) -> usize {
    postcard::experimental::serialized_size(line).unwrap_or(usize::MAX / 4) + 1
}

/// Saves a pane's recent lines (oldest first), keeping the newest that fit in `max_bytes`.
/// (The daemon fits lines as it decodes them, `PaneShared::export_saved`; this is for tests.)
#[cfg(test)]
pub fn save_buffer(
    home: &Path,
    pane: PaneId,
    lines: &[Line],
    max_bytes: usize,
) -> std::io::Result<()> {
    let saved = SavedBuffer {
        lines: fit_newest(lines.iter().rev().cloned(), max_bytes),
        ..Default::default()
    };
    write_buffer(home, pane, &saved)
}

/// The first lines of `newest_first` whose saved form fits a buffer file of `max_bytes`,
/// oldest first. Lazy: lines past the budget are never taken from the iterator.
pub fn fit_newest(newest_first: impl Iterator<Item = Line>, max_bytes: usize) -> Vec<Line> {
    let mut total = BUFFER_MAGIC.len() + BUFFER_OVERHEAD;
    let mut kept = Vec::new();
    for line in newest_first {
        let size = saved_size(&line);
        if total + size > max_bytes {
            break;
        }
        total += size;
        kept.push(line);
    }
    kept.reverse();
    kept
}

/// Writes a pane's saved content as it is (fit its lines with [`fit_newest`] first).
pub fn write_buffer(home: &Path, pane: PaneId, saved: &SavedBuffer) -> std::io::Result<()> {
    private_dir(&buffers_dir(home))?;
    write_atomic(&buffer_path(home, pane), &encode_buffer(saved)?)
}

/// What a pane instance began with: a terminal of this size with `history` put straight into
/// its history, then `bytes` fed to it (a restore's preamble; nothing for a new pane). An
/// instance's first journal begins with it, so a restore rebuilds the instance's start
/// exactly, with no snapshot file, and writing it costs no pass over the terminal.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Start {
    pub cols: u16,
    pub rows: u16,
    pub history: Vec<Line>,
    pub bytes: Vec<u8>,
}

/// [`Start`] as its owner has it, borrowed: the same encoding.
#[derive(Serialize)]
struct StartRef<'a> {
    cols: u16,
    rows: u16,
    history: &'a [Line],
    bytes: &'a [u8],
}

/// A [`Start`] as an instance's first journal holds it.
pub fn encode_start(
    (cols, rows): (u16, u16),
    history: &[Line],
    bytes: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut out = START_MAGIC.to_vec();
    let start = StartRef {
        cols,
        rows,
        history,
        bytes,
    };
    out.extend(postcard::to_allocvec(&start).map_err(std::io::Error::other)?);
    Ok(out)
}

pub fn decode_start(bytes: &[u8]) -> Result<Start, String> {
    let body = bytes
        .strip_prefix(START_MAGIC)
        .ok_or("not the start of a pane instance")?;
    postcard::from_bytes(body).map_err(|e| e.to_string())
}

/// What a pane's content is restored from: its snapshot, or (the first journal of its last
/// instance) what that instance began with.
#[derive(Debug)]
pub enum Base {
    Saved(SavedBuffer),
    Start(Start),
}

/// A saved buffer as its file holds it.
fn encode_buffer(saved: &SavedBuffer) -> std::io::Result<Vec<u8>> {
    let mut out = BUFFER_MAGIC.to_vec();
    out.extend(postcard::to_allocvec(saved).map_err(std::io::Error::other)?);
    out.extend(postcard::to_allocvec(&saved.title).map_err(std::io::Error::other)?);
    Ok(out)
}

/// The saved buffer in `bytes` (as [`encode_buffer`] or an older quil wrote it).
fn decode_buffer(bytes: &[u8]) -> Result<SavedBuffer, String> {
    if let Some(body) = bytes.strip_prefix(BUFFER_MAGIC) {
        postcard::take_from_bytes::<SavedBuffer>(body)
            .and_then(|(saved, rest)| {
                let title = postcard::from_bytes::<String>(rest)?;
                Ok(SavedBuffer { title, ..saved })
            })
            .map_err(|e| e.to_string())
    } else if let Some(body) = bytes.strip_prefix(BUFFER_MAGIC_V2) {
        postcard::from_bytes::<SavedBuffer>(body).map_err(|e| e.to_string())
    } else if let Some(body) = bytes.strip_prefix(BUFFER_MAGIC_V1) {
        postcard::from_bytes::<Vec<Line>>(body)
            .map(|lines| SavedBuffer {
                lines,
                ..Default::default()
            })
            .map_err(|e| e.to_string())
    } else {
        Err("not a quil buffer".to_string())
    }
}

/// Loads a pane's saved content; `None` when there is none or the file is unusable.
pub fn load_buffer(home: &Path, pane: PaneId) -> Option<SavedBuffer> {
    let path = buffer_path(home, pane);
    let bytes = match read_capped(&path, MAX_FILE) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("ignoring scrollback {}: {e}", path.display());
            return None;
        }
    };
    match decode_buffer(&bytes) {
        Ok(saved) => Some(saved),
        Err(e) => {
            tracing::warn!("ignoring corrupt scrollback {}: {e}", path.display());
            None
        }
    }
}

/// `buffers/<pane-id>.journal`: the pane's output since its snapshot.
pub fn journal_path(home: &Path, pane: PaneId) -> PathBuf {
    crate::journal::path_for(&buffer_path(home, pane))
}

/// Reads a pane's output journal. One that is not quil's (a foreign or damaged header) is set
/// aside as `NAME.unloadable-<time>` with a line in the log, and `None` returned.
pub fn load_journal(home: &Path, pane: PaneId, bound: u64) -> Option<crate::journal::Saved> {
    read_journal(&journal_path(home, pane), bound)
}

/// A pane's saved content, and the journal of what it printed since with the stream
/// position the content includes (none when the journal on disk is another instance's).
/// An instance's first journal (`<pane>.journal.start`) holds both (what the instance began
/// with, at position 0), and is the one to read unless that instance's compacted journal is
/// on disk already.
pub fn load_content(
    home: &Path,
    pane: PaneId,
    bound: u64,
) -> Option<(Base, Option<(u64, crate::journal::Saved)>)> {
    let path = journal_path(home, pane);
    let first = crate::journal::start_path(&path);
    // The old journal, when there is a first journal, matters only by its epoch: the header.
    if let Some(j) = read_journal(&first, bound).filter(|s| journal_epoch(&path) != Some(s.epoch)) {
        match j.start().map(decode_start) {
            Some(Ok(start)) => return Some((Base::Start(start), Some((0, j)))),
            Some(Err(e)) => tracing::warn!("ignoring {}: {e}", first.display()),
            None => tracing::warn!(
                "ignoring {}: it does not begin with a start",
                first.display()
            ),
        }
    }
    let saved = load_buffer(home, pane)?;
    let journal = saved.journal.and_then(|m| {
        load_journal(home, pane, bound)
            .filter(|j| j.epoch == m.epoch)
            .map(|j| (m.upto, j))
    });
    Some((Base::Saved(saved), journal))
}

/// The epoch of the journal at `path`, from its header alone.
fn journal_epoch(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut f = open_nofollow(path).ok()?;
    let mut h = [0u8; crate::journal::HEADER];
    f.read_exact(&mut h).ok()?;
    crate::journal::parse_header(&h).map(|(epoch, _)| epoch)
}

fn read_journal(path: &Path, bound: u64) -> Option<crate::journal::Saved> {
    let why = match read_capped(path, crate::journal::max_file(bound)) {
        Ok(b) => match crate::journal::Saved::parse(b) {
            Some(saved) => return Some(saved),
            None => format!("{} is not a quil output journal", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => format!("ignoring output journal: {e}"),
    };
    // Set aside before logging: a log macro may skip evaluating what it would print.
    let note = aside_note(path, why);
    tracing::warn!("{note}");
    None
}

/// Deletes a closed pane's snapshot and journal.
pub fn remove_buffer(home: &Path, pane: PaneId) {
    let journal = journal_path(home, pane);
    let _ = std::fs::remove_file(buffer_path(home, pane));
    let _ = std::fs::remove_file(crate::journal::start_path(&journal));
    let _ = std::fs::remove_file(journal);
}

/// Deletes buffers of panes that no longer exist.
#[cfg(test)]
pub fn prune_buffers(home: &Path, keep: &[PaneId]) {
    let Ok(entries) = std::fs::read_dir(buffers_dir(home)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let known = name
            .parse::<PaneId>()
            .map(|id| keep.contains(&id))
            .unwrap_or(false);
        if !known {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quil_model::{PaneMeta, SplitDir, TabId};

    fn ws() -> Workspace {
        let mut ws = Workspace::default();
        let meta = |n| PaneMeta {
            id: PaneId(n),
            name: format!("p{n}"),
            kind: "terminal".into(),
            cwd: "/tmp".into(),
            ..Default::default()
        };
        ws.add_tab(TabId(1), "one".into(), meta(1)).unwrap();
        ws.split(PaneId(1), SplitDir::Horizontal, meta(2)).unwrap();
        ws
    }

    #[test]
    fn save_load_and_backup() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_workspace(dir.path()).unwrap(), Loaded::Empty));
        let mut w = ws();
        save_workspace(dir.path(), &w).unwrap();
        w.tabs[0].name = "renamed".into();
        save_workspace(dir.path(), &w).unwrap();
        match load_workspace(dir.path()).unwrap() {
            Loaded::Workspace(got) => assert_eq!(got, w),
            _ => panic!("expected the main file"),
        }
        let json = std::fs::read_to_string(workspace_path(dir.path())).unwrap();
        assert!(
            json.contains("\"version\": 1") && json.contains("\"renamed\""),
            "{json}"
        );
        let bak = std::fs::read_to_string(backup_path(dir.path())).unwrap();
        assert!(
            bak.contains("\"one\""),
            "the backup holds the previous snapshot"
        );
    }

    #[test]
    fn corrupt_main_falls_back_to_backup() {
        let dir = tempfile::tempdir().unwrap();
        let w = ws();
        save_workspace(dir.path(), &w).unwrap();
        save_workspace(dir.path(), &w).unwrap();
        std::fs::write(
            workspace_path(dir.path()),
            b"{\"version\": 1, \"tabs\": [trunc",
        )
        .unwrap();
        match load_workspace(dir.path()).unwrap() {
            Loaded::FromBackup(got, why) => {
                assert_eq!(got, w);
                assert!(why.contains("corrupt"), "{why}");
            }
            _ => panic!("expected the backup"),
        }
        std::fs::write(backup_path(dir.path()), b"garbage").unwrap();
        assert!(matches!(
            load_workspace(dir.path()).unwrap(),
            Loaded::Unusable(_)
        ));
    }

    #[test]
    fn unloadable_files_are_set_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(workspace_path(dir.path()), b"{\"version\": 1, trunc").unwrap();
        std::fs::write(backup_path(dir.path()), b"garbage").unwrap();
        let Loaded::Unusable(why) = load_workspace(dir.path()).unwrap() else {
            panic!("expected unusable");
        };
        assert!(why.contains("unloadable-"), "{why}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("workspace.json.unloadable-"))
                && names
                    .iter()
                    .any(|n| n.starts_with("workspace.json.bak.unloadable-")),
            "{names:?}"
        );
        assert!(!workspace_path(dir.path()).exists());
        // Saving now cannot touch them.
        save_workspace(dir.path(), &ws()).unwrap();
        assert!(matches!(
            load_workspace(dir.path()).unwrap(),
            Loaded::Workspace(_)
        ));
    }

    #[test]
    fn deep_layouts_load_back_and_absurd_nesting_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ws();
        let meta = |n| quil_model::PaneMeta {
            id: PaneId(n),
            name: format!("p{n}"),
            kind: "terminal".into(),
            cwd: "/tmp".into(),
            ..Default::default()
        };
        for n in 2..2 + quil_model::MAX_SPLIT_DEPTH as u32 - 1 {
            w.split(PaneId(n), SplitDir::Vertical, meta(n + 1)).unwrap();
        }
        assert_eq!(w.tabs[0].layout.depth(), quil_model::MAX_SPLIT_DEPTH);
        save_workspace(dir.path(), &w).unwrap();
        match load_workspace(dir.path()).unwrap() {
            Loaded::Workspace(got) => assert_eq!(got, w),
            _ => panic!("a deep layout must load back"),
        }
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        std::fs::write(workspace_path(dir.path()), deep).unwrap();
        let Loaded::Unusable(why) = load_workspace(dir.path()).unwrap() else {
            panic!("expected unusable");
        };
        assert!(why.contains("levels deep"), "{why}");
    }

    #[test]
    fn future_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            workspace_path(dir.path()),
            b"{\"version\": 99, \"whatever\": true}",
        )
        .unwrap();
        let err = load_workspace(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    #[test]
    fn symlinked_files_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("elsewhere"), b"secret").unwrap();
        std::fs::create_dir_all(buffers_dir(dir.path())).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("elsewhere"),
            buffer_path(dir.path(), PaneId(1)),
        )
        .unwrap();
        assert!(load_buffer(dir.path(), PaneId(1)).is_none());
        assert!(read_capped(&buffer_path(dir.path(), PaneId(1)), 100).is_err());
    }

    #[test]
    fn buffers_keep_the_newest_lines_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<Line> = (0..1000)
            .map(|i| Line::plain(&format!("line {i:04} ........")))
            .collect();
        save_buffer(dir.path(), PaneId(7), &lines, 4096).unwrap();
        let size = std::fs::metadata(buffer_path(dir.path(), PaneId(7)))
            .unwrap()
            .len();
        assert!(size <= 4096, "{size}");
        let back = load_buffer(dir.path(), PaneId(7)).unwrap().lines;
        assert!(back.len() > 50 && back.len() < 1000);
        assert_eq!(back.last().unwrap().text(), "line 0999 ........");
        assert_eq!(back, lines[1000 - back.len()..].to_vec());
        prune_buffers(dir.path(), &[PaneId(8)]);
        assert!(load_buffer(dir.path(), PaneId(7)).is_none());
    }

    /// An instance's first journal holds its snapshot and its output, and is read unless the
    /// same instance's compacted journal is on disk.
    #[test]
    fn an_instances_first_journal_stands_alone_until_compacted() {
        use crate::journal::{header, start_path, Entry};
        let dir = tempfile::tempdir().unwrap();
        let (home, pane) = (dir.path(), PaneId(3));
        let journal_file = |epoch: u64, entries: &[Entry<'_>]| {
            let mut b = header(epoch, 0).to_vec();
            entries.iter().for_each(|e| e.encode(&mut b));
            b
        };
        let saved = |epoch: u64, text: &str| SavedBuffer {
            journal: Some(JournalMark { epoch, upto: 0 }),
            cols: 20,
            rows: 5,
            lines: vec![Line::plain(text)],
            ..Default::default()
        };
        let text = |c: Option<(Base, Option<(u64, crate::journal::Saved)>)>| {
            let (base, j) = c.expect("content");
            let out: Vec<u8> = j
                .map(|(upto, j)| {
                    j.after(upto)
                        .0
                        .iter()
                        .filter_map(|e| match e {
                            Entry::Output(b) => Some(b.to_vec()),
                            _ => None,
                        })
                        .flatten()
                        .collect()
                })
                .unwrap_or_default();
            let shown = match base {
                Base::Saved(s) => s.lines[0].text(),
                Base::Start(s) => format!(
                    "{}+{}",
                    s.history[0].text(),
                    String::from_utf8_lossy(&s.bytes)
                ),
            };
            (shown, String::from_utf8(out).unwrap())
        };
        // The last instance's snapshot and journal, and a new instance's first journal.
        write_buffer(home, pane, &saved(1, "old")).unwrap();
        let journal = journal_path(home, pane);
        std::fs::write(&journal, journal_file(1, &[Entry::Output(b"old tail")])).unwrap();
        let first = encode_start((20, 5), &[Line::plain("new")], b"screen").unwrap();
        assert_eq!(
            decode_start(&first),
            Ok(Start {
                cols: 20,
                rows: 5,
                history: vec![Line::plain("new")],
                bytes: b"screen".to_vec(),
            })
        );
        std::fs::write(
            start_path(&journal),
            journal_file(2, &[Entry::Start(&first), Entry::Output(b"new tail")]),
        )
        .unwrap();
        assert_eq!(
            text(load_content(home, pane, 1 << 20)),
            ("new+screen".into(), "new tail".into())
        );
        // Compacted: the same instance's snapshot and journal are the newer.
        write_buffer(home, pane, &saved(2, "compacted")).unwrap();
        std::fs::write(&journal, journal_file(2, &[Entry::Output(b"since")])).unwrap();
        assert_eq!(
            text(load_content(home, pane, 1 << 20)),
            ("compacted".into(), "since".into())
        );
        // Damaged first journal: the older files.
        std::fs::write(start_path(&journal), b"garbage").unwrap();
        write_buffer(home, pane, &saved(1, "old")).unwrap();
        std::fs::write(&journal, journal_file(1, &[Entry::Output(b"old tail")])).unwrap();
        assert_eq!(
            text(load_content(home, pane, 1 << 20)),
            ("old".into(), "old tail".into())
        );
    }

    #[test]
    fn buffers_keep_the_title_and_older_versions_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let saved = SavedBuffer {
            cols: 80,
            rows: 24,
            lines: vec![Line::plain("hello")],
            title: "vim notes.txt".into(),
            ..Default::default()
        };
        write_buffer(dir.path(), PaneId(1), &saved).unwrap();
        assert_eq!(load_buffer(dir.path(), PaneId(1)), Some(saved.clone()));
        // Version 2, as quil wrote it before titles were kept: everything but the title.
        let mut v2 = BUFFER_MAGIC_V2.to_vec();
        v2.extend(postcard::to_allocvec(&saved).unwrap());
        std::fs::write(buffer_path(dir.path(), PaneId(2)), v2).unwrap();
        let back = load_buffer(dir.path(), PaneId(2)).unwrap();
        assert_eq!((back.lines, back.title), (saved.lines, String::new()));
    }
}
