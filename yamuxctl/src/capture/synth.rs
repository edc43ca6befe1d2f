//! Synthetic captures, for tests and benchmarks: raw IPv4 TCP packets and a
//! pcap writer for them.

use std::io::Write;
use std::net::SocketAddrV4;
use std::time::Duration;

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
