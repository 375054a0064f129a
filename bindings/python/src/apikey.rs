//! API keys (mirrors `bastion_core::token::apikey`): `ApiKeyHasher` makes
//! keys and digests and verifies them, `IssuedApiKey` carries a new key to
//! show once, `api_key_id` reads the public id to look a key's digest up.
//! Every rule (format, checksum, pepper strength, rotation) is the core's;
//! neither a key nor a pepper appears in `repr` or in errors.

use crate::errors::{self, IntoPyResult, InvalidApiKeyError};
use crate::token::material;
use bastion_core::token::apikey::{self as core, ApiKey, ApiKeyDigest, DEFAULT_PREFIX};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use std::sync::Arc;
use zeroize::Zeroizing;

// The Python signature spells the core's default prefix out (for introspection).
const _: () = assert!(matches!(DEFAULT_PREFIX.as_bytes(), b"bst"));

/// The bytes of a presented key given as `str` or `bytes`; a `str` that is
/// not valid Unicode is a malformed key like any other.
pub(crate) fn key_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_str()
            .map(str::as_bytes)
            .map_err(|_| InvalidApiKeyError::new_err("malformed API key: not valid Unicode"));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    Err(errors::type_error("key", "str or bytes", obj))
}

fn parse_key(obj: &Bound<'_, PyAny>) -> PyResult<ApiKey> {
    ApiKey::parse(key_bytes(obj)?).py_err()
}

/// Makes API keys and the digests to store for them, and verifies presented
/// keys against stored digests in constant time.
///
/// ``pepper`` (str or bytes, at least 32 random-looking bytes: see
/// ``validate_secret(pepper, "pepper")``) keys every new digest and is
/// recorded in it as ``version``. ``previous`` maps older versions to their
/// peppers, so digests made before a rotation still verify (and
/// ``needs_rehash`` reports them). Peppers are never shown by ``repr``.
#[pyclass(frozen, module = "bastion._native")]
pub struct ApiKeyHasher {
    pub(crate) inner: Arc<core::ApiKeyHasher>,
}

#[pymethods]
impl ApiKeyHasher {
    #[new]
    #[pyo3(signature = (pepper, *, version = 1, previous = None))]
    fn new(
        pepper: &Bound<'_, PyAny>,
        version: u32,
        previous: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut inner =
            core::ApiKeyHasher::with_version(version, material(pepper, "pepper")?).py_err()?;
        if let Some(previous) = previous {
            for (v, p) in previous.iter() {
                let v: u32 = v.extract()?;
                inner = inner.with_previous(v, material(&p, "pepper")?).py_err()?;
            }
        }
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A new key with ``prefix`` (2 to 16 characters of ``[a-z0-9]``
    /// starting with a letter): the key to show its owner once, its public
    /// id and the digest to store.
    #[pyo3(signature = (prefix = "bst"))]
    fn generate(&self, prefix: &str) -> PyResult<IssuedApiKey> {
        let issued = self.inner.generate(prefix).py_err()?;
        Ok(IssuedApiKey {
            key: issued.key_text(),
            id: issued.id().to_string(),
            prefix: issued.prefix().to_owned(),
            digest: issued.digest().to_string(),
        })
    }

    /// True when ``key`` matches the stored ``digest``, False otherwise
    /// (constant-time). ``InvalidApiKeyError`` for a malformed key (checked
    /// offline: shape, prefix, length, checksum), ``InvalidHashError`` for a
    /// malformed digest or one made with a pepper this hasher does not hold.
    fn verify(&self, key: &Bound<'_, PyAny>, digest: &str) -> PyResult<bool> {
        let key = parse_key(key)?;
        let digest = ApiKeyDigest::parse(digest).py_err()?;
        self.inner.verify(&key, &digest).py_err()
    }

    /// The digest of ``key`` with the current pepper: store it in place of
    /// a digest for which ``needs_rehash`` is true, after ``verify`` passed.
    fn hash(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self.inner.digest(&parse_key(key)?).to_string())
    }

    /// True when ``digest`` was made with another pepper than the current one.
    fn needs_rehash(&self, digest: &str) -> PyResult<bool> {
        let digest = ApiKeyDigest::parse(digest).py_err()?;
        Ok(self.inner.needs_rehash(&digest))
    }

    /// The version of the current pepper.
    #[getter]
    fn version(&self) -> u32 {
        self.inner.version()
    }

    /// The versions of the older peppers.
    #[getter]
    fn previous_versions(&self) -> Vec<u32> {
        self.inner.previous_versions()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ApiKeyHasher version={} previous_versions={:?}>",
            self.inner.version(),
            self.inner.previous_versions()
        )
    }
}

/// A key just made by ``ApiKeyHasher.generate``. ``key`` is the plaintext
/// to show its owner once (never store it); store ``id`` and ``digest``.
/// ``repr`` shows the prefix and id only.
#[pyclass(frozen, module = "bastion._native")]
pub struct IssuedApiKey {
    key: Zeroizing<String>,
    id: String,
    prefix: String,
    digest: String,
}

#[pymethods]
impl IssuedApiKey {
    /// The plaintext key, ``<prefix>_<id>_<secret+checksum>``.
    #[getter]
    fn key(&self) -> &str {
        &self.key
    }

    /// The public id (17 base62 characters): look the digest up by it.
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// The prefix.
    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The digest to store, ``v<pepper version>$<HMAC-SHA256, base64url>``.
    #[getter]
    fn digest(&self) -> &str {
        &self.digest
    }

    fn __repr__(&self) -> String {
        format!("<IssuedApiKey prefix={:?} id={:?}>", self.prefix, self.id)
    }
}

/// The public id of a presented key, to look its digest up, after the
/// offline checks (shape, length, characters, checksum; the prefix too when
/// ``prefix`` is given). ``InvalidApiKeyError`` for a malformed key.
#[pyfunction]
#[pyo3(signature = (key, prefix = None))]
pub fn api_key_id(key: &Bound<'_, PyAny>, prefix: Option<&str>) -> PyResult<String> {
    let key = key_bytes(key)?;
    match prefix {
        Some(prefix) => ApiKey::parse_with_prefix(key, prefix),
        None => ApiKey::parse(key),
    }
    .py_err()
    .map(|k| k.id().to_string())
}
