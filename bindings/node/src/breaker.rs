//! `CircuitBreaker` (core `breaker` module): the native half of
//! `node/lib/breaker.js`. Permits live here, keyed by a number the JavaScript
//! side holds (no object per call): `acquire()` returns a permit id (or
//! throws `CIRCUIT_OPEN` with `retryAfter`), `tryAcquire()` returns 0 when
//! rejected, and `record(id, outcome)` reports it once. Every rule is the
//! core's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bastion_core::breaker::{
    BreakerOptions as CoreOptions, BreakerState, CircuitBreaker as CoreBreaker, Outcome,
    Permit as CorePermit, TripPolicy, Window,
};
use bastion_core::events::Event;
use napi::bindgen_prelude::{
    ClassInstance, Either, Function, FunctionRef, PromiseRaw, Unknown, ValueType,
};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, invalid_argument, options_arg, Result};
use crate::store::{clock_arg, Store};
use crate::timespan::setting as span;

/// How a `CircuitBreaker` behaves (durations in seconds, or text such as
/// `"30s"`).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct BreakerOptions {
    /// The breaker's name (in events and errors; default `"default"`).
    pub name: Option<String>,
    /// Failures in a row that open it (default 5), unless `failureRate` is given.
    pub fail_max: Option<f64>,
    /// How long it stays open (default 60 s).
    #[napi(ts_type = "number | string")]
    pub reset_timeout: Option<Either<f64, String>>,
    /// Probe successes that close it (default 1).
    pub success_threshold: Option<f64>,
    /// Failures / calls over the window at which it opens (0 < r <= 1).
    pub failure_rate: Option<f64>,
    /// The window: the last N calls (default 100 with a rate).
    pub window_calls: Option<f64>,
    /// The window: the calls of the last span.
    #[napi(ts_type = "number | string")]
    pub window_time: Option<Either<f64, String>>,
    /// Calls the window must hold before a rate opens it (default 10).
    pub minimum_calls: Option<f64>,
    /// Slow calls / calls at which it opens (needs `slowCallDuration`).
    pub slow_call_rate: Option<f64>,
    /// A call at least this long is slow.
    #[napi(ts_type = "number | string")]
    pub slow_call_duration: Option<Either<f64, String>>,
    /// With backoff: the cap on the open time.
    #[napi(ts_type = "number | string")]
    pub max_reset_timeout: Option<Either<f64, String>>,
    /// The growth of the open time with backoff (default 2).
    pub backoff_multiplier: Option<f64>,
    /// Probes at once in half-open (default 1).
    pub half_open_max_calls: Option<f64>,
    /// A probe not reported within this is released (default: `callTimeout`,
    /// else `resetTimeout`).
    #[napi(ts_type = "number | string")]
    pub probe_timeout: Option<Either<f64, String>>,
    /// A call taking longer counts as a failure (and `call` rejects it with
    /// `ETIMEDOUT`).
    #[napi(ts_type = "number | string")]
    pub call_timeout: Option<Either<f64, String>>,
    /// Shared through Redis: how often the shared state is re-read even
    /// without a broadcast, and Redis retried during an outage (default 1 s).
    #[napi(ts_type = "number | string")]
    pub sync_interval: Option<Either<f64, String>>,
    /// Shared through Redis: the longest a success counted locally waits
    /// before it is flushed (default 0.1 s).
    #[napi(ts_type = "number | string")]
    pub flush_interval: Option<Either<f64, String>>,
}

fn count(v: f64, name: &str) -> bastion_core::Result<u32> {
    Ok(errors::whole(v, name, f64::from(u32::MAX))? as u32)
}

fn optional(
    v: Option<Either<f64, String>>,
    name: &str,
) -> bastion_core::Result<Option<std::time::Duration>> {
    v.map(|v| span(v, name)).transpose()
}

fn core_options(o: BreakerOptions) -> bastion_core::Result<CoreOptions> {
    let d = CoreOptions::default();
    let policy = match (o.failure_rate, o.slow_call_rate) {
        (None, None) => {
            if o.window_calls.is_some() || o.window_time.is_some() {
                return Err(invalid_argument(
                    "a window needs failureRate (or slowCallRate)",
                ));
            }
            TripPolicy::Consecutive {
                fail_max: o.fail_max.map_or(Ok(5), |v| count(v, "failMax"))?,
            }
        }
        (rate, slow) => TripPolicy::Rate {
            window: match (o.window_calls, o.window_time) {
                (Some(_), Some(_)) => {
                    return Err(invalid_argument("give windowCalls or windowTime, not both"))
                }
                (Some(n), None) => Window::Count(count(n, "windowCalls")?),
                (None, Some(t)) => Window::Time(span(t, "windowTime")?),
                (None, None) => Window::Count(100),
            },
            failure_rate: rate.unwrap_or(1.0),
            slow_call_rate: slow,
            minimum_calls: o
                .minimum_calls
                .map_or(Ok(10), |v| count(v, "minimumCalls"))?,
        },
    };
    Ok(CoreOptions {
        name: o.name.unwrap_or(d.name),
        policy,
        reset_timeout: optional(o.reset_timeout, "resetTimeout")?.unwrap_or(d.reset_timeout),
        max_reset_timeout: optional(o.max_reset_timeout, "maxResetTimeout")?,
        backoff_multiplier: o.backoff_multiplier.unwrap_or(d.backoff_multiplier),
        success_threshold: o
            .success_threshold
            .map_or(Ok(d.success_threshold), |v| count(v, "successThreshold"))?,
        half_open_max_calls: o
            .half_open_max_calls
            .map_or(Ok(d.half_open_max_calls), |v| count(v, "halfOpenMaxCalls"))?,
        probe_timeout: optional(o.probe_timeout, "probeTimeout")?,
        call_timeout: optional(o.call_timeout, "callTimeout")?,
        slow_call_duration: optional(o.slow_call_duration, "slowCallDuration")?,
        sync_interval: optional(o.sync_interval, "syncInterval")?.unwrap_or(d.sync_interval),
        flush_interval: optional(o.flush_interval, "flushInterval")?.unwrap_or(d.flush_interval),
    })
}

/// A snapshot of a breaker for health checks and metrics.
#[napi(object)]
pub struct BreakerStats {
    pub name: String,
    /// `"closed"`, `"open"` or `"half-open"`.
    pub state: String,
    /// Seconds until an open breaker lets a probe through (0 otherwise).
    pub retry_after: f64,
    pub generation: f64,
    pub consecutive_failures: u32,
    pub probe_successes: u32,
    pub window_calls: u32,
    pub window_failures: u32,
    pub window_slow: u32,
    pub probes: u32,
    pub calls: f64,
    pub successes: f64,
    pub failures: f64,
    pub ignored: f64,
    pub slow_calls: f64,
    pub timeouts: f64,
    pub rejected: f64,
    pub stale: f64,
    pub opened: f64,
    /// `"local"`, `"shared"` (Redis; state and window as of the last read or
    /// broadcast, counters this process's) or `"fallback"` (shared, Redis
    /// unreachable: carrying on alone).
    pub mode: String,
}

/// The permits handed out and not yet reported.
#[derive(Default)]
struct Permits {
    next: u64,
    open: HashMap<u64, CorePermit>,
}

type EventFn = FunctionRef<HashMap<String, String>, ()>;

/// The native circuit breaker (use `CircuitBreaker` from the package, which
/// adds `call`, `fire`, fallbacks and events).
///
/// Transitions caused by calls made on the JavaScript thread are delivered
/// synchronously, before the call that caused them returns: the core's
/// listener queues them and the method hands them to `onEvent` on its way
/// out. Shared through Redis, a transition another process made arrives by
/// broadcast on another thread and is delivered on a later tick.
#[napi(js_name = "NativeCircuitBreaker")]
pub struct NativeCircuitBreaker {
    inner: CoreBreaker,
    permits: Arc<Mutex<Permits>>,
    events: Arc<Mutex<Vec<Event>>>,
    on_event: Option<EventFn>,
}

impl NativeCircuitBreaker {
    /// Delivers the queued transition events to `onEvent`.
    fn flush(&self, env: &Env) {
        let Some(f) = &self.on_event else { return };
        let queued = {
            let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
            if q.is_empty() {
                return;
            }
            std::mem::take(&mut *q)
        };
        let Ok(f) = f.borrow_back(env) else { return };
        for e in &queued {
            // `node/lib/breaker.js` never lets a listener's exception out of
            // `onEvent` (it rethrows it on a later tick); should one escape,
            // the rest are dropped rather than called with it pending.
            if f.call(crate::events::event_fields(e)).is_err() {
                break;
            }
        }
    }

    fn keep(&self, permit: CorePermit) -> f64 {
        keep(&self.permits, permit)
    }

    /// Hands the calls and successes counted on the JavaScript side to the
    /// core (negative or NaN counts as 0).
    fn hand_over(&self, calls: f64, successes: f64) {
        self.inner
            .add_admitted(calls.max(0.0) as u64, successes.max(0.0) as u64);
    }

    fn take(&self, id: f64) -> Option<CorePermit> {
        self.permits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .remove(&(id as u64))
    }
}

/// Keeps a permit under a new id.
fn keep(permits: &Mutex<Permits>, permit: CorePermit) -> f64 {
    let mut p = permits.lock().unwrap_or_else(|e| e.into_inner());
    p.next += 1;
    let id = p.next;
    p.open.insert(id, permit);
    id as f64
}

fn outcome_of(code: u32) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        _ => Outcome::Ignored,
    }
}

/// 0 no change, 1 open, 2 half-open, 3 closed.
fn state_code(to: Option<BreakerState>) -> u32 {
    match to {
        None => 0,
        Some(BreakerState::Open) => 1,
        Some(BreakerState::HalfOpen) => 2,
        Some(BreakerState::Closed) => 3,
    }
}

#[napi]
impl NativeCircuitBreaker {
    /// A breaker with `options`, reading time from `clock` (a `ManualClock`;
    /// default the system clock); `onEvent` receives each transition
    /// (`circuit_open`, `circuit_half_open`, `circuit_closed`).
    #[napi(
        constructor,
        ts_args_type = "options?: BreakerOptions | null, clock?: ManualClock | null, onEvent?: ((event: Record<string, string>) => void) | null, store?: Store | null"
    )]
    pub fn new(
        env: &Env,
        options: Unknown,
        clock: Unknown,
        on_event: Unknown,
        store: Unknown,
    ) -> Result<Self> {
        errors::guard(|| {
            let o: BreakerOptions =
                options_arg(options, "options", "an object of breaker options")?
                    .unwrap_or_default();
            let clock = clock_arg(clock)?;
            let options = core_options(o)?;
            let store = match store.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => None,
                _ => {
                    let s: ClassInstance<Store> = arg(store, "store", "a Store")?;
                    Some(s.inner.clone())
                }
            };
            let inner =
                match (store, clock) {
                    (Some(_), Some(_)) => return Err(invalid_argument(
                        "a breaker on a store reads the store's clock: give the clock to the Store",
                    )),
                    // Reads the shared state once (at most the store's timeout).
                    (Some(store), None) => CoreBreaker::with_store(options, &store)?,
                    (None, Some(c)) => CoreBreaker::with_clock(options, c)?,
                    (None, None) => CoreBreaker::new(options)?,
                };
            let on_event_value = on_event;
            let on_event = match on_event.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => None,
                ValueType::Function => {
                    let f: Function<HashMap<String, String>, ()> =
                        arg(on_event, "onEvent", "a function")?;
                    Some(f.create_ref().map_err(errors::from_napi)?)
                }
                _ => return Err(invalid_argument("onEvent must be a function")),
            };
            let events: Arc<Mutex<Vec<Event>>> = Arc::default();
            if on_event.is_some() {
                // Events raised on another thread (a broadcast of another
                // process's transition) go through a threadsafe function.
                let elsewhere = if inner.stats().mode == "local" {
                    None
                } else {
                    let f: Function<HashMap<String, String>, ()> =
                        arg(on_event_value, "onEvent", "a function")?;
                    Some(
                        f.build_threadsafe_function()
                            .weak::<true>()
                            .build()
                            .map_err(errors::from_napi)?,
                    )
                };
                let js_thread = std::thread::current().id();
                let q = Arc::clone(&events);
                inner
                    .listeners()
                    .add(Arc::new(move |e: &Event| match &elsewhere {
                        Some(tsfn) if std::thread::current().id() != js_thread => {
                            tsfn.call(
                                crate::events::event_fields(e),
                                ThreadsafeFunctionCallMode::NonBlocking,
                            );
                        }
                        _ => q.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone()),
                    }));
            }
            Ok(Self {
                inner,
                permits: Arc::default(),
                events,
                on_event,
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// A permit id for one call; throws `CIRCUIT_OPEN` (with `retryAfter`)
    /// when rejected.
    #[napi]
    pub fn acquire(&self, env: &Env) -> Result<f64> {
        let r = errors::guard(|| self.inner.acquire().map(|p| self.keep(p)));
        self.flush(env);
        r.map_err(|e| errors::to_js(env, e))
    }

    /// A permit id (1 or more) for one call; when rejected, no error is
    /// built and the answer is `-1 - retryAfter` (seconds), at most -1.
    #[napi]
    pub fn try_acquire(&self, env: &Env) -> Result<f64> {
        let id = errors::guarded(env, || match self.inner.try_acquire() {
            Ok(p) => self.keep(p),
            Err(r) => -1.0 - r.retry_after,
        });
        self.flush(env);
        id
    }

    /// Shared through Redis: `tryAcquire` when the mirror can answer (a
    /// permit id, or `-1 - retryAfter`), else 0: ask with `tryAcquireAsync`.
    #[napi]
    pub fn try_acquire_now(&self, env: &Env) -> Result<f64> {
        let id = errors::guarded(env, || match self.inner.try_acquire_now() {
            Some(Ok(p)) => self.keep(p),
            Some(Err(r)) => -1.0 - r.retry_after,
            None => 0.0,
        });
        self.flush(env);
        id
    }

    /// `tryAcquire` awaiting the round trip a shared breaker needs at its
    /// half-open edge (never blocking the JavaScript thread).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn try_acquire_async<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, f64>> {
        let b = self.inner.clone();
        let permits = Arc::clone(&self.permits);
        errors::promise(
            env,
            async move {
                Ok(match b.try_acquire_async().await {
                    Ok(p) => keep(&permits, p),
                    Err(r) => -1.0 - r.retry_after,
                })
            },
            |_, v| Ok(v),
        )
    }

    /// Shared through Redis: `record` when it needs no round trip (0 no
    /// change, 1 open, 2 half-open, 3 closed), else 4: the permit is kept;
    /// report it with `recordAsync`.
    #[napi]
    pub fn record_now(&self, env: &Env, id: f64, outcome: u32) -> Result<u32> {
        let Some(permit) = self.take(id) else {
            return Ok(0);
        };
        let code = errors::guarded(env, || match permit.record_now(outcome_of(outcome)) {
            Ok(to) => state_code(to),
            Err(permit) => {
                self.permits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .open
                    .insert(id as u64, permit);
                4
            }
        });
        self.flush(env);
        code
    }

    /// `record` awaiting a shared breaker's round trip: resolves to the
    /// state the report moved the breaker to, or null.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn record_async<'env>(
        &self,
        env: &'env Env,
        id: f64,
        outcome: u32,
    ) -> Result<PromiseRaw<'env, Option<&'static str>>> {
        let permit = self.take(id);
        let outcome = outcome_of(outcome);
        errors::promise(
            env,
            async move {
                Ok(match permit {
                    Some(p) => p.record_async(outcome).await.map(BreakerState::as_str),
                    None => None,
                })
            },
            |_, v| Ok(v),
        )
    }

    /// Whether permit `id` is a half-open probe.
    #[napi]
    pub fn is_probe(&self, env: &Env, id: f64) -> Result<bool> {
        errors::guarded(env, || {
            let p = self.permits.lock().unwrap_or_else(|e| e.into_inner());
            p.open.get(&(id as u64)).is_some_and(CorePermit::is_probe)
        })
    }

    /// Reports permit `id` (0 success, 1 failure, 2 neither); returns the
    /// state the report moved the breaker to, or null. Reporting an id again
    /// (or an unknown one) does nothing.
    #[napi]
    pub fn record(&self, env: &Env, id: f64, outcome: u32) -> Result<Option<&'static str>> {
        let Some(permit) = self.take(id) else {
            return Ok(None);
        };
        let to = errors::guarded(env, || {
            permit.record(outcome_of(outcome)).map(BreakerState::as_str)
        });
        self.flush(env);
        to
    }

    /// The generation in which the JavaScript side may admit calls and count
    /// successes by itself (a local breaker on failures in a row, no call
    /// timing, closed, no failure in a row yet), or -1 when every call must
    /// come here. It can change only in a call into this object.
    #[napi(getter)]
    pub fn fast_generation(&self, env: &Env) -> Result<f64> {
        errors::guarded(env, || {
            self.inner.fast_generation().map_or(-1.0, |g| g as f64)
        })
    }

    /// Hands over the calls admitted and the successes counted on the
    /// JavaScript side.
    #[napi]
    pub fn add_admitted(&self, env: &Env, calls: f64, successes: f64) -> Result<()> {
        errors::guarded(env, || self.hand_over(calls, successes))
    }

    /// Reports a call the JavaScript side admitted in `generation` (0
    /// success, 1 failure, 2 neither), with the calls and successes counted
    /// there since the last hand-over; returns the state it moved the breaker
    /// to, or null.
    #[napi]
    pub fn record_admitted(
        &self,
        env: &Env,
        generation: f64,
        outcome: u32,
        calls: f64,
        successes: f64,
    ) -> Result<Option<&'static str>> {
        let outcome = outcome_of(outcome);
        let to = errors::guarded(env, || {
            self.hand_over(calls, successes);
            self.inner
                .record_admitted(generation.max(0.0) as u64, outcome)
                .map(BreakerState::as_str)
        });
        self.flush(env);
        to
    }

    /// `"closed"`, `"open"` or `"half-open"`.
    #[napi(getter)]
    pub fn state(&self, env: &Env) -> Result<&'static str> {
        errors::guarded(env, || self.inner.state().as_str())
    }

    /// The breaker's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.options().name.clone()
    }

    /// Whether the state is shared through Redis.
    #[napi(getter)]
    pub fn shared(&self, env: &Env) -> Result<bool> {
        errors::guarded(env, || self.inner.stats().mode != "local")
    }

    /// The message of this breaker's `CIRCUIT_OPEN` error (the JavaScript
    /// side builds rejections itself, with the core's words).
    #[napi(getter)]
    pub fn open_message(&self) -> String {
        bastion_core::breaker::Rejection {
            name: self.inner.options().name.clone(),
            retry_after: 0.0,
        }
        .into_error()
        .message()
        .to_owned()
    }

    /// `callTimeout` in milliseconds, or null.
    #[napi(getter)]
    pub fn call_timeout_ms(&self) -> Option<f64> {
        self.inner
            .options()
            .call_timeout
            .map(|d| d.as_secs_f64() * 1000.0)
    }

    /// A snapshot of the state and counters.
    #[napi]
    pub fn stats(&self, env: &Env) -> Result<BreakerStats> {
        let s = errors::guarded(env, || self.inner.stats())?;
        Ok(BreakerStats {
            name: s.name,
            state: s.state.as_str().to_owned(),
            retry_after: s.retry_after,
            generation: s.generation as f64,
            consecutive_failures: s.consecutive_failures,
            probe_successes: s.probe_successes,
            window_calls: s.window_calls,
            window_failures: s.window_failures,
            window_slow: s.window_slow,
            probes: s.probes,
            calls: s.calls as f64,
            successes: s.successes as f64,
            failures: s.failures as f64,
            ignored: s.ignored as f64,
            slow_calls: s.slow_calls as f64,
            timeouts: s.timeouts as f64,
            rejected: s.rejected as f64,
            stale: s.stale as f64,
            opened: s.opened as f64,
            mode: s.mode.to_owned(),
        })
    }

    /// Shared through Redis: resolves once the shared state has been read
    /// and this process follows it (also after an outage); rejects with
    /// `STORE_UNAVAILABLE` when Redis does not answer in time. Resolves at
    /// once for a breaker that is not shared.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn sync<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let b = self.inner.clone();
        errors::promise(env, async move { b.sync_async().await }, |_, ()| Ok(()))
    }

    /// Opens the breaker now, for its open time.
    #[napi]
    pub fn open(&self, env: &Env) -> Result<()> {
        let r = errors::guarded(env, || self.inner.open());
        self.flush(env);
        r
    }

    /// Closes the breaker now, clearing its counts.
    #[napi]
    pub fn close(&self, env: &Env) -> Result<()> {
        let r = errors::guarded(env, || self.inner.close());
        self.flush(env);
        r
    }

    /// Moves the breaker to half-open now: the next call is a probe.
    #[napi]
    pub fn half_open(&self, env: &Env) -> Result<()> {
        let r = errors::guarded(env, || self.inner.half_open());
        self.flush(env);
        r
    }
}
