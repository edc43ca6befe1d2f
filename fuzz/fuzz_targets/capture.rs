#![no_main]
//! Arbitrary pcap/pcapng bytes through the capture decode path; see
//! fuzz_harness::capture.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::capture(data));
