//! Time, injected.
//!
//! Every time-based rule takes a [`Clock`]. Production code uses [`SystemClock`];
//! tests drive a [`ManualClock`] forward explicitly, so no test sleeps to cross a
//! window, a cool-off or an expiry.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;

    /// Seconds since the Unix epoch, with sub-second precision.
    fn now_secs(&self) -> f64 {
        self.now_micros() as f64 / 1_000_000.0
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        }
    }
}

/// The furthest a [`ManualClock`] reads from the epoch, in microseconds
/// (2^61 µs, about 73,000 years either way). Readings are clamped to this,
/// so the time arithmetic of every rule (a reading plus a duration, the
/// difference of two readings) stays within `i64` whatever a test sets.
pub const MANUAL_LIMIT_MICROS: i64 = 1 << 61;

/// A clock that only moves when told to. Cloning shares the same time.
/// Readings stay within ±[`MANUAL_LIMIT_MICROS`] (setting or advancing past
/// it stops there; NaN counts as 0).
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `secs` seconds since the epoch.
    #[must_use]
    pub fn new(secs: f64) -> Self {
        let c = Self::default();
        c.set(secs);
        c
    }

    /// Sets the time to `secs` seconds since the epoch.
    pub fn set(&self, secs: f64) {
        self.micros
            .store(bounded(secs_to_micros(secs)), Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative value) by `secs` seconds.
    pub fn advance(&self, secs: f64) {
        let by = secs_to_micros(secs);
        // The closure always answers Some: the update cannot fail.
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(bounded(m.saturating_add(by)))
            });
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.micros.load(Ordering::SeqCst)
    }
}

fn bounded(micros: i64) -> i64 {
    micros.clamp(-MANUAL_LIMIT_MICROS, MANUAL_LIMIT_MICROS)
}

fn secs_to_micros(secs: f64) -> i64 {
    // `as` saturates for out-of-range floats and maps NaN to 0.
    (secs * 1_000_000.0).round() as i64
}

/// A shared, dynamically chosen clock.
pub type SharedClock = Arc<dyn Clock>;

/// The default clock: the system clock, shared.
#[must_use]
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000.0);
        assert_eq!(c.now_secs(), 1_000.0);
        c.advance(2.5);
        assert_eq!(c.now_micros(), 1_002_500_000);
        let shared = c.clone();
        shared.advance(-0.5);
        assert_eq!(c.now_secs(), 1_002.0);
        c.set(5.0);
        assert_eq!(shared.now_secs(), 5.0);
    }

    #[test]
    fn manual_clock_readings_stay_within_the_limit() {
        let c = ManualClock::new(1e300);
        assert_eq!(c.now_micros(), MANUAL_LIMIT_MICROS);
        c.advance(1e300);
        assert_eq!(c.now_micros(), MANUAL_LIMIT_MICROS);
        c.advance(-1e300);
        assert_eq!(c.now_micros(), -MANUAL_LIMIT_MICROS);
        c.advance(f64::NEG_INFINITY);
        assert_eq!(c.now_micros(), -MANUAL_LIMIT_MICROS);
        c.set(f64::NAN);
        assert_eq!(c.now_micros(), 0);
        c.set(-1e300);
        c.advance(1.0);
        assert_eq!(c.now_micros(), -MANUAL_LIMIT_MICROS + 1_000_000);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_secs() > 1_577_836_800.0);
    }
}
