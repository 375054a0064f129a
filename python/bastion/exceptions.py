"""Every exception bastion raises.

All derive from :class:`BastionError`. Token errors carry PyJWT's names and
hierarchy (``bastion.jwt`` re-exports them), so ``except jwt.InvalidTokenError``
keeps working after ``import bastion.jwt as jwt``. Each leaf also subclasses the
fitting builtin (``ValueError``, ``TypeError``), and carries the stable ``code``
that Node exposes as ``err.code``.
"""

from __future__ import annotations

__all__ = [
    "AccountLockedError",
    "AlreadyAcquired",
    "AlreadyStarted",
    "ApiKeyError",
    "ApiKeyExpiredError",
    "ApiKeyRevokedError",
    "BastionError",
    "CircuitOpenError",
    "DecodeError",
    "ExpiredSignatureError",
    "ImmatureSignatureError",
    "InvalidAlgorithmError",
    "InvalidApiKeyError",
    "InvalidArgumentError",
    "InvalidAudienceError",
    "InvalidHashError",
    "InvalidIssuedAtError",
    "InvalidIssuerError",
    "InvalidJTIError",
    "InvalidKeyError",
    "InvalidNonceError",
    "InvalidSignatureError",
    "InvalidSubjectError",
    "InvalidTimeout",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "KeyNotFoundError",
    "LockError",
    "MissingRequiredClaimError",
    "NotAcquired",
    "NotExpirable",
    "PermissionDeniedError",
    "PyJWKClientConnectionError",
    "PyJWKClientError",
    "PyJWKError",
    "PyJWKSetError",
    "PyJWTError",
    "RateLimitExceeded",
    "StoreError",
    "StoreFullError",
    "StoreUnavailableError",
    "TimeoutNotUsable",
    "TimeoutTooLarge",
    "TokenAlreadyRotatedError",
    "TokenReusedError",
    "TokenRevokedError",
    "VerificationError",
    "VerifyMismatchError",
    "WeakSecretError",
]


class BastionError(Exception):
    """Base class of every bastion error. ``code`` is the stable machine-readable code."""

    code: str = "BASTION_ERROR"


class InvalidArgumentError(BastionError, ValueError):
    """An argument or configuration value is invalid."""

    code = "INVALID_ARGUMENT"


# ---- tokens (PyJWT's names and hierarchy) -----------------------------------------


class PyJWTError(BastionError):
    """Base class of token errors (PyJWT's ``PyJWTError``)."""

    code = "TOKEN_ERROR"


class InvalidTokenError(PyJWTError, ValueError):
    """The token is not acceptable."""

    code = "INVALID_TOKEN"


class DecodeError(InvalidTokenError):
    """The token is malformed: structure, base64url, JSON, size, header, claim types."""

    code = "MALFORMED_TOKEN"


class InvalidSignatureError(DecodeError):
    """The signature does not verify."""

    code = "INVALID_SIGNATURE"


class ExpiredSignatureError(InvalidTokenError):
    """``exp`` has passed."""

    code = "TOKEN_EXPIRED"


class InvalidAudienceError(InvalidTokenError):
    """``aud`` does not match the expected audience."""

    code = "INVALID_AUDIENCE"


class InvalidIssuerError(InvalidTokenError):
    """``iss`` does not match the expected issuer."""

    code = "INVALID_ISSUER"


class InvalidIssuedAtError(InvalidTokenError):
    """``iat`` is not a number."""

    code = "INVALID_ISSUED_AT"


class ImmatureSignatureError(InvalidTokenError):
    """``nbf`` or ``iat`` lies in the future."""

    code = "TOKEN_NOT_YET_VALID"


class InvalidKeyError(PyJWTError, ValueError):
    """The key cannot be used: unparsable, too weak, or of the wrong family."""

    code = "INVALID_KEY"


class InvalidAlgorithmError(InvalidTokenError):
    """The token's algorithm is not accepted, or does not fit the key."""

    code = "INVALID_ALGORITHM"


class MissingRequiredClaimError(InvalidTokenError):
    """A required claim is absent. ``claim`` names it."""

    code = "MISSING_CLAIM"

    def __init__(self, claim: str) -> None:
        self.claim = claim

    def __str__(self) -> str:
        return f'Token is missing the "{self.claim}" claim'


class InvalidSubjectError(InvalidTokenError):
    """``sub`` does not match the expected subject, or is not a string."""

    code = "INVALID_SUBJECT"


class InvalidJTIError(InvalidTokenError):
    """``jti`` does not match, or is not a string."""

    code = "INVALID_JTI"


class InvalidNonceError(InvalidTokenError):
    """``nonce`` does not match the expected one (OpenID Connect ID tokens)."""

    code = "INVALID_NONCE"


class InvalidTokenTypeError(InvalidTokenError):
    """The header ``typ`` is not the expected one."""

    code = "INVALID_TOKEN_TYPE"


class WeakSecretError(InvalidKeyError):
    """A secret is refused by ``validate_secret``: too short, a placeholder or example
    value, of low entropy, key material, or a JWT signing key equal to ``SECRET_KEY``
    in production. The message says which; it never contains the secret."""

    code = "WEAK_SECRET"


class PyJWKError(PyJWTError):
    """A JWK cannot be used (PyJWT's ``PyJWKError``)."""

    code = "INVALID_KEY"


class PyJWKSetError(PyJWTError, ValueError):
    """A JWK Set cannot be used: malformed, too large, too many keys, or no
    usable key (PyJWT's ``PyJWKSetError``)."""

    code = "INVALID_KEY_SET"


# ---- JWKS client (PyJWT's names) ---------------------------------------------------------


class PyJWKClientError(PyJWTError):
    """A JWKS client could not provide a key (PyJWT's ``PyJWKClientError``)."""

    code = "JWKS_ERROR"


class PyJWKClientConnectionError(PyJWKClientError, ConnectionError):
    """The JWKS could not be fetched (network, TLS, timeout, HTTP status, size
    or content) and no usable earlier copy remains (PyJWT's
    ``PyJWKClientConnectionError``)."""

    code = "JWKS_FETCH_FAILED"


class KeyNotFoundError(PyJWKClientError, InvalidTokenError):
    """No key of the set fits the token's ``kid`` and algorithm. Also an
    :class:`InvalidTokenError`: the token cannot be verified (answer 401)."""

    code = "KEY_NOT_FOUND"


# ---- token lifecycle -----------------------------------------------------------------


class TokenRevokedError(InvalidTokenError):
    """The token was revoked: by ``jti``, with its family, or by a "revoke everything" mark."""

    code = "TOKEN_REVOKED"


class TokenReusedError(TokenRevokedError):
    """A refresh token that was already rotated was presented again; its whole family is revoked."""

    code = "TOKEN_REUSED"


class TokenAlreadyRotatedError(InvalidTokenError):
    """The refresh token was rotated moments ago by a parallel request (within the grace window)."""

    code = "TOKEN_ALREADY_ROTATED"


class PermissionDeniedError(BastionError, PermissionError):
    """The caller may not act on this object (revoking another subject's token without ``admin``)."""

    code = "PERMISSION_DENIED"


# ---- the state store -------------------------------------------------------------------


class StoreError(BastionError):
    """Base class of state-store failures."""

    code = "STORE_ERROR"


class StoreUnavailableError(StoreError, ConnectionError):
    """Redis could not be reached or did not answer within the store's timeout."""

    code = "STORE_UNAVAILABLE"


class StoreFullError(StoreError, RuntimeError):
    """The memory store holds its maximum number of keys and refused a new one."""

    code = "STORE_FULL"


# ---- passwords (argon2-cffi's names) -------------------------------------------------


class VerificationError(BastionError):
    """A password did not verify (argon2-cffi's ``VerificationError``)."""

    code = "VERIFICATION_FAILED"


class VerifyMismatchError(VerificationError):
    """The password does not match the hash (argon2-cffi's ``VerifyMismatchError``)."""

    code = "VERIFY_MISMATCH"


class InvalidHashError(BastionError, ValueError):
    """A stored value is malformed or of an unsupported scheme or version: a password
    hash, an API key digest (also one made with a pepper version the hasher lacks)."""

    code = "INVALID_HASH"


# ---- API keys ----------------------------------------------------------------------


class ApiKeyError(BastionError, ValueError):
    """Base class of the reasons an API key is not accepted (answer 401)."""

    code = "API_KEY_ERROR"


class InvalidApiKeyError(ApiKeyError):
    """A presented API key is malformed: shape, prefix, length, characters or checksum."""

    code = "INVALID_API_KEY"


class ApiKeyExpiredError(ApiKeyError):
    """The API key's record has passed its expiry time."""

    code = "API_KEY_EXPIRED"


class ApiKeyRevokedError(ApiKeyError):
    """The API key's record has been revoked."""

    code = "API_KEY_REVOKED"


# ---- Rate limits and lockouts ------------------------------------------------------


class RateLimitExceeded(BastionError):
    """A rate limit denied the request (answer 429). ``retry_after`` is the number of
    seconds until the request could be admitted (``None`` when unknown)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str = "rate limit exceeded", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AccountLockedError(BastionError):
    """Too many failed attempts: the account or client is locked out (answer 429 or
    423). ``retry_after`` is the number of seconds until the lockout ends."""

    code = "ACCOUNT_LOCKED"

    def __init__(self, message: str = "locked out", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# ---- Circuit breakers --------------------------------------------------------------


class CircuitOpenError(BastionError):
    """A circuit breaker is open (or half-open with every probe taken): the call was not
    made (answer 503). ``retry_after`` is the number of seconds until a call may be let
    through."""

    code = "CIRCUIT_OPEN"

    def __init__(self, message: str = "circuit breaker is open", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# ---- Locks (python-redis-lock's names, for bastion.compat.redis_lock) --------------


class LockError(BastionError, RuntimeError):
    """Base class of the lock errors of :mod:`bastion.compat.redis_lock` (a ``RuntimeError``, as
    python-redis-lock's are)."""

    code = "LOCK_ERROR"


class NotAcquired(LockError):
    """Released or extended by an owner that does not hold the lock (never acquired, expired or
    taken over)."""

    code = "NOT_ACQUIRED"


class AlreadyAcquired(LockError):
    """Acquired again through a lock whose owner id already holds it."""

    code = "ALREADY_ACQUIRED"


class AlreadyStarted(LockError):
    """The lock's renewal is already running."""

    code = "ALREADY_STARTED"


class TimeoutNotUsable(LockError):
    """A timeout was given with ``blocking=False``."""

    code = "TIMEOUT_NOT_USABLE"


class InvalidTimeout(LockError):
    """A negative timeout."""

    code = "INVALID_TIMEOUT"


class TimeoutTooLarge(LockError):
    """A timeout longer than the lock's expiry (without auto-renewal)."""

    code = "TIMEOUT_TOO_LARGE"


class NotExpirable(LockError):
    """Kept for python-redis-lock's name: bastion's locks always expire, so it is never raised."""

    code = "NOT_EXPIRABLE"
