//! Encode and decode time of an 8 KB output update, as `docs/benchmarks.md` reports.

use criterion::{criterion_group, criterion_main, Criterion};
use quil_proto::screen::{Color, Cursor, Line, Run, Style};
use quil_proto::{decode, encode_frame, PaneId, PaneUpdate, ServerMsg};
use std::hint::black_box;

fn update_8k() -> ServerMsg {
    // 40 rows of ~200 bytes each in three styled runs: about 8 KB encoded.
    let lines = (0..40u16)
        .map(|row| {
            let runs = (0..3)
                .map(|i| Run {
                    style: Style {
                        fg: Color::Indexed(i),
                        bg: Color::Default,
                        flags: 0,
                    },
                    text: format!("{row:03}-{i}-").repeat(11),
                })
                .collect();
            (
                row,
                Line {
                    runs,
                    wrapped: false,
                },
            )
        })
        .collect();
    ServerMsg::PaneUpdate(PaneUpdate {
        pane: PaneId(1),
        version: 42,
        cols: 200,
        rows: 40,
        full: true,
        lines,
        cursor: Cursor::default(),
        modes: 0,
        title: "bench".into(),
    })
}

fn codec(c: &mut Criterion) {
    let msg = update_8k();
    let mut buf = Vec::new();
    encode_frame(&msg, &mut buf).unwrap();
    let size = buf.len();
    assert!((7_000..10_000).contains(&size), "update is {size} bytes");
    c.bench_function("encode 8KB update", |b| {
        let mut out = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            out.clear();
            encode_frame(black_box(&msg), &mut out).unwrap();
        })
    });
    let body = buf[4..].to_vec();
    c.bench_function("decode 8KB update", |b| {
        b.iter(|| decode::<ServerMsg>(black_box(&body)).unwrap())
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
