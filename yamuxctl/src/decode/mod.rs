//! `yamuxctl decode`, `stats` and `follow`: printers over the analysis.

pub mod follow;
pub mod stats;

/// NDJSON schema of `stats --json`.
pub const STATS_SCHEMA: &str = "yamuxctl.stats/v1";
