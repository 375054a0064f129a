"""bastion: an embedded security engine with a Rust core.

- Tokens: :class:`Key` (typed keys), :class:`Verifier` (a verifier built once),
  :func:`sign`, and :mod:`bastion.jwt`, a PyJWT-compatible API.
- JWK Sets: :class:`KeySet` (a static set) and :class:`JwksClient` (fetched
  from an identity provider over HTTPS, cached; sync and async).
- Passwords: :mod:`bastion.password` (argon2-cffi compatible, Django and
  bcrypt formats), re-exported here as :func:`hash_password`,
  :func:`verify_password`, :func:`needs_rehash` and their async twins.
- Token lifecycle: :class:`TokenService` (pairs, rotation with reuse
  detection, revocation) keeping its state in a :class:`Store` (memory,
  Redis or Redis Cluster).
- Secrets: :func:`validate_secret` refuses short, placeholder and low-entropy
  signing keys, ``SECRET_KEY`` values and peppers at start-up;
  :func:`check_signing_key_separate` refuses a JWT signing key equal to
  ``SECRET_KEY`` in production.
- API keys: :class:`ApiKeyHasher` makes keys (shown once) and the peppered
  digests to store, verifies presented keys in constant time and rotates
  peppers; :func:`api_key_id` reads the id to look a digest up.
  :class:`ApiKeys` is the store-backed registry: create, verify in one round
  trip, list and revoke keys kept in a :class:`Store`.
- Account lockout: :class:`Lockout` counts failed logins per username, IP
  address or a combination (django-axes' settings), locks for a cool-off and
  answers with a :class:`LockoutState`; :meth:`Lockout.login` gives uniform
  answers for unknown users and wrong passwords.
- Circuit breaker: :class:`CircuitBreaker` (:mod:`bastion.breaker`) stops
  calling a failing dependency and probes it after a while; a decorator,
  ``call``/``acall``, context managers and a two-step permit.
  :mod:`bastion.compat.pybreaker` runs pybreaker code unchanged.
- Single-flight: :class:`SingleFlight` (:mod:`bastion.singleflight`) lets
  concurrent callers of one key (threads or coroutines) share one
  computation; :class:`Cache` (:mod:`bastion.cache`) computes a value once
  across the processes sharing a :class:`Store`, under fenced leases
  (:mod:`bastion.compat.redis_lock` is python-redis-lock on the same leases).
- Client IP: :func:`client_ip` resolves the client address behind trusted
  proxies (X-Forwarded-For, Forwarded, X-Real-IP walked from the right);
  :func:`client_key` gives the rate-limit key (IPv6 grouped by a prefix).
- Observability (:mod:`bastion.observability`): security events to :mod:`logging` (one logger
  per category under ``bastion``, warnings and errors on by default), :func:`metrics` in the
  Prometheus text format and the :func:`health` snapshot for readiness endpoints.
- Time: :class:`ManualClock` drives every time-based rule in tests.
- Errors: :mod:`bastion.exceptions`, all under :class:`BastionError`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from bastion._native import (
    ApiKeyHasher,
    ApiKeyRecord,
    ApiKeys,
    CreatedApiKey,
    Decision,
    IssuedApiKey,
    JwksClient,
    Key,
    KeySet,
    LimitStatus,
    Lockout,
    LockoutState,
    ManualClock,
    RateLimiter,
    Store,
    TokenPair,
    TokenService,
    Verifier,
    api_key_id,
    check_signing_key_separate,
    client_ip,
    client_key,
    set_verified_token_cache_size,
    sign,
    validate_secret,
)
from bastion.breaker import BreakerPermit, CircuitBreaker
from bastion.cache import Cache
from bastion.exceptions import (
    AccountLockedError,
    ApiKeyError,
    ApiKeyExpiredError,
    ApiKeyRevokedError,
    BastionError,
    CircuitOpenError,
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidApiKeyError,
    InvalidArgumentError,
    InvalidAudienceError,
    InvalidHashError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidJTIError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidSubjectError,
    InvalidTokenError,
    InvalidTokenTypeError,
    KeyNotFoundError,
    MissingRequiredClaimError,
    PermissionDeniedError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKSetError,
    PyJWTError,
    RateLimitExceeded,
    StoreError,
    StoreFullError,
    StoreUnavailableError,
    TokenAlreadyRotatedError,
    TokenReusedError,
    TokenRevokedError,
    VerificationError,
    VerifyMismatchError,
    WeakSecretError,
)
from bastion.observability import add_event_listener, ahealth, health, log_events, metrics
from bastion.password import (
    PasswordHasher,
    ahash_password,
    averify_password,
    hash_password,
    identify_hash,
    needs_rehash,
    verify_password,
)
from bastion.singleflight import SingleFlight

log_events()

try:
    __version__ = _version("bastion-engine")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = [
    "AccountLockedError",
    "ApiKeyError",
    "ApiKeyExpiredError",
    "ApiKeyHasher",
    "ApiKeyRecord",
    "ApiKeyRevokedError",
    "ApiKeys",
    "BastionError",
    "BreakerPermit",
    "Cache",
    "CircuitBreaker",
    "CircuitOpenError",
    "CreatedApiKey",
    "Decision",
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
    "InvalidSignatureError",
    "InvalidSubjectError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "IssuedApiKey",
    "JwksClient",
    "Key",
    "KeyNotFoundError",
    "KeySet",
    "LimitStatus",
    "Lockout",
    "LockoutState",
    "ManualClock",
    "MissingRequiredClaimError",
    "PasswordHasher",
    "PermissionDeniedError",
    "PyJWKClientConnectionError",
    "PyJWKClientError",
    "PyJWKSetError",
    "PyJWTError",
    "RateLimitExceeded",
    "RateLimiter",
    "SingleFlight",
    "Store",
    "StoreError",
    "StoreFullError",
    "StoreUnavailableError",
    "TokenAlreadyRotatedError",
    "TokenPair",
    "TokenReusedError",
    "TokenRevokedError",
    "TokenService",
    "VerificationError",
    "Verifier",
    "VerifyMismatchError",
    "WeakSecretError",
    "__version__",
    "add_event_listener",
    "ahash_password",
    "ahealth",
    "api_key_id",
    "averify_password",
    "check_signing_key_separate",
    "client_ip",
    "client_key",
    "hash_password",
    "health",
    "identify_hash",
    "log_events",
    "metrics",
    "needs_rehash",
    "set_verified_token_cache_size",
    "sign",
    "validate_secret",
    "verify_password",
]
