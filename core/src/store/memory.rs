//! The embedded store: this process's memory.
//!
//! Guarantees:
//! - **Atomic decisions.** Keys are sharded by their hash tag, so every key of
//!   one decision lives in one shard, and a decision runs under that shard's
//!   lock: one critical section, like one Lua script on Redis.
//! - **TTL on every entry.** Writing a value requires its expiry. An expired
//!   entry is invisible at once (reads check the expiry) and its memory is
//!   reclaimed by incremental sweeping: each shard files its keys in
//!   one-second expiry buckets; every decision pops a bounded number of due
//!   keys from its own shard and from one other shard taken round-robin. There
//!   is no timer per key, no background thread and no full scan.
//! - **A hard cap on keys** (`max_keys`, default one million, counted over
//!   the whole store, so one busy hash tag can use all of it). Overflow
//!   policy: a write that would add a key to a full store first sweeps its
//!   shard harder; if the store is still full the write is refused with [`ErrorKind::StoreFull`](crate::ErrorKind::StoreFull) and
//!   existing keys are untouched. Nothing is evicted early, so a flood of new
//!   keys can never push out a revocation or a lockout; the component's
//!   outage policy decides what a refused write means.
//! - **Time** comes from the injected clock ([`MemoryOptions::clock`]).

use super::{hash_tag, Decision};
use crate::clock::{self, SharedClock};
use crate::error::{err, Result};
use parking_lot::Mutex;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many due keys one decision sweeps from its own shard.
const SWEEP_OWN: usize = 16;
/// How many due keys one decision sweeps from the next shard in turn.
const SWEEP_OTHER: usize = 8;
/// How many due keys a write into a full store may sweep before refusing.
const SWEEP_FULL: usize = 256;

/// Options of a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryOptions {
    /// The most keys the store holds (default 1,000,000).
    pub max_keys: usize,
    /// The number of shards, rounded up to a power of two (default 64).
    pub shards: usize,
    /// The time source (default: the system clock).
    pub clock: SharedClock,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            max_keys: 1_000_000,
            shards: 64,
            clock: clock::system(),
        }
    }
}

/// A value kept in the memory store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (a counter, a timestamp, a mark).
    Int(i64),
    /// Opaque bytes (a serialized record).
    Bytes(Vec<u8>),
    /// A small map of named fields (a Redis hash).
    Fields(Vec<(String, Vec<u8>)>),
    /// Four integers kept inline, with no allocation: the state of the O(1)
    /// rate-limit algorithms and of a lockout key.
    Words([i64; 4]),
    /// A list of integers (the log of an exact sliding window).
    Ints(Vec<i64>),
    /// A sorted set of members with integer scores, like a Redis sorted set
    /// (the lockout's indexes). Boxed, so the variant adds nothing to the
    /// size of the other values.
    Scores(Box<ScoreSet>),
}

/// Members with integer scores, ordered by score then member: the memory
/// form of a Redis sorted set. Every operation is O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoreSet {
    scores: HashMap<String, i64>,
    order: BTreeSet<(i64, String)>,
}

impl ScoreSet {
    /// Sets `member`'s score (adding it when new).
    pub fn add(&mut self, member: &str, score: i64) {
        if let Some(old) = self.scores.insert(member.to_owned(), score) {
            self.order.remove(&(old, member.to_owned()));
        }
        self.order.insert((score, member.to_owned()));
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(old) => self.order.remove(&(old, member.to_owned())),
            None => false,
        }
    }

    /// `member`'s score.
    #[must_use]
    pub fn score(&self, member: &str) -> Option<i64> {
        self.scores.get(member).copied()
    }

    /// Removes every member scored at most `max`; returns how many.
    pub fn remove_up_to(&mut self, max: i64) -> usize {
        let mut removed = 0;
        while let Some((score, _)) = self.order.first() {
            if *score > max {
                break;
            }
            if let Some((_, member)) = self.order.pop_first() {
                self.scores.remove(&member);
                removed += 1;
            }
        }
        removed
    }

    /// Removes and returns the member with the lowest score.
    pub fn pop_min(&mut self) -> Option<(String, i64)> {
        let (score, member) = self.order.pop_first()?;
        self.scores.remove(&member);
        Some((member, score))
    }

    /// The highest score.
    #[must_use]
    pub fn max_score(&self) -> Option<i64> {
        self.order.last().map(|(s, _)| *s)
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when there is no member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The members scored above `min`, lowest score first.
    pub fn above(&self, min: i64) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.order
            .range((min.saturating_add(1), String::new())..)
            .map(|(s, m)| (m.as_str(), *s))
    }

    fn approx_size(&self) -> usize {
        self.scores.keys().map(|m| 2 * m.len() + 96).sum()
    }
}

impl Value {
    /// A field of a [`Value::Fields`].
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        match self {
            Self::Fields(f) => f.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice()),
            _ => None,
        }
    }

    /// A field of a [`Value::Fields`] read as a decimal integer.
    #[must_use]
    pub fn field_int(&self, name: &str) -> Option<i64> {
        self.field(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
    }

    /// Sets a field (a [`Value::Fields`] is created from any other variant).
    pub fn set_field(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        if !matches!(self, Self::Fields(_)) {
            *self = Self::Fields(Vec::new());
        }
        if let Self::Fields(f) = self {
            let value = value.into();
            if let Some(slot) = f.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value;
            } else {
                f.push((name.to_owned(), value));
            }
        }
    }

    fn approx_size(&self) -> usize {
        match self {
            Self::Int(_) => 8,
            Self::Bytes(b) => b.len(),
            Self::Fields(f) => f.iter().map(|(n, v)| n.len() + v.len() + 48).sum(),
            Self::Words(_) => 32,
            Self::Ints(v) => v.len() * 8,
            Self::Scores(s) => s.approx_size(),
        }
    }
}

struct Entry {
    value: Value,
    expires_at: i64,
    /// The expiry bucket (whole second) the key is filed under.
    slot: i64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Arc<str>, Entry>,
    wheel: BTreeMap<i64, Vec<Arc<str>>>,
}

fn slot_of(expires_at: i64) -> i64 {
    expires_at.div_euclid(1_000_000)
}

impl Shard {
    /// Examines up to `budget` due keys, removing the expired ones (and
    /// counting each removal off `live`).
    fn sweep(&mut self, now: i64, mut budget: usize, live: &AtomicUsize) {
        while budget > 0 {
            let Some(mut first) = self.wheel.first_entry() else {
                return;
            };
            let slot = *first.key();
            // A bucket is due once every expiry it can hold has passed.
            if (slot + 1).saturating_mul(1_000_000) > now {
                return;
            }
            let Some(key) = first.get_mut().pop() else {
                first.remove();
                continue;
            };
            if first.get().is_empty() {
                first.remove();
            }
            budget -= 1;
            let refile = match self.map.get_mut(&key) {
                // Filed again elsewhere since: this filing is stale.
                Some(e) if e.slot != slot => None,
                Some(e) if e.expires_at <= now => {
                    self.map.remove(&key);
                    live.fetch_sub(1, Ordering::Relaxed);
                    None
                }
                Some(e) => {
                    e.slot = slot_of(e.expires_at);
                    Some(e.slot)
                }
                None => None,
            };
            if let Some(s) = refile {
                self.wheel.entry(s).or_default().push(key);
            }
        }
    }
}

/// The embedded, sharded in-memory store. See the module docs for its guarantees.
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    seed: u64,
    max_keys: usize,
    /// Keys held (expired but unswept included): the count the cap applies to.
    live: AtomicUsize,
    clock: SharedClock,
    cursor: AtomicUsize,
    /// An in-process fallback a shared component made for itself (outage
    /// policy `local`): left out of the health snapshot.
    pub(super) fallback: bool,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl MemoryStore {
    /// A store with `options`.
    #[must_use]
    pub fn new(options: MemoryOptions) -> Self {
        let n = options.shards.clamp(1, 4096).next_power_of_two();
        Self {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            seed: RandomState::new().hash_one(0x5EED_u64) | 1,
            max_keys: options.max_keys.max(1),
            live: AtomicUsize::new(0),
            clock: options.clock,
            cursor: AtomicUsize::new(0),
            fallback: false,
        }
    }

    /// Whether this is the in-process fallback of a shared component (made
    /// by the component for its outage policy `local`, not by the user).
    #[must_use]
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// The store's clock.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The most keys the store holds.
    #[must_use]
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Live keys right now, and the approximate bytes their values take
    /// (walks every shard: for metrics and tests, not the hot path).
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        let now = self.clock.now_micros();
        let mut keys = 0;
        let mut bytes = 0;
        for s in self.shards.iter() {
            let s = s.lock();
            for (k, e) in &s.map {
                if e.expires_at > now {
                    keys += 1;
                    bytes += k.len() + e.value.approx_size() + 64;
                }
            }
        }
        (keys, bytes)
    }

    /// Keys held, expired but not yet swept included.
    #[must_use]
    pub fn held_keys(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The shard of a hash tag: a multiplicative hash seeded at random per
    /// store. It only spreads lock contention, so it need not resist chosen
    /// inputs; the map inside each shard keeps SipHash, which does.
    fn shard_of_tag(&self, tag: &str) -> usize {
        let mut h = self.seed;
        for chunk in tag.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
        }
        ((h >> 32) as usize) & (self.shards.len() - 1)
    }

    /// Runs one decision in its shard's critical section.
    pub fn run<D: Decision + ?Sized>(&self, decision: &D) -> Result<D::Output> {
        let owned;
        let keys = match decision.key_slice() {
            Some(k) => k,
            None => {
                owned = decision.keys();
                &owned[..]
            }
        };
        let Some(first) = keys.first() else {
            return Err(err!(Internal, "a store decision has no keys"));
        };
        let tag = hash_tag(first);
        if keys.len() > 1 && keys[1..].iter().any(|k| hash_tag(k) != tag) {
            return Err(err!(
                Internal,
                "the keys of one decision must share one hash tag"
            ));
        }
        let idx = self.shard_of_tag(tag);
        let now = self.clock.now_micros();
        let out = {
            let mut shard = self.shards[idx].lock();
            shard.sweep(now, SWEEP_OWN, &self.live);
            let mut txn = Txn {
                shard: &mut shard,
                now,
                cap: self.max_keys,
                live: &self.live,
            };
            decision.apply(&mut txn)
        };
        // Keep shards nobody touches from holding expired keys forever.
        let other = self.cursor.fetch_add(1, Ordering::Relaxed) & (self.shards.len() - 1);
        if other != idx {
            if let Some(mut s) = self.shards[other].try_lock() {
                s.sweep(now, SWEEP_OTHER, &self.live);
            }
        }
        out
    }

    /// Sweeps every shard completely (tests and maintenance; not the hot path).
    pub fn sweep_all(&self) {
        let now = self.clock.now_micros();
        for s in self.shards.iter() {
            s.lock().sweep(now, usize::MAX, &self.live);
        }
    }
}

/// A decision's view of its shard, inside the critical section.
pub struct Txn<'a> {
    shard: &'a mut Shard,
    now: i64,
    cap: usize,
    live: &'a AtomicUsize,
}

impl Txn<'_> {
    /// The decision's time, microseconds since the epoch.
    #[must_use]
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The live value at `key` (an expired one reads as absent).
    pub fn get(&mut self, key: &str) -> Option<&Value> {
        self.get_mut(key).map(|v| &*v)
    }

    /// The live value at `key`, for an in-place update (its expiry unchanged).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let now = self.now;
        match self.shard.map.get(key) {
            Some(e) if e.expires_at <= now => {
                self.drop_key(key);
                None
            }
            Some(_) => self.shard.map.get_mut(key).map(|e| &mut e.value),
            None => None,
        }
    }

    /// The expiry of the live value at `key`, microseconds since the epoch.
    pub fn expires_at(&mut self, key: &str) -> Option<i64> {
        self.get(key)?;
        self.shard.map.get(key).map(|e| e.expires_at)
    }

    /// Writes `value` at `key`, living until `expires_at` (microseconds since
    /// the epoch). An expiry not after now deletes the key. Refused with
    /// `STORE_FULL` when the key is new and the shard is full.
    pub fn put(&mut self, key: &str, value: Value, expires_at: i64) -> Result<()> {
        if expires_at <= self.now {
            self.drop_key(key);
            return Ok(());
        }
        if let Some(e) = self.shard.map.get_mut(key) {
            e.value = value;
            self.refile(key, expires_at);
            return Ok(());
        }
        self.insert_new(key, value, expires_at)
    }

    /// Adds `key`, known to be absent, living until `expires_at` (after now):
    /// one hash of the key. Refused with `STORE_FULL` when the store is full.
    fn insert_new(&mut self, key: &str, value: Value, expires_at: i64) -> Result<()> {
        let slot = slot_of(expires_at);
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.cap {
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.shard.sweep(self.now, SWEEP_FULL, self.live);
            if self.live.fetch_add(1, Ordering::Relaxed) >= self.cap {
                self.live.fetch_sub(1, Ordering::Relaxed);
                return Err(err!(
                    StoreFull,
                    "the memory store is full ({} keys); raise max_keys",
                    self.cap
                ));
            }
        }
        let k: Arc<str> = Arc::from(key);
        self.shard
            .wheel
            .entry(slot)
            .or_default()
            .push(Arc::clone(&k));
        self.shard.map.insert(
            k,
            Entry {
                value,
                expires_at,
                slot,
            },
        );
        Ok(())
    }

    /// Reads, changes and writes back the value at `key`, usually with one
    /// hash lookup: `f` receives the live value and its expiry (moved out;
    /// `None` when absent or expired) and returns what to keep with its
    /// expiry (`None`: delete the key) and a result. A new key may be refused with
    /// `STORE_FULL`, as by [`Txn::put`].
    pub fn update<R>(
        &mut self,
        key: &str,
        f: impl FnOnce(Option<(Value, i64)>) -> (Option<(Value, i64)>, R),
    ) -> Result<R> {
        let now = self.now;
        let Some(e) = self.shard.map.get_mut(key) else {
            let (new, r) = f(None);
            if let Some((value, at)) = new.filter(|(_, at)| *at > now) {
                self.insert_new(key, value, at)?;
            }
            return Ok(r);
        };
        let old = (e.expires_at > now)
            .then(|| (std::mem::replace(&mut e.value, Value::Int(0)), e.expires_at));
        let (new, r) = f(old);
        match new {
            Some((value, at)) if at > now => {
                e.value = value;
                e.expires_at = at;
                let slot = slot_of(at);
                if slot < e.slot {
                    // Filed earlier than before (rare): file it again, so the
                    // sweep finds it when due.
                    e.slot = slot;
                    self.file(key, slot);
                }
            }
            _ => self.drop_key(key),
        }
        Ok(r)
    }

    /// Takes the live value at `key` out for an update in place, leaving a
    /// placeholder: the caller must [`Txn::put`] a value back (or
    /// [`Txn::remove`] the key) before the decision ends. Saves copying a
    /// large value that is about to be rewritten.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.get_mut(key)
            .map(|v| std::mem::replace(v, Value::Int(0)))
    }

    /// Changes the expiry of a live key in place (an expiry not after now
    /// deletes it); returns whether it existed.
    pub fn set_expiry(&mut self, key: &str, expires_at: i64) -> bool {
        if self.get(key).is_none() {
            return false;
        }
        if expires_at <= self.now {
            self.drop_key(key);
        } else {
            self.refile(key, expires_at);
        }
        true
    }

    /// Gives the existing entry at `key` a new expiry, filing it in an
    /// earlier bucket when it now expires sooner (a later expiry is refiled
    /// by the sweeper when it meets the entry).
    fn refile(&mut self, key: &str, expires_at: i64) {
        let slot = slot_of(expires_at);
        let Some(e) = self.shard.map.get_mut(key) else {
            return;
        };
        e.expires_at = expires_at;
        if slot < e.slot {
            e.slot = slot;
            self.file(key, slot);
        }
    }

    /// Files the existing key `key` in the expiry bucket `slot`.
    fn file(&mut self, key: &str, slot: i64) {
        let k = self
            .shard
            .map
            .get_key_value(key)
            .map(|(k, _)| Arc::clone(k));
        if let Some(k) = k {
            self.shard.wheel.entry(slot).or_default().push(k);
        }
    }

    /// Deletes `key`; returns whether a live value was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let live = self.get(key).is_some();
        self.drop_key(key);
        live
    }

    fn drop_key(&mut self, key: &str) {
        if self.shard.map.remove(key).is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Reply, Script};

    static NOOP: Script = Script::new("noop", "return 0");

    /// A decision that writes one key with a TTL and reports what it saw.
    struct Put {
        key: String,
        ttl: i64,
    }

    impl Decision for Put {
        type Output = bool;
        fn script(&self) -> &'static Script {
            &NOOP
        }
        fn keys(&self) -> Vec<String> {
            vec![self.key.clone()]
        }
        fn args(&self) -> Vec<Vec<u8>> {
            Vec::new()
        }
        fn parse(&self, _: Reply) -> Result<bool> {
            Ok(false)
        }
        fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
            let seen = txn.get(&self.key).is_some();
            let at = txn.now() + self.ttl;
            txn.put(&self.key, Value::Int(1), at)?;
            Ok(seen)
        }
    }

    fn store(max_keys: usize, clock: &ManualClock) -> MemoryStore {
        MemoryStore::new(MemoryOptions {
            max_keys,
            shards: 4,
            clock: Arc::new(clock.clone()),
        })
    }

    #[test]
    fn entries_expire_and_are_swept_incrementally() {
        let clock = ManualClock::new(1_000.0);
        let s = store(10_000, &clock);
        for i in 0..1000 {
            let key = format!("k:{{{i}}}");
            assert!(!s
                .run(&Put {
                    key,
                    ttl: 5_000_000
                })
                .unwrap());
        }
        assert_eq!(s.usage().0, 1000);
        clock.advance(4.0);
        assert!(s
            .run(&Put {
                key: "k:{1}".into(),
                ttl: 5_000_000
            })
            .unwrap());
        clock.advance(2.0);
        // Expired keys read as absent at once...
        assert_eq!(s.usage().0, 1);
        // ...and are reclaimed a few at a time by later decisions.
        let before = s.held_keys();
        for i in 0..200 {
            let key = format!("n:{{{i}}}");
            s.run(&Put {
                key,
                ttl: 60_000_000,
            })
            .unwrap();
        }
        assert!(s.held_keys() < before + 200 - 500, "{}", s.held_keys());
        s.sweep_all();
        assert_eq!(s.held_keys(), 201);
    }

    #[test]
    fn a_full_store_refuses_new_keys_and_keeps_old_ones() {
        let clock = ManualClock::new(1_000.0);
        let s = store(40, &clock);
        let mut refused = 0;
        for i in 0..100 {
            let key = format!("k:{{{i}}}");
            match s.run(&Put {
                key,
                ttl: 60_000_000,
            }) {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), crate::ErrorKind::StoreFull);
                    refused += 1;
                }
            }
        }
        assert!(refused >= 60, "{refused}");
        assert!(s.held_keys() <= 40);
        // Existing keys still update.
        let kept = (0..100)
            .map(|i| format!("k:{{{i}}}"))
            .find(|k| {
                s.run(&Put {
                    key: k.clone(),
                    ttl: 1,
                })
                .unwrap_or(false)
            })
            .is_some();
        assert!(kept);
        // Once entries expire, their room is reused (fewer new keys than one
        // shard holds, so however they hash, they fit).
        clock.advance(61.0);
        for i in 100..110 {
            let key = format!("k:{{{i}}}");
            s.run(&Put {
                key,
                ttl: 60_000_000,
            })
            .unwrap();
        }
    }

    #[test]
    fn score_sets_order_by_score_and_trim() {
        let mut s = ScoreSet::default();
        s.add("b", 20);
        s.add("a", 10);
        s.add("c", 30);
        s.add("a", 25);
        assert_eq!(s.score("a"), Some(25));
        let order: Vec<_> = s.above(0).map(|(m, _)| m.to_owned()).collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert_eq!(s.above(25).count(), 1);
        assert_eq!(s.remove_up_to(20), 1);
        assert_eq!(s.pop_min(), Some(("a".to_owned(), 25)));
        assert_eq!((s.max_score(), s.len()), (Some(30), 1));
        assert!(s.remove("c") && !s.remove("c"));
        assert!(s.is_empty());
    }

    #[test]
    fn rewriting_with_a_later_expiry_keeps_the_key() {
        let clock = ManualClock::new(1_000.0);
        let s = store(100, &clock);
        let key = || "k:{a}".to_string();
        s.run(&Put {
            key: key(),
            ttl: 2_000_000,
        })
        .unwrap();
        clock.advance(1.0);
        s.run(&Put {
            key: key(),
            ttl: 10_000_000,
        })
        .unwrap();
        clock.advance(5.0);
        s.sweep_all();
        assert_eq!(s.held_keys(), 1);
        assert!(s.run(&Put { key: key(), ttl: 1 }).unwrap());
    }
}
