//! A memory budget that bounds how much Argon2 memory is in use at once.
//!
//! Every Argon2 computation (hash or verify) acquires `memory_cost` KiB from the
//! process-wide [`MemoryLimiter`] before it allocates its block arena, and gives
//! it back when it finishes (also on error or panic). When the budget is fully
//! in use, further callers block on a condition variable, first come first
//! served, until enough is released. A single request larger than the whole
//! budget fails at once with [`ErrorKind::InvalidArgument`](crate::ErrorKind)
//! instead of waiting forever.

use std::collections::VecDeque;

use parking_lot::{Condvar, Mutex};

use crate::error::{err, Result};

/// The default process-wide budget: 1 GiB (1 048 576 KiB), i.e. 16 concurrent
/// hashes at argon2-cffi's default 64 MiB, or 10 at Django's 100 MiB.
pub const DEFAULT_MEMORY_BUDGET_KIB: u64 = 1024 * 1024;

#[derive(Debug)]
struct State {
    budget: u64,
    in_use: u64,
    next_ticket: u64,
    /// Tickets of blocked callers, oldest first; only the front may acquire.
    queue: VecDeque<u64>,
}

/// A counting budget of KiB with blocking, first-come-first-served acquisition.
///
/// Guarantees: the sum of outstanding permits never exceeds the budget in force
/// when each was granted; a request larger than the budget is refused
/// immediately (never a deadlock); waiters are served in arrival order, so a
/// large request is not starved by a stream of small ones.
#[derive(Debug)]
pub struct MemoryLimiter {
    state: Mutex<State>,
    freed: Condvar,
}

/// Memory held from a [`MemoryLimiter`]; released when dropped.
#[derive(Debug)]
#[must_use = "the memory is released as soon as the permit is dropped"]
pub struct MemoryPermit<'a> {
    limiter: &'a MemoryLimiter,
    kib: u64,
}

impl MemoryLimiter {
    /// A limiter with `budget_kib` KiB available (a budget of 0 refuses every
    /// non-empty request).
    #[must_use]
    pub const fn new(budget_kib: u64) -> Self {
        Self {
            state: Mutex::new(State {
                budget: budget_kib,
                in_use: 0,
                next_ticket: 0,
                queue: VecDeque::new(),
            }),
            freed: Condvar::new(),
        }
    }

    /// Takes `kib` KiB from the budget, blocking until they are free.
    ///
    /// # Errors
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) when `kib` exceeds
    /// the whole budget (at the call or, while waiting, after the budget was
    /// lowered).
    pub fn acquire(&self, kib: u64) -> Result<MemoryPermit<'_>> {
        let mut state = self.state.lock();
        if kib > state.budget {
            return Err(over_budget());
        }
        if state.queue.is_empty() && state.in_use + kib <= state.budget {
            state.in_use += kib;
            return Ok(MemoryPermit { limiter: self, kib });
        }
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        state.queue.push_back(ticket);
        loop {
            if kib > state.budget {
                state.queue.retain(|&t| t != ticket);
                drop(state);
                // The head may have changed: let the others re-check.
                self.freed.notify_all();
                return Err(over_budget());
            }
            if state.queue.front() == Some(&ticket) && state.in_use + kib <= state.budget {
                state.queue.pop_front();
                state.in_use += kib;
                let more_waiting = !state.queue.is_empty();
                drop(state);
                if more_waiting {
                    // The next in line may fit in what is left.
                    self.freed.notify_all();
                }
                return Ok(MemoryPermit { limiter: self, kib });
            }
            self.freed.wait(&mut state);
        }
    }

    /// Takes `kib` KiB if they are free right now and nobody is waiting.
    #[must_use]
    pub fn try_acquire(&self, kib: u64) -> Option<MemoryPermit<'_>> {
        let mut state = self.state.lock();
        if state.queue.is_empty() && state.in_use + kib <= state.budget {
            state.in_use += kib;
            Some(MemoryPermit { limiter: self, kib })
        } else {
            None
        }
    }

    /// The budget in KiB.
    #[must_use]
    pub fn budget_kib(&self) -> u64 {
        self.state.lock().budget
    }

    /// Changes the budget. Permits already granted stay valid; if the new budget
    /// is below what is in use, new requests wait until enough is released.
    /// Waiters whose request no longer fits the whole budget fail.
    pub fn set_budget_kib(&self, budget_kib: u64) {
        self.state.lock().budget = budget_kib;
        self.freed.notify_all();
    }

    /// KiB currently held by outstanding permits.
    #[must_use]
    pub fn in_use_kib(&self) -> u64 {
        self.state.lock().in_use
    }

    /// Number of callers currently blocked in [`MemoryLimiter::acquire`].
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.state.lock().queue.len()
    }

    fn release(&self, kib: u64) {
        let mut state = self.state.lock();
        state.in_use -= kib;
        let waiting = !state.queue.is_empty();
        drop(state);
        if waiting {
            self.freed.notify_all();
        }
    }
}

impl MemoryPermit<'_> {
    /// The KiB this permit holds.
    #[must_use]
    pub fn kib(&self) -> u64 {
        self.kib
    }
}

impl Drop for MemoryPermit<'_> {
    fn drop(&mut self) {
        self.limiter.release(self.kib);
    }
}

#[cold]
fn over_budget() -> crate::Error {
    err!(
        InvalidArgument,
        "argon2 memory_cost exceeds the whole password-hashing memory budget \
         (see password::set_memory_budget_kib)"
    )
}

static GLOBAL: MemoryLimiter = MemoryLimiter::new(DEFAULT_MEMORY_BUDGET_KIB);

/// The process-wide limiter every Argon2 hash and verify draws from.
#[must_use]
pub fn global_limiter() -> &'static MemoryLimiter {
    &GLOBAL
}

/// Sets the process-wide Argon2 memory budget in KiB (default
/// [`DEFAULT_MEMORY_BUDGET_KIB`] = 1 GiB).
///
/// # Errors
/// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) for a budget of 0.
pub fn set_memory_budget_kib(budget_kib: u64) -> Result<()> {
    if budget_kib == 0 {
        return Err(err!(
            InvalidArgument,
            "the memory budget must be at least 1 KiB"
        ));
    }
    GLOBAL.set_budget_kib(budget_kib);
    Ok(())
}

/// The process-wide Argon2 memory budget in KiB.
#[must_use]
pub fn memory_budget_kib() -> u64 {
    GLOBAL.budget_kib()
}

/// KiB of the process-wide budget held by Argon2 computations right now.
#[must_use]
pub fn memory_in_use_kib() -> u64 {
    GLOBAL.in_use_kib()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn over_budget_is_an_error_not_a_wait() {
        let l = MemoryLimiter::new(100);
        assert!(l.acquire(101).is_err());
        let p = l.acquire(100).unwrap();
        assert_eq!(l.in_use_kib(), 100);
        assert!(l.try_acquire(1).is_none());
        drop(p);
        assert_eq!(l.in_use_kib(), 0);
    }

    #[test]
    fn waiters_are_served_after_release_in_order() {
        let l = Arc::new(MemoryLimiter::new(100));
        let first = l.acquire(80).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let big = {
            let (l, order) = (Arc::clone(&l), Arc::clone(&order));
            std::thread::spawn(move || {
                let _p = l.acquire(100).unwrap();
                order.lock().push("big");
            })
        };
        while l.waiting() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // 10 KiB would fit, but the big request is ahead in line.
        let small = {
            let (l, order) = (Arc::clone(&l), Arc::clone(&order));
            std::thread::spawn(move || {
                let _p = l.acquire(10).unwrap();
                order.lock().push("small");
            })
        };
        while l.waiting() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(first);
        big.join().unwrap();
        small.join().unwrap();
        assert_eq!(*order.lock(), vec!["big", "small"]);
        assert_eq!(l.in_use_kib(), 0);
        assert_eq!(l.waiting(), 0);
    }

    #[test]
    fn lowering_the_budget_fails_waiters_that_no_longer_fit() {
        let l = Arc::new(MemoryLimiter::new(100));
        let held = l.acquire(60).unwrap();
        let waiter = {
            let l = Arc::clone(&l);
            std::thread::spawn(move || l.acquire(90).map(|p| p.kib()))
        };
        while l.waiting() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        l.set_budget_kib(50);
        assert!(waiter.join().unwrap().is_err());
        assert_eq!(l.waiting(), 0);
        drop(held);
        assert_eq!(l.in_use_kib(), 0);
        assert!(l.acquire(50).is_ok());
    }
}
