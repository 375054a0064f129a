//! A bounded in-process cache with single-flight fills and freshness rules.
//!
//! [`Cache::get`] answers from the cache when it can and otherwise computes
//! the value once for all concurrent callers of the key ([`SingleFlight`]),
//! with the "triple check" of reference deployment 1: look up, take the
//! flight, look up again (another caller may have just filled it), compute.
//!
//! Freshness, all timed by the injected [`Clock`]:
//! - **`ttl`**: a value is fresh for this long after it was stored.
//! - **`stale_while_revalidate`**: for this long after it turned stale, a
//!   value is still served at once while one caller (the flight's leader)
//!   recomputes it; the others do not wait.
//! - **`stale_if_error`**: for this long after it turned stale, a value is
//!   served when the recomputation fails (the caller gets the stale value,
//!   marked stale, instead of the error).
//! - **Early refresh (XFetch)**: a fresh value is recomputed before it
//!   expires when `now - delta * beta * ln(rand) >= expiry` (`delta`: how long
//!   the last computation took; `beta`: `xfetch_beta`, 0 turns it off), so a
//!   hot key is refreshed by one caller ahead of its expiry instead of by
//!   every caller at it. The others keep getting the fresh value.
//! - **Negative caching** (opt-in): a computation that finds nothing
//!   (`None`) is kept for `negative_ttl`; without it, nothing is kept and the
//!   next caller asks again.
//! - **Bounded**: at most `max_entries` values; a full cache evicts expired
//!   values first, then the value that expires soonest. Values are indexed
//!   by expiry, so an insertion into a full cache costs O(log n) whatever
//!   the keys (a flood of distinct keys cannot make each miss scan the
//!   cache).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Joined, Role, SingleFlight};
use crate::clock::{Clock, SystemClock};
use crate::error::{err, Error, Result};
use crate::timespan::micros;

/// How a [`Cache`] keeps values.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheOptions {
    /// How long a value is fresh.
    pub ttl: Duration,
    /// How long after turning stale a value is served while one caller
    /// recomputes it (zero: off).
    pub stale_while_revalidate: Duration,
    /// How long after turning stale a value is served when the
    /// recomputation fails (zero: off).
    pub stale_if_error: Duration,
    /// How long "nothing found" is kept (`None`: not kept).
    pub negative_ttl: Option<Duration>,
    /// XFetch's beta (0: no early refresh; 1: the usual setting).
    pub xfetch_beta: f64,
    /// The most values kept.
    pub max_entries: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            negative_ttl: None,
            xfetch_beta: 1.0,
            max_entries: 10_000,
        }
    }
}

const MAX_SPAN: Duration = Duration::from_secs(365 * 24 * 3600);

impl CacheOptions {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        if self.ttl.is_zero() || self.ttl > MAX_SPAN {
            return Err(err!(
                InvalidArgument,
                "ttl must be more than 0 and at most a year"
            ));
        }
        for (d, what) in [
            (self.stale_while_revalidate, "stale_while_revalidate"),
            (self.stale_if_error, "stale_if_error"),
        ] {
            if d > MAX_SPAN {
                return Err(err!(InvalidArgument, "{what} must be at most a year"));
            }
        }
        if let Some(n) = self.negative_ttl {
            if n.is_zero() || n > MAX_SPAN {
                return Err(err!(
                    InvalidArgument,
                    "negative_ttl must be more than 0 and at most a year"
                ));
            }
        }
        if !(self.xfetch_beta.is_finite() && (0.0..=100.0).contains(&self.xfetch_beta)) {
            return Err(err!(InvalidArgument, "xfetch_beta must be from 0 to 100"));
        }
        if self.max_entries == 0 {
            return Err(err!(InvalidArgument, "max_entries must be at least 1"));
        }
        Ok(())
    }
}

/// Where a value stands at a given time (the freshness rules, shared by the
/// in-process [`Cache`] and the store tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Fresh: served as is.
    Fresh,
    /// Stale: whether it may still be served now (while one caller
    /// revalidates) and if the recomputation fails.
    Stale {
        serve_now: bool,
        serve_on_error: bool,
    },
    /// Past every window: as good as missing.
    Gone,
}

impl CacheOptions {
    /// Where a value expiring at `expires` stands at `now` (µs).
    pub(crate) fn standing(&self, expires: i64, now: i64) -> Standing {
        if now < expires {
            return Standing::Fresh;
        }
        let stale_for = now - expires;
        let serve_now = stale_for < micros(self.stale_while_revalidate);
        let serve_on_error = stale_for < micros(self.stale_if_error);
        if serve_now || serve_on_error {
            Standing::Stale {
                serve_now,
                serve_on_error,
            }
        } else {
            Standing::Gone
        }
    }

    /// Whether XFetch says to refresh a fresh value early, now: `delta` is how
    /// long its computation took, `draw` gives a uniform number in (0, 1).
    pub(crate) fn early(
        &self,
        delta: i64,
        expires: i64,
        now: i64,
        draw: impl FnOnce() -> f64,
    ) -> bool {
        let beta = self.xfetch_beta;
        if beta == 0.0 || delta == 0 {
            return false;
        }
        let gap = -(delta as f64) * beta * draw().ln();
        now as f64 + gap >= expires as f64
    }

    /// How long a computed value is kept fresh: `found` a value, or nothing
    /// found (`None`: not kept).
    pub(crate) fn keep_for(&self, found: bool) -> Option<Duration> {
        match (found, self.negative_ttl) {
            (true, _) => Some(self.ttl),
            (false, Some(n)) => Some(n),
            (false, None) => None,
        }
    }

    /// How long a value is kept after it turns stale (µs).
    pub(crate) fn stale_keep(&self) -> i64 {
        micros(self.stale_while_revalidate.max(self.stale_if_error))
    }
}

/// The stale-if-error rule: a failed recomputation answers with the stale
/// value when one may still be served (`served` counts it), else the error.
pub(crate) fn stale_if_error<V: Clone>(
    error: Error,
    stale: Option<&Option<V>>,
    served: impl FnOnce(),
) -> Result<Answer<V>> {
    match stale {
        Some(value) => {
            served();
            Ok(Answer {
                value: value.clone(),
                source: Source::StaleIfError,
            })
        }
        None => Err(error),
    }
}

/// XFetch's random draws: xorshift64*, seeded from the system generator or
/// fixed (tests).
pub(crate) struct Draws(Mutex<u64>);

impl Draws {
    pub(crate) fn new(seed: Option<u64>) -> Result<Self> {
        let seed = match seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                aws_lc_rs::rand::fill(&mut b)
                    .map_err(|_| err!(Internal, "the random generator failed"))?;
                u64::from_le_bytes(b)
            }
        };
        Ok(Self(Mutex::new(seed | 1)))
    }

    /// A uniform draw in (0, 1).
    pub(crate) fn uniform(&self) -> f64 {
        let mut s = self.0.lock();
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        let x = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

#[derive(Clone)]
struct Entry<V> {
    /// `None`: a kept "nothing found".
    value: Option<V>,
    /// When it stops being fresh (µs).
    expires: i64,
    /// How long its computation took (µs), for XFetch.
    delta: i64,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A fresh value from the cache.
    Hit,
    /// Computed by this caller.
    Computed,
    /// Computed by another caller of the same flight.
    Shared,
    /// A stale value, served while one caller recomputes it.
    StaleWhileRevalidate,
    /// A stale value, served because the recomputation failed.
    StaleIfError,
}

impl Source {
    /// The stable name bindings report (`"hit"`, `"computed"`, `"shared"`,
    /// `"stale_while_revalidate"`, `"stale_if_error"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Computed => "computed",
            Self::Shared => "shared",
            Self::StaleWhileRevalidate => "stale_while_revalidate",
            Self::StaleIfError => "stale_if_error",
        }
    }
}

/// A cache's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<V> {
    /// The value (`None`: nothing found).
    pub value: Option<V>,
    /// Where it came from.
    pub source: Source,
}

/// Counts since the cache was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Fresh answers from the cache.
    pub hits: u64,
    /// Answers that needed a computation (this caller's or a flight's).
    pub misses: u64,
    /// Computations run.
    pub computations: u64,
    /// Early refreshes (XFetch).
    pub early_refreshes: u64,
    /// Stale values served.
    pub stale_served: u64,
    /// Values evicted to stay within `max_entries`.
    pub evictions: u64,
    /// Values kept now.
    pub entries: u64,
}

/// The values, and an index of them by expiry (ties by insertion order) for
/// eviction in O(log n).
struct Entries<V> {
    map: HashMap<Arc<str>, (Entry<V>, u64)>,
    by_expiry: BTreeMap<(i64, u64), Arc<str>>,
    seq: u64,
}

impl<V> Entries<V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            by_expiry: BTreeMap::new(),
            seq: 0,
        }
    }

    fn get(&self, key: &str) -> Option<&Entry<V>> {
        self.map.get(key).map(|(e, _)| e)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn remove(&mut self, key: &str) {
        if let Some((e, seq)) = self.map.remove(key) {
            self.by_expiry.remove(&(e.expires, seq));
        }
    }

    fn insert(&mut self, key: &str, entry: Entry<V>) {
        self.remove(key);
        self.seq += 1;
        let key: Arc<str> = Arc::from(key);
        self.by_expiry
            .insert((entry.expires, self.seq), Arc::clone(&key));
        self.map.insert(key, (entry, self.seq));
    }

    /// Makes room for one more value under `max`: values expired past
    /// every stale window go first, then the soonest to expire. Returns how
    /// many were evicted.
    fn make_room(&mut self, max: usize, now: i64, keep_stale: i64) -> u64 {
        let mut evicted = 0;
        while let Some((&(expires, _), _)) = self.by_expiry.first_key_value() {
            let dead = expires.saturating_add(keep_stale) <= now;
            if !dead && self.map.len() < max {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.map.remove(&key);
                evicted += 1;
            }
        }
        evicted
    }
}

struct Inner<V> {
    options: CacheOptions,
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries<V>>,
    flights: SingleFlight<Entry<V>>,
    draws: Draws,
    stats: Mutex<CacheStats>,
}

/// A bounded in-process cache with single-flight fills. Cloning shares it.
pub struct Cache<V> {
    inner: Arc<Inner<V>>,
}

impl<V> Clone for Cache<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

enum Look<V> {
    Fresh(Entry<V>),
    /// Stale, with whether it may still be served now (while revalidating)
    /// and later (if the computation fails).
    Stale {
        entry: Entry<V>,
        serve_now: bool,
        serve_on_error: bool,
    },
    Miss,
}

impl<V: Clone + Send + Sync + 'static> Cache<V> {
    /// A cache on the system clock.
    pub fn new(options: CacheOptions) -> Result<Self> {
        Self::with_clock(options, Arc::new(SystemClock), None)
    }

    /// A cache reading time from `clock`; `seed` fixes XFetch's random
    /// draws (tests), otherwise they come from the system's generator.
    pub fn with_clock(
        options: CacheOptions,
        clock: Arc<dyn Clock>,
        seed: Option<u64>,
    ) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                clock,
                entries: Mutex::new(Entries::new()),
                flights: SingleFlight::new(),
                draws: Draws::new(seed)?,
                stats: Mutex::new(CacheStats::default()),
            }),
        })
    }

    fn look(&self, key: &str, now: i64) -> Look<V> {
        let entries = self.inner.entries.lock();
        let Some(e) = entries.get(key) else {
            return Look::Miss;
        };
        match self.inner.options.standing(e.expires, now) {
            Standing::Fresh => Look::Fresh(e.clone()),
            Standing::Stale {
                serve_now,
                serve_on_error,
            } => Look::Stale {
                entry: e.clone(),
                serve_now,
                serve_on_error,
            },
            Standing::Gone => Look::Miss,
        }
    }

    /// Whether XFetch says to refresh `e` early, now.
    fn early(&self, e: &Entry<V>, now: i64) -> bool {
        self.inner
            .options
            .early(e.delta, e.expires, now, || self.inner.draws.uniform())
    }

    fn count(&self, f: impl FnOnce(&mut CacheStats)) {
        f(&mut self.inner.stats.lock());
    }

    /// The value of `key`: from the cache when fresh, otherwise computed once
    /// for all concurrent callers by `compute` (`Ok(None)`: nothing found).
    pub fn get(&self, key: &str, compute: impl Fn() -> Result<Option<V>>) -> Result<Answer<V>> {
        let now = self.inner.clock.now_micros();
        let stale = match self.look(key, now) {
            Look::Fresh(e) => {
                if !self.early(&e, now) {
                    self.count(|s| s.hits += 1);
                    return Ok(Answer {
                        value: e.value,
                        source: Source::Hit,
                    });
                }
                // XFetch: one caller refreshes ahead of expiry; a flight
                // already running means someone is: serve the fresh value.
                match self.inner.flights.begin(key) {
                    Role::Leader(leader) => {
                        self.count(|s| s.early_refreshes += 1);
                        return self.lead(key, leader, &compute, None);
                    }
                    Role::Follower(_) => {
                        self.count(|s| s.hits += 1);
                        return Ok(Answer {
                            value: e.value,
                            source: Source::Hit,
                        });
                    }
                }
            }
            Look::Stale {
                entry,
                serve_now,
                serve_on_error,
            } => Some((entry, serve_now, serve_on_error)),
            Look::Miss => None,
        };
        self.count(|s| s.misses += 1);
        let mut role = self.inner.flights.begin(key);
        loop {
            match role {
                Role::Leader(leader) => {
                    // The triple check: a leader that finished just before
                    // this caller took the flight has filled the cache.
                    if let Look::Fresh(e) = self.look(key, self.inner.clock.now_micros()) {
                        leader.complete(Ok(e.clone()));
                        return Ok(Answer {
                            value: e.value,
                            source: Source::Shared,
                        });
                    }
                    let fallback = stale.as_ref().filter(|s| s.2).map(|s| s.0.clone());
                    return self.lead(key, leader, &compute, fallback);
                }
                Role::Follower(follower) => {
                    if let Some((entry, true, _)) = &stale {
                        // Someone is revalidating: serve the stale value now.
                        self.count(|s| s.stale_served += 1);
                        drop(follower);
                        return Ok(Answer {
                            value: entry.value.clone(),
                            source: Source::StaleWhileRevalidate,
                        });
                    }
                    match follower.wait() {
                        Joined::Shared(Ok(e)) => {
                            return Ok(Answer {
                                value: e.value,
                                source: Source::Shared,
                            })
                        }
                        Joined::Shared(Err(error)) => {
                            return self
                                .on_error(error, stale.as_ref().filter(|s| s.2).map(|s| &s.0))
                        }
                        Joined::Lead(leader) => role = Role::Leader(leader),
                    }
                }
            }
        }
    }

    /// Computes as the flight's leader, stores, and hands the outcome to the
    /// flight's followers.
    fn lead(
        &self,
        key: &str,
        leader: super::Leader<Entry<V>>,
        compute: &impl Fn() -> Result<Option<V>>,
        stale_on_error: Option<Entry<V>>,
    ) -> Result<Answer<V>> {
        let started = self.inner.clock.now_micros();
        self.count(|s| s.computations += 1);
        match compute() {
            Ok(value) => {
                let now = self.inner.clock.now_micros();
                let keep = self.inner.options.keep_for(value.is_some());
                let entry = Entry {
                    value: value.clone(),
                    expires: now.saturating_add(keep.map_or(0, micros)),
                    delta: (now - started).max(0),
                };
                if keep.is_some() {
                    self.store(key, entry.clone(), now);
                } else {
                    self.inner.entries.lock().remove(key);
                }
                leader.complete(Ok(entry));
                Ok(Answer {
                    value,
                    source: Source::Computed,
                })
            }
            Err(error) => {
                leader.complete(Err(error.clone()));
                self.on_error(error, stale_on_error.as_ref())
            }
        }
    }

    fn on_error(&self, error: Error, stale: Option<&Entry<V>>) -> Result<Answer<V>> {
        stale_if_error(error, stale.map(|e| &e.value), || {
            self.count(|s| s.stale_served += 1);
        })
    }

    fn store(&self, key: &str, entry: Entry<V>, now: i64) {
        let o = &self.inner.options;
        let keep_stale = o.stale_keep();
        let mut entries = self.inner.entries.lock();
        entries.remove(key);
        if entries.len() >= o.max_entries {
            let evicted = entries.make_room(o.max_entries, now, keep_stale);
            self.count(|s| s.evictions += evicted);
        }
        entries.insert(key, entry);
    }

    /// Removes `key`'s value (the next caller computes it).
    pub fn invalidate(&self, key: &str) {
        self.inner.entries.lock().remove(key);
        self.inner.flights.forget(key);
    }

    /// Counts since the cache was made, and the values kept now.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let mut s = *self.inner.stats.lock();
        s.entries = self.inner.entries.lock().len() as u64;
        s
    }
}
