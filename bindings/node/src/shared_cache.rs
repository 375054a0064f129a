//! `NativeSharedCache` (core: `bastion_core::singleflight::shared`): the
//! native half of `node/lib/cache.js`. Values cross as Buffers (the
//! JavaScript side serializes); a caller's turn to compute is held here
//! under a number. Every rule (coalescing, leases, fencing, freshness,
//! outage fallback) is the core's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bastion_core::singleflight::cache::{Answer, CacheOptions};
use bastion_core::singleflight::shared::{
    computation_failed, Fill, SharedCache as CoreCache, SharedCacheOptions as CoreOptions, Step,
};
use bastion_core::store::Store as CoreStore;
use napi::bindgen_prelude::{Buffer, ClassInstance, Either, PromiseRaw, Unknown, ValueType};
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, invalid_argument, options_arg, promise, text, Result};
use crate::store::Store;
use crate::timespan::setting;

/// Options of a `SharedCache`: durations in seconds or spans such as `"30m"`.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct SharedCacheOptions {
    /// Keys are `namespace:key` (default `"cache"`).
    pub namespace: Option<String>,
    /// How long a value is fresh (default 60 s).
    #[napi(ts_type = "number | string")]
    pub ttl: Option<Either<f64, String>>,
    /// How long a stale value is served while one caller recomputes it.
    #[napi(ts_type = "number | string")]
    pub stale_while_revalidate: Option<Either<f64, String>>,
    /// How long a stale value is served when the recomputation fails.
    #[napi(ts_type = "number | string")]
    pub stale_if_error: Option<Either<f64, String>>,
    /// How long "nothing found" (`null`/`undefined`) is kept (default: not kept).
    #[napi(ts_type = "number | string")]
    pub negative_ttl: Option<Either<f64, String>>,
    /// XFetch's beta (0: no early refresh; default 1).
    pub xfetch_beta: Option<f64>,
    /// Bound of the in-process tier used while Redis is down (default 10000).
    pub max_entries: Option<u32>,
    /// The lease of a computation, renewed at a third of it (default 30 s).
    #[napi(ts_type = "number | string")]
    pub lease_ttl: Option<Either<f64, String>>,
    /// The longest wait for another process's computation (default 15 s).
    #[napi(ts_type = "number | string")]
    pub wait_timeout: Option<Either<f64, String>>,
    /// The largest value stored, in bytes (default 1 MiB).
    pub max_value_bytes: Option<u32>,
    /// How long a value read from Redis is answered from this process
    /// without a round trip (default 1 s; 0: off; never past its freshness).
    #[napi(ts_type = "number | string")]
    pub local_ttl: Option<Either<f64, String>>,
    /// Fixes XFetch's random draws (tests).
    pub seed: Option<f64>,
}

fn core_options(o: SharedCacheOptions) -> bastion_core::Result<CoreOptions> {
    let d = CoreOptions::default();
    let span = |v: Option<Either<f64, String>>, name: &str, default| {
        v.map_or(Ok(default), |v| setting(v, name))
    };
    Ok(CoreOptions {
        cache: CacheOptions {
            ttl: span(o.ttl, "ttl", d.cache.ttl)?,
            stale_while_revalidate: span(
                o.stale_while_revalidate,
                "staleWhileRevalidate",
                d.cache.stale_while_revalidate,
            )?,
            stale_if_error: span(o.stale_if_error, "staleIfError", d.cache.stale_if_error)?,
            negative_ttl: o
                .negative_ttl
                .map(|v| setting(v, "negativeTtl"))
                .transpose()?,
            xfetch_beta: o.xfetch_beta.unwrap_or(d.cache.xfetch_beta),
            max_entries: o.max_entries.map_or(d.cache.max_entries, |n| n as usize),
        },
        namespace: o.namespace.unwrap_or(d.namespace),
        lease_ttl: span(o.lease_ttl, "leaseTtl", d.lease_ttl)?,
        wait_timeout: span(o.wait_timeout, "waitTimeout", d.wait_timeout)?,
        max_value_bytes: o.max_value_bytes.map_or(d.max_value_bytes, |n| n as usize),
        local_ttl: span(o.local_ttl, "localTtl", d.local_ttl)?,
    })
}

/// A step of `get`: `kind` is `"value"` (with `value` and `source`) or
/// `"compute"` (with `fill`, the number to finish).
#[napi(object)]
pub struct CacheStep {
    pub kind: String,
    pub value: Option<Buffer>,
    pub source: Option<String>,
    pub fill: Option<f64>,
}

fn ready(a: Answer<Vec<u8>>) -> CacheStep {
    CacheStep {
        kind: "value".to_owned(),
        value: a.value.map(Buffer::from),
        source: Some(a.source.name().to_owned()),
        fill: None,
    }
}

/// The cache tier shared through a store (use `SharedCache` from the
/// package, which adds `get(key, fn)` and serialization).
#[napi(js_name = "NativeSharedCache")]
pub struct NativeSharedCache {
    inner: CoreCache,
    steps: Arc<Steps>,
}

/// Where a caller's turn to compute is held, under a number.
struct Steps {
    fills: Mutex<HashMap<u64, Fill>>,
    next: AtomicU64,
}

impl Steps {
    fn step(&self, step: Step) -> CacheStep {
        match step {
            Step::Ready(a) => ready(a),
            Step::Compute(f) => {
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                self.fills
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, *f);
                CacheStep {
                    kind: "compute".to_owned(),
                    value: None,
                    source: None,
                    fill: Some(id as f64),
                }
            }
        }
    }
}

impl NativeSharedCache {
    fn take(&self, id: f64) -> bastion_core::Result<Fill> {
        self.steps
            .fills
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(id as u64))
            .ok_or_else(|| invalid_argument("not a running computation of this cache"))
    }
}

#[napi]
impl NativeSharedCache {
    #[napi(
        constructor,
        ts_args_type = "store?: Store | null, options?: SharedCacheOptions | null, onEvent?: ((event: Record<string, string>) => void) | null"
    )]
    pub fn new(env: &Env, store: Unknown, options: Unknown, on_event: Unknown) -> Result<Self> {
        errors::guard(|| {
            let o: SharedCacheOptions =
                options_arg(options, "options", "an object of cache options")?.unwrap_or_default();
            let seed = o.seed.map(|s| s as u64);
            let options = core_options(o)?;
            let store = match store.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => CoreStore::default(),
                _ => {
                    let s: ClassInstance<Store> = arg(store, "store", "a Store")?;
                    s.inner.clone()
                }
            };
            let inner = CoreCache::new(store, options, seed)?;
            crate::events::attach(inner.listeners(), on_event)?;
            Ok(Self {
                inner,
                steps: Arc::new(Steps {
                    fills: Mutex::default(),
                    next: AtomicU64::new(1),
                }),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The value of `key` from the local tier at once, or a promise of the
    /// value from the store or of this caller's turn to compute it (while
    /// another caller of any process computes, it waits).
    #[napi(
        ts_args_type = "key: string",
        ts_return_type = "CacheStep | Promise<CacheStep>"
    )]
    pub fn begin<'env>(
        &self,
        env: &'env Env,
        key: Unknown,
    ) -> Result<Either<CacheStep, PromiseRaw<'env, CacheStep>>> {
        let key = text(env, key, "key")?;
        let pending = match self.inner.begin_now(&key) {
            Ok(Ok(step)) => return Ok(Either::A(self.steps.step(step))),
            Ok(Err(pending)) => pending,
            Err(e) => return Err(errors::to_js(env, e)),
        };
        let me = Arc::clone(&self.steps);
        promise(env, pending.run(), move |_, step| Ok(me.step(step))).map(Either::B)
    }

    /// Stores the computed `value` (`null`: nothing found) while the
    /// computation's fence is the key's latest, and hands it to the callers
    /// waiting.
    #[napi(
        ts_args_type = "fill: number, value: Buffer | null",
        ts_return_type = "Promise<CacheStep>"
    )]
    pub fn finish<'env>(
        &self,
        env: &'env Env,
        fill: f64,
        value: Option<Buffer>,
    ) -> Result<PromiseRaw<'env, CacheStep>> {
        let f = self.take(fill).map_err(|e| errors::to_js(env, e))?;
        let value = value.map(|b| b.to_vec());
        promise(
            env,
            async move { f.finish_async(Ok(value)).await },
            |_, a| Ok(ready(a)),
        )
    }

    /// The computation threw (`errorName` is its name; `code` and
    /// `retryAfter` a bastion error's, passed on to the callers waiting when
    /// it is an outage): nothing is stored, the lease is released. Resolves
    /// to a stale value when stale-if-error allows one, else `null`.
    #[napi(
        ts_args_type = "fill: number, errorName: string, code?: string | null, retryAfter?: number | null",
        ts_return_type = "Promise<CacheStep | null>"
    )]
    pub fn fail<'env>(
        &self,
        env: &'env Env,
        fill: f64,
        error_name: Unknown,
        code: Unknown,
        retry_after: Unknown,
    ) -> Result<PromiseRaw<'env, Option<CacheStep>>> {
        let error_name = text(env, error_name, "errorName")?;
        let code: Option<String> =
            errors::arg(code, "code", "a string").map_err(|e| errors::to_js(env, e))?;
        let retry_after: Option<f64> = errors::arg(retry_after, "retryAfter", "a number")
            .map_err(|e| errors::to_js(env, e))?;
        let f = self.take(fill).map_err(|e| errors::to_js(env, e))?;
        let e = computation_failed(&error_name, code.as_deref(), retry_after);
        promise(
            env,
            async move { Ok(f.finish_async(Err(e)).await) },
            |_, r| Ok(r.ok().map(ready)),
        )
    }

    /// Gives a computation up without an outcome: a waiting caller takes over.
    #[napi]
    pub fn abandon(&self, env: &Env, fill: f64) -> Result<()> {
        // Dropping the fill releases its lease (core code).
        errors::guarded(env, || drop(self.take(fill)))
    }

    /// Removes `key`'s value (the next caller computes it).
    #[napi(ts_args_type = "key: string", ts_return_type = "Promise<void>")]
    pub fn invalidate<'env>(&self, env: &'env Env, key: Unknown) -> Result<PromiseRaw<'env, ()>> {
        let key = text(env, key, "key")?;
        let c = self.inner.clone();
        promise(
            env,
            async move { c.invalidate_async(&key).await },
            |_, ()| Ok(()),
        )
    }

    /// Resolves to true once this process receives the store's broadcasts
    /// (Redis; at once for memory), false after `timeoutMs`.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn ready<'env>(&self, env: &'env Env, timeout_ms: f64) -> Result<PromiseRaw<'env, bool>> {
        let c = self.inner.clone();
        let limit = std::time::Duration::from_millis(timeout_ms.clamp(0.0, 3_600_000.0) as u64);
        promise(env, async move { Ok(c.ready(limit).await) }, |_, b| Ok(b))
    }

    /// How many callers of this process wait for `key`'s computation now.
    #[napi(ts_args_type = "key: string")]
    pub fn waiting(&self, env: &Env, key: Unknown) -> Result<u32> {
        let key = text(env, key, "key")?;
        errors::guarded(env, || self.inner.waiting(&key) as u32)
    }

    /// How many values the local tier holds now.
    #[napi]
    pub fn local_entries(&self, env: &Env) -> Result<u32> {
        errors::guarded(env, || {
            u32::try_from(self.inner.local_entries()).unwrap_or(u32::MAX)
        })
    }

    /// Counts since the cache was made.
    #[napi(ts_return_type = "Record<string, number>")]
    pub fn stats(&self, env: &Env) -> Result<HashMap<String, f64>> {
        let s = errors::guarded(env, || self.inner.stats())?;
        Ok([
            ("hits", s.hits),
            ("localHits", s.local_hits),
            ("misses", s.misses),
            ("computations", s.computations),
            ("earlyRefreshes", s.early_refreshes),
            ("staleServed", s.stale_served),
            ("fillsRefused", s.fills_refused),
            ("localFallbacks", s.local_fallbacks),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v as f64))
        .collect())
    }
}
