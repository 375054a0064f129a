//! Circuit breaker: stop calling a dependency that keeps failing, probe it
//! after a while, close again when it has recovered.
//!
//! A [`CircuitBreaker`] is closed (calls go through), open (calls are
//! rejected at once with `CIRCUIT_OPEN` and a `retry_after`) or half-open (a
//! bounded number of probe calls go through; their outcomes decide).
//!
//! Guarantees:
//! - **Trip policies.** [`TripPolicy::Consecutive`]: open after `fail_max`
//!   failures in a row (pybreaker's rule; a success resets the count).
//!   [`TripPolicy::Rate`]: open when, over a window of the last N calls or of
//!   the last T seconds, the failure rate (or the slow-call rate) reaches its
//!   threshold, once the window holds at least `minimum_calls` calls
//!   (resilience4j's rule). Windows are kept with subtract-on-evict counters:
//!   O(1) per call, bounded memory.
//! - **Open time.** `reset_timeout`, or with `max_reset_timeout` a time that
//!   doubles (by `backoff_multiplier`) with each trip that follows another
//!   without a close in between, capped.
//! - **Half-open is bounded and cannot stick.** At most `half_open_max_calls`
//!   probes at once; `success_threshold` probe successes close the breaker,
//!   one failure opens it again. A probe permit that is never reported is
//!   released after `probe_timeout` (or at once when dropped), so a lost
//!   probe delays recovery but never wedges the breaker.
//! - **Stale outcomes are ignored.** Every transition starts a new
//!   generation; a permit reports into the generation it was taken in, so an
//!   outcome that arrives after a state change (a slow call started while
//!   closed finishing after the trip) does not count.
//! - **No lock around the call.** The breaker's state is behind a lock held
//!   for bookkeeping only (a few hundred nanoseconds at most); the protected
//!   call runs between [`CircuitBreaker::acquire`] and [`Permit::record`]
//!   with nothing held, so concurrent calls through a closed breaker run in
//!   parallel.
//! - **Call time.** A permit measures its call with the breaker's clock: a
//!   call longer than `call_timeout` counts as a failure even if it
//!   succeeded, one of at least `slow_call_duration` counts as slow.
//! - **Time is injected** ([`Clock`]), so every rule is tested with a
//!   `ManualClock`; events (`circuit_open`, `circuit_half_open`,
//!   `circuit_closed`) are emitted after the lock is released.
//! - **One breaker for many processes.** Made with
//!   [`CircuitBreaker::with_store`] on a Redis store, the breaker's state is
//!   shared by every process that names it (see [`shared`](self) below and
//!   docs/breaker.md): transitions are atomic scripts with the generation
//!   counter, a closed breaker's calls and successes cost no round trip,
//!   half-open probes are bounded across processes, transitions are
//!   broadcast, and when Redis is unreachable each process carries on alone.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::clock::{Clock, SystemClock};
use crate::error::{err, Detail, Error, ErrorKind, Result};
use crate::events::{Event, Listeners};
use crate::store::{Notice, Store};
use crate::timespan::micros;

mod shared;
use shared::{Batch, Pending, Shared, Snapshot};

/// The three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; outcomes are counted.
    Closed,
    /// Calls are rejected until the open time ends.
    Open,
    /// A bounded number of probe calls go through.
    HalfOpen,
}

impl BreakerState {
    /// `"closed"`, `"open"` or `"half-open"` (pybreaker's spelling).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

/// What a window of recent calls covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls (1 to 10,000).
    Count(u32),
    /// The calls of the last duration (at least 1 ms), kept in ten buckets.
    Time(Duration),
}

/// When a closed breaker opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TripPolicy {
    /// After `fail_max` failures in a row (at least 1).
    Consecutive {
        /// Failures in a row that open the breaker.
        fail_max: u32,
    },
    /// When the failure rate (or the slow-call rate) over `window` reaches
    /// its threshold, once the window holds at least `minimum_calls` calls.
    Rate {
        /// The calls considered.
        window: Window,
        /// Failures / calls at which the breaker opens (0 < r <= 1).
        failure_rate: f64,
        /// Slow calls / calls at which the breaker opens (0 < r <= 1), when
        /// slow calls count ([`BreakerOptions::slow_call_duration`]).
        slow_call_rate: Option<f64>,
        /// Calls the window must hold before a rate can open the breaker.
        minimum_calls: u32,
    },
}

/// How a [`CircuitBreaker`] behaves. `Default` is pybreaker's: 5 failures in
/// a row, 60 s open, one probe success to close.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerOptions {
    /// The breaker's name (in events and errors).
    pub name: String,
    /// When a closed breaker opens.
    pub policy: TripPolicy,
    /// How long the breaker stays open (the first time, with backoff).
    pub reset_timeout: Duration,
    /// With backoff: the cap on the open time, which grows by
    /// `backoff_multiplier` with each trip that follows another without a
    /// close in between. `None`: always `reset_timeout`.
    pub max_reset_timeout: Option<Duration>,
    /// The growth factor of the open time with backoff (at least 1).
    pub backoff_multiplier: f64,
    /// Probe successes in half-open that close the breaker (at least 1).
    pub success_threshold: u32,
    /// Probes at once in half-open (at least 1).
    pub half_open_max_calls: u32,
    /// A probe permit not reported within this is released. `None`: the
    /// `call_timeout` when set, else `reset_timeout`.
    pub probe_timeout: Option<Duration>,
    /// A call that takes longer counts as a failure, whatever it returned.
    pub call_timeout: Option<Duration>,
    /// A call that takes at least this long is slow (for the slow-call rate).
    pub slow_call_duration: Option<Duration>,
    /// Shared through Redis: how often a process re-reads the shared state
    /// even when no broadcast came (default 1 s), and how often it retries
    /// Redis while carrying on alone.
    pub sync_interval: Duration,
    /// Shared through Redis: the longest a success counted locally waits
    /// before it is flushed (default 100 ms; failures are never held back).
    pub flush_interval: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            policy: TripPolicy::Consecutive { fail_max: 5 },
            reset_timeout: Duration::from_secs(60),
            max_reset_timeout: None,
            backoff_multiplier: 2.0,
            success_threshold: 1,
            half_open_max_calls: 1,
            probe_timeout: None,
            call_timeout: None,
            slow_call_duration: None,
            sync_interval: Duration::from_secs(1),
            flush_interval: Duration::from_millis(100),
        }
    }
}

const MAX_COUNT_WINDOW: u32 = 10_000;
const MAX_NAME_LEN: usize = 200;
const TIME_BUCKETS: usize = 10;
/// The longest duration a setting may have (a year), so microsecond
/// arithmetic never overflows.
const MAX_SPAN: Duration = Duration::from_secs(365 * 24 * 3600);

fn check_span(d: Duration, what: &str, zero_ok: bool) -> Result<()> {
    if (!zero_ok && d.is_zero()) || d > MAX_SPAN {
        return Err(err!(
            InvalidArgument,
            "{what} must be more than 0 and at most a year"
        ));
    }
    Ok(())
}

fn check_rate(r: f64, what: &str) -> Result<()> {
    if !(r > 0.0 && r <= 1.0) {
        return Err(err!(
            InvalidArgument,
            "{what} must be a fraction in (0, 1] (e.g. 0.5 for 50%)"
        ));
    }
    Ok(())
}

impl BreakerOptions {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(err!(
                InvalidArgument,
                "a breaker name must have 1 to {MAX_NAME_LEN} bytes"
            ));
        }
        match self.policy {
            TripPolicy::Consecutive { fail_max } => {
                if fail_max == 0 {
                    return Err(err!(InvalidArgument, "fail_max must be at least 1"));
                }
            }
            TripPolicy::Rate {
                window,
                failure_rate,
                slow_call_rate,
                minimum_calls,
            } => {
                match window {
                    Window::Count(n) if n == 0 || n > MAX_COUNT_WINDOW => {
                        return Err(err!(
                            InvalidArgument,
                            "a count window holds 1 to {MAX_COUNT_WINDOW} calls"
                        ));
                    }
                    Window::Time(d) if d < Duration::from_millis(1) || d > MAX_SPAN => {
                        return Err(err!(
                            InvalidArgument,
                            "a time window lasts from 1 ms to a year"
                        ));
                    }
                    _ => {}
                }
                check_rate(failure_rate, "failure_rate")?;
                if let Some(r) = slow_call_rate {
                    check_rate(r, "slow_call_rate")?;
                    if self.slow_call_duration.is_none() {
                        return Err(err!(
                            InvalidArgument,
                            "slow_call_rate needs slow_call_duration"
                        ));
                    }
                }
                if minimum_calls == 0 {
                    return Err(err!(InvalidArgument, "minimum_calls must be at least 1"));
                }
            }
        }
        check_span(self.reset_timeout, "reset_timeout", false)?;
        if let Some(max) = self.max_reset_timeout {
            check_span(max, "max_reset_timeout", false)?;
            if max < self.reset_timeout {
                return Err(err!(
                    InvalidArgument,
                    "max_reset_timeout must be at least reset_timeout"
                ));
            }
        }
        if !(self.backoff_multiplier >= 1.0 && self.backoff_multiplier <= 100.0) {
            return Err(err!(
                InvalidArgument,
                "backoff_multiplier must be from 1 to 100"
            ));
        }
        if self.success_threshold == 0 {
            return Err(err!(
                InvalidArgument,
                "success_threshold must be at least 1"
            ));
        }
        if self.half_open_max_calls == 0 {
            return Err(err!(
                InvalidArgument,
                "half_open_max_calls must be at least 1"
            ));
        }
        for (d, what) in [
            (self.sync_interval, "sync_interval"),
            (self.flush_interval, "flush_interval"),
        ] {
            if d < Duration::from_millis(1) || d > MAX_SPAN {
                return Err(err!(InvalidArgument, "{what} must be from 1 ms to a year"));
            }
        }
        for (d, what) in [
            (self.probe_timeout, "probe_timeout"),
            (self.call_timeout, "call_timeout"),
            (self.slow_call_duration, "slow_call_duration"),
        ] {
            if let Some(d) = d {
                check_span(d, what, false)?;
            }
        }
        Ok(())
    }

    fn probe_micros(&self) -> i64 {
        micros(
            self.probe_timeout
                .or(self.call_timeout)
                .unwrap_or(self.reset_timeout),
        )
    }

    /// The open time after `trips` trips in a row (1 for the first).
    fn open_micros(&self, trips: u32) -> i64 {
        let base = micros(self.reset_timeout);
        let Some(max) = self.max_reset_timeout else {
            return base;
        };
        let grown = base as f64 * self.backoff_multiplier.powi(trips.saturating_sub(1) as i32);
        (grown.min(micros(max) as f64)) as i64
    }
}

/// How a call ended, as the caller reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded (it still counts as a failure past `call_timeout`).
    Success,
    /// It failed.
    Failure,
    /// Neither: an error the breaker is told not to count (a cancelled call,
    /// an excluded error). The permit is released; nothing is counted.
    Ignored,
}

/// Outcomes over a window, with subtract-on-evict totals.
#[derive(Debug)]
enum Outcomes {
    /// pybreaker's rule needs no window.
    None,
    /// The last `len` calls: bit 0 failure, bit 1 slow.
    Count {
        ring: Vec<u8>,
        next: usize,
        len: usize,
    },
    /// Ten buckets of `bucket` µs each: (bucket index, calls, failures, slow).
    Time {
        bucket: i64,
        slots: Box<[(i64, u32, u32, u32); TIME_BUCKETS]>,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Outcomes {
    fn new(policy: &TripPolicy) -> Self {
        match policy {
            TripPolicy::Consecutive { .. } => Self::None,
            TripPolicy::Rate {
                window: Window::Count(n),
                ..
            } => Self::Count {
                ring: vec![0; *n as usize],
                next: 0,
                len: 0,
            },
            TripPolicy::Rate {
                window: Window::Time(d),
                ..
            } => Self::Time {
                bucket: (micros(*d) / TIME_BUCKETS as i64).max(1),
                slots: Box::new([(i64::MIN, 0, 0, 0); TIME_BUCKETS]),
            },
        }
    }

    fn clear(&mut self) {
        match self {
            Self::None => {}
            Self::Count { ring, next, len } => {
                ring.fill(0);
                *next = 0;
                *len = 0;
            }
            Self::Time { slots, .. } => **slots = [(i64::MIN, 0, 0, 0); TIME_BUCKETS],
        }
    }

    fn add(&mut self, now: i64, failure: bool, slow: bool, totals: &mut Totals) {
        match self {
            Self::None => {}
            Self::Count { ring, next, len } => {
                if *len == ring.len() {
                    let old = ring[*next];
                    totals.calls -= 1;
                    totals.failures -= u32::from(old & 1);
                    totals.slow -= u32::from(old >> 1 & 1);
                } else {
                    *len += 1;
                }
                ring[*next] = u8::from(failure) | u8::from(slow) << 1;
                *next = (*next + 1) % ring.len();
                totals.calls += 1;
                totals.failures += u32::from(failure);
                totals.slow += u32::from(slow);
            }
            Self::Time { bucket, slots } => {
                let idx = now.div_euclid(*bucket);
                Self::evict(slots, idx, totals);
                let slot = &mut slots[idx.rem_euclid(TIME_BUCKETS as i64) as usize];
                if slot.0 != idx {
                    *slot = (idx, 0, 0, 0);
                }
                slot.1 += 1;
                slot.2 += u32::from(failure);
                slot.3 += u32::from(slow);
                totals.calls += 1;
                totals.failures += u32::from(failure);
                totals.slow += u32::from(slow);
            }
        }
    }

    /// Drops the time buckets that have left the window (as of now).
    fn expire(&mut self, now: i64, totals: &mut Totals) {
        if let Self::Time { bucket, slots } = self {
            Self::evict(slots, now.div_euclid(*bucket), totals);
        }
    }

    fn evict(slots: &mut [(i64, u32, u32, u32); TIME_BUCKETS], idx: i64, totals: &mut Totals) {
        for slot in slots.iter_mut() {
            if slot.0 != i64::MIN && slot.0 <= idx - TIME_BUCKETS as i64 {
                totals.calls -= slot.1;
                totals.failures -= slot.2;
                totals.slow -= slot.3;
                *slot = (i64::MIN, 0, 0, 0);
            }
        }
    }
}

/// Cumulative counts since the breaker was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counters {
    calls: u64,
    successes: u64,
    failures: u64,
    ignored: u64,
    slow: u64,
    timeouts: u64,
    rejected: u64,
    stale: u64,
    opened: u64,
}

#[derive(Debug)]
struct Core {
    state: BreakerState,
    generation: u64,
    /// When the open state ends (µs).
    open_until: i64,
    /// Trips since the last close (for backoff).
    trips: u32,
    consecutive_failures: u32,
    window: Outcomes,
    totals: Totals,
    /// Probes in flight: (permit id, deadline µs).
    probes: SmallVec<[(u64, i64); 4]>,
    probe_successes: u32,
    next_id: u64,
    counters: Counters,
    /// Shared: when the mirror was last read from Redis (µs).
    synced_at: i64,
    /// Shared, half-open with every probe taken: reject locally until then.
    hold_until: i64,
    /// Shared: successes not yet flushed.
    pending: Pending,
    /// Shared: probes in flight in every process, at the last read.
    remote_probes: u32,
    /// Shared: the newest [`Snapshot::version`] followed (in `generation`).
    version: u64,
    /// Shared: the [`Snapshot::epoch`] of the state followed.
    epoch: u64,
}

/// A transition to report once the lock is released.
type Transition = Option<(BreakerState, BreakerState, Option<u64>)>;

struct Inner {
    options: BreakerOptions,
    probe_micros: i64,
    clock: Arc<dyn Clock>,
    core: Mutex<Core>,
    listeners: Listeners,
    /// Set when the state is shared through Redis.
    shared: Option<Shared>,
}

impl crate::metrics::Observe for Inner {
    fn observe(self: Arc<Self>, out: &mut crate::metrics::Snapshot) {
        out.breakers.push(CircuitBreaker { inner: self }.stats());
    }
}

/// A circuit breaker. Cloning shares it.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.options.name)
            .field("state", &self.state())
            .finish()
    }
}

/// A snapshot of a breaker (for health checks and metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerStats {
    /// The breaker's name.
    pub name: String,
    /// Its state now (an open breaker whose time is up reads `HalfOpen`).
    pub state: BreakerState,
    /// Transitions so far (a permit reports into its generation).
    pub generation: u64,
    /// Seconds until an open breaker lets a probe through (0 otherwise).
    pub retry_after: f64,
    /// Failures in a row now, whatever the state (the consecutive rule;
    /// pybreaker's `fail_counter`).
    pub consecutive_failures: u32,
    /// Probe successes so far in the current half-open state.
    pub probe_successes: u32,
    /// Calls, failures and slow calls in the window now (the rate rule).
    pub window_calls: u32,
    /// Failures in the window now.
    pub window_failures: u32,
    /// Slow calls in the window now.
    pub window_slow: u32,
    /// Probes in flight.
    pub probes: u32,
    /// Calls admitted since the breaker was made.
    pub calls: u64,
    /// Successes reported.
    pub successes: u64,
    /// Failures reported (timeouts included).
    pub failures: u64,
    /// Outcomes reported as ignored, and permits dropped unreported.
    pub ignored: u64,
    /// Slow calls.
    pub slow_calls: u64,
    /// Successes past `call_timeout`, counted as failures.
    pub timeouts: u64,
    /// Calls rejected (open, or half-open with every probe taken).
    pub rejected: u64,
    /// Outcomes that arrived after a state change and were not counted.
    pub stale: u64,
    /// Times the breaker opened (shared: times this process saw it open).
    pub opened: u64,
    /// `"local"` (this process's own state), `"shared"` (Redis, followed
    /// by a mirror) or `"fallback"` (shared, but Redis is unreachable: this
    /// process carries on alone until it answers).
    pub mode: &'static str,
}

impl CircuitBreaker {
    /// A breaker on the system clock.
    pub fn new(options: BreakerOptions) -> Result<Self> {
        Self::with_clock(options, Arc::new(SystemClock))
    }

    /// A breaker reading time from `clock`.
    pub fn with_clock(options: BreakerOptions, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::build(options, clock, None)
    }

    /// A breaker whose state lives in `store`.
    ///
    /// On a Redis store, every process (any language) that makes a breaker
    /// of the same name on the same Redis shares one state; the options of
    /// each should agree, since each script applies the caller's. This reads
    /// the shared state once (at most the store's operation timeout; if Redis
    /// cannot answer, the breaker starts alone and follows Redis once it
    /// answers). On the memory store it is an ordinary breaker on the store's
    /// clock: one process, shared by sharing the object.
    pub fn with_store(options: BreakerOptions, store: &Store) -> Result<Self> {
        let Some(redis) = store.as_redis() else {
            return Self::with_clock(options, store.clock());
        };
        let shared = Shared::new(Arc::clone(redis), &options, store.clock())?;
        let breaker = Self::build(options, store.clock(), Some(shared))?;
        breaker.listen();
        if breaker.sync().is_err() {
            breaker.degrade();
        }
        Ok(breaker)
    }

    fn build(
        options: BreakerOptions,
        clock: Arc<dyn Clock>,
        shared: Option<Shared>,
    ) -> Result<Self> {
        options.validate()?;
        let core = Core {
            state: BreakerState::Closed,
            generation: 0,
            open_until: 0,
            trips: 0,
            consecutive_failures: 0,
            window: Outcomes::new(&options.policy),
            totals: Totals::default(),
            probes: SmallVec::new(),
            probe_successes: 0,
            next_id: 0,
            counters: Counters::default(),
            synced_at: i64::MIN / 2,
            hold_until: 0,
            pending: Pending::default(),
            remote_probes: 0,
            version: 0,
            epoch: 0,
        };
        let inner = Arc::new(Inner {
            probe_micros: options.probe_micros(),
            options,
            clock,
            core: Mutex::new(core),
            listeners: Listeners::default(),
            shared,
        });
        crate::metrics::register(Arc::downgrade(&inner) as _);
        Ok(Self { inner })
    }

    /// The listeners that receive this breaker's transition events.
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.inner.listeners
    }

    /// The options it was made with.
    #[must_use]
    pub fn options(&self) -> &BreakerOptions {
        &self.inner.options
    }

    /// A permit to make one call, or `CIRCUIT_OPEN` (with `retry_after`)
    /// when the breaker rejects it.
    pub fn acquire(&self) -> Result<Permit> {
        self.try_acquire().map_err(|r| r.into_error())
    }

    /// A permit to make one call, or the rejection (no error built: the
    /// cheap way to ask).
    ///
    /// Shared through Redis, a closed breaker (and an open one before its
    /// time is up) answers from its mirror; at the open-to-half-open edge and
    /// in half-open this is one round trip, so probes are bounded across
    /// processes.
    pub fn try_acquire(&self) -> std::result::Result<Permit, Rejection> {
        let now = self.inner.clock.now_micros();
        if let Some(sh) = self.inner.shared.as_ref().filter(|sh| sh.is_degraded()) {
            self.keep_recovering(sh);
        }
        if let Some(sh) = self.live_shared() {
            return match self.shared_admit(sh, now) {
                Ok(answer) => answer,
                Err(id) => {
                    let reply = sh.eval_blocking(&shared::ACQUIRE, vec![sh.token(id).into_bytes()]);
                    self.shared_admitted(sh, id, now, reply)
                }
            };
        }
        let mut transition = None;
        let result = {
            let mut core = self.inner.core.lock();
            self.admit(&mut core, now, &mut transition)
        };
        self.report(transition);
        result
    }

    /// [`CircuitBreaker::acquire`] for async code: the same answer, and
    /// when the breaker is shared and the call needs Redis (the half-open
    /// edge), the round trip is awaited instead of blocking the thread.
    pub async fn acquire_async(&self) -> Result<Permit> {
        self.try_acquire_async()
            .await
            .map_err(Rejection::into_error)
    }

    /// [`CircuitBreaker::try_acquire`] for async code (see
    /// [`CircuitBreaker::acquire_async`]).
    pub async fn try_acquire_async(&self) -> std::result::Result<Permit, Rejection> {
        let now = self.inner.clock.now_micros();
        if let Some(sh) = self.live_shared() {
            return match self.shared_admit(sh, now) {
                Ok(answer) => answer,
                Err(id) => {
                    let reply = sh
                        .eval(&shared::ACQUIRE, vec![sh.token(id).into_bytes()])
                        .await;
                    self.shared_admitted(sh, id, now, reply)
                }
            };
        }
        self.try_acquire()
    }

    /// The answer when it needs no I/O (always, unless the breaker is shared
    /// and at its half-open edge or in half-open), else `None`: ask with
    /// [`CircuitBreaker::try_acquire_async`]. For a caller on a thread that
    /// must not block and would rather not await every call.
    pub fn try_acquire_now(&self) -> Option<std::result::Result<Permit, Rejection>> {
        let now = self.inner.clock.now_micros();
        match self.live_shared() {
            Some(sh) => self.shared_admit(sh, now).ok(),
            None => Some(self.try_acquire()),
        }
    }

    /// Whether reporting `outcome` for `permit` now would be a round trip
    /// (a shared breaker's failure or probe outcome in the current
    /// generation).
    fn needs_redis(&self, permit: &Permit, outcome: Outcome) -> bool {
        if !permit.shared || self.live_shared().is_none() || outcome == Outcome::Ignored {
            return false;
        }
        if permit.probe || outcome == Outcome::Failure {
            return permit.generation == self.inner.core.lock().generation;
        }
        // A success past call_timeout is a failure.
        let now = self.inner.clock.now_micros();
        self.inner
            .options
            .call_timeout
            .is_some_and(|t| now.saturating_sub(permit.started) > micros(t))
            && permit.generation == self.inner.core.lock().generation
    }

    /// The shared part, when Redis is being followed (not degraded).
    fn live_shared(&self) -> Option<&Shared> {
        self.inner.shared.as_ref().filter(|sh| !sh.is_degraded())
    }

    fn admit(
        &self,
        core: &mut Core,
        now: i64,
        transition: &mut Transition,
    ) -> std::result::Result<Permit, Rejection> {
        if core.state == BreakerState::Open && now >= core.open_until {
            *transition = self.enter(core, BreakerState::HalfOpen, now);
        }
        match core.state {
            BreakerState::Closed => {
                core.counters.calls = core.counters.calls.saturating_add(1);
                Ok(self.permit(core, now, false))
            }
            BreakerState::Open => {
                core.counters.rejected = core.counters.rejected.saturating_add(1);
                Err(self.rejection(core.open_until.saturating_sub(now)))
            }
            BreakerState::HalfOpen => {
                core.probes.retain(|p| p.1 > now);
                if core.probes.len() < self.inner.options.half_open_max_calls as usize {
                    core.counters.calls = core.counters.calls.saturating_add(1);
                    let permit = self.permit(core, now, true);
                    core.probes
                        .push((permit.id, now.saturating_add(self.inner.probe_micros)));
                    Ok(permit)
                } else {
                    core.counters.rejected = core.counters.rejected.saturating_add(1);
                    // A probe slot frees when a probe reports or times out.
                    let soonest = core.probes.iter().map(|p| p.1).min().unwrap_or(now);
                    Err(self.rejection(soonest.saturating_sub(now)))
                }
            }
        }
    }

    /// A shared breaker's answer from its mirror, or `Err(id)`: ask Redis
    /// (the open-to-half-open edge, half-open) for permit `id`.
    fn shared_admit(
        &self,
        sh: &Shared,
        now: i64,
    ) -> std::result::Result<std::result::Result<Permit, Rejection>, u64> {
        let id = {
            let mut core = self.inner.core.lock();
            let stale = now.saturating_sub(core.synced_at) >= sh.sync_interval;
            let answer = match core.state {
                BreakerState::Closed => {
                    core.counters.calls = core.counters.calls.saturating_add(1);
                    Some(Ok(self.permit(&mut core, now, false)))
                }
                BreakerState::Open if now < core.open_until => {
                    core.counters.rejected = core.counters.rejected.saturating_add(1);
                    Some(Err(self.rejection(core.open_until.saturating_sub(now))))
                }
                BreakerState::HalfOpen if now < core.hold_until => {
                    core.counters.rejected = core.counters.rejected.saturating_add(1);
                    Some(Err(self.rejection(core.hold_until.saturating_sub(now))))
                }
                _ => None,
            };
            if let Some(answer) = answer {
                drop(core);
                if stale {
                    self.sync_in_background();
                }
                return Ok(answer);
            }
            core.next_id += 1;
            core.next_id
        };
        Err(id)
    }

    /// Finishes [`CircuitBreaker::shared_admit`] with Redis's reply.
    fn shared_admitted(
        &self,
        sh: &Shared,
        id: u64,
        now: i64,
        reply: Result<Snapshot>,
    ) -> std::result::Result<Permit, Rejection> {
        match reply {
            Ok(snap) => {
                let (result, transition) = {
                    let mut core = self.inner.core.lock();
                    let transition = self.follow(&mut core, &snap, now, false);
                    let result = if snap.granted {
                        core.counters.calls = core.counters.calls.saturating_add(1);
                        Ok(Permit {
                            breaker: Some(Arc::clone(&self.inner)),
                            id,
                            generation: snap.generation,
                            started: now,
                            probe: snap.probe,
                            shared: true,
                        })
                    } else {
                        core.counters.rejected = core.counters.rejected.saturating_add(1);
                        if snap.state == BreakerState::HalfOpen {
                            core.hold_until = now.saturating_add(snap.wait.min(sh.sync_interval));
                        }
                        Err(self.rejection(snap.wait))
                    };
                    (result, transition)
                };
                self.report(transition);
                result
            }
            Err(_) => {
                self.degrade();
                self.try_acquire()
            }
        }
    }

    fn permit(&self, core: &mut Core, now: i64, probe: bool) -> Permit {
        core.next_id += 1;
        Permit {
            breaker: Some(Arc::clone(&self.inner)),
            id: core.next_id,
            generation: core.generation,
            started: now,
            probe,
            shared: self.live_shared().is_some(),
        }
    }

    fn rejection(&self, wait_micros: i64) -> Rejection {
        Rejection {
            name: self.inner.options.name.clone(),
            retry_after: wait_micros.max(0) as f64 / 1e6,
        }
    }

    /// Moves to `to`, starting a new generation; the transition to report.
    fn enter(&self, core: &mut Core, to: BreakerState, now: i64) -> Transition {
        let from = core.state;
        core.state = to;
        core.generation += 1;
        core.probes.clear();
        core.probe_successes = 0;
        let mut retry_after = None;
        match to {
            BreakerState::Open => {
                core.trips = core.trips.saturating_add(1);
                let open = self.inner.options.open_micros(core.trips);
                core.open_until = now.saturating_add(open);
                core.counters.opened = core.counters.opened.saturating_add(1);
                retry_after = Some(whole_seconds(open));
            }
            BreakerState::Closed => {
                core.trips = 0;
                core.consecutive_failures = 0;
                core.window.clear();
                core.totals = Totals::default();
            }
            BreakerState::HalfOpen => {}
        }
        (from != to || to == BreakerState::Open).then_some((from, to, retry_after))
    }

    /// Makes the mirror follow a shared snapshot; the transition it shows,
    /// if it is news. `force`: take it even if it is older than the mirror
    /// (the first read after an outage, when the mirror went its own way).
    fn follow(&self, core: &mut Core, snap: &Snapshot, now: i64, force: bool) -> Transition {
        // A full reply from a later epoch is a new shared state (the old one
        // was lost): taken whatever the generation the mirror reached. One
        // from an earlier epoch is a late reply about a state that is gone.
        let force = if snap.partial {
            force
        } else if snap.epoch < core.epoch && !force {
            return None;
        } else {
            force || snap.epoch > core.epoch
        };
        if !force && snap.generation < core.generation {
            return None;
        }
        if !snap.partial {
            core.epoch = snap.epoch;
            // Replies can arrive out of order (a background re-read sent
            // before an acquire may answer after it): an older read does not
            // undo what a newer one showed.
            if !force && snap.generation == core.generation && snap.version < core.version {
                return None;
            }
            core.version = snap.version;
        }
        let from = core.state;
        let moved = snap.generation != core.generation || snap.state != core.state;
        core.state = snap.state;
        core.generation = snap.generation;
        core.consecutive_failures = snap.consecutive;
        if snap.state == BreakerState::Open {
            // A reply's open time counts from when its call was sent (a
            // reply read late must not extend it); a broadcast's from now.
            let from = if snap.partial { now } else { snap.at.min(now) };
            core.open_until = from.saturating_add(snap.left);
        }
        if !snap.partial {
            core.probe_successes = snap.probe_successes;
            core.totals = Totals {
                calls: snap.window.0,
                failures: snap.window.1,
                slow: snap.window.2,
            };
            core.remote_probes = snap.probes;
            core.synced_at = now;
            if snap.probes < self.inner.options.half_open_max_calls {
                // A probe slot is free: stop refusing from the mirror.
                core.hold_until = 0;
            }
        } else if moved {
            core.probe_successes = 0;
            core.remote_probes = 0;
            if snap.state == BreakerState::Closed {
                core.totals = Totals::default();
            }
        }
        if !moved {
            return None;
        }
        core.hold_until = 0;
        core.probes.clear();
        if core.pending.generation != snap.generation {
            core.pending = Pending::default();
        }
        if snap.state == BreakerState::Open {
            core.counters.opened = core.counters.opened.saturating_add(1);
        }
        let retry_after = (snap.state == BreakerState::Open).then(|| whole_seconds(snap.left));
        (from != snap.state || snap.state == BreakerState::Open).then_some((
            from,
            snap.state,
            retry_after,
        ))
    }

    fn report(&self, transition: Transition) {
        if let Some((from, to, retry_after)) = transition {
            self.emit(Event::CircuitStateChanged {
                breaker: self.inner.options.name.clone(),
                from: from.as_str(),
                to: to.as_str(),
                retry_after,
            });
        }
    }

    /// Tells the listeners; from the I/O thread (a broadcast, a background
    /// flush) through the blocking pool, so a listener that waits (for
    /// Python's GIL, say) never stalls the store's I/O.
    fn emit(&self, event: Event) {
        if crate::runtime::on_io_thread() {
            let inner = Arc::clone(&self.inner);
            drop(crate::runtime::spawn_blocking(move || {
                inner.listeners.emit(&event);
            }));
        } else {
            self.inner.listeners.emit(&event);
        }
    }

    fn record(&self, permit: &Permit, outcome: Outcome) -> Option<BreakerState> {
        let now = self.inner.clock.now_micros();
        if let Some(sh) = self.inner.shared.as_ref() {
            if permit.shared {
                return match self.shared_record(sh, permit, outcome, now) {
                    Ok(done) => done,
                    Err(remote) => {
                        let reply = sh.eval_blocking(&shared::REPORT, remote.args.clone());
                        self.shared_recorded(&remote, now, reply)
                    }
                };
            }
            if !sh.is_degraded() {
                // Taken from this process's own state during an outage that
                // has ended: its generation means nothing now.
                {
                    let mut core = self.inner.core.lock();
                    core.counters.stale = core.counters.stale.saturating_add(1);
                }
                return None;
            }
        }
        let mut transition = None;
        {
            let mut core = self.inner.core.lock();
            self.count(&mut core, permit, outcome, now, &mut transition);
        }
        let to = transition.map(|t| t.1);
        self.report(transition);
        to
    }

    async fn record_async(&self, permit: &Permit, outcome: Outcome) -> Option<BreakerState> {
        if let (Some(sh), true) = (self.inner.shared.as_ref(), permit.shared) {
            let now = self.inner.clock.now_micros();
            return match self.shared_record(sh, permit, outcome, now) {
                Ok(done) => done,
                Err(remote) => {
                    let reply = sh.eval(&shared::REPORT, remote.args.clone()).await;
                    self.shared_recorded(&remote, now, reply)
                }
            };
        }
        self.record(permit, outcome)
    }

    /// How a reported outcome counts: `None` when it does not (stale or
    /// ignored), else (failure, slow). Updates the cumulative counters.
    fn tally(
        &self,
        core: &mut Core,
        permit: &Permit,
        outcome: Outcome,
        now: i64,
    ) -> Option<(bool, bool)> {
        let options = &self.inner.options;
        if permit.generation != core.generation {
            core.counters.stale = core.counters.stale.saturating_add(1);
            return None;
        }
        let elapsed = now.saturating_sub(permit.started);
        let timed_out = outcome == Outcome::Success
            && options.call_timeout.is_some_and(|t| elapsed > micros(t));
        let failure = match outcome {
            Outcome::Ignored => {
                core.counters.ignored = core.counters.ignored.saturating_add(1);
                return None;
            }
            Outcome::Failure => true,
            Outcome::Success => timed_out,
        };
        let slow = options
            .slow_call_duration
            .is_some_and(|d| elapsed >= micros(d));
        // The counters saturate: `add_admitted` takes counts from the caller
        // (Node hands over its batches), so they may already be at the top.
        let c = &mut core.counters;
        c.timeouts = c.timeouts.saturating_add(u64::from(timed_out));
        c.slow = c.slow.saturating_add(u64::from(slow));
        if failure {
            c.failures = c.failures.saturating_add(1);
        } else {
            c.successes = c.successes.saturating_add(1);
        }
        Some((failure, slow))
    }

    fn count(
        &self,
        core: &mut Core,
        permit: &Permit,
        outcome: Outcome,
        now: i64,
        transition: &mut Transition,
    ) {
        if permit.probe {
            core.probes.retain(|p| p.0 != permit.id);
        }
        if let Some((failure, slow)) = self.tally(core, permit, outcome, now) {
            self.advance(core, failure, slow, now, transition);
        }
    }

    /// The local state machine: one counted outcome.
    fn advance(
        &self,
        core: &mut Core,
        failure: bool,
        slow: bool,
        now: i64,
        transition: &mut Transition,
    ) {
        // Failures in a row, whatever the state (pybreaker's `fail_counter`):
        // a probe's failure adds to the run that opened the breaker, a
        // success ends it, a close clears it.
        if failure {
            core.consecutive_failures = core.consecutive_failures.saturating_add(1);
        } else {
            core.consecutive_failures = 0;
        }
        match core.state {
            BreakerState::Closed => {
                core.window.add(now, failure, slow, &mut core.totals);
                if self.trips(core) {
                    *transition = self.enter(core, BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen => {
                if failure {
                    *transition = self.enter(core, BreakerState::Open, now);
                } else {
                    core.probe_successes += 1;
                    if core.probe_successes >= self.inner.options.success_threshold {
                        *transition = self.enter(core, BreakerState::Closed, now);
                    }
                }
            }
            // A permit of the open generation cannot exist.
            BreakerState::Open => {}
        }
    }

    /// A shared permit's outcome (the breaker may have degraded since):
    /// decided here, or `Err`: a report Redis must count.
    fn shared_record(
        &self,
        sh: &Shared,
        permit: &Permit,
        outcome: Outcome,
        now: i64,
    ) -> std::result::Result<Option<BreakerState>, RemoteReport> {
        let token = permit.probe.then(|| sh.token(permit.id));
        let mut core = self.inner.core.lock();
        let counted = self.tally(&mut core, permit, outcome, now);
        if sh.is_degraded() {
            // Redis went away after the permit was taken: count it here.
            let mut transition = None;
            if let Some((failure, slow)) = counted {
                self.advance(&mut core, failure, slow, now, &mut transition);
            }
            drop(core);
            let to = transition.map(|t| t.1);
            self.report(transition);
            return Ok(to);
        }
        let Some((failure, slow)) = counted else {
            drop(core);
            // Stale or ignored: nothing to count, but a probe's slot is freed
            // at once rather than at its timeout.
            if let Some(token) = token {
                let batch = Batch {
                    generation: permit.generation,
                    ..Batch::default()
                };
                self.flush_in_background(Shared::report_args(&batch, Some(token)));
            }
            return Ok(None);
        };
        if !failure && !permit.probe {
            // A success in the closed state: counted locally, flushed later.
            let failing = core.consecutive_failures > 0;
            let pending = &mut core.pending;
            if pending.generation != permit.generation || pending.successes == 0 {
                *pending = Pending {
                    generation: permit.generation,
                    successes: 0,
                    slow: 0,
                    since: now,
                };
            }
            pending.successes = pending.successes.saturating_add(1);
            pending.slow = pending.slow.saturating_add(u32::from(slow));
            // Failures in a row care only that a success came (and a batch
            // rides along with the next failure); a rate window counts them.
            let due = match self.inner.options.policy {
                TripPolicy::Consecutive { .. } => failing,
                TripPolicy::Rate { .. } => {
                    pending.successes >= shared::FLUSH_BATCH
                        || now.saturating_sub(pending.since) >= sh.flush_interval
                }
            };
            if due {
                let batch = take_pending(&mut core);
                // The mirror's count follows at once; Redis's within a trip.
                core.consecutive_failures = 0;
                drop(core);
                self.flush_in_background(Shared::report_args(&batch, None));
            }
            return Ok(None);
        }
        // A failure or a probe's outcome: one round trip, carrying the
        // successes counted before it.
        let mut batch = if core.pending.generation == permit.generation {
            take_pending(&mut core)
        } else {
            Batch {
                generation: permit.generation,
                ..Batch::default()
            }
        };
        drop(core);
        if failure {
            batch.failures += 1;
            batch.slow_failures += u32::from(slow);
        } else {
            batch.successes += 1;
            batch.slow_successes += u32::from(slow);
        }
        Err(RemoteReport {
            args: Shared::report_args(&batch, token),
            generation: permit.generation,
            failure,
            slow,
        })
    }

    /// Finishes a report with Redis's reply (counted here if there was none).
    fn shared_recorded(
        &self,
        remote: &RemoteReport,
        now: i64,
        reply: Result<Snapshot>,
    ) -> Option<BreakerState> {
        match reply {
            Ok(snap) => {
                let transition = {
                    let mut core = self.inner.core.lock();
                    self.follow(&mut core, &snap, now, false)
                };
                self.report(transition);
                snap.from.map(|_| snap.state)
            }
            Err(_) => {
                self.degrade();
                let mut transition = None;
                {
                    let mut core = self.inner.core.lock();
                    if remote.generation == core.generation {
                        self.advance(&mut core, remote.failure, remote.slow, now, &mut transition);
                    }
                }
                let to = transition.map(|t| t.1);
                self.report(transition);
                to
            }
        }
    }

    /// Sends a report without waiting for it; its reply updates the mirror.
    fn flush_in_background(&self, args: Vec<Vec<u8>>) {
        let me = self.clone();
        let started = crate::runtime::detach(async move {
            let Some(sh) = me.inner.shared.as_ref() else {
                return;
            };
            match sh.eval(&shared::REPORT, args).await {
                Ok(snap) => me.follow_now(&snap, false),
                Err(_) => me.degrade(),
            }
        });
        if started.is_err() {
            self.degrade();
        }
    }

    fn follow_now(&self, snap: &Snapshot, force: bool) {
        let now = self.inner.clock.now_micros();
        let transition = {
            let mut core = self.inner.core.lock();
            self.follow(&mut core, snap, now, force)
        };
        self.report(transition);
    }

    /// Re-reads the shared state from Redis (one round trip) and makes this
    /// process follow it; after an outage, this is how the breaker returns
    /// to the shared state. A no-op for a breaker that is not shared.
    pub fn sync(&self) -> Result<()> {
        let Some(sh) = self.inner.shared.as_ref() else {
            return Ok(());
        };
        let snap = sh.eval_blocking(&shared::SYNC, Vec::new())?;
        self.resume(&snap);
        Ok(())
    }

    /// [`CircuitBreaker::sync`] from async code.
    pub async fn sync_async(&self) -> Result<()> {
        let Some(sh) = self.inner.shared.as_ref() else {
            return Ok(());
        };
        let snap = sh.eval(&shared::SYNC, Vec::new()).await?;
        self.resume(&snap);
        Ok(())
    }

    /// Follows a fresh read, leaving the fallback if the breaker was in it.
    fn resume(&self, snap: &Snapshot) {
        let Some(sh) = self.inner.shared.as_ref() else {
            return;
        };
        let was_degraded = sh.degraded.swap(false, Ordering::AcqRel);
        self.follow_now(snap, was_degraded);
    }

    fn sync_in_background(&self) {
        let Some(sh) = self.inner.shared.as_ref() else {
            return;
        };
        if let Some(sub) = sh.subscription.lock().as_ref() {
            sub.keep_listening();
        }
        let generation = crate::runtime::generation();
        if sh.syncing.swap(generation, Ordering::AcqRel) == generation {
            return;
        }
        let me = self.clone();
        let started = crate::runtime::detach(async move {
            let outcome = me.sync_async().await;
            if let Some(sh) = me.inner.shared.as_ref() {
                sh.syncing.store(0, Ordering::Release);
            }
            if outcome.is_err() {
                me.degrade();
            }
        });
        if started.is_err() {
            sh.syncing.store(0, Ordering::Release);
        }
    }

    /// Redis could not answer: carry on alone, say so once, and retry Redis
    /// every `sync_interval` in the background until it answers.
    fn degrade(&self) {
        let Some(sh) = self.inner.shared.as_ref() else {
            return;
        };
        if sh.degraded.swap(true, Ordering::AcqRel) {
            self.keep_recovering(sh);
            return;
        }
        {
            let mut core = self.inner.core.lock();
            core.pending = Pending::default();
            core.hold_until = 0;
        }
        self.emit(Event::StoreUnavailable {
            component: "circuit_breaker",
            policy: crate::store::OutagePolicy::Local.name(),
        });
        self.keep_recovering(sh);
    }

    /// Runs the background retries of Redis unless this process already
    /// does (a forked child of a parent that was carrying on alone starts
    /// its own).
    fn keep_recovering(&self, sh: &Shared) {
        let generation = crate::runtime::generation();
        if sh.recovering.swap(generation, Ordering::AcqRel) == generation {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let every = Duration::from_micros(u64::try_from(sh.sync_interval).unwrap_or(1_000_000));
        let started = crate::runtime::detach(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let me = CircuitBreaker { inner };
                let Some(sh) = me.inner.shared.as_ref() else {
                    return;
                };
                if !sh.is_degraded() || me.sync_async().await.is_ok() {
                    sh.recovering.store(0, Ordering::Release);
                    return;
                }
            }
        });
        if started.is_err() {
            sh.recovering.store(0, Ordering::Release);
        }
    }

    /// Subscribes the mirror to the breaker's broadcasts.
    fn listen(&self) {
        let Some(sh) = self.inner.shared.as_ref() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let sub = sh.store().subscribe(
            sh.channel(),
            Arc::new(move |notice: Notice<'_>| {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let me = CircuitBreaker { inner };
                match notice {
                    Notice::Message(msg) => {
                        if let Some(snap) = Snapshot::from_message(msg) {
                            if me.live_shared().is_some() {
                                me.follow_now(&snap, false);
                            }
                        }
                    }
                    Notice::Resync => me.sync_in_background(),
                }
            }),
        );
        *sh.subscription.lock() = Some(sub);
    }

    fn trips(&self, core: &Core) -> bool {
        match self.inner.options.policy {
            TripPolicy::Consecutive { fail_max } => core.consecutive_failures >= fail_max,
            TripPolicy::Rate {
                failure_rate,
                slow_call_rate,
                minimum_calls,
                ..
            } => {
                let t = core.totals;
                if t.calls < minimum_calls || t.calls == 0 {
                    return false;
                }
                let calls = f64::from(t.calls);
                f64::from(t.failures) / calls >= failure_rate
                    || slow_call_rate.is_some_and(|r| f64::from(t.slow) / calls >= r)
            }
        }
    }

    /// For a caller that admits calls itself while the breaker is closed
    /// (the Node wrapper, which saves two calls into the addon per call):
    /// `Some(generation)` when a success reported now would change nothing
    /// but the counters (a local breaker, failures in a row as its policy,
    /// no call timing, closed, no failure in a row yet), else `None`. Such a
    /// caller counts its calls and successes itself and hands them over with
    /// [`CircuitBreaker::add_admitted`], and reports any other outcome with
    /// [`CircuitBreaker::record_admitted`].
    #[must_use]
    pub fn fast_generation(&self) -> Option<u64> {
        let o = &self.inner.options;
        if self.inner.shared.is_some()
            || !matches!(o.policy, TripPolicy::Consecutive { .. })
            || o.call_timeout.is_some()
            || o.slow_call_duration.is_some()
        {
            return None;
        }
        let core = self.inner.core.lock();
        (core.state == BreakerState::Closed && core.consecutive_failures == 0)
            .then_some(core.generation)
    }

    /// Adds calls admitted and successes counted by a caller on
    /// [`CircuitBreaker::fast_generation`] to the cumulative counters.
    pub fn add_admitted(&self, calls: u64, successes: u64) {
        if calls == 0 && successes == 0 {
            return;
        }
        let mut core = self.inner.core.lock();
        core.counters.calls = core.counters.calls.saturating_add(calls);
        core.counters.successes = core.counters.successes.saturating_add(successes);
    }

    /// The outcome of a call admitted by a caller on
    /// [`CircuitBreaker::fast_generation`] in generation `generation` (its
    /// call already counted by [`CircuitBreaker::add_admitted`]), counted as
    /// a permit of that generation would be; the state it moved the breaker
    /// to, if it did.
    pub fn record_admitted(&self, generation: u64, outcome: Outcome) -> Option<BreakerState> {
        let now = self.inner.clock.now_micros();
        let admitted = Permit {
            breaker: None,
            id: 0,
            generation,
            started: now,
            probe: false,
            shared: false,
        };
        let mut transition = None;
        {
            let mut core = self.inner.core.lock();
            self.count(&mut core, &admitted, outcome, now, &mut transition);
        }
        let to = transition.map(|t| t.1);
        self.report(transition);
        to
    }

    /// The state now (an open breaker whose open time is up reads
    /// half-open: the next call is a probe). Shared, this is the mirror's
    /// (no round trip).
    #[must_use]
    pub fn state(&self) -> BreakerState {
        let now = self.inner.clock.now_micros();
        let core = self.inner.core.lock();
        if core.state == BreakerState::Open && now >= core.open_until {
            BreakerState::HalfOpen
        } else {
            core.state
        }
    }

    /// A snapshot of the state and counters. Shared, the state, the window
    /// and the probes are the mirror's as of the last read or broadcast (no
    /// round trip: call [`CircuitBreaker::sync`] first for a fresh read);
    /// the cumulative counters are this process's.
    #[must_use]
    pub fn stats(&self) -> BreakerStats {
        let now = self.inner.clock.now_micros();
        let mode = match &self.inner.shared {
            None => "local",
            Some(sh) if sh.is_degraded() => "fallback",
            Some(_) => "shared",
        };
        let mut core = self.inner.core.lock();
        let core = &mut *core;
        let local = mode != "shared";
        if local {
            core.window.expire(now, &mut core.totals);
        }
        let open_over = core.state == BreakerState::Open && now >= core.open_until;
        let c = core.counters;
        BreakerStats {
            name: self.inner.options.name.clone(),
            state: if open_over {
                BreakerState::HalfOpen
            } else {
                core.state
            },
            generation: core.generation,
            retry_after: if core.state == BreakerState::Open && !open_over {
                core.open_until.saturating_sub(now) as f64 / 1e6
            } else {
                0.0
            },
            consecutive_failures: core.consecutive_failures,
            probe_successes: core.probe_successes,
            window_calls: core.totals.calls,
            window_failures: core.totals.failures,
            window_slow: core.totals.slow,
            probes: if local {
                core.probes.iter().filter(|p| p.1 > now).count() as u32
            } else {
                core.remote_probes
            },
            calls: c.calls,
            successes: c.successes,
            failures: c.failures,
            ignored: c.ignored,
            slow_calls: c.slow,
            timeouts: c.timeouts,
            rejected: c.rejected,
            stale: c.stale,
            opened: c.opened,
            mode,
        }
    }

    /// Opens the breaker now, for its open time (pybreaker's `open()`).
    pub fn open(&self) {
        self.force(BreakerState::Open);
    }

    /// Closes the breaker now, clearing its counts (pybreaker's `close()`).
    pub fn close(&self) {
        self.force(BreakerState::Closed);
    }

    /// Moves the breaker to half-open now (pybreaker's `half_open()`).
    pub fn half_open(&self) {
        self.force(BreakerState::HalfOpen);
    }

    fn force(&self, to: BreakerState) {
        if let Some(sh) = self.live_shared() {
            let code = match to {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::HalfOpen => 2,
            };
            match sh.eval_blocking(&shared::FORCE, vec![code.to_string().into_bytes()]) {
                Ok(snap) => return self.follow_now(&snap, false),
                Err(_) => self.degrade(),
            }
        }
        let now = self.inner.clock.now_micros();
        let transition = {
            let mut core = self.inner.core.lock();
            self.enter(&mut core, to, now)
        };
        self.report(transition);
    }
}

/// A shared outcome Redis must count: the script's arguments, and what to
/// count here if Redis does not answer.
struct RemoteReport {
    args: Vec<Vec<u8>>,
    generation: u64,
    failure: bool,
    slow: bool,
}

/// Whole seconds (rounded up) of a µs span.
fn whole_seconds(span: i64) -> u64 {
    u64::try_from(span).unwrap_or(0).div_ceil(1_000_000)
}

/// The pending successes as a batch to flush, leaving none.
fn take_pending(core: &mut Core) -> Batch {
    let p = std::mem::take(&mut core.pending);
    Batch {
        generation: p.generation,
        successes: p.successes,
        slow_successes: p.slow,
        failures: 0,
        slow_failures: 0,
    }
}

/// A rejected call: the breaker is open (or half-open with every probe
/// taken).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The breaker's name.
    pub name: String,
    /// Seconds until a call may be let through.
    pub retry_after: f64,
}

impl Rejection {
    /// The `CIRCUIT_OPEN` error for this rejection.
    #[must_use]
    pub fn into_error(self) -> Error {
        Error::new(
            ErrorKind::CircuitOpen,
            format!("circuit breaker {:?} is open", self.name),
        )
        .with_detail(Detail::RetryAfter(self.retry_after))
    }
}

/// The right to make one call. Report its outcome with [`Permit::record`]
/// (or [`Permit::success`] / [`Permit::failure`]); dropped unreported, it
/// counts as [`Outcome::Ignored`] (a cancelled call), which frees a probe
/// slot at once.
#[must_use = "report the call's outcome with record(), success() or failure()"]
pub struct Permit {
    breaker: Option<Arc<Inner>>,
    id: u64,
    generation: u64,
    started: i64,
    probe: bool,
    /// Taken from the shared state (not from this process's own).
    shared: bool,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("generation", &self.generation)
            .field("probe", &self.probe)
            .finish()
    }
}

impl Permit {
    /// Whether this call is a half-open probe.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The generation the permit was taken in.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reports how the call ended; the state it moved the breaker to, when
    /// this report changed it (pybreaker raises its trip error then).
    pub fn record(mut self, outcome: Outcome) -> Option<BreakerState> {
        let inner = self.breaker.take()?;
        CircuitBreaker { inner }.record(&self, outcome)
    }

    /// [`Permit::record`] for async code: when the breaker is shared and the
    /// outcome needs Redis (a failure, a probe's outcome), the round trip is
    /// awaited instead of blocking the thread.
    pub async fn record_async(mut self, outcome: Outcome) -> Option<BreakerState> {
        let inner = self.breaker.take()?;
        CircuitBreaker { inner }.record_async(&self, outcome).await
    }

    /// Reports at once when that needs no round trip (`Ok`: the state the
    /// report moved the breaker to, if any); `Err(self)` when it would be
    /// one (a shared breaker's failure or probe outcome): report it with
    /// [`Permit::record_async`].
    pub fn record_now(self, outcome: Outcome) -> std::result::Result<Option<BreakerState>, Self> {
        let remote = self.breaker.as_ref().is_some_and(|inner| {
            CircuitBreaker {
                inner: Arc::clone(inner),
            }
            .needs_redis(&self, outcome)
        });
        if remote {
            Err(self)
        } else {
            Ok(self.record(outcome))
        }
    }

    /// Reports a success.
    pub fn success(self) -> Option<BreakerState> {
        self.record(Outcome::Success)
    }

    /// Reports a failure.
    pub fn failure(self) -> Option<BreakerState> {
        self.record(Outcome::Failure)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(inner) = self.breaker.take() {
            CircuitBreaker { inner }.record(self, Outcome::Ignored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(state: BreakerState, left: i64, probes: u32, version: u64) -> Snapshot {
        Snapshot {
            granted: false,
            probe: false,
            wait: 0,
            state,
            generation: 2,
            left,
            consecutive: 3,
            probe_successes: 0,
            from: None,
            window: (0, 0, 0),
            probes,
            partial: false,
            version,
            epoch: 7,
            at: 0,
        }
    }

    #[test]
    fn an_older_read_answering_late_does_not_undo_a_newer_one() {
        let b = CircuitBreaker::new(BreakerOptions::default()).unwrap();
        let mut core = b.inner.core.lock();
        // The newer read (version 2): half-open, every probe taken.
        b.follow(&mut core, &read(BreakerState::HalfOpen, 0, 1, 2), 0, false);
        core.hold_until = 1_000_000;
        // The older one (before the probe was let through), read late.
        let late = b.follow(&mut core, &read(BreakerState::Open, 0, 0, 1), 0, false);
        assert_eq!(late, None);
        assert_eq!(core.state, BreakerState::HalfOpen);
        assert_eq!(core.hold_until, 1_000_000, "the mirror still refuses");
        // After an outage the first read is taken whatever its order.
        b.follow(&mut core, &read(BreakerState::Open, 5, 0, 1), 0, true);
        assert_eq!(core.state, BreakerState::Open);
        // A newer read is followed.
        b.follow(&mut core, &read(BreakerState::Closed, 0, 0, 3), 0, false);
        assert_eq!(core.state, BreakerState::Closed);
    }

    #[test]
    fn a_later_epoch_is_followed_whatever_the_generation() {
        let b = CircuitBreaker::new(BreakerOptions::default()).unwrap();
        let mut core = b.inner.core.lock();
        let ahead = Snapshot {
            generation: 40,
            version: 90,
            ..read(BreakerState::Open, 5, 0, 0)
        };
        b.follow(&mut core, &ahead, 0, false);
        assert_eq!((core.generation, core.epoch), (40, 7));
        // The hash was lost and made again: generation 0, a later epoch.
        let fresh = Snapshot {
            generation: 0,
            epoch: 8,
            ..read(BreakerState::Closed, 0, 0, 1)
        };
        assert!(b.follow(&mut core, &fresh, 0, false).is_some());
        assert_eq!(
            (core.state, core.generation, core.epoch),
            (BreakerState::Closed, 0, 8)
        );
        // A late reply about the lost state is not followed.
        assert_eq!(b.follow(&mut core, &ahead, 0, false), None);
        assert_eq!((core.generation, core.epoch), (0, 8));
    }

    #[test]
    fn a_reply_read_late_does_not_extend_the_open_time() {
        let b = CircuitBreaker::new(BreakerOptions::default()).unwrap();
        let mut core = b.inner.core.lock();
        // Sent at 10 s with 60 s of open time left, read at 70 s: open
        // until 70 s, not 130 s.
        let sent = Snapshot {
            at: 10_000_000,
            ..read(BreakerState::Open, 60_000_000, 0, 1)
        };
        b.follow(&mut core, &sent, 70_000_000, false);
        assert_eq!(core.open_until, 70_000_000);
        // A broadcast's open time counts from its arrival.
        let heard = Snapshot {
            partial: true,
            generation: 3,
            ..read(BreakerState::Open, 60_000_000, 0, 0)
        };
        b.follow(&mut core, &heard, 70_000_000, false);
        assert_eq!(core.open_until, 130_000_000);
    }
}
