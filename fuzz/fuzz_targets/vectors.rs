#![no_main]
//! Arbitrary JSON through the scenario-vector loader and validator; see
//! conformance::fuzzing::vectors.
libfuzzer_sys::fuzz_target!(|data: &[u8]| conformance::fuzzing::vectors(data));
