//! A frame decoder over a growing buffer, and (feature `tokio`, on by
//! default) its `tokio_util::codec` Decoder/Encoder.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{DecodeError, EncodeError, Frame, Header, RawHeader, DEFAULT_MAX_BODY_LEN, HEADER_LEN};

/// The most the decoder reserves ahead for a body that is still arriving:
/// a header alone never makes it allocate more than this, whatever length it
/// announces; the buffer grows as the bytes actually come.
const MAX_RESERVE_AHEAD: usize = 1024 * 1024;

/// Errors of [`FrameCodec`]: a decode error or an I/O error of the transport.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Bytes that are not a valid frame.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A frame that cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Frame decoder and encoder.
///
/// Decoding waits for the whole 12-byte header, validates version and type,
/// reads a body only for Data frames (`framing.body`), and checks the body
/// length against [`FrameCodec::max_body_len`] *before* buffering any of it.
/// Bodies are split off the read buffer without copying.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    max_body_len: u32,
    /// Header of a Data frame whose body is still arriving.
    pending: Option<Header>,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_BODY_LEN)
    }
}

impl FrameCodec {
    /// A codec that rejects Data bodies longer than `max_body_len`.
    pub fn new(max_body_len: u32) -> FrameCodec {
        FrameCodec {
            max_body_len,
            pending: None,
        }
    }

    /// The largest accepted Data body.
    pub fn max_body_len(&self) -> u32 {
        self.max_body_len
    }

    /// Changes the largest accepted Data body.
    pub fn set_max_body_len(&mut self, max: u32) {
        self.max_body_len = max;
    }

    /// Decodes one frame, or returns `Ok(None)` when more bytes are needed.
    /// On error the offending header has been consumed from `src`.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let header = match self.pending {
            Some(h) => h,
            None => {
                let Some(raw) = RawHeader::parse(src) else {
                    src.reserve(HEADER_LEN - src.len());
                    return Ok(None);
                };
                src.advance(HEADER_LEN);
                let header = raw.validate()?;
                if header.body_len() == 0 {
                    return Ok(Some(Frame::control(header)));
                }
                if header.length > self.max_body_len {
                    return Err(DecodeError::BodyTooLarge {
                        length: header.length,
                        max: self.max_body_len,
                    });
                }
                header
            }
        };
        let len = header.body_len();
        if src.len() < len {
            self.pending = Some(header);
            src.reserve((len - src.len()).min(MAX_RESERVE_AHEAD));
            return Ok(None);
        }
        self.pending = None;
        let body: Bytes = src.split_to(len).freeze();
        Ok(Some(Frame { header, body }))
    }

    /// Bytes of a partial frame held (a consumed header whose body is
    /// incomplete), for end-of-stream reporting.
    pub fn pending_header(&self) -> Option<Header> {
        self.pending
    }
}

impl FrameCodec {
    /// Decodes the next frame at the end of the input: as
    /// [`FrameCodec::decode_frame`], but bytes left over that make no whole
    /// frame are [`DecodeError::Truncated`].
    pub fn decode_frame_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        match self.decode_frame(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() && self.pending.is_none() => Ok(None),
            // Counted from the start of the unfinished frame, as
            // `Frame::decode` does: a consumed header counts as available.
            None => Err(match self.pending {
                Some(h) => DecodeError::Truncated {
                    needed: HEADER_LEN + h.body_len(),
                    available: HEADER_LEN + buf.len(),
                },
                None => DecodeError::Truncated {
                    needed: HEADER_LEN,
                    available: buf.len(),
                },
            }),
        }
    }

    /// Appends `frame` to `dst` (after [`Frame::check`]).
    pub fn encode_frame(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        frame.check()?;
        dst.reserve(HEADER_LEN + frame.body.len());
        dst.put_slice(&frame.header.to_bytes());
        dst.put_slice(&frame.body);
        Ok(())
    }
}

#[cfg(feature = "tokio")]
impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        Ok(self.decode_frame(src)?)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        Ok(self.decode_frame_eof(buf)?)
    }
}

#[cfg(feature = "tokio")]
impl tokio_util::codec::Encoder<Frame> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encode_frame(&frame, dst)?)
    }
}

#[cfg(feature = "tokio")]
impl tokio_util::codec::Encoder<&Frame> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encode_frame(frame, dst)?)
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;
    use crate::frame::{Flags, FrameType, StreamId};
    use tokio_util::codec::Decoder;

    fn wire(frames: &[Frame]) -> BytesMut {
        let mut b = BytesMut::new();
        for f in frames {
            f.encode(&mut b).unwrap();
        }
        b
    }

    #[test]
    fn waits_for_whole_header_and_body() {
        let f = Frame::data(StreamId::new(1), Flags::SYN, vec![7u8; 100]);
        let all = wire(std::slice::from_ref(&f));
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        for (i, b) in all.iter().enumerate() {
            buf.put_u8(*b);
            let got = codec.decode_frame(&mut buf).unwrap();
            if i + 1 < all.len() {
                assert!(got.is_none(), "frame decoded early at byte {i}");
            } else {
                assert_eq!(got, Some(f.clone()));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_oversized_body_before_buffering() {
        let h = Header::new(FrameType::Data, Flags::NONE, StreamId::new(1), 0xFFFF_FFFF);
        let mut buf = BytesMut::from(&h.to_bytes()[..]);
        let mut codec = FrameCodec::new(1024);
        assert_eq!(
            codec.decode_frame(&mut buf),
            Err(DecodeError::BodyTooLarge {
                length: 0xFFFF_FFFF,
                max: 1024
            })
        );
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn announced_length_does_not_allocate_ahead() {
        // Found by the frame_decode fuzzer: with a limit of u32::MAX a 4 GiB
        // header used to reserve the whole body before any of it arrived.
        let h = Header::new(FrameType::Data, Flags::NONE, StreamId::new(1), 0xFFFF_FFFF);
        let mut buf = BytesMut::from(&h.to_bytes()[..]);
        let mut codec = FrameCodec::new(u32::MAX);
        assert_eq!(codec.decode_frame(&mut buf), Ok(None));
        assert!(buf.capacity() <= MAX_RESERVE_AHEAD + HEADER_LEN);
    }

    #[test]
    fn huge_length_on_control_frame_is_not_a_body() {
        let mut buf = wire(&[
            Frame::window_update(StreamId::new(1), Flags::NONE, 0xFFFF_FFFF),
            Frame::ping(Flags::SYN, 0xFFFF_FFFF),
            Frame::go_away(crate::frame::GoAwayCode::new(0xFFFF_FFFF)),
        ]);
        let mut codec = FrameCodec::new(0);
        for _ in 0..3 {
            assert!(codec.decode_frame(&mut buf).unwrap().is_some());
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn eof_inside_a_frame_is_truncation() {
        let all = wire(&[Frame::data(StreamId::new(1), Flags::NONE, "abcdef")]);
        let mut buf = BytesMut::from(&all[..14]);
        let mut codec = FrameCodec::default();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        // Same numbers as Frame::decode: 18 bytes needed, 14 given.
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(CodecError::Decode(DecodeError::Truncated {
                needed: 18,
                available: 14
            }))
        ));
        let mut empty = BytesMut::new();
        assert!(FrameCodec::default()
            .decode_eof(&mut empty)
            .unwrap()
            .is_none());
    }
}
