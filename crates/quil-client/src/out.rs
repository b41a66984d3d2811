//! Standard output for the CLI: a reader that went away (`quil capture | head -1`) ends the
//! command quietly instead of panicking in `println!`.

use std::io::Write;

/// Standard output was closed by its reader. `quil` exits 0 on it, printing nothing.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes `s` to standard output and flushes it; a closed pipe is [`StdoutClosed`].
pub fn write_str(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Whether `e` is (or was caused by) a closed standard output.
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// `println!` that returns [`StdoutClosed`] (with `?`) instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::write_str("\n")? };
    ($($arg:tt)*) => { $crate::out::write_str(&format!("{}\n", format_args!($($arg)*)))? };
}

/// `print!` that returns [`StdoutClosed`] (with `?`) instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write_str(&format!($($arg)*))? };
}
