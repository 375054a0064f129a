//! `SharedCache` and `CacheFill` (core: `bastion_core::singleflight::shared`):
//! the cache tier shared through a store. `bastion.cache.Cache` adds
//! `get` / `aget` and serialization; every rule (coalescing, leases, fencing,
//! freshness, outage fallback) is the core's.

use crate::aio;
use crate::errors::IntoPyResult;
use crate::store::Store;
use crate::timespan::span;
use bastion_core::singleflight::cache::{Answer, CacheOptions};
use bastion_core::singleflight::shared::{
    computation_failed, Fill, SharedCache as CoreCache, SharedCacheOptions, Step,
};
use bastion_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::IntoPyObjectExt;
use std::sync::Mutex;

/// ``(value bytes or None, source)``.
fn answer<'py>(py: Python<'py>, a: Answer<Vec<u8>>) -> PyResult<Bound<'py, PyAny>> {
    let v = a.value.map(|v| PyBytes::new(py, &v));
    (v, a.source.name()).into_bound_py_any(py)
}

/// ``("value", (bytes or None, source))`` or ``("compute", CacheFill)``.
fn step<'py>(py: Python<'py>, s: Step) -> PyResult<Bound<'py, PyAny>> {
    match s {
        Step::Ready(a) => ("value", answer(py, a)?).into_bound_py_any(py),
        Step::Compute(f) => (
            "compute",
            CacheFill {
                fill: Mutex::new(Some(*f)),
            },
        )
            .into_bound_py_any(py),
    }
}

/// A caller's turn to compute a key: ``finish(value)`` or ``fail(exc)``
/// (or ``afinish`` / ``afail``). Garbage-collected unfinished, it hands the
/// computation to a waiting caller.
#[pyclass(frozen, module = "bastion._native")]
pub struct CacheFill {
    fill: Mutex<Option<Fill>>,
}

impl CacheFill {
    fn take(&self) -> PyResult<Fill> {
        self.fill
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| crate::errors::InvalidArgumentError::new_err("this fill is finished"))
    }
}

/// The core error the callers waiting get when the computation raised: a
/// bastion outage (its ``code`` and ``retry_after``) passes on as such.
fn failure(exc: &Bound<'_, PyAny>) -> Error {
    let name = exc
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    let bastion = exc.is_instance_of::<crate::errors::BastionError>();
    let code: Option<String> = bastion
        .then(|| exc.getattr("code").ok()?.extract().ok())
        .flatten();
    let retry_after: Option<f64> = bastion
        .then(|| exc.getattr("retry_after").ok()?.extract().ok())
        .flatten();
    computation_failed(&name, code.as_deref(), retry_after)
}

#[pymethods]
impl CacheFill {
    /// The fencing token of this computation's lease (None without one).
    #[getter]
    fn fence(&self) -> Option<u64> {
        self.fill
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Fill::fence)
    }

    /// Stores ``value`` (bytes; None: nothing found) if this computation's
    /// fence is still the key's latest, and hands it to the callers waiting.
    /// Returns ``(value, "computed")``.
    #[pyo3(signature = (value))]
    fn finish<'py>(&self, py: Python<'py>, value: Option<Vec<u8>>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.take()?;
        let a = py.detach(|| f.finish(Ok(value))).py_err()?;
        answer(py, a)
    }

    /// Awaitable :meth:`finish`.
    fn afinish<'py>(&self, py: Python<'py>, value: Option<Vec<u8>>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.take()?;
        aio::into_awaitable_with(py, async move { f.finish_async(Ok(value)).await }, answer)
    }

    /// The computation raised ``exc``: nothing is stored, the lease is
    /// released (another caller may take over). Returns ``(stale value,
    /// "stale_if_error")`` when stale_if_error allows one, else None.
    fn fail<'py>(&self, py: Python<'py>, exc: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.take()?;
        let e = failure(exc);
        match py.detach(|| f.finish(Err(e))) {
            Ok(a) => answer(py, a),
            Err(_) => Ok(py.None().into_bound(py)),
        }
    }

    /// Awaitable :meth:`fail`.
    fn afail<'py>(&self, py: Python<'py>, exc: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.take()?;
        let e = failure(exc);
        aio::into_awaitable_with(
            py,
            async move { Ok(f.finish_async(Err(e)).await) },
            |py, r| match r {
                Ok(a) => answer(py, a),
                Err(_) => Ok(py.None().into_bound(py)),
            },
        )
    }

    /// Gives the computation up without an outcome (a cancelled caller): a
    /// waiting caller of this process takes over, the lease is released.
    fn abandon(&self) {
        drop(self.fill.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn __repr__(&self) -> &'static str {
        if self
            .fill
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            "CacheFill(computing)"
        } else {
            "CacheFill(finished)"
        }
    }
}

/// The cache tier shared through a :class:`Store`: see :class:`bastion.Cache`.
#[pyclass(frozen, module = "bastion._native")]
pub struct SharedCache {
    inner: CoreCache,
}

#[pymethods]
impl SharedCache {
    #[new]
    #[pyo3(signature = (store = None, *, namespace = "cache", ttl = None, stale_while_revalidate = None, stale_if_error = None, negative_ttl = None, xfetch_beta = 1.0, max_entries = 10_000, lease_ttl = None, wait_timeout = None, max_value_bytes = 1_048_576, local_ttl = None, seed = None, on_event = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: Option<&Store>,
        namespace: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        stale_while_revalidate: Option<&Bound<'_, PyAny>>,
        stale_if_error: Option<&Bound<'_, PyAny>>,
        negative_ttl: Option<&Bound<'_, PyAny>>,
        xfetch_beta: f64,
        max_entries: usize,
        lease_ttl: Option<&Bound<'_, PyAny>>,
        wait_timeout: Option<&Bound<'_, PyAny>>,
        max_value_bytes: usize,
        local_ttl: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let d = SharedCacheOptions::default();
        let or =
            |v: Option<&Bound<'_, PyAny>>, what, default| v.map_or(Ok(default), |v| span(v, what));
        let options = SharedCacheOptions {
            cache: CacheOptions {
                ttl: or(ttl, "ttl", d.cache.ttl)?,
                stale_while_revalidate: or(
                    stale_while_revalidate,
                    "stale_while_revalidate",
                    d.cache.stale_while_revalidate,
                )?,
                stale_if_error: or(stale_if_error, "stale_if_error", d.cache.stale_if_error)?,
                negative_ttl: negative_ttl.map(|v| span(v, "negative_ttl")).transpose()?,
                xfetch_beta,
                max_entries,
            },
            namespace: namespace.to_owned(),
            lease_ttl: or(lease_ttl, "lease_ttl", d.lease_ttl)?,
            wait_timeout: or(wait_timeout, "wait_timeout", d.wait_timeout)?,
            max_value_bytes,
            local_ttl: or(local_ttl, "local_ttl", d.local_ttl)?,
        };
        let store = store.map_or_else(Default::default, |s| s.inner.clone());
        let inner = CoreCache::new(store, options, seed).py_err()?;
        crate::events::attach(inner.listeners(), on_event);
        Ok(Self { inner })
    }

    /// ``("value", (bytes or None, source))`` from the store, or
    /// ``("compute", CacheFill)``: this caller computes (blocks, GIL
    /// released, while another caller of any process computes).
    fn begin<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let s = py.detach(|| self.inner.begin(key)).py_err()?;
        step(py, s)
    }

    /// :meth:`begin` without blocking: the step itself when the local tier
    /// answers, else an awaitable of it.
    fn abegin<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.begin_now(key).py_err()? {
            Ok(s) => step(py, s),
            Err(pending) => aio::into_awaitable_with(py, pending.run(), step),
        }
    }

    /// Removes ``key``'s value (the next caller computes it).
    fn invalidate(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        py.detach(|| self.inner.invalidate(key)).py_err()
    }

    /// Waits at most ``timeout`` seconds until this process receives the
    /// store's broadcasts (Redis); True at once for memory.
    #[pyo3(signature = (timeout = 5.0))]
    fn ready(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let c = self.inner.clone();
        let limit = std::time::Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(|| bastion_core::runtime::block_on(async move { c.ready(limit).await }))
            .py_err()
    }

    /// How many callers of this process wait for ``key``'s computation now.
    fn waiting(&self, key: &str) -> usize {
        self.inner.waiting(key)
    }

    /// How many values the local tier holds now.
    fn local_entries(&self) -> usize {
        self.inner.local_entries()
    }

    /// Counts since the cache was made.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("hits", s.hits),
            ("local_hits", s.local_hits),
            ("misses", s.misses),
            ("computations", s.computations),
            ("early_refreshes", s.early_refreshes),
            ("stale_served", s.stale_served),
            ("fills_refused", s.fills_refused),
            ("local_fallbacks", s.local_fallbacks),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("SharedCache({:?})", self.inner.options().namespace)
    }
}
