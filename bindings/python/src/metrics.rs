//! Metrics, the health snapshot and process-wide security events (core
//! `metrics` and `events` modules).

use bastion_core::events::{self, Event, Severity};
use bastion_core::metrics::{self as core_metrics, Health};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;

use crate::aio;
use crate::events::event_dict;

/// Every metric in the Prometheus text format (version 0.0.4).
#[pyfunction]
pub fn metrics() -> String {
    core_metrics::render()
}

fn health_dict<'py>(py: Python<'py>, h: &Health) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("ok", h.ok)?;
    let stores = PyList::empty(py);
    for s in &h.stores {
        let e = PyDict::new(py);
        e.set_item("kind", s.kind)?;
        e.set_item("url", &s.url)?;
        e.set_item("reachable", s.reachable)?;
        e.set_item("ping_ms", s.ping_ms)?;
        e.set_item("error", s.error)?;
        stores.append(e)?;
    }
    d.set_item("stores", stores)?;
    let breakers = PyList::empty(py);
    for b in &h.breakers {
        let e = PyDict::new(py);
        e.set_item("name", &b.name)?;
        e.set_item("state", b.state)?;
        e.set_item("mode", b.mode)?;
        breakers.append(e)?;
    }
    d.set_item("breakers", breakers)?;
    Ok(d.into_any())
}

/// The readiness snapshot: every live store the application made pinged
/// (each bounded by its timeout, the GIL released), every live breaker's
/// state. The in-process fallback stores of Redis-backed components (outage
/// policy ``"local"``) are internal and not listed.
#[pyfunction]
pub fn health(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let h = py.detach(core_metrics::health);
    health_dict(py, &h)
}

/// Awaitable :func:`health`.
#[pyfunction]
pub fn ahealth(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    aio::into_awaitable_with(
        py,
        async { Ok(core_metrics::health_async().await) },
        |py, h| health_dict(py, &h),
    )
}

/// Calls ``callback(event)`` for every security event of every component
/// whose severity is at least ``min_severity`` (``"info"``, ``"warning"``
/// or ``"error"``). The dict holds ``event``, ``category``, ``severity``,
/// ``message`` (the log line) and the event's fields. Listeners stay for the
/// process's life; one that raises is reported through
/// ``sys.unraisablehook``.
#[pyfunction]
#[pyo3(signature = (callback, min_severity = "info"))]
pub fn add_event_listener(py: Python<'_>, callback: Py<PyAny>, min_severity: &str) -> PyResult<()> {
    if !callback.bind(py).is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "callback must be callable",
        ));
    }
    let min = Severity::parse(min_severity).map_err(|e| PyValueError::new_err(e.to_string()))?;
    events::add_global(
        min,
        Arc::new(move |e: &Event| {
            Python::attach(|py| {
                let delivered = event_dict(py, e).and_then(|d| {
                    d.set_item("severity", e.severity().as_str())?;
                    d.set_item("message", e.to_string())?;
                    callback.call1(py, (d,))
                });
                if let Err(err) = delivered {
                    // Not the callback's repr: it is the application's object.
                    err.write_unraisable(py, None);
                }
            });
        }),
    );
    Ok(())
}
