//! `Store` (core `store` module): where stateful components keep their state,
//! this process's memory or Redis / Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use bastion_core::clock::SharedClock;
use bastion_core::store::{MemoryOptions, RedisOptions, Store as CoreStore};
use napi::bindgen_prelude::{ClassInstance, PromiseRaw, Unknown, ValueType};
use napi::Env;
use napi_derive::napi;

use crate::clock::ManualClock;
use crate::errors::{self, arg, invalid_argument, options_arg, promise, Result};

/// The clock argument: a `ManualClock`, or nothing for the system clock.
pub fn clock_arg(value: Unknown<'_>) -> bastion_core::Result<Option<SharedClock>> {
    match value.get_type().map_err(errors::from_napi)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => {
            let c: ClassInstance<ManualClock> = arg(value, "clock", "a ManualClock")?;
            Ok(Some(Arc::new(c.inner.clone())))
        }
    }
}

/// Options of a `Store`.
#[napi(object, object_to_js = false)]
pub struct StoreOptions {
    /// The bound on one Redis operation, in milliseconds (default 50).
    pub timeout_ms: Option<f64>,
    /// The bound on making a connection, in milliseconds (default 2000).
    pub connect_timeout_ms: Option<f64>,
    /// Prepended to every Redis key (default `"bastion:"`).
    pub prefix: Option<String>,
    /// The most keys a memory store holds (default 1,000,000).
    pub max_keys: Option<u32>,
}

fn millis(v: Option<f64>, default: u64, name: &str) -> bastion_core::Result<Duration> {
    match v {
        None => Ok(Duration::from_millis(default)),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms <= 3_600_000.0 => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(_) => Err(invalid_argument(format!(
            "{name} must be a positive number of milliseconds (at most one hour)"
        ))),
    }
}

/// Where token families, revocations (and later rate limits, lockouts,
/// breakers, leases) are kept.
///
/// `new Store()` or `new Store('memory://')` is this process's memory:
/// nothing to run, state lost when the process ends. `new
/// Store('redis://host:6379/0')` is one Redis server and `new
/// Store('redis+cluster://h1:7000,h2:7001')` a Redis Cluster: every process
/// pointed at it shares one state, whatever its language. Each decision is one
/// atomic round trip bounded by `timeoutMs` (default 50); when Redis cannot
/// answer in time the call rejects with `code: 'STORE_UNAVAILABLE'` and each
/// component applies its outage policy. `clock` (a `ManualClock`) replaces the
/// store's time in tests (Redis `TIME` otherwise).
#[napi]
pub struct Store {
    pub(crate) inner: CoreStore,
}

#[napi]
impl Store {
    #[napi(
        constructor,
        ts_args_type = "url?: string | null, options?: StoreOptions | null, clock?: ManualClock | null"
    )]
    pub fn new(env: &Env, url: Unknown, options: Unknown, clock: Unknown) -> Result<Self> {
        errors::guard(|| {
            let url: Option<String> = arg(url, "url", "a string")?;
            let o: Option<StoreOptions> = options_arg(options, "options", "an options object")?;
            let clock = clock_arg(clock)?;
            let url = url.unwrap_or_default();
            let url = url.trim();
            let o = o.unwrap_or(StoreOptions {
                timeout_ms: None,
                connect_timeout_ms: None,
                prefix: None,
                max_keys: None,
            });
            let inner = if url.is_empty() || url == "memory://" {
                let max_keys = o.max_keys.unwrap_or(1_000_000) as usize;
                if max_keys == 0 {
                    return Err(invalid_argument("maxKeys must be positive"));
                }
                CoreStore::memory(MemoryOptions {
                    max_keys,
                    clock: clock.unwrap_or_else(bastion_core::clock::system),
                    ..MemoryOptions::default()
                })
            } else {
                CoreStore::redis(
                    url,
                    RedisOptions {
                        timeout: millis(o.timeout_ms, 50, "timeoutMs")?,
                        connect_timeout: millis(o.connect_timeout_ms, 2000, "connectTimeoutMs")?,
                        prefix: o.prefix.unwrap_or_else(|| "bastion:".to_owned()),
                        clock,
                    },
                )?
            };
            Ok(Self { inner })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// `"memory"`, `"redis"` or `"redis-cluster"`.
    #[napi(getter)]
    pub fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The bound on one Redis operation, in milliseconds (0 for memory).
    #[napi(getter)]
    pub fn timeout_ms(&self) -> f64 {
        self.inner.timeout().as_secs_f64() * 1000.0
    }

    /// One round trip to the store (`PING`): resolves to its duration in
    /// milliseconds (0 for memory); rejects with `STORE_UNAVAILABLE` when Redis
    /// cannot answer within the timeout.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn ping<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, f64>> {
        let store = self.inner.clone();
        promise(env, async move { store.ping_async().await }, |_, d| {
            Ok(d.as_secs_f64() * 1000.0)
        })
    }

    /// A description without credentials.
    #[napi(js_name = "toString")]
    pub fn describe(&self) -> String {
        format!("Store({:?})", self.inner)
    }
}
