#![no_main]
//! Two arbitrary byte streams through the passive decoder and tracker; see
//! yamux::fuzzing::tracker.
libfuzzer_sys::fuzz_target!(|data: &[u8]| yamux::fuzzing::tracker(data));
