//! Writes a synthetic pcap of bulk yamux traffic, for `scripts/bench-decode`.
//!
//! Usage: `gen_bulk_capture OUT.pcap [--mb N] [--frame BYTES] [--streams N] [--conns N] [--mss BYTES]`
//!
//! Each connection: handshake, `streams` streams opened by the client, then
//! Data frames of `frame` bytes round-robin over the streams, packed into
//! TCP segments of `mss` bytes (default 65,483, as on loopback); the server returns credit with a
//! Window Update per 128 KiB received on a stream and acknowledges every
//! second segment. Raw IPv4 link type. Stops after about N MB of capture.

use std::io::{BufWriter, Write};
use std::net::SocketAddrV4;
use std::time::Duration;

use yamux::frame::{Flags, Frame, StreamId};
use yamuxctl::capture::synth::{tcp_packet, SynthPcap};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fin_frames(streams: u32) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut fin = Vec::new();
    for id in 0..streams {
        fin.extend(Frame::window_update(StreamId::new(2 * id + 1), Flags::FIN, 0).to_vec()?);
    }
    Ok(fin)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().ok_or(
        "usage: gen_bulk_capture OUT.pcap [--mb N] [--frame BYTES] [--streams N] [--conns N] [--mss BYTES]",
    )?;
    let target = arg(&args, "--mb", 210) * 1_000_000;
    let frame = arg(&args, "--frame", 16 * 1024) as usize;
    let streams = arg(&args, "--streams", 8).max(1) as u32;
    let conns = arg(&args, "--conns", 1).max(1);
    let mss = arg(&args, "--mss", 65_483).clamp(64, 65_483) as usize;
    let per_conn = target / conns;
    let mut w = SynthPcap::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(out)?,
    ))?;
    let mut t = Duration::from_secs(1_800_000_000);
    let mut written = 24u64;
    let payload = vec![0x5Au8; frame];
    for conn in 0..conns {
        let c = SocketAddrV4::new([10, 0, 0, 1].into(), 40_000 + conn as u16);
        let s = SocketAddrV4::new([10, 0, 0, 2].into(), 7000);
        let (mut cseq, mut sseq) = (1_000u32.wrapping_mul(conn as u32 + 1), 9_000u32);
        let pkt = |w: &mut SynthPcap<_>,
                   t: &mut Duration,
                   p: Vec<u8>,
                   written: &mut u64|
         -> Result<(), Box<dyn std::error::Error>> {
            *t += Duration::from_micros(5);
            w.packet(*t, &p)?;
            *written += 16 + p.len() as u64;
            Ok(())
        };
        pkt(
            &mut w,
            &mut t,
            tcp_packet(c, s, cseq, None, true, false, &[]),
            &mut written,
        )?;
        pkt(
            &mut w,
            &mut t,
            tcp_packet(s, c, sseq, Some(cseq + 1), true, false, &[]),
            &mut written,
        )?;
        cseq += 1;
        sseq += 1;
        let mut pending: Vec<u8> = Vec::with_capacity(2 * mss);
        for id in 0..streams {
            pending
                .extend(Frame::window_update(StreamId::new(2 * id + 1), Flags::SYN, 0).to_vec()?);
        }
        let mut acks = Vec::new();
        for id in 0..streams {
            acks.extend(Frame::window_update(StreamId::new(2 * id + 1), Flags::ACK, 0).to_vec()?);
        }
        let mut received = vec![0u64; streams as usize];
        let mut segs = 0u64;
        let start = written;
        let mut next_stream = 0u32;
        while written - start < per_conn {
            while pending.len() < mss {
                let id = 2 * next_stream + 1;
                pending
                    .extend(Frame::data(StreamId::new(id), Flags::NONE, payload.clone()).to_vec()?);
                received[next_stream as usize] += frame as u64;
                next_stream = (next_stream + 1) % streams;
            }
            let seg: Vec<u8> = pending.drain(..mss).collect();
            pkt(
                &mut w,
                &mut t,
                tcp_packet(c, s, cseq, Some(sseq), false, false, &seg),
                &mut written,
            )?;
            cseq = cseq.wrapping_add(seg.len() as u32);
            segs += 1;
            // credit back: one Window Update per 128 KiB per stream
            let mut wu = std::mem::take(&mut acks);
            for (i, r) in received.iter_mut().enumerate() {
                while *r >= 128 * 1024 {
                    *r -= 128 * 1024;
                    wu.extend(
                        Frame::window_update(
                            StreamId::new(2 * i as u32 + 1),
                            Flags::NONE,
                            128 * 1024,
                        )
                        .to_vec()?,
                    );
                }
            }
            if !wu.is_empty() || segs % 2 == 0 {
                pkt(
                    &mut w,
                    &mut t,
                    tcp_packet(s, c, sseq, Some(cseq), false, false, &wu),
                    &mut written,
                )?;
                sseq = sseq.wrapping_add(wu.len() as u32);
            }
        }
        pending.extend(fin_frames(streams)?);
        for seg in pending.chunks(mss).map(|c| c.to_vec()).collect::<Vec<_>>() {
            pkt(
                &mut w,
                &mut t,
                tcp_packet(c, s, cseq, Some(sseq), false, false, &seg),
                &mut written,
            )?;
            cseq = cseq.wrapping_add(seg.len() as u32);
        }
        let sfin = fin_frames(streams)?;
        pkt(
            &mut w,
            &mut t,
            tcp_packet(s, c, sseq, Some(cseq), false, false, &sfin),
            &mut written,
        )?;
        sseq = sseq.wrapping_add(sfin.len() as u32);
        pkt(
            &mut w,
            &mut t,
            tcp_packet(c, s, cseq, Some(sseq), false, true, &[]),
            &mut written,
        )?;
        pkt(
            &mut w,
            &mut t,
            tcp_packet(s, c, sseq, Some(cseq + 1), false, true, &[]),
            &mut written,
        )?;
    }
    w.into_inner().flush()?;
    eprintln!("{out}: {written} bytes");
    Ok(())
}
