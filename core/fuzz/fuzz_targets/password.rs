#![no_main]
//! `cargo fuzz run password`: see `bastion_fuzz::password`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| bastion_fuzz::password(data));
