//! Where a capture's bytes come from: a file or standard input (`-`),
//! gzip-compressed or not. Compression is recognised by the gzip magic
//! bytes (`1f 8b`), whatever the name; the bytes are streamed either way
//! (nothing is read whole), so `tcpdump -w - | yamuxctl decode -` reads
//! the packets as they arrive.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

/// The first bytes of every gzip member.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A capture's byte stream, decompressed if it was gzip.
pub struct CaptureSource {
    /// The bytes.
    pub reader: Box<dyn Read + Send>,
    /// Whether they were gzip-compressed.
    pub gzip: bool,
}

/// Why a capture could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path given.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The first bytes could not be read.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The input's name (`-` for standard input).
        name: String,
        /// Why.
        source: io::Error,
    },
}

/// Whether `path` names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How to call an input in messages: its path, or `-` for standard input.
pub fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "-".to_string()
    } else {
        path.display().to_string()
    }
}

/// Opens `path` (`-`: standard input), decompressing gzip.
pub fn open_source(path: &Path) -> Result<CaptureSource, SourceError> {
    let raw: Box<dyn Read + Send> = if is_stdin(path) {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|source| SourceError::Open {
            path: path.display().to_string(),
            source,
        })?)
    };
    maybe_gunzip(raw).map_err(|source| SourceError::Read {
        name: display_name(path),
        source,
    })
}

/// Looks at the first two bytes of `r`: gzip's magic makes it a stream of
/// the decompressed bytes (every member of a multi-member file), anything
/// else is passed through unchanged. Errors of the gzip layer read as what
/// they are: a stream cut short is "gzip data ends early", not a capture
/// truncated somewhere.
pub fn maybe_gunzip<R: Read + Send + 'static>(mut r: R) -> io::Result<CaptureSource> {
    let mut head = Vec::with_capacity(2);
    (&mut r).take(2).read_to_end(&mut head)?;
    let gzip = head[..] == GZIP_MAGIC[..];
    let chained = Cursor::new(head).chain(r);
    if gzip {
        Ok(CaptureSource {
            reader: Box::new(Gunzip(flate2::read::MultiGzDecoder::new(chained))),
            gzip: true,
        })
    } else {
        Ok(CaptureSource {
            reader: Box::new(chained),
            gzip: false,
        })
    }
}

/// A gzip decoder whose errors say they are about the compression.
struct Gunzip<R: Read>(flate2::read::MultiGzDecoder<R>);

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else if e.kind() == io::ErrorKind::UnexpectedEof {
                // InvalidData: the capture readers take UnexpectedEof as
                // "the capture ends inside a packet"
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "gzip data ends early (the compressed file is truncated)",
                )
            } else {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad gzip data: {e}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn all(src: CaptureSource) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut r = src.reader;
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn plain_bytes_pass_through_whole() {
        for data in [&b""[..], b"\x1f", b"\x0a\x0d\x0d\x0a rest", b"\x1f\x8a"] {
            let src = maybe_gunzip(Cursor::new(data.to_vec())).unwrap();
            assert!(!src.gzip);
            assert_eq!(all(src).unwrap(), data);
        }
    }

    #[test]
    fn gzip_is_known_by_its_magic_and_decompressed() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let src = maybe_gunzip(Cursor::new(gz(&data))).unwrap();
        assert!(src.gzip);
        assert_eq!(all(src).unwrap(), data);
        // two members one after the other (`cat a.gz b.gz`)
        let mut two = gz(b"first ");
        two.extend(gz(b"second"));
        assert_eq!(
            all(maybe_gunzip(Cursor::new(two)).unwrap()).unwrap(),
            b"first second"
        );
    }

    #[test]
    fn truncated_or_damaged_gzip_says_so() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let z = gz(&data);
        for cut in [3, 10, z.len() / 2, z.len() - 4] {
            let e = all(maybe_gunzip(Cursor::new(z[..cut].to_vec())).unwrap()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cut {cut}: {e}");
            assert!(e.to_string().contains("gzip"), "cut {cut}: {e}");
        }
        let mut bad = z.clone();
        bad[20] ^= 0xff;
        bad[21] ^= 0xff;
        let e = all(maybe_gunzip(Cursor::new(bad)).unwrap()).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = open_source(Path::new("/nonexistent/x.pcap.gz"))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with("cannot open /nonexistent/x.pcap.gz: "),
            "{e}"
        );
    }
}
