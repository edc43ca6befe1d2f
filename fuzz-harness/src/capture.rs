//! `capture`: arbitrary bytes as a capture file through the decode path of
//! `yamuxctl decode` (`yamuxctl::analysis`, `yamuxctl::capture`).

use std::collections::HashMap;
use std::io::Cursor;

use yamux::frame::Header;
use yamux::tracker::Side;
use yamuxctl::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options, TcpFigures};
use yamuxctl::capture::CaptureReader;

/// Out-of-order bytes held per direction in the fuzzed analysis: small, so
/// that the fuzzer reaches the limit.
const MAX_HELD: usize = 64 * 1024;

/// `capture`: arbitrary bytes as a pcap or pcapng file through the whole
/// decode path (capture reader, link layers, TCP reassembly, yamux
/// detection, decoder, tracker), as `yamuxctl decode` runs it.
///
/// Checks: nothing panics; frame offsets grow per connection and direction;
/// no Data frame gets more body than its Length; every frame reported is
/// counted in the summary; packets and bytes read are bounded by the input;
/// out-of-order bytes held stay within the limit plus one packet.
pub fn capture(data: &[u8]) {
    let Ok(reader) = CaptureReader::new(Cursor::new(data)) else {
        return;
    };
    let opts = Options {
        max_held: MAX_HELD,
        ..Options::default()
    };
    let mut check = Check {
        input_len: data.len(),
        ..Check::default()
    };
    let summary = Analyzer::new(opts).run(reader, &mut check);
    assert_eq!(summary.frames, check.frames, "frames reported vs counted");
    assert!(
        summary.captured_bytes <= data.len() as u64,
        "more bytes than input"
    );
    // every packet record has a header of at least 16 bytes
    assert!(
        summary.packets <= data.len() as u64 / 16,
        "more packets than fit"
    );
    assert!(summary.yamux_connections <= summary.connections);
    assert!(check.conns.len() as u32 <= summary.yamux_connections);
    assert!(
        summary.peak_held <= summary.connections as usize * 2 * (MAX_HELD + data.len()),
        "held bytes not bounded"
    );
}

#[derive(Default)]
struct Check {
    input_len: usize,
    frames: u64,
    /// Per connection: the next offset allowed per side, and the body left
    /// of the last frame per side.
    conns: HashMap<u32, [(u64, u64); 2]>,
}

fn idx(side: Side) -> usize {
    usize::from(side == Side::B)
}

impl Observer for Check {
    fn connection(&mut self, c: &ConnInfo) {
        assert!(
            self.conns.insert(c.id, [(0, 0); 2]).is_none(),
            "connection twice"
        );
    }

    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.frames += 1;
        let Some(conn) = self.conns.get_mut(&ev.conn.id) else {
            panic!("frame on connection {} never announced", ev.conn.id);
        };
        let (next, _) = conn[idx(ev.side)];
        assert!(ev.offset >= next, "frame offsets go backwards");
        conn[idx(ev.side)] = (
            ev.offset + yamux::frame::HEADER_LEN as u64,
            ev.header.body_len() as u64,
        );
    }

    fn body(&mut self, c: &ConnInfo, side: Side, h: &Header, chunk: &[u8]) {
        let conn = self
            .conns
            .get_mut(&c.id)
            .expect("body on an unknown connection");
        let (next, left) = &mut conn[idx(side)];
        assert!(chunk.len() as u64 <= *left, "more body than {h} announces");
        *left -= chunk.len() as u64;
        *next += chunk.len() as u64;
    }

    fn body_gap(&mut self, c: &ConnInfo, side: Side, h: &Header, len: u64) {
        let conn = self
            .conns
            .get_mut(&c.id)
            .expect("gap on an unknown connection");
        let (next, left) = &mut conn[idx(side)];
        assert!(len <= *left, "body gap beyond {h}");
        *left -= len;
        *next += len;
    }

    fn conn_end(&mut self, _c: &ConnInfo, tracker: &yamux::tracker::Tracker, tcp: &TcpFigures) {
        for side in 0..2 {
            assert!(
                tcp.peak_held[side] <= MAX_HELD + self.input_len,
                "held bytes"
            );
            assert!(
                tcp.gap_bytes[side] <= tcp.bytes[side],
                "gap bigger than stream"
            );
        }
        let frames = tracker.frames();
        assert!(
            frames[0] + frames[1] <= self.frames,
            "tracker counted frames not reported"
        );
    }
}
