//! Property tests of the circuit breaker (in-process, `ManualClock`): random
//! sequences of calls, held permits reported late, and time advances,
//! against a reference model written from docs/breaker.md — both trip
//! policies (failures in a row; a failure rate over a count window), probes
//! bounded by `half_open_max_calls`, `success_threshold` probe successes to
//! close, backoff of the open time, and outcomes of an older generation
//! counting for nothing.

use bastion_core::breaker::{
    BreakerOptions, BreakerState, CircuitBreaker, Outcome, TripPolicy, Window,
};
use bastion_core::clock::ManualClock;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

const BASE_MS: i64 = 1_800_000_000_000;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Acquire and report at once.
    Call(Outcome),
    /// Acquire and hold the permit (at most 3 held).
    Take,
    /// Report the held permit at this index (modulo the number held).
    Report(usize, Outcome),
    /// Advance by this many thousandths of the reset timeout.
    Advance(u16),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![4 => Just(Outcome::Success), 4 => Just(Outcome::Failure), 1 => Just(Outcome::Ignored)]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => outcome().prop_map(Op::Call),
        1 => Just(Op::Take),
        2 => (0usize..3, outcome()).prop_map(|(i, o)| Op::Report(i, o)),
        3 => prop_oneof![Just(0u16), Just(1000), 0u16..=2500].prop_map(Op::Advance),
    ];
    prop::collection::vec(op, 1..100)
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    Consecutive(u32),
    /// window calls, failure rate, minimum calls
    Rate(u32, f64, u32),
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        (1u32..=4).prop_map(Policy::Consecutive),
        (
            1u32..=6,
            prop_oneof![Just(0.25), Just(0.5), Just(1.0)],
            1u32..=6
        )
            .prop_map(|(n, r, m)| Policy::Rate(n, r, m.min(n))),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum S {
    Closed,
    Open(i64),
    HalfOpen,
}

#[derive(Debug)]
struct Model {
    policy: Policy,
    reset: i64,
    max_reset: Option<i64>,
    threshold: u32,
    max_probes: u32,
    state: S,
    generation: u64,
    trips: u32,
    in_a_row: u32,
    window: VecDeque<bool>,
    probes: u32,
    probe_successes: u32,
}

impl Model {
    fn to(&mut self, s: S) {
        self.state = s;
        self.generation += 1;
        self.in_a_row = 0;
        self.window.clear();
        self.probes = 0;
        self.probe_successes = 0;
    }

    fn trip(&mut self, now: i64) {
        self.trips += 1;
        let open_for = match self.max_reset {
            None => self.reset,
            Some(max) => (self.reset << (self.trips - 1).min(20)).min(max),
        };
        self.to(S::Open(now + open_for));
    }

    /// The state as `state()` reads it: half-open once the open time is up.
    fn visible(&self, now: i64) -> BreakerState {
        match self.state {
            S::Closed => BreakerState::Closed,
            S::Open(until) if now < until => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// `Ok((generation, probe))` or `Err(ms until a call may pass)`.
    fn acquire(&mut self, now: i64) -> Result<(u64, bool), Option<i64>> {
        if let S::Open(until) = self.state {
            if now < until {
                return Err(Some(until - now));
            }
            self.to(S::HalfOpen);
        }
        match self.state {
            S::Closed => Ok((self.generation, false)),
            _ if self.probes < self.max_probes => {
                self.probes += 1;
                Ok((self.generation, true))
            }
            _ => Err(None),
        }
    }

    /// The state the report moved the breaker to, if it changed it.
    fn report(&mut self, permit: (u64, bool), outcome: Outcome, now: i64) -> Option<BreakerState> {
        if permit.0 != self.generation {
            return None;
        }
        match (self.state, outcome) {
            (_, Outcome::Ignored) => {
                if permit.1 {
                    self.probes -= 1;
                }
                None
            }
            (S::Closed, o) => {
                let failed = o == Outcome::Failure;
                self.in_a_row = if failed { self.in_a_row + 1 } else { 0 };
                let trips = match self.policy {
                    Policy::Consecutive(max) => self.in_a_row >= max,
                    Policy::Rate(n, rate, minimum) => {
                        self.window.push_back(failed);
                        if self.window.len() > n as usize {
                            self.window.pop_front();
                        }
                        let calls = self.window.len() as f64;
                        let failures = self.window.iter().filter(|&&f| f).count() as f64;
                        calls >= f64::from(minimum) && failures / calls >= rate
                    }
                };
                trips.then(|| {
                    self.trip(now);
                    BreakerState::Open
                })
            }
            (S::HalfOpen, Outcome::Success) => {
                self.probes -= 1;
                self.probe_successes += 1;
                (self.probe_successes >= self.threshold).then(|| {
                    self.trips = 0;
                    self.to(S::Closed);
                    BreakerState::Closed
                })
            }
            (S::HalfOpen, Outcome::Failure) => {
                self.trip(now);
                Some(BreakerState::Open)
            }
            (S::Open(_), _) => unreachable!("a permit of the open state's generation"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_its_model(
        policy in policy(),
        reset_ms in 100i64..=5000,
        backoff in any::<bool>(),
        threshold in 1u32..=3,
        max_probes in 1u32..=3,
        ops in ops(),
    ) {
        let clock = ManualClock::new(BASE_MS as f64 / 1e3);
        let options = BreakerOptions {
            name: "prop".into(),
            policy: match policy {
                Policy::Consecutive(fail_max) => TripPolicy::Consecutive { fail_max },
                Policy::Rate(n, failure_rate, minimum_calls) => TripPolicy::Rate {
                    window: Window::Count(n),
                    failure_rate,
                    slow_call_rate: None,
                    minimum_calls,
                },
            },
            reset_timeout: Duration::from_millis(reset_ms as u64),
            max_reset_timeout: backoff.then(|| Duration::from_millis(reset_ms as u64 * 4)),
            backoff_multiplier: 2.0,
            success_threshold: threshold,
            half_open_max_calls: max_probes,
            // Held probes are reported by the sequence, never timed out.
            probe_timeout: Some(Duration::from_secs(365 * 24 * 3600)),
            ..BreakerOptions::default()
        };
        let breaker = CircuitBreaker::with_clock(options, Arc::new(clock.clone())).unwrap();
        let mut model = Model {
            policy,
            reset: reset_ms,
            max_reset: backoff.then_some(reset_ms * 4),
            threshold,
            max_probes,
            state: S::Closed,
            generation: 0,
            trips: 0,
            in_a_row: 0,
            window: VecDeque::new(),
            probes: 0,
            probe_successes: 0,
        };
        let mut held = Vec::new();
        let mut now = BASE_MS;
        for (step, &op) in ops.iter().enumerate() {
            let ctx = format!("step {step} {op:?} at +{} ms ({:?})", now - BASE_MS, model.state);
            match op {
                Op::Advance(per_mille) => {
                    now += reset_ms * i64::from(per_mille) / 1000;
                    clock.set(now as f64 / 1e3);
                }
                Op::Call(_) | Op::Take => {
                    if matches!(op, Op::Take) && held.len() >= 3 {
                        continue;
                    }
                    let expected = model.acquire(now);
                    match (breaker.try_acquire(), expected) {
                        (Ok(p), Ok(m)) => {
                            prop_assert_eq!(p.is_probe(), m.1, "{}", ctx);
                            if let Op::Call(o) = op {
                                let moved = p.record(o);
                                prop_assert_eq!(moved, model.report(m, o, now), "{}", ctx);
                            } else {
                                held.push((p, m));
                            }
                        }
                        (Err(r), Err(wait)) => {
                            if let Some(ms) = wait {
                                prop_assert!((r.retry_after * 1e3 - ms as f64).abs() < 1e-3, "{}: {:?}", ctx, r);
                            }
                        }
                        (got, want) => prop_assert!(false, "{}: got {:?}, model {:?}", ctx, got.map(|p| p.is_probe()), want),
                    }
                }
                Op::Report(i, o) => {
                    if held.is_empty() {
                        continue;
                    }
                    let (p, m) = held.remove(i % held.len());
                    let moved = p.record(o);
                    prop_assert_eq!(moved, model.report(m, o, now), "{}", ctx);
                }
            }
            prop_assert_eq!(breaker.state(), model.visible(now), "{}", ctx);
        }
    }
}

#[test]
fn counts_handed_over_at_the_top_of_the_range_saturate() {
    // Found by the Node hostile-input suite: `recordAdmitted(0, 0, 2**64,
    // 2**64)` set the counters to u64::MAX, and the next success overflowed
    // (a panic that aborted the Node process).
    let clock = ManualClock::new(BASE_MS as f64 / 1e3);
    let breaker = CircuitBreaker::with_clock(BreakerOptions::default(), Arc::new(clock)).unwrap();
    let generation = breaker.fast_generation().expect("closed");
    breaker.add_admitted(u64::MAX, u64::MAX);
    breaker.add_admitted(u64::MAX, u64::MAX);
    assert_eq!(breaker.record_admitted(generation, Outcome::Success), None);
    assert_eq!(breaker.record_admitted(generation, Outcome::Ignored), None);
    breaker.try_acquire().unwrap().success();
    let stats = breaker.stats();
    assert_eq!(stats.calls, u64::MAX);
    assert_eq!(stats.successes, u64::MAX);
}
