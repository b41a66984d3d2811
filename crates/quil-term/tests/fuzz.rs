//! Arbitrary input never panics and keeps the screen shape consistent.

use proptest::prelude::*;
use quil_term::{TermConfig, Terminal};

#[derive(Debug, Clone)]
enum Op {
    Feed(Vec<u8>),
    Resize(u16, u16),
    Flush,
}

/// Byte soup biased toward things that drive the emulator: escape sequence pieces, parameters,
/// line feeds, wide and combining chars, plus fully random bytes.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\x1b[".to_vec()),
        Just(b"\x1b]".to_vec()),
        Just(b"\x1b".to_vec()),
        Just(b"\x1bP".to_vec()),
        Just(b"\x1b\\".to_vec()),
        Just(b"?".to_vec()),
        Just(b";".to_vec()),
        Just(b":".to_vec()),
        (0u32..100_000).prop_map(|n| n.to_string().into_bytes()),
        prop::sample::select(b"mHJKSTLMPX@ABCDEFGdfhlrnstuqcgz".to_vec()).prop_map(|b| vec![b]),
        Just(b"?1049h".to_vec()),
        Just(b"?1049l".to_vec()),
        Just(b"?2026h".to_vec()),
        Just(b"?2026l".to_vec()),
        Just(b"7;file://h/a%20b\x07".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\x08".to_vec()),
        Just(b"\x07".to_vec()),
        Just("日本".as_bytes().to_vec()),
        Just("e\u{301}\u{200d}".as_bytes().to_vec()),
        "[ -~]{1,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..20),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => soup().prop_map(Op::Feed),
        2 => (0u16..140, 0u16..60).prop_map(|(c, r)| Op::Resize(c, r)),
        1 => Just(Op::Flush),
    ]
}

fn check(t: &Terminal) {
    let (cols, rows) = t.size();
    assert!(cols >= 2 && rows >= 1);
    let lines = t.lines();
    assert_eq!(lines.len(), rows as usize);
    let c = t.cursor();
    assert!(
        c.x < cols && c.y < rows,
        "cursor {c:?} outside {cols}x{rows}"
    );
    let n = t.scrollback_len();
    assert_eq!(t.scrollback(0, n).len(), n);
    assert!(t.scrollback_bytes() <= 4096);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics(
        cols in 0u16..120,
        rows in 0u16..50,
        ops in prop::collection::vec(op(), 1..12),
    ) {
        let mut t = Terminal::new(TermConfig { cols, rows, scrollback_bytes: 4096 });
        check(&t);
        for op in ops {
            match op {
                Op::Feed(bytes) => t.feed(&bytes),
                Op::Resize(c, r) => t.resize(c, r),
                Op::Flush => { t.flush_sync_if_expired(); }
            }
            check(&t);
            let _ = t.take_responses();
            let _ = t.take_clipboard();
            let _ = t.take_bell();
            let _ = (t.title(), t.cwd(), t.modes(), t.is_alt_screen(), t.sync_pending());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), cols in 0u16..30, rows in 0u16..10) {
        let mut t = Terminal::new(TermConfig { cols, rows, scrollback_bytes: 1 << 20 });
        t.feed(&bytes);
        check_len(&t);
    }
}

fn check_len(t: &Terminal) {
    assert_eq!(t.lines().len(), t.size().1 as usize);
}

proptest! {
    /// Output interleaved with height changes: every line stays, in order, across the history
    /// and the screen (shrinking pushes rows into the history, growing pulls them back).
    #[test]
    fn resizing_rows_loses_no_lines(
        steps in prop::collection::vec((1usize..40, 1u16..30), 1..20),
    ) {
        let mut t = Terminal::new(TermConfig { cols: 20, rows: 10, scrollback_bytes: 1 << 20 });
        let mut n = 0;
        for (lines, rows) in steps {
            let mut chunk = String::new();
            for _ in 0..lines {
                chunk.push_str(&format!("\r\nl{n}"));
                n += 1;
            }
            t.feed(chunk.as_bytes());
            t.resize(20, rows);
        }
        let mut all: Vec<String> = t.scrollback(0, t.scrollback_len()).iter().map(|l| l.text()).collect();
        all.extend(t.lines().iter().map(|l| l.text()));
        let all: Vec<String> = all.into_iter().filter(|l| !l.is_empty()).collect();
        let want: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
        prop_assert_eq!(all, want);
    }
}
