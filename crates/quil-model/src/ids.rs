//! Pane and tab ids: `pane-1a2b3c4d`, `tab-1a2b3c4d`. Stable across daemon restarts, so scripts
//! and session files can name them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {text:?}: expected {kind}- followed by 8 lowercase hex digits")]
pub struct IdError {
    kind: &'static str,
    text: String,
}

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "-{:08x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let err = || IdError { kind: $prefix, text: s.to_string() };
                let hex = s.strip_prefix(concat!($prefix, "-")).ok_or_else(err)?;
                if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(err());
                }
                u32::from_str_radix(hex, 16).map($name).map_err(|_| err())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_u32(self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    u32::deserialize(d).map($name)
                }
            }
        }
    };
}

id_type!(PaneId, "pane");
id_type!(TabId, "tab");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_roundtrip() {
        let id = PaneId(0x1a2b3c4d);
        assert_eq!(id.to_string(), "pane-1a2b3c4d");
        assert_eq!("pane-1a2b3c4d".parse::<PaneId>(), Ok(id));
        assert_eq!(TabId(7).to_string(), "tab-00000007");
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "pane-",
            "pane-1234567",
            "pane-123456789",
            "pane-1A2B3C4D",
            "tab-1a2b3c4d",
            "x",
            "pane-+1234567",
        ] {
            let err = bad.parse::<PaneId>().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
