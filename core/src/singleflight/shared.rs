//! The shared cache tier: one computation per key across every process that
//! shares a [`Store`] (Redis, Redis Cluster, or memory for one process).
//!
//! [`SharedCache::begin`] (or [`SharedCache::begin_async`]) answers a key
//! from the store, or makes the caller the one that computes it
//! ([`Step::Compute`], finished with [`Fill::finish`]):
//!
//! 1. **In-process coalescing first.** Callers of one key in one process join
//!    one [`SingleFlight`]: one local leader per key per process, so N callers
//!    in P processes make at most P store waiters, and 1 computation.
//! 2. **The triple check.** The local leader looks the value up in the store;
//!    on a miss it takes the key's lease ([`super::lease`]), looks up again
//!    (another process may just have filled it), and only then computes.
//! 3. **Broadcast wake-ups.** A local leader that finds the lease held waits
//!    for the fill's broadcast (or the lease's release, or its expiry, or the
//!    wait timeout), then reads the value: waiters never take the lease just
//!    to read, so they all wake together, not one by one.
//! 4. **Fenced fill.** The value is written only if the writer's fencing
//!    token is still the key's latest: a leader that stalled past its lease
//!    (renewed at a third of `lease_ttl` while it computes) cannot overwrite
//!    the value of the leader that took over. The same script releases the
//!    lease and publishes.
//! 5. **Takeover.** A leader that fails releases the lease at once (a waiter
//!    takes over); one that is killed leaves a lease that expires after
//!    `lease_ttl`, when a waiter's expiry timer takes over. A [`Fill`]
//!    dropped unfinished (a cancelled caller) hands the local lead to a
//!    waiting caller and releases the lease in the background.
//! 6. **Freshness.** The rules of the in-process cache, on the stored value:
//!    `ttl`, `stale_while_revalidate`, `stale_if_error`, XFetch early
//!    refresh, opt-in negative caching ([`CacheOptions`]).
//! 7. **Outage.** When Redis cannot answer (within its operation timeout),
//!    the cache emits [`Event::StoreUnavailable`] (`component:
//!    "singleflight"`, `policy: "local"`) and carries on with an in-process
//!    memory tier: in-process single-flight, bounded by `max_entries`. Redis
//!    is tried again a second later. A wait for another process's lease is
//!    bounded by `wait_timeout`; past it the caller computes without the
//!    lease (and does not write).
//! 8. **Local tier.** On Redis, a fresh value read from the store is kept
//!    in this process for `local_ttl` (1 s by default; never past its own
//!    freshness) and answered from there without a round trip. A fill of a
//!    new value or an invalidation in any process is broadcast with the
//!    value's fence, and drops the other processes' copies as it arrives; a
//!    reconnection of the subscriber drops them all. Bounded by
//!    `max_entries` (see `near.rs`).
//! 9. **Bounded.** Keys up to [`MAX_KEY`] bytes, values up to
//!    `max_value_bytes`; the in-process tables hold only running flights.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::cache::{stale_if_error, Answer, CacheOptions, Draws, Source, Standing};
use super::lease::{self, check_name, lease_key, mem_owned, Acquired, LeaseGuard, Leases};
use super::near::Near;
use super::{Joined, Leader, Role, SingleFlight};
use crate::error::{err, Detail, Error, ErrorKind, Result};
use crate::events::{Event, Listeners};
use crate::store::{script, tagged_key, Decision, MemoryOptions, Reply, Script, Store, Txn, Value};
use crate::timespan::micros;

static LOOKUP: Script = script!("sfc_lookup");
static FILL: Script = script!("sfc_fill", with "lease_lib");
static INVALIDATE: Script = script!("sfc_invalidate", with "lease_lib");

/// The longest cache key (bytes), namespace included.
pub const MAX_KEY: usize = lease::MAX_NAME;
/// How long Redis is left alone after an outage before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How a [`SharedCache`] keeps values.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedCacheOptions {
    /// The freshness rules (`max_entries` bounds the in-process outage tier).
    pub cache: CacheOptions,
    /// Keys are `namespace:key` (letters, digits, `_ - .`; 1 to 64).
    pub namespace: String,
    /// The lease of a computation; renewed at a third of it while it runs.
    pub lease_ttl: Duration,
    /// The longest wait for another process's computation.
    pub wait_timeout: Duration,
    /// The largest value stored (bytes).
    pub max_value_bytes: usize,
    /// How long this process answers a value it read from Redis without
    /// asking again (the local tier; zero: off). Never past the value's own
    /// freshness; a fill or an invalidation anywhere drops the copies at
    /// once (broadcast). At most `cache.max_entries` copies.
    pub local_ttl: Duration,
}

impl Default for SharedCacheOptions {
    fn default() -> Self {
        Self {
            cache: CacheOptions::default(),
            namespace: "cache".to_owned(),
            lease_ttl: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(15),
            max_value_bytes: 1 << 20,
            local_ttl: Duration::from_secs(1),
        }
    }
}

impl SharedCacheOptions {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        self.cache.validate()?;
        let ns = &self.namespace;
        if ns.is_empty()
            || ns.len() > 64
            || !ns
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(err!(
                InvalidArgument,
                "namespace must be 1 to 64 letters, digits, '_', '-' or '.'"
            ));
        }
        lease::check_ttl(self.lease_ttl)?;
        if self.wait_timeout > Duration::from_secs(3600) {
            return Err(err!(
                InvalidArgument,
                "wait_timeout must be at most an hour"
            ));
        }
        if self.local_ttl > Duration::from_secs(86_400) {
            return Err(err!(InvalidArgument, "local_ttl must be at most a day"));
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > 512 << 20 {
            return Err(err!(
                InvalidArgument,
                "max_value_bytes must be from 1 to 512 MiB"
            ));
        }
        Ok(())
    }
}

/// A value as stored, with its freshness data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    /// `None`: a kept "nothing found".
    value: Option<Vec<u8>>,
    /// When it stops being fresh (µs, the store's clock).
    expires: i64,
    /// How long its computation took (µs).
    delta: i64,
    /// The fence it was written under (0: not known).
    fence: u64,
}

struct LookupD {
    key: [String; 1],
}

impl Decision for LookupD {
    type Output = (i64, Option<Stored>);
    fn script(&self) -> &'static Script {
        &LOOKUP
    }
    fn keys(&self) -> Vec<String> {
        self.key.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<(i64, Option<Stored>)> {
        let mut a = reply.array()?;
        if a.len() < 2 {
            return Err(err!(Internal, "the cache script gave a short reply"));
        }
        let now = a[0].int()?;
        if a[1].int()? != 1 || a.len() < 7 {
            return Ok((now, None));
        }
        let negative = a[5].int()? == 1;
        let value = std::mem::replace(&mut a[2], Reply::Nil).bytes()?;
        Ok((
            now,
            Some(Stored {
                value: if negative {
                    None
                } else {
                    Some(value.unwrap_or_default())
                },
                expires: a[3].int()?,
                delta: a[4].int()?,
                fence: u64::try_from(a[6].int()?).unwrap_or(0),
            }),
        ))
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<(i64, Option<Stored>)> {
        let now = txn.now();
        let Some(Value::Fields(f)) = txn.get(&self.key[0]) else {
            return Ok((now, None));
        };
        let field = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_slice());
        let int = |n: &str| {
            field(n)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok((
            now,
            Some(Stored {
                value: (int("n") != 1).then(|| field("v").unwrap_or_default().to_vec()),
                expires: int("e"),
                delta: int("d"),
                fence: u64::try_from(int("f")).unwrap_or(0),
            }),
        ))
    }
}

/// What a fill does with the entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Write the value.
    Keep,
    /// Delete the entry (nothing found, not kept).
    Drop,
    /// Leave it (the computation failed): release only.
    None,
}

struct FillD {
    /// fence counter, entry, lease.
    keys: [String; 3],
    owner: String,
    fence: u64,
    mode: Mode,
    value: Option<Vec<u8>>,
    fresh_for: i64,
    delta: i64,
    keep_after: i64,
    channel: String,
    /// The value's blob for the waiters (empty: none).
    inline: Vec<u8>,
}

impl Decision for FillD {
    /// (written, released).
    type Output = (bool, bool);
    fn script(&self) -> &'static Script {
        &FILL
    }
    fn keys(&self) -> Vec<String> {
        self.keys.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        let mode: &[u8] = match self.mode {
            Mode::Keep => b"keep",
            Mode::Drop => b"drop",
            Mode::None => b"none",
        };
        vec![
            self.owner.as_bytes().to_vec(),
            self.fence.to_string().into_bytes(),
            mode.to_vec(),
            self.value.clone().unwrap_or_default(),
            if self.value.is_none() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
            self.fresh_for.to_string().into_bytes(),
            self.delta.to_string().into_bytes(),
            self.keep_after.to_string().into_bytes(),
            self.channel.as_bytes().to_vec(),
            self.keys[2].as_bytes().to_vec(),
            self.inline.clone(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<(bool, bool)> {
        let a = reply.array()?;
        if a.len() < 2 {
            return Err(err!(Internal, "the cache script gave a short reply"));
        }
        Ok((a[0].int()? == 1, a[1].int()? == 1))
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<(bool, bool)> {
        let now = txn.now();
        let current = matches!(
            txn.get(&self.keys[0]),
            Some(Value::Int(n)) if u64::try_from(*n).ok() == Some(self.fence)
        );
        let mut written = false;
        if self.mode != Mode::None && current {
            match self.mode {
                Mode::Keep => {
                    let expires = now.saturating_add(self.fresh_for);
                    let v = Value::Fields(vec![
                        ("v".to_owned(), self.value.clone().unwrap_or_default()),
                        (
                            "n".to_owned(),
                            if self.value.is_none() {
                                b"1".to_vec()
                            } else {
                                b"0".to_vec()
                            },
                        ),
                        ("e".to_owned(), expires.to_string().into_bytes()),
                        ("d".to_owned(), self.delta.to_string().into_bytes()),
                        ("f".to_owned(), self.fence.to_string().into_bytes()),
                    ]);
                    txn.put(&self.keys[1], v, expires.saturating_add(self.keep_after))?;
                }
                _ => {
                    txn.remove(&self.keys[1]);
                }
            }
            written = true;
        }
        let released = mem_owned(txn, &self.keys[2], &self.owner, self.fence);
        if released {
            txn.remove(&self.keys[2]);
        }
        Ok((written, released))
    }
}

/// Counts since the cache was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharedCacheStats {
    /// Fresh answers (from the store or the local tier).
    pub hits: u64,
    /// Fresh answers from the local tier, without a round trip.
    pub local_hits: u64,
    /// Answers that needed a computation (this caller's or another's).
    pub misses: u64,
    /// Computations handed to callers ([`Step::Compute`]).
    pub computations: u64,
    /// Early refreshes (XFetch).
    pub early_refreshes: u64,
    /// Stale values served.
    pub stale_served: u64,
    /// Fills refused because a newer lease holder exists (fencing).
    pub fills_refused: u64,
    /// Operations answered by the in-process tier during a store outage.
    pub local_fallbacks: u64,
}

/// One tier: a store and its leases.
struct Tier {
    leases: Leases,
    local: bool,
}

struct Inner {
    options: SharedCacheOptions,
    primary: Arc<Tier>,
    /// The outage tier (none when the primary is a memory store).
    local: Option<Arc<Tier>>,
    /// Copies of values read from Redis (none for memory, or `local_ttl` 0).
    near: Option<Arc<Near<Stored>>>,
    /// When Redis may be tried again after an outage.
    down_until: Mutex<Option<Instant>>,
    flights: SingleFlight<Stored>,
    draws: Draws,
    listeners: Listeners,
    process: String,
    seq: AtomicU64,
    stats: Mutex<SharedCacheStats>,
}

/// A cache shared through a store (see the module documentation). Cloning
/// shares it.
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SharedCache({:?}, {})",
            self.inner.options.namespace,
            self.inner.primary.leases.store().kind()
        )
    }
}

impl crate::metrics::Observe for Inner {
    fn observe(self: Arc<Self>, out: &mut crate::metrics::Snapshot) {
        let s = *self.stats.lock();
        out.caches.push((
            self.options.namespace.clone(),
            s.hits,
            s.local_hits,
            s.misses,
        ));
    }
}

/// The rest of [`SharedCache::begin_now`]: the store is asked.
pub struct Pending {
    cache: SharedCache,
    name: String,
    found: Option<(i64, Stored)>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Pending {
    /// The value from the store, or this caller's turn to compute it.
    pub async fn run(self) -> Result<Step> {
        self.cache.begin_from(self.name, self.found).await
    }
}

/// The local tier's answer.
enum Probe {
    Hit(Step),
    /// Fresh, and due for an early refresh: (the store's time, the value).
    Early((i64, Stored)),
    Miss,
}

/// What [`SharedCache::begin`] hands a caller.
#[derive(Debug)]
pub enum Step {
    /// The answer.
    Ready(Answer<Vec<u8>>),
    /// This caller computes: then [`Fill::finish`].
    Compute(Box<Fill>),
}

impl SharedCache {
    /// A cache over `store`; `seed` fixes XFetch's draws (tests).
    pub fn new(store: Store, options: SharedCacheOptions, seed: Option<u64>) -> Result<Self> {
        options.validate()?;
        let local = store.as_redis().map(|_| {
            Arc::new(Tier {
                leases: Leases::new(Store::fallback_memory(MemoryOptions {
                    max_keys: options.cache.max_entries.saturating_mul(2).max(16),
                    shards: 16,
                    clock: store.clock(),
                })),
                local: true,
            })
        });
        let primary = Arc::new(Tier {
            leases: Leases::new(store),
            local: false,
        });
        let near = (local.is_some() && !options.local_ttl.is_zero()).then(|| {
            let near = Arc::new(Near::new(
                micros(options.local_ttl),
                options.cache.max_entries,
            ));
            let weak = Arc::downgrade(&near);
            primary
                .leases
                .observe(Arc::new(move |news: Option<(&str, u64)>| {
                    if let Some(near) = weak.upgrade() {
                        match news {
                            Some((key, fence)) => near.news(key, fence),
                            None => near.clear(),
                        }
                    }
                }));
            near
        });
        let inner = Arc::new(Inner {
            primary,
            local,
            near,
            down_until: Mutex::new(None),
            flights: SingleFlight::new(),
            draws: Draws::new(seed)?,
            listeners: Listeners::default(),
            process: lease::new_owner_id()?,
            seq: AtomicU64::new(0),
            stats: Mutex::new(SharedCacheStats::default()),
            options,
        });
        crate::metrics::register(Arc::downgrade(&inner) as _);
        Ok(Self { inner })
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &SharedCacheOptions {
        &self.inner.options
    }

    /// The listeners that receive [`Event::StoreUnavailable`] and
    /// [`Event::LeaseLost`].
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.inner.listeners
    }

    /// Counts since the cache was made.
    #[must_use]
    pub fn stats(&self) -> SharedCacheStats {
        *self.inner.stats.lock()
    }

    /// How many callers of this process wait for `key`'s computation now.
    #[must_use]
    pub fn waiting(&self, key: &str) -> usize {
        self.inner.flights.waiting(&self.name(key))
    }

    /// Waits (at most `limit`) until this process receives the store's
    /// broadcasts (Redis); true at once for memory.
    pub async fn ready(&self, limit: Duration) -> bool {
        self.inner.primary.leases.ready(limit).await
    }

    fn count(&self, f: impl FnOnce(&mut SharedCacheStats)) {
        f(&mut self.inner.stats.lock());
    }

    fn name(&self, key: &str) -> String {
        format!("{}:{key}", self.inner.options.namespace)
    }

    fn entry_key(name: &str) -> String {
        tagged_key("sfv", name, "")
    }

    /// The tier to start on: the primary, unless it failed in the last second.
    fn tier(&self) -> Arc<Tier> {
        if let Some(local) = &self.inner.local {
            let mut down = self.inner.down_until.lock();
            match *down {
                Some(t) if Instant::now() < t => return Arc::clone(local),
                Some(_) => *down = None,
                None => {}
            }
        }
        Arc::clone(&self.inner.primary)
    }

    /// After `e` on `tier`: the outage tier to carry on with, or the error.
    fn fall_back(&self, tier: &mut Arc<Tier>, e: Error) -> Result<()> {
        match &self.inner.local {
            Some(local) if e.kind() == ErrorKind::StoreUnavailable && !tier.local => {
                *self.inner.down_until.lock() = Some(Instant::now() + RETRY_AFTER);
                self.inner.listeners.emit(&Event::StoreUnavailable {
                    component: "singleflight",
                    policy: "local",
                });
                *tier = Arc::clone(local);
                Ok(())
            }
            _ => Err(e),
        }
    }

    async fn lookup(&self, tier: &mut Arc<Tier>, name: &str) -> Result<(i64, Option<Stored>)> {
        loop {
            let d = LookupD {
                key: [Self::entry_key(name)],
            };
            match tier.leases.store().run_async(d).await {
                Ok(v) => {
                    if tier.local {
                        self.count(|s| s.local_fallbacks += 1);
                    }
                    return Ok(v);
                }
                Err(e) => self.fall_back(tier, e)?,
            }
        }
    }

    async fn try_lease(&self, tier: &mut Arc<Tier>, name: &str, owner: &str) -> Result<Acquired> {
        loop {
            match tier
                .leases
                .try_acquire_async(name, owner, self.inner.options.lease_ttl)
                .await
            {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if !tier.local && e.kind() == ErrorKind::StoreUnavailable {
                        self.release_abandoned(&tier.leases, name, owner);
                    }
                    self.fall_back(tier, e)?;
                }
            }
        }
    }

    /// A lease request that timed out may still reach Redis (queued behind a
    /// pause) and be granted to this caller, who has moved on: release it by
    /// its owner id once Redis answers, so that no caller of any process
    /// waits for a holder that gave up. Retried until the lease would have
    /// expired anyway.
    fn release_abandoned(&self, leases: &Leases, name: &str, owner: &str) {
        let (leases, name, owner) = (leases.clone(), name.to_owned(), owner.to_owned());
        let ttl = self.inner.options.lease_ttl;
        let _ = crate::runtime::detach(async move {
            let deadline = tokio::time::Instant::now() + ttl;
            let mut pause = Duration::from_millis(50);
            while tokio::time::Instant::now() < deadline {
                if leases.release_async(&name, &owner, 0).await.is_ok() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
    }

    fn owner(&self) -> String {
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.inner.process)
    }

    fn compute(
        &self,
        tier: Arc<Tier>,
        name: String,
        leader: Leader<Stored>,
        lease: Option<LeaseGuard>,
        stale_on_error: Option<Stored>,
    ) -> Result<Step> {
        if let Some(g) = &lease {
            g.start_renewal()?;
        }
        self.count(|s| s.computations += 1);
        Ok(Step::Compute(Box::new(Fill {
            cache: self.clone(),
            tier,
            name,
            leader: Some(leader),
            lease,
            started: Instant::now(),
            stale_on_error,
        })))
    }

    /// Blocking [`SharedCache::begin_async`] (never from an async task). A
    /// value in the local tier is answered on the calling thread.
    pub fn begin(&self, key: &str) -> Result<Step> {
        match self.begin_now(key)? {
            Ok(step) => Ok(step),
            Err(pending) => crate::runtime::block_on(pending.run())?,
        }
    }

    /// The value of `key` from the local tier or the store, or this caller's
    /// turn to compute it.
    pub async fn begin_async(&self, key: &str) -> Result<Step> {
        match self.begin_now(key)? {
            Ok(step) => Ok(step),
            Err(pending) => pending.run().await,
        }
    }

    /// [`SharedCache::begin_async`]'s first part, on the calling thread: the
    /// answer of the local tier, or what is left to do ([`Pending::run`]),
    /// so that bindings answer local hits without an async hop.
    pub fn begin_now(&self, key: &str) -> Result<std::result::Result<Step, Pending>> {
        let name = self.name(key);
        check_name(&name)?;
        let found = match self.near_probe(&name) {
            Probe::Hit(step) => return Ok(Ok(step)),
            Probe::Early(found) => Some(found),
            Probe::Miss => None,
        };
        Ok(Err(Pending {
            cache: self.clone(),
            name,
            found,
        }))
    }

    /// The local tier's answer for `name`: a fresh copy (counted), a copy
    /// due for an early refresh, or nothing.
    fn near_probe(&self, name: &str) -> Probe {
        let Some(near) = &self.inner.near else {
            return Probe::Miss;
        };
        let now = self.inner.primary.leases.store().clock().now_micros();
        let Some(found) = near.get(&lease_key(name), now) else {
            return Probe::Miss;
        };
        let e = found.value;
        let o = &self.inner.options.cache;
        if o.early(e.delta, e.expires, found.store_now, || {
            self.inner.draws.uniform()
        }) {
            return Probe::Early((found.store_now, e));
        }
        self.count(|s| {
            s.hits += 1;
            s.local_hits += 1;
        });
        Probe::Hit(hit(e, Source::Hit))
    }

    /// Looks `name` up in `tier` and keeps a fresh value in the local tier.
    async fn lookup_near(&self, tier: &mut Arc<Tier>, name: &str) -> Result<(i64, Option<Stored>)> {
        let Some(near) = self.inner.near.as_ref().filter(|_| !tier.local) else {
            return self.lookup(tier, name).await;
        };
        let lkey = lease_key(name);
        let epoch = near.epoch(&lkey);
        let (now, found) = self.lookup(tier, name).await?;
        if let Some(e) = &found {
            if !tier.local && self.inner.primary.leases.listening() {
                let local_now = tier.leases.store().clock().now_micros();
                near.keep(&lkey, e.clone(), e.fence, epoch, local_now, now, e.expires);
            }
        }
        Ok((now, found))
    }

    /// [`SharedCache::begin_async`] after the local tier: `found` is a copy
    /// from it (due for an early refresh) with the store's time.
    async fn begin_from(&self, name: String, found: Option<(i64, Stored)>) -> Result<Step> {
        let mut tier = self.tier();
        // A copy from the local tier is here because its early refresh is due.
        let (now, found, due) = match found {
            Some((now, e)) => (now, Some(e), true),
            None => {
                let (now, found) = self.lookup_near(&mut tier, &name).await?;
                (now, found, false)
            }
        };
        let o = &self.inner.options.cache;
        let mut stale = None;
        if let Some(e) = found {
            match o.standing(e.expires, now) {
                Standing::Fresh => {
                    if !due && !o.early(e.delta, e.expires, now, || self.inner.draws.uniform()) {
                        self.count(|s| s.hits += 1);
                        return Ok(hit(e, Source::Hit));
                    }
                    // XFetch: one caller in all processes refreshes ahead of
                    // expiry; the others keep getting the fresh value.
                    if let Role::Leader(leader) = self.inner.flights.begin(&name) {
                        let owner = self.owner();
                        if let Ok(Acquired::Granted(g)) =
                            self.try_lease(&mut tier, &name, &owner).await
                        {
                            self.count(|s| s.early_refreshes += 1);
                            let guard =
                                tier.leases
                                    .guard(&name, &owner, g, self.inner.options.lease_ttl);
                            return self.compute(tier, name, leader, Some(guard), None);
                        }
                        leader.complete(Ok(e.clone()));
                    }
                    self.count(|s| s.hits += 1);
                    return Ok(hit(e, Source::Hit));
                }
                Standing::Stale {
                    serve_now,
                    serve_on_error,
                } => stale = Some((e, serve_now, serve_on_error)),
                Standing::Gone => {}
            }
        }
        self.count(|s| s.misses += 1);
        let stale_on_error = stale.as_ref().filter(|s| s.2).map(|s| s.0.clone());
        let serve_now = stale.as_ref().filter(|s| s.1).map(|s| s.0.clone());
        let mut role = self.inner.flights.begin(&name);
        loop {
            match role {
                Role::Follower(follower) => {
                    if let Some(e) = serve_now {
                        self.count(|s| s.stale_served += 1);
                        drop(follower);
                        return Ok(hit(e, Source::StaleWhileRevalidate));
                    }
                    match follower.wait_async().await {
                        Joined::Shared(Ok(e)) => return Ok(hit(e, Source::Shared)),
                        Joined::Shared(Err(error)) => {
                            return self
                                .on_error(error, stale_on_error.as_ref())
                                .map(Step::Ready)
                        }
                        Joined::Lead(l) => role = Role::Leader(l),
                    }
                }
                Role::Leader(leader) => {
                    return self
                        .lead(tier, name, leader, serve_now, stale_on_error)
                        .await
                }
            }
        }
    }

    /// The local leader's part: the lease, the triple check, the wait.
    async fn lead(
        &self,
        mut tier: Arc<Tier>,
        name: String,
        leader: Leader<Stored>,
        serve_now: Option<Stored>,
        stale_on_error: Option<Stored>,
    ) -> Result<Step> {
        let owner = self.owner();
        let ttl = self.inner.options.lease_ttl;
        let lkey = lease_key(&name);
        let deadline = tokio::time::Instant::now() + self.inner.options.wait_timeout;
        let mut first = true;
        let mut watch = tier.leases.watch(&lkey);
        let mut mark = watch.mark();
        loop {
            let slot = watch.slot();
            let notified = slot.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !first {
                // A fill publishes its value with the wake-up: no read back.
                if let Some(blob) = watch.published_since(mark) {
                    if let Some(value) = unblob(&blob) {
                        let e = Stored {
                            value,
                            expires: 0,
                            delta: 0,
                            fence: 0,
                        };
                        leader.complete(Ok(e.clone()));
                        return Ok(hit(e, Source::Shared));
                    }
                }
                let (now, found) = self.lookup(&mut tier, &name).await?;
                if let Some(e) = found.filter(|e| e.expires > now) {
                    leader.complete(Ok(e.clone()));
                    return Ok(hit(e, Source::Shared));
                }
            }
            first = false;
            mark = watch.mark();
            let was_local = tier.local;
            let acquired = self.try_lease(&mut tier, &name, &owner).await?;
            if tier.local != was_local {
                // Fell back to the in-process tier: watch its wake-ups instead.
                watch = tier.leases.watch(&lkey);
                mark = watch.mark();
                first = true;
                continue;
            }
            let held = match acquired {
                Acquired::Granted(g) => {
                    let guard = tier.leases.guard(&name, &owner, g, ttl);
                    // The triple check: a fill that landed just before the grant.
                    let (now, found) = self.lookup(&mut tier, &name).await?;
                    if let Some(e) = found.filter(|e| e.expires > now) {
                        drop(guard);
                        leader.complete(Ok(e.clone()));
                        return Ok(hit(e, Source::Shared));
                    }
                    return self.compute(tier, name, leader, Some(guard), stale_on_error);
                }
                Acquired::Held { grant, .. } => grant,
            };
            if let Some(e) = serve_now {
                // Another process revalidates: serve the stale value.
                self.count(|s| s.stale_served += 1);
                leader.complete(Ok(e.clone()));
                return Ok(hit(e, Source::StaleWhileRevalidate));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                // Waited long enough: compute here, without the lease.
                return self.compute(tier, name, leader, None, stale_on_error);
            }
            let until_expiry = lease::until_expiry(tier.leases.store(), held.expires_at);
            let _ = tokio::time::timeout(until_expiry.min(deadline - now), notified).await;
        }
    }

    fn on_error(&self, error: Error, stale: Option<&Stored>) -> Result<Answer<Vec<u8>>> {
        stale_if_error(error, stale.map(|e| &e.value), || {
            self.count(|s| s.stale_served += 1);
        })
    }

    fn invalidation(&self, key: &str, tier: &Tier) -> Result<Invalidate> {
        let name = self.name(key);
        check_name(&name)?;
        self.inner.flights.forget(&name);
        let lkey = lease_key(&name);
        if let Some(near) = &self.inner.near {
            near.news(&lkey, 0);
        }
        Ok(Invalidate {
            key: [Self::entry_key(&name)],
            channel: tier.leases.channel().to_owned(),
            payload: format!("{lkey}\n0:x"),
        })
    }

    /// Removes `key`'s value from the store (the next caller computes it),
    /// and from the local tier of every process sharing it (broadcast).
    pub fn invalidate(&self, key: &str) -> Result<()> {
        let tier = self.tier();
        tier.leases.store().run(self.invalidation(key, &tier)?)
    }

    /// Async [`SharedCache::invalidate`].
    pub async fn invalidate_async(&self, key: &str) -> Result<()> {
        let tier = self.tier();
        let d = self.invalidation(key, &tier)?;
        tier.leases.store().run_async(d).await
    }

    /// How many values the local tier holds now.
    #[must_use]
    pub fn local_entries(&self) -> usize {
        self.inner.near.as_ref().map_or(0, |n| n.len())
    }
}

/// The largest value published with a fill's wake-up (larger ones are read
/// back by the waiters).
const INLINE_MAX: usize = 64 << 10;

/// A value as published to the waiters: `v` and its bytes, `n` for a kept
/// "nothing found", or `x`: not published (too large; or removed), read it.
fn blob(value: Option<&Vec<u8>>) -> Vec<u8> {
    match value {
        Some(v) if v.len() <= INLINE_MAX => {
            let mut b = Vec::with_capacity(v.len() + 1);
            b.push(b'v');
            b.extend_from_slice(v);
            b
        }
        Some(_) => b"x".to_vec(),
        None => b"n".to_vec(),
    }
}

/// The value of a published blob (`None`: not one).
#[allow(clippy::option_option)]
fn unblob(b: &[u8]) -> Option<Option<Vec<u8>>> {
    match b.split_first() {
        Some((b'v', v)) => Some(Some(v.to_vec())),
        Some((b'n', [])) => Some(None),
        _ => None,
    }
}

fn hit(e: Stored, source: Source) -> Step {
    Step::Ready(Answer {
        value: e.value,
        source,
    })
}

struct Invalidate {
    key: [String; 1],
    /// Where to tell the other processes ('' none), and what (value news:
    /// the lease key, and the fence 0 of a removal).
    channel: String,
    payload: String,
}

impl Decision for Invalidate {
    type Output = ();
    fn script(&self) -> &'static Script {
        &INVALIDATE
    }
    fn keys(&self) -> Vec<String> {
        self.key.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.channel.as_bytes().to_vec(),
            self.payload.as_bytes().to_vec(),
        ]
    }
    fn parse(&self, _: Reply) -> Result<()> {
        Ok(())
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<()> {
        txn.remove(&self.key[0]);
        Ok(())
    }
}

/// The error the callers waiting for a computation get when it failed in
/// another language's code: it names the failure's type only (`type_name`,
/// letters, digits and `_ .` kept, at most 64), never its text, which may
/// hold values. When the failure was a bastion outage (`code`
/// `CIRCUIT_OPEN`, `STORE_UNAVAILABLE` or `JWKS_FETCH_FAILED`, with its
/// `retry_after`), the waiters met the same outage: they get its kind and
/// delay, so a web integration answers them 503 as it answers the caller
/// that computed. Any other failure is `INTERNAL` for them (a failure bound
/// to the computing caller, such as its token, is not theirs).
#[must_use]
pub fn computation_failed(type_name: &str, code: Option<&str>, retry_after: Option<f64>) -> Error {
    let name: String = type_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(64)
        .collect();
    let kind = match code {
        Some("CIRCUIT_OPEN") => ErrorKind::CircuitOpen,
        Some("STORE_UNAVAILABLE") => ErrorKind::StoreUnavailable,
        Some("JWKS_FETCH_FAILED") => ErrorKind::JwksFetchFailed,
        _ => ErrorKind::Internal,
    };
    let e = Error::new(
        kind,
        format!("the computation of this key failed in another caller ({name})"),
    );
    match retry_after.filter(|r| r.is_finite() && *r >= 0.0) {
        Some(r) if kind != ErrorKind::Internal => e.with_detail(Detail::RetryAfter(r)),
        _ => e,
    }
}

/// A caller's turn to compute a key. [`Fill::finish`] stores the outcome
/// (fenced) and hands it to the callers waiting; dropped unfinished, it hands
/// the computation to a waiting caller.
pub struct Fill {
    cache: SharedCache,
    tier: Arc<Tier>,
    name: String,
    leader: Option<Leader<Stored>>,
    lease: Option<LeaseGuard>,
    started: Instant,
    stale_on_error: Option<Stored>,
}

impl std::fmt::Debug for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fill")
            .field("leased", &self.lease.is_some())
            .finish_non_exhaustive()
    }
}

impl Fill {
    /// The fencing token of this computation's lease (`None`: computing
    /// without one, after the wait timeout).
    #[must_use]
    pub fn fence(&self) -> Option<u64> {
        self.lease.as_ref().map(LeaseGuard::fence)
    }

    /// Whether the lease was lost while computing (its fill will be refused).
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.lease.as_ref().is_some_and(LeaseGuard::is_lost)
    }

    /// Blocking [`Fill::finish_async`] (never from an async task).
    pub fn finish(self, outcome: Result<Option<Vec<u8>>>) -> Result<Answer<Vec<u8>>> {
        crate::runtime::block_on(async move { self.finish_async(outcome).await })?
    }

    /// Stores `outcome` (`Ok(None)`: nothing found) and hands it to every
    /// caller waiting: the value is written only while this computation's
    /// fence is the key's latest; an error is not stored, the lease is
    /// released so that another caller may try.
    pub async fn finish_async(
        mut self,
        outcome: Result<Option<Vec<u8>>>,
    ) -> Result<Answer<Vec<u8>>> {
        let cache = self.cache.clone();
        let o = &cache.inner.options;
        let outcome = outcome.and_then(|v| match v {
            Some(b) if b.len() > o.max_value_bytes => Err(err!(
                InvalidArgument,
                "the value is larger than max_value_bytes ({})",
                o.max_value_bytes
            )),
            v => Ok(v),
        });
        let delta = micros(self.started.elapsed()).max(1);
        let (mode, value, keep) = match &outcome {
            Ok(v) => match o.cache.keep_for(v.is_some()) {
                Some(k) => (Mode::Keep, v.clone(), k),
                None => (Mode::Drop, None, Duration::ZERO),
            },
            Err(_) => (Mode::None, None, Duration::ZERO),
        };
        if let Some(guard) = self.lease.take() {
            let (name, owner, fence) = guard.disarm();
            let d = FillD {
                keys: [
                    lease::fence_key(&name),
                    SharedCache::entry_key(&name),
                    lease_key(&name),
                ],
                owner,
                fence,
                mode,
                value: value.clone(),
                fresh_for: micros(keep),
                delta,
                keep_after: o.cache.stale_keep(),
                channel: self.tier.leases.channel().to_owned(),
                inline: match mode {
                    Mode::Keep => blob(value.as_ref()),
                    Mode::Drop => b"x".to_vec(),
                    Mode::None => Vec::new(),
                },
            };
            match self.tier.leases.store().run_async(d).await {
                Ok((written, _)) => {
                    if !written && mode != Mode::None {
                        cache.count(|s| s.fills_refused += 1);
                        cache.inner.listeners.emit(&Event::LeaseLost {
                            component: "singleflight",
                        });
                    }
                }
                Err(e) => {
                    let mut tier = Arc::clone(&self.tier);
                    cache.fall_back(&mut tier, e).ok();
                }
            }
            self.tier.leases.wake(&lease_key(&self.name));
        }
        let now = self.tier.leases.store().clock().now_micros();
        let leader = self.leader.take();
        match outcome {
            Ok(v) => {
                if let Some(l) = leader {
                    l.complete(Ok(Stored {
                        value: v.clone(),
                        expires: now.saturating_add(micros(keep)),
                        delta,
                        fence: 0,
                    }));
                }
                Ok(Answer {
                    value: v,
                    source: Source::Computed,
                })
            }
            Err(e) => {
                if let Some(l) = leader {
                    l.complete(Err(e.clone()));
                }
                cache.on_error(e, self.stale_on_error.as_ref())
            }
        }
    }
}
