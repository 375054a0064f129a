//! The one place where core errors become Python exceptions.
//!
//! The exception classes are defined in Python (`python/bastion/exceptions.py`,
//! for docs, pickling and multiple inheritance from builtins) and imported here.
//! [`to_py`] maps every [`ErrorKind`] onto its class; nothing else in this crate
//! builds an exception from a core error.

use bastion_core::{Error, ErrorKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

pyo3::import_exception!(bastion.exceptions, BastionError);
pyo3::import_exception!(bastion.exceptions, InvalidArgumentError);
pyo3::import_exception!(bastion.exceptions, InvalidTokenError);
pyo3::import_exception!(bastion.exceptions, DecodeError);
pyo3::import_exception!(bastion.exceptions, InvalidSignatureError);
pyo3::import_exception!(bastion.exceptions, ExpiredSignatureError);
pyo3::import_exception!(bastion.exceptions, ImmatureSignatureError);
pyo3::import_exception!(bastion.exceptions, InvalidIssuedAtError);
pyo3::import_exception!(bastion.exceptions, InvalidAudienceError);
pyo3::import_exception!(bastion.exceptions, InvalidIssuerError);
pyo3::import_exception!(bastion.exceptions, InvalidNonceError);
pyo3::import_exception!(bastion.exceptions, InvalidSubjectError);
pyo3::import_exception!(bastion.exceptions, InvalidJTIError);
pyo3::import_exception!(bastion.exceptions, InvalidTokenTypeError);
pyo3::import_exception!(bastion.exceptions, MissingRequiredClaimError);
pyo3::import_exception!(bastion.exceptions, InvalidKeyError);
pyo3::import_exception!(bastion.exceptions, InvalidAlgorithmError);
pyo3::import_exception!(bastion.exceptions, InvalidHashError);
pyo3::import_exception!(bastion.exceptions, TokenRevokedError);
pyo3::import_exception!(bastion.exceptions, TokenReusedError);
pyo3::import_exception!(bastion.exceptions, TokenAlreadyRotatedError);
pyo3::import_exception!(bastion.exceptions, PermissionDeniedError);
pyo3::import_exception!(bastion.exceptions, StoreUnavailableError);
pyo3::import_exception!(bastion.exceptions, StoreFullError);
pyo3::import_exception!(bastion.exceptions, WeakSecretError);
pyo3::import_exception!(bastion.exceptions, InvalidApiKeyError);
pyo3::import_exception!(bastion.exceptions, ApiKeyExpiredError);
pyo3::import_exception!(bastion.exceptions, ApiKeyRevokedError);
pyo3::import_exception!(bastion.exceptions, PyJWKSetError);
pyo3::import_exception!(bastion.exceptions, KeyNotFoundError);
pyo3::import_exception!(bastion.exceptions, PyJWKClientConnectionError);
pyo3::import_exception!(bastion.exceptions, RateLimitExceeded);
pyo3::import_exception!(bastion.exceptions, AccountLockedError);
pyo3::import_exception!(bastion.exceptions, CircuitOpenError);

/// Converts a core error into the matching `bastion.exceptions` class.
#[cold]
pub fn to_py(e: Error) -> PyErr {
    let msg = e.message().to_owned();
    match e.kind() {
        ErrorKind::InvalidArgument => InvalidArgumentError::new_err(msg),
        ErrorKind::InvalidKey => InvalidKeyError::new_err(msg),
        ErrorKind::MalformedToken => DecodeError::new_err(msg),
        ErrorKind::InvalidAlgorithm => InvalidAlgorithmError::new_err(msg),
        ErrorKind::InvalidSignature => InvalidSignatureError::new_err(msg),
        ErrorKind::TokenExpired => ExpiredSignatureError::new_err(msg),
        ErrorKind::TokenNotYetValid => ImmatureSignatureError::new_err(msg),
        ErrorKind::InvalidIssuedAt => InvalidIssuedAtError::new_err(msg),
        ErrorKind::InvalidAudience => InvalidAudienceError::new_err(msg),
        ErrorKind::InvalidIssuer => InvalidIssuerError::new_err(msg),
        ErrorKind::InvalidSubject => InvalidSubjectError::new_err(msg),
        ErrorKind::InvalidJti => InvalidJTIError::new_err(msg),
        ErrorKind::InvalidNonce => InvalidNonceError::new_err(msg),
        ErrorKind::InvalidTokenType => InvalidTokenTypeError::new_err(msg),
        ErrorKind::MissingClaim => {
            MissingRequiredClaimError::new_err(e.claim().unwrap_or_default().to_owned())
        }
        ErrorKind::InvalidHash => InvalidHashError::new_err(msg),
        ErrorKind::TokenRevoked => TokenRevokedError::new_err(msg),
        ErrorKind::TokenReused => TokenReusedError::new_err(msg),
        ErrorKind::TokenAlreadyRotated => TokenAlreadyRotatedError::new_err(msg),
        ErrorKind::PermissionDenied => PermissionDeniedError::new_err(msg),
        ErrorKind::StoreUnavailable => StoreUnavailableError::new_err(msg),
        ErrorKind::StoreFull => StoreFullError::new_err(msg),
        ErrorKind::WeakSecret => WeakSecretError::new_err(msg),
        ErrorKind::InvalidApiKey => InvalidApiKeyError::new_err(msg),
        ErrorKind::ApiKeyExpired => ApiKeyExpiredError::new_err(msg),
        ErrorKind::ApiKeyRevoked => ApiKeyRevokedError::new_err(msg),
        ErrorKind::InvalidKeySet => PyJWKSetError::new_err(msg),
        ErrorKind::KeyNotFound => KeyNotFoundError::new_err(msg),
        ErrorKind::JwksFetchFailed => PyJWKClientConnectionError::new_err(msg),
        ErrorKind::RateLimited => RateLimitExceeded::new_err((msg, e.retry_after())),
        ErrorKind::AccountLocked => AccountLockedError::new_err((msg, e.retry_after())),
        ErrorKind::CircuitOpen => CircuitOpenError::new_err((msg, e.retry_after())),
        // Internal, and any kind added to the core later.
        _ => BastionError::new_err(msg),
    }
}

/// Extension to map `bastion_core::Result` into `PyResult` with [`to_py`].
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for bastion_core::Result<T> {
    #[inline]
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// A `TypeError` for an argument of the wrong Python type.
#[cold]
pub fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let name = got
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("{what} must be {expected}, not {name}"))
}
