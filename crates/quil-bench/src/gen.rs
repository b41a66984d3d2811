//! The throughput input: lines of 80 visible characters (ASCII letters, digits, punctuation
//! and spaces, with some multi-byte UTF-8), about one line in eight carrying SGR colour codes
//! (16-colour, 256-colour, truecolour, bold). Deterministic, so every machine cats the same bytes.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Bumped when the content changes, so a cached file of the old kind is not reused.
pub const VERSION: u32 = 1;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Never `@` or `~`: the throughput run's end mark is made of them.
const ASCII: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789     .,;:-_=+*/()[]{}<>#$%&!?'\"";
const WIDE: [&str; 6] = [
    "\u{e9}", "\u{fc}", "\u{3bb}", "\u{2500}", "\u{2192}", "\u{b7}",
];

fn line(r: &mut Rng, out: &mut Vec<u8>) {
    let colour = r.below(8) == 0;
    let start = if colour {
        r.below(60) as usize
    } else {
        usize::MAX
    };
    // May run past the end of the line: then the reset ends it.
    let stop = if colour {
        start + 5 + r.below(30) as usize
    } else {
        usize::MAX
    };
    for col in 0..80 {
        if col == start {
            match r.below(4) {
                0 => write!(out, "\x1b[3{}m", 1 + r.below(7)),
                1 => write!(out, "\x1b[1;38;5;{}m", r.below(256)),
                2 => write!(
                    out,
                    "\x1b[38;2;{};{};{}m",
                    r.below(256),
                    r.below(256),
                    r.below(256)
                ),
                _ => write!(out, "\x1b[4{};30m", 1 + r.below(7)),
            }
            .expect("vec write");
        }
        if col == stop {
            out.extend_from_slice(b"\x1b[0m");
        }
        if r.below(40) == 0 {
            out.extend_from_slice(WIDE[r.below(WIDE.len() as u64) as usize].as_bytes());
        } else {
            out.push(ASCII[r.below(ASCII.len() as u64) as usize]);
        }
    }
    if colour && stop >= 80 {
        out.extend_from_slice(b"\x1b[0m");
    }
    out.push(b'\n');
}

/// Writes at least `bytes` bytes of whole lines to `path` (via a temp file and rename).
pub fn generate(path: &Path, bytes: u64) -> Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?,
    );
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut written = 0u64;
    while written < bytes {
        buf.clear();
        while buf.len() < (1 << 20) - 256 {
            line(&mut r, &mut buf);
        }
        f.write_all(&buf)?;
        written += buf.len() as u64;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(written)
}

/// The cached file for `mb` megabytes, generating it when missing.
pub fn ensure(cache: &Path, mb: u64) -> Result<std::path::PathBuf> {
    let path = cache.join(format!("throughput-{mb}MB-v{VERSION}.txt"));
    let want = mb * 1_000_000;
    match std::fs::metadata(&path) {
        Ok(m) if m.len() >= want => Ok(path),
        _ => {
            eprintln!("quil-bench: generating {} ({mb} MB)", path.display());
            generate(&path, want)?;
            Ok(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_80_columns() {
        let mut r = Rng(1);
        let mut colours = 0;
        for _ in 0..1000 {
            let mut v = Vec::new();
            line(&mut r, &mut v);
            let s = String::from_utf8(v).unwrap();
            assert!(s.ends_with('\n'));
            if s.contains('\x1b') {
                colours += 1;
                // Every colour is reset on the line it starts on.
                let (set, reset) = (s.find('\x1b').unwrap(), s.rfind("\x1b[0m").unwrap());
                assert!(reset > set, "{s:?}");
            }
            let mut visible = 0;
            let mut esc = false;
            for c in s.trim_end_matches('\n').chars() {
                match (esc, c) {
                    (false, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    (false, _) => visible += 1,
                }
            }
            assert_eq!(visible, 80, "{s:?}");
        }
        assert!((60..200).contains(&colours), "{colours}");
    }

    #[test]
    fn lines_never_have_a_char_of_the_end_mark() {
        let mut r = Rng(1);
        let mut v = Vec::new();
        for _ in 0..20_000 {
            line(&mut r, &mut v);
        }
        let text = String::from_utf8(v).expect("utf-8");
        for c in crate::throughput::END_MARK.chars() {
            assert!(!text.contains(c), "{c:?}");
        }
    }
}
