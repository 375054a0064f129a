//! JWK Sets (mirrors `bastion_core::token::jwks`): the static `KeySet` and
//! the fetching, caching `JwksClient` with sync methods (GIL released while a
//! fetch may run) and `a`-prefixed asyncio twins. Every rule is the core's.

use crate::aio;
use crate::clock::{self, ManualClock};
use crate::errors::{self, IntoPyResult};
use crate::json::{self, DumpOptions};
use crate::token::{self, Key};
use bastion_core::token::jwks::{
    JwksClient as CoreClient, JwksOptions, KeySet as CoreKeySet, KeySetLimits,
};
use bastion_core::token::{Algorithm, Validation};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

// The Python signatures spell the core's defaults out (for introspection).
const _: () = assert!(CoreKeySet::MAX_SIZE == 262_144 && CoreKeySet::MAX_KEYS == 100);

fn algorithm_arg(algorithm: Option<&str>) -> PyResult<Option<Algorithm>> {
    algorithm.map(Algorithm::parse).transpose().py_err()
}

/// JWKS text from `str`, `bytes` or a mapping (serialised as JSON).
fn jwks_text(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Ok(token::material(obj, "jwks")?.to_vec());
    }
    if json::is_mapping(obj)? {
        return Ok(json::dumps(obj, DumpOptions { time_claims: false })?.into_bytes());
    }
    Err(errors::type_error("jwks", "str, bytes or a mapping", obj))
}

fn skipped_list<'py>(py: Python<'py>, set: &CoreKeySet) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for s in set.skipped() {
        let d = PyDict::new(py);
        d.set_item("index", s.index)?;
        d.set_item("kid", s.kid.as_deref())?;
        d.set_item("reason", &s.reason)?;
        out.append(d)?;
    }
    Ok(out)
}

fn keys_list(set: &CoreKeySet) -> Vec<Key> {
    set.keys().iter().cloned().map(Key::wrap).collect()
}

fn kids_repr(py: Python<'_>, set: &CoreKeySet) -> PyResult<String> {
    let mut kids = Vec::with_capacity(set.len());
    for k in set.keys() {
        kids.push(match k.kid() {
            Some(kid) => PyString::new(py, kid).repr()?.to_string(),
            None => "None".to_owned(),
        });
    }
    Ok(kids.join(", "))
}

// ---- KeySet ----------------------------------------------------------------------

/// A JWK Set (``{"keys": [...]}``) parsed once: the keys that can verify
/// signatures, in document order. Parsing is strict and bounded (``max_size``
/// bytes, ``max_keys`` keys); keys that cannot verify (``use`` other than
/// ``sig``, ``key_ops`` without ``verify``, unsupported types, invalid or weak
/// material, a later duplicate ``kid``) are skipped and listed in
/// ``skipped``; a set with no usable key raises ``PyJWKSetError``.
#[pyclass(frozen, module = "bastion._native", name = "KeySet")]
pub struct KeySet {
    inner: Arc<CoreKeySet>,
}

impl KeySet {
    fn wrap(inner: Arc<CoreKeySet>) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl KeySet {
    #[new]
    #[pyo3(signature = (jwks, *, max_size = 262_144, max_keys = 100))]
    fn new(jwks: &Bound<'_, PyAny>, max_size: usize, max_keys: usize) -> PyResult<Self> {
        let text = jwks_text(jwks)?;
        let limits = KeySetLimits {
            max_size,
            max_keys,
            allow_symmetric: true,
        };
        CoreKeySet::parse(&text, &limits)
            .py_err()
            .map(|s| Self::wrap(Arc::new(s)))
    }

    /// The key for ``kid`` that can verify ``algorithm`` (any algorithm when
    /// None): the first such key in document order. Without ``kid``, the one
    /// key that fits. ``KeyNotFoundError`` when there is none.
    #[pyo3(signature = (kid = None, algorithm = None))]
    fn get_signing_key(&self, kid: Option<&str>, algorithm: Option<&str>) -> PyResult<Key> {
        self.inner
            .get(kid, algorithm_arg(algorithm)?)
            .py_err()
            .map(Key::wrap)
    }

    /// Verifies ``token`` with the key its header names (``kid`` and ``alg``;
    /// never ``jwk``, ``jku``, ``x5u`` or ``x5c``) and returns its claims.
    /// The keyword arguments are ``Verifier``'s.
    #[pyo3(signature = (token, algorithms, *, audience = None, issuer = None, subject = None, leeway = 0.0, required = None, typ = None, max_age = None, clock = None, max_token_size = 8192, critical_extensions = None, nonce = None))]
    #[allow(clippy::too_many_arguments)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        algorithms: &Bound<'py, PyAny>,
        audience: Option<&Bound<'py, PyAny>>,
        issuer: Option<&Bound<'py, PyAny>>,
        subject: Option<String>,
        leeway: f64,
        required: Option<&Bound<'py, PyAny>>,
        typ: Option<String>,
        max_age: Option<f64>,
        clock: Option<&Bound<'py, ManualClock>>,
        #[pyo3(from_py_with = token::size_arg)] max_token_size: usize,
        critical_extensions: Option<&Bound<'py, PyAny>>,
        nonce: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let v = token::validation(
            token::algorithms(algorithms)?,
            audience,
            issuer,
            subject,
            leeway,
            required,
            typ,
            max_age,
            max_token_size,
            critical_extensions,
            nonce,
        )?;
        let t = self
            .inner
            .decode(token::token_bytes(token)?, &v, clock::borrow(clock))
            .py_err()?;
        json::object_to_py(py, &t.claims)
    }

    /// The usable keys, in document order.
    #[getter]
    fn keys(&self) -> Vec<Key> {
        keys_list(&self.inner)
    }

    /// The skipped keys: ``{"index": int, "kid": str | None, "reason": str}``.
    #[getter]
    fn skipped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        skipped_list(py, &self.inner)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("<KeySet kids=[{}]>", kids_repr(py, &self.inner)?))
    }
}

// ---- JwksClient ------------------------------------------------------------------

/// Fetches a JWK Set from an identity provider and keeps it cached.
///
/// - ``url`` is fixed: ``https`` only (plain ``http`` needs
///   ``allow_http=True``); certificates are always verified (the Mozilla
///   roots, plus ``ca_pem`` for tests and private CAs); redirects are never
///   followed.
/// - The set is fresh for ``lifespan`` seconds (300). A ``kid`` missing from
///   a fresh set refetches once, then not again for ``cooldown`` seconds (30),
///   so tokens with random ``kid`` values cannot flood the provider; a failed
///   fetch is retried at most once per cooldown too.
/// - Concurrent callers that miss wait for one fetch.
/// - A fetch is bounded by ``timeout`` seconds (5) and ``max_size`` bytes
///   (256 KiB); ``headers`` are sent with it.
/// - When a refresh fails, the last good set is served for up to
///   ``max_stale`` seconds (3600) past its lifespan; ``status()`` reports it.
///   With no usable set, ``PyJWKClientConnectionError``.
/// - ``clock`` (a :class:`ManualClock`) drives lifespan, cooldown and
///   staleness in tests.
///
/// Sync methods release the GIL while a fetch runs; ``a``-prefixed methods
/// are asyncio awaitables. Create one client per provider and reuse it.
#[pyclass(frozen, module = "bastion._native", name = "JwksClient")]
pub struct JwksClient {
    inner: CoreClient,
}

fn header_pairs(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if !json::is_mapping(obj)? {
        return Err(errors::type_error(
            "headers",
            "a mapping of str to str",
            obj,
        ));
    }
    let mut out = Vec::new();
    for item in obj.call_method0("items")?.try_iter()? {
        let (k, v): (String, String) = item?
            .extract()
            .map_err(|_| errors::type_error("headers", "a mapping of str to str", obj))?;
        out.push((k, v));
    }
    Ok(out)
}

#[pymethods]
impl JwksClient {
    #[new]
    #[pyo3(signature = (url, *, lifespan = 300.0, cooldown = 30.0, timeout = 5.0, max_size = 262_144, max_keys = 100, max_stale = 3600.0, allow_http = false, ca_pem = None, headers = None, clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: &str,
        lifespan: f64,
        cooldown: f64,
        timeout: f64,
        max_size: usize,
        max_keys: usize,
        max_stale: f64,
        allow_http: bool,
        ca_pem: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let options = JwksOptions {
            lifespan,
            cooldown,
            timeout,
            max_size,
            max_keys,
            max_stale,
            allow_http,
            ca_pem: ca_pem
                .map(|p| token::material(p, "ca_pem").map(<[u8]>::to_vec))
                .transpose()?,
            headers: header_pairs(headers)?,
        };
        CoreClient::new(url, options, clock::resolve(clock))
            .py_err()
            .map(|inner| Self { inner })
    }

    /// The URL, without its query.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    /// The key for ``kid`` that fits ``algorithm`` (any when None), from the
    /// cache or after a fetch. ``KeyNotFoundError``, or
    /// ``PyJWKClientConnectionError`` when no set can be had.
    #[pyo3(signature = (kid, algorithm = None))]
    fn get_signing_key(
        &self,
        py: Python<'_>,
        kid: Option<&str>,
        algorithm: Option<&str>,
    ) -> PyResult<Key> {
        let alg = algorithm_arg(algorithm)?;
        let client = &self.inner;
        py.detach(|| client.get_signing_key_blocking(kid, alg))
            .py_err()
            .map(Key::wrap)
    }

    /// ``get_signing_key`` as an asyncio awaitable.
    #[pyo3(signature = (kid, algorithm = None))]
    fn aget_signing_key<'py>(
        &self,
        py: Python<'py>,
        kid: Option<String>,
        algorithm: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.get_signing_key(kid, algorithm_arg(algorithm)?);
        aio::into_awaitable_with(py, fut, |py, key| Key::wrap(key).into_bound_py_any(py))
    }

    /// Verifies ``token`` with the key its header names (``kid`` and ``alg``;
    /// never ``jwk``, ``jku``, ``x5u`` or ``x5c``), fetching the set when
    /// needed, and returns its claims. The keyword arguments are
    /// ``Verifier``'s; ``algorithms`` is required.
    #[pyo3(signature = (token, algorithms, *, audience = None, issuer = None, subject = None, leeway = 0.0, required = None, typ = None, max_age = None, max_token_size = 8192, critical_extensions = None, nonce = None))]
    #[allow(clippy::too_many_arguments)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        algorithms: &Bound<'py, PyAny>,
        audience: Option<&Bound<'py, PyAny>>,
        issuer: Option<&Bound<'py, PyAny>>,
        subject: Option<String>,
        leeway: f64,
        required: Option<&Bound<'py, PyAny>>,
        typ: Option<String>,
        max_age: Option<f64>,
        #[pyo3(from_py_with = token::size_arg)] max_token_size: usize,
        critical_extensions: Option<&Bound<'py, PyAny>>,
        nonce: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let v = token::validation(
            token::algorithms(algorithms)?,
            audience,
            issuer,
            subject,
            leeway,
            required,
            typ,
            max_age,
            max_token_size,
            critical_extensions,
            nonce,
        )?;
        let raw = token::token_bytes(token)?;
        let client = &self.inner;
        let t = py.detach(|| client.decode_blocking(raw, &v)).py_err()?;
        json::object_to_py(py, &t.claims)
    }

    /// ``decode`` as an asyncio awaitable.
    #[pyo3(signature = (token, algorithms, *, audience = None, issuer = None, subject = None, leeway = 0.0, required = None, typ = None, max_age = None, max_token_size = 8192, critical_extensions = None, nonce = None))]
    #[allow(clippy::too_many_arguments)]
    fn adecode<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        algorithms: &Bound<'py, PyAny>,
        audience: Option<&Bound<'py, PyAny>>,
        issuer: Option<&Bound<'py, PyAny>>,
        subject: Option<String>,
        leeway: f64,
        required: Option<&Bound<'py, PyAny>>,
        typ: Option<String>,
        max_age: Option<f64>,
        #[pyo3(from_py_with = token::size_arg)] max_token_size: usize,
        critical_extensions: Option<&Bound<'py, PyAny>>,
        nonce: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v: Validation = token::validation(
            token::algorithms(algorithms)?,
            audience,
            issuer,
            subject,
            leeway,
            required,
            typ,
            max_age,
            max_token_size,
            critical_extensions,
            nonce,
        )?;
        let fut = self.inner.decode(token::token_bytes(token)?.to_vec(), v);
        aio::into_awaitable_with(py, fut, |py, t| {
            json::object_to_py(py, &t.claims).map(Bound::into_any)
        })
    }

    /// The current set (fetched when there is none or it expired).
    fn key_set(&self, py: Python<'_>) -> PyResult<KeySet> {
        let client = &self.inner;
        py.detach(|| client.key_set_blocking())
            .py_err()
            .map(KeySet::wrap)
    }

    /// ``key_set`` as an asyncio awaitable.
    fn akey_set<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        aio::into_awaitable_with(py, self.inner.key_set(), |py, s| {
            KeySet::wrap(s).into_bound_py_any(py)
        })
    }

    /// Fetches the set now, ignoring freshness and cooldown (joining a fetch
    /// in flight), e.g. to warm the cache at start-up. Raises the fetch's own
    /// error; the cache keeps its last good set.
    fn refresh(&self, py: Python<'_>) -> PyResult<KeySet> {
        let client = &self.inner;
        py.detach(|| client.refresh_blocking())
            .py_err()
            .map(KeySet::wrap)
    }

    /// ``refresh`` as an asyncio awaitable.
    fn arefresh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        aio::into_awaitable_with(py, self.inner.refresh(), |py, s| {
            KeySet::wrap(s).into_bound_py_any(py)
        })
    }

    /// What the client holds and how its fetches went: ``keys``,
    /// ``fetched_at`` and ``expires_at`` (seconds since the epoch, or None),
    /// ``stale`` (the set is past its lifespan, served because refreshes
    /// fail), ``fetching``, ``last_error`` and ``last_error_code`` (of the last
    /// fetch, when it failed), ``fetches`` and ``failures``.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.status();
        let d = PyDict::new(py);
        d.set_item("keys", s.keys)?;
        d.set_item("fetched_at", s.fetched_at)?;
        d.set_item("expires_at", s.expires_at)?;
        d.set_item("stale", s.stale)?;
        d.set_item("fetching", s.fetching)?;
        d.set_item("last_error", s.last_error.as_ref().map(|e| e.message()))?;
        d.set_item("last_error_code", s.last_error.as_ref().map(|e| e.code()))?;
        d.set_item("fetches", s.fetches)?;
        d.set_item("failures", s.failures)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<JwksClient url={}>",
            PyString::new(py, self.inner.url()).repr()?
        ))
    }
}
