//! `RateLimiter`, `Decision`, `LimitStatus`.

use crate::aio;
use crate::errors::{self, IntoPyResult};
use crate::store::{blocking, Store};
use bastion_core::ratelimit::{
    parse_rates, Algorithm, Decision as CoreDecision, LimitStatus as CoreStatus, LimiterOptions,
    Rate, RateLimiter as CoreLimiter,
};
use bastion_core::store::OutagePolicy;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::sync::Arc;

/// What one limit of a limiter said about a request.
#[pyclass(frozen, module = "bastion._native")]
pub struct LimitStatus {
    inner: CoreStatus,
}

#[pymethods]
impl LimitStatus {
    /// The limit, canonical (``"5/15m"``, ``"100/hour"``).
    #[getter]
    fn rate(&self) -> String {
        self.inner.rate.to_string()
    }

    /// Whether this limit alone would admit the request.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed
    }

    /// The limit's count.
    #[getter]
    fn limit(&self) -> u64 {
        self.inner.rate.limit
    }

    /// The limit's window in seconds.
    #[getter]
    fn window(&self) -> f64 {
        self.inner.rate.window_ms as f64 / 1000.0
    }

    /// Units left in this limit.
    #[getter]
    fn remaining(&self) -> u64 {
        self.inner.remaining
    }

    /// Seconds until this limit is back to full capacity.
    #[getter]
    fn reset_after(&self) -> f64 {
        self.inner.reset_after
    }

    /// Seconds until this limit would admit the request (0 when it does).
    #[getter]
    fn retry_after(&self) -> f64 {
        self.inner.retry_after
    }

    fn __repr__(&self) -> String {
        format!(
            "LimitStatus(rate={:?}, allowed={}, remaining={})",
            self.inner.rate.to_string(),
            py_bool(self.inner.allowed),
            self.inner.remaining
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The answer to a rate-limit check. True when the request is admitted.
///
/// ``limit``, ``remaining``, ``reset_after`` and ``retry_after`` describe the
/// binding limit: the denying one with the longest wait when the request is
/// denied, else the one with the fewest units left. ``limits`` has every
/// limit's own answer; ``headers()`` renders the rate-limit response headers.
#[pyclass(frozen, freelist = 256, module = "bastion._native")]
pub struct Decision {
    inner: CoreDecision,
}

#[pymethods]
impl Decision {
    /// Whether the request is admitted (every limit admitted and was charged).
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed
    }

    /// The binding limit's count.
    #[getter]
    fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Units left in the binding limit.
    #[getter]
    fn remaining(&self) -> u64 {
        self.inner.remaining
    }

    /// Seconds until the binding limit is back to full capacity.
    #[getter]
    fn reset_after(&self) -> f64 {
        self.inner.reset_after
    }

    /// Seconds until the request could be admitted (0 when it is).
    #[getter]
    fn retry_after(&self) -> f64 {
        self.inner.retry_after
    }

    /// The index of the limit that denied (in the limiter's ``rates``), or None.
    #[getter]
    fn denied_by(&self) -> Option<usize> {
        self.inner.denied_by
    }

    /// The binding limit, canonical (``"5/15m"``).
    #[getter]
    fn rate(&self) -> String {
        self.inner.rate.to_string()
    }

    /// Every limit's own answer, in the limiter's order.
    #[getter]
    fn limits(&self) -> Vec<LimitStatus> {
        self.inner
            .limits
            .iter()
            .map(|l| LimitStatus { inner: *l })
            .collect()
    }

    /// ``"fail_open"``, ``"fail_closed"`` or ``"local"`` when the store could
    /// not answer and the outage policy decided; None otherwise.
    #[getter]
    fn fallback(&self) -> Option<&'static str> {
        self.inner.fallback.map(OutagePolicy::name)
    }

    /// The limiter's name (the policy name of the ``RateLimit`` headers).
    #[getter]
    fn policy(&self) -> &str {
        &self.inner.policy
    }

    /// When the decision was made, seconds since the epoch.
    #[getter]
    fn decided_at(&self) -> f64 {
        self.inner.decided_at
    }

    /// ``Retry-After`` in whole seconds (rounded up, at least 1) when denied;
    /// None when admitted.
    fn retry_after_header(&self) -> Option<u64> {
        self.inner.retry_after_header()
    }

    /// The response headers: ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``,
    /// ``X-RateLimit-Reset`` (epoch seconds), ``Retry-After`` (denied only),
    /// ``RateLimit-Policy`` and ``RateLimit`` (IETF draft structured fields).
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.headers() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The 429 answer to this denied decision: the rate-limit headers,
    /// ``Retry-After`` and a problem+json body naming the violated policy.
    /// Raises ``InvalidArgumentError`` for an admitted decision.
    fn problem(&self) -> PyResult<crate::http::HttpAnswer> {
        bastion_core::http::rate_limited(&self.inner)
            .py_err()
            .map(crate::http::HttpAnswer::new)
    }

    fn __bool__(&self) -> bool {
        self.inner.allowed
    }

    fn __repr__(&self) -> String {
        let mut s = format!(
            "Decision(allowed={}, limit={}, remaining={}, reset_after={:.3}",
            py_bool(self.inner.allowed),
            self.inner.limit,
            self.inner.remaining,
            self.inner.reset_after
        );
        if !self.inner.allowed {
            s.push_str(&format!(", retry_after={:.3}", self.inner.retry_after));
        }
        if let Some(p) = self.inner.fallback {
            s.push_str(&format!(", fallback={:?}", p.name()));
        }
        s.push(')');
        s
    }
}

fn decision(d: CoreDecision) -> Decision {
    Decision { inner: d }
}

/// Rates given as one string (``"100/minute;200/hour"``) or a list of strings.
fn rates_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Rate>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return parse_rates(s.to_str()?).py_err();
    }
    let items: Vec<String> = obj
        .extract()
        .map_err(|_| errors::type_error(what, "a rate string or a list of rate strings", obj))?;
    let mut out = Vec::new();
    for item in items {
        out.extend(parse_rates(&item).py_err()?);
    }
    Ok(out)
}

/// The key's text, borrowed from the Python string (no copy: a ``str`` is
/// immutable and the caller holds a reference to it, also while the GIL is
/// released).
fn key_arg<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    match obj.cast::<PyString>() {
        Ok(s) => s.to_str(),
        Err(_) => Err(errors::type_error("key", "str", obj)),
    }
}

/// A rate limiter: one or more limits per client key, decided all or nothing.
///
/// ``rates`` is a rate string (``"5/15m"``, ``"100/minute;200/hour"``, DRF's
/// ``"100/day"``) or a list of them. ``algorithm``: ``"sliding_window"``
/// (exact: never more than the limit in any window; the default),
/// ``"sliding_counter"`` (O(1) state, approximate), ``"fixed_window"`` or
/// ``"gcra"`` (smooth bursts). ``name`` is part of every key: limiters of one
/// name on one Redis share their state, whatever their language.
/// ``outage_policy`` (``"local"`` by default: a limiter on this process's
/// memory; or ``"fail_open"`` / ``"fail_closed"``) answers when Redis cannot,
/// within the store's timeout, and calls ``on_event`` each time.
///
/// Every check is one atomic decision: one Lua script on Redis, one critical
/// section in memory. ``check`` returns a :class:`Decision`; ``hit`` raises
/// :class:`~bastion.exceptions.RateLimitExceeded` instead of returning a denial.
/// Each method has an ``a``-prefixed awaitable twin.
#[pyclass(frozen, module = "bastion._native")]
pub struct RateLimiter {
    inner: Arc<CoreLimiter>,
}

impl RateLimiter {
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&CoreLimiter) -> bastion_core::Result<T> + Send,
    ) -> PyResult<T> {
        let l = &*self.inner;
        blocking(py, l.store(), false, move || f(l)).py_err()
    }
}

#[pymethods]
impl RateLimiter {
    #[new]
    #[pyo3(signature = (rates, *, store = None, name = "default", algorithm = "sliding_window", outage_policy = "local", local_rates = None, on_event = None))]
    fn new(
        rates: &Bound<'_, PyAny>,
        store: Option<&Bound<'_, Store>>,
        name: &str,
        algorithm: &str,
        outage_policy: &str,
        local_rates: Option<&Bound<'_, PyAny>>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let options = LimiterOptions {
            name: name.to_owned(),
            algorithm: Algorithm::parse(algorithm).py_err()?,
            outage_policy: OutagePolicy::parse(outage_policy).py_err()?,
            local_rates: local_rates
                .map(|r| rates_arg(r, "local_rates"))
                .transpose()?,
        };
        let store = store.map_or_else(Default::default, |s| s.get().inner.clone());
        let limiter = CoreLimiter::new(store, rates_arg(rates, "rates")?, options).py_err()?;
        crate::events::attach(limiter.listeners(), on_event);
        Ok(Self {
            inner: Arc::new(limiter),
        })
    }

    /// The limits, canonical, in order.
    #[getter]
    fn rates(&self) -> Vec<String> {
        self.inner.rates().iter().map(ToString::to_string).collect()
    }

    /// The limiter's name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.options().name
    }

    /// The algorithm's name.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.inner.options().algorithm.name()
    }

    /// The outage policy's name.
    #[getter]
    fn outage_policy(&self) -> &'static str {
        self.inner.options().outage_policy.name()
    }

    /// Checks ``cost`` units for ``key`` and charges them when every limit
    /// admits. Returns a :class:`Decision`.
    #[pyo3(signature = (key, cost = 1))]
    fn check(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: u64) -> PyResult<Decision> {
        let key = key_arg(key)?;
        self.run(py, move |l| l.check(key, cost)).map(decision)
    }

    /// Awaitable :meth:`check`.
    #[pyo3(signature = (key, cost = 1))]
    fn acheck<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        cost: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?.to_owned();
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(
            py,
            async move { l.check_async(&key, cost).await.map(decision) },
        )
    }

    /// Like :meth:`check`, but raises
    /// :class:`~bastion.exceptions.RateLimitExceeded` (with ``retry_after``)
    /// when denied.
    #[pyo3(signature = (key, cost = 1))]
    fn hit(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: u64) -> PyResult<Decision> {
        let key = key_arg(key)?;
        self.run(py, move |l| l.hit(key, cost)).map(decision)
    }

    /// Awaitable :meth:`hit`.
    #[pyo3(signature = (key, cost = 1))]
    fn ahit<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        cost: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?.to_owned();
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(
            py,
            async move { l.hit_async(&key, cost).await.map(decision) },
        )
    }

    /// Whether ``cost`` units would be admitted now, charging nothing;
    /// ``remaining`` is what is left now. ``cost`` may be 0.
    #[pyo3(signature = (key, cost = 1))]
    fn peek(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: u64) -> PyResult<Decision> {
        let key = key_arg(key)?;
        self.run(py, move |l| l.peek(key, cost)).map(decision)
    }

    /// Awaitable :meth:`peek`.
    #[pyo3(signature = (key, cost = 1))]
    fn apeek<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        cost: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?.to_owned();
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(
            py,
            async move { l.peek_async(&key, cost).await.map(decision) },
        )
    }

    /// Gives back up to ``cost`` units to every limit of ``key`` (the most
    /// recent admissions first).
    #[pyo3(signature = (key, cost = 1))]
    fn refund(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: u64) -> PyResult<()> {
        let key = key_arg(key)?;
        self.run(py, move |l| l.refund(key, cost))
    }

    /// Awaitable :meth:`refund`.
    #[pyo3(signature = (key, cost = 1))]
    fn arefund<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        cost: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?.to_owned();
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move { l.refund_async(&key, cost).await })
    }

    /// Forgets everything about ``key``.
    fn reset(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = key_arg(key)?;
        self.run(py, move |l| l.reset(key))
    }

    /// Awaitable :meth:`reset`.
    fn areset<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?.to_owned();
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move { l.reset_async(&key).await })
    }

    fn __repr__(&self) -> String {
        format!(
            "RateLimiter({:?}, name={:?}, algorithm={:?})",
            self.rates().join(";"),
            self.inner.options().name,
            self.inner.options().algorithm.name()
        )
    }
}
