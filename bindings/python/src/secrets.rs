//! Start-up checks of secrets (mirrors `bastion_core::token::secrets`):
//! `validate_secret` and `check_signing_key_separate`. Every rule is the
//! core's; the messages never contain the secret.

use crate::errors::IntoPyResult;
use crate::token::material;
use bastion_core::token::secrets::{self as core, SecretPurpose};
use pyo3::prelude::*;

/// Raises ``WeakSecretError`` (code ``WEAK_SECRET``) unless ``secret`` (str
/// is UTF-8 encoded) is fit for ``purpose``: "HS256", "HS384", "HS512" (at
/// least 32 / 48 / 64 bytes), "django" (Django's ``SECRET_KEY``: at least 50
/// characters, no ``django-insecure-`` prefix), "pepper" (an API key pepper:
/// at least 32 bytes) or "generic" (at least 32 bytes). Every purpose also
/// refuses key material, placeholders and example values, fewer than 8
/// distinct characters and an estimated entropy below 128 bits. An unknown
/// purpose raises ``InvalidArgumentError``.
#[pyfunction]
#[pyo3(signature = (secret, purpose = "HS256"))]
pub fn validate_secret(secret: &Bound<'_, PyAny>, purpose: &str) -> PyResult<()> {
    let purpose = SecretPurpose::parse(purpose).py_err()?;
    core::validate_secret(material(secret, "secret")?, purpose).py_err()
}

/// True when ``signing_key`` differs from ``secret_key`` (compared in
/// constant time). When they are equal: ``WeakSecretError`` if
/// ``production``, otherwise False, so the caller can warn.
#[pyfunction]
#[pyo3(signature = (signing_key, secret_key, *, production))]
pub fn check_signing_key_separate(
    signing_key: &Bound<'_, PyAny>,
    secret_key: &Bound<'_, PyAny>,
    production: bool,
) -> PyResult<bool> {
    core::check_signing_key_separate(
        material(signing_key, "signing_key")?,
        material(secret_key, "secret_key")?,
        production,
    )
    .py_err()
}
