//! Library side of `yamuxctl`: everything the binary does, testable and
//! reusable by the fuzz targets.

pub mod hexframes;
pub mod conform_cli;
