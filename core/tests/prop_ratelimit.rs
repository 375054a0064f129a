//! Property tests of every rate-limit algorithm on the memory store: random
//! sequences of checks, peeks, refunds, resets and time advances (driven by a
//! `ManualClock`) against a small reference model written from each
//! algorithm's definition in docs/ratelimit.md. Implementation and model must
//! agree on every decision; the algorithms' stated guarantees are also checked
//! on the implementation's own answers.

use bastion_core::clock::ManualClock;
use bastion_core::ratelimit::{Algorithm, LimiterOptions, Rate, RateLimiter};
use bastion_core::store::{MemoryOptions, Store};
use bastion_core::ErrorKind;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Microseconds since the epoch at the start of every case.
const BASE: i64 = 1_800_000_000_000_000;
const CASES: u32 = 1000;

#[derive(Debug, Clone, Copy)]
enum Op {
    Check(u64),
    Peek(u64),
    Refund(u64),
    Reset,
    /// Advance by a fraction (in 1/1000) of the shortest window, or to the
    /// next boundary of that window, or by exactly one window.
    Advance(u8, u16),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (1u64..=3).prop_map(Op::Check),
        1 => (0u64..=3).prop_map(Op::Peek),
        1 => (1u64..=3).prop_map(Op::Refund),
        1 => Just(Op::Reset),
        5 => (0u8..4, 0u16..=1000).prop_map(|(k, f)| Op::Advance(k, f)),
    ];
    prop::collection::vec(op, 1..80)
}

/// Window lengths in ms: tiny, odd, sub-second, second, minute.
fn window_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64),
        Just(7),
        Just(250),
        Just(1000),
        Just(60_000),
        2u64..5000
    ]
}

fn rates() -> impl Strategy<Value = Vec<Rate>> {
    prop::collection::vec((1u64..=6, window_ms()), 1..=2).prop_map(|v| {
        let mut rates: Vec<Rate> = v
            .into_iter()
            .map(|(l, w)| Rate::new(l, w).unwrap())
            .collect();
        rates.dedup(); // a limiter refuses a rate given twice
        rates
    })
}

/// One limit's state in the model, from the algorithm's definition.
#[derive(Debug, Clone, Default)]
struct LimitModel {
    /// Sliding window: one timestamp per admitted unit, oldest first.
    log: Vec<i64>,
    /// Fixed window and sliding counter: units per aligned window index.
    counts: HashMap<i64, i64>,
    /// GCRA: the theoretical arrival time.
    tat: i64,
}

struct Model {
    alg: Algorithm,
    rates: Vec<(i64, i64)>,
    limits: Vec<LimitModel>,
}

impl Model {
    fn new(alg: Algorithm, rates: &[Rate]) -> Self {
        let rates: Vec<(i64, i64)> = rates
            .iter()
            .map(|r| (r.limit as i64, r.window_ms as i64 * 1000))
            .collect();
        Self {
            alg,
            limits: vec![LimitModel::default(); rates.len()],
            rates,
        }
    }

    /// Units in use against limit `i` at `now`.
    fn used(&self, i: usize, now: i64) -> i64 {
        let (limit, w) = self.rates[i];
        let m = &self.limits[i];
        match self.alg {
            Algorithm::SlidingWindow => m.log.iter().filter(|&&t| t + w > now).count() as i64,
            Algorithm::FixedWindow => m.counts.get(&now.div_euclid(w)).copied().unwrap_or(0),
            Algorithm::SlidingCounter => {
                let k = now.div_euclid(w);
                let prev = m.counts.get(&(k - 1)).copied().unwrap_or(0);
                let elapsed = now - k * w;
                // ceil(prev × (w − elapsed) / w), in integers.
                let share = (prev * (w - elapsed) + w - 1) / w;
                share + m.counts.get(&k).copied().unwrap_or(0)
            }
            Algorithm::Gcra => {
                let t = w / limit;
                // Units of burst already spent: ceil((tat − now) / T).
                let ahead = (m.tat - now).max(0);
                (ahead + t - 1) / t
            }
        }
    }

    fn admits(&self, i: usize, now: i64, cost: i64) -> bool {
        let (limit, w) = self.rates[i];
        match self.alg {
            Algorithm::Gcra => {
                // The arrival time may run `limit` intervals ahead (at
                // most the window: T is rounded down).
                let t = w / limit;
                self.limits[i].tat.max(now) + cost * t - now <= limit * t
            }
            _ => self.used(i, now) + cost <= limit,
        }
    }

    /// For the exact window: how long until `cost` more units fit in limit `i`.
    fn exact_retry(&self, i: usize, now: i64, cost: i64) -> i64 {
        let (limit, w) = self.rates[i];
        let inside: Vec<i64> = self.limits[i]
            .log
            .iter()
            .copied()
            .filter(|&t| t + w > now)
            .collect();
        let must_leave = inside.len() as i64 + cost - limit;
        if must_leave <= 0 {
            0
        } else {
            inside[must_leave as usize - 1] + w - now
        }
    }

    fn charge(&mut self, now: i64, cost: i64) {
        for i in 0..self.rates.len() {
            let (limit, w) = self.rates[i];
            let m = &mut self.limits[i];
            match self.alg {
                Algorithm::SlidingWindow => m.log.extend(std::iter::repeat_n(now, cost as usize)),
                Algorithm::Gcra => m.tat = m.tat.max(now) + cost * (w / limit),
                _ => *m.counts.entry(now.div_euclid(w)).or_default() += cost,
            }
        }
    }

    /// The exact window gives back the most recent units first.
    fn refund(&mut self, cost: i64) {
        for m in &mut self.limits {
            let keep = m.log.len().saturating_sub(cost as usize);
            m.log.truncate(keep);
        }
    }
}

fn limiter(clock: &ManualClock, rates: &[Rate], algorithm: Algorithm) -> RateLimiter {
    let store = Store::memory(MemoryOptions {
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    });
    let options = LimiterOptions {
        name: "prop".into(),
        algorithm,
        ..LimiterOptions::default()
    };
    RateLimiter::new(store, rates.to_vec(), options).unwrap()
}

fn usable(alg: Algorithm, rates: &[Rate]) -> bool {
    // GCRA needs an emission interval of at least 1 µs (always true here).
    alg != Algorithm::Gcra || rates.iter().all(|r| r.window_ms * 1000 >= r.limit)
}

/// Runs `ops` against the limiter and the model; returns the admissions
/// (time, cost) the implementation made.
fn run(alg: Algorithm, rates: &[Rate], ops: &[Op], refunds: bool) -> Vec<(i64, i64)> {
    let clock = ManualClock::new(BASE as f64 / 1e6);
    let l = limiter(&clock, rates, alg);
    let mut model = Model::new(alg, rates);
    let shortest = rates
        .iter()
        .map(|r| r.window_ms as i64 * 1000)
        .min()
        .unwrap();
    let smallest = rates.iter().map(|r| r.limit).min().unwrap();
    let mut now = BASE;
    let mut admitted = Vec::new();
    for (step, &op) in ops.iter().enumerate() {
        let ctx = format!("{alg:?} {rates:?} step {step} {op:?} at +{} µs", now - BASE);
        match op {
            Op::Advance(kind, frac) => {
                now += match kind {
                    0 => 0,
                    1 => shortest * i64::from(frac) / 1000,
                    2 => shortest - now.rem_euclid(shortest),
                    _ => shortest,
                };
                clock.set(now as f64 / 1e6);
            }
            // A cost above the smallest limit could never be admitted.
            Op::Check(cost) | Op::Peek(cost) | Op::Refund(cost) if cost > smallest => {
                let e = match op {
                    Op::Check(_) => l.check("k", cost).map(|_| ()),
                    Op::Peek(_) => l.peek("k", cost).map(|_| ()),
                    _ => l.refund("k", cost),
                };
                let e = e.expect_err(&ctx);
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{ctx}");
            }
            Op::Check(cost) | Op::Peek(cost) => {
                let c = cost as i64;
                let peek = matches!(op, Op::Peek(_));
                let d = if peek {
                    l.peek("k", cost)
                } else {
                    l.check("k", cost)
                }
                .expect(&ctx);
                let each: Vec<bool> = (0..rates.len()).map(|i| model.admits(i, now, c)).collect();
                let all = each.iter().all(|&a| a);
                assert_eq!(d.allowed, all, "{ctx}: {d:?}");
                for (i, s) in d.limits.iter().enumerate() {
                    assert_eq!(s.allowed, each[i], "{ctx}: limit {i}: {d:?}");
                }
                if matches!(alg, Algorithm::SlidingWindow | Algorithm::FixedWindow) {
                    // A check reports what each limit has left once this
                    // request is counted (where that limit admits it); a
                    // peek, what is left now.
                    for (i, s) in d.limits.iter().enumerate() {
                        let counted = if each[i] && !peek { c } else { 0 };
                        let left = model.rates[i].0 - model.used(i, now) - counted;
                        assert_eq!(
                            s.remaining as i64, left,
                            "{ctx}: limit {i} remaining: {d:?}"
                        );
                    }
                }
                if all && !peek {
                    model.charge(now, c);
                    admitted.push((now, c));
                }
                if alg == Algorithm::SlidingWindow && !all {
                    let wait = (0..rates.len())
                        .map(|i| model.exact_retry(i, now, c))
                        .max()
                        .unwrap();
                    let got = (d.retry_after * 1e6).round() as i64;
                    assert_eq!(got, wait, "{ctx}: retry_after: {d:?}");
                }
            }
            Op::Refund(cost) => {
                if refunds {
                    l.refund("k", cost).expect(&ctx);
                    model.refund(cost as i64);
                    // The admissions log loses the same most recent units.
                    let mut left = cost as i64;
                    while left > 0 {
                        let Some(last) = admitted.last_mut() else {
                            break;
                        };
                        let take = left.min(last.1);
                        last.1 -= take;
                        left -= take;
                        if last.1 == 0 {
                            admitted.pop();
                        }
                    }
                }
            }
            Op::Reset => {
                l.reset("k").expect(&ctx);
                model = Model::new(alg, rates);
                admitted.clear();
            }
        }
    }
    admitted
}

/// Units admitted in the half-open interval [from, from + len).
fn units_in(admitted: &[(i64, i64)], from: i64, len: i64) -> i64 {
    admitted
        .iter()
        .filter(|&&(t, _)| t >= from && t < from + len)
        .map(|&(_, c)| c)
        .sum()
}

/// The fixed window's and the sliding counter's bound: at most `limit` per
/// aligned window, and at most twice that in any interval of length W.
fn aligned_bounds(rates: &[Rate], admitted: &[(i64, i64)]) -> Result<(), TestCaseError> {
    for r in rates {
        let w = r.window_ms as i64 * 1000;
        for &(t, _) in admitted {
            let start = t - t.rem_euclid(w);
            prop_assert!(
                units_in(admitted, start, w) <= r.limit as i64,
                "{r:?} at {t}"
            );
            prop_assert!(
                units_in(admitted, t, w) <= 2 * r.limit as i64,
                "{r:?} from {t}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn sliding_window_matches_its_model(rates in rates(), ops in ops()) {
        run(Algorithm::SlidingWindow, &rates, &ops, true);
    }

    #[test]
    fn sliding_window_never_admits_more_than_the_limit_in_any_window(
        rates in rates(),
        ops in ops().prop_map(|v| v.into_iter().filter(|o| !matches!(o, Op::Refund(_) | Op::Reset)).collect::<Vec<_>>()),
    ) {
        // From the implementation's answers alone: every interval of length
        // W starting at an admission holds at most `limit` units (the
        // busiest interval always starts at one).
        let admitted = run(Algorithm::SlidingWindow, &rates, &ops, false);
        for r in &rates {
            let w = r.window_ms as i64 * 1000;
            for &(t, _) in &admitted {
                prop_assert!(units_in(&admitted, t, w) <= r.limit as i64, "{r:?} from {t}");
            }
        }
    }

    #[test]
    fn fixed_window_matches_its_model(rates in rates(), ops in ops()) {
        let admitted = run(Algorithm::FixedWindow, &rates, &ops, false);
        aligned_bounds(&rates, &admitted)?;
    }

    #[test]
    fn sliding_counter_matches_its_model(rates in rates(), ops in ops()) {
        let admitted = run(Algorithm::SlidingCounter, &rates, &ops, false);
        aligned_bounds(&rates, &admitted)?;
    }

    #[test]
    fn gcra_matches_its_model(rates in rates(), ops in ops()) {
        prop_assume!(usable(Algorithm::Gcra, &rates));
        let admitted = run(Algorithm::Gcra, &rates, &ops, false);
        // Any interval [a, b] holds at most limit + (b − a) / T units.
        for r in &rates {
            let t = (r.window_ms as i64 * 1000) / r.limit as i64;
            for (i, &(a, _)) in admitted.iter().enumerate() {
                let mut units = 0;
                for &(b, c) in &admitted[i..] {
                    units += c;
                    prop_assert!(units <= r.limit as i64 + (b - a) / t, "{r:?} [{a}, {b}]");
                }
            }
        }
    }
}
