//! Metrics and process-wide events after real operations: the Prometheus
//! text is parsed and its values checked; every event emitted while real
//! tokens and passwords went through is scanned for them.
//!
//! Metrics and process-wide listeners are per process and the tests of this
//! binary run in parallel, so each test uses its own component names and
//! reads only its own series.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bastion_core::breaker::{BreakerOptions, CircuitBreaker, TripPolicy};
use bastion_core::events::{self, Event, Severity};
use bastion_core::lockout::{Attempt, Lockout, LockoutOptions};
use bastion_core::metrics;
use bastion_core::ratelimit::{LimiterOptions, RateLimiter};
use bastion_core::store::{MemoryOptions, Store};
use bastion_core::token::json::Object;
use bastion_core::token::{Algorithm, Key, LifecycleOptions, TokenService};
use bastion_core::{ErrorKind, ManualClock};

const SECRET: &[u8] = b"k3Y-for-the-metrics-suite::0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The value of one sample: `name{labels}` exactly as rendered (labels in
/// declaration order), or `None` when absent. Every line is checked to be a
/// comment or `name[{...}] integer`.
fn value(text: &str, series: &str) -> Option<u64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (key, v) = line.rsplit_once(' ').expect("a sample line");
        let v: u64 = v.parse().expect("an integer value");
        assert!(
            key.bytes().next().is_some_and(|b| b.is_ascii_lowercase()),
            "bad line {line:?}"
        );
        if key == series {
            assert!(found.is_none(), "{series} appears twice");
            found = Some(v);
        }
    }
    found
}

fn store(clock: &ManualClock) -> Store {
    Store::memory(MemoryOptions {
        clock: Arc::new(clock.clone()),
        ..MemoryOptions::default()
    })
}

/// Collects the process-wide events whose fields mention `marker`.
fn collect(marker: &'static str) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    events::add_global(
        Severity::Info,
        Arc::new(move |e: &Event| {
            if e.fields().iter().any(|(_, v)| v.contains(marker)) {
                s.lock().unwrap().push(e.clone());
            }
        }),
    );
    seen
}

#[test]
fn rate_limit_decisions_are_counted_per_limiter_and_denials_reported() {
    let seen = collect("metrics-rl");
    let clock = ManualClock::new(1_800_000_000.0);
    let limiter = RateLimiter::parse(
        store(&clock),
        "2/min",
        LimiterOptions {
            name: "metrics-rl".into(),
            ..LimiterOptions::default()
        },
    )
    .unwrap();
    for allowed in [true, true, false] {
        assert_eq!(limiter.check("client-1", 1).unwrap().allowed, allowed);
    }
    limiter.peek("client-1", 1).unwrap();
    let text = metrics::render();
    let allowed = r#"bastion_ratelimit_decisions_total{limiter="metrics-rl",result="allowed"}"#;
    let denied = r#"bastion_ratelimit_decisions_total{limiter="metrics-rl",result="denied"}"#;
    assert_eq!(value(&text, allowed), Some(2));
    assert_eq!(value(&text, denied), Some(1));
    clock.advance(60.0);
    assert!(limiter.hit("client-1", 1).is_ok());
    assert_eq!(value(&metrics::render(), allowed), Some(3));

    let seen = seen.lock().unwrap();
    let denials: Vec<String> = seen
        .iter()
        .filter(|e| e.name() == "rate_limited")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        denials,
        [
            r#"[RATELIMIT] rate_limited limiter="metrics-rl" key="client-1" rate="2/minute" retry_after="60""#
        ]
    );
}

#[test]
fn token_verifications_count_by_reason_and_events_never_hold_a_token() {
    let seen = collect("metrics-subject");
    let clock = ManualClock::new(1_800_000_000.0);
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.clock = Arc::new(clock.clone());
    let svc = TokenService::new(store(&clock), Key::hmac(SECRET).unwrap(), o).unwrap();
    let failed_sig = r#"bastion_token_verifications_total{kind="access",result="failed",reason="invalid_signature"}"#;
    let reused = "bastion_token_reuse_total";
    let before = metrics::render();
    let sig0 = value(&before, failed_sig).unwrap_or(0);
    let reuse0 = value(&before, reused).unwrap_or(0);

    let pair = svc.issue_pair("metrics-subject", &Object::new()).unwrap();
    svc.verify(&pair.access).unwrap();
    // The signature's first character: six bits of the signature, whatever its value (the last
    // one also carries padding bits, whose change makes the token malformed instead).
    let at = pair.access.rfind('.').unwrap() + 1;
    let first = pair.access.as_bytes()[at];
    let mut forged = pair.access.clone();
    forged.replace_range(at..=at, if first == b'A' { "B" } else { "A" });
    assert_eq!(
        svc.verify(&forged).unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );
    svc.rotate(&pair.refresh).unwrap();
    assert_eq!(
        svc.rotate(&pair.refresh).unwrap_err().kind(),
        ErrorKind::TokenReused
    );
    svc.revoke_all("metrics-subject").unwrap();

    let text = metrics::render();
    assert_eq!(value(&text, failed_sig), Some(sig0 + 1));
    assert_eq!(value(&text, reused), Some(reuse0 + 1));
    assert!(
        value(
            &text,
            r#"bastion_token_verifications_total{kind="access",result="ok",reason="none"}"#
        )
        .unwrap()
            >= 1
    );
    assert!(value(&text, r#"bastion_token_revocations_total{scope="subject"}"#).unwrap() >= 1);

    // Every event of this subject, every field: no token, no signature, no
    // payload segment, no secret.
    let seen = seen.lock().unwrap();
    let names: Vec<&str> = seen.iter().map(Event::name).collect();
    assert!(names.contains(&"auth_succeeded"), "{names:?}");
    assert!(names.contains(&"token_reuse"), "{names:?}");
    assert!(names.contains(&"token_revoked"), "{names:?}");
    let secret = std::str::from_utf8(SECRET).unwrap();
    for e in seen.iter() {
        for (_, v) in e.fields() {
            for token in [&pair.access, &pair.refresh, &forged] {
                for part in token.split('.').filter(|p| p.len() > 8) {
                    assert!(!v.contains(part), "{} leaks a token segment", e.name());
                }
            }
            assert!(!v.contains(secret));
        }
    }
}

#[test]
fn auth_failures_reach_process_listeners_with_the_reason_only() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    events::add_global(
        Severity::Warning,
        Arc::new(move |e: &Event| {
            if e.name() == "auth_failed" {
                s.lock().unwrap().push(e.to_string());
            }
        }),
    );
    let clock = ManualClock::new(1_800_000_000.0);
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.clock = Arc::new(clock.clone());
    let svc = TokenService::new(store(&clock), Key::hmac(SECRET).unwrap(), o).unwrap();
    let pair = svc.issue_pair("metrics-expiring", &Object::new()).unwrap();
    clock.advance(3600.0 * 24.0);
    assert_eq!(
        svc.verify(&pair.access).unwrap_err().kind(),
        ErrorKind::TokenExpired
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|e| e == r#"[AUTH] auth_failed kind="access" reason="TOKEN_EXPIRED""#),
        "{seen:?}"
    );
}

#[test]
fn lockouts_and_unlocks_are_counted_per_lockout_and_reported_once_per_key() {
    let seen = collect("metrics-lockout");
    let clock = ManualClock::new(1_800_000_000.0);
    let lockout = Lockout::new(
        store(&clock),
        LockoutOptions {
            name: "metrics-lockout".into(),
            failure_limit: 3,
            cooloff: Duration::from_secs(600),
            ..LockoutOptions::default()
        },
    )
    .unwrap();
    let attempt = Attempt::new(Some("metrics-user"), Some("203.0.113.9"), None);
    for _ in 0..3 {
        lockout.record_failure(&attempt).unwrap();
    }
    assert_eq!(lockout.unlock(Some("metrics-user"), None).unwrap(), 1);
    let text = metrics::render();
    assert_eq!(
        value(
            &text,
            r#"bastion_lockouts_total{lockout="metrics-lockout"}"#
        ),
        Some(2)
    );
    assert_eq!(
        value(
            &text,
            r#"bastion_lockout_failures_total{lockout="metrics-lockout"}"#
        ),
        Some(3)
    );
    assert_eq!(
        value(&text, r#"bastion_unlocks_total{lockout="metrics-lockout"}"#),
        Some(1)
    );
    let seen = seen.lock().unwrap();
    let names: Vec<&str> = seen.iter().map(Event::name).collect();
    // The username key and the IP key each locked once.
    assert_eq!(names, ["locked_out", "locked_out", "unlocked"]);
}

#[test]
fn breakers_report_state_transitions_and_calls_and_health_lists_them() {
    let clock = ManualClock::new(1_800_000_000.0);
    let b = CircuitBreaker::with_clock(
        BreakerOptions {
            name: "metrics-breaker".into(),
            policy: TripPolicy::Consecutive { fail_max: 2 },
            reset_timeout: Duration::from_secs(30),
            ..BreakerOptions::default()
        },
        Arc::new(clock.clone()),
    )
    .unwrap();
    let _ = b.acquire().unwrap().success();
    let _ = b.acquire().unwrap().failure();
    let _ = b.acquire().unwrap().failure();
    assert!(b.acquire().is_err());
    let text = metrics::render();
    let state = r#"bastion_breaker_state{breaker="metrics-breaker"}"#;
    assert_eq!(value(&text, state), Some(1));
    assert_eq!(
        value(
            &text,
            r#"bastion_breaker_transitions_total{breaker="metrics-breaker",to="open"}"#
        ),
        Some(1)
    );
    for (result, n) in [("success", 1), ("failure", 2), ("rejected", 1)] {
        let series = format!(
            r#"bastion_breaker_calls_total{{breaker="metrics-breaker",result="{result}"}}"#
        );
        assert_eq!(value(&text, &series), Some(n), "{series}");
    }
    let health = metrics::health();
    let mine: Vec<_> = health
        .breakers
        .iter()
        .filter(|h| h.name == "metrics-breaker")
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].state, "open");
    clock.advance(30.0);
    assert_eq!(value(&metrics::render(), state), Some(2));

    drop(b);
    assert_eq!(value(&metrics::render(), state), None);
}

#[test]
fn health_pings_an_unreachable_redis_within_its_timeout() {
    let dead = Store::redis(
        "redis://:hunter2-password@127.0.0.1:1/0",
        bastion_core::store::RedisOptions {
            timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(50),
            ..bastion_core::store::RedisOptions::default()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let health = metrics::health();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!health.ok);
    let entry = health
        .stores
        .iter()
        .find(|s| s.url.contains("127.0.0.1:1/0"))
        .expect("the dead store is listed");
    assert!(!entry.reachable);
    assert_eq!(entry.error, Some("STORE_UNAVAILABLE"));
    assert!(!entry.url.contains("hunter2"));
    let text = metrics::render();
    assert!(
        value(
            &text,
            r#"bastion_store_operations_total{store="redis",result="error"}"#
        )
        .unwrap()
            >= 1
    );
    drop(dead);
}

#[test]
fn label_values_are_escaped() {
    let clock = ManualClock::new(1_800_000_000.0);
    let _b = CircuitBreaker::with_clock(
        BreakerOptions {
            name: "quote\"back\\slash".into(),
            ..BreakerOptions::default()
        },
        Arc::new(clock),
    )
    .unwrap();
    let text = metrics::render();
    assert_eq!(
        value(
            &text,
            r#"bastion_breaker_state{breaker="quote\"back\\slash"}"#
        ),
        Some(0)
    );
}
