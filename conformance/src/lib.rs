//! Conformance runner for yamux implementations.
//!
//! - [`vector`]: the scenario vector format (`vectors/session/*.json`,
//!   docs/vectors.md), loaded and validated strictly.
//! - [`spec`]: rule ids of docs/spec.md.
//! - [`peer`]: the scripted test peer, on the `yamux::frame` codec.
//! - [`adapter`]: the adapter protocol (docs/adapters.md) seen from the runner.
//! - [`reference`]: the adapter for the reference crate, a driver on the
//!   shared core of the Rust adapters (`adapter_common`,
//!   `conformance/adapters/rust-common`).
//! - [`crash`]: how a crash of the implementation under test is recognised.
//! - [`resources`]: memory and CPU of the implementation under test, from /proc.
//! - [`run`]: selection, parallel execution, retries, expectations, outcomes.
//! - [`report`]: text, NDJSON and JUnit reports.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod crash;
pub mod liveness;
pub mod matrix;
pub mod paths;
pub mod peer;
pub mod reference;
pub mod report;
pub mod resilience;
pub mod resources;
pub mod run;
pub mod selfcheck;
pub mod sessions;
pub mod spec;
pub mod vector;
