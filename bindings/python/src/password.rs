//! Password hashing (mirrors `bastion_core::password`): a configured
//! `PasswordHasher`, `verify_password` for every supported format and
//! `identify_hash`. Hashing and verifying run with the GIL released.

use crate::errors::{self, IntoPyResult, InvalidArgumentError};
use bastion_core::password::{
    self as core, Argon2Params, Argon2Variant, Encoding, HasherOptions, Pbkdf2Digest, Scheme,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};

/// Password bytes from `str` (UTF-8) or `bytes`. Borrowed, not copied: both
/// are immutable, so the slice stays valid while the GIL is released.
pub(crate) fn password_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(crate::json::py_str(s)?.as_bytes());
    }
    Err(errors::type_error("password", "str or bytes", obj))
}

/// A stored hash from `str` or ASCII `bytes`.
fn encoded_str<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if let Ok(s) = obj.cast::<PyString>() {
        return crate::json::py_str(s);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes())
            .map_err(|_| errors::InvalidHashError::new_err("malformed password hash: not ASCII"));
    }
    Err(errors::type_error("hash", "str or bytes", obj))
}

fn param(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<u32>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if !obj.is_instance_of::<PyInt>() {
        return Err(errors::type_error(name, "an int", obj));
    }
    obj.extract::<u32>()
        .map(Some)
        .map_err(|_| InvalidArgumentError::new_err(format!("{name} is out of range")))
}

fn format_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Phc => "phc",
        Encoding::Django => "django",
    }
}

/// A scheme as the shared vectors describe it: `{type: "argon2", variant,
/// version, time_cost, memory_cost, parallelism, hash_len, salt_len}`,
/// `{type: "pbkdf2", digest, iterations}`, `{type: "bcrypt" | "bcrypt_sha256", cost}`.
fn scheme_params<'py>(py: Python<'py>, scheme: &Scheme) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match scheme {
        Scheme::Argon2(p) => {
            d.set_item("type", "argon2")?;
            d.set_item("variant", p.variant.name())?;
            d.set_item("version", p.version)?;
            d.set_item("time_cost", p.time_cost)?;
            d.set_item("memory_cost", p.memory_cost)?;
            d.set_item("parallelism", p.parallelism)?;
            d.set_item("hash_len", p.hash_len)?;
            d.set_item("salt_len", p.salt_len)?;
        }
        Scheme::Pbkdf2 { digest, iterations } => {
            d.set_item("type", "pbkdf2")?;
            d.set_item(
                "digest",
                if *digest == Pbkdf2Digest::Sha256 {
                    "sha256"
                } else {
                    "sha1"
                },
            )?;
            d.set_item("iterations", iterations)?;
        }
        Scheme::Bcrypt { cost } => {
            d.set_item("type", "bcrypt")?;
            d.set_item("cost", cost)?;
        }
        Scheme::BcryptSha256 { cost } => {
            d.set_item("type", "bcrypt_sha256")?;
            d.set_item("cost", cost)?;
        }
    }
    Ok(d)
}

/// Hashes new passwords with one scheme and encoding, and verifies hashes in
/// every supported format.
///
/// ``algorithm``: "argon2id" (default), "argon2i", "argon2d", "argon2"
/// (Django's name for argon2id), "pbkdf2_sha256", "pbkdf2_sha1", "bcrypt",
/// "bcrypt_sha256". ``format``: "phc" (argon2-cffi / bcrypt strings) or
/// "django" (``django.contrib.auth.hashers`` strings); None: "django" for
/// PBKDF2 and bcrypt_sha256 (only Django writes them), "phc" otherwise.
/// Parameters left as None take the defaults of the format: argon2-cffi's for
/// Argon2 PHC, Django's for the Django encoding, Django's for PBKDF2 and
/// bcrypt. A parameter that does not apply to the algorithm is an error.
#[pyclass(frozen, module = "bastion._native")]
pub struct PasswordHasher {
    pub(crate) inner: core::PasswordHasher,
}

#[pymethods]
impl PasswordHasher {
    #[new]
    #[pyo3(signature = (algorithm = "argon2id", format = None, *, time_cost = None, memory_cost = None, parallelism = None, hash_len = None, salt_len = None, version = None, iterations = None, rounds = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        algorithm: &str,
        format: Option<&str>,
        time_cost: Option<&Bound<'_, PyAny>>,
        memory_cost: Option<&Bound<'_, PyAny>>,
        parallelism: Option<&Bound<'_, PyAny>>,
        hash_len: Option<&Bound<'_, PyAny>>,
        salt_len: Option<&Bound<'_, PyAny>>,
        version: Option<&Bound<'_, PyAny>>,
        iterations: Option<&Bound<'_, PyAny>>,
        rounds: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let options = HasherOptions {
            algorithm: Some(algorithm.to_owned()),
            encoding: format.map(str::to_owned),
            time_cost: param(time_cost, "time_cost")?,
            memory_cost: param(memory_cost, "memory_cost")?,
            parallelism: param(parallelism, "parallelism")?,
            hash_len: param(hash_len, "hash_len")?,
            salt_len: param(salt_len, "salt_len")?,
            version: param(version, "version")?,
            iterations: param(iterations, "iterations")?,
            rounds: param(rounds, "rounds")?,
        };
        Ok(Self {
            inner: core::PasswordHasher::from_options(&options).py_err()?,
        })
    }

    /// Hashes ``password`` (str is UTF-8 encoded) with a fresh random salt, or
    /// with ``salt`` (raw bytes fed to the function). Releases the GIL.
    #[pyo3(signature = (password, *, salt = None))]
    fn hash(
        &self,
        py: Python<'_>,
        password: &Bound<'_, PyAny>,
        salt: Option<&[u8]>,
    ) -> PyResult<String> {
        let password = password_bytes(password)?;
        let inner = &self.inner;
        py.detach(|| match salt {
            Some(s) => inner.hash_with_salt(password, s),
            None => inner.hash(password),
        })
        .py_err()
    }

    /// True when ``password`` matches ``encoded`` (any supported format), False
    /// otherwise; ``InvalidHashError`` for a malformed hash. Releases the GIL.
    fn verify(
        &self,
        py: Python<'_>,
        encoded: &Bound<'_, PyAny>,
        password: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let encoded = encoded_str(encoded)?;
        let password = password_bytes(password)?;
        let inner = &self.inner;
        py.detach(|| inner.verify(encoded, password)).py_err()
    }

    /// True when ``encoded`` should be replaced by a fresh hash from this hasher
    /// (another scheme, encoding or parameters).
    fn needs_rehash(&self, encoded: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.inner.needs_rehash(encoded_str(encoded)?).py_err()
    }

    /// The algorithm name ``identify_hash`` reports for this hasher's output.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.inner.algorithm()
    }

    /// "phc" or "django".
    #[getter]
    fn format(&self) -> &'static str {
        format_name(self.inner.encoding())
    }

    /// The cost parameters new hashes use.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        scheme_params(py, self.inner.scheme())
    }

    fn __repr__(&self) -> String {
        format!(
            "<PasswordHasher algorithm={:?} format={:?}>",
            self.inner.algorithm(),
            format_name(self.inner.encoding())
        )
    }
}

/// True when ``password`` matches ``encoded`` in any supported format (Argon2
/// PHC, Django argon2 / pbkdf2_sha256 / pbkdf2_sha1 / bcrypt_sha256 / bcrypt,
/// ``$2b$`` bcrypt, passlib pbkdf2), False otherwise. ``InvalidHashError`` for a
/// malformed or unsupported hash. Releases the GIL.
#[pyfunction]
pub fn verify_password(
    py: Python<'_>,
    encoded: &Bound<'_, PyAny>,
    password: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let encoded = encoded_str(encoded)?;
    let password = password_bytes(password)?;
    py.detach(|| core::verify(encoded, password)).py_err()
}

/// What a stored hash is, without computing anything: ``{"algorithm",
/// "format", "params"}`` plus ``"bcrypt_ident"`` ("2a", "2b", "2y") for bcrypt
/// strings; never the salt or hash. ``params`` has the shape of
/// ``PasswordHasher.params``. ``InvalidHashError`` for a
/// malformed or unsupported hash.
#[pyfunction]
pub fn identify_hash<'py>(
    py: Python<'py>,
    encoded: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let info = core::identify(encoded_str(encoded)?).py_err()?;
    let d = PyDict::new(py);
    d.set_item("algorithm", info.algorithm)?;
    d.set_item("format", format_name(info.encoding))?;
    d.set_item("params", scheme_params(py, &info.scheme)?)?;
    if let Some(ident) = info.bcrypt_ident {
        d.set_item("bcrypt_ident", ident)?;
    }
    Ok(d)
}

/// Raw Argon2 tag (argon2-cffi's ``hash_secret_raw``) with an optional
/// ``secret`` (pepper, RFC 9106 "K") and ``associated_data`` ("X"). Releases the GIL.
#[pyfunction]
#[pyo3(signature = (password, salt, *, variant = "argon2id", version = 19, time_cost = 3, memory_cost = 65536, parallelism = 4, hash_len = 32, secret = None, associated_data = None))]
#[allow(clippy::too_many_arguments)]
pub fn argon2_hash_raw<'py>(
    py: Python<'py>,
    password: &Bound<'py, PyAny>,
    salt: &[u8],
    variant: &str,
    #[pyo3(from_py_with = u32_arg)] version: u32,
    #[pyo3(from_py_with = u32_arg)] time_cost: u32,
    #[pyo3(from_py_with = u32_arg)] memory_cost: u32,
    #[pyo3(from_py_with = u32_arg)] parallelism: u32,
    #[pyo3(from_py_with = u32_arg)] hash_len: u32,
    secret: Option<&[u8]>,
    associated_data: Option<&[u8]>,
) -> PyResult<Bound<'py, PyBytes>> {
    // Built as a core error, so the quoted name is bounded like every message.
    let variant = Argon2Variant::from_name(variant).ok_or_else(|| {
        errors::to_py(bastion_core::Error::new(
            bastion_core::ErrorKind::InvalidArgument,
            format!("unknown Argon2 variant {variant:?}"),
        ))
    })?;
    let params = Argon2Params {
        variant,
        version,
        time_cost,
        memory_cost,
        parallelism,
        hash_len,
        salt_len: u32::try_from(salt.len()).unwrap_or(u32::MAX),
    };
    let password = password_bytes(password)?;
    let tag = py
        .detach(|| {
            core::argon2_hash_raw(
                &params,
                password,
                salt,
                secret.unwrap_or_default(),
                associated_data.unwrap_or_default(),
            )
        })
        .py_err()?;
    Ok(PyBytes::new(py, &tag))
}

fn u32_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    param(Some(obj), "an Argon2 parameter").map(Option::unwrap_or_default)
}

/// Sets the process-wide Argon2 memory budget in KiB (default 1 GiB) and
/// returns the previous one. Every Argon2 hash or verify holds its
/// ``memory_cost`` KiB of it while it runs; callers beyond the budget wait
/// their turn, and a single hash larger than the whole budget is refused.
#[pyfunction]
pub fn set_memory_budget_kib(budget_kib: u64) -> PyResult<u64> {
    let before = core::memory_budget_kib();
    core::set_memory_budget_kib(budget_kib).py_err()?;
    Ok(before)
}

/// ``(budget_kib, in_use_kib)``: the Argon2 memory budget and what running
/// hashes hold of it now.
#[pyfunction]
pub fn memory_budget() -> (u64, u64) {
    (core::memory_budget_kib(), core::memory_in_use_kib())
}
