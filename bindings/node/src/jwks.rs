//! JWK Sets (core `token::jwks`): the static `KeySet` and the fetching,
//! caching `JwksClient` whose methods return Promises. Every rule is the
//! core's; the client's futures are awaited on napi's runtime while the fetch
//! itself runs on the engine's I/O runtime.

use std::collections::HashMap;
use std::sync::Arc;

use bastion_core::clock::{self as core_clock, SharedClock};
use bastion_core::token::jwks::{
    JwksClient as CoreClient, JwksOptions, KeySet as CoreKeySet, KeySetLimits,
};
use bastion_core::token::{Algorithm, Validation};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{Object, PromiseRaw, Unknown, ValueType};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::errors::{self, arg, invalid_argument, options_arg, promise, Result};
use crate::token::{self, Key, Time, VerifierOptions, VerifySpec};

fn algorithm_arg(value: Unknown<'_>) -> CoreResult<Option<Algorithm>> {
    token::string(value, "algorithm")?
        .as_deref()
        .map(Algorithm::parse)
        .transpose()
}

fn count(v: Option<f64>, name: &str, default: usize) -> CoreResult<usize> {
    match v {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 => Ok(v as usize),
        Some(_) => Err(invalid_argument(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

fn verify_options(options: Unknown<'_>) -> CoreResult<Validation> {
    let o: Option<VerifierOptions> =
        options_arg(options, "options", "an object of verifier options")?;
    VerifySpec::explicit(o.unwrap_or_default())
}

fn shared_clock(time: Time) -> SharedClock {
    match time {
        Time::System => core_clock::system(),
        Time::Manual(c) => Arc::new(c),
    }
}

/// A key of a set that was skipped, and why.
#[napi(object, object_from_js = false)]
pub struct SkippedKey {
    /// Position in the document's `keys` array.
    pub index: u32,
    /// Its `kid`, when it had one.
    pub kid: Option<String>,
    /// Why it was skipped (never key material).
    pub reason: String,
}

/// Bounds for parsing a JWK Set.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct KeySetOptions {
    /// Largest accepted document in bytes (262144).
    pub max_size: Option<f64>,
    /// Largest accepted number of keys (100).
    pub max_keys: Option<f64>,
}

// ---- KeySet ----------------------------------------------------------------

/// A JWK Set (`{"keys": [...]}`) parsed once, strictly and bounded: the keys
/// that can verify signatures, in document order. Keys that cannot (`use`
/// other than `sig`, `key_ops` without `verify`, unsupported types, invalid
/// or weak material, a later duplicate `kid`) are skipped and listed in
/// `skipped`; a set with no usable key throws `INVALID_KEY_SET`.
#[napi]
pub struct KeySet {
    inner: Arc<CoreKeySet>,
}

#[napi]
impl KeySet {
    /// Parses `jwks` (JSON text, a Buffer, or an object).
    #[napi(
        constructor,
        ts_args_type = "jwks: string | Buffer | object, options?: KeySetOptions | null"
    )]
    pub fn new(env: &Env, jwks: Unknown, options: Unknown) -> Result<Self> {
        errors::guard(|| {
            let text: Vec<u8> = match jwks.get_type().map_err(errors::from_napi)? {
                ValueType::String => arg::<String>(jwks, "jwks", "JSON text")?.into_bytes(),
                ValueType::Object if jwks.is_buffer().unwrap_or(false) => {
                    errors::bytes_arg(jwks, "jwks")?.as_slice().to_vec()
                }
                ValueType::Object => {
                    let obj: Object = arg(jwks, "jwks", "JSON text or an object")?;
                    token::stringify(env, obj)
                        .map_err(|_| invalid_argument("the JWK Set cannot be serialised as JSON"))?
                        .into_bytes()
                }
                _ => {
                    return Err(invalid_argument(
                        "jwks must be JSON text, a Buffer or an object",
                    ))
                }
            };
            let o: KeySetOptions = options_arg(options, "options", "an object of key set options")?
                .unwrap_or_default();
            let limits = KeySetLimits {
                max_size: count(o.max_size, "maxSize", CoreKeySet::MAX_SIZE)?,
                max_keys: count(o.max_keys, "maxKeys", CoreKeySet::MAX_KEYS)?,
                allow_symmetric: true,
            };
            CoreKeySet::parse(&text, &limits).map(|s| Self { inner: Arc::new(s) })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The usable keys, in document order.
    #[napi(getter)]
    pub fn keys(&self) -> Vec<Key> {
        self.inner.keys().iter().cloned().map(Key::wrap).collect()
    }

    /// The skipped keys, and why.
    #[napi(getter)]
    pub fn skipped(&self) -> Vec<SkippedKey> {
        self.inner
            .skipped()
            .iter()
            .map(|s| SkippedKey {
                index: u32::try_from(s.index).unwrap_or(u32::MAX),
                kid: s.kid.clone(),
                reason: s.reason.clone(),
            })
            .collect()
    }

    /// Number of usable keys.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// The first key for `kid` that can verify `algorithm` (any when absent);
    /// without `kid`, the one key that fits. Throws `KEY_NOT_FOUND`.
    #[napi(ts_args_type = "kid?: string | null, algorithm?: string | null")]
    pub fn get_signing_key(&self, env: &Env, kid: Unknown, algorithm: Unknown) -> Result<Key> {
        errors::guard(|| {
            let kid = token::string(kid, "kid")?;
            self.inner
                .get(kid.as_deref(), algorithm_arg(algorithm)?)
                .map(Key::wrap)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Verifies `token` with the key its header names (`kid` and `alg`;
    /// never `jwk`, `jku`, `x5u` or `x5c`) and returns its claims. `options`
    /// are `Verifier`'s; `algorithms` is required. `clock`: a `ManualClock`
    /// or seconds since the epoch (default the system clock).
    #[napi(
        ts_args_type = "token: string, options: VerifierOptions, clock?: ManualClock | number | null",
        ts_return_type = "Record<string, unknown>"
    )]
    pub fn verify<'e>(
        &self,
        env: &'e Env,
        token: Unknown,
        options: Unknown,
        clock: Unknown,
    ) -> Result<Unknown<'e>> {
        errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            let v = verify_options(options)?;
            let time = token::time_arg(clock)?;
            let t = self.inner.decode(token.as_bytes(), &v, time.clock())?;
            token::parse_json(env, t.claims_json).map_err(errors::from_napi)
        })
        .map_err(|e| errors::to_js(env, e))
    }
}

// ---- JwksClient ------------------------------------------------------------

/// How a `JwksClient` fetches and caches (times in seconds; every field optional).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct JwksClientOptions {
    /// How long a fetched set is fresh (300).
    pub lifespan: Option<f64>,
    /// Minimum time between fetches caused by an unknown `kid` or a failure (30).
    pub cooldown: Option<f64>,
    /// Deadline of one fetch: DNS, connect, TLS, request and body (5).
    pub timeout: Option<f64>,
    /// Largest accepted body in bytes (262144); reading stops there.
    pub max_size: Option<f64>,
    /// Largest accepted number of keys (100).
    pub max_keys: Option<f64>,
    /// How long past its lifespan the last good set is served while refreshes fail (3600).
    pub max_stale: Option<f64>,
    /// Accept a plain `http` URL (false).
    pub allow_http: Option<bool>,
    /// Extra trusted CA certificates, PEM text (tests, private CAs).
    pub ca_pem: Option<String>,
    /// Extra request headers (values never appear in errors).
    pub headers: Option<HashMap<String, String>>,
}

/// What a `JwksClient` holds and how its fetches went.
#[napi(object, object_from_js = false)]
pub struct JwksStatus {
    /// Usable keys in the cached set (0 when none).
    pub keys: u32,
    /// When the cached set was fetched (seconds since the epoch).
    pub fetched_at: Option<f64>,
    /// When it stops being fresh.
    pub expires_at: Option<f64>,
    /// The set is past its lifespan (served because refreshes fail).
    pub stale: bool,
    /// A fetch is in flight.
    pub fetching: bool,
    /// The last fetch's error message, when it failed.
    pub last_error: Option<String>,
    /// The last fetch's error code, when it failed.
    pub last_error_code: Option<String>,
    /// Fetches started.
    pub fetches: f64,
    /// Fetches that failed.
    pub failures: f64,
}

/// Fetches a JWK Set from an identity provider and keeps it cached.
///
/// - `url` is fixed: `https` only (plain `http` needs `allowHttp`);
///   certificates are always verified (the Mozilla roots, plus `caPem`);
///   redirects are never followed.
/// - The set is fresh for `lifespan` seconds (300). A `kid` missing from a
///   fresh set refetches once, then not again for `cooldown` seconds (30);
///   a failed fetch is retried at most once per cooldown too.
/// - Concurrent callers that miss wait for one fetch.
/// - A fetch is bounded by `timeout` seconds (5) and `maxSize` bytes (256 KiB).
/// - When a refresh fails, the last good set is served up to `maxStale`
///   seconds (3600) past its lifespan; `status()` reports it. With no
///   usable set, `JWKS_FETCH_FAILED`.
///
/// Create one client per provider and keep it.
#[napi]
pub struct JwksClient {
    inner: CoreClient,
}

#[napi]
impl JwksClient {
    /// A client for `url`; nothing is fetched until a key is needed. `clock`
    /// (a `ManualClock`) drives lifespan, cooldown and staleness in tests.
    /// Throws `INVALID_ARGUMENT` for a bad URL, option or `caPem`.
    #[napi(
        constructor,
        ts_args_type = "url: string, options?: JwksClientOptions | null, clock?: ManualClock | null"
    )]
    pub fn new(env: &Env, url: Unknown, options: Unknown, clock: Unknown) -> Result<Self> {
        errors::guard(|| {
            let url: String = arg(url, "url", "a string")?;
            let o: JwksClientOptions =
                options_arg(options, "options", "an object of JWKS client options")?
                    .unwrap_or_default();
            let d = JwksOptions::default();
            let mut headers: Vec<(String, String)> =
                o.headers.unwrap_or_default().into_iter().collect();
            headers.sort();
            let options = JwksOptions {
                lifespan: o.lifespan.unwrap_or(d.lifespan),
                cooldown: o.cooldown.unwrap_or(d.cooldown),
                timeout: o.timeout.unwrap_or(d.timeout),
                max_size: count(o.max_size, "maxSize", d.max_size)?,
                max_keys: count(o.max_keys, "maxKeys", d.max_keys)?,
                max_stale: o.max_stale.unwrap_or(d.max_stale),
                allow_http: o.allow_http.unwrap_or(d.allow_http),
                ca_pem: o.ca_pem.map(String::into_bytes),
                headers,
            };
            let clock = shared_clock(token::time_arg(clock)?);
            CoreClient::new(&url, options, clock).map(|inner| Self { inner })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The URL, without its query.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// The key for `kid` that fits `algorithm` (any when absent), from the
    /// cache or after a fetch. Rejects with `KEY_NOT_FOUND`, or
    /// `JWKS_FETCH_FAILED` when no set can be had.
    #[napi(
        ts_args_type = "kid?: string | null, algorithm?: string | null",
        ts_return_type = "Promise<Key>"
    )]
    pub fn get_signing_key<'e>(
        &self,
        env: &'e Env,
        kid: Unknown,
        algorithm: Unknown,
    ) -> Result<PromiseRaw<'e, Key>> {
        let fut = errors::guard(|| {
            let kid = token::string(kid, "kid")?;
            Ok(self.inner.get_signing_key(kid, algorithm_arg(algorithm)?))
        })
        .map_err(|e| errors::to_js(env, e))?;
        promise(env, fut, |_, key| Ok(Key::wrap(key)))
    }

    /// Verifies `token` with the key its header names (`kid` and `alg`;
    /// never `jwk`, `jku`, `x5u` or `x5c`), fetching the set when needed,
    /// and resolves to its claims. `options` are `Verifier`'s;
    /// `algorithms` is required. Rejects with the coded errors `verify`
    /// throws, `KEY_NOT_FOUND` or `JWKS_FETCH_FAILED`.
    #[napi(
        ts_args_type = "token: string, options: VerifierOptions",
        ts_return_type = "Promise<Record<string, unknown>>"
    )]
    pub fn verify<'e>(
        &self,
        env: &'e Env,
        token: Unknown,
        options: Unknown,
    ) -> Result<PromiseRaw<'e, Unknown<'e>>> {
        let fut = errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            let v = verify_options(options)?;
            Ok(self.inner.decode(token.into_bytes(), v))
        })
        .map_err(|e| errors::to_js(env, e))?;
        promise(env, fut, |env, t| token::parse_json(env, t.claims_json))
    }

    /// The current set (fetched when there is none or it expired).
    #[napi(ts_return_type = "Promise<KeySet>")]
    pub fn key_set<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, KeySet>> {
        let fut = self.inner.key_set();
        promise(env, fut, |_, inner| Ok(KeySet { inner }))
    }

    /// Fetches the set now, ignoring freshness and cooldown (joining a fetch
    /// in flight), e.g. to warm the cache at start-up. Rejects with the
    /// fetch's own error; the cache keeps its last good set.
    #[napi(ts_return_type = "Promise<KeySet>")]
    pub fn refresh<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, KeySet>> {
        let fut = self.inner.refresh();
        promise(env, fut, |_, inner| Ok(KeySet { inner }))
    }

    /// What the client holds and how its fetches went.
    #[napi]
    pub fn status(&self, env: &Env) -> Result<JwksStatus> {
        let s = errors::guarded(env, || self.inner.status())?;
        Ok(JwksStatus {
            keys: u32::try_from(s.keys).unwrap_or(u32::MAX),
            fetched_at: s.fetched_at,
            expires_at: s.expires_at,
            stale: s.stale,
            fetching: s.fetching,
            last_error: s.last_error.as_ref().map(|e| e.message().to_owned()),
            last_error_code: s.last_error.as_ref().map(|e| e.code().to_owned()),
            fetches: s.fetches as f64,
            failures: s.failures as f64,
        })
    }
}
