//! The core driven frame by frame with time passed in (no sleeps).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

const KIB: u32 = 1024;

struct T {
    c: Connection,
    now: Instant,
}

impl T {
    fn new(role: Role) -> T {
        T::with(role, Config::default())
    }

    fn with(role: Role, config: Config) -> T {
        let now = Instant::now();
        T {
            c: Connection::new(role, config, now),
            now,
        }
    }

    fn recv(&mut self, f: Frame) {
        self.c.handle_frame(self.now, f);
    }

    fn sent(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.c.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    fn open(&mut self) -> StreamId {
        self.c.open(self.now).unwrap().unwrap()
    }

    fn read_all(&mut self, id: StreamId) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(ReadResult::Data(n)) = self.c.read(self.now, id, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
    }

    fn protocol_error(&mut self) -> Option<&'static str> {
        match self.c.close_reason() {
            Some(Error::Protocol(p)) => Some(p.rule().id()),
            _ => None,
        }
    }
}

fn sid(v: u32) -> StreamId {
    StreamId::new(v)
}

fn wu(id: u32, flags: Flags, delta: u32) -> Frame {
    Frame::window_update(sid(id), flags, delta)
}

fn data(id: u32, flags: Flags, body: &[u8]) -> Frame {
    Frame::data(sid(id), flags, Bytes::copy_from_slice(body))
}

fn is_ga(f: &Frame, code: u32) -> bool {
    f.header.typ == FrameType::GoAway && f.header.length == code
}

/// A server-side connection with inbound stream 1 accepted (and ACKed).
fn server_with_stream() -> T {
    let mut t = T::new(Role::Server);
    t.recv(wu(1, Flags::SYN, 0));
    assert_eq!(t.c.accept().unwrap(), Some(sid(1)));
    t.sent();
    t.events();
    t
}

// ----- ids ----------------------------------------------------------------

#[test]
fn client_opens_odd_ids_server_even_never_zero() {
    let mut c = T::new(Role::Client);
    assert_eq!([c.open(), c.open(), c.open()], [sid(1), sid(3), sid(5)]);
    let mut s = T::new(Role::Server);
    assert_eq!([s.open(), s.open()], [sid(2), sid(4)]);
}

#[test]
fn id_exhaustion_is_an_error_on_open() {
    let mut c = T::new(Role::Client);
    c.c.set_next_id(u32::MAX);
    assert_eq!(c.open(), sid(u32::MAX));
    assert!(matches!(c.c.open(c.now), Err(Error::StreamIdsExhausted)));
    let mut s = T::new(Role::Server);
    s.c.set_next_id(u32::MAX - 1);
    assert_eq!(s.open(), sid(u32::MAX - 1));
    assert!(matches!(s.c.open(s.now), Err(Error::StreamIdsExhausted)));
}

#[test]
fn ids_are_not_reused_after_a_stream_ends() {
    let mut c = T::new(Role::Client);
    let a = c.open();
    c.c.reset(a);
    c.c.release(a);
    assert_eq!(c.c.live_streams(), 0);
    assert_eq!(c.open(), sid(3));
}

// ----- open / accept ------------------------------------------------------

#[test]
fn open_sends_wu_syn_with_window_minus_256k_at_once() {
    let mut cfg = Config::default();
    cfg.receive_window = 1024 * KIB;
    let mut c = T::with(Role::Client, cfg);
    let id = c.open();
    assert_eq!(c.sent(), vec![wu(1, Flags::SYN, 768 * KIB)]);
    assert_eq!(c.c.stream_info(id).unwrap().recv_window, 1024 * KIB);
    // The peer may send the whole larger window.
    c.recv(data(1, Flags::ACK, &vec![0u8; 1024 * KIB as usize]));
    assert!(c.c.close_reason().is_none());
}

#[test]
fn data_may_follow_the_syn_without_waiting_for_the_ack() {
    let mut c = T::new(Role::Client);
    let id = c.open();
    assert_eq!(c.c.write(id, b"hello").unwrap(), 5);
    assert_eq!(
        c.sent(),
        vec![wu(1, Flags::SYN, 0), data(1, Flags::NONE, b"hello")]
    );
}

#[test]
fn ack_backlog_of_256_makes_open_wait_and_stray_acks_free_nothing() {
    let mut c = T::new(Role::Client);
    let ids: Vec<_> = (0..256).map(|_| c.open()).collect();
    assert_eq!(c.c.ack_backlog(), 256);
    assert!(c.c.open(c.now).unwrap().is_none());
    // A duplicate ACK, an ACK on an unknown id and an ACK on an id we never
    // opened free nothing.
    c.recv(wu(1, Flags::ACK, 0));
    assert!(c.c.open(c.now).unwrap().is_some());
    assert!(c.c.open(c.now).unwrap().is_none());
    c.recv(wu(1, Flags::ACK, 0));
    c.recv(wu(9999, Flags::ACK, 0));
    c.recv(wu(2, Flags::ACK, 0));
    assert!(c.c.open(c.now).unwrap().is_none());
    c.events();
    c.recv(wu(ids[5].val(), Flags::ACK, 0));
    assert!(c.events().iter().any(|e| matches!(e, Event::OpenReady)));
    assert!(c.c.open(c.now).unwrap().is_some());
}

#[test]
fn rst_answer_to_syn_is_a_refusal_on_the_openers_stream() {
    let mut c = T::new(Role::Client);
    let id = c.open();
    c.c.write(id, b"early").unwrap();
    c.recv(wu(1, Flags::RST, 0));
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::StreamFailed(s) if *s == id)));
    assert!(matches!(c.c.write(id, b"x"), Err(Error::StreamRefused)));
    let mut buf = [0u8; 4];
    assert!(matches!(
        c.c.read(c.now, id, &mut buf),
        Err(Error::StreamRefused)
    ));
    assert_eq!(c.c.ack_backlog(), 0);
    assert!(c.c.close_reason().is_none());
}

#[test]
fn ack_policy_on_accept_acks_when_accepted() {
    let mut s = T::new(Role::Server);
    s.recv(wu(1, Flags::SYN, 0));
    assert!(s.sent().is_empty());
    assert!(s.events().iter().any(|e| matches!(e, Event::Inbound)));
    assert_eq!(s.c.accept().unwrap(), Some(sid(1)));
    assert_eq!(s.sent(), vec![wu(1, Flags::ACK, 0)]);
    assert_eq!(s.c.accept().unwrap(), None);
}

#[test]
fn ack_policy_on_syn_acks_at_once_with_larger_window() {
    let mut cfg = Config::default();
    cfg.ack_policy = AckPolicy::OnSyn;
    cfg.receive_window = 512 * KIB;
    let mut s = T::with(Role::Server, cfg);
    s.recv(wu(1, Flags::SYN, 0));
    assert_eq!(s.sent(), vec![wu(1, Flags::ACK, 256 * KIB)]);
    assert_eq!(s.c.stream_info(sid(1)).unwrap().recv_window, 512 * KIB);
}

#[test]
fn syn_data_is_held_to_the_initial_window_under_on_syn() {
    // Found by the `connection` fuzzer: the ACK's increment was applied
    // before the D|SYN body was checked, so a body above 256 KiB passed.
    let mut cfg = Config::default();
    cfg.ack_policy = AckPolicy::OnSyn;
    cfg.receive_window = 512 * KIB;
    let mut s = T::with(Role::Server, cfg.clone());
    s.recv(data(1, Flags::SYN, &vec![0u8; 256 * KIB as usize + 1]));
    assert_eq!(s.protocol_error(), Some("flow.overrun"));

    let mut s = T::with(Role::Server, cfg);
    s.recv(data(1, Flags::SYN, &vec![0u8; 256 * KIB as usize]));
    assert!(s.c.close_reason().is_none());
    assert_eq!(s.sent(), vec![wu(1, Flags::ACK, 256 * KIB)]);
    assert_eq!(s.c.stream_info(sid(1)).unwrap().recv_window, 256 * KIB);
}

#[test]
fn ack_policy_lazy_acks_on_first_read_or_write() {
    let mut cfg = Config::default();
    cfg.ack_policy = AckPolicy::Lazy;
    let mut s = T::with(Role::Server, cfg.clone());
    s.recv(data(1, Flags::SYN, b"hi"));
    s.c.accept().unwrap();
    assert!(s.sent().is_empty());
    assert_eq!(s.read_all(sid(1)), b"hi");
    assert_eq!(s.sent(), vec![wu(1, Flags::ACK, 0)]);

    let mut s = T::with(Role::Server, cfg);
    s.recv(wu(1, Flags::SYN, 0));
    s.c.accept().unwrap();
    s.c.write(sid(1), b"yo").unwrap();
    assert_eq!(
        s.sent(),
        vec![wu(1, Flags::ACK, 0), data(1, Flags::NONE, b"yo")]
    );
}

#[test]
fn syn_with_data_and_fin_is_processed_in_flag_order() {
    let mut s = T::new(Role::Server);
    s.recv(data(1, Flags::SYN | Flags::FIN, b"abc"));
    assert_eq!(s.c.accept().unwrap(), Some(sid(1)));
    assert_eq!(s.read_all(sid(1)), b"abc");
    let mut buf = [0u8; 8];
    assert_eq!(s.c.read(s.now, sid(1), &mut buf).unwrap(), ReadResult::Eof);
}

#[test]
fn unknown_flag_bits_are_ignored() {
    let mut s = T::new(Role::Server);
    s.recv(data(1, Flags::from_bits(0x8001), b"x"));
    assert_eq!(s.c.accept().unwrap(), Some(sid(1)));
    assert_eq!(s.read_all(sid(1)), b"x");
    assert!(s.c.close_reason().is_none());
}

#[test]
fn inbound_backlog_of_256_refuses_more_with_rst() {
    let mut s = T::new(Role::Server);
    for i in 0..256u32 {
        s.recv(wu(2 * i + 1, Flags::SYN, 0));
    }
    assert!(s.sent().is_empty());
    s.recv(data(513, Flags::SYN, b"lost"));
    assert_eq!(s.sent(), vec![wu(513, Flags::RST, 0)]);
    assert_eq!(s.c.accept_queue_len(), 256);
    // Later frames on the refused id are ignored.
    s.recv(data(513, Flags::NONE, b"more"));
    assert!(s.c.close_reason().is_none());
    // Accepting one makes room again.
    s.c.accept().unwrap();
    s.sent();
    s.recv(wu(515, Flags::SYN, 0));
    assert!(s.sent().is_empty());
}

#[test]
fn max_streams_limits_open_and_inbound() {
    let mut cfg = Config::default();
    cfg.max_streams = 2;
    let mut c = T::with(Role::Client, cfg);
    c.open();
    c.recv(wu(2, Flags::SYN, 0));
    assert!(matches!(c.c.open(c.now), Err(Error::TooManyStreams)));
    c.sent();
    c.recv(wu(4, Flags::SYN, 0));
    assert_eq!(c.sent(), vec![wu(4, Flags::RST, 0)]);
}

#[test]
fn stream_open_timeout_fails_that_stream_only() {
    let mut cfg = Config::default();
    cfg.stream_open_timeout = Some(Duration::from_secs(5));
    let mut c = T::with(Role::Client, cfg);
    let a = c.open();
    c.advance(Duration::from_secs(1));
    let b = c.open();
    c.recv(wu(b.val(), Flags::ACK, 0));
    c.sent();
    assert_eq!(c.c.poll_timeout(), Some(c.now + Duration::from_secs(4)));
    c.advance(Duration::from_secs(4));
    assert_eq!(c.sent(), vec![wu(a.val(), Flags::RST, 0)]);
    assert!(matches!(c.c.write(a, b"x"), Err(Error::Timeout)));
    assert_eq!(c.c.write(b, b"x").unwrap(), 1);
    assert!(c.c.close_reason().is_none());
    assert_eq!(c.c.ack_backlog(), 0);
    c.advance(Duration::from_secs(10));
    assert!(c.c.write(b, b"y").is_ok());
}

// ----- close / reset ------------------------------------------------------

#[test]
fn half_close_local_first_then_remote_frees_state() {
    let mut c = T::new(Role::Client);
    let id = c.open();
    c.recv(wu(1, Flags::ACK, 0));
    c.c.close_write(id).unwrap();
    c.c.close_write(id).unwrap();
    assert_eq!(c.sent(), vec![wu(1, Flags::SYN, 0), wu(1, Flags::FIN, 0)]);
    assert!(matches!(c.c.write(id, b"x"), Err(Error::StreamClosed)));
    // Reading still works after our FIN.
    c.recv(data(1, Flags::NONE, b"reply"));
    assert_eq!(c.read_all(id), b"reply");
    c.recv(wu(1, Flags::FIN, 0));
    let mut buf = [0u8; 4];
    assert_eq!(c.c.read(c.now, id, &mut buf).unwrap(), ReadResult::Eof);
    c.c.release(id);
    assert!(c.sent().is_empty(), "a finished stream is not reset");
    assert_eq!(c.c.live_streams(), 0);
}

#[test]
fn half_close_remote_first_then_local() {
    let mut s = server_with_stream();
    s.recv(data(1, Flags::FIN, b"req"));
    assert_eq!(s.read_all(sid(1)), b"req");
    // Writing after the peer's FIN is allowed.
    assert_eq!(s.c.write(sid(1), b"resp").unwrap(), 4);
    s.c.close_write(sid(1)).unwrap();
    assert_eq!(
        s.sent(),
        vec![data(1, Flags::NONE, b"resp"), wu(1, Flags::FIN, 0)]
    );
    s.c.release(sid(1));
    assert_eq!(s.c.live_streams(), 0);
    assert!(s.sent().is_empty());
}

#[test]
fn duplicate_fin_ignored_data_after_fin_discarded_wu_after_fin_accepted() {
    let mut s = server_with_stream();
    s.recv(wu(1, Flags::FIN, 0));
    s.recv(wu(1, Flags::FIN, 0));
    s.recv(data(1, Flags::NONE, b"late"));
    let mut buf = [0u8; 8];
    assert_eq!(s.c.read(s.now, sid(1), &mut buf).unwrap(), ReadResult::Eof);
    s.recv(wu(1, Flags::NONE, 1000));
    assert_eq!(
        s.c.stream_info(sid(1)).unwrap().send_credit,
        256 * KIB + 1000
    );
    assert!(s.c.close_reason().is_none());
}

#[test]
fn reset_api_sends_wu_rst_and_fails_later_calls() {
    let mut s = server_with_stream();
    s.c.reset(sid(1));
    assert_eq!(s.sent(), vec![wu(1, Flags::RST, 0)]);
    assert!(matches!(
        s.c.write(sid(1), b"x"),
        Err(Error::StreamResetLocally)
    ));
    // In-flight data from the peer is discarded, not an error.
    s.recv(data(1, Flags::NONE, b"inflight"));
    assert!(s.c.close_reason().is_none());
    s.c.release(sid(1));
    assert!(s.sent().is_empty());
    assert_eq!(s.c.live_streams(), 0);
}

#[test]
fn remote_reset_fails_reads_and_writes() {
    let mut s = server_with_stream();
    s.recv(data(1, Flags::NONE, b"buffered"));
    s.recv(wu(1, Flags::RST, 0));
    let mut buf = [0u8; 8];
    assert!(matches!(
        s.c.read(s.now, sid(1), &mut buf),
        Err(Error::StreamReset)
    ));
    assert!(matches!(s.c.write(sid(1), b"x"), Err(Error::StreamReset)));
    s.c.release(sid(1));
    assert!(s.sent().is_empty(), "no RST in answer to RST");
}

#[test]
fn wu_rst_length_is_an_error_code_not_credit() {
    // length.rst, length.rst-code: 42 is a code (go-yamux ResetWithError);
    // u32::MAX would overflow the window if it were taken as credit.
    for code in [42, u32::MAX] {
        let mut s = server_with_stream();
        s.recv(wu(1, Flags::RST, code));
        assert!(s.c.close_reason().is_none(), "code {code}");
        assert!(matches!(s.c.write(sid(1), b"x"), Err(Error::StreamReset)));
        s.c.release(sid(1));
        assert!(s.sent().is_empty(), "code {code}: no answer to the RST");
        // The session stays usable: a fresh stream opens and carries data.
        s.recv(wu(3, Flags::SYN, 0));
        assert_eq!(s.c.accept().unwrap(), Some(sid(3)));
        s.recv(data(3, Flags::NONE, b"hello"));
        assert_eq!(s.read_all(sid(3)), b"hello");
        assert_eq!(s.c.write(sid(3), b"hi").unwrap(), 2);
        assert!(s.sent().iter().any(|f| f.header.stream_id == sid(3)));
    }
}

#[test]
fn data_rst_with_a_body_resets_and_the_session_reads_on() {
    // length.rst: the body of a D|RST is consumed (here: the frame arrives
    // whole and is dropped) and the next frame is handled.
    let mut s = server_with_stream();
    s.recv(data(1, Flags::RST, &[0x2A; 10]));
    assert!(s.c.close_reason().is_none());
    let mut buf = [0u8; 16];
    assert!(matches!(
        s.c.read(s.now, sid(1), &mut buf),
        Err(Error::StreamReset)
    ));
    s.recv(Frame::ping(Flags::SYN, 77));
    let sent = s.sent();
    assert!(
        sent.iter()
            .any(|f| f.header.typ == FrameType::Ping && f.header.length == 77),
        "{sent:?}"
    );
}

#[test]
fn reset_before_accept_removes_the_stream_from_the_queue() {
    let mut s = T::new(Role::Server);
    s.recv(wu(1, Flags::SYN, 0));
    s.recv(wu(1, Flags::RST, 0));
    assert_eq!(s.c.accept().unwrap(), None);
    assert_eq!(s.c.live_streams(), 0);
}

#[test]
fn dropping_an_unfinished_stream_resets_it() {
    let mut s = server_with_stream();
    s.c.close_write(sid(1)).unwrap();
    s.sent();
    s.c.release(sid(1));
    assert_eq!(s.sent(), vec![wu(1, Flags::RST, 0)]);
    assert_eq!(s.c.live_streams(), 0);
}

#[test]
fn unknown_ids_are_ignored() {
    let mut s = T::new(Role::Server);
    s.recv(data(7, Flags::NONE, b"x"));
    s.recv(wu(9, Flags::NONE, 5));
    s.recv(wu(11, Flags::RST, 0));
    s.recv(wu(13, Flags::FIN, 0));
    s.recv(wu(2, Flags::NONE, 1));
    assert!(s.sent().is_empty());
    assert!(s.c.close_reason().is_none());
}

// ----- flow control -------------------------------------------------------

#[test]
fn writes_stop_at_the_peers_credit_and_resume_on_window_update() {
    let mut c = T::new(Role::Client);
    let id = c.open();
    c.sent();
    let big = vec![1u8; 300 * KIB as usize];
    assert_eq!(c.c.write(id, &big).unwrap(), 256 * KIB as usize);
    assert_eq!(c.c.write(id, &big).unwrap(), 0);
    let frames = c.sent();
    assert_eq!(frames.len(), 4, "split at 64 KiB");
    assert!(frames.iter().all(|f| f.header.length == 64 * KIB));
    c.events();
    c.recv(wu(1, Flags::ACK, 10));
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::Writable(s) if *s == id)));
    assert_eq!(c.c.write(id, &big).unwrap(), 10);
}

#[test]
fn split_size_is_configurable() {
    let mut cfg = Config::default();
    cfg.split_size = 1000;
    let mut c = T::with(Role::Client, cfg);
    let id = c.open();
    c.sent();
    c.c.write(id, &[0u8; 2500]).unwrap();
    let lens: Vec<u32> = c.sent().iter().map(|f| f.header.length).collect();
    assert_eq!(lens, [1000, 1000, 500]);
}

#[test]
fn credit_is_returned_once_half_the_window_is_read() {
    let mut s = server_with_stream();
    let chunk = vec![0u8; 64 * KIB as usize];
    for _ in 0..3 {
        s.recv(data(1, Flags::NONE, &chunk));
    }
    let mut buf = vec![0u8; 64 * KIB as usize];
    s.c.read(s.now, sid(1), &mut buf).unwrap();
    assert!(s.sent().is_empty(), "64 KiB read is under half the window");
    s.c.read(s.now, sid(1), &mut buf).unwrap();
    assert_eq!(s.sent(), vec![wu(1, Flags::NONE, 128 * KIB)]);
    let info = s.c.stream_info(sid(1)).unwrap();
    assert_eq!(info.recv_window, 256 * KIB - 64 * KIB);
    assert_eq!(info.buffered, 64 * KIB as usize);
}

#[test]
fn window_overrun_ends_the_session_with_go_away_1() {
    let mut s = server_with_stream();
    let chunk = vec![0u8; 256 * KIB as usize];
    s.recv(data(1, Flags::NONE, &chunk));
    assert!(s.c.close_reason().is_none());
    s.recv(data(1, Flags::NONE, b"x"));
    assert_eq!(s.protocol_error(), Some("flow.overrun"));
    let sent = s.sent();
    assert!(is_ga(sent.last().unwrap(), 1));
    assert!(s.events().iter().any(|e| matches!(e, Event::Closed)));
}

#[test]
fn window_overflow_ends_the_session_with_go_away_1() {
    let mut s = server_with_stream();
    s.recv(wu(1, Flags::NONE, u32::MAX - 256 * KIB));
    assert!(s.c.close_reason().is_none());
    s.recv(wu(1, Flags::NONE, 1));
    assert_eq!(s.protocol_error(), Some("flow.overflow"));
    assert!(is_ga(&s.sent()[0], 1));
}

#[test]
fn slow_reader_memory_is_bounded_by_the_window() {
    let mut s = server_with_stream();
    let chunk = vec![0u8; 16 * KIB as usize];
    for _ in 0..16 {
        s.recv(data(1, Flags::NONE, &chunk));
    }
    assert_eq!(
        s.c.stream_info(sid(1)).unwrap().buffered,
        256 * KIB as usize
    );
    s.recv(data(1, Flags::NONE, b"x"));
    assert_eq!(s.protocol_error(), Some("flow.overrun"));
}

#[test]
fn auto_tune_grows_the_window_when_it_is_used_up_quickly() {
    let mut cfg = Config::default();
    cfg.auto_tune = true;
    let mut s = T::with(Role::Server, cfg);
    // The first ping measures the RTT.
    let ping = s.sent().pop().unwrap();
    assert_eq!(ping.header.typ, FrameType::Ping);
    s.now += Duration::from_millis(10);
    s.recv(Frame::ping(Flags::ACK, ping.header.length));
    assert_eq!(s.c.rtt(), Some(Duration::from_millis(10)));
    s.recv(wu(1, Flags::SYN, 0));
    s.c.accept().unwrap();
    s.sent();
    let chunk = vec![0u8; 128 * KIB as usize];
    let mut buf = vec![0u8; 128 * KIB as usize];
    s.recv(data(1, Flags::NONE, &chunk));
    s.c.read(s.now, sid(1), &mut buf).unwrap();
    assert_eq!(s.sent(), vec![wu(1, Flags::NONE, 128 * KIB)]);
    s.now += Duration::from_millis(5);
    s.recv(data(1, Flags::NONE, &chunk));
    s.c.read(s.now, sid(1), &mut buf).unwrap();
    // Used up within a few RTTs: window doubles to 512 KiB.
    assert_eq!(s.sent(), vec![wu(1, Flags::NONE, 128 * KIB + 256 * KIB)]);
    assert_eq!(s.c.stream_info(sid(1)).unwrap().recv_max, 512 * KIB);
}

// ----- ping ---------------------------------------------------------------

#[test]
fn every_ping_with_syn_is_answered_with_the_same_value_on_stream_0() {
    let mut s = T::new(Role::Server);
    s.recv(Frame::ping(Flags::SYN, 42));
    let mut odd = Frame::ping(Flags::SYN | Flags::ACK, 7);
    odd.header.stream_id = sid(5);
    s.recv(odd);
    assert_eq!(
        s.sent(),
        vec![Frame::ping(Flags::ACK, 42), Frame::ping(Flags::ACK, 7)]
    );
}

#[test]
fn unmatched_pongs_and_flagless_pings_are_ignored() {
    let mut s = T::new(Role::Server);
    s.recv(Frame::ping(Flags::ACK, 99));
    s.recv(Frame::ping(Flags::NONE, 1));
    assert!(s.sent().is_empty());
    assert!(s.events().is_empty());
    assert!(s.c.close_reason().is_none());
}

#[test]
fn ping_reports_the_round_trip_time() {
    let mut c = T::new(Role::Client);
    let v = c.c.ping(c.now).unwrap();
    assert_eq!(c.sent(), vec![Frame::ping(Flags::SYN, v)]);
    c.now += Duration::from_millis(30);
    c.recv(Frame::ping(Flags::ACK, v));
    assert!(c.events().iter().any(|e| matches!(e,
        Event::Pong { value, rtt } if *value == v && *rtt == Duration::from_millis(30))));
}

#[test]
fn unanswered_pings_do_not_accumulate() {
    let mut c = T::new(Role::Client);
    for _ in 0..1500 {
        c.c.ping(c.now).unwrap();
        c.now += Duration::from_millis(1);
    }
    assert_eq!(c.c.pings.len(), MAX_OUTSTANDING_PINGS);
    assert_eq!(c.sent().len(), 1500);
}

#[test]
fn keep_alive_pings_at_the_interval_and_times_out() {
    let mut cfg = Config::default();
    cfg.keep_alive = Some(Duration::from_secs(30));
    cfg.keep_alive_timeout = Duration::from_secs(10);
    let mut c = T::with(Role::Client, cfg);
    assert_eq!(c.c.poll_timeout(), Some(c.now + Duration::from_secs(30)));
    c.advance(Duration::from_secs(30));
    let p = c.sent();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].header.flags, Flags::SYN);
    // Answered: next ping 30 s later.
    c.recv(Frame::ping(Flags::ACK, p[0].header.length));
    assert_eq!(c.c.poll_timeout(), Some(c.now + Duration::from_secs(30)));
    c.advance(Duration::from_secs(30));
    assert_eq!(c.sent().len(), 1);
    // Unanswered: the session ends after the timeout.
    c.advance(Duration::from_secs(9));
    assert!(c.c.close_reason().is_none());
    c.advance(Duration::from_secs(1));
    assert!(matches!(c.c.close_reason(), Some(Error::KeepAliveTimeout)));
}

// ----- go away ------------------------------------------------------------

#[test]
fn received_go_away_0_drains() {
    let mut s = server_with_stream();
    s.recv(Frame::go_away(GoAwayCode::NORMAL));
    assert!(s.c.close_reason().is_none());
    assert!(matches!(s.c.open(s.now), Err(Error::GoAway(_))));
    assert!(matches!(s.c.accept(), Err(Error::GoAway(_))));
    s.recv(wu(3, Flags::SYN, 0));
    assert_eq!(s.sent(), vec![wu(3, Flags::RST, 0)]);
    // The open stream still works.
    s.recv(data(1, Flags::NONE, b"still"));
    assert_eq!(s.read_all(sid(1)), b"still");
    assert_eq!(s.c.write(sid(1), b"ok").unwrap(), 2);
}

#[test]
fn received_go_away_0_terminates_when_configured() {
    let mut cfg = Config::default();
    cfg.go_away_mode = GoAwayMode::Terminate;
    let mut s = T::with(Role::Server, cfg);
    s.recv(Frame::go_away(GoAwayCode::NORMAL));
    assert!(matches!(s.c.close_reason(), Some(Error::GoAway(c)) if *c == GoAwayCode::NORMAL));
}

#[test]
fn other_go_away_codes_terminate() {
    let mut s = server_with_stream();
    s.recv(Frame::go_away(GoAwayCode::INTERNAL_ERROR));
    assert!(matches!(s.c.close_reason(), Some(Error::GoAway(c)) if c.val() == 2));
    assert!(s.sent().is_empty(), "no Go Away in answer");
    assert!(s.c.write(sid(1), b"x").is_err());
}

#[test]
fn after_sending_go_away_inbound_syns_get_rst() {
    let mut s = T::new(Role::Server);
    s.c.go_away(GoAwayCode::NORMAL);
    assert_eq!(s.sent(), vec![Frame::go_away(GoAwayCode::NORMAL)]);
    assert!(matches!(s.c.open(s.now), Err(Error::GoingAway(_))));
    s.recv(data(1, Flags::SYN, b"x"));
    assert_eq!(s.sent(), vec![wu(1, Flags::RST, 0)]);
}

#[test]
fn close_sends_go_away_0_after_queued_frames() {
    let mut c = T::new(Role::Client);
    let id = c.open();
    c.c.write(id, b"last").unwrap();
    c.c.close();
    let sent = c.sent();
    assert_eq!(sent.len(), 3);
    assert!(is_ga(&sent[2], 0));
    assert!(matches!(c.c.close_reason(), Some(Error::SessionClosed)));
    assert!(c.c.open(c.now).is_err());
}

// ----- protocol errors ----------------------------------------------------

fn expect_protocol_error(role: Role, frames: Vec<Frame>, rule: &str) {
    let mut t = T::new(role);
    t.sent();
    for f in frames {
        t.recv(f);
    }
    assert_eq!(t.protocol_error(), Some(rule));
    let sent = t.sent();
    assert!(is_ga(sent.last().unwrap(), 1), "{sent:?}");
    assert!(t.events().iter().any(|e| matches!(e, Event::Closed)));
    // Nothing after the session ended.
    t.recv(Frame::ping(Flags::SYN, 1));
    assert!(t.sent().is_empty());
}

#[test]
fn syn_on_id_0_is_a_protocol_error() {
    expect_protocol_error(Role::Server, vec![wu(0, Flags::SYN, 0)], "ids.control");
}

#[test]
fn data_on_id_0_is_a_protocol_error_but_empty_wu_is_ignored() {
    expect_protocol_error(
        Role::Server,
        vec![data(0, Flags::NONE, b"x")],
        "ids.control",
    );
    let mut s = T::new(Role::Server);
    s.recv(wu(0, Flags::NONE, 0));
    s.recv(data(0, Flags::NONE, b""));
    assert!(s.c.close_reason().is_none());
}

#[test]
fn syn_with_wrong_parity_is_a_protocol_error() {
    expect_protocol_error(Role::Server, vec![wu(2, Flags::SYN, 0)], "ids.parity");
    expect_protocol_error(Role::Client, vec![wu(1, Flags::SYN, 0)], "ids.parity");
}

#[test]
fn duplicate_syn_is_a_protocol_error() {
    expect_protocol_error(
        Role::Server,
        vec![wu(1, Flags::SYN, 0), wu(1, Flags::SYN, 0)],
        "stream.duplicate-syn",
    );
}

#[test]
fn undecodable_frames_are_protocol_errors() {
    let mut t = T::new(Role::Server);
    t.c.handle_decode_error(DecodeError::UnsupportedVersion(1));
    assert_eq!(t.protocol_error(), Some("framing.version"));
    assert!(is_ga(&t.sent()[0], 1));
    let mut t = T::new(Role::Server);
    t.c.handle_decode_error(DecodeError::UnknownType(4));
    assert_eq!(t.protocol_error(), Some("framing.type"));
}

#[test]
fn transport_end_keeps_buffered_data_readable() {
    let mut s = server_with_stream();
    s.recv(data(1, Flags::FIN, b"tail"));
    s.c.handle_transport_closed(None);
    assert_eq!(s.read_all(sid(1)), b"tail");
    let mut buf = [0u8; 4];
    assert_eq!(s.c.read(s.now, sid(1), &mut buf).unwrap(), ReadResult::Eof);
    assert!(s.c.write(sid(1), b"x").is_err());
}

// ----- faults (each deliberate bug shows when on) --------------------------

#[cfg(feature = "faults")]
mod faults {
    use super::*;
    use crate::config::Faults;

    fn with_fault(role: Role, set: impl Fn(&mut Faults)) -> T {
        let mut cfg = Config::default();
        set(&mut cfg.faults);
        T::with(role, cfg)
    }

    #[test]
    fn ignore_peer_window_sends_beyond_credit() {
        let mut c = with_fault(Role::Client, |f| f.ignore_peer_window = true);
        let id = c.open();
        let n = c.c.write(id, &vec![0u8; 300 * KIB as usize]).unwrap();
        assert_eq!(n, 300 * KIB as usize);
    }

    #[test]
    fn wrong_parity_opens_even_ids_as_client() {
        let mut c = with_fault(Role::Client, |f| f.wrong_parity = true);
        assert_eq!(c.open(), sid(2));
    }

    #[test]
    fn never_ack_sends_no_ack() {
        let mut s = with_fault(Role::Server, |f| f.never_ack = true);
        s.recv(wu(1, Flags::SYN, 0));
        s.c.accept().unwrap();
        assert!(s.sent().is_empty());
    }

    #[test]
    fn ping_wrong_value_answers_value_plus_one() {
        let mut s = with_fault(Role::Server, |f| f.ping_wrong_value = true);
        s.recv(Frame::ping(Flags::SYN, 41));
        assert_eq!(s.sent(), vec![Frame::ping(Flags::ACK, 42)]);
    }

    #[test]
    fn drop_syn_payload_loses_the_first_bytes() {
        let mut s = with_fault(Role::Server, |f| f.drop_syn_payload = true);
        s.recv(data(1, Flags::SYN, b"lost"));
        s.recv(data(1, Flags::NONE, b"kept"));
        s.c.accept().unwrap();
        assert_eq!(s.read_all(sid(1)), b"kept");
    }

    #[test]
    fn no_goaway_on_error_closes_silently() {
        let mut s = with_fault(Role::Server, |f| f.no_goaway_on_error = true);
        s.recv(wu(0, Flags::SYN, 0));
        assert_eq!(s.protocol_error(), Some("ids.control"));
        assert!(s.sent().is_empty());
    }

    #[test]
    fn double_ack_acks_twice() {
        let mut s = with_fault(Role::Server, |f| f.double_ack = true);
        s.recv(wu(1, Flags::SYN, 0));
        s.c.accept().unwrap();
        assert_eq!(s.sent(), vec![wu(1, Flags::ACK, 0), wu(1, Flags::ACK, 0)]);
    }

    #[test]
    fn accept_data_after_fin_delivers_it() {
        let mut s = with_fault(Role::Server, |f| f.accept_data_after_fin = true);
        s.recv(data(1, Flags::SYN | Flags::FIN, b"a"));
        s.recv(data(1, Flags::NONE, b"b"));
        s.c.accept().unwrap();
        assert_eq!(s.read_all(sid(1)), b"ab");
    }

    #[test]
    fn rst_length_as_credit_overflows_the_window() {
        let mut s = with_fault(Role::Server, |f| f.rst_length_as_credit = true);
        s.recv(wu(1, Flags::SYN, 0));
        s.c.accept().unwrap();
        s.recv(wu(1, Flags::NONE, u32::MAX - 256 * KIB));
        s.recv(wu(1, Flags::RST, 42));
        assert_eq!(s.protocol_error(), Some("flow.overflow"));
    }
}

#[test]
fn huge_configured_durations_do_not_overflow() {
    let mut cfg = Config::default();
    cfg.keep_alive = Some(Duration::MAX);
    cfg.keep_alive_timeout = Duration::MAX;
    cfg.stream_open_timeout = Some(Duration::MAX);
    let mut c = T::with(Role::Client, cfg);
    c.open();
    assert_eq!(c.c.poll_timeout(), None);
    c.advance(Duration::from_secs(3600));
    assert!(c.c.close_reason().is_none());
}

// ----- property: random peers and applications ------------------------------

mod prop {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Recv {
            typ: u8,
            flags: u16,
            id: u32,
            len: u32,
        },
        Open,
        Accept,
        Write(u32, usize),
        Read(u32, usize),
        CloseWrite(u32),
        Reset(u32),
        Release(u32),
        Ping,
        GoAway,
        Advance(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        let id = 0u32..8;
        prop_oneof![
            4 => (0u8..4, 0u16..16, id.clone(), prop_oneof![0u32..70_000, any::<u32>()])
                .prop_map(|(typ, flags, id, len)| Step::Recv { typ, flags, id, len }),
            1 => Just(Step::Open),
            1 => Just(Step::Accept),
            2 => (id.clone(), 0usize..200_000).prop_map(|(i, n)| Step::Write(i, n)),
            2 => (id.clone(), 0usize..200_000).prop_map(|(i, n)| Step::Read(i, n)),
            1 => id.clone().prop_map(Step::CloseWrite),
            1 => id.clone().prop_map(Step::Reset),
            1 => id.prop_map(Step::Release),
            1 => Just(Step::Ping),
            1 => Just(Step::GoAway),
            1 => (0u64..20_000).prop_map(Step::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the peer sends and the application does: no panic, the
        /// receive-window ledger balances, every frame sent is valid, and
        /// Data sent on a stream never exceeds the credit the peer granted.
        #[test]
        fn ledger_balances_and_sender_is_strict(
            server in any::<bool>(),
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut cfg = Config::default();
            cfg.stream_open_timeout = Some(Duration::from_secs(5));
            cfg.keep_alive = Some(Duration::from_secs(3));
            let mut t = T::with(if server { Role::Server } else { Role::Client }, cfg);
            // The peer's view: credit granted to us per stream, and data we sent.
            let mut granted: HashMap<u32, u64> = HashMap::new();
            let mut sent_data: HashMap<u32, u64> = HashMap::new();
            for s in steps {
                match s {
                    Step::Recv { typ, flags, id, len } => {
                        let typ = FrameType::from_u8(typ).unwrap();
                        let h = Header::new(typ, Flags::from_bits(flags), sid(id), len);
                        let f = if typ == FrameType::Data {
                            let len = len.min(70_000);
                            Frame::data(sid(id), Flags::from_bits(flags), vec![0u8; len as usize])
                        } else {
                            Frame::control(h)
                        };
                        if typ == FrameType::WindowUpdate && id != 0 {
                            *granted.entry(id).or_insert(256 * 1024) += u64::from(len);
                        }
                        t.recv(f);
                    }
                    Step::Open => { let _ = t.c.open(t.now); }
                    Step::Accept => { let _ = t.c.accept(); }
                    Step::Write(i, n) => { let _ = t.c.write(sid(i), &vec![1u8; n]); }
                    Step::Read(i, n) => {
                        let mut b = vec![0u8; n];
                        let _ = t.c.read(t.now, sid(i), &mut b);
                    }
                    Step::CloseWrite(i) => { let _ = t.c.close_write(sid(i)); }
                    Step::Reset(i) => t.c.reset(sid(i)),
                    Step::Release(i) => t.c.release(sid(i)),
                    Step::Ping => { let _ = t.c.ping(t.now); }
                    Step::GoAway => t.c.go_away(GoAwayCode::NORMAL),
                    Step::Advance(ms) => t.advance(Duration::from_millis(ms)),
                }
                for st in t.c.streams.values() {
                    prop_assert_eq!(
                        u64::from(st.recv_window) + st.buffered as u64 + u64::from(st.unreported),
                        u64::from(st.recv_max)
                    );
                }
                for f in t.sent() {
                    prop_assert!(f.check().is_ok());
                    if f.header.typ == FrameType::Data {
                        prop_assert!(f.header.length <= 64 * 1024);
                        prop_assert!(!f.header.stream_id.is_session());
                        let id = f.header.stream_id.val();
                        let total = sent_data.entry(id).or_insert(0);
                        *total += u64::from(f.header.length);
                        let limit = granted.get(&id).copied().unwrap_or(256 * 1024);
                        prop_assert!(*total <= limit, "stream {id}: sent {total} > granted {limit}");
                    }
                }
                while t.c.poll_event().is_some() {}
            }
        }
    }
}

#[test]
fn nothing_is_sent_after_the_session_ended() {
    // Found by the `connection` fuzzer: resetting or releasing a stream
    // after the transport closed queued a WU|RST.
    let mut s = T::new(Role::Client);
    let id = s.open();
    s.sent();
    s.c.handle_transport_closed(None);
    s.c.reset(id);
    s.c.release(id);
    assert!(s.sent().is_empty());
    assert_eq!(s.c.transmit_len(), 0);
}

#[test]
fn a_stream_released_before_accept_is_not_accepted() {
    // Found by the `connection` fuzzer: an inbound stream finished both
    // ways and released before `accept` stayed in the accept queue, so
    // `accept` returned an id whose state was already freed.
    let mut s = T::new(Role::Server);
    s.recv(data(1, Flags::SYN.union(Flags::FIN), b""));
    s.c.close_write(sid(1)).unwrap();
    s.c.release(sid(1));
    assert_eq!(s.c.live_streams(), 0);
    assert_eq!(s.c.accept_queue_len(), 0);
    assert_eq!(s.c.accept().unwrap(), None);
}

mod bounds;
