//! Feeds arbitrary bytes to the daemon's decoding path: framing, handshake, message bodies.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run decode` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quil_proto::{decode, ClientMsg, FrameDecoder, Hello, HelloReply, ServerMsg};

fuzz_target!(|data: &[u8]| {
    let _ = Hello::decode(data);
    let _ = HelloReply::decode(data);
    let _ = decode::<ClientMsg>(data);
    let _ = decode::<ServerMsg>(data);
    // Split the input at a data-chosen point to exercise partial frames.
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut dec = FrameDecoder::new(64 * 1024);
    for part in [&data[..cut], &data[cut..]] {
        dec.push(part);
        while let Ok(Some(body)) = dec.next_frame() {
            let _ = decode::<ClientMsg>(&body);
        }
    }
});
