//! Rate limiting: every case runs on the memory store, a real standalone
//! Redis and a real three-master Redis Cluster, with time driven by a
//! `ManualClock`. The algorithms are checked against independent reference
//! models, and the memory and Lua forms against each other, decision by
//! decision.

mod support;

use bastion_core::clock::ManualClock;
use bastion_core::events::Event;
use bastion_core::ratelimit::{Algorithm, LimiterOptions, RateLimiter};
use bastion_core::store::{MemoryOptions, OutagePolicy, RedisOptions, Store};
use bastion_core::ErrorKind;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::backends::{self, Backend};
use support::redis::{server_or_skip, unique_prefix};

const T0: f64 = 1_800_000_000.0;
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::SlidingWindow,
    Algorithm::SlidingCounter,
    Algorithm::FixedWindow,
    Algorithm::Gcra,
];

/// Every backend available here (memory always).
fn all_stores(clock: &ManualClock, tag: &str) -> Vec<(Backend, Store)> {
    backends::ALL
        .into_iter()
        .filter_map(|b| backends::store(b, clock, &unique_prefix(tag)).map(|s| (b, s)))
        .collect()
}

fn limiter(store: Store, rates: &str, algorithm: Algorithm) -> RateLimiter {
    RateLimiter::parse(
        store,
        rates,
        LimiterOptions {
            name: "test".into(),
            algorithm,
            ..LimiterOptions::default()
        },
    )
    .unwrap()
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

// ---- basic behaviour, all algorithms, all backends -----------------------------

#[test]
fn exact_sliding_window_admits_the_limit_and_says_when_to_retry() {
    let clock = ManualClock::new(T0);
    for (backend, store) in all_stores(&clock, "rl-basic") {
        clock.set(T0);
        let l = limiter(store, "5/15m", Algorithm::SlidingWindow);
        for i in 0..5 {
            let d = l.check("1.2.3.4", 1).unwrap();
            assert!(d.allowed, "{backend:?} {i}");
            assert_eq!(d.remaining, 4 - i);
            assert_eq!(d.limit, 5);
            clock.advance(10.0);
        }
        let d = l.check("1.2.3.4", 1).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.denied_by, Some(0));
        assert_eq!(d.remaining, 0);
        // The first admission (at T0) leaves the window at T0 + 900.
        assert!(approx(d.retry_after, 900.0 - 50.0), "{backend:?} {d:?}");
        // Full capacity returns when the last admission (T0 + 40) leaves.
        assert!(approx(d.reset_after, 940.0 - 50.0), "{d:?}");
        // Another key is independent.
        assert!(l.check("5.6.7.8", 1).unwrap().allowed);
        // One microsecond early is still denied; on time is admitted.
        clock.set(T0 + 899.999_999);
        assert!(!l.check("1.2.3.4", 1).unwrap().allowed, "{backend:?}");
        clock.set(T0 + 900.0);
        let d = l.check("1.2.3.4", 1).unwrap();
        assert!(d.allowed, "{backend:?}");
        assert_eq!(d.remaining, 0);
    }
}

#[test]
fn fixed_window_counts_per_aligned_window() {
    let clock = ManualClock::new(T0);
    for (backend, store) in all_stores(&clock, "rl-fixed") {
        // T0 is a multiple of 60 s: start 30 s into a window.
        clock.set(T0 + 30.0);
        let l = limiter(store, "3/minute", Algorithm::FixedWindow);
        for _ in 0..3 {
            assert!(l.check("k", 1).unwrap().allowed);
        }
        let d = l.check("k", 1).unwrap();
        assert!(!d.allowed, "{backend:?}");
        assert!(approx(d.retry_after, 30.0), "{d:?}");
        clock.set(T0 + 60.0);
        assert!(l.check("k", 3).unwrap().allowed, "{backend:?}");
        assert!(!l.check("k", 1).unwrap().allowed);
    }
}

#[test]
fn gcra_allows_a_burst_then_one_per_interval() {
    let clock = ManualClock::new(T0);
    for (backend, store) in all_stores(&clock, "rl-gcra") {
        clock.set(T0);
        let l = limiter(store, "10/10s", Algorithm::Gcra);
        for i in 0..10 {
            let d = l.check("k", 1).unwrap();
            assert!(d.allowed, "{backend:?} {i}");
            assert_eq!(d.remaining, 9 - i);
        }
        let d = l.check("k", 1).unwrap();
        assert!(!d.allowed);
        assert!(approx(d.retry_after, 1.0), "{d:?}");
        assert!(approx(d.reset_after, 10.0), "{d:?}");
        clock.advance(1.0);
        assert!(l.check("k", 1).unwrap().allowed, "{backend:?}");
        assert!(!l.check("k", 1).unwrap().allowed);
        clock.advance(5.0);
        let d = l.peek("k", 1).unwrap();
        assert_eq!(d.remaining, 5, "{d:?}");
    }
}

#[test]
fn gcra_holds_its_interval_bound_when_the_window_does_not_divide() {
    // 6/7ms: T = 1166 µs (rounded down). 12 units in 6.993 ms would exceed
    // limit + L / T = 11.997; the burst allowance is 6 × T, not the window.
    let clock = ManualClock::new(T0);
    for (backend, store) in all_stores(&clock, "rl-gcra-odd") {
        clock.set(T0);
        let l = limiter(store, "6/7ms", Algorithm::Gcra);
        for cost in [3, 2, 1] {
            assert!(l.check("k", cost).unwrap().allowed, "{backend:?} burst");
        }
        clock.advance(0.006_993);
        assert!(l.check("k", 1).unwrap().allowed, "{backend:?}");
        assert!(l.check("k", 2).unwrap().allowed, "{backend:?}");
        let d = l.check("k", 3).unwrap();
        assert!(!d.allowed, "{backend:?}: a 12th unit within 6.993 ms");
        assert!(approx(d.retry_after, 0.000_003), "{backend:?} {d:?}");
    }
}

#[test]
fn sliding_counter_weighs_the_previous_window() {
    let clock = ManualClock::new(T0);
    for (backend, store) in all_stores(&clock, "rl-counter") {
        clock.set(T0);
        let l = limiter(store, "10/minute", Algorithm::SlidingCounter);
        for _ in 0..10 {
            assert!(l.check("k", 1).unwrap().allowed);
        }
        assert!(!l.check("k", 1).unwrap().allowed);
        // 15 s into the next window, the previous 10 weigh ceil(10 × 45/60) = 8.
        clock.set(T0 + 75.0);
        let d = l.peek("k", 1).unwrap();
        assert_eq!(d.remaining, 2, "{backend:?} {d:?}");
        assert!(l.check("k", 2).unwrap().allowed);
        let d = l.check("k", 1).unwrap();
        assert!(!d.allowed);
        // ceil(10 × (60 − e)/60) ≤ 7 first holds at e = 18 s: 3 s from now.
        assert!(approx(d.retry_after, 3.0), "{backend:?} {d:?}");
    }
}

#[test]
fn several_limits_are_all_or_nothing() {
    let clock = ManualClock::new(T0);
    for algorithm in ALGORITHMS {
        for (backend, store) in all_stores(&clock, "rl-multi") {
            clock.set(T0);
            let l = limiter(store, "2/second;3/minute", algorithm);
            assert!(l.check("u", 1).unwrap().allowed);
            assert!(l.check("u", 1).unwrap().allowed);
            let d = l.check("u", 1).unwrap();
            assert!(!d.allowed, "{algorithm:?} {backend:?}");
            assert_eq!(d.denied_by, Some(0));
            // The denied check charged neither limit: the minute limit still has 1.
            let p = l.peek("u", 1).unwrap();
            assert_eq!(p.limits[1].remaining, 1, "{algorithm:?} {backend:?} {p:?}");
            // Two seconds on, every algorithm's per-second limit is empty again
            // (the sliding counter still weighs the previous second after one).
            clock.advance(2.0);
            let d = l.check("u", 1).unwrap();
            assert!(d.allowed, "{algorithm:?} {backend:?}");
            // The binding limit is now the minute limit, with nothing left.
            assert_eq!((d.limit, d.remaining), (3, 0), "{algorithm:?} {d:?}");
            let d = l.check("u", 1).unwrap();
            assert!(!d.allowed);
            assert_eq!(d.denied_by, Some(1), "{algorithm:?} {backend:?}");
            assert_eq!(d.rate.limit, 3);
            // Now the second limit admits on its own but the minute limit
            // denies: again nothing is charged.
            assert!(d.limits[0].allowed);
            let p = l.peek("u", 1).unwrap();
            assert_eq!(p.limits[0].remaining, 1, "{algorithm:?} {backend:?} {p:?}");
        }
    }
}

#[test]
fn peek_refund_reset_and_cost() {
    let clock = ManualClock::new(T0);
    for algorithm in ALGORITHMS {
        for (backend, store) in all_stores(&clock, "rl-ops") {
            clock.set(T0);
            let l = limiter(store, "10/hour", algorithm);
            assert_eq!(l.peek("k", 0).unwrap().remaining, 10);
            assert!(l.check("k", 4).unwrap().allowed);
            let p = l.peek("k", 7).unwrap();
            assert!(!p.allowed, "{algorithm:?} {backend:?}");
            assert_eq!(p.remaining, 6);
            assert_eq!(l.peek("k", 6).unwrap().remaining, 6);
            l.refund("k", 3).unwrap();
            assert_eq!(
                l.peek("k", 1).unwrap().remaining,
                9,
                "{algorithm:?} {backend:?}"
            );
            // Refunds never go below empty.
            l.refund("k", 5).unwrap();
            assert_eq!(l.peek("k", 1).unwrap().remaining, 10);
            assert!(l.check("k", 10).unwrap().allowed);
            assert!(!l.check("k", 1).unwrap().allowed);
            l.reset("k").unwrap();
            assert_eq!(l.check("k", 1).unwrap().remaining, 9);
            // Costs that could never pass, or charge nothing, are refused.
            assert_eq!(
                l.check("k", 11).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
            assert_eq!(
                l.check("k", 0).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
            assert_eq!(
                l.check("", 1).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
            let e = l.hit("k", 10).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RateLimited);
            assert!(e.retry_after().unwrap() > 0.0);
        }
    }
}

#[test]
fn configuration_errors_are_clear() {
    let s = Store::default();
    let bad = |rates: &str, alg: Algorithm| {
        RateLimiter::parse(
            s.clone(),
            rates,
            LimiterOptions {
                algorithm: alg,
                ..LimiterOptions::default()
            },
        )
        .unwrap_err()
    };
    assert!(bad("20000/minute", Algorithm::SlidingWindow)
        .message()
        .contains("sliding_counter"));
    assert!(bad("5/minute;5/minute", Algorithm::FixedWindow)
        .message()
        .contains("twice"));
    assert!(bad("2000/1ms", Algorithm::Gcra)
        .message()
        .contains("microsecond"));
    assert!(bad("5/fortnight", Algorithm::Gcra)
        .message()
        .contains("unknown unit"));
    let named = |name: &str| {
        RateLimiter::parse(
            s.clone(),
            "1/s",
            LimiterOptions {
                name: name.into(),
                ..LimiterOptions::default()
            },
        )
    };
    assert!(named("login.v2-x_y").is_ok());
    for name in ["", "a:b", "a{b}", &"x".repeat(65)] {
        assert_eq!(named(name).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(
        Algorithm::parse("moving-window").unwrap(),
        Algorithm::SlidingWindow
    );
    assert!(Algorithm::parse("leaky").is_err());
}

// ---- reference models ----------------------------------------------------------

/// An independent model of each algorithm, written from its definition.
struct Model {
    alg: Algorithm,
    limit: i64,
    window: i64,
    log: Vec<i64>,
    counts: std::collections::HashMap<i64, i64>,
    tat: f64,
}

impl Model {
    fn new(alg: Algorithm, limit: i64, window: i64) -> Self {
        Self {
            alg,
            limit,
            window,
            log: Vec::new(),
            counts: Default::default(),
            tat: 0.0,
        }
    }

    fn admit(&mut self, now: i64, cost: i64) -> bool {
        let w = self.window;
        let ok = match self.alg {
            Algorithm::SlidingWindow => {
                let inside = self.log.iter().filter(|&&t| t > now - w).count() as i64;
                inside + cost <= self.limit
            }
            Algorithm::FixedWindow => {
                self.counts.get(&(now / w)).copied().unwrap_or(0) + cost <= self.limit
            }
            Algorithm::SlidingCounter => {
                let i = now / w;
                let prev = self.counts.get(&(i - 1)).copied().unwrap_or(0) as f64;
                let cur = self.counts.get(&i).copied().unwrap_or(0);
                let share = (prev * ((w - (now - i * w)) as f64) / (w as f64)).ceil() as i64;
                share + cur + cost <= self.limit
            }
            Algorithm::Gcra => {
                let t = (w / self.limit) as f64;
                let tat = self.tat.max(now as f64);
                tat + cost as f64 * t - now as f64 <= self.limit as f64 * t
            }
        };
        if ok {
            match self.alg {
                Algorithm::SlidingWindow => {
                    self.log.extend(std::iter::repeat_n(now, cost as usize))
                }
                Algorithm::Gcra => {
                    let t = (w / self.limit) as f64;
                    self.tat = self.tat.max(now as f64) + cost as f64 * t;
                }
                _ => *self.counts.entry(now / w).or_default() += cost,
            }
        }
        ok
    }
}

/// A deterministic pseudo-random sequence (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Arrival times (µs offsets) mixing bursts, idle gaps and boundary hits.
fn traffic(rng: &mut Rng, window: i64, n: usize) -> Vec<(i64, i64)> {
    let mut t = 0i64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        t += match rng.below(10) {
            0..=3 => 0,
            4..=6 => rng.below(window as u64 / 10 + 1) as i64,
            7 | 8 => rng.below(window as u64) as i64,
            _ => window - (t.rem_euclid(window)), // exactly on a boundary
        };
        out.push((t, 1 + rng.below(3) as i64));
    }
    out
}

#[test]
fn every_algorithm_matches_its_reference_model_on_every_backend() {
    let clock = ManualClock::new(T0);
    let stores = all_stores(&clock, "rl-model");
    let base = (T0 * 1e6) as i64;
    for alg in ALGORITHMS {
        for (limit, window_s, rates) in [(5, 900, "5/15m"), (7, 60, "7/minute"), (3, 1, "3/s")] {
            let window = window_s * 1_000_000;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (limit as u64) ^ alg as u64);
            let arrivals = traffic(&mut rng, window, 400);
            let mut answers: Vec<Vec<(bool, u64, i64, i64)>> = Vec::new();
            for (backend, store) in &stores {
                let l = limiter(store.clone(), rates, alg);
                let mut model = Model::new(alg, limit, window);
                let mut seen = Vec::new();
                for (i, &(offset, cost)) in arrivals.iter().enumerate() {
                    let now = base + offset;
                    clock.set(now as f64 / 1e6);
                    let d = l.check("model", cost as u64).unwrap();
                    let expected = model.admit(now, cost);
                    assert_eq!(
                        d.allowed, expected,
                        "{alg:?} {rates} {backend:?}: arrival {i} at +{offset} µs cost {cost}"
                    );
                    seen.push((
                        d.allowed,
                        d.remaining,
                        (d.retry_after * 1e6).round() as i64,
                        (d.reset_after * 1e6).round() as i64,
                    ));
                }
                answers.push(seen);
            }
            // Lua and memory agree on every number, not only on admission.
            for a in &answers[1..] {
                assert_eq!(a, &answers[0], "{alg:?} {rates}: backends disagree");
            }
        }
    }
}

#[test]
fn retry_after_is_exact_for_every_algorithm() {
    // Waiting exactly retry_after admits; one microsecond less does not.
    let clock = ManualClock::new(T0);
    for alg in ALGORITHMS {
        let store = Store::memory(MemoryOptions {
            clock: Arc::new(clock.clone()),
            ..MemoryOptions::default()
        });
        let l = limiter(store, "4/10s", alg);
        let mut rng = Rng(42 + alg as u64);
        clock.set(T0);
        let mut checked = 0;
        for _ in 0..300 {
            clock.advance(rng.below(3_000_000) as f64 / 1e6);
            let cost = 1 + rng.below(2);
            let d = l.peek("k", cost).unwrap();
            if d.allowed {
                l.check("k", cost).unwrap();
                continue;
            }
            let wait = (d.retry_after * 1e6).round() as i64;
            assert!(wait > 0, "{alg:?} {d:?}");
            clock.advance((wait - 1) as f64 / 1e6);
            assert!(
                !l.peek("k", cost).unwrap().allowed,
                "{alg:?}: admitted 1 µs early"
            );
            clock.advance(1e-6);
            assert!(
                l.peek("k", cost).unwrap().allowed,
                "{alg:?}: not admitted on time"
            );
            checked += 1;
        }
        assert!(checked > 20, "{alg:?} only {checked} denials");
    }
}

/// How many admissions left the trailing window `(t - W, t]` holding more
/// than `limit` units.
fn overflowing(times: &[(i64, i64)], window: i64, limit: i64) -> usize {
    let mut n = 0;
    let mut j = 0;
    let mut sum = 0;
    for i in 0..times.len() {
        sum += times[i].1;
        while times[j].0 + window <= times[i].0 {
            sum -= times[j].1;
            j += 1;
        }
        if sum > limit {
            n += 1;
        }
    }
    n
}

/// The most admitted in any interval [s, s + W) of the admission times.
fn max_in_any_window(times: &[(i64, i64)], window: i64) -> i64 {
    let mut best = 0;
    let mut j = 0;
    let mut sum = 0;
    for i in 0..times.len() {
        sum += times[i].1;
        while times[j].0 + window <= times[i].0 {
            sum -= times[j].1;
            j += 1;
        }
        best = best.max(sum);
    }
    best
}

#[test]
fn guarantees_hold_and_the_counter_error_is_measured_against_the_exact_model() {
    let clock = ManualClock::new(T0);
    let limit = 20;
    let window = 60_000_000i64;
    let mut worst = std::collections::HashMap::new();
    let mut over = 0usize;
    let mut admissions = 0usize;
    for seed in 1..=20u64 {
        let mut rng = Rng(seed * 7919);
        let arrivals = traffic(&mut rng, window, 600);
        let mut exact_admitted = 0;
        for alg in ALGORITHMS {
            let store = Store::memory(MemoryOptions {
                clock: Arc::new(clock.clone()),
                ..MemoryOptions::default()
            });
            let l = limiter(store, "20/minute", alg);
            let mut admitted = Vec::new();
            for &(offset, cost) in &arrivals {
                clock.set(T0 + offset as f64 / 1e6);
                if l.check("k", cost as u64).unwrap().allowed {
                    admitted.push((offset, cost));
                }
            }
            let peak = max_in_any_window(&admitted, window);
            let total: i64 = admitted.iter().map(|a| a.1).sum();
            let e = worst.entry(alg.name()).or_insert(0);
            *e = (*e).max(peak);
            match alg {
                Algorithm::SlidingWindow => {
                    assert!(peak <= limit, "exact window admitted {peak} in one window");
                    exact_admitted = total;
                }
                Algorithm::SlidingCounter | Algorithm::FixedWindow | Algorithm::Gcra => {
                    assert!(peak <= 2 * limit, "{alg:?} admitted {peak}");
                    if alg == Algorithm::SlidingCounter {
                        over += overflowing(&admitted, window, limit);
                        admissions += admitted.len();
                        // It admits about as much as the exact window overall.
                        assert!(
                            total * 10 >= exact_admitted * 9,
                            "{total} vs {exact_admitted}"
                        );
                    }
                }
            }
            // No algorithm admits more than `limit` in one aligned window.
            if alg != Algorithm::Gcra {
                let mut per: std::collections::HashMap<i64, i64> = Default::default();
                for &(t, c) in &admitted {
                    *per.entry((((T0 * 1e6) as i64) + t).div_euclid(window))
                        .or_default() += c;
                }
                assert!(per.values().all(|&n| n <= limit), "{alg:?} {per:?}");
            }
        }
    }
    eprintln!(
        "peak admitted in any 60 s window (limit {limit}): {worst:?}; sliding counter: \
         {over} of {admissions} admissions ({:.2}%) left the trailing window over the limit",
        100.0 * over as f64 / admissions.max(1) as f64
    );
}

// ---- headers ---------------------------------------------------------------------

#[test]
fn headers_follow_the_conventions() {
    let clock = ManualClock::new(T0);
    let store = Store::memory(MemoryOptions {
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    });
    let l = RateLimiter::parse(
        store,
        "2/minute;100/hour",
        LimiterOptions {
            name: "api".into(),
            ..LimiterOptions::default()
        },
    )
    .unwrap();
    let d = l.check("k", 1).unwrap();
    let h = d.headers();
    let get =
        |h: &[(&str, String)], n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    assert_eq!(get(&h, "X-RateLimit-Limit").unwrap(), "2");
    assert_eq!(get(&h, "X-RateLimit-Remaining").unwrap(), "1");
    assert_eq!(
        get(&h, "X-RateLimit-Reset").unwrap(),
        (T0 as u64 + 60).to_string()
    );
    assert_eq!(get(&h, "Retry-After"), None);
    assert_eq!(
        get(&h, "RateLimit-Policy").unwrap(),
        "\"api\";q=2;w=60, \"api.2\";q=100;w=3600"
    );
    assert_eq!(get(&h, "RateLimit").unwrap(), "\"api\";r=1;t=60");
    clock.advance(0.5);
    l.check("k", 1).unwrap();
    let d = l.check("k", 1).unwrap();
    let h = d.headers();
    assert!(!d.allowed);
    // 59.5 s rounds up to 60.
    assert_eq!(get(&h, "Retry-After").unwrap(), "60");
    assert_eq!(get(&h, "RateLimit").unwrap(), "\"api\";r=0;t=60");
}

// ---- concurrency -------------------------------------------------------------------

fn hammer(l: Arc<RateLimiter>, threads: usize, per_thread: usize) -> usize {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let l = Arc::clone(&l);
            let b = Arc::clone(&barrier);
            std::thread::spawn(move || {
                b.wait();
                (0..per_thread)
                    .filter(|_| l.check("hot", 1).unwrap().allowed)
                    .count()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn sixteen_threads_on_one_key_admit_exactly_the_limit() {
    let clock = ManualClock::new(T0);
    for alg in ALGORITHMS {
        for (backend, store) in all_stores(&clock, "rl-threads") {
            let per_thread = if backend == Backend::Memory { 200 } else { 40 };
            for round in 0..3 {
                let l = Arc::new(
                    RateLimiter::parse(
                        store.clone(),
                        "100/minute;150/hour",
                        LimiterOptions {
                            name: format!("hammer{round}"),
                            algorithm: alg,
                            ..LimiterOptions::default()
                        },
                    )
                    .unwrap(),
                );
                let admitted = hammer(l, 16, per_thread);
                assert_eq!(admitted, 100, "{alg:?} on {backend:?}, round {round}");
            }
        }
    }
}

// ---- outages -------------------------------------------------------------------------

#[test]
fn with_redis_down_each_policy_answers_within_the_timeout_and_reports_it() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let make = |policy: OutagePolicy| {
        let store = Store::redis(
            &server.url(),
            RedisOptions {
                prefix: unique_prefix("rl-outage"),
                clock: Some(Arc::new(clock.clone())),
                ..RedisOptions::default()
            },
        )
        .unwrap();
        let l = RateLimiter::parse(
            store,
            "3/minute",
            LimiterOptions {
                name: "outage".into(),
                outage_policy: policy,
                ..LimiterOptions::default()
            },
        )
        .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = Arc::clone(&events);
        l.listeners().add(Arc::new(move |ev: &Event| {
            e.lock().unwrap().push(ev.to_string());
        }));
        (l, events)
    };
    let (open, open_events) = make(OutagePolicy::FailOpen);
    let (closed, closed_events) = make(OutagePolicy::FailClosed);
    let (local, local_events) = make(OutagePolicy::Local);
    // Up: normal decisions, no fallback.
    for l in [&open, &closed, &local] {
        let d = l.check("k", 1).unwrap();
        assert!(d.allowed && d.fallback.is_none());
    }
    server.stop();
    let started = Instant::now();
    for _ in 0..5 {
        let d = open.check("k", 1).unwrap();
        assert!(d.allowed);
        assert_eq!(d.fallback, Some(OutagePolicy::FailOpen));
        let d = closed.check("k", 1).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 1.0);
        assert_eq!(d.fallback, Some(OutagePolicy::FailClosed));
    }
    // Local: this process's own limiter, exact per process.
    let admitted = (0..5)
        .filter(|_| {
            let d = local.check("k", 1).unwrap();
            assert_eq!(d.fallback, Some(OutagePolicy::Local));
            d.allowed
        })
        .count();
    assert_eq!(admitted, 3);
    // 15 calls, each bounded by the 50 ms operation timeout (with slack for
    // a loaded debug build).
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(open_events.lock().unwrap().len(), 5);
    assert_eq!(closed_events.lock().unwrap().len(), 5);
    assert_eq!(local_events.lock().unwrap().len(), 5);
    assert_eq!(
        closed_events.lock().unwrap()[0],
        "[STORE] store_unavailable component=\"ratelimit\" policy=\"fail_closed\""
    );
    // Recovery is automatic.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = closed.check("k2", 1).unwrap();
        if d.fallback.is_none() {
            assert!(d.allowed);
            break;
        }
        assert!(Instant::now() < deadline, "no reconnection");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- memory bounds --------------------------------------------------------------------

#[test]
fn a_million_distinct_keys_stay_within_the_memory_cap() {
    let clock = ManualClock::new(T0);
    let cap = 200_000;
    let store = Store::memory(MemoryOptions {
        max_keys: cap,
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    });
    let mem = Arc::clone(store.as_memory().unwrap());
    for alg in [Algorithm::Gcra, Algorithm::SlidingWindow] {
        let l = RateLimiter::parse(
            store.clone(),
            "5/hour",
            LimiterOptions {
                name: format!("flood-{}", alg.name()),
                algorithm: alg,
                outage_policy: OutagePolicy::FailClosed,
                ..LimiterOptions::default()
            },
        )
        .unwrap();
        let mut denied_full = 0;
        for i in 0..1_000_000u32 {
            if i % 100_000 == 0 {
                // Time passes during the flood; old keys expire and are swept.
                clock.advance(20.0);
            }
            let d = l.check(&format!("client-{i}"), 1).unwrap();
            if !d.allowed {
                assert_eq!(d.fallback, Some(OutagePolicy::FailClosed));
                denied_full += 1;
            }
            if i % 50_000 == 0 {
                assert!(mem.held_keys() <= cap, "{} keys held", mem.held_keys());
            }
        }
        let (keys, bytes) = mem.usage();
        eprintln!(
            "{}: {keys} live keys, ~{} bytes each, {denied_full} checks answered by policy when full",
            alg.name(),
            bytes / keys.max(1)
        );
        assert!(mem.held_keys() <= cap);
        assert!(denied_full > 0, "the flood never reached the cap");
        clock.advance(3600.0);
        mem.sweep_all();
        assert_eq!(mem.held_keys(), 0);
    }
}

#[test]
fn the_exact_log_stays_bounded_as_entries_expire() {
    let clock = ManualClock::new(T0);
    let store = Store::memory(MemoryOptions {
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    });
    let mem = Arc::clone(store.as_memory().unwrap());
    let l = limiter(store, "10/s", Algorithm::SlidingWindow);
    let mut admitted = 0;
    for _ in 0..20_000 {
        clock.advance(0.013);
        if l.check("k", 1).unwrap().allowed {
            admitted += 1;
        }
        let (keys, bytes) = mem.usage();
        assert_eq!(keys, 1);
        // At most 10 live and 64 expired entries, the start mark, the key and
        // the bookkeeping.
        assert!(bytes <= 8 * (10 + 64 + 1) + 40 + 64, "{bytes} bytes");
    }
    // 260 s of traffic at one request per 13 ms: the limit, not the traffic, decides.
    assert!((2500..=2600).contains(&admitted), "{admitted}");
}
