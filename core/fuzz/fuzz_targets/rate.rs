#![no_main]
//! `cargo fuzz run rate`: see `bastion_fuzz::rate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| bastion_fuzz::rate(data));
