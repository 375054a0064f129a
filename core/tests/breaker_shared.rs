//! A circuit breaker shared through Redis: several breaker objects of one
//! name, each on its own store (its own connection and broadcast subscriber,
//! as separate processes would have), driven by one ManualClock. Every case
//! runs on a real standalone Redis and a real three-master Redis Cluster.

mod support;

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bastion_core::breaker::{
    BreakerOptions, BreakerState, CircuitBreaker, Outcome, TripPolicy, Window,
};
use bastion_core::events::Event;
use bastion_core::store::{RedisOptions, Store};
use bastion_core::{ErrorKind, ManualClock};
use support::backends::{self, redis_options, Backend};
use support::redis::{server_or_skip, shared_server, unique_prefix};

const NOW: f64 = 1_800_000_000.0;

struct Case {
    clock: ManualClock,
    backend: Backend,
    prefix: String,
}

impl Case {
    /// A breaker on a store of its own: another process.
    fn process(&self, options: &BreakerOptions) -> CircuitBreaker {
        let store = backends::store(self.backend, &self.clock, &self.prefix).unwrap();
        CircuitBreaker::with_store(options.clone(), &store).unwrap()
    }
}

fn on_redis(case: fn(Case)) {
    for backend in [Backend::Redis, Backend::Cluster] {
        let clock = ManualClock::new(NOW);
        let prefix = unique_prefix("brk");
        if backends::store(backend, &clock, &prefix).is_none() {
            continue;
        }
        eprintln!("case on {backend:?}");
        case(Case {
            clock,
            backend,
            prefix,
        });
    }
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

/// A breaker of the reference options on its own store (connection and
/// subscriber) at `url`, its keys under `prefix`, driven by `clock`.
fn breaker_on(url: &str, clock: &ManualClock, prefix: &str) -> CircuitBreaker {
    let store = Store::redis(url, redis_options(Some(clock), prefix)).unwrap();
    CircuitBreaker::with_store(reference(), &store).unwrap()
}

fn fail(b: &CircuitBreaker) -> Option<BreakerState> {
    b.acquire().unwrap().failure()
}

fn succeed(b: &CircuitBreaker) -> Option<BreakerState> {
    b.acquire().unwrap().success()
}

/// Waits (up to 10 s) for `cond`: broadcasts and background flushes arrive
/// on the I/O thread.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn events(b: &CircuitBreaker) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    b.listeners().add(Arc::new(move |e: &Event| {
        s.lock().unwrap().push(e.to_string())
    }));
    seen
}

#[test]
fn one_process_trips_it_and_the_others_see_it_open() {
    on_redis(|case| {
        let a = case.process(&reference());
        let b = case.process(&reference());
        let seen_by_b = events(&b);
        assert_eq!(a.stats().mode, "shared");
        assert_eq!(fail(&a), None);
        assert_eq!(fail(&b), None);
        assert_eq!(b.stats().consecutive_failures, 2);
        // A new count of failures in a row is broadcast as well.
        eventually("a follows the run", || a.stats().consecutive_failures == 2);
        // The failure that trips it, from either process, says so.
        assert_eq!(fail(&a), Some(BreakerState::Open));
        // b learns by broadcast, without a call of its own.
        eventually("b sees the trip", || b.state() == BreakerState::Open);
        let e = b.acquire().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CircuitOpen);
        assert_eq!(e.retry_after(), Some(60.0));
        eventually("b's listeners told", || {
            seen_by_b
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains("circuit_open"))
        });
        // A third process made now reads it open.
        let c = case.process(&reference());
        assert_eq!(c.state(), BreakerState::Open);
        assert_eq!(c.stats().generation, a.stats().generation);
    });
}

#[test]
fn probes_are_bounded_across_processes_and_close_it_for_everyone() {
    on_redis(|case| {
        let options = BreakerOptions {
            half_open_max_calls: 2,
            ..reference()
        };
        let a = case.process(&options);
        let b = case.process(&options);
        let c = case.process(&options);
        for _ in 0..3 {
            fail(&a);
        }
        eventually("all open", || {
            [&b, &c].iter().all(|x| x.state() == BreakerState::Open)
        });
        case.clock.advance(60.0);
        let p1 = a.acquire().unwrap();
        let p2 = b.acquire().unwrap();
        assert!(p1.is_probe() && p2.is_probe());
        let refused = c.acquire().unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::CircuitOpen);
        assert_eq!(a.acquire().unwrap_err().kind(), ErrorKind::CircuitOpen);
        assert_eq!(p1.success(), None);
        c.sync().unwrap();
        assert_eq!(c.stats().probe_successes, 1);
        assert_eq!(p2.success(), Some(BreakerState::Closed));
        eventually("all closed", || {
            [&a, &c].iter().all(|x| x.state() == BreakerState::Closed)
        });
        assert!(c.acquire().is_ok());
    });
}

#[test]
fn a_probe_failure_reopens_it_with_backoff_and_stale_outcomes_do_not_count() {
    on_redis(|case| {
        let options = BreakerOptions {
            max_reset_timeout: Some(Duration::from_secs(300)),
            backoff_multiplier: 2.0,
            ..reference()
        };
        let a = case.process(&options);
        let b = case.process(&options);
        // A slow call started while closed.
        let slow = b.acquire().unwrap();
        for _ in 0..3 {
            fail(&a);
        }
        eventually("b open", || b.state() == BreakerState::Open);
        // It ends after the trip: stale, not counted, no round trip needed.
        assert_eq!(slow.failure(), None);
        assert_eq!(b.stats().stale, 1);
        case.clock.advance(60.0);
        assert_eq!(b.acquire().unwrap().failure(), Some(BreakerState::Open));
        eventually("a reopened", || {
            a.stats().retry_after == 120.0 && a.state() == BreakerState::Open
        });
        assert_eq!(a.acquire().unwrap_err().retry_after(), Some(120.0));
    });
}

#[test]
fn a_success_in_the_closed_state_costs_no_round_trip() {
    let Some(server) = shared_server() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let prefix = unique_prefix("brk");
    let b = breaker_on(&server.url(), &clock, &prefix);
    let evals = || {
        let info = server
            .command(&["INFO", "commandstats"])
            .unwrap()
            .text()
            .unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .map(|l| {
                let calls = l.split("calls=").nth(1).unwrap();
                calls.split(',').next().unwrap().parse::<u64>().unwrap()
            })
            .sum::<u64>()
    };
    let before = evals();
    for _ in 0..1000 {
        assert_eq!(succeed(&b), None);
    }
    // Other tests share this server: allow for their calls, but 1000
    // successes must not have made anything near 1000 script calls.
    let made = evals() - before;
    assert!(made < 100, "{made} script calls for 1000 successes");
    assert_eq!(b.stats().successes, 1000);
    // Every key the breaker wrote has a lifetime.
    for _ in 0..3 {
        fail(&b);
    }
    let keys = match server.command(&["KEYS", &format!("{prefix}*")]).unwrap() {
        support::redis::Reply::Array(items) => items,
        other => panic!("KEYS answered {other:?}"),
    };
    assert!(!keys.is_empty());
    for key in keys {
        let key = key.text().unwrap();
        let ttl = server.command(&["PTTL", &key]).unwrap();
        assert!(
            matches!(ttl, support::redis::Reply::Int(ms) if ms > 0),
            "{key}: {ttl:?}"
        );
    }
}

#[test]
fn a_success_elsewhere_ends_the_run_of_failures() {
    on_redis(|case| {
        let a = case.process(&reference());
        let b = case.process(&reference());
        fail(&a);
        fail(&a);
        eventually("b knows of the run", || b.stats().consecutive_failures == 2);
        succeed(&b);
        // b's success was flushed at once (the shared run was not zero).
        eventually("run reset", || {
            a.sync().unwrap();
            a.stats().consecutive_failures == 0
        });
        fail(&a);
        fail(&a);
        assert_eq!(a.state(), BreakerState::Closed);
        assert_eq!(fail(&a), Some(BreakerState::Open));
    });
}

#[test]
fn a_failure_rate_window_counts_the_calls_of_every_process() {
    on_redis(|case| {
        let options = BreakerOptions {
            name: "rate".into(),
            policy: TripPolicy::Rate {
                window: Window::Count(10),
                failure_rate: 0.5,
                slow_call_rate: None,
                minimum_calls: 4,
            },
            ..BreakerOptions::default()
        };
        let a = case.process(&options);
        let b = case.process(&options);
        for _ in 0..3 {
            succeed(&a);
        }
        // The flush interval passes: the next success sends the batch.
        case.clock.advance(0.2);
        succeed(&a);
        eventually("a's successes flushed", || {
            b.sync().unwrap();
            b.stats().window_calls == 4
        });
        for _ in 0..3 {
            assert_eq!(fail(&b), None);
        }
        b.sync().unwrap();
        assert_eq!((b.stats().window_calls, b.stats().window_failures), (7, 3));
        // 4 of 8: the rate is reached.
        assert_eq!(fail(&b), Some(BreakerState::Open));
        eventually("a open", || a.state() == BreakerState::Open);
    });
}

#[test]
fn a_time_window_forgets_calls_older_than_the_window() {
    on_redis(|case| {
        let options = BreakerOptions {
            name: "timed".into(),
            policy: TripPolicy::Rate {
                window: Window::Time(Duration::from_secs(10)),
                failure_rate: 0.5,
                slow_call_rate: None,
                minimum_calls: 3,
            },
            ..BreakerOptions::default()
        };
        let a = case.process(&options);
        let b = case.process(&options);
        fail(&a);
        fail(&b);
        case.clock.advance(11.0);
        // The two failures left the window: one more is 1 of 1, under the
        // minimum.
        assert_eq!(fail(&a), None);
        a.sync().unwrap();
        assert_eq!(a.stats().window_calls, 1);
        assert_eq!(fail(&b), None);
        assert_eq!(fail(&a), Some(BreakerState::Open));
    });
}

#[test]
fn manual_open_and_close_are_shared() {
    on_redis(|case| {
        let a = case.process(&reference());
        let b = case.process(&reference());
        a.open();
        eventually("b open", || b.state() == BreakerState::Open);
        b.close();
        eventually("a closed", || a.state() == BreakerState::Closed);
        a.half_open();
        eventually("b half-open", || b.state() == BreakerState::HalfOpen);
        assert!(b.acquire().unwrap().is_probe());
    });
}

#[test]
fn a_dropped_probe_frees_its_slot_for_another_process() {
    on_redis(|case| {
        let a = case.process(&reference());
        let b = case.process(&reference());
        for _ in 0..3 {
            fail(&a);
        }
        eventually("b open", || b.state() == BreakerState::Open);
        case.clock.advance(60.0);
        let probe = a.acquire().unwrap();
        assert!(b.acquire().is_err());
        drop(probe); // a cancelled call: its slot is released in the background
        eventually("slot freed", || {
            b.sync().unwrap();
            b.stats().probes == 0
        });
        // b's own hold on its last refusal is at most the sync interval.
        case.clock.advance(1.0);
        assert!(b.acquire().unwrap().is_probe());
    });
}

#[test]
fn sixty_four_processes_at_the_half_open_edge_get_exactly_the_probe_slots() {
    on_redis(|case| {
        let options = BreakerOptions {
            half_open_max_calls: 3,
            ..reference()
        };
        let breakers: Vec<CircuitBreaker> = (0..64).map(|_| case.process(&options)).collect();
        for _ in 0..3 {
            fail(&breakers[0]);
        }
        for b in &breakers {
            b.sync().unwrap();
            assert_eq!(b.state(), BreakerState::Open);
        }
        case.clock.advance(60.0);
        let gate = Arc::new(Barrier::new(64));
        let handles: Vec<_> = breakers
            .into_iter()
            .map(|b| {
                let gate = Arc::clone(&gate);
                thread::spawn(move || {
                    gate.wait();
                    let got = b.try_acquire().ok();
                    let probe = got.as_ref().is_some_and(|p| p.is_probe());
                    (probe, got.is_some(), b, got)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let granted = results.iter().filter(|r| r.1).count();
        let probes = results.iter().filter(|r| r.0).count();
        assert_eq!((granted, probes), (3, 3));
        for (_, _, _, permit) in results {
            if let Some(p) = permit {
                let _ = p.record(Outcome::Ignored);
            }
        }
    });
}

#[test]
fn with_redis_down_it_carries_on_alone_and_follows_redis_again_once_back() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let options = BreakerOptions {
        sync_interval: Duration::from_secs(3600),
        ..reference()
    };
    let store = Store::redis(
        &server.url(),
        RedisOptions {
            timeout: Duration::from_millis(100),
            clock: Some(Arc::new(clock.clone())),
            prefix: unique_prefix("brk"),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let b = CircuitBreaker::with_store(options, &store).unwrap();
    let seen = events(&b);
    fail(&b);
    server.stop();
    let started = Instant::now();
    // The first failure report finds Redis gone: counted locally.
    assert_eq!(fail(&b), None);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(b.stats().mode, "fallback");
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.contains("store_unavailable")));
    // Alone, it still trips on this process's own count.
    assert_eq!(fail(&b), Some(BreakerState::Open));
    assert_eq!(b.acquire().unwrap_err().kind(), ErrorKind::CircuitOpen);
    server.restart();
    // Back: Redis (empty after the restart) is followed again.
    eventually("follows redis", || b.sync().is_ok());
    assert_eq!(b.stats().mode, "shared");
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(fail(&b), None);
    assert_eq!(b.stats().consecutive_failures, 1);
}

#[test]
fn the_async_twins_await_their_round_trips_and_keep_the_rules() {
    on_redis(|case| {
        let a = case.process(&reference());
        let b = case.process(&reference());
        let (a2, b2) = (a.clone(), b.clone());
        let outcome = bastion_core::runtime::block_on(async move {
            // Closed: admitted from the mirror; failures are counted by Redis.
            for _ in 0..2 {
                let p = a2.acquire_async().await.unwrap();
                assert_eq!(p.record_async(Outcome::Failure).await, None);
            }
            let p = b2.acquire_async().await.unwrap();
            p.record_async(Outcome::Failure).await
        })
        .unwrap();
        assert_eq!(outcome, Some(BreakerState::Open));
        eventually("a open", || a.state() == BreakerState::Open);
        case.clock.advance(60.0);
        let (a2, b2) = (a.clone(), b.clone());
        // Nothing panics on the I/O thread: every step's answer comes back
        // to be checked here, where a failure is reported with its step.
        let steps = bastion_core::runtime::block_on(async move {
            let probe = a2.try_acquire_async().await;
            let refused = b2.try_acquire_async().await.err();
            let is_probe = probe.as_ref().map(|p| p.is_probe()).ok();
            let first = match probe {
                Ok(p) => p.record_async(Outcome::Success).await,
                Err(_) => None,
            };
            let synced = b2.sync_async().await;
            let second = match b2.acquire_async().await {
                Ok(p) => Ok(p.record_async(Outcome::Success).await),
                Err(e) => Err(e),
            };
            (is_probe, refused, first, synced, second)
        })
        .unwrap();
        let (is_probe, refused, first, synced, second) = steps;
        assert_eq!(is_probe, Some(true), "a's probe");
        assert!(refused.is_some(), "b refused while a probes");
        assert_eq!(first, None, "one probe success of two");
        synced.unwrap();
        assert_eq!(second.unwrap(), Some(BreakerState::Closed));
    });
}

#[test]
fn a_refusal_with_every_probe_taken_is_held_in_the_mirror_without_round_trips() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let prefix = unique_prefix("brk");
    let open = || breaker_on(&server.url(), &clock, &prefix);
    // A generous timeout: under load a background re-read (the one after
    // the subscriber connects) must not time out and drop b into fallback.
    // A round trip while Redis is frozen would still show: it would block
    // until the timeout and then admit from b's local state.
    let a = open();
    let b = open();
    for _ in 0..3 {
        fail(&a);
    }
    // b has followed the trip (its subscriber is connected and the trip's
    // broadcast will not arrive late and reopen its mirror).
    eventually("b sees the trip", || b.state() == BreakerState::Open);
    clock.advance(60.0);
    let probe = a.acquire().unwrap();
    // b asks Redis once: every probe slot is taken.
    let refused = b.try_acquire().unwrap_err();
    assert_eq!(refused.retry_after, 60.0, "until a's probe times out");
    // Frozen, Redis would make any round trip fail (and b fall back); the
    // next refusals come from b's mirror, for up to the sync interval.
    server.pause();
    for _ in 0..3 {
        let held = b.try_acquire().unwrap_err();
        assert!(
            held.retry_after <= 1.0,
            "held for at most the sync interval"
        );
    }
    assert_eq!(b.stats().mode, "shared");
    server.resume();
    drop(probe);
}

#[test]
fn a_shared_state_lost_by_redis_is_followed_again() {
    // Keys can go: a restart without persistence, FLUSHALL, eviction, or
    // the key lifetime passing with no call. The state starts again at
    // generation 0 while running processes' mirrors are further on; their
    // outcomes must count again (else the breaker could never trip).
    let Some(server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(NOW);
    let prefix = unique_prefix("brk");
    let open = || breaker_on(&server.url(), &clock, &prefix);
    let a = open();
    let b = open();
    for _ in 0..3 {
        a.open();
        a.close();
    }
    let ahead = a.stats().generation;
    assert!(ahead >= 6, "generation {ahead}");
    eventually("b follows", || b.stats().generation == ahead);
    server.command(&["FLUSHALL"]).unwrap();
    // b reads the state again (as after a broadcast subscriber reconnects,
    // or its periodic re-read): a new state, though of a lower generation.
    b.sync().unwrap();
    assert_eq!(b.stats().mode, "shared");
    assert!(b.stats().generation < ahead, "{:?}", b.stats());
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Open, "b's failures counted");
    // a learns of it from the broadcast or its next read.
    a.sync().unwrap();
    assert_eq!(a.state(), BreakerState::Open);
}
