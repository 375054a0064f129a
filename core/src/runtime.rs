//! The engine's I/O runtime: one small Tokio runtime per process.
//!
//! Network work (Redis, JWKS fetches) runs on this runtime whatever the caller
//! is: a Python thread, a Python asyncio loop, Node's main thread or napi's own
//! runtime. [`spawn`] returns a future that any executor can await; [`block_on`]
//! waits for one from any plain thread.
//!
//! Guarantees:
//! - Created lazily on first use, with one worker thread named `bastion-io`
//!   (`BASTION_IO_THREADS` sets another number, 1 to 64). One thread carries
//!   a process's Redis traffic with room to spare (about 100,000 decisions a
//!   second from Node), and keeps the calls of one connection on one thread:
//!   with two, tasks hop between the workers and each decision costs more
//!   CPU (measured 15 µs of client CPU per Node decision with two, 9 µs with
//!   one). Password hashing has its own blocking pool and does not use it.
//! - Fork-safe: a forked child (gunicorn, uWSGI, multiprocessing) does not
//!   inherit the parent's threads, so the runtime is keyed by process id and a
//!   child builds its own on first use. [`generation`] changes when that
//!   happens, so connection pools can tell their connections belong to a dead
//!   runtime and reconnect.

use crate::error::{err, Result};
use parking_lot::Mutex;
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};

struct Current {
    pid: u32,
    generation: u64,
    runtime: Arc<Runtime>,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

thread_local! {
    /// Set on the runtime's own threads.
    static IO_THREAD: Cell<bool> = const { Cell::new(false) };
}
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The number of I/O worker threads for a `BASTION_IO_THREADS` value: 1 by
/// default and for anything that is not a whole number from 1 to 64.
fn io_threads(setting: Option<&str>) -> usize {
    setting
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(1)
}

fn current() -> Result<(Handle, u64)> {
    let pid = std::process::id();
    let mut guard = CURRENT.lock();
    if let Some(c) = guard.as_ref() {
        if c.pid == pid {
            return Ok((c.runtime.handle().clone(), c.generation));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads(
            std::env::var("BASTION_IO_THREADS").ok().as_deref(),
        ))
        .thread_name("bastion-io")
        .on_thread_start(|| IO_THREAD.with(|f| f.set(true)))
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| err!(Internal, "cannot start the I/O runtime: {e}"))?;
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    let runtime = Arc::new(runtime);
    let handle = runtime.handle().clone();
    // After a fork the parent's runtime is a husk whose threads do not exist in
    // this process; it is leaked rather than dropped, since dropping would wait
    // for threads that will never answer.
    if let Some(old) = guard.replace(Current {
        pid,
        generation,
        runtime,
    }) {
        std::mem::forget(old.runtime);
    }
    Ok((handle, generation))
}

/// The runtime's generation: it changes when a forked child builds its own
/// runtime. Connections made under another generation must be discarded.
pub fn generation() -> u64 {
    current().map_or(0, |(_, g)| g)
}

/// Runs `fut` on the I/O runtime and returns a future of its output that any
/// executor can await (it only waits on a channel).
pub fn spawn<F>(fut: F) -> impl Future<Output = Result<F::Output>> + Send + 'static
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = current().map(|(handle, _)| {
        handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
    });
    async move {
        started?;
        rx.await
            .map_err(|_| err!(Internal, "an I/O task ended without a result"))
    }
}

/// Runs `fut` on the I/O runtime: in place when the caller is already a task
/// there (a binding's task awaiting a store call: no second task, no hop
/// between threads), through [`spawn`] otherwise.
pub async fn run<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if IO_THREAD.with(Cell::get) {
        Ok(fut.await)
    } else {
        spawn(fut).await
    }
}

/// Runs `fut` on the I/O runtime and returns at once, with nothing to await:
/// the future reports its own outcome (a binding that settles a JavaScript
/// Promise from the I/O thread). If the runtime cannot start, `fut` is dropped
/// unrun and the error returned.
pub fn detach<F>(fut: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (handle, _) = current()?;
    handle.spawn(fut);
    Ok(())
}

/// Whether the calling thread is one of the I/O runtime's workers (where
/// nothing may block, and no foreign lock such as Python's GIL should be
/// waited for).
#[must_use]
pub fn on_io_thread() -> bool {
    IO_THREAD.with(Cell::get)
}

/// Runs blocking work (a password hash: milliseconds of CPU) on the I/O
/// runtime's blocking pool, never on one of its I/O threads, and returns a
/// future of its output that any executor can await. A panic in `f` becomes
/// an `INTERNAL` error.
pub fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T>> + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let started = current().map(|(handle, _)| handle.spawn_blocking(f));
    async move {
        started?
            .await
            .map_err(|_| err!(Internal, "a blocking task panicked or was cancelled"))
    }
}

/// Runs `fut` on the I/O runtime and blocks the calling thread until it ends.
///
/// Safe from any thread that is not itself a `bastion-io` worker (callers in
/// Python release the GIL around this call).
pub fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (handle, _) = current()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| err!(Internal, "an I/O task ended without a result"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_and_spawn_run_on_the_io_threads() {
        let name = block_on(async { std::thread::current().name().map(str::to_owned) }).unwrap();
        assert_eq!(name.as_deref(), Some("bastion-io"));
        let fut = spawn(async { 41 + 1 });
        // Awaited from a plain thread through block_on of a foreign future.
        let v = block_on(fut).unwrap().unwrap();
        assert_eq!(v, 42);
        assert!(generation() >= 1);
    }

    #[test]
    fn io_threads_setting() {
        assert_eq!(io_threads(None), 1);
        assert_eq!(io_threads(Some("4")), 4);
        assert_eq!(io_threads(Some(" 2 ")), 2);
        for bad in ["0", "65", "-1", "two", "", "1.5"] {
            assert_eq!(io_threads(Some(bad)), 1, "{bad:?}");
        }
    }

    tokio::task_local! {
        static MARK: u32;
    }

    #[test]
    fn run_is_in_place_on_the_io_threads_and_spawned_elsewhere() {
        // The task-local is visible only inside the task that set it: in
        // place, `run` sees it; spawned as a task of its own, it does not.
        let probe = || async { MARK.try_with(|v| *v).ok() };
        // From a task on the I/O runtime: in place.
        let seen = block_on(MARK.scope(7, async move { run(probe()).await.unwrap() })).unwrap();
        assert_eq!(seen, Some(7));
        // From another executor: spawned onto the I/O threads.
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (seen, name) = other.block_on(MARK.scope(7, async move {
            run(async move {
                let seen = probe().await;
                (seen, std::thread::current().name().map(str::to_owned))
            })
            .await
            .unwrap()
        }));
        assert_eq!(seen, None);
        assert_eq!(name.as_deref(), Some("bastion-io"));
    }

    #[test]
    fn detached_futures_run_on_the_io_threads() {
        let (tx, rx) = std::sync::mpsc::channel();
        detach(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        })
        .unwrap();
        assert_eq!(rx.recv().unwrap().as_deref(), Some("bastion-io"));
    }
}
