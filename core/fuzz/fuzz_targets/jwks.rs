#![no_main]
//! `cargo fuzz run jwks`: see `bastion_fuzz::jwks`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| bastion_fuzz::jwks(data));
