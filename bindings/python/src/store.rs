//! `Store`: where stateful components keep their state (memory or Redis).

use crate::aio;
use crate::clock::{self, ManualClock};
use crate::errors::IntoPyResult;
use crate::errors::InvalidArgumentError as PyValueError;
use bastion_core::store::{MemoryOptions, RedisOptions, Store as CoreStore};
use pyo3::prelude::*;
use std::time::Duration;

/// Where token families, revocations (and later rate limits, lockouts,
/// breakers, leases) are kept.
///
/// ``Store()`` or ``Store("memory://")`` is this process's memory: nothing to
/// run, state lost when the process ends. ``Store("redis://host:6379/0")`` is
/// one Redis server and ``Store("redis+cluster://h1:7000,h2:7001")`` a Redis
/// Cluster: every process pointed at it shares one state, whatever its
/// language. Each decision is one atomic round trip bounded by ``timeout``
/// seconds (default 0.05); when Redis cannot answer in time the call fails
/// with :class:`~bastion.exceptions.StoreUnavailableError` and each component
/// applies its outage policy. ``clock`` (a :class:`ManualClock`) replaces the
/// store's time in tests (Redis ``TIME`` otherwise).
#[pyclass(frozen, module = "bastion._native")]
pub struct Store {
    pub(crate) inner: CoreStore,
}

fn duration(secs: f64, what: &str) -> PyResult<Duration> {
    if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds (at most 3600)"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs a blocking core call made for `store`: with the GIL released when it
/// may wait on Redis (or do millisecond work, `slow`), on the calling thread
/// with the GIL held otherwise (a memory decision takes about a microsecond,
/// less than releasing and re-taking the GIL).
pub fn blocking<T, F>(py: Python<'_>, store: &CoreStore, slow: bool, f: F) -> T
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    if slow || store.as_memory().is_none() {
        py.detach(f)
    } else {
        f()
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (url = None, *, timeout = 0.05, connect_timeout = 2.0, prefix = "bastion:", max_keys = 1_000_000, clock = None))]
    fn new(
        url: Option<&str>,
        timeout: f64,
        connect_timeout: f64,
        prefix: &str,
        max_keys: usize,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let url = url.unwrap_or("memory://").trim();
        let inner = if url.is_empty() || url == "memory://" {
            if max_keys == 0 {
                return Err(PyValueError::new_err("max_keys must be positive"));
            }
            CoreStore::memory(MemoryOptions {
                max_keys,
                clock: clock::resolve(clock),
                ..MemoryOptions::default()
            })
        } else {
            CoreStore::redis(
                url,
                RedisOptions {
                    timeout: duration(timeout, "timeout")?,
                    connect_timeout: duration(connect_timeout, "connect_timeout")?,
                    prefix: prefix.to_owned(),
                    clock: clock.map(|c| clock::resolve(Some(c))),
                },
            )
            .py_err()?
        };
        Ok(Self { inner })
    }

    /// ``"memory"``, ``"redis"`` or ``"redis-cluster"``.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The bound on one Redis operation, in seconds (0 for memory).
    #[getter]
    fn timeout(&self) -> f64 {
        self.inner.timeout().as_secs_f64()
    }

    /// One round trip to the store (``PING``); returns its duration in
    /// seconds (0 for memory). Raises ``StoreUnavailableError`` when Redis
    /// cannot answer within the timeout.
    fn ping(&self, py: Python<'_>) -> PyResult<f64> {
        let store = self.inner.clone();
        py.detach(move || store.ping())
            .map(|d| d.as_secs_f64())
            .py_err()
    }

    /// Awaitable :meth:`ping`.
    fn aping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.clone();
        aio::into_awaitable(py, async move {
            store.ping_async().await.map(|d| d.as_secs_f64())
        })
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.inner)
    }
}
