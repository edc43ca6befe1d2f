#![no_main]
//! Arbitrary bytes through the frame decoders; see fuzz_harness::frame_decode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::frame_decode(data));
