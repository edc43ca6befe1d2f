//! Library side of `yamuxctl`: everything the binary does, testable and
//! reusable by the fuzz targets.

pub mod adapters;
pub mod analysis;
pub mod bench;
pub mod capture;
pub mod clock;
pub mod cmd;
pub mod decode;
pub mod hexframes;
pub mod inject;
pub mod print;
pub mod relay;
pub mod signals;
pub mod watch;
