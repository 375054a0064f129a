//! Token lifecycle: access/refresh pairs, rotation with families, revocation.
//!
//! A [`TokenService`] issues signed pairs and keeps their server-side state in
//! a [`Store`] (memory or Redis), so every process pointed at one Redis shares
//! it. Guarantees:
//!
//! - **Pairs.** [`TokenService::issue_pair`] signs an access token (default 30
//!   minutes) and a refresh token (default 7 days), each with a random `jti`,
//!   the subject, a token-type claim, the family id and the caller's claims,
//!   and records a new *family* whose current refresh token is the one issued.
//! - **Rotation, exactly once.** [`TokenService::rotate`] checks the refresh
//!   token, then in one atomic decision replaces the family's current `jti`
//!   with a new one; of any number of concurrent rotations of one refresh
//!   token exactly one wins and gets the new pair.
//! - **Reuse detection.** Presenting a refresh token that was already rotated
//!   revokes the whole family (the thief's and the victim's tokens alike),
//!   emits [`Event::TokenReuse`] and fails with `TOKEN_REUSED`. With a grace
//!   window, the immediate predecessor presented within the window fails with
//!   `TOKEN_ALREADY_ROTATED` instead and the family stays valid (parallel
//!   requests of one legitimate client).
//! - **Revocation.** One token by `jti`, kept only until the token's `exp`
//!   (revoking a refresh token also revokes its family); everything a subject
//!   holds as one per-subject "not before" mark (O(1) storage): tokens of
//!   families created before the mark, and other tokens whose `iat` second
//!   began before it, are refused. Revoking another subject's token requires
//!   `admin`.
//! - **Verification consults revocation in the same call**: one critical
//!   section in memory, one round trip to Redis. All keys of a subject share
//!   the subject's hash tag, so this holds on Redis Cluster too.
//! - **Outages.** When the store cannot answer within its timeout, a
//!   revocation check applies [`LifecycleOptions::revocation_policy`]: fail
//!   closed by default (the token is refused with `STORE_UNAVAILABLE`); fail
//!   open accepts it. Rotation and revocation themselves always need the
//!   store and fail with `STORE_UNAVAILABLE`.
//! - The memory store loses its state when the process ends: families and
//!   revocations do not survive a restart there (refresh tokens then fail to
//!   rotate, with `TOKEN_REVOKED`). Use Redis to keep them.

use super::algorithm::Algorithm;
use super::json::{self, Number, Object, Value as Json};
use super::jwt::{self, Header, Validation};
use super::key::Key;
use crate::clock::{self, SharedClock};
use crate::error::{err, Error, ErrorKind, Result};
use crate::events::{Event, Listeners};
use crate::store::{script, tagged_key, Decision, OutagePolicy, Reply, Script, Store, Txn, Value};
use std::fmt;

const KIND: &str = "tok";
/// Longest `jti` or family id accepted from a token (they become key names).
const MAX_ID_LEN: usize = 200;

static FAMILY_ISSUE: Script = script!("family_issue");
static FAMILY_ROTATE: Script = script!("family_rotate");
static REVOCATION_CHECK: Script = script!("revocation_check");
static REVOKE_JTI: Script = script!("revoke_jti");
static REVOKE_SUBJECT: Script = script!("revoke_subject");
static REVOKE_FAMILY: Script = script!("revoke_family");

/// Options of a [`TokenService`].
#[derive(Clone)]
pub struct LifecycleOptions {
    /// The signing algorithm (it must fit the key).
    pub algorithm: Algorithm,
    /// Access-token lifetime in seconds (default 1800: 30 minutes).
    pub access_lifetime: u64,
    /// Refresh-token lifetime in seconds (default 604800: 7 days). Each
    /// rotation issues a refresh token with a full lifetime.
    pub refresh_lifetime: u64,
    /// `iss` written into tokens and required when verifying.
    pub issuer: Option<String>,
    /// `aud` written into tokens and required when verifying.
    pub audience: Option<String>,
    /// Seconds of clock skew tolerated when verifying.
    pub leeway: f64,
    /// Seconds during which the refresh token just rotated may be presented
    /// again without counting as reuse (default 0: off).
    pub rotation_grace: f64,
    /// The claim holding the subject (default `"sub"`; simplejwt uses `"user_id"`).
    pub subject_claim: String,
    /// The claim holding the token type (default `"token_type"`, as simplejwt).
    pub type_claim: String,
    /// The claim holding the family id (default `"fam"`).
    pub family_claim: String,
    /// What a revocation check does when the store cannot answer (default
    /// fail closed). `Local` is not accepted here: a local store does not know
    /// the revocations made by other processes.
    pub revocation_policy: OutagePolicy,
    /// How long a "revoke everything" mark is kept, in seconds: the longest
    /// lifetime of any token it must cover (default: the refresh lifetime).
    pub max_token_lifetime: Option<u64>,
    /// Further keys accepted when verifying (previous signing keys during a key
    /// rotation). The signing key is always accepted.
    pub verify_keys: Vec<Key>,
    /// Seconds during which this process may reuse a "not revoked" answer for
    /// the same token without asking the store (default 0: off, at most 60).
    /// Staleness: a revocation made by another process is seen here at most
    /// this long after it happened; revocations made through this service
    /// clear the cache at once.
    pub revocation_cache_ttl: f64,
    /// The clock for `iat`/`exp` (default: the system clock).
    pub clock: SharedClock,
}

impl fmt::Debug for LifecycleOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleOptions")
            .field("algorithm", &self.algorithm)
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("rotation_grace", &self.rotation_grace)
            .field("revocation_policy", &self.revocation_policy)
            .finish_non_exhaustive()
    }
}

impl LifecycleOptions {
    /// Defaults for `algorithm`.
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            access_lifetime: 30 * 60,
            refresh_lifetime: 7 * 24 * 3600,
            issuer: None,
            audience: None,
            leeway: 0.0,
            rotation_grace: 0.0,
            subject_claim: "sub".into(),
            type_claim: "token_type".into(),
            family_claim: "fam".into(),
            revocation_policy: OutagePolicy::FailClosed,
            max_token_lifetime: None,
            verify_keys: Vec::new(),
            revocation_cache_ttl: 0.0,
            clock: clock::system(),
        }
    }
}

/// An issued access/refresh pair.
#[derive(Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
    /// The access token's `exp` (seconds since the epoch).
    pub access_expires_at: i64,
    /// The refresh token's `exp` (seconds since the epoch).
    pub refresh_expires_at: i64,
    /// The family id shared by every pair rotated from the first one.
    pub family: String,
    /// The subject.
    pub subject: String,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("subject", &self.subject)
            .field("family", &self.family)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// Which token a verification expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

impl TokenKind {
    /// `"access"` or `"refresh"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// Issues, rotates, verifies and revokes tokens. See the module docs.
pub struct TokenService {
    store: Store,
    key: Key,
    options: LifecycleOptions,
    validation: Validation,
    listeners: Listeners,
    cache: RevocationCache,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("store", &self.store)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the two tokens of a pair share.
struct PairBase<'a> {
    subject_json: &'a Json,
    family: &'a str,
    iat: i64,
    extra: &'a Object,
}

/// A token checked by signature and claims, before its revocation check.
struct Checked {
    claims: Object,
    subject: String,
    jti: String,
    family: Option<String>,
    iat: i64,
    exp: i64,
    kind: TokenKind,
}

/// What a revocation check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revocation {
    Valid,
    Jti,
    Family,
    Subject,
}

fn random_id(bytes: usize) -> Result<String> {
    let mut buf = [0u8; 32];
    let buf = &mut buf[..bytes];
    aws_lc_rs::rand::fill(buf).map_err(|_| err!(Internal, "the random generator failed"))?;
    Ok(super::b64::encode(buf))
}

fn micros(secs: i64) -> i64 {
    secs.saturating_mul(1_000_000)
}

impl TokenService {
    /// A service signing with `key` and keeping state in `store`.
    pub fn new(store: Store, key: Key, options: LifecycleOptions) -> Result<Self> {
        if !key.can_sign() {
            return Err(err!(
                InvalidKey,
                "the token service needs a key that can sign (a secret or a private key)"
            ));
        }
        key.ensure_usable(options.algorithm, false)?;
        for k in &options.verify_keys {
            k.ensure_fits(options.algorithm)?;
        }
        if options.access_lifetime == 0 || options.refresh_lifetime == 0 {
            return Err(err!(InvalidArgument, "token lifetimes must be positive"));
        }
        if options.access_lifetime > options.refresh_lifetime {
            return Err(err!(
                InvalidArgument,
                "the access lifetime cannot exceed the refresh lifetime"
            ));
        }
        if !(options.rotation_grace.is_finite() && (0.0..=300.0).contains(&options.rotation_grace))
        {
            return Err(err!(
                InvalidArgument,
                "rotation_grace must be between 0 and 300 seconds"
            ));
        }
        if !(options.revocation_cache_ttl.is_finite()
            && (0.0..=60.0).contains(&options.revocation_cache_ttl))
        {
            return Err(err!(
                InvalidArgument,
                "revocation_cache_ttl must be between 0 and 60 seconds"
            ));
        }
        if options.revocation_policy == OutagePolicy::Local {
            return Err(err!(
                InvalidArgument,
                "revocation checks cannot fall back to local state: choose fail_closed or fail_open"
            ));
        }
        let names = [
            &options.subject_claim,
            &options.type_claim,
            &options.family_claim,
        ];
        if names.iter().any(|n| n.is_empty())
            || names[0] == names[1]
            || names[0] == names[2]
            || names[1] == names[2]
        {
            return Err(err!(
                InvalidArgument,
                "the subject, type and family claim names must be distinct and non-empty"
            ));
        }
        let mut validation = Validation::new(&[options.algorithm]);
        validation.leeway = options.leeway;
        validation.required_claims = vec![
            "exp".into(),
            "iat".into(),
            "jti".into(),
            options.subject_claim.clone(),
            options.type_claim.clone(),
        ];
        validation.issuer = options.issuer.clone().map(|i| vec![i]);
        validation.audience = options.audience.clone().map(|a| vec![a]);
        validation.validate()?;
        Ok(Self {
            store,
            key,
            options,
            validation,
            listeners: Listeners::default(),
            cache: RevocationCache::default(),
        })
    }

    /// The service's options.
    #[must_use]
    pub fn options(&self) -> &LifecycleOptions {
        &self.options
    }

    /// The store the service keeps its state in.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The listeners that receive the service's events.
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    fn key_of(&self, subject: &str, name: &str) -> String {
        tagged_key(KIND, subject, name)
    }

    fn family_key(&self, subject: &str, family: &str) -> String {
        self.key_of(subject, &format!("fam:{family}"))
    }

    fn jti_key(&self, subject: &str, jti: &str) -> String {
        self.key_of(subject, &format!("jti:{jti}"))
    }

    fn mark_key(&self, subject: &str) -> String {
        self.key_of(subject, "nbf")
    }

    // ---- issuing ---------------------------------------------------------------

    fn check_extra(&self, extra: &Object) -> Result<()> {
        for (name, _) in extra.iter() {
            let reserved = matches!(name, "exp" | "iat" | "nbf" | "jti" | "iss" | "aud")
                || name == self.options.subject_claim
                || name == self.options.type_claim
                || name == self.options.family_claim;
            if reserved {
                return Err(err!(
                    InvalidArgument,
                    "the claim {name:?} is set by the token service and cannot be given"
                ));
            }
        }
        Ok(())
    }

    fn sign(&self, kind: TokenKind, base: &PairBase<'_>, jti: &str, exp: i64) -> Result<String> {
        let mut c = Object::new();
        c.insert(
            self.options.subject_claim.clone(),
            base.subject_json.clone(),
        );
        c.insert("iat", Json::Number(Number::from_i64(base.iat)));
        c.insert("exp", Json::Number(Number::from_i64(exp)));
        c.insert("jti", Json::String(jti.to_owned()));
        c.insert(
            self.options.type_claim.clone(),
            Json::String(kind.name().to_owned()),
        );
        c.insert(
            self.options.family_claim.clone(),
            Json::String(base.family.to_owned()),
        );
        if let Some(iss) = &self.options.issuer {
            c.insert("iss", Json::String(iss.clone()));
        }
        if let Some(aud) = &self.options.audience {
            c.insert("aud", Json::String(aud.clone()));
        }
        for (k, v) in base.extra.iter() {
            c.insert(k, v.clone());
        }
        let mut text = String::with_capacity(256);
        json::write_object(&c, &mut text);
        jwt::encode(
            &Header::new(self.options.algorithm),
            &text,
            &self.key,
            false,
        )
    }

    fn pair(&self, base: &PairBase<'_>, subject: &str, refresh_jti: &str) -> Result<TokenPair> {
        let access_exp = base.iat + self.options.access_lifetime as i64;
        let refresh_exp = base.iat + self.options.refresh_lifetime as i64;
        let access_jti = random_id(16)?;
        Ok(TokenPair {
            access: self.sign(TokenKind::Access, base, &access_jti, access_exp)?,
            refresh: self.sign(TokenKind::Refresh, base, refresh_jti, refresh_exp)?,
            access_expires_at: access_exp,
            refresh_expires_at: refresh_exp,
            family: base.family.to_owned(),
            subject: subject.to_owned(),
        })
    }

    fn now_secs(&self) -> i64 {
        self.options.clock.now_micros().div_euclid(1_000_000)
    }

    fn prepare_issue(&self, subject: &str, extra: &Object) -> Result<(IssueFamily, Json)> {
        check_id("subject", subject, 1024)?;
        self.check_extra(extra)?;
        let family = random_id(12)?;
        let jti = random_id(16)?;
        let refresh_exp = self.now_secs() + self.options.refresh_lifetime as i64;
        let d = IssueFamily {
            key: self.family_key(subject, &family),
            family,
            jti,
            expires_at: micros(refresh_exp),
        };
        Ok((d, Json::String(subject.to_owned())))
    }

    fn issued(
        &self,
        subject_json: &Json,
        subject: &str,
        family: &str,
        refresh_jti: &str,
        extra: &Object,
    ) -> Result<TokenPair> {
        let base = PairBase {
            subject_json,
            family,
            iat: self.now_secs(),
            extra,
        };
        self.pair(&base, subject, refresh_jti)
    }

    /// Issues a new pair for `subject` with the caller's `extra` claims (roles,
    /// username...), starting a new family.
    pub fn issue_pair(&self, subject: &str, extra: &Object) -> Result<TokenPair> {
        let (d, sj) = self.prepare_issue(subject, extra)?;
        let (family, jti) = (d.family.clone(), d.jti.clone());
        self.store.run(d)?;
        self.issued(&sj, subject, &family, &jti, extra)
    }

    /// Async [`TokenService::issue_pair`].
    pub async fn issue_pair_async(&self, subject: &str, extra: &Object) -> Result<TokenPair> {
        let (d, sj) = self.prepare_issue(subject, extra)?;
        let (family, jti) = (d.family.clone(), d.jti.clone());
        self.store.run_async(d).await?;
        self.issued(&sj, subject, &family, &jti, extra)
    }

    // ---- verifying ---------------------------------------------------------------

    /// Signature and claims, no revocation check.
    fn check(
        &self,
        token: &str,
        expected: Option<TokenKind>,
        validate_exp: bool,
    ) -> Result<Checked> {
        let t = if validate_exp {
            self.decode_with(token, &self.validation)?
        } else {
            let mut v = self.validation.clone();
            v.validate_exp = false;
            self.decode_with(token, &v)?
        };
        let claims = t.claims;
        let kind = match claims.get(&self.options.type_claim).and_then(Json::as_str) {
            Some("access") => TokenKind::Access,
            Some("refresh") => TokenKind::Refresh,
            _ => {
                return Err(err!(
                    InvalidTokenType,
                    "the {:?} claim must be \"access\" or \"refresh\"",
                    self.options.type_claim
                ))
            }
        };
        if let Some(e) = expected {
            if e != kind {
                return Err(err!(
                    InvalidTokenType,
                    "expected an {} token, got a {} token",
                    e.name(),
                    kind.name()
                ));
            }
        }
        let subject = subject_text(claims.get(&self.options.subject_claim))?;
        let jti = claims
            .get("jti")
            .and_then(Json::as_str)
            .ok_or_else(|| err!(InvalidJti, "jti must be a string"))?
            .to_owned();
        check_id("jti", &jti, MAX_ID_LEN)
            .map_err(|e| Error::new(ErrorKind::InvalidJti, e.message()))?;
        let family = match claims.get(&self.options.family_claim) {
            None => None,
            Some(Json::String(f)) => {
                check_id("family id", f, MAX_ID_LEN)?;
                Some(f.clone())
            }
            Some(_) => return Err(err!(MalformedToken, "the family claim must be a string")),
        };
        let num = |name: &str| {
            claims
                .get(name)
                .and_then(Json::as_number)
                .map(|n| n.as_f64().floor() as i64)
                .unwrap_or(0)
        };
        let (iat, exp) = (num("iat"), num("exp"));
        Ok(Checked {
            subject,
            jti,
            family,
            iat,
            exp,
            kind,
            claims,
        })
    }

    fn decode_with(&self, token: &str, v: &Validation) -> Result<jwt::Token> {
        match jwt::decode(token.as_bytes(), &self.key, v, &*self.options.clock) {
            Err(e)
                if e.kind() == ErrorKind::InvalidSignature
                    && !self.options.verify_keys.is_empty() =>
            {
                for k in &self.options.verify_keys {
                    if let Ok(t) = jwt::decode(token.as_bytes(), k, v, &*self.options.clock) {
                        return Ok(t);
                    }
                }
                Err(e)
            }
            other => other,
        }
    }

    fn check_decision(&self, c: &Checked) -> CheckRevocation {
        CheckRevocation {
            jti: self.jti_key(&c.subject, &c.jti),
            mark: self.mark_key(&c.subject),
            family: c.family.as_ref().map(|f| self.family_key(&c.subject, f)),
            issued_at: micros(c.iat),
        }
    }

    /// A fresh "not revoked" answer from this process's cache, if enabled.
    fn cached_valid(&self, d: &CheckRevocation) -> bool {
        self.options.revocation_cache_ttl > 0.0
            && self.cache.fresh(&d.jti, self.options.clock.now_micros())
    }

    fn finish_check(
        &self,
        c: Checked,
        d: &CheckRevocation,
        outcome: Result<Revocation>,
    ) -> Result<Object> {
        match outcome {
            Ok(Revocation::Valid) => {
                if self.options.revocation_cache_ttl > 0.0 {
                    let until = self.options.clock.now_micros()
                        + (self.options.revocation_cache_ttl * 1_000_000.0) as i64;
                    self.cache.insert(&d.jti, until);
                }
                Ok(c.claims)
            }
            Ok(r) => Err(revoked(r)),
            Err(e) if e.kind() == ErrorKind::StoreUnavailable => {
                self.listeners.emit(&Event::StoreUnavailable {
                    component: "revocation",
                    policy: self.options.revocation_policy.name(),
                });
                match self.options.revocation_policy {
                    OutagePolicy::FailOpen => Ok(c.claims),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies an access token (signature, claims, type) and checks in the
    /// same call that it is not revoked. Returns its claims.
    pub fn verify(&self, token: &str) -> Result<Object> {
        self.verify_kind(token, TokenKind::Access)
    }

    /// Async [`TokenService::verify`].
    pub async fn verify_async(&self, token: &str) -> Result<Object> {
        self.verify_kind_async(token, TokenKind::Access).await
    }

    /// Verifies a token of the given kind and checks it is not revoked.
    pub fn verify_kind(&self, token: &str, kind: TokenKind) -> Result<Object> {
        let result = self.verify_checked(token, kind);
        self.report_verify(kind, result)
    }

    fn verify_checked(&self, token: &str, kind: TokenKind) -> Result<(Object, String)> {
        let c = self.check(token, Some(kind), true)?;
        let subject = c.subject.clone();
        let d = self.check_decision(&c);
        if self.cached_valid(&d) {
            return Ok((c.claims, subject));
        }
        let outcome = self.store.run(d.clone());
        self.finish_check(c, &d, outcome).map(|o| (o, subject))
    }

    /// Counts a verification and reports it (the subject only on success).
    fn report_verify(&self, kind: TokenKind, result: Result<(Object, String)>) -> Result<Object> {
        crate::metrics::record_auth(kind.name(), &result, |(_, s)| s.clone());
        result.map(|(o, _)| o)
    }

    /// Async [`TokenService::verify_kind`].
    pub async fn verify_kind_async(&self, token: &str, kind: TokenKind) -> Result<Object> {
        let result = self.verify_checked_async(token, kind).await;
        self.report_verify(kind, result)
    }

    async fn verify_checked_async(&self, token: &str, kind: TokenKind) -> Result<(Object, String)> {
        let c = self.check(token, Some(kind), true)?;
        let subject = c.subject.clone();
        let d = self.check_decision(&c);
        if self.cached_valid(&d) {
            return Ok((c.claims, subject));
        }
        let outcome = self.store.run_async(d.clone()).await;
        self.finish_check(c, &d, outcome).map(|o| (o, subject))
    }

    // ---- rotating ---------------------------------------------------------------

    fn prepare_rotate(&self, refresh: &str) -> Result<(Checked, RotateFamily)> {
        let c = self.check(refresh, Some(TokenKind::Refresh), true)?;
        let Some(family) = c.family.clone() else {
            return Err(Error::new(
                ErrorKind::MissingClaim,
                format!(
                    "the refresh token has no {:?} claim: it was not issued by a token service",
                    self.options.family_claim
                ),
            )
            .with_detail(crate::error::Detail::Claim(
                self.options.family_claim.clone(),
            )));
        };
        let new_jti = random_id(16)?;
        let refresh_exp = self.now_secs() + self.options.refresh_lifetime as i64;
        let d = RotateFamily {
            family: self.family_key(&c.subject, &family),
            mark: self.mark_key(&c.subject),
            presented_key: self.jti_key(&c.subject, &c.jti),
            presented: c.jti.clone(),
            new_jti,
            expires_at: micros(refresh_exp),
            grace: (self.options.rotation_grace * 1_000_000.0) as i64,
        };
        Ok((c, d))
    }

    fn finish_rotate(&self, c: Checked, d: &RotateFamily, status: Rotation) -> Result<TokenPair> {
        let family = c.family.clone().unwrap_or_default();
        match status {
            Rotation::Rotated => {
                let mut extra = c.claims.clone();
                for name in ["exp", "iat", "nbf", "jti", "iss", "aud"] {
                    extra.remove(name);
                }
                let subject_json = extra
                    .remove(&self.options.subject_claim)
                    .unwrap_or(Json::String(c.subject.clone()));
                extra.remove(&self.options.type_claim);
                extra.remove(&self.options.family_claim);
                self.issued(&subject_json, &c.subject, &family, &d.new_jti, &extra)
            }
            Rotation::Unknown => Err(err!(
                TokenRevoked,
                "the refresh token's family is unknown or has expired"
            )),
            Rotation::Revoked(r) => Err(revoked(r)),
            Rotation::Reused => {
                self.cache.clear();
                self.listeners.emit(&Event::TokenReuse {
                    subject: c.subject.clone(),
                    family,
                });
                Err(err!(
                    TokenReused,
                    "this refresh token was already used: every token of its family is now revoked"
                ))
            }
            Rotation::Grace => Err(err!(
                TokenAlreadyRotated,
                "this refresh token was rotated moments ago by a parallel request"
            )),
        }
    }

    /// Rotates a refresh token: a new pair in the same family, the presented
    /// token invalidated atomically. See the module docs for reuse handling.
    pub fn rotate(&self, refresh: &str) -> Result<TokenPair> {
        let (c, d) = self.prepare_rotate(refresh)?;
        let status = self.store.run(d.clone())?;
        self.finish_rotate(c, &d, status)
    }

    /// Async [`TokenService::rotate`].
    pub async fn rotate_async(&self, refresh: &str) -> Result<TokenPair> {
        let (c, d) = self.prepare_rotate(refresh)?;
        let status = self.store.run_async(d.clone()).await?;
        self.finish_rotate(c, &d, status)
    }

    // ---- revoking ---------------------------------------------------------------

    fn prepare_revoke(
        &self,
        token: &str,
        caller: Option<&str>,
        admin: bool,
    ) -> Result<(Checked, RevokeJti)> {
        // An expired token may still be presented for revocation (a no-op).
        let c = self.check(token, None, false)?;
        if !admin {
            match caller {
                Some(who) if constant_time_eq(who.as_bytes(), c.subject.as_bytes()) => {}
                Some(_) => {
                    return Err(err!(
                        PermissionDenied,
                        "a token can only be revoked by its own subject or by an admin"
                    ))
                }
                None => {
                    return Err(err!(
                        PermissionDenied,
                        "say who revokes the token (its subject), or that the caller is an admin"
                    ))
                }
            }
        }
        let family = match (c.kind, &c.family) {
            (TokenKind::Refresh, Some(f)) => Some(self.family_key(&c.subject, f)),
            _ => None,
        };
        let d = RevokeJti {
            jti: self.jti_key(&c.subject, &c.jti),
            family,
            expires_at: micros(c.exp),
        };
        Ok((c, d))
    }

    fn revoked_event(&self, subject: &str, scope: &'static str) {
        self.cache.clear();
        self.listeners.emit(&Event::TokenRevoked {
            subject: subject.to_owned(),
            scope,
        });
    }

    /// Revokes one token (access or refresh; a refresh token's family goes with
    /// it) until its `exp`. `caller` is the subject asking; unless `admin`, it
    /// must be the token's own subject (`PERMISSION_DENIED` otherwise).
    pub fn revoke(&self, token: &str, caller: Option<&str>, admin: bool) -> Result<()> {
        let (c, d) = self.prepare_revoke(token, caller, admin)?;
        self.store.run(d)?;
        self.revoked_event(
            &c.subject,
            if c.kind == TokenKind::Refresh {
                "family"
            } else {
                "token"
            },
        );
        Ok(())
    }

    /// Async [`TokenService::revoke`].
    pub async fn revoke_async(&self, token: &str, caller: Option<&str>, admin: bool) -> Result<()> {
        let (c, d) = self.prepare_revoke(token, caller, admin)?;
        self.store.run_async(d).await?;
        self.revoked_event(
            &c.subject,
            if c.kind == TokenKind::Refresh {
                "family"
            } else {
                "token"
            },
        );
        Ok(())
    }

    fn prepare_revoke_all(&self, subject: &str) -> Result<RevokeSubject> {
        check_id("subject", subject, 1024)?;
        let lifetime = self
            .options
            .max_token_lifetime
            .unwrap_or(self.options.refresh_lifetime)
            .max(self.options.refresh_lifetime);
        Ok(RevokeSubject {
            mark: self.mark_key(subject),
            lifetime: micros(lifetime as i64 + 1),
        })
    }

    /// Revokes everything `subject` holds (logout everywhere, password change):
    /// every token issued before now is refused from now on.
    pub fn revoke_all(&self, subject: &str) -> Result<()> {
        let d = self.prepare_revoke_all(subject)?;
        self.store.run(d)?;
        self.revoked_event(subject, "subject");
        Ok(())
    }

    /// Async [`TokenService::revoke_all`].
    pub async fn revoke_all_async(&self, subject: &str) -> Result<()> {
        let d = self.prepare_revoke_all(subject)?;
        self.store.run_async(d).await?;
        self.revoked_event(subject, "subject");
        Ok(())
    }

    /// Revokes one family of `subject` by id (an administrator's action, or a
    /// "log out this device" list). Returns whether the family existed.
    pub fn revoke_family(&self, subject: &str, family: &str) -> Result<bool> {
        check_id("subject", subject, 1024)?;
        check_id("family id", family, MAX_ID_LEN)?;
        let existed = self.store.run(RevokeFamily {
            family: self.family_key(subject, family),
        })?;
        self.revoked_event(subject, "family");
        Ok(existed)
    }

    /// Async [`TokenService::revoke_family`].
    pub async fn revoke_family_async(&self, subject: &str, family: &str) -> Result<bool> {
        check_id("subject", subject, 1024)?;
        check_id("family id", family, MAX_ID_LEN)?;
        let existed = self
            .store
            .run_async(RevokeFamily {
                family: self.family_key(subject, family),
            })
            .await?;
        self.revoked_event(subject, "family");
        Ok(existed)
    }
}

fn revoked(r: Revocation) -> Error {
    match r {
        Revocation::Jti => err!(TokenRevoked, "the token was revoked"),
        Revocation::Family => err!(TokenRevoked, "the token's family was revoked"),
        Revocation::Subject => err!(
            TokenRevoked,
            "every token of this subject issued before a revocation was revoked"
        ),
        Revocation::Valid => err!(Internal, "not a revocation"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The subject's text: a string, or an integer written in decimal (simplejwt's
/// `user_id` is often a number).
fn subject_text(v: Option<&Json>) -> Result<String> {
    let s = match v {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) if n.is_integer() => n.raw().to_owned(),
        _ => {
            return Err(err!(
                InvalidSubject,
                "the subject claim must be a string or an integer"
            ))
        }
    };
    check_id("subject", &s, 1024)
        .map_err(|e| Error::new(ErrorKind::InvalidSubject, e.message()))?;
    Ok(s)
}

fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    if id.is_empty() || id.len() > max {
        return Err(err!(
            InvalidArgument,
            "the {what} must be 1 to {max} bytes long"
        ));
    }
    if id.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(err!(
            InvalidArgument,
            "the {what} must not contain control characters"
        ));
    }
    Ok(())
}

// ---- the decisions ---------------------------------------------------------------

fn memory_family(created: i64, jti: &str, expires_at: i64) -> Value {
    let mut v = Value::Fields(Vec::with_capacity(6));
    v.set_field("cur", jti);
    v.set_field("prev", "");
    v.set_field("prev_at", "0");
    v.set_field("created", created.to_string());
    v.set_field("exp", expires_at.to_string());
    v.set_field("revoked", "0");
    v
}

struct IssueFamily {
    key: String,
    family: String,
    jti: String,
    expires_at: i64,
}

impl Decision for IssueFamily {
    type Output = i64;
    fn script(&self) -> &'static Script {
        &FAMILY_ISSUE
    }
    fn keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.jti.clone().into_bytes(),
            self.expires_at.to_string().into_bytes(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<i64> {
        reply.int()
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<i64> {
        let now = txn.now();
        txn.put(
            &self.key,
            memory_family(now, &self.jti, self.expires_at),
            self.expires_at,
        )?;
        Ok(now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    Rotated,
    Unknown,
    Revoked(Revocation),
    Reused,
    Grace,
}

#[derive(Clone)]
struct RotateFamily {
    family: String,
    mark: String,
    presented_key: String,
    presented: String,
    new_jti: String,
    expires_at: i64,
    grace: i64,
}

impl Decision for RotateFamily {
    type Output = Rotation;
    fn script(&self) -> &'static Script {
        &FAMILY_ROTATE
    }
    fn keys(&self) -> Vec<String> {
        vec![
            self.family.clone(),
            self.mark.clone(),
            self.presented_key.clone(),
        ]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.presented.clone().into_bytes(),
            self.new_jti.clone().into_bytes(),
            self.expires_at.to_string().into_bytes(),
            self.grace.to_string().into_bytes(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Rotation> {
        let items = reply.array()?;
        let status = items.first().map(Reply::int).transpose()?.unwrap_or(-1);
        Ok(match status {
            0 => Rotation::Rotated,
            1 => Rotation::Unknown,
            2 => Rotation::Revoked(Revocation::Family),
            3 => Rotation::Revoked(Revocation::Subject),
            4 => Rotation::Revoked(Revocation::Jti),
            5 => Rotation::Reused,
            6 => Rotation::Grace,
            other => return Err(err!(Internal, "family_rotate returned status {other}")),
        })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Rotation> {
        let now = txn.now();
        if txn.get(&self.presented_key).is_some() {
            return Ok(Rotation::Revoked(Revocation::Jti));
        }
        let mark = match txn.get(&self.mark) {
            Some(Value::Int(m)) => *m,
            _ => -1,
        };
        let Some(f) = txn.get(&self.family).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let created = f.field_int("created").unwrap_or(0);
        let exp = f.field_int("exp").unwrap_or(0);
        if exp <= now {
            return Ok(Rotation::Unknown);
        }
        if f.field("revoked") == Some(b"1") {
            return Ok(Rotation::Revoked(Revocation::Family));
        }
        if created < mark {
            return Ok(Rotation::Revoked(Revocation::Subject));
        }
        if f.field("cur") == Some(self.presented.as_bytes()) {
            let exp = self.expires_at.max(exp);
            let mut f = f;
            f.set_field("cur", self.new_jti.as_str());
            f.set_field("prev", self.presented.as_str());
            f.set_field("prev_at", now.to_string());
            f.set_field("exp", exp.to_string());
            txn.put(&self.family, f, exp)?;
            return Ok(Rotation::Rotated);
        }
        let prev_at = f.field_int("prev_at").unwrap_or(0);
        if self.grace > 0
            && f.field("prev") == Some(self.presented.as_bytes())
            && now - prev_at < self.grace
        {
            return Ok(Rotation::Grace);
        }
        if let Some(v) = txn.get_mut(&self.family) {
            v.set_field("revoked", "1");
        }
        Ok(Rotation::Reused)
    }
}

/// "Not revoked" answers this process may reuse for a short while (bounded:
/// cleared whole when full, and on every revocation made here).
#[derive(Default)]
struct RevocationCache {
    entries: parking_lot::Mutex<std::collections::HashMap<String, i64>>,
}

const REVOCATION_CACHE_MAX: usize = 10_000;

impl RevocationCache {
    fn fresh(&self, key: &str, now: i64) -> bool {
        self.entries
            .lock()
            .get(key)
            .is_some_and(|until| *until > now)
    }

    fn insert(&self, key: &str, until: i64) {
        let mut e = self.entries.lock();
        if e.len() >= REVOCATION_CACHE_MAX {
            e.clear();
        }
        e.insert(key.to_owned(), until);
    }

    fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[derive(Clone)]
struct CheckRevocation {
    jti: String,
    mark: String,
    family: Option<String>,
    issued_at: i64,
}

impl Decision for CheckRevocation {
    type Output = Revocation;
    fn script(&self) -> &'static Script {
        &REVOCATION_CHECK
    }
    fn keys(&self) -> Vec<String> {
        let mut k = vec![self.jti.clone(), self.mark.clone()];
        k.extend(self.family.clone());
        k
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![self.issued_at.to_string().into_bytes()]
    }
    fn parse(&self, reply: Reply) -> Result<Revocation> {
        revocation_status(reply.int()?)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Revocation> {
        if txn.get(&self.jti).is_some() {
            return Ok(Revocation::Jti);
        }
        let mut issued = self.issued_at;
        if let Some(fk) = &self.family {
            if let Some(f) = txn.get(fk) {
                if f.field("revoked") == Some(b"1") {
                    return Ok(Revocation::Family);
                }
                if let Some(c) = f.field_int("created") {
                    issued = c;
                }
            }
        }
        match txn.get(&self.mark) {
            Some(Value::Int(m)) if issued < *m => Ok(Revocation::Subject),
            _ => Ok(Revocation::Valid),
        }
    }
}

fn revocation_status(code: i64) -> Result<Revocation> {
    Ok(match code {
        0 => Revocation::Valid,
        1 => Revocation::Jti,
        2 => Revocation::Family,
        3 => Revocation::Subject,
        other => return Err(err!(Internal, "revocation_check returned {other}")),
    })
}

struct RevokeJti {
    jti: String,
    family: Option<String>,
    expires_at: i64,
}

impl Decision for RevokeJti {
    type Output = bool;
    fn script(&self) -> &'static Script {
        &REVOKE_JTI
    }
    fn keys(&self) -> Vec<String> {
        let mut k = vec![self.jti.clone()];
        k.extend(self.family.clone());
        k
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![self.expires_at.to_string().into_bytes()]
    }
    fn parse(&self, reply: Reply) -> Result<bool> {
        Ok(reply.int()? == 1)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
        if let Some(fk) = &self.family {
            if let Some(f) = txn.get_mut(fk) {
                f.set_field("revoked", "1");
            }
        }
        if self.expires_at <= txn.now() {
            return Ok(false);
        }
        txn.put(&self.jti, Value::Int(1), self.expires_at)?;
        Ok(true)
    }
}

struct RevokeSubject {
    mark: String,
    lifetime: i64,
}

impl Decision for RevokeSubject {
    type Output = i64;
    fn script(&self) -> &'static Script {
        &REVOKE_SUBJECT
    }
    fn keys(&self) -> Vec<String> {
        vec![self.mark.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![self.lifetime.to_string().into_bytes()]
    }
    fn parse(&self, reply: Reply) -> Result<i64> {
        reply.int()
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<i64> {
        let now = txn.now();
        let mark = match txn.get(&self.mark) {
            Some(Value::Int(m)) => now.max(*m),
            _ => now,
        };
        txn.put(&self.mark, Value::Int(mark), now + self.lifetime)?;
        Ok(mark)
    }
}

struct RevokeFamily {
    family: String,
}

impl Decision for RevokeFamily {
    type Output = bool;
    fn script(&self) -> &'static Script {
        &REVOKE_FAMILY
    }
    fn keys(&self) -> Vec<String> {
        vec![self.family.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<bool> {
        Ok(reply.int()? == 1)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<bool> {
        match txn.get_mut(&self.family) {
            Some(f) => {
                f.set_field("revoked", "1");
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
