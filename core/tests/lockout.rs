//! Account lockout: every case runs on the memory store, a real standalone
//! Redis and a real three-master Redis Cluster (started by `support::redis`),
//! with time driven by a `ManualClock` on all three.

mod support;

use bastion_core::clock::ManualClock;
use bastion_core::events::{Category, Event};
use bastion_core::lockout::{Attempt, Lockout, LockoutOptions, LockoutState, Param, Progressive};
use bastion_core::password::{Encoding, PasswordHasher, Pbkdf2Digest, Scheme};
use bastion_core::store::{OutagePolicy, RedisOptions, Store};
use bastion_core::ErrorKind;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::backends::{self, redis_options, Backend};
use support::redis::{key_slot, server_or_skip, shared_server, unique_prefix, Reply};

const T0: f64 = 1_800_000_000.0;
const HOUR: f64 = 3600.0;

struct Case {
    store: Store,
    clock: ManualClock,
    backend: Backend,
    prefix: String,
}

impl Case {
    fn lockout(&self, options: LockoutOptions) -> Lockout {
        Lockout::new(self.store.clone(), options).unwrap()
    }

    /// A second store on the same state (another process).
    fn other_store(&self) -> Store {
        match self.backend {
            Backend::Memory => self.store.clone(),
            b => backends::store(b, &self.clock, &self.prefix).unwrap(),
        }
    }
}

fn on_all(case: fn(Case)) {
    for backend in backends::ALL {
        let clock = ManualClock::new(T0);
        let prefix = unique_prefix("lockout");
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

fn user(name: &str) -> Attempt {
    Attempt::new(Some(name), None, None)
}

fn at(name: &str, ip: &str) -> Attempt {
    Attempt::new(Some(name), Some(ip), None)
}

fn limit(n: u32, cooloff: u64) -> LockoutOptions {
    LockoutOptions {
        failure_limit: n,
        cooloff: Duration::from_secs(cooloff),
        ..LockoutOptions::default()
    }
}

fn fail_n(l: &Lockout, a: &Attempt, n: usize) -> LockoutState {
    let mut last = None;
    for _ in 0..n {
        last = Some(l.record_failure(a).unwrap());
    }
    last.unwrap()
}

fn recorder(l: &Lockout) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    l.listeners()
        .add(Arc::new(move |e: &Event| s.lock().unwrap().push(e.clone())));
    seen
}

#[test]
fn the_failure_limit_locks_for_the_cooloff_then_counts_from_zero() {
    on_all(|c| {
        let l = c.lockout(limit(5, 1800));
        let a = at("alice", "10.0.0.1");
        for i in 1..5u32 {
            let s = l.record_failure(&a).unwrap();
            assert!(!s.locked, "after {i}");
            assert_eq!((s.failures, s.remaining), (i, 5 - i));
        }
        assert_eq!(l.check(&a).unwrap().failures, 4, "check only reads");
        assert_eq!(l.check(&a).unwrap().failures, 4);
        let s = l.record_failure(&a).unwrap();
        assert!(s.locked);
        assert_eq!(s.retry_after, 1800);
        assert_eq!(s.remaining, 0);
        assert_eq!(s.locked_until, Some(T0 + 1800.0));
        // Another process sees the lock, and the same lock for the username
        // from anywhere (the username key) and for the IP with any username.
        let other = Lockout::new(c.other_store(), limit(5, 1800)).unwrap();
        assert!(other.check(&user("alice")).unwrap().locked);
        assert!(other.check(&at("mallory", "10.0.0.1")).unwrap().locked);
        assert!(!other.check(&at("bob", "10.0.0.2")).unwrap().locked);
        c.clock.advance(1000.0);
        let s = l.check(&a).unwrap();
        assert!(s.locked);
        assert_eq!(s.retry_after, 800);
        c.clock.advance(800.0);
        let s = l.check(&a).unwrap();
        assert!(!s.locked);
        assert_eq!(
            (s.failures, s.remaining),
            (0, 5),
            "a lock's failures end with it"
        );
        let s = l.record_failure(&a).unwrap();
        assert_eq!((s.locked, s.failures), (false, 1));
    });
}

#[test]
fn failures_expire_a_cooloff_after_the_last_one() {
    on_all(|c| {
        let l = c.lockout(limit(3, 600));
        let a = user("carol");
        l.record_failure(&a).unwrap();
        c.clock.advance(500.0);
        assert_eq!(l.record_failure(&a).unwrap().failures, 2);
        c.clock.advance(500.0);
        // 1000 s after the first but 500 s after the last: still counted.
        assert_eq!(l.check(&a).unwrap().failures, 2);
        c.clock.advance(100.0);
        assert_eq!(l.check(&a).unwrap().failures, 0);
        assert_eq!(l.record_failure(&a).unwrap().failures, 1);
    });
}

#[test]
fn failures_during_a_lock_extend_it_unless_configured_not_to() {
    on_all(|c| {
        let l = c.lockout(limit(2, 100));
        let a = user("dave");
        fail_n(&l, &a, 2);
        c.clock.advance(60.0);
        let s = l.record_failure(&a).unwrap();
        assert_eq!((s.locked, s.retry_after, s.failures), (true, 100, 3));
        c.clock.advance(99.0);
        assert!(l.check(&a).unwrap().locked);

        let fixed = c.lockout(LockoutOptions {
            name: "fixed".into(),
            extend_on_failure: false,
            ..limit(2, 100)
        });
        fail_n(&fixed, &a, 2);
        c.clock.advance(60.0);
        let s = fixed.record_failure(&a).unwrap();
        assert_eq!((s.locked, s.retry_after), (true, 40));
        c.clock.advance(40.0);
        assert!(!fixed.check(&a).unwrap().locked);
    });
}

#[test]
fn counted_failures_stop_at_max_failures() {
    on_all(|c| {
        let l = c.lockout(LockoutOptions {
            max_failures: 4,
            ..limit(3, 60)
        });
        let a = user("erin");
        let s = fail_n(&l, &a, 10);
        assert_eq!((s.locked, s.failures), (true, 4));
        assert_eq!(l.check(&a).unwrap().failures, 4);
    });
}

#[test]
fn progressive_cooloffs_grow_by_the_factor_up_to_the_cap_and_are_forgotten() {
    on_all(|c| {
        let l = c.lockout(LockoutOptions {
            progressive: Some(Progressive {
                factor: 3.0,
                max_cooloff: Duration::from_secs(1000),
                memory: Duration::from_secs(2 * 3600),
            }),
            extend_on_failure: false,
            ..limit(2, 60)
        });
        let a = user("frank");
        let mut seen = Vec::new();
        for _ in 0..5 {
            let s = fail_n(&l, &a, 2);
            assert!(s.locked);
            seen.push(s.retry_after);
            c.clock.advance(s.retry_after as f64);
            assert!(!l.check(&a).unwrap().locked);
        }
        assert_eq!(seen, [60, 180, 540, 1000, 1000]);
        // Strikes are remembered for two hours after a lock ends...
        c.clock.advance(2.0 * HOUR - 1.0);
        assert_eq!(fail_n(&l, &a, 2).retry_after, 1000);
        c.clock.advance(1000.0 + 2.0 * HOUR);
        // ...then forgotten.
        assert_eq!(fail_n(&l, &a, 2).retry_after, 60);
    });
}

#[test]
fn axes_combination_parameters_lock_the_ip_or_the_user_and_agent_pair() {
    on_all(|c| {
        let l = c.lockout(LockoutOptions {
            parameters: vec![
                vec![Param::IpAddress],
                vec![Param::Username, Param::UserAgent],
            ],
            ..limit(3, 600)
        });
        let ua = |u: &str, ip: &str, agent: &str| Attempt::new(Some(u), Some(ip), Some(agent));
        // Three failures of one user and agent from three addresses lock the pair.
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            l.record_failure(&ua("gina", ip, "curl/8")).unwrap();
        }
        let s = l.check(&ua("gina", "10.9.9.9", "curl/8")).unwrap();
        assert!(s.locked);
        assert_eq!(s.parameters, [Param::Username, Param::UserAgent]);
        assert!(!l.check(&ua("gina", "10.9.9.9", "Firefox")).unwrap().locked);
        assert!(!l.check(&ua("hank", "10.0.0.1", "curl/8")).unwrap().locked);
        // Three failures from one address with different users lock the address.
        for u in ["u1", "u2", "u3"] {
            l.record_failure(&ua(u, "10.1.1.1", "agent")).unwrap();
        }
        let s = l.check(&ua("anyone", "10.1.1.1", "other")).unwrap();
        assert!(s.locked);
        assert_eq!(s.parameters, [Param::IpAddress]);
        // An attempt without a user agent skips the pair group.
        let s = l
            .check(&Attempt::new(Some("gina"), Some("10.2.2.2"), None))
            .unwrap();
        assert!(!s.locked);
        assert_eq!(s.parameters, [Param::IpAddress]);
    });
}

#[test]
fn usernames_are_normalised_and_an_empty_one_never_counts() {
    on_all(|c| {
        let l = c.lockout(LockoutOptions {
            parameters: vec![vec![Param::Username]],
            ..limit(3, 600)
        });
        for spelling in ["Ivan", "  IVAN ", "ivan\t"] {
            l.record_failure(&user(spelling)).unwrap();
        }
        assert!(l.check(&user("iVaN")).unwrap().locked);
        // Empty usernames are absent: no shared "" key to lock everybody.
        for empty in ["", "   ", "\t"] {
            for _ in 0..5 {
                let s = l.record_failure(&user(empty)).unwrap();
                assert_eq!((s.locked, s.failures), (false, 0));
                assert!(s.parameters.is_empty());
            }
        }
        assert!(!l.check(&user("")).unwrap().locked);
        assert!(!l.check(&user("judy")).unwrap().locked);
        // Unicode case folding, and a hostile length stays one bounded key.
        fail_n(&l, &user("ÉMILE"), 3);
        assert!(l.check(&user("émile")).unwrap().locked);
        let huge = "k".repeat(100_000);
        fail_n(&l, &user(&huge), 3);
        assert!(l.check(&user(&huge.to_uppercase())).unwrap().locked);
        assert!(!l.check(&user(&"k".repeat(99_999))).unwrap().locked);
    });
}

#[test]
fn a_success_resets_the_user_but_not_the_ip_address() {
    on_all(|c| {
        let l = c.lockout(limit(5, 600));
        // An attacker owns "kim" and sprays passwords from 10.0.0.7.
        for victim in ["leo", "mia", "ned", "oda"] {
            l.record_failure(&at(victim, "10.0.0.7")).unwrap();
        }
        l.record_failure(&at("kim", "10.0.0.7")).unwrap();
        assert!(l.check(&at("kim", "10.0.0.7")).unwrap().locked);
        // Logging in to their own account does not wipe the address's count.
        l.record_success(&at("kim", "10.0.0.7")).unwrap();
        let s = l.check(&at("kim", "10.0.0.7")).unwrap();
        assert!(s.locked, "{s:?}");
        assert_eq!(s.parameters, [Param::IpAddress]);
        // Elsewhere, kim's own count is reset, and the victims' are not.
        assert_eq!(l.check(&at("kim", "10.9.9.9")).unwrap().failures, 0);
        assert_eq!(l.check(&at("leo", "10.9.9.9")).unwrap().failures, 1);

        // A success resets a user's failures (pairs included).
        let pairs = c.lockout(LockoutOptions {
            name: "pairs".into(),
            parameters: vec![vec![Param::Username, Param::IpAddress]],
            ..limit(3, 600)
        });
        fail_n(&pairs, &at("pia", "10.0.0.1"), 2);
        pairs.record_success(&at("PIA", "10.0.0.1")).unwrap();
        assert_eq!(pairs.check(&at("pia", "10.0.0.1")).unwrap().failures, 0);
        // Without reset_on_success, failures stay.
        let keep = c.lockout(LockoutOptions {
            name: "keep".into(),
            reset_on_success: false,
            ..limit(3, 600)
        });
        fail_n(&keep, &user("quin"), 2);
        keep.record_success(&user("quin")).unwrap();
        assert_eq!(keep.check(&user("quin")).unwrap().failures, 2);
    });
}

#[test]
fn unlock_by_username_address_or_pair_removes_combination_keys_too() {
    on_all(|c| {
        let options = || LockoutOptions {
            parameters: vec![
                vec![Param::Username],
                vec![Param::IpAddress],
                vec![Param::Username, Param::IpAddress],
                vec![Param::Username, Param::UserAgent],
            ],
            ..limit(2, 600)
        };
        let l = c.lockout(options());
        let full = |u: &str, ip: &str, ua: &str| Attempt::new(Some(u), Some(ip), Some(ua));
        let lock_all = |l: &Lockout| {
            fail_n(l, &full("rob", "10.0.0.1", "ua-1"), 2);
            fail_n(l, &full("rob", "10.0.0.2", "ua-2"), 2);
            fail_n(l, &full("sue", "10.0.0.1", "ua-3"), 2);
        };
        let locked_members = |l: &Lockout| {
            let mut v: Vec<String> = l
                .locked(1000)
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{}={}",
                        e.parameters
                            .iter()
                            .map(|p| p.name())
                            .collect::<Vec<_>>()
                            .join("+"),
                        e.values.join(",")
                    )
                })
                .collect();
            v.sort();
            v
        };
        lock_all(&l);
        assert_eq!(
            locked_members(&l),
            [
                "ip_address=10.0.0.1",
                "ip_address=10.0.0.2",
                "username+ip_address=rob,10.0.0.1",
                "username+ip_address=rob,10.0.0.2",
                "username+ip_address=sue,10.0.0.1",
                "username+user_agent=rob,ua-1",
                "username+user_agent=rob,ua-2",
                "username+user_agent=sue,ua-3",
                "username=rob",
                "username=sue",
            ]
        );
        // The pair: what applies to rob at 10.0.0.1, whatever the agent.
        let removed = l.unlock(Some("ROB"), Some("10.0.0.1")).unwrap();
        assert_eq!(removed, 5);
        assert_eq!(
            locked_members(&l),
            [
                "ip_address=10.0.0.2",
                "username+ip_address=rob,10.0.0.2",
                "username+ip_address=sue,10.0.0.1",
                "username=sue",
                "username+user_agent=sue,ua-3",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        // A username: everything of sue's, from anywhere.
        assert_eq!(l.unlock(Some("sue"), None).unwrap(), 3);
        // An address: everything from 10.0.0.2.
        assert_eq!(l.unlock(None, Some("10.0.0.2")).unwrap(), 2);
        assert!(locked_members(&l).is_empty());
        assert_eq!(l.unlock(None, Some("10.0.0.2")).unwrap(), 0);
        assert!(!l.check(&full("rob", "10.0.0.2", "ua-2")).unwrap().locked);
        assert_eq!(
            l.unlock(None, None).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        // Failures below the limit are removed (and counted) as well.
        l.record_failure(&full("tom", "10.0.0.9", "ua")).unwrap();
        assert_eq!(l.unlock(Some("tom"), None).unwrap(), 3);
        assert_eq!(
            l.check(&full("tom", "10.0.0.9", "ua")).unwrap().failures,
            1,
            "the address keeps its count"
        );
    });
}

#[test]
fn locked_lists_the_locks_in_force_in_pages() {
    on_all(|c| {
        let l = c.lockout(LockoutOptions {
            parameters: vec![vec![Param::Username]],
            ..limit(1, 600)
        });
        assert!(l.locked(100).unwrap().is_empty());
        for i in 0..300 {
            l.record_failure(&user(&format!("user{i:03}"))).unwrap();
            c.clock.advance(1.0);
        }
        let all = l.locked(1000).unwrap();
        assert_eq!(all.len(), 300);
        assert_eq!(all[0].values, ["user000"]);
        assert_eq!(all[0].value(Param::Username), Some("user000"));
        assert_eq!(all[0].retry_after, 300);
        assert_eq!(all[299].locked_until, T0 + 299.0 + 600.0);
        assert_eq!(l.locked(10).unwrap().len(), 10);
        c.clock.advance(350.0);
        let left = l.locked(1000).unwrap();
        assert_eq!(left.len(), 250 - 1, "the first 51 ended");
        assert_eq!(left[0].values, ["user051"]);
        // A readable listing of values that needed escaping.
        fail_n(&l, &user("o'neil|x y"), 1);
        assert!(l
            .locked(1000)
            .unwrap()
            .iter()
            .any(|e| e.values == ["o'neil|x y"]));
    });
}

#[test]
fn lockouts_and_unlocks_are_events_with_identifiers_only() {
    on_all(|c| {
        let l = c.lockout(limit(2, 600));
        let seen = recorder(&l);
        let a = at("Uma", "10.0.0.5");
        l.record_failure(&a).unwrap();
        assert!(seen.lock().unwrap().is_empty());
        l.record_failure(&a).unwrap();
        l.record_failure(&a).unwrap();
        let events = seen.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "one per key that locked, once: {events:?}");
        assert_eq!(
            events[0],
            Event::LockedOut {
                lockout: "login".into(),
                parameters: "username".into(),
                username: Some("uma".into()),
                ip_address: Some("10.0.0.5".into()),
                retry_after: 600,
            }
        );
        assert_eq!(events[1].category(), Category::Lockout);
        assert_eq!(
            events[1].to_string(),
            "[LOCKOUT] locked_out lockout=\"login\" parameters=\"ip_address\" username=\"uma\" \
             ip_address=\"10.0.0.5\" retry_after=\"600\""
        );
        l.unlock(Some("uma"), None).unwrap();
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.name(), "unlocked");
        assert_eq!(
            last.to_string(),
            "[LOCKOUT] unlocked lockout=\"login\" username=\"uma\" removed=\"1\""
        );
    });
}

#[test]
fn concurrent_failures_lock_at_exactly_the_limit_with_no_lost_update() {
    on_all(|c| {
        let l = Arc::new(c.lockout(limit(10, 600)));
        let seen = recorder(&l);
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (l, barrier) = (Arc::clone(&l), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    l.record_failure(&at("vic", "10.0.0.1")).unwrap()
                })
            })
            .collect();
        let states: Vec<LockoutState> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut counts: Vec<u32> = states.iter().map(|s| s.failures).collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=16).collect::<Vec<_>>(),
            "every failure counted once"
        );
        assert_eq!(states.iter().filter(|s| !s.locked).count(), 9);
        assert!(states.iter().filter(|s| s.locked).all(|s| s.failures >= 10));
        let locks = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.name() == "locked_out")
            .count();
        assert_eq!(locks, 2, "one lock per key, made by the tenth failure");
    });
}

#[test]
fn async_twins_agree() {
    on_all(|c| {
        let l = Arc::new(c.lockout(limit(2, 600)));
        let k = Arc::clone(&l);
        let out = bastion_core::runtime::block_on(async move {
            let a = at("wes", "10.0.0.3");
            let first = k.record_failure_async(&a).await?;
            let second = k.record_failure_async(&a).await?;
            let checked = k.check_async(&a).await?;
            let listed = k.locked_async(10).await?.len();
            let removed = k.unlock_async(Some("wes"), Some("10.0.0.3")).await?;
            k.record_failure_async(&a).await?;
            k.record_success_async(&a).await?;
            let after = k.check_async(&user("wes")).await?;
            Ok::<_, bastion_core::Error>((
                first.failures,
                second.locked,
                checked.retry_after,
                listed,
                removed,
                after.failures,
            ))
        })
        .unwrap()
        .unwrap();
        assert_eq!(out, (1, true, 600, 2, 2, 0));
    });
}

fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::new(
        Scheme::Pbkdf2 {
            digest: Pbkdf2Digest::Sha256,
            iterations: 1000,
        },
        Encoding::Django,
    )
    .unwrap()
}

#[test]
fn login_answers_unknown_users_and_wrong_passwords_alike() {
    on_all(|c| {
        let l = c.lockout(limit(3, 600));
        let hasher = cheap_hasher();
        let stored = hasher.hash(b"correct horse").unwrap();
        let xena = at("xena", "10.0.0.1");
        assert!(l
            .login(&xena, b"correct horse", Some(&stored), &hasher)
            .unwrap());
        assert!(!l.login(&xena, b"wrong", Some(&stored), &hasher).unwrap());
        // Unknown users are counted under the submitted name too.
        let ghost = at("ghost", "10.0.0.2");
        assert!(!l.login(&ghost, b"anything", None, &hasher).unwrap());
        assert_eq!(l.check(&ghost).unwrap().failures, 1);
        assert!(!l.login(&ghost, b"anything", None, &hasher).unwrap());
        // The failure that locks answers ACCOUNT_LOCKED, for a real user and a
        // ghost alike, with the same message.
        let e1 = l.login(&ghost, b"x", None, &hasher).unwrap_err();
        assert!(!l.login(&xena, b"x", Some(&stored), &hasher).unwrap());
        let e2 = l
            .login(&xena, b"wrong", Some(&stored), &hasher)
            .unwrap_err();
        assert_eq!(
            (e1.kind(), e2.kind()),
            (ErrorKind::AccountLocked, ErrorKind::AccountLocked)
        );
        assert_eq!(e1.message(), e2.message());
        assert_eq!(e1.retry_after(), Some(600.0));
        // While locked, even the right password is refused (and counted).
        c.clock.advance(100.0);
        let e = l
            .login(&xena, b"correct horse", Some(&stored), &hasher)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AccountLocked);
        assert_eq!(
            e.retry_after(),
            Some(600.0),
            "the attempt restarted the cool-off"
        );
        c.clock.advance(600.0);
        assert!(l
            .login(&xena, b"correct horse", Some(&stored), &hasher)
            .unwrap());
        assert_eq!(
            l.login(&user("yan"), b"pw", Some("not a hash"), &hasher)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidHash
        );
        let k = Arc::new(l);
        let stored2 = stored.clone();
        let ok = bastion_core::runtime::block_on(async move {
            k.login_async(
                &at("zoe", "10.0.0.8"),
                b"correct horse",
                Some(&stored2),
                &cheap_hasher(),
            )
            .await
        })
        .unwrap()
        .unwrap();
        assert!(ok);
    });
}

#[test]
fn options_are_checked() {
    let store = Store::default();
    let bad = [
        LockoutOptions {
            name: "a b".into(),
            ..LockoutOptions::default()
        },
        LockoutOptions {
            name: String::new(),
            ..LockoutOptions::default()
        },
        LockoutOptions {
            failure_limit: 0,
            ..LockoutOptions::default()
        },
        LockoutOptions {
            failure_limit: 2000,
            ..LockoutOptions::default()
        },
        LockoutOptions {
            cooloff: Duration::ZERO,
            ..LockoutOptions::default()
        },
        LockoutOptions {
            parameters: vec![],
            ..LockoutOptions::default()
        },
        LockoutOptions {
            parameters: vec![vec![]],
            ..LockoutOptions::default()
        },
        LockoutOptions {
            progressive: Some(Progressive {
                factor: 0.5,
                ..Progressive::default()
            }),
            ..LockoutOptions::default()
        },
        LockoutOptions {
            progressive: Some(Progressive {
                max_cooloff: Duration::from_secs(10),
                ..Progressive::default()
            }),
            ..LockoutOptions::default()
        },
    ];
    for o in bad {
        let e = Lockout::new(store.clone(), o.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{o:?}");
    }
    // Groups are put in canonical order and deduplicated.
    let l = Lockout::new(
        store,
        LockoutOptions {
            parameters: vec![
                vec![Param::IpAddress, Param::Username],
                vec![Param::Username, Param::IpAddress, Param::Username],
            ],
            ..LockoutOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        l.options().parameters,
        [vec![Param::Username, Param::IpAddress]]
    );
    assert_eq!(Param::parse("ip").unwrap(), Param::IpAddress);
    assert!(Param::parse("password").is_err());
}

// ---- Redis only ----------------------------------------------------------------

fn keys_under(server: &support::redis::RedisServer, prefix: &str) -> Vec<String> {
    let Reply::Array(keys) = server.command(&["KEYS", &format!("{prefix}*")]).unwrap() else {
        panic!("KEYS did not answer an array")
    };
    keys.into_iter().map(|k| k.text().unwrap()).collect()
}

#[test]
fn every_redis_key_has_a_ttl_and_one_lockout_is_one_slot() {
    let Some(server) = shared_server() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let prefix = unique_prefix("lockout-keys");
    let store = Store::redis(&server.url(), redis_options(Some(&clock), &prefix)).unwrap();
    let l = Lockout::new(
        store,
        LockoutOptions {
            parameters: vec![
                vec![Param::IpAddress],
                vec![Param::Username, Param::UserAgent],
            ],
            ..limit(2, 600)
        },
    )
    .unwrap();
    fail_n(
        &l,
        &Attempt::new(Some("amy"), Some("10.0.0.1"), Some("Mozilla/5.0 (X11)")),
        3,
    );
    let mut found = keys_under(server, &prefix);
    found.sort();
    let ua = "Mozilla%2F5.0%20%28X11%29";
    assert_eq!(
        found,
        [
            format!("{prefix}lockout:{{login}}:locked"),
            format!("{prefix}lockout:{{login}}:s:ip_address|10.0.0.1"),
            format!("{prefix}lockout:{{login}}:s:username+user_agent|amy|{ua}"),
            format!("{prefix}lockout:{{login}}:u:amy"),
        ]
    );
    let slot = key_slot(found[0].as_bytes());
    for k in &found {
        assert_eq!(key_slot(k.as_bytes()), slot, "{k}");
        let Reply::Int(ttl) = server.command(&["PTTL", k]).unwrap() else {
            panic!()
        };
        assert!(ttl > 0 && ttl <= 600_000, "{k}: {ttl}");
    }
    // NOSCRIPT after a flush: the store falls back to EVAL.
    server.command(&["SCRIPT", "FLUSH"]).unwrap();
    assert!(l.check(&user("amy")).unwrap().parameters.is_empty());
    assert!(
        l.check(&Attempt::new(None, Some("10.0.0.1"), None))
            .unwrap()
            .locked
    );
}

fn outage_lockout(url: &str, policy: OutagePolicy, clock: &ManualClock) -> Lockout {
    let store = Store::redis(
        url,
        RedisOptions {
            prefix: unique_prefix("lockout-outage"),
            clock: Some(Arc::new(clock.clone())),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    Lockout::new(
        store,
        LockoutOptions {
            outage_policy: policy,
            clock: Arc::new(clock.clone()),
            ..limit(3, 600)
        },
    )
    .unwrap()
}

#[test]
fn with_redis_stopped_each_outage_policy_answers_within_the_timeout() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let clock = ManualClock::new(T0);
    let closed = outage_lockout(&server.url(), OutagePolicy::FailClosed, &clock);
    let open = outage_lockout(&server.url(), OutagePolicy::FailOpen, &clock);
    let local = outage_lockout(&server.url(), OutagePolicy::Local, &clock);
    let a = at("bea", "10.0.0.1");
    for l in [&closed, &open, &local] {
        l.record_failure(&a).unwrap();
        assert_eq!(l.check(&a).unwrap().failures, 1);
    }
    let events = recorder(&local);
    let bound = closed.store().timeout();
    let timed = |f: &dyn Fn()| {
        let started = Instant::now();
        f();
        assert!(started.elapsed() < bound * 10, "{:?}", started.elapsed());
    };
    server.stop();
    timed(&|| {
        assert_eq!(
            closed.record_failure(&a).unwrap_err().kind(),
            ErrorKind::StoreUnavailable
        );
        assert_eq!(
            closed.check(&a).unwrap_err().kind(),
            ErrorKind::StoreUnavailable
        );
    });
    timed(&|| {
        let s = open.record_failure(&a).unwrap();
        assert_eq!((s.locked, s.failures), (false, 0));
        open.record_success(&a).unwrap();
    });
    // Local: counted in this process, from zero, until Redis is back.
    for i in 1..=3u32 {
        let s = local.record_failure(&a).unwrap();
        assert_eq!(s.failures, i);
    }
    assert!(local.check(&a).unwrap().locked);
    assert!(local.login(&a, b"pw", None, &cheap_hasher()).is_err());
    let seen = events.lock().unwrap().clone();
    assert!(seen.contains(&Event::StoreUnavailable {
        component: "lockout",
        policy: "local"
    }));
    assert!(seen.iter().any(|e| e.name() == "locked_out"));
    // Admin operations need the store.
    assert_eq!(
        closed.unlock(Some("bea"), None).unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );
    assert_eq!(
        closed.locked(10).unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed.check(&a).is_err() {
        assert!(Instant::now() < deadline, "no reconnection");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The restarted test server kept nothing; the local count is not merged.
    assert_eq!(local.check(&a).unwrap().failures, 0);
    assert_eq!(local.record_failure(&a).unwrap().failures, 1);
}
