//! A breaker's state shared through Redis by every process that names it.
//!
//! The state (closed / open / half-open, the generation, the open time, the
//! failures in a row, the rate window, the probes in flight) lives in three
//! keys under one hash tag, `brk:{<name>}`, and changes only inside Lua
//! scripts (`scripts/breaker_*.lua`): atomic, timed by Redis `TIME`.
//! Each process keeps a mirror of it in the breaker's local core:
//! - a closed breaker admits calls from the mirror (no round trip); a
//!   success costs no round trip either: successes are counted locally and
//!   flushed in batches, in the background (at once when the shared count of
//!   failures in a row is not zero, else after `flush_interval` or 256
//!   successes), and with the next failure report;
//! - a failure, a probe's outcome and a call at the open-to-half-open edge
//!   are one script call each (the probe slots are a sorted set, so
//!   `half_open_max_calls` bounds the probes of all processes together);
//! - a transition is published on the state key's channel; every process's
//!   mirror follows within about one round trip, and re-reads the state
//!   after `sync_interval` anyway (a lost broadcast costs latency only).
//!
//! When Redis cannot answer, the breaker carries on from its mirror on this
//! process's own state ([`Event::StoreUnavailable`](crate::events::Event)
//! with policy `local`) and a background task re-reads the shared state
//! every `sync_interval` until Redis answers, then follows it again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::{err, Result};
use crate::store::{script, RedisStore, Reply, Script, Subscription};
use crate::timespan::micros;

use super::{BreakerOptions, BreakerState, TripPolicy, Window};

pub(super) static SYNC: Script = script!("breaker_sync", with "breaker_lib");
pub(super) static ACQUIRE: Script = script!("breaker_acquire", with "breaker_lib");
pub(super) static REPORT: Script = script!("breaker_report", with "breaker_lib");
pub(super) static FORCE: Script = script!("breaker_force", with "breaker_lib");

/// Successes counted locally before a batch is flushed regardless of time.
pub(super) const FLUSH_BATCH: u32 = 256;

/// The shared state as a script (or a broadcast) reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot {
    /// Acquire: a permit was granted; report: the outcome was stale.
    pub granted: bool,
    /// Acquire: the permit is a probe.
    pub probe: bool,
    /// Acquire refused: µs until a call may be let through.
    pub wait: i64,
    pub state: BreakerState,
    pub generation: u64,
    /// µs of open time left.
    pub left: i64,
    pub consecutive: u32,
    pub probe_successes: u32,
    /// The state this call moved the breaker from, if it moved it.
    pub from: Option<BreakerState>,
    pub window: (u32, u32, u32),
    pub probes: u32,
    /// From a broadcast: only state, generation, open time and failures in
    /// a row are known.
    pub partial: bool,
    /// A script's reply: the shared state's version (raised by every call
    /// that changed it); 0 for a broadcast. Within a generation, a reply
    /// of an older version that arrives after a newer one is not followed.
    pub version: u64,
    /// A script's reply: when the shared state was made (Redis `TIME`, µs);
    /// 0 for a broadcast. A later epoch is a new state: the hash was lost
    /// (expired, flushed, or Redis restarted without persistence).
    pub epoch: u64,
    /// A script's reply: the clock's reading (µs) when the call was sent,
    /// which `left` counts from (at most, on Redis `TIME`: then the open
    /// time the mirror keeps ends no later than Redis's).
    pub at: i64,
}

fn state_of(code: i64) -> Result<BreakerState> {
    Ok(match code {
        0 => BreakerState::Closed,
        1 => BreakerState::Open,
        2 => BreakerState::HalfOpen,
        _ => return Err(err!(Internal, "a breaker script returned state {code}")),
    })
}

fn small(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl Snapshot {
    fn parse(reply: Reply) -> Result<Self> {
        let items = reply.array()?;
        if items.len() != 15 {
            return Err(err!(Internal, "a breaker script returned a short reply"));
        }
        let n = |i: usize| items[i].int();
        let from = n(8)?;
        Ok(Self {
            granted: n(0)? == 1,
            probe: n(1)? == 1,
            wait: n(2)?,
            state: state_of(n(3)?)?,
            generation: u64::try_from(n(4)?).unwrap_or(0),
            left: n(5)?,
            consecutive: small(n(6)?),
            probe_successes: small(n(7)?),
            from: if from < 0 {
                None
            } else {
                Some(state_of(from)?)
            },
            window: (small(n(9)?), small(n(10)?), small(n(11)?)),
            probes: small(n(12)?),
            partial: false,
            version: u64::try_from(n(13)?).unwrap_or(0),
            epoch: u64::try_from(n(14)?).unwrap_or(0),
            at: 0,
        })
    }

    /// A broadcast: `"<state> <generation> <open µs left> <failures in a row>"`.
    pub(super) fn from_message(msg: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(msg).ok()?;
        let mut it = text.split(' ').map(|w| w.parse::<i64>().ok());
        let state = state_of(it.next()??).ok()?;
        let generation = u64::try_from(it.next()??).ok()?;
        let left = it.next()??;
        let consecutive = small(it.next()??);
        Some(Self {
            granted: false,
            probe: false,
            wait: 0,
            state,
            generation,
            left,
            consecutive,
            probe_successes: 0,
            from: None,
            window: (0, 0, 0),
            probes: 0,
            partial: true,
            version: 0,
            epoch: 0,
            at: 0,
        })
    }
}

/// Successes counted locally, not yet flushed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pending {
    pub generation: u64,
    pub successes: u32,
    pub slow: u32,
    /// When the first of them was counted (µs).
    pub since: i64,
}

/// Outcomes to count in one script call.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Batch {
    pub generation: u64,
    pub successes: u32,
    pub slow_successes: u32,
    pub failures: u32,
    pub slow_failures: u32,
}

/// What a shared breaker holds besides its local core.
pub(super) struct Shared {
    store: Arc<RedisStore>,
    keys: Vec<String>,
    /// ARGV[2..13]: the options, as every script reads them.
    args: Vec<Vec<u8>>,
    /// Makes probe tokens unique across processes.
    token_base: String,
    pub sync_interval: i64,
    pub flush_interval: i64,
    pub degraded: AtomicBool,
    /// The runtime generation of the background re-read in flight (0:
    /// none); a forked child's copy names its parent's runtime, so it does
    /// not stop the child from starting its own.
    pub syncing: AtomicU64,
    /// The same for the background retries while Redis is unreachable.
    pub recovering: AtomicU64,
    pub subscription: parking_lot::Mutex<Option<Subscription>>,
    /// The breaker's clock (stamps [`Snapshot::at`]).
    clock: SharedClock,
}

impl Shared {
    pub(super) fn new(
        store: Arc<RedisStore>,
        options: &BreakerOptions,
        clock: SharedClock,
    ) -> Result<Self> {
        let (policy, param, rate, slow_rate, minimum) = match options.policy {
            TripPolicy::Consecutive { fail_max } => (0, i64::from(fail_max), 1.0, -1.0, 0),
            TripPolicy::Rate {
                window,
                failure_rate,
                slow_call_rate,
                minimum_calls,
            } => {
                let (kind, param) = match window {
                    Window::Count(n) => (1, i64::from(n)),
                    Window::Time(d) => (2, micros(d)),
                };
                (
                    kind,
                    param,
                    failure_rate,
                    slow_call_rate.unwrap_or(-1.0),
                    minimum_calls,
                )
            }
        };
        let open_cap = options.max_reset_timeout.map_or(-1, micros);
        let window_span = match options.policy {
            TripPolicy::Rate {
                window: Window::Time(d),
                ..
            } => micros(d),
            _ => 0,
        };
        let longest = micros(options.reset_timeout)
            .max(open_cap)
            .max(window_span)
            .max(options.probe_micros());
        // Idle state outlives anything it could still decide by an hour.
        let ttl_ms = (longest / 1000).saturating_mul(2) + 3_600_000;
        let num = |v: i64| v.to_string().into_bytes();
        // Rust's shortest round-trip form: Lua reads back the same double.
        let float = |v: f64| format!("{v:?}").into_bytes();
        let args = vec![
            num(policy),
            num(param),
            float(rate),
            float(slow_rate),
            num(i64::from(minimum)),
            num(micros(options.reset_timeout)),
            num(open_cap),
            float(options.backoff_multiplier),
            num(i64::from(options.success_threshold)),
            num(i64::from(options.half_open_max_calls)),
            num(options.probe_micros()),
            num(ttl_ms),
        ];
        let base = crate::store::tagged_key("brk", &options.name, "");
        let mut random = [0u8; 8];
        aws_lc_rs::rand::fill(&mut random)
            .map_err(|_| err!(Internal, "the random generator failed"))?;
        Ok(Self {
            store,
            keys: vec![base.clone(), format!("{base}:p"), format!("{base}:r")],
            args,
            token_base: random.iter().map(|b| format!("{b:02x}")).collect(),
            sync_interval: micros(options.sync_interval),
            flush_interval: micros(options.flush_interval),
            degraded: AtomicBool::new(false),
            syncing: AtomicU64::new(0),
            recovering: AtomicU64::new(0),
            subscription: parking_lot::Mutex::new(None),
            clock,
        })
    }

    pub(super) fn store(&self) -> &Arc<RedisStore> {
        &self.store
    }

    /// The broadcast channel (the state key, without the prefix).
    pub(super) fn channel(&self) -> &str {
        &self.keys[0]
    }

    pub(super) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// A probe token unique to permit `id` of this breaker object.
    pub(super) fn token(&self, id: u64) -> String {
        format!("{}:{id}", self.token_base)
    }

    /// One script call, ready to run on the engine's runtime.
    fn request(
        &self,
        script: &'static Script,
        extra: Vec<Vec<u8>>,
    ) -> impl std::future::Future<Output = Result<Reply>> + Send + 'static {
        let mut args = self.args.clone();
        args.extend(extra);
        let store = Arc::clone(&self.store);
        let keys = self.keys.clone();
        async move { store.eval(script, &keys, &args).await }
    }

    /// One script call, from async code.
    pub(super) async fn eval(
        &self,
        script: &'static Script,
        extra: Vec<Vec<u8>>,
    ) -> Result<Snapshot> {
        let at = self.clock.now_micros();
        let reply = crate::runtime::run(self.request(script, extra)).await??;
        Ok(Snapshot {
            at,
            ..Snapshot::parse(reply)?
        })
    }

    /// One script call, blocking the calling thread (at most the store's
    /// operation timeout).
    pub(super) fn eval_blocking(
        &self,
        script: &'static Script,
        extra: Vec<Vec<u8>>,
    ) -> Result<Snapshot> {
        let at = self.clock.now_micros();
        let reply = crate::runtime::block_on(self.request(script, extra))??;
        Ok(Snapshot {
            at,
            ..Snapshot::parse(reply)?
        })
    }

    pub(super) fn report_args(batch: &Batch, token: Option<String>) -> Vec<Vec<u8>> {
        let num = |v: u64| v.to_string().into_bytes();
        vec![
            num(batch.generation),
            num(u64::from(batch.successes)),
            num(u64::from(batch.slow_successes)),
            num(u64::from(batch.failures)),
            num(u64::from(batch.slow_failures)),
            token.unwrap_or_default().into_bytes(),
        ]
    }
}
