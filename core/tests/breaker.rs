//! The circuit breaker: every transition driven by a ManualClock, the rate windows against their
//! definition, stale outcomes, lost probes, call time, and calls in parallel from many threads.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use bastion_core::breaker::{
    BreakerOptions, BreakerState, CircuitBreaker, Outcome, TripPolicy, Window,
};
use bastion_core::events::Event;
use bastion_core::{ErrorKind, ManualClock};

const NOW: f64 = 1_700_000_000.0;

fn breaker(options: BreakerOptions) -> (CircuitBreaker, ManualClock, Arc<Mutex<Vec<String>>>) {
    let clock = ManualClock::new(NOW);
    let b = CircuitBreaker::with_clock(options, Arc::new(clock.clone())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    b.listeners().add(Arc::new(move |e: &Event| {
        s.lock().unwrap().push(e.to_string())
    }));
    (b, clock, seen)
}

/// Reference deployment 1's breaker: 3 failures, 60 s, 2 successes.
fn reference() -> BreakerOptions {
    BreakerOptions {
        name: "identify".into(),
        policy: TripPolicy::Consecutive { fail_max: 3 },
        reset_timeout: Duration::from_secs(60),
        success_threshold: 2,
        ..BreakerOptions::default()
    }
}

fn fail(b: &CircuitBreaker) {
    let _ = b.acquire().unwrap().failure();
}

fn succeed(b: &CircuitBreaker) {
    let _ = b.acquire().unwrap().success();
}

#[test]
fn consecutive_failures_open_it_and_probes_close_it() {
    let (b, clock, events) = breaker(reference());
    fail(&b);
    fail(&b);
    succeed(&b); // a success resets the run
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().consecutive_failures, 2);
    // The report that trips it says so.
    assert_eq!(b.acquire().unwrap().failure(), Some(BreakerState::Open));
    assert_eq!(b.state(), BreakerState::Open);

    let e = b.acquire().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CircuitOpen);
    assert_eq!(e.retry_after(), Some(60.0));
    clock.advance(59.5);
    assert_eq!(b.acquire().unwrap_err().retry_after(), Some(0.5));

    clock.advance(0.5);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let probe = b.acquire().unwrap();
    assert!(probe.is_probe());
    // One probe at a time.
    assert_eq!(b.acquire().unwrap_err().kind(), ErrorKind::CircuitOpen);
    assert_eq!(probe.success(), None);
    assert_eq!(b.state(), BreakerState::HalfOpen, "one success of two");
    assert_eq!(b.stats().probe_successes, 1);
    assert_eq!(b.acquire().unwrap().success(), Some(BreakerState::Closed));
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().consecutive_failures, 0);

    assert_eq!(
        events.lock().unwrap().as_slice(),
        [
            "[CIRCUIT] circuit_open breaker=\"identify\" from=\"closed\" to=\"open\" retry_after=\"60\"",
            "[CIRCUIT] circuit_half_open breaker=\"identify\" from=\"open\" to=\"half-open\"",
            "[CIRCUIT] circuit_closed breaker=\"identify\" from=\"half-open\" to=\"closed\"",
        ]
    );
}

#[test]
fn a_failed_probe_opens_it_again_for_longer_with_backoff_capped() {
    let (b, clock, _) = breaker(BreakerOptions {
        max_reset_timeout: Some(Duration::from_secs(200)),
        success_threshold: 1,
        ..reference()
    });
    for _ in 0..3 {
        fail(&b);
    }
    let mut waits = vec![b.stats().retry_after];
    for _ in 0..3 {
        clock.advance(waits.last().copied().unwrap());
        b.acquire().unwrap().failure(); // the probe fails
        waits.push(b.stats().retry_after);
    }
    assert_eq!(waits, [60.0, 120.0, 200.0, 200.0]);
    // A close forgets the trips: the next open is the base time again.
    clock.advance(200.0);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.stats().retry_after, 60.0);
}

#[test]
fn an_outcome_from_an_older_generation_is_ignored() {
    let (b, clock, _) = breaker(reference());
    let slow = b.acquire().unwrap(); // started while closed
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Open);
    slow.success(); // arrives after the trip
    let s = b.stats();
    assert_eq!(s.state, BreakerState::Open);
    assert_eq!(s.stale, 1);
    // And a failure from the closed generation does not count in half-open.
    let late = b.acquire();
    assert!(late.is_err());
    clock.advance(60.0);
    let probe = b.acquire().unwrap();
    let g = probe.generation();
    probe.success();
    b.acquire().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(b.stats().generation > g);
}

#[test]
fn a_lost_probe_frees_its_slot_after_the_probe_timeout_and_a_dropped_one_at_once() {
    let (b, clock, _) = breaker(BreakerOptions {
        probe_timeout: Some(Duration::from_secs(5)),
        ..reference()
    });
    for _ in 0..3 {
        fail(&b);
    }
    clock.advance(60.0);
    // Dropped without a report (a cancelled call): the slot is free at once.
    drop(b.acquire().unwrap());
    assert_eq!(b.stats().ignored, 1);
    // Never reported nor dropped (a leaked permit): the slot frees after 5 s.
    std::mem::forget(b.acquire().unwrap());
    let e = b.acquire().unwrap_err();
    assert_eq!(e.retry_after(), Some(5.0));
    clock.advance(5.0);
    let probe = b.acquire().unwrap();
    assert!(probe.is_probe());
    probe.success();
    b.acquire().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn several_probes_at_once_when_configured() {
    let (b, clock, _) = breaker(BreakerOptions {
        half_open_max_calls: 3,
        success_threshold: 3,
        ..reference()
    });
    for _ in 0..3 {
        fail(&b);
    }
    clock.advance(60.0);
    let probes: Vec<_> = (0..3).map(|_| b.acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err());
    assert_eq!(b.stats().probes, 3);
    for p in probes {
        p.success();
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn a_success_past_the_call_timeout_is_a_failure_and_slow_calls_are_counted() {
    let (b, clock, _) = breaker(BreakerOptions {
        call_timeout: Some(Duration::from_secs(2)),
        slow_call_duration: Some(Duration::from_secs(1)),
        ..reference()
    });
    for _ in 0..3 {
        let p = b.acquire().unwrap();
        clock.advance(2.5);
        p.success();
    }
    let s = b.stats();
    assert_eq!(s.state, BreakerState::Open);
    assert_eq!(
        (s.timeouts, s.failures, s.successes, s.slow_calls),
        (3, 3, 0, 3)
    );
    b.close();
    let p = b.acquire().unwrap();
    clock.advance(1.5); // slow, within the timeout
    p.success();
    let s = b.stats();
    assert_eq!(
        (s.successes, s.slow_calls, s.consecutive_failures),
        (1, 4, 0)
    );
}

fn rate(window: Window, minimum_calls: u32) -> BreakerOptions {
    BreakerOptions {
        name: "rate".into(),
        policy: TripPolicy::Rate {
            window,
            failure_rate: 0.5,
            slow_call_rate: None,
            minimum_calls,
        },
        reset_timeout: Duration::from_secs(30),
        ..BreakerOptions::default()
    }
}

#[test]
fn a_count_window_opens_at_the_failure_rate_once_it_holds_the_minimum() {
    let (b, _, _) = breaker(rate(Window::Count(10), 10));
    // Alternating: 50% failures, but the window holds fewer than 10 calls until the 10th.
    for i in 0..9 {
        if i % 2 == 0 {
            fail(&b);
        } else {
            succeed(&b);
        }
    }
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "9 calls, below the minimum"
    );
    assert_eq!((b.stats().window_calls, b.stats().window_failures), (9, 5));
    succeed(&b); // 10 calls, 5 failures: 50%
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn a_count_window_forgets_the_oldest_call() {
    let (b, _, _) = breaker(rate(Window::Count(4), 4));
    fail(&b);
    succeed(&b);
    succeed(&b);
    succeed(&b); // [F S S S]: 25%
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b); // [S S S F]: the first failure left the window, 25%
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!((b.stats().window_calls, b.stats().window_failures), (4, 1));
    fail(&b); // [S S F F]: 50%
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn a_time_window_counts_only_the_last_seconds() {
    let (b, clock, _) = breaker(rate(Window::Time(Duration::from_secs(10)), 4));
    for _ in 0..3 {
        fail(&b);
        clock.advance(4.0);
    }
    // Failures at 0, 4 and 8 s; now 12 s: the one at 0 s has left the window.
    succeed(&b); // window: F F S, 3 calls < 4
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().window_calls, 3);
    succeed(&b); // F F S S: 50% with 4 calls
    assert_eq!(b.state(), BreakerState::Open);
    // Closed again, the window starts empty.
    b.close();
    assert_eq!(b.stats().window_calls, 0);
    clock.advance(100.0);
    assert_eq!(b.stats().window_calls, 0);
}

#[test]
fn a_slow_call_rate_opens_it_too() {
    let (b, clock, _) = breaker(BreakerOptions {
        policy: TripPolicy::Rate {
            window: Window::Count(4),
            failure_rate: 1.0,
            slow_call_rate: Some(0.75),
            minimum_calls: 4,
        },
        slow_call_duration: Some(Duration::from_millis(500)),
        ..rate(Window::Count(4), 4)
    });
    for slow in [true, true, false, true] {
        let p = b.acquire().unwrap();
        clock.advance(if slow { 0.6 } else { 0.1 });
        p.success();
    }
    let s = b.stats();
    assert_eq!((s.window_slow, s.failures), (3, 0));
    assert_eq!(s.state, BreakerState::Open);
}

#[test]
fn ignored_outcomes_count_for_nothing() {
    let (b, _, _) = breaker(reference());
    for _ in 0..10 {
        b.acquire().unwrap().record(Outcome::Ignored);
    }
    fail(&b);
    fail(&b);
    b.acquire().unwrap().record(Outcome::Ignored);
    let s = b.stats();
    assert_eq!(
        (s.state, s.consecutive_failures, s.ignored),
        (BreakerState::Closed, 2, 11)
    );
}

#[test]
fn manual_control_as_pybreaker_has_it() {
    let (b, clock, events) = breaker(reference());
    b.open();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.acquire().unwrap_err().retry_after(), Some(60.0));
    b.half_open();
    assert!(b.acquire().unwrap().is_probe());
    b.close();
    assert_eq!(b.state(), BreakerState::Closed);
    b.close(); // already closed: no event
    clock.advance(1.0);
    assert_eq!(events.lock().unwrap().len(), 3);
}

#[test]
fn calls_through_a_closed_breaker_run_at_the_same_time() {
    // Every thread holds its permit until all 16 hold one: a breaker that serialised calls (as
    // pybreaker's lock does) would never let the barrier open.
    let b = CircuitBreaker::new(reference()).unwrap();
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (b, barrier) = (b.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let permit = b.acquire().unwrap();
                barrier.wait();
                permit.success();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(b.stats().successes, 16);
}

#[test]
fn sixteen_threads_at_the_half_open_edge_get_exactly_the_probe_count() {
    for max in [1u32, 3] {
        let clock = ManualClock::new(NOW);
        let b = CircuitBreaker::with_clock(
            BreakerOptions {
                half_open_max_calls: max,
                ..reference()
            },
            Arc::new(clock.clone()),
        )
        .unwrap();
        for _ in 0..3 {
            fail(&b);
        }
        clock.advance(60.0);
        let barrier = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (b, barrier) = (b.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    // Hold the permit past the other threads' attempts.
                    let permit = b.try_acquire().ok();
                    let admitted = permit.is_some();
                    barrier.wait();
                    drop(permit);
                    admitted
                })
            })
            .collect();
        let admitted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|a| *a)
            .count();
        assert_eq!(admitted, max as usize);
        assert_eq!(b.stats().rejected, 16 - u64::from(max));
    }
}

#[test]
fn bad_options_are_refused() {
    let bad = [
        BreakerOptions {
            policy: TripPolicy::Consecutive { fail_max: 0 },
            ..BreakerOptions::default()
        },
        BreakerOptions {
            reset_timeout: Duration::ZERO,
            ..BreakerOptions::default()
        },
        BreakerOptions {
            max_reset_timeout: Some(Duration::from_secs(1)),
            ..BreakerOptions::default()
        },
        BreakerOptions {
            success_threshold: 0,
            ..BreakerOptions::default()
        },
        BreakerOptions {
            half_open_max_calls: 0,
            ..BreakerOptions::default()
        },
        BreakerOptions {
            name: String::new(),
            ..BreakerOptions::default()
        },
        BreakerOptions {
            backoff_multiplier: 0.5,
            ..BreakerOptions::default()
        },
        rate(Window::Count(0), 1),
        rate(Window::Count(10_001), 1),
        rate(Window::Time(Duration::from_micros(10)), 1),
        rate(Window::Count(10), 0),
        BreakerOptions {
            policy: TripPolicy::Rate {
                window: Window::Count(10),
                failure_rate: 1.5,
                slow_call_rate: None,
                minimum_calls: 1,
            },
            ..BreakerOptions::default()
        },
        BreakerOptions {
            policy: TripPolicy::Rate {
                window: Window::Count(10),
                failure_rate: 0.5,
                slow_call_rate: Some(0.5),
                minimum_calls: 1,
            },
            ..BreakerOptions::default() // no slow_call_duration
        },
    ];
    for options in bad {
        let e = CircuitBreaker::new(options.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{options:?}");
    }
}

/// The breaker and the cache together (reference deployment 1's "identify"
/// endpoint): the cache's computation goes through the breaker, so while the
/// breaker is open the upstream is not called and the stale value is served
/// for `stale_if_error`; past that, callers get `CIRCUIT_OPEN`.
#[test]
fn a_cache_serves_stale_while_the_breaker_guarding_its_upstream_is_open() {
    use bastion_core::singleflight::cache::{Cache, CacheOptions, Source};
    use std::sync::atomic::{AtomicU32, Ordering};

    let clock = ManualClock::new(NOW);
    let shared_clock: Arc<dyn bastion_core::Clock> = Arc::new(clock.clone());
    let breaker = CircuitBreaker::with_clock(reference(), Arc::clone(&shared_clock)).unwrap();
    let cache: Cache<String> = Cache::with_clock(
        CacheOptions {
            ttl: Duration::from_secs(10),
            stale_if_error: Duration::from_secs(300),
            ..CacheOptions::default()
        },
        shared_clock,
        Some(7),
    )
    .unwrap();
    let upstream_calls = AtomicU32::new(0);
    let upstream_up = std::sync::atomic::AtomicBool::new(true);
    let compute = || {
        let permit = breaker.acquire()?;
        upstream_calls.fetch_add(1, Ordering::SeqCst);
        if upstream_up.load(Ordering::SeqCst) {
            let _ = permit.success();
            Ok(Some("profile".to_owned()))
        } else {
            let _ = permit.failure();
            Err(bastion_core::Error::new(
                ErrorKind::StoreUnavailable,
                "upstream down",
            ))
        }
    };
    assert_eq!(
        cache.get("alice", compute).unwrap().source,
        Source::Computed
    );
    upstream_up.store(false, Ordering::SeqCst);
    // Expired, the upstream failing: stale served, failures counted.
    for _ in 0..3 {
        clock.advance(11.0);
        let a = cache.get("alice", compute).unwrap();
        assert_eq!(
            (a.value.as_deref(), a.source),
            (Some("profile"), Source::StaleIfError)
        );
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    let calls = upstream_calls.load(Ordering::SeqCst);
    // Open: the upstream is not called at all, and the stale value is served.
    let a = cache.get("alice", compute).unwrap();
    assert_eq!(a.source, Source::StaleIfError);
    assert_eq!(upstream_calls.load(Ordering::SeqCst), calls);
    // Past stale_if_error, the caller gets the breaker's CIRCUIT_OPEN.
    clock.advance(290.0);
    breaker.open();
    let e = cache.get("alice", compute).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CircuitOpen);
    assert_eq!(upstream_calls.load(Ordering::SeqCst), calls);
}

#[test]
fn a_manual_clock_at_its_extremes_never_overflows_the_breaker() {
    // A test clock set or advanced to absurd times (1e300 s) is clamped: the breaker's time
    // arithmetic (an open time plus the reset timeout, a probe's deadline) used to overflow and
    // panic when the clock read i64::MAX microseconds.
    for (start, jump) in [
        (1e300, -1e300),
        (-1e300, 1e300),
        (0.0, 1e300),
        (0.0, -1e300),
    ] {
        let (b, clock, _) = breaker(BreakerOptions {
            half_open_max_calls: 2,
            ..reference()
        });
        clock.set(start);
        for _ in 0..3 {
            fail(&b);
        }
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(jump);
        let _ = b.stats();
        if let Ok(p) = b.try_acquire() {
            let _ = p.success();
        }
        clock.advance(jump);
        b.half_open();
        let first = b
            .try_acquire()
            .expect("a half-open breaker lets a probe through");
        let _ = b.try_acquire();
        drop(first);
        let _ = b.record_admitted(u64::MAX, Outcome::Failure);
        let _ = b.state();
    }
}
