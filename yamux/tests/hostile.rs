//! A hostile peer against the tokio session: it must neither crash the
//! reference nor make it buffer without bound (`limits.replies`,
//! `limits.receive-budget`, `flow.overflow`, `flow.max-frame`).

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use yamux::{Config, Flags, Frame, FrameType, Session, StreamId};

/// Decodes the frames the session sends.
struct Reader<R> {
    io: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(io: R) -> Self {
        Reader {
            io,
            buf: Vec::new(),
        }
    }

    /// Reads frames until `pred` matches one, EOF, or 10 s pass.
    async fn until(&mut self, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Ok((f, n)) = Frame::decode(&Bytes::copy_from_slice(&self.buf)) {
                self.buf.drain(..n);
                if pred(&f) {
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 65536];
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

async fn read_until(io: &mut DuplexStream, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
    Reader::new(io).until(pred).await
}

fn pings(n: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(n as usize * 12);
    for i in 0..n {
        v.extend(Frame::ping(Flags::SYN, i).to_vec().unwrap());
    }
    v
}

/// Writes a ping flood without reading; returns whether all of it was
/// taken within one second. Then reads, and checks that a last ping is
/// answered once the flood is through.
async fn flood(cfg: Config) -> (bool, Session) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = Session::server(a, cfg);
    let (r, mut w) = tokio::io::split(b);
    let flood = pings(300_000);
    let writer = tokio::spawn(async move {
        w.write_all(&flood).await.unwrap();
        w
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = writer.is_finished();
    // Now read: the session catches up and the writer finishes.
    let reader = tokio::spawn(async move {
        Reader::new(r)
            .until(|f| f.header.length == 0xDEAD_BEEF)
            .await
    });
    let mut w = writer.await.unwrap();
    w.write_all(&Frame::ping(Flags::SYN, 0xDEAD_BEEF).to_vec().unwrap())
        .await
        .unwrap();
    let last = reader.await.unwrap();
    assert_eq!(last, Some(Frame::ping(Flags::ACK, 0xDEAD_BEEF)));
    assert!(!server.is_closed());
    (done, server)
}

#[tokio::test]
async fn a_ping_flood_that_is_never_read_stops_the_reader() {
    let (taken, _server) = flood(Config::default()).await;
    assert!(
        !taken,
        "3.6 MB of pings were all read while none of the answers were"
    );
}

#[cfg(feature = "faults")]
#[tokio::test]
async fn unbounded_pong_queue_reads_the_whole_flood() {
    let mut cfg = Config::default();
    cfg.faults.unbounded_pong_queue = true;
    let (taken, _server) = flood(cfg).await;
    assert!(taken, "the faulty session kept reading");
}

async fn raw_server() -> (DuplexStream, Session) {
    let (a, mut b) = tokio::io::duplex(1 << 20);
    let server = Session::server(a, Config::default());
    b.write_all(
        &Frame::window_update(StreamId::new(1), Flags::SYN, 0)
            .to_vec()
            .unwrap(),
    )
    .await
    .unwrap();
    (b, server)
}

#[tokio::test]
async fn a_data_header_announcing_4_gib_ends_the_session_at_once() {
    let (mut io, server) = raw_server().await;
    let mut h = [0u8; 12];
    h[1] = 0; // Data
    h[4..8].copy_from_slice(&1u32.to_be_bytes());
    h[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    io.write_all(&h).await.unwrap();
    let ga = read_until(&mut io, |f| f.header.typ == FrameType::GoAway).await;
    assert_eq!(ga.map(|f| f.header.length), Some(1));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), server.closed())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_window_update_overflow_ends_the_session_without_a_panic() {
    let (mut io, server) = raw_server().await;
    let wu = Frame::window_update(StreamId::new(1), Flags::NONE, u32::MAX);
    io.write_all(&wu.to_vec().unwrap()).await.unwrap();
    let ga = read_until(&mut io, |f| f.header.typ == FrameType::GoAway).await;
    assert_eq!(ga.map(|f| f.header.length), Some(1));
    let why = server.closed().await;
    assert!(why.to_string().contains("flow.overflow"), "{why}");
}

#[tokio::test]
async fn streams_filled_and_never_read_are_reset_past_the_budget() {
    let (a, mut io) = tokio::io::duplex(1 << 20);
    let mut cfg = Config::default();
    cfg.max_session_receive_buffer = 4 << 20;
    cfg.accept_backlog = 1000;
    let server = Session::server(a, cfg);
    let body = vec![0u8; 256 * 1024];
    let writer = tokio::spawn(async move {
        for i in 0..40u32 {
            let id = StreamId::new(2 * i + 1);
            let mut v = Frame::window_update(id, Flags::SYN, 0).to_vec().unwrap();
            v.extend(Frame::data(id, Flags::NONE, body.clone()).to_vec().unwrap());
            io.write_all(&v).await.unwrap();
        }
        io
    });
    let mut io = Reader::new(writer.await.unwrap());
    // 40 x 256 KiB offered, 4 MiB budget: 15 streams held, the rest reset.
    let mut rst = 0;
    while rst < 25 {
        let f = io.until(|f| f.header.flags.contains(Flags::RST)).await;
        assert!(f.is_some(), "only {rst} RSTs");
        rst += 1;
    }
    assert!(!server.is_closed());
    let held: usize = server.stream_infos().iter().map(|(_, i)| i.buffered).sum();
    assert!(held <= 4 << 20, "{held}");
}
