//! `SingleFlight` and `Flight` (core: `bastion_core::singleflight`): the
//! table and a caller's part in one flight. `bastion.singleflight` builds
//! `do` / `ado` on them; the rules (one computation per flight, outcomes
//! shared only with the callers waiting, an abandoned lead handed to a waiter)
//! are the core's.

use crate::aio;
use bastion_core::singleflight::{Follower, Joined, Leader, Role, SingleFlight as CoreFlights};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::sync::{Arc, Mutex};

/// A flight's outcome: the leader's value, or the exception it raised.
type Outcome = Arc<Result<Py<PyAny>, PyErr>>;

enum Part {
    Leader(Leader<Outcome>),
    Follower(Follower<Outcome>),
}

/// One caller's part in a flight: the leader (compute, then ``complete`` or
/// ``fail``; ``abandon`` hands the lead to a waiter) or a follower (``wait``
/// or ``await wait_async()``). A leader garbage-collected unfinished abandons
/// the flight.
#[pyclass(frozen, module = "bastion._native")]
pub struct Flight {
    part: Mutex<Option<Part>>,
}

impl Flight {
    fn new(role: Role<Outcome>) -> Self {
        let part = match role {
            Role::Leader(l) => Part::Leader(l),
            Role::Follower(f) => Part::Follower(f),
        };
        Self {
            part: Mutex::new(Some(part)),
        }
    }

    fn take(&self) -> Option<Part> {
        self.part.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn leader(&self) -> PyResult<Leader<Outcome>> {
        match self.take() {
            Some(Part::Leader(l)) => Ok(l),
            other => {
                *self.part.lock().unwrap_or_else(|p| p.into_inner()) = other;
                Err(crate::errors::InvalidArgumentError::new_err(
                    "only the flight's leader, once, can finish it",
                ))
            }
        }
    }

    fn follower(&self) -> PyResult<Follower<Outcome>> {
        match self.take() {
            Some(Part::Follower(f)) => Ok(f),
            other => {
                *self.part.lock().unwrap_or_else(|p| p.into_inner()) = other;
                Err(crate::errors::InvalidArgumentError::new_err(
                    "only a follower, once, can wait for the flight",
                ))
            }
        }
    }
}

/// What a follower's wait gives: ``("value", v)``, ``("error", exc)`` or
/// ``("lead", Flight)`` (the leader went away: compute instead).
fn joined<'py>(py: Python<'py>, j: Joined<Outcome>) -> PyResult<Bound<'py, PyAny>> {
    match j {
        Joined::Shared(Ok(outcome)) => match &*outcome {
            Ok(v) => ("value", v.clone_ref(py)).into_bound_py_any(py),
            Err(e) => ("error", e.clone_ref(py).into_value(py)).into_bound_py_any(py),
        },
        Joined::Shared(Err(e)) => {
            ("error", crate::errors::to_py(e).into_value(py)).into_bound_py_any(py)
        }
        Joined::Lead(l) => (
            "lead",
            Flight {
                part: Mutex::new(Some(Part::Leader(l))),
            },
        )
            .into_bound_py_any(py),
    }
}

#[pymethods]
impl Flight {
    /// True for the caller that computes.
    #[getter]
    fn is_leader(&self) -> bool {
        matches!(
            *self.part.lock().unwrap_or_else(|p| p.into_inner()),
            Some(Part::Leader(_))
        )
    }

    /// The leader's value: handed to every follower waiting now. Returns how
    /// many there were.
    fn complete(&self, value: Py<PyAny>) -> PyResult<usize> {
        Ok(self.leader()?.complete(Ok(Arc::new(Ok(value)))))
    }

    /// The leader's exception: raised in every follower waiting now, and not
    /// kept. Returns how many there were.
    fn fail(&self, error: Bound<'_, PyAny>) -> PyResult<usize> {
        let err = PyErr::from_value(error);
        Ok(self.leader()?.complete(Ok(Arc::new(Err(err)))))
    }

    /// The leader goes away without an outcome (cancelled): a waiting
    /// follower is handed the lead.
    fn abandon(&self) -> PyResult<()> {
        drop(self.leader()?);
        Ok(())
    }

    /// Blocks (GIL released) until the outcome or the lead comes:
    /// ``("value", v)``, ``("error", exc)`` or ``("lead", Flight)``.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.follower()?;
        let j = py.detach(move || f.wait());
        joined(py, j)
    }

    /// Awaitable :meth:`wait`; cancelling it leaves the flight.
    fn wait_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.follower()?;
        aio::into_awaitable_with(py, async move { Ok(f.wait_async().await) }, joined)
    }

    fn __repr__(&self) -> &'static str {
        match *self.part.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(Part::Leader(_)) => "Flight(leader)",
            Some(Part::Follower(_)) => "Flight(follower)",
            None => "Flight(finished)",
        }
    }
}

/// The table of flights: see :class:`bastion.SingleFlight`.
#[pyclass(frozen, module = "bastion._native")]
pub struct SingleFlight {
    inner: CoreFlights<Outcome>,
}

#[pymethods]
impl SingleFlight {
    #[new]
    fn new() -> Self {
        Self {
            inner: CoreFlights::new(),
        }
    }

    /// Joins the flight of ``key``, or starts one with this caller leading.
    fn begin(&self, key: &str) -> Flight {
        Flight::new(self.inner.begin(key))
    }

    /// Removes ``key``'s flight: its followers still get its outcome; the
    /// next caller starts a new one.
    fn forget(&self, key: &str) {
        self.inner.forget(key);
    }

    /// How many callers are waiting for ``key``'s flight now.
    fn waiting(&self, key: &str) -> usize {
        self.inner.waiting(key)
    }

    /// How many flights are running.
    #[getter]
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    fn __repr__(&self) -> String {
        format!("SingleFlight(in_flight={})", self.inner.in_flight())
    }
}
