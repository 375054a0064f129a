#![no_main]
//! `cargo fuzz run forwarded`: see `bastion_fuzz::forwarded`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| bastion_fuzz::forwarded(data));
