//! Throughput of `Terminal::feed` on ~8 MB of typical output: 80-column lines, some with SGR
//! colours, everything scrolling through the compact scrollback.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quil_term::{TermConfig, Terminal};

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
    let data = sample_output(8 << 20);
    let mut group = c.benchmark_group("feed");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(data.len() as u64));
    for chunk in [4096usize, 65536] {
        group.bench_with_input(
            BenchmarkId::new("8MB", format!("{chunk}B-reads")),
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
    group.finish();
}

criterion_group!(benches, feed);
criterion_main!(benches);
