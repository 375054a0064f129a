//! Rate limiting.
//!
//! - [`Rate`] / [`parse_rates`]: limits written the way users already write
//!   them (`"10/minute"`, `"10 per 2 hours"`, `"5/15m"`, DRF's `"100/day"`,
//!   several separated by `;` or `,`), parsed once at configuration time.
//!
//! The limiter algorithms and their store decisions build on these.

pub mod rate;

pub use rate::{parse_rates, Rate};
