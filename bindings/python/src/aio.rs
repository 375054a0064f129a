//! Awaitables for asyncio: a core future runs on the engine's I/O runtime and
//! its result is handed back to the event loop that awaited it.
//!
//! The returned object is an `asyncio.Future` of the running loop, so it works
//! with `await`, `asyncio.gather`, timeouts and cancellation (a cancelled
//! awaitable stays cancelled; the operation itself is bounded by the store's
//! timeout and its result is dropped). The event loop never waits on Rust,
//! and the I/O thread never takes the GIL: it queues the outcome on the loop's
//! [`Hub`] and, if the queue was empty, writes one byte to a socket the loop
//! watches (`loop.add_reader`). The loop then converts and delivers everything
//! queued in one pass, so with many calls in flight one wake-up completes many
//! futures. A loop without `add_reader` (Windows' proactor loop) gets each
//! result through `loop.call_soon_threadsafe` instead. A panic in the core
//! future or in a conversion becomes an `INTERNAL` error, never an unwind into
//! Python.

use crate::errors::to_py;
use bastion_core::{Error as CoreError, ErrorKind, Result as CoreResult};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

/// What an outcome becomes on the loop's thread, with the GIL: the value to
/// set, or the exception.
type Outcome = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send>;

/// Runs `f` with the GIL on the loop's thread; a panic becomes an `INTERNAL` error.
fn outcome_value<'py>(py: Python<'py>, outcome: Outcome) -> (bool, Bound<'py, PyAny>) {
    let result = catch_unwind(AssertUnwindSafe(|| outcome(py))).unwrap_or_else(|_| {
        Err(to_py(CoreError::new(
            ErrorKind::Internal,
            "internal error: a conversion panicked",
        )))
    });
    match result {
        Ok(v) => (true, v),
        Err(e) => (false, e.into_value(py).into_bound(py).into_any()),
    }
}

fn resolver(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("bastion._aio")?.getattr("_resolve")?.unbind())
        })
        .map(|f| f.bind(py))
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?
    .bind(py)
    .call0()
}

/// Where a finished call's outcome goes.
enum Sink {
    /// Queued on the loop's hub.
    #[cfg(unix)]
    Hub(Arc<hub::Shared>),
    /// Delivered with `loop.call_soon_threadsafe` (GIL taken on the I/O thread).
    Direct(Py<PyAny>),
}

/// A pending future's right to complete, held by its task on the I/O runtime.
/// Dropped without an outcome (the task panicked or was cancelled), it fails
/// the future with an `INTERNAL` error.
struct Ticket {
    future: Option<Py<PyAny>>,
    sink: Option<Sink>,
}

impl Ticket {
    fn complete(mut self, outcome: Outcome) {
        if let (Some(future), Some(sink)) = (self.future.take(), self.sink.take()) {
            deliver(sink, future, outcome);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let (Some(future), Some(sink)) = (self.future.take(), self.sink.take()) {
            deliver(
                sink,
                future,
                Box::new(|_| {
                    Err(to_py(CoreError::new(
                        ErrorKind::Internal,
                        "an I/O task ended without a result",
                    )))
                }),
            );
        }
    }
}

fn deliver(sink: Sink, future: Py<PyAny>, outcome: Outcome) {
    match sink {
        #[cfg(unix)]
        Sink::Hub(shared) => shared.push(future, outcome),
        Sink::Direct(event_loop) => Python::attach(|py| {
            let (ok, value) = outcome_value(py, outcome);
            let Ok(resolve) = resolver(py) else { return };
            // A closed loop cannot take the result any more: nobody awaits it.
            let _ = event_loop.bind(py).call_method1(
                "call_soon_threadsafe",
                (resolve, future.bind(py), ok, value),
            );
        }),
    }
}

/// Sets a future's result or exception, unless it was cancelled meanwhile.
fn set_outcome(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    let (ok, value) = outcome_value(py, outcome);
    resolver(py)?.call1((future, ok, value))?;
    Ok(())
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
    let event_loop = running_loop(py)?;
    let future = event_loop.call_method0("create_future")?;
    resolver(py)?;
    #[cfg(unix)]
    let sink = match hub::of(&event_loop)? {
        Some(shared) => Sink::Hub(shared),
        None => Sink::Direct(event_loop.unbind()),
    };
    #[cfg(not(unix))]
    let sink = Sink::Direct(event_loop.unbind());
    let ticket = Ticket {
        future: Some(future.clone().unbind()),
        sink: Some(sink),
    };
    // If the runtime cannot start, the task is dropped unrun and its ticket
    // fails the future.
    let _ = bastion_core::runtime::detach(async move {
        let result = fut.await;
        ticket.complete(Box::new(move |py| match result {
            Ok(v) => convert(py, v),
            Err(e) => Err(to_py(e)),
        }));
    });
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

#[cfg(unix)]
mod hub {
    //! One event loop's completion queue and its wake-up socket.

    use super::{set_outcome, Outcome};
    use pyo3::prelude::*;
    use std::cell::RefCell;
    use std::io::{ErrorKind as IoErrorKind, Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    /// The part the I/O threads touch (never with the GIL).
    pub struct Shared {
        state: super::Mutex<State>,
        wake: UnixStream,
        /// The end the loop reads. Held here, not only by the loop's reader,
        /// so a late write never meets a closed peer (no `SIGPIPE` in a
        /// process that has not ignored it): once nobody reads, writes fill
        /// the buffer and then fail with "would block", which is ignored.
        read: UnixStream,
    }

    struct State {
        queue: Vec<(Py<PyAny>, Outcome)>,
        /// A wake-up byte is on its way (later outcomes need not write one).
        signalled: bool,
    }

    impl Shared {
        fn lock(&self) -> super::MutexGuard<'_, State> {
            // Plain data, and no code panics while holding the lock.
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Queues an outcome (on an I/O thread) and wakes the loop if no
        /// wake-up is on its way.
        pub fn push(&self, future: Py<PyAny>, outcome: Outcome) {
            let mut state = self.lock();
            state.queue.push((future, outcome));
            if !state.signalled {
                state.signalled = true;
                // Nonblocking: a full socket buffer already holds wake-ups; a
                // closed one means the loop is gone and nobody awaits.
                let _ = (&self.wake).write(&[1]);
            }
        }
    }

    /// The loop's side: its reader callback.
    #[pyclass(module = "bastion._native", name = "_LoopHub", frozen)]
    pub struct Hub {
        shared: Arc<Shared>,
    }

    #[pymethods]
    impl Hub {
        /// Completes every queued future (the loop calls this when the wake-up
        /// socket is readable).
        fn _drain(&self, py: Python<'_>) {
            let mut buf = [0u8; 256];
            loop {
                match (&self.shared.read).read(&mut buf) {
                    Ok(n) if n == buf.len() => continue,
                    Ok(_) => break,
                    Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let batch = {
                let mut state = self.shared.lock();
                state.signalled = false;
                std::mem::take(&mut state.queue)
            };
            for (future, outcome) in batch {
                // A failure here is the loop's own (closed, or the future
                // replaced): the result has nobody to go to.
                let _ = set_outcome(py, future.bind(py), outcome);
            }
        }
    }

    thread_local! {
        /// The hubs of the loops that ran on this thread (usually one).
        static HUBS: RefCell<Vec<(Py<PyAny>, Arc<Shared>)>> = const { RefCell::new(Vec::new()) };
    }

    /// The hub of `event_loop` (created and registered with
    /// `loop.add_reader` on first use), or `None` for a loop that cannot
    /// watch a socket.
    pub fn of(event_loop: &Bound<'_, PyAny>) -> PyResult<Option<Arc<Shared>>> {
        let found = HUBS.with(|hubs| {
            hubs.borrow()
                .iter()
                .find(|(l, _)| l.bind(event_loop.py()).is(event_loop))
                .map(|(_, s)| Arc::clone(s))
        });
        if let Some(shared) = found {
            return Ok(Some(shared));
        }
        let Some(shared) = create(event_loop)? else {
            return Ok(None);
        };
        HUBS.with(|hubs| {
            let mut hubs = hubs.borrow_mut();
            // Loops that have closed since take their hubs with them.
            hubs.retain(|(l, _)| {
                !l.bind(event_loop.py())
                    .call_method0("is_closed")
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(true)
            });
            hubs.push((event_loop.clone().unbind(), Arc::clone(&shared)));
        });
        Ok(Some(shared))
    }

    fn create(event_loop: &Bound<'_, PyAny>) -> PyResult<Option<Arc<Shared>>> {
        let (read, wake) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        let fd = read.as_raw_fd();
        let shared = Arc::new(Shared {
            state: super::Mutex::new(State {
                queue: Vec::new(),
                signalled: false,
            }),
            wake,
            read,
        });
        let hub = Bound::new(
            event_loop.py(),
            Hub {
                shared: Arc::clone(&shared),
            },
        )?;
        match event_loop.call_method1("add_reader", (fd, hub.getattr("_drain")?)) {
            Ok(_) => Ok(Some(shared)),
            Err(e)
                if e.is_instance_of::<pyo3::exceptions::PyNotImplementedError>(event_loop.py())
                    || e.is_instance_of::<pyo3::exceptions::PyAttributeError>(event_loop.py()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
