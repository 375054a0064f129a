//! Leases and the shared cache tier, every case on the memory store, a real
//! standalone Redis and a real three-master Redis Cluster, time driven by a
//! ManualClock: grant, renewal, release by the owner only, fencing, expiry
//! and takeover, broadcast wake-ups, one computation across "processes"
//! (separate caches over separate connections), and the outage fallback.

mod support;

use bastion_core::events::Event;
use bastion_core::singleflight::cache::{CacheOptions, Source};
use bastion_core::singleflight::lease::{Acquired, Leases};
use bastion_core::singleflight::shared::{SharedCache, SharedCacheOptions, Step};
use bastion_core::store::{RedisOptions, Store};
use bastion_core::{ErrorKind, ManualClock};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::backends::{redis_options, store, Backend, ALL};
use support::redis::{server_or_skip, unique_prefix};

const NOW: f64 = 1_700_000_000.0;
const TTL: Duration = Duration::from_secs(30);

/// Runs `case` on every backend (skipping Redis ones when unavailable).
fn each(case: impl Fn(Backend, &ManualClock, &dyn Fn() -> Store)) {
    for backend in ALL {
        let clock = ManualClock::new(NOW);
        let prefix = unique_prefix("lease");
        let Some(first) = store(backend, &clock, &prefix) else {
            continue;
        };
        // A second connection to the same state, as another process would have.
        let make = || match backend {
            Backend::Memory => first.clone(),
            _ => store(backend, &clock, &prefix).unwrap(),
        };
        case(backend, &clock, &make);
    }
}

fn granted(a: Acquired) -> u64 {
    match a {
        Acquired::Granted(g) => g.fence,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn one_holder_fences_increase_and_the_same_owner_is_told() {
    each(|backend, clock, make| {
        let a = Leases::new(make());
        let b = Leases::new(make());
        let f1 = granted(a.try_acquire("job", "alice", TTL).unwrap());
        match b.try_acquire("job", "bob", TTL).unwrap() {
            Acquired::Held { grant, mine } => {
                assert_eq!(grant.fence, f1, "{backend:?}");
                assert!(!mine);
                assert_eq!(grant.expires_at, clock_micros(clock) + 30_000_000);
            }
            other => panic!("{backend:?}: {other:?}"),
        }
        assert!(matches!(
            a.try_acquire("job", "alice", TTL).unwrap(),
            Acquired::Held { mine: true, .. }
        ));
        let h = b.holder("job").unwrap().unwrap();
        assert_eq!((h.owner.as_str(), h.grant.fence), ("alice", f1));
        // Another name is independent.
        granted(b.try_acquire("other job", "bob", TTL).unwrap());
        // Released, the next grant carries a larger fence.
        assert!(a.release("job", "alice", f1).unwrap());
        let f2 = granted(b.try_acquire("job", "bob", TTL).unwrap());
        assert!(f2 > f1, "{backend:?}: {f2} > {f1}");
    });
}

#[test]
fn renewal_and_release_belong_to_the_owner_and_its_grant() {
    each(|backend, clock, make| {
        let a = Leases::new(make());
        let b = Leases::new(make());
        let f = granted(a.try_acquire("k", "alice", TTL).unwrap());
        // Others cannot renew or release it, nor can a wrong fence.
        assert_eq!(b.renew("k", "bob", f, TTL).unwrap(), None, "{backend:?}");
        assert!(!b.release("k", "bob", f).unwrap());
        assert!(!a.release("k", "alice", f + 1).unwrap());
        assert!(!a.release("k", "alic", f).unwrap());
        assert_eq!(b.holder("k").unwrap().unwrap().grant.fence, f);
        // The owner renews: the expiry moves from now.
        clock.advance(20.0);
        let g = a.renew("k", "alice", f, TTL).unwrap().unwrap();
        assert_eq!(g.fence, f);
        assert_eq!(g.expires_at, clock_micros(clock) + 30_000_000);
        clock.advance(25.0); // 45 s after the grant, 25 s after the renewal
        assert!(matches!(
            b.try_acquire("k", "bob", TTL).unwrap(),
            Acquired::Held { .. }
        ));
        // Fence 0: whichever grant the owner holds.
        assert!(a.release("k", "alice", 0).unwrap());
        assert!(!a.release("k", "alice", f).unwrap(), "released twice");
        assert!(b.holder("k").unwrap().is_none());
    });
}

#[test]
fn an_expired_lease_is_taken_over_with_a_newer_fence_and_the_old_owner_is_refused() {
    each(|backend, clock, make| {
        let a = Leases::new(make());
        let b = Leases::new(make());
        let f1 = granted(a.try_acquire("k", "alice", TTL).unwrap());
        clock.advance(29.9);
        assert!(matches!(
            b.try_acquire("k", "bob", TTL).unwrap(),
            Acquired::Held { .. }
        ));
        clock.advance(0.2);
        let f2 = granted(b.try_acquire("k", "bob", TTL).unwrap());
        assert_eq!(f2, f1 + 1, "{backend:?}");
        // The stalled first owner can neither renew nor release the new lease.
        assert_eq!(a.renew("k", "alice", f1, TTL).unwrap(), None);
        assert!(!a.release("k", "alice", f1).unwrap());
        assert_eq!(a.holder("k").unwrap().unwrap().owner, "bob");
        // A reset ends whoever holds it.
        assert!(a.reset("k").unwrap());
        assert!(a.holder("k").unwrap().is_none());
    });
}

#[test]
fn bad_input_is_refused() {
    let a = Leases::new(Store::default());
    let long = "x".repeat(1025);
    for (name, owner, ttl) in [
        ("", "o", TTL),
        (long.as_str(), "o", TTL),
        ("k", "", TTL),
        ("k", "o", Duration::ZERO),
        ("k", "o", Duration::from_secs(8 * 24 * 3600)),
    ] {
        let e = a.try_acquire(name, owner, ttl).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn a_waiter_is_woken_by_the_release_not_by_time() {
    each(|backend, _clock, make| {
        let a = Leases::new(make());
        let b = Leases::new(make());
        let f = granted(a.try_acquire("w", "alice", TTL).unwrap());
        let bb = b.clone();
        assert!(bastion_core::runtime::block_on(
            async move { bb.ready(Duration::from_secs(10)).await }
        )
        .unwrap());
        let waiter = std::thread::spawn(move || {
            // The manual clock never reaches the expiry: only the release's
            // broadcast can grant this within the wait.
            b.acquire("w", "bob", TTL, Duration::from_secs(20)).unwrap()
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(a.release("w", "alice", f).unwrap());
        let got = waiter.join().unwrap();
        assert!(
            matches!(got, Some(Acquired::Granted(g)) if g.fence == f + 1),
            "{backend:?}: {got:?}"
        );
    });
}

#[test]
fn a_wait_ends_at_its_timeout() {
    each(|_backend, _clock, make| {
        let a = Leases::new(make());
        granted(a.try_acquire("t", "alice", TTL).unwrap());
        let b = Leases::new(make());
        assert_eq!(
            b.acquire("t", "bob", TTL, Duration::from_millis(50))
                .unwrap(),
            None
        );
    });
}

fn clock_micros(c: &ManualClock) -> i64 {
    use bastion_core::Clock;
    c.now_micros()
}

fn options() -> SharedCacheOptions {
    SharedCacheOptions {
        cache: CacheOptions {
            ttl: Duration::from_secs(60),
            xfetch_beta: 0.0,
            ..CacheOptions::default()
        },
        lease_ttl: TTL,
        wait_timeout: Duration::from_secs(20),
        ..SharedCacheOptions::default()
    }
}

fn value_of(step: Step) -> (Option<Vec<u8>>, Source) {
    match step {
        Step::Ready(a) => (a.value, a.source),
        Step::Compute(_) => panic!("expected an answer"),
    }
}

#[test]
fn shared_cache_computes_once_across_processes_and_threads() {
    each(|backend, _clock, make| {
        let caches: Vec<SharedCache> = (0..3)
            .map(|_| SharedCache::new(make(), options(), Some(7)).unwrap())
            .collect();
        for c in &caches {
            let c = c.clone();
            assert!(bastion_core::runtime::block_on(async move {
                c.ready(Duration::from_secs(10)).await
            })
            .unwrap());
        }
        let computed = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(caches.len() * 8));
        let mut threads = Vec::new();
        for c in &caches {
            for _ in 0..8 {
                let (c, computed, barrier) = (c.clone(), computed.clone(), barrier.clone());
                threads.push(std::thread::spawn(move || {
                    barrier.wait();
                    match c.begin("user:1").unwrap() {
                        Step::Ready(a) => a.value,
                        Step::Compute(fill) => {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(200));
                            fill.finish(Ok(Some(b"v1".to_vec()))).unwrap().value
                        }
                    }
                }));
            }
        }
        for t in threads {
            assert_eq!(
                t.join().unwrap().as_deref(),
                Some(&b"v1"[..]),
                "{backend:?}"
            );
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1, "{backend:?}");
        // Later callers read the stored value.
        let (v, source) = value_of(caches[2].begin("user:1").unwrap());
        assert_eq!((v.as_deref(), source), (Some(&b"v1"[..]), Source::Hit));
    });
}

#[test]
fn a_stalled_leader_cannot_overwrite_the_value_of_the_leader_that_took_over() {
    each(|backend, clock, make| {
        let a = SharedCache::new(make(), options(), Some(1)).unwrap();
        let b = SharedCache::new(make(), options(), Some(2)).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        a.listeners()
            .add(Arc::new(move |e: &Event| ev.lock().unwrap().push(e.name())));
        let Step::Compute(stalled) = a.begin("k").unwrap() else {
            panic!("{backend:?}: a computes first");
        };
        // Its lease runs out (a pause longer than the lease).
        clock.advance(31.0);
        let Step::Compute(fresh) = b.begin("k").unwrap() else {
            panic!("{backend:?}: b takes over");
        };
        assert!(fresh.fence().unwrap() > stalled.fence().unwrap());
        fresh.finish(Ok(Some(b"new".to_vec()))).unwrap();
        // The stalled leader still gets its own value, but it is not stored.
        let mine = stalled.finish(Ok(Some(b"old".to_vec()))).unwrap();
        assert_eq!(mine.value.as_deref(), Some(&b"old"[..]));
        assert_eq!(a.stats().fills_refused, 1);
        assert_eq!(events.lock().unwrap().as_slice(), ["lease_lost"]);
        let (v, _) = value_of(a.begin("k").unwrap());
        assert_eq!(v.as_deref(), Some(&b"new"[..]), "{backend:?}");
    });
}

#[test]
fn a_failed_leader_hands_over_and_an_abandoned_one_too() {
    each(|backend, _clock, make| {
        let a = SharedCache::new(make(), options(), Some(1)).unwrap();
        let b = SharedCache::new(make(), options(), Some(2)).unwrap();
        let Step::Compute(fill) = a.begin("k").unwrap() else {
            panic!()
        };
        let e = fill
            .finish(Err(bastion_core::Error::new(
                ErrorKind::Internal,
                "upstream down",
            )))
            .unwrap_err();
        assert_eq!(e.message(), "upstream down");
        // The failure released the lease: b computes at once.
        let Step::Compute(fill) = b.begin("k").unwrap() else {
            panic!("{backend:?}: the lease was not released");
        };
        // Dropped unfinished (a cancelled caller): released in the background.
        drop(fill);
        // The next caller waits for that release (a broadcast), then computes.
        let Step::Compute(f) = a.begin("k").unwrap() else {
            panic!("{backend:?}: the abandoned lease was not handed over");
        };
        f.finish(Ok(Some(b"x".to_vec()))).unwrap();
    });
}

#[test]
fn freshness_rules_apply_to_the_stored_value() {
    each(|backend, clock, make| {
        let opts = SharedCacheOptions {
            cache: CacheOptions {
                ttl: Duration::from_secs(10),
                stale_while_revalidate: Duration::from_secs(5),
                stale_if_error: Duration::from_secs(20),
                negative_ttl: Some(Duration::from_secs(3)),
                xfetch_beta: 0.0,
                ..CacheOptions::default()
            },
            ..options()
        };
        let a = SharedCache::new(make(), opts.clone(), Some(1)).unwrap();
        let b = SharedCache::new(make(), opts, Some(2)).unwrap();
        let Step::Compute(f) = a.begin("k").unwrap() else {
            panic!()
        };
        f.finish(Ok(Some(b"v".to_vec()))).unwrap();
        clock.advance(11.0);
        // Stale within stale_while_revalidate: a revalidates; b, in another
        // process, gets the stale value at once.
        let Step::Compute(reval) = a.begin("k").unwrap() else {
            panic!("{backend:?}")
        };
        let (v, s) = value_of(b.begin("k").unwrap());
        assert_eq!(
            (v.as_deref(), s),
            (Some(&b"v"[..]), Source::StaleWhileRevalidate)
        );
        // The revalidation fails: within stale_if_error the stale value is served.
        let r = reval
            .finish(Err(bastion_core::Error::new(ErrorKind::Internal, "x")))
            .unwrap();
        assert_eq!(r.source, Source::StaleIfError);
        // Negative caching: "nothing found" kept for negative_ttl.
        let Step::Compute(f) = a.begin("none").unwrap() else {
            panic!()
        };
        assert_eq!(f.finish(Ok(None)).unwrap().value, None);
        let (v, s) = value_of(b.begin("none").unwrap());
        assert_eq!((v, s), (None, Source::Hit));
        clock.advance(3.1);
        assert!(matches!(b.begin("none").unwrap(), Step::Compute(_)));
    });
}

#[test]
fn keys_and_values_are_bounded() {
    let c = SharedCache::new(
        Store::default(),
        SharedCacheOptions {
            max_value_bytes: 4,
            ..options()
        },
        None,
    )
    .unwrap();
    assert_eq!(
        c.begin(&"k".repeat(1100)).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let Step::Compute(f) = c.begin("k").unwrap() else {
        panic!()
    };
    assert_eq!(
        f.finish(Ok(Some(vec![0; 5]))).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(SharedCache::new(
        Store::default(),
        SharedCacheOptions {
            namespace: "a:b".into(),
            ..options()
        },
        None
    )
    .is_err());
}

#[test]
fn with_redis_stopped_the_cache_falls_back_to_in_process_single_flight() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let store = Store::redis(
        &server.url(),
        RedisOptions {
            timeout: Duration::from_millis(100),
            prefix: unique_prefix("lease-outage"),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let cache = SharedCache::new(store, options(), None).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    cache.listeners().add(Arc::new(move |e: &Event| {
        ev.lock().unwrap().push(e.to_string())
    }));
    let Step::Compute(f) = cache.begin("k").unwrap() else {
        panic!()
    };
    f.finish(Ok(Some(b"up".to_vec()))).unwrap();
    server.stop();
    let computed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (c, computed) = (cache.clone(), computed.clone());
            std::thread::spawn(move || match c.begin("other").unwrap() {
                Step::Ready(a) => a.value,
                Step::Compute(f) => {
                    computed.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    f.finish(Ok(Some(b"local".to_vec()))).unwrap().value
                }
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().as_deref(), Some(&b"local"[..]));
    }
    // Bounded by the operation timeout, not by a wait for Redis.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(computed.load(Ordering::SeqCst) >= 1);
    assert!(cache.stats().local_fallbacks > 0);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e == "[STORE] store_unavailable component=\"singleflight\" policy=\"local\""));
}

fn ready(c: &SharedCache) {
    let c = c.clone();
    assert!(
        bastion_core::runtime::block_on(async move { c.ready(Duration::from_secs(10)).await })
            .unwrap()
    );
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fill(c: &SharedCache, key: &str, value: &[u8]) {
    let Step::Compute(f) = c.begin(key).unwrap() else {
        panic!("expected to compute {key}");
    };
    f.finish(Ok(Some(value.to_vec()))).unwrap();
}

fn local_options(local_ttl: Duration) -> SharedCacheOptions {
    SharedCacheOptions {
        cache: CacheOptions {
            ttl: Duration::from_secs(10),
            xfetch_beta: 0.0,
            ..CacheOptions::default()
        },
        local_ttl,
        ..options()
    }
}

#[test]
fn the_local_tier_answers_for_local_ttl_and_never_past_the_value_freshness() {
    each(|backend, clock, make| {
        let opts = local_options(Duration::from_secs(2));
        let a = SharedCache::new(make(), opts.clone(), Some(1)).unwrap();
        let b = SharedCache::new(make(), opts, Some(2)).unwrap();
        ready(&b);
        let redis = backend != Backend::Memory;
        fill(&a, "k", b"v1");
        // b reads the value from the store once, then from its local tier.
        assert_eq!(
            value_of(b.begin("k").unwrap()),
            (Some(b"v1".to_vec()), Source::Hit)
        );
        assert_eq!(b.stats().local_hits, 0, "{backend:?}");
        for _ in 0..5 {
            assert_eq!(
                value_of(b.begin("k").unwrap()),
                (Some(b"v1".to_vec()), Source::Hit)
            );
        }
        let local = |n: u64| if redis { n } else { 0 };
        assert_eq!(b.stats().local_hits, local(5), "{backend:?}");
        assert_eq!(b.stats().hits, 6, "{backend:?}");
        assert_eq!(b.local_entries(), usize::from(redis), "{backend:?}");
        // local_ttl over: b asks the store again, and keeps the new read.
        clock.advance(2.0);
        value_of(b.begin("k").unwrap());
        assert_eq!(b.stats().local_hits, local(5), "{backend:?}");
        value_of(b.begin("k").unwrap());
        assert_eq!(b.stats().local_hits, local(6), "{backend:?}");
        // Read 0.5 s before the value turns stale: kept for 0.5 s, not 2.
        clock.advance(7.5);
        value_of(b.begin("k").unwrap());
        value_of(b.begin("k").unwrap());
        assert_eq!(b.stats().local_hits, local(7), "{backend:?}");
        clock.advance(0.5);
        let Step::Compute(f) = b.begin("k").unwrap() else {
            panic!("{backend:?}: a stale value was served from the local tier");
        };
        f.finish(Ok(Some(b"v2".to_vec()))).unwrap();
        assert_eq!(b.stats().local_hits, local(7), "{backend:?}");
    });
}

#[test]
fn an_invalidation_or_a_new_value_anywhere_drops_the_local_copies() {
    each(|backend, clock, make| {
        if backend == Backend::Memory {
            return;
        }
        let opts = local_options(Duration::from_secs(5));
        let a = SharedCache::new(make(), opts.clone(), Some(1)).unwrap();
        let b = SharedCache::new(make(), opts.clone(), Some(2)).unwrap();
        ready(&a);
        ready(&b);
        fill(&a, "k", b"v1");
        value_of(b.begin("k").unwrap());
        value_of(b.begin("k").unwrap());
        assert_eq!(b.stats().local_hits, 1, "{backend:?}");
        // a invalidates: b's copy goes with the broadcast, not after 5 s.
        a.invalidate("k").unwrap();
        eventually("b drops its copy", || b.local_entries() == 0);
        // A computation of 50 ms (XFetch weighs it).
        let Step::Compute(f) = b.begin("k").unwrap() else {
            panic!("{backend:?}: b computes after the invalidation");
        };
        std::thread::sleep(Duration::from_millis(50));
        f.finish(Ok(Some(b"v2".to_vec()))).unwrap();
        // 0.1 s before it turns stale, a keeps a copy for those 0.1 s ...
        clock.advance(9.9);
        assert_eq!(
            value_of(a.begin("k").unwrap()),
            (Some(b"v2".to_vec()), Source::Hit)
        );
        assert_eq!(a.local_entries(), 1, "{backend:?}");
        // ... and c refreshes it early (XFetch): a's copy of v2 goes with the
        // new value's broadcast.
        let c = SharedCache::new(
            make(),
            SharedCacheOptions {
                cache: CacheOptions {
                    xfetch_beta: 100.0,
                    ..opts.cache.clone()
                },
                ..opts
            },
            Some(3),
        )
        .unwrap();
        let Step::Compute(f) = c.begin("k").unwrap() else {
            panic!("{backend:?}: no early refresh");
        };
        f.finish(Ok(Some(b"v3".to_vec()))).unwrap();
        eventually("a drops its copy", || a.local_entries() == 0);
        assert_eq!(
            value_of(a.begin("k").unwrap()),
            (Some(b"v3".to_vec()), Source::Hit)
        );
        // A release alone is no news about the value: the copy stays.
        let other = Leases::new(make());
        let fence = granted(other.try_acquire("cache:k", "x", TTL).unwrap());
        assert!(other.release("cache:k", "x", fence).unwrap());
        let hits = a.stats().local_hits;
        value_of(a.begin("k").unwrap());
        assert_eq!(a.stats().local_hits, hits + 1, "{backend:?}");
    });
}

#[test]
fn the_local_tier_answers_without_a_round_trip_and_can_be_turned_off() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let prefix = unique_prefix("near");
    let open = |local_ttl: Duration| {
        let store = Store::redis(&server.url(), redis_options(Some(&clock), &prefix)).unwrap();
        let c = SharedCache::new(store, local_options(local_ttl), Some(1)).unwrap();
        ready(&c);
        c
    };
    let on = open(Duration::from_secs(1));
    let off = open(Duration::ZERO);
    fill(&on, "k", b"v1");
    value_of(on.begin("k").unwrap());
    value_of(off.begin("k").unwrap());
    // Frozen, Redis would make any round trip wait for the 2 s timeout and
    // then fall back to the outage tier (a computation).
    server.pause();
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            value_of(on.begin("k").unwrap()),
            (Some(b"v1".to_vec()), Source::Hit)
        );
    }
    let took = started.elapsed();
    server.resume();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(on.stats().local_hits, 100);
    assert_eq!(on.stats().local_fallbacks, 0);
    // Turned off: every answer is a round trip.
    value_of(off.begin("k").unwrap());
    assert_eq!(off.stats().local_hits, 0);
    assert_eq!(off.local_entries(), 0);
    assert_eq!(off.stats().hits, 2);
}

#[test]
fn a_lease_request_that_timed_out_is_released_once_redis_answers() {
    // A request queued behind a frozen Redis still runs when Redis resumes: the
    // caller that gave up must not keep the key's lease (the ManualClock
    // stands still, so it would never expire by itself).
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let prefix = unique_prefix("abandon");
    let store = Store::redis(
        &server.url(),
        RedisOptions {
            timeout: Duration::from_millis(100),
            ..redis_options(Some(&clock), &prefix)
        },
    )
    .unwrap();
    let opts = SharedCacheOptions {
        cache: CacheOptions {
            ttl: Duration::from_secs(10),
            xfetch_beta: 100.0,
            ..CacheOptions::default()
        },
        local_ttl: Duration::from_secs(60),
        ..options()
    };
    let a = SharedCache::new(store, opts, Some(11)).unwrap();
    ready(&a);
    let Step::Compute(f) = a.begin("k").unwrap() else {
        panic!("a computes first");
    };
    std::thread::sleep(Duration::from_millis(50)); // a computation XFetch weighs
    f.finish(Ok(Some(b"v".to_vec()))).unwrap();
    // A read keeps a local copy (for the value's 10 s of freshness).
    let mut tries = 0;
    while a.local_entries() == 0 {
        tries += 1;
        assert!(tries < 50, "no local copy");
        if let Step::Compute(f) = a.begin("k").unwrap() {
            std::thread::sleep(Duration::from_millis(50));
            f.finish(Ok(Some(b"v".to_vec()))).unwrap();
        }
    }
    // 0.1 s before expiry the copy's early refresh is due; frozen, Redis
    // times its lease request out, and the refresh goes on in-process.
    clock.advance(9.9);
    server.pause();
    let step = a.begin("k").unwrap();
    server.resume();
    let Step::Compute(f) = step else {
        panic!("the early refresh was not taken");
    };
    assert_eq!(f.fence(), Some(1), "the in-process tier's lease");
    f.finish(Ok(Some(b"v2".to_vec()))).unwrap();
    let leases =
        Leases::new(Store::redis(&server.url(), redis_options(Some(&clock), &prefix)).unwrap());
    eventually("the abandoned lease is released", || {
        leases.holder("cache:k").unwrap().is_none()
    });
}
