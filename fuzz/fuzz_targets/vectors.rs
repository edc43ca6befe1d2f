#![no_main]
//! Arbitrary JSON through the scenario-vector loader and validator; see
//! fuzz_harness::vectors.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::vectors(data));
