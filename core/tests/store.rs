//! The store suite: every case runs on the memory store, a real standalone
//! Redis and a real three-master Redis Cluster (started by `support::redis`),
//! with time driven by a `ManualClock` on all three.

mod support;

use bastion_core::clock::{Clock, ManualClock, SystemClock};
use bastion_core::events::Event;
use bastion_core::store::{MemoryOptions, OutagePolicy, RedisOptions, Store};
use bastion_core::token::json::{Object, Value as Json};
use bastion_core::token::{Algorithm, Key, LifecycleOptions, TokenKind, TokenService};
use bastion_core::ErrorKind;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::backends::{self, redis_options};
use support::redis::{server_or_skip, shared_server, unique_prefix, Reply};

const SECRET: &[u8] = b"k3Y-for-the-store-suite::9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const T0: f64 = 1_800_000_000.0;

fn service(store: Store, clock: &ManualClock, grace: f64) -> TokenService {
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.clock = Arc::new(clock.clone());
    o.rotation_grace = grace;
    o.issuer = Some("https://auth.example".into());
    TokenService::new(store, Key::hmac(SECRET).unwrap(), o).unwrap()
}

fn roles() -> Object {
    let mut o = Object::new();
    o.insert("username", Json::String("alice".into()));
    o.insert(
        "roles",
        Json::Array(vec![
            Json::String("admin".into()),
            Json::String("staff".into()),
        ]),
    );
    o
}

fn events(svc: &TokenService) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    svc.listeners()
        .add(Arc::new(move |e: &Event| s.lock().unwrap().push(e.clone())));
    seen
}

/// Runs `case` on the three backends.
fn on_all(case: fn(Store, ManualClock)) {
    for backend in backends::ALL {
        let clock = ManualClock::new(T0);
        let Some(store) = backends::store(backend, &clock, &unique_prefix("lc")) else {
            continue;
        };
        eprintln!("case on {backend:?}");
        case(store, clock);
    }
}

fn kind<T: std::fmt::Debug>(r: bastion_core::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

#[test]
fn pairs_carry_claims_and_verify() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 0.0);
        let pair = svc.issue_pair("alice-id", &roles()).unwrap();
        assert_eq!(pair.access_expires_at, T0 as i64 + 1800);
        assert_eq!(pair.refresh_expires_at, T0 as i64 + 7 * 86400);
        let claims = svc.verify(&pair.access).unwrap();
        assert_eq!(claims.get("sub").and_then(Json::as_str), Some("alice-id"));
        assert_eq!(claims.get("username").and_then(Json::as_str), Some("alice"));
        assert_eq!(
            claims.get("token_type").and_then(Json::as_str),
            Some("access")
        );
        assert_eq!(
            claims.get("iss").and_then(Json::as_str),
            Some("https://auth.example")
        );
        assert!(claims.get("jti").and_then(Json::as_str).is_some());
        // A refresh token is not an access token and the other way round.
        assert_eq!(kind(svc.verify(&pair.refresh)), ErrorKind::InvalidTokenType);
        assert_eq!(kind(svc.rotate(&pair.access)), ErrorKind::InvalidTokenType);
        svc.verify_kind(&pair.refresh, TokenKind::Refresh).unwrap();
        // Reserved claims cannot be smuggled in.
        let mut bad = Object::new();
        bad.insert("token_type", Json::String("refresh".into()));
        assert_eq!(
            kind(svc.issue_pair("alice-id", &bad)),
            ErrorKind::InvalidArgument
        );
        // Expiry follows the injected clock.
        clock.advance(1801.0);
        assert_eq!(kind(svc.verify(&pair.access)), ErrorKind::TokenExpired);
    });
}

#[test]
fn rotation_invalidates_the_old_refresh_token_and_reuse_revokes_the_family() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 0.0);
        let seen = events(&svc);
        let first = svc.issue_pair("bob", &roles()).unwrap();
        clock.advance(60.0);
        let second = svc.rotate(&first.refresh).unwrap();
        assert_eq!(second.family, first.family);
        assert_ne!(second.refresh, first.refresh);
        // Custom claims carry over into the rotated pair.
        let claims = svc.verify(&second.access).unwrap();
        assert_eq!(claims.get("username").and_then(Json::as_str), Some("alice"));
        svc.verify(&first.access).unwrap();
        let third = svc.rotate(&second.refresh).unwrap();
        // The first refresh token again: reuse. The family dies, every token of it.
        assert_eq!(kind(svc.rotate(&first.refresh)), ErrorKind::TokenReused);
        assert_eq!(kind(svc.rotate(&third.refresh)), ErrorKind::TokenRevoked);
        assert_eq!(kind(svc.verify(&third.access)), ErrorKind::TokenRevoked);
        assert_eq!(kind(svc.verify(&first.access)), ErrorKind::TokenRevoked);
        let events = seen.lock().unwrap();
        assert!(events.iter().any(|e| matches!(e,
            Event::TokenReuse { subject, family } if subject == "bob" && *family == first.family)));
        // Other families of the same subject are untouched.
        drop(events);
        let other = svc.issue_pair("bob", &Object::new()).unwrap();
        svc.verify(&other.access).unwrap();
        svc.rotate(&other.refresh).unwrap();
    });
}

#[test]
fn grace_window_answers_parallel_clients_without_revoking() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 10.0);
        let first = svc.issue_pair("carol", &Object::new()).unwrap();
        let second = svc.rotate(&first.refresh).unwrap();
        clock.advance(5.0);
        assert_eq!(
            kind(svc.rotate(&first.refresh)),
            ErrorKind::TokenAlreadyRotated
        );
        svc.verify(&second.access).unwrap();
        // After the window the same presentation is reuse.
        clock.advance(6.0);
        assert_eq!(kind(svc.rotate(&first.refresh)), ErrorKind::TokenReused);
        assert_eq!(kind(svc.verify(&second.access)), ErrorKind::TokenRevoked);
    });
}

/// 50 threads rotate one refresh token at the same moment: exactly one wins.
fn concurrent_rotation(store: Store, clock: ManualClock, grace: f64) {
    let svc = Arc::new(service(store, &clock, grace));
    let pair = svc.issue_pair("dave", &Object::new()).unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let (svc, barrier, refresh) =
                (Arc::clone(&svc), Arc::clone(&barrier), pair.refresh.clone());
            std::thread::spawn(move || {
                barrier.wait();
                svc.rotate(&refresh)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let losers: Vec<ErrorKind> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.kind()))
        .collect();
    if grace > 0.0 {
        assert!(
            losers.iter().all(|k| *k == ErrorKind::TokenAlreadyRotated),
            "{losers:?}"
        );
        svc.verify(&winners[0].access).unwrap();
        svc.rotate(&winners[0].refresh).unwrap();
    } else {
        // Without a grace window the first loser is reuse and revokes the
        // family; the later ones find it revoked.
        assert!(
            losers
                .iter()
                .all(|k| matches!(k, ErrorKind::TokenReused | ErrorKind::TokenRevoked)),
            "{losers:?}"
        );
        assert!(losers.contains(&ErrorKind::TokenReused));
        assert_eq!(
            kind(svc.verify(&winners[0].access)),
            ErrorKind::TokenRevoked
        );
    }
}

#[test]
fn fifty_concurrent_rotations_produce_one_pair() {
    on_all(|store, clock| concurrent_rotation(store, clock, 0.0));
    on_all(|store, clock| concurrent_rotation(store, clock, 30.0));
}

#[test]
fn revoking_one_token_and_ownership() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 0.0);
        let a = svc.issue_pair("erin", &Object::new()).unwrap();
        let b = svc.issue_pair("erin", &Object::new()).unwrap();
        assert_eq!(
            kind(svc.revoke(&a.access, Some("mallory"), false)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(svc.revoke(&a.access, None, false)),
            ErrorKind::PermissionDenied
        );
        svc.verify(&a.access).unwrap();
        svc.revoke(&a.access, Some("erin"), false).unwrap();
        assert_eq!(kind(svc.verify(&a.access)), ErrorKind::TokenRevoked);
        // Only that token: its refresh token and other pairs still work.
        svc.verify(&b.access).unwrap();
        let a2 = svc.rotate(&a.refresh).unwrap();
        // An admin may revoke anyone's; a refresh token takes its family along.
        svc.revoke(&a2.refresh, Some("root"), true).unwrap();
        assert_eq!(kind(svc.verify(&a2.access)), ErrorKind::TokenRevoked);
        assert_eq!(kind(svc.rotate(&a2.refresh)), ErrorKind::TokenRevoked);
        svc.verify(&b.access).unwrap();
        // Revoking an expired token is accepted and stores nothing.
        clock.advance(8.0 * 86400.0);
        svc.revoke(&b.access, Some("erin"), false).unwrap();
    });
}

#[test]
fn revoke_all_is_a_mark_and_later_logins_work() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 0.0);
        let seen = events(&svc);
        let a = svc.issue_pair("frank", &Object::new()).unwrap();
        let b = svc.issue_pair("frank", &Object::new()).unwrap();
        let other = svc.issue_pair("grace", &Object::new()).unwrap();
        clock.advance(0.25);
        svc.revoke_all("frank").unwrap();
        for t in [&a.access, &b.access] {
            assert_eq!(kind(svc.verify(t)), ErrorKind::TokenRevoked);
        }
        assert_eq!(kind(svc.rotate(&a.refresh)), ErrorKind::TokenRevoked);
        svc.verify(&other.access).unwrap();
        // A login in the same second, after the mark, works.
        clock.advance(0.25);
        let fresh = svc.issue_pair("frank", &Object::new()).unwrap();
        svc.verify(&fresh.access).unwrap();
        svc.rotate(&fresh.refresh).unwrap();
        assert!(seen.lock().unwrap().iter().any(|e| matches!(e,
            Event::TokenRevoked { subject, scope: "subject" } if subject == "frank")));
    });
}

#[test]
fn families_end_with_their_refresh_lifetime() {
    on_all(|store, clock| {
        let svc = service(store.clone(), &clock, 0.0);
        let pair = svc.issue_pair("heidi", &Object::new()).unwrap();
        clock.advance(7.0 * 86400.0 + 1.0);
        assert_eq!(kind(svc.rotate(&pair.refresh)), ErrorKind::TokenExpired);
        if let Some(m) = store.as_memory() {
            m.sweep_all();
            assert_eq!(m.held_keys(), 0, "expired families are reclaimed");
        }
    });
}

#[test]
fn subjects_with_hostile_characters_stay_in_their_own_keys() {
    on_all(|store, clock| {
        let svc = service(store, &clock, 0.0);
        let evil = "a}{b}:nbf";
        let a = svc.issue_pair(evil, &Object::new()).unwrap();
        let b = svc.issue_pair("a", &Object::new()).unwrap();
        clock.advance(0.001);
        svc.revoke_all("a").unwrap();
        svc.verify(&a.access).unwrap();
        assert_eq!(kind(svc.verify(&b.access)), ErrorKind::TokenRevoked);
        svc.revoke_all(evil).unwrap();
        assert_eq!(kind(svc.verify(&a.access)), ErrorKind::TokenRevoked);
        assert_eq!(
            kind(svc.issue_pair("", &Object::new())),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            kind(svc.issue_pair("x\ny", &Object::new())),
            ErrorKind::InvalidArgument
        );
    });
}

#[test]
fn async_twins_agree() {
    on_all(|store, clock| {
        let svc = Arc::new(service(store, &clock, 0.0));
        let s = Arc::clone(&svc);
        let c = clock.clone();
        let out = bastion_core::runtime::block_on(async move {
            let p = s.issue_pair_async("ivan", &Object::new()).await?;
            s.verify_async(&p.access).await?;
            let q = s.rotate_async(&p.refresh).await?;
            let reuse = s.rotate_async(&p.refresh).await.unwrap_err().kind();
            let r = s.issue_pair_async("ivan", &Object::new()).await?;
            c.advance(0.001);
            s.revoke_all_async("ivan").await?;
            let after = s.verify_async(&q.access).await.unwrap_err().kind();
            let marked = s.verify_async(&r.access).await.unwrap_err().kind();
            Ok::<_, bastion_core::Error>((reuse, after, marked))
        })
        .unwrap()
        .unwrap();
        let revoked = ErrorKind::TokenRevoked;
        assert_eq!(out, (ErrorKind::TokenReused, revoked, revoked));
    });
}

#[test]
fn every_redis_key_has_a_ttl_and_scripts_reload_after_a_flush() {
    let Some(server) = shared_server() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let opts = redis_options(Some(&clock), &unique_prefix("ttl"));
    let prefix = opts.prefix.clone();
    let store = Store::redis(&server.url(), opts).unwrap();
    let svc = service(store.clone(), &clock, 0.0);
    let p = svc.issue_pair("judy", &Object::new()).unwrap();
    svc.revoke(&p.access, Some("judy"), false).unwrap();
    clock.advance(0.001);
    svc.revoke_all("judy").unwrap();
    svc.rotate(&p.refresh).unwrap_err();
    let Reply::Array(keys) = server.command(&["KEYS", &format!("{prefix}*")]).unwrap() else {
        panic!("KEYS did not answer an array")
    };
    assert!(keys.len() >= 3, "{keys:?}");
    for k in keys {
        let k = k.text().unwrap();
        let Reply::Int(ttl) = server.command(&["PTTL", &k]).unwrap() else {
            panic!("PTTL did not answer an integer")
        };
        assert!(ttl > 0, "{k} has no TTL ({ttl})");
    }
    // NOSCRIPT after a flush (or a restart): the store falls back to EVAL.
    server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let q = svc.issue_pair("judy", &Object::new()).unwrap();
    svc.verify(&q.access).unwrap();
    assert!(store.ping().is_ok());
}

#[test]
fn redis_time_is_the_clock_when_none_is_injected() {
    let Some(server) = shared_server() else {
        return;
    };
    // Without an injected clock the store's decisions (family creation,
    // marks) read Redis TIME.
    let store = Store::redis(&server.url(), redis_options(None, &unique_prefix("time"))).unwrap();
    let clock = ManualClock::new(SystemClock.now_secs());
    let svc = service(store, &clock, 0.0);
    let a = svc.issue_pair("kim", &Object::new()).unwrap();
    svc.verify(&a.access).unwrap();
    svc.revoke_all("kim").unwrap();
    assert_eq!(kind(svc.verify(&a.access)), ErrorKind::TokenRevoked);
    let b = svc.issue_pair("kim", &Object::new()).unwrap();
    svc.verify(&b.access).unwrap();
}

fn outage_service(url: &str, policy: OutagePolicy, clock: &ManualClock) -> TokenService {
    let store = Store::redis(
        url,
        RedisOptions {
            prefix: unique_prefix("outage"),
            clock: Some(Arc::new(clock.clone())),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.clock = Arc::new(clock.clone());
    o.revocation_policy = policy;
    TokenService::new(store, Key::hmac(SECRET).unwrap(), o).unwrap()
}

#[test]
fn with_redis_stopped_or_hung_a_revocation_check_fails_closed_within_the_timeout() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let svc = outage_service(&server.url(), OutagePolicy::FailClosed, &clock);
    let open = outage_service(&server.url(), OutagePolicy::FailOpen, &clock);
    let seen = events(&svc);
    let pair = svc.issue_pair("leo", &Object::new()).unwrap();
    svc.verify(&pair.access).unwrap();
    open.verify(&pair.access).unwrap();
    let bound = svc.store().timeout();
    assert_eq!(bound, Duration::from_millis(50));

    // Hung: the server accepts TCP but never answers.
    server.pause();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(kind(svc.verify(&pair.access)), ErrorKind::StoreUnavailable);
        // The bound holds with room for a loaded debug build's scheduling.
        assert!(started.elapsed() < bound * 10, "{:?}", started.elapsed());
    }
    open.verify(&pair.access).unwrap();
    server.resume();

    // Stopped: connection refused, still within the bound.
    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(kind(svc.verify(&pair.access)), ErrorKind::StoreUnavailable);
        assert!(started.elapsed() < bound * 10, "{:?}", started.elapsed());
    }
    assert_eq!(kind(svc.rotate(&pair.refresh)), ErrorKind::StoreUnavailable);
    assert!(seen.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::StoreUnavailable {
            component: "revocation",
            policy: "fail_closed"
        }
    )));

    // Back again: the store reconnects by itself.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match svc.verify(&pair.access) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::StoreUnavailable && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("no reconnection: {e}"),
        }
    }
}

#[test]
fn options_are_checked() {
    let clock = ManualClock::new(T0);
    let store = Store::memory(MemoryOptions::default());
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.revocation_policy = OutagePolicy::Local;
    assert_eq!(
        TokenService::new(store.clone(), Key::hmac(SECRET).unwrap(), o)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let mut o = LifecycleOptions::new(Algorithm::HS256);
    o.access_lifetime = 10 * 86400;
    assert!(TokenService::new(store.clone(), Key::hmac(SECRET).unwrap(), o).is_err());
    let mut o = LifecycleOptions::new(Algorithm::RS256);
    o.clock = Arc::new(clock);
    assert_eq!(
        TokenService::new(store, Key::hmac(SECRET).unwrap(), o)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidAlgorithm
    );
}

#[test]
fn the_local_revocation_cache_is_stale_at_most_its_ttl() {
    on_all(|store, clock| {
        let make = |ttl: f64| {
            let mut o = LifecycleOptions::new(Algorithm::HS256);
            o.clock = Arc::new(clock.clone());
            o.access_lifetime = 600;
            o.revocation_cache_ttl = ttl;
            TokenService::new(store.clone(), Key::hmac(SECRET).unwrap(), o).unwrap()
        };
        // Two processes sharing one store; `here` caches answers for 5 s.
        let (here, elsewhere) = (make(5.0), make(0.0));
        let a = here.issue_pair("nina", &Object::new()).unwrap();
        here.verify(&a.access).unwrap();
        elsewhere.revoke(&a.access, Some("nina"), false).unwrap();
        // Within the TTL this process still answers from its cache...
        clock.advance(4.0);
        here.verify(&a.access).unwrap();
        assert_eq!(kind(elsewhere.verify(&a.access)), ErrorKind::TokenRevoked);
        // ...and never after it.
        clock.advance(1.5);
        assert_eq!(kind(here.verify(&a.access)), ErrorKind::TokenRevoked);
        // A revocation made through this service is seen here at once.
        let b = here.issue_pair("nina", &Object::new()).unwrap();
        here.verify(&b.access).unwrap();
        here.revoke(&b.access, Some("nina"), false).unwrap();
        assert_eq!(kind(here.verify(&b.access)), ErrorKind::TokenRevoked);
        let mut o = LifecycleOptions::new(Algorithm::HS256);
        o.revocation_cache_ttl = 61.0;
        assert!(TokenService::new(store.clone(), Key::hmac(SECRET).unwrap(), o).is_err());
    });
}

#[test]
fn a_redis_store_connects_in_the_background_when_opened() {
    let Some(server) = server_or_skip() else {
        return;
    };
    let clients = || match server.command(&["INFO", "clients"]).unwrap() {
        Reply::Bulk(b) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap(),
        other => panic!("INFO answered {other:?}"),
    };
    // Only the query's own connection.
    assert_eq!(clients(), 1);
    // Opening the store makes no call, yet its connection appears.
    let _store = Store::redis(&server.url(), RedisOptions::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while clients() < 2 {
        assert!(Instant::now() < deadline, "the store never connected");
        std::thread::sleep(Duration::from_millis(10));
    }
}
