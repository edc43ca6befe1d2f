#![no_main]
//! Arbitrary pcap/pcapng bytes through the capture decode path; see
//! yamuxctl::fuzzing::capture.
libfuzzer_sys::fuzz_target!(|data: &[u8]| yamuxctl::fuzzing::capture(data));
