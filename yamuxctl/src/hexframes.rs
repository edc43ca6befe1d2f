//! `yamuxctl frames HEX`: decode frames given as hex, one line each.

use bytes::{Bytes, BytesMut};
use std::fmt::Write as _;
use yamux::frame::{FrameCodec, HEADER_LEN};

/// Decodes `wire` frame by frame and renders one line per frame; a decode
/// error or trailing bytes end the listing with a line saying where.
/// Returns the text and whether every byte decoded.
pub fn render(wire: &[u8]) -> (String, bool) {
    let mut out = String::new();
    let mut buf = BytesMut::from(wire);
    let mut codec = FrameCodec::new(u32::MAX);
    let mut offset = 0usize;
    loop {
        let before = buf.len();
        match codec.decode_frame(&mut buf) {
            Ok(Some(frame)) => {
                let _ = writeln!(out, "@{offset:<6} {frame}");
                if !frame.body.is_empty() {
                    let _ = writeln!(out, "        body {}", preview(&frame.body));
                }
                offset += before - buf.len();
            }
            Ok(None) => {
                if buf.is_empty() && codec.pending_header().is_none() {
                    return (out, true);
                }
                let need = codec.pending_header().map_or(HEADER_LEN, |h| h.body_len());
                let _ = writeln!(
                    out,
                    "@{offset:<6} error: truncated frame: {} bytes left, {need} needed",
                    buf.len()
                );
                return (out, false);
            }
            Err(e) => {
                let _ = writeln!(out, "@{offset:<6} error: {e}");
                return (out, false);
            }
        }
    }
}

fn preview(body: &Bytes) -> String {
    const MAX: usize = 32;
    let shown = &body[..body.len().min(MAX)];
    let mut s = hex::encode(shown);
    if body.len() > MAX {
        let _ = write!(s, "… ({} bytes)", body.len());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_frames_and_errors() {
        let wire = hex::decode("000100010000000100000000000200010000000000000007").unwrap();
        let (text, ok) = render(&wire);
        assert!(ok);
        assert_eq!(
            text,
            "@0      window-update stream=1 flags=SYN delta=0\n@12     ping stream=0 flags=SYN value=7\n"
        );
        let (text, ok) = render(&hex::decode("0105").unwrap());
        assert!(!ok);
        assert!(text.contains("truncated"), "{text}");
        let (text, ok) = render(&hex::decode("010200000000000000000000").unwrap());
        assert!(!ok);
        assert!(text.contains("unsupported protocol version 1"), "{text}");
    }
}
