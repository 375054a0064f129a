//! Time spans (core `timespan` module): `"2h"`, `"7 days"`, `"100"` (ms).

use std::time::Duration;

use bastion_core::timespan;
use napi::bindgen_prelude::{Either, Unknown};
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

/// A duration setting given as seconds (a number) or as text with a unit
/// (`"30m"`); `name` names the setting in the error.
pub fn setting(v: Either<f64, String>, name: &str) -> bastion_core::Result<Duration> {
    match v {
        Either::A(secs) => timespan::seconds_setting(secs, name),
        Either::B(text) => timespan::text_setting(&text, name),
    }
}
