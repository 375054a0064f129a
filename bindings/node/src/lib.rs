//! napi-rs glue over `bastion-core` for the `bastion-engine` npm package. Each
//! file mirrors a core module; functions convert arguments, call the core and
//! map errors (in `errors`, the one mapping point) to `err.code`.

// napi-derive registers the exports only outside `cfg(test)`, so the test
// build (`clippy --all-targets`) would see every export as unused.
#![cfg_attr(test, allow(dead_code))]

mod apikey;
mod apikeys;
mod breaker;
mod clock;
mod errors;
mod events;
mod http;
mod jwks;
mod lifecycle;
mod lockout;
mod metrics;
mod netaddr;
mod password;
mod ratelimit;
mod secrets;
mod settle;
mod shared_cache;
mod singleflight;
mod store;
mod timespan;
mod token;
