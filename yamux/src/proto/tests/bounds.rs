//! Resource bounds against a hostile peer (`limits.receive-budget`,
//! `limits.replies`, `flow.overflow`): each queue the core fills in
//! reaction to the peer's frames, driven with nothing drained.

use proptest::prelude::*;

use super::*;
use crate::config::DEFAULT_SESSION_RECEIVE_BUFFER;

/// Bytes of one reply frame.
const H: usize = HEADER_LEN;
/// Reply frames queued before the bound is reached.
const REPLIES: usize = MAX_PENDING_REPLY_BYTES.div_ceil(H);

fn ping(v: u32) -> Frame {
    Frame::ping(Flags::SYN, v)
}

/// A shared 64 KiB body: filling windows costs no real memory in tests.
fn chunk() -> Bytes {
    Bytes::from(vec![7u8; 64 * KIB as usize])
}

fn count(frames: &[Frame], typ: FrameType, flags: Flags) -> usize {
    frames
        .iter()
        .filter(|f| f.header.typ == typ && f.header.flags == flags)
        .count()
}

// ----- the Ping answer queue ------------------------------------------------

#[test]
fn a_ping_flood_never_drained_queues_at_most_the_reply_bound() {
    let mut t = T::new(Role::Server);
    for v in 0..100_000u32 {
        t.recv(ping(v));
        assert!(t.c.transmit_len() <= MAX_PENDING_REPLY_BYTES + H);
    }
    assert!(!t.c.wants_input(), "the driver must stop reading");
    assert_eq!(t.c.transmit_len(), REPLIES * H);
    // The first answers are the first pings, in order; the rest were dropped.
    let sent = t.sent();
    assert_eq!(sent.len(), REPLIES);
    assert_eq!(sent[0], Frame::ping(Flags::ACK, 0));
    assert_eq!(sent[sent.len() - 1].header.length as usize, sent.len() - 1);
    // Once the peer read them, pings are answered again.
    assert!(t.c.wants_input());
    t.recv(ping(7));
    assert_eq!(t.sent(), vec![Frame::ping(Flags::ACK, 7)]);
    assert!(t.c.close_reason().is_none());
}

#[test]
fn pings_from_a_peer_that_reads_are_all_answered() {
    let mut t = T::new(Role::Server);
    let mut answered = 0;
    for v in 0..100_000u32 {
        t.recv(ping(v));
        if v % 1000 == 999 {
            answered += t.sent().len();
        }
    }
    assert_eq!(answered, 100_000);
}

// ----- refusals: SYN flood past the backlog --------------------------------

#[test]
fn a_syn_flood_past_the_backlog_is_refused_within_the_bound() {
    let mut t = T::new(Role::Server);
    for i in 0..100_000u32 {
        t.recv(wu(2 * i + 1, Flags::SYN, 0));
        assert!(t.c.transmit_len() <= MAX_PENDING_REPLY_BYTES + H);
    }
    // backlog.inbound: 256 held, no state for the rest.
    assert_eq!(t.c.live_streams(), 256);
    assert_eq!(t.c.accept_queue_len(), 256);
    assert!(!t.c.wants_input());
    let refused = count(&t.sent(), FrameType::WindowUpdate, Flags::RST);
    assert_eq!(refused, REPLIES);

    // A peer that reads gets an RST for every stream beyond the backlog.
    let mut t = T::new(Role::Server);
    let mut refused = 0;
    for i in 0..10_000u32 {
        t.recv(wu(2 * i + 1, Flags::SYN, 0));
        if i % 500 == 499 {
            refused += count(&t.sent(), FrameType::WindowUpdate, Flags::RST);
        }
    }
    assert_eq!(refused, 10_000 - 256);
}

#[test]
fn acks_on_syn_count_as_replies_and_stop_input() {
    let mut cfg = Config::default();
    cfg.ack_policy = AckPolicy::OnSyn;
    cfg.accept_backlog = 100_000;
    cfg.max_streams = 100_000;
    let mut t = T::with(Role::Server, cfg);
    for i in 0..50_000u32 {
        // Each stream is opened and at once reset by the peer: no state
        // piles up, only the ACKs would.
        t.recv(wu(2 * i + 1, Flags::SYN, 0));
        t.recv(wu(2 * i + 1, Flags::RST, 0));
        let _ = t.c.accept();
        t.events();
        assert!(t.c.transmit_len() <= MAX_PENDING_REPLY_BYTES + H);
    }
    assert!(!t.c.wants_input());
}

// ----- credit returns ------------------------------------------------------

#[test]
fn credit_returns_stop_input_when_the_peer_does_not_read() {
    let mut t = server_with_stream();
    let body = chunk();
    let mut n = 0;
    // The peer keeps sending, the application keeps reading: one Window
    // Update per half window. Input stops at the bound.
    while t.c.wants_input() {
        t.recv(Frame::data(sid(1), Flags::NONE, body.clone()));
        let mut out = Vec::new();
        t.c.read_chunks(t.now, sid(1), usize::MAX, &mut out)
            .unwrap();
        n += 1;
        assert!(n < 10_000_000, "input never stopped");
    }
    assert!(t.c.transmit_len() <= MAX_PENDING_REPLY_BYTES + H);
    let wus = t.sent();
    assert!(wus.iter().all(|f| f.header.typ == FrameType::WindowUpdate));
    assert_eq!(wus.len(), REPLIES);
    assert!(t.c.close_reason().is_none());
}

// ----- the receive budget --------------------------------------------------

/// A server that accepts up to `streams` inbound streams and never reads.
fn hoarding_server(budget: usize) -> T {
    let mut cfg = Config::default();
    cfg.max_session_receive_buffer = budget;
    cfg.accept_backlog = 10_000;
    cfg.max_streams = 10_000;
    T::with(Role::Server, cfg)
}

/// Opens `n` streams and fills each 256 KiB window; returns the RSTs sent.
fn fill(t: &mut T, n: u32) -> usize {
    let body = chunk();
    let mut rst = 0;
    for i in 0..n {
        let id = 2 * i + 1;
        t.recv(wu(id, Flags::SYN, 0));
        for _ in 0..4 {
            t.recv(Frame::data(sid(id), Flags::NONE, body.clone()));
        }
        assert!(t.c.receive_buffered() <= t.c.config().max_session_receive_buffer);
        rst += count(&t.sent(), FrameType::WindowUpdate, Flags::RST);
        t.events();
    }
    rst
}

#[test]
fn a_thousand_filled_streams_stay_within_the_budget() {
    let mut t = hoarding_server(DEFAULT_SESSION_RECEIVE_BUFFER);
    let rst = fill(&mut t, 1000);
    assert!(
        t.c.close_reason().is_none(),
        "within credit: no protocol error"
    );
    let held = t.c.receive_buffered();
    assert!(held <= DEFAULT_SESSION_RECEIVE_BUFFER);
    // Whole streams fit until the budget is used up (255 with the
    // per-chunk overhead); every other stream was reset or refused.
    let full =
        t.c.stream_infos()
            .iter()
            .filter(|(_, i)| i.buffered == 256 * KIB as usize)
            .count();
    assert_eq!(full, 255);
    assert_eq!(rst, 1000 - 255);
    assert!(held >= DEFAULT_SESSION_RECEIVE_BUFFER - 256 * KIB as usize - 4 * CHUNK_OVERHEAD);
}

#[test]
fn reading_frees_the_budget_for_new_streams() {
    let budget = 4 * 256 * KIB as usize;
    let mut t = hoarding_server(budget);
    fill(&mut t, 8);
    assert!(t.c.receive_buffered() <= budget);
    let ids: Vec<_> = std::iter::from_fn(|| t.c.accept().unwrap()).collect();
    for id in &ids {
        t.read_all(*id);
    }
    assert_eq!(t.c.receive_buffered(), 0);
    t.sent();
    // Room again: a new stream is accepted and may fill its window.
    assert_eq!(fill_one(&mut t, 101), 0);
}

fn fill_one(t: &mut T, id: u32) -> usize {
    t.recv(wu(id, Flags::SYN, 0));
    for _ in 0..4 {
        t.recv(Frame::data(sid(id), Flags::NONE, chunk()));
    }
    count(&t.sent(), FrameType::WindowUpdate, Flags::RST)
}

#[test]
fn a_budget_reset_reports_its_cause_and_frees_the_stream_data() {
    let budget = 256 * KIB as usize + 64 * KIB as usize;
    let mut t = hoarding_server(budget);
    t.recv(wu(1, Flags::SYN, 0));
    t.recv(wu(3, Flags::SYN, 0));
    assert_eq!(t.c.accept().unwrap(), Some(sid(1)));
    assert_eq!(t.c.accept().unwrap(), Some(sid(3)));
    t.sent();
    t.recv(Frame::data(sid(1), Flags::NONE, chunk()));
    for _ in 0..4 {
        t.recv(Frame::data(sid(3), Flags::NONE, chunk()));
    }
    // Stream 3's fourth chunk does not fit: stream 3 is reset, its data dropped.
    assert_eq!(t.sent(), vec![wu(3, Flags::RST, 0)]);
    assert!(matches!(
        t.c.read(t.now, sid(3), &mut [0u8; 8]),
        Err(Error::ReceiveBudgetExceeded)
    ));
    assert_eq!(t.c.receive_buffered(), 64 * KIB as usize + CHUNK_OVERHEAD);
    assert_eq!(t.read_all(sid(1)).len(), 64 * KIB as usize);
    // With less than 256 KiB free a new stream is refused.
    t.recv(Frame::data(sid(1), Flags::NONE, chunk()));
    t.recv(wu(5, Flags::SYN, 0));
    assert_eq!(t.sent(), vec![wu(5, Flags::RST, 0)]);
}

#[test]
fn one_byte_frames_are_charged_their_overhead() {
    let mut t = hoarding_server(DEFAULT_SESSION_RECEIVE_BUFFER);
    t.recv(wu(1, Flags::SYN, 0));
    for _ in 0..1000 {
        t.recv(data(1, Flags::NONE, b"x"));
    }
    assert_eq!(t.c.receive_buffered(), 1000 * (1 + CHUNK_OVERHEAD));
    let mut buf = [0u8; 10];
    let _ = t.c.read(t.now, sid(1), &mut buf);
    assert_eq!(t.c.receive_buffered(), 990 * (1 + CHUNK_OVERHEAD));
}

#[test]
fn larger_windows_are_granted_only_from_free_budget() {
    let mut cfg = Config::default();
    cfg.receive_window = 4096 * KIB;
    cfg.max_session_receive_buffer = 6 * 1024 * KIB as usize;
    cfg.accept_backlog = 100;
    let mut t = T::with(Role::Server, cfg);
    let mut deltas = Vec::new();
    for i in 0..3u32 {
        let id = 2 * i + 1;
        t.recv(wu(id, Flags::SYN, 0));
        t.c.accept().unwrap();
        for f in t.sent() {
            deltas.push(f.header.length / KIB);
        }
        // Fill the stream's window completely.
        let max = t.c.stream_info(sid(id)).map_or(0, |i| i.recv_max);
        for _ in 0..max / (64 * KIB) {
            t.recv(Frame::data(sid(id), Flags::NONE, chunk()));
        }
    }
    // 6 MiB: 4 MiB for the first, 256 KiB + what is left for the second;
    // the third is refused (less than 256 KiB free).
    assert_eq!(deltas, vec![4096 - 256, 1792 - 4, 0]);
    assert_eq!(t.c.live_streams(), 2);
    assert!(t.c.receive_buffered() <= 6 * 1024 * KIB as usize);
}

#[test]
fn a_heavy_reader_is_never_reset() {
    // 100 streams x 10 MiB, read as it arrives, in rounds across streams.
    let mut t = hoarding_server(DEFAULT_SESSION_RECEIVE_BUFFER);
    for i in 0..100u32 {
        t.recv(wu(2 * i + 1, Flags::SYN, 0));
        t.c.accept().unwrap();
    }
    let body = chunk();
    let mut got = 0usize;
    for _round in 0..160 {
        for i in 0..100u32 {
            t.recv(Frame::data(sid(2 * i + 1), Flags::NONE, body.clone()));
        }
        for i in 0..100u32 {
            let mut out = Vec::new();
            if let Ok(ReadResult::Data(n)) =
                t.c.read_chunks(t.now, sid(2 * i + 1), usize::MAX, &mut out)
            {
                got += n;
            }
        }
        let sent = t.sent();
        assert_eq!(count(&sent, FrameType::WindowUpdate, Flags::RST), 0);
        t.events();
    }
    assert_eq!(got, 100 * 10 * 1024 * 1024);
    assert!(t.c.close_reason().is_none());
}

// ----- empty frames --------------------------------------------------------

#[test]
fn empty_frame_floods_leave_no_state_and_no_output() {
    let mut t = server_with_stream();
    for _ in 0..100_000 {
        t.recv(data(1, Flags::NONE, b""));
        t.recv(wu(1, Flags::NONE, 0));
        t.recv(data(99, Flags::NONE, b"")); // unknown id
        t.recv(wu(0, Flags::NONE, 0)); // session id
    }
    assert_eq!(t.c.transmit_len(), 0);
    assert!(t.events().is_empty());
    assert_eq!(t.c.receive_buffered(), 0);
    assert_eq!(t.c.live_streams(), 1);
    assert!(t.c.close_reason().is_none());
}

// ----- window overflow and huge lengths -------------------------------------

proptest! {
    /// Any sequence of Window Updates: credit is the exact sum while it
    /// fits in 32 bits; the first update past 2^32−1 ends the session with
    /// GA(1) (flow.overflow). Never a panic or a wrap.
    #[test]
    fn window_updates_never_wrap(deltas in proptest::collection::vec(
        prop_oneof![Just(u32::MAX), Just(u32::MAX / 2 + 1), any::<u32>(), 0u32..1024], 1..12)) {
        let mut t = server_with_stream();
        let mut credit = u64::from(INITIAL_WINDOW);
        for d in deltas {
            t.recv(wu(1, Flags::NONE, d));
            credit += u64::from(d);
            if credit > u64::from(u32::MAX) {
                prop_assert_eq!(t.protocol_error(), Some("flow.overflow"));
                prop_assert!(is_ga(&t.sent()[0], 1));
                break;
            }
            prop_assert!(t.c.close_reason().is_none());
            prop_assert_eq!(u64::from(t.c.stream_info(sid(1)).unwrap().send_credit), credit);
        }
    }

    /// A Data header of any length beyond the window is an overrun, found
    /// from the header: nothing is buffered.
    #[test]
    fn data_lengths_past_the_window_are_overruns(extra in 1u32..=u32::MAX - INITIAL_WINDOW) {
        let mut t = server_with_stream();
        let h = Header::new(FrameType::Data, Flags::NONE, sid(1), INITIAL_WINDOW + extra);
        t.recv(Frame { header: h, body: Bytes::new() });
        prop_assert_eq!(t.protocol_error(), Some("flow.overrun"));
        prop_assert_eq!(t.c.receive_buffered(), 0);
    }
}

// ----- faults ----------------------------------------------------------------

#[cfg(feature = "faults")]
mod faults {
    use super::*;

    fn faulty(set: impl Fn(&mut crate::config::Faults)) -> T {
        let mut cfg = Config::default();
        cfg.accept_backlog = 10_000;
        cfg.max_streams = 10_000;
        set(&mut cfg.faults);
        T::with(Role::Server, cfg)
    }

    #[test]
    fn panic_on_window_overflow_panics() {
        let r = std::panic::catch_unwind(|| {
            let mut t = faulty(|f| f.panic_on_window_overflow = true);
            t.recv(wu(1, Flags::SYN, 0));
            t.recv(wu(1, Flags::NONE, u32::MAX));
        });
        assert!(r.is_err());
    }

    #[test]
    fn unbounded_pong_queue_grows_with_the_flood() {
        let mut t = faulty(|f| f.unbounded_pong_queue = true);
        for v in 0..100_000u32 {
            t.recv(ping(v));
        }
        assert!(t.c.wants_input());
        assert_eq!(t.c.transmit_len(), 100_000 * H);
    }

    #[test]
    fn ignore_receive_budget_holds_every_window() {
        let mut cfg = Config::default();
        cfg.accept_backlog = 10_000;
        cfg.max_streams = 10_000;
        cfg.faults.ignore_receive_budget = true;
        let mut t = T::with(Role::Server, cfg);
        let body = chunk();
        for i in 0..1000u32 {
            t.recv(wu(2 * i + 1, Flags::SYN, 0));
            for _ in 0..4 {
                t.recv(Frame::data(sid(2 * i + 1), Flags::NONE, body.clone()));
            }
        }
        assert_eq!(
            t.c.receive_buffered(),
            1000 * 4 * (64 * KIB as usize + CHUNK_OVERHEAD)
        );
        assert_eq!(count(&t.sent(), FrameType::WindowUpdate, Flags::RST), 0);
    }
}
