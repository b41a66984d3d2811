//! Throughput of `Terminal::feed` on ~8 MB of typical output: 80-column lines, some with SGR
//! colours, everything scrolling through the compact scrollback; and the same with a char
//! outside ASCII every 40 bytes or so.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quil_term::{TermConfig, Terminal};

/// As [`sample_output`], with a letter in about 40 replaced by a char outside ASCII (accents,
/// arrows, box drawing; one column each, as agents' output has them).
fn sample_text(target: usize) -> Vec<u8> {
    let chars = ["é", "→", "─", "λ", "·", "ü"];
    let plain = sample_output(target);
    let mut out = Vec::with_capacity(target + target / 20);
    for (i, &b) in plain.iter().enumerate() {
        // Between two letters: never in an escape sequence.
        let in_word = i > 0 && plain[i - 1].is_ascii_lowercase() && b.is_ascii_lowercase();
        if i % 40 == 17 && in_word {
            out.extend_from_slice(chars[i / 40 % chars.len()].as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

fn sample_output(target: usize) -> Vec<u8> {
    let words = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    ];
    let mut out = Vec::with_capacity(target + 200);
    let mut i = 0usize;
    while out.len() < target {
        let mut line = String::new();
        match i % 5 {
            0 => line.push_str("\x1b[32mINFO\x1b[0m "),
            1 => line.push_str("\x1b[1;31mERROR\x1b[0m "),
            _ => {}
        }
        let mut w = i;
        while line.len() < 80 {
            line.push_str(words[w % words.len()]);
            line.push(' ');
            w = w.wrapping_mul(31).wrapping_add(7);
        }
        line.truncate(80);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        i += 1;
    }
    out
}

fn feed(c: &mut Criterion) {
    let mut group = c.benchmark_group("feed");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let cases = [
        ("8MB", sample_output(8 << 20), [4096usize, 65536].as_slice()),
        ("8MB-text", sample_text(8 << 20), [4096usize].as_slice()),
    ];
    for (name, data, chunks) in &cases {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for &chunk in *chunks {
            bench(&mut group, name, data, chunk);
        }
    }
    group.finish();
}

/// One case: a fresh terminal takes in all of `data`, `chunk` bytes per read.
fn bench(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    data: &[u8],
    chunk: usize,
) {
    group.bench_with_input(
        BenchmarkId::new(name, format!("{chunk}B-reads")),
        &chunk,
        |b, &chunk| {
            b.iter(|| {
                let mut t = Terminal::new(TermConfig {
                    cols: 80,
                    rows: 24,
                    scrollback_bytes: 1 << 20,
                });
                for piece in data.chunks(chunk) {
                    t.feed(piece);
                }
                t.scrollback_len()
            })
        },
    );
}

criterion_group!(benches, feed);
criterion_main!(benches);
