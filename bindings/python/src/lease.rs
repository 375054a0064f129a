//! `Leases` and `Lease` (core: `bastion_core::singleflight::lease`): one
//! holder per name across processes, with a fencing token.
//! `bastion.compat.redis_lock` builds python-redis-lock's `Lock` on them; the
//! rules (grant, fence, owner-checked renew and release, broadcast wake-ups)
//! are the core's.

use crate::errors::IntoPyResult;
use crate::store::Store;
use crate::timespan::span;
use bastion_core::singleflight::lease::{Acquired, LeaseGuard, Leases as CoreLeases};
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::Duration;

/// The leases of a :class:`Store` (see :mod:`bastion.compat.redis_lock`).
#[pyclass(frozen, module = "bastion._native")]
pub struct Leases {
    inner: CoreLeases,
}

/// A held lease: ``fence`` (its fencing token), ``extend``, ``release``,
/// and optional background renewal at a third of its ttl. Garbage-collected
/// unreleased, its renewal stops and the lease is left to expire (so another
/// object with the same owner id can still release it).
#[pyclass(frozen, module = "bastion._native")]
pub struct Lease {
    guard: Mutex<Option<LeaseGuard>>,
    fence: u64,
}

impl Lease {
    fn with<T>(&self, f: impl FnOnce(&mut LeaseGuard) -> T) -> Option<T> {
        self.guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(f)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let g = self
            .guard
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(g) = g {
            g.leave();
        }
    }
}

#[pymethods]
impl Lease {
    /// The fencing token: larger than every earlier grant of the name.
    #[getter]
    fn fence(&self) -> u64 {
        self.fence
    }

    /// True once a renewal found the lease gone (expired or taken over).
    #[getter]
    fn lost(&self) -> bool {
        self.with(|g| g.is_lost()).unwrap_or(true)
    }

    /// Renews the lease at a third of its ttl, on the engine's I/O thread,
    /// until it is released.
    fn start_renewal(&self) -> PyResult<()> {
        self.with(|g| g.start_renewal()).unwrap_or(Ok(())).py_err()
    }

    /// Extends the lease to ``ttl`` seconds from now (its own ttl when
    /// None); False when it is no longer held.
    #[pyo3(signature = (ttl = None))]
    fn extend(&self, py: Python<'_>, ttl: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let ttl = ttl.map(|t| span(t, "ttl")).transpose()?;
        let mut guard = self.guard.lock().unwrap_or_else(|p| p.into_inner());
        let Some(g) = guard.as_mut() else {
            return Ok(false);
        };
        Ok(py.detach(|| g.extend(ttl)).py_err()?.is_some())
    }

    /// Ends the lease (and its renewal) and wakes the waiters of every
    /// process; False when it was no longer held.
    fn release(&self, py: Python<'_>) -> PyResult<bool> {
        let g = self.guard.lock().unwrap_or_else(|p| p.into_inner()).take();
        match g {
            Some(g) => py.detach(|| g.release()).py_err(),
            None => Ok(false),
        }
    }

    fn __repr__(&self) -> String {
        format!("Lease(fence={})", self.fence)
    }
}

#[pymethods]
impl Leases {
    #[new]
    fn new(store: &Store) -> Self {
        Self {
            inner: CoreLeases::new(store.inner.clone()),
        }
    }

    /// Takes ``name``'s lease for ``owner`` for ``ttl`` seconds: at once
    /// (``timeout=None``) or waiting at most ``timeout`` seconds while another
    /// owner holds it (woken by its release, or at its expiry). Returns the
    /// :class:`Lease`, or None (held by someone, ``owner`` included).
    #[pyo3(signature = (name, owner, ttl, timeout = None))]
    fn acquire(
        &self,
        py: Python<'_>,
        name: &str,
        owner: &str,
        ttl: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Lease>> {
        let ttl = span(ttl, "ttl")?;
        let timeout = timeout.map(|t| span(t, "timeout")).transpose()?;
        let got = py
            .detach(|| match timeout {
                None => self.inner.try_acquire(name, owner, ttl).map(Some),
                Some(t) => self.inner.acquire(name, owner, ttl, t),
            })
            .py_err()?;
        Ok(match got {
            Some(Acquired::Granted(g)) => Some(Lease {
                guard: Mutex::new(Some(self.inner.guard(name, owner, g, ttl))),
                fence: g.fence,
            }),
            _ => None,
        })
    }

    /// Ends ``owner``'s lease of ``name`` (any of its grants when ``fence``
    /// is 0); False (a no-op) when that owner does not hold it.
    #[pyo3(signature = (name, owner, fence = 0))]
    fn release(&self, py: Python<'_>, name: &str, owner: &str, fence: u64) -> PyResult<bool> {
        py.detach(|| self.inner.release(name, owner, fence))
            .py_err()
    }

    /// Extends ``owner``'s lease of ``name`` to ``ttl`` seconds from now;
    /// False when that owner does not hold it.
    #[pyo3(signature = (name, owner, ttl, fence = 0))]
    fn renew(
        &self,
        py: Python<'_>,
        name: &str,
        owner: &str,
        ttl: &Bound<'_, PyAny>,
        fence: u64,
    ) -> PyResult<bool> {
        let ttl: Duration = span(ttl, "ttl")?;
        Ok(py
            .detach(|| self.inner.renew(name, owner, fence, ttl))
            .py_err()?
            .is_some())
    }

    /// Ends ``name``'s lease whoever holds it, and wakes its waiters; True
    /// when a live lease was there.
    fn reset(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        py.detach(|| self.inner.reset(name)).py_err()
    }

    /// ``(owner, fence, seconds left)`` of ``name``'s lease, or None.
    fn holder(&self, py: Python<'_>, name: &str) -> PyResult<Option<(String, u64, f64)>> {
        let h = py.detach(|| self.inner.holder(name)).py_err()?;
        let now = self.inner.store().clock().now_micros();
        Ok(h.map(|h| {
            let left = (h.grant.expires_at - now).max(0) as f64 / 1e6;
            (h.owner, h.grant.fence, left)
        }))
    }

    fn __repr__(&self) -> String {
        format!("Leases({})", self.inner.store().kind())
    }
}
