//! The capture path: a file or standard input, gzip or not ([`source`]) →
//! pcap/pcapng → timestamped packets ([`reader`]) →
//! IP/TCP segments ([`link`]) → reassembled byte streams per connection and
//! direction ([`tcp`]).

pub mod link;
pub mod reader;
pub mod source;
pub mod synth;
pub mod tcp;
pub mod writer;

pub use link::{tcp_segment, PacketError, Segment};
pub use reader::{CaptureError, CaptureReader, Packet};
pub use source::{open_source, CaptureSource, SourceError};
pub use tcp::{HalfStream, Moment, ReassemblySink, Stamp};
