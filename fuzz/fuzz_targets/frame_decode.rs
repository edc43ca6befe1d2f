#![no_main]
//! Arbitrary bytes through the frame decoders; see yamux::fuzzing::frame_decode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| yamux::fuzzing::frame_decode(data));
