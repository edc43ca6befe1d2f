//! pcap and pcapng files → timestamped packets with their link type.
//!
//! Built on `pcap-file`, with two corrections: pcap packets are read raw so
//! that snaplen-cut packets are kept (the library rejects them), and pcapng
//! timestamps are scaled by each interface's `if_tsresol` (the library
//! takes every timestamp as nanoseconds).

use std::io::{Cursor, Read};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{PcapError, TsResolution};

/// Why a capture could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file is neither pcap nor pcapng.
    #[error("not a pcap or pcapng file (starts with {0})")]
    NotACapture(String),
    /// The file is empty or shorter than a file header.
    #[error("file too short for a capture header ({0} bytes)")]
    TooShort(usize),
    /// The file header is damaged.
    #[error("bad capture header: {0}")]
    Header(String),
    /// The file ends inside packet `index` (1-based).
    #[error("capture truncated: the file ends inside packet {index}")]
    Truncated {
        /// The packet cut off.
        index: u64,
    },
    /// Packet or block `index` (1-based) is damaged; reading stops there.
    #[error("packet {index} is damaged: {reason}")]
    Damaged {
        /// The packet number.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read. (Not a `source`: the message already
    /// holds it, and a chain of contexts would repeat it.)
    #[error("read error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for CaptureError {
    fn from(e: std::io::Error) -> CaptureError {
        CaptureError::Io(e)
    }
}

/// One captured packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// 1-based packet number, as Wireshark counts them.
    pub index: u64,
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// Link type (LINKTYPE_* value).
    pub link: u32,
    /// Captured bytes (may be fewer than `orig_len`).
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

struct Iface {
    link: u32,
    /// Timestamp units per second.
    units: u64,
}

type PcapReaderOf<R> = pcap_file::pcap::PcapReader<std::io::Chain<Cursor<Vec<u8>>, R>>;

/// Reads pcap or pcapng, detected from the magic number.
pub struct CaptureReader<R: Read> {
    inner: InnerReader<R>,
    index: u64,
    done: bool,
}

enum InnerReader<R: Read> {
    Pcap {
        r: PcapReaderOf<R>,
        link: u32,
        nanos: bool,
    },
    PcapNg(NgReader<std::io::Chain<Cursor<Vec<u8>>, R>>),
}

/// pcapng over our own buffer, so a packet's bytes can be lent out after
/// skipping other blocks.
struct NgReader<R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    parser: Option<PcapNgParser>,
    ifaces: Vec<Iface>,
    last_ts: Duration,
}

/// Where a packet lies in the buffer: offset, length, time, link type,
/// length on the wire.
type Located = (usize, usize, Duration, u32, u32);

/// Largest pcapng block accepted.
const MAX_BLOCK: usize = 64 << 20;

impl<R: Read> NgReader<R> {
    /// Reads more bytes; false at the end of the file.
    fn fill(&mut self) -> Result<bool, CaptureError> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_BLOCK {
                return Err(CaptureError::Header(format!(
                    "a block is larger than {MAX_BLOCK} bytes"
                )));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn open(src: R) -> Result<NgReader<R>, CaptureError> {
        let mut r = NgReader {
            src,
            buf: vec![0; 1 << 20],
            pos: 0,
            end: 0,
            eof: false,
            parser: None,
            ifaces: Vec::new(),
            last_ts: Duration::ZERO,
        };
        loop {
            match PcapNgParser::new(&r.buf[r.pos..r.end]) {
                Ok((rem, parser)) => {
                    r.pos = r.end - rem.len();
                    r.parser = Some(parser);
                    return Ok(r);
                }
                Err(PcapError::IncompleteBuffer) => {
                    if !r.fill()? {
                        return Err(CaptureError::Header(
                            "file ends inside the section header".into(),
                        ));
                    }
                }
                Err(e) => return Err(header_error(e)),
            }
        }
    }

    fn next(&mut self, index: u64) -> Option<Result<Packet<'_>, CaptureError>> {
        loop {
            let parser = self.parser.as_mut()?;
            let slice = &self.buf[self.pos..self.end];
            let (rem, block) = match parser.next_block(slice) {
                Ok(ok) => ok,
                Err(PcapError::IncompleteBuffer) => {
                    let partial = !slice.is_empty();
                    match self.fill() {
                        Ok(true) => continue,
                        Ok(false) if partial => {
                            return Some(Err(CaptureError::Truncated { index }))
                        }
                        Ok(false) => return None,
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(e) => {
                    return Some(Err(CaptureError::Damaged {
                        index,
                        reason: e.to_string(),
                    }))
                }
            };
            let consumed = slice.len() - rem.len();
            let base = self.buf.as_ptr() as usize;
            // (offset in buf, len, ts, link, orig_len) of a packet
            let found: Result<Option<Located>, String> = match block {
                Block::SectionHeader(_) => {
                    self.ifaces.clear();
                    Ok(None)
                }
                Block::InterfaceDescription(idb) => {
                    let mut units = 1_000_000u64;
                    for o in &idb.options {
                        if let InterfaceDescriptionOption::IfTsResol(v) = o {
                            units = if v & 0x80 == 0 {
                                10u64.checked_pow(u32::from(*v)).unwrap_or(u64::MAX)
                            } else {
                                2u64.checked_pow(u32::from(v & 0x7F)).unwrap_or(u64::MAX)
                            };
                        }
                    }
                    self.ifaces.push(Iface {
                        link: u32::from(idb.linktype),
                        units: units.max(1),
                    });
                    Ok(None)
                }
                Block::EnhancedPacket(epb) => match self.ifaces.get(epb.interface_id as usize) {
                    None => Err(format!(
                        "packet names interface {}, which was not described",
                        epb.interface_id
                    )),
                    Some(iface) => {
                        let raw = epb.timestamp.as_nanos();
                        let nanos = raw * 1_000_000_000 / u128::from(iface.units);
                        let ts = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                        self.last_ts = ts;
                        Ok(Some((
                            epb.data.as_ptr() as usize - base,
                            epb.data.len(),
                            ts,
                            iface.link,
                            epb.original_len,
                        )))
                    }
                },
                Block::SimplePacket(spb) => match self.ifaces.first() {
                    None => Err("simple packet block before any interface".into()),
                    Some(iface) => Ok(Some((
                        spb.data.as_ptr() as usize - base,
                        spb.data.len(),
                        self.last_ts,
                        iface.link,
                        spb.original_len,
                    ))),
                },
                _ => Ok(None),
            };
            self.pos += consumed;
            match found {
                Err(reason) => return Some(Err(CaptureError::Damaged { index, reason })),
                Ok(None) => continue,
                Ok(Some((off, len, ts, link, orig_len))) => {
                    let data = self.buf.get(off..off + len)?;
                    return Some(Ok(Packet {
                        index,
                        ts,
                        link,
                        data,
                        orig_len,
                    }));
                }
            }
        }
    }
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xD4, 0xC3, 0xB2, 0xA1],
    [0xA1, 0xB2, 0xC3, 0xD4],
    [0x4D, 0x3C, 0xB2, 0xA1],
    [0xA1, 0xB2, 0x3C, 0x4D],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

fn header_error(e: PcapError) -> CaptureError {
    match e {
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            CaptureError::Header("file ends inside the file header".into())
        }
        PcapError::IoError(io) => CaptureError::Io(io),
        other => CaptureError::Header(other.to_string()),
    }
}

impl<R: Read> CaptureReader<R> {
    /// Opens a capture, reading its file header.
    pub fn new(mut reader: R) -> Result<CaptureReader<R>, CaptureError> {
        let mut magic = Vec::with_capacity(4);
        (&mut reader).take(4).read_to_end(&mut magic)?;
        if magic.len() < 4 {
            return Err(CaptureError::TooShort(magic.len()));
        }
        let is_pcap = PCAP_MAGICS.iter().any(|m| m[..] == magic[..]);
        let is_ng = magic[..] == PCAPNG_MAGIC[..];
        let shown = hex::encode(&magic);
        let chained = Cursor::new(magic).chain(reader);
        let inner = if is_pcap {
            let r = PcapReader::new(chained).map_err(header_error)?;
            let h = r.header();
            InnerReader::Pcap {
                link: u32::from(h.datalink),
                nanos: h.ts_resolution == TsResolution::NanoSecond,
                r,
            }
        } else if is_ng {
            InnerReader::PcapNg(NgReader::open(chained)?)
        } else {
            return Err(CaptureError::NotACapture(shown));
        };
        Ok(CaptureReader {
            inner,
            index: 0,
            done: false,
        })
    }

    /// Packets read so far.
    pub fn packets_read(&self) -> u64 {
        self.index
    }

    /// The next packet; `None` at the end. After an error, reading stops.
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, CaptureError>> {
        if self.done {
            return None;
        }
        let index = self.index + 1;
        let fail = |e: PcapError| match e {
            PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                CaptureError::Truncated { index }
            }
            PcapError::IoError(io) => CaptureError::Io(io),
            other => CaptureError::Damaged {
                index,
                reason: other.to_string(),
            },
        };
        let out = match &mut self.inner {
            InnerReader::Pcap { r, link, nanos } => match r.next_raw_packet()? {
                Err(e) => Err(fail(e)),
                Ok(p) => {
                    let frac = if *nanos {
                        u64::from(p.ts_frac)
                    } else {
                        u64::from(p.ts_frac) * 1000
                    };
                    let ts = Duration::from_secs(u64::from(p.ts_sec)) + Duration::from_nanos(frac);
                    match p.data {
                        std::borrow::Cow::Borrowed(data) => Ok(Packet {
                            index,
                            ts,
                            link: *link,
                            data,
                            orig_len: p.orig_len,
                        }),
                        std::borrow::Cow::Owned(_) => Err(CaptureError::Damaged {
                            index,
                            reason: "unexpected owned packet".into(),
                        }),
                    }
                }
            },
            InnerReader::PcapNg(ng) => ng.next(index)?,
        };
        match &out {
            Ok(_) => self.index = index,
            Err(_) => self.done = true,
        }
        Some(out)
    }
}
