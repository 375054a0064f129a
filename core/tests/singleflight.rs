//! In-process single-flight: one computation per flight under threads and tasks, outcomes shared
//! only with the callers waiting, a leader that goes away replaced by a waiter, forget, bounds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bastion_core::singleflight::{self, Joined, Role, SingleFlight};
use bastion_core::{Error, ErrorKind};

fn upstream_error() -> Error {
    Error::new(ErrorKind::StoreUnavailable, "upstream down")
}

#[test]
fn a_hundred_threads_one_computation_everyone_gets_its_value() {
    let flights: SingleFlight<String> = SingleFlight::new();
    let barrier = Arc::new(Barrier::new(100));
    let computed = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (flights, barrier, computed) =
                (flights.clone(), Arc::clone(&barrier), Arc::clone(&computed));
            thread::spawn(move || {
                let role = flights.begin("user:42");
                // Every caller has joined before anyone completes.
                barrier.wait();
                match role {
                    Role::Leader(leader) => {
                        computed.fetch_add(1, Ordering::SeqCst);
                        let shared_with = leader.complete(Ok("profile 42".to_owned()));
                        (true, Ok("profile 42".to_owned()), shared_with)
                    }
                    Role::Follower(f) => match f.wait() {
                        Joined::Shared(v) => (false, v, 0),
                        Joined::Lead(_) => panic!("the leader did not go away"),
                    },
                }
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    assert_eq!(results.iter().filter(|r| r.0).count(), 1);
    assert!(results.iter().all(|r| r.1.as_deref() == Ok("profile 42")));
    let leader = results.iter().find(|r| r.0).unwrap();
    assert_eq!(leader.2, 99, "the leader's value went to the 99 others");
    assert_eq!(flights.in_flight(), 0);
}

#[test]
fn an_error_goes_to_the_callers_waiting_and_is_not_kept() {
    let flights: SingleFlight<u32> = SingleFlight::new();
    let Role::Leader(leader) = flights.begin("k") else {
        panic!()
    };
    let Role::Follower(f1) = flights.begin("k") else {
        panic!()
    };
    let Role::Follower(f2) = flights.begin("k") else {
        panic!()
    };
    assert_eq!(leader.complete(Err(upstream_error())), 2);
    for f in [f1, f2] {
        match f.wait() {
            Joined::Shared(Err(e)) => assert_eq!(e.kind(), ErrorKind::StoreUnavailable),
            _ => panic!("expected the shared error"),
        }
    }
    // The next caller computes again.
    let Role::Leader(again) = flights.begin("k") else {
        panic!("the error was kept")
    };
    assert_eq!(again.complete(Ok(7)), 0);
}

#[test]
fn a_leader_that_goes_away_is_replaced_by_one_waiter() {
    let flights: SingleFlight<u32> = SingleFlight::new();
    let Role::Leader(leader) = flights.begin("k") else {
        panic!()
    };
    let followers: Vec<_> = (0..5)
        .map(|_| match flights.begin("k") {
            Role::Follower(f) => f,
            Role::Leader(_) => panic!("two leaders"),
        })
        .collect();
    let first = leader.flight_id();
    drop(leader); // cancelled mid-computation
    let mut leads = Vec::new();
    let mut waiting = Vec::new();
    for f in followers {
        match f.wait_for(Duration::from_millis(0)) {
            Ok(Joined::Lead(l)) => leads.push(l),
            Ok(Joined::Shared(_)) => panic!("nothing was computed"),
            Err(f) => waiting.push(f),
        }
    }
    assert_eq!(leads.len(), 1, "exactly one waiter takes over");
    assert_eq!(leads[0].flight_id(), first, "the same flight");
    // A new caller joins the flight the new leader computes.
    let Role::Follower(late) = flights.begin("k") else {
        panic!()
    };
    assert_eq!(leads.pop().unwrap().complete(Ok(5)), 5);
    for f in waiting.into_iter().chain([late]) {
        assert!(matches!(f.wait(), Joined::Shared(Ok(5))));
    }
    assert_eq!(flights.in_flight(), 0);
}

#[test]
fn an_abandoned_flight_with_nobody_waiting_leaves_the_table() {
    let flights: SingleFlight<u32> = SingleFlight::new();
    let Role::Leader(leader) = flights.begin("k") else {
        panic!()
    };
    let Role::Follower(f) = flights.begin("k") else {
        panic!()
    };
    drop(f); // the only follower stops waiting
    drop(leader);
    assert_eq!(flights.in_flight(), 0);
    assert!(matches!(flights.begin("k"), Role::Leader(_)));
}

#[test]
fn forget_lets_new_callers_start_afresh_and_old_followers_still_get_the_outcome() {
    let flights: SingleFlight<u32> = SingleFlight::new();
    let Role::Leader(old) = flights.begin("k") else {
        panic!()
    };
    let Role::Follower(old_follower) = flights.begin("k") else {
        panic!()
    };
    flights.forget("k");
    let Role::Leader(new) = flights.begin("k") else {
        panic!("forget did not forget")
    };
    assert_ne!(new.flight_id(), old.flight_id());
    assert_eq!(old.complete(Ok(1)), 1);
    assert!(matches!(old_follower.wait(), Joined::Shared(Ok(1))));
    // The old flight's completion did not remove the new one.
    assert_eq!(flights.in_flight(), 1);
    assert_eq!(new.complete(Ok(2)), 0);
    assert_eq!(flights.in_flight(), 0);
}

#[test]
fn a_bounded_wait_gives_the_follower_back() {
    let flights: SingleFlight<u32> = SingleFlight::new();
    let Role::Leader(leader) = flights.begin("k") else {
        panic!()
    };
    let Role::Follower(f) = flights.begin("k") else {
        panic!()
    };
    let f = f.wait_for(Duration::from_millis(1)).unwrap_err();
    assert_eq!(leader.complete(Ok(3)), 1);
    assert!(matches!(
        f.wait_for(Duration::from_secs(5)),
        Ok(Joined::Shared(Ok(3)))
    ));
}

#[test]
fn run_computes_for_a_lone_caller_and_says_it_was_not_shared() {
    let flights: SingleFlight<u64> = SingleFlight::new();
    let (value, shared) = singleflight::run(&flights, "k", || Ok(9));
    assert_eq!((value.unwrap(), shared), (9, false));
    let (value, _) = singleflight::run(&flights, "k", || Err(upstream_error()));
    assert_eq!(value.unwrap_err().kind(), ErrorKind::StoreUnavailable);
    assert_eq!(flights.in_flight(), 0);
}

#[test]
fn a_thousand_tasks_one_computation_and_a_cancelled_leader_replaced() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let flights: SingleFlight<u32> = SingleFlight::new();
        let barrier = Arc::new(tokio::sync::Barrier::new(1000));
        let computed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (flights, barrier, computed) =
                    (flights.clone(), Arc::clone(&barrier), Arc::clone(&computed));
                tokio::spawn(async move {
                    let mut role = flights.begin("k");
                    barrier.wait().await;
                    loop {
                        match role {
                            Role::Leader(leader) => {
                                // The first leader is cancelled before it completes.
                                if computed.fetch_add(1, Ordering::SeqCst) == 0 {
                                    drop(leader);
                                    return None;
                                }
                                leader.complete(Ok(i));
                                return Some(i);
                            }
                            Role::Follower(f) => match f.wait_async().await {
                                Joined::Shared(v) => return Some(v.unwrap()),
                                Joined::Lead(l) => role = Role::Leader(l),
                            },
                        }
                    }
                })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        assert_eq!(
            computed.load(Ordering::SeqCst),
            2,
            "the cancelled leader, then one other"
        );
        let answered: Vec<_> = values.iter().flatten().collect();
        assert_eq!(answered.len(), 999);
        assert!(answered.iter().all(|v| *v == answered[0]));
        assert_eq!(flights.in_flight(), 0);
    });
}

#[test]
fn a_cancelled_async_wait_leaves_the_flight() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let flights: SingleFlight<u32> = SingleFlight::new();
        let Role::Leader(leader) = flights.begin("k") else {
            panic!()
        };
        let Role::Follower(f) = flights.begin("k") else {
            panic!()
        };
        let waited = tokio::time::timeout(Duration::from_millis(1), f.wait_async()).await;
        assert!(waited.is_err(), "the leader has not completed");
        // The cancelled follower no longer counts.
        assert_eq!(leader.complete(Ok(1)), 0);
    });
}
