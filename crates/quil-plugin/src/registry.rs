//! The embedded default plugins, installing them into `$QUIL_HOME/plugins/`, and the registry
//! of every pane type.

use crate::diag::{Diagnostic, Level};
use crate::model::{Plugin, Source};
use crate::parse::{parse, parse_file};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const EMBEDDED: &[(&str, &str)] = &[
    (
        "claude-code.toml",
        include_str!("../../../plugins/claude-code.toml"),
    ),
    ("codex.toml", include_str!("../../../plugins/codex.toml")),
    ("gemini.toml", include_str!("../../../plugins/gemini.toml")),
    (
        "opencode.toml",
        include_str!("../../../plugins/opencode.toml"),
    ),
    ("ssh.toml", include_str!("../../../plugins/ssh.toml")),
    (
        "terminal.toml",
        include_str!("../../../plugins/terminal.toml"),
    ),
];

/// The JSON Schema for plugin files (`docs/plugin.schema.json`), written beside the installed
/// defaults so the `#:schema ./plugin.schema.json` line in them works in editors.
/// The pane type of new tabs and splits when none is named; it cannot be disabled.
pub const DEFAULT_TYPE: &str = "terminal";

pub const SCHEMA_JSON: &str = include_str!("../../../docs/plugin.schema.json");

/// The schema's file name in the plugins directory.
pub const SCHEMA_FILE: &str = "plugin.schema.json";

/// Records a hash of each default as quil last wrote it, so an unedited default can be
/// upgraded in place while an edited one is never touched.
const MANIFEST: &str = ".defaults.json";

/// The default plugins built into quil: (file name, contents) of the repository's
/// `plugins/*.toml`.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

/// How diagnostics name an embedded file.
pub fn embedded_label(file: &str) -> String {
    format!("<built-in>/{file}")
}

/// FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `schema_version` of a plugin file, read leniently (the file may be otherwise invalid).
/// Absent means 1, as in [`crate::parse`]; `None` when the file is not TOML at all.
fn schema_version_of(text: &str) -> Option<i64> {
    let value: toml::Table = toml::from_str(text).ok()?;
    Some(
        value
            .get("plugin")
            .and_then(|p| p.get("schema_version"))
            .and_then(toml::Value::as_integer)
            .unwrap_or(1),
    )
}

/// Writes via a temporary file and a rename, so a watcher never sees a half-written plugin. The
/// temp file has an unpredictable name and is created new (`O_EXCL`, which never follows a
/// symlink), mode 0600. No fsync: these files are written again at every start when they are
/// missing or empty, and a daemon's start must not wait on a busy disk.
fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    use std::hash::{BuildHasher, Hasher};
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // RandomState is seeded from the OS's random source; each one hashes differently.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let tmp = path.with_file_name(format!(".{name}.tmp-{:016x}", h.finish()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn new_path(path: &Path) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(".new");
    PathBuf::from(os)
}

/// Writes the embedded defaults into `dir` (created if missing), plus `plugin.schema.json`.
///
/// - A missing default is written.
/// - A default quil wrote and the user has not edited since is replaced by the newer one.
/// - A file the user edited is never overwritten. When quil's default has a higher
///   `schema_version`, the new default is written beside it as `NAME.toml.new` and a notice
///   says so; this repeats on every call until the user merges it (and raises their
///   `schema_version`) or deletes their file.
///
/// Returns the notices for the user, one line each. Errors only when `dir` cannot be created
/// or written.
pub fn install_defaults(dir: &Path) -> io::Result<Vec<String>> {
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let manifest_path = dir.join(MANIFEST);
    let mut manifest: BTreeMap<String, String> = fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let before = manifest.clone();
    let mut notices = Vec::new();

    for (file, contents) in embedded() {
        let path = dir.join(file);
        let ours = schema_version_of(contents).unwrap_or(1);
        let current = match fs::read_to_string(&path) {
            // Empty is what a crash during our own (unsynced) first write can leave; nobody
            // turns a default off that way (`enabled = false` does), so it is written anew.
            Ok(c) if !c.trim().is_empty() => c,
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                notices.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
            _ => {
                write_atomic(&path, contents)?;
                manifest.insert(file.to_string(), fnv(contents));
                continue;
            }
        };
        if current == *contents {
            manifest.insert(file.to_string(), fnv(contents));
            continue;
        }
        if manifest.get(*file) == Some(&fnv(&current)) {
            // quil wrote this and nobody touched it: upgrade in place.
            write_atomic(&path, contents)?;
            manifest.insert(file.to_string(), fnv(contents));
            let stale = new_path(&path);
            if fs::read_to_string(&stale).is_ok_and(|t| t == *contents) {
                let _ = fs::remove_file(&stale);
            }
            notices.push(format!(
                "{}: updated to quil's newer default (schema {ours})",
                path.display()
            ));
            continue;
        }
        let theirs = schema_version_of(&current);
        if theirs.is_none_or(|t| ours > t) {
            let np = new_path(&path);
            if fs::read_to_string(&np).ok().as_deref() != Some(*contents) {
                write_atomic(&np, contents)?;
            }
            let yours = theirs.map_or_else(
                || "yours is not valid TOML".to_string(),
                |t| format!("yours {t}"),
            );
            notices.push(format!(
                "{}: quil ships a newer version (schema {ours}, {yours}); see {}",
                path.display(),
                np.display()
            ));
        }
    }

    let schema_path = dir.join(SCHEMA_FILE);
    if fs::read_to_string(&schema_path).ok().as_deref() != Some(SCHEMA_JSON) {
        write_atomic(&schema_path, SCHEMA_JSON)?;
    }
    if manifest != before {
        let json = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
        write_atomic(&manifest_path, &json)?;
    }
    Ok(notices)
}

/// Every pane type: the embedded defaults, overridden by name by the user's files.
#[derive(Debug, Clone)]
pub struct Registry {
    plugins: BTreeMap<String, Plugin>,
    /// Files that failed validation: the type each meant to define (its `[plugin] name` when
    /// that much could be read, else the file's stem) and its first error.
    failed: Vec<Failed>,
}

/// A plugin file that failed to load.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The type it meant to define.
    pub name: String,
    pub file: PathBuf,
    /// Its first error.
    pub error: Diagnostic,
}

impl Default for Registry {
    /// The embedded defaults only.
    fn default() -> Self {
        Registry::load_embedded().0
    }
}

impl Registry {
    fn load_embedded() -> (Registry, Vec<Diagnostic>) {
        let mut plugins = BTreeMap::new();
        let mut diags = Vec::new();
        for (file, text) in embedded() {
            match parse(&embedded_label(file), text) {
                Ok(mut p) => {
                    p.source = Source::Embedded(file.to_string());
                    plugins.insert(p.name.clone(), p);
                }
                Err(d) => diags.extend(d),
            }
        }
        (
            Registry {
                plugins,
                failed: Vec::new(),
            },
            diags,
        )
    }

    /// The embedded defaults, then every `*.toml` in `dir` in file-name order (hidden files and
    /// editor lock files starting with `.` or `#` are ignored).
    ///
    /// A file whose `name` matches an embedded plugin replaces it; one with `enabled = false`
    /// removes the type (except `terminal`, which quil needs). An invalid file is skipped
    /// with its diagnostics, and everything else still loads (an invalid override leaves the
    /// embedded default in place). When two user files define the same name, the later one
    /// wins, with a warning. A missing `dir` is not an error.
    pub fn load(dir: &Path) -> (Registry, Vec<Diagnostic>) {
        let (mut reg, mut diags) = Registry::load_embedded();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (reg, diags),
            Err(e) => {
                diags.push(Diagnostic::whole_file(
                    &dir.display().to_string(),
                    format!("cannot list plugin directory: {e}"),
                ));
                return (reg, diags);
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                name.ends_with(".toml")
                    && !name.starts_with('.')
                    && !name.starts_with('#')
                    && p.is_file()
            })
            .collect();
        files.sort();
        let mut from_user: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in files {
            match parse_file(&path) {
                Ok(mut p) => {
                    p.source = Source::File(path.clone());
                    if let Some(prev) = from_user.insert(p.name.clone(), path.clone()) {
                        diags.push(Diagnostic {
                            file: path.display().to_string(),
                            line: p.name_pos.0,
                            column: p.name_pos.1,
                            level: Level::Warning,
                            message: format!(
                                "plugin `{}` is also defined in {}; this file wins",
                                p.name,
                                prev.display()
                            ),
                            hint: Some("give one of them another `name` in [plugin]".into()),
                        });
                    }
                    reg.plugins.insert(p.name.clone(), p);
                }
                Err(d) => {
                    if let Some(first) = d.iter().find(|d| d.is_error()) {
                        reg.failed.push(Failed {
                            name: intended_name(&path),
                            file: path.clone(),
                            error: first.clone(),
                        });
                    }
                    diags.extend(d)
                }
            }
        }
        reg.plugins.retain(|name, p| {
            if p.enabled {
                return true;
            }
            if name == DEFAULT_TYPE {
                diags.push(Diagnostic {
                    file: p.source.to_string(),
                    line: p.name_pos.0,
                    column: p.name_pos.1,
                    level: Level::Warning,
                    message: format!("`{name}` cannot be disabled: new tabs and splits use it"),
                    hint: Some("remove `enabled = false`".into()),
                });
                return true;
            }
            false
        });
        (reg, diags)
    }

    pub fn get(&self, name: &str) -> Option<&Plugin> {
        self.plugins.get(name)
    }

    /// The file that meant to define type `name` but failed validation, if one did.
    pub fn failed(&self, name: &str) -> Option<&Failed> {
        self.failed.iter().rev().find(|f| f.name == name)
    }

    /// Every file that failed validation at the last load.
    pub fn failures(&self) -> &[Failed] {
        &self.failed
    }

    /// Every plugin, sorted by category (terminal, ai, tools, remote), then name.
    pub fn list(&self) -> Vec<&Plugin> {
        let mut v: Vec<&Plugin> = self.plugins.values().collect();
        v.sort_by(|a, b| (a.category, &a.name).cmp(&(b.category, &b.name)));
        v
    }

    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

/// The type a plugin file that failed validation meant to define: its `[plugin] name` when the
/// TOML parses that far, else its file stem.
fn intended_name(path: &Path) -> String {
    let from_toml = fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("plugin")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string)
        });
    from_toml.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}
