//! A pcapng writer for byte streams: TCP connections given as bytes per
//! direction become Ethernet/IP/TCP packets on one interface, with a
//! synthetic three-way handshake, consistent sequence and acknowledgment
//! numbers, the given timestamps (microsecond resolution) and a FIN or RST
//! at the end. `yamuxctl decode` and Wireshark read it back.
//!
//! Bytes that were not recorded ([`TcpPcapngWriter::gap`]) advance the
//! sequence numbers without a packet, and the peer acknowledges them at
//! once, exactly as a capture that lost packets looks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use yamux::tracker::Side;

use super::synth::{ether_tcp_packet, max_tcp_payload, TcpFlags};

/// MAC address of side A (the client) in written packets.
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
/// MAC address of side B (the server).
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Connections.
    pub connections: u64,
    /// Packets.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Bytes not recorded (gaps).
    pub gap_bytes: u64,
}

#[derive(Debug)]
struct Conn {
    addr: [SocketAddr; 2],
    /// Next sequence number per side.
    seq: [u32; 2],
    fin: [bool; 2],
}

/// Writes TCP connections given as byte streams to a pcapng file.
pub struct TcpPcapngWriter<W: Write> {
    w: PcapNgWriter<W>,
    conns: HashMap<u32, Conn>,
    stats: WriterStats,
    buf: Vec<u8>,
}

fn pcap_err(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// An initial sequence number for connection `conn`, side `side`: fixed
/// per connection so files are reproducible, and different per side.
fn isn(conn: u32, side: Side) -> u32 {
    let x = conn.wrapping_mul(0x9E37_79B9) ^ if side == Side::A { 0x1000 } else { 0x7000_0000 };
    x.rotate_left(13)
}

impl<W: Write> TcpPcapngWriter<W> {
    /// Writes the section header and the one (Ethernet) interface.
    pub fn new(w: W) -> io::Result<TcpPcapngWriter<W>> {
        let mut w = PcapNgWriter::new(w).map_err(pcap_err)?;
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("yamuxctl-proxy")),
                InterfaceDescriptionOption::IfTsResol(6),
            ],
        })
        .map_err(pcap_err)?;
        Ok(TcpPcapngWriter {
            w,
            conns: HashMap::new(),
            stats: WriterStats::default(),
            buf: Vec::with_capacity(70_000),
        })
    }

    /// What was written so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    fn packet(
        &mut self,
        ts: Duration,
        conn: u32,
        from: Side,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> io::Result<()> {
        let Some(c) = self.conns.get(&conn) else {
            return Ok(());
        };
        let mac = |s: Side| if s == Side::A { MAC_A } else { MAC_B };
        self.buf.clear();
        ether_tcp_packet(
            (c.addr[from.idx()], mac(from)),
            (c.addr[from.other().idx()], mac(from.other())),
            seq,
            flags,
            payload,
            &mut self.buf,
        )
        .map_err(io::Error::other)?;
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        // pcap-file writes `timestamp.as_nanos()` as the raw count of units;
        // the interface's unit is the microsecond
        let units = u64::try_from(ts.as_micros()).unwrap_or(u64::MAX);
        self.w
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_nanos(units),
                original_len: len,
                data: Cow::Borrowed(&self.buf),
                options: vec![],
            })
            .map_err(pcap_err)?;
        self.stats.packets += 1;
        Ok(())
    }

    /// A new connection from `client` (side A) to `server` (side B) at
    /// `ts`: its three-way handshake. `conn` must not be open already (an
    /// open one is closed first).
    pub fn open(
        &mut self,
        conn: u32,
        client: SocketAddr,
        server: SocketAddr,
        ts: Duration,
    ) -> io::Result<()> {
        if self.conns.contains_key(&conn) {
            self.close(conn, ts)?;
        }
        let (ia, ib) = (isn(conn, Side::A), isn(conn, Side::B));
        self.conns.insert(
            conn,
            Conn {
                addr: [client, server],
                seq: [ia.wrapping_add(1), ib.wrapping_add(1)],
                fin: [false; 2],
            },
        );
        self.stats.connections += 1;
        let syn = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        self.packet(ts, conn, Side::A, ia, syn, &[])?;
        let syn_ack = TcpFlags {
            syn: true,
            ack: Some(ia.wrapping_add(1)),
            ..TcpFlags::default()
        };
        self.packet(ts, conn, Side::B, ib, syn_ack, &[])?;
        let ack = TcpFlags {
            ack: Some(ib.wrapping_add(1)),
            ..TcpFlags::default()
        };
        self.packet(ts, conn, Side::A, ia.wrapping_add(1), ack, &[])
    }

    /// Bytes `side` sent at `ts`, as segments of at most
    /// [`max_tcp_payload`] bytes.
    pub fn data(&mut self, conn: u32, side: Side, ts: Duration, data: &[u8]) -> io::Result<()> {
        let Some(c) = self.conns.get(&conn) else {
            return Ok(());
        };
        let ipv6 = !(c.addr[0].is_ipv4() && c.addr[1].is_ipv4());
        let max = max_tcp_payload(ipv6);
        let n = data.chunks(max).count();
        for (i, seg) in data.chunks(max).enumerate() {
            let Some(c) = self.conns.get_mut(&conn) else {
                return Ok(());
            };
            let seq = c.seq[side.idx()];
            let flags = TcpFlags {
                ack: Some(c.seq[side.other().idx()]),
                psh: i + 1 == n,
                ..TcpFlags::default()
            };
            c.seq[side.idx()] = seq.wrapping_add(seg.len() as u32);
            self.stats.bytes += seg.len() as u64;
            self.packet(ts, conn, side, seq, flags, seg)?;
        }
        Ok(())
    }

    /// `len` bytes of `side` were not recorded: the sequence numbers skip
    /// them and the other side acknowledges them.
    pub fn gap(&mut self, conn: u32, side: Side, ts: Duration, len: u64) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        // sequence numbers are modulo 2^32
        c.seq[side.idx()] = c.seq[side.idx()].wrapping_add(len as u32);
        self.stats.gap_bytes += len;
        let (seq, ack) = (c.seq[side.other().idx()], c.seq[side.idx()]);
        let flags = TcpFlags {
            ack: Some(ack),
            ..TcpFlags::default()
        };
        self.packet(ts, conn, side.other(), seq, flags, &[])
    }

    /// `side` closed its direction (FIN).
    pub fn fin(&mut self, conn: u32, side: Side, ts: Duration) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if c.fin[side.idx()] {
            return Ok(());
        }
        c.fin[side.idx()] = true;
        let seq = c.seq[side.idx()];
        c.seq[side.idx()] = seq.wrapping_add(1);
        let flags = TcpFlags {
            fin: true,
            ack: Some(c.seq[side.other().idx()]),
            ..TcpFlags::default()
        };
        self.packet(ts, conn, side, seq, flags, &[])
    }

    /// The connection is over: after both FINs the last ACK, otherwise a
    /// reset (from side A).
    pub fn close(&mut self, conn: u32, ts: Duration) -> io::Result<()> {
        let Some(c) = self.conns.get(&conn) else {
            return Ok(());
        };
        let r = if c.fin == [true, true] {
            let flags = TcpFlags {
                ack: Some(c.seq[1]),
                ..TcpFlags::default()
            };
            let seq = c.seq[0];
            self.packet(ts, conn, Side::A, seq, flags, &[])
        } else {
            let flags = TcpFlags {
                rst: true,
                ack: Some(c.seq[1]),
                ..TcpFlags::default()
            };
            let seq = c.seq[0];
            self.packet(ts, conn, Side::A, seq, flags, &[])
        };
        self.conns.remove(&conn);
        r
    }

    /// Resets the connections still open (in order of their numbers).
    pub fn close_all(&mut self, ts: Duration) -> io::Result<()> {
        let mut open: Vec<u32> = self.conns.keys().copied().collect();
        open.sort_unstable();
        for c in open {
            self.close(c, ts)?;
        }
        Ok(())
    }

    /// The underlying writer. Every call of this writer's methods writes
    /// whole pcapng blocks, so between two calls the bytes written end on
    /// a block boundary: a caller buffering in a `Vec<u8>` can hand them on
    /// from here and a reader of the result never sees half a block.
    pub fn get_mut(&mut self) -> &mut W {
        self.w.get_mut()
    }

    /// Resets the connections still open, flushes, and returns the
    /// figures.
    pub fn finish(mut self, ts: Duration) -> io::Result<WriterStats> {
        self.close_all(ts)?;
        self.w.get_mut().flush()?;
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;

    #[test]
    fn written_file_reads_back_with_the_handshake_and_all_bytes() {
        let mut out = Vec::new();
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        let mut w = TcpPcapngWriter::new(&mut out).unwrap();
        let t0 = Duration::from_micros(1_764_000_000_123_456);
        w.open(1, a, b, t0).unwrap();
        let big = vec![7u8; 150_000];
        w.data(1, Side::A, t0 + Duration::from_micros(5), &big)
            .unwrap();
        w.data(1, Side::B, t0 + Duration::from_micros(9), b"hi")
            .unwrap();
        w.fin(1, Side::A, t0 + Duration::from_micros(10)).unwrap();
        w.fin(1, Side::B, t0 + Duration::from_micros(11)).unwrap();
        w.close(1, t0 + Duration::from_micros(12)).unwrap();
        let stats = w.finish(t0).unwrap();
        // handshake 3, 150000 bytes in 3 segments, 1, two FINs, last ACK
        assert_eq!(stats.packets, 3 + 3 + 1 + 2 + 1);
        assert_eq!(stats.bytes, 150_002);
        let mut r = CaptureReader::new(&out[..]).unwrap();
        let mut n = 0;
        let mut payload = 0;
        let mut first = None;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            first.get_or_insert(p.ts);
            let seg = crate::capture::tcp_segment(p.link, p.data)
                .unwrap()
                .unwrap();
            payload += seg.payload.len();
            n += 1;
        }
        assert_eq!(n, 10);
        assert_eq!(payload, 150_002);
        assert_eq!(first, Some(t0));
    }

    #[test]
    fn ipv6_addresses_give_ipv6_packets() {
        let mut out = Vec::new();
        let a: SocketAddr = "[::1]:40000".parse().unwrap();
        let b: SocketAddr = "[::1]:7777".parse().unwrap();
        let mut w = TcpPcapngWriter::new(&mut out).unwrap();
        w.open(1, a, b, Duration::ZERO).unwrap();
        w.data(1, Side::B, Duration::ZERO, &[1, 2, 3]).unwrap();
        w.finish(Duration::ZERO).unwrap();
        let mut r = CaptureReader::new(&out[..]).unwrap();
        let mut srcs = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            let seg = crate::capture::tcp_segment(p.link, p.data)
                .unwrap()
                .unwrap();
            srcs.push(seg.src);
        }
        assert_eq!(srcs.len(), 5);
        assert_eq!(srcs[3], b);
    }
}
