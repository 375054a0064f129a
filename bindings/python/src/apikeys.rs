//! `ApiKeys`, `ApiKeyRecord` and `CreatedApiKey`: the store-backed API key
//! registry (core: `bastion_core::token::apikeys`). Every rule (format,
//! ownership, expiry, retention, outage policy) is the core's; neither a key
//! nor a pepper appears in `repr` or in errors.

use crate::aio;
use crate::apikey::{key_bytes, ApiKeyHasher};
use crate::clock::{self, ManualClock};
use crate::errors::IntoPyResult;
use crate::errors::InvalidArgumentError as PyValueError;
use crate::json;
use crate::store::{blocking, Store};
use bastion_core::store::{MemoryOptions, OutagePolicy, Store as CoreStore};
use bastion_core::token::apikey::{ApiKeyRecord as CoreRecord, RateLimit};
use bastion_core::token::{
    ApiKeys as CoreKeys, ApiKeysOptions, CreatedApiKey as CoreCreated, Expiry,
};
use pyo3::prelude::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What the registry keeps about one key (never the key itself).
#[pyclass(frozen, module = "bastion._native")]
pub struct ApiKeyRecord {
    inner: CoreRecord,
}

impl From<CoreRecord> for ApiKeyRecord {
    fn from(inner: CoreRecord) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl ApiKeyRecord {
    /// The public id (17 base62 characters).
    #[getter]
    fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The key's prefix.
    #[getter]
    fn prefix(&self) -> &str {
        self.inner.prefix()
    }

    /// Who owns the key.
    #[getter]
    fn owner(&self) -> &str {
        self.inner.owner()
    }

    /// The key's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// ``(requests, window_seconds)``, or None.
    #[getter]
    fn rate_limit(&self) -> Option<(u32, u32)> {
        self.inner
            .rate_limit()
            .map(|r| (r.requests(), r.window_secs()))
    }

    /// When the key was created (seconds since the epoch, the store's time).
    #[getter]
    fn created_at(&self) -> u64 {
        self.inner.created_at()
    }

    /// When the key expires (seconds since the epoch), or None.
    #[getter]
    fn expires_at(&self) -> Option<u64> {
        self.inner.expires_at()
    }

    /// When the key was revoked (seconds since the epoch), or None.
    #[getter]
    fn revoked_at(&self) -> Option<u64> {
        self.inner.revoked_at()
    }

    /// True once revoked.
    #[getter]
    fn revoked(&self) -> bool {
        self.inner.is_revoked()
    }

    /// The version of the pepper its stored digest was made with.
    #[getter]
    fn pepper_version(&self) -> u32 {
        self.inner.digest().version()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<ApiKeyRecord>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        let r = &self.inner;
        format!(
            "ApiKeyRecord(id={:?}, owner={:?}, name={:?}, created_at={}, expires_at={:?}, revoked_at={:?})",
            r.id().to_string(),
            r.owner(),
            r.name(),
            r.created_at(),
            r.expires_at(),
            r.revoked_at()
        )
    }
}

/// A key just created by :meth:`ApiKeys.create`: ``key`` is the plaintext to
/// show its owner once (it is not stored anywhere); ``record`` is what the
/// registry keeps. ``repr`` never shows the key.
#[pyclass(frozen, module = "bastion._native")]
pub struct CreatedApiKey {
    key: Zeroizing<String>,
    record: Py<ApiKeyRecord>,
}

#[pymethods]
impl CreatedApiKey {
    /// The plaintext key, ``<prefix>_<id>_<secret+checksum>``.
    #[getter]
    fn key(&self) -> &str {
        &self.key
    }

    /// The public id.
    #[getter]
    fn id(&self, py: Python<'_>) -> String {
        self.record.bind(py).get().id()
    }

    /// The record stored for the key.
    #[getter]
    fn record(&self, py: Python<'_>) -> Py<ApiKeyRecord> {
        self.record.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<CreatedApiKey id={:?}>", self.id(py))
    }
}

fn created(py: Python<'_>, c: CoreCreated) -> PyResult<CreatedApiKey> {
    Ok(CreatedApiKey {
        key: Zeroizing::new(c.key().to_owned()),
        record: Py::new(py, ApiKeyRecord::from(c.record().clone()))?,
    })
}

/// An owner given as ``str`` or ``int`` (a user's primary key).
fn rate_limit_arg(rate: Option<(u32, u32)>) -> PyResult<Option<RateLimit>> {
    rate.map(|(requests, window)| RateLimit::new(requests, window))
        .transpose()
        .py_err()
}

fn expiry_arg(ttl: Option<u64>, expires_at: Option<u64>) -> PyResult<Expiry> {
    match (ttl, expires_at) {
        (None, None) => Ok(Expiry::Never),
        (Some(secs), None) => Ok(Expiry::After(secs)),
        (None, Some(at)) => Ok(Expiry::At(at)),
        (Some(_), Some(_)) => Err(PyValueError::new_err("give ttl or expires_at, not both")),
    }
}

/// The store-backed API key registry: keys are created (shown once), verified
/// in one round trip, listed and revoked through a :class:`Store`, so every
/// process pointed at one Redis shares them.
///
/// - :meth:`create` makes a key for ``owner`` with a ``rate_limit``
///   (``(requests, window_seconds)``, default ``default_rate_limit``: 1000
///   per hour) and an expiry (``ttl`` seconds, or ``expires_at``; neither:
///   the key never expires), and stores only its peppered digest.
/// - :meth:`verify` checks the key offline first (a malformed key raises
///   :class:`~bastion.exceptions.InvalidApiKeyError` without touching the
///   store), then reads its record in one round trip and checks the digest
///   in constant time, revocation and expiry at the store's time. It returns
///   the :class:`ApiKeyRecord`. A digest made with an older pepper is re-stored
///   under the current one (``rehash_on_verify``).
/// - :meth:`revoke` (the owner given as ``by``, or ``admin=True``; else
///   :class:`~bastion.exceptions.PermissionDeniedError`), :meth:`revoke_all`,
///   :meth:`list` (an owner's keys, at most ``max_keys_per_owner``).
///
/// Revoked and expired records are kept ``retention`` seconds (default 30
/// days) so verify can say so, then deleted. When the store cannot answer,
/// :meth:`verify` follows ``verify_policy``: ``"fail_closed"`` (default)
/// raises ``StoreUnavailableError``; ``"local"`` accepts keys this process
/// verified within the last ``local_grace`` seconds. ``store`` defaults to a
/// memory store driven by ``clock``; ``clock`` also times the local outage
/// cache. Every method has an ``a``-prefixed awaitable twin; the sync ones
/// release the GIL while waiting.
#[pyclass(frozen, module = "bastion._native")]
pub struct ApiKeys {
    inner: Arc<CoreKeys>,
}

#[pymethods]
impl ApiKeys {
    #[new]
    #[pyo3(signature = (hasher, *, store = None, prefix = "bst", default_rate_limit = Some((1000, 3600)), retention = 2_592_000, max_keys_per_owner = 100, verify_policy = "fail_closed", local_grace = 300, rehash_on_verify = true, clock = None))]
    #[pyo3(
        text_signature = "(hasher, *, store=None, prefix='bst', default_rate_limit=(1000, 3600), retention=2592000, max_keys_per_owner=100, verify_policy='fail_closed', local_grace=300, rehash_on_verify=True, clock=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        hasher: &Bound<'_, ApiKeyHasher>,
        store: Option<&Bound<'_, Store>>,
        prefix: &str,
        default_rate_limit: Option<(u32, u32)>,
        retention: u64,
        max_keys_per_owner: usize,
        verify_policy: &str,
        local_grace: u64,
        rehash_on_verify: bool,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let options = ApiKeysOptions {
            prefix: prefix.to_owned(),
            default_rate_limit: rate_limit_arg(default_rate_limit)?,
            retention,
            max_keys_per_owner,
            verify_policy: OutagePolicy::parse(verify_policy).py_err()?,
            local_grace,
            rehash_on_verify,
            clock: clock::resolve(clock),
        };
        let store = match store {
            Some(s) => s.get().inner.clone(),
            None => CoreStore::memory(MemoryOptions {
                clock: clock::resolve(clock),
                ..MemoryOptions::default()
            }),
        };
        let hasher = Arc::clone(&hasher.get().inner);
        let inner = CoreKeys::new(store, hasher, options).py_err()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Creates a key for ``owner`` (``str`` or ``int``) named ``name``, with
    /// ``rate_limit`` (``(requests, window_seconds)``; None: the default) and
    /// ``ttl`` seconds or an ``expires_at`` time (neither: no expiry). Returns
    /// the key, to show once, and its record. ``InvalidArgumentError`` when the
    /// owner already holds ``max_keys_per_owner`` keys.
    #[pyo3(signature = (owner, name = "", *, rate_limit = None, ttl = None, expires_at = None))]
    fn create(
        &self,
        py: Python<'_>,
        owner: &Bound<'_, PyAny>,
        name: &str,
        rate_limit: Option<(u32, u32)>,
        ttl: Option<u64>,
        expires_at: Option<u64>,
    ) -> PyResult<CreatedApiKey> {
        let (owner, name) = (json::subject_text(owner, "owner")?, name.to_owned());
        let (rate, expiry) = (rate_limit_arg(rate_limit)?, expiry_arg(ttl, expires_at)?);
        let keys = Arc::clone(&self.inner);
        let made = blocking(py, self.inner.store(), false, move || {
            keys.create(&owner, &name, rate, expiry)
        })
        .py_err()?;
        created(py, made)
    }

    /// Awaitable :meth:`create`.
    #[pyo3(signature = (owner, name = "", *, rate_limit = None, ttl = None, expires_at = None))]
    fn acreate<'py>(
        &self,
        py: Python<'py>,
        owner: &Bound<'_, PyAny>,
        name: &str,
        rate_limit: Option<(u32, u32)>,
        ttl: Option<u64>,
        expires_at: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (owner, name) = (json::subject_text(owner, "owner")?, name.to_owned());
        let (rate, expiry) = (rate_limit_arg(rate_limit)?, expiry_arg(ttl, expires_at)?);
        let keys = Arc::clone(&self.inner);
        aio::into_awaitable_with(
            py,
            async move { keys.create_async(&owner, &name, rate, expiry).await },
            |py, c| Ok(Bound::new(py, created(py, c)?)?.into_any()),
        )
    }

    /// Verifies a presented key (``str`` or ``bytes``) and returns its record.
    /// ``InvalidApiKeyError`` for a malformed, unknown or wrong key,
    /// ``ApiKeyRevokedError``, ``ApiKeyExpiredError``, ``StoreUnavailableError``.
    fn verify(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<ApiKeyRecord> {
        let key = Zeroizing::new(key_bytes(key)?.to_vec());
        let keys = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || keys.verify(&key))
            .map(ApiKeyRecord::from)
            .py_err()
    }

    /// Awaitable :meth:`verify`.
    fn averify<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let key = Zeroizing::new(key_bytes(key)?.to_vec());
        let keys = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            keys.verify_async(&key).await.map(ApiKeyRecord::from)
        })
    }

    /// Revokes the key with public id ``id``. ``by`` is the owner asking:
    /// unless ``admin``, it must be the key's owner, else
    /// :class:`~bastion.exceptions.PermissionDeniedError`. Returns whether the
    /// key exists (revoked now or before).
    #[pyo3(signature = (id, *, by = None, admin = false))]
    fn revoke(
        &self,
        py: Python<'_>,
        id: &str,
        by: Option<&Bound<'_, PyAny>>,
        admin: bool,
    ) -> PyResult<bool> {
        let by = by
            .filter(|b| !b.is_none())
            .map(|b| json::subject_text(b, "by"))
            .transpose()?;
        let (keys, id) = (Arc::clone(&self.inner), id.to_owned());
        blocking(py, self.inner.store(), false, move || {
            keys.revoke(&id, by.as_deref(), admin)
        })
        .py_err()
    }

    /// Awaitable :meth:`revoke`.
    #[pyo3(signature = (id, *, by = None, admin = false))]
    fn arevoke<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        by: Option<&Bound<'_, PyAny>>,
        admin: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let by = by
            .filter(|b| !b.is_none())
            .map(|b| json::subject_text(b, "by"))
            .transpose()?;
        let (keys, id) = (Arc::clone(&self.inner), id.to_owned());
        aio::into_awaitable(py, async move {
            keys.revoke_async(&id, by.as_deref(), admin).await
        })
    }

    /// Revokes every key of ``owner``; returns how many it revoked.
    fn revoke_all(&self, py: Python<'_>, owner: &Bound<'_, PyAny>) -> PyResult<usize> {
        let owner = json::subject_text(owner, "owner")?;
        let keys = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || {
            keys.revoke_all(&owner)
        })
        .py_err()
    }

    /// Awaitable :meth:`revoke_all`.
    fn arevoke_all<'py>(
        &self,
        py: Python<'py>,
        owner: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let owner = json::subject_text(owner, "owner")?;
        let keys = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move { keys.revoke_all_async(&owner).await })
    }

    /// The records of ``owner``'s keys, oldest first (revoked and expired
    /// ones within their retention included).
    fn list(&self, py: Python<'_>, owner: &Bound<'_, PyAny>) -> PyResult<Vec<ApiKeyRecord>> {
        let owner = json::subject_text(owner, "owner")?;
        let keys = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || keys.list(&owner))
            .map(|v| v.into_iter().map(ApiKeyRecord::from).collect())
            .py_err()
    }

    /// Awaitable :meth:`list`.
    fn alist<'py>(&self, py: Python<'py>, owner: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let owner = json::subject_text(owner, "owner")?;
        let keys = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            keys.list_async(&owner)
                .await
                .map(|v| v.into_iter().map(ApiKeyRecord::from).collect::<Vec<_>>())
        })
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        format!(
            "ApiKeys(prefix={:?}, store={:?}, verify_policy={:?})",
            o.prefix,
            self.inner.store().kind(),
            o.verify_policy.name()
        )
    }
}
