//! Integration tests of the tokio session over tokio duplex pipes and TCP.
//! Time-dependent tests run on tokio's paused clock (no real sleeps).

use std::io::ErrorKind;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;
use yamux::{Config, Error, Flags, Frame, FrameCodec, FrameType, GoAwayCode, Session, StreamId};

fn pair(client: Config, server: Config) -> (Session, Session) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (Session::client(a, client), Session::server(b, server))
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Accepts every stream and echoes it, half-closing after the peer's FIN.
fn spawn_echo(server: Session) {
    tokio::spawn(async move {
        while let Ok(mut s) = server.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
}

async fn echo_once(client: &Session, data: Vec<u8>) -> Vec<u8> {
    let s = client.open().await.unwrap();
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    drop(writer.await.unwrap());
    got
}

#[tokio::test]
async fn echo_over_duplex() {
    let (c, s) = pair(Config::default(), Config::default());
    spawn_echo(s);
    let data = pattern(1, 1_000_000);
    assert_eq!(echo_once(&c, data.clone()).await, data);
    assert!(c.ping().await.is_ok());
    c.close().await.unwrap();
    assert!(c.is_closed());
}

#[tokio::test]
async fn thousand_concurrent_streams() {
    let (c, s) = pair(Config::default(), Config::default());
    spawn_echo(s);
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(i, 2000);
            assert_eq!(echo_once(&c, data.clone()).await, data);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.live_streams(), 0);
}

#[tokio::test]
async fn half_close_client_first() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"question").await.unwrap();
    a.shutdown().await.unwrap();
    let mut b = s.accept().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"question");
    // The server can still write after the client's FIN.
    b.write_all(b"answer").await.unwrap();
    b.shutdown().await.unwrap();
    let mut got = Vec::new();
    a.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"answer");
    assert!(a.write_all(b"x").await.is_err());
}

#[tokio::test]
async fn half_close_server_first() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"hello").await.unwrap();
    let mut b = s.accept().await.unwrap();
    b.write_all(b"bye").await.unwrap();
    b.shutdown().await.unwrap();
    let mut got = Vec::new();
    a.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    a.write_all(b" world").await.unwrap();
    a.shutdown().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello world");
}

#[tokio::test]
async fn reset_from_the_opener() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"x").await.unwrap();
    let mut b = s.accept().await.unwrap();
    let mut one = [0u8; 1];
    b.read_exact(&mut one).await.unwrap();
    a.reset();
    let err = b.read(&mut one).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert!(matches!(
        err.get_ref().and_then(|e| e.downcast_ref::<Error>()),
        Some(Error::StreamReset)
    ));
    assert!(a.write_all(b"y").await.is_err());
}

#[tokio::test]
async fn reset_from_the_acceptor_and_by_drop() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"x").await.unwrap();
    let mut b = s.accept().await.unwrap();
    b.reset();
    let mut buf = [0u8; 4];
    assert_eq!(
        a.read(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    // Dropping an unfinished stream resets it.
    let mut a2 = c.open().await.unwrap();
    a2.write_all(b"y").await.unwrap();
    drop(s.accept().await.unwrap());
    assert_eq!(
        a2.read(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[tokio::test(start_paused = true)]
async fn slow_reader_makes_the_writer_wait() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    let data = pattern(7, 4 << 20);
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        a.write_all(&data).await.unwrap();
        a.shutdown().await.unwrap();
        a
    });
    let mut b = s.accept().await.unwrap();
    // Nobody reads: the writer is stuck once the 256 KiB window is used
    // (the paused clock advances only when every task is idle).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!writer.is_finished());
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, expected);
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn go_away_0_drains_open_streams() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"before").await.unwrap();
    let mut b = s.accept().await.unwrap();
    s.go_away(GoAwayCode::NORMAL).await.unwrap();
    // A ping round trip orders us after the Go Away.
    c.ping().await.unwrap();
    assert!(matches!(c.open().await, Err(Error::GoAway(code)) if code == GoAwayCode::NORMAL));
    assert!(matches!(s.open().await, Err(Error::GoingAway(_))));
    // The open stream finishes normally in both directions.
    a.write_all(b" after").await.unwrap();
    a.shutdown().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"before after");
    b.write_all(b"done").await.unwrap();
    b.shutdown().await.unwrap();
    let mut got = Vec::new();
    a.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"done");
}

#[tokio::test]
async fn close_ends_both_sides() {
    let (c, s) = pair(Config::default(), Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"x").await.unwrap();
    let mut b = s.accept().await.unwrap();
    c.close().await.unwrap();
    assert!(matches!(c.closed().await, Error::SessionClosed));
    // The server sees the buffered byte, then the session end.
    let mut one = [0u8; 1];
    b.read_exact(&mut one).await.unwrap();
    assert!(b.read(&mut one).await.is_err());
    assert!(s.accept().await.is_err());
    assert!(a.write_all(b"y").await.is_err());
}

// ----- against a raw peer -------------------------------------------------

type Raw = Framed<DuplexStream, FrameCodec>;

fn raw_client(config: Config) -> (Session, Raw) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Session::client(a, config),
        Framed::new(b, FrameCodec::default()),
    )
}

fn raw_server(config: Config) -> (Session, Raw) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Session::server(a, config),
        Framed::new(b, FrameCodec::default()),
    )
}

async fn next(raw: &mut Raw) -> Frame {
    raw.next().await.expect("frame").expect("valid frame")
}

#[tokio::test(start_paused = true)]
async fn keep_alive_timeout_ends_the_session() {
    let mut cfg = Config::default();
    cfg.keep_alive = Some(Duration::from_secs(30));
    cfg.keep_alive_timeout = Duration::from_secs(10);
    let (c, mut raw) = raw_client(cfg);
    // The first keep-alive ping is answered, the second is not.
    let p = next(&mut raw).await;
    assert_eq!(p.header.typ, FrameType::Ping);
    raw.send(Frame::ping(Flags::ACK, p.header.length))
        .await
        .unwrap();
    let p2 = next(&mut raw).await;
    assert_eq!(p2.header.typ, FrameType::Ping);
    assert!(matches!(c.closed().await, Error::KeepAliveTimeout));
}

#[tokio::test(start_paused = true)]
async fn write_timeout_ends_the_session() {
    let (a, _b) = tokio::io::duplex(1024);
    let mut cfg = Config::default();
    cfg.write_timeout = Duration::from_secs(3);
    let c = Session::client(a, cfg);
    let mut s = c.open().await.unwrap();
    // Nobody reads the other end: the transport stops taking bytes.
    s.write_all(&[0u8; 100_000]).await.unwrap();
    assert!(matches!(c.closed().await, Error::Timeout));
}

#[tokio::test(start_paused = true)]
async fn stream_open_timeout_fails_only_that_stream() {
    let mut cfg = Config::default();
    cfg.stream_open_timeout = Some(Duration::from_secs(5));
    let (c, mut raw) = raw_client(cfg);
    let mut a = c.open().await.unwrap();
    assert_eq!(next(&mut raw).await.header.flags, Flags::SYN);
    let mut buf = [0u8; 1];
    let err = a.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(
        next(&mut raw).await,
        Frame::window_update(StreamId::new(1), Flags::RST, 0)
    );
    assert!(!c.is_closed());
    assert!(c.open().await.is_ok());
}

#[tokio::test]
async fn rst_answer_to_syn_is_connection_refused() {
    let (c, mut raw) = raw_client(Config::default());
    let mut a = c.open().await.unwrap();
    a.write_all(b"early").await.unwrap();
    let syn = next(&mut raw).await;
    assert_eq!(syn, Frame::window_update(StreamId::new(1), Flags::SYN, 0));
    assert_eq!(next(&mut raw).await.body.as_ref(), b"early");
    raw.send(Frame::window_update(StreamId::new(1), Flags::RST, 0))
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let err = a.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn unmatched_pong_is_ignored_and_pings_are_echoed() {
    let (c, mut raw) = raw_server(Config::default());
    raw.send(Frame::ping(Flags::ACK, 77)).await.unwrap();
    raw.send(Frame::ping(Flags::SYN, 1234)).await.unwrap();
    assert_eq!(next(&mut raw).await, Frame::ping(Flags::ACK, 1234));
    assert!(!c.is_closed());
}

/// Sends raw bytes and expects Go Away 1, then the end of the transport,
/// and a protocol error naming `rule`.
async fn expect_protocol_error(role_server: bool, frames: Vec<Vec<u8>>, rule: &str) {
    let (sess, raw) = if role_server {
        raw_server(Config::default())
    } else {
        raw_client(Config::default())
    };
    let mut io = raw.into_inner();
    for f in frames {
        io.write_all(&f).await.unwrap();
    }
    let mut rest = Vec::new();
    io.read_to_end(&mut rest).await.unwrap();
    let frames = Frame::decode_all(&rest.into()).unwrap();
    assert_eq!(
        frames.last(),
        Some(&Frame::go_away(GoAwayCode::PROTOCOL_ERROR)),
        "{rule}"
    );
    match sess.closed().await {
        Error::Protocol(p) => assert_eq!(p.rule().id(), rule),
        other => panic!("{rule}: expected a protocol error, got {other:?}"),
    }
}

fn wire(f: Frame) -> Vec<u8> {
    f.to_vec().unwrap()
}

#[tokio::test]
async fn each_protocol_error_sends_go_away_1_and_closes() {
    let mut bad_version = wire(Frame::ping(Flags::SYN, 1));
    bad_version[0] = 1;
    expect_protocol_error(true, vec![bad_version], "framing.version").await;
    let mut bad_type = wire(Frame::ping(Flags::SYN, 1));
    bad_type[1] = 4;
    expect_protocol_error(true, vec![bad_type], "framing.type").await;
    expect_protocol_error(
        true,
        vec![wire(Frame::window_update(StreamId::SESSION, Flags::SYN, 0))],
        "ids.control",
    )
    .await;
    expect_protocol_error(
        true,
        vec![wire(Frame::data(StreamId::SESSION, Flags::NONE, "x"))],
        "ids.control",
    )
    .await;
    expect_protocol_error(
        true,
        vec![wire(Frame::window_update(StreamId::new(2), Flags::SYN, 0))],
        "ids.parity",
    )
    .await;
    expect_protocol_error(
        false,
        vec![wire(Frame::window_update(StreamId::new(1), Flags::SYN, 0))],
        "ids.parity",
    )
    .await;
    let syn = wire(Frame::window_update(StreamId::new(1), Flags::SYN, 0));
    expect_protocol_error(true, vec![syn.clone(), syn.clone()], "stream.duplicate-syn").await;
    expect_protocol_error(
        true,
        vec![
            syn.clone(),
            wire(Frame::data(
                StreamId::new(1),
                Flags::NONE,
                vec![0u8; 256 * 1024 + 1],
            )),
        ],
        "flow.overrun",
    )
    .await;
    expect_protocol_error(
        true,
        vec![
            syn,
            wire(Frame::window_update(
                StreamId::new(1),
                Flags::NONE,
                u32::MAX,
            )),
        ],
        "flow.overflow",
    )
    .await;
}

// ----- TCP ----------------------------------------------------------------

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_64_mib_on_10_streams_with_checksums() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        let server = Session::server(sock, Config::default());
        spawn_echo(server.clone());
        // Keep the session handle alive until it ends.
        let _ = server.closed().await;
    });
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let c = Session::client(sock, Config::default());
    let per = (64 << 20) / 10;
    let mut tasks = Vec::new();
    for i in 0..10u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(i, per);
            let sum = fnv(&data);
            let got = echo_once(&c, data).await;
            assert_eq!(got.len(), per);
            assert_eq!(fnv(&got), sum, "stream {i}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    c.close().await.unwrap();
}

#[test]
fn session_and_stream_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send + Unpin>() {}
    send_sync::<Session>();
    send::<yamux::Stream>();
    send_sync::<Error>();
}

#[tokio::test]
async fn thousand_concurrent_streams_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let server = Session::server(sock, Config::default());
        spawn_echo(server.clone());
        let _ = server.closed().await;
    });
    let c = Session::client(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        Config::default(),
    );
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(i, 3000);
            assert_eq!(echo_once(&c, data.clone()).await, data);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn open_waits_while_256_streams_are_unacked() {
    let (c, mut raw) = raw_client(Config::default());
    let mut streams = Vec::new();
    for _ in 0..256 {
        streams.push(c.open().await.unwrap());
    }
    for _ in 0..256 {
        assert_eq!(next(&mut raw).await.header.flags, Flags::SYN);
    }
    let c2 = c.clone();
    let pending = tokio::spawn(async move { c2.open().await.map(|s| s.id()) });
    // A stray ACK on an id we never opened frees nothing; a ping round trip
    // shows the session processed it.
    raw.send(Frame::window_update(StreamId::new(1001), Flags::ACK, 0))
        .await
        .unwrap();
    raw.send(Frame::ping(Flags::SYN, 5)).await.unwrap();
    assert_eq!(next(&mut raw).await, Frame::ping(Flags::ACK, 5));
    assert!(!pending.is_finished());
    raw.send(Frame::window_update(StreamId::new(1), Flags::ACK, 0))
        .await
        .unwrap();
    assert_eq!(pending.await.unwrap().unwrap(), StreamId::new(513));
}

#[tokio::test]
async fn inbound_streams_beyond_the_accept_backlog_are_refused() {
    let (s, mut raw) = raw_server(Config::default());
    for i in 0..257u32 {
        raw.send(Frame::window_update(
            StreamId::new(2 * i + 1),
            Flags::SYN,
            0,
        ))
        .await
        .unwrap();
    }
    // The reader is not blocked: the 257th SYN is answered with RST at once.
    assert_eq!(
        next(&mut raw).await,
        Frame::window_update(StreamId::new(513), Flags::RST, 0)
    );
    let first = s.accept().await.unwrap();
    assert_eq!(first.id(), StreamId::new(1));
    assert_eq!(
        next(&mut raw).await,
        Frame::window_update(StreamId::new(1), Flags::ACK, 0)
    );
}
