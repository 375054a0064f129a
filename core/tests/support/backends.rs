//! The three backends every store suite runs its cases on: the memory store,
//! a real standalone Redis and a real three-master Redis Cluster (the shared
//! servers of [`super::redis`]), with time from a `ManualClock` on all three.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use super::redis::{shared_cluster, shared_server};
use bastion_core::clock::ManualClock;
use bastion_core::store::{MemoryOptions, RedisOptions, Store};
use std::sync::Arc;
use std::time::Duration;

/// Where a case keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
    Cluster,
}

/// Every backend, in the order the suites run them.
pub const ALL: [Backend; 3] = [Backend::Memory, Backend::Redis, Backend::Cluster];

/// Options for a Redis store under `prefix`, timed by `clock` (Redis `TIME`
/// for `None`). The operation bound is generous for debug builds on a loaded
/// two-core machine; outage tests use the default bound instead.
pub fn redis_options(clock: Option<&ManualClock>, prefix: &str) -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_millis(2_000),
        prefix: prefix.to_owned(),
        clock: clock.map(|c| Arc::new(c.clone()) as _),
        ..RedisOptions::default()
    }
}

/// The `redis+cluster://` URL of the shared cluster, or None when Redis is
/// unavailable locally (the harness prints SKIP; in CI it fails instead).
pub fn cluster_url() -> Option<String> {
    let cluster = shared_cluster()?;
    let hosts: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.trim_start_matches("redis://").to_owned())
        .collect();
    Some(format!("redis+cluster://{}", hosts.join(",")))
}

/// A store of `backend` driven by `clock`, its Redis keys under `prefix`;
/// None when Redis is unavailable locally.
pub fn store(backend: Backend, clock: &ManualClock, prefix: &str) -> Option<Store> {
    match backend {
        Backend::Memory => Some(Store::memory(MemoryOptions {
            clock: Arc::new(clock.clone()),
            ..MemoryOptions::default()
        })),
        Backend::Redis => {
            let server = shared_server()?;
            Some(Store::redis(&server.url(), redis_options(Some(clock), prefix)).unwrap())
        }
        Backend::Cluster => {
            Some(Store::redis(&cluster_url()?, redis_options(Some(clock), prefix)).unwrap())
        }
    }
}
