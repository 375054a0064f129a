//! Rate limiting.
//!
//! - [`Rate`] / [`parse_rates`]: limits written the way users already write
//!   them (`"10/minute"`, `"10 per 2 hours"`, `"5/15m"`, DRF's `"100/day"`,
//!   several separated by `;` or `,`), parsed once at configuration time.
//! - [`Algorithm`]: the exact sliding window (the default), the
//!   sliding-window counter, the fixed window and GCRA, each with its
//!   guarantee in its doc comment.
//! - [`RateLimiter`]: one or more limits per client key, checked all or
//!   nothing in one store decision, answering with a [`Decision`] that also
//!   renders the rate-limit headers ([`Decision::headers`]).

mod algorithm;
mod headers;
mod limiter;
pub mod rate;

pub use algorithm::{Algorithm, MAX_EXACT_LIMIT};
pub use limiter::{Decision, LimitStatus, LimitStatuses, LimiterOptions, RateLimiter, MAX_KEY_LEN};
pub use rate::{parse_rates, Rate};
