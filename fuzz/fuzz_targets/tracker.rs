#![no_main]
//! Two arbitrary byte streams through the passive decoder and tracker; see
//! fuzz_harness::tracker.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::tracker(data));
