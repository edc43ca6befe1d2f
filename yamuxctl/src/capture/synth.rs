//! Synthetic captures, for tests and benchmarks: raw IPv4 TCP packets and a
//! pcap writer for them; Ethernet/IPv4/IPv6 TCP packets for the pcapng
//! writer of the relay ([`super::writer`]).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use etherparse::{PacketBuilder, TcpHeader};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError};

/// A raw IPv4 packet carrying one TCP segment.
#[allow(clippy::too_many_arguments)]
pub fn tcp_packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = etherparse::PacketBuilder::ipv4(src.ip().octets(), dst.ip().octets(), 64).tcp(
        src.port(),
        dst.port(),
        seq,
        65535,
    );
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if syn {
        b = b.syn();
    }
    if fin {
        b = b.fin();
    }
    let mut out = Vec::with_capacity(40 + payload.len());
    // writing into a Vec cannot fail; a payload too large for IPv4 is a
    // caller bug and leaves the packet empty
    let _ = b.write(&mut out, payload);
    out
}

/// A pcap writer for raw IP packets (link type 101), microsecond times.
pub struct SynthPcap<W: Write> {
    w: PcapWriter<W>,
}

impl<W: Write> SynthPcap<W> {
    /// Writes the file header.
    pub fn new(w: W) -> Result<SynthPcap<W>, PcapError> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            snaplen: 262_144,
            ..PcapHeader::default()
        };
        Ok(SynthPcap {
            w: PcapWriter::with_header(w, header)?,
        })
    }

    /// Appends one packet.
    pub fn packet(&mut self, ts: Duration, data: &[u8]) -> Result<(), PcapError> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.w.write_packet(&PcapPacket::new(ts, len, data))?;
        Ok(())
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.w.into_writer()
    }
}

/// Flags and acknowledgment of a synthesised TCP segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
    /// ACK with this acknowledgment number.
    pub ack: Option<u32>,
}

/// Largest TCP payload of one synthesised segment: what fits an IP packet
/// of 65,535 bytes with 20-byte IP (v4) and TCP headers.
pub const fn max_tcp_payload(ipv6: bool) -> usize {
    if ipv6 {
        65_535 - 20
    } else {
        65_535 - 20 - 20
    }
}

/// Why a packet could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build a TCP packet: {0}")]
pub struct SynthError(String);

/// Appends to `out` an Ethernet II frame carrying one TCP segment from
/// `src` to `dst`: IPv4 when both addresses are IPv4, otherwise IPv6
/// (IPv4 addresses mapped). The payload must fit [`max_tcp_payload`].
pub fn ether_tcp_packet(
    src: (SocketAddr, [u8; 6]),
    dst: (SocketAddr, [u8; 6]),
    seq: u32,
    flags: TcpFlags,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SynthError> {
    let (s, smac) = src;
    let (d, dmac) = dst;
    let mut tcp = TcpHeader::new(s.port(), d.port(), seq, 65_535);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = flags.psh;
    if let Some(a) = flags.ack {
        tcp.ack = true;
        tcp.acknowledgment_number = a;
    }
    let eth = PacketBuilder::ethernet2(smac, dmac);
    let step = match (s.ip(), d.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => eth.ipv4(a.octets(), b.octets(), 64),
        (a, b) => eth.ipv6(v6(a).octets(), v6(b).octets(), 64),
    };
    step.tcp_header(tcp)
        .write(out, payload)
        .map_err(|e| SynthError(e.to_string()))
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
