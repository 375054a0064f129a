//! Injected time: `ManualClock` for tests (core `clock` module).

use bastion_core::clock::{Clock, ManualClock as CoreManualClock};
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, Result};

/// A clock that only moves when told to, for tests: pass it as the `clock`
/// of `verify` / `Verifier` (or the jsonwebtoken layer's `clock` option) and
/// every time rule (`exp`, `nbf`, `iat`, `maxAge`) reads it. Times are seconds
/// since the Unix epoch, with sub-second precision. Copies share the time.
#[napi]
pub struct ManualClock {
    pub(crate) inner: CoreManualClock,
}

fn seconds(env: &Env, value: Unknown, name: &str, default: Option<f64>) -> Result<f64> {
    errors::guard(|| {
        let v: Option<f64> = arg(value, name, "a number of seconds")?;
        v.or(default)
            .ok_or_else(|| errors::invalid_argument(format!("{name} must be a number of seconds")))
    })
    .map_err(|e| errors::to_js(env, e))
}

#[napi]
impl ManualClock {
    /// A clock reading `now` seconds since the epoch (default 0).
    #[napi(constructor, ts_args_type = "now?: number | null")]
    pub fn new(env: &Env, now: Unknown) -> Result<Self> {
        Ok(Self {
            inner: CoreManualClock::new(seconds(env, now, "now", Some(0.0))?),
        })
    }

    /// The current reading, in seconds since the epoch.
    #[napi]
    pub fn now(&self) -> f64 {
        self.inner.now_secs()
    }

    /// Sets the time to `secs` seconds since the epoch.
    #[napi(ts_args_type = "secs: number")]
    pub fn set(&self, env: &Env, secs: Unknown) -> Result<()> {
        self.inner.set(seconds(env, secs, "secs", None)?);
        Ok(())
    }

    /// Moves the time forward (or back, with a negative value) by `secs` seconds.
    #[napi(ts_args_type = "secs: number")]
    pub fn advance(&self, env: &Env, secs: Unknown) -> Result<()> {
        self.inner.advance(seconds(env, secs, "secs", None)?);
        Ok(())
    }
}
