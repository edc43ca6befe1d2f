//! The 12-byte yamux header and its typed fields (docs/spec.md `framing.header`).

use std::fmt;

use super::DecodeError;

/// Length of every yamux header in bytes (`framing.header`).
pub const HEADER_LEN: usize = 12;

/// The only protocol version defined (`framing.version`).
pub const PROTOCOL_VERSION: u8 = 0;

/// The four frame types (`framing.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FrameType {
    /// Type 0: carries stream payload, and may carry stream flags.
    Data = 0,
    /// Type 1: grants send credit on a stream, and may carry stream flags.
    WindowUpdate = 1,
    /// Type 2: liveness and round-trip measurement.
    Ping = 2,
    /// Type 3: session termination.
    GoAway = 3,
}

impl FrameType {
    /// All types, in wire order.
    pub const ALL: [FrameType; 4] = [
        FrameType::Data,
        FrameType::WindowUpdate,
        FrameType::Ping,
        FrameType::GoAway,
    ];

    /// The type for a wire value, or `None` for values 4..=255.
    pub const fn from_u8(v: u8) -> Option<FrameType> {
        match v {
            0 => Some(FrameType::Data),
            1 => Some(FrameType::WindowUpdate),
            2 => Some(FrameType::Ping),
            3 => Some(FrameType::GoAway),
            _ => None,
        }
    }

    /// A short lower-case name, as used in vectors and tool output.
    pub const fn name(self) -> &'static str {
        match self {
            FrameType::Data => "data",
            FrameType::WindowUpdate => "window-update",
            FrameType::Ping => "ping",
            FrameType::GoAway => "go-away",
        }
    }

    /// Parses [`FrameType::name`] (also accepts `wu` and `goaway`).
    pub fn from_name(s: &str) -> Option<FrameType> {
        match s {
            "data" => Some(FrameType::Data),
            "window-update" | "wu" | "window_update" => Some(FrameType::WindowUpdate),
            "ping" => Some(FrameType::Ping),
            "go-away" | "goaway" | "go_away" => Some(FrameType::GoAway),
            _ => None,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 16-bit flag field (`flags.bitset`). Every bit is kept, including the
/// twelve the spec leaves undefined (`flags.unknown`); [`Flags::unknown`]
/// reports them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flags(u16);

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// 0x1: opens a stream; on a Ping, marks a request.
    pub const SYN: Flags = Flags(0x1);
    /// 0x2: acknowledges a stream open; on a Ping, marks the reply.
    pub const ACK: Flags = Flags(0x2);
    /// 0x4: half-closes the sender's direction of a stream.
    pub const FIN: Flags = Flags(0x4);
    /// 0x8: resets a stream.
    pub const RST: Flags = Flags(0x8);
    /// The four defined bits.
    pub const KNOWN: Flags = Flags(0xF);

    /// Flags from raw bits; nothing is dropped.
    pub const fn from_bits(bits: u16) -> Flags {
        Flags(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when at least one bit of `other` is set in `self`.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of both sets.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The bits in both sets.
    pub const fn intersection(self, other: Flags) -> Flags {
        Flags(self.0 & other.0)
    }

    /// `self` without the bits of `other`.
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The bits outside SYN, ACK, FIN and RST.
    pub const fn unknown(self) -> Flags {
        Flags(self.0 & !Self::KNOWN.0)
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// Parses names joined by `|`, `,` or `+` (case-insensitive): `syn`,
    /// `ack`, `fin`, `rst`, `none`, or a number (`0x8000`, `16`).
    pub fn parse(s: &str) -> Option<Flags> {
        let mut flags = Flags::NONE;
        for part in s.split(['|', ',', '+']).map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let f = match part.to_ascii_lowercase().as_str() {
                "syn" => Flags::SYN,
                "ack" => Flags::ACK,
                "fin" => Flags::FIN,
                "rst" => Flags::RST,
                "none" | "0" => Flags::NONE,
                other => {
                    let bits = match other.strip_prefix("0x") {
                        Some(hex) => u16::from_str_radix(hex, 16).ok()?,
                        None => other.parse().ok()?,
                    };
                    Flags(bits)
                }
            };
            flags.insert(f);
        }
        Some(flags)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.insert(rhs)
    }
}

impl fmt::Display for Flags {
    /// `SYN|ACK`, `0` when empty, unknown bits as hex: `FIN|0x8000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("0");
        }
        let mut first = true;
        let mut put = |f: &mut fmt::Formatter<'_>, s: &dyn fmt::Display| {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            write!(f, "{s}")
        };
        for (flag, name) in [
            (Flags::SYN, "SYN"),
            (Flags::ACK, "ACK"),
            (Flags::FIN, "FIN"),
            (Flags::RST, "RST"),
        ] {
            if self.contains(flag) {
                put(f, &name)?;
            }
        }
        let unknown = self.unknown();
        if !unknown.is_empty() {
            put(f, &format_args!("{:#06x}", unknown.0))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

/// A stream identifier (`ids.*`). Id 0 names the session itself.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u32);

impl StreamId {
    /// The session id 0, used by Ping and Go Away (`ids.control`).
    pub const SESSION: StreamId = StreamId(0);

    /// A stream id from its wire value.
    pub const fn new(v: u32) -> StreamId {
        StreamId(v)
    }

    /// The wire value.
    pub const fn val(self) -> u32 {
        self.0
    }

    /// True for id 0 (`ids.session`).
    pub const fn is_session(self) -> bool {
        self.0 == 0
    }

    /// True for odd ids, which clients open (`ids.parity`).
    pub const fn is_client(self) -> bool {
        self.0 % 2 == 1
    }

    /// True for even non-zero ids, which servers open (`ids.parity`).
    pub const fn is_server(self) -> bool {
        self.0 != 0 && self.0 % 2 == 0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl From<u32> for StreamId {
    fn from(v: u32) -> Self {
        StreamId(v)
    }
}

/// A Go Away reason code (`goaway.codes`). Codes other than 0–2 are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoAwayCode(u32);

impl GoAwayCode {
    /// 0: normal termination.
    pub const NORMAL: GoAwayCode = GoAwayCode(0);
    /// 1: the peer broke the protocol.
    pub const PROTOCOL_ERROR: GoAwayCode = GoAwayCode(1);
    /// 2: internal error of the sender.
    pub const INTERNAL_ERROR: GoAwayCode = GoAwayCode(2);

    /// A code from its wire value.
    pub const fn new(v: u32) -> GoAwayCode {
        GoAwayCode(v)
    }

    /// The wire value.
    pub const fn val(self) -> u32 {
        self.0
    }

    /// The name of a defined code, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("normal"),
            1 => Some("protocol-error"),
            2 => Some("internal-error"),
            _ => None,
        }
    }
}

impl fmt::Display for GoAwayCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{:#x} (unknown)", self.0),
        }
    }
}

impl fmt::Debug for GoAwayCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoAwayCode({self})")
    }
}

/// The header exactly as on the wire, without validation: a checked view
/// over 12 bytes. Use it to show or build headers that are not valid
/// (unknown version or type); [`Header`] is the validated form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawHeader {
    /// Byte 0.
    pub version: u8,
    /// Byte 1.
    pub typ: u8,
    /// Bytes 2–3, big-endian.
    pub flags: u16,
    /// Bytes 4–7, big-endian.
    pub stream_id: u32,
    /// Bytes 8–11, big-endian.
    pub length: u32,
}

impl RawHeader {
    /// Reads the first 12 bytes of `b`; `None` when fewer are given.
    #[inline]
    pub fn parse(b: &[u8]) -> Option<RawHeader> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(RawHeader::from_array(b))
    }

    /// Reads a header from exactly 12 bytes.
    #[inline]
    pub fn from_array(b: &[u8; HEADER_LEN]) -> RawHeader {
        RawHeader {
            version: b[0],
            typ: b[1],
            flags: u16::from_be_bytes([b[2], b[3]]),
            stream_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            length: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    /// The 12 wire bytes.
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.version;
        b[1] = self.typ;
        b[2..4].copy_from_slice(&self.flags.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        b[8..12].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Validates version and type.
    #[inline]
    pub fn validate(&self) -> Result<Header, DecodeError> {
        if self.version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(self.version));
        }
        let typ = FrameType::from_u8(self.typ).ok_or(DecodeError::UnknownType(self.typ))?;
        Ok(Header {
            version: self.version,
            typ,
            flags: Flags(self.flags),
            stream_id: StreamId(self.stream_id),
            length: self.length,
        })
    }
}

impl From<Header> for RawHeader {
    fn from(h: Header) -> RawHeader {
        RawHeader {
            version: h.version,
            typ: h.typ as u8,
            flags: h.flags.bits(),
            stream_id: h.stream_id.val(),
            length: h.length,
        }
    }
}

/// A validated header: version 0 and a known type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Always [`PROTOCOL_VERSION`] for a decoded header.
    pub version: u8,
    /// The frame type.
    pub typ: FrameType,
    /// All sixteen flag bits.
    pub flags: Flags,
    /// The stream, or [`StreamId::SESSION`].
    pub stream_id: StreamId,
    /// Body length (Data), credit delta (Window Update), opaque value
    /// (Ping) or reason code (Go Away): see `length.*`.
    pub length: u32,
}

impl Header {
    /// A version-0 header.
    pub const fn new(typ: FrameType, flags: Flags, stream_id: StreamId, length: u32) -> Header {
        Header {
            version: PROTOCOL_VERSION,
            typ,
            flags,
            stream_id,
            length,
        }
    }

    /// Decodes and validates the first 12 bytes of `b`.
    #[inline]
    pub fn decode(b: &[u8]) -> Result<Header, DecodeError> {
        RawHeader::parse(b)
            .ok_or(DecodeError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            })?
            .validate()
    }

    /// The 12 wire bytes.
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        RawHeader::from(*self).to_bytes()
    }

    /// Number of body bytes that follow this header on the wire: `length`
    /// for Data, 0 for every other type (`framing.body`).
    #[inline]
    pub const fn body_len(&self) -> usize {
        match self.typ {
            FrameType::Data => self.length as usize,
            _ => 0,
        }
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} flags={} stream={} length={}",
            self.typ, self.flags, self.stream_id, self.length
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_big_endian() {
        let h = Header::new(
            FrameType::WindowUpdate,
            Flags::SYN | Flags::ACK,
            StreamId::new(0x0102_0304),
            0x0A0B_0C0D,
        );
        assert_eq!(
            h.to_bytes(),
            [0, 1, 0, 3, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(Header::decode(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn invalid_version_and_type_are_typed_errors() {
        let mut b = Header::new(FrameType::Ping, Flags::SYN, StreamId::SESSION, 1).to_bytes();
        b[0] = 1;
        assert_eq!(Header::decode(&b), Err(DecodeError::UnsupportedVersion(1)));
        b[0] = 0;
        b[1] = 4;
        assert_eq!(Header::decode(&b), Err(DecodeError::UnknownType(4)));
        assert_eq!(
            Header::decode(&b[..5]),
            Err(DecodeError::Truncated {
                needed: 12,
                available: 5
            })
        );
    }

    #[test]
    fn flags_keep_and_show_unknown_bits() {
        let f = Flags::from_bits(0x8005);
        assert!(f.contains(Flags::SYN | Flags::FIN));
        assert_eq!(f.unknown().bits(), 0x8000);
        assert_eq!(f.to_string(), "SYN|FIN|0x8000");
        assert_eq!(Flags::NONE.to_string(), "0");
        assert_eq!(Flags::parse("syn|ack"), Some(Flags::SYN | Flags::ACK));
        assert_eq!(Flags::parse("FIN|0x8000"), Some(Flags::from_bits(0x8004)));
        assert_eq!(Flags::parse("bogus"), None);
    }

    #[test]
    fn stream_id_parity() {
        assert!(StreamId::new(1).is_client());
        assert!(StreamId::new(2).is_server());
        assert!(!StreamId::SESSION.is_server() && !StreamId::SESSION.is_client());
        assert!(StreamId::SESSION.is_session());
    }

    #[test]
    fn go_away_code_display() {
        assert_eq!(GoAwayCode::PROTOCOL_ERROR.to_string(), "1 (protocol-error)");
        assert_eq!(GoAwayCode::new(0x1005).to_string(), "0x1005 (unknown)");
    }
}
