//! Yamux frames: the 12-byte header, typed fields, encode/decode over byte
//! slices, and [`FrameCodec`] (a `tokio_util::codec` codec with the
//! default feature `tokio`).
//!
//! Rule IDs in comments (`framing.body`, ...) refer to docs/spec.md.

mod codec;
mod header;

use bytes::{BufMut, Bytes, BytesMut};

pub use codec::{CodecError, FrameCodec};
pub use header::{
    Flags, FrameType, GoAwayCode, Header, RawHeader, StreamId, HEADER_LEN, PROTOCOL_VERSION,
};

use crate::rules::Rule;

/// The window every stream starts with in each direction, without
/// signalling (`flow.initial-window`): 256 KiB. The protocol's one window
/// constant: the session, the tracker, the peer and the models use it.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// Default largest Data body a decoder accepts: 16 MiB, the largest receive
/// window the reference ever grants (`flow.max-frame`).
pub const DEFAULT_MAX_BODY_LEN: u32 = 16 * 1024 * 1024;

/// Why bytes could not be decoded as a frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DecodeError {
    /// The version byte is not 0 (`framing.version`).
    #[error("unsupported protocol version {0} (only 0 is defined)")]
    UnsupportedVersion(u8),
    /// The type byte is not 0..=3 (`framing.type`).
    #[error("unknown frame type {0} (defined: 0 data, 1 window update, 2 ping, 3 go away)")]
    UnknownType(u8),
    /// A Data header announces more body than the decoder accepts.
    #[error("data frame body of {length} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// The header's length field.
        length: u32,
        /// The configured limit.
        max: u32,
    },
    /// The input ends inside a header or a body.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs (header plus body).
        needed: usize,
        /// Bytes that were given.
        available: usize,
    },
}

impl DecodeError {
    /// Stable kebab-case name, as used by the codec vectors (`error` field).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedVersion(_) => "bad-version",
            DecodeError::UnknownType(_) => "bad-type",
            DecodeError::BodyTooLarge { .. } => "body-too-large",
            DecodeError::Truncated { .. } => "truncated",
        }
    }

    /// The docs/spec.md rule the bytes break.
    pub const fn rule(&self) -> Rule {
        match self {
            DecodeError::UnsupportedVersion(_) => Rule::FramingVersion,
            DecodeError::UnknownType(_) => Rule::FramingType,
            DecodeError::BodyTooLarge { .. } => Rule::FlowMaxFrame,
            DecodeError::Truncated { .. } => Rule::FramingBody,
        }
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EncodeError {
    /// A Data frame whose header length differs from its body length, or a
    /// non-Data frame with a body.
    #[error("{typ} frame: header length {length} does not match body of {body} bytes")]
    LengthMismatch {
        /// Frame type.
        typ: FrameType,
        /// The header's length field.
        length: u32,
        /// The body's size.
        body: usize,
    },
}

/// One frame: a validated header and, for Data frames only, its body.
///
/// Invariant kept by the constructors and checked by [`Frame::encode`]:
/// for Data, `header.length == body.len()`; for other types the body is
/// empty and `length` is a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The Data payload (empty for other types).
    pub body: Bytes,
}

impl Frame {
    /// A Data frame. Panics if `body` is longer than `u32::MAX` bytes.
    pub fn data(stream: StreamId, flags: Flags, body: impl Into<Bytes>) -> Frame {
        let body = body.into();
        let length = u32::try_from(body.len()).expect("data frame body longer than u32::MAX");
        Frame {
            header: Header::new(FrameType::Data, flags, stream, length),
            body,
        }
    }

    /// A Window Update frame granting `delta` bytes of credit.
    pub fn window_update(stream: StreamId, flags: Flags, delta: u32) -> Frame {
        Frame::control(Header::new(FrameType::WindowUpdate, flags, stream, delta))
    }

    /// A Ping on stream 0 (`flags` is SYN for a request, ACK for a reply).
    pub fn ping(flags: Flags, value: u32) -> Frame {
        Frame::control(Header::new(
            FrameType::Ping,
            flags,
            StreamId::SESSION,
            value,
        ))
    }

    /// A Go Away on stream 0.
    pub fn go_away(code: GoAwayCode) -> Frame {
        Frame::control(Header::new(
            FrameType::GoAway,
            Flags::NONE,
            StreamId::SESSION,
            code.val(),
        ))
    }

    /// A header-only frame. For a Data header the length must be 0 for the
    /// frame to be valid.
    pub fn control(header: Header) -> Frame {
        Frame {
            header,
            body: Bytes::new(),
        }
    }

    /// The frame type.
    pub fn typ(&self) -> FrameType {
        self.header.typ
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        self.header.flags
    }

    /// The stream id.
    pub fn stream_id(&self) -> StreamId {
        self.header.stream_id
    }

    /// Bytes this frame occupies on the wire.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.header.body_len()
    }

    /// Decodes one frame at the start of `src` without copying the body
    /// (it is a slice of `src`). Returns the frame and the bytes consumed.
    pub fn decode(src: &Bytes) -> Result<(Frame, usize), DecodeError> {
        let header = Header::decode(src)?;
        let needed = HEADER_LEN + header.body_len();
        if src.len() < needed {
            return Err(DecodeError::Truncated {
                needed,
                available: src.len(),
            });
        }
        let body = if header.body_len() == 0 {
            Bytes::new()
        } else {
            src.slice(HEADER_LEN..needed)
        };
        Ok((Frame { header, body }, needed))
    }

    /// Decodes every frame of `src`, back to back. Stops at the first error.
    pub fn decode_all(src: &Bytes) -> Result<Vec<Frame>, DecodeError> {
        let mut out = Vec::new();
        let mut rest = src.clone();
        while !rest.is_empty() {
            let (frame, used) = Frame::decode(&rest)?;
            out.push(frame);
            let _ = rest.split_to(used);
        }
        Ok(out)
    }

    /// Checks the length invariant.
    pub fn check(&self) -> Result<(), EncodeError> {
        let ok = match self.header.typ {
            FrameType::Data => self.header.length as usize == self.body.len(),
            _ => self.body.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(EncodeError::LengthMismatch {
                typ: self.header.typ,
                length: self.header.length,
                body: self.body.len(),
            })
        }
    }

    /// Appends the wire bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.check()?;
        dst.reserve(HEADER_LEN + self.body.len());
        dst.put_slice(&self.header.to_bytes());
        dst.put_slice(&self.body);
        Ok(())
    }

    /// The wire bytes as a vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        self.check()?;
        let mut v = Vec::with_capacity(HEADER_LEN + self.body.len());
        v.extend_from_slice(&self.header.to_bytes());
        v.extend_from_slice(&self.body);
        Ok(v)
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = &self.header;
        match h.typ {
            FrameType::Data => write!(
                f,
                "data stream={} flags={} len={}",
                h.stream_id, h.flags, h.length
            ),
            FrameType::WindowUpdate => write!(
                f,
                "window-update stream={} flags={} delta={}",
                h.stream_id, h.flags, h.length
            ),
            FrameType::Ping => write!(
                f,
                "ping stream={} flags={} value={}",
                h.stream_id, h.flags, h.length
            ),
            FrameType::GoAway => write!(
                f,
                "go-away stream={} flags={} code={}",
                h.stream_id,
                h.flags,
                GoAwayCode::new(h.length)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_have_no_body() {
        // A window update announcing 0x7FFFFFFF is followed by another frame,
        // not by a body (framing.body).
        let mut buf = BytesMut::new();
        Frame::window_update(StreamId::new(1), Flags::NONE, 0x7FFF_FFFF)
            .encode(&mut buf)
            .unwrap();
        Frame::ping(Flags::SYN, 7).encode(&mut buf).unwrap();
        let frames = Frame::decode_all(&buf.freeze()).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], Frame::ping(Flags::SYN, 7));
    }

    #[test]
    fn body_is_a_slice_of_the_input() {
        let wire = Bytes::from(
            Frame::data(StreamId::new(3), Flags::FIN, "hello")
                .to_vec()
                .unwrap(),
        );
        let (f, used) = Frame::decode(&wire).unwrap();
        assert_eq!(used, 17);
        assert_eq!(&f.body[..], b"hello");
        assert_eq!(f.body.as_ptr(), wire[12..].as_ptr());
    }

    #[test]
    fn truncated_body_is_reported() {
        let wire = Frame::data(StreamId::new(3), Flags::NONE, "hello")
            .to_vec()
            .unwrap();
        let err = Frame::decode(&Bytes::copy_from_slice(&wire[..15])).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                needed: 17,
                available: 15
            }
        );
        assert_eq!(err.kind(), "truncated");
    }

    #[test]
    fn encode_rejects_inconsistent_lengths() {
        let mut f = Frame::data(StreamId::new(1), Flags::NONE, "abc");
        f.header.length = 4;
        assert!(matches!(
            f.to_vec(),
            Err(EncodeError::LengthMismatch {
                length: 4,
                body: 3,
                ..
            })
        ));
        let mut p = Frame::ping(Flags::SYN, 1);
        p.body = Bytes::from_static(b"x");
        assert!(p.check().is_err());
    }

    #[test]
    fn display() {
        assert_eq!(
            Frame::go_away(GoAwayCode::PROTOCOL_ERROR).to_string(),
            "go-away stream=0 flags=0 code=1 (protocol-error)"
        );
        assert_eq!(
            Frame::window_update(StreamId::new(1), Flags::SYN, 0).to_string(),
            "window-update stream=1 flags=SYN delta=0"
        );
    }
}
