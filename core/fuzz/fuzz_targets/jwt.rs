#![no_main]
//! `cargo fuzz run jwt`: see `bastion_fuzz::jwt`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| bastion_fuzz::jwt(data));
