//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz), one module per
//! target, kept in one workspace crate so that a plain `cargo test -p
//! fuzz-harness` replays every corpus and regression file through exactly
//! the same code (see docs/fuzzing.md).
//!
//! Each function takes arbitrary bytes and panics only when an invariant is
//! broken: that is the signal the fuzzer looks for.
//!
//! - [`frame_decode`]: the frame codec (`yamux::frame`).
//! - [`connection`]: the sans-IO connection core (`yamux::proto`), judged by
//!   `yamux::tracker::Tracker`.
//! - [`tracker`]: the passive decoder and tracker (`yamux::tracker`).
//! - [`vectors`]: the scenario-vector loader and validator
//!   (`conformance::vector`).
//! - [`capture`]: the capture decode path of `yamuxctl decode`.
//! - [`replay_dir`]: runs an entry point over a target's committed inputs.
#![forbid(unsafe_code)]

mod capture;
mod connection;
mod frame_decode;
mod replay_dir;
mod tracker;
mod vectors;

pub use capture::capture;
pub use connection::connection;
pub use frame_decode::frame_decode;
pub use replay_dir::replay_dir;
pub use tracker::tracker;
pub use vectors::vectors;
