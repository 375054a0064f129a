//! Injected time: `ManualClock` for tests; everything else reads the system clock.

use bastion_core::clock::{self, Clock, SharedClock, SystemClock};
use pyo3::prelude::*;
use std::sync::Arc;

/// A clock that moves only when told to. Pass it as ``clock=`` to anything that
/// checks time (token expiry, not-before, maximum age) so tests never sleep.
/// Copies share the same time: ``set`` and ``advance`` are seen by every user.
#[pyclass(frozen, module = "bastion._native")]
pub struct ManualClock {
    inner: bastion_core::ManualClock,
}

#[pymethods]
impl ManualClock {
    /// A clock reading ``now`` seconds since the Unix epoch.
    #[new]
    #[pyo3(signature = (now = 0.0))]
    fn new(now: f64) -> Self {
        Self {
            inner: bastion_core::ManualClock::new(now),
        }
    }

    /// The current reading, in seconds since the Unix epoch (microsecond precision).
    fn now(&self) -> f64 {
        self.inner.now_secs()
    }

    /// Sets the time to ``secs`` seconds since the Unix epoch.
    fn set(&self, secs: f64) {
        self.inner.set(secs);
    }

    /// Moves the time forward by ``secs`` seconds (backward when negative).
    fn advance(&self, secs: f64) {
        self.inner.advance(secs);
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now={})", self.inner.now_secs())
    }
}

/// The clock to use: the given `ManualClock` (shared, not copied), or the system clock.
pub fn resolve(clock: Option<&Bound<'_, ManualClock>>) -> SharedClock {
    match clock {
        Some(c) => Arc::new(c.get().inner.clone()),
        None => clock::system(),
    }
}

/// The clock to read for one call, without allocating.
pub fn borrow<'a>(clock: Option<&'a Bound<'_, ManualClock>>) -> &'a dyn Clock {
    match clock {
        Some(c) => &c.get().inner,
        None => &SystemClock,
    }
}
