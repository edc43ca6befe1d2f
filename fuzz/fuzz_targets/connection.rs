#![no_main]
//! The sans-IO connection core under arbitrary frames, commands and time;
//! see yamux::fuzzing::connection.
libfuzzer_sys::fuzz_target!(|data: &[u8]| yamux::fuzzing::connection(data));
