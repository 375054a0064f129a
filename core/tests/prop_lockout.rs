//! Property tests of the lockout on the memory store: random sequences of
//! failures, successes, checks, unlocks and time advances (a `ManualClock`)
//! for two users, against a reference model written from docs/lockout.md
//! (failures expire `cooloff` after the last one; the failure that reaches
//! `failure_limit` locks for `cooloff`; a failure during a lock is counted
//! and, with `extend_on_failure`, restarts it; when a lock ends the count
//! starts from 0; a success or an unlock forgets the user).

use bastion_core::clock::ManualClock;
use bastion_core::lockout::{Attempt, Lockout, LockoutOptions, Param};
use bastion_core::store::{MemoryOptions, Store};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds since the epoch at the start of every case.
const BASE_MS: i64 = 1_800_000_000_000;
const USERS: [&str; 2] = ["alice", "bob"];

#[derive(Debug, Clone, Copy)]
enum Op {
    Failure(usize),
    Success(usize),
    Check(usize),
    Unlock(usize),
    /// Advance by this many thousandths of the cool-off.
    Advance(u16),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let user = 0usize..USERS.len();
    let op = prop_oneof![
        6 => user.clone().prop_map(Op::Failure),
        1 => user.clone().prop_map(Op::Success),
        3 => user.clone().prop_map(Op::Check),
        1 => user.prop_map(Op::Unlock),
        4 => prop_oneof![Just(0u16), Just(1000), 0u16..=1500].prop_map(Op::Advance),
    ];
    prop::collection::vec(op, 1..80)
}

#[derive(Debug, Clone, Copy, Default)]
struct Key {
    failures: u32,
    last_failure: i64,
    locked_until: Option<i64>,
}

#[derive(Debug)]
struct Model {
    limit: u32,
    max_failures: u32,
    cooloff: i64,
    extend: bool,
    keys: HashMap<usize, Key>,
}

impl Model {
    /// The user's key at `now`: a lock that has ended and failures older
    /// than the cool-off are gone.
    fn settled(&mut self, user: usize, now: i64) -> &mut Key {
        let cooloff = self.cooloff;
        let k = self.keys.entry(user).or_default();
        if k.locked_until.is_some_and(|lu| lu <= now) {
            *k = Key::default();
        }
        if k.locked_until.is_none() && k.last_failure + cooloff <= now {
            k.failures = 0;
        }
        k
    }

    fn failure(&mut self, user: usize, now: i64) {
        let (limit, max, cooloff, extend) =
            (self.limit, self.max_failures, self.cooloff, self.extend);
        let k = self.settled(user, now);
        k.failures = (k.failures + 1).min(max);
        k.last_failure = now;
        match k.locked_until {
            Some(_) if extend => k.locked_until = Some(now + cooloff),
            Some(_) => {}
            None if k.failures >= limit => k.locked_until = Some(now + cooloff),
            None => {}
        }
    }

    /// (locked, retry_after in whole seconds, failures, remaining)
    fn state(&mut self, user: usize, now: i64) -> (bool, u64, u32, u32) {
        let limit = self.limit;
        let k = *self.settled(user, now);
        match k.locked_until {
            Some(lu) => (true, ((lu - now) as u64).div_ceil(1000), k.failures, 0),
            None => (false, 0, k.failures, limit - k.failures),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn lockout_matches_its_model(
        limit in 1u32..=4,
        cooloff_s in 1u64..=30,
        extend in any::<bool>(),
        ops in ops(),
    ) {
        let clock = ManualClock::new(BASE_MS as f64 / 1e3);
        let store = Store::memory(MemoryOptions {
            clock: Arc::new(clock.clone()),
            ..MemoryOptions::default()
        });
        let lockout = Lockout::new(store, LockoutOptions {
            failure_limit: limit,
            cooloff: Duration::from_secs(cooloff_s),
            parameters: vec![vec![Param::Username]],
            extend_on_failure: extend,
            clock: Arc::new(clock.clone()),
            ..LockoutOptions::default()
        }).unwrap();
        let mut model = Model {
            limit,
            max_failures: 1000,
            cooloff: cooloff_s as i64 * 1000,
            extend,
            keys: HashMap::new(),
        };
        let attempts: Vec<Attempt> = USERS.iter().map(|u| Attempt::new(Some(u), None, None)).collect();
        let mut now = BASE_MS;
        for (step, &op) in ops.iter().enumerate() {
            let ctx = format!("step {step} {op:?} at +{} ms", now - BASE_MS);
            let got = match op {
                Op::Advance(per_mille) => {
                    now += model.cooloff * i64::from(per_mille) / 1000;
                    clock.set(now as f64 / 1e3);
                    None
                }
                Op::Failure(u) => {
                    model.failure(u, now);
                    Some((u, lockout.record_failure(&attempts[u]).unwrap()))
                }
                Op::Check(u) => Some((u, lockout.check(&attempts[u]).unwrap())),
                Op::Success(u) => {
                    lockout.record_success(&attempts[u]).unwrap();
                    model.keys.remove(&u);
                    None
                }
                Op::Unlock(u) => {
                    let live = model.state(u, now).2 > 0;
                    let n = lockout.unlock(Some(USERS[u]), None).unwrap();
                    prop_assert_eq!(n > 0, live, "{}: unlock found {} keys", ctx, n);
                    model.keys.remove(&u);
                    None
                }
            };
            if let Some((u, s)) = got {
                let (locked, retry_after, failures, remaining) = model.state(u, now);
                prop_assert_eq!(s.locked, locked, "{}: {:?}", ctx, s);
                prop_assert_eq!(s.retry_after, retry_after, "{}: {:?}", ctx, s);
                prop_assert_eq!(s.failures, failures, "{}: {:?}", ctx, s);
                prop_assert_eq!(s.remaining, remaining, "{}: {:?}", ctx, s);
                // The other user is never affected.
                let other = 1 - u;
                let o = lockout.check(&attempts[other]).unwrap();
                prop_assert_eq!(o.failures, model.state(other, now).2, "{}: other user", ctx);
            }
        }
    }
}
