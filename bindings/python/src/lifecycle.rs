//! `TokenService` and `TokenPair`: access/refresh pairs, rotation with reuse
//! detection, revocation (core: `bastion_core::token::lifecycle`).

use crate::aio;
use crate::clock::{self, ManualClock};
use crate::errors::InvalidArgumentError as PyValueError;
use crate::errors::{self, IntoPyResult};
use crate::json::{self, DumpOptions};
use crate::store::{blocking, Store};
use crate::token::Key;
use bastion_core::store::OutagePolicy;
use bastion_core::token::json::{self as core_json, Object};
use bastion_core::token::{
    Algorithm, LifecycleOptions, TokenKind, TokenPair as CorePair, TokenService as CoreService,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::sync::Arc;

/// An access token and a refresh token issued together. ``repr`` never shows
/// the tokens.
#[pyclass(frozen, module = "bastion._native", get_all)]
pub struct TokenPair {
    /// The access token.
    access: String,
    /// The refresh token.
    refresh: String,
    /// The access token's ``exp`` (seconds since the epoch).
    access_expires_at: i64,
    /// The refresh token's ``exp`` (seconds since the epoch).
    refresh_expires_at: i64,
    /// The family id shared by every pair rotated from the first.
    family: String,
    /// The subject.
    subject: String,
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

#[pymethods]
impl TokenPair {
    fn __repr__(&self) -> String {
        format!(
            "TokenPair(subject={:?}, family={:?}, access_expires_at={}, refresh_expires_at={})",
            self.subject, self.family, self.access_expires_at, self.refresh_expires_at
        )
    }
}

/// Issues, rotates, verifies and revokes tokens, keeping their state in a
/// :class:`Store`.
///
/// - :meth:`issue_pair` signs an access token (``access_lifetime``, default
///   30 minutes) and a refresh token (``refresh_lifetime``, default 7 days)
///   with a random ``jti`` each, and starts a token family.
/// - :meth:`rotate` turns a refresh token into a new pair, atomically: of many
///   concurrent rotations of one refresh token exactly one wins. Presenting an
///   already-rotated refresh token revokes its whole family and raises
///   :class:`~bastion.exceptions.TokenReusedError` (and calls ``on_event``);
///   within ``rotation_grace`` seconds the immediate predecessor raises
///   :class:`~bastion.exceptions.TokenAlreadyRotatedError` instead.
/// - :meth:`verify` checks signature, claims, type and revocation in one call.
/// - :meth:`revoke` (one token; a refresh token takes its family along),
///   :meth:`revoke_all` (everything a subject holds: logout everywhere,
///   password change), :meth:`revoke_family`.
///
/// Methods that may touch Redis have ``a``-prefixed awaitable twins; the sync
/// ones release the GIL while waiting. When the store cannot answer,
/// :meth:`verify` follows ``revocation_policy`` (``"fail_closed"``, the
/// default, raises ``StoreUnavailableError``; ``"fail_open"`` accepts).
/// ``revocation_cache_ttl`` (seconds, default 0 = off, at most 60) lets this
/// process reuse a "not revoked" answer for that long: a revocation made by
/// another process is then seen here up to that much later.
/// ``on_event`` receives a dict per security event (``event``, ``category``
/// and its fields; never a token).
#[pyclass(frozen, module = "bastion._native")]
pub struct TokenService {
    inner: Arc<CoreService>,
}

fn subject_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    json::subject_text(obj, "subject")
}

fn token_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(json::py_str(s)?.to_owned()),
        Err(_) => match obj.extract::<Vec<u8>>() {
            Ok(b) => String::from_utf8(b).map_err(|_| {
                errors::to_py(bastion_core::Error::new(
                    bastion_core::ErrorKind::MalformedToken,
                    "the token is not valid UTF-8",
                ))
            }),
            Err(_) => Err(errors::type_error("token", "str or bytes", obj)),
        },
    }
}

fn claims_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Object> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Object::new());
    };
    if !json::is_mapping(obj)? {
        return Err(errors::type_error("claims", "a mapping", obj));
    }
    let text = json::dumps(obj, DumpOptions { time_claims: false })?;
    core_json::parse_object(text.as_bytes())
        .map_err(|e| PyValueError::new_err(format!("claims: {e}")))
}

impl TokenService {
    /// Whether signing a pair takes milliseconds (RSA), so the GIL is
    /// released even on the memory store.
    fn signs_slowly(&self) -> bool {
        matches!(
            self.inner.options().algorithm.family(),
            bastion_core::token::Family::Rsa
        )
    }
}

#[pymethods]
impl TokenService {
    #[new]
    #[pyo3(signature = (key, *, store = None, algorithm = "HS256", access_lifetime = 1800, refresh_lifetime = 604800, issuer = None, audience = None, leeway = 0.0, rotation_grace = 0.0, subject_claim = "sub", type_claim = "token_type", family_claim = "fam", revocation_policy = "fail_closed", max_token_lifetime = None, verify_keys = None, revocation_cache_ttl = 0.0, clock = None, on_event = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: &Bound<'_, Key>,
        store: Option<&Bound<'_, Store>>,
        algorithm: &str,
        access_lifetime: u64,
        refresh_lifetime: u64,
        issuer: Option<String>,
        audience: Option<String>,
        leeway: f64,
        rotation_grace: f64,
        subject_claim: &str,
        type_claim: &str,
        family_claim: &str,
        revocation_policy: &str,
        max_token_lifetime: Option<u64>,
        verify_keys: Option<Vec<Bound<'_, Key>>>,
        revocation_cache_ttl: f64,
        clock: Option<&Bound<'_, ManualClock>>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let alg = Algorithm::from_name(algorithm).ok_or_else(|| {
            errors::to_py(bastion_core::Error::new(
                bastion_core::ErrorKind::InvalidAlgorithm,
                format!("unsupported algorithm {algorithm:?}"),
            ))
        })?;
        let mut o = LifecycleOptions::new(alg);
        o.access_lifetime = access_lifetime;
        o.refresh_lifetime = refresh_lifetime;
        o.issuer = issuer;
        o.audience = audience;
        o.leeway = leeway;
        o.rotation_grace = rotation_grace;
        o.subject_claim = subject_claim.to_owned();
        o.type_claim = type_claim.to_owned();
        o.family_claim = family_claim.to_owned();
        o.revocation_policy = OutagePolicy::parse(revocation_policy).py_err()?;
        o.max_token_lifetime = max_token_lifetime;
        o.verify_keys = verify_keys
            .unwrap_or_default()
            .iter()
            .map(|k| (*k.get().inner).clone())
            .collect();
        o.revocation_cache_ttl = revocation_cache_ttl;
        o.clock = clock::resolve(clock);
        let store = store.map_or_else(Default::default, |s| s.get().inner.clone());
        let svc = CoreService::new(store, (*key.get().inner).clone(), o).py_err()?;
        crate::events::attach(svc.listeners(), on_event);
        Ok(Self {
            inner: Arc::new(svc),
        })
    }

    /// Issues a new pair for ``subject`` (``str`` or ``int``) with extra
    /// ``claims`` (roles, username...; the service's own claims are refused),
    /// starting a new family.
    #[pyo3(signature = (subject, claims = None))]
    fn issue_pair(
        &self,
        py: Python<'_>,
        subject: &Bound<'_, PyAny>,
        claims: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TokenPair> {
        let (subject, claims) = (subject_arg(subject)?, claims_arg(claims)?);
        let svc = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), self.signs_slowly(), move || {
            svc.issue_pair(&subject, &claims)
        })
        .map(TokenPair::from)
        .py_err()
    }

    /// Awaitable :meth:`issue_pair`.
    #[pyo3(signature = (subject, claims = None))]
    fn aissue_pair<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'_, PyAny>,
        claims: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (subject, claims) = (subject_arg(subject)?, claims_arg(claims)?);
        let svc = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            svc.issue_pair_async(&subject, &claims)
                .await
                .map(TokenPair::from)
        })
    }

    /// Rotates a refresh token into a new pair of the same family.
    fn rotate(&self, py: Python<'_>, refresh: &Bound<'_, PyAny>) -> PyResult<TokenPair> {
        let token = token_arg(refresh)?;
        let svc = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), self.signs_slowly(), move || {
            svc.rotate(&token)
        })
        .map(TokenPair::from)
        .py_err()
    }

    /// Awaitable :meth:`rotate`.
    fn arotate<'py>(
        &self,
        py: Python<'py>,
        refresh: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let token = token_arg(refresh)?;
        let svc = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            svc.rotate_async(&token).await.map(TokenPair::from)
        })
    }

    /// Verifies a token of ``kind`` (``"access"`` or ``"refresh"``) and checks
    /// it is not revoked, in one call. Returns its claims.
    #[pyo3(signature = (token, kind = "access"))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'_, PyAny>,
        kind: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (token, kind) = (token_arg(token)?, kind_arg(kind)?);
        let svc = Arc::clone(&self.inner);
        let claims = blocking(py, self.inner.store(), false, move || {
            svc.verify_kind(&token, kind)
        })
        .py_err()?;
        json::object_to_py(py, &claims)
    }

    /// Awaitable :meth:`verify`.
    #[pyo3(signature = (token, kind = "access"))]
    fn averify<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'_, PyAny>,
        kind: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (token, kind) = (token_arg(token)?, kind_arg(kind)?);
        let svc = Arc::clone(&self.inner);
        aio::into_awaitable_with(
            py,
            async move { svc.verify_kind_async(&token, kind).await },
            |py, claims| json::object_to_py(py, &claims).map(Bound::into_any),
        )
    }

    /// Revokes one token until its ``exp`` (a refresh token takes its family
    /// along). ``by`` is the subject asking: unless ``admin``, it must be the
    /// token's own subject, else :class:`~bastion.exceptions.PermissionDeniedError`.
    #[pyo3(signature = (token, *, by = None, admin = false))]
    fn revoke(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        by: Option<&Bound<'_, PyAny>>,
        admin: bool,
    ) -> PyResult<()> {
        let token = token_arg(token)?;
        let by = by.filter(|b| !b.is_none()).map(subject_arg).transpose()?;
        let svc = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || {
            svc.revoke(&token, by.as_deref(), admin)
        })
        .py_err()
    }

    /// Awaitable :meth:`revoke`.
    #[pyo3(signature = (token, *, by = None, admin = false))]
    fn arevoke<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'_, PyAny>,
        by: Option<&Bound<'_, PyAny>>,
        admin: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let token = token_arg(token)?;
        let by = by.filter(|b| !b.is_none()).map(subject_arg).transpose()?;
        let svc = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            svc.revoke_async(&token, by.as_deref(), admin).await
        })
    }

    /// Revokes everything ``subject`` holds: every token issued before now is
    /// refused from now on (logout everywhere, password change).
    fn revoke_all(&self, py: Python<'_>, subject: &Bound<'_, PyAny>) -> PyResult<()> {
        let subject = subject_arg(subject)?;
        let svc = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || {
            svc.revoke_all(&subject)
        })
        .py_err()
    }

    /// Awaitable :meth:`revoke_all`.
    fn arevoke_all<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = subject_arg(subject)?;
        let svc = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move { svc.revoke_all_async(&subject).await })
    }

    /// Revokes one family of ``subject`` by id; returns whether it existed.
    fn revoke_family(
        &self,
        py: Python<'_>,
        subject: &Bound<'_, PyAny>,
        family: &str,
    ) -> PyResult<bool> {
        let subject = subject_arg(subject)?;
        let (svc, family) = (Arc::clone(&self.inner), family.to_owned());
        blocking(py, self.inner.store(), false, move || {
            svc.revoke_family(&subject, &family)
        })
        .py_err()
    }

    /// Awaitable :meth:`revoke_family`.
    fn arevoke_family<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'_, PyAny>,
        family: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = subject_arg(subject)?;
        let (svc, family) = (Arc::clone(&self.inner), family.to_owned());
        aio::into_awaitable(py, async move {
            svc.revoke_family_async(&subject, &family).await
        })
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        format!(
            "TokenService(algorithm={:?}, store={:?}, access_lifetime={}, refresh_lifetime={})",
            o.algorithm.name(),
            self.inner.store().kind(),
            o.access_lifetime,
            o.refresh_lifetime
        )
    }
}

fn kind_arg(kind: &str) -> PyResult<TokenKind> {
    match kind {
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        _ => Err(PyValueError::new_err(
            "kind must be \"access\" or \"refresh\"",
        )),
    }
}
