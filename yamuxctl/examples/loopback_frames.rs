//! Writes hand-built yamux frames both ways over a real TCP connection, to
//! record test captures of our own frames (see yamuxctl/tests/data/README.md).
//!
//! Usage: `cargo run -p yamuxctl --example loopback_frames -- ADDR [--preamble] [--violations]`
//! where ADDR is `127.0.0.1:PORT` or `[::1]:PORT`. A listener on ADDR plays
//! the server (acks streams, echoes data, answers pings, closes); the client
//! opens three streams, sends data, pings and ends with a Go Away.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use yamux::frame::{Flags, Frame, GoAwayCode, StreamId, HEADER_LEN};

fn send(s: &mut TcpStream, f: &Frame) -> std::io::Result<()> {
    s.write_all(&f.to_vec().map_err(std::io::Error::other)?)
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Option<Frame>> {
    let mut h = [0u8; HEADER_LEN];
    if let Err(e) = s.read_exact(&mut h) {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let header = yamux::frame::Header::decode(&h).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; header.body_len()];
    s.read_exact(&mut body)?;
    Ok(Some(Frame {
        header,
        body: body.into(),
    }))
}

fn server(l: TcpListener, preamble: bool) -> std::io::Result<()> {
    let (mut s, _) = l.accept()?;
    s.set_nodelay(true)?;
    if preamble {
        let mut buf = [0u8; 34];
        s.read_exact(&mut buf)?;
        s.write_all(b"\x13/multistream/1.0.0\n\x0d/yamux/1.0.0\n")?;
    }
    while let Some(f) = read_frame(&mut s)? {
        let id = f.stream_id();
        match f.typ() {
            yamux::frame::FrameType::Ping if f.flags().contains(Flags::SYN) => {
                send(&mut s, &Frame::ping(Flags::ACK, f.header.length))?
            }
            yamux::frame::FrameType::GoAway => break,
            _ => {
                if f.flags().contains(Flags::SYN) {
                    send(&mut s, &Frame::window_update(id, Flags::ACK, 0))?;
                }
                if !f.body.is_empty() {
                    // echo, and return the credit
                    send(&mut s, &Frame::data(id, Flags::NONE, f.body.clone()))?;
                    send(
                        &mut s,
                        &Frame::window_update(id, Flags::NONE, f.body.len() as u32),
                    )?;
                }
                if f.flags().contains(Flags::FIN) {
                    send(&mut s, &Frame::window_update(id, Flags::FIN, 0))?;
                }
            }
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let preamble = args.iter().any(|a| a == "--preamble");
    let violations = args.iter().any(|a| a == "--violations");
    let l = TcpListener::bind(&addr)?;
    let local = l.local_addr()?;
    let srv = thread::spawn(move || server(l, preamble));
    let mut c = TcpStream::connect(local)?;
    c.set_nodelay(true)?;
    let mut reader = c.try_clone()?;
    let rd = thread::spawn(move || {
        let mut n = 0;
        if preamble {
            let mut buf = [0u8; 34];
            if reader.read_exact(&mut buf).is_err() {
                return n;
            }
        }
        while let Ok(Some(_)) = read_frame(&mut reader) {
            n += 1;
        }
        n
    });
    let pause = || thread::sleep(Duration::from_millis(5));
    if preamble {
        c.write_all(b"\x13/multistream/1.0.0\n\x0d/yamux/1.0.0\n")?;
        pause();
    }
    send(&mut c, &Frame::ping(Flags::SYN, 1))?;
    for id in [1u32, 3, 5] {
        let s = StreamId::new(id);
        send(&mut c, &Frame::window_update(s, Flags::SYN, 0))?;
        let body: Vec<u8> = format!("hello from stream {id}\n").into_bytes();
        send(&mut c, &Frame::data(s, Flags::NONE, body))?;
        pause();
    }
    // a bigger transfer on stream 3, in 16 KiB frames
    for _ in 0..8 {
        send(
            &mut c,
            &Frame::data(StreamId::new(3), Flags::NONE, vec![b'x'; 16 * 1024]),
        )?;
    }
    pause();
    if violations {
        // more than the 256 KiB window on stream 5 in one frame, a second
        // ACK on a stream the client opened, and an unsolicited pong
        send(
            &mut c,
            &Frame::data(StreamId::new(5), Flags::NONE, vec![b'y'; 300 * 1024]),
        )?;
        send(
            &mut c,
            &Frame::window_update(StreamId::new(1), Flags::ACK, 0),
        )?;
        send(&mut c, &Frame::ping(Flags::ACK, 99))?;
        pause();
    }
    for id in [1u32, 3, 5] {
        send(
            &mut c,
            &Frame::window_update(StreamId::new(id), Flags::FIN, 0),
        )?;
    }
    send(&mut c, &Frame::ping(Flags::SYN, 2))?;
    pause();
    send(&mut c, &Frame::go_away(GoAwayCode::NORMAL))?;
    pause();
    c.shutdown(std::net::Shutdown::Write)?;
    srv.join()
        .map_err(|_| std::io::Error::other("server panicked"))??;
    let frames = rd
        .join()
        .map_err(|_| std::io::Error::other("reader panicked"))?;
    eprintln!("{local}: client received {frames} frames");
    Ok(())
}
