//! The API key registry: keys created, verified, listed and revoked through a
//! [`Store`] (memory or Redis), so every process pointed at one Redis shares
//! them.
//!
//! An [`ApiKeys`] pairs a store with an [`ApiKeyHasher`]. Guarantees:
//!
//! - **Only digests are stored.** [`ApiKeys::create`] makes a key, returns its
//!   text once ([`CreatedApiKey`]) and stores its [`ApiKeyRecord`] (the
//!   peppered digest, owner, name, rate limit, creation and expiry times).
//! - **Verification is one round trip, after offline checks.**
//!   [`ApiKeys::verify`] parses the presented key first (shape, prefix,
//!   checksum: a malformed key is `INVALID_API_KEY` without touching the
//!   store), then reads the record in one decision, compares digests in
//!   constant time and checks revocation, then expiry, at the store's time
//!   (Redis `TIME`, or the memory store's clock). An unknown id and a wrong
//!   secret give the same `INVALID_API_KEY`; only the holder of a key that
//!   matches learns that it is revoked or expired. A record whose digest was
//!   made with an older pepper is re-stored under the current one after a
//!   successful verify ([`ApiKeysOptions::rehash_on_verify`]; a second round
//!   trip, once per key and rotation; its failure does not fail the verify).
//! - **Owners.** Each owner has an index of its keys, so [`ApiKeys::list`]
//!   and [`ApiKeys::revoke_all`] find them; it holds at most
//!   [`ApiKeysOptions::max_keys_per_owner`] keys. [`ApiKeys::revoke`] requires
//!   the key's owner or an admin (`PERMISSION_DENIED` otherwise).
//! - **Outages.** When the store cannot answer within its timeout, a verify
//!   follows [`ApiKeysOptions::verify_policy`]: fail closed by default
//!   (`STORE_UNAVAILABLE`), or `Local`: keys this process verified within the
//!   last [`ApiKeysOptions::local_grace`] seconds are still accepted from its
//!   own memory (revocations made elsewhere meanwhile are not seen). Fail open
//!   is refused: without its record a key has no owner to return. Creating,
//!   listing and revoking always need the store.
//!
//! ## Keys in the store
//!
//! - `apikey:{<id>}`, one hash tag per key: a hash with `rec` (the record's
//!   bytes, [`ApiKeyRecord::to_bytes`], never revoked there), `dig` (the
//!   digest's text), `own` (the owner), `exp` (the expiry in seconds, 0:
//!   none) and `rev` (when it was revoked, seconds). Its TTL ends
//!   [`ApiKeysOptions::retention`] after the key's expiry or revocation,
//!   whichever comes first, so verify answers `API_KEY_EXPIRED` /
//!   `API_KEY_REVOKED` (and `list` shows the key) for that long, then the key
//!   is unknown. **The one documented exception to "every key has a TTL":**
//!   the record of a key created without an expiry has none while the key is
//!   valid, because a TTL would be a silent expiry; revoking it gives it one.
//! - `apikey-owner:{<owner>}`, one hash tag per owner: a hash from key id to
//!   `<indexed at>:<kept until>` (microseconds; 0: no end). It lives as long
//!   as its longest-kept entry, so it too has no TTL exactly while its owner
//!   holds a key without an expiry (or one revoked while this process could
//!   not update the index; `list` and `revoke_all` then drop the entry once
//!   the record is gone).
//!
//! Creating a key is two decisions on two hash tags (which is what lets it
//! work on Redis Cluster): the owner's index first, then the record. A crash
//! between them leaves an id in the index without a record: `list` skips it
//! and drops it once older than a grace period, and no key can be used that
//! its owner's `list` and `revoke_all` do not see. A `revoke_all` that meets
//! such an id while it is recent leaves a tombstone, so a key still being
//! created is stored revoked (its `create` fails with `API_KEY_REVOKED`).

use super::apikey::{ApiKey, ApiKeyHasher, ApiKeyId, ApiKeyRecord, RateLimit, DEFAULT_PREFIX};
use crate::clock::{self, SharedClock};
use crate::error::{err, Error, ErrorKind, Result};
use crate::store::{script, tagged_key, Decision, OutagePolicy, Reply, Script, Store, Txn, Value};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

const RECORD_KIND: &str = "apikey";
const OWNER_KIND: &str = "apikey-owner";
/// How long an indexed id may wait for its record before `list` and
/// `revoke_all` treat it as a creation that never finished (microseconds).
const PENDING_GRACE: i64 = 300 * 1_000_000;
/// The longest lifetime a key may be given (100 years, in seconds).
const MAX_LIFETIME: u64 = 100 * 365 * 86_400;
/// The most keys the local outage cache holds.
const LOCAL_MAX: usize = 10_000;

static INDEX: Script = script!("apikey_index", with "apikey_owner");
static PUT: Script = script!("apikey_put");
static GET: Script = script!("apikey_get");
static REHASH: Script = script!("apikey_rehash");
static REVOKE: Script = script!("apikey_revoke");
static OWNER_LIST: Script = script!("apikey_owner_list", with "apikey_owner");
static OWNER_UPDATE: Script = script!("apikey_owner_update", with "apikey_owner");

/// Options of an [`ApiKeys`] registry.
#[derive(Clone)]
pub struct ApiKeysOptions {
    /// The prefix of the keys it makes and accepts (default `"bst"`).
    pub prefix: String,
    /// The rate limit of a key created without one (default 1000 requests
    /// per hour; `None`: such keys carry no rate limit).
    pub default_rate_limit: Option<RateLimit>,
    /// Seconds a record is kept after its key expired or was revoked, so
    /// verify can say so and `list` shows it (default 30 days; 0: deleted at
    /// once).
    pub retention: u64,
    /// The most keys one owner may hold, expired and revoked ones within
    /// their retention included (default 100): bounds `list` and `revoke_all`.
    pub max_keys_per_owner: usize,
    /// What a verify does when the store cannot answer (default fail closed;
    /// `Local` accepts keys this process verified within `local_grace`; fail
    /// open is refused).
    pub verify_policy: OutagePolicy,
    /// Seconds a key verified by this process stays acceptable during an
    /// outage under the `Local` policy (default 300).
    pub local_grace: u64,
    /// Re-store a record whose digest used an older pepper after it verifies
    /// (default true).
    pub rehash_on_verify: bool,
    /// This process's clock, for the `Local` outage cache (default: the
    /// system clock). Key times come from the store's clock.
    pub clock: SharedClock,
}

impl Default for ApiKeysOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            // Cannot fail: both values are positive.
            default_rate_limit: RateLimit::new(1000, 3600).ok(),
            retention: 30 * 86_400,
            max_keys_per_owner: 100,
            verify_policy: OutagePolicy::FailClosed,
            local_grace: 300,
            rehash_on_verify: true,
            clock: clock::system(),
        }
    }
}

impl fmt::Debug for ApiKeysOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeysOptions")
            .field("prefix", &self.prefix)
            .field("default_rate_limit", &self.default_rate_limit)
            .field("retention", &self.retention)
            .field("max_keys_per_owner", &self.max_keys_per_owner)
            .field("verify_policy", &self.verify_policy)
            .field("local_grace", &self.local_grace)
            .field("rehash_on_verify", &self.rehash_on_verify)
            .finish_non_exhaustive()
    }
}

/// When a new key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Never: the key works until it is revoked.
    Never,
    /// This many seconds after its creation (1 to 100 years).
    After(u64),
    /// At this time, seconds since the epoch (in the future, within 100 years).
    At(u64),
}

/// A key just created: its text, to show its owner once, and its record.
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct CreatedApiKey {
    key: Zeroizing<String>,
    record: ApiKeyRecord,
}

impl CreatedApiKey {
    /// The key as text, `<prefix>_<id>_<secret+checksum>` (never stored).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The record stored for it.
    #[must_use]
    pub fn record(&self) -> &ApiKeyRecord {
        &self.record
    }
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// The API key registry. See the module docs.
pub struct ApiKeys {
    store: Store,
    hasher: Arc<ApiKeyHasher>,
    options: ApiKeysOptions,
    /// Records this process verified, and when (Local outage policy only).
    local: Mutex<HashMap<ApiKeyId, (ApiKeyRecord, i64)>>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("store", &self.store)
            .field("hasher", &self.hasher)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The first step of a create: the key made, its index entry to write.
struct Pending {
    issued: super::apikey::IssuedApiKey,
    owner: String,
    name: String,
    rate_limit: Option<RateLimit>,
}

fn micros(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

fn unknown_key() -> Error {
    err!(
        InvalidApiKey,
        "the API key is not valid (unknown, or its secret does not match)"
    )
}

impl ApiKeys {
    /// A registry keeping its records in `store`, digesting with `hasher`.
    pub fn new(store: Store, hasher: Arc<ApiKeyHasher>, options: ApiKeysOptions) -> Result<Self> {
        super::apikey::check_prefix(&options.prefix)?;
        if options.verify_policy == OutagePolicy::FailOpen {
            return Err(err!(
                InvalidArgument,
                "API key verification cannot fail open (without its record a key has no \
                 owner): choose fail_closed or local"
            ));
        }
        if options.max_keys_per_owner == 0 || options.max_keys_per_owner > 100_000 {
            return Err(err!(
                InvalidArgument,
                "max_keys_per_owner must be between 1 and 100000"
            ));
        }
        if options.retention > MAX_LIFETIME || options.local_grace > 86_400 {
            return Err(err!(
                InvalidArgument,
                "retention must be at most 100 years and local_grace at most one day"
            ));
        }
        Ok(Self {
            store,
            hasher,
            options,
            local: Mutex::new(HashMap::new()),
        })
    }

    /// The registry's options.
    #[must_use]
    pub fn options(&self) -> &ApiKeysOptions {
        &self.options
    }

    /// The store the records are kept in.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The hasher that makes and checks digests.
    #[must_use]
    pub fn hasher(&self) -> &Arc<ApiKeyHasher> {
        &self.hasher
    }

    fn record_key(id: ApiKeyId) -> String {
        tagged_key(RECORD_KIND, &id.to_string(), "")
    }

    fn owner_key(owner: &str) -> String {
        tagged_key(OWNER_KIND, owner, "")
    }

    fn retention_us(&self) -> i64 {
        micros(self.options.retention)
    }

    fn get_key(&self, id: ApiKeyId) -> GetKey {
        GetKey {
            key: Self::record_key(id),
            retention: self.retention_us(),
        }
    }

    // ---- creating ----------------------------------------------------------------

    fn prepare_create(
        &self,
        owner: &str,
        name: &str,
        rate_limit: Option<RateLimit>,
        expiry: Expiry,
    ) -> Result<(Pending, IndexKey)> {
        let issued = self.hasher.generate(&self.options.prefix)?;
        // Checks owner and name before anything is stored.
        issued.to_record(owner, name, 0)?;
        let (expires_at, lifetime) = match expiry {
            Expiry::Never => (0, 0),
            Expiry::After(0) => {
                return Err(err!(
                    InvalidArgument,
                    "an API key lifetime must be at least 1 second"
                ))
            }
            Expiry::After(secs) if secs > MAX_LIFETIME => {
                return Err(err!(
                    InvalidArgument,
                    "an API key must expire within 100 years"
                ))
            }
            Expiry::After(secs) => (0, secs),
            Expiry::At(0) => {
                return Err(err!(
                    InvalidArgument,
                    "an API key must expire in the future"
                ))
            }
            Expiry::At(at) => (at, 0),
        };
        let d = IndexKey {
            index: Self::owner_key(owner),
            id: issued.id().to_string(),
            expires_at,
            lifetime,
            retention: self.retention_us(),
            max: self.options.max_keys_per_owner,
        };
        let p = Pending {
            issued,
            owner: owner.to_owned(),
            name: name.to_owned(),
            rate_limit: rate_limit.or(self.options.default_rate_limit),
        };
        Ok((p, d))
    }

    fn finish_index(&self, p: &Pending, indexed: Indexed) -> Result<(ApiKeyRecord, PutKey)> {
        match indexed.status {
            0 => {}
            1 => {
                return Err(err!(
                    InvalidArgument,
                    "the owner already holds {} API keys (max_keys_per_owner): revoke some first",
                    self.options.max_keys_per_owner
                ))
            }
            2 => {
                return Err(err!(
                    InvalidArgument,
                    "an API key must expire in the future"
                ))
            }
            _ => {
                return Err(err!(
                    InvalidArgument,
                    "an API key must expire within 100 years"
                ))
            }
        }
        let created_at = u64::try_from(indexed.now.div_euclid(1_000_000)).unwrap_or(0);
        let mut record = p.issued.to_record(&p.owner, &p.name, created_at)?;
        if indexed.expires_at > 0 {
            record = record.with_expiry(indexed.expires_at)?;
        }
        if let Some(r) = p.rate_limit {
            record = record.with_rate_limit(r);
        }
        let d = PutKey {
            key: Self::record_key(record.id()),
            bytes: record.to_bytes(),
            digest: record.digest().to_string(),
            owner: p.owner.clone(),
            expires_at: indexed.expires_at,
            retention: self.retention_us(),
        };
        Ok((record, d))
    }

    fn finish_create(p: &Pending, record: ApiKeyRecord, revoked: bool) -> Result<CreatedApiKey> {
        if revoked {
            return Err(err!(
                ApiKeyRevoked,
                "the owner's keys were revoked while this key was being created"
            ));
        }
        Ok(CreatedApiKey {
            key: p.issued.key_text(),
            record,
        })
    }

    /// Creates a key for `owner` (1 to 1024 bytes) named `name` (up to 1024
    /// bytes; neither with control characters), with `rate_limit` (`None`:
    /// the default of the options) and `expiry`. Returns the key's text, to
    /// show once, and its record. `INVALID_ARGUMENT` when the owner already
    /// holds `max_keys_per_owner` keys or the expiry is not in the future.
    pub fn create(
        &self,
        owner: &str,
        name: &str,
        rate_limit: Option<RateLimit>,
        expiry: Expiry,
    ) -> Result<CreatedApiKey> {
        let (p, d) = self.prepare_create(owner, name, rate_limit, expiry)?;
        let indexed = self.store.run(d)?;
        let (record, d) = self.finish_index(&p, indexed)?;
        let revoked = self.store.run(d)?;
        Self::finish_create(&p, record, revoked)
    }

    /// Async [`ApiKeys::create`].
    pub async fn create_async(
        &self,
        owner: &str,
        name: &str,
        rate_limit: Option<RateLimit>,
        expiry: Expiry,
    ) -> Result<CreatedApiKey> {
        let (p, d) = self.prepare_create(owner, name, rate_limit, expiry)?;
        let indexed = self.store.run_async(d).await?;
        let (record, d) = self.finish_index(&p, indexed)?;
        let revoked = self.store.run_async(d).await?;
        Self::finish_create(&p, record, revoked)
    }

    // ---- verifying ---------------------------------------------------------------

    fn prepare_verify(&self, presented: &[u8]) -> Result<(ApiKey, GetKey)> {
        let key = ApiKey::parse_with_prefix(presented, &self.options.prefix)?;
        let d = self.get_key(key.id());
        Ok((key, d))
    }

    fn finish_verify(
        &self,
        key: &ApiKey,
        outcome: Result<Fetched>,
    ) -> Result<(ApiKeyRecord, Option<RehashKey>)> {
        let fetched = match outcome {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::StoreUnavailable => {
                return self.verify_locally(key, e).map(|r| (r, None));
            }
            Err(e) => return Err(e),
        };
        let Some(record) = fetched.record else {
            return Err(unknown_key());
        };
        if record.id() != key.id() || !self.hasher.verify(key, record.digest())? {
            return Err(unknown_key());
        }
        record.check(fetched.now as f64 / 1_000_000.0)?;
        if self.options.verify_policy == OutagePolicy::Local {
            self.remember(&record);
        }
        let rehash = if self.options.rehash_on_verify && self.hasher.needs_rehash(record.digest()) {
            let mut fresh = record.clone();
            fresh.set_digest(self.hasher.digest(key));
            Some(RehashKey {
                key: Self::record_key(record.id()),
                old: record.digest().to_string(),
                bytes: fresh.to_bytes(),
                digest: fresh.digest().to_string(),
            })
        } else {
            None
        };
        Ok((record, rehash))
    }

    fn remember(&self, record: &ApiKeyRecord) {
        let now = self.options.clock.now_micros();
        let grace = micros(self.options.local_grace);
        let mut local = self.local.lock();
        if local.len() >= LOCAL_MAX && !local.contains_key(&record.id()) {
            local.retain(|_, (_, at)| *at + grace > now);
            if local.len() >= LOCAL_MAX {
                return;
            }
        }
        local.insert(record.id(), (record.clone(), now));
    }

    fn forget(&self, id: ApiKeyId) {
        if self.options.verify_policy == OutagePolicy::Local {
            self.local.lock().remove(&id);
        }
    }

    fn verify_locally(&self, key: &ApiKey, outage: Error) -> Result<ApiKeyRecord> {
        if self.options.verify_policy != OutagePolicy::Local {
            return Err(outage);
        }
        let now = self.options.clock.now_micros();
        let cached = self.local.lock().get(&key.id()).cloned();
        match cached {
            Some((record, at)) if at + micros(self.options.local_grace) > now => {
                if !self.hasher.verify(key, record.digest())? {
                    return Err(unknown_key());
                }
                record.check(now as f64 / 1_000_000.0)?;
                Ok(record)
            }
            _ => Err(outage),
        }
    }

    /// Verifies a presented key (text as bytes): offline checks first
    /// (`INVALID_API_KEY` for a malformed key, or one with another prefix,
    /// without touching the store), then one round trip for its record, a
    /// constant-time digest comparison (`INVALID_API_KEY` for an unknown id
    /// or a wrong secret alike), revocation (`API_KEY_REVOKED`) and expiry
    /// (`API_KEY_EXPIRED`) at the store's time. Returns the record (owner,
    /// name, rate limit, times).
    pub fn verify(&self, presented: &[u8]) -> Result<ApiKeyRecord> {
        let result = self.prepare_verify(presented).and_then(|(key, d)| {
            let outcome = self.store.run(d);
            let (record, rehash) = self.finish_verify(&key, outcome)?;
            if let Some(r) = rehash {
                // Best effort: the key verified whatever happens to the rewrite.
                let _ = self.store.run(r);
            }
            Ok(record)
        });
        report_verify(result)
    }

    /// Async [`ApiKeys::verify`].
    pub async fn verify_async(&self, presented: &[u8]) -> Result<ApiKeyRecord> {
        let result = match self.prepare_verify(presented) {
            Ok((key, d)) => {
                let outcome = self.store.run_async(d).await;
                match self.finish_verify(&key, outcome) {
                    Ok((record, rehash)) => {
                        if let Some(r) = rehash {
                            let _ = self.store.run_async(r).await;
                        }
                        Ok(record)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        report_verify(result)
    }

    // ---- revoking ----------------------------------------------------------------

    fn prepare_revoke(
        &self,
        id: &str,
        caller: Option<&str>,
        admin: bool,
    ) -> Result<(ApiKeyId, RevokeKey)> {
        let owner = if admin {
            String::new()
        } else {
            match caller {
                Some(who) if !who.is_empty() => who.to_owned(),
                _ => {
                    return Err(err!(
                        PermissionDenied,
                        "say who revokes the API key (its owner), or that the caller is an admin"
                    ))
                }
            }
        };
        let id = ApiKeyId::parse(id)?;
        let d = RevokeKey {
            key: Self::record_key(id),
            owner,
            retention: self.retention_us(),
            tombstone: 0,
        };
        Ok((id, d))
    }

    fn finish_revoke(&self, id: ApiKeyId, r: Revoked) -> Result<(bool, Option<UpdateOwner>)> {
        match r.status {
            RevokeStatus::Unknown => Ok((false, None)),
            RevokeStatus::Denied => Err(err!(
                PermissionDenied,
                "an API key can only be revoked by its owner or by an admin"
            )),
            RevokeStatus::Already | RevokeStatus::Tombstone => {
                self.forget(id);
                Ok((true, None))
            }
            RevokeStatus::Revoked => {
                self.forget(id);
                let d = UpdateOwner {
                    index: Self::owner_key(&r.owner),
                    changes: vec![(id.to_string(), r.ends)],
                };
                Ok((true, Some(d)))
            }
        }
    }

    /// Revokes the key with public id `id`. `caller` is the owner asking:
    /// unless `admin`, it must be the key's owner (`PERMISSION_DENIED`
    /// otherwise). Returns whether the key exists (revoked now or before).
    /// The owner's index is then updated in a second round trip (best effort:
    /// `list` repairs it later).
    pub fn revoke(&self, id: &str, caller: Option<&str>, admin: bool) -> Result<bool> {
        let (id, d) = self.prepare_revoke(id, caller, admin)?;
        let r = self.store.run(d)?;
        let (found, update) = self.finish_revoke(id, r)?;
        if let Some(u) = update {
            tolerate_outage(self.store.run(u))?;
        }
        Ok(found)
    }

    /// Async [`ApiKeys::revoke`].
    pub async fn revoke_async(&self, id: &str, caller: Option<&str>, admin: bool) -> Result<bool> {
        let (id, d) = self.prepare_revoke(id, caller, admin)?;
        let r = self.store.run_async(d).await?;
        let (found, update) = self.finish_revoke(id, r)?;
        if let Some(u) = update {
            tolerate_outage(self.store.run_async(u).await)?;
        }
        Ok(found)
    }

    fn prepare_owner(owner: &str) -> Result<ListOwner> {
        if owner.is_empty() || owner.len() > super::apikey::MAX_METADATA_LEN {
            return Err(err!(
                InvalidArgument,
                "an API key owner is 1 to 1024 bytes long"
            ));
        }
        Ok(ListOwner {
            index: Self::owner_key(owner),
        })
    }

    fn revoke_one(&self, owner: &str, entry: &Entry, now: i64) -> (ApiKeyId, RevokeKey) {
        let pending = entry.indexed_at + PENDING_GRACE - now;
        let d = RevokeKey {
            key: Self::record_key(entry.id),
            owner: owner.to_owned(),
            retention: self.retention_us(),
            tombstone: pending.max(0),
        };
        (entry.id, d)
    }

    /// What one revocation of a `revoke_all` changes in the owner's index,
    /// and whether it revoked a key.
    fn revoked_one(&self, id: ApiKeyId, r: &Revoked, changes: &mut Vec<(String, i64)>) -> bool {
        self.forget(id);
        match r.status {
            RevokeStatus::Revoked => {
                changes.push((id.to_string(), r.ends));
                true
            }
            RevokeStatus::Tombstone => true,
            // Not there and no longer pending, or not this owner's: not an
            // entry of this index any more.
            RevokeStatus::Unknown | RevokeStatus::Denied => {
                changes.push((id.to_string(), -1));
                false
            }
            RevokeStatus::Already => false,
        }
    }

    fn owner_update(owner: &str, changes: Vec<(String, i64)>) -> Option<UpdateOwner> {
        (!changes.is_empty()).then(|| UpdateOwner {
            index: Self::owner_key(owner),
            changes,
        })
    }

    /// Revokes every key of `owner` (one round trip for its index, one per
    /// key, one to update the index). Returns how many keys it revoked. A
    /// failure part-way leaves the keys revoked so far revoked: call it again.
    pub fn revoke_all(&self, owner: &str) -> Result<usize> {
        let listed = self.store.run(Self::prepare_owner(owner)?)?;
        let (mut count, mut changes) = (0, Vec::new());
        for entry in &listed.entries {
            let (id, d) = self.revoke_one(owner, entry, listed.now);
            let r = self.store.run(d)?;
            count += usize::from(self.revoked_one(id, &r, &mut changes));
        }
        if let Some(u) = Self::owner_update(owner, changes) {
            tolerate_outage(self.store.run(u))?;
        }
        Ok(count)
    }

    /// Async [`ApiKeys::revoke_all`].
    pub async fn revoke_all_async(&self, owner: &str) -> Result<usize> {
        let listed = self.store.run_async(Self::prepare_owner(owner)?).await?;
        let (mut count, mut changes) = (0, Vec::new());
        for entry in &listed.entries {
            let (id, d) = self.revoke_one(owner, entry, listed.now);
            let r = self.store.run_async(d).await?;
            count += usize::from(self.revoked_one(id, &r, &mut changes));
        }
        if let Some(u) = Self::owner_update(owner, changes) {
            tolerate_outage(self.store.run_async(u).await)?;
        }
        Ok(count)
    }

    // ---- listing -----------------------------------------------------------------

    fn listed_one(
        entry: &Entry,
        now: i64,
        fetched: Fetched,
        out: &mut Vec<ApiKeyRecord>,
        changes: &mut Vec<(String, i64)>,
    ) {
        match fetched.record {
            Some(r) => out.push(r),
            None if entry.indexed_at + PENDING_GRACE <= now => {
                changes.push((entry.id.to_string(), -1));
            }
            None => {}
        }
    }

    fn finish_list(mut out: Vec<ApiKeyRecord>) -> Vec<ApiKeyRecord> {
        out.sort_by(|a, b| {
            (a.created_at(), a.id().to_string()).cmp(&(b.created_at(), b.id().to_string()))
        });
        out
    }

    /// The records of `owner`'s keys (at most `max_keys_per_owner`; revoked
    /// and expired ones within their retention included), oldest first. One
    /// round trip for the index and one per key; ids whose records were never
    /// written are skipped (and dropped from the index after a grace period).
    pub fn list(&self, owner: &str) -> Result<Vec<ApiKeyRecord>> {
        let listed = self.store.run(Self::prepare_owner(owner)?)?;
        let (mut out, mut changes) = (Vec::new(), Vec::new());
        for entry in &listed.entries {
            let fetched = self.store.run(self.get_key(entry.id))?;
            Self::listed_one(entry, listed.now, fetched, &mut out, &mut changes);
        }
        if let Some(u) = Self::owner_update(owner, changes) {
            tolerate_outage(self.store.run(u))?;
        }
        Ok(Self::finish_list(out))
    }

    /// Async [`ApiKeys::list`].
    pub async fn list_async(&self, owner: &str) -> Result<Vec<ApiKeyRecord>> {
        let listed = self.store.run_async(Self::prepare_owner(owner)?).await?;
        let (mut out, mut changes) = (Vec::new(), Vec::new());
        for entry in &listed.entries {
            let fetched = self.store.run_async(self.get_key(entry.id)).await?;
            Self::listed_one(entry, listed.now, fetched, &mut out, &mut changes);
        }
        if let Some(u) = Self::owner_update(owner, changes) {
            tolerate_outage(self.store.run_async(u).await)?;
        }
        Ok(Self::finish_list(out))
    }
}

/// Housekeeping of an owner's index after the decision that matters was
/// made: an unavailable store leaves the repair to a later `list`.
fn tolerate_outage<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::StoreUnavailable | ErrorKind::StoreFull) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---- the decisions ---------------------------------------------------------------

/// An index entry's value: `<indexed at>:<kept until>` (microseconds).
fn entry_text(indexed_at: i64, kept_until: i64) -> Vec<u8> {
    format!("{indexed_at}:{kept_until}").into_bytes()
}

fn entry_parts(v: &[u8]) -> (i64, i64) {
    let text = std::str::from_utf8(v).unwrap_or("0:0");
    let (at, kept) = text.split_once(':').unwrap_or(("0", "0"));
    (at.parse().unwrap_or(0), kept.parse().unwrap_or(0))
}

fn fields_mut(v: &mut Value) -> &mut Vec<(String, Vec<u8>)> {
    if !matches!(v, Value::Fields(_)) {
        *v = Value::Fields(Vec::new());
    }
    match v {
        Value::Fields(f) => f,
        _ => unreachable!("just made a Fields value"),
    }
}

/// The expiry of an owner's index in memory: its longest-kept entry, or
/// none (`i64::MAX`) while an entry has no end.
fn index_expiry(fields: &[(String, Vec<u8>)]) -> i64 {
    let mut last = 0;
    for (_, v) in fields {
        match entry_parts(v).1 {
            0 => return i64::MAX,
            kept => last = last.max(kept),
        }
    }
    last
}

fn int_arg(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// What the index decision found.
struct Indexed {
    status: i64,
    now: i64,
    expires_at: u64,
}

struct IndexKey {
    index: String,
    id: String,
    expires_at: u64,
    lifetime: u64,
    retention: i64,
    max: usize,
}

impl Decision for IndexKey {
    type Output = Indexed;
    fn script(&self) -> &'static Script {
        &INDEX
    }
    fn keys(&self) -> Vec<String> {
        vec![self.index.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.id.clone().into_bytes(),
            self.expires_at.to_string().into_bytes(),
            self.lifetime.to_string().into_bytes(),
            int_arg(self.retention),
            self.max.to_string().into_bytes(),
            MAX_LIFETIME.to_string().into_bytes(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Indexed> {
        let items = reply.array()?;
        let int = |i: usize| items.get(i).map_or(Ok(0), Reply::int);
        Ok(Indexed {
            status: int(0)?,
            now: int(1)?,
            expires_at: u64::try_from(int(2)?).unwrap_or(0),
        })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Indexed> {
        let now = txn.now();
        let now_s = now.div_euclid(1_000_000);
        let mut exp = i64::try_from(self.expires_at).unwrap_or(i64::MAX);
        if exp == 0 && self.lifetime > 0 {
            exp = now_s + i64::try_from(self.lifetime).unwrap_or(i64::MAX);
        }
        let out = |status| Indexed {
            status,
            now,
            expires_at: u64::try_from(exp).unwrap_or(0),
        };
        if exp != 0 && exp <= now_s {
            return Ok(out(2));
        }
        if exp != 0 && exp - now_s > i64::try_from(MAX_LIFETIME).unwrap_or(i64::MAX) {
            return Ok(out(3));
        }
        let keep = if exp == 0 {
            0
        } else {
            exp.saturating_mul(1_000_000).saturating_add(self.retention)
        };
        let mut fields = match txn.get(&self.index) {
            Some(Value::Fields(f)) => f.clone(),
            _ => Vec::new(),
        };
        fields.retain(|(_, v)| {
            let kept = entry_parts(v).1;
            kept == 0 || kept > now
        });
        if fields.len() >= self.max {
            if !fields.is_empty() {
                let until = index_expiry(&fields);
                txn.put(&self.index, Value::Fields(fields), until)?;
            }
            return Ok(out(1));
        }
        fields.push((self.id.clone(), entry_text(now, keep)));
        let until = index_expiry(&fields);
        txn.put(&self.index, Value::Fields(fields), until)?;
        Ok(out(0))
    }
}

struct PutKey {
    key: String,
    bytes: Vec<u8>,
    digest: String,
    owner: String,
    expires_at: u64,
    retention: i64,
}

impl Decision for PutKey {
    type Output = bool;
    fn script(&self) -> &'static Script {
        &PUT
    }
    fn keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.bytes.clone(),
            self.digest.clone().into_bytes(),
            self.owner.clone().into_bytes(),
            self.expires_at.to_string().into_bytes(),
            int_arg(self.retention),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<bool> {
        Ok(reply.int()? == 1)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
        let now = txn.now();
        let rev = txn
            .get(&self.key)
            .and_then(|v| v.field("rev"))
            .map(<[u8]>::to_vec);
        let mut v = Value::Fields(Vec::with_capacity(5));
        v.set_field("rec", self.bytes.clone());
        v.set_field("dig", self.digest.as_str());
        v.set_field("own", self.owner.as_str());
        v.set_field("exp", self.expires_at.to_string());
        if let Some(rev) = rev {
            v.set_field("rev", rev);
            txn.put(&self.key, v, now.saturating_add(self.retention))?;
            return Ok(true);
        }
        let until = if self.expires_at == 0 {
            i64::MAX
        } else {
            micros(self.expires_at).saturating_add(self.retention)
        };
        txn.put(&self.key, v, until)?;
        Ok(false)
    }
}

/// A record as read by a decision, with the store's time.
struct Fetched {
    now: i64,
    record: Option<ApiKeyRecord>,
}

/// The record as read, or `None` once past its end: `retention` after its
/// expiry or revocation, whichever came first. The store's TTL ends the
/// record at the same time or a little later (Redis counts TTLs in its own
/// time, which an injected test clock does not move), so every backend
/// answers the same.
fn fetched(
    now: i64,
    rec: Option<Vec<u8>>,
    rev: Option<Vec<u8>>,
    retention: i64,
) -> Result<Fetched> {
    let Some(bytes) = rec else {
        return Ok(Fetched { now, record: None });
    };
    let mut r = ApiKeyRecord::from_bytes(&bytes)?;
    if let Some(rev) = rev {
        let at = std::str::from_utf8(&rev)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err!(Internal, "an API key record has a malformed rev"))?;
        r.revoke(at);
    }
    let end = [r.expires_at(), r.revoked_at()].into_iter().flatten().min();
    let over = end.is_some_and(|s| now >= micros(s).saturating_add(retention));
    Ok(Fetched {
        now,
        record: (!over).then_some(r),
    })
}

struct GetKey {
    key: String,
    retention: i64,
}

impl Decision for GetKey {
    type Output = Fetched;
    fn script(&self) -> &'static Script {
        &GET
    }
    fn keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<Fetched> {
        let mut items = reply.array()?.into_iter();
        let now = items.next().map_or(Ok(0), |r| r.int())?;
        let rec = items.next().map_or(Ok(None), Reply::bytes)?;
        let rev = items.next().map_or(Ok(None), Reply::bytes)?;
        fetched(now, rec, rev, self.retention)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Fetched> {
        let now = txn.now();
        let (rec, rev) = match txn.get(&self.key) {
            Some(v) => (
                v.field("rec").map(<[u8]>::to_vec),
                v.field("rev").map(<[u8]>::to_vec),
            ),
            None => (None, None),
        };
        fetched(now, rec, rev, self.retention)
    }
}

struct RehashKey {
    key: String,
    old: String,
    bytes: Vec<u8>,
    digest: String,
}

impl Decision for RehashKey {
    type Output = bool;
    fn script(&self) -> &'static Script {
        &REHASH
    }
    fn keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.old.clone().into_bytes(),
            self.bytes.clone(),
            self.digest.clone().into_bytes(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<bool> {
        Ok(reply.int()? == 1)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
        match txn.get_mut(&self.key) {
            Some(v) if v.field("dig") == Some(self.old.as_bytes()) && v.field("rev").is_none() => {
                v.set_field("rec", self.bytes.clone());
                v.set_field("dig", self.digest.as_str());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevokeStatus {
    Unknown,
    Revoked,
    Already,
    Denied,
    Tombstone,
}

struct Revoked {
    status: RevokeStatus,
    owner: String,
    /// When the record now ends (microseconds), for the owner's index.
    ends: i64,
}

struct RevokeKey {
    key: String,
    /// The owner the caller must be; empty for an admin.
    owner: String,
    retention: i64,
    /// How long a tombstone lives when the record is missing (0: none).
    tombstone: i64,
}

impl Decision for RevokeKey {
    type Output = Revoked;
    fn script(&self) -> &'static Script {
        &REVOKE
    }
    fn keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.owner.clone().into_bytes(),
            int_arg(self.retention),
            int_arg(self.tombstone),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Revoked> {
        let mut items = reply.array()?.into_iter();
        let status = items.next().map_or(Ok(-1), |r| r.int())?;
        let owner = items
            .next()
            .map_or(Ok(None), Reply::bytes)?
            .unwrap_or_default();
        let ends = items.next().map_or(Ok(0), |r| r.int())?;
        let status = match status {
            0 => RevokeStatus::Unknown,
            1 => RevokeStatus::Revoked,
            2 => RevokeStatus::Already,
            3 => RevokeStatus::Denied,
            4 => RevokeStatus::Tombstone,
            other => return Err(err!(Internal, "apikey_revoke returned status {other}")),
        };
        let owner = String::from_utf8(owner)
            .map_err(|_| err!(Internal, "an API key record has a malformed owner"))?;
        Ok(Revoked {
            status,
            owner,
            ends,
        })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Revoked> {
        let now = txn.now();
        let now_s = now.div_euclid(1_000_000).to_string();
        let out = |status, owner: &[u8], ends| Revoked {
            status,
            owner: String::from_utf8_lossy(owner).into_owned(),
            ends,
        };
        let Some(v) = txn.get(&self.key).cloned() else {
            if self.tombstone > 0 {
                let mut t = Value::Fields(Vec::with_capacity(1));
                t.set_field("rev", now_s);
                txn.put(&self.key, t, now.saturating_add(self.tombstone))?;
                return Ok(out(RevokeStatus::Tombstone, b"", 0));
            }
            return Ok(out(RevokeStatus::Unknown, b"", 0));
        };
        if v.field("rec").is_none() {
            return Ok(out(RevokeStatus::Already, b"", 0));
        }
        let exp_s = v.field_int("exp").unwrap_or(0);
        let ends_s = match v.field_int("rev") {
            Some(rev) if exp_s == 0 || rev < exp_s => rev,
            _ => exp_s,
        };
        if ends_s != 0
            && ends_s
                .saturating_mul(1_000_000)
                .saturating_add(self.retention)
                <= now
        {
            return Ok(out(RevokeStatus::Unknown, b"", 0));
        }
        let owner = v.field("own").unwrap_or_default().to_vec();
        if !self.owner.is_empty() && owner != self.owner.as_bytes() {
            return Ok(out(RevokeStatus::Denied, b"", 0));
        }
        if v.field("rev").is_some() {
            return Ok(out(RevokeStatus::Already, &owner, 0));
        }
        let exp = exp_s.saturating_mul(1_000_000);
        let base = if exp != 0 && exp < now { exp } else { now };
        let ends = base.saturating_add(self.retention);
        let mut v = v;
        v.set_field("rev", now_s);
        txn.put(&self.key, v, ends)?;
        Ok(out(RevokeStatus::Revoked, &owner, ends))
    }
}

/// An id of an owner's index.
struct Entry {
    id: ApiKeyId,
    indexed_at: i64,
}

/// An owner's index as listed, with the store's time.
struct Listed {
    now: i64,
    entries: Vec<Entry>,
}

fn listed(now: i64, pairs: impl Iterator<Item = (Vec<u8>, i64)>) -> Listed {
    let entries = pairs
        .filter_map(|(id, indexed_at)| {
            let id = ApiKeyId::parse(std::str::from_utf8(&id).ok()?).ok()?;
            Some(Entry { id, indexed_at })
        })
        .collect();
    Listed { now, entries }
}

struct ListOwner {
    index: String,
}

impl Decision for ListOwner {
    type Output = Listed;
    fn script(&self) -> &'static Script {
        &OWNER_LIST
    }
    fn keys(&self) -> Vec<String> {
        vec![self.index.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<Listed> {
        let mut items = reply.array()?.into_iter();
        let now = items.next().map_or(Ok(0), |r| r.int())?;
        let mut pairs = Vec::new();
        while let (Some(id), Some(at)) = (items.next(), items.next()) {
            pairs.push((id.bytes()?.unwrap_or_default(), at.int()?));
        }
        Ok(listed(now, pairs.into_iter()))
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Listed> {
        let now = txn.now();
        let Some(Value::Fields(f)) = txn.get(&self.index).cloned() else {
            return Ok(listed(now, std::iter::empty()));
        };
        let (live, gone): (Vec<_>, Vec<_>) = f.into_iter().partition(|(_, v)| {
            let kept = entry_parts(v).1;
            kept == 0 || kept > now
        });
        if live.is_empty() {
            txn.remove(&self.index);
        } else if !gone.is_empty() {
            if let Some(v) = txn.get_mut(&self.index) {
                *fields_mut(v) = live.clone();
            }
        }
        Ok(listed(
            now,
            live.into_iter()
                .map(|(id, v)| (id.into_bytes(), entry_parts(&v).0)),
        ))
    }
}

struct UpdateOwner {
    index: String,
    /// (id, end in us): -1 drops the id once past the pending grace.
    changes: Vec<(String, i64)>,
}

impl Decision for UpdateOwner {
    type Output = i64;
    fn script(&self) -> &'static Script {
        &OWNER_UPDATE
    }
    fn keys(&self) -> Vec<String> {
        vec![self.index.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        let mut a = Vec::with_capacity(1 + 2 * self.changes.len());
        a.push(int_arg(PENDING_GRACE));
        for (id, ends) in &self.changes {
            a.push(id.clone().into_bytes());
            a.push(int_arg(*ends));
        }
        a
    }
    fn parse(&self, reply: Reply) -> Result<i64> {
        reply.int()
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<i64> {
        let now = txn.now();
        let Some(Value::Fields(mut f)) = txn.get(&self.index).cloned() else {
            return Ok(0);
        };
        let mut changed = 0;
        for (id, ends) in &self.changes {
            let Some(pos) = f.iter().position(|(n, _)| n == id) else {
                continue;
            };
            let (at, kept) = entry_parts(&f[pos].1);
            if *ends < 0 {
                if at + PENDING_GRACE <= now {
                    f.remove(pos);
                    changed += 1;
                }
            } else if kept == 0 || *ends < kept {
                f[pos].1 = entry_text(at, *ends);
                changed += 1;
            }
        }
        if changed > 0 {
            if f.is_empty() {
                txn.remove(&self.index);
            } else {
                let until = index_expiry(&f);
                txn.put(&self.index, Value::Fields(f), until)?;
            }
        }
        Ok(changed)
    }
}

/// Counts an API-key verification and reports it to the process-wide
/// listeners (the key's public id on success, the error code otherwise).
fn report_verify(result: Result<ApiKeyRecord>) -> Result<ApiKeyRecord> {
    crate::metrics::record_auth("api_key", &result, |r| r.id().to_string());
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryOptions;

    const PEPPER: &[u8] = b"9c1f7a0e4b2d8f6a3e5c7b9d1f0a2c4e6b8d0f1a3c5e7b9d";

    fn registry(clock: &ManualClock) -> ApiKeys {
        let store = Store::memory(MemoryOptions {
            clock: Arc::new(clock.clone()),
            ..MemoryOptions::default()
        });
        let hasher = Arc::new(ApiKeyHasher::new(PEPPER).unwrap());
        ApiKeys::new(store, hasher, ApiKeysOptions::default()).unwrap()
    }

    #[test]
    fn an_index_entry_without_a_record_is_skipped_then_dropped() {
        let clock = ManualClock::new(1_800_000_000.0);
        let keys = registry(&clock);
        let kept = keys.create("olga", "kept", None, Expiry::Never).unwrap();
        // A create that stopped after its first decision.
        let (_, d) = keys
            .prepare_create("olga", "lost", None, Expiry::After(60))
            .unwrap();
        let lost = d.id.clone();
        assert_eq!(keys.store.run(d).unwrap().status, 0);
        let ids = |keys: &ApiKeys| {
            let listed = keys.store.run(ApiKeys::prepare_owner("olga").unwrap());
            listed
                .unwrap()
                .entries
                .iter()
                .map(|e| e.id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys.list("olga").unwrap().len(), 1);
        assert!(ids(&keys).contains(&lost), "kept while it may be pending");
        clock.advance(301.0);
        let listed = keys.list("olga").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id(), kept.record().id());
        assert!(!ids(&keys).contains(&lost), "dropped after the grace");
    }

    #[test]
    fn revoke_all_leaves_a_tombstone_for_a_key_being_created() {
        let clock = ManualClock::new(1_800_000_000.0);
        let keys = registry(&clock);
        let (p, d) = keys
            .prepare_create("pia", "racing", None, Expiry::Never)
            .unwrap();
        let indexed = keys.store.run(d).unwrap();
        assert_eq!(keys.revoke_all("pia").unwrap(), 1);
        let (record, put) = keys.finish_index(&p, indexed).unwrap();
        let revoked = keys.store.run(put).unwrap();
        assert_eq!(
            ApiKeys::finish_create(&p, record, revoked)
                .unwrap_err()
                .kind(),
            ErrorKind::ApiKeyRevoked
        );
        let text = p.issued.key_text();
        assert_eq!(
            keys.verify(text.as_bytes()).unwrap_err().kind(),
            ErrorKind::ApiKeyRevoked
        );
    }
}
