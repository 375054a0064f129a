//! Single-flight: concurrent callers of one key share one computation; and
//! [`cache::Cache`], a bounded cache filled through it. Across processes:
//! [`lease`] (one holder per name in a store, with fencing tokens and
//! broadcast wake-ups) and [`shared::SharedCache`], the cache tier shared
//! through a store on top of both.
//!
//! [`SingleFlight::begin`] makes the first caller of a key its [`Leader`] and
//! every later caller, until the leader finishes, a [`Follower`] of the same
//! flight. The leader computes and hands its outcome to
//! [`Leader::complete`]; each follower waiting at that moment receives it
//! (from a plain thread with [`Follower::wait`], from async code with
//! [`Follower::wait_async`]).
//!
//! Guarantees:
//! - **One computation per flight.** While a flight runs, every caller of its
//!   key joins it; exactly one of them computes.
//! - **Outcomes are not kept.** A completed flight leaves the table before
//!   its outcome is handed out: an error goes to the callers waiting at that
//!   moment only, and the next caller starts a new flight (so does the next
//!   caller after a success: keeping values is a cache's business, not this
//!   table's).
//! - **A leader that goes away is replaced.** A [`Leader`] dropped without
//!   completing (its caller was cancelled, or panicked) abandons the flight:
//!   one of the waiting followers is handed the lead ([`Joined::Lead`]) and
//!   computes instead, the others keep waiting for it. With nobody waiting the
//!   flight is removed.
//! - **Bounded.** A flight is removed when it completes or is abandoned with
//!   nobody waiting; the table holds only the flights running now.
//!   [`SingleFlight::forget`] removes a key's flight at once: its followers
//!   still get its outcome, new callers start afresh.

pub mod cache;
pub mod lease;
mod near;
pub mod shared;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

use crate::error::{Error, Result};

enum State<V> {
    /// The leader is computing.
    Running,
    /// The leader went away; the next follower to look takes over.
    Abandoned,
    /// The outcome, for the followers waiting now.
    Done(std::result::Result<V, Error>),
}

struct Flight<V> {
    id: u64,
    state: Mutex<(State<V>, usize)>,
    cond: Condvar,
    notify: Notify,
}

impl<V> Flight<V> {
    fn wake(&self) {
        self.cond.notify_all();
        self.notify.notify_waiters();
    }
}

struct Table<V> {
    flights: Mutex<HashMap<String, Arc<Flight<V>>>>,
    next_id: AtomicU64,
}

/// Coalesces concurrent computations per key. Cloning shares the table.
pub struct SingleFlight<V> {
    table: Arc<Table<V>>,
}

impl<V> Clone for SingleFlight<V> {
    fn clone(&self) -> Self {
        Self {
            table: Arc::clone(&self.table),
        }
    }
}

impl<V> Default for SingleFlight<V> {
    fn default() -> Self {
        Self {
            table: Arc::new(Table {
                flights: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }
}

impl<V> std::fmt::Debug for SingleFlight<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SingleFlight({} in flight)", self.in_flight())
    }
}

/// A caller's part in a flight.
#[derive(Debug)]
pub enum Role<V> {
    /// Compute, then [`Leader::complete`].
    Leader(Leader<V>),
    /// Wait for the leader's outcome.
    Follower(Follower<V>),
}

/// What a follower gets.
#[derive(Debug)]
pub enum Joined<V> {
    /// The leader's outcome, shared with every caller waiting for it.
    Shared(std::result::Result<V, Error>),
    /// The leader went away: this caller computes instead.
    Lead(Leader<V>),
}

impl<V: Clone> SingleFlight<V> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Joins the flight of `key`, or starts one with this caller as its leader.
    pub fn begin(&self, key: &str) -> Role<V> {
        let mut flights = self.table.flights.lock();
        if let Some(flight) = flights.get(key) {
            let mut st = flight.state.lock();
            match st.0 {
                State::Running => {
                    st.1 += 1;
                    drop(st);
                    return Role::Follower(Follower {
                        table: Arc::clone(&self.table),
                        key: key.to_owned(),
                        flight: Some(Arc::clone(flight)),
                    });
                }
                State::Abandoned => {
                    // Nobody has taken over yet: this caller does.
                    st.0 = State::Running;
                    drop(st);
                    return Role::Leader(Leader {
                        table: Arc::clone(&self.table),
                        key: key.to_owned(),
                        flight: Some(Arc::clone(flight)),
                    });
                }
                // A completed flight leaves the table before it is marked done.
                State::Done(_) => {}
            }
        }
        let flight = Arc::new(Flight {
            id: self.table.next_id.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new((State::Running, 0)),
            cond: Condvar::new(),
            notify: Notify::new(),
        });
        flights.insert(key.to_owned(), Arc::clone(&flight));
        Role::Leader(Leader {
            table: Arc::clone(&self.table),
            key: key.to_owned(),
            flight: Some(flight),
        })
    }

    /// Removes `key`'s flight: its followers still get its outcome; the next
    /// caller of `key` starts a new flight.
    pub fn forget(&self, key: &str) {
        self.table.flights.lock().remove(key);
    }
}

impl<V> SingleFlight<V> {
    /// How many callers are waiting for `key`'s flight now (0 with none
    /// running).
    #[must_use]
    pub fn waiting(&self, key: &str) -> usize {
        self.table
            .flights
            .lock()
            .get(key)
            .map_or(0, |f| f.state.lock().1)
    }

    /// How many flights are running.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.table.flights.lock().len()
    }
}

/// Removes `flight` from the table if `key` still maps to it.
fn unlist<V>(table: &Table<V>, key: &str, flight: &Arc<Flight<V>>) {
    let mut flights = table.flights.lock();
    if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
        flights.remove(key);
    }
}

/// The caller computing a flight. Dropped without [`Leader::complete`], it
/// hands the flight to a waiting follower.
#[must_use = "compute, then complete() the flight"]
pub struct Leader<V> {
    table: Arc<Table<V>>,
    key: String,
    flight: Option<Arc<Flight<V>>>,
}

impl<V> std::fmt::Debug for Leader<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leader({:?})", self.key)
    }
}

impl<V> Leader<V> {
    /// The flight's number (distinct for every flight of this table).
    #[must_use]
    pub fn flight_id(&self) -> u64 {
        self.flight.as_ref().map_or(0, |f| f.id)
    }

    /// Hands `outcome` to every follower waiting now; returns how many there
    /// were (0: the result was nobody else's). The flight leaves the table
    /// first, so the next caller starts a new one.
    pub fn complete(mut self, outcome: std::result::Result<V, Error>) -> usize {
        let Some(flight) = self.flight.take() else {
            return 0;
        };
        unlist(&self.table, &self.key, &flight);
        let waiting = {
            let mut st = flight.state.lock();
            st.0 = State::Done(outcome);
            st.1
        };
        flight.wake();
        waiting
    }
}

impl<V> Drop for Leader<V> {
    fn drop(&mut self) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        let nobody = {
            let mut st = flight.state.lock();
            st.0 = State::Abandoned;
            st.1 == 0
        };
        if nobody {
            unlist(&self.table, &self.key, &flight);
        }
        flight.wake();
    }
}

/// A caller waiting for a flight's outcome. Dropped, it stops waiting.
pub struct Follower<V> {
    table: Arc<Table<V>>,
    key: String,
    flight: Option<Arc<Flight<V>>>,
}

impl<V> std::fmt::Debug for Follower<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Follower({:?})", self.key)
    }
}

impl<V: Clone> Follower<V> {
    /// Looks at the flight once: the outcome, the lead, or not yet.
    fn poll(&mut self) -> Option<Joined<V>> {
        let flight = self.flight.as_ref()?;
        let mut st = flight.state.lock();
        match &st.0 {
            State::Running => None,
            State::Done(outcome) => {
                let outcome = outcome.clone();
                st.1 = st.1.saturating_sub(1);
                drop(st);
                self.flight = None;
                Some(Joined::Shared(outcome))
            }
            State::Abandoned => {
                st.0 = State::Running;
                st.1 = st.1.saturating_sub(1);
                drop(st);
                Some(Joined::Lead(Leader {
                    table: Arc::clone(&self.table),
                    key: std::mem::take(&mut self.key),
                    flight: self.flight.take(),
                }))
            }
        }
    }

    /// Blocks this thread until the outcome (or the lead) comes. See
    /// [`Follower::wait_for`] for a bounded wait.
    pub fn wait(mut self) -> Joined<V> {
        loop {
            if let Some(j) = self.poll() {
                return j;
            }
            let Some(flight) = self.flight.clone() else {
                unreachable!("a follower without a flight has returned");
            };
            let mut st = flight.state.lock();
            if matches!(st.0, State::Running) {
                flight.cond.wait(&mut st);
            }
        }
    }

    /// Like [`Follower::wait`], giving up after `timeout` (the follower is
    /// handed back, still in the flight).
    pub fn wait_for(mut self, timeout: Duration) -> std::result::Result<Joined<V>, Self> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(j) = self.poll() {
                return Ok(j);
            }
            let Some(flight) = self.flight.clone() else {
                return Err(self);
            };
            let mut st = flight.state.lock();
            if matches!(st.0, State::Running) {
                let timed_out = flight.cond.wait_until(&mut st, deadline).timed_out();
                // Woken at the deadline, the flight may still have moved on.
                let still_running = matches!(st.0, State::Running);
                if timed_out && still_running {
                    drop(st);
                    return Err(self);
                }
            }
        }
    }

    /// Waits from async code for the outcome (or the lead). Cancelling the
    /// wait (dropping the future) leaves the flight.
    pub async fn wait_async(mut self) -> Joined<V> {
        loop {
            let Some(flight) = self.flight.clone() else {
                unreachable!("a follower without a flight has returned");
            };
            let notified = flight.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(j) = self.poll() {
                return j;
            }
            notified.await;
        }
    }
}

impl<V> Drop for Follower<V> {
    fn drop(&mut self) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        let remove = {
            let mut st = flight.state.lock();
            st.1 = st.1.saturating_sub(1);
            matches!(st.0, State::Abandoned) && st.1 == 0
        };
        if remove {
            unlist(&self.table, &self.key, &flight);
        }
    }
}

/// Runs `compute` once for all concurrent callers of `key` (a blocking
/// convenience for Rust callers on plain threads): the outcome, and whether it
/// was shared with other callers.
pub fn run<V: Clone>(
    flights: &SingleFlight<V>,
    key: &str,
    compute: impl Fn() -> Result<V>,
) -> (Result<V>, bool) {
    let mut role = flights.begin(key);
    loop {
        match role {
            Role::Leader(leader) => {
                let outcome = compute();
                let shared = leader.complete(outcome.clone()) > 0;
                return (outcome, shared);
            }
            Role::Follower(follower) => match follower.wait() {
                Joined::Shared(outcome) => return (outcome, true),
                Joined::Lead(leader) => role = Role::Leader(leader),
            },
        }
    }
}
