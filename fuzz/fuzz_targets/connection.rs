#![no_main]
//! The sans-IO connection core under arbitrary frames, commands and time;
//! see fuzz_harness::connection.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::connection(data));
