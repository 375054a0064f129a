//! `Lockout` (core `lockout` module): account lockout after failed logins.
//! Promise methods (`check`, `recordFailure`, `recordSuccess`, `unlock`,
//! `locked`, `login`) work on every store and never block the JavaScript
//! thread; their `*Sync` twins answer at once on a memory store (microseconds
//! of work) and refuse a Redis store with `INVALID_ARGUMENT`. Every rule is
//! the core's; no password appears in an error or an event.

use std::sync::Arc;

use bastion_core::lockout::{
    Attempt as CoreAttempt, LockedEntry as CoreEntry, Lockout as CoreLockout,
    LockoutOptions as CoreOptions, LockoutState as CoreState, Param, Progressive,
};
use bastion_core::store::{MemoryOptions, OutagePolicy, Store as CoreStore};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{ClassInstance, Either, PromiseRaw, Unknown, ValueType};
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, bytes_arg, invalid_argument, options_arg, promise, Result};
use crate::store::{clock_arg, Store};
use crate::timespan::setting as span;

/// A progressive cool-off: each lock within `memory` of the previous one lasts
/// `factor` times longer, up to `maxCooloff`.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ProgressiveOptions {
    /// Growth per lock (default 2).
    pub factor: Option<f64>,
    /// The longest lock: seconds or a span such as `"1d"` (default one day).
    #[napi(ts_type = "number | string")]
    pub max_cooloff: Option<Either<f64, String>>,
    /// How long locks are remembered after they end (default one day).
    #[napi(ts_type = "number | string")]
    pub memory: Option<Either<f64, String>>,
}

/// How a `Lockout` counts and locks (django-axes' settings).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct LockoutOptions {
    /// Failures that lock a key (default 10; axes' `AXES_FAILURE_LIMIT`).
    pub failure_limit: Option<f64>,
    /// How long failures are remembered after the last one, and how long a
    /// lock lasts: seconds or a span such as `"30m"` (default one hour).
    #[napi(ts_type = "number | string")]
    pub cooloff: Option<Either<f64, String>>,
    /// The parameter groups, axes' `AXES_LOCKOUT_PARAMETERS`: each entry a
    /// name or a list of names (`'username'`, `'ip_address'`, `'user_agent'`);
    /// default `[['username'], ['ip_address']]`.
    #[napi(
        ts_type = "Array<'username' | 'ip_address' | 'user_agent' | Array<'username' | 'ip_address' | 'user_agent'>>"
    )]
    pub parameters: Option<Vec<Either<String, Vec<String>>>>,
    /// A success resets the groups containing `username` (default true).
    pub reset_on_success: Option<bool>,
    /// `true` (the defaults) or the settings of a progressive cool-off.
    #[napi(ts_type = "boolean | ProgressiveOptions")]
    pub progressive: Option<Either<bool, ProgressiveOptions>>,
    /// Counters stop growing here (default 1000).
    pub max_failures: Option<f64>,
    /// A failure during a lock restarts its cool-off (default true).
    pub extend_on_failure: Option<bool>,
    /// `'local'` (default), `'fail_closed'` or `'fail_open'`.
    #[napi(ts_type = "'local' | 'fail_closed' | 'fail_open'")]
    pub outage_policy: Option<String>,
    /// The lockout's name, `[A-Za-z0-9_.-]{1,64}` (default `'login'`).
    pub name: Option<String>,
}

/// One attempt's identifiers (never a password).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct LockoutAttempt {
    /// The submitted username (normalised: stripped, lower-cased).
    pub username: Option<String>,
    /// The client's IP address.
    pub ip_address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// What `unlock` removes: a username's keys, an address's, or both given,
/// those of that user at that address.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct UnlockOptions {
    /// The username.
    pub username: Option<String>,
    /// The IP address.
    pub ip_address: Option<String>,
}

/// A lockout's state for one attempt: the worst of its keys.
#[napi(object, object_from_js = false)]
pub struct LockoutState {
    /// True while a key of the attempt is locked.
    pub locked: bool,
    /// Whole seconds until the lock ends, rounded up (0 when not locked).
    pub retry_after: f64,
    /// When the lock ends (seconds since the epoch); absent when not locked.
    pub locked_until: Option<f64>,
    /// Failures counted on the worst key.
    pub failures: u32,
    /// Failures the worst key may still take before it locks (0 when locked).
    pub remaining: u32,
    /// The worst key's parameter group (empty when none applied).
    pub parameters: Vec<String>,
}

impl From<CoreState> for LockoutState {
    fn from(s: CoreState) -> Self {
        Self {
            locked: s.locked,
            retry_after: s.retry_after as f64,
            locked_until: s.locked_until,
            failures: s.failures,
            remaining: s.remaining,
            parameters: s.parameters.iter().map(|p| p.name().to_owned()).collect(),
        }
    }
}

/// A lock in force.
#[napi(object, object_from_js = false)]
pub struct LockedEntry {
    /// The key's parameter group.
    pub parameters: Vec<String>,
    /// The key's username, when its group has one.
    pub username: Option<String>,
    /// The key's IP address, when its group has one.
    pub ip_address: Option<String>,
    /// The key's user agent (or `#<digest>` for a long one), when its group has one.
    pub user_agent: Option<String>,
    /// When the lock ends (seconds since the epoch).
    pub locked_until: f64,
    /// Whole seconds until then, rounded up.
    pub retry_after: f64,
}

impl From<&CoreEntry> for LockedEntry {
    fn from(e: &CoreEntry) -> Self {
        let v = |p| e.value(p).map(str::to_owned);
        Self {
            parameters: e.parameters.iter().map(|p| p.name().to_owned()).collect(),
            username: v(Param::Username),
            ip_address: v(Param::IpAddress),
            user_agent: v(Param::UserAgent),
            locked_until: e.locked_until,
            retry_after: e.retry_after as f64,
        }
    }
}

fn count(v: f64, name: &str) -> CoreResult<u32> {
    Ok(crate::errors::whole(v, name, f64::from(u32::MAX))? as u32)
}

fn core_options(
    o: LockoutOptions,
    clock: Option<bastion_core::clock::SharedClock>,
) -> CoreResult<CoreOptions> {
    let d = CoreOptions::default();
    let parameters = match o.parameters {
        None => d.parameters,
        Some(groups) => groups
            .into_iter()
            .map(|g| match g {
                Either::A(name) => Ok(vec![Param::parse(&name)?]),
                Either::B(names) => names.iter().map(|n| Param::parse(n)).collect(),
            })
            .collect::<CoreResult<_>>()?,
    };
    let progressive = match o.progressive {
        None | Some(Either::A(false)) => None,
        Some(Either::A(true)) => Some(Progressive::default()),
        Some(Either::B(p)) => {
            let dp = Progressive::default();
            Some(Progressive {
                factor: p.factor.unwrap_or(dp.factor),
                max_cooloff: p
                    .max_cooloff
                    .map_or(Ok(dp.max_cooloff), |v| span(v, "maxCooloff"))?,
                memory: p.memory.map_or(Ok(dp.memory), |v| span(v, "memory"))?,
            })
        }
    };
    Ok(CoreOptions {
        name: o.name.unwrap_or(d.name),
        failure_limit: o
            .failure_limit
            .map_or(Ok(d.failure_limit), |v| count(v, "failureLimit"))?,
        cooloff: o.cooloff.map_or(Ok(d.cooloff), |v| span(v, "cooloff"))?,
        parameters,
        reset_on_success: o.reset_on_success.unwrap_or(d.reset_on_success),
        progressive,
        max_failures: o
            .max_failures
            .map_or(Ok(d.max_failures), |v| count(v, "maxFailures"))?,
        extend_on_failure: o.extend_on_failure.unwrap_or(d.extend_on_failure),
        outage_policy: o
            .outage_policy
            .as_deref()
            .map_or(Ok(d.outage_policy), OutagePolicy::parse)?,
        clock: clock.unwrap_or(d.clock),
    })
}

fn attempt_arg(value: Unknown<'_>) -> CoreResult<CoreAttempt> {
    let a: LockoutAttempt = options_arg(
        value,
        "attempt",
        "an object ({ username, ipAddress, userAgent })",
    )?
    .unwrap_or_default();
    Ok(CoreAttempt::new(
        a.username.as_deref(),
        a.ip_address.as_deref(),
        a.user_agent.as_deref(),
    ))
}

fn limit_arg(value: Unknown<'_>) -> CoreResult<usize> {
    let n: Option<f64> = arg(value, "limit", "a number")?;
    n.map_or(Ok(1000), |v| count(v, "limit").map(|n| n as usize))
}

/// Account lockout after failed logins, with django-axes' settings: a key per
/// parameter group (default `[['username'], ['ip_address']]`), `failureLimit`
/// failures (default 10) lock a key for `cooloff` (default one hour), and
/// failures expire a cool-off after the last one. `recordFailure` is one
/// atomic round trip; `check` only reads; `recordSuccess` resets the username
/// groups only (an IP address keeps its count); `unlock` and `locked` are for
/// admins; `login` is the whole flow with uniform answers. Promise methods
/// work on every store; `*Sync` twins only on a memory store.
#[napi]
pub struct Lockout {
    inner: Arc<CoreLockout>,
}

impl Lockout {
    /// Runs a sync twin: only on a memory store, where it takes microseconds.
    fn sync<T>(&self, env: &Env, f: impl FnOnce(&CoreLockout) -> CoreResult<T>) -> Result<T> {
        errors::guard(|| {
            if self.inner.store().as_memory().is_none() {
                return Err(invalid_argument(
                    "the *Sync methods need a memory store: use the Promise method with Redis",
                ));
            }
            f(&self.inner)
        })
        .map_err(|e| errors::to_js(env, e))
    }
}

#[napi]
impl Lockout {
    /// A lockout with `options`, keeping its counts in `store` (default: a
    /// memory store driven by `clock`); `onEvent` receives each event
    /// (`locked_out`, `unlocked`, `store_unavailable`; identifiers only).
    #[napi(
        constructor,
        ts_args_type = "options?: LockoutOptions | null, store?: Store | null, clock?: ManualClock | null, onEvent?: ((event: Record<string, string>) => void) | null"
    )]
    pub fn new(
        env: &Env,
        options: Unknown,
        store: Unknown,
        clock: Unknown,
        on_event: Unknown,
    ) -> Result<Self> {
        errors::guard(|| {
            let o: LockoutOptions =
                options_arg(options, "options", "an object of lockout options")?
                    .unwrap_or_default();
            let clock = clock_arg(clock)?;
            let options = core_options(o, clock)?;
            let store = match store.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => CoreStore::memory(MemoryOptions {
                    clock: Arc::clone(&options.clock),
                    ..MemoryOptions::default()
                }),
                _ => {
                    let s: ClassInstance<Store> = arg(store, "store", "a Store")?;
                    s.inner.clone()
                }
            };
            let lockout = CoreLockout::new(store, options)?;
            crate::events::attach(lockout.listeners(), on_event)?;
            Ok(Self {
                inner: Arc::new(lockout),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Resolves to the attempt's state, without counting anything.
    #[napi(
        ts_args_type = "attempt: LockoutAttempt",
        ts_return_type = "Promise<LockoutState>"
    )]
    pub fn check<'env>(
        &self,
        env: &'env Env,
        attempt: Unknown,
    ) -> Result<PromiseRaw<'env, LockoutState>> {
        let a = errors::guard(|| attempt_arg(attempt)).map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(env, async move { l.check_async(&a).await }, |_, s| {
            Ok(LockoutState::from(s))
        })
    }

    /// `check` on a memory store, at once.
    #[napi(ts_args_type = "attempt: LockoutAttempt")]
    pub fn check_sync(&self, env: &Env, attempt: Unknown) -> Result<LockoutState> {
        self.sync(env, |l| l.check(&attempt_arg(attempt)?))
            .map(LockoutState::from)
    }

    /// Counts one failure against every key of the attempt, atomically, and
    /// resolves to the new state (locked when this or an earlier failure
    /// locked a key).
    #[napi(
        ts_args_type = "attempt: LockoutAttempt",
        ts_return_type = "Promise<LockoutState>"
    )]
    pub fn record_failure<'env>(
        &self,
        env: &'env Env,
        attempt: Unknown,
    ) -> Result<PromiseRaw<'env, LockoutState>> {
        let a = errors::guard(|| attempt_arg(attempt)).map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(
            env,
            async move { l.record_failure_async(&a).await },
            |_, s| Ok(LockoutState::from(s)),
        )
    }

    /// `recordFailure` on a memory store, at once.
    #[napi(ts_args_type = "attempt: LockoutAttempt")]
    pub fn record_failure_sync(&self, env: &Env, attempt: Unknown) -> Result<LockoutState> {
        self.sync(env, |l| l.record_failure(&attempt_arg(attempt)?))
            .map(LockoutState::from)
    }

    /// A successful login: resets the keys of the groups containing
    /// `username` (the IP address keeps its count).
    #[napi(
        ts_args_type = "attempt: LockoutAttempt",
        ts_return_type = "Promise<void>"
    )]
    pub fn record_success<'env>(
        &self,
        env: &'env Env,
        attempt: Unknown,
    ) -> Result<PromiseRaw<'env, ()>> {
        let a = errors::guard(|| attempt_arg(attempt)).map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(
            env,
            async move { l.record_success_async(&a).await },
            |_, ()| Ok(()),
        )
    }

    /// `recordSuccess` on a memory store, at once.
    #[napi(ts_args_type = "attempt: LockoutAttempt")]
    pub fn record_success_sync(&self, env: &Env, attempt: Unknown) -> Result<()> {
        self.sync(env, |l| l.record_success(&attempt_arg(attempt)?))
    }

    /// Removes the keys that apply to `username`, to `ipAddress`, or (both)
    /// to that user at that address, combination keys included; resolves to
    /// how many held failures or a lock.
    #[napi(
        ts_args_type = "options: UnlockOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn unlock<'env>(&self, env: &'env Env, options: Unknown) -> Result<PromiseRaw<'env, u32>> {
        let o: UnlockOptions = errors::guard(|| {
            Ok(
                options_arg(options, "options", "an object ({ username, ipAddress })")?
                    .unwrap_or_default(),
            )
        })
        .map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(
            env,
            async move {
                l.unlock_async(o.username.as_deref(), o.ip_address.as_deref())
                    .await
            },
            |_, n| Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        )
    }

    /// `unlock` on a memory store, at once.
    #[napi(ts_args_type = "options: UnlockOptions")]
    pub fn unlock_sync(&self, env: &Env, options: Unknown) -> Result<u32> {
        self.sync(env, |l| {
            let o: UnlockOptions =
                options_arg(options, "options", "an object ({ username, ipAddress })")?
                    .unwrap_or_default();
            l.unlock(o.username.as_deref(), o.ip_address.as_deref())
        })
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Resolves to the locks in force, soonest to end first, at most `limit`
    /// (default 1000).
    #[napi(
        ts_args_type = "limit?: number | null",
        ts_return_type = "Promise<LockedEntry[]>"
    )]
    pub fn locked<'env>(
        &self,
        env: &'env Env,
        limit: Unknown,
    ) -> Result<PromiseRaw<'env, Vec<LockedEntry>>> {
        let limit = errors::guard(|| limit_arg(limit)).map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(env, async move { l.locked_async(limit).await }, |_, v| {
            Ok(v.iter().map(LockedEntry::from).collect())
        })
    }

    /// `locked` on a memory store, at once.
    #[napi(ts_args_type = "limit?: number | null")]
    pub fn locked_sync(&self, env: &Env, limit: Unknown) -> Result<Vec<LockedEntry>> {
        self.sync(env, |l| l.locked(limit_arg(limit)?))
            .map(|v| v.iter().map(LockedEntry::from).collect())
    }

    /// One login with uniform answers: resolves to `true` when `password`
    /// matches `storedHash`, `false` for a wrong password and for an unknown
    /// user (`storedHash` null: a dummy hash made with `hashOptions`, the
    /// options of `password.hash`, is verified instead, the same work);
    /// rejects with `ACCOUNT_LOCKED` (and `retryAfter`) when the attempt is
    /// locked, before or by this failure. The hash runs off the JavaScript
    /// thread.
    #[napi(
        ts_args_type = "attempt: LockoutAttempt, password: string | Buffer, storedHash: string | null, hashOptions?: HashOptions | null",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn login<'env>(
        &self,
        env: &'env Env,
        attempt: Unknown,
        password: Unknown,
        stored_hash: Unknown,
        hash_options: Unknown,
    ) -> Result<PromiseRaw<'env, bool>> {
        let (a, pw, stored, (hasher, _)) = errors::guard(|| {
            Ok((
                attempt_arg(attempt)?,
                bytes_arg(password, "password")?.to_owned_secret(),
                arg::<Option<String>>(stored_hash, "storedHash", "a string or null")?,
                crate::password::hasher(hash_options)?,
            ))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let l = Arc::clone(&self.inner);
        promise(
            env,
            async move { l.login_async(&a, &pw, stored.as_deref(), &hasher).await },
            |_, ok| Ok(ok),
        )
    }
}
