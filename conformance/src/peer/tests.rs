use super::pattern::pattern_text;
use super::*;

#[test]
fn frames_are_described_with_a_body_preview() {
    let f = Frame::data(StreamId::new(3), Flags::SYN, vec![1u8; 20]);
    assert_eq!(
        describe(&f),
        "data stream=3 flags=SYN len=20 body=0101010101010101…"
    );
    let f = Frame::data(StreamId::new(3), Flags::NONE, vec![0xab, 0xcd]);
    assert_eq!(describe(&f), "data stream=3 flags=0 len=2 body=abcd");
    assert_eq!(
        describe(&Frame::ping(Flags::ACK, 7)),
        "ping stream=0 flags=ACK value=7"
    );
}

#[test]
fn patterns_read_like_frames() {
    let p = FramePattern {
        typ: Some(TypeByte::of(FrameType::WindowUpdate)),
        flags: Some(Flags::ACK),
        stream: Some(StreamRef::Bind(Binding::peer("s"))),
        value: Some(5),
        ..FramePattern::default()
    };
    assert_eq!(
        pattern_text(&p, None),
        "window-update stream=$s flags⊇ACK value=5"
    );
    assert_eq!(
        pattern_text(&p, Some(3)),
        "window-update stream=3 flags⊇ACK value=5"
    );
    assert_eq!(pattern_text(&FramePattern::default(), None), "any frame");
}

#[test]
fn a_fresh_stream_has_the_initial_window_both_ways() {
    let j = judge::Judge::new(Role::Server, Instant::now());
    let w = i64::from(yamux::frame::INITIAL_WINDOW);
    assert_eq!((j.peer_credit(7), j.iut_credit(7)), (w, w));
}
