//! Faults and scale in one process (the multi-process runs are in
//! `tests/python/test_faults.py`; see docs/reliability.md, which keeps the
//! figures these tests print):
//!
//! - the memory store under a flood of distinct keys: a rate limiter sees a
//!   new client key on every check while its clock moves on, so the store
//!   fills to its cap, then lives at it, with keys expiring and swept all the
//!   time. `BASTION_FLOOD_KEYS` sets the number of keys (default 200,000,
//!   quick enough for every test run); `make scale` floods ten million
//!   through a release build;
//! - a Redis Cluster master killed while a limiter charges a key it holds:
//!   its replica is promoted, the store follows it, and what was replicated
//!   before the kill is still counted.

mod support;

use bastion_core::clock::ManualClock;
use bastion_core::ratelimit::{Algorithm, LimiterOptions, RateLimiter};
use bastion_core::store::{MemoryOptions, OutagePolicy, RedisOptions, Store};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::redis::{unique_prefix, RedisCluster, Reply};

const T0: f64 = 1_800_000_000.0;

fn flood_keys() -> usize {
    std::env::var("BASTION_FLOOD_KEYS")
        .ok()
        .map(|v| v.parse().expect("BASTION_FLOOD_KEYS: a whole number"))
        .unwrap_or(200_000)
}

/// The resident set size of this process in KiB (Linux), for the figures.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[test]
fn a_flood_of_distinct_keys_stays_under_the_cap_and_sweeping_never_stalls_a_check() {
    let keys = flood_keys();
    // A tenth of the flood fits; the clock moves so that about 12 % would be
    // live at once without the cap: the store reaches it and stays there,
    // sweeping what expires while new keys keep coming.
    let cap = (keys / 10).max(1_000);
    let chunk = (keys / 1_000).max(1);
    let clock = ManualClock::new(T0);
    let store = Store::memory(MemoryOptions {
        max_keys: cap,
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    });
    let mem = Arc::clone(store.as_memory().unwrap());
    let limiter = RateLimiter::parse(
        store,
        "5/minute",
        LimiterOptions {
            name: "flood".into(),
            algorithm: Algorithm::SlidingWindow,
            outage_policy: OutagePolicy::FailClosed,
            ..LimiterOptions::default()
        },
    )
    .unwrap();
    let rss_before = rss_kib();
    let mut latencies_ns: Vec<u32> = Vec::with_capacity(keys);
    let (mut admitted, mut refused, mut peak) = (0usize, 0usize, 0usize);
    let mut key = String::with_capacity(32);
    let started = Instant::now();
    for i in 0..keys {
        if i % chunk == 0 {
            clock.advance(0.5);
            let held = mem.held_keys();
            assert!(held <= cap, "{held} keys held, cap {cap}");
            peak = peak.max(held);
        }
        key.clear();
        key.push_str("client-");
        key.push_str(&i.to_string());
        let t0 = Instant::now();
        let d = limiter.check(&key, 1).unwrap();
        latencies_ns.push(u32::try_from(t0.elapsed().as_nanos()).unwrap_or(u32::MAX));
        if d.allowed {
            admitted += 1;
        } else {
            // The only refusal a fresh key can meet is a full store, answered
            // by the limiter's outage policy.
            assert_eq!(d.fallback, Some(OutagePolicy::FailClosed));
            refused += 1;
        }
    }
    let elapsed = started.elapsed();
    let (live, bytes) = mem.usage();
    let rss_after = rss_kib();
    latencies_ns.sort_unstable();
    eprintln!(
        "flood: {keys} distinct keys in {:.1} s ({:.0} checks/s), cap {cap}: peak {peak} keys held, {live} live at the end \
         (~{} bytes each); {admitted} admitted, {refused} answered by the policy while full; \
         check latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; RSS {:?} -> {:?} KiB",
        elapsed.as_secs_f64(),
        keys as f64 / elapsed.as_secs_f64(),
        bytes / live.max(1),
        percentile(&latencies_ns, 0.5),
        percentile(&latencies_ns, 0.99),
        percentile(&latencies_ns, 0.999),
        percentile(&latencies_ns, 1.0),
        rss_before,
        rss_after,
    );
    assert!(mem.held_keys() <= cap);
    // The store reached its cap, and sweeping made room again: most of the
    // flood was admitted although ten times the cap went through.
    assert!(
        peak >= cap * 9 / 10,
        "the flood never reached the cap: {peak}"
    );
    assert!(refused > 0, "the cap never refused a key");
    assert!(
        admitted > keys / 2,
        "sweeping did not keep up: {admitted} admitted"
    );
    assert!(
        bytes / live.max(1) < 256,
        "{} bytes a key",
        bytes / live.max(1)
    );
    // Once the window has passed, everything is reclaimed.
    clock.advance(61.0);
    mem.sweep_all();
    assert_eq!(mem.held_keys(), 0);
}

#[test]
fn a_cluster_master_killed_under_load_is_replaced_by_its_replica() {
    let Some(mut cluster) = RedisCluster::start_with(1, 1000) else {
        return;
    };
    let seeds: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.trim_start_matches("redis://").to_owned())
        .collect();
    let url = format!("redis+cluster://{}", seeds.join(","));
    let prefix = unique_prefix("failover");
    let timeout = Duration::from_millis(500);
    let store = Store::redis(
        &url,
        RedisOptions {
            timeout,
            prefix: prefix.clone(),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let limit = 10_000;
    let limiter = RateLimiter::parse(
        store,
        &format!("{limit}/hour"),
        LimiterOptions {
            name: "loss".into(),
            outage_policy: OutagePolicy::FailClosed,
            ..LimiterOptions::default()
        },
    )
    .unwrap();
    let limiter = Arc::new(limiter);
    let replicated = 200;
    for _ in 0..replicated {
        assert_eq!(limiter.check("acct", 1).unwrap().fallback, None);
    }
    let pattern = format!("{prefix}*");
    let holder = cluster
        .masters()
        .into_iter()
        .find(|&i| {
            matches!(cluster.nodes()[i].command(&["KEYS", pattern.as_str()]),
                Ok(Reply::Array(keys)) if !keys.is_empty())
        })
        .expect("no master holds the key");
    let replica = cluster
        .replica_of(holder)
        .expect("the master has no replica");
    // The first admissions are on the replica before the kill.
    assert_eq!(
        cluster.nodes()[holder]
            .command(&["WAIT", "1", "5000"])
            .unwrap(),
        Reply::Int(1)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let hammer = {
        let (limiter, stop, acked, slowest_us) = (
            Arc::clone(&limiter),
            Arc::clone(&stop),
            Arc::clone(&acked),
            Arc::clone(&slowest_us),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                // An outage is answered by the policy, never an error.
                let d = limiter.check("acct", 1).unwrap();
                let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                slowest_us.fetch_max(us, Ordering::Relaxed);
                if d.allowed && d.fallback.is_none() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    thread::sleep(Duration::from_millis(500));
    cluster.node_mut(holder).stop();
    let failover = cluster.wait_promoted(replica);
    let promoted = Instant::now();
    let back = loop {
        if limiter.peek("acct", 0).unwrap().fallback.is_none() {
            break promoted.elapsed();
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(10),
            "the store never answered from the promoted replica"
        );
        thread::sleep(Duration::from_millis(10));
    };
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();

    let stored = limit - limiter.peek("acct", 0).unwrap().remaining;
    let acked = replicated + acked.load(Ordering::Relaxed);
    let slowest = Duration::from_micros(slowest_us.load(Ordering::Relaxed));
    eprintln!(
        "failover: replica promoted {failover:?} after the kill, the store answered from it {back:?} later; \
         {acked} admissions acknowledged ({replicated} replicated before the kill), {stored} counted after: \
         {} lost; slowest check {slowest:?} (bound {timeout:?})",
        acked.saturating_sub(stored)
    );
    assert!(stored >= replicated, "{stored} counted after the failover");
    // Every call came back within the bound (plus scheduling on a loaded machine).
    assert!(slowest < timeout * 2, "a check took {slowest:?}");
}
