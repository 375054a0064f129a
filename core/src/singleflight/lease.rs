//! Leases: one holder per name across every process sharing a [`Store`],
//! with a fencing token.
//!
//! A lease is `SET NX PX` with more guarantees:
//!
//! - **One holder.** [`Leases::try_acquire`] grants the lease of a name only
//!   when no live lease is there; it expires by itself after its `ttl`, so a
//!   killed holder blocks the others at most that long.
//! - **Fencing.** Every grant carries the next value of a per-name counter
//!   (kept, with a TTL, beside the lease): a holder whose lease expired (a
//!   pause, a stall) can be told apart from the newer holder, and a write
//!   checked against the counter (the shared cache's fill) refuses it.
//! - **Owner-only.** Renewal and release check the owner id (compared by
//!   digest in Lua, in constant time in memory) and the fence, in the same
//!   script: nobody else's release or renewal ever ends a lease.
//! - **Renewal.** [`LeaseGuard::start_renewal`] renews the lease at a third
//!   of its ttl from a task on the engine's runtime while the work runs; a
//!   renewal that finds the lease gone marks the guard lost
//!   ([`LeaseGuard::is_lost`]) and emits [`Event::LeaseLost`].
//! - **Broadcast wake-ups.** A release publishes the lease's key on one
//!   channel of the store; waiters in every process ([`Leases::acquire_async`])
//!   wake at once instead of polling, and keep a timer at the lease's expiry
//!   as the fallback (a lost message, a killed holder). On the memory store
//!   the wake-up is in-process.
//! - **One decision each.** Acquire, renew, release and inspect are each one
//!   Lua script on Redis (one round trip, Redis `TIME`) or one critical
//!   section in memory, with the same semantics; the keys of one lease share
//!   a `{hash tag}` (Redis Cluster), and every key written gets its TTL in the
//!   same script.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{err, ErrorKind, Result};
use crate::events::{Event, Listeners};
use crate::store::{script, tagged_key, Decision, Reply, Script, Store, Subscription, Txn, Value};
use crate::timespan::micros;

static ACQUIRE: Script = script!("lease_acquire", with "lease_lib");
static RENEW: Script = script!("lease_renew", with "lease_lib");
static RELEASE: Script = script!("lease_release", with "lease_lib");
static INSPECT: Script = script!("lease_inspect", with "lease_lib");

/// The key kind of leases.
const KIND: &str = "lease";
/// The channel releases are published on (under the store's prefix).
pub(crate) const CHANNEL: &str = "lease:released";
/// The longest name (bytes).
pub const MAX_NAME: usize = 1024;
/// The longest owner id (bytes).
pub const MAX_OWNER: usize = 256;
/// The longest lease.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a fence counter is kept after its last grant (at least the lease).
const FENCE_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// A grant: the fencing token and when the lease ends unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The fencing token: larger than every earlier grant of the name.
    pub fence: u64,
    /// When the lease ends (µs since the epoch, the store's clock).
    pub expires_at: i64,
}

/// What an acquisition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// This owner holds the lease now.
    Granted(Grant),
    /// Someone holds it: their grant, and whether that someone is this owner
    /// (an earlier acquisition with the same owner id).
    Held {
        /// The holder's grant.
        grant: Grant,
        /// The holder's owner id is the one that asked.
        mine: bool,
    },
}

/// Who holds a lease.
#[derive(Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's owner id.
    pub owner: String,
    /// Its grant.
    pub grant: Grant,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Owner ids let their holder release: not printed.
        f.debug_struct("Holder")
            .field("grant", &self.grant)
            .finish()
    }
}

/// A fresh random owner id (128 bits, hex).
pub fn new_owner_id() -> Result<String> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| err!(Internal, "the random generator failed"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(err!(
            InvalidArgument,
            "a lease or cache key must be 1 to {MAX_NAME} bytes"
        ));
    }
    Ok(())
}

fn check_owner(owner: &str) -> Result<()> {
    if owner.is_empty() || owner.len() > MAX_OWNER {
        return Err(err!(
            InvalidArgument,
            "an owner id must be 1 to {MAX_OWNER} bytes"
        ));
    }
    Ok(())
}

pub(crate) fn check_ttl(ttl: Duration) -> Result<i64> {
    if ttl < Duration::from_millis(1) || ttl > MAX_TTL {
        return Err(err!(
            InvalidArgument,
            "a lease ttl must be from 1 ms to 7 days"
        ));
    }
    Ok(micros(ttl))
}

/// The key of `name`'s lease (its hash tag is the name).
pub(crate) fn lease_key(name: &str) -> String {
    tagged_key(KIND, name, "")
}

/// The key of `name`'s fence counter.
pub(crate) fn fence_key(name: &str) -> String {
    tagged_key(KIND, name, "fence")
}

/// How long until a lease ending at `expires_at` (the store's clock) is over,
/// plus a millisecond: the waiters' fallback timer when no broadcast comes.
pub(crate) fn until_expiry(store: &Store, expires_at: i64) -> Duration {
    let left = expires_at.saturating_sub(store.clock().now_micros()).max(0);
    Duration::from_micros(u64::try_from(left).unwrap_or(0)) + Duration::from_millis(1)
}

/// Owner ids compared in constant time.
pub(crate) fn same_owner(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn int_arg(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// The live lease at `key` in memory: (owner, fence, expires_at).
pub(crate) fn mem_lease(txn: &mut Txn<'_>, key: &str) -> Option<(Vec<u8>, u64, i64)> {
    let Some(Value::Fields(f)) = txn.get(key) else {
        return None;
    };
    let field = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let owner = field("o")?;
    let fence = std::str::from_utf8(&field("f")?).ok()?.parse().ok()?;
    let exp = std::str::from_utf8(&field("e")?).ok()?.parse().ok()?;
    Some((owner, fence, exp))
}

/// Whether the live lease at `key` is `owner`'s grant `fence` (0: any).
pub(crate) fn mem_owned(txn: &mut Txn<'_>, key: &str, owner: &str, fence: u64) -> bool {
    mem_lease(txn, key)
        .is_some_and(|(o, f, _)| (fence == 0 || f == fence) && same_owner(&o, owner.as_bytes()))
}

fn lease_value(owner: &str, fence: u64, exp: i64) -> Value {
    Value::Fields(vec![
        ("o".to_owned(), owner.as_bytes().to_vec()),
        ("f".to_owned(), fence.to_string().into_bytes()),
        ("e".to_owned(), exp.to_string().into_bytes()),
    ])
}

fn grant_of(items: &[Reply], fence_at: usize) -> Result<Grant> {
    Ok(Grant {
        fence: u64::try_from(items[fence_at].int()?).unwrap_or(0),
        expires_at: items[fence_at + 1].int()?,
    })
}

struct AcquireD {
    keys: [String; 2],
    owner: String,
    ttl: i64,
}

impl Decision for AcquireD {
    type Output = Acquired;
    fn script(&self) -> &'static Script {
        &ACQUIRE
    }
    fn keys(&self) -> Vec<String> {
        self.keys.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.owner.as_bytes().to_vec(),
            int_arg(self.ttl),
            int_arg(micros(FENCE_KEEP)),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Acquired> {
        let a = reply.array()?;
        if a.len() < 4 {
            return Err(err!(Internal, "the lease script gave a short reply"));
        }
        let grant = grant_of(&a, 1)?;
        Ok(if a[0].int()? == 1 {
            Acquired::Granted(grant)
        } else {
            Acquired::Held {
                grant,
                mine: a[3].int()? == 1,
            }
        })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Acquired> {
        let now = txn.now();
        if let Some((owner, fence, expires_at)) = mem_lease(txn, &self.keys[0]) {
            return Ok(Acquired::Held {
                grant: Grant { fence, expires_at },
                mine: same_owner(&owner, self.owner.as_bytes()),
            });
        }
        let keep = now.saturating_add(self.ttl.max(micros(FENCE_KEEP)));
        let fence = txn.update(&self.keys[1], |old| {
            let n = match old {
                Some((Value::Int(n), _)) => n + 1,
                _ => 1,
            };
            (Some((Value::Int(n), keep)), n)
        })?;
        let fence = u64::try_from(fence).unwrap_or(0);
        let expires_at = now.saturating_add(self.ttl);
        txn.put(
            &self.keys[0],
            lease_value(&self.owner, fence, expires_at),
            expires_at,
        )?;
        Ok(Acquired::Granted(Grant { fence, expires_at }))
    }
}

struct RenewD {
    key: [String; 1],
    owner: String,
    fence: u64,
    ttl: i64,
}

impl Decision for RenewD {
    type Output = Option<Grant>;
    fn script(&self) -> &'static Script {
        &RENEW
    }
    fn keys(&self) -> Vec<String> {
        self.key.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.owner.as_bytes().to_vec(),
            self.fence.to_string().into_bytes(),
            int_arg(self.ttl),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Option<Grant>> {
        let a = reply.array()?;
        if a.first().map(Reply::int).transpose()? != Some(1) || a.len() < 3 {
            return Ok(None);
        }
        grant_of(&a, 1).map(Some)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Option<Grant>> {
        let key = &self.key[0];
        if !mem_owned(txn, key, &self.owner, self.fence) {
            return Ok(None);
        }
        let Some((_, fence, _)) = mem_lease(txn, key) else {
            return Ok(None);
        };
        let expires_at = txn.now().saturating_add(self.ttl);
        txn.put(key, lease_value(&self.owner, fence, expires_at), expires_at)?;
        Ok(Some(Grant { fence, expires_at }))
    }
}

struct ReleaseD {
    key: [String; 1],
    owner: String,
    fence: u64,
    force: bool,
    channel: String,
}

impl Decision for ReleaseD {
    type Output = bool;
    fn script(&self) -> &'static Script {
        &RELEASE
    }
    fn keys(&self) -> Vec<String> {
        self.key.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.owner.as_bytes().to_vec(),
            self.fence.to_string().into_bytes(),
            if self.force {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
            self.channel.as_bytes().to_vec(),
            self.key[0].as_bytes().to_vec(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<bool> {
        Ok(reply.int()? == 1)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
        let key = &self.key[0];
        let ok = if self.force {
            mem_lease(txn, key).is_some()
        } else {
            mem_owned(txn, key, &self.owner, self.fence)
        };
        if ok || self.force {
            txn.remove(key);
        }
        Ok(ok)
    }
}

struct InspectD {
    key: [String; 1],
}

impl Decision for InspectD {
    type Output = Option<Holder>;
    fn script(&self) -> &'static Script {
        &INSPECT
    }
    fn keys(&self) -> Vec<String> {
        self.key.to_vec()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<Option<Holder>> {
        let mut a = reply.array()?;
        if a.len() < 4 || a[0].int()? != 1 {
            return Ok(None);
        }
        let grant = grant_of(&a, 2)?;
        let owner = std::mem::replace(&mut a[1], Reply::Nil)
            .bytes()?
            .unwrap_or_default();
        Ok(Some(Holder {
            owner: String::from_utf8_lossy(&owner).into_owned(),
            grant,
        }))
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Option<Holder>> {
        Ok(
            mem_lease(txn, &self.key[0]).map(|(owner, fence, expires_at)| Holder {
                owner: String::from_utf8_lossy(&owner).into_owned(),
                grant: Grant { fence, expires_at },
            }),
        )
    }
}

/// What the waiters of one key in this process share: the notifier, and the
/// last value a fill published with its wake-up (numbered, so a waiter only
/// takes one published after it started waiting).
pub(crate) struct Slot {
    notify: Notify,
    inline: Mutex<(u64, Option<Arc<[u8]>>)>,
}

impl Slot {
    /// The notifier to wait on (enable a `notified()` before looking).
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }

    fn wake(&self, inline: Option<&[u8]>) {
        if let Some(v) = inline {
            let mut i = self.inline.lock();
            i.0 += 1;
            i.1 = Some(Arc::from(v));
        }
        self.notify.notify_waiters();
    }
}

/// The waiters of one process, by lease key: woken by a release broadcast
/// (Redis) or directly (memory, and this process's own releases).
#[derive(Default)]
struct Waiters {
    by_key: Mutex<HashMap<String, (Arc<Slot>, usize)>>,
    /// Told of each value news, and of reconnections (see [`Leases::observe`]).
    observer: std::sync::OnceLock<Observer>,
}

/// What an observer is told: a key's value changed (`(lease key, fence of
/// the new value, 0 when it was removed)`), or, `None`, that news may have
/// been missed (the subscriber reconnected).
pub(crate) type Observer = Arc<dyn Fn(Option<(&str, u64)>) + Send + Sync>;

impl Waiters {
    fn wake(&self, key: &str, inline: Option<&[u8]>) {
        if let Some((slot, _)) = self.by_key.lock().get(key) {
            slot.wake(inline);
        }
    }

    fn wake_all(&self) {
        for (slot, _) in self.by_key.lock().values() {
            slot.wake(None);
        }
    }

    /// A broadcast: `<lease key>` alone (a release), or value news:
    /// `<lease key>\n<fence>:<value blob>` (a fill with the fence it was
    /// written under, or `0:x` for a removal).
    fn on_message(&self, m: &[u8]) {
        let (key, news) = match m.iter().position(|&b| b == b'\n') {
            Some(i) => (&m[..i], value_news(&m[i + 1..])),
            None => (m, None),
        };
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        if let (Some(o), Some((fence, _))) = (self.observer.get(), news) {
            o(Some((key, fence)));
        }
        self.wake(key, news.map(|n| n.1));
    }

    fn on_resync(&self) {
        if let Some(o) = self.observer.get() {
            o(None);
        }
        self.wake_all();
    }
}

/// The fence and the value blob of value news (`<fence>:<blob>`).
fn value_news(m: &[u8]) -> Option<(u64, &[u8])> {
    let colon = m.iter().position(|&b| b == b':')?;
    let fence = std::str::from_utf8(&m[..colon]).ok()?.parse().ok()?;
    Some((fence, &m[colon + 1..]))
}

/// A registration in [`Waiters`]; dropping it unregisters.
pub(crate) struct Watch {
    waiters: Arc<Waiters>,
    key: String,
    slot: Arc<Slot>,
}

impl Watch {
    /// The notifier to wait on (enable a `notified()` before looking).
    pub(crate) fn notify(&self) -> &Notify {
        &self.slot.notify
    }

    /// The shared slot (to wait on while the watch may be replaced).
    pub(crate) fn slot(&self) -> Arc<Slot> {
        Arc::clone(&self.slot)
    }

    /// The number of the last published value, to pass to [`Watch::published_since`].
    pub(crate) fn mark(&self) -> u64 {
        self.slot.inline.lock().0
    }

    /// The value a fill published with its wake-up after `mark`, if any.
    pub(crate) fn published_since(&self, mark: u64) -> Option<Arc<[u8]>> {
        let i = self.slot.inline.lock();
        if i.0 > mark {
            i.1.clone()
        } else {
            None
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut map = self.waiters.by_key.lock();
        if let Some(e) = map.get_mut(&self.key) {
            e.1 -= 1;
            if e.1 == 0 {
                map.remove(&self.key);
            }
        }
    }
}

struct Inner {
    store: Store,
    waiters: Arc<Waiters>,
    /// The release channel's subscription (Redis), made on the first wait.
    subscription: Mutex<Option<Arc<Subscription>>>,
    /// The full channel name scripts publish on ('' for memory).
    channel: String,
    listeners: Listeners,
}

/// The leases of one store. Cloning shares it (and its subscription).
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leases({})", self.inner.store.kind())
    }
}

impl Leases {
    /// The leases kept in `store`.
    #[must_use]
    pub fn new(store: Store) -> Self {
        let channel = store
            .as_redis()
            .map(|r| format!("{}{CHANNEL}", r.prefix()))
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                store,
                waiters: Arc::default(),
                subscription: Mutex::new(None),
                channel,
                listeners: Listeners::default(),
            }),
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The listeners that receive [`Event::LeaseLost`].
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.inner.listeners
    }

    pub(crate) fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Registers interest in `key` (a lease key) before looking at it, so a
    /// release between the look and the wait is not missed.
    pub(crate) fn watch(&self, key: &str) -> Watch {
        self.subscribe();
        let slot = {
            let mut map = self.inner.waiters.by_key.lock();
            let e = map.entry(key.to_owned()).or_insert_with(|| {
                (
                    Arc::new(Slot {
                        notify: Notify::new(),
                        inline: Mutex::new((0, None)),
                    }),
                    0,
                )
            });
            e.1 += 1;
            Arc::clone(&e.0)
        };
        Watch {
            waiters: Arc::clone(&self.inner.waiters),
            key: key.to_owned(),
            slot,
        }
    }

    /// Wakes this process's waiters of `key` (after a local release).
    pub(crate) fn wake(&self, key: &str) {
        self.inner.waiters.wake(key, None);
    }

    fn subscribe(&self) {
        let Some(redis) = self.inner.store.as_redis() else {
            return;
        };
        let mut sub = self.inner.subscription.lock();
        if let Some(s) = sub.as_ref() {
            // A forked child listens with a subscriber of its own.
            s.keep_listening();
            return;
        }
        let waiters = Arc::downgrade(&self.inner.waiters);
        *sub = Some(Arc::new(redis.subscribe(
            CHANNEL,
            Arc::new(move |n: crate::store::Notice<'_>| {
                let Some(w) = waiters.upgrade() else {
                    return;
                };
                match n {
                    crate::store::Notice::Message(m) => w.on_message(m),
                    crate::store::Notice::Resync => w.on_resync(),
                }
            }),
        )));
    }

    /// Has `observer` told of every value news this process receives, and
    /// when news may have been missed (after a reconnection); subscribes
    /// now. One observer per `Leases`: false when one is set already.
    pub(crate) fn observe(&self, observer: Observer) -> bool {
        let set = self.inner.waiters.observer.set(observer).is_ok();
        self.subscribe();
        set
    }

    /// Whether broadcasts reach this process now (Redis: the release channel
    /// is subscribed on a live connection; memory: always).
    pub(crate) fn listening(&self) -> bool {
        self.subscribe();
        self.inner
            .subscription
            .lock()
            .as_ref()
            .is_none_or(|s| s.is_ready())
    }

    /// Waits (at most `limit`) until the release channel is subscribed, so a
    /// release published from now on wakes this process. Memory: at once.
    pub async fn ready(&self, limit: Duration) -> bool {
        self.subscribe();
        let sub = self.inner.subscription.lock().clone();
        match sub {
            Some(s) => s.ready(limit).await,
            None => true,
        }
    }

    fn acquire_d(name: &str, owner: &str, ttl: Duration) -> Result<AcquireD> {
        check_name(name)?;
        check_owner(owner)?;
        Ok(AcquireD {
            keys: [lease_key(name), fence_key(name)],
            owner: owner.to_owned(),
            ttl: check_ttl(ttl)?,
        })
    }

    /// One attempt: grants `name`'s lease to `owner` for `ttl` when nobody
    /// holds it (blocking the calling thread for Redis).
    pub fn try_acquire(&self, name: &str, owner: &str, ttl: Duration) -> Result<Acquired> {
        self.inner.store.run(Self::acquire_d(name, owner, ttl)?)
    }

    /// Async [`Leases::try_acquire`].
    pub async fn try_acquire_async(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquired> {
        self.inner
            .store
            .run_async(Self::acquire_d(name, owner, ttl)?)
            .await
    }

    /// Acquires `name`'s lease for `owner`, waiting at most `timeout` while
    /// someone else holds it (woken by the holder's release, in any process,
    /// or at its expiry). `Ok(None)` when the time ran out; `Acquired::Held`
    /// with `mine` is returned as is (this owner holds it already).
    pub async fn acquire_async(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Option<Acquired>> {
        let d = Self::acquire_d(name, owner, ttl)?;
        let key = d.keys[0].clone();
        let watch = self.watch(&key);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = watch.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let held = match self
                .inner
                .store
                .run_async(Self::acquire_d(name, owner, ttl)?)
                .await?
            {
                Acquired::Held { grant, mine: false } => grant,
                other => return Ok(Some(other)),
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let until_expiry = until_expiry(&self.inner.store, held.expires_at);
            let wait = until_expiry.min(deadline - now);
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Blocking [`Leases::acquire_async`] (never from an async task).
    pub fn acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Option<Acquired>> {
        let this = self.clone();
        let (name, owner) = (name.to_owned(), owner.to_owned());
        crate::runtime::block_on(
            async move { this.acquire_async(&name, &owner, ttl, timeout).await },
        )?
    }

    fn renew_d(name: &str, owner: &str, fence: u64, ttl: Duration) -> Result<RenewD> {
        check_name(name)?;
        check_owner(owner)?;
        Ok(RenewD {
            key: [lease_key(name)],
            owner: owner.to_owned(),
            fence,
            ttl: check_ttl(ttl)?,
        })
    }

    /// Extends `owner`'s grant `fence` (0: whichever grant it holds) to `ttl`
    /// from now; `None` when it no longer holds the lease.
    pub fn renew(
        &self,
        name: &str,
        owner: &str,
        fence: u64,
        ttl: Duration,
    ) -> Result<Option<Grant>> {
        self.inner
            .store
            .run(Self::renew_d(name, owner, fence, ttl)?)
    }

    /// Async [`Leases::renew`].
    pub async fn renew_async(
        &self,
        name: &str,
        owner: &str,
        fence: u64,
        ttl: Duration,
    ) -> Result<Option<Grant>> {
        self.inner
            .store
            .run_async(Self::renew_d(name, owner, fence, ttl)?)
            .await
    }

    fn release_d(&self, name: &str, owner: &str, fence: u64, force: bool) -> Result<ReleaseD> {
        check_name(name)?;
        if !force {
            check_owner(owner)?;
        }
        Ok(ReleaseD {
            key: [lease_key(name)],
            owner: owner.to_owned(),
            fence,
            force,
            channel: self.inner.channel.clone(),
        })
    }

    /// Ends `owner`'s grant `fence` (0: whichever grant it holds) and wakes
    /// the waiters of every process; `false` (a no-op) when it does not hold
    /// the lease (expired, taken over, someone else's).
    pub fn release(&self, name: &str, owner: &str, fence: u64) -> Result<bool> {
        let d = self.release_d(name, owner, fence, false)?;
        let key = d.key[0].clone();
        let done = self.inner.store.run(d)?;
        self.wake(&key);
        Ok(done)
    }

    /// Async [`Leases::release`].
    pub async fn release_async(&self, name: &str, owner: &str, fence: u64) -> Result<bool> {
        let d = self.release_d(name, owner, fence, false)?;
        let key = d.key[0].clone();
        let done = self.inner.store.run_async(d).await?;
        self.wake(&key);
        Ok(done)
    }

    /// Ends `name`'s lease whoever holds it (an operator's reset) and wakes
    /// the waiters; whether a live lease was there.
    pub fn reset(&self, name: &str) -> Result<bool> {
        let d = self.release_d(name, "", 0, true)?;
        let key = d.key[0].clone();
        let done = self.inner.store.run(d)?;
        self.wake(&key);
        Ok(done)
    }

    /// Who holds `name`'s lease now.
    pub fn holder(&self, name: &str) -> Result<Option<Holder>> {
        check_name(name)?;
        self.inner.store.run(InspectD {
            key: [lease_key(name)],
        })
    }

    /// Async [`Leases::holder`].
    pub async fn holder_async(&self, name: &str) -> Result<Option<Holder>> {
        check_name(name)?;
        self.inner
            .store
            .run_async(InspectD {
                key: [lease_key(name)],
            })
            .await
    }

    /// A guard over a grant this owner holds: renewal and release.
    #[must_use]
    pub fn guard(&self, name: &str, owner: &str, grant: Grant, ttl: Duration) -> LeaseGuard {
        LeaseGuard {
            leases: self.clone(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            grant,
            ttl,
            state: Arc::new(GuardState::default()),
            released: false,
        }
    }
}

#[derive(Default)]
struct GuardState {
    lost: AtomicBool,
    stop: Notify,
    stopped: AtomicBool,
}

/// A held lease: renews in the background once [`LeaseGuard::start_renewal`]
/// is called, and is released by [`LeaseGuard::release`] or, dropped
/// unreleased, in the background.
pub struct LeaseGuard {
    leases: Leases,
    name: String,
    owner: String,
    grant: Grant,
    ttl: Duration,
    state: Arc<GuardState>,
    released: bool,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("fence", &self.grant.fence)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

impl LeaseGuard {
    /// The grant's fencing token.
    #[must_use]
    pub fn fence(&self) -> u64 {
        self.grant.fence
    }

    /// The lease's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The owner id.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether a renewal found the lease gone (expired or taken over).
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.state.lost.load(Ordering::SeqCst)
    }

    /// Renews the lease every third of its ttl on the engine's runtime until
    /// the guard is released or dropped. A renewal that finds the lease gone
    /// marks the guard lost and emits [`Event::LeaseLost`]; a store outage is
    /// retried at the next tick.
    pub fn start_renewal(&self) -> Result<()> {
        let leases = self.leases.clone();
        let (name, owner, fence, ttl) = (
            self.name.clone(),
            self.owner.clone(),
            self.grant.fence,
            self.ttl,
        );
        let state = Arc::clone(&self.state);
        let every = (ttl / 3).max(Duration::from_millis(1));
        crate::runtime::detach(async move {
            loop {
                let stop = state.stop.notified();
                tokio::pin!(stop);
                stop.as_mut().enable();
                if state.stopped.load(Ordering::SeqCst) {
                    return;
                }
                if tokio::time::timeout(every, stop).await.is_ok() {
                    return;
                }
                match leases.renew_async(&name, &owner, fence, ttl).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        state.lost.store(true, Ordering::SeqCst);
                        leases
                            .inner
                            .listeners
                            .emit(&Event::LeaseLost { component: "lease" });
                        return;
                    }
                    Err(e) if e.kind() == ErrorKind::StoreUnavailable => {}
                    Err(_) => return,
                }
            }
        })
    }

    fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.stop.notify_waiters();
    }

    /// Renews now to `ttl` (`None`: the guard's); `None` when the lease is
    /// no longer held (the guard is then marked lost).
    pub fn extend(&mut self, ttl: Option<Duration>) -> Result<Option<Grant>> {
        let ttl = ttl.unwrap_or(self.ttl);
        let g = self
            .leases
            .renew(&self.name, &self.owner, self.grant.fence, ttl)?;
        match g {
            Some(g) => {
                self.grant = g;
                self.ttl = ttl;
            }
            None => self.state.lost.store(true, Ordering::SeqCst),
        }
        Ok(g)
    }

    /// Stops renewal and ends the lease; whether it was still held.
    pub fn release(mut self) -> Result<bool> {
        self.stop();
        self.released = true;
        self.leases
            .release(&self.name, &self.owner, self.grant.fence)
    }

    /// Async [`LeaseGuard::release`].
    pub async fn release_async(mut self) -> Result<bool> {
        self.stop();
        self.released = true;
        let (leases, name, owner) = (
            self.leases.clone(),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
        );
        leases.release_async(&name, &owner, self.grant.fence).await
    }

    /// Stops renewal and leaves the lease to expire at its time (a holder
    /// that lets go without releasing, as python-redis-lock's locks do when
    /// their object is garbage-collected).
    pub fn leave(self) {
        drop(self.disarm());
    }

    /// Stops renewal without releasing (the fenced fill releases in its own
    /// script).
    pub(crate) fn disarm(mut self) -> (String, String, u64) {
        self.stop();
        self.released = true;
        (
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
            self.grant.fence,
        )
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.stop();
        if self.released {
            return;
        }
        let leases = self.leases.clone();
        let (name, owner, fence) = (
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
            self.grant.fence,
        );
        let _ = crate::runtime::detach(async move {
            let _ = leases.release_async(&name, &owner, fence).await;
        });
    }
}
