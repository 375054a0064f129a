//! Time spans (core `timespan` module): `"2h"`, `"7 days"`, `"100"` (ms).

use bastion_core::timespan;
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, Result};

/// Seconds in a span written as the `ms` package reads it (`"2h"`, `"7 days"`,
/// `"1.5h"`, `"-10m"`; a bare number in a string is milliseconds). Throws
/// `INVALID_ARGUMENT` for anything else.
#[napi(ts_args_type = "text: string")]
pub fn parse_timespan(env: &Env, text: Unknown) -> Result<f64> {
    errors::guard(|| {
        let text: String = arg(text, "text", "a string")?;
        timespan::parse(&text)
    })
    .map_err(|e| errors::to_js(env, e))
}
