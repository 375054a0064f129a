//! [`RateLimiter`]: one or more limits per client key, decided atomically.

use super::algorithm::{Algorithm, Lim, State, Verdict, MAX_EXACT_LIMIT};
use super::rate::{parse_rates, Rate};
use crate::clock::SharedClock;
use crate::error::{err, Detail, Error, ErrorKind, Result};
use crate::events::{self, Event, Listeners, Severity};
use crate::store::{
    self, push_escaped, script, tagged_key_parts, MemoryOptions, OutagePolicy, Reply, Script,
    Store, Txn,
};
use smallvec::SmallVec;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

static RATELIMIT: Script = script!("ratelimit");

/// The longest client key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// How long a fail-closed denial asks the client to wait, in microseconds.
const FAIL_CLOSED_RETRY: i64 = 1_000_000;

/// Options of a [`RateLimiter`].
#[derive(Clone)]
pub struct LimiterOptions {
    /// The limiter's name: part of every key (so limiters never share state
    /// by accident, and a Python and a Node limiter of one name share it on
    /// purpose) and the policy name in the `RateLimit` headers. Letters,
    /// digits, `_`, `.` and `-`, at most 64 (default `"default"`).
    pub name: String,
    /// The algorithm of every limit (default: the exact sliding window).
    pub algorithm: Algorithm,
    /// What a check does when the store cannot answer (default:
    /// [`OutagePolicy::Local`], a limiter on this process's memory).
    pub outage_policy: OutagePolicy,
    /// The limits of the local fallback limiter (default: the limiter's own,
    /// which then hold per process).
    pub local_rates: Option<Vec<Rate>>,
}

impl Default for LimiterOptions {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            algorithm: Algorithm::default(),
            outage_policy: OutagePolicy::Local,
            local_rates: None,
        }
    }
}

impl fmt::Debug for LimiterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterOptions")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm.name())
            .field("outage_policy", &self.outage_policy.name())
            .finish_non_exhaustive()
    }
}

/// What one limit said about a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitStatus {
    /// The limit.
    pub rate: Rate,
    /// Whether this limit alone would admit the request.
    pub allowed: bool,
    /// Units left in this limit (after the charge when the request was admitted).
    pub remaining: u64,
    /// Seconds until this limit is back to full capacity.
    pub reset_after: f64,
    /// Seconds until this limit would admit the request (0 when it does).
    pub retry_after: f64,
}

/// The answer to a check: whether the request is admitted, and the numbers
/// for the rate-limit headers.
///
/// The summary fields (`limit`, `remaining`, `reset_after`, `retry_after`)
/// describe the binding limit: the denying one with the longest wait when the
/// request is denied, else the one with the fewest units left.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the request is admitted (every limit admitted and was charged).
    pub allowed: bool,
    /// The binding limit's count.
    pub limit: u64,
    /// Units left in the binding limit.
    pub remaining: u64,
    /// Seconds until the binding limit is back to full capacity.
    pub reset_after: f64,
    /// Seconds until the request could be admitted (0 when it is).
    pub retry_after: f64,
    /// The index (in the limiter's rates) of the limit that denied.
    pub denied_by: Option<usize>,
    /// The binding limit.
    pub rate: Rate,
    /// Every limit's own answer, in the limiter's order.
    pub limits: LimitStatuses,
    /// `Some(policy)` when the store could not answer and the limiter's
    /// outage policy decided instead.
    pub fallback: Option<OutagePolicy>,
    /// The limiter's name (the `RateLimit` policy name).
    pub policy: Arc<str>,
    /// When the decision was made, seconds since the epoch (for
    /// `X-RateLimit-Reset`).
    pub decided_at: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Check = 0,
    Peek = 1,
    Refund = 2,
    Reset = 3,
}

/// What a store decision returns: per limit verdicts, or nothing for a
/// refund / reset. Inline for up to two limits (no allocation).
type Verdicts = SmallVec<[Verdict; 2]>;

/// The per-limit answers of a [`Decision`], inline for up to two limits.
pub type LimitStatuses = SmallVec<[LimitStatus; 2]>;

/// One rate-limit decision over the limits of one client key.
struct LimitDecision {
    algorithm: Algorithm,
    op: Op,
    cost: i64,
    keys: SmallVec<[String; 2]>,
    lims: Arc<[Lim]>,
}

impl store::Decision for LimitDecision {
    /// The verdicts and the decision's time (µs; -1 when the store keeps
    /// its own clock, as Redis does).
    type Output = (Verdicts, i64);

    fn script(&self) -> &'static Script {
        &RATELIMIT
    }

    fn keys(&self) -> Vec<String> {
        self.keys.to_vec()
    }

    fn args(&self) -> Vec<Vec<u8>> {
        let mut args = Vec::with_capacity(3 + 2 * self.lims.len());
        args.push(self.algorithm.code().1.to_string().into_bytes());
        args.push((self.op as u8).to_string().into_bytes());
        args.push(self.cost.to_string().into_bytes());
        for l in self.lims.iter() {
            args.push(l.limit.to_string().into_bytes());
            args.push(l.window.to_string().into_bytes());
        }
        args
    }

    fn parse(&self, reply: Reply) -> Result<(Verdicts, i64)> {
        if matches!(self.op, Op::Refund | Op::Reset) {
            return Ok((Verdicts::new(), -1));
        }
        let items = reply.array()?;
        if items.len() != 2 + 4 * self.lims.len() {
            return Err(err!(
                Internal,
                "the rate-limit script returned {} values",
                items.len()
            ));
        }
        let verdicts = items[2..]
            .chunks(4)
            .map(|c| {
                Ok(Verdict {
                    ok: c[0].int()? == 1,
                    remaining: c[1].int()?,
                    reset_after: c[2].int()?,
                    retry_after: c[3].int()?,
                })
            })
            .collect::<Result<Verdicts>>()?;
        Ok((verdicts, -1))
    }

    fn key_slice(&self) -> Option<&[String]> {
        Some(&self.keys)
    }

    fn apply(&self, txn: &mut Txn<'_>) -> Result<(Verdicts, i64)> {
        let now = txn.now();
        if self.op == Op::Reset {
            for k in &self.keys {
                txn.remove(k);
            }
            return Ok((Verdicts::new(), now));
        }
        if let [key] = &self.keys[..] {
            // One limit: one lookup, updated in place.
            let lim = self.lims[0];
            let (alg, op, cost) = (self.algorithm, self.op, self.cost);
            return txn.update(key, |old| {
                let (value, expires_at) = old.map_or((None, 0), |(v, at)| (Some(v), at));
                // Unchanged state goes back as it was (the log is always
                // saved, trimmed; it is never copied).
                let keep = if alg == Algorithm::SlidingWindow {
                    None
                } else {
                    value.clone().map(|v| (v, expires_at))
                };
                let mut state = State::load(alg, value, now, lim);
                let v = verdict(&state, op, now, lim, cost);
                let write = match op {
                    Op::Check => v.ok,
                    Op::Refund => true,
                    _ => false,
                };
                if write && op == Op::Check {
                    state.charge(now, lim, cost);
                } else if write {
                    state.refund(now, lim, cost);
                }
                let new = if write || alg == Algorithm::SlidingWindow {
                    state.save(now, lim)
                } else {
                    keep
                };
                let out = if op == Op::Refund {
                    Verdicts::new()
                } else {
                    std::iter::once(v).collect()
                };
                (new, (out, now))
            });
        }
        // The exact window's log is taken out of the store and always put
        // back (trimmed of expired entries even by a peek or a denial); the
        // other algorithms' few integers are copied.
        let log = self.algorithm == Algorithm::SlidingWindow;
        let mut states: SmallVec<[State; 2]> = self
            .keys
            .iter()
            .zip(self.lims.iter())
            .map(|(k, l)| {
                let value = if log {
                    txn.take(k)
                } else {
                    txn.get(k).cloned()
                };
                State::load(self.algorithm, value, now, *l)
            })
            .collect();
        let verdicts: Verdicts = states
            .iter()
            .zip(self.lims.iter())
            .map(|(s, l)| verdict(s, self.op, now, *l, self.cost))
            .collect();
        let write = match self.op {
            Op::Check => verdicts.iter().all(|v| v.ok),
            Op::Refund => true,
            _ => false,
        };
        if write || log {
            for ((mut state, key), lim) in states.drain(..).zip(&self.keys).zip(self.lims.iter()) {
                if write && self.op == Op::Check {
                    state.charge(now, *lim, self.cost);
                } else if write {
                    state.refund(now, *lim, self.cost);
                }
                match state.save(now, *lim) {
                    Some((value, until)) => txn.put(key, value, until)?,
                    None => {
                        txn.remove(key);
                    }
                }
            }
        }
        if self.op == Op::Refund {
            return Ok((Verdicts::new(), now));
        }
        Ok((verdicts, now))
    }
}

/// What one limit says; a peek reports the state as it is, not after the
/// charge it did not make.
fn verdict(state: &State, op: Op, now: i64, lim: Lim, cost: i64) -> Verdict {
    let v = state.eval(now, lim, cost);
    if op == Op::Peek {
        let as_is = state.eval(now, lim, 0);
        return Verdict {
            remaining: as_is.remaining,
            reset_after: as_is.reset_after,
            ..v
        };
    }
    v
}

/// The process-local limiter of the `local` outage policy.
struct Fallback {
    store: Store,
    rates: Vec<Rate>,
    lims: Arc<[Lim]>,
    suffixes: Vec<String>,
}

/// A rate limiter: one or more limits, one algorithm, one store.
///
/// Guarantees:
/// - **All or nothing.** A check admits only when every limit admits, and
///   then charges every limit; a denied check charges none. One store
///   decision: one Lua script (one round trip) on Redis, one critical section
///   in memory.
/// - **One clock.** On Redis, time is Redis's own `TIME`, so app hosts with
///   skewed clocks agree.
/// - **Bounded.** Keys are escaped and bounded ([`MAX_KEY_LEN`]), costs are
///   checked against the smallest limit, every key carries its TTL.
/// - **Outages** are answered by [`LimiterOptions::outage_policy`] within the
///   store's timeout, with an [`Event::StoreUnavailable`] each time.
pub struct RateLimiter {
    store: Store,
    rates: Vec<Rate>,
    lims: Arc<[Lim]>,
    suffixes: Vec<String>,
    /// The name as it starts every hash tag: `"<name>:"`.
    tag_prefix: String,
    /// The start of every key: `"rl:{<name>:"`.
    key_head: String,
    policy: Arc<str>,
    options: LimiterOptions,
    local: Option<Fallback>,
    listeners: Listeners,
    clock: SharedClock,
    /// Checks allowed and denied (`bastion_ratelimit_decisions_total`).
    decisions: [crate::metrics::Counter; 2],
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rates: Vec<String> = self.rates.iter().map(ToString::to_string).collect();
        f.debug_struct("RateLimiter")
            .field("name", &self.options.name)
            .field("rates", &rates.join(";"))
            .field("algorithm", &self.options.algorithm.name())
            .field("store", &self.store.kind())
            .finish()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(err!(
            InvalidArgument,
            "a limiter name is 1 to 64 letters, digits, '_', '.' or '-'"
        ));
    }
    Ok(())
}

fn limits_of(algorithm: Algorithm, rates: &[Rate]) -> Result<(Arc<[Lim]>, Vec<String>)> {
    if rates.is_empty() {
        return Err(err!(InvalidArgument, "a limiter needs at least one rate"));
    }
    if rates.len() > super::rate::MAX_LIMITS {
        return Err(err!(
            InvalidArgument,
            "a limiter holds at most {} rates",
            super::rate::MAX_LIMITS
        ));
    }
    let mut lims = Vec::with_capacity(rates.len());
    let mut suffixes = Vec::with_capacity(rates.len());
    for r in rates {
        let lim = Lim {
            limit: r.limit as i64,
            window: (r.window_ms as i64) * 1000,
        };
        if algorithm == Algorithm::SlidingWindow && r.limit > MAX_EXACT_LIMIT {
            return Err(err!(
                InvalidArgument,
                "the exact sliding window keeps one entry per admitted unit, so it takes at most \
                 {MAX_EXACT_LIMIT} per window ({r} is more): use the \"sliding_counter\" algorithm"
            ));
        }
        if algorithm == Algorithm::Gcra && super::algorithm::emission(lim) < 1 {
            return Err(err!(
                InvalidArgument,
                "GCRA needs at least 1 microsecond between units ({r} is faster)"
            ));
        }
        let suffix = format!("{}:{r}", algorithm.code().0);
        if suffixes.contains(&suffix) {
            return Err(err!(InvalidArgument, "the rate {r} is given twice"));
        }
        suffixes.push(suffix);
        lims.push(lim);
    }
    Ok((lims.into(), suffixes))
}

impl RateLimiter {
    /// A limiter of `rates` on `store`.
    pub fn new(store: Store, rates: Vec<Rate>, options: LimiterOptions) -> Result<Self> {
        check_name(&options.name)?;
        let (lims, suffixes) = limits_of(options.algorithm, &rates)?;
        let options_name = options.name.clone();
        let clock = store.clock();
        let local = if options.outage_policy == OutagePolicy::Local && store.as_memory().is_none() {
            let local_rates = options.local_rates.clone().unwrap_or_else(|| rates.clone());
            let (l, s) = limits_of(options.algorithm, &local_rates)?;
            let mem = Store::fallback_memory(MemoryOptions {
                max_keys: 100_000,
                clock: clock.clone(),
                ..MemoryOptions::default()
            });
            Some(Fallback {
                store: mem,
                rates: local_rates,
                lims: l,
                suffixes: s,
            })
        } else {
            None
        };
        Ok(Self {
            store,
            rates,
            lims,
            suffixes,
            tag_prefix: format!("{}:", options.name),
            key_head: format!("rl:{{{}:", options.name),
            policy: Arc::from(options.name.as_str()),
            options,
            local,
            listeners: Listeners::default(),
            clock,
            decisions: [
                crate::metrics::RATELIMIT_DECISIONS.counter(&[&options_name, "allowed"]),
                crate::metrics::RATELIMIT_DECISIONS.counter(&[&options_name, "denied"]),
            ],
        })
    }

    /// A limiter from a rate string such as `"100/minute;200/hour"`.
    pub fn parse(store: Store, rates: &str, options: LimiterOptions) -> Result<Self> {
        Self::new(store, parse_rates(rates)?, options)
    }

    /// The limits, in order.
    #[must_use]
    pub fn rates(&self) -> &[Rate] {
        &self.rates
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &LimiterOptions {
        &self.options
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The listeners receiving this limiter's events.
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    /// The store keys of `key`'s limits (without the store prefix).
    pub fn keys_of(&self, key: &str) -> Result<Vec<String>> {
        self.keys_with(key, &self.suffixes).map(|k| k.to_vec())
    }

    fn keys_with(&self, key: &str, suffixes: &[String]) -> Result<SmallVec<[String; 2]>> {
        if key.is_empty() {
            return Err(err!(InvalidArgument, "a rate-limit key cannot be empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(err!(
                InvalidArgument,
                "a rate-limit key is at most {MAX_KEY_LEN} bytes"
            ));
        }
        // The usual case, built from pieces made once: "rl:{<name>:" + the
        // escaped key + "}:<suffix>". The same text as `tagged_key_parts`
        // gives (the name needs no escaping), which serves long tags.
        if self.tag_prefix.len() + key.len() > 128 {
            return Ok(suffixes
                .iter()
                .map(|s| tagged_key_parts("rl", &[&self.tag_prefix, key], s))
                .collect());
        }
        Ok(suffixes
            .iter()
            .map(|s| {
                let mut k = String::with_capacity(self.key_head.len() + key.len() + s.len() + 2);
                k.push_str(&self.key_head);
                push_escaped(&mut k, key);
                k.push_str("}:");
                k.push_str(s);
                k
            })
            .collect())
    }

    fn decision(&self, key: &str, op: Op, cost: u64) -> Result<LimitDecision> {
        let smallest = self.rates.iter().map(|r| r.limit).min().unwrap_or(0);
        match op {
            Op::Check | Op::Refund if cost == 0 => {
                return Err(err!(InvalidArgument, "the cost must be at least 1"));
            }
            _ if cost > smallest => {
                return Err(err!(
                    InvalidArgument,
                    "a cost of {cost} exceeds the smallest limit ({smallest}) and could never be admitted"
                ));
            }
            _ => {}
        }
        Ok(LimitDecision {
            algorithm: self.options.algorithm,
            op,
            cost: cost as i64,
            keys: self.keys_with(key, &self.suffixes)?,
            lims: Arc::clone(&self.lims),
        })
    }

    fn local_decision(&self, op: Op, cost: i64, key: &str) -> Option<(LimitDecision, &Fallback)> {
        let fb = self.local.as_ref()?;
        let Fallback { lims, suffixes, .. } = fb;
        let keys = self.keys_with(key, suffixes).ok()?;
        Some((
            LimitDecision {
                algorithm: self.options.algorithm,
                op,
                cost: cost.min(lims.iter().map(|l| l.limit).min().unwrap_or(1)),
                keys,
                lims: Arc::clone(lims),
            },
            fb,
        ))
    }

    fn summarize(
        &self,
        rates: &[Rate],
        verdicts: &[Verdict],
        fallback: Option<OutagePolicy>,
        at: i64,
    ) -> Decision {
        let limits: LimitStatuses = rates
            .iter()
            .zip(verdicts)
            .map(|(r, v)| LimitStatus {
                rate: *r,
                allowed: v.ok,
                remaining: v.remaining.max(0) as u64,
                reset_after: secs(v.reset_after),
                retry_after: secs(v.retry_after),
            })
            .collect();
        let allowed = verdicts.iter().all(|v| v.ok);
        let denied_by = if allowed {
            None
        } else {
            verdicts
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.ok)
                .max_by_key(|(i, v)| (v.retry_after, std::cmp::Reverse(*i)))
                .map(|(i, _)| i)
        };
        let binding = denied_by.unwrap_or_else(|| {
            verdicts
                .iter()
                .enumerate()
                .min_by_key(|(i, v)| (v.remaining, std::cmp::Reverse(v.reset_after), *i))
                .map_or(0, |(i, _)| i)
        });
        let b = limits[binding];
        Decision {
            allowed,
            limit: b.rate.limit,
            remaining: b.remaining,
            reset_after: b.reset_after,
            retry_after: if allowed { 0.0 } else { b.retry_after },
            denied_by,
            rate: b.rate,
            limits,
            fallback,
            policy: Arc::clone(&self.policy),
            decided_at: if at >= 0 {
                at as f64 / 1_000_000.0
            } else {
                self.clock.now_secs()
            },
        }
    }

    /// The answer of the outage policy when the store failed with `e` on a
    /// check or a peek.
    fn on_outage(&self, op: Op, cost: i64, key: &str, e: Error) -> Result<Decision> {
        if !matches!(e.kind(), ErrorKind::StoreUnavailable | ErrorKind::StoreFull) {
            return Err(e);
        }
        let policy = self.options.outage_policy;
        self.listeners.emit(&Event::StoreUnavailable {
            component: "ratelimit",
            policy: policy.name(),
        });
        match policy {
            OutagePolicy::FailOpen => {
                let verdicts: Verdicts = self
                    .lims
                    .iter()
                    .map(|l| Verdict {
                        ok: true,
                        remaining: l.limit,
                        reset_after: 0,
                        retry_after: 0,
                    })
                    .collect();
                Ok(self.summarize(&self.rates, &verdicts, Some(policy), -1))
            }
            OutagePolicy::Local if e.kind() == ErrorKind::StoreUnavailable => {
                let local = self
                    .local_decision(op, cost, key)
                    .and_then(|(ld, fb)| fb.store.run(ld).ok().map(|v| (v, &fb.rates)));
                Ok(match local {
                    Some(((v, at), rates)) => self.summarize(rates, &v, Some(policy), at),
                    None => self.closed(policy),
                })
            }
            _ => Ok(self.closed(policy)),
        }
    }

    fn closed(&self, policy: OutagePolicy) -> Decision {
        let verdicts: Verdicts = self
            .lims
            .iter()
            .map(|_| Verdict {
                ok: false,
                remaining: 0,
                reset_after: FAIL_CLOSED_RETRY,
                retry_after: FAIL_CLOSED_RETRY,
            })
            .collect();
        self.summarize(&self.rates, &verdicts, Some(policy), -1)
    }

    fn finish(
        &self,
        op: Op,
        cost: i64,
        key: &str,
        out: Result<(Verdicts, i64)>,
    ) -> Result<Decision> {
        let d = match out {
            Ok((v, at)) if v.len() == self.rates.len() => {
                Ok(self.summarize(&self.rates, &v, None, at))
            }
            Ok(_) => Err(err!(Internal, "a rate-limit decision lost a limit")),
            Err(e) => self.on_outage(op, cost, key, e),
        }?;
        if op == Op::Check {
            self.count(key, &d);
        }
        Ok(d)
    }

    /// Counts a check in the metrics and reports a denial to the process-wide
    /// listeners (a per-request event: the limiter's own listeners get its
    /// outages only).
    fn count(&self, key: &str, d: &Decision) {
        self.decisions[usize::from(!d.allowed)].fetch_add(1, Ordering::Relaxed);
        if !d.allowed {
            events::emit_global_with(Severity::Warning, || Event::RateLimited {
                limiter: self.options.name.clone(),
                key: key.to_owned(),
                rate: d.rate.to_string(),
                retry_after: d.retry_after.ceil() as u64,
            });
        }
    }

    /// After a refund or reset: the local limiter gets it too (it may have
    /// charged during an outage), and a store failure is reported as is.
    fn finish_update(
        &self,
        op: Op,
        cost: i64,
        key: &str,
        out: Result<(Verdicts, i64)>,
    ) -> Result<()> {
        if let Some((ld, fb)) = self.local_decision(op, cost, key) {
            let _ = fb.store.run(ld);
        }
        if let Err(e) = &out {
            if e.kind() == ErrorKind::StoreUnavailable {
                self.listeners.emit(&Event::StoreUnavailable {
                    component: "ratelimit",
                    policy: self.options.outage_policy.name(),
                });
            }
        }
        out.map(|_| ())
    }

    fn run_op(&self, key: &str, op: Op, cost: u64) -> Result<Decision> {
        let d = self.decision(key, op, cost)?;
        let c = d.cost;
        let out = self.store.run(d);
        self.finish(op, c, key, out)
    }

    async fn run_op_async(&self, key: &str, op: Op, cost: u64) -> Result<Decision> {
        let d = self.decision(key, op, cost)?;
        let c = d.cost;
        let out = self.store.run_async(d).await;
        self.finish(op, c, key, out)
    }

    fn run_update(&self, key: &str, op: Op, cost: u64) -> Result<()> {
        let d = self.decision(key, op, cost)?;
        let c = d.cost;
        let out = self.store.run(d);
        self.finish_update(op, c, key, out)
    }

    async fn run_update_async(&self, key: &str, op: Op, cost: u64) -> Result<()> {
        let d = self.decision(key, op, cost)?;
        let c = d.cost;
        let out = self.store.run_async(d).await;
        self.finish_update(op, c, key, out)
    }

    /// Checks `cost` units for `key` and charges them when every limit
    /// admits (one atomic store decision).
    pub fn check(&self, key: &str, cost: u64) -> Result<Decision> {
        self.run_op(key, Op::Check, cost)
    }

    /// Async [`RateLimiter::check`].
    pub async fn check_async(&self, key: &str, cost: u64) -> Result<Decision> {
        self.run_op_async(key, Op::Check, cost).await
    }

    /// Like [`RateLimiter::check`], but fails with `RATE_LIMITED` (carrying
    /// `retry_after`) when denied.
    pub fn hit(&self, key: &str, cost: u64) -> Result<Decision> {
        denied_as_error(self.check(key, cost)?)
    }

    /// Async [`RateLimiter::hit`].
    pub async fn hit_async(&self, key: &str, cost: u64) -> Result<Decision> {
        denied_as_error(self.check_async(key, cost).await?)
    }

    /// Whether `cost` units would be admitted now, without charging anything.
    /// `remaining` is what is left now (before any charge); `cost` may be 0.
    pub fn peek(&self, key: &str, cost: u64) -> Result<Decision> {
        self.run_op(key, Op::Peek, cost)
    }

    /// Async [`RateLimiter::peek`].
    pub async fn peek_async(&self, key: &str, cost: u64) -> Result<Decision> {
        self.run_op_async(key, Op::Peek, cost).await
    }

    /// Gives back up to `cost` units to every limit of `key` (for a request
    /// that should not count after all, e.g. a successful login).
    pub fn refund(&self, key: &str, cost: u64) -> Result<()> {
        self.run_update(key, Op::Refund, cost)
    }

    /// Async [`RateLimiter::refund`].
    pub async fn refund_async(&self, key: &str, cost: u64) -> Result<()> {
        self.run_update_async(key, Op::Refund, cost).await
    }

    /// Forgets everything about `key`.
    pub fn reset(&self, key: &str) -> Result<()> {
        self.run_update(key, Op::Reset, 1)
    }

    /// Async [`RateLimiter::reset`].
    pub async fn reset_async(&self, key: &str) -> Result<()> {
        self.run_update_async(key, Op::Reset, 1).await
    }
}

fn secs(micros: i64) -> f64 {
    micros.max(0) as f64 / 1_000_000.0
}

fn denied_as_error(d: Decision) -> Result<Decision> {
    if d.allowed {
        return Ok(d);
    }
    Err(Error::new(
        ErrorKind::RateLimited,
        format!("rate limit {} exceeded", d.rate),
    )
    .with_detail(Detail::RetryAfter(d.retry_after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_documented_tagged_keys() {
        let l = RateLimiter::parse(
            Store::default(),
            "5/15m;100/hour",
            LimiterOptions {
                name: "login.v2".into(),
                ..LimiterOptions::default()
            },
        )
        .unwrap();
        let long = "k".repeat(200);
        for key in [
            "1.2.3.4",
            "a}b{c",
            "é %#",
            "\u{0}",
            long.as_str(),
            &"x".repeat(119),
        ] {
            let keys = l.keys_of(key).unwrap();
            assert_eq!(
                keys,
                vec![
                    tagged_key_parts("rl", &["login.v2:", key], "sw:5/15m"),
                    tagged_key_parts("rl", &["login.v2:", key], "sw:100/hour"),
                ],
                "{key:?}"
            );
        }
        assert_eq!(
            l.keys_of("1.2.3.4").unwrap()[0],
            "rl:{login.v2:1.2.3.4}:sw:5/15m"
        );
    }
}
