//! The workload of the instruction-count check (`scripts/icount`, run under
//! `valgrind --tool=callgrind`): `icount codec N` encodes N frames (Data
//! 1 KiB, Window Update, Ping in turn) and decodes them with `FrameCodec`;
//! `icount core N` moves N Data frames (1 KiB each) from a client
//! `proto::Connection` to a server one: write, encode, decode, handle,
//! read, and the Window Updates back. The script subtracts the count of
//! `N = 0` so that only the per-frame work is measured.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use bytes::BytesMut;
use yamux::frame::{Flags, Frame, FrameCodec, StreamId};
use yamux::proto::{Connection, ReadResult, Role};
use yamux::Config;

fn codec(n: usize) -> Result<usize, String> {
    let mut wire = BytesMut::new();
    for i in 0..n {
        let f = match i % 3 {
            0 => Frame::data(StreamId::new(1), Flags::NONE, vec![0xA5; 1024]),
            1 => Frame::window_update(StreamId::new(1), Flags::NONE, 1024),
            _ => Frame::ping(Flags::SYN, i as u32),
        };
        f.encode(&mut wire).map_err(|e| e.to_string())?;
    }
    let mut codec = FrameCodec::default();
    let mut got = 0;
    while let Some(f) = codec.decode_frame(&mut wire).map_err(|e| e.to_string())? {
        black_box(&f);
        got += 1;
    }
    Ok(got)
}

/// Feeds every frame the `from` side has queued into `to`.
fn pump(
    from: &mut Connection,
    to: &mut Connection,
    codec: &mut FrameCodec,
    now: Instant,
) -> Result<(), String> {
    let mut wire = from.transmit_buf().split();
    while let Some(f) = codec.decode_frame(&mut wire).map_err(|e| e.to_string())? {
        to.handle_frame(now, f);
    }
    Ok(())
}

fn core(n: usize) -> Result<usize, String> {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default(), now);
    let mut server = Connection::new(Role::Server, Config::default(), now);
    let (mut c2s, mut s2c) = (FrameCodec::default(), FrameCodec::default());
    let id = client
        .open(now)
        .map_err(|e| e.to_string())?
        .ok_or("no stream")?;
    pump(&mut client, &mut server, &mut c2s, now)?;
    let sid = server
        .accept()
        .map_err(|e| e.to_string())?
        .ok_or("not accepted")?;
    let data = vec![1u8; 1024];
    let mut buf = vec![0u8; 4096];
    let mut total = 0;
    for _ in 0..n {
        let w = client.write(id, &data).map_err(|e| e.to_string())?;
        if w != data.len() {
            return Err(format!("short write {w}"));
        }
        pump(&mut client, &mut server, &mut c2s, now)?;
        match server.read(now, sid, &mut buf).map_err(|e| e.to_string())? {
            ReadResult::Data(k) => total += k,
            other => return Err(format!("unexpected read result {other:?}")),
        }
        pump(&mut server, &mut client, &mut s2c, now)?;
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
    }
    Ok(total / 1024)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = match args.get(1).map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: icount codec|core N");
            return ExitCode::from(2);
        }
    };
    let r = match args.first().map(String::as_str) {
        Some("codec") => codec(n),
        Some("core") => core(n),
        _ => Err("usage: icount codec|core N".into()),
    };
    match r {
        Ok(frames) if frames == n => ExitCode::SUCCESS,
        Ok(frames) => {
            eprintln!("icount: moved {frames} frames, expected {n}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("icount: {e}");
            ExitCode::from(1)
        }
    }
}
