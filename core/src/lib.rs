//! # bastion-core
//!
//! The engine behind bastion: every security rule lives here, independent of any
//! language binding. The Python wheel (`bindings/python`) and the npm package
//! (`bindings/node`) only convert arguments, call into this crate and map
//! [`Error`] to their own error types.
//!
//! Modules:
//! - [`token`]: JSON Web Tokens (keys, strict parsing, signing, verification),
//!   start-up checks of secrets, and API keys stored as peppered digests.
//! - [`password`]: Argon2id, PBKDF2 and bcrypt password hashing in the PHC,
//!   argon2-cffi and Django encodings.
//! - [`netaddr`]: client IP resolution behind trusted proxies.
//! - [`events`]: security events delivered to listeners.
//! - [`http`]: the HTTP rules of the web integrations (method categories,
//!   rate-limit keys, problem+json answers).
//! - [`metrics`]: Prometheus counters and gauges, and the health snapshot.
//! - [`breaker`]: the circuit breaker ([`breaker::CircuitBreaker`]).
//! - [`singleflight`]: concurrent callers of one key share one computation.
//! - [`lockout`]: account lockout after failed logins (django-axes semantics).
//! - [`ratelimit`]: rate strings, the four limiter algorithms, [`ratelimit::RateLimiter`]
//!   and its [`ratelimit::Decision`] with the rate-limit headers.
//! - [`store`]: the state layer ([`store::MemoryStore`], [`store::RedisStore`]).
//! - [`runtime`]: the I/O runtime shared by sync and async callers.
//! - [`timespan`]: durations such as `"2h"` or `"7 days"`.
//! - [`clock`]: injected time ([`clock::SystemClock`], [`clock::ManualClock`]).
//! - [`error`]: the one error type with stable codes.

pub mod breaker;
pub mod clock;
pub mod error;
pub mod events;
pub mod http;
pub mod lockout;
pub mod metrics;
pub mod netaddr;
pub mod password;
pub mod ratelimit;
pub mod runtime;
pub mod singleflight;
pub mod store;
pub mod timespan;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
