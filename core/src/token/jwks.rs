//! JWK Sets (RFC 7517 §5): a static [`KeySet`] and a [`JwksClient`] that
//! fetches one from an identity provider and keeps it cached.
//!
//! # Key selection
//!
//! A token's key is chosen by [`KeySet::get`] from the header's `kid` and
//! `alg` only, and the `alg` must be in the caller's explicit list first: a
//! key restricted to RS256 never verifies an ES256 token, an RSA or EC key
//! never verifies an HS256 token (the key-confusion attack), and the
//! header's `jwk`, `jku`, `x5u` and `x5c` are never read. A token without a
//! `kid` is accepted only when exactly one key of the set fits its algorithm.
//!
//! # Parsing ([`KeySet::parse`])
//!
//! Strict and bounded: at most [`KeySet::MAX_SIZE`] bytes (256 KiB) and
//! [`KeySet::MAX_KEYS`] keys (100) by default, the engine's strict JSON parser
//! (duplicate names rejected, nesting bounded), every key through
//! [`Key::from_jwk_object`]. Keys that cannot verify signatures are skipped
//! and reported in [`KeySet::skipped`], never fatal: `use` other than `sig`,
//! `key_ops` without `verify`, unsupported key types or curves, invalid or
//! weak key material, and (for sets fetched over the network) symmetric
//! `oct` keys. A set left with no usable key is an error. Duplicate `kid`s
//! are resolved deterministically: the first key in document order wins, and
//! a later key with the same `kid` that could verify the same algorithm is
//! skipped (keys of different families may share a `kid`).
//!
//! # The client ([`JwksClient`])
//!
//! - The URL is fixed by configuration, `https` only unless `allow_http`;
//!   certificates are always verified; redirects are never followed (see
//!   the `http` submodule for the transport's guarantees).
//! - The set is cached for [`JwksOptions::lifespan`] (default 300 s, as
//!   PyJWT's `PyJWKClient(lifespan=300)`; jose's `createRemoteJWKSet` and
//!   jwks-rsa keep theirs 10 minutes).
//! - A `kid` missing from a fresh set triggers one refetch, then no other
//!   fetch for [`JwksOptions::cooldown`] (default 30 s, as PyJWT 2.15 and
//!   jose): a flood of tokens with random `kid`s cannot become a flood of
//!   requests to the provider. A failed fetch is retried at most once per
//!   cooldown as well.
//! - Single flight: however many callers miss at once, one request is made
//!   and they all wait for it. The request runs as its own task on the
//!   engine's runtime, so a caller that gives up (a cancelled coroutine, a
//!   dropped future) does not cancel it for the others.
//! - Every fetch is bounded by [`JwksOptions::timeout`] (default 5 s, as
//!   jose; PyJWT waits 30 s) and [`JwksOptions::max_size`] (256 KiB).
//! - When a refresh fails, the last good set keeps being served for at most
//!   [`JwksOptions::max_stale`] beyond its lifespan (default 1 hour), and
//!   [`JwksClient::status`] reports it (`stale`, `last_error`). With no good
//!   set at all, callers get [`ErrorKind::JwksFetchFailed`].
//! - Time (lifespan, cooldown, staleness) is read from the injected clock;
//!   only the fetch deadline is real time.

mod http;

use super::algorithm::Algorithm;
use super::json::{self, Object, Value};
use super::jwt::{self, Token, Validation};
use super::key::Key;
use super::verified::VerifiedCache;
use crate::clock::{Clock, SharedClock};
use crate::error::{err, Error, ErrorKind, Result};
use crate::runtime;
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

// ---- KeySet --------------------------------------------------------------------

/// Bounds and policy for parsing a JWK Set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySetLimits {
    /// Largest accepted document, in bytes.
    pub max_size: usize,
    /// Largest accepted number of entries in `keys`.
    pub max_keys: usize,
    /// Accept symmetric (`oct`) keys. A set published over the network must
    /// never hold secrets, so the client refuses them; a local set may.
    pub allow_symmetric: bool,
}

impl Default for KeySetLimits {
    fn default() -> Self {
        Self {
            max_size: KeySet::MAX_SIZE,
            max_keys: KeySet::MAX_KEYS,
            allow_symmetric: true,
        }
    }
}

/// A key of a set that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the document's `keys` array.
    pub index: usize,
    /// Its `kid`, when it had one.
    pub kid: Option<String>,
    /// Why it was skipped (never key material).
    pub reason: String,
}

/// A parsed JWK Set: the keys that can verify signatures, in document order.
/// Cloning is cheap (keys share their parsed material).
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<SkippedKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

/// At most this many characters of an untrusted `kid` appear in a message.
const KID_SHOWN: usize = 64;

fn shown(kid: &str) -> String {
    let mut s: String = kid.chars().take(KID_SHOWN).collect();
    if s.len() < kid.len() {
        s.push('…');
    }
    format!("{s:?}")
}

fn invalid_set(msg: impl fmt::Display) -> Error {
    err!(InvalidKeySet, "{msg}")
}

/// Why a JWK cannot be used for verification, judged before parsing it.
fn unusable_for_verification(jwk: &Object, allow_symmetric: bool) -> Option<String> {
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(u)) => return Some(format!("\"use\" is {u:?}, not \"sig\"")),
        Some(_) => return Some("\"use\" must be a string".into()),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Some("\"key_ops\" must be an array".into());
        };
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Some("\"key_ops\" does not allow \"verify\"".into());
        }
    }
    if !allow_symmetric && jwk.get("kty").and_then(Value::as_str) == Some("oct") {
        return Some("symmetric (\"oct\") keys are not accepted in a published key set".into());
    }
    None
}

/// True when `a` and `b` could both verify some algorithm.
fn overlap(a: &Key, b: &Key) -> bool {
    a.family() == b.family()
        && match (a.algorithm(), b.algorithm()) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

impl KeySet {
    /// Default bound on a document's size, in bytes.
    pub const MAX_SIZE: usize = 256 * 1024;
    /// Default bound on the number of keys.
    pub const MAX_KEYS: usize = 100;

    /// Parses JWKS JSON text (`{"keys": [...]}`) with the default limits
    /// (symmetric keys accepted). See the module docs for the rules.
    pub fn from_json(text: &[u8]) -> Result<Self> {
        Self::parse(text, &KeySetLimits::default())
    }

    /// Parses JWKS JSON text within `limits`. Errors are
    /// [`ErrorKind::InvalidKeySet`]: a document too large, not a JSON object,
    /// without a `keys` array, with too many keys, or with no usable key.
    pub fn parse(text: &[u8], limits: &KeySetLimits) -> Result<Self> {
        if text.len() > limits.max_size {
            return Err(invalid_set(format_args!(
                "the JWK Set is larger than {} bytes",
                limits.max_size
            )));
        }
        let doc = json::parse_object(text)
            .map_err(|e| invalid_set(format_args!("the JWK Set is not a JSON object: {e}")))?;
        let entries = match doc.get("keys") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid_set("the JWK Set's \"keys\" must be an array")),
            None => return Err(invalid_set("the JWK Set has no \"keys\" member")),
        };
        if entries.len() > limits.max_keys {
            return Err(invalid_set(format_args!(
                "the JWK Set holds {} keys, more than the limit of {}",
                entries.len(),
                limits.max_keys
            )));
        }
        let mut keys: Vec<Key> = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let Value::Object(jwk) = entry else {
                skipped.push(SkippedKey {
                    index,
                    kid: None,
                    reason: format!("a key must be a JSON object, not {}", entry.type_name()),
                });
                continue;
            };
            let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
            let mut skip = |reason: String| {
                skipped.push(SkippedKey {
                    index,
                    kid: kid.clone(),
                    reason,
                });
            };
            if let Some(reason) = unusable_for_verification(jwk, limits.allow_symmetric) {
                skip(reason);
                continue;
            }
            let key = match Key::from_jwk_object(jwk) {
                Ok(k) => k,
                Err(e) => {
                    skip(e.message().to_owned());
                    continue;
                }
            };
            if let Some(kid) = key.kid() {
                if keys
                    .iter()
                    .any(|k| k.kid() == Some(kid) && overlap(k, &key))
                {
                    skip(format!(
                        "duplicate kid {}: the first key with this kid is used",
                        shown(kid)
                    ));
                    continue;
                }
            }
            keys.push(key);
        }
        if keys.is_empty() {
            let why: Vec<&str> = skipped.iter().take(3).map(|s| s.reason.as_str()).collect();
            return Err(invalid_set(if why.is_empty() {
                "the JWK Set holds no keys".to_owned()
            } else {
                format!(
                    "the JWK Set holds no usable signature verification key ({})",
                    why.join("; ")
                )
            }));
        }
        Ok(Self { keys, skipped })
    }

    /// The usable keys, in document order.
    #[must_use]
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The keys that were skipped, and why.
    #[must_use]
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Number of usable keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true: a set holds at least one usable key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for `kid` that can verify `alg` (any algorithm when `None`):
    /// the first such key in document order. Without a `kid`, the one key
    /// that fits `alg`, and an error when several do.
    /// [`ErrorKind::KeyNotFound`] when there is none.
    pub fn get(&self, kid: Option<&str>, alg: Option<Algorithm>) -> Result<Key> {
        let fits = |k: &&Key| alg.is_none_or(|a| k.ensure_fits(a).is_ok());
        let for_alg = || alg.map_or_else(String::new, |a| format!(" for {a}"));
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid() == Some(kid))
                .find(fits)
                .cloned()
                .ok_or_else(|| {
                    err!(
                        KeyNotFound,
                        "Unable to find a signing key that matches: {}{}",
                        shown(kid),
                        for_alg()
                    )
                }),
            None => {
                let mut found = self.keys.iter().filter(fits);
                match (found.next(), found.next()) {
                    (Some(k), None) => Ok(k.clone()),
                    (None, _) => Err(err!(KeyNotFound, "the key set has no key{}", for_alg())),
                    (Some(_), Some(_)) => Err(err!(
                        KeyNotFound,
                        "the token has no \"kid\" and several keys of the set fit{}",
                        for_alg()
                    )),
                }
            }
        }
    }

    /// Verifies `token` with the key its header names (`kid`, `alg`; never
    /// `jwk`/`jku`/`x5u`/`x5c`) and checks its claims, as [`jwt::decode`]
    /// does, through the process-wide [`VerifiedCache`].
    pub fn decode(
        &self,
        token: &[u8],
        validation: &Validation,
        clock: &dyn Clock,
    ) -> Result<Token> {
        let (kid, alg) = selector(token, validation)?;
        let key = self.get(kid.as_deref(), Some(alg))?;
        VerifiedCache::global().decode(token, &key, validation, clock)
    }
}

/// The `kid` and the accepted `alg` of a token's header (strictly parsed,
/// size bounded, not verified). The algorithm must be in the caller's list.
pub fn selector(token: &[u8], validation: &Validation) -> Result<(Option<String>, Algorithm)> {
    validation.validate()?;
    let header = jwt::decode_header(token, validation.max_token_size)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|a| validation.algorithms.contains(a))
        .ok_or_else(|| err!(InvalidAlgorithm, "The specified alg value is not allowed"))?;
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok((kid, alg))
}

// ---- JwksClient ----------------------------------------------------------------

/// How a [`JwksClient`] fetches and caches. Times are in seconds.
#[derive(Clone, PartialEq)]
pub struct JwksOptions {
    /// How long a fetched set is fresh (300).
    pub lifespan: f64,
    /// Minimum time between two fetches caused by an unknown `kid` or by a
    /// failure (30).
    pub cooldown: f64,
    /// Deadline of one fetch: DNS, connect, TLS, request and body (5).
    pub timeout: f64,
    /// Largest accepted body, in bytes (256 KiB); reading stops there.
    pub max_size: usize,
    /// Largest accepted number of keys (100).
    pub max_keys: usize,
    /// How long past its lifespan the last good set is still served while
    /// refreshes fail (3600).
    pub max_stale: f64,
    /// Accept a plain `http` URL (false).
    pub allow_http: bool,
    /// Extra trusted CA certificates, PEM text (for tests and private CAs);
    /// the Mozilla roots stay trusted.
    pub ca_pem: Option<Vec<u8>>,
    /// Extra request headers (e.g. an API key some gateways want). Their
    /// values never appear in `Debug` output or messages. `Host`,
    /// `Connection`, `Content-Length`, `Transfer-Encoding` and `Accept-Encoding`
    /// are the client's own and cannot be set.
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for JwksOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("JwksOptions")
            .field("lifespan", &self.lifespan)
            .field("cooldown", &self.cooldown)
            .field("timeout", &self.timeout)
            .field("max_size", &self.max_size)
            .field("max_keys", &self.max_keys)
            .field("max_stale", &self.max_stale)
            .field("allow_http", &self.allow_http)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("headers", &names)
            .finish()
    }
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            lifespan: 300.0,
            cooldown: 30.0,
            timeout: 5.0,
            max_size: KeySet::MAX_SIZE,
            max_keys: KeySet::MAX_KEYS,
            max_stale: 3600.0,
            allow_http: false,
            ca_pem: None,
            headers: Vec::new(),
        }
    }
}

/// Longest accepted fetch deadline, in seconds.
const MAX_TIMEOUT: f64 = 300.0;
/// Largest accepted `max_size`, in bytes.
const MAX_BODY: usize = 16 * 1024 * 1024;

impl JwksOptions {
    /// Errors ([`ErrorKind::InvalidArgument`]) when a value is out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("lifespan", self.lifespan),
            ("cooldown", self.cooldown),
            ("max_stale", self.max_stale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err!(
                    InvalidArgument,
                    "{name} must be a non-negative number of seconds"
                ));
            }
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout <= MAX_TIMEOUT) {
            return Err(err!(
                InvalidArgument,
                "timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT}"
            ));
        }
        if self.max_size == 0 || self.max_size > MAX_BODY {
            return Err(err!(
                InvalidArgument,
                "max_size must be between 1 and {MAX_BODY} bytes"
            ));
        }
        if self.max_keys == 0 || self.max_keys > 10_000 {
            return Err(err!(
                InvalidArgument,
                "max_keys must be between 1 and 10000"
            ));
        }
        Ok(())
    }
}

/// What a [`JwksClient`] holds and how its fetches went.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksStatus {
    /// Usable keys in the cached set (0 when none).
    pub keys: usize,
    /// When the cached set was fetched (seconds since the epoch).
    pub fetched_at: Option<f64>,
    /// When it stops being fresh.
    pub expires_at: Option<f64>,
    /// The cached set is past its lifespan (being served because refreshes fail).
    pub stale: bool,
    /// A fetch is in flight.
    pub fetching: bool,
    /// The error of the last fetch, when it failed.
    pub last_error: Option<Error>,
    /// Fetches started.
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
}

type Outcome = Result<Arc<KeySet>>;

struct State {
    set: Option<Arc<KeySet>>,
    /// When the last successful fetch ended (microseconds of the clock).
    fetched_at: i64,
    /// When the last fetch started.
    last_attempt: Option<i64>,
    /// The last fetch's error, cleared by a success.
    last_error: Option<Error>,
    /// The fetch in flight, with the runtime generation it runs on (a
    /// forked child never sees the parent's fetch finish).
    inflight: Option<(u64, watch::Receiver<Option<Outcome>>)>,
    fetches: u64,
    failures: u64,
}

struct Inner {
    fetcher: http::Fetcher,
    limits: KeySetLimits,
    lifespan: i64,
    cooldown: i64,
    max_stale: i64,
    options: JwksOptions,
    clock: SharedClock,
    state: Mutex<State>,
}

/// Fetches a JWK Set from a fixed URL and keeps it cached (see the module
/// docs for the rules). Cloning shares the cache.
#[derive(Clone)]
pub struct JwksClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwksClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksClient")
            .field("url", &self.url())
            .field("lifespan", &self.inner.options.lifespan)
            .field("cooldown", &self.inner.options.cooldown)
            .field("timeout", &self.inner.options.timeout)
            .finish_non_exhaustive()
    }
}

fn micros(secs: f64) -> i64 {
    (secs * 1_000_000.0).round() as i64
}

fn secs(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

enum Step<R> {
    Done(Result<R>),
    Wait(watch::Receiver<Option<Outcome>>),
}

/// Waits for a fetch's outcome.
async fn outcome_of(mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v
            .clone()
            .unwrap_or_else(|| Err(err!(Internal, "a JWKS fetch ended without a result"))),
        Err(_) => Err(err!(Internal, "a JWKS fetch ended without a result")),
    }
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    fn cooled(&self, st: &State, now: i64) -> bool {
        st.last_attempt
            .is_none_or(|t| now >= t.saturating_add(self.cooldown))
    }

    /// The in-flight fetch to wait for, if any (a fetch task that died
    /// without an answer, or that belongs to the runtime of a parent process,
    /// is forgotten).
    fn inflight(st: &mut State) -> Option<watch::Receiver<Option<Outcome>>> {
        match &st.inflight {
            Some((generation, rx))
                if rx.has_changed().is_ok() && *generation == runtime::generation() =>
            {
                Some(rx.clone())
            }
            _ => {
                st.inflight = None;
                None
            }
        }
    }

    /// Starts a fetch on the engine's runtime; its outcome updates the cache
    /// before it is announced.
    fn start(self: &Arc<Self>, st: &mut State, now: i64) -> watch::Receiver<Option<Outcome>> {
        let (tx, rx) = watch::channel(None);
        st.inflight = Some((runtime::generation(), rx.clone()));
        st.last_attempt = Some(now);
        st.fetches += 1;
        let inner = Arc::clone(self);
        // The task runs whether or not anyone still waits for it.
        drop(runtime::spawn(async move {
            let outcome = inner.fetch_set().await;
            {
                let mut st = inner.state.lock();
                match &outcome {
                    Ok(set) => {
                        st.set = Some(Arc::clone(set));
                        st.fetched_at = inner.now();
                        st.last_error = None;
                    }
                    Err(e) => {
                        st.last_error = Some(e.clone());
                        st.failures += 1;
                    }
                }
                st.inflight = None;
            }
            let _ = tx.send(Some(outcome));
        }));
        rx
    }

    async fn fetch_set(&self) -> Outcome {
        let body = self.fetcher.fetch().await?;
        KeySet::parse(&body, &self.limits)
            .map(Arc::new)
            .map_err(|e| {
                err!(
                    JwksFetchFailed,
                    "the JWKS from {} is not usable: {}",
                    self.fetcher.target.display(),
                    e.message()
                )
            })
    }

    /// The failure to report when no fresh set can be had: the last good set
    /// within its staleness bound (looked up with `lookup`), else the fetch error.
    fn stale_or_error<R>(
        &self,
        st: &State,
        now: i64,
        error: Option<&Error>,
        lookup: &dyn Fn(&Arc<KeySet>) -> Result<R>,
    ) -> Result<R> {
        if let Some(set) = &st.set {
            if now
                < st.fetched_at
                    .saturating_add(self.lifespan)
                    .saturating_add(self.max_stale)
            {
                return lookup(set);
            }
        }
        Err(match error.or(st.last_error.as_ref()) {
            Some(e) if e.kind() == ErrorKind::JwksFetchFailed => e.clone(),
            Some(e) => err!(JwksFetchFailed, "{}", e.message()),
            None => err!(
                JwksFetchFailed,
                "the JWKS from {} could not be fetched",
                self.fetcher.target.display()
            ),
        })
    }

    /// One decision under the lock: an answer from the cache, or a fetch to
    /// wait for (joining the one in flight, or starting one when allowed).
    fn step<R>(self: &Arc<Self>, now: i64, lookup: &dyn Fn(&Arc<KeySet>) -> Result<R>) -> Step<R> {
        let mut st = self.state.lock();
        if let Some(set) = st.set.clone() {
            if now < st.fetched_at.saturating_add(self.lifespan) {
                // Fresh: a miss may refetch, once per cooldown.
                return match lookup(&set) {
                    Ok(r) => Step::Done(Ok(r)),
                    Err(e) if e.kind() == ErrorKind::KeyNotFound => {
                        if let Some(rx) = Self::inflight(&mut st) {
                            Step::Wait(rx)
                        } else if self.cooled(&st, now) {
                            Step::Wait(self.start(&mut st, now))
                        } else {
                            Step::Done(Err(e))
                        }
                    }
                    Err(e) => Step::Done(Err(e)),
                };
            }
            // Expired: refresh, unless the last attempt failed within the
            // cooldown; meanwhile the stale set is served within its bound.
            if let Some(rx) = Self::inflight(&mut st) {
                return Step::Wait(rx);
            }
            if st.last_error.is_none() || self.cooled(&st, now) {
                return Step::Wait(self.start(&mut st, now));
            }
            return Step::Done(self.stale_or_error(&st, now, None, lookup));
        }
        if let Some(rx) = Self::inflight(&mut st) {
            return Step::Wait(rx);
        }
        if self.cooled(&st, now) {
            return Step::Wait(self.start(&mut st, now));
        }
        let wait = st
            .last_attempt
            .map_or(0.0, |t| secs(t + self.cooldown - now).max(0.0));
        Step::Done(Err(match &st.last_error {
            Some(e) => err!(
                JwksFetchFailed,
                "{} (next attempt in {wait:.0} s)",
                e.message()
            ),
            None => err!(
                JwksFetchFailed,
                "the JWKS from {} is not available yet",
                self.fetcher.target.display()
            ),
        }))
    }

    /// After waiting for a fetch: the new set, or the stale one, or the error.
    fn settle<R>(&self, outcome: Outcome, lookup: &dyn Fn(&Arc<KeySet>) -> Result<R>) -> Result<R> {
        match outcome {
            Ok(set) => lookup(&set),
            Err(e) => {
                let st = self.state.lock();
                self.stale_or_error(&st, self.now(), Some(&e), lookup)
            }
        }
    }

    fn resolve_blocking<R: Send + 'static>(
        self: &Arc<Self>,
        lookup: &dyn Fn(&Arc<KeySet>) -> Result<R>,
    ) -> Result<R> {
        match self.step(self.now(), lookup) {
            Step::Done(r) => r,
            Step::Wait(rx) => {
                let outcome = runtime::block_on(outcome_of(rx))?;
                self.settle(outcome, lookup)
            }
        }
    }

    async fn resolve<R>(
        self: Arc<Self>,
        lookup: impl Fn(&Arc<KeySet>) -> Result<R> + Send,
    ) -> Result<R> {
        let step = self.step(self.now(), &lookup);
        match step {
            Step::Done(r) => r,
            Step::Wait(rx) => {
                let outcome = outcome_of(rx).await;
                self.settle(outcome, &lookup)
            }
        }
    }
}

impl JwksClient {
    /// A client for `url` (an absolute `https` URL, or `http` with
    /// `options.allow_http`). Nothing is fetched until a key is needed (or
    /// [`JwksClient::refresh`] is called). Errors are
    /// [`ErrorKind::InvalidArgument`]: a bad URL, option or `ca_pem`.
    pub fn new(url: &str, options: JwksOptions, clock: SharedClock) -> Result<Self> {
        options.validate()?;
        let target = http::Target::parse(url, options.allow_http)?;
        let tls = http::tls_config(options.ca_pem.as_deref())?;
        let fetcher = http::Fetcher::new(
            target,
            tls,
            &options.headers,
            Duration::from_secs_f64(options.timeout),
            options.max_size,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                fetcher,
                limits: KeySetLimits {
                    max_size: options.max_size,
                    max_keys: options.max_keys,
                    allow_symmetric: false,
                },
                lifespan: micros(options.lifespan),
                cooldown: micros(options.cooldown),
                max_stale: micros(options.max_stale),
                options,
                clock,
                state: Mutex::new(State {
                    set: None,
                    fetched_at: 0,
                    last_attempt: None,
                    last_error: None,
                    inflight: None,
                    fetches: 0,
                    failures: 0,
                }),
            }),
        })
    }

    /// The URL without its query (for logs and messages).
    #[must_use]
    pub fn url(&self) -> &str {
        self.inner.fetcher.target.display()
    }

    /// The options the client was built with.
    #[must_use]
    pub fn options(&self) -> &JwksOptions {
        &self.inner.options
    }

    /// The key for `kid` that fits `alg` (any algorithm when `None`), from
    /// the cache or after a fetch (see the module docs). Errors:
    /// [`ErrorKind::KeyNotFound`], [`ErrorKind::JwksFetchFailed`]. The future
    /// can be awaited from any executor.
    pub fn get_signing_key(
        &self,
        kid: Option<String>,
        alg: Option<Algorithm>,
    ) -> impl Future<Output = Result<Key>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        inner.resolve(move |set: &Arc<KeySet>| set.get(kid.as_deref(), alg))
    }

    /// [`JwksClient::get_signing_key`], blocking the calling thread while a
    /// fetch is needed (a cached key is returned without leaving the thread).
    /// Must not be called from the engine's own I/O threads.
    pub fn get_signing_key_blocking(
        &self,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Key> {
        self.inner
            .resolve_blocking(&|set: &Arc<KeySet>| set.get(kid, alg))
    }

    /// Verifies `token` with the key its header names (see
    /// [`KeySet::decode`]) and checks its claims with the client's clock.
    pub fn decode(
        &self,
        token: Vec<u8>,
        validation: Validation,
    ) -> impl Future<Output = Result<Token>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        async move {
            let (kid, alg) = selector(&token, &validation)?;
            let clock = Arc::clone(&inner.clock);
            let key = inner
                .resolve(move |set: &Arc<KeySet>| set.get(kid.as_deref(), Some(alg)))
                .await?;
            VerifiedCache::global().decode(&token, &key, &validation, clock.as_ref())
        }
    }

    /// [`JwksClient::decode`], blocking the calling thread while a fetch is needed.
    pub fn decode_blocking(&self, token: &[u8], validation: &Validation) -> Result<Token> {
        let (kid, alg) = selector(token, validation)?;
        let key = self.get_signing_key_blocking(kid.as_deref(), Some(alg))?;
        VerifiedCache::global().decode(token, &key, validation, self.inner.clock.as_ref())
    }

    /// The current set, fetched when there is none or it expired (the same
    /// rules as a key lookup that finds its key).
    pub fn key_set(&self) -> impl Future<Output = Result<Arc<KeySet>>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        inner.resolve(|set: &Arc<KeySet>| Ok(Arc::clone(set)))
    }

    /// [`JwksClient::key_set`], blocking.
    pub fn key_set_blocking(&self) -> Result<Arc<KeySet>> {
        self.inner
            .resolve_blocking(&|set: &Arc<KeySet>| Ok(Arc::clone(set)))
    }

    /// Fetches the set now, ignoring freshness and cooldown (joining a fetch
    /// already in flight), e.g. to warm the cache at start-up. The fetch's
    /// own error is returned; the cache keeps its last good set.
    pub fn refresh(&self) -> impl Future<Output = Result<Arc<KeySet>>> + Send + 'static {
        let rx = self.start_refresh();
        outcome_of(rx)
    }

    /// [`JwksClient::refresh`], blocking.
    pub fn refresh_blocking(&self) -> Result<Arc<KeySet>> {
        let rx = self.start_refresh();
        runtime::block_on(outcome_of(rx))?
    }

    fn start_refresh(&self) -> watch::Receiver<Option<Outcome>> {
        let mut st = self.inner.state.lock();
        match Inner::inflight(&mut st) {
            Some(rx) => rx,
            None => self.inner.start(&mut st, self.inner.now()),
        }
    }

    /// What the client holds and how its fetches went.
    #[must_use]
    pub fn status(&self) -> JwksStatus {
        let now = self.inner.now();
        let mut st = self.inner.state.lock();
        let fetching = Inner::inflight(&mut st).is_some();
        let expires = st
            .set
            .as_ref()
            .map(|_| st.fetched_at.saturating_add(self.inner.lifespan));
        JwksStatus {
            keys: st.set.as_ref().map_or(0, |s| s.len()),
            fetched_at: st.set.as_ref().map(|_| secs(st.fetched_at)),
            expires_at: expires.map(secs),
            stale: expires.is_some_and(|e| now >= e),
            fetching,
            last_error: st.last_error.clone(),
            fetches: st.fetches,
            failures: st.failures,
        }
    }
}

const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<KeySet>();
    is_send_sync::<JwksClient>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(kid: &str, extra: &str) -> String {
        // A fixed 2048-bit RSA public key (modulus from RFC 7517 A.1).
        format!(
            r#"{{"kty":"RSA","kid":"{kid}","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"{extra}}}"#
        )
    }

    #[test]
    fn skips_unusable_keys_and_reports_them() {
        let text = format!(
            r#"{{"keys":[{},{},{},{},{{"kty":"OKP","crv":"X25519","x":"AAAA"}},7,{}]}}"#,
            rsa_jwk("a", ""),
            rsa_jwk("enc", r#","use":"enc""#),
            rsa_jwk("ops", r#","key_ops":["sign"]"#),
            rsa_jwk("a", r#","alg":"RS384""#),
            rsa_jwk("ps", r#","alg":"PS256""#),
        );
        let set = KeySet::from_json(text.as_bytes()).unwrap();
        let kept: Vec<_> = set.keys().iter().map(|k| k.kid().unwrap()).collect();
        assert_eq!(kept, ["a", "ps"]);
        let reasons: Vec<_> = set.skipped().iter().map(|s| s.index).collect();
        assert_eq!(reasons, [1, 2, 3, 4, 5]);
        assert!(set.skipped()[2].reason.contains("duplicate kid"));
        assert!(set.get(Some("a"), Some(Algorithm::RS256)).is_ok());
        assert_eq!(
            set.get(Some("ps"), Some(Algorithm::RS256))
                .unwrap_err()
                .kind(),
            ErrorKind::KeyNotFound
        );
        assert_eq!(
            set.get(Some("a"), Some(Algorithm::HS256))
                .unwrap_err()
                .kind(),
            ErrorKind::KeyNotFound
        );
        // No kid: exactly one key must fit.
        assert_eq!(
            set.get(None, Some(Algorithm::RS256)).unwrap().kid(),
            Some("a")
        );
        assert_eq!(
            set.get(None, Some(Algorithm::PS256)).unwrap_err().kind(),
            ErrorKind::KeyNotFound
        );
    }

    #[test]
    fn bounds_and_shape() {
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"keys":{}}"#,
            br#"{"keys":[]}"#,
            br#"{"keys":[{"kty":"EC"}]}"#,
            br#"{"keys":[],"keys":[]}"#,
        ] {
            assert_eq!(
                KeySet::from_json(bad).unwrap_err().kind(),
                ErrorKind::InvalidKeySet
            );
        }
        let many = format!(r#"{{"keys":[{}]}}"#, vec![rsa_jwk("x", ""); 101].join(","));
        assert!(KeySet::from_json(many.as_bytes())
            .unwrap_err()
            .message()
            .contains("more than the limit"));
        let limits = KeySetLimits {
            max_size: 10,
            ..KeySetLimits::default()
        };
        assert!(KeySet::parse(br#"{"keys":[          ]}"#, &limits)
            .unwrap_err()
            .message()
            .contains("larger than 10 bytes"));
        let oct = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0","kid":"h"}]}"#;
        assert!(KeySet::from_json(oct).is_ok());
        let remote = KeySetLimits {
            allow_symmetric: false,
            ..KeySetLimits::default()
        };
        assert_eq!(
            KeySet::parse(oct, &remote).unwrap_err().kind(),
            ErrorKind::InvalidKeySet
        );
    }

    #[test]
    fn long_kids_are_shortened_in_messages() {
        let set =
            KeySet::from_json(format!(r#"{{"keys":[{}]}}"#, rsa_jwk("a", "")).as_bytes()).unwrap();
        let kid = "x".repeat(5000);
        let e = set.get(Some(&kid), None).unwrap_err();
        assert!(e.message().len() < 200, "{}", e.message());
    }

    #[test]
    fn options_are_checked() {
        let clock = crate::clock::system();
        let bad = [
            JwksOptions {
                lifespan: -1.0,
                ..JwksOptions::default()
            },
            JwksOptions {
                timeout: 0.0,
                ..JwksOptions::default()
            },
            JwksOptions {
                max_size: 0,
                ..JwksOptions::default()
            },
            JwksOptions {
                cooldown: f64::NAN,
                ..JwksOptions::default()
            },
        ];
        for o in bad {
            let e =
                JwksClient::new("https://idp.example.com/jwks", o, Arc::clone(&clock)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        }
        let c = JwksClient::new(
            "https://idp.example.com/jwks?key=secret",
            JwksOptions::default(),
            clock,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.status().keys, 0);
    }
}
