//! Is a `--target` still alive? After every case the runner opens a fresh
//! session to the target, and requires within a time limit: the connection
//! is accepted, a new stream echoes a few bytes, and a ping is answered.
//! A target that fails this is dead or hung: the case that preceded it is
//! a `crash` and the run stops.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use yamux::frame::{Flags, Frame, FrameCodec, FrameType, GoAwayCode, StreamId};

/// How long the target has to answer the probe.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// What the probe sends on its stream, and expects back.
const PROBE_BYTES: &[u8] = b"yamuxctl liveness probe";
/// The value of the probe's ping.
const PROBE_PING: u32 = 0x11FE_0001;

/// Opens a session to `addr` and checks echo and ping; `Err` says what did
/// not happen.
pub async fn probe(addr: SocketAddr, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, probe_inner(addr)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the target did not answer the liveness probe within {} s",
            limit.as_secs_f64()
        )),
    }
}

async fn probe_inner(addr: SocketAddr) -> Result<(), String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("the target no longer accepts connections ({e})"))?;
    let _ = tcp.set_nodelay(true);
    let stream = StreamId::new(1);
    let opening = [
        Frame::window_update(stream, Flags::SYN, 0),
        Frame::data(stream, Flags::NONE, PROBE_BYTES),
    ];
    echo_and_ping(&mut tcp, &opening, PROBE_BYTES, PROBE_PING).await?;
    let mut b = BytesMut::new();
    Frame::go_away(GoAwayCode::NORMAL)
        .encode(&mut b)
        .map_err(|e| e.to_string())?;
    let _ = tcp.write_all(&b).await;
    let _ = tcp.shutdown().await;
    Ok(())
}

/// Sends `opening` (frames that open stream 1 and carry `data`) and a Ping
/// with `ping`, then reads until `data` came back on stream 1 and the Ping
/// is answered, answering the target's own Pings meanwhile. `Err` says what
/// happened instead. Shared by the probe and `sessions` (crate::sessions).
pub(crate) async fn echo_and_ping(
    tcp: &mut TcpStream,
    opening: &[Frame],
    data: &[u8],
    ping: u32,
) -> Result<(), String> {
    let stream = StreamId::new(1);
    let mut out = BytesMut::new();
    for f in opening.iter().chain([&Frame::ping(Flags::SYN, ping)]) {
        f.encode(&mut out).map_err(|e| e.to_string())?;
    }
    tcp.write_all(&out)
        .await
        .map_err(|e| format!("writing to the target failed ({e})"))?;
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut echoed = Vec::new();
    let mut pong = false;
    let started = Instant::now();
    while !(pong && echoed.len() >= data.len()) {
        let f = loop {
            match codec.decode_frame(&mut buf) {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(e) => return Err(format!("the target sent an undecodable frame ({e})")),
            }
            let n = tcp
                .read_buf(&mut buf)
                .await
                .map_err(|e| format!("reading from the target failed ({e})"))?;
            if n == 0 {
                return Err(format!(
                    "the target closed the connection after {} ms (echoed {} of {} bytes, ping {})",
                    started.elapsed().as_millis(),
                    echoed.len(),
                    data.len(),
                    if pong { "answered" } else { "unanswered" }
                ));
            }
        };
        let h = f.header;
        match h.typ {
            FrameType::Ping if h.flags.contains(Flags::ACK) && h.length == ping => pong = true,
            FrameType::Ping if h.flags.contains(Flags::SYN) => {
                let mut b = BytesMut::new();
                Frame::ping(Flags::ACK, h.length)
                    .encode(&mut b)
                    .map_err(|e| e.to_string())?;
                let _ = tcp.write_all(&b).await;
            }
            FrameType::Data | FrameType::WindowUpdate
                if h.stream_id == stream && h.flags.contains(Flags::RST) =>
            {
                return Err("the target reset the stream".into())
            }
            FrameType::Data if h.stream_id == stream => echoed.extend_from_slice(&f.body),
            FrameType::GoAway => {
                return Err(format!(
                    "the target answered with Go Away code {}",
                    h.length
                ))
            }
            _ => {}
        }
    }
    if !echoed.starts_with(data) {
        return Err("the target echoed other bytes than were sent".into());
    }
    Ok(())
}
