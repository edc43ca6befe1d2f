//! The capture path: pcap/pcapng files → timestamped packets ([`reader`]) →
//! IP/TCP segments ([`link`]) → reassembled byte streams per connection and
//! direction ([`tcp`]).

pub mod link;
pub mod reader;
pub mod synth;
pub mod tcp;
pub mod writer;

pub use link::{tcp_segment, PacketError, Segment};
pub use reader::{CaptureError, CaptureReader, Packet};
pub use tcp::{HalfStream, Moment, ReassemblySink, Stamp};
