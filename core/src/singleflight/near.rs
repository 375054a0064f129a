//! The local tier of a [`super::shared::SharedCache`] on Redis: values this
//! process looked up lately, answered without a round trip.
//!
//! - **Bounded in time.** A copy is served for at most `local_ttl` after it
//!   was read, and never past the value's own freshness. Both are measured
//!   on this process's clock from the moment of the read, so a clock skewed
//!   against Redis's does not stretch them.
//! - **Bounded in size.** At most `max_entries` copies; a full tier drops its
//!   oldest copies first.
//! - **Dropped on news.** A fill of another value (its fence differs from the
//!   copy's) or an invalidation, from any process, drops the key's copy here
//!   as its broadcast arrives, and a reconnection of the subscriber
//!   (broadcasts may have been missed) drops every copy. A read that was
//!   under way when such news came is not kept (each read notes its key's
//!   stripe epoch first), unless the news was of the very value it read.
//! - **Fork-safe.** A forked child starts with an empty tier (the copies it
//!   inherited may predate broadcasts it never received).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;

/// Epoch stripes: news about a key invalidates reads of the keys sharing its
/// stripe (at worst a missed copy, never a stale one).
const STRIPES: usize = 64;

struct Held<V> {
    value: V,
    /// The fence the value was written under.
    fence: u64,
    /// Served while the local clock is before this (µs).
    until: i64,
    /// The store's clock minus the local clock at the read (µs).
    offset: i64,
}

struct State<V> {
    copies: HashMap<String, Held<V>>,
    /// Keys in the order they were kept (may name dropped or re-kept keys).
    order: VecDeque<String>,
    /// Per stripe: how many news came, and the last one (key hash, fence).
    epochs: [(u64, (u64, u64)); STRIPES],
    /// The runtime generation the copies belong to (a fork changes it).
    generation: u64,
}

/// A local copy found fresh: the value and the store's clock now.
pub(crate) struct Found<V> {
    pub value: V,
    pub store_now: i64,
}

pub(crate) struct Near<V> {
    ttl: i64,
    cap: usize,
    state: Mutex<State<V>>,
}

fn hash(key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

fn stripe(key: &str) -> usize {
    (hash(key) as usize) % STRIPES
}

impl<V: Clone> Near<V> {
    /// A tier keeping copies for at most `ttl_micros`, at most `cap` of them.
    pub(crate) fn new(ttl_micros: i64, cap: usize) -> Self {
        Self {
            ttl: ttl_micros,
            cap: cap.max(1),
            state: Mutex::new(State {
                copies: HashMap::new(),
                order: VecDeque::new(),
                epochs: [(0, (0, 0)); STRIPES],
                generation: crate::runtime::generation(),
            }),
        }
    }

    fn state(&self) -> parking_lot::MutexGuard<'_, State<V>> {
        let mut st = self.state.lock();
        let generation = crate::runtime::generation();
        if st.generation != generation {
            st.generation = generation;
            Self::clear_locked(&mut st);
        }
        st
    }

    /// `key`'s copy if it may still be served at local time `now`.
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Found<V>> {
        let mut st = self.state();
        match st.copies.get(key) {
            Some(c) if now < c.until => Some(Found {
                value: c.value.clone(),
                store_now: now.saturating_add(c.offset),
            }),
            Some(_) => {
                st.copies.remove(key);
                None
            }
            None => None,
        }
    }

    /// The epoch to pass to [`Near::keep`], taken before reading `key`.
    pub(crate) fn epoch(&self, key: &str) -> u64 {
        self.state().epochs[stripe(key)].0
    }

    /// Keeps `value`, written under `fence`, read at local time `now` (the
    /// store's time `store_now`) and fresh in the store until `expires` (the
    /// store's clock) — unless other news about its stripe came since `epoch`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn keep(
        &self,
        key: &str,
        value: V,
        fence: u64,
        epoch: u64,
        now: i64,
        store_now: i64,
        expires: i64,
    ) {
        let left = expires.saturating_sub(store_now).min(self.ttl);
        if left <= 0 || fence == 0 {
            return;
        }
        let mut st = self.state();
        let (count, last) = st.epochs[stripe(key)];
        // The one news since the read may be of this very value.
        if !(count == epoch || (count == epoch.wrapping_add(1) && last == (hash(key), fence))) {
            return;
        }
        if !st.copies.contains_key(key) {
            while st.copies.len() >= self.cap {
                match st.order.pop_front() {
                    Some(old) => {
                        st.copies.remove(&old);
                    }
                    None => break,
                }
            }
            st.order.push_back(key.to_owned());
            if st.order.len() > self.cap.saturating_mul(2) + 16 {
                // Forget the names of dropped and re-kept copies.
                let State { copies, order, .. } = &mut *st;
                let mut seen = HashSet::with_capacity(copies.len());
                order.retain(|k| copies.contains_key(k) && seen.insert(k.clone()));
            }
        }
        st.copies.insert(
            key.to_owned(),
            Held {
                value,
                fence,
                until: now.saturating_add(left),
                offset: store_now.saturating_sub(now),
            },
        );
    }

    /// News: `key` now holds the value written under `fence` (0: removed).
    /// Drops a copy of another value, and any read of the stripe under way
    /// (but one of this very value).
    pub(crate) fn news(&self, key: &str, fence: u64) {
        let mut st = self.state();
        if fence != 0 && st.copies.get(key).is_some_and(|c| c.fence == fence) {
            return;
        }
        let s = stripe(key);
        let count = st.epochs[s].0.wrapping_add(1);
        st.epochs[s] = (count, (hash(key), fence));
        st.copies.remove(key);
    }

    /// Broadcasts may have been missed: drop every copy.
    pub(crate) fn clear(&self) {
        Self::clear_locked(&mut self.state());
    }

    fn clear_locked(st: &mut State<V>) {
        for e in &mut st.epochs {
            *e = (e.0.wrapping_add(1), (0, 0));
        }
        st.copies.clear();
        st.order.clear();
    }

    /// How many copies are kept now.
    pub(crate) fn len(&self) -> usize {
        self.state().copies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(near: &Near<i32>, key: &str, value: i32, fence: u64, now: i64, expires: i64) {
        let e = near.epoch(key);
        near.keep(key, value, fence, e, now, now, expires);
    }

    #[test]
    fn a_copy_lives_for_the_shorter_of_local_ttl_and_its_freshness() {
        let near = Near::new(1_000, 10);
        let e = near.epoch("a");
        // Store clock 5000 ahead of the local one; fresh for 400 more.
        near.keep("a", 1, 7, e, 100, 5_100, 5_500);
        assert_eq!(near.get("a", 499).map(|f| f.value), Some(1));
        assert_eq!(near.get("a", 499).map(|f| f.store_now), Some(5_499));
        assert!(near.get("a", 500).is_none());
        keep(&near, "b", 2, 7, 100, 1_000_000);
        assert!(near.get("b", 1_099).is_some());
        assert!(near.get("b", 1_100).is_none());
        // Already stale, or of no known write: not kept.
        keep(&near, "c", 3, 7, 100, 100);
        assert!(near.get("c", 100).is_none());
        keep(&near, "c", 3, 0, 100, 1_000);
        assert!(near.get("c", 100).is_none());
    }

    #[test]
    fn news_of_another_value_drops_the_copy_news_of_the_same_keeps_it() {
        let near = Near::new(1_000, 10);
        keep(&near, "a", 1, 5, 0, 500);
        near.news("a", 5);
        assert!(near.get("a", 1).is_some(), "its own fill's broadcast");
        near.news("a", 6);
        assert!(near.get("a", 1).is_none(), "a newer fill");
        keep(&near, "a", 2, 6, 0, 500);
        near.news("a", 0);
        assert!(near.get("a", 1).is_none(), "an invalidation");
    }

    #[test]
    fn news_during_a_read_keeps_the_read_out_unless_it_was_of_that_value() {
        let near = Near::new(1_000, 10);
        // The read got fence 5; a fill of fence 6 came meanwhile.
        let e = near.epoch("a");
        near.news("a", 6);
        near.keep("a", 1, 5, e, 0, 0, 500);
        assert!(near.get("a", 1).is_none());
        // The read got fence 6, whose broadcast came meanwhile: kept.
        let e = near.epoch("a");
        near.news("a", 6);
        near.keep("a", 1, 6, e, 0, 0, 500);
        assert!(near.get("a", 1).is_some());
        // The read got fence 7; its broadcast then an invalidation came.
        let e = near.epoch("a");
        near.news("a", 7);
        near.news("a", 0);
        near.keep("a", 1, 7, e, 0, 0, 500);
        assert!(near.get("a", 1).is_none());
        // Another key of the stripe got news: kept out (at worst a miss).
        let e = near.epoch("a");
        near.news("a-other", 3);
        near.keep("a", 1, 8, e, 0, 0, 500);
        let same_stripe = stripe("a") == stripe("a-other");
        assert_eq!(near.get("a", 1).is_none(), same_stripe);
        // Broadcasts may have been missed: everything goes.
        let e = near.epoch("b");
        near.clear();
        near.keep("b", 1, 9, e, 0, 0, 500);
        assert!(near.get("b", 1).is_none());
        assert_eq!(near.len(), 0);
    }

    #[test]
    fn a_full_tier_drops_its_oldest_copies_and_stays_bounded() {
        let near = Near::new(1_000_000, 3);
        for i in 0..1_000_u64 {
            let k = format!("k{i}");
            keep(&near, &k, 1, i + 1, 0, 10_000);
            // Re-kept and dropped keys do not grow the order past its bound.
            keep(&near, "k0", 0, 1, 0, 10_000);
            near.news("k0", 0);
            assert!(near.len() <= 3);
            assert!(near.state().order.len() <= 3 * 2 + 16 + 1);
        }
        assert!(near.get("k999", 0).is_some());
        assert!(near.get("k998", 0).is_some());
        assert!(near.get("k996", 0).is_none());
    }
}
