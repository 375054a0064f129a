//! Security events delivered to a Python callable.

use bastion_core::events::{Event, Listeners};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// The dict an ``on_event`` callable receives: ``event``, ``category`` (the
/// log prefix, e.g. ``"[SECURITY]"``) and the event's fields.
pub fn event_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("event", e.name())?;
    d.set_item("category", e.category().prefix())?;
    for (k, v) in e.fields() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// Delivers a component's events to `callback` (when given). A callback that
/// raises is reported through ``sys.unraisablehook`` and never changes the
/// decision that emitted the event.
pub fn attach(listeners: &Listeners, callback: Option<Py<PyAny>>) {
    let Some(cb) = callback else {
        return;
    };
    listeners.add(Arc::new(move |e: &Event| {
        Python::attach(|py| {
            let delivered = event_dict(py, e).and_then(|d| cb.call1(py, (d,)));
            if let Err(err) = delivered {
                err.write_unraisable(py, Some(cb.bind(py)));
            }
        });
    }));
}
