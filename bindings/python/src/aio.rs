//! Awaitables for asyncio: a core future runs on the engine's I/O runtime and
//! its result is handed back to the event loop that awaited it.
//!
//! The returned object is an `asyncio.Future` of the running loop, so it works
//! with `await`, `asyncio.gather`, timeouts and cancellation (a cancelled
//! awaitable stays cancelled; the operation itself is bounded by the store's
//! timeout and its result is dropped). The event loop never waits on Rust:
//! the result arrives through `loop.call_soon_threadsafe`. A panic in the core
//! future becomes an `INTERNAL` error, never an unwind into Python.

use crate::errors::to_py;
use bastion_core::Result as CoreResult;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;

fn resolver(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("bastion._aio")?.getattr("_resolve")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// An asyncio awaitable of `fut`'s output, converted by `convert` with the GIL held.
pub fn into_awaitable_with<'py, F, T, C>(
    py: Python<'py>,
    fut: F,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = CoreResult<T>> + Send + 'static,
    T: Send + 'static,
    C: for<'a> FnOnce(Python<'a>, T) -> PyResult<Bound<'a, PyAny>> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    resolver(py)?;
    let loop_ref = event_loop.unbind();
    let future_ref = future.clone().unbind();
    // The core future runs inside its own task; `spawn` turns a panic there
    // into an error, and this outer task only delivers the result.
    let work = bastion_core::runtime::spawn(fut);
    let deliver = bastion_core::runtime::spawn(async move {
        let outcome = work.await.and_then(|r| r);
        Python::attach(|py| {
            let (ok, value) = match outcome.map(|v| convert(py, v)) {
                Ok(Ok(v)) => (true, v),
                Ok(Err(e)) => (false, e.into_value(py).into_bound(py).into_any()),
                Err(e) => (false, to_py(e).into_value(py).into_bound(py).into_any()),
            };
            let Ok(resolve) = resolver(py) else { return };
            // A closed loop cannot take the result any more: nobody awaits it.
            let _ = loop_ref.bind(py).call_method1(
                "call_soon_threadsafe",
                (resolve, future_ref.bind(py), ok, value),
            );
        });
    });
    drop(deliver);
    Ok(future)
}

/// An asyncio awaitable of `fut`'s output.
pub fn into_awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = CoreResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    into_awaitable_with(py, fut, |py, v| v.into_bound_py_any(py))
}
