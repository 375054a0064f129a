//! Support code for the integration tests that need outside parts.
//!
//! A test file includes it with `mod support;` and then uses, for example,
//! `support::redis::shared_server()`.

pub mod backends;
pub mod redis;
