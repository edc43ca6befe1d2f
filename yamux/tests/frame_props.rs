//! Property tests of the frame codec: round trips, robustness on arbitrary
//! bytes, agreement between `Frame::decode` and `FrameCodec`, and
//! independence from how the input is split into reads.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use yamux::frame::{
    CodecError, DecodeError, Flags, Frame, FrameCodec, FrameType, GoAwayCode, Header, StreamId,
    HEADER_LEN,
};

/// Any valid frame: every flag bit, every id and value, Data bodies up to
/// `max_body` bytes.
fn arb_frame(max_body: usize) -> impl Strategy<Value = Frame> {
    let flags = any::<u16>().prop_map(Flags::from_bits);
    let id =
        prop_oneof![Just(0u32), Just(u32::MAX), 1u32..16, any::<u32>()].prop_map(StreamId::new);
    let value = prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()];
    prop_oneof![
        (
            id.clone(),
            flags.clone(),
            proptest::collection::vec(any::<u8>(), 0..=max_body)
        )
            .prop_map(|(id, flags, body)| Frame::data(id, flags, body)),
        (id.clone(), flags.clone(), value.clone())
            .prop_map(|(id, flags, delta)| Frame::window_update(id, flags, delta)),
        (id.clone(), flags.clone(), value.clone()).prop_map(|(id, flags, v)| {
            Frame::control(Header::new(FrameType::Ping, flags, id, v))
        }),
        (id, flags, value).prop_map(|(id, flags, code)| {
            let mut f = Frame::go_away(GoAwayCode::new(code));
            f.header.stream_id = id;
            f.header.flags = flags;
            f
        }),
    ]
}

fn wire(frames: &[Frame]) -> BytesMut {
    let mut b = BytesMut::new();
    for f in frames {
        f.encode(&mut b).expect("valid frame encodes");
    }
    b
}

/// What a decoder made of some input: the frames, then the error (with the
/// offset of the frame it is about) or a clean end.
type Outcome = (Vec<Frame>, Option<(DecodeError, usize)>);

/// `Frame::decode` in a loop, with the body limit applied to each header.
fn decode_slices(input: &Bytes, max: u32) -> Outcome {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let rest = input.slice(offset..);
        if let Ok(h) = Header::decode(&rest) {
            if h.typ == FrameType::Data && h.length > max {
                let e = DecodeError::BodyTooLarge {
                    length: h.length,
                    max,
                };
                return (frames, Some((e, offset)));
            }
        }
        match Frame::decode(&rest) {
            Ok((f, used)) => {
                assert_eq!(used, f.wire_len());
                assert!(used <= rest.len());
                frames.push(f);
                offset += used;
            }
            Err(e) => return (frames, Some((e, offset))),
        }
    }
    (frames, None)
}

/// `FrameCodec` fed the input in pieces ending at `cuts` (sorted), decoding
/// after each piece until it wants more, then `decode_eof` until `None`.
fn decode_codec(input: &[u8], max: u32, cuts: &[usize]) -> Outcome {
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let (mut fed, mut start) = (0, 0);
    let decode_err = |e: CodecError| match e {
        CodecError::Decode(d) => d,
        other => panic!("non-decode error from the decoder: {other}"),
    };
    for end in cuts.iter().copied().chain([input.len()]) {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            if codec.pending_header().is_none() {
                start = fed - buf.len();
            }
            match codec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some((decode_err(e), start))),
            }
        }
    }
    for _ in 0..=input.len() {
        if codec.pending_header().is_none() {
            start = fed - buf.len();
        }
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => {
                assert!(buf.is_empty(), "clean end with {} bytes left", buf.len());
                return (frames, None);
            }
            Err(e) => return (frames, Some((decode_err(e), start))),
        }
    }
    panic!("decode_eof never returned None");
}

/// Arbitrary bytes that are often close to valid: random frames with some
/// bytes overwritten, cut at a random point, or plain noise.
fn arb_input() -> impl Strategy<Value = Vec<u8>> {
    let mangled = (
        proptest::collection::vec(arb_frame(64), 0..6),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(frames, pokes, cut)| {
            let mut b = wire(&frames).to_vec();
            if !b.is_empty() {
                for (at, byte) in pokes {
                    let i = at.index(b.len());
                    b[i] = byte;
                }
                b.truncate(cut.index(b.len() + 1));
            }
            b
        });
    prop_oneof![
        mangled,
        proptest::collection::vec(any::<u8>(), 0..200),
        // Valid-looking headers with random type/version bytes.
        proptest::collection::vec(
            (0u8..3, 0u8..6, any::<u16>(), any::<u32>(), 0u32..40).prop_map(|(v, t, f, s, l)| {
                let mut h = [0u8; HEADER_LEN];
                h[0] = v;
                h[1] = t;
                h[2..4].copy_from_slice(&f.to_be_bytes());
                h[4..8].copy_from_slice(&s.to_be_bytes());
                h[8..12].copy_from_slice(&l.to_be_bytes());
                h.to_vec()
            }),
            0..6
        )
        .prop_map(|hs| hs.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// decode(encode(f)) == f, through every decode and encode entry point.
    #[test]
    fn round_trip(frame in arb_frame(4096)) {
        let bytes = wire(std::slice::from_ref(&frame)).freeze();
        prop_assert_eq!(bytes.len(), frame.wire_len());
        prop_assert_eq!(&bytes[..], &frame.to_vec().unwrap()[..]);

        let mut via_codec = BytesMut::new();
        FrameCodec::default().encode(&frame, &mut via_codec).unwrap();
        prop_assert_eq!(&via_codec[..], &bytes[..]);

        let (decoded, used) = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&decoded, &frame);

        let header = Header::decode(&bytes).unwrap();
        prop_assert_eq!(header, frame.header);
        prop_assert_eq!(Header::decode(&header.to_bytes()).unwrap(), header);

        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = FrameCodec::new(u32::MAX);
        prop_assert_eq!(codec.decode_frame(&mut buf).unwrap(), Some(frame.clone()));
        prop_assert!(buf.is_empty());
        prop_assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    /// Arbitrary bytes never panic, and `Frame::decode` and `FrameCodec`
    /// agree on them (same frames, same error at the same offset).
    #[test]
    fn arbitrary_bytes_decode_the_same_everywhere(input in arb_input(), max in 0u32..100) {
        let bytes = Bytes::from(input.clone());
        let _ = Frame::decode(&bytes);
        let _ = Frame::decode_all(&bytes);
        let _ = Header::decode(&bytes);

        let by_slices = decode_slices(&bytes, max);
        let by_codec = decode_codec(&input, max, &[]);
        prop_assert_eq!(&by_codec, &by_slices);
        let every_byte: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(&decode_codec(&input, max, &every_byte), &by_slices);
    }

    /// The default codec (16 MiB limit) and the raw decode entry points on
    /// unconstrained noise: no panic, and decode_eof ends.
    #[test]
    fn noise_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&input[..]);
        for _ in 0..=input.len() {
            match codec.decode_frame(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&input[..]);
        let mut ended = false;
        for _ in 0..=input.len() {
            match codec.decode_eof(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => { ended = true; break }
            }
        }
        prop_assert!(ended);
        let _ = Frame::decode_all(&Bytes::from(input));
    }

    /// Several frames split into two reads at every possible point decode
    /// to the same frames.
    #[test]
    fn split_at_every_point(frames in proptest::collection::vec(arb_frame(48), 1..6)) {
        let bytes = wire(&frames);
        for cut in 0..=bytes.len() {
            let got = decode_codec(&bytes, u32::MAX, &[cut]);
            prop_assert_eq!(&got, &(frames.clone(), None), "split at {}", cut);
        }
    }

    /// ... and into many reads at random points.
    #[test]
    fn split_at_random_points(
        frames in proptest::collection::vec(arb_frame(1024), 1..10),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let bytes = wire(&frames);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let got = decode_codec(&bytes, u32::MAX, &cuts);
        prop_assert_eq!(got, (frames, None), "cuts {:?}", cuts);
    }

    /// A prefix of valid frames decodes to the frames it wholly holds, then
    /// reports truncation of the next one unless it ends on a boundary.
    #[test]
    fn prefixes_decode_whole_frames_then_truncate(
        frames in proptest::collection::vec(arb_frame(32), 1..5),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = wire(&frames);
        let cut = cut.index(bytes.len() + 1);
        let mut whole = Vec::new();
        let mut at = 0;
        for f in &frames {
            if at + f.wire_len() > cut {
                break;
            }
            at += f.wire_len();
            whole.push(f.clone());
        }
        let expected_err = (at < cut).then(|| {
            let next = frames[whole.len()].wire_len();
            let needed = if cut - at < HEADER_LEN { HEADER_LEN } else { next };
            (DecodeError::Truncated { needed, available: cut - at }, at)
        });
        let expected = (whole, expected_err);
        prop_assert_eq!(&decode_codec(&bytes[..cut], u32::MAX, &[]), &expected);
        prop_assert_eq!(&decode_slices(&Bytes::copy_from_slice(&bytes[..cut]), u32::MAX), &expected);
    }

    /// A Data header over the limit is rejected as soon as the header is
    /// complete, before any body byte arrives, whatever the other fields.
    #[test]
    fn body_limit_is_checked_on_the_header(
        flags in any::<u16>(), id in any::<u32>(), max in 0u32..1_000_000, over in 1u32..1000,
    ) {
        let length = max.saturating_add(over);
        prop_assume!(length > max);
        let h = Header::new(FrameType::Data, Flags::from_bits(flags), StreamId::new(id), length);
        let mut buf = BytesMut::from(&h.to_bytes()[..]);
        let mut codec = FrameCodec::new(max);
        prop_assert_eq!(
            codec.decode_frame(&mut buf),
            Err(DecodeError::BodyTooLarge { length, max })
        );
        prop_assert!(codec.pending_header().is_none());
    }
}
