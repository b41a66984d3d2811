//! The version handshake. Its layout never changes between protocol versions, so any quil can
//! tell any other quil why they cannot talk.
//!
//! Client → daemon: `QUIL` + version (u16 LE).
//! Daemon → client: `QUIL` + version (u16 LE) + status (0 = accepted, 1 = refused) + a UTF-8
//! reason when refused.

use crate::codec::ProtoError;

/// Bumped on any incompatible change to [`crate::ClientMsg`] or [`crate::ServerMsg`].
pub const PROTOCOL_VERSION: u16 = 9;
const MAGIC: &[u8; 4] = b"QUIL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
}

impl Hello {
    /// This build's hello.
    pub const CURRENT: Hello = Hello {
        version: PROTOCOL_VERSION,
    };

    pub fn encode(&self) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&self.version.to_le_bytes());
        v
    }

    /// The hello as a length-prefixed frame, ready to write to the socket.
    pub fn frame(&self) -> Vec<u8> {
        let body = self.encode();
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(body: &[u8]) -> Result<Hello, ProtoError> {
        if body.len() < 6 || &body[..4] != MAGIC {
            return Err(ProtoError::Handshake(
                "not a quil client (bad handshake)".into(),
            ));
        }
        Ok(Hello {
            version: u16::from_le_bytes([body[4], body[5]]),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloReply {
    Accepted { version: u16 },
    Refused { version: u16, reason: String },
}

impl HelloReply {
    /// The daemon's answer to a client's hello.
    pub fn answer(hello: &Hello) -> HelloReply {
        if hello.version == PROTOCOL_VERSION {
            HelloReply::Accepted {
                version: PROTOCOL_VERSION,
            }
        } else {
            HelloReply::Refused {
                version: PROTOCOL_VERSION,
                reason: format!(
                    "protocol mismatch: this client speaks quil protocol v{}, the daemon speaks v{}; \
                     run `quil daemon stop` and retry, or use the matching quil binary",
                    hello.version, PROTOCOL_VERSION
                ),
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        match self {
            HelloReply::Accepted { version } => {
                v.extend_from_slice(&version.to_le_bytes());
                v.push(0);
            }
            HelloReply::Refused { version, reason } => {
                v.extend_from_slice(&version.to_le_bytes());
                v.push(1);
                v.extend_from_slice(reason.as_bytes());
            }
        }
        v
    }

    pub fn decode(body: &[u8]) -> Result<HelloReply, ProtoError> {
        if body.len() < 7 || &body[..4] != MAGIC {
            return Err(ProtoError::Handshake(
                "the socket's peer is not a quil daemon".into(),
            ));
        }
        let version = u16::from_le_bytes([body[4], body[5]]);
        match body[6] {
            0 => Ok(HelloReply::Accepted { version }),
            _ => Ok(HelloReply::Refused {
                version,
                reason: String::from_utf8_lossy(&body[7..]).into_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_frame_is_the_framed_hello() {
        let mut framed = Vec::new();
        crate::codec::encode_raw_frame(&Hello::CURRENT.encode(), &mut framed).expect("frame");
        assert_eq!(Hello::CURRENT.frame(), framed);
        assert_eq!(Hello::CURRENT.version, PROTOCOL_VERSION);
    }

    #[test]
    fn matching_version_is_accepted() {
        let hello = Hello::decode(
            &Hello {
                version: PROTOCOL_VERSION,
            }
            .encode(),
        )
        .unwrap();
        let reply = HelloReply::decode(&HelloReply::answer(&hello).encode()).unwrap();
        assert_eq!(
            reply,
            HelloReply::Accepted {
                version: PROTOCOL_VERSION
            }
        );
    }

    #[test]
    fn other_version_gets_a_one_line_reason() {
        let reply =
            HelloReply::decode(&HelloReply::answer(&Hello { version: 999 }).encode()).unwrap();
        match reply {
            HelloReply::Refused { version, reason } => {
                assert_eq!(version, PROTOCOL_VERSION);
                assert!(
                    reason.contains("v999") && !reason.contains('\n'),
                    "{reason}"
                );
            }
            other => panic!("expected refusal, got {other:?}"),
        }
    }

    #[test]
    fn garbage_is_not_a_hello() {
        assert!(Hello::decode(b"GET / HTTP/1.1").is_err());
        assert!(Hello::decode(b"QUI").is_err());
        assert!(HelloReply::decode(b"").is_err());
    }
}
