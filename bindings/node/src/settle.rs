//! Promises settled in batches from the engine's I/O threads.
//!
//! An async binding function creates a plain Promise (`napi_create_promise`)
//! and runs its core future on the engine's I/O runtime. When the future ends,
//! the I/O thread queues the outcome on the JavaScript thread's [`Hub`] and,
//! if the queue was empty, wakes that thread through the hub's one threadsafe
//! function. The JavaScript thread then converts and settles every queued
//! outcome in one pass. So a Promise costs one queue entry, not a threadsafe
//! function, a libuv handle and a second runtime of its own; with many calls in
//! flight (64 Redis checks), one wake-up settles many Promises.
//!
//! Guarantees:
//! - Every Promise settles exactly once: with its value, with the core's error,
//!   or, if its task ends without an outcome (a panic, a runtime shut down),
//!   with an `INTERNAL` error. A panic in a conversion rejects too.
//! - While any Promise is pending the hub keeps the event loop alive (like a
//!   socket with a request outstanding); with none pending it does not hold
//!   the process open.
//! - When the JavaScript environment tears down (a worker thread terminated,
//!   the process exiting), the hub is closed before Node frees its threadsafe
//!   function: outcomes arriving later are dropped, never delivered to freed
//!   memory.
//!
//! This is the one module of the bindings that calls napi's C API directly
//! (napi-rs has no Promise settled on its own thread without a threadsafe
//! function per Promise), hence the `unsafe` blocks, each with its reason.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsError};

/// What a queued outcome becomes on the JavaScript thread: the value to
/// resolve with, or the value to reject with.
pub type Outcome =
    Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value, sys::napi_value> + Send>;

/// A Promise's deferred handle. Only ever used on the JavaScript thread that
/// created it; it travels through the I/O threads untouched.
struct Deferred(sys::napi_deferred);

// SAFETY: the pointer is never dereferenced or passed to napi off the
// JavaScript thread (see `Hub::drain`); other threads only move it.
unsafe impl Send for Deferred {}

struct Shared {
    /// Outcomes waiting for the JavaScript thread.
    queue: Vec<(Deferred, Outcome)>,
    /// A wake-up is on its way (so later outcomes need not send another).
    signalled: bool,
    /// The environment is tearing down: the threadsafe function must not be
    /// called again.
    closed: bool,
    tsfn: sys::napi_threadsafe_function,
}

// SAFETY: a threadsafe function may be called from any thread; the other
// fields are plain data.
unsafe impl Send for Shared {}

/// One JavaScript environment's settling point.
pub struct Hub {
    env: sys::napi_env,
    shared: Mutex<Shared>,
    /// Promises created and not yet settled (touched on the JavaScript thread
    /// only; atomic so the hub can be shared).
    pending: AtomicUsize,
}

// SAFETY: `env` is used only as an identity off the JavaScript thread; the
// shared state is behind a mutex.
unsafe impl Send for Hub {}
unsafe impl Sync for Hub {}

thread_local! {
    /// The hub of the JavaScript environment running on this thread.
    static HUB: RefCell<Option<Arc<Hub>>> = const { RefCell::new(None) };
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "napi: {what} failed ({status})"
        )))
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The lock guards plain data and no code panics while holding it.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hub of `env`, created on first use.
    fn of(env: sys::napi_env) -> napi::Result<Arc<Hub>> {
        HUB.with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(hub) = slot.as_ref() {
                if hub.env == env && !hub.lock().closed {
                    return Ok(Arc::clone(hub));
                }
            }
            let hub = Self::create(env)?;
            *slot = Some(Arc::clone(&hub));
            Ok(hub)
        })
    }

    fn create(env: sys::napi_env) -> napi::Result<Arc<Hub>> {
        let hub = Arc::new(Hub {
            env,
            shared: Mutex::new(Shared {
                queue: Vec::new(),
                signalled: false,
                closed: false,
                tsfn: ptr::null_mut(),
            }),
            pending: AtomicUsize::new(0),
        });
        let mut name = ptr::null_mut();
        let label = "bastion.settle";
        check(
            // SAFETY: on the JavaScript thread, with its live environment.
            unsafe {
                sys::napi_create_string_utf8(
                    env,
                    label.as_ptr().cast(),
                    label.len() as isize,
                    &mut name,
                )
            },
            "napi_create_string_utf8",
        )?;
        // The threadsafe function owns one reference (released by `finalize`),
        // the environment's cleanup hook another (released by `teardown`).
        let for_tsfn = Arc::into_raw(Arc::clone(&hub)) as *mut c_void;
        let mut tsfn = ptr::null_mut();
        // SAFETY: on the JavaScript thread; `for_tsfn` stays valid until `finalize`.
        let created = unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                for_tsfn,
                Some(finalize),
                for_tsfn,
                Some(call_js),
                &mut tsfn,
            )
        };
        if let Err(e) = check(created, "napi_create_threadsafe_function") {
            // SAFETY: the reference handed over above was not taken by napi.
            drop(unsafe { Arc::from_raw(for_tsfn as *const Hub) });
            return Err(e);
        }
        hub.lock().tsfn = tsfn;
        // Not holding the loop open until a Promise is pending.
        check(
            // SAFETY: on the JavaScript thread; `tsfn` was just created.
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) },
            "napi_unref_threadsafe_function",
        )?;
        // Node runs cleanup hooks in reverse order of registration, and the
        // threadsafe function registered its own when it was created: this
        // one runs first and closes the hub before Node frees the function.
        let for_hook = Arc::into_raw(Arc::clone(&hub)) as *mut c_void;
        if let Err(e) = check(
            // SAFETY: on the JavaScript thread; `for_hook` stays valid until `teardown`.
            unsafe { sys::napi_add_env_cleanup_hook(env, Some(teardown), for_hook) },
            "napi_add_env_cleanup_hook",
        ) {
            // SAFETY: the reference handed over above was not taken by napi.
            drop(unsafe { Arc::from_raw(for_hook as *const Hub) });
            return Err(e);
        }
        Ok(hub)
    }

    /// Queues an outcome (any thread) and wakes the JavaScript thread if no
    /// wake-up is on its way. Dropped if the environment is gone.
    fn push(&self, deferred: Deferred, outcome: Outcome) {
        let mut shared = self.lock();
        if shared.closed {
            return;
        }
        shared.queue.push((deferred, outcome));
        if !shared.signalled {
            shared.signalled = true;
            // SAFETY: called under the lock, so `teardown`/`finalize` (which take it to
            // close the hub) cannot free the function meanwhile. Nonblocking
            // on an unbounded queue: it only fails when the function is
            // closing, and then the environment is going away.
            unsafe {
                sys::napi_call_threadsafe_function(
                    shared.tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }

    /// Settles every queued outcome (on the JavaScript thread).
    fn drain(&self, env: sys::napi_env) {
        let batch = {
            let mut shared = self.lock();
            shared.signalled = false;
            std::mem::take(&mut shared.queue)
        };
        let n = batch.len();
        for (deferred, outcome) in batch {
            settle(env, deferred, outcome);
        }
        let before = self.pending.fetch_sub(n, Ordering::Relaxed);
        if before == n {
            let tsfn = self.lock().tsfn;
            // SAFETY: `drain` runs on the JavaScript thread; the hub is open while it runs.
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
        }
    }

    fn close(&self) {
        let mut shared = self.lock();
        shared.closed = true;
        shared.queue.clear();
    }
}

/// Settles one Promise; whatever goes wrong, it settles (a rejection).
fn settle(env: sys::napi_env, deferred: Deferred, outcome: Outcome) {
    let outcome = catch_unwind(AssertUnwindSafe(|| outcome(env)))
        .unwrap_or_else(|_| Err(internal_error(env, "internal error: a conversion panicked")));
    // A JavaScript exception left pending by a conversion is the rejection.
    let mut pending = false;
    // SAFETY (this and the napi calls below): on the JavaScript thread, inside
    // the threadsafe function's callback, with its live environment.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    let outcome = if pending {
        let mut exception = ptr::null_mut();
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut exception) };
        Err(exception)
    } else {
        outcome
    };
    let status = match outcome {
        Ok(value) => unsafe { sys::napi_resolve_deferred(env, deferred.0, value) },
        Err(reason) => unsafe { sys::napi_reject_deferred(env, deferred.0, reason) },
    };
    if status != sys::Status::napi_ok {
        // Settling consumes the deferred even when it fails; nothing is left
        // to retry with.
        let mut exception = ptr::null_mut();
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut exception) };
    }
}

/// An `Error` with `code` `INTERNAL` (for the rare paths where the core error
/// itself is gone).
fn internal_error(env: sys::napi_env, message: &str) -> sys::napi_value {
    let err = bastion_core::Error::new(bastion_core::ErrorKind::Internal, message);
    let env = napi::Env::from_raw(env);
    let napi_err = crate::errors::to_rejection(&env, err);
    // SAFETY: `env` is the live environment of the calling callback.
    unsafe { JsError::from(napi_err).into_value(env.raw()) }
}

unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() || context.is_null() {
        return; // the function is being torn down
    }
    // SAFETY: `context` is the hub reference owned by the threadsafe function,
    // released only by `finalize`, which cannot run during this callback.
    let hub = unsafe { &*(context as *const Hub) };
    hub.drain(env);
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the reference handed to the threadsafe function in `Hub::create`.
    let hub = unsafe { Arc::from_raw(data as *const Hub) };
    hub.close();
}

unsafe extern "C" fn teardown(data: *mut c_void) {
    // SAFETY: the reference handed to the cleanup hook in `Hub::create`.
    let hub = unsafe { Arc::from_raw(data as *const Hub) };
    hub.close();
    HUB.with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, &hub)) {
                *slot = None;
            }
        }
    });
}

/// A pending Promise's right to settle, held by its task on the I/O runtime.
/// Dropped unsettled (the task panicked or was cancelled), it rejects the
/// Promise with an `INTERNAL` error.
pub struct Ticket {
    hub: Arc<Hub>,
    deferred: Option<Deferred>,
}

impl Ticket {
    /// Settles the Promise with `outcome`, computed on the JavaScript thread.
    pub fn settle(mut self, outcome: Outcome) {
        if let Some(d) = self.deferred.take() {
            self.hub.push(d, outcome);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(d) = self.deferred.take() {
            self.hub.push(
                d,
                Box::new(|env| Err(internal_error(env, "an I/O task ended without a result"))),
            );
        }
    }
}

/// Runs `fut` on the engine's I/O runtime and returns a Promise settled with
/// `convert(env, output)` on the JavaScript thread: resolved with its value,
/// rejected with its error.
pub fn spawn<'env, T, V, F, C>(
    env: &'env Env,
    fut: F,
    convert: C,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: std::future::Future<Output = T> + Send + 'static,
    C: FnOnce(&'env Env, T) -> napi::Result<V> + Send + 'static,
{
    let (promise, ticket) = promise(env.raw())?;
    // If the runtime cannot start, the task is dropped unrun and its ticket
    // rejects the Promise.
    let _ = bastion_core::runtime::detach(async move {
        let output = fut.await;
        ticket.settle(Box::new(move |raw| {
            let env = Env::from_raw(raw);
            // SAFETY: `convert` may build values tied to the environment's
            // lifetime; they become a napi value right here, inside this
            // callback's handle scope, and nothing of them outlives it.
            let env_ref = unsafe { std::mem::transmute::<&Env, &'env Env>(&env) };
            convert(env_ref, output)
                // SAFETY: `raw` is the live environment of this callback.
                .and_then(|v| unsafe { V::to_napi_value(raw, v) })
                // SAFETY: as above.
                .map_err(|e| unsafe { JsError::from(e).into_value(raw) })
        }));
    });
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// Creates a pending Promise in `env` (on its JavaScript thread) and the
/// ticket that settles it.
fn promise(env: sys::napi_env) -> napi::Result<(sys::napi_value, Ticket)> {
    let hub = Hub::of(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(
        // SAFETY: on the JavaScript thread, with its live environment.
        unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) },
        "napi_create_promise",
    )?;
    if hub.pending.fetch_add(1, Ordering::Relaxed) == 0 {
        let tsfn = hub.lock().tsfn;
        // SAFETY: on the JavaScript thread; the hub is open (checked by `Hub::of`).
        unsafe { sys::napi_ref_threadsafe_function(env, tsfn) };
    }
    Ok((
        promise,
        Ticket {
            hub,
            deferred: Some(Deferred(deferred)),
        },
    ))
}
