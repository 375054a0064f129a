//! Durations given from Python: seconds, a `datetime.timedelta`, or text with
//! a unit (core: `bastion_core::timespan`).

use crate::errors::{self, IntoPyResult};
use bastion_core::timespan;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::time::Duration;

/// Seconds from a number, a ``datetime.timedelta`` or a time span string
/// with a unit (``"30m"``, ``"1h"``, ``"7 days"``).
pub fn span(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    if let Ok(s) = obj.cast::<PyString>() {
        return timespan::text_setting(crate::json::py_str(s)?, what).py_err();
    }
    let secs = if let Ok(v) = obj.extract::<f64>() {
        v
    } else if let Ok(total) = obj.call_method0("total_seconds") {
        total.extract::<f64>()?
    } else {
        return Err(errors::type_error(
            what,
            "seconds, a datetime.timedelta or a time span such as \"30m\"",
            obj,
        ));
    };
    timespan::seconds_setting(secs, what).py_err()
}
