//! Conformance runner for yamux implementations (see docs/adapters.md and
//! docs/vectors.md).
