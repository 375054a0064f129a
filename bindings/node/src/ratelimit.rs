//! The rate limiter (core `ratelimit` module) for `lib/ratelimit.js`, which
//! wraps these functions as the `RateLimiter` class and its `Decision`s.
//!
//! Built for the memory store's speed: a decision there is one critical
//! section of a few hundred nanoseconds, so the glue around it must cost
//! less than that. A napi-rs class costs several hundred nanoseconds per
//! method call (borrow tracking) and more per instance returned (wrap,
//! finalizer); here the limiter is an external handle passed to plain
//! functions, and a decision travels as a *snapshot* of numbers written into
//! the caller's `Float64Array` (or, from a Promise, an array), from which the
//! JavaScript `Decision` copies its fields. Its `headers()` and
//! `retryAfterHeader()` hand the snapshot back here, where it becomes the
//! core's `Decision` again: every rule stays in the core.
//!
//! Snapshot layout (`rateTable` is the limiter's rates, then the local
//! fallback's):
//!
//! | index | value |
//! | --- | --- |
//! | 0 | allowed (1 or 0) |
//! | 1 | limit |
//! | 2 | remaining |
//! | 3 | resetAfter (s) |
//! | 4 | retryAfter (s) |
//! | 5 | deniedBy (-1: none) |
//! | 6 | the binding limit's rate, as an index into `rateTable` |
//! | 7 | fallback: -1 none, else an index into [`FALLBACKS`] |
//! | 8 | decidedAt (s since the epoch) |
//! | 9 | n, the number of limits |
//! | 10 + 5i .. | limit i: rate index, allowed, remaining, resetAfter, retryAfter |

use std::sync::Arc;

use bastion_core::ratelimit::{
    parse_rates, rate::MAX_LIMITS, Algorithm, Decision, LimitStatus, LimiterOptions, Rate,
    RateLimiter as CoreLimiter,
};
use bastion_core::store::{OutagePolicy, Store as CoreStore};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{
    ClassInstance, External, JsObjectValue, Object, PromiseRaw, Unknown, ValueType,
};
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, invalid_argument, options_arg, promise, whole, Result};
use crate::events;
use crate::store::Store;

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Snapshot fields before the limits.
const HEAD: usize = 10;

/// Snapshot fields per limit.
const PER_LIMIT: usize = 5;

/// The outage policies, in the order of snapshot field 7.
const FALLBACKS: [OutagePolicy; 3] = [
    OutagePolicy::FailClosed,
    OutagePolicy::FailOpen,
    OutagePolicy::Local,
];

/// The verbs of [`rate_limiter_run_sync`] and [`rate_limiter_run`], by number.
#[derive(Clone, Copy)]
enum Verb {
    Check,
    Hit,
    Peek,
    Refund,
    Reset,
}

impl Verb {
    /// The verb numbered `value` (0 check, 1 hit, 2 peek, 3 refund, 4 reset).
    fn from_arg(value: Unknown<'_>) -> CoreResult<Self> {
        const VERBS: [Verb; 5] = [
            Verb::Check,
            Verb::Hit,
            Verb::Peek,
            Verb::Refund,
            Verb::Reset,
        ];
        let code: f64 = arg(value, "verb", "a verb number")?;
        Ok(VERBS[whole(code, "verb", (VERBS.len() - 1) as f64)? as usize])
    }

    fn name(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Hit => "hit",
            Self::Peek => "peek",
            Self::Refund => "refund",
            Self::Reset => "reset",
        }
    }

    /// Runs on the calling thread: a decision, or `None` for an update.
    fn run(self, l: &CoreLimiter, key: &str, cost: u64) -> CoreResult<Option<Decision>> {
        match self {
            Self::Check => l.check(key, cost).map(Some),
            Self::Hit => l.hit(key, cost).map(Some),
            Self::Peek => l.peek(key, cost).map(Some),
            Self::Refund => l.refund(key, cost).map(|()| None),
            Self::Reset => l.reset(key).map(|()| None),
        }
    }

    /// [`Verb::run`] from async code.
    async fn run_async(
        self,
        l: &CoreLimiter,
        key: &str,
        cost: u64,
    ) -> CoreResult<Option<Decision>> {
        match self {
            Self::Check => l.check_async(key, cost).await.map(Some),
            Self::Hit => l.hit_async(key, cost).await.map(Some),
            Self::Peek => l.peek_async(key, cost).await.map(Some),
            Self::Refund => l.refund_async(key, cost).await.map(|()| None),
            Self::Reset => l.reset_async(key).await.map(|()| None),
        }
    }
}

/// A limiter and the table its snapshots name rates by.
pub struct Limiter {
    inner: Arc<CoreLimiter>,
    table: Vec<Rate>,
}

/// Writes `d` into `out` (see the module docs), naming rates by their index
/// in `table`; returns the length written.
fn write(table: &[Rate], d: &Decision, out: &mut [f64]) -> CoreResult<usize> {
    let rate_index = |rate: Rate| table.iter().position(|r| *r == rate).unwrap_or(0) as f64;
    let len = HEAD + PER_LIMIT * d.limits.len();
    let Some(out) = out.get_mut(..len) else {
        return Err(invalid_argument(format!(
            "out must hold at least {len} numbers"
        )));
    };
    out[0] = f64::from(u8::from(d.allowed));
    out[1] = d.limit as f64;
    out[2] = d.remaining as f64;
    out[3] = d.reset_after;
    out[4] = d.retry_after;
    out[5] = d.denied_by.map_or(-1.0, |i| i as f64);
    out[6] = rate_index(d.rate);
    out[7] = d.fallback.map_or(-1.0, |p| {
        FALLBACKS.iter().position(|f| *f == p).unwrap_or(0) as f64
    });
    out[8] = d.decided_at;
    out[9] = d.limits.len() as f64;
    for (l, o) in d.limits.iter().zip(out[HEAD..].chunks_exact_mut(PER_LIMIT)) {
        o[0] = rate_index(l.rate);
        o[1] = f64::from(u8::from(l.allowed));
        o[2] = l.remaining as f64;
        o[3] = l.reset_after;
        o[4] = l.retry_after;
    }
    Ok(len)
}

impl Limiter {
    /// The core `Decision` a snapshot was written from (`INVALID_ARGUMENT`
    /// for anything else).
    fn read(&self, s: &[f64]) -> CoreResult<Decision> {
        let bad = || invalid_argument("not a rate-limit decision snapshot");
        let count = |v: f64| whole(v, "snapshot", MAX_SAFE_INTEGER).map_err(|_| bad());
        let index = |v: f64| count(v).and_then(|i| usize::try_from(i).map_err(|_| bad()));
        let optional = |v: f64| {
            if v == -1.0 {
                Ok(None)
            } else {
                index(v).map(Some)
            }
        };
        let rate = |v: f64| self.table.get(index(v)?).copied().ok_or_else(bad);
        if s.len() < HEAD {
            return Err(bad());
        }
        let n = index(s[9])?;
        if n > MAX_LIMITS || s.len() != HEAD + PER_LIMIT * n {
            return Err(bad());
        }
        let limits = s[HEAD..]
            .chunks_exact(PER_LIMIT)
            .map(|o| {
                Ok(LimitStatus {
                    rate: rate(o[0])?,
                    allowed: o[1] == 1.0,
                    remaining: count(o[2])?,
                    reset_after: o[3],
                    retry_after: o[4],
                })
            })
            .collect::<CoreResult<_>>()?;
        let denied_by = optional(s[5])?;
        if denied_by.is_some_and(|i| i >= n) {
            return Err(bad());
        }
        let fallback = match optional(s[7])? {
            None => None,
            Some(i) => Some(*FALLBACKS.get(i).ok_or_else(bad)?),
        };
        Ok(Decision {
            allowed: s[0] == 1.0,
            limit: count(s[1])?,
            remaining: count(s[2])?,
            reset_after: s[3],
            retry_after: s[4],
            denied_by,
            rate: rate(s[6])?,
            limits,
            fallback,
            policy: self.inner.options().name.as_str().into(),
            decided_at: s[8],
        })
    }
}

/// How a `RateLimiter` is set up (besides its store and event callback).
#[napi(object, object_to_js = false)]
pub struct RateLimiterOptions {
    /// The limiter's name: part of every store key (limiters of one name
    /// share state, from any language) and the policy name in the
    /// `RateLimit` headers. 1 to 64 letters, digits, `_`, `.` or `-`
    /// (default `"default"`).
    pub name: Option<String>,
    /// The algorithm of every limit (default `"sliding_window"`, the exact
    /// sliding window).
    #[napi(ts_type = "'sliding_window' | 'sliding_counter' | 'fixed_window' | 'gcra'")]
    pub algorithm: Option<String>,
    /// What a check does when the store cannot answer within its timeout
    /// (default `"local"`: a limiter in this process's memory).
    #[napi(ts_type = "'local' | 'fail_open' | 'fail_closed'")]
    pub outage_policy: Option<String>,
    /// The limits of the `"local"` fallback, as a rate string (default: the
    /// limiter's own, which then hold per process).
    pub local_rates: Option<String>,
}

/// What a limiter is, for its JavaScript wrapper.
#[napi(object, object_from_js = false)]
pub struct RateLimiterInfo {
    /// The limits, in canonical form (`["5/15m"]`).
    pub rates: Vec<String>,
    /// The rates snapshots name by index: the limits, then the local
    /// fallback's.
    pub rate_table: Vec<String>,
    /// The limiter's name.
    pub name: String,
    /// The algorithm's name.
    pub algorithm: String,
    /// The outage policy's name.
    pub outage_policy: String,
    /// The snapshot array length a decision may need.
    pub snapshot_length: u32,
    /// Whether the store is this process's memory (the `*Sync` verbs work).
    pub memory: bool,
    /// The outage policy names, in the order of snapshot field 7.
    pub fallbacks: Vec<String>,
}

/// The `cost` argument: a whole number of units, 1 when absent.
fn cost_arg(value: Unknown<'_>) -> CoreResult<u64> {
    match arg::<Option<f64>>(value, "cost", "a whole number of units")? {
        None => Ok(1),
        Some(c) => whole(c, "cost", MAX_SAFE_INTEGER),
    }
}

/// The limiter handle argument.
fn limiter_arg(value: Unknown<'_>) -> CoreResult<&'static Limiter> {
    arg::<&External<Limiter>>(value, "limiter", "a rate limiter handle").map(|e| &**e)
}

/// The verb, key and cost arguments.
fn verb_args(
    verb: Unknown<'_>,
    key: Unknown<'_>,
    cost: Unknown<'_>,
) -> CoreResult<(Verb, String, u64)> {
    let verb = Verb::from_arg(verb)?;
    let key: String = arg(key, "key", "a string")?;
    Ok((verb, key, cost_arg(cost)?))
}

/// A limiter of `rates` on `store` (default: a new memory store); `onEvent`
/// receives its events. `RateLimiter` in the package calls this.
#[napi(
    ts_args_type = "rates: string, options?: RateLimiterOptions | null, store?: Store | null, onEvent?: ((event: Record<string, string>) => void) | null",
    ts_return_type = "ExternalObject<'RateLimiter'>"
)]
pub fn rate_limiter_new(
    env: &Env,
    rates: Unknown,
    options: Unknown,
    store: Unknown,
    on_event: Unknown,
) -> Result<External<Limiter>> {
    errors::guard(|| {
        let rates: String = arg(rates, "rates", "a rate string such as \"100/minute\"")?;
        let o: Option<RateLimiterOptions> =
            options_arg(options, "options", "an object of limiter options")?;
        let store = match store.get_type().map_err(errors::from_napi)? {
            ValueType::Undefined | ValueType::Null => CoreStore::default(),
            _ => arg::<ClassInstance<Store>>(store, "store", "a Store")?
                .inner
                .clone(),
        };
        let mut lo = LimiterOptions::default();
        if let Some(o) = o {
            if let Some(name) = o.name {
                lo.name = name;
            }
            if let Some(a) = o.algorithm {
                lo.algorithm = Algorithm::parse(&a)?;
            }
            if let Some(p) = o.outage_policy {
                lo.outage_policy = OutagePolicy::parse(&p)?;
            }
            if let Some(r) = o.local_rates {
                lo.local_rates = Some(parse_rates(&r)?);
            }
        }
        let limiter = CoreLimiter::parse(store, &rates, lo)?;
        events::attach(limiter.listeners(), on_event)?;
        let mut table = limiter.rates().to_vec();
        table.extend(limiter.options().local_rates.iter().flatten());
        Ok(External::new(Limiter {
            inner: Arc::new(limiter),
            table,
        }))
    })
    .map_err(|e| errors::to_js(env, e))
}

/// The limiter's rates, name, algorithm, policy and snapshot table.
#[napi(ts_args_type = "limiter: ExternalObject<'RateLimiter'>")]
pub fn rate_limiter_info(env: &Env, limiter: Unknown) -> Result<RateLimiterInfo> {
    let limiter = errors::guard(|| limiter_arg(limiter)).map_err(|e| errors::to_js(env, e))?;
    let l = &limiter.inner;
    let text = |r: &[Rate]| r.iter().map(ToString::to_string).collect::<Vec<_>>();
    Ok(RateLimiterInfo {
        rates: text(l.rates()),
        rate_table: text(&limiter.table),
        name: l.options().name.clone(),
        algorithm: l.options().algorithm.name().to_owned(),
        outage_policy: l.options().outage_policy.name().to_owned(),
        snapshot_length: (HEAD + PER_LIMIT * limiter.table.len()) as u32,
        memory: l.store().as_memory().is_some(),
        fallbacks: FALLBACKS.iter().map(|p| p.name().to_owned()).collect(),
    })
}

/// Runs verb `verb` (0 check, 1 hit, 2 peek, 3 refund, 4 reset) on the
/// calling thread (the memory store only: on Redis it throws
/// `INVALID_ARGUMENT`), writes the decision's snapshot into `out` and returns
/// its length (0 for refund and reset).
#[napi(
    ts_args_type = "limiter: ExternalObject<'RateLimiter'>, verb: number, key: string, cost: number | undefined | null, out: Float64Array"
)]
pub fn rate_limiter_run_sync(
    env: &Env,
    limiter: Unknown,
    verb: Unknown,
    key: Unknown,
    cost: Unknown,
    out: Unknown,
) -> Result<u32> {
    errors::guard(|| {
        let limiter = limiter_arg(limiter)?;
        let (verb, key, cost) = verb_args(verb, key, cost)?;
        if limiter.inner.store().as_memory().is_none() {
            let name = verb.name();
            return Err(invalid_argument(format!(
                "{name}Sync needs the memory store (a Redis round trip would block the \
                 JavaScript thread): use {name}(), which returns a Promise"
            )));
        }
        let out: &mut [f64] = arg(out, "out", "a Float64Array")?;
        let needed = HEAD + PER_LIMIT * limiter.table.len();
        if out.len() < needed {
            return Err(invalid_argument(format!(
                "out must hold at least {needed} numbers"
            )));
        }
        match verb.run(&limiter.inner, &key, cost)? {
            Some(d) => write(&limiter.table, &d, out).map(|n| n as u32),
            None => Ok(0),
        }
    })
    .map_err(|e| errors::to_js(env, e))
}

/// Runs verb `verb` on the core's I/O runtime; resolves to the decision's
/// snapshot (empty for refund and reset).
#[napi(
    ts_args_type = "limiter: ExternalObject<'RateLimiter'>, verb: number, key: string, cost?: number | null",
    ts_return_type = "Promise<number[]>"
)]
pub fn rate_limiter_run<'env>(
    env: &'env Env,
    limiter: Unknown,
    verb: Unknown,
    key: Unknown,
    cost: Unknown,
) -> Result<PromiseRaw<'env, Vec<f64>>> {
    let (limiter, (verb, key, cost)) =
        errors::guard(|| Ok((limiter_arg(limiter)?, verb_args(verb, key, cost)?)))
            .map_err(|e| errors::to_js(env, e))?;
    let l = Arc::clone(&limiter.inner);
    let table = limiter.table.clone();
    promise(
        env,
        async move { verb.run_async(&l, &key, cost).await },
        move |_, d| {
            let Some(d) = d else {
                return Ok(Vec::new());
            };
            let mut out = vec![0.0; HEAD + PER_LIMIT * d.limits.len()];
            write(&table, &d, &mut out)
                .map_err(|e| napi::Error::from_reason(e.message().to_owned()))?;
            Ok(out)
        },
    )
}

/// The decision of a snapshot argument.
fn read_args(limiter: Unknown<'_>, snapshot: Unknown<'_>) -> CoreResult<Decision> {
    let snapshot: Vec<f64> = arg(snapshot, "snapshot", "an array of numbers")?;
    limiter_arg(limiter)?.read(&snapshot)
}

/// The response headers of a decision snapshot, in a fixed order.
#[napi(
    ts_args_type = "limiter: ExternalObject<'RateLimiter'>, snapshot: number[]",
    ts_return_type = "Record<string, string>"
)]
pub fn rate_limit_headers<'env>(
    env: &'env Env,
    limiter: Unknown,
    snapshot: Unknown,
) -> Result<Object<'env>> {
    let d = errors::guard(|| read_args(limiter, snapshot)).map_err(|e| errors::to_js(env, e))?;
    let headers = (|| {
        let mut obj = Object::new(env)?;
        for (name, value) in d.headers() {
            obj.set_named_property(name, value)?;
        }
        Ok(obj)
    })();
    headers.map_err(|e: napi::Error| napi::Error::new(e.status.into(), e.reason))
}

/// The 429 answer to a denied decision snapshot: its rate-limit headers,
/// `Retry-After` and a problem+json body naming the violated policy. Throws
/// `INVALID_ARGUMENT` for an admitted decision.
#[napi(ts_args_type = "limiter: ExternalObject<'RateLimiter'>, snapshot: number[]")]
pub fn rate_limit_problem(
    env: &Env,
    limiter: Unknown,
    snapshot: Unknown,
) -> Result<crate::http::HttpAnswer> {
    errors::guard(|| bastion_core::http::rate_limited(&read_args(limiter, snapshot)?))
        .map(crate::http::HttpAnswer::from)
        .map_err(|e| errors::to_js(env, e))
}

/// `Retry-After` in whole seconds for a denied decision snapshot, `null`
/// when admitted.
#[napi(ts_args_type = "limiter: ExternalObject<'RateLimiter'>, snapshot: number[]")]
pub fn rate_limit_retry_after_header(
    env: &Env,
    limiter: Unknown,
    snapshot: Unknown,
) -> Result<Option<f64>> {
    errors::guard(|| read_args(limiter, snapshot))
        .map(|d| d.retry_after_header().map(|s| s as f64))
        .map_err(|e| errors::to_js(env, e))
}

/// `checkSync` with a cost of 1, the hot path: like [`rate_limiter_run_sync`]
/// with verb 0 and no cost, with fewer argument conversions.
#[napi(ts_args_type = "limiter: ExternalObject<'RateLimiter'>, key: string, out: Float64Array")]
pub fn rate_limiter_check_sync(
    env: &Env,
    limiter: &External<Limiter>,
    key: Unknown,
    out: Unknown,
) -> Result<u32> {
    errors::guard(|| {
        let key: String = arg(key, "key", "a string")?;
        let limiter: &Limiter = limiter;
        let out: &mut [f64] = arg(out, "out", "a Float64Array")?;
        if limiter.inner.store().as_memory().is_none() {
            return Err(invalid_argument(
                "checkSync needs the memory store (a Redis round trip would block the \
                 JavaScript thread): use check(), which returns a Promise",
            ));
        }
        let d = limiter.inner.check(&key, 1)?;
        write(&limiter.table, &d, out).map(|n| n as u32)
    })
    .map_err(|e| errors::to_js(env, e))
}
