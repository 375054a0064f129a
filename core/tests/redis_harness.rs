//! The Redis test harness itself (`support::redis`): real servers start,
//! stop, restart, pause and resume as the fault tests expect, a cluster covers
//! every slot with three masters, and no redis-server outlives the test
//! process, however it ends.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::redis::{
    available_or_skip, cluster_or_skip, crc16, find_tools, key_slot, server_or_skip,
    shared_cluster, shared_server, skip_message, skip_or_fail, unique_prefix, Reply, CLUSTER_SLOTS,
};

/// A PING written and read by hand, independent of the harness's RESP code.
fn raw_ping(port: u16, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

#[test]
fn server_answers_ping_over_tcp() {
    let Some(redis) = shared_server() else { return };
    assert_eq!(
        raw_ping(redis.port(), Duration::from_secs(5)).unwrap(),
        "+PONG\r\n"
    );
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    assert!(redis.is_running() && !redis.is_paused());

    let key = format!("{}k", unique_prefix("ping"));
    assert_eq!(
        redis.command(&["SET", &key, "v", "EX", "60"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(redis.command(&["GET", &key]).unwrap(), bulk("v"));
    assert_eq!(redis.command(&["GET", "no-such-key"]).unwrap(), Reply::Nil);
}

#[test]
fn server_has_no_persistence_and_binds_loopback_only() {
    let Some(redis) = shared_server() else { return };
    let config = |name: &str| match redis.command(&["CONFIG", "GET", name]).unwrap() {
        Reply::Array(items) => items[1].text().unwrap(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    };
    assert_eq!(config("save"), "");
    assert_eq!(config("appendonly"), "no");
    assert_eq!(config("bind"), "127.0.0.1");
    assert_eq!(config("port"), redis.port().to_string());
}

#[test]
fn shared_server_is_started_once() {
    let (Some(a), Some(b)) = (shared_server(), shared_server()) else {
        return;
    };
    assert!(std::ptr::eq(a, b));
    assert_ne!(unique_prefix("x"), unique_prefix("x"));
}

#[test]
fn stop_closes_the_port_and_restart_answers_on_the_same_port() {
    let Some(mut redis) = server_or_skip() else {
        return;
    };
    let port = redis.port();
    let first_pid = redis.pid().unwrap();
    redis.command(&["SET", "before-stop", "1"]).unwrap();

    redis.stop();
    assert!(!redis.is_running());
    assert_eq!(redis.pid(), None);
    let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    redis.stop(); // idempotent

    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), Some(first_pid));
    assert_eq!(raw_ping(port, Duration::from_secs(5)).unwrap(), "+PONG\r\n");
    // Nothing persisted across the restart.
    assert_eq!(redis.command(&["GET", "before-stop"]).unwrap(), Reply::Nil);

    // Restart of a running server: stop, then start again.
    redis.restart();
    redis.ping(Duration::from_secs(5)).unwrap();
}

#[test]
fn pause_accepts_connections_but_never_answers_until_resume() {
    let Some(mut redis) = server_or_skip() else {
        return;
    };
    redis.pause();
    assert!(redis.is_paused());

    let err = raw_ping(redis.port(), Duration::from_millis(300)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "a paused server must accept the connection and time out the read: {err:?}"
    );
    redis.ping(Duration::from_millis(300)).unwrap_err();

    redis.resume();
    assert!(!redis.is_paused());
    assert_eq!(
        raw_ping(redis.port(), Duration::from_secs(5)).unwrap(),
        "+PONG\r\n"
    );

    // A paused server is still killed (on drop as by stop).
    redis.pause();
    redis.stop();
    TcpStream::connect(("127.0.0.1", redis.port())).unwrap_err();
}

#[test]
fn cluster_has_three_masters_covering_every_slot() {
    let Some(cluster) = shared_cluster() else {
        return;
    };
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    for (url, node) in urls.iter().zip(cluster.nodes()) {
        assert_eq!(url, &format!("redis://127.0.0.1:{}", node.port()));
    }

    for node in cluster.nodes() {
        let info = node.command(&["CLUSTER", "INFO"]).unwrap().text().unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");

        let nodes = node.command(&["CLUSTER", "NODES"]).unwrap().text().unwrap();
        let masters = nodes.lines().filter(|l| l.contains("master")).count();
        assert_eq!(masters, 3, "{nodes}");
        assert!(!nodes.contains("fail"), "{nodes}");
    }

    // CLUSTER SLOTS: the ranges cover 0..=16383 exactly once, one range per master.
    let Reply::Array(ranges) = cluster.nodes()[0].command(&["CLUSTER", "SLOTS"]).unwrap() else {
        panic!("CLUSTER SLOTS")
    };
    let mut spans: Vec<(i64, i64, i64)> = ranges
        .iter()
        .map(|r| match r {
            Reply::Array(f) => match (&f[0], &f[1], &f[2]) {
                (Reply::Int(a), Reply::Int(b), Reply::Array(m)) => match m[1] {
                    Reply::Int(port) => (*a, *b, port),
                    _ => panic!("{m:?}"),
                },
                _ => panic!("{f:?}"),
            },
            _ => panic!("{r:?}"),
        })
        .collect();
    spans.sort();
    let mut next = 0;
    for (start, end, _) in &spans {
        assert_eq!(*start, next, "slots not contiguous: {spans:?}");
        next = end + 1;
    }
    assert_eq!(next, i64::from(CLUSTER_SLOTS));
    let mut ports: Vec<i64> = spans.iter().map(|s| s.2).collect();
    ports.dedup();
    assert_eq!(ports.len(), 3, "{spans:?}");
}

#[test]
fn cluster_key_is_served_by_its_node_and_moved_elsewhere() {
    let Some(cluster) = shared_cluster() else {
        return;
    };
    let prefix = unique_prefix("cluster");
    let keys: Vec<String> = (0..12).map(|i| format!("{prefix}key-{i}")).collect();
    let mut owners = std::collections::BTreeSet::new();
    for key in &keys {
        let slot = key_slot(key.as_bytes());
        let said = cluster.nodes()[0]
            .command(&["CLUSTER", "KEYSLOT", key])
            .unwrap();
        assert_eq!(said, Reply::Int(i64::from(slot)), "{key}");

        let owner = cluster.node_for_key(key.as_bytes());
        owners.insert(owner.port());
        assert_eq!(
            owner.command(&["SET", key, "v", "EX", "60"]).unwrap(),
            Reply::Status("OK".into())
        );
        assert_eq!(owner.command(&["GET", key]).unwrap(), bulk("v"));
        for other in cluster.nodes().iter().filter(|n| n.port() != owner.port()) {
            assert_eq!(
                other.command(&["GET", key]).unwrap(),
                Reply::Error(format!("MOVED {slot} 127.0.0.1:{}", owner.port()))
            );
        }
    }
    assert!(owners.len() > 1, "12 keys all on one node: {owners:?}");

    // Keys of one hash tag share a slot, so a multi-key command works.
    let (a, b) = (format!("{{{prefix}}}:a"), format!("{{{prefix}}}:b"));
    let owner = cluster.node_for_key(a.as_bytes());
    assert_eq!(owner.port(), cluster.node_for_key(b.as_bytes()).port());
    assert_eq!(
        owner.command(&["MSET", &a, "1", &b, "2"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        owner.command(&["MGET", &a, &b]).unwrap(),
        Reply::Array(vec![bulk("1"), bulk("2")])
    );
    owner.command(&["DEL", &a, &b]).unwrap();
}

#[test]
fn cluster_node_restarts_with_its_slots() {
    let Some(mut cluster) = cluster_or_skip() else {
        return;
    };
    let port = cluster.nodes()[1].port();
    cluster.node_mut(1).stop();
    TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    cluster.node_mut(1).restart();
    cluster.wait_until_ok();
    let key = b"restarted";
    let owner = cluster.node_for_key(key);
    assert_eq!(
        owner.command(&["SET", "restarted", "1"]).unwrap(),
        Reply::Status("OK".into())
    );
}

#[test]
fn slot_function_matches_redis() {
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(key_slot(b"foo"), 12182);
    assert_eq!(
        key_slot(b"{user1000}.following"),
        key_slot(b"{user1000}.followers")
    );
    assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    // An empty tag does not count: the whole key is hashed.
    assert_eq!(
        key_slot(b"foo{}{bar}"),
        crc16(b"foo{}{bar}") % CLUSTER_SLOTS
    );
    assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
}

#[test]
fn missing_redis_skips_locally_and_fails_in_ci() {
    let err = find_tools(Some("".into())).unwrap_err();
    assert_eq!(err, "redis-server and redis-cli not on PATH");
    assert!(find_tools(None).is_err());
    let empty = std::env::temp_dir();
    assert!(find_tools(Some(empty.into_os_string())).is_err());

    assert_eq!(
        skip_message("redis-cli not on PATH", "store::hits"),
        "SKIP: redis-server not found (redis-cli not on PATH; `make redis` installs it): store::hits"
    );
    let ci = std::panic::catch_unwind(|| skip_or_fail::<()>("redis-server not on PATH", true));
    let message = ci.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("redis-server not found") && message.contains("CI=true"),
        "{message}"
    );
}

/// Run by `killing_the_test_process_leaves_no_redis_server` in a child copy
/// of this binary (and a no-op otherwise): starts shared and fresh servers and
/// a cluster, prints their pids, ports and directories, then waits to be
/// killed.
#[test]
fn orphan_probe() {
    if std::env::var_os("BASTION_REDIS_ORPHAN_PROBE").is_none() {
        return;
    }
    let shared = shared_server().expect("redis-server");
    let fresh = server_or_skip().expect("redis-server");
    let cluster = shared_cluster().expect("redis-server");
    let servers = [shared, &fresh].into_iter().chain(cluster.nodes());
    let mut line = String::from("\nPROBE");
    for s in servers {
        line.push_str(&format!(
            " {}:{}:{}",
            s.pid().unwrap(),
            s.port(),
            s.dir().display()
        ));
    }
    let mut out = io::stdout();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
    // Until the parent test kills this process, or itself dies (end of file).
    let _ = io::stdin().read_to_end(&mut Vec::new());
}

fn process_exists(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn killing_the_test_process_leaves_no_redis_server() {
    if !available_or_skip() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "orphan_probe",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("BASTION_REDIS_ORPHAN_PROBE", "1")
        .stdin(Stdio::piped()) // held open until the kill: the probe's lifeline
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("PROBE") {
        line.clear();
        assert_ne!(
            reader.read_line(&mut line).unwrap(),
            0,
            "the probe ended without reporting"
        );
    }
    let servers: Vec<(u32, u16, String)> = line
        .split_whitespace()
        .skip(1)
        .map(|s| {
            let mut parts = s.splitn(3, ':');
            let pid = parts.next().unwrap().parse().unwrap();
            let port = parts.next().unwrap().parse().unwrap();
            (pid, port, parts.next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(servers.len(), 5, "{line}");
    for (pid, port, _) in &servers {
        assert!(
            process_exists(*pid),
            "redis-server {pid} should run before the kill"
        );
        TcpStream::connect(("127.0.0.1", *port)).unwrap();
    }

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit, nothing runs
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    for (pid, port, dir) in &servers {
        while process_exists(*pid) || std::path::Path::new(dir).exists() {
            assert!(
                Instant::now() < deadline,
                "redis-server {pid} (port {port}, {dir}) outlived its test process"
            );
            thread::sleep(Duration::from_millis(20));
        }
        TcpStream::connect(("127.0.0.1", *port)).unwrap_err();
    }
}
