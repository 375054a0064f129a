//! `CircuitBreaker` and `BreakerPermit` (core: `bastion_core::breaker`). The
//! state machine, the windows, the probe bound and the generations are the
//! core's; `bastion.breaker` adds the Python-side glue (decorator, `call`,
//! context managers, which exceptions count).

use crate::aio;
use crate::clock::{self, ManualClock};
use crate::errors::{IntoPyResult, InvalidArgumentError};
use crate::store::Store;
use crate::timespan::span;
use bastion_core::breaker::{
    BreakerOptions, BreakerState, CircuitBreaker as CoreBreaker, Outcome, Permit as CorePermit,
    TripPolicy, Window,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// The right to make one call through a breaker. Report how it ended with
/// ``success()``, ``failure()`` or ``ignore()`` (once; later reports do
/// nothing). Each returns the state the report moved the breaker to
/// (``"open"``, ``"half-open"``, ``"closed"``), or None when it did not change
/// it. A permit garbage-collected unreported counts as ignored.
#[pyclass(frozen, freelist = 64, module = "bastion._native")]
pub struct BreakerPermit {
    inner: Mutex<Option<CorePermit>>,
    probe: bool,
    /// From a breaker shared through Redis: a report may be a round trip.
    shared: bool,
}

impl BreakerPermit {
    fn report(&self, py: Python<'_>, outcome: Outcome) -> Option<&'static str> {
        let permit = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        off_gil(py, self.shared, move || permit.record(outcome)).map(BreakerState::as_str)
    }

    /// Reports from async code: an awaitable of the new state (or None).
    fn report_async<'py>(&self, py: Python<'py>, outcome: Outcome) -> PyResult<Bound<'py, PyAny>> {
        let permit = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        aio::into_awaitable(py, async move {
            Ok(match permit {
                Some(p) => p.record_async(outcome).await.map(BreakerState::as_str),
                None => None,
            })
        })
    }

    fn new(permit: CorePermit, shared: bool) -> Self {
        Self {
            probe: permit.is_probe(),
            inner: Mutex::new(Some(permit)),
            shared,
        }
    }
}

/// Runs `f` with the GIL released when the breaker is shared (the call may
/// be a Redis round trip), in place otherwise (a few hundred nanoseconds).
fn off_gil<T: Send>(py: Python<'_>, shared: bool, f: impl FnOnce() -> T + Send) -> T {
    if shared {
        py.detach(f)
    } else {
        f()
    }
}

#[pymethods]
impl BreakerPermit {
    /// The call succeeded (past ``call_timeout`` it still counts as a failure).
    fn success(&self, py: Python<'_>) -> Option<&'static str> {
        self.report(py, Outcome::Success)
    }

    /// The call failed.
    fn failure(&self, py: Python<'_>) -> Option<&'static str> {
        self.report(py, Outcome::Failure)
    }

    /// Neither: count nothing, release the permit (a cancelled call).
    fn ignore(&self, py: Python<'_>) -> Option<&'static str> {
        self.report(py, Outcome::Ignored)
    }

    /// ``success()`` as an awaitable (a shared breaker's report may be a
    /// round trip, awaited rather than made on the loop's thread).
    fn asuccess<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report_async(py, Outcome::Success)
    }

    /// ``failure()`` as an awaitable.
    fn afailure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report_async(py, Outcome::Failure)
    }

    /// Whether the call is a half-open probe.
    #[getter]
    fn is_probe(&self) -> bool {
        self.probe
    }

    fn __repr__(&self) -> String {
        let reported = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none();
        format!(
            "BreakerPermit(probe={}, reported={})",
            if self.probe { "True" } else { "False" },
            if reported { "True" } else { "False" }
        )
    }
}

/// A circuit breaker: see :class:`bastion.CircuitBreaker` for the
/// documented wrapper (decorator, ``call``, context managers).
#[pyclass(frozen, module = "bastion._native")]
pub struct CircuitBreaker {
    inner: CoreBreaker,
    /// `exc -> bool`: whether an exception counts as a failure (None: all do).
    is_failure: Option<Py<PyAny>>,
    /// `result -> bool`: whether a returned value counts as a failure.
    result_is_failure: Option<Py<PyAny>>,
    /// Shared through Redis.
    shared: bool,
}

impl CircuitBreaker {
    /// How an exception ends a call: cancellation counts as nothing, the
    /// rest as `is_failure` says (a failure, or a success).
    fn outcome_of(&self, py: Python<'_>, err: &PyErr) -> Outcome {
        self.error_outcome(err.value(py))
    }

    fn error_outcome(&self, v: &Bound<'_, PyAny>) -> Outcome {
        let py = v.py();
        if v.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>()
            || v.is_instance_of::<pyo3::exceptions::PySystemExit>()
            || v.is_instance_of::<pyo3::exceptions::PyGeneratorExit>()
            || cancelled_error(py).is_ok_and(|c| v.is_instance(c).unwrap_or(false))
        {
            return Outcome::Ignored;
        }
        match &self.is_failure {
            None => Outcome::Failure,
            // A classifier that raises counts the call as a failure.
            Some(f) => match f.bind(py).call1((v,)).and_then(|r| r.is_truthy()) {
                Ok(false) => Outcome::Success,
                _ => Outcome::Failure,
            },
        }
    }

    /// A permit, or `CircuitOpenError`; off the GIL when shared.
    fn permit(&self, py: Python<'_>) -> PyResult<CorePermit> {
        off_gil(py, self.shared, || self.inner.acquire()).py_err()
    }

    /// How a returned value ends a call (`result_is_failure`).
    fn result_outcome(&self, result: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        Ok(match &self.result_is_failure {
            Some(f) if f.bind(result.py()).call1((result,))?.is_truthy()? => Outcome::Failure,
            _ => Outcome::Success,
        })
    }
}

fn cancelled_error(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static CANCELLED: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    CANCELLED
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("asyncio")?.getattr("CancelledError")?.unbind())
        })
        .map(|c| c.bind(py))
}

fn window_arg(
    window_calls: Option<u32>,
    window_time: Option<&Bound<'_, PyAny>>,
) -> PyResult<Window> {
    match (window_calls, window_time.filter(|w| !w.is_none())) {
        (Some(_), Some(_)) => Err(InvalidArgumentError::new_err(
            "give window_calls or window_time, not both",
        )),
        (Some(n), None) => Ok(Window::Count(n)),
        (None, Some(t)) => Ok(Window::Time(span(t, "window_time")?)),
        (None, None) => Ok(Window::Count(100)),
    }
}

fn optional_span(
    value: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<std::time::Duration>> {
    value
        .filter(|v| !v.is_none())
        .map(|v| span(v, what))
        .transpose()
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (name = "default", *, fail_max = 5, reset_timeout = None, success_threshold = 1, failure_rate = None, window_calls = None, window_time = None, minimum_calls = 10, slow_call_rate = None, slow_call_duration = None, max_reset_timeout = None, backoff_multiplier = 2.0, half_open_max_calls = 1, probe_timeout = None, call_timeout = None, clock = None, on_event = None, is_failure = None, result_is_failure = None, store = None, sync_interval = None, flush_interval = None))]
    #[pyo3(
        text_signature = "(name='default', *, fail_max=5, reset_timeout=60, success_threshold=1, failure_rate=None, window_calls=None, window_time=None, minimum_calls=10, slow_call_rate=None, slow_call_duration=None, max_reset_timeout=None, backoff_multiplier=2.0, half_open_max_calls=1, probe_timeout=None, call_timeout=None, clock=None, on_event=None, is_failure=None, result_is_failure=None, store=None, sync_interval=1, flush_interval=0.1)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        fail_max: u32,
        reset_timeout: Option<&Bound<'_, PyAny>>,
        success_threshold: u32,
        failure_rate: Option<f64>,
        window_calls: Option<u32>,
        window_time: Option<&Bound<'_, PyAny>>,
        minimum_calls: u32,
        slow_call_rate: Option<f64>,
        slow_call_duration: Option<&Bound<'_, PyAny>>,
        max_reset_timeout: Option<&Bound<'_, PyAny>>,
        backoff_multiplier: f64,
        half_open_max_calls: u32,
        probe_timeout: Option<&Bound<'_, PyAny>>,
        call_timeout: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, ManualClock>>,
        on_event: Option<Py<PyAny>>,
        is_failure: Option<Py<PyAny>>,
        result_is_failure: Option<Py<PyAny>>,
        store: Option<&Bound<'_, Store>>,
        sync_interval: Option<&Bound<'_, PyAny>>,
        flush_interval: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let defaults = BreakerOptions::default();
        let policy = match (failure_rate, slow_call_rate) {
            (None, None) => {
                if window_calls.is_some() || window_time.is_some_and(|w| !w.is_none()) {
                    return Err(InvalidArgumentError::new_err(
                        "a window needs failure_rate (or slow_call_rate)",
                    ));
                }
                TripPolicy::Consecutive { fail_max }
            }
            (rate, slow) => TripPolicy::Rate {
                window: window_arg(window_calls, window_time)?,
                // Only the slow-call rate given: failures alone never trip.
                failure_rate: rate.unwrap_or(1.0),
                slow_call_rate: slow,
                minimum_calls,
            },
        };
        let options = BreakerOptions {
            name: name.to_owned(),
            policy,
            reset_timeout: optional_span(reset_timeout, "reset_timeout")?
                .unwrap_or(defaults.reset_timeout),
            max_reset_timeout: optional_span(max_reset_timeout, "max_reset_timeout")?,
            backoff_multiplier,
            success_threshold,
            half_open_max_calls,
            probe_timeout: optional_span(probe_timeout, "probe_timeout")?,
            call_timeout: optional_span(call_timeout, "call_timeout")?,
            slow_call_duration: optional_span(slow_call_duration, "slow_call_duration")?,
            sync_interval: optional_span(sync_interval, "sync_interval")?
                .unwrap_or(defaults.sync_interval),
            flush_interval: optional_span(flush_interval, "flush_interval")?
                .unwrap_or(defaults.flush_interval),
        };
        let (inner, shared) = match store {
            None => (
                CoreBreaker::with_clock(options, clock::resolve(clock)).py_err()?,
                false,
            ),
            Some(store) => {
                if clock.is_some() {
                    return Err(InvalidArgumentError::new_err(
                        "a breaker on a store reads the store's clock: give the clock to the Store",
                    ));
                }
                let store = store.get().inner.clone();
                let shared = store.as_redis().is_some();
                // Reads the shared state once: up to the store's timeout.
                let made = off_gil(py, shared, move || CoreBreaker::with_store(options, &store));
                (made.py_err()?, shared)
            }
        };
        crate::events::attach(inner.listeners(), on_event);
        Ok(Self {
            inner,
            is_failure,
            result_is_failure,
            shared,
        })
    }

    /// Calls ``fn(*args, **kwargs)`` through the breaker: raises
    /// ``CircuitOpenError`` without calling it when rejected; an exception
    /// counts as ``is_failure`` says (cancellation as nothing), a result as
    /// ``result_is_failure`` says.
    #[pyo3(signature = (fn_, /, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        fn_: &Bound<'_, PyAny>,
        args: &Bound<'_, pyo3::types::PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let permit = self.permit(py)?;
        match fn_.call(args, kwargs) {
            Ok(result) => {
                let outcome = self.result_outcome(&result)?;
                off_gil(py, self.shared, move || permit.record(outcome));
                Ok(result.unbind())
            }
            Err(err) => {
                let outcome = self.outcome_of(py, &err);
                off_gil(py, self.shared, move || permit.record(outcome));
                Err(err)
            }
        }
    }

    /// Reports ``permit``'s call as ended by ``exc``, counted as ``call``
    /// counts it (cancellation as nothing, the rest as ``is_failure`` says);
    /// returns the state it moved the breaker to, or None.
    fn report_error(&self, permit: &BreakerPermit, exc: &Bound<'_, PyAny>) -> Option<&'static str> {
        permit.report(exc.py(), self.error_outcome(exc))
    }

    /// Reports ``permit``'s call as having returned ``result`` (a failure
    /// when ``result_is_failure`` says so).
    fn report_result(
        &self,
        permit: &BreakerPermit,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<Option<&'static str>> {
        Ok(permit.report(result.py(), self.result_outcome(result)?))
    }

    /// ``acquire()`` as an awaitable: a breaker shared through Redis awaits
    /// its round trip (at the half-open edge) instead of blocking the loop.
    fn acquire_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.inner.clone();
        let shared = self.shared;
        aio::into_awaitable_with(py, async move { b.acquire_async().await }, move |py, p| {
            Ok(Bound::new(py, BreakerPermit::new(p, shared))?.into_any())
        })
    }

    /// ``report_error`` as an awaitable (a failure report of a shared
    /// breaker is a round trip).
    fn areport_error<'py>(
        &self,
        permit: &BreakerPermit,
        exc: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        permit.report_async(exc.py(), self.error_outcome(exc))
    }

    /// ``report_result`` as an awaitable.
    fn areport_result<'py>(
        &self,
        permit: &BreakerPermit,
        result: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        permit.report_async(result.py(), self.result_outcome(result)?)
    }

    /// Whether the state is shared through Redis.
    #[getter]
    fn shared(&self) -> bool {
        self.shared
    }

    /// A permit for one call; raises ``CircuitOpenError`` (with
    /// ``retry_after``) when the breaker rejects it.
    fn acquire(&self, py: Python<'_>) -> PyResult<BreakerPermit> {
        Ok(BreakerPermit::new(self.permit(py)?, self.shared))
    }

    /// A permit for one call, or None when the breaker rejects it (no
    /// exception built: the cheap way to ask).
    fn try_acquire(&self, py: Python<'_>) -> Option<BreakerPermit> {
        off_gil(py, self.shared, || self.inner.try_acquire())
            .ok()
            .map(|permit| BreakerPermit::new(permit, self.shared))
    }

    /// Shared through Redis: reads the shared state now (one round trip)
    /// and follows it, returning to it after an outage. Raises
    /// ``StoreUnavailableError`` when Redis does not answer in time. Does
    /// nothing for a breaker that is not shared.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        off_gil(py, self.shared, || self.inner.sync()).py_err()
    }

    /// ``"closed"``, ``"open"`` or ``"half-open"`` (an open breaker whose
    /// open time is up reads ``"half-open"``: the next call is a probe).
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    /// ``call_timeout`` in seconds, or None.
    #[getter]
    fn call_timeout(&self) -> Option<f64> {
        self.inner.options().call_timeout.map(|d| d.as_secs_f64())
    }

    /// The breaker's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.options().name.clone()
    }

    /// A snapshot for health checks and metrics: ``state``, ``retry_after``,
    /// ``generation``, ``consecutive_failures``, ``probe_successes``,
    /// ``window_calls``, ``window_failures``, ``window_slow``, ``probes`` and
    /// the cumulative ``calls``, ``successes``, ``failures``, ``ignored``,
    /// ``slow_calls``, ``timeouts``, ``rejected``, ``stale``, ``opened``, and
    /// ``mode``: ``"local"``, ``"shared"`` (Redis; state and window as of the
    /// last read or broadcast, counters this process's) or ``"fallback"``
    /// (shared, Redis unreachable: carrying on alone).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("name", s.name)?;
        d.set_item("state", s.state.as_str())?;
        d.set_item("retry_after", s.retry_after)?;
        d.set_item("generation", s.generation)?;
        d.set_item("consecutive_failures", s.consecutive_failures)?;
        d.set_item("probe_successes", s.probe_successes)?;
        d.set_item("window_calls", s.window_calls)?;
        d.set_item("window_failures", s.window_failures)?;
        d.set_item("window_slow", s.window_slow)?;
        d.set_item("probes", s.probes)?;
        d.set_item("calls", s.calls)?;
        d.set_item("successes", s.successes)?;
        d.set_item("failures", s.failures)?;
        d.set_item("ignored", s.ignored)?;
        d.set_item("slow_calls", s.slow_calls)?;
        d.set_item("timeouts", s.timeouts)?;
        d.set_item("rejected", s.rejected)?;
        d.set_item("stale", s.stale)?;
        d.set_item("opened", s.opened)?;
        d.set_item("mode", s.mode)?;
        Ok(d)
    }

    /// Opens the breaker now, for its open time.
    fn open(&self, py: Python<'_>) {
        off_gil(py, self.shared, || self.inner.open());
    }

    /// Closes the breaker now, clearing its counts.
    fn close(&self, py: Python<'_>) {
        off_gil(py, self.shared, || self.inner.close());
    }

    /// Moves the breaker to half-open now: the next call is a probe.
    fn half_open(&self, py: Python<'_>) {
        off_gil(py, self.shared, || self.inner.half_open());
    }

    fn __repr__(&self) -> String {
        format!(
            "CircuitBreaker(name={:?}, state={:?})",
            self.inner.options().name,
            self.inner.state().as_str()
        )
    }
}
