//! Length-prefixed framing and the postcard body codec.
//!
//! Sans-I/O: [`FrameDecoder`] takes bytes from any reader (tokio in the daemon, blocking std in
//! the client) and yields whole frame bodies, so both sides share one tested implementation.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};

/// Largest frame body accepted, in bytes. Far above any real message (a full 500x200 screen
/// with styles is well under 1 MiB) and small enough that a hostile length cannot exhaust
/// memory.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

const HEADER: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversized { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("connection closed mid-frame")]
    Truncated,
    #[error("{0}")]
    Handshake(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Appends `msg` as one frame (length prefix and postcard body) to `out`.
pub fn encode_frame<T: Serialize>(msg: &T, out: &mut Vec<u8>) -> Result<(), ProtoError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    let encoded = postcard::to_extend(msg, std::mem::take(out));
    *out = encoded.map_err(|e| ProtoError::Malformed(e.to_string()))?;
    let len = out.len() - start - HEADER;
    if len > MAX_FRAME {
        out.truncate(start);
        return Err(ProtoError::Oversized {
            len,
            max: MAX_FRAME,
        });
    }
    out[start..start + HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Appends a frame with a raw body (used by the handshake).
pub fn encode_raw_frame(body: &[u8], out: &mut Vec<u8>) -> Result<(), ProtoError> {
    if body.len() > MAX_FRAME {
        return Err(ProtoError::Oversized {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// Decodes a frame body. Trailing bytes are an error: a body is exactly one message.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProtoError> {
    let (msg, rest) =
        postcard::take_from_bytes(body).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(msg)
}

/// Buffer capacity a decoder keeps once it has returned everything; more is freed.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Accumulates bytes and yields complete frame bodies.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`; compacted lazily to avoid a memmove per frame.
    pos: usize,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            pos: 0,
            max,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            // Everything taken: a buffer that grew for one big frame is given back.
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Memory the decoder holds (its buffer's capacity), for budgets across connections.
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// The next complete frame body, `Ok(None)` if more bytes are needed, or an error for an
    /// oversized length (after which the connection should be closed).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ProtoError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len > self.max {
            return Err(ProtoError::Oversized { len, max: self.max });
        }
        if avail.len() < HEADER + len {
            return Ok(None);
        }
        let body = avail[HEADER..HEADER + len].to_vec();
        self.pos += HEADER + len;
        Ok(Some(body))
    }
}

/// Blocking read of one frame body. `Ok(None)` on a clean EOF between frames.
pub fn read_frame<R: Read>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>, ProtoError> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtoError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(ProtoError::Oversized { len, max });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ProtoError::Truncated,
        _ => e.into(),
    })?;
    Ok(Some(body))
}

/// Blocking write of one message as a frame.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), ProtoError> {
    let mut buf = Vec::new();
    encode_frame(msg, &mut buf)?;
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::{Color, Cursor, Line, Run, Style};
    use crate::{ClientMsg, PaneId, PaneUpdate, Request, ServerMsg};
    use proptest::prelude::*;

    #[test]
    fn a_decoder_gives_back_the_room_of_a_big_frame() {
        let mut dec = FrameDecoder::new(MAX_FRAME);
        let mut big = Vec::new();
        encode_raw_frame(&vec![7u8; 4 << 20], &mut big).expect("frame");
        dec.push(&big);
        assert!(dec.held() >= 4 << 20);
        assert_eq!(
            dec.next_frame().expect("ok").map(|b| b.len()),
            Some(4 << 20)
        );
        let mut small = Vec::new();
        encode_raw_frame(b"hi", &mut small).expect("frame");
        dec.push(&small);
        assert!(dec.held() <= KEEP_CAPACITY, "{}", dec.held());
        assert_eq!(dec.next_frame().expect("ok").as_deref(), Some(&b"hi"[..]));
    }

    fn arb_style() -> impl Strategy<Value = Style> {
        let color = prop_oneof![
            Just(Color::Default),
            any::<u8>().prop_map(Color::Indexed),
            any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Color::Rgb(r, g, b)),
        ];
        (color.clone(), color, any::<u16>()).prop_map(|(fg, bg, flags)| Style { fg, bg, flags })
    }

    fn arb_line() -> impl Strategy<Value = Line> {
        (
            proptest::collection::vec((arb_style(), ".{0,20}"), 0..6),
            any::<bool>(),
        )
            .prop_map(|(runs, wrapped)| Line {
                runs: runs
                    .into_iter()
                    .map(|(style, text)| Run { style, text })
                    .collect(),
                wrapped,
            })
    }

    fn arb_update() -> impl Strategy<Value = ServerMsg> {
        (
            any::<u32>(),
            any::<u64>(),
            any::<(u16, u16)>(),
            any::<bool>(),
            proptest::collection::vec((any::<u16>(), arb_line()), 0..8),
            any::<(u16, u16, bool)>(),
            any::<u32>(),
            ".{0,10}",
        )
            .prop_map(
                |(pane, version, (cols, rows), full, lines, (x, y, visible), modes, title)| {
                    ServerMsg::PaneUpdate(PaneUpdate {
                        pane: PaneId(pane),
                        version,
                        cols,
                        rows,
                        full,
                        lines,
                        cursor: Cursor {
                            x,
                            y,
                            visible,
                            shape: Default::default(),
                        },
                        modes,
                        title,
                    })
                },
            )
    }

    fn arb_request() -> impl Strategy<Value = ClientMsg> {
        let req = prop_oneof![
            Just(Request::List),
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(p, data)| {
                Request::Input {
                    pane: PaneId(p),
                    data,
                }
            }),
            (any::<u32>(), any::<u32>(), any::<bool>(), any::<bool>()).prop_map(
                |(p, n, ansi, without_chrome)| Request::Capture {
                    pane: PaneId(p),
                    scrollback: n,
                    ansi,
                    without_chrome,
                }
            ),
            (any::<u32>(), any::<u16>(), any::<u16>()).prop_map(|(p, cols, rows)| {
                Request::Resize {
                    pane: PaneId(p),
                    cols,
                    rows,
                }
            }),
            ".{0,12}".prop_map(|tab| Request::KillTab { tab }),
        ];
        (any::<u32>(), req, any::<bool>()).prop_map(|(id, req, notify)| {
            if notify {
                ClientMsg::Notify { id, req }
            } else {
                ClientMsg::Request { id, req }
            }
        })
    }

    proptest! {
        #[test]
        fn server_msgs_roundtrip(msg in arb_update()) {
            let mut buf = Vec::new();
            encode_frame(&msg, &mut buf).unwrap();
            let mut dec = FrameDecoder::new(MAX_FRAME);
            dec.push(&buf);
            let body = dec.next_frame().unwrap().unwrap();
            prop_assert_eq!(decode::<ServerMsg>(&body).unwrap(), msg);
            prop_assert_eq!(dec.pending(), 0);
        }

        #[test]
        fn client_msgs_roundtrip_through_any_chunking(msgs in proptest::collection::vec(arb_request(), 1..6), cut in any::<usize>()) {
            let mut buf = Vec::new();
            for m in &msgs {
                encode_frame(m, &mut buf).unwrap();
            }
            let cut = cut % (buf.len() + 1);
            let mut dec = FrameDecoder::new(MAX_FRAME);
            let mut out = Vec::new();
            for part in [&buf[..cut], &buf[cut..]] {
                dec.push(part);
                while let Some(body) = dec.next_frame().unwrap() {
                    out.push(decode::<ClientMsg>(&body).unwrap());
                }
            }
            prop_assert_eq!(out, msgs);
        }

        /// Arbitrary bytes never panic the decoder; they decode or error.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut dec = FrameDecoder::new(1024);
            dec.push(&bytes);
            while let Ok(Some(body)) = dec.next_frame() {
                let _ = decode::<ClientMsg>(&body);
                let _ = decode::<ServerMsg>(&body);
            }
        }
    }

    #[test]
    fn oversized_length_is_rejected_before_buffering() {
        let mut dec = FrameDecoder::new(100);
        dec.push(&1000u32.to_le_bytes());
        assert!(matches!(
            dec.next_frame(),
            Err(ProtoError::Oversized {
                len: 1000,
                max: 100
            })
        ));
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut buf = Vec::new();
        encode_frame(
            &ClientMsg::Request {
                id: 1,
                req: Request::List,
            },
            &mut buf,
        )
        .unwrap();
        let mut body = buf[4..].to_vec();
        body.push(0);
        assert!(matches!(
            decode::<ClientMsg>(&body),
            Err(ProtoError::Malformed(_))
        ));
    }

    #[test]
    fn blocking_read_frame() {
        let mut buf = Vec::new();
        encode_frame(
            &ClientMsg::Request {
                id: 9,
                req: Request::Status,
            },
            &mut buf,
        )
        .unwrap();
        let mut r = &buf[..];
        let body = read_frame(&mut r, MAX_FRAME).unwrap().unwrap();
        assert_eq!(
            decode::<ClientMsg>(&body).unwrap(),
            ClientMsg::Request {
                id: 9,
                req: Request::Status
            }
        );
        assert!(read_frame(&mut r, MAX_FRAME).unwrap().is_none());
        let mut short = &buf[..buf.len() - 1];
        assert!(matches!(
            read_frame(&mut short, MAX_FRAME),
            Err(ProtoError::Truncated)
        ));
    }
}
