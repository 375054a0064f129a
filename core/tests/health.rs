//! The health snapshot lists the stores the user made, and only those: the
//! in-process fallback stores that shared components keep for their outage
//! policy `local` are internal (their keys are counted apart in metrics).
//!
//! One test in its own binary: the snapshot is process-wide, so no other
//! test may make stores while it counts them.

use std::time::Duration;

use bastion_core::lockout::{Lockout, LockoutOptions};
use bastion_core::metrics;
use bastion_core::ratelimit::{LimiterOptions, RateLimiter};
use bastion_core::singleflight::shared::{SharedCache, SharedCacheOptions};
use bastion_core::store::{MemoryOptions, RedisOptions, Store};

fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not rendered"))
}

#[test]
fn health_lists_the_configured_stores_not_the_components_fallbacks() {
    assert_eq!(metrics::health().stores, [], "no store yet");
    let dead = Store::redis(
        "redis://127.0.0.1:1/0",
        RedisOptions {
            timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(50),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    // Each keeps an in-process store for its outage policy `local`.
    let limiter = RateLimiter::parse(
        dead.clone(),
        "5/minute",
        LimiterOptions {
            name: "health-limiter".into(),
            ..LimiterOptions::default()
        },
    )
    .unwrap();
    let lockout = Lockout::new(dead.clone(), LockoutOptions::default()).unwrap();
    let cache = SharedCache::new(dead.clone(), SharedCacheOptions::default(), None).unwrap();
    let mine = Store::memory(MemoryOptions::default());

    // Redis is down: the limiter decides on its fallback store.
    let d = limiter.hit("alice", 1).unwrap();
    assert!(d.allowed);

    let health = metrics::health();
    let listed: Vec<(&str, &str)> = health
        .stores
        .iter()
        .map(|s| (s.kind, s.url.as_str()))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.contains(&("redis", "redis://127.0.0.1:1/0")),
        "{listed:?}"
    );
    assert!(listed.contains(&("memory", "memory://")), "{listed:?}");
    assert!(!health.ok);

    // The fallback's keys are counted, apart from the user's memory stores.
    let text = metrics::render();
    assert_eq!(gauge(&text, "bastion_memory_store_keys"), 0);
    assert!(gauge(&text, "bastion_fallback_store_keys") >= 1);

    drop((limiter, lockout, cache, mine, dead));
    assert_eq!(gauge(&metrics::render(), "bastion_fallback_store_keys"), 0);
}
