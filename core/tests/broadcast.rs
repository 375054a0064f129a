//! Store broadcasts: messages published on a real Redis (standalone and
//! Cluster) reach every subscriber of the channel, subscribers of other
//! channels see nothing, and a restarted server is followed by a resync
//! notice and a working subscription.

mod support;

use bastion_core::store::{Notice, RedisOptions, Store};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use support::backends::cluster_url;
use support::redis::{server_or_skip, shared_server, unique_prefix};

#[derive(Debug, PartialEq)]
enum Got {
    Msg(Vec<u8>),
    Resync,
}

fn listen(
    store: &Store,
    channel: &str,
) -> (bastion_core::store::Subscription, mpsc::Receiver<Got>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let sub = store.as_redis().unwrap().subscribe(
        channel,
        Arc::new(move |n: Notice<'_>| {
            let got = match n {
                Notice::Message(m) => Got::Msg(m.to_vec()),
                Notice::Resync => Got::Resync,
            };
            let _ = tx.lock().unwrap().send(got);
        }),
    );
    (sub, rx)
}

fn ready(sub: &bastion_core::store::Subscription) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sub.is_ready() {
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next message, skipping resync notices.
fn next_message(rx: &mpsc::Receiver<Got>) -> Vec<u8> {
    loop {
        match rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no message")
        {
            Got::Msg(m) => return m,
            Got::Resync => {}
        }
    }
}

/// Published from outside the store, as another process would.
fn publish(channel: &str, payload: &str, prefix: &str) {
    let server = shared_server().unwrap();
    server
        .command(&["PUBLISH", &format!("{prefix}{channel}"), payload])
        .unwrap();
}

#[test]
fn messages_reach_every_subscriber_of_their_channel_only() {
    let Some(server) = shared_server() else {
        return;
    };
    let prefix = unique_prefix("bc");
    let opts = RedisOptions {
        prefix: prefix.clone(),
        ..RedisOptions::default()
    };
    let a = Store::redis(&server.url(), opts.clone()).unwrap();
    let b = Store::redis(&server.url(), opts).unwrap();
    let (sa, ra) = listen(&a, "brk:{x}");
    let (sb, rb) = listen(&b, "brk:{x}");
    let (so, ro) = listen(&b, "brk:{other}");
    ready(&sa);
    ready(&sb);
    ready(&so);
    publish("brk:{x}", "hello", &prefix);
    assert_eq!(next_message(&ra), b"hello");
    assert_eq!(next_message(&rb), b"hello");
    // The other channel got nothing but its resync notice.
    std::thread::sleep(Duration::from_millis(50));
    assert!(ro.try_iter().all(|g| g == Got::Resync));
    // Dropped, a subscription receives no more.
    drop(sb);
    publish("brk:{x}", "again", &prefix);
    assert_eq!(next_message(&ra), b"again");
    std::thread::sleep(Duration::from_millis(50));
    assert!(rb.try_iter().all(|g| g != Got::Msg(b"again".to_vec())));
}

#[test]
fn a_restarted_server_gives_a_resync_and_messages_flow_again() {
    let Some(mut server) = server_or_skip() else {
        return;
    };
    let prefix = unique_prefix("bc");
    let store = Store::redis(
        &server.url(),
        RedisOptions {
            prefix: prefix.clone(),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let (sub, rx) = listen(&store, "ch");
    ready(&sub);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Got::Resync
    );
    server.restart();
    // Reconnected: a resync notice, then messages again.
    loop {
        match rx.recv_timeout(Duration::from_secs(15)).expect("no resync") {
            Got::Resync => break,
            Got::Msg(_) => {}
        }
    }
    ready(&sub);
    server
        .command(&["PUBLISH", &format!("{prefix}ch"), "back"])
        .unwrap();
    assert_eq!(next_message(&rx), b"back");
}

#[test]
fn cluster_messages_published_on_any_node_reach_the_subscriber() {
    let Some(url) = cluster_url() else {
        return;
    };
    let cluster = support::redis::shared_cluster().unwrap();
    let prefix = unique_prefix("bc");
    let store = Store::redis(
        &url,
        RedisOptions {
            prefix: prefix.clone(),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let (sub, rx) = listen(&store, "sf:done");
    ready(&sub);
    for (i, node) in cluster.nodes().iter().enumerate() {
        let payload = format!("from-{i}");
        node.command(&["PUBLISH", &format!("{prefix}sf:done"), &payload])
            .unwrap();
        assert_eq!(next_message(&rx), payload.as_bytes());
    }
}
