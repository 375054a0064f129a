//! The API key registry: every case runs on the memory store, a real
//! standalone Redis and a real three-master Redis Cluster (started by
//! `support::redis`), with time driven by a `ManualClock` on all three.

mod support;

use bastion_core::clock::{Clock, ManualClock, SystemClock};
use bastion_core::store::{MemoryOptions, OutagePolicy, RedisOptions, Store};
use bastion_core::token::apikey::ApiKeyHasher;
use bastion_core::token::{ApiKeys, ApiKeysOptions, Expiry, RateLimit};
use bastion_core::ErrorKind;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::backends::{self, redis_options, Backend};
use support::redis::{server_or_skip, shared_server, unique_prefix, Reply};

const PEPPER_V1: &[u8] = b"Jq3vX8nR2mK7pW4tY9bF6hL1sD5gA0cE";
const PEPPER_V2: &[u8] = b"zT6rN1wQ8kM3vB5xP9cH2jL7fS4dG0aY";
const T0: f64 = 1_800_000_000.0;
const DAY: f64 = 86_400.0;

fn hasher_v1() -> Arc<ApiKeyHasher> {
    Arc::new(ApiKeyHasher::new(PEPPER_V1).unwrap())
}

fn registry(store: Store, options: ApiKeysOptions) -> ApiKeys {
    ApiKeys::new(store, hasher_v1(), options).unwrap()
}

/// One case: a store, its clock, and a second store on the same state
/// (another process pointed at the same Redis; for memory, the same store).
struct Case {
    store: Store,
    clock: ManualClock,
    backend: Backend,
    prefix: String,
}

impl Case {
    fn keys(&self) -> ApiKeys {
        registry(self.store.clone(), ApiKeysOptions::default())
    }

    fn keys_with(&self, options: ApiKeysOptions) -> ApiKeys {
        registry(self.store.clone(), options)
    }

    /// A second store on the same state, as another process would open it.
    fn other_store(&self) -> Store {
        match self.backend {
            Backend::Memory => self.store.clone(),
            b => backends::store(b, &self.clock, &self.prefix).unwrap(),
        }
    }
}

/// Runs `case` on the three backends.
fn on_all(case: fn(Case)) {
    for backend in backends::ALL {
        let clock = ManualClock::new(T0);
        let prefix = unique_prefix("apikeys");
        let Some(store) = backends::store(backend, &clock, &prefix) else {
            continue;
        };
        eprintln!("case on {backend:?}");
        case(Case {
            store,
            clock,
            backend,
            prefix,
        });
    }
}

fn kind<T: std::fmt::Debug>(r: bastion_core::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

// ---- an independent spelling of keys, to forge one with the right id ---------

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn b62(mut n: u32, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for d in out.iter_mut().rev() {
        *d = B62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap()
}

/// `key` with one secret character changed and a valid checksum: same prefix
/// and id, wrong secret.
fn with_wrong_secret(key: &str) -> String {
    let body_len = key.len() - 6;
    let mut body = key.as_bytes()[..body_len].to_vec();
    let last = body.len() - 1;
    body[last] = if body[last] == b'a' { b'b' } else { b'a' };
    let body = String::from_utf8(body).unwrap();
    let check = b62(crc32(body.as_bytes()), 6);
    format!("{body}{check}")
}

// ---- the cases -----------------------------------------------------------------

#[test]
fn created_keys_verify_with_their_record() {
    on_all(|c| {
        let keys = c.keys();
        let made = keys
            .create("user:42", "deploy bot", None, Expiry::After(90 * 86_400))
            .unwrap();
        assert!(made.key().starts_with("bst_"), "{}", made.key());
        assert!(!format!("{made:?}").contains(made.key()));
        let r = made.record();
        assert_eq!(r.owner(), "user:42");
        assert_eq!(r.name(), "deploy bot");
        assert_eq!(r.created_at(), T0 as u64);
        assert_eq!(r.expires_at(), Some(T0 as u64 + 90 * 86_400));
        assert_eq!(r.rate_limit(), Some(RateLimit::new(1000, 3600).unwrap()));
        assert!(!r.is_revoked());

        // Another process on the same store verifies it.
        let other = registry(c.other_store(), ApiKeysOptions::default());
        let v = other.verify(made.key().as_bytes()).unwrap();
        assert_eq!(v, *r);

        // An explicit rate limit and an absolute expiry; no expiry at all.
        let limited = keys
            .create(
                "user:42",
                "",
                Some(RateLimit::new(5, 60).unwrap()),
                Expiry::At(T0 as u64 + 100),
            )
            .unwrap();
        let v = keys.verify(limited.key().as_bytes()).unwrap();
        assert_eq!(v.rate_limit(), Some(RateLimit::new(5, 60).unwrap()));
        assert_eq!(v.expires_at(), Some(T0 as u64 + 100));
        let forever = keys.create("user:42", "ci", None, Expiry::Never).unwrap();
        assert_eq!(
            keys.verify(forever.key().as_bytes()).unwrap().expires_at(),
            None
        );
        let none = ApiKeysOptions {
            default_rate_limit: None,
            ..ApiKeysOptions::default()
        };
        let unlimited = c
            .keys_with(none)
            .create("user:42", "", None, Expiry::Never)
            .unwrap();
        assert_eq!(unlimited.record().rate_limit(), None);
    });
}

#[test]
fn a_wrong_secret_and_an_unknown_id_are_the_same_invalid_key() {
    on_all(|c| {
        let keys = c.keys();
        let made = keys.create("ann", "k", None, Expiry::Never).unwrap();
        let forged = with_wrong_secret(made.key());
        assert_ne!(forged, made.key());
        let wrong = keys.verify(forged.as_bytes()).unwrap_err();
        assert_eq!(wrong.kind(), ErrorKind::InvalidApiKey);
        // A well-formed key nobody created: the same answer, word for word.
        let stranger = ApiKeyHasher::new(PEPPER_V1)
            .unwrap()
            .generate("bst")
            .unwrap();
        let unknown = keys.verify(stranger.key_text().as_bytes()).unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::InvalidApiKey);
        assert_eq!(unknown.message(), wrong.message());
        // Another prefix, garbage, a typo: refused offline.
        let acme = ApiKeyHasher::new(PEPPER_V1)
            .unwrap()
            .generate("acme")
            .unwrap();
        for bad in [
            acme.key_text().as_bytes().to_vec(),
            b"garbage".to_vec(),
            made.key().replace('_', "-").into_bytes(),
            vec![b'x'; 10_000],
        ] {
            assert_eq!(kind(keys.verify(&bad)), ErrorKind::InvalidApiKey);
        }
        // The genuine key still verifies.
        keys.verify(made.key().as_bytes()).unwrap();
    });
}

#[test]
fn keys_expire_by_the_store_clock_and_vanish_after_the_retention() {
    on_all(|c| {
        let keys = c.keys_with(ApiKeysOptions {
            retention: 7 * 86_400,
            ..ApiKeysOptions::default()
        });
        let made = keys
            .create("bea", "short", None, Expiry::After(3600))
            .unwrap();
        c.clock.advance(3599.0);
        keys.verify(made.key().as_bytes()).unwrap();
        c.clock.advance(1.0);
        let e = keys.verify(made.key().as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ApiKeyExpired);
        assert_eq!(e.at(), Some(T0 + 3600.0));
        // Listed as expired during the retention, then gone everywhere.
        assert_eq!(keys.list("bea").unwrap().len(), 1);
        c.clock.advance(7.0 * DAY);
        assert_eq!(
            kind(keys.verify(made.key().as_bytes())),
            ErrorKind::InvalidApiKey
        );
        assert!(keys.list("bea").unwrap().is_empty());
        assert!(!keys
            .revoke(&made.record().id().to_string(), None, true)
            .unwrap());
        // A wrong secret of an expired key says invalid, not expired.
        let later = keys.create("bea", "b", None, Expiry::After(10)).unwrap();
        c.clock.advance(11.0);
        assert_eq!(
            kind(keys.verify(with_wrong_secret(later.key()).as_bytes())),
            ErrorKind::InvalidApiKey
        );
        // Expiries must be in the future and sane.
        for bad in [
            Expiry::After(0),
            Expiry::At(0),
            Expiry::At(c.clock.now_secs() as u64),
            Expiry::After(200 * 365 * 86_400),
            Expiry::At(c.clock.now_secs() as u64 + 200 * 365 * 86_400),
            Expiry::At(u64::MAX),
        ] {
            assert_eq!(
                kind(keys.create("bea", "x", None, bad)),
                ErrorKind::InvalidArgument,
                "{bad:?}"
            );
        }
    });
}

#[test]
fn revoking_needs_the_owner_or_an_admin() {
    on_all(|c| {
        let keys = c.keys();
        let a = keys.create("carl", "a", None, Expiry::Never).unwrap();
        let b = keys.create("carl", "b", None, Expiry::After(3600)).unwrap();
        let id = a.record().id().to_string();
        assert_eq!(
            kind(keys.revoke(&id, Some("mallory"), false)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(keys.revoke(&id, None, false)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(keys.revoke(&id, Some(""), false)),
            ErrorKind::PermissionDenied
        );
        keys.verify(a.key().as_bytes()).unwrap();
        c.clock.advance(10.0);
        assert!(keys.revoke(&id, Some("carl"), false).unwrap());
        let e = keys.verify(a.key().as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ApiKeyRevoked);
        assert_eq!(e.at(), Some(T0 + 10.0));
        // Revoking again is harmless; an admin may revoke anyone's key.
        assert!(keys.revoke(&id, Some("carl"), false).unwrap());
        assert!(keys
            .revoke(&b.record().id().to_string(), Some("root"), true)
            .unwrap());
        assert_eq!(
            kind(keys.verify(b.key().as_bytes())),
            ErrorKind::ApiKeyRevoked
        );
        // Unknown and malformed ids.
        let stranger = ApiKeyHasher::new(PEPPER_V1)
            .unwrap()
            .generate("bst")
            .unwrap();
        assert!(!keys
            .revoke(&stranger.id().to_string(), Some("carl"), false)
            .unwrap());
        assert_eq!(
            kind(keys.revoke("not-an-id", Some("carl"), false)),
            ErrorKind::InvalidApiKey
        );
        // The list shows both, revoked.
        let listed = keys.list("carl").unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .all(|r| r.revoked_at() == Some(T0 as u64 + 10)));
    });
}

#[test]
fn revoke_all_revokes_every_key_of_one_owner() {
    on_all(|c| {
        let keys = c.keys();
        let mine: Vec<_> = (0..3)
            .map(|i| {
                keys.create("dora", &format!("k{i}"), None, Expiry::Never)
                    .unwrap()
            })
            .collect();
        let theirs = keys.create("ed", "k", None, Expiry::Never).unwrap();
        assert_eq!(keys.revoke_all("dora").unwrap(), 3);
        for m in &mine {
            assert_eq!(
                kind(keys.verify(m.key().as_bytes())),
                ErrorKind::ApiKeyRevoked
            );
        }
        keys.verify(theirs.key().as_bytes()).unwrap();
        assert_eq!(keys.revoke_all("dora").unwrap(), 0);
        assert_eq!(keys.revoke_all("nobody").unwrap(), 0);
        // New keys after a revoke_all work.
        let fresh = keys.create("dora", "new", None, Expiry::Never).unwrap();
        keys.verify(fresh.key().as_bytes()).unwrap();
        assert_eq!(kind(keys.revoke_all("")), ErrorKind::InvalidArgument);
    });
}

#[test]
fn lists_are_per_owner_ordered_and_bounded() {
    on_all(|c| {
        let keys = c.keys_with(ApiKeysOptions {
            max_keys_per_owner: 3,
            retention: 86_400,
            ..ApiKeysOptions::default()
        });
        let mut made = Vec::new();
        for name in ["first", "second", "third"] {
            made.push(keys.create("fay", name, None, Expiry::After(3600)).unwrap());
            c.clock.advance(1.0);
        }
        keys.create("gus", "other", None, Expiry::Never).unwrap();
        let listed = keys.list("fay").unwrap();
        let names: Vec<_> = listed.iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["first", "second", "third"]);
        assert_eq!(listed[0], *made[0].record());
        assert_eq!(keys.list("gus").unwrap().len(), 1);
        assert!(keys.list("nobody").unwrap().is_empty());
        // Full: revoked and expired keys count until their retention ends.
        assert_eq!(
            kind(keys.create("fay", "fourth", None, Expiry::Never)),
            ErrorKind::InvalidArgument
        );
        keys.revoke(&made[0].record().id().to_string(), Some("fay"), false)
            .unwrap();
        assert_eq!(
            kind(keys.create("fay", "fourth", None, Expiry::Never)),
            ErrorKind::InvalidArgument
        );
        c.clock.advance(86_400.0 + 1.0);
        assert!(keys.list("fay").unwrap().len() < 3);
        keys.create("fay", "fourth", None, Expiry::Never).unwrap();
        // Owners with hostile characters keep to their own index.
        for evil in ["a}b", "{fay}", "fay%7D", "é"] {
            keys.create(evil, "x", None, Expiry::Never).unwrap();
            assert_eq!(keys.list(evil).unwrap().len(), 1, "{evil}");
        }
        assert_eq!(keys.list("fay").unwrap().len(), 3);
        assert_eq!(
            kind(keys.create("bad\nowner", "x", None, Expiry::Never)),
            ErrorKind::InvalidArgument
        );
    });
}

#[test]
fn concurrent_creates_respect_the_owner_bound() {
    on_all(|c| {
        let keys = Arc::new(c.keys_with(ApiKeysOptions {
            max_keys_per_owner: 5,
            ..ApiKeysOptions::default()
        }));
        let barrier = Arc::new(Barrier::new(12));
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (keys, barrier) = (Arc::clone(&keys), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    keys.create("hal", &format!("k{i}"), None, Expiry::Never)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let made = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(made, 5);
        assert!(results.iter().all(|r| r
            .as_ref()
            .map_or_else(|e| e.kind() == ErrorKind::InvalidArgument, |_| true)));
        assert_eq!(keys.list("hal").unwrap().len(), 5);
    });
}

#[test]
fn pepper_rotation_keeps_old_keys_and_restores_their_digests() {
    on_all(|c| {
        let old = c.keys();
        let made = old.create("ivy", "k", None, Expiry::Never).unwrap();
        assert_eq!(made.record().digest().version(), 1);
        let rotated = Arc::new(
            ApiKeyHasher::with_version(2, PEPPER_V2)
                .unwrap()
                .with_previous(1, PEPPER_V1)
                .unwrap(),
        );
        let keys = ApiKeys::new(c.store.clone(), rotated, ApiKeysOptions::default()).unwrap();
        let v = keys.verify(made.key().as_bytes()).unwrap();
        assert_eq!(v.digest().version(), 1, "the record as it was read");
        // The record now carries a digest under pepper 2: a hasher without
        // pepper 1 accepts the key, and the digest is not rewritten again.
        let only_v2 = Arc::new(ApiKeyHasher::with_version(2, PEPPER_V2).unwrap());
        let new = ApiKeys::new(c.store.clone(), only_v2, ApiKeysOptions::default()).unwrap();
        let v = new.verify(made.key().as_bytes()).unwrap();
        assert_eq!(v.digest().version(), 2);
        assert_eq!(v.owner(), "ivy");
        assert_eq!(v.created_at(), T0 as u64);
        // Keys made after the rotation use pepper 2 from the start.
        let fresh = keys.create("ivy", "k2", None, Expiry::Never).unwrap();
        assert_eq!(fresh.record().digest().version(), 2);
        // Without rehashing, a digest stays as it was.
        let third = old.create("ivy", "k3", None, Expiry::Never).unwrap();
        let lazy = ApiKeys::new(
            c.store.clone(),
            Arc::new(
                ApiKeyHasher::with_version(2, PEPPER_V2)
                    .unwrap()
                    .with_previous(1, PEPPER_V1)
                    .unwrap(),
            ),
            ApiKeysOptions {
                rehash_on_verify: false,
                ..ApiKeysOptions::default()
            },
        )
        .unwrap();
        lazy.verify(third.key().as_bytes()).unwrap();
        assert_eq!(
            kind(new.verify(third.key().as_bytes())),
            ErrorKind::InvalidHash,
            "pepper 1 is gone and the digest was not rewritten"
        );
        // A revoked key is not rewritten.
        let fourth = old.create("ivy", "k4", None, Expiry::Never).unwrap();
        old.revoke(&fourth.record().id().to_string(), Some("ivy"), false)
            .unwrap();
        assert_eq!(
            kind(keys.verify(fourth.key().as_bytes())),
            ErrorKind::ApiKeyRevoked
        );
    });
}

#[test]
fn async_twins_agree() {
    on_all(|c| {
        let keys = Arc::new(c.keys());
        let k = Arc::clone(&keys);
        let out = bastion_core::runtime::block_on(async move {
            let made = k
                .create_async("jo", "async", None, Expiry::After(60))
                .await?;
            let v = k.verify_async(made.key().as_bytes()).await?;
            let listed = k.list_async("jo").await?.len();
            let other = k.create_async("jo", "b", None, Expiry::Never).await?;
            let id = other.record().id().to_string();
            let denied = k.revoke_async(&id, Some("kim"), false).await.unwrap_err();
            let revoked = k.revoke_async(&id, Some("jo"), false).await?;
            let after = k
                .verify_async(other.key().as_bytes())
                .await
                .unwrap_err()
                .kind();
            let all = k.revoke_all_async("jo").await?;
            let first = k
                .verify_async(made.key().as_bytes())
                .await
                .unwrap_err()
                .kind();
            Ok::<_, bastion_core::Error>((
                v.owner().to_owned(),
                listed,
                denied.kind(),
                revoked,
                after,
                all,
                first,
            ))
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            out,
            (
                "jo".to_owned(),
                1,
                ErrorKind::PermissionDenied,
                true,
                ErrorKind::ApiKeyRevoked,
                1,
                ErrorKind::ApiKeyRevoked
            )
        );
    });
}

#[test]
fn options_are_checked() {
    let store = Store::memory(MemoryOptions::default());
    for bad in [
        ApiKeysOptions {
            verify_policy: OutagePolicy::FailOpen,
            ..ApiKeysOptions::default()
        },
        ApiKeysOptions {
            max_keys_per_owner: 0,
            ..ApiKeysOptions::default()
        },
        ApiKeysOptions {
            prefix: "Bad_Prefix".into(),
            ..ApiKeysOptions::default()
        },
    ] {
        assert_eq!(
            kind(ApiKeys::new(store.clone(), hasher_v1(), bad)),
            ErrorKind::InvalidArgument
        );
    }
    // A prefix of the application's choosing.
    let acme = registry(
        store,
        ApiKeysOptions {
            prefix: "acme".into(),
            ..ApiKeysOptions::default()
        },
    );
    let made = acme.create("kai", "k", None, Expiry::Never).unwrap();
    assert!(made.key().starts_with("acme_"));
    acme.verify(made.key().as_bytes()).unwrap();
}

// ---- Redis only ----------------------------------------------------------------

fn keys_under(server: &support::redis::RedisServer, prefix: &str) -> Vec<String> {
    let Reply::Array(keys) = server.command(&["KEYS", &format!("{prefix}*")]).unwrap() else {
        panic!("KEYS did not answer an array")
    };
    keys.into_iter().map(|k| k.text().unwrap()).collect()
}

fn pttl(server: &support::redis::RedisServer, key: &str) -> i64 {
    let Reply::Int(ttl) = server.command(&["PTTL", key]).unwrap() else {
        panic!("PTTL did not answer an integer")
    };
    ttl
}

#[test]
fn every_redis_key_has_a_ttl_except_valid_keys_without_expiry() {
    let Some(server) = shared_server() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let prefix = unique_prefix("apikeys-ttl");
    let store = Store::redis(&server.url(), redis_options(Some(&clock), &prefix)).unwrap();
    let keys = registry(store, ApiKeysOptions::default());
    let expiring = keys.create("lea", "a", None, Expiry::After(3600)).unwrap();
    keys.verify(expiring.key().as_bytes()).unwrap();
    let revoked = keys.create("max", "b", None, Expiry::Never).unwrap();
    keys.revoke(&revoked.record().id().to_string(), Some("max"), false)
        .unwrap();
    let forever = keys.create("ned", "c", None, Expiry::Never).unwrap();
    keys.list("lea").unwrap();
    keys.revoke_all("max").unwrap();

    // The documented exception: the record of a valid key without an expiry,
    // and the index of its owner.
    let exceptions = [
        format!("{prefix}apikey:{{{}}}", forever.record().id()),
        format!("{prefix}apikey-owner:{{ned}}"),
    ];
    let found = keys_under(server, &prefix);
    assert_eq!(found.len(), 6, "{found:?}");
    for k in &found {
        let ttl = pttl(server, k);
        if exceptions.contains(k) {
            assert_eq!(ttl, -1, "{k}");
        } else {
            assert!(ttl > 0, "{k} has no TTL ({ttl})");
        }
    }
    // Revoking the exception gives both a TTL.
    keys.revoke(&forever.record().id().to_string(), Some("ned"), false)
        .unwrap();
    for k in keys_under(server, &prefix) {
        assert!(pttl(server, &k) > 0, "{k}");
    }
    // NOSCRIPT after a flush: the store falls back to EVAL.
    server.command(&["SCRIPT", "FLUSH"]).unwrap();
    keys.verify(expiring.key().as_bytes()).unwrap();
}

#[test]
fn an_index_entry_without_its_record_is_skipped_on_redis() {
    let Some(server) = shared_server() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let prefix = unique_prefix("apikeys-dangling");
    let store = Store::redis(&server.url(), redis_options(Some(&clock), &prefix)).unwrap();
    let keys = registry(store, ApiKeysOptions::default());
    let made = keys.create("ola", "kept", None, Expiry::Never).unwrap();
    // What a crash between the two decisions of a create leaves: an id in the
    // owner's index whose record was never written.
    let ghost = ApiKeyHasher::new(PEPPER_V1)
        .unwrap()
        .generate("bst")
        .unwrap()
        .id()
        .to_string();
    let index = format!("{prefix}apikey-owner:{{ola}}");
    let entry = format!("{}:0", (T0 * 1e6) as i64);
    server.command(&["HSET", &index, &ghost, &entry]).unwrap();
    let listed = keys.list("ola").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id(), made.record().id());
    let Reply::Int(1) = server.command(&["HEXISTS", &index, &ghost]).unwrap() else {
        panic!("the entry was dropped while it may still be pending")
    };
    clock.advance(301.0);
    assert_eq!(keys.list("ola").unwrap().len(), 1);
    let Reply::Int(0) = server.command(&["HEXISTS", &index, &ghost]).unwrap() else {
        panic!("the entry outlived its grace")
    };
    // revoke_all meeting a recent ghost leaves a tombstone with a TTL.
    let ghost2 = ApiKeyHasher::new(PEPPER_V1)
        .unwrap()
        .generate("bst")
        .unwrap()
        .id()
        .to_string();
    let entry = format!("{}:0", (clock.now_secs() * 1e6) as i64);
    server.command(&["HSET", &index, &ghost2, &entry]).unwrap();
    assert_eq!(keys.revoke_all("ola").unwrap(), 2);
    let tomb = format!("{prefix}apikey:{{{ghost2}}}");
    assert!(pttl(server, &tomb) > 0);
}

#[test]
fn redis_time_is_the_clock_when_none_is_injected() {
    let Some(server) = shared_server() else {
        return;
    };
    let prefix = unique_prefix("apikeys-time");
    let store = Store::redis(&server.url(), redis_options(None, &prefix)).unwrap();
    let keys = registry(store, ApiKeysOptions::default());
    let before = SystemClock.now_secs() as u64;
    let made = keys.create("pat", "k", None, Expiry::After(60)).unwrap();
    let created = made.record().created_at();
    assert!(created + 5 >= before && created <= before + 5, "{created}");
    keys.verify(made.key().as_bytes()).unwrap();
}

fn outage_registry(url: &str, policy: OutagePolicy, clock: &ManualClock) -> ApiKeys {
    let store = Store::redis(
        url,
        RedisOptions {
            prefix: unique_prefix("apikeys-outage"),
            clock: Some(Arc::new(clock.clone())),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    registry(
        store,
        ApiKeysOptions {
            verify_policy: policy,
            local_grace: 60,
            clock: Arc::new(clock.clone()),
            ..ApiKeysOptions::default()
        },
    )
}

#[test]
fn with_redis_stopped_or_hung_verify_fails_closed_within_the_timeout() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let closed = outage_registry(&server.url(), OutagePolicy::FailClosed, &clock);
    let local = outage_registry(&server.url(), OutagePolicy::Local, &clock);
    let a = closed.create("quin", "a", None, Expiry::Never).unwrap();
    let b = local.create("quin", "b", None, Expiry::Never).unwrap();
    let unseen = local.create("quin", "c", None, Expiry::Never).unwrap();
    closed.verify(a.key().as_bytes()).unwrap();
    local.verify(b.key().as_bytes()).unwrap();
    let bound = closed.store().timeout();
    assert_eq!(bound, Duration::from_millis(50));

    let check = |keys: &ApiKeys, key: &str| {
        let started = Instant::now();
        let e = keys.verify(key.as_bytes()).unwrap_err().kind();
        // The bound holds with room for a loaded debug build's scheduling.
        assert!(started.elapsed() < bound * 10, "{:?}", started.elapsed());
        e
    };

    // Hung: the server accepts TCP but never answers.
    server.pause();
    for _ in 0..3 {
        assert_eq!(check(&closed, a.key()), ErrorKind::StoreUnavailable);
    }
    // Local: a key this process verified lately still passes, checked
    // against its digest; others fail closed.
    local.verify(b.key().as_bytes()).unwrap();
    assert_eq!(
        kind(local.verify(with_wrong_secret(b.key()).as_bytes())),
        ErrorKind::InvalidApiKey
    );
    assert_eq!(check(&local, unseen.key()), ErrorKind::StoreUnavailable);
    // Malformed keys never wait for the store.
    let started = Instant::now();
    assert_eq!(kind(closed.verify(b"garbage")), ErrorKind::InvalidApiKey);
    assert!(started.elapsed() < bound);
    server.resume();

    // Stopped: connection refused, still within the bound.
    server.stop();
    for _ in 0..3 {
        assert_eq!(check(&closed, a.key()), ErrorKind::StoreUnavailable);
    }
    assert_eq!(
        kind(closed.create("quin", "d", None, Expiry::Never)),
        ErrorKind::StoreUnavailable
    );
    assert_eq!(kind(closed.list("quin")), ErrorKind::StoreUnavailable);
    local.verify(b.key().as_bytes()).unwrap();
    clock.advance(61.0);
    assert_eq!(check(&local, b.key()), ErrorKind::StoreUnavailable);

    // Back again: the store reconnects by itself. The test server keeps no
    // data across a restart, so the key is unknown there now.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match closed.verify(a.key().as_bytes()) {
            Err(e) if e.kind() == ErrorKind::StoreUnavailable && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::InvalidApiKey => break,
            other => panic!("no reconnection: {other:?}"),
        }
    }
    let again = closed.create("quin", "e", None, Expiry::Never).unwrap();
    closed.verify(again.key().as_bytes()).unwrap();
}

#[test]
fn garbage_never_touches_the_store() {
    // A store nobody listens on: a well-formed key fails with the store,
    // garbage fails before it.
    let store = Store::redis(
        "redis://127.0.0.1:1",
        RedisOptions {
            prefix: unique_prefix("apikeys-nostore"),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let keys = registry(store, ApiKeysOptions::default());
    let made = hasher_v1().generate("bst").unwrap();
    assert_eq!(
        kind(keys.verify(made.key_text().as_bytes())),
        ErrorKind::StoreUnavailable
    );
    for bad in [&b"garbage"[..], &b""[..], &[0xffu8; 80][..]] {
        assert_eq!(kind(keys.verify(bad)), ErrorKind::InvalidApiKey);
    }
    assert_eq!(
        kind(keys.verify(with_wrong_secret(&made.key_text()[..]).as_bytes())),
        ErrorKind::StoreUnavailable
    );
}
