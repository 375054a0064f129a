//! `ApiKeys`, the store-backed API key registry (core `token::apikeys`
//! module): Promise methods `create`, `verify`, `revoke`, `revokeAll` and
//! `list`, run on the core's I/O runtime so the JavaScript thread never waits
//! on Redis. Every rule (format, ownership, expiry, retention, outage policy)
//! is the core's. `CreatedApiKey` has no own properties, so `util.inspect`
//! and `JSON.stringify` never show the key.

use std::sync::Arc;

use bastion_core::store::{MemoryOptions, OutagePolicy, Store};
use bastion_core::token::apikey::{ApiKeyRecord as CoreRecord, RateLimit};
use bastion_core::token::{
    ApiKeys as CoreKeys, ApiKeysOptions as CoreOptions, CreatedApiKey as CoreCreated, Expiry,
};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{ClassInstance, Either, PromiseRaw, Unknown, ValueType};
use napi::Env;
use napi_derive::napi;
use zeroize::Zeroizing;

use crate::apikey::ApiKeyHasher;
use crate::clock::ManualClock;
use crate::errors::{
    self, arg, bytes_arg, invalid_argument, options_arg, promise, subject_arg, whole, Result,
};

/// A rate limit carried by an API key: `requests` per `windowSecs` seconds.
#[napi(object)]
#[derive(Clone, Copy)]
pub struct ApiKeyRateLimit {
    /// Requests allowed per window (at least 1).
    pub requests: u32,
    /// The window in seconds (at least 1).
    pub window_secs: u32,
}

impl ApiKeyRateLimit {
    fn to_core(self) -> CoreResult<RateLimit> {
        RateLimit::new(self.requests, self.window_secs)
    }
}

/// What the registry keeps about one key (never the key itself). Times are
/// seconds since the epoch, in the store's time.
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct ApiKeyRecord {
    /// The public id (17 base62 characters).
    pub id: String,
    /// The key's prefix.
    pub prefix: String,
    /// Who owns the key.
    pub owner: String,
    /// The key's name.
    pub name: String,
    /// The key's rate limit (absent when it has none).
    pub rate_limit: Option<ApiKeyRateLimit>,
    /// When the key was created.
    pub created_at: f64,
    /// When the key expires (absent when it never does).
    pub expires_at: Option<f64>,
    /// When the key was revoked (absent until it is).
    pub revoked_at: Option<f64>,
    /// True once revoked.
    pub revoked: bool,
    /// The version of the pepper its stored digest was made with.
    pub pepper_version: u32,
}

impl From<&CoreRecord> for ApiKeyRecord {
    fn from(r: &CoreRecord) -> Self {
        Self {
            id: r.id().to_string(),
            prefix: r.prefix().to_owned(),
            owner: r.owner().to_owned(),
            name: r.name().to_owned(),
            rate_limit: r.rate_limit().map(|l| ApiKeyRateLimit {
                requests: l.requests(),
                window_secs: l.window_secs(),
            }),
            created_at: r.created_at() as f64,
            expires_at: r.expires_at().map(|t| t as f64),
            revoked_at: r.revoked_at().map(|t| t as f64),
            revoked: r.is_revoked(),
            pepper_version: r.digest().version(),
        }
    }
}

/// A key just created by `ApiKeys.create`: `key` is the plaintext to show
/// its owner once (it is not stored anywhere); `record` is what is kept.
#[napi]
pub struct CreatedApiKey {
    key: Zeroizing<String>,
    record: ApiKeyRecord,
}

#[napi]
impl CreatedApiKey {
    /// The plaintext key, `<prefix>_<id>_<secret+checksum>`.
    #[napi(getter)]
    pub fn key(&self) -> String {
        self.key.to_string()
    }

    /// The public id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.record.id.clone()
    }

    /// The record stored for the key.
    #[napi(getter)]
    pub fn record(&self) -> ApiKeyRecord {
        self.record.clone()
    }
}

impl From<CoreCreated> for CreatedApiKey {
    fn from(c: CoreCreated) -> Self {
        Self {
            key: Zeroizing::new(c.key().to_owned()),
            record: ApiKeyRecord::from(c.record()),
        }
    }
}

/// How an `ApiKeys` registry is set up.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ApiKeysOptions {
    /// The prefix of the keys made and accepted (default `"bst"`).
    pub prefix: Option<String>,
    /// The rate limit of keys created without one (default 1000 per hour;
    /// `false`: none).
    #[napi(ts_type = "ApiKeyRateLimit | false")]
    pub default_rate_limit: Option<Either<ApiKeyRateLimit, bool>>,
    /// Seconds a revoked or expired record is kept (default 30 days).
    pub retention: Option<f64>,
    /// The most keys one owner may hold (default 100).
    pub max_keys_per_owner: Option<f64>,
    /// What `verify` does when the store cannot answer: `"fail_closed"`
    /// (default) or `"local"` (keys this process verified within `localGrace`
    /// seconds still pass).
    #[napi(ts_type = "'fail_closed' | 'local'")]
    pub verify_policy: Option<String>,
    /// Seconds a locally verified key stays acceptable during an outage (default 300).
    pub local_grace: Option<f64>,
    /// Re-store a digest made with an older pepper after it verifies (default true).
    pub rehash_on_verify: Option<bool>,
}

/// What `ApiKeys.create` gives a new key besides its owner and name.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct CreateApiKeyOptions {
    /// The key's rate limit (default: the registry's `defaultRateLimit`).
    pub rate_limit: Option<ApiKeyRateLimit>,
    /// Seconds until the key expires (default: never).
    pub ttl: Option<f64>,
    /// When the key expires, seconds since the epoch (not with `ttl`).
    pub expires_at: Option<f64>,
}

/// Who revokes a key.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct RevokeApiKeyOptions {
    /// The owner asking (it must own the key unless `admin`).
    #[napi(ts_type = "string | number")]
    pub by: Option<Either<String, f64>>,
    /// The caller is an admin: any key may be revoked.
    pub admin: Option<bool>,
}

/// The store-backed API key registry: keys are created (shown once),
/// verified in one round trip, listed and revoked through a store (memory,
/// Redis or Redis Cluster), so every process pointed at one Redis shares
/// them. Every method returns a Promise.
///
/// `verify` checks the key offline first (a malformed key rejects with
/// `INVALID_API_KEY` without touching the store), then reads its record in
/// one round trip, compares digests in constant time and checks revocation
/// (`API_KEY_REVOKED`) and expiry (`API_KEY_EXPIRED`) at the store's time.
/// `revoke` needs the key's owner (`by`) or `admin` (`PERMISSION_DENIED`
/// otherwise). When the store cannot answer, `verify` follows
/// `verifyPolicy`: `"fail_closed"` (default) rejects with
/// `STORE_UNAVAILABLE`. `clock` (a `ManualClock`, for tests) drives the
/// store's time (memory, or Redis in place of `TIME`) and the local outage
/// cache.
#[napi]
pub struct ApiKeys {
    inner: Arc<CoreKeys>,
}

#[napi]
impl ApiKeys {
    /// A registry digesting keys with `hasher`.
    #[napi(
        constructor,
        ts_args_type = "hasher: ApiKeyHasher, options?: ApiKeysOptions | null, clock?: ManualClock | null, store?: Store | null"
    )]
    pub fn new(
        env: &Env,
        hasher: Unknown,
        options: Unknown,
        clock: Unknown,
        store: Unknown,
    ) -> Result<Self> {
        errors::guard(|| {
            let hasher: ClassInstance<ApiKeyHasher> = arg(hasher, "hasher", "an ApiKeyHasher")?;
            let o: ApiKeysOptions =
                options_arg(options, "options", "an object of API key options")?
                    .unwrap_or_default();
            let clock: Option<ClassInstance<ManualClock>> =
                match clock.get_type().map_err(errors::from_napi)? {
                    ValueType::Undefined | ValueType::Null => None,
                    _ => Some(arg(clock, "clock", "a ManualClock")?),
                };
            let defaults = CoreOptions::default();
            let options = CoreOptions {
                prefix: o.prefix.unwrap_or(defaults.prefix),
                default_rate_limit: match o.default_rate_limit {
                    None | Some(Either::B(true)) => defaults.default_rate_limit,
                    Some(Either::B(false)) => None,
                    Some(Either::A(r)) => Some(r.to_core()?),
                },
                retention: o
                    .retention
                    .map_or(Ok(defaults.retention), |v| whole(v, "retention", 1e10))?,
                max_keys_per_owner: o
                    .max_keys_per_owner
                    .map_or(Ok(defaults.max_keys_per_owner), |v| {
                        whole(v, "maxKeysPerOwner", 1e9).map(|n| n as usize)
                    })?,
                verify_policy: o
                    .verify_policy
                    .as_deref()
                    .map_or(Ok(defaults.verify_policy), OutagePolicy::parse)?,
                local_grace: o
                    .local_grace
                    .map_or(Ok(defaults.local_grace), |v| whole(v, "localGrace", 1e9))?,
                rehash_on_verify: o.rehash_on_verify.unwrap_or(defaults.rehash_on_verify),
                clock: clock.as_ref().map_or(defaults.clock, |c| {
                    Arc::new(c.inner.clone()) as bastion_core::clock::SharedClock
                }),
            };
            let store = match store.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => Store::memory(MemoryOptions {
                    clock: options.clock.clone(),
                    ..MemoryOptions::default()
                }),
                _ => {
                    let s: ClassInstance<crate::store::Store> = arg(store, "store", "a Store")?;
                    s.inner.clone()
                }
            };
            let inner = CoreKeys::new(store, Arc::clone(&hasher.inner), options)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Creates a key for `owner` named `name`, with `options.rateLimit`
    /// (default: the registry's) and `options.ttl` seconds or an
    /// `options.expiresAt` time (neither: no expiry). Resolves to the key, to
    /// show once, and its record. Rejects with `INVALID_ARGUMENT` when the
    /// owner already holds `maxKeysPerOwner` keys.
    #[napi(
        ts_args_type = "owner: string | number, name?: string | null, options?: CreateApiKeyOptions | null",
        ts_return_type = "Promise<CreatedApiKey>"
    )]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        owner: Unknown,
        name: Unknown,
        options: Unknown,
    ) -> Result<PromiseRaw<'env, CreatedApiKey>> {
        let args = errors::guard(|| {
            let owner = subject_arg(owner, "owner")?;
            let name: Option<String> = arg(name, "name", "a string")?;
            let o: CreateApiKeyOptions =
                options_arg(options, "options", "an object of key options")?.unwrap_or_default();
            let rate = o.rate_limit.map(ApiKeyRateLimit::to_core).transpose()?;
            let expiry = match (o.ttl, o.expires_at) {
                (None, None) => Expiry::Never,
                (Some(t), None) => Expiry::After(whole(t, "ttl", 1e12)?),
                (None, Some(at)) => Expiry::At(whole(at, "expiresAt", 1e12)?),
                (Some(_), Some(_)) => {
                    return Err(invalid_argument("give ttl or expiresAt, not both"))
                }
            };
            Ok((owner, name.unwrap_or_default(), rate, expiry))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let keys = Arc::clone(&self.inner);
        let (owner, name, rate, expiry) = args;
        promise(
            env,
            async move { keys.create_async(&owner, &name, rate, expiry).await },
            |_, c| Ok(CreatedApiKey::from(c)),
        )
    }

    /// Verifies a presented key and resolves to its record. Rejects with
    /// `INVALID_API_KEY` (malformed, unknown or wrong key),
    /// `API_KEY_REVOKED`, `API_KEY_EXPIRED` or `STORE_UNAVAILABLE`.
    #[napi(
        ts_args_type = "key: string | Buffer",
        ts_return_type = "Promise<ApiKeyRecord>"
    )]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        key: Unknown,
    ) -> Result<PromiseRaw<'env, ApiKeyRecord>> {
        let key = errors::guard(|| Ok(bytes_arg(key, "key")?.to_owned_secret()))
            .map_err(|e| errors::to_js(env, e))?;
        let keys = Arc::clone(&self.inner);
        promise(env, async move { keys.verify_async(&key).await }, |_, r| {
            Ok(ApiKeyRecord::from(&r))
        })
    }

    /// Revokes the key with public id `id`; `options.by` is the owner asking
    /// (it must own the key unless `options.admin`, else
    /// `PERMISSION_DENIED`). Resolves to whether the key exists.
    #[napi(
        ts_args_type = "id: string, options?: RevokeApiKeyOptions | null",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn revoke<'env>(
        &self,
        env: &'env Env,
        id: Unknown,
        options: Unknown,
    ) -> Result<PromiseRaw<'env, bool>> {
        let (id, by, admin) = errors::guard(|| {
            let id: String = arg(id, "id", "a string")?;
            let o: RevokeApiKeyOptions =
                options_arg(options, "options", "an object ({ by, admin })")?.unwrap_or_default();
            let by = o.by.map(|b| errors::subject_text(b, "by")).transpose()?;
            Ok((id, by, o.admin.unwrap_or(false)))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let keys = Arc::clone(&self.inner);
        promise(
            env,
            async move { keys.revoke_async(&id, by.as_deref(), admin).await },
            |_, found| Ok(found),
        )
    }

    /// Revokes every key of `owner`; resolves to how many it revoked.
    #[napi(
        ts_args_type = "owner: string | number",
        ts_return_type = "Promise<number>"
    )]
    pub fn revoke_all<'env>(
        &self,
        env: &'env Env,
        owner: Unknown,
    ) -> Result<PromiseRaw<'env, u32>> {
        let owner =
            errors::guard(|| subject_arg(owner, "owner")).map_err(|e| errors::to_js(env, e))?;
        let keys = Arc::clone(&self.inner);
        promise(
            env,
            async move { keys.revoke_all_async(&owner).await },
            |_, n| Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        )
    }

    /// Resolves to the records of `owner`'s keys, oldest first (revoked and
    /// expired ones within their retention included).
    #[napi(
        ts_args_type = "owner: string | number",
        ts_return_type = "Promise<ApiKeyRecord[]>"
    )]
    pub fn list<'env>(
        &self,
        env: &'env Env,
        owner: Unknown,
    ) -> Result<PromiseRaw<'env, Vec<ApiKeyRecord>>> {
        let owner =
            errors::guard(|| subject_arg(owner, "owner")).map_err(|e| errors::to_js(env, e))?;
        let keys = Arc::clone(&self.inner);
        promise(env, async move { keys.list_async(&owner).await }, |_, v| {
            Ok(v.iter().map(ApiKeyRecord::from).collect::<Vec<_>>())
        })
    }
}
