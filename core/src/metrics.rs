//! Process-wide metrics in the Prometheus text format, and a health snapshot.
//!
//! Guarantees:
//! - **Lock-free counting.** A component takes its counters (atomics) when it
//!   is made; counting a decision is one relaxed atomic add. Counters that
//!   only move on rare paths (a lockout, a breaker transition, a store outage)
//!   are looked up by name under a read lock when they move.
//! - **Bounded label sets.** Label values are names given at construction (a
//!   limiter's, a lockout's, a breaker's, a cache's namespace) or fixed words
//!   (`allowed`, an error code): never request data. Each metric holds at most
//!   [`MAX_SERIES`] label sets; past that, new ones are counted under the value
//!   `_overflow`.
//! - **No I/O in [`render`].** Breaker states, cache hits and store sizes are
//!   read from the live components (weak references, so rendering never keeps
//!   one alive); only [`health`] makes round trips (one `PING` per Redis
//!   store, each bounded by the store's timeout).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::{const_mutex, const_rwlock, Mutex, RwLock};

use crate::breaker::{BreakerState, BreakerStats};
use crate::events::{Event, Severity};
use crate::store::Store;

/// The most label sets one metric holds.
pub const MAX_SERIES: usize = 1000;

/// A counter (or gauge) shared by a component and the registry.
pub type Counter = Arc<AtomicU64>;

/// One metric: its name, help, type, label names and series.
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    labels: &'static [&'static str],
    series: RwLock<BTreeMap<Box<[Box<str>]>, Counter>>,
}

impl Family {
    const fn new(
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind,
            labels,
            series: const_rwlock(BTreeMap::new()),
        }
    }

    /// The counter of one label set (made at zero on first use).
    pub fn counter(&self, values: &[&str]) -> Counter {
        debug_assert_eq!(values.len(), self.labels.len());
        {
            let series = self.series.read();
            if let Some(c) = series
                .iter()
                .find(|(k, _)| k.iter().map(AsRef::as_ref).eq(values.iter().copied()))
                .map(|(_, c)| c)
            {
                return Arc::clone(c);
            }
        }
        let mut series = self.series.write();
        let key: Box<[Box<str>]> = if series.len() >= MAX_SERIES {
            values.iter().map(|_| Box::from("_overflow")).collect()
        } else {
            values.iter().map(|v| Box::from(*v)).collect()
        };
        Arc::clone(series.entry(key).or_default())
    }

    /// Adds `n` to one label set.
    pub fn add(&self, values: &[&str], n: u64) {
        self.counter(values).fetch_add(n, Ordering::Relaxed);
    }

    /// The value of one label set (zero when it never moved).
    #[must_use]
    pub fn get(&self, values: &[&str]) -> u64 {
        self.series
            .read()
            .iter()
            .find(|(k, _)| k.iter().map(AsRef::as_ref).eq(values.iter().copied()))
            .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        let series = self.series.read();
        header(out, self.name, self.help, self.kind);
        for (values, c) in series.iter() {
            let pairs: Vec<(&str, &str)> = self
                .labels
                .iter()
                .copied()
                .zip(values.iter().map(AsRef::as_ref))
                .collect();
            sample(out, self.name, &pairs, c.load(Ordering::Relaxed));
        }
    }
}

/// Rate-limit decisions: `limiter`, `result` (`allowed`, `denied`).
pub static RATELIMIT_DECISIONS: Family = Family::new(
    "bastion_ratelimit_decisions_total",
    "Rate-limit decisions (check and hit) by limiter and result.",
    "counter",
    &["limiter", "result"],
);

/// Token verifications: `result` (`ok`, `failed`) and `reason` (the error
/// code in lower case, `none` when ok).
pub static TOKEN_VERIFICATIONS: Family = Family::new(
    "bastion_token_verifications_total",
    "Token and API-key verifications by kind, result and failure reason (error code).",
    "counter",
    &["kind", "result", "reason"],
);

/// Revocations by scope.
pub static TOKEN_REVOCATIONS: Family = Family::new(
    "bastion_token_revocations_total",
    "Token revocations by scope (token, family, subject).",
    "counter",
    &["scope"],
);

/// Refresh-token reuse detections.
pub static TOKEN_REUSE: Family = Family::new(
    "bastion_token_reuse_total",
    "Rotated refresh tokens presented again (their family was revoked).",
    "counter",
    &[],
);

/// Lockouts by lockout name.
pub static LOCKOUTS: Family = Family::new(
    "bastion_lockouts_total",
    "Keys locked by failed attempts, by lockout.",
    "counter",
    &["lockout"],
);

/// Failed attempts recorded by lockout name.
pub static LOCKOUT_FAILURES: Family = Family::new(
    "bastion_lockout_failures_total",
    "Failed attempts recorded, by lockout.",
    "counter",
    &["lockout"],
);

/// Admin unlocks by lockout name.
pub static UNLOCKS: Family = Family::new(
    "bastion_unlocks_total",
    "Unlock calls that removed failures or a lock, by lockout.",
    "counter",
    &["lockout"],
);

/// Breaker transitions: `breaker`, `to`.
pub static BREAKER_TRANSITIONS: Family = Family::new(
    "bastion_breaker_transitions_total",
    "Circuit breaker state changes (and re-openings), by breaker and state entered.",
    "counter",
    &["breaker", "to"],
);

/// Store round trips: `store` (kind), `result` (`ok`, `error`).
pub static STORE_OPERATIONS: Family = Family::new(
    "bastion_store_operations_total",
    "Redis round trips (decisions and pings) by store kind and result.",
    "counter",
    &["store", "result"],
);

/// Outage-policy answers: `component`, `policy`.
pub static STORE_FALLBACKS: Family = Family::new(
    "bastion_store_fallbacks_total",
    "Calls the store could not answer, decided by the component's outage policy.",
    "counter",
    &["component", "policy"],
);

/// Leases found lost while working.
pub static LEASES_LOST: Family = Family::new(
    "bastion_leases_lost_total",
    "Leases found expired or taken over while their holder worked.",
    "counter",
    &["component"],
);

static FAMILIES: [&Family; 11] = [
    &RATELIMIT_DECISIONS,
    &TOKEN_VERIFICATIONS,
    &TOKEN_REVOCATIONS,
    &TOKEN_REUSE,
    &LOCKOUTS,
    &LOCKOUT_FAILURES,
    &UNLOCKS,
    &BREAKER_TRANSITIONS,
    &STORE_OPERATIONS,
    &STORE_FALLBACKS,
    &LEASES_LOST,
];

/// Counts an event in the metric it moves (called for every emitted event).
pub(crate) fn record_event(event: &Event) {
    match event {
        Event::TokenReuse { .. } => TOKEN_REUSE.add(&[], 1),
        Event::TokenRevoked { scope, .. } => TOKEN_REVOCATIONS.add(&[scope], 1),
        Event::StoreUnavailable { component, policy } => {
            STORE_FALLBACKS.add(&[component, policy], 1);
        }
        Event::LockedOut { lockout, .. } => LOCKOUTS.add(&[lockout], 1),
        Event::Unlocked {
            lockout, removed, ..
        } if *removed > 0 => UNLOCKS.add(&[lockout], 1),
        Event::CircuitStateChanged { breaker, to, .. } => {
            BREAKER_TRANSITIONS.add(&[breaker, to], 1);
        }
        Event::LeaseLost { component } => LEASES_LOST.add(&[component], 1),
        _ => {}
    }
}

/// The kinds of verification counted.
const AUTH_KINDS: [&str; 3] = ["access", "refresh", "api_key"];

/// The `ok` counters of [`AUTH_KINDS`], taken once: a success is one atomic
/// add, without a lookup.
static VERIFIED_OK: OnceLock<[Counter; 3]> = OnceLock::new();

/// Counts one verification (`kind`: `"access"`, `"refresh"`, `"api_key"`)
/// and reports it as [`Event::AuthSucceeded`] or [`Event::AuthFailed`] to
/// the process-wide listeners (per-request events: a component's own
/// listeners get its state changes only), built only when someone listens.
/// `subject` names who authenticated, never what was presented.
pub(crate) fn record_auth<T>(
    kind: &'static str,
    result: &crate::Result<T>,
    subject: impl FnOnce(&T) -> String,
) {
    match result {
        Ok(v) => {
            let ok = VERIFIED_OK.get_or_init(|| {
                AUTH_KINDS.map(|k| TOKEN_VERIFICATIONS.counter(&[k, "ok", "none"]))
            });
            let i = AUTH_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
            ok[i].fetch_add(1, Ordering::Relaxed);
            crate::events::emit_global_with(Severity::Info, || Event::AuthSucceeded {
                kind,
                subject: subject(v),
            });
        }
        Err(e) => {
            let reason = e.kind().code();
            TOKEN_VERIFICATIONS.add(&[kind, "failed", &reason.to_ascii_lowercase()], 1);
            crate::events::emit_global_with(Severity::Warning, || Event::AuthFailed {
                kind,
                reason,
            });
        }
    }
}

// ---- live components -----------------------------------------------------------

/// What a live component reports at render time.
#[derive(Default)]
pub struct Snapshot {
    /// Breakers: their stats.
    pub breakers: Vec<BreakerStats>,
    /// Shared caches: namespace, hits, local hits, misses.
    pub caches: Vec<(String, u64, u64, u64)>,
    /// Stores the user made.
    pub stores: Vec<Store>,
    /// In-process fallback stores that shared components made for their
    /// outage policy `local` (internal: not in the health snapshot).
    pub fallback_stores: Vec<Store>,
}

/// A component the registry reads from at render time.
pub trait Observe: Send + Sync {
    /// Adds this component's figures to `out`.
    fn observe(self: Arc<Self>, out: &mut Snapshot);
}

static LIVE: Mutex<Vec<Weak<dyn Observe>>> = const_mutex(Vec::new());

/// Registers a component; it is dropped from the registry once it is gone.
pub fn register(component: Weak<dyn Observe>) {
    let mut live = LIVE.lock();
    live.retain(|w| w.strong_count() > 0);
    live.push(component);
}

fn snapshot() -> Snapshot {
    let live: Vec<Arc<dyn Observe>> = LIVE.lock().iter().filter_map(Weak::upgrade).collect();
    let mut out = Snapshot::default();
    for c in live {
        c.observe(&mut out);
    }
    out
}

fn state_value(s: BreakerState) -> u64 {
    match s {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape(value: &str, out: &mut String) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape(v, out);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Sums the stats of breakers sharing a name (one series per name).
fn breakers_by_name(stats: Vec<BreakerStats>) -> BTreeMap<String, BreakerStats> {
    let mut by_name: BTreeMap<String, BreakerStats> = BTreeMap::new();
    for s in stats {
        match by_name.get_mut(&s.name) {
            Some(b) => {
                b.calls += s.calls;
                b.successes += s.successes;
                b.failures += s.failures;
                b.rejected += s.rejected;
                b.state = s.state;
            }
            None => {
                by_name.insert(s.name.clone(), s);
            }
        }
    }
    by_name
}

/// Every metric in the Prometheus text exposition format (version 0.0.4).
#[must_use]
pub fn render() -> String {
    let mut out = String::with_capacity(4096);
    for f in FAMILIES {
        f.render(&mut out);
    }
    let snap = snapshot();
    let breakers = breakers_by_name(snap.breakers);
    header(
        &mut out,
        "bastion_breaker_state",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
        "gauge",
    );
    for (name, b) in &breakers {
        sample(
            &mut out,
            "bastion_breaker_state",
            &[("breaker", name)],
            state_value(b.state),
        );
    }
    header(
        &mut out,
        "bastion_breaker_calls_total",
        "Calls through circuit breakers by result (success, failure, rejected).",
        "counter",
    );
    for (name, b) in &breakers {
        for (result, v) in [
            ("success", b.successes),
            ("failure", b.failures),
            ("rejected", b.rejected),
        ] {
            sample(
                &mut out,
                "bastion_breaker_calls_total",
                &[("breaker", name), ("result", result)],
                v,
            );
        }
    }
    let mut caches: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for (ns, hits, local, misses) in snap.caches {
        let c = caches.entry(ns).or_default();
        c[0] += hits - local.min(hits);
        c[1] += local;
        c[2] += misses;
    }
    header(
        &mut out,
        "bastion_cache_requests_total",
        "Shared-cache lookups by namespace and result (hit from the store, local_hit, miss).",
        "counter",
    );
    for (ns, [hits, local, misses]) in &caches {
        for (result, v) in [("hit", hits), ("local_hit", local), ("miss", misses)] {
            sample(
                &mut out,
                "bastion_cache_requests_total",
                &[("cache", ns), ("result", result)],
                *v,
            );
        }
    }
    header(
        &mut out,
        "bastion_memory_store_keys",
        "Keys held by the memory stores of this process.",
        "gauge",
    );
    let held = |stores: &[Store]| -> u64 {
        stores
            .iter()
            .filter_map(|s| s.as_memory().map(|m| m.held_keys() as u64))
            .sum()
    };
    sample(
        &mut out,
        "bastion_memory_store_keys",
        &[],
        held(&snap.stores),
    );
    header(
        &mut out,
        "bastion_fallback_store_keys",
        "Keys held by the in-process fallback stores that shared (Redis) components keep for their outage policy local.",
        "gauge",
    );
    sample(
        &mut out,
        "bastion_fallback_store_keys",
        &[],
        held(&snap.fallback_stores),
    );
    out
}

// ---- health -----------------------------------------------------------------

/// One store's health.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreHealth {
    /// `"memory"`, `"redis"` or `"redis-cluster"`.
    pub kind: &'static str,
    /// The store without credentials (`redis://***@host:6379/0`).
    pub url: String,
    /// Whether it answered a `PING` within its timeout.
    pub reachable: bool,
    /// The round trip in milliseconds, when it answered.
    pub ping_ms: Option<f64>,
    /// The error code when it did not (`"STORE_UNAVAILABLE"`).
    pub error: Option<&'static str>,
}

/// One breaker's state.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerHealth {
    /// The breaker's name.
    pub name: String,
    /// `"closed"`, `"open"` or `"half-open"`.
    pub state: &'static str,
    /// `"local"`, `"shared"` or `"fallback"` (shared, Redis unreachable).
    pub mode: &'static str,
}

/// A readiness snapshot: every live store the user made pinged (the
/// in-process fallback stores shared components keep for their outage
/// policy `local` are internal and left out), every live breaker's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// True when every store answered (open breakers do not make a process
    /// unready: they are its protection working).
    pub ok: bool,
    /// The stores the user made, memory ones included (always reachable);
    /// never a component's internal fallback store.
    pub stores: Vec<StoreHealth>,
    /// The breakers, one per name.
    pub breakers: Vec<BreakerHealth>,
}

fn store_url(s: &Store) -> String {
    match s.as_redis() {
        Some(r) => r.display().to_owned(),
        None => "memory://".to_owned(),
    }
}

fn store_health(s: &Store, ping: crate::Result<std::time::Duration>) -> StoreHealth {
    StoreHealth {
        kind: s.kind(),
        url: store_url(s),
        reachable: ping.is_ok(),
        ping_ms: ping.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0),
        error: ping.err().map(|e| e.kind().code()),
    }
}

fn assemble(stores: Vec<StoreHealth>, breakers: Vec<BreakerStats>) -> Health {
    let breakers = breakers_by_name(breakers)
        .into_values()
        .map(|b| BreakerHealth {
            name: b.name,
            state: b.state.as_str(),
            mode: b.mode,
        })
        .collect();
    Health {
        ok: stores.iter().all(|s| s.reachable),
        stores,
        breakers,
    }
}

/// The health snapshot, blocking for the Redis pings (each bounded by its
/// store's timeout). From async code use [`health_async`].
#[must_use]
pub fn health() -> Health {
    let snap = snapshot();
    let stores = snap
        .stores
        .iter()
        .map(|s| store_health(s, s.ping()))
        .collect();
    assemble(stores, snap.breakers)
}

/// Async [`health`]: the same snapshot without blocking a thread.
pub async fn health_async() -> Health {
    let snap = snapshot();
    let pings = snap.stores.iter().map(|s| {
        let s = s.clone();
        async move {
            let p = s.ping_async().await;
            store_health(&s, p)
        }
    });
    let mut stores = Vec::with_capacity(snap.stores.len());
    for p in pings {
        stores.push(p.await);
    }
    assemble(stores, snap.breakers)
}
