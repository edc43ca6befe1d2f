//! A deterministic synthetic session (one connection, many streams in every
//! state), for the render benchmark, the 1,000-stream snapshots and docs.

use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{Flags, FrameType, Header, StreamId};
use yamux::tracker::Side;

use super::model::{App, Event, Mode};

/// The events of `streams` streams opened 10 ms apart by the client: data
/// both ways, credit returned on every third, and every fifth half-closed,
/// closed, reset or left open.
pub fn events(streams: u32) -> Vec<Event> {
    let ms = Duration::from_millis;
    let mut v = vec![Event::Opened {
        conn: 1,
        a: SocketAddr::from(([10, 0, 0, 1], 40000)),
        b: SocketAddr::from(([10, 0, 0, 1], 4001)),
        handshake: true,
        at: ms(0),
    }];
    let f = |side, at, typ, flags, id, len| Event::Frame {
        conn: 1,
        side,
        at: ms(at),
        header: Header::new(typ, flags, StreamId::new(id), len),
    };
    for i in 0..streams {
        let id = 2 * i + 1;
        let t = u64::from(i) * 10;
        let n = (i.wrapping_mul(7919)) % 200_000 + 1;
        v.push(f(Side::A, t, FrameType::WindowUpdate, Flags::SYN, id, 0));
        v.push(f(
            Side::B,
            t + 1,
            FrameType::WindowUpdate,
            Flags::ACK,
            id,
            0,
        ));
        v.push(f(Side::A, t + 2, FrameType::Data, Flags::NONE, id, n));
        v.push(f(Side::B, t + 3, FrameType::Data, Flags::NONE, id, n / 3));
        if i % 3 == 0 {
            v.push(f(
                Side::B,
                t + 4,
                FrameType::WindowUpdate,
                Flags::NONE,
                id,
                n,
            ));
        }
        match i % 5 {
            0 => v.push(f(Side::A, t + 5, FrameType::Data, Flags::FIN, id, 0)),
            1 => {
                v.push(f(Side::A, t + 5, FrameType::Data, Flags::FIN, id, 0));
                v.push(f(Side::B, t + 6, FrameType::Data, Flags::FIN, id, 0));
            }
            2 => v.push(f(
                Side::B,
                t + 5,
                FrameType::WindowUpdate,
                Flags::RST,
                id,
                0,
            )),
            _ => {}
        }
    }
    v
}

/// An [`App`] (live mode) that took [`events`] and whose clock is at 10 s.
pub fn app(streams: u32) -> App {
    app_from(&events(streams))
}

/// An [`App`] (live mode) that took `events`, clock at 10 s or later.
pub fn app_from(events: &[Event]) -> App {
    let mut app = App::new(
        "synthetic",
        Mode::Live {
            listen: "127.0.0.1:7000".into(),
            upstream: "127.0.0.1:7001".into(),
        },
    );
    for ev in events {
        app.apply(ev);
    }
    app.advance_to(Duration::from_secs(10));
    app
}
