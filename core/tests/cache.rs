//! The cache over single-flight: every freshness rule driven by a ManualClock, one computation for
//! concurrent callers, XFetch's refresh probability against its formula, and the bound on entries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bastion_core::singleflight::cache::{Cache, CacheOptions, Source};
use bastion_core::{Error, ErrorKind, ManualClock};

const NOW: f64 = 1_700_000_000.0;

fn cache(options: CacheOptions) -> (Cache<String>, ManualClock) {
    let clock = ManualClock::new(NOW);
    let c = Cache::with_clock(options, Arc::new(clock.clone()), Some(7)).unwrap();
    (c, clock)
}

fn opts() -> CacheOptions {
    CacheOptions {
        ttl: Duration::from_secs(60),
        xfetch_beta: 0.0,
        ..CacheOptions::default()
    }
}

fn down() -> Error {
    Error::new(ErrorKind::StoreUnavailable, "upstream down")
}

#[test]
fn fresh_for_the_ttl_then_computed_again() {
    let (c, clock) = cache(opts());
    let n = AtomicUsize::new(0);
    let compute = || Ok(Some(format!("v{}", n.fetch_add(1, Ordering::SeqCst))));
    let a = c.get("k", compute).unwrap();
    assert_eq!(
        (a.value.as_deref(), a.source),
        (Some("v0"), Source::Computed)
    );
    clock.advance(59.9);
    assert_eq!(c.get("k", compute).unwrap().source, Source::Hit);
    clock.advance(0.1);
    let b = c.get("k", compute).unwrap();
    assert_eq!(
        (b.value.as_deref(), b.source),
        (Some("v1"), Source::Computed)
    );
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.computations, s.entries), (1, 2, 2, 1));
}

#[test]
fn stale_while_revalidate_serves_the_old_value_to_others_while_one_recomputes() {
    let (c, clock) = cache(CacheOptions {
        stale_while_revalidate: Duration::from_secs(30),
        ..opts()
    });
    c.get("k", || Ok(Some("old".to_owned()))).unwrap();
    clock.advance(70.0); // stale for 10 s: inside the window
    let c2 = c.clone();
    let barrier = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    let leader = thread::spawn(move || {
        c2.get("k", || {
            b2.wait(); // computing...
            b2.wait(); // ...until the other caller has been answered
            Ok(Some("new".to_owned()))
        })
        .unwrap()
    });
    barrier.wait();
    let other = c.get("k", || panic!("a second computation")).unwrap();
    assert_eq!(
        (other.value.as_deref(), other.source),
        (Some("old"), Source::StaleWhileRevalidate)
    );
    barrier.wait();
    let l = leader.join().unwrap();
    assert_eq!(
        (l.value.as_deref(), l.source),
        (Some("new"), Source::Computed)
    );
    assert_eq!(
        c.get("k", || panic!()).unwrap().value.as_deref(),
        Some("new")
    );
    // Past the window a stale value is not served: the caller waits for the computation.
    clock.advance(100.0);
    let late = c.get("k", || Ok(Some("newer".to_owned()))).unwrap();
    assert_eq!(late.source, Source::Computed);
}

#[test]
fn stale_if_error_serves_the_old_value_when_the_computation_fails() {
    let (c, clock) = cache(CacheOptions {
        stale_if_error: Duration::from_secs(300),
        ..opts()
    });
    c.get("k", || Ok(Some("old".to_owned()))).unwrap();
    clock.advance(120.0);
    let a = c.get("k", || Err(down())).unwrap();
    assert_eq!(
        (a.value.as_deref(), a.source),
        (Some("old"), Source::StaleIfError)
    );
    // Past the window, the error comes through.
    clock.advance(300.0);
    assert_eq!(
        c.get("k", || Err(down())).unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );
}

#[test]
fn nothing_found_is_kept_only_when_asked() {
    let (c, _) = cache(opts());
    let n = AtomicUsize::new(0);
    let none = || {
        n.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    };
    c.get("ghost", none).unwrap();
    c.get("ghost", none).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 2, "not kept by default");

    let (neg, clock2) = cache(CacheOptions {
        negative_ttl: Some(Duration::from_secs(10)),
        ..opts()
    });
    let m = AtomicUsize::new(0);
    let none2 = || {
        m.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    };
    assert_eq!(neg.get("ghost", none2).unwrap().value, None);
    let again = neg.get("ghost", none2).unwrap();
    assert_eq!((again.value, again.source), (None, Source::Hit));
    clock2.advance(10.0);
    neg.get("ghost", none2).unwrap();
    assert_eq!(m.load(Ordering::SeqCst), 2);
}

#[test]
fn errors_are_not_cached() {
    let (c, _) = cache(opts());
    assert!(c.get("k", || Err(down())).is_err());
    assert_eq!(
        c.get("k", || Ok(Some("ok".to_owned()))).unwrap().source,
        Source::Computed
    );
}

#[test]
fn fifty_threads_at_a_miss_one_computation() {
    let (c, _) = cache(opts());
    let computed = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (c, computed, entered) = (c.clone(), Arc::clone(&computed), Arc::clone(&entered));
            thread::spawn(move || {
                entered.fetch_add(1, Ordering::SeqCst);
                c.get("k", || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    // Hold the computation until every caller has asked: without single-flight
                    // each of them would be computing too.
                    while entered.load(Ordering::SeqCst) < 50 {
                        thread::yield_now();
                    }
                    Ok(Some("v".to_owned()))
                })
                .unwrap()
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(answers.iter().all(|a| a.value.as_deref() == Some("v")));
    assert_eq!(computed.load(Ordering::SeqCst), 1);
}

#[test]
fn xfetch_refreshes_early_with_the_formula_s_probability() {
    // A value computed in 2 s, fresh for 60 s, looked up 5 s before it expires, with beta 1:
    // P(refresh) = exp(-(expiry - now) / (delta * beta)) = exp(-5 / 2) ≈ 0.082.
    let clock = ManualClock::new(NOW);
    let c: Cache<String> = Cache::with_clock(
        CacheOptions {
            xfetch_beta: 1.0,
            ..opts()
        },
        Arc::new(clock.clone()),
        Some(12345),
    )
    .unwrap();
    let slow = || {
        clock.advance(2.0);
        Ok(Some("v".to_owned()))
    };
    c.get("k", slow).unwrap(); // stored at NOW + 2, expires at NOW + 62
    let trials = 20_000;
    let mut early = 0;
    for _ in 0..trials {
        clock.set(NOW + 57.0);
        let a = c
            .get("k", || {
                clock.set(NOW + 57.0);
                Ok(Some("v".to_owned()))
            })
            .unwrap();
        if a.source == Source::Computed {
            early += 1;
            // Put the value back as it was (expiring at NOW + 62, computed in 2 s).
            clock.set(NOW);
            c.invalidate("k");
            c.get("k", slow).unwrap();
        }
    }
    let expected = (-2.5f64).exp();
    let observed = f64::from(early) / f64::from(trials);
    assert!(
        (observed - expected).abs() < 0.01,
        "observed {observed:.4}, expected {expected:.4}"
    );
    assert_eq!(c.stats().early_refreshes, early as u64);
    // Far from expiry, practically never; with beta 0, never.
    let (off, clock_off) = cache(opts());
    off.get("k", || {
        clock_off.advance(2.0);
        Ok(Some("v".to_owned()))
    })
    .unwrap();
    clock_off.advance(59.0);
    for _ in 0..1000 {
        assert_eq!(
            off.get("k", || panic!("refreshed with beta 0"))
                .unwrap()
                .source,
            Source::Hit
        );
    }
}

#[test]
fn the_cache_holds_at_most_max_entries() {
    let (c, clock) = cache(CacheOptions {
        max_entries: 100,
        ..opts()
    });
    for i in 0..1000 {
        clock.advance(0.01);
        c.get(&format!("k{i}"), || Ok(Some("v".to_owned())))
            .unwrap();
        assert!(c.stats().entries <= 100);
    }
    let s = c.stats();
    assert_eq!(s.entries, 100);
    assert_eq!(s.evictions, 900);
    // The newest are kept (the soonest to expire went first).
    assert_eq!(c.get("k999", || panic!()).unwrap().source, Source::Hit);
}

#[test]
fn bad_options_are_refused() {
    for o in [
        CacheOptions {
            ttl: Duration::ZERO,
            ..opts()
        },
        CacheOptions {
            max_entries: 0,
            ..opts()
        },
        CacheOptions {
            xfetch_beta: -1.0,
            ..opts()
        },
        CacheOptions {
            xfetch_beta: f64::NAN,
            ..opts()
        },
        CacheOptions {
            negative_ttl: Some(Duration::ZERO),
            ..opts()
        },
    ] {
        assert_eq!(
            Cache::<String>::new(o).err().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
    }
}

#[test]
fn a_full_cache_evicts_the_dead_then_the_soonest_to_expire_and_keeps_the_rest() {
    let (c, clock) = cache(CacheOptions {
        max_entries: 4,
        negative_ttl: Some(Duration::from_secs(10)),
        ..opts()
    });
    let value = |v: &str| {
        let v = v.to_owned();
        move || Ok(Some(v.clone()))
    };
    c.get("a", value("a")).unwrap(); // expires at +60
    clock.advance(1.0);
    c.get("none", || Ok(None)).unwrap(); // kept "nothing found": expires at +11
    c.get("b", value("b")).unwrap(); // +61
    c.get("c", value("c")).unwrap(); // +61
                                     // Full: "none" expires first, so it goes (not "a", the oldest).
    c.get("d", value("d")).unwrap();
    assert_eq!(c.stats().evictions, 1);
    let kept = |k: &str| {
        c.get(k, || Ok(Some("recomputed".to_owned())))
            .unwrap()
            .source
    };
    assert_eq!(kept("a"), Source::Hit);
    assert_eq!(kept("d"), Source::Hit);
    // Replacing a value in a full cache evicts nothing.
    c.invalidate("b");
    c.get("b", value("b2")).unwrap();
    c.get("b", value("b3")).unwrap();
    assert_eq!(c.stats().evictions, 1);
    // Every value dead: one insertion clears them all.
    clock.advance(600.0);
    c.get("e", value("e")).unwrap();
    let s = c.stats();
    assert_eq!((s.evictions, s.entries), (5, 1));
}
