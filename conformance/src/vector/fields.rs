//! The typed fields of a vector: what a string (or a number) in the JSON
//! means, parsed once when the file loads. An invalid value fails the load
//! with the field's path (`send.flags: "SYNN" is not a flag set ...`), and
//! the peer uses the typed value: nothing re-parses strings later.
//!
//! Frame types and flags are those of `yamux::frame` ([`TypeByte`] wraps the
//! wire byte, so that invalid types can be sent; flags are
//! [`yamux::frame::Flags`] through [`flags_field`]); adapter commands and
//! events are [`crate::adapter::Command`] and [`crate::adapter::Event`].

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use yamux::frame::{Flags, FrameType};

/// The `type` of a frame in a vector: the type byte of its header. Written
/// as a name of [`FrameType`] (`data`, `window-update` or `wu`, `ping`,
/// `go-away` or `goaway`, any case) or, to send invalid frames, as a
/// number in a string (`"4"`, `"0x7f"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeByte(u8);

impl TypeByte {
    /// The byte of a defined type.
    pub const fn of(t: FrameType) -> TypeByte {
        TypeByte(t as u8)
    }

    /// The wire byte.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// The defined type, or `None` for bytes 4..=255.
    pub const fn frame_type(self) -> Option<FrameType> {
        FrameType::from_u8(self.0)
    }

    /// Parses the vector form (see the type's documentation).
    pub fn parse(s: &str) -> Option<TypeByte> {
        let lower = s.to_ascii_lowercase();
        if let Some(t) = FrameType::from_name(&lower) {
            return Some(TypeByte::of(t));
        }
        let v = match lower.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => lower.parse::<u32>().ok()?,
        };
        u8::try_from(v).ok().map(TypeByte)
    }
}

impl fmt::Display for TypeByte {
    /// The name of a defined type (`window-update`), the number otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.frame_type() {
            Some(t) => f.write_str(t.name()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for TypeByte {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TypeByte {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TypeByte, D::Error> {
        let s = String::deserialize(d)?;
        TypeByte::parse(&s).ok_or_else(|| {
            de::Error::custom(format_args!(
                "unknown frame type {s:?}, expected one of data, window-update (wu), ping, \
                 go-away (goaway), or a type byte 0-255 as a string (\"4\", \"0x7f\")"
            ))
        })
    }
}

/// `#[serde(with)]` for an optional flag set (`flags`, `flags_absent`,
/// `flags_exact`): [`Flags::parse`]'s form (`"SYN|ACK"`, `"0x8000"`,
/// `"FIN|0x8000"`, `"0"`), written back as [`Flags`]' `Display`.
pub mod flags_field {
    use super::*;

    /// Writes the flags as `SYN|ACK` (`0` when empty, unknown bits in hex).
    pub fn serialize<S: Serializer>(v: &Option<Flags>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(f) => s.collect_str(f),
            None => s.serialize_none(),
        }
    }

    /// Reads a flag set; an invalid one is an error naming it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Flags>, D::Error> {
        let s = String::deserialize(d)?;
        match Flags::parse(&s) {
            Some(f) => Ok(Some(f)),
            None => Err(de::Error::custom(format_args!(
                "{s:?} is not a flag set, expected SYN, ACK, FIN and RST joined by | \
                 or a number (\"0x8000\")"
            ))),
        }
    }
}

/// `expect.parity`: which ids a matching frame's stream may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// Odd ids.
    Odd,
    /// Even ids other than 0.
    Even,
    /// The IUT's parity (even when it is the server, odd when the client).
    Iut,
    /// The peer's parity, 0 excluded.
    Peer,
}

impl fmt::Display for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Parity::Odd => "odd",
            Parity::Even => "even",
            Parity::Iut => "iut",
            Parity::Peer => "peer",
        })
    }
}

/// `act.expect_reply`: the reply an adapter command must get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// `ok` (the default).
    #[default]
    Ok,
    /// `error`.
    Error,
    /// Any reply.
    Any,
    /// Do not wait for the reply.
    None,
}

impl Reply {
    /// The JSON name, which is also the adapter's reply event for `ok` and
    /// `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reply::Ok => "ok",
            Reply::Error => "error",
            Reply::Any => "any",
            Reply::None => "none",
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream binding, sigil included: `$name` (an id of the peer's parity,
/// or the first matching frame's) or `%name` (an id of the IUT's parity the
/// IUT has not used).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Binding(String);

impl Binding {
    /// A binding from its text, sigil included; `None` without a sigil or a
    /// name.
    pub fn parse(s: &str) -> Option<Binding> {
        (s.len() >= 2 && (s.starts_with('$') || s.starts_with('%'))).then(|| Binding(s.into()))
    }

    /// `$name`.
    pub fn peer(name: &str) -> Binding {
        Binding(format!("${name}"))
    }

    /// The text, sigil included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `%name`: an id of the IUT's parity.
    pub fn is_iut(&self) -> bool {
        self.0.starts_with('%')
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad_binding<E: de::Error>(s: &str) -> E {
    E::custom(format_args!(
        "binding {s:?} must start with $ or % (then a name)"
    ))
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Binding, D::Error> {
        let s = String::deserialize(d)?;
        Binding::parse(&s).ok_or_else(|| bad_binding(&s))
    }
}

/// A stream reference: a literal id or a [`Binding`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StreamRef {
    /// A literal id.
    Id(u32),
    /// A binding.
    Bind(Binding),
}

impl StreamRef {
    /// The binding, if any.
    pub fn binding(&self) -> Option<&Binding> {
        match self {
            StreamRef::Bind(b) => Some(b),
            StreamRef::Id(_) => None,
        }
    }
}

impl fmt::Display for StreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamRef::Id(n) => write!(f, "{n}"),
            StreamRef::Bind(b) => write!(f, "{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for StreamRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StreamRef, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StreamRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stream id (0 to 4294967295) or a binding ($name or %name)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StreamRef, E> {
                u32::try_from(v)
                    .map(StreamRef::Id)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StreamRef, E> {
                u32::try_from(v)
                    .map(StreamRef::Id)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StreamRef, E> {
                Binding::parse(s)
                    .map(StreamRef::Bind)
                    .ok_or_else(|| bad_binding(s))
            }
        }
        d.deserialize_any(V)
    }
}

/// Bytes written as hexadecimal (`raw.hex`, `body.hex`, `act.hex`); spaces
/// and `_` are ignored. Written back as plain lower-case hex.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// Parses the vector form.
    pub fn parse(s: &str) -> Result<Hex, hex::FromHexError> {
        hex::decode(s.replace([' ', '_'], "")).map(Hex)
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        Hex::parse(&s).map_err(|e| de::Error::custom(format_args!("not valid hex: {e}")))
    }
}
