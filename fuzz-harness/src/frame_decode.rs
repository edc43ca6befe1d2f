//! `frame_decode`: arbitrary bytes through the frame decoders.

use bytes::{Bytes, BytesMut};

use yamux::frame::{DecodeError, Frame, FrameCodec, HEADER_LEN};

/// `frame_decode`: arbitrary bytes through the slice decoder and the codec.
///
/// Checks: nothing panics; the slice decoder and the codec agree frame by
/// frame; every decoded frame re-encodes to exactly the bytes it came from;
/// a codec error consumed only the header; feeding the input in two pieces
/// gives the same frames.
pub fn frame_decode(data: &[u8]) {
    // The first byte chooses a body limit so that `BodyTooLarge` is reached.
    let (limit, wire) = match data.split_first() {
        Some((b, rest)) => (u32::from(*b) * 64, rest),
        None => (0, data),
    };
    let all = Bytes::copy_from_slice(wire);

    // Slice decoder, frame by frame.
    let mut slice_frames = Vec::new();
    let mut offset = 0;
    let slice_end = loop {
        let rest = all.slice(offset..);
        if rest.is_empty() {
            break None;
        }
        match Frame::decode(&rest) {
            Ok((frame, used)) => {
                assert_eq!(used, frame.wire_len());
                let again = frame.to_vec().expect("a decoded frame encodes");
                assert_eq!(&again[..], &rest[..used], "re-encoding differs");
                slice_frames.push(frame);
                offset += used;
            }
            Err(e) => break Some(e),
        }
    };

    // Codec, all bytes at once, with a limit that never bites.
    let whole = codec_frames(&all, u32::MAX, None);
    assert_eq!(whole.0, slice_frames, "codec and slice decoder disagree");
    match (&slice_end, &whole.1) {
        (None, None) => {}
        (Some(DecodeError::Truncated { .. }), Some(DecodeError::Truncated { .. })) => {}
        (a, b) => assert_eq!(a, b, "codec and slice decoder end differently"),
    }

    // Codec, split in two at a point chosen by the input.
    if !wire.is_empty() {
        let cut = usize::from(data[0]) * 7 % wire.len();
        let split = codec_frames(&all, u32::MAX, Some(cut));
        assert_eq!(split.0, whole.0, "splitting the input changed the frames");
    }

    // Codec with a small body limit: frames before the error are the same.
    let limited = codec_frames(&all, limit, None);
    assert!(limited.0.len() <= whole.0.len());
    assert_eq!(limited.0[..], whole.0[..limited.0.len()]);
    if let Some(DecodeError::BodyTooLarge { length, max }) = limited.1 {
        assert!(length > max && max == limit);
    }
}

/// Decodes `all` with a codec (optionally fed in two pieces) until the end
/// or the first error.
fn codec_frames(all: &Bytes, limit: u32, cut: Option<usize>) -> (Vec<Frame>, Option<DecodeError>) {
    let mut codec = FrameCodec::new(limit);
    let mut frames = Vec::new();
    let pieces: Vec<&[u8]> = match cut {
        Some(c) => vec![&all[..c], &all[c..]],
        None => vec![&all[..]],
    };
    let mut buf = BytesMut::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match codec.decode_frame(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(
                        before - buf.len(),
                        HEADER_LEN,
                        "an error consumes the header only"
                    );
                    return (frames, Some(e));
                }
            }
        }
    }
    match codec.decode_frame_eof(&mut buf) {
        Ok(None) => (frames, None),
        Ok(Some(_)) => panic!("decode_frame_eof produced a frame that decode_frame did not"),
        Err(e) => (frames, Some(e)),
    }
}
