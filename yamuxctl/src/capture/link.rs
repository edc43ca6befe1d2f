//! Link layers → IP → TCP segments.
//!
//! Link headers are stripped by hand (Ethernet, Linux SLL and SLL2, BSD
//! loopback NULL/LOOP, raw IP), then etherparse's lax slicer reads VLAN
//! tags, IPv4/IPv6 and TCP. Lax slicing keeps packets whose payload was cut
//! by the snaplen; the bytes cut off are reported in [`Segment::cut`].

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TcpSlice};

/// Link types (LINKTYPE_* values) this reader understands.
pub mod linktype {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II (with optional VLAN tags).
    pub const ETHERNET: u32 = 1;
    /// Raw IP (OpenBSD value).
    pub const RAW_OPENBSD: u32 = 12;
    /// Raw IP (some BSDs).
    pub const RAW_BSD: u32 = 14;
    /// Raw IP.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// Why a packet yields no TCP segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// A link type this reader does not know.
    #[error("unsupported link type {0}")]
    UnsupportedLink(u32),
    /// The packet is shorter than its link header.
    #[error("packet shorter than its {0} header")]
    ShortLink(&'static str),
    /// The IP header is damaged or cut.
    #[error("bad IP header: {0}")]
    Ip(String),
    /// The TCP header is damaged or cut.
    #[error("bad TCP header: {0}")]
    Tcp(String),
    /// An IP fragment (not reassembled).
    #[error("IP fragment (fragments are not reassembled)")]
    Fragment,
}

/// A TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Captured payload.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen).
    pub cut: u32,
}

fn ether_type_of_ip(data: &[u8]) -> Result<EtherType, PacketError> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(EtherType::IPV4),
        Some(6) => Ok(EtherType::IPV6),
        Some(v) => Err(PacketError::Ip(format!("IP version {v}"))),
        None => Err(PacketError::Ip("empty packet".into())),
    }
}

fn af_to_ether(af: u32) -> Option<EtherType> {
    match af {
        2 => Some(EtherType::IPV4),
        // AF_INET6 differs between BSDs: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS)
        10 | 24 | 28 | 30 => Some(EtherType::IPV6),
        _ => None,
    }
}

/// Strips the link header: the ether type of what follows, and its bytes.
pub fn network_layer(link: u32, data: &[u8]) -> Result<Option<(EtherType, &[u8])>, PacketError> {
    use linktype::*;
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    Ok(match link {
        ETHERNET => {
            let et = be16(12).ok_or(PacketError::ShortLink("Ethernet"))?;
            Some((EtherType(et), &data[14..]))
        }
        LINUX_SLL => {
            let et = be16(14).ok_or(PacketError::ShortLink("Linux SLL"))?;
            Some((EtherType(et), &data[16..]))
        }
        LINUX_SLL2 => {
            let et = be16(0).ok_or(PacketError::ShortLink("Linux SLL2"))?;
            let rest = data.get(20..).ok_or(PacketError::ShortLink("Linux SLL2"))?;
            Some((EtherType(et), rest))
        }
        NULL | LOOP => {
            let b: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(PacketError::ShortLink("loopback"))?;
            let af = if link == LOOP {
                af_to_ether(u32::from_be_bytes(b))
            } else {
                // host byte order of the capturing machine: try both
                af_to_ether(u32::from_le_bytes(b)).or_else(|| af_to_ether(u32::from_be_bytes(b)))
            };
            af.map(|et| (et, &data[4..]))
        }
        RAW | RAW_OPENBSD | RAW_BSD | IPV4 | IPV6 => Some((ether_type_of_ip(data)?, data)),
        other => return Err(PacketError::UnsupportedLink(other)),
    })
}

/// The TCP segment in a packet, `Ok(None)` when it carries something else
/// (ARP, UDP, ...).
pub fn tcp_segment(link: u32, data: &[u8]) -> Result<Option<Segment<'_>>, PacketError> {
    let Some((et, net)) = network_layer(link, data)? else {
        return Ok(None);
    };
    let sliced = LaxSlicedPacket::from_ether_type(et, net);
    let Some(netslice) = &sliced.net else {
        return match sliced.stop_err {
            Some((e, _)) if matches!(et, EtherType::IPV4 | EtherType::IPV6) => {
                Err(PacketError::Ip(e.to_string()))
            }
            _ => Ok(None),
        };
    };
    let (src, dst, payload, declared) = match netslice {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let declared = usize::from(h.total_len()).saturating_sub(h.slice().len());
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
                declared,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let ext_len = (p.payload.as_ptr() as usize)
                .saturating_sub(h.slice().as_ptr() as usize)
                .saturating_sub(h.slice().len());
            let declared = usize::from(h.payload_length()).saturating_sub(ext_len);
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                p,
                declared,
            )
        }
        LaxNetSlice::Arp(_) => return Ok(None),
    };
    if payload.ip_number != IpNumber::TCP {
        return Ok(None);
    }
    if payload.fragmented {
        return Err(PacketError::Fragment);
    }
    let tcp = TcpSlice::from_slice(payload.payload).map_err(|e| PacketError::Tcp(e.to_string()))?;
    let hdr_len = usize::from(tcp.data_offset()) * 4;
    let body = tcp.payload();
    let on_wire = if payload.incomplete {
        declared.saturating_sub(hdr_len)
    } else {
        body.len()
    };
    Ok(Some(Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.ack().then(|| tcp.acknowledgment_number()),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: body,
        cut: u32::try_from(on_wire.saturating_sub(body.len())).unwrap_or(u32::MAX),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn v4_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(5000, 7000, 1234, 1000)
            .ack(99);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn link_layers_all_lead_to_the_same_segment() {
        let ip = v4_tcp(b"hello");
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let mut vlan = vec![0u8; 12];
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        vlan.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ip);
        for (link, data) in [
            (linktype::ETHERNET, &eth),
            (linktype::ETHERNET, &vlan),
            (linktype::LINUX_SLL, &sll),
            (linktype::LINUX_SLL2, &sll2),
            (linktype::NULL, &null),
            (linktype::LOOP, &lo),
            (linktype::RAW, &ip),
            (linktype::IPV4, &ip),
        ] {
            let s = tcp_segment(link, data).unwrap().unwrap();
            assert_eq!(s.payload, b"hello", "link {link}");
            assert_eq!(s.src, "10.0.0.1:5000".parse().unwrap());
            assert_eq!((s.seq, s.ack, s.cut), (1234, Some(99), 0));
        }
    }

    #[test]
    fn ipv6_and_snaplen_cut() {
        let b = PacketBuilder::ipv6([0; 16], [1; 16], 64).tcp(1, 2, 7, 100);
        let mut ip = Vec::new();
        b.write(&mut ip, &[9u8; 50]).unwrap();
        let s = tcp_segment(linktype::RAW, &ip).unwrap().unwrap();
        assert_eq!((s.payload.len(), s.cut), (50, 0));
        let s = tcp_segment(linktype::RAW, &ip[..40 + 20 + 10])
            .unwrap()
            .unwrap();
        assert_eq!((s.payload.len(), s.cut), (10, 40));
        let v4 = v4_tcp(&[1u8; 30]);
        let s = tcp_segment(linktype::RAW, &v4[..45]).unwrap().unwrap();
        assert_eq!((s.payload.len(), s.cut), (5, 25));
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        assert!(tcp_segment(linktype::ETHERNET, &[1, 2, 3]).is_err());
        assert!(tcp_segment(linktype::RAW, &[0x45, 0, 0]).is_err());
        assert!(tcp_segment(linktype::RAW, &[]).is_err());
        assert!(matches!(
            tcp_segment(999, &[0; 40]),
            Err(PacketError::UnsupportedLink(999))
        ));
        let v4 = v4_tcp(b"x");
        assert!(tcp_segment(linktype::RAW, &v4[..30]).is_err());
    }
}
