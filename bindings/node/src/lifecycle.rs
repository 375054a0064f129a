//! `NativeTokenService` (core `token::lifecycle`): access/refresh pairs,
//! rotation with reuse detection, revocation. Claims cross the boundary as
//! JSON text; `lib/lifecycle.js` wraps this class as `TokenService` with
//! objects in and out.

use std::sync::Arc;

use bastion_core::store::OutagePolicy;
use bastion_core::token::json as core_json;
use bastion_core::token::{
    Algorithm, LifecycleOptions, TokenKind, TokenPair as CorePair, TokenService as CoreService,
};
use napi::bindgen_prelude::{ClassInstance, PromiseRaw, Unknown, ValueType};
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, invalid_argument, options_arg, promise, subject_arg, Result};
use crate::events;
use crate::store::{clock_arg, Store};
use crate::token::Key;

/// An access token and a refresh token issued together.
#[napi(object)]
pub struct TokenPair {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
    /// The access token's `exp` (seconds since the epoch).
    pub access_expires_at: i64,
    /// The refresh token's `exp` (seconds since the epoch).
    pub refresh_expires_at: i64,
    /// The family id shared by every pair rotated from the first.
    pub family: String,
    /// The subject.
    pub subject: String,
}

impl From<CorePair> for TokenPair {
    fn from(p: CorePair) -> Self {
        Self {
            access: p.access,
            refresh: p.refresh,
            access_expires_at: p.access_expires_at,
            refresh_expires_at: p.refresh_expires_at,
            family: p.family,
            subject: p.subject,
        }
    }
}

/// Options of a token service (lifetimes in seconds).
#[napi(object, object_to_js = false)]
pub struct TokenServiceOptions {
    /// The signing algorithm (default `"HS256"`).
    pub algorithm: Option<String>,
    /// Access-token lifetime in seconds (default 1800).
    pub access_lifetime: Option<u32>,
    /// Refresh-token lifetime in seconds (default 604800).
    pub refresh_lifetime: Option<u32>,
    /// `iss` written into tokens and required when verifying.
    pub issuer: Option<String>,
    /// `aud` written into tokens and required when verifying.
    pub audience: Option<String>,
    /// Seconds of clock skew tolerated when verifying.
    pub leeway: Option<f64>,
    /// Seconds during which the refresh token just rotated may be presented
    /// again without counting as reuse (default 0: off).
    pub rotation_grace: Option<f64>,
    /// The claim holding the subject (default `"sub"`).
    pub subject_claim: Option<String>,
    /// The claim holding the token type (default `"token_type"`).
    pub type_claim: Option<String>,
    /// The claim holding the family id (default `"fam"`).
    pub family_claim: Option<String>,
    /// `"fail_closed"` (default) or `"fail_open"`: what `verify` does when the
    /// store cannot answer.
    pub revocation_policy: Option<String>,
    /// How long a "revoke everything" mark is kept, in seconds (default: the
    /// refresh lifetime).
    pub max_token_lifetime: Option<u32>,
    /// Seconds during which this process may reuse a "not revoked" answer
    /// (default 0: off, at most 60); another process's revocation is seen
    /// here up to that much later.
    pub revocation_cache_ttl: Option<f64>,
}

fn kind_arg(kind: Option<String>) -> bastion_core::Result<TokenKind> {
    match kind.as_deref() {
        None | Some("access") => Ok(TokenKind::Access),
        Some("refresh") => Ok(TokenKind::Refresh),
        Some(_) => Err(invalid_argument("kind must be \"access\" or \"refresh\"")),
    }
}

/// The native token service; use `TokenService` from the package, which
/// wraps it with objects in and out.
#[napi]
pub struct NativeTokenService {
    inner: Arc<CoreService>,
}

#[napi]
impl NativeTokenService {
    #[napi(
        constructor,
        ts_args_type = "key: Key, store?: Store | null, options?: TokenServiceOptions | null, clock?: ManualClock | null, onEvent?: ((event: Record<string, string>) => void) | null"
    )]
    pub fn new(
        env: &Env,
        key: Unknown,
        store: Unknown,
        options: Unknown,
        clock: Unknown,
        on_event: Unknown,
    ) -> Result<Self> {
        errors::guard(|| {
            let key: ClassInstance<Key> = arg(key, "key", "a Key")?;
            let store = match store.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => Default::default(),
                _ => {
                    let s: ClassInstance<Store> = arg(store, "store", "a Store")?;
                    s.inner.clone()
                }
            };
            let o: Option<TokenServiceOptions> =
                options_arg(options, "options", "an options object")?;
            let clock = clock_arg(clock)?;
            let alg_name = o
                .as_ref()
                .and_then(|o| o.algorithm.clone())
                .unwrap_or_else(|| "HS256".into());
            let mut lo = LifecycleOptions::new(Algorithm::parse(&alg_name)?);
            if let Some(o) = o {
                if let Some(v) = o.access_lifetime {
                    lo.access_lifetime = u64::from(v);
                }
                if let Some(v) = o.refresh_lifetime {
                    lo.refresh_lifetime = u64::from(v);
                }
                lo.issuer = o.issuer;
                lo.audience = o.audience;
                lo.leeway = o.leeway.unwrap_or(0.0);
                lo.rotation_grace = o.rotation_grace.unwrap_or(0.0);
                if let Some(v) = o.subject_claim {
                    lo.subject_claim = v;
                }
                if let Some(v) = o.type_claim {
                    lo.type_claim = v;
                }
                if let Some(v) = o.family_claim {
                    lo.family_claim = v;
                }
                if let Some(p) = o.revocation_policy {
                    lo.revocation_policy = OutagePolicy::parse(&p)?;
                }
                lo.max_token_lifetime = o.max_token_lifetime.map(u64::from);
                lo.revocation_cache_ttl = o.revocation_cache_ttl.unwrap_or(0.0);
            }
            if let Some(c) = clock {
                lo.clock = c;
            }
            let svc = CoreService::new(store, (*key.inner).clone(), lo)?;
            events::attach(svc.listeners(), on_event)?;
            Ok(Self {
                inner: Arc::new(svc),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Issues a new pair for `subject` with extra claims (JSON text of an object).
    #[napi(ts_args_type = "subject: string | number, claimsJson?: string | null")]
    pub fn issue_pair<'env>(
        &self,
        env: &'env Env,
        subject: Unknown,
        claims_json: Unknown,
    ) -> Result<PromiseRaw<'env, TokenPair>> {
        let prepared = errors::guard(|| {
            let subject = subject_arg(subject, "subject")?;
            let text: Option<String> = arg(claims_json, "claims", "JSON text")?;
            let claims = match text {
                None => core_json::Object::new(),
                Some(t) => core_json::parse_object(t.as_bytes())
                    .map_err(|e| invalid_argument(format!("claims: {e}")))?,
            };
            Ok((subject, claims))
        });
        let (subject, claims) = prepared.map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.issue_pair_async(&subject, &claims).await },
            |_, p| Ok(TokenPair::from(p)),
        )
    }

    /// Rotates a refresh token into a new pair of the same family.
    #[napi(ts_args_type = "refresh: string")]
    pub fn rotate<'env>(
        &self,
        env: &'env Env,
        refresh: Unknown,
    ) -> Result<PromiseRaw<'env, TokenPair>> {
        let token: String = errors::guard(|| arg(refresh, "refresh", "a string"))
            .map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.rotate_async(&token).await },
            |_, p| Ok(TokenPair::from(p)),
        )
    }

    /// Verifies a token of `kind` and checks it is not revoked; resolves to its
    /// claims as JSON text.
    #[napi(ts_args_type = "token: string, kind?: 'access' | 'refresh' | null")]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        token: Unknown,
        kind: Unknown,
    ) -> Result<PromiseRaw<'env, String>> {
        let (token, kind) = errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            let kind: Option<String> = arg(kind, "kind", "\"access\" or \"refresh\"")?;
            Ok((token, kind_arg(kind)?))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.verify_kind_async(&token, kind).await },
            |_, claims| {
                let mut out = String::with_capacity(256);
                core_json::write_object(&claims, &mut out);
                Ok(out)
            },
        )
    }

    /// Revokes one token; `by` is the subject asking (must own it unless `admin`).
    #[napi(ts_args_type = "token: string, by?: string | number | null, admin?: boolean | null")]
    pub fn revoke<'env>(
        &self,
        env: &'env Env,
        token: Unknown,
        by: Unknown,
        admin: Unknown,
    ) -> Result<PromiseRaw<'env, ()>> {
        let (token, by, admin) = errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            let by = match by.get_type().map_err(errors::from_napi)? {
                ValueType::Undefined | ValueType::Null => None,
                _ => Some(subject_arg(by, "by")?),
            };
            let admin: Option<bool> = arg(admin, "admin", "a boolean")?;
            Ok((token, by, admin.unwrap_or(false)))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.revoke_async(&token, by.as_deref(), admin).await },
            |_, ()| Ok(()),
        )
    }

    /// Revokes everything `subject` holds.
    #[napi(ts_args_type = "subject: string | number")]
    pub fn revoke_all<'env>(
        &self,
        env: &'env Env,
        subject: Unknown,
    ) -> Result<PromiseRaw<'env, ()>> {
        let subject =
            errors::guard(|| subject_arg(subject, "subject")).map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.revoke_all_async(&subject).await },
            |_, ()| Ok(()),
        )
    }

    /// Revokes one family of `subject`; resolves to whether it existed.
    #[napi(ts_args_type = "subject: string | number, family: string")]
    pub fn revoke_family<'env>(
        &self,
        env: &'env Env,
        subject: Unknown,
        family: Unknown,
    ) -> Result<PromiseRaw<'env, bool>> {
        let (subject, family) = errors::guard(|| {
            Ok((
                subject_arg(subject, "subject")?,
                arg::<String>(family, "family", "a string")?,
            ))
        })
        .map_err(|e| errors::to_js(env, e))?;
        let svc = Arc::clone(&self.inner);
        promise(
            env,
            async move { svc.revoke_family_async(&subject, &family).await },
            |_, existed| Ok(existed),
        )
    }
}
